"""Command line: `gputop [options]`, `gputop rules check FILE...`, `gputop rules backtest
[FILE...]`, `gputop rules serving`, `gputop sim-exporter ...`: the flags, and the command each
runs (`gputop.commands`, imported only when it runs).

Every bad input ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from typing import NoReturn

from gputop import __version__
from gputop.commands.usage import EXIT_USAGE, UsageError
from gputop.core.untrusted import visible

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line naming the flag, and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {visible(message)} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None


#: Subcommands and the module that declares their flags (`add_arguments`) and runner (`run`).
SUBCOMMANDS = {
    "rules": "gputop.commands.rules_check",
    "sim-exporter": "gputop.commands.sim_exporter",
}
#: `rules backtest` and `rules serving`, beside `rules check`.
BACKTEST = "gputop.commands.rules_backtest"
SERVING = "gputop.commands.rules_serving"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; a subcommand's module is imported only when that subcommand is run."""
    parser = _Parser(
        prog="gputop",
        description="Live GPU and inference-job dashboard: NVML + Prometheus, near-firing alerts.",
    )
    parser.add_argument("--version", action="version", version=f"gputop {__version__}")
    src = parser.add_argument_group("sources")
    src.add_argument("--demo", action="store_true", help="watch the built-in simulated 8-GPU node")
    src.add_argument(
        "--scenario",
        default="mixed",
        help="demo node scenario: mixed, calm, hot-gpu, memory-creep, stuck-job, slow",
    )
    src.add_argument("--seed", type=int, default=7, help="demo node random seed (default 7)")
    src.add_argument("--prometheus", metavar="URL", help="Prometheus (or compatible) base URL")
    src.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="do not verify Prometheus' TLS certificate",
    )
    src.add_argument(
        "--rules", action="append", metavar="FILE", help="Prometheus alert rule file (repeatable)"
    )
    src.add_argument(
        "--alertmanager",
        metavar="URL",
        help="Alertmanager base URL: where fired alerts went, silences",
    )
    conf = parser.add_argument_group("configuration")
    conf.add_argument(
        "--config", metavar="FILE", help="TOML config file (default: ~/.config/gputop/config.toml)"
    )
    conf.add_argument("--profile", metavar="NAME", help="named profile from the config file")
    show = parser.add_argument_group("output")
    show.add_argument(
        "--interval",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="refresh interval (default 1.0)",
    )
    show.add_argument("--once", action="store_true", help="print one snapshot and exit")
    show.add_argument("--json", action="store_true", help="with --once: print JSON")
    show.add_argument(
        "--check",
        action="store_true",
        help="with --once: exit 0 all ok, 1 near or pending, 2 firing or a GPU lost, "
        "3 unknown, unreachable or no source",
    )
    show.add_argument(
        "--notify", action="store_true", help="bell and desktop notification when a rule fires"
    )
    show.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help="no actions: no silences, no process signals ([ui] read_only)",
    )
    show.add_argument(
        "--kiosk",
        action="store_true",
        default=None,
        help="wall screen: read-only, keys ignored but ctrl+x ctrl+c, pages cycle ([ui] kiosk)",
    )
    show.add_argument(
        "--no-color", action="store_true", default=None, help="monochrome (also NO_COLOR=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    rules = sub.add_parser("rules", help="work with alert rule files")
    rules_sub = rules.add_subparsers(
        dest="rules_command", metavar="ACTION", required=True, parser_class=_Parser
    )
    check = rules_sub.add_parser("check", help="lint Prometheus rule files")
    backtest = rules_sub.add_parser(
        "backtest", help="replay alert rules over an engine's history: firings, near scores"
    )
    serving = rules_sub.add_parser("serving", help="print alerting rules for inference servers")
    sim = sub.add_parser("sim-exporter", help="serve simulated dcgm-exporter metrics")
    if command == "rules":
        _attach(SUBCOMMANDS["rules"], check)
        _attach(BACKTEST, backtest)
        _attach(SERVING, serving)
    elif command == "sim-exporter":
        _attach(SUBCOMMANDS["sim-exporter"], sim)
    return parser


def _attach(module: str, parser: argparse.ArgumentParser) -> None:
    """Let a subcommand module declare its own flags (`add_arguments`) and runner (`run`)."""
    import importlib

    mod = importlib.import_module(module)
    mod.add_arguments(parser)
    parser.set_defaults(_run=mod.run)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    if command is None:
        gc.disable()  # start-up allocates much and frees little; the dashboard re-enables it
    parser = build_parser(command)
    args = parser.parse_args(argv)
    try:
        if getattr(args, "_run", None) is not None:
            return int(args._run(args))
        from gputop.commands.dashboard import run

        return run(args)
    except UsageError as exc:
        sys.stderr.write(f"gputop: {visible(str(exc))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
