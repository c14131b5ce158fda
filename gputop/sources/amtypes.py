"""Alertmanager's API v2 as typed values: alerts, alert groups, silences and their matchers.

Parsing takes plain JSON values as `/api/v2/alerts`, `/api/v2/alerts/groups`,
`/api/v2/silences` return them (Alertmanager 0.25; its status: `gputop.sources.amstatus`) and raises
`AmMalformed` on any unexpected shape. Matchers match the way Alertmanager matches them
(a regex must match the whole value, a missing label reads as ""), so gputop can say how many
alerts a silence would cover before it asks Alertmanager to create it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, cast

from gputop.core.untrusted import escaped
from gputop.sources.httpapi import Malformed, RemoteError, describe
from gputop.sources.prometheus.errors import PromMalformed
from gputop.sources.prometheus.rulesapi import parse_rfc3339

__all__ = [
    "DEFAULT_GROUP_WAIT_S",
    "MISSING_MARGIN_S",
    "AmAlert",
    "AmError",
    "AmGroup",
    "AmMalformed",
    "AmSilence",
    "AmView",
    "Matcher",
    "format_matchers",
    "parse_alerts",
    "parse_groups",
    "parse_matchers",
    "parse_silences",
]

#: Alertmanager's default `route.group_wait`.
DEFAULT_GROUP_WAIT_S = 30.0
#: A firing alert not in Alertmanager after `group_wait` plus this long is missing: it covers
#: Prometheus' evaluation interval (firing starts at the first evaluation after activeAt + for,
#: up to a common 1m later) and gputop's own poll of Alertmanager.
MISSING_MARGIN_S = 90.0

AlertState = Literal["active", "suppressed", "unprocessed"]
SilenceState = Literal["active", "pending", "expired"]


class AmError(RemoteError):
    """Any failure talking to Alertmanager; `reason` is one line without credentials."""


class AmMalformed(AmError, Malformed):
    """An answer that is not what Alertmanager's API v2 returns."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher of a silence: `name="value"`, `!=`, `=~` or `!~`."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @property
    def op(self) -> str:
        if self.is_regex:
            return "=~" if self.is_equal else "!~"
        return "=" if self.is_equal else "!="

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.is_regex:
            hit = _regex(self.value).fullmatch(value) is not None
        else:
            hit = value == self.value
        return hit == self.is_equal

    def as_api(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    def __str__(self) -> str:
        """`name="value"`: a quote or backslash escaped, a control character written as
        `\\u001b` (read back by `parse_matchers`), so the text is safe to show and to edit."""
        quoted = escaped(self.value.replace("\\", "\\\\").replace('"', '\\"'))
        return f'{self.name}{self.op}"{quoted}"'


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(r"(?!)")  # Alertmanager refuses such a silence; here it matches nothing


_MATCHER = re.compile(
    r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^\s,"]+)\s*(,|$)'
)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """`alertname="GPUHot", gpu=~"3|4"` as matchers; raises ValueError saying what is wrong."""
    out: list[Matcher] = []
    pos = 0
    text = text.strip().removeprefix("{").removesuffix("}")
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if m is None:
            rest = text[pos:].strip()
            raise ValueError(f'cannot read matcher at "{rest[:20]}": write name="value", ...')
        name, op, raw = m.group(1), m.group(2), m.group(3)
        value = _unquote(raw) if raw.startswith('"') else raw
        if "~" in op:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{name}{op}: not a regular expression ({exc})") from None
        out.append(Matcher(name, value, is_regex="~" in op, is_equal=op[0] == "="))
        pos = m.end()
    if not out:
        raise ValueError("at least one matcher is needed")
    if all(_matches_empty(m) for m in out):
        raise ValueError("these matchers would match every alert: add one that needs a value")
    return tuple(out)


def _matches_empty(matcher: Matcher) -> bool:
    return matcher.matches({})


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))")


