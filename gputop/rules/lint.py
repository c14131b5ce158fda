"""What `gputop rules check FILE...` finds: rule files as Prometheus reads them, plus the checks
that find rules which silently never fire (see `checks` for each, README for examples); its
command line is `gputop.commands.rules_check`.

Findings as GNU-style lines (`file:line:col: warning: ... [check]`), JSON, or GitHub Actions
annotations, then a summary line. Exit status: 0 clean, 1 warnings only, 2 errors (a bad file,
a bad flag or config, a server that cannot be reached). A warning is turned off for one rule
by a `# gputop: disable=<check>` comment, everywhere by `--disable` or the config's
`[rules] disabled_checks`; errors cannot be turned off.

What the checks know of a project comes from the project: its dcgm-exporter counters file
(`--counters`, else one found beside the rule file), its evaluation interval (the group's,
the server's, or `--eval-interval`); what is not known is not guessed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from gputop.core.catalogue import DEFAULT_HISTOGRAM
from gputop.core.untrusted import escaped_lines, visible
from gputop.promql.analysis import Selector
from gputop.promql.units import Unit
from gputop.rules.checks import (
    CHECKS,
    CheckContext,
    Finding,
    check_entry,
    record_unit,
)
from gputop.rules.counters import Counters, find_counters, read_counters
from gputop.rules.entries import RuleEntry, RuleFile, RuleFileError
from gputop.rules.files import read_rule_file
from gputop.rules.live import (
    LIVE_DEADLINE_S,
    LiveResult,
    check_live,
    missing_message,
    selector_key,
)
from gputop.rules.namechecks import name_problem
from gputop.rules.rateunits import recorded_pers
from gputop.rules.sites import site_position, sites

__all__ = [
    "FORMATS",
    "Finding",
    "Report",
    "check_files",
    "github_line",
    "read_counters_files",
    "write_report",
]

FORMATS = ("text", "json", "github")
# Selectors of these never count as missing: ALERTS exist only while an alert is active.
_SYNTHETIC = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
_IGNORED_DOCUMENT = (
    "Prometheus reads only the first YAML document of a rule file: the rules from here on "
    "are never loaded (a PrometheusRule per document is fine)"
)
# A name the catalogue already faults needs no "no series" beside it.
_NAME_CHECKS = frozenset({"unknown-metric", "not-a-metric", "old-metric-name", "default-export"})


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    rules: int = 0
    #: Files with no alerting rules: the dashboard has nothing to show from them.
    without_alerts: list[str] = field(default_factory=list)
    prometheus: str | None = None  # the server checked against
    #: The dcgm-exporter counters files the checks judged exports by.
    counters: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def notes(self) -> int:
        return sum(f.severity == "note" for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.warnings else 0

    def summary(self) -> str:
        line = (
            f"{_count(self.files, 'file')}, {_count(self.rules, 'rule')}: "
            f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}"
        )
        if self.notes:
            line += f", {_count(self.notes, 'note')}"
        if self.without_alerts:
            line += f"; no alerting rules in {', '.join(self.without_alerts)}"
        if self.counters:
            line += f"; dcgm-exporter fields as in {', '.join(self.counters)}"
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rules": self.rules,
            "errors": self.errors,
            "warnings": self.warnings,
            "notes": self.notes,
            "prometheus": self.prometheus,
            "no_alerting_rules": list(self.without_alerts),
            "counters": list(self.counters),
            "findings": [
                {
                    "file": f.path,
                    "line": f.line or None,
                    "col": f.col or None,
                    "severity": f.severity,
                    "check": f.check,
                    "rule": f.rule,
                    "message": f.message,
                    **({"place": f.place} if f.place else {}),
                }
                for f in self.findings
            ],
        }


def check_files(
    paths: Iterable[str | Path],
    *,
    eval_interval_s: float | None = None,
    histogram: str = DEFAULT_HISTOGRAM,
    disabled: Iterable[str] = (),
    prometheus: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    deadline_s: float | None = None,
    counters: Counters | None = None,
    find: bool = True,
    verbose: bool = False,
) -> Report:
    """Read and check every file; findings in file order, then by line and column.

    `counters`: the fields the project's dcgm-exporter exports; without it (and with `find`)
    a counters file beside each rule file or above it is used, else a default install's.
    With `prometheus` (a base URL; `client_options` as for PrometheusClient), every selector
    is also checked for series there, and the server's metric types and group intervals are
    used. Notes (no mistakes) are kept only when `verbose`.
    """
    parsed: list[RuleFile] = [read_rule_file(p) for p in paths]
    entries = [e for f in parsed for e in f.entries]
    base = CheckContext(eval_interval_s=eval_interval_s, histogram=histogram)
    ctx = replace(base, recorded=_recorded(entries, base), recorded_rates=recorded_pers(entries))
    report = Report(files=len(parsed), prometheus=prometheus)
    live = None
    if prometheus is not None:
        live = _run_live(prometheus, client_options or {}, entries, ctx, deadline_s)
        if live.error is not None:
            report.findings.append(
                _server_finding(prometheus, f"cannot check against Prometheus: {live.error}")
            )
            live = None
        else:
            ctx = replace(
                ctx,
                types=live.types,
                present=live.present,
                group_intervals=live.group_intervals,
                server=prometheus,
            )
    off = frozenset(disabled)
    for rule_file in parsed:
        used = counters
        nearby = (
            find_counters(rule_file.path) if used is None and find and rule_file.entries else []
        )
        if nearby:
            used = Counters.union(nearby)
        for path in used.paths if used else ():
            if path not in report.counters:
                report.counters.append(path)
        file_ctx = replace(ctx, counters=used)
        found = [_error_finding(e) for e in rule_file.errors]
        found += [
            Finding.at(at, "ignored-document", _IGNORED_DOCUMENT)
            for at in rule_file.ignored_documents
        ]
        for entry in rule_file.entries:
            found += _entry_findings(entry, file_ctx, live)
        report.rules += len(rule_file.entries)
        if not rule_file.rules and not rule_file.errors:
            report.without_alerts.append(rule_file.path)
        kept = [f for f in found if f.check not in off and (verbose or f.severity != "note")]
        report.findings.extend(sorted(kept, key=lambda f: (f.line, f.col)))
    if live is not None and live.unchecked:
        why = live.failure or f"not all answered within {deadline_s or LIVE_DEADLINE_S:g} s"
        message = f"{_count(live.unchecked, 'selector')} not checked against Prometheus: {why}"
        report.findings.append(_server_finding(prometheus or "", message))
    return report


def read_counters_files(paths: Iterable[str | Path]) -> Counters:
    """The counters files named by the user, as one; CountersError for a bad one."""
    return Counters.union((str(p), read_counters(p)) for p in paths)


def _recorded(entries: Sequence[RuleEntry], ctx: CheckContext) -> dict[str, Unit | None]:
    """Series recorded by the files, with their units, each known to the records after it."""
    units: dict[str, Unit | None] = {e.name: None for e in entries if e.kind == "record"}
    for entry in entries:
        if entry.kind == "record":
            step = replace(ctx, recorded=units)
            units[entry.name] = record_unit(entry, step)
    return units


def _entry_findings(entry: RuleEntry, ctx: CheckContext, live: LiveResult | None) -> list[Finding]:
    found = check_entry(entry, ctx)
    if live is not None:
        named = {s.selector.metric for s in sites(entry) if _faulted(s.selector.metric, ctx)}
        for site in sites(entry):
            sel = site.selector
            probe = live.probes.get(selector_key(sel))
            if (
                probe is None
                or probe.has_series
                or site.in_absent
                or sel.metric in ctx.recorded
                or sel.metric in _SYNTHETIC
                or sel.metric in named
            ):
                continue
            message, label = missing_message(sel.metric, sel, probe, live.url)
            at = site_position(entry, site, label)
            if not any(f.check == "no-series" and f.message == message for f in found):
                found.append(Finding.at(at, "no-series", message, rule=entry.name))
    disabled = entry.disabled_checks
    kept = [f for f in found if f.check not in disabled]
    for name, at in entry.disabled:
        if name not in CHECKS:
            kept.append(
                Finding.at(
                    at,
                    "disable-comment",
                    f"no check is named {name!r} (checks: {', '.join(CHECKS)})",
                    rule=entry.name,
                )
            )
    return kept


def _faulted(metric: str | None, ctx: CheckContext) -> bool:
    """Whether a name check already faults this name: one finding per token is enough."""
    problem = name_problem(metric, ctx) if metric else None
    return problem is not None and problem[0] in _NAME_CHECKS


def _run_live(
    url: str,
    options: Mapping[str, Any],
    entries: Sequence[RuleEntry],
    ctx: CheckContext,
    deadline_s: float | None,
) -> LiveResult:
    from gputop.sources.prometheus.client import PrometheusClient

    selectors: list[Selector] = [
        site.selector
        for entry in entries
        for site in sites(entry)
        if not site.in_absent
        and site.selector.metric not in ctx.recorded
        and site.selector.metric not in _SYNTHETIC
    ]

    async def go() -> LiveResult:
        async with PrometheusClient(url, **options) as client:
            return await check_live(client, selectors, deadline_s=deadline_s or LIVE_DEADLINE_S)

    return asyncio.run(go())


def _server_finding(url: str, message: str) -> Finding:
    return Finding(None, 0, 0, "error", message, "prometheus", place=url)


def _error_finding(error: RuleFileError) -> Finding:
    if error.position is not None:
        return Finding.at(error.position, "syntax", error.message)
    return Finding(error.path, 0, 0, "error", error.message, "file")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# ---- output ------------------------------------------------------------------------------


def _github_escape(text: str, *, prop: bool = False) -> str:
    out = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


def github_line(finding: Finding) -> str:
    """A GitHub Actions workflow command: an annotation on the file, line and column."""
    props = []
    if finding.path is not None:
        props.append(f"file={_github_escape(finding.path, prop=True)}")
        if finding.line:
            props += [f"line={finding.line}", f"col={finding.col}"]
    props.append(f"title={_github_escape(finding.check, prop=True)}")
    message = finding.message if finding.path else f"{finding.where}: {finding.message}"
    level = "notice" if finding.severity == "note" else finding.severity
    return f"::{level} {','.join(props)}::{_github_escape(message)}"


def write_report(report: Report, out: TextIO, fmt: str = "text") -> None:
    """The report as text, JSON or GitHub annotations. Rule names, paths and a server's label
    values are outside text: controls are made visible (escaped in JSON), never sent raw."""
    if fmt == "json":
        text = json.dumps(report.as_json(), indent=2, ensure_ascii=False)
        out.write(escaped_lines(text) + "\n")  # JSON escapes C0 in strings itself
        return
    for finding in report.findings:
        print(visible(github_line(finding) if fmt == "github" else str(finding)), file=out)
    print(visible(report.summary()), file=out)
