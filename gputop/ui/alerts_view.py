"""What the alerts screen shows of Alertmanager: rows of plain text, no widgets.

Alerts are listed by aggregation group (receiver and grouping labels, as Alertmanager groups
them), each with the GPU and node it is about, its state and what suppresses it; silences
newest first with their matchers, creator, comment and time left. Times left are in whole
minutes, so rows change at most once a minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gputop.core.labels import node_of
from gputop.core.units import format_clock, format_duration
from gputop.sources.amtypes import AmAlert, AmView, format_matchers

__all__ = [
    "ALERT_COLUMNS",
    "SILENCE_COLUMNS",
    "TableRow",
    "alert_rows",
    "silence_rows",
]

#: (column key, heading) of each table.
#: The long columns (labels, matchers) come last, so the short ones stay on screen.
ALERT_COLUMNS = (
    ("group", "GROUP → RECEIVER"),
    ("state", "STATE"),
    ("alert", "ALERT"),
    ("where", "GPU @ NODE"),
    ("since", "SINCE"),
    ("why", "SUPPRESSED BY"),
    ("labels", "LABELS"),
)
SILENCE_COLUMNS = (
    ("state", "STATE"),
    ("left", "ENDS"),
    ("by", "CREATED BY"),
    ("comment", "COMMENT"),
    ("matchers", "MATCHERS"),
)
#: Labels every alert of a group shares or that say little: left out of the LABELS column.
_QUIET_LABELS = frozenset({"alertname", "severity", "job", "__name__"})


@dataclass(frozen=True, slots=True)
class TableRow:
    key: str
    cells: tuple[str, ...]


def _labels(labels: Mapping[str, str], skip: Mapping[str, str]) -> str:
    return ", ".join(
        f"{k}={v}" for k, v in sorted(labels.items()) if k not in _QUIET_LABELS and k not in skip
    )


#: Labels the GPU @ NODE column says: left out of the LABELS column.
_WHERE_LABELS = frozenset({"gpu", "Hostname", "hostname"})


def _where(labels: Mapping[str, str]) -> str:
    """The GPU and node an alert is about: "GPU 3 @ node-1", the node alone, or "—"."""
    node = node_of(labels)
    if "gpu" in labels:
        return f"GPU {labels['gpu']}" + (f" @ {node}" if node else "")
    return node or "—"


def _clock(t: float | None, now: float) -> str:
    return "?" if t is None else format_clock(t, now, seconds=False)


def _minutes(seconds: float) -> str:
    return format_duration(60 * max(1, round(seconds / 60)))


def _why(alert: AmAlert, view: AmView) -> str:
    parts = []
    for sid in alert.silenced_by:
        silence = view.silence(sid)
        parts.append(f"silence by {silence.created_by}" if silence else f"silence {sid[:8]}")
    parts.extend(f"inhibited by {view.alert_name(fp)}" for fp in alert.inhibited_by)
    return ", ".join(parts)


def alert_rows(view: AmView) -> list[TableRow]:
    """One row per alert of each group; the group is named on its first row."""
    rows: list[TableRow] = []
    groups = sorted(view.groups, key=lambda g: (g.receiver, sorted(g.labels.items())))
    for group in groups:
        grouped = _labels(group.labels, {}) or group.labels.get("alertname", "")
        title = f"{grouped} → {group.receiver}"
        alerts = sorted(group.alerts, key=lambda a: (a.state != "active", a.name, a.fingerprint))
        for i, alert in enumerate(alerts):
            rows.append(
                TableRow(
                    f"{group.receiver}/{sorted(group.labels.items())}/{alert.fingerprint}",
                    (
                        title if i == 0 else "",
                        alert.state.upper(),
                        alert.name,
                        _where(alert.labels),
                        _clock(alert.starts_at, view.time),
                        _why(alert, view),
                        _labels(alert.labels, {**group.labels, **dict.fromkeys(_WHERE_LABELS, "")}),
                    ),
                )
            )
    return rows


def silence_rows(view: AmView, now: float) -> list[TableRow]:
    """Active and pending silences, newest first; expired ones are gone."""
    rows = []
    for silence in view.silences:
        if silence.state == "expired":
            continue
        if silence.state == "pending" and silence.starts_at is not None:
            left = f"starts {_clock(silence.starts_at, now)}"
        elif silence.ends_at is None:
            left = "?"
        else:
            left = f"{_clock(silence.ends_at, now)} ({_minutes(max(0.0, silence.ends_at - now))})"
        rows.append(
            TableRow(
                silence.id,
                (
                    silence.state.upper(),
                    left,
                    silence.created_by,
                    silence.comment,
                    format_matchers(silence.matchers),
                ),
            )
        )
    return rows
