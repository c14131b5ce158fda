"""An async client for the Prometheus HTTP API (and compatible servers: Thanos Query, Mimir,
VictoriaMetrics). Nothing newer than Prometheus 2.42 is required.

Its errors are the `PromError` family (see `gputop.sources.prometheus.errors`).

Every configured secret (bearer token, password, credential headers) is scrubbed from every
reason, and no configured header or credential follows a redirect to another origin (see
`gputop.sources.outside`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time as _time
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from gputop.sources.httpapi import api_url, ssl_verify, status_phrase, transport_detail
from gputop.sources.offloop import ParseTimeout, parse_off_loop
from gputop.sources.outside import UNEXPECTED, Credentials, load_json
from gputop.sources.prometheus.api import (
    PromSample,
    PromSeries,
    PromStats,
    parse_buildinfo,
    parse_label_values,
    parse_matrix,
    parse_metadata,
    parse_vector,
)
from gputop.sources.prometheus.errors import (
    PromAPIError,
    PromError,
    PromHTTPError,
    PromMalformed,
    PromTimeout,
    PromUnreachable,
    PromWrongEndpoint,
)
from gputop.sources.prometheus.rulesapi import (
    PromAlert,
    PromRuleGroup,
    parse_alerts,
    parse_rule_groups,
)

__all__ = ["PrometheusClient"]

_MIB = 1024 * 1024
_MAX_ERROR_CHARS = 200
_QUERY_PATHS = ("api/v1/query", "api/v1/query_range")
T = TypeVar("T")


class _NotJSON(Exception):
    """An answer that is not JSON (worded by `PrometheusClient._not_json`)."""


class PrometheusClient:
    """Queries one Prometheus-compatible API; `stats` counts what the requests cost.

    `base_url` may carry a path prefix (e.g. Mimir's `http://mimir/prometheus`). Credentials go
    in `headers` (`{"Authorization": "Bearer ..."}`) or `auth` (a (user, password) tuple or an
    httpx.Auth); they are never shown in errors or reprs.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        verify: bool | str = True,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body_bytes: int = 32 * _MIB,
    ) -> None:
        url = api_url(base_url, "Prometheus", "http://host:9090")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        self._display_url = str(url.copy_with(username=None, password=None))
        self._credentials = Credentials(url, headers, auth)  # scrubbed, kept to their origin
        self._timeout = float(timeout)
        self._max_body = int(max_body_bytes)
        self.stats = PromStats()
        self._http = httpx.AsyncClient(
            base_url=url,
            headers=dict(headers or {}),
            auth=auth,
            verify=ssl_verify(verify),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            event_hooks=self._credentials.hooks(),
        )

    def __repr__(self) -> str:
        return f"PrometheusClient({self._display_url!r})"

    @property
    def url(self) -> str:
        """The base URL without any user or password in it."""
        return self._display_url

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- API ----------------------------------------------------------------------------

    async def query(self, expr: str, time: float | None = None) -> tuple[PromSample, ...]:
        """An instant query; a scalar result comes back as one sample without labels."""
        params = {"query": expr}
        if time is not None:
            params["time"] = _fmt_time(time)
        return await self._api("api/v1/query", params, parse_vector)

    async def raw_samples(self, expr: str) -> tuple[PromSeries, ...]:
        """An instant query of a range selector (`metric{...}[5m]`): the raw samples."""
        return await self._api("api/v1/query", {"query": expr}, parse_matrix)

    async def query_range(
        self, expr: str, start: float, end: float, step: float, *, exact: bool = False
    ) -> tuple[PromSeries, ...]:
        """A range query: points at start, start+step, ... up to end (inclusive).

        `exact`: at those very instants. VictoriaMetrics otherwise moves a query of 50 points
        or more onto multiples of `step` (for its cache), answering for other instants than
        those asked; `nocache=1` stops that, and Prometheus ignores it."""
        params = {
            "query": expr,
            "start": _fmt_time(start),
            "end": _fmt_time(end),
            "step": _fmt_time(step),
        }
        if exact:
            params["nocache"] = "1"
        return await self._api("api/v1/query_range", params, parse_matrix)

    async def rules(
        self, type: str | None = "alert", *, names: Collection[str] | None = None
    ) -> tuple[PromRuleGroup, ...]:
        """Rule groups with their rules' states; `type` is "alert", "record" or None (both).

        `names` keeps only the rules so named; the filter runs here because Prometheus 2.42
        (and some compatible servers) ignore `rule_name[]`. Groups left empty are dropped.
        """
        if type not in ("alert", "record", None):
            raise ValueError(f'rule type must be "alert", "record" or None, got {type!r}')
        params = {"type": type} if type else {}
        groups = await self._api("api/v1/rules", params, parse_rule_groups)
        wanted_type = {"alert": "alerting", "record": "recording"}.get(type or "")
        wanted = set(names) if names is not None else None
        out: list[PromRuleGroup] = []
        for group in groups:
            rules = tuple(
                r
                for r in group.rules
                if (wanted_type is None or r.type == wanted_type)
                and (wanted is None or r.name in wanted)
            )
            if rules:
                out.append(
                    PromRuleGroup(
                        group.name, group.file, group.interval_s, rules, group.last_evaluation
                    )
                )
        return tuple(out)

    async def alerts(self) -> tuple[PromAlert, ...]:
        """Every active (pending or firing) alert."""
        return await self._api("api/v1/alerts", {}, parse_alerts)

    async def label_values(
        self, label: str, *, match: str | None = None, start: float | None = None
    ) -> tuple[str, ...]:
        """The values a label has (`__name__`: metric names), of the series `match` selects
        (one selector), seen since `start`."""
        params: dict[str, str] = {}
        if match is not None:
            params["match[]"] = match
        if start is not None:
            params["start"] = _fmt_time(start)
        return await self._api(f"api/v1/label/{label}/values", params, parse_label_values)

    async def metadata(self) -> dict[str, str]:
        """Metric name → type ("counter", "gauge", "histogram", ...) as the targets declare
        it; names whose targets disagree, or say "unknown", are left out."""
        return await self._api("api/v1/metadata", {}, parse_metadata)

    async def buildinfo(self) -> dict[str, str]:
        """Version, revision, ... of the server (not every compatible server has it)."""
        return await self._api("api/v1/status/buildinfo", {}, parse_buildinfo)

    async def page(self, path: str) -> str:
        """A page of the server outside the JSON API (runtime information, VictoriaMetrics'
        `/metrics`) as text; an answer that is not 2xx raises PromHTTPError."""
        status, body, _ = await self._request(path, {})
        if not 200 <= status < 300:
            raise PromHTTPError(status, self._http_reason(status, _body_text(body)))
        return body.decode("utf-8", "replace")

    async def ready(self) -> bool:
        """True when the server answers and is ready to serve queries."""
        try:
            status, _, _ = await self._request("-/ready", {})
            if status == 404:  # no readiness endpoint here: a trivial query must answer
                await self.query("1")
                return True
        except PromError:
            return False
        return status == 200

    # ---- transport ----------------------------------------------------------------------

    async def _api(self, path: str, params: Mapping[str, str], parse: Callable[[Any], T]) -> T:
        """GET an API path and parse its data: whatever the server sends, the result or a
        PromError whose reason holds no configured secret. A big answer is decoded and
        parsed on a worker thread (see `gputop.sources.offloop`)."""
        try:
            status, body, kind = await self._request(path, params)
            try:
                return await parse_off_loop(
                    lambda: parse(self._data(path, status, body)), len(body)
                )
            except _NotJSON:
                raise await self._not_json(path, status, body, kind) from None
        except ParseTimeout:
            self.stats.errors += 1
            raise self._credentials.scrubbed(PromTimeout()) from None
        except PromError as exc:
            raise self._credentials.scrubbed(exc) from None
        except UNEXPECTED as exc:
            malformed = PromMalformed(f"unexpected {type(exc).__name__}")
            raise self._credentials.scrubbed(malformed) from None

    def _data(self, path: str, status: int, body: bytes) -> Any:
        """The `data` of an API answer (any thread); `_NotJSON` for a body that is not JSON,
        which `_not_json` words."""
        if status in (401, 403):
            hint = "check the bearer token" if self._credentials.any else "no bearer token given"
            raise PromHTTPError(status, f"HTTP {status} unauthorized: {hint}")
        try:
            doc = load_json(body)
        except ValueError as exc:
            if 200 <= status < 300 and "nested too deep" in str(exc):
                raise PromMalformed("JSON nested too deep") from None
            raise _NotJSON() from None
        if isinstance(doc, Mapping) and doc.get("status") == "error":
            said = self._credentials.scrub(_said(doc.get("error")))
            raise PromAPIError(_said(doc.get("errorType")) or "error", said)
        if not 200 <= status < 300:
            said = _said(doc.get("error") or doc.get("message")) if isinstance(doc, Mapping) else ""
            raise PromHTTPError(status, self._http_reason(status, said))
        if not isinstance(doc, Mapping) or doc.get("status") != "success" or "data" not in doc:
            raise PromMalformed('no {"status": "success", "data": ...}')
        return doc["data"]

    async def _not_json(self, path: str, status: int, body: bytes, kind: str) -> PromError:
        """The error for an answer that is not JSON: a wrong endpoint, or what it says."""
        if path in _QUERY_PATHS and (200 <= status < 300 or status in (400, 404, 405)):
            wrong = await self._wrong_endpoint(body, kind)
            if wrong is not None:
                return wrong
        if 200 <= status < 300:
            return PromMalformed("not JSON")
        return PromHTTPError(status, self._http_reason(status, _body_text(body)))

    def _http_reason(self, status: int, said: str) -> str:
        """The reason shown: `HTTP 400 Bad Request: <the server's words, trimmed, no secrets>`."""
        head = f"HTTP {status} {status_phrase(status)}".rstrip()
        text = self._credentials.scrub(" ".join(said.split()))
        if len(text) > _MAX_ERROR_CHARS:
            text = text[: _MAX_ERROR_CHARS - 1] + "…"
        if not text or status_phrase(status).lower() in text.lower():
            return head  # "404 page not found" adds nothing to "HTTP 404 Not Found"
        return f"{head}: {text}"

    async def _wrong_endpoint(self, body: bytes, kind: str) -> PromWrongEndpoint | None:
        """What a URL that answers queries with no API looks like, asked of the URL itself."""
        with contextlib.suppress(PromError):
            status, text, _ = await self._request("api/v2/status", {})
            doc = _json_or_none(text) if status == 200 else None
            if isinstance(doc, Mapping) and "cluster" in doc and "versionInfo" in doc:
                return PromWrongEndpoint(
                    "this is Alertmanager",
                    "point --prometheus at Prometheus (or a compatible engine); "
                    "Alertmanager belongs in [alertmanager] url",
                )
        with contextlib.suppress(PromError):
            status, text, _ = await self._request("api/v1/rules", {})
            doc = _json_or_none(text) if status == 200 else None
            data = doc.get("data") if isinstance(doc, Mapping) else None
            if isinstance(data, Mapping) and isinstance(data.get("groups"), list):
                return PromWrongEndpoint(
                    "it serves alerting rules only, like vmalert",
                    "point --prometheus at the engine it reads (VictoriaMetrics, e.g. :8428) "
                    "and this URL at [prometheus] rules_url",
                )
        if "html" in kind or body.lstrip()[:1] == b"<":
            return PromWrongEndpoint(
                "this is a web page",
                "give the base URL of the API (http://prometheus:9090, or with the path "
                "prefix, e.g. http://mimir/prometheus)",
            )
        return None

    async def _request(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes, str]:
        """GET path; returns (status, body, content type). Transport failures become typed
        errors."""
        self.stats.count(path)
        started = _time.perf_counter()
        try:
            return await asyncio.wait_for(self._stream(path, params), self._timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            self.stats.errors += 1
            raise PromTimeout() from None
        except httpx.TransportError as exc:
            self.stats.errors += 1
            raise PromUnreachable(transport_detail(exc)) from None
        except httpx.DecodingError:
            self.stats.errors += 1
            raise PromMalformed("body could not be decoded") from None
        except httpx.TooManyRedirects:
            self.stats.errors += 1
            raise PromUnreachable("redirect loop") from None
        except PromError:
            self.stats.errors += 1
            raise
        finally:
            self.stats.last_duration_s = _time.perf_counter() - started

    async def _stream(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes, str]:
        async with self._http.stream("GET", path, params=params) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_body:
                raise PromMalformed(f"body over {_size(self._max_body)}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                self.stats.add_bytes(path, len(chunk))
                if size > self._max_body:
                    raise PromMalformed(f"body over {_size(self._max_body)}")
                chunks.append(chunk)
            kind = response.headers.get("content-type", "").lower()
            return response.status_code, b"".join(chunks), kind


def _body_text(body: bytes) -> str:
    """The words of a non-JSON error body: its first line, or nothing for a web page.

    VictoriaMetrics-family servers prefix their message with `remoteAddr: ...; requestURI:
    ...;`; only the message after them is kept.
    """
    text = body[:4096].decode("utf-8", "replace").strip()
    if text[:1] == "<":
        return ""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if "requestURI:" in line:
        line = line.rsplit("; ", 1)[-1]
    return line


def _json_or_none(body: bytes) -> Any:
    try:
        return load_json(body)
    except ValueError:
        return None


def _said(value: object) -> str:
    """A server's words for an error: a string, or nothing (never the str() of a structure)."""
    return value if isinstance(value, str) else ""


def _fmt_time(t: float) -> str:
    text = f"{t:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _size(n: int) -> str:
    return f"{n // _MIB} MiB" if n >= _MIB and n % _MIB == 0 else f"{n} bytes"
