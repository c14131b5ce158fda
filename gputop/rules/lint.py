"""`gputop rules check FILE...`: rule-file syntax plus unit sense from the metric catalogue.

One line per finding, GNU style (`file:line:col: warning: ...`), then a summary line.
Exit status: 0 clean, 1 warnings only, 2 errors.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TextIO

import promql_parser as pp

from gputop.core.catalogue import lookup
from gputop.core.units import format_duration
from gputop.promql.analysis import Comparison, children, parse, selector
from gputop.rules.files import (
    Position,
    RuleEntry,
    RuleFile,
    RuleFileError,
    parse_prometheus_duration,
    read_rule_file,
)

__all__ = [
    "DEFAULT_EVAL_INTERVAL_S",
    "Finding",
    "Report",
    "add_arguments",
    "check_files",
    "lint_entry",
    "main",
    "run",
]

#: Prometheus' default `evaluation_interval`.
DEFAULT_EVAL_INTERVAL_S = 60.0
_MEM_COPY = "DCGM_FI_DEV_MEM_COPY_UTIL"
_MEMORY_USAGE_FIX = "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100"
# Words that mean memory occupancy (not "memory utilization", which is what MEM_COPY_UTIL is).
_MEMORY_TALK = re.compile(
    r"\b(?:memory|mem|vram|framebuffer|fb)\s*(?:usage|used|use|occupancy|full|pressure|"
    r"consumption|exhaust\w*)\b|\bOOM\b|\bout\s*of\s*memory\b",
    re.IGNORECASE,
)
_RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})


@dataclass(frozen=True, slots=True)
class Finding:
    where: str  # file:line:col, or the file alone
    line: int
    col: int
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"

    @classmethod
    def at(cls, position: Position, severity: Literal["error", "warning"], message: str) -> Finding:
        return cls(str(position), position.line, position.col, severity, message)

    @classmethod
    def from_error(cls, error: RuleFileError) -> Finding:
        if error.position is not None:
            return cls.at(error.position, "error", error.message)
        return cls(error.path, 0, 0, "error", error.message)


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    rules: int = 0

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.warnings else 0

    def summary(self) -> str:
        return (
            f"{_count(self.files, 'file')}, {_count(self.rules, 'rule')}: "
            f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}"
        )


def check_files(
    paths: Iterable[str], *, eval_interval_s: float = DEFAULT_EVAL_INTERVAL_S
) -> Report:
    """Read and lint every file; findings in file order, then by line and column."""
    parsed: list[RuleFile] = [read_rule_file(p) for p in paths]
    # Series recorded by any of the files are known metrics for all of them.
    recorded = {e.name for f in parsed for e in f.entries if e.kind == "record"}
    report = Report(files=len(parsed))
    for rule_file in parsed:
        found = [Finding.from_error(e) for e in rule_file.errors]
        for entry in rule_file.entries:
            found.extend(lint_entry(entry, eval_interval_s=eval_interval_s, recorded=recorded))
        report.rules += len(rule_file.entries)
        report.findings.extend(sorted(found, key=lambda f: (f.line, f.col)))
    return report


def lint_entry(
    entry: RuleEntry,
    *,
    eval_interval_s: float = DEFAULT_EVAL_INTERVAL_S,
    recorded: Iterable[str] = (),
) -> list[Finding]:
    """The warnings of one syntactically valid rule."""
    out: list[Finding] = []
    known = set(recorded)
    for metric in entry.analysis.metrics:
        if lookup(metric) is None and metric not in known:
            out.append(Finding.at(entry.locate(metric), "warning", f"unknown metric {metric}"))
    for comparison in entry.analysis.comparisons:
        message = _range_problem(comparison)
        if message is not None:
            where = entry.locate(comparison.unit_metric or "")
            out.append(Finding.at(where, "warning", message))
    if _MEM_COPY in entry.analysis.metrics and _talks_about_memory_usage(entry):
        out.append(
            Finding.at(
                entry.locate(_MEM_COPY),
                "warning",
                f"{_MEM_COPY} is the share of time the memory bus is busy, not memory "
                f"usage; for memory usage (OOM risk) use {_MEMORY_USAGE_FIX}",
            )
        )
    for name, metric in _rates_of_gauges(entry.expr):
        out.append(
            Finding.at(
                entry.locate(metric),
                "warning",
                f"{name}() of {metric}, a gauge: {name}() is meant for counters",
            )
        )
    interval = entry.group_interval_s or eval_interval_s
    rule = entry.rule
    if rule is not None and entry.for_position and 0 < rule.for_s < 2 * interval:
        out.append(
            Finding.at(
                entry.for_position,
                "warning",
                f"for: {format_duration(rule.for_s)} is shorter than two evaluation "
                f"intervals ({format_duration(interval)} each): one noisy evaluation "
                f"starts it and the next fires it",
            )
        )
    return out


def _range_problem(comparison: Comparison) -> str | None:
    """Why a comparison can never hold, or always holds, given its metric's range."""
    info = lookup(comparison.unit_metric or "")
    if info is None or comparison.return_bool or (info.lo is None and info.hi is None):
        return None
    lo = -float("inf") if info.lo is None else info.lo
    hi = float("inf") if info.hi is None else info.hi
    op, t = comparison.op, comparison.threshold
    never = {
        ">": t >= hi,
        ">=": t > hi,
        "<": t <= lo,
        "<=": t < lo,
        "==": not lo <= t <= hi,
        "!=": False,
    }[op]
    always = {
        ">": t < lo,
        ">=": t <= lo,
        "<": t > hi,
        "<=": t >= hi,
        "==": False,
        "!=": not lo <= t <= hi,
    }[op]
    if not never and not always:
        return None
    span = info.range_name or (f"at least {lo:g}" if info.hi is None else f"{lo:g}–{hi:g}")
    what = f"{info.name} is a {span}" if info.range_name else f"{info.name} is {span}"
    if never:
        hint = ""
        if info.range_name == "ratio 0–1" and 1 < t <= 100:
            hint = f" (did you mean {op} {t / 100:g}?)"
        return f"{what}: `{op} {t:g}` can never fire{hint}"
    return f"{what}: `{op} {t:g}` always holds, so the rule fires for every series"


