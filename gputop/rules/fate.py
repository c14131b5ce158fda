"""Where each rule's alert went in Alertmanager: the end of the chain a page travels.

A firing rule's alert is looked up among Alertmanager's alerts by `alertname` and the series'
labels (Alertmanager's copy carries more: the rule's own labels, external labels), and its
fate read from there: active and routed to receivers, suppressed by silences or by inhibiting
alerts — or missing, when Prometheus has fired it for longer than Alertmanager's `group_wait`
plus a margin and Alertmanager still does not have it (no `alerting:` section in Prometheus, a
wrong address, a dropped label). A rule that is not firing has no alert there, but a silence
that already covers it is named, so a row silenced ahead of time says so.

While Alertmanager cannot be read, every fate is the last known one, marked failing with the
time of the last good poll, and nothing is called missing: each row Alertmanager has a say
about (every firing row, every row a silence covers) says its fate is unknown since then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from gputop.rules.model import AlertFate, RuleStatus
from gputop.sources.amtypes import MISSING_MARGIN_S, AmAlert, AmSilence, AmView

__all__ = ["Fates", "fate_of", "silence_labels", "with_fates"]

#: The labels that say which GPU a series is about, for a silence's matchers.
_GPU_IDENTITY = ("Hostname", "hostname", "instance", "gpu", "UUID")


def silence_labels(status: RuleStatus) -> dict[str, str]:
    """The labels a silence of this row matches: alertname plus the GPU's identity, or every
    label of the series when it names no GPU."""
    labels = dict(status.labels)
    identity = {k: labels[k] for k in _GPU_IDENTITY if k in labels}
    if "Hostname" in identity or "hostname" in identity:
        identity.pop("instance", None)  # the node is named; the scrape address adds nothing
    return {"alertname": status.name, **(identity or labels)}


def _series_labels(status: RuleStatus) -> dict[str, str]:
    return {"alertname": status.name, **status.labels}


def _covers(alert: AmAlert, labels: Mapping[str, str]) -> bool:
    return all(alert.labels.get(k) == v for k, v in labels.items())


def fate_of(
    status: RuleStatus,
    view: AmView,
    *,
    now: float,
    fresh: bool = True,
    margin_s: float = MISSING_MARGIN_S,
) -> AlertFate:
    """The fate of one status's alert in `view`; `fresh`: the view is from a working poll."""
    return _Lookup(view).fate(status, now=now, fresh=fresh, margin_s=margin_s)


class _Lookup:
    """A view's alerts by name and its active silences, for many statuses' fates."""

    def __init__(self, view: AmView) -> None:
        self.view = view
        self.by_name: dict[str, list[AmAlert]] = {}
        for alert in view.alerts:
            self.by_name.setdefault(alert.name, []).append(alert)
        self.silences = view.active_silences()

    def fate(self, status: RuleStatus, *, now: float, fresh: bool, margin_s: float) -> AlertFate:
        view = self.view
        labels = _series_labels(status)
        alerts = [a for a in self.by_name.get(status.name, ()) if _covers(a, labels)]
        if not alerts:
            silences = _silences(self.silences, labels)
            if _may_go_missing(status, fresh):
                since = status.firing_since
                if since is not None and now - since > view.group_wait_s + margin_s:
                    return AlertFate("missing", silences)
            return AlertFate(None, silences) if silences else _NONE
        receivers = _unique(r for a in alerts for r in a.receivers)
        if any(a.state != "suppressed" for a in alerts):
            return AlertFate("active", receivers=receivers)
        silenced = {sid for a in alerts for sid in a.silenced_by}
        silences = tuple(
            (s.id, s.created_by, s.ends_at) for s in view.silences if s.id in silenced
        ) or tuple((sid, "", None) for sid in sorted(silenced))
        inhibitors = _unique(view.alert_name(fp) for a in alerts for fp in a.inhibited_by)
        return AlertFate("suppressed", silences, inhibitors, receivers)


_NONE = AlertFate()


def _may_go_missing(status: RuleStatus, fresh: bool) -> bool:
    """Whether the status's fate can turn "missing" as time passes (a firing alert that
    Alertmanager does not hold, from a working poll)."""
    return status.state == "firing" and fresh and status.source == "prometheus"


def _silences(
    silences: Iterable[AmSilence], labels: Mapping[str, str]
) -> tuple[tuple[str, str, float | None], ...]:
    return tuple((s.id, s.created_by, s.ends_at) for s in silences if s.covers(labels))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def with_fates(
    statuses: Sequence[RuleStatus],
    view: AmView | None,
    *,
    now: float,
    fresh: bool,
    margin_s: float = MISSING_MARGIN_S,
) -> list[RuleStatus]:
    """The statuses with their fates; with no view yet, each fate is unknown (state None);
    `fresh` False (Alertmanager failing): the last known fates, marked failing."""
    return Fates().get(statuses, view, version=0, now=now, fresh=fresh, margin_s=margin_s)


class Fates:
    """`with_fates`, kept: worked out again for every status when the statuses or
    Alertmanager's view change, and between those each second only for the statuses whose
    fate can change with the time alone (a firing alert Alertmanager does not hold goes
    "missing" after `group_wait`). Thousands of rule series then cost little per tick."""

    def __init__(self) -> None:
        self._from: Sequence[RuleStatus] | None = None
        self._key: tuple[int, bool, float] | None = None
        self._second = -1
        self._out: list[RuleStatus] = []
        self._timed: list[int] = []  # indices whose fate can change with the time
        self._lookup: _Lookup | None = None

    def get(
        self,
        statuses: Sequence[RuleStatus],
        view: AmView | None,
        *,
        version: int,
        now: float,
        fresh: bool,
        margin_s: float = MISSING_MARGIN_S,
    ) -> list[RuleStatus]:
        """The statuses with their fates in `view` (whose `version` changes with it)."""
        key = (version, fresh, margin_s)
        second = int(now)
        if statuses is not self._from or key != self._key:
            self._from, self._key, self._second = statuses, key, second
            self._out, self._timed = self._all(statuses, view, now, fresh, margin_s)
        elif second != self._second and self._timed and self._lookup is not None:
            self._second = second
            out = list(self._out)
            for i in self._timed:
                fate = self._lookup.fate(statuses[i], now=now, fresh=fresh, margin_s=margin_s)
                if fate != out[i].alertmanager:
                    out[i] = dataclasses.replace(statuses[i], alertmanager=fate)
            if out != self._out:
                self._out = out
        return self._out

    def _all(
        self,
        statuses: Sequence[RuleStatus],
        view: AmView | None,
        now: float,
        fresh: bool,
        margin_s: float,
    ) -> tuple[list[RuleStatus], list[int]]:
        failing = not fresh
        if view is None:
            self._lookup = None
            empty = AlertFate(failing=failing)
            return [dataclasses.replace(st, alertmanager=empty) for st in statuses], []
        lookup = self._lookup = _Lookup(view)
        out: list[RuleStatus] = []
        timed: list[int] = []
        for i, st in enumerate(statuses):
            fate = lookup.fate(st, now=now, fresh=fresh, margin_s=margin_s)
            if failing:
                fate = dataclasses.replace(fate, failing=True, stale_since=view.time)
            elif fate.state is None and _may_go_missing(st, fresh):
                timed.append(i)
            out.append(dataclasses.replace(st, alertmanager=fate))
        return out, timed
