"""Alertmanager: where an alert that fired went (silenced, inhibited, routed to which receiver),
and the two writes gputop ever makes (create a silence, expire one).

`AlertmanagerClient` speaks API v2 (Alertmanager 0.25); `AlertmanagerSource` polls it every
`period_s` (alerts, groups, silences; the routing tree's `group_wait` now and then), keeps the
last answer through an outage and retries with backoff, like every other source.

Exception tree (every `reason` is one line and never holds a token or password)::

    RemoteError                   gputop.sources.httpapi
    └── AmError                   gputop.sources.amtypes: any failure talking to Alertmanager
        ├── AmUnreachable         no connection: refused, reset, unknown host, TLS failure
        │                         (also an `Unreachable`)
        ├── AmTimeout             no complete answer within `timeout` seconds (a `Timeout`)
        ├── AmHTTPError           a non-2xx answer (.status), with Alertmanager's message
        │                         (an `HTTPStatusError`)
        └── AmMalformed           not JSON (nested too deep included), or not the shape or
                                  values API v2 returns (a `Malformed`)

Every configured secret is scrubbed from every reason, no configured header or credential
follows a redirect to another origin (see `gputop.sources.outside`), and a silence is only
ever expired by an id of the form Alertmanager gives (a UUID), quoted into the path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.models import SourceState, SourceStatus
from gputop.sources.amstatus import AmStatus, parse_status
from gputop.sources.amtypes import (
    DEFAULT_GROUP_WAIT_S,
    MISSING_MARGIN_S,
    AmError,
    AmMalformed,
    AmView,
    Matcher,
    parse_alerts,
    parse_groups,
    parse_silences,
)
from gputop.sources.httpapi import (
    HTTPStatusError,
    Timeout,
    Unreachable,
    api_url,
    ssl_verify,
    status_phrase,
    transport_detail,
)
from gputop.sources.offloop import ParseTimeout, parse_off_loop
from gputop.sources.outside import UNEXPECTED, Credentials, load_json

__all__ = [
    "AlertmanagerClient",
    "AlertmanagerSource",
    "AmHTTPError",
    "AmTimeout",
    "AmUnreachable",
]

_MAX_BODY = 16 * 1024 * 1024
_MAX_MESSAGE_CHARS = 160
#: The routing tree changes only with Alertmanager's config: ask for it this seldom.
_STATUS_PERIOD_S = 300.0
T = TypeVar("T")


class AmUnreachable(AmError, Unreachable):
    """No connection could be made or kept."""


class AmTimeout(AmError, Timeout):
    """The answer did not arrive in time."""


class AmHTTPError(AmError, HTTPStatusError):
    """A non-2xx status, with Alertmanager's message."""


class AlertmanagerClient:
    """One Alertmanager's API v2. Credentials go in `headers` or `auth`; never shown."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        verify: bool | str | ssl.SSLContext = True,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = api_url(base_url, "Alertmanager", "http://host:9093")
        self.url = str(url.copy_with(username=None, password=None))
        self._timeout = float(timeout)
        self._credentials = Credentials(url, headers, auth)  # scrubbed, kept to their origin
        self._http = httpx.AsyncClient(
            base_url=url,
            headers=dict(headers or {}),
            auth=auth,
            verify=verify if isinstance(verify, ssl.SSLContext) else ssl_verify(verify),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            event_hooks=self._credentials.hooks(),
        )

    def __repr__(self) -> str:
        return f"AlertmanagerClient({self.url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def view(self, now: float, group_wait_s: float = DEFAULT_GROUP_WAIT_S) -> AmView:
        """Alerts (silenced and inhibited included), groups and silences, in one view."""
        alerts = await self._api("GET", "api/v2/alerts", parse_alerts)
        groups = await self._api("GET", "api/v2/alerts/groups", parse_groups)
        silences = await self._api("GET", "api/v2/silences", parse_silences)
        return AmView(now, alerts, silences, groups, group_wait_s)

    async def status(self) -> AmStatus:
        """The version, the cluster's state and the routing tree's `group_wait` (the
        configuration text itself, megabytes maybe, is dropped once read)."""
        return await self._api("GET", "api/v2/status", parse_status)

    async def create_silence(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_at: str,
        ends_at: str,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence (times in RFC 3339); returns its id."""
        body = {
            "matchers": [m.as_api() for m in matchers],
            "startsAt": starts_at,
            "endsAt": ends_at,
            "createdBy": created_by,
            "comment": comment,
        }
        return await self._api("POST", "api/v2/silences", _silence_id, body)

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence; `silence_id` must be a UUID, as Alertmanager makes them (one
        taken from an answer is never trusted into the request path as it is)."""
        await self._api("DELETE", f"api/v2/silence/{quote(_uuid(silence_id), safe='')}", _none)

    async def _api(
        self, method: str, path: str, parse: Callable[[Any], T], body: object = None
    ) -> T:
        """One request and the parse of its answer: the result, or an AmError whose reason
        holds no configured secret, whatever the server sends. A big answer is decoded and
        parsed on a worker thread (see `gputop.sources.offloop`)."""
        try:
            raw = await self._request(method, path, body)
            return await parse_off_loop(lambda: parse(_decode(raw)), len(raw))
        except ParseTimeout:
            raise AmTimeout() from None
        except AmError as exc:
            raise self._credentials.scrubbed(exc) from None
        except UNEXPECTED as exc:
            malformed = AmMalformed(f"unexpected {type(exc).__name__}")
            raise self._credentials.scrubbed(malformed) from None

    # ---- transport ----------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: object = None) -> bytes:
        """The body of a 2xx answer; any other answer or failure as an AmError."""
        try:
            status, raw = await asyncio.wait_for(self._send(method, path, body), self._timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise AmTimeout() from None
        except httpx.TransportError as exc:
            raise AmUnreachable(transport_detail(exc)) from None
        except httpx.HTTPError:
            raise AmMalformed("the answer could not be read") from None
        if status in (401, 403):
            hint = "check the credentials" if self._credentials.any else "no credentials given"
            raise AmHTTPError(status, f"HTTP {status} unauthorized: {hint}")
        if not 200 <= status < 300:
            message = self._credentials.scrub(_message(raw))
            text = f"HTTP {status} {message or status_phrase(status)}".rstrip()
            raise AmHTTPError(status, text)
        return raw

    async def _send(self, method: str, path: str, body: object) -> tuple[int, bytes]:
        request = self._http.build_request(method, path, json=body)
        response = await self._http.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > _MAX_BODY:
                    raise AmMalformed("body over 16 MiB")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
        finally:
            await response.aclose()


def _decode(raw: bytes) -> Any:
    """A 2xx answer's JSON (None for an empty body)."""
    if not raw.strip():
        return None
    try:
        return load_json(raw)
    except ValueError as exc:
        if "nested too deep" in str(exc):
            raise AmMalformed("JSON nested too deep") from None
        raise AmMalformed("not JSON: is this Alertmanager's address?") from None


