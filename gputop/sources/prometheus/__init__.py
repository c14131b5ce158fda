"""Prometheus (and compatible engines: VictoriaMetrics, Thanos Query, Mimir), in one place.

- `client`: PrometheusClient, the async HTTP API client; `errors`: its `PromError` family.
- `api`: query results (`/api/v1/query`, `/api/v1/query_range`) as frozen values, parsed.
- `rulesapi`: the rules API (`/api/v1/rules`, `/api/v1/alerts`) as frozen values, parsed;
  what a rule's status is belongs to `gputop.rules.prometheus`.
- `queries`: the PromQL gputop asks (panels, the freshness probe); `freshness`: each scrape
  target's spacing and staleness, read from the probe.
- `feed`: PrometheusSource, the range panels of the whole fleet, fed into the store (`merge`:
  what is written where; `gpus`: the GPUs and MIG instances seen; `servers`: the inference
  servers found, by `serving`'s engine table and PromQL).

The names below are loaded on first use, so importing one wire type does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gputop.core.lazy import lazy_names

if TYPE_CHECKING:
    from gputop.sources.prometheus.api import PromSample, PromSeries, PromStats
    from gputop.sources.prometheus.client import PrometheusClient
    from gputop.sources.prometheus.errors import (
        PromAPIError,
        PromError,
        PromHTTPError,
        PromMalformed,
        PromTimeout,
        PromUnreachable,
        PromWrongEndpoint,
    )
    from gputop.sources.prometheus.feed import PrometheusSource

__all__ = [
    "PromAPIError",
    "PromError",
    "PromHTTPError",
    "PromMalformed",
    "PromSample",
    "PromSeries",
    "PromStats",
    "PromTimeout",
    "PromUnreachable",
    "PromWrongEndpoint",
    "PrometheusClient",
    "PrometheusSource",
]

_HOMES = {
    "api": ("PromSample", "PromSeries", "PromStats"),
    "client": ("PrometheusClient",),
    "errors": (
        "PromAPIError",
        "PromError",
        "PromHTTPError",
        "PromMalformed",
        "PromTimeout",
        "PromUnreachable",
        "PromWrongEndpoint",
    ),
    "feed": ("PrometheusSource",),
}
__getattr__, __dir__ = lazy_names(__name__, _HOMES, globals(), __all__)
