"""`gputop rules check FILE...`: the command line of the rule linter (`gputop.rules.lint`).

Exit status: 0 clean, 1 warnings only, 2 errors (a bad file, a bad flag or config, a server
that cannot be reached). A warning is turned off everywhere by `--disable` or the config's
`[rules] disabled_checks`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gputop.core.catalogue import DEFAULT_HISTOGRAM
from gputop.core.units import parse_prometheus_duration
from gputop.core.untrusted import visible
from gputop.rules.checks import CHECKS
from gputop.rules.counters import CountersError
from gputop.rules.lint import FORMATS, check_files, read_counters_files, write_report

__all__ = ["add_arguments", "main", "run"]


def _duration_arg(text: str) -> float:
    try:
        seconds = parse_prometheus_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return seconds


def _checks_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in CHECKS:
            raise argparse.ArgumentTypeError(
                f"no check is named {name!r} (checks: {', '.join(CHECKS)})"
            )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rules check` arguments."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="rule files or PrometheusRules")
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output: text (default), json, github"
    )
    parser.add_argument(
        "--eval-interval",
        type=_duration_arg,
        default=None,
        metavar="DURATION",
        help="evaluation interval of groups without their own `interval` "
        "(default: [rules] eval_interval, else the server's, else unknown)",
    )
    parser.add_argument(
        "--counters",
        action="append",
        default=[],
        metavar="CSV",
        help="dcgm-exporter counters file the rules' exporter runs with (repeatable; "
        "default: [rules] counters, else a *.csv of that format beside the rule file or "
        "above it in its repository, else a default install's fields)",
    )
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        help="also check every selector for series on this server (default: the config's)",
    )
    parser.add_argument(
        "--offline", action="store_true", help="no server checks, even if the config names one"
    )
    parser.add_argument(
        "--disable",
        type=_checks_arg,
        action="append",
        default=[],
        metavar="CHECK[,CHECK]",
        help="turn a check off everywhere (also [rules] disabled_checks)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print notes, which are no mistakes and leave the exit status alone "
        "(a `for:` the rule manager rounds up to a multiple of the evaluation interval)",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument("--profile", metavar="NAME", help="named profile from the config file")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Check the files named in `args`, print the findings and a summary; the exit status."""
    from gputop.config import ConfigError, load_config

    stream = out if out is not None else sys.stdout
    try:
        config = load_config(
            Path(args.config) if args.config else None,
            profile=args.profile,
            overrides={"prometheus.url": args.prometheus},
        )
    except ConfigError as exc:
        sys.stderr.write(f"gputop rules check: {visible(str(exc))}\n")
        return 2
    for warning in config.warnings:
        sys.stderr.write(f"gputop rules check: warning: {visible(warning)}\n")
    settings = config.prometheus
    disabled = {name for names in args.disable for name in names}
    disabled |= set(config.rules.disabled_checks)
    counters = None
    named = args.counters or config.rules.counters
    if named:
        try:
            counters = read_counters_files(named)
        except CountersError as exc:
            where = "--counters" if args.counters else "[rules] counters"
            sys.stderr.write(f"gputop rules check: {where}: {visible(str(exc))}\n")
            return 2
    report = check_files(
        args.files,
        eval_interval_s=args.eval_interval or config.rules.eval_interval,
        counters=counters,
        histogram=settings.latency_histogram if settings else DEFAULT_HISTOGRAM,
        disabled=disabled,
        prometheus=None if args.offline or settings is None else settings.url,
        client_options=settings.client_kwargs() if settings else None,
        verbose=args.verbose,
    )
    write_report(report, stream, args.format)
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gputop rules check", description="Check Prometheus alert rule files."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