def _talks_about_memory_usage(entry: RuleEntry) -> bool:
    # CamelCase and snake_case names into words: "GPUOutOfMemory" -> "GPU Out Of Memory".
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", entry.name)
    words = words.replace("_", " ")
    texts = [words, *(entry.rule.annotations.values() if entry.rule else ())]
    return any(_MEMORY_TALK.search(t) for t in texts)


def _rates_of_gauges(expr: str) -> list[tuple[str, str]]:
    """(function, metric) for each rate/irate/increase applied straight to a gauge."""
    found: list[tuple[str, str]] = []

    def visit(node: pp.Expr) -> None:
        if isinstance(node, pp.Call) and node.func.name in _RATE_FUNCTIONS:
            arg = node.args[0] if node.args else None
            if isinstance(arg, pp.MatrixSelector):
                metric = selector(arg.vector_selector).metric
                info = lookup(metric or "")
                if metric and info is not None and info.kind == "gauge":
                    found.append((node.func.name, metric))
        for child in children(node):
            visit(child)

    visit(parse(expr))
    return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _duration_arg(text: str) -> float:
    try:
        seconds = parse_prometheus_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rules check` arguments."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="Prometheus rule files")
    parser.add_argument(
        "--eval-interval",
        type=_duration_arg,
        default=DEFAULT_EVAL_INTERVAL_S,
        metavar="DURATION",
        help="evaluation interval of groups without their own `interval` (default: 1m)",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Check the files named in `args`, print the findings and a summary; the exit status."""
    stream = out if out is not None else sys.stdout
    report = check_files(args.files, eval_interval_s=args.eval_interval)
    for finding in report.findings:
        print(finding, file=stream)
    print(report.summary(), file=stream)
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gputop rules check", description="Check Prometheus alert rule files."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
