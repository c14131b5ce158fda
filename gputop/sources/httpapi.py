"""What the HTTP clients (Prometheus, Alertmanager) share: one error tree and the few rules of
their transport (a base URL checked once, a CA bundle, a short cause for a failed connection).

Exception tree (every `reason` is one line and never holds a token or password)::

    SourceError                  gputop.sources.base
    └── RemoteError              any failure talking to an HTTP API
        ├── Unreachable          no connection: refused, reset, unknown host, TLS failure
        ├── Timeout              no complete answer within the client's `timeout`
        ├── HTTPStatusError      a non-2xx answer (.status), with the server's own words
        └── Malformed            not the shape or values the API returns (.detail)

Each client has its family below `RemoteError` (`PromError`, `AmError`), and each member of a
family is also the kind above: `except PromError` and `except Unreachable` both catch
`PromUnreachable`. httpx is imported only when a URL is checked, so the error types cost
nothing to import.
"""

from __future__ import annotations

import ssl
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from gputop.sources.base import SourceError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "HTTPStatusError",
    "Malformed",
    "RemoteError",
    "Timeout",
    "Unreachable",
    "api_url",
    "describe",
    "ssl_verify",
    "status_phrase",
    "transport_detail",
]


class RemoteError(SourceError):
    """Any failure talking to an HTTP API; `reason` is one line, free of secrets."""


class Unreachable(RemoteError):
    """No connection could be made or kept."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"unreachable: {detail}" if detail else "unreachable")
        self.detail = detail


class Timeout(RemoteError):
    """The answer did not arrive in time."""

    def __init__(self) -> None:
        super().__init__("timeout")


class HTTPStatusError(RemoteError):
    """A non-2xx status; `reason` holds the status and the server's words."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Malformed(RemoteError):
    """An answer that is not what the API promises: bad JSON, unexpected shape, too big."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"malformed response: {detail}")
        self.detail = detail


def describe(raw: Any) -> str:
    """A value of an answer, for an error message: a short repr of a string or number, else
    what it is (never the repr of a structure, which can be huge or nested too deep)."""
    if raw is None or isinstance(raw, (str, int, float)):
        text = repr(raw)
        return text if len(text) <= 40 else text[:39] + "…"
    return "an array" if isinstance(raw, list) else "an object"


def api_url(text: str, what: str, example: str) -> httpx.URL:
    """`text` as the base URL of an API; ValueError saying what it must look like."""
    import httpx

    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"the {what} URL must look like {example}")
    return url


def ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """What httpx's `verify` gets: True/False as given, a CA bundle's path as a context."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use CA bundle {verify}: {exc}") from None


def transport_detail(exc: httpx.TransportError) -> str:
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


def status_phrase(status: int) -> str:
    """HTTP's name for a status ("Not Found"), or "" for one it does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