def _message(raw: bytes) -> str:
    """Alertmanager's own words for an error: {"message": ...} or a line of text."""
    text = raw[:4096].decode("utf-8", "replace").strip()
    try:
        doc = load_json(raw)
    except ValueError:
        doc = None
    if isinstance(doc, Mapping):
        said = doc.get("message") or doc.get("error")
        text = said if isinstance(said, str) else ""
    elif doc is not None or text.startswith("<"):
        text = ""  # a web page, or a JSON value with no message
    return " ".join(text.split())[:_MAX_MESSAGE_CHARS]


class AlertmanagerSource:
    """Polls Alertmanager; `view` is the last good answer, `state` how fresh it is.

    `refresh` never raises. Between polls it returns at once, so it can be called on every
    tick of the dashboard.
    """

    name = "alertmanager"

    def __init__(
        self,
        client: AlertmanagerClient,
        clock: Clock,
        *,
        period_s: float = 5.0,
        missing_margin_s: float = MISSING_MARGIN_S,
    ) -> None:
        self.client = client
        self.clock = clock
        self.period_s = period_s
        # a firing alert absent this long after group_wait is "NOT IN ALERTMANAGER"
        self.missing_margin_s = missing_margin_s
        self.view: AmView | None = None
        self.version = 0  # bumped when a poll reads something new
        self._state = SourceState(SourceStatus.UNAVAILABLE, "not asked yet")
        self._backoff = source_backoff()
        self._next_at = 0.0
        self.status: AmStatus | None = None  # version, cluster state, group_wait
        self._status_at = -_STATUS_PERIOD_S

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def due(self) -> float:
        """When the next poll is due."""
        return self._next_at

    def refresh_soon(self) -> None:
        """Ask again at the next `refresh` (after gputop changed something)."""
        self._next_at = 0.0

    async def refresh(self) -> None:
        now = self.clock.now()
        if now < self._next_at:
            return
        try:
            if self.status is None or now - self._status_at >= _STATUS_PERIOD_S:
                self.status = await self.client.status()
                self._status_at = now
            view = await self.client.view(now, self.status.group_wait_s)
        except AmError as exc:
            self._next_at = now + self._backoff.next_delay()
            self._state = SourceState(
                SourceStatus.ERROR, exc.reason, self._state.last_ok, self._next_at
            )
            return
        self._backoff.reset()
        self._next_at = now + self.period_s
        if not _same_content(view, self.view):
            self.version += 1  # what the rows say of Alertmanager may change
        self.view = view
        # alerts as of now, asked every period: "now" in the header until a poll is overdue
        self._state = SourceState(SourceStatus.OK, None, now, newest=now, interval_s=self.period_s)

    async def create_silence(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence from now on (raises AmError); the next refresh shows it."""
        silence_id = await self.client.create_silence(
            matchers,
            starts_at=_rfc3339(starts_at),
            ends_at=_rfc3339(ends_at),
            created_by=created_by,
            comment=comment,
        )
        self.refresh_soon()
        return silence_id

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence now (raises AmError); the next refresh shows it expired."""
        await self.client.expire_silence(silence_id)
        self.refresh_soon()

    async def aclose(self) -> None:
        await self.client.aclose()


def _same_content(view: AmView, held: AmView | None) -> bool:
    """Whether two polls read the same alerts, silences, groups and group_wait."""
    return held is not None and (
        view.alerts,
        view.silences,
        view.groups,
        view.group_wait_s,
    ) == (held.alerts, held.silences, held.groups, held.group_wait_s)


def _silence_id(answer: Any) -> str:
    if not isinstance(answer, Mapping) or not isinstance(answer.get("silenceID"), str):
        raise AmMalformed("no silenceID in the answer")
    silence_id: str = answer["silenceID"]
    return silence_id


def _none(answer: Any) -> None:
    return None


def _uuid(silence_id: str) -> str:
    """The id as Alertmanager writes it; anything that is not a UUID is refused."""
    try:
        return str(uuid.UUID(silence_id))
    except (ValueError, TypeError, AttributeError):
        raise AmError("that silence id is not a UUID: nothing sent") from None


def _rfc3339(t: float) -> str:
    when = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
