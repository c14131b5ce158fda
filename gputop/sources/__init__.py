"""Sources of readings: NVML, Prometheus, Alertmanager and the simulated demo node.

Each source turns every failure into a typed `SourceError` that the monitor shows as the
source's state; none of them imports the UI.
"""

from gputop.sources.base import LocalSource, RemoteSource, SourceError, SourceUnavailable

__all__ = ["LocalSource", "RemoteSource", "SourceError", "SourceUnavailable"]
