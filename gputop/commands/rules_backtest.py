"""`gputop rules backtest [FILE...]`: how often each alerting rule would have fired over an
engine's history, and how good gputop's "near firing" warnings were (see `rules.backtest`).

Rules come from the files given (Prometheus rule files or PrometheusRules), or without a file
from the rules the engine has loaded (`/api/v1/rules`). The range is `--start`/`--end` (RFC
3339 or unix seconds) or `--range` ending now (default 1d). Exit status: 0, 1 when a rule
fired more than `--max-fires` times, 2 for bad input, an engine that failed, or a rule that
could not be replayed. Every bad input is one line naming the flag or file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gputop.commands.backtest_args import (
    assignment,
    count,
    duration,
    number,
    positive_duration,
    target_rate,
    time_arg,
)
from gputop.core.untrusted import visible

if TYPE_CHECKING:
    from gputop.rules.backtest.remote import RecordRule
    from gputop.rules.backtest.report import Report
    from gputop.rules.backtest.run import Options
    from gputop.rules.backtest.whatif import Change
    from gputop.rules.model import RuleDef

__all__ = ["BacktestError", "add_arguments", "main", "run"]

PROG = "gputop rules backtest"
DEFAULT_RANGE_S = 86400.0
FORMATS = ("text", "json", "github")
_PROGRESS_AFTER_S = 0.5  # a backtest done sooner shows no progress at all
_PROGRESS_EVERY_S = 0.1
_TIMEOUT_S = 60.0  # a range query over a fleet's week takes more than the dashboard's 5 s
_MAX_BODY = 256 * 1024 * 1024


class BacktestError(Exception):
    """Bad input or an engine that failed: one line, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rules backtest` arguments."""
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="rule files (default: the engine's own rules)"
    )
    parser.add_argument("--prometheus", metavar="URL", help="the engine (default: the config's)")
    when = parser.add_argument_group("range")
    when.add_argument("--start", type=time_arg, metavar="TIME", help="RFC 3339 or unix seconds")
    when.add_argument("--end", type=time_arg, metavar="TIME", help="RFC 3339 or unix seconds (now)")
    when.add_argument(
        "--range", type=positive_duration, metavar="DURATION", help="instead of --start (1d)"
    )
    parser.add_argument(
        "--eval-interval",
        type=positive_duration,
        metavar="DURATION",
        help="interval of groups without their own (default: [rules] eval_interval, else 1m)",
    )
    parser.add_argument(
        "--rule", action="append", default=[], metavar="NAME", help="only this rule (repeatable)"
    )
    what = parser.add_argument_group("what if")
    for flag, dest, kind, parse, part in (
        ("--threshold", "threshold", "VALUE", number, "threshold"),
        ("--for", "for_", "DURATION", duration, "`for`"),
        ("--keep-firing-for", "keep_firing_for", "DURATION", duration, "`keep_firing_for`"),
    ):
        what.add_argument(
            flag,
            dest=dest,
            type=assignment(kind, parse),
            action="append",
            default=[],
            metavar=f"RULE={kind}",
            help=f"replay RULE with this {part} beside the original",
        )
    what.add_argument(
        "--target",
        type=target_rate,
        metavar="N/DURATION",
        help="suggest the threshold and `for` that fire at most N times per DURATION",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--format", choices=FORMATS, default="text", help="text (default), json, github"
    )
    out.add_argument(
        "--max-fires", type=count, metavar="N", help="exit 1 when a rule fired more than N times"
    )
    out.add_argument(
        "--concurrency", type=count, default=4, metavar="N", help="range queries at once (4)"
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument("--profile", metavar="NAME", help="named profile from the config file")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the backtest the arguments describe; print the report; the exit status."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    try:
        return _run(args, stdout, stderr)
    except BacktestError as exc:  # it may quote a file, a flag or a server: outside text
        stderr.write(f"{PROG}: {visible(str(exc))}\n")
        return 2


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from gputop.config import ConfigError, load_config
    from gputop.rules.backtest.output import write_report

    try:
        config = load_config(
            Path(args.config) if args.config else None,
            profile=args.profile,
            overrides={"prometheus.url": args.prometheus},
        )
    except ConfigError as exc:
        raise BacktestError(str(exc)) from None
    for warning in config.warnings:
        stderr.write(f"{PROG}: warning: {visible(warning)}\n")
    settings = config.prometheus
    if settings is None:
        raise BacktestError("no engine to replay against: give --prometheus URL")
    start, end = _range(args, time.time())
    options = {**settings.client_kwargs(), "max_body_bytes": _MAX_BODY}
    options["timeout"] = max(float(options.get("timeout") or 0.0), _TIMEOUT_S)
    rules, records = _file_rules(args.files) if args.files else ([], [])
    progress = _progress_line(stderr) if _shows_progress(args, stdout, stderr) else None

    async def go() -> Report:
        from gputop.rules.backtest import remote
        from gputop.rules.backtest.grid import Grid
        from gputop.rules.backtest.run import backtest
        from gputop.sources.prometheus import PrometheusClient

        try:
            client = PrometheusClient(settings.url, **options)
        except ValueError as exc:
            raise BacktestError(f"--prometheus: {exc}") from None
        ruler = client
        if settings.rules_url is not None and not args.files:
            ruler = PrometheusClient(settings.rules_url, **options)
        try:
            retention = await remote.retention_s(client)
            if retention is not None and start < time.time() - retention:
                raise BacktestError(
                    f"--start {_iso(start)}: before the engine's retention "
                    f"({_days(retention)}; it keeps data from {_iso(time.time() - retention)} on)"
                )
            nonlocal rules, records
            offsets: Mapping[str, float]
            if args.files:
                offsets = await remote.group_offsets(ruler)
            else:
                loaded = await remote.server_rules(ruler)
                rules, records, offsets = list(loaded.alerts), list(loaded.records), loaded.offsets
            rules = _chosen(rules, args, config.rules.margins)
            opts = _options(args, rules, start, end, config, offsets)
            grid = Grid.over(start, end, opts.eval_interval_s, warmup_s=_warmup(rules))
            subs = await remote.substitutes(
                client, rules, records, grid, default_interval_s=opts.eval_interval_s
            )
            return await backtest(
                remote.RemoteEngine(client),
                rules,
                opts,
                label=client.url,
                substitutes=subs,
                progress=progress,
            )
        finally:
            await client.aclose()
            if ruler is not client:
                await ruler.aclose()

    from concurrent.futures.process import BrokenProcessPool

    from gputop.sources.base import SourceError

    try:
        report = asyncio.run(go())
    except SourceError as exc:
        raise BacktestError(f"{settings.url}: {exc.reason}") from None
    except BrokenProcessPool:
        raise BacktestError("a replay process ended abruptly (out of memory?)") from None
    finally:
        if progress is not None:
            progress.close()
    write_report(report, stdout, args.format, max_fires=args.max_fires)
    code: int = report.exit_code(args.max_fires)
    return code


def _range(args: argparse.Namespace, now: float) -> tuple[float, float]:
    if args.start is not None and args.range is not None:
        raise BacktestError("--start and --range: give one (--range counts back from --end)")
    end = args.end if args.end is not None else now
    if end > now + 1:
        raise BacktestError(f"--end {_iso(end)}: in the future (now is {_iso(now)})")
    start = args.start if args.start is not None else end - (args.range or DEFAULT_RANGE_S)
    if end <= start:
        raise BacktestError(f"--end {_iso(end)}: not after --start {_iso(start)}")
    return start, end


def _file_rules(paths: Sequence[str]) -> tuple[list[RuleDef], list[RecordRule]]:
    from gputop.rules.backtest.remote import RecordRule
    from gputop.rules.files import read_rule_file

    rules: list[RuleDef] = []
    records: list[RecordRule] = []
    for path in paths:
        parsed = read_rule_file(path)
        if parsed.errors:
            raise BacktestError(str(parsed.errors[0]))
        for entry in parsed.entries:
            if entry.rule is not None:
                rules.append(entry.rule)
            elif entry.record is not None:
                records.append(RecordRule(entry.record, entry.group_interval_s))
    return rules, records


def _chosen(rules: list[RuleDef], args: argparse.Namespace, margins: Any) -> list[RuleDef]:
    from gputop.rules.engine import with_margins

    names = [r.name for r in rules]
    for name in args.rule:
        if name not in names:
            raise BacktestError(f"--rule: no rule named {name!r}{_known(names)}")
    chosen = [r for r in rules if not args.rule or r.name in args.rule]
    if not chosen:
        raise BacktestError(
            "no alerting rules to replay" + ("" if args.files else " on the engine")
        )
    return with_margins(chosen, dict(margins))


def _options(
    args: argparse.Namespace,
    rules: Sequence[RuleDef],
    start: float,
    end: float,
    config: Any,
    offsets: Any,
) -> Options:
    from gputop.rules.backtest.rewrite import RewriteError, with_threshold
    from gputop.rules.backtest.run import DEFAULT_EVAL_INTERVAL_S, Options
    from gputop.rules.backtest.whatif import Change

    by_name = {r.name: r for r in rules}
    names = list(by_name)
    changes: dict[str, Change] = {}
    flags = (
        ("--threshold", args.threshold, "threshold"),
        ("--for", args.for_, "for_s"),
        ("--keep-firing-for", args.keep_firing_for, "keep_firing_for_s"),
    )
    for flag, given, part in flags:
        for name, value in given:
            rule = by_name.get(name)
            if rule is None:
                raise BacktestError(f"{flag}: no rule named {name!r}{_known(names)}")
            if part == "threshold":
                try:
                    with_threshold(rule.expr, value)
                except (RewriteError, ValueError) as exc:
                    raise BacktestError(f"{flag} {name}: {exc}") from None
            elif value < 0:
                raise BacktestError(f"{flag} {name}: must be 0 or more")
            changes[name] = changes.get(name, Change()).merged(Change(**{part: value}))
    target = args.target
    if target is not None and target.per_s == 0:
        target = type(target)(target.count, end - start, target.text)
    return Options(
        start=start,
        end=end,
        eval_interval_s=args.eval_interval or config.rules.eval_interval or DEFAULT_EVAL_INTERVAL_S,
        margin=config.rules.margin_pct / 100.0,
        changes=changes,
        target=target,
        offsets=dict(offsets),
        concurrency=max(1, args.concurrency),
        processes=os.cpu_count() or 1,
    )


def _warmup(rules: Sequence[RuleDef]) -> float:
    """The longest warm-up any rule's grid has (recorded series are checked over it)."""
    from gputop.rules.backtest.near import horizon_s

    return max((r.for_s + r.keep_firing_for_s + horizon_s(r) for r in rules), default=0.0)


def _known(names: Sequence[str]) -> str:
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    return f" (rules: {shown})" if names else ""


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def _days(seconds: float) -> str:
    from gputop.core.units import format_duration

    return format_duration(seconds)


def _shows_progress(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> bool:
    """A progress line on a terminal; none when JSON goes down a pipe, or stderr is no
    terminal."""
    if not _isatty(stderr):
        return False
    return not (args.format == "json" and not _isatty(stdout))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _progress_line:
    """`backtest: 12/40 queries · 1/3 rules` on one terminal line, redrawn at most 10 times
    a second, shown only once the backtest has taken half a second, erased at the end."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = False

    def __call__(self, done: int, planned: int, rules_done: int, rules: int) -> None:
        now = time.monotonic()
        if now - self.started < _PROGRESS_AFTER_S or now - self.drawn < _PROGRESS_EVERY_S:
            return
        self.drawn = now
        self.shown = True
        self.stream.write(
            f"\r{PROG}: {done}/{planned} queries · {rules_done}/{rules} rules replayed\x1b[K"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
