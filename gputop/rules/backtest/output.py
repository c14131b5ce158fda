"""A backtest report as text (a table per rule), as GitHub Actions annotations, or as JSON
(`Report.as_json`, the contract).

Rule names, groups, paths, labels and error texts come from rule files and servers: they are
written with their control characters made visible (`core.untrusted`; escaped in JSON), never
as they are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

from gputop.core.units import format_duration
from gputop.core.untrusted import escaped_lines, visible
from gputop.rules.backtest.report import NearScore, Outcome, Report, RuleResult, Window
from gputop.rules.checks import Finding, Severity
from gputop.rules.lint import github_line
from gputop.rules.text import series_name

__all__ = ["FORMATS", "counted", "text_report", "write_report"]

FORMATS = ("text", "json", "github")
#: Series listed per rule in the text form (JSON lists them all).
SERIES_SHOWN = 8
#: Windows listed per series in the text form.
WINDOWS_SHOWN = 4
_DAY = "%Y-%m-%d %H:%M:%S"
#: The near columns: warnings that came true of those judged, firings warned of, lead time.
_HEADS = ("", "fired", "firing", "flaps", "series", "near: precision", "recall", "lead")


def counted(n: int, noun: str) -> str:
    """`1 rule`, `3 rules`."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def write_report(
    report: Report, out: TextIO, fmt: str = "text", *, max_fires: int | None = None
) -> None:
    if fmt == "json":
        text = json.dumps(report.as_json(), indent=2, ensure_ascii=False)
        out.write(escaped_lines(text) + "\n")  # JSON escapes C0 in strings itself
    elif fmt == "github":
        for line in github_lines(report, max_fires):
            print(line, file=out)
    else:
        out.write(text_report(report, max_fires))


def github_lines(report: Report, max_fires: int | None) -> list[str]:
    """An error per rule that could not be replayed, a warning per rule over `max_fires`."""
    span = format_duration(report.end - report.start)
    lines: list[str] = []
    for rule in report.rules:
        if rule.error is not None:
            message = f"{visible(rule.name)}: cannot be replayed: {visible(rule.error)}"
            lines.append(github_line(_finding(report, rule, "error", message)))
    for rule in report.over(max_fires):
        message = (
            f"{visible(rule.name)} would have fired {rule.fired} times in {span} "
            f"(--max-fires {max_fires})"
        )
        lines.append(github_line(_finding(report, rule, "warning", message)))
    return lines


def _finding(report: Report, rule: RuleResult, severity: Severity, message: str) -> Finding:
    """An annotation on the rule's file and line; for a rule without one (the engine's own),
    on the engine, as `rules check` names the server it checked against."""
    path, line = None, 0
    if rule.source:
        head, _, tail = rule.source.rpartition(":")
        path, line = (head, int(tail)) if head and tail.isdigit() else (rule.source, 0)
    return Finding(
        visible(path) if path else None,
        line,
        1 if line else 0,
        severity,
        message,
        "backtest",
        visible(rule.name),
        visible(report.engine),
    )


