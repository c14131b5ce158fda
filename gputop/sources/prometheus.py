"""An async client for the Prometheus HTTP API (and compatible servers: Thanos Query, Mimir,
VictoriaMetrics). Nothing newer than Prometheus 2.42 is required.

Exception tree (every `reason` is one line and never holds a token or password)::

    SourceError                  gputop.sources.base
    └── PromError                any failure talking to Prometheus
        ├── PromUnreachable      no connection: refused, reset, unknown host, TLS failure
        ├── PromTimeout          no complete answer within `timeout` seconds
        ├── PromHTTPError        a non-2xx answer that is not an API error (.status); the
        │                        server's own words (JSON `error` or plain text), trimmed
        ├── PromWrongEndpoint    it answers, but serves no query API: vmalert, Alertmanager,
        │                        a web page (.looks_like); says what to point at instead
        ├── PromAPIError         {"status": "error"} from the API (.error_type, .error)
        └── PromMalformed        bad JSON (nested too deep included), an unexpected shape or
                                 value, a body over `max_body_bytes`

Every configured secret (bearer token, password, credential headers) is scrubbed from every
reason, and no configured header or credential follows a redirect to another origin (see
`gputop.sources.outside`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time as _time
from collections.abc import Callable, Collection, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar

import httpx

from gputop.rules.prometheus import PromAlert, PromRuleGroup, parse_alerts, parse_rule_groups
from gputop.sources.offloop import ParseTimeout, parse_off_loop
from gputop.sources.outside import UNEXPECTED, Credentials, load_json
from gputop.sources.promtypes import (
    PromError,
    PromMalformed,
    PromSample,
    PromSeries,
    PromStats,
    parse_matrix,
    parse_vector,
)

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
]

_MIB = 1024 * 1024
_MAX_ERROR_CHARS = 200
_QUERY_PATHS = ("api/v1/query", "api/v1/query_range")
T = TypeVar("T")


class _NotJSON(Exception):
    """An answer that is not JSON (worded by `PrometheusClient._not_json`)."""


class PromUnreachable(PromError):
    """No connection could be made or kept."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"unreachable: {detail}" if detail else "unreachable")
        self.detail = detail


class PromTimeout(PromError):
    """The answer did not arrive in time."""

    def __init__(self) -> None:
        super().__init__("timeout")


class PromHTTPError(PromError):
    """A non-2xx status without an API error body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class PromWrongEndpoint(PromError):
    """The URL answers, but not with a Prometheus query API."""

    def __init__(self, looks_like: str, advice: str) -> None:
        super().__init__(f"no query API at this URL: {looks_like}; {advice}")
        self.looks_like = looks_like


class PromAPIError(PromError):
    """The API answered with status "error" (bad query, execution error, ...)."""

    def __init__(self, error_type: str, error: str) -> None:
        text = " ".join(error.split())[:_MAX_ERROR_CHARS]
        super().__init__(f"query error: {error_type}" + (f": {text}" if text else ""))
        self.error_type = error_type
        self.error = error


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
        url = _check_url(base_url)
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
            verify=_ssl_verify(verify),
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
        self, expr: str, start: float, end: float, step: float
    ) -> tuple[PromSeries, ...]:
        """A range query: points at start, start+step, ... up to end (inclusive)."""
        params = {
            "query": expr,
            "start": _fmt_time(start),
            "end": _fmt_time(end),
            "step": _fmt_time(step),
        }
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
                out.append(PromRuleGroup(group.name, group.file, group.interval_s, rules))
        return tuple(out)

    async def alerts(self) -> tuple[PromAlert, ...]:
        """Every active (pending or firing) alert."""
        return await self._api("api/v1/alerts", {}, parse_alerts)

    async def metadata(self) -> dict[str, str]:
        """Metric name → type ("counter", "gauge", "histogram", ...) as the targets declare
        it; names whose targets disagree, or say "unknown", are left out."""
        return await self._api("api/v1/metadata", {}, _metadata)

    async def buildinfo(self) -> dict[str, str]:
        """Version, revision, ... of the server (not every compatible server has it)."""
        return await self._api("api/v1/status/buildinfo", {}, _buildinfo)

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
        head = f"HTTP {status} {_phrase(status)}".rstrip()
        text = self._credentials.scrub(" ".join(said.split()))
        if len(text) > _MAX_ERROR_CHARS:
            text = text[: _MAX_ERROR_CHARS - 1] + "…"
        if not text or _phrase(status).lower() in text.lower():
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
            raise PromUnreachable(_transport_detail(exc)) from None
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


def _check_url(base_url: str) -> httpx.URL:
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("the Prometheus URL must look like http://host:9090")
    return url


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use CA bundle {verify}: {exc}") from None


def _transport_detail(exc: httpx.TransportError) -> str:
    """A short cause for the failures worth naming; plain refusals need no words."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        text = str(cause)
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    return ""


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


def _metadata(data: Any) -> dict[str, str]:
    if not isinstance(data, Mapping):
        raise PromMalformed("metadata is not an object")
    out: dict[str, str] = {}
    for name, entries in data.items():
        if not isinstance(entries, list):
            continue
        declared = [e.get("type") for e in entries if isinstance(e, Mapping)]
        kinds: set[str] = {k for k in declared if isinstance(k, str) and k and k != "unknown"}
        if len(kinds) == 1:
            out[str(name)] = kinds.pop()
    return out


def _buildinfo(data: Any) -> dict[str, str]:
    if not isinstance(data, Mapping):
        raise PromMalformed("build info is not an object")
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _fmt_time(t: float) -> str:
    text = f"{t:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _size(n: int) -> str:
    return f"{n // _MIB} MiB" if n >= _MIB and n % _MIB == 0 else f"{n} bytes"
