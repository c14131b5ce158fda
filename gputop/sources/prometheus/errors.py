"""The errors of the Prometheus client: the `PromError` family of the shared tree.

Exception tree (every `reason` is one line and never holds a token or password)::

    RemoteError                  gputop.sources.httpapi
    └── PromError                any failure talking to Prometheus
        ├── PromUnreachable      no connection: refused, reset, unknown host, TLS failure
        │                        (also an `Unreachable`)
        ├── PromTimeout          no complete answer within `timeout` seconds (a `Timeout`)
        ├── PromHTTPError        a non-2xx answer that is not an API error (.status); the
        │                        server's own words (JSON `error` or plain text), trimmed
        │                        (an `HTTPStatusError`)
        ├── PromWrongEndpoint    it answers, but serves no query API: vmalert, Alertmanager,
        │                        a web page (.looks_like); says what to point at instead
        ├── PromAPIError         {"status": "error"} from the API (.error_type, .error)
        └── PromMalformed        bad JSON (nested too deep included), an unexpected shape or
                                 value, a body over `max_body_bytes` (a `Malformed`)
"""

from __future__ import annotations

from gputop.sources.httpapi import HTTPStatusError, Malformed, RemoteError, Timeout, Unreachable

__all__ = [
    "PromAPIError",
    "PromError",
    "PromHTTPError",
    "PromMalformed",
    "PromTimeout",
    "PromUnreachable",
    "PromWrongEndpoint",
]

_MAX_ERROR_CHARS = 200


class PromError(RemoteError):
    """Any failure talking to Prometheus; `reason` is one line, free of secrets."""


class PromUnreachable(PromError, Unreachable):
    """No connection could be made or kept."""


class PromTimeout(PromError, Timeout):
    """The answer did not arrive in time."""


class PromHTTPError(PromError, HTTPStatusError):
    """A non-2xx status without an API error body."""


class PromMalformed(PromError, Malformed):
    """The answer is not what the API promises: bad JSON, unexpected shape, too big."""


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
