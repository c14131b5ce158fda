"""What the HTTP clients (Prometheus, Alertmanager) trust of a server: nothing.

- `load_json`: a body as JSON, or ValueError; a nesting bomb (`[[[...]]]` 400 KB deep) is a
  ValueError like any bad JSON, never a RecursionError through the dashboard.
- `Credentials`: the configured secrets of a client (bearer token, password, credential
  headers), to scrub from every error text before it is stored or shown, and the request hook
  that strips every configured header and credential from a request that a redirect sends to
  another origin (scheme, host or port): a server can send gputop elsewhere, never its keys.
- `UNEXPECTED`: the exceptions a parser can raise on data of an unexpected shape, that each
  client turns into its own "malformed response" error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx

from gputop.core.secrecy import basic_auth_forms, is_credential_header, scrub, secret_forms
from gputop.sources.base import SourceError

__all__ = ["UNEXPECTED", "Credentials", "load_json"]

E = TypeVar("E", bound=SourceError)

#: What parsing an unexpected answer can raise besides the client's own errors: wrong types
#: (TypeError, AttributeError, KeyError, IndexError), bad numbers (ValueError, OverflowError),
#: nesting too deep for a recursive walk (RecursionError).
UNEXPECTED = (
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    ValueError,
    OverflowError,
    RecursionError,
)


def load_json(body: bytes | str) -> Any:
    """`body` as JSON; ValueError for anything else, nesting too deep included."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason})") from None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)


class Credentials:
    """A client's configured headers and auth: what to scrub from errors, and what never
    leaves the configured origin."""

    def __init__(
        self,
        base_url: httpx.URL,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | tuple[str, str] | None,
    ) -> None:
        self._origin = _origin(base_url)
        self._header_names = frozenset(name.lower() for name in headers or {})
        found: list[str] = []
        for name, value in (headers or {}).items():
            if is_credential_header(name):
                found.extend(secret_forms(value))
        if isinstance(auth, tuple) and len(auth) == 2:
            found.extend(basic_auth_forms(auth[0], auth[1]))
        self.secrets: tuple[str, ...] = tuple(sorted(set(found), key=len, reverse=True))
        self.any = auth is not None or any(
            is_credential_header(name) for name in self._header_names
        )

    def scrub(self, text: str) -> str:
        """`text` without any configured secret in it."""
        return scrub(text, self.secrets)

    def scrubbed(self, exc: E) -> E:
        """`exc` with its reason scrubbed: the last step before an error leaves a client."""
        exc.reason = self.scrub(exc.reason)
        exc.args = (exc.reason,)
        return exc

    async def keep_to_origin(self, request: httpx.Request) -> None:
        """httpx request hook: a request to another origin (a redirect) carries none of the
        configured headers, no Authorization, no cookie."""
        if _origin(request.url) == self._origin:
            return
        for name in (*self._header_names, "authorization", "proxy-authorization", "cookie"):
            request.headers.pop(name, None)

    def hooks(self) -> dict[str, list[Any]]:
        """`event_hooks` for httpx.AsyncClient."""
        return {"request": [self.keep_to_origin]}