def _unquote(raw: str) -> str:
    """A quoted value: `\\"` and `\\\\` as themselves, `\\u001b` as the character it names."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), raw[1:-1])


def format_matchers(matchers: Iterable[Matcher]) -> str:
    return ", ".join(str(m) for m in matchers)


@dataclass(frozen=True, slots=True)
class AmAlert:
    """One alert as Alertmanager holds it, with what became of it."""

    labels: Mapping[str, str]
    fingerprint: str
    state: AlertState
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()  # fingerprints of the inhibiting alerts
    receivers: tuple[str, ...] = ()
    starts_at: float | None = None
    annotations: Mapping[str, str] | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True, slots=True)
class AmGroup:
    """An aggregation group: the labels it groups by, its receiver and its alerts."""

    labels: Mapping[str, str]
    receiver: str
    alerts: tuple[AmAlert, ...]


@dataclass(frozen=True, slots=True)
class AmSilence:
    id: str
    state: SilenceState
    matchers: tuple[Matcher, ...]
    created_by: str
    comment: str
    starts_at: float | None
    ends_at: float | None
    updated_at: float | None = None

    def covers(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True, slots=True)
class AmView:
    """Everything one poll of Alertmanager read, and when."""

    time: float
    alerts: tuple[AmAlert, ...] = ()
    silences: tuple[AmSilence, ...] = ()
    groups: tuple[AmGroup, ...] = ()
    group_wait_s: float = DEFAULT_GROUP_WAIT_S

    def active_silences(self) -> tuple[AmSilence, ...]:
        return tuple(s for s in self.silences if s.state == "active")

    def silence(self, silence_id: str) -> AmSilence | None:
        return next((s for s in self.silences if s.id == silence_id), None)

    def alert_name(self, fingerprint: str) -> str:
        """The name of the alert with this fingerprint, else the fingerprint itself."""
        alert = next((a for a in self.alerts if a.fingerprint == fingerprint), None)
        return alert.name if alert is not None and alert.name else fingerprint


# ---- parsing ----------------------------------------------------------------------------------


def _time(raw: Any) -> float | None:
    try:
        return parse_rfc3339(raw)
    except PromMalformed as exc:
        raise AmMalformed(exc.detail) from None


def _str(raw: Any, what: str) -> str:
    if not isinstance(raw, str):
        raise AmMalformed(f"{what} is not a string")
    return raw


def _labels(raw: Any, what: str = "labels") -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise AmMalformed(f"{what} are not an object of strings")
    return {str(k): v for k, v in raw.items()}


def _strings(raw: Any, what: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise AmMalformed(f"{what} is not a list")
    return tuple(_str(item, what) for item in raw)


def _alert(raw: Any) -> AmAlert:
    if not isinstance(raw, Mapping):
        raise AmMalformed("an alert is not an object")
    status = raw.get("status") or {}
    if not isinstance(status, Mapping):
        raise AmMalformed("an alert's status is not an object")
    state = _str(status.get("state", "active"), "alert state")
    if state not in ("active", "suppressed", "unprocessed"):
        raise AmMalformed(f"unknown alert state {describe(state)}")
    receivers = raw.get("receivers") or []
    if not isinstance(receivers, list) or not all(isinstance(r, Mapping) for r in receivers):
        raise AmMalformed("an alert's receivers are not a list of objects")
    return AmAlert(
        labels=_labels(raw.get("labels")),
        annotations=_labels(raw.get("annotations"), "annotations"),
        fingerprint=_str(raw.get("fingerprint", ""), "fingerprint"),
        state=cast(AlertState, state),
        silenced_by=_strings(status.get("silencedBy"), "silencedBy"),
        inhibited_by=_strings(status.get("inhibitedBy"), "inhibitedBy"),
        receivers=tuple(_str(r.get("name"), "receiver name") for r in receivers),
        starts_at=_time(raw.get("startsAt")),
    )


def parse_alerts(data: Any) -> tuple[AmAlert, ...]:
    """The answer of GET /api/v2/alerts."""
    if not isinstance(data, list):
        raise AmMalformed("alerts are not a list")
    return tuple(_alert(a) for a in data)


def parse_groups(data: Any) -> tuple[AmGroup, ...]:
    """The answer of GET /api/v2/alerts/groups."""
    if not isinstance(data, list):
        raise AmMalformed("alert groups are not a list")
    groups: list[AmGroup] = []
    for raw in data:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("receiver"), Mapping):
            raise AmMalformed("an alert group has no receiver")
        groups.append(
            AmGroup(
                labels=_labels(raw.get("labels")),
                receiver=_str(raw["receiver"].get("name"), "receiver name"),
                alerts=parse_alerts(raw.get("alerts") or []),
            )
        )
    return tuple(groups)


def _matcher(raw: Any) -> Matcher:
    if not isinstance(raw, Mapping):
        raise AmMalformed("a matcher is not an object")
    return Matcher(
        name=_str(raw.get("name"), "matcher name"),
        value=_str(raw.get("value"), "matcher value"),
        is_regex=bool(raw.get("isRegex", False)),
        is_equal=bool(raw.get("isEqual", True)),
    )


def parse_silences(data: Any) -> tuple[AmSilence, ...]:
    """The answer of GET /api/v2/silences, newest first."""
    if not isinstance(data, list):
        raise AmMalformed("silences are not a list")
    out: list[AmSilence] = []
    for raw in data:
        if not isinstance(raw, Mapping):
            raise AmMalformed("a silence is not an object")
        status = raw.get("status") or {}
        state = _str(status.get("state", "") if isinstance(status, Mapping) else "", "state")
        if state not in ("active", "pending", "expired"):
            raise AmMalformed(f"unknown silence state {describe(state)}")
        matchers = raw.get("matchers") or []
        if not isinstance(matchers, list):
            raise AmMalformed("a silence's matchers are not a list")
        out.append(
            AmSilence(
                id=_str(raw.get("id"), "silence id"),
                state=cast(SilenceState, state),
                matchers=tuple(_matcher(m) for m in matchers),
                created_by=_str(raw.get("createdBy", ""), "createdBy"),
                comment=_str(raw.get("comment", ""), "comment"),
                starts_at=_time(raw.get("startsAt")),
                ends_at=_time(raw.get("endsAt")),
                updated_at=_time(raw.get("updatedAt")),
            )
        )
    out.sort(key=lambda s: s.starts_at or 0.0, reverse=True)
    return tuple(out)
