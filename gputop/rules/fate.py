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
from gputop.sources.amtypes import AmAlert, AmSilence, AmView

__all__ = ["MISSING_MARGIN_S", "fate_of", "silence_labels", "with_fates"]

#: A firing alert not in Alertmanager after `group_wait` plus this long is missing: it covers
#: Prometheus' evaluation interval (firing starts at the first evaluation after activeAt + for,
#: up to a common 1m later) and gputop's own poll of Alertmanager.
MISSING_MARGIN_S = 90.0

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
    labels = _series_labels(status)
    alerts = [a for a in view.alerts if a.name == status.name and _covers(a, labels)]
    if not alerts:
        silences = _silences(view.active_silences(), labels)
        if status.state == "firing" and fresh and status.source == "prometheus":
            since = status.firing_since
            if since is not None and now - since > view.group_wait_s + margin_s:
                return AlertFate("missing", silences)
        return AlertFate(None, silences)
    receivers = _unique(r for a in alerts for r in a.receivers)
    if any(a.state != "suppressed" for a in alerts):
        return AlertFate("active", receivers=receivers)
    silenced = {sid for a in alerts for sid in a.silenced_by}
    silences = tuple(
        (s.id, s.created_by, s.ends_at) for s in view.silences if s.id in silenced
    ) or tuple((sid, "", None) for sid in sorted(silenced))
    inhibitors = _unique(view.alert_name(fp) for a in alerts for fp in a.inhibited_by)
    return AlertFate("suppressed", silences, inhibitors, receivers)


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
    failing = not fresh
    if view is None:
        empty = AlertFate(failing=failing)
        return [dataclasses.replace(st, alertmanager=empty) for st in statuses]
    out = []
    for st in statuses:
        fate = fate_of(st, view, now=now, fresh=fresh, margin_s=margin_s)
        if failing:
            fate = dataclasses.replace(fate, failing=True, stale_since=view.time)
        out.append(dataclasses.replace(st, alertmanager=fate))
    return out