def text_report(report: Report, max_fires: int | None = None) -> str:
    span = report.end - report.start
    stamp = _stamp(span)
    lines = [
        f"backtest {_when(report.start, _DAY)} → {_when(report.end, _DAY)} "
        f"({format_duration(span)}) on {visible(report.engine)}",
    ]
    for rule in report.rules:
        lines.append("")
        lines.extend(_rule_lines(rule, stamp))
    if report.gaps:
        lines.append("")
        for gap in report.gaps:
            names = ", ".join(visible(n) for n in gap.rules)
            lines.append(
                f"gap: no data {_when(gap.start, stamp)}–{_when(gap.end, stamp)} "
                f"({format_duration(gap.end - gap.start)}; not counted as resolved) for {names}"
            )
    over = report.over(max_fires)
    failed = report.failed
    lines.append("")
    fired = sum(r.fired for r in report.rules)
    summary = f"{counted(len(report.rules), 'rule')}, {counted(fired, 'firing')}"
    if over:
        summary += f"; over --max-fires {max_fires}: " + ", ".join(
            f"{visible(r.name)} ({r.fired})" for r in over
        )
    if failed:
        summary += f"; {len(failed)} could not be replayed"
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _rule_lines(rule: RuleResult, stamp: str) -> list[str]:
    head = f"{visible(rule.name)}"
    detail = [f"every {format_duration(rule.interval_s)}"]
    if rule.group:
        detail.insert(0, f"group {visible(rule.group)}")
    if rule.op is not None and rule.threshold is not None:
        detail.append(f"{rule.op} {rule.threshold:g}")
    detail.append(f"for {format_duration(rule.for_s)}")
    if rule.keep_firing_for_s:
        detail.append(f"keep firing {format_duration(rule.keep_firing_for_s)}")
    lines = [f"{head} ({', '.join(detail)})" + (f"  {visible(rule.source)}" if rule.source else "")]
    if rule.error is not None or rule.outcome is None:
        lines.append(f"  cannot be replayed: {visible(rule.error or 'no result')}")
        return lines
    rows = [_row("as written", rule.outcome)]
    for w in rule.whatif:
        rows.append(_row(_changed_label(rule, w.changed), w.outcome))
    widths = [max(len(r[i]) for r in [_HEADS, *rows]) for i in range(len(_HEADS))]
    for row in [_HEADS, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    lines.extend(_series_lines(rule.outcome, stamp))
    for w in rule.whatif:
        if w.outcome.series:
            lines.append(f"  {_changed_label(rule, w.changed)}:")
            lines.extend("  " + line for line in _series_lines(w.outcome, stamp))
    if rule.suggestion is not None:
        lines.append("  " + _suggestion_text(rule))
    return lines


def _row(label: str, outcome: Outcome) -> tuple[str, ...]:
    near = outcome.near
    return (
        label,
        str(outcome.fired),
        format_duration(outcome.firing_s),
        str(outcome.flaps),
        str(outcome.series_fired),
        *(_near_cells(near) if near is not None else ("–", "–", "–")),
    )


def _near_cells(near: NearScore) -> tuple[str, str, str]:
    lead = near.lead_s_median
    return (
        _pct(near.precision, near.followed_by_firing, near.warnings),
        _pct(near.recall, near.firings_warned, near.firings),
        "–" if lead is None else format_duration(lead),
    )


def _pct(ratio: float | None, part: int, whole: int) -> str:
    return "–" if ratio is None else f"{part}/{whole} {ratio:.0%}"


def _changed_label(rule: RuleResult, changed: Mapping[str, float]) -> str:
    parts = []
    if "threshold" in changed:
        was = f"{rule.threshold:g}" if rule.threshold is not None else "?"
        parts.append(f"threshold {was}→{changed['threshold']:g}")
    if "for_s" in changed:
        parts.append(f"for {format_duration(rule.for_s)}→{format_duration(changed['for_s'])}")
    if "keep_firing_for_s" in changed:
        parts.append(
            f"keep {format_duration(rule.keep_firing_for_s)}→"
            f"{format_duration(changed['keep_firing_for_s'])}"
        )
    return "what if " + ", ".join(parts)


def _series_lines(outcome: Outcome, stamp: str) -> list[str]:
    ranked = sorted(outcome.series, key=lambda s: -s.firing_s)
    lines = []
    for s in ranked[:SERIES_SHOWN]:
        who = visible(series_name(s.labels)) or "(no labels)"
        parts = []
        if s.firing:
            parts.append("firing " + _windows(s.firing, stamp))
        if s.pending_only:
            parts.append("pending only " + _windows(s.pending_only, stamp))
        flaps = f", {s.flaps} flaps" if s.flaps else ""
        lines.append(f"  {who}: {'; '.join(parts)}{flaps}")
    if len(ranked) > SERIES_SHOWN:
        lines.append(f"  … {len(ranked) - SERIES_SHOWN} more series (--format json lists all)")
    return lines


def _windows(windows: Sequence[Window], stamp: str) -> str:
    shown = [
        f"{_when(w.start, stamp)}–{_when(w.end, stamp)}"
        if w.end > w.start
        else _when(w.start, stamp)
        for w in windows[:WINDOWS_SHOWN]
    ]
    more = len(windows) - WINDOWS_SHOWN
    return ", ".join(shown) + (f" +{more} more" if more > 0 else "")


def _suggestion_text(rule: RuleResult) -> str:
    s = rule.suggestion
    assert s is not None
    parts = []
    if s.threshold is not None:
        parts.append(f"threshold {rule.op} {s.threshold:g} (fired {s.threshold_fired})")
    if s.for_s is not None:
        parts.append(f"for {format_duration(s.for_s)} (fired {s.for_fired})")
    text = f"target {s.target} (≤ {s.allowed:.2g} in this range): " + (
        " or ".join(parts) if parts else "nothing found"
    )
    return text + (f"; {s.note}" if s.note else "")


def _stamp(span_s: float) -> str:
    return "%H:%M:%S" if span_s <= 86400 else "%m-%d %H:%M"


def _when(t: float, fmt: str) -> str:
    return time.strftime(fmt, time.localtime(t))
