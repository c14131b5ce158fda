"""The monitor: owns the sources, the store and the rules, and is driven the same way by
`--once`, the dashboard and the tests.

The local source (NVML or the demo node) is read with `read_local()`, which blocks and may run
on a worker thread; its result is applied with `ingest()` on the owner's thread, so the store
is only ever written from one thread. Remote sources (Prometheus, Alertmanager) are async
(`refresh_remote()`).

A failing source is retried with `core.backoff.source_backoff` (1 s doubling to 8 s), so one
that comes back is seen within seconds; `retry_now()` skips the wait. GPUs that fall off the
bus are remembered with the time they were first seen lost (`lost_since`).

- `monitor`: the Monitor;
- `actions`: the only way the UI acts: `silence()`, `expire()` (Alertmanager) and `signal()`
  (a GPU process);
- `jobs`: every rule status about a GPU names its jobs.
"""

from __future__ import annotations

from gputop.monitor.monitor import LOCAL_SOURCES, OVERVIEW_MAX, Monitor

__all__ = ["LOCAL_SOURCES", "OVERVIEW_MAX", "Monitor"]
