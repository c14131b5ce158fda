"""Command line: `gputop [options]`, `gputop rules check FILE...`, `gputop sim-exporter ...`.

Every bad input ends in one line on stderr and exit status 2, never a traceback. With
`--once --check` the status is the monitoring-plugin convention (see `check_status`), and no
usable source at all is 3 (unknown), never 2, which a monitoring system reads as critical.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from gputop import __version__
from gputop.core.clock import RealClock
from gputop.core.untrusted import visible
from gputop.monitor import Monitor

if TYPE_CHECKING:
    from gputop.config import Config
    from gputop.rules.entries import RuleSet
    from gputop.sources.base import LocalSource

__all__ = ["UsageError", "main"]

EXIT_USAGE = 2
EXIT_UNKNOWN = 3
#: Said where it helps: nothing to watch on this machine, and no Prometheus either.
TRY_DEMO = "try --demo, or --prometheus URL"


class UsageError(Exception):
    """A bad flag, file or environment: printed as one line, exit status 2."""


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
SUBCOMMANDS = {"rules": "gputop.rules.lint", "sim-exporter": "gputop.sources.simexporter"}


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
    sim = sub.add_parser("sim-exporter", help="serve simulated dcgm-exporter metrics")
    if command == "rules":
        _attach(SUBCOMMANDS["rules"], check)
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
        return _dashboard(args)
    except UsageError as exc:
        sys.stderr.write(f"gputop: {visible(str(exc))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _load_config(args: argparse.Namespace) -> Config:
    from pathlib import Path

    from gputop.config import ConfigError, load_config

    overrides = {
        "prometheus.url": args.prometheus,
        "prometheus.insecure": args.insecure,
        "alertmanager.url": args.alertmanager,
        "rules.files": args.rules,
        "ui.interval": args.interval,
        "ui.no_color": args.no_color,
        "ui.read_only": args.read_only,
        "ui.kiosk": args.kiosk,
    }
    try:
        config = load_config(
            Path(args.config) if args.config else None, profile=args.profile, overrides=overrides
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    for warning in config.warnings:
        sys.stderr.write(f"gputop: warning: {visible(warning)}\n")
    return config


def _build_monitor(
    args: argparse.Namespace,
    config: Config,
    *,
    keep_trying: bool = False,
) -> Monitor:
    """The monitor with every configured source and its rules (a rule file can be wrong: that
    is said before the UI starts). `keep_trying`: a local source that cannot be opened yet is
    retried (a kiosk with nothing else to show) rather than dropped."""
    clock = RealClock()
    local: LocalSource
    if args.demo:
        from gputop.sources.demo import SCENARIOS, DemoSource

        if args.scenario not in SCENARIOS:
            raise UsageError(
                f"--scenario: unknown scenario {args.scenario!r} (one of {', '.join(SCENARIOS)})"
            )
        local = DemoSource(clock, seed=args.seed, scenario=args.scenario, warmup_s=900.0)
    else:
        from gputop.sources.nvml import NvmlSource

        local = NvmlSource(clock)
    monitor = Monitor(clock=clock, local=local)
    monitor.interval = config.ui.interval
    monitor.open(keep_trying=keep_trying and config.prometheus is None)
    _attach_rules(monitor, config)  # evaluated with the first reading: the first frame shows them
    if config.prometheus is not None:
        _attach_prometheus(monitor, config)
    if config.alertmanager is not None:
        _attach_alertmanager(monitor, config)
    return monitor


def _attach_rules(monitor: Monitor, config: Config) -> None:
    from pathlib import Path

    from gputop.rules.builtin import builtin_rules
    from gputop.rules.engine import RulesEngine, with_margins
    from gputop.rules.model import RuleDef

    settings = config.rules
    margin = settings.margin_pct / 100.0
    margins = dict(settings.margins)
    loaded: RuleSet | None = None
    if settings.files:  # the YAML reader, only for rule files
        from gputop.rules.files import RuleFileError, load_rule_set

        try:
            loaded = load_rule_set(settings.files)
        except RuleFileError as exc:
            raise UsageError(str(exc)) from None
    origin = ", ".join(p.name for p in settings.files) if settings.files else "built-in rules"
    if loaded is not None and loaded.without_alerts:
        origin += (
            f" (no alerting rules in {', '.join(Path(p).name for p in loaded.without_alerts)})"
        )
    alerts = with_margins(loaded.alerts if loaded is not None else (), margins)

    def local(rules: list[RuleDef]) -> RulesEngine:
        return RulesEngine(
            rules,
            clock=monitor.clock,
            margin=margin,
            origin=origin,
            records=loaded.records if loaded is not None else (),
            notes=loaded.notes if loaded is not None else (),
        )

    if config.prometheus is not None:
        monitor.rules = RulesEngine([], clock=monitor.clock, margin=margin, origin="Prometheus")
        if settings.files:
            monitor.local_rules = local(alerts)
    else:
        monitor.rules = local(alerts if settings.files else with_margins(builtin_rules(), margins))


def _attach_prometheus(monitor: Monitor, config: Config) -> None:
    from gputop.sources.prometheus import PrometheusClient
    from gputop.sources.promfeed import PrometheusSource

    settings = config.prometheus
    assert settings is not None
    client = PrometheusClient(settings.url, **settings.client_kwargs())
    monitor.client = client
    monitor.latency_histogram = settings.latency_histogram
    if settings.rules_url is not None:  # a ruler not proxied by the engine (vmalert, ...)
        monitor.rules_client = PrometheusClient(settings.rules_url, **settings.client_kwargs())
    monitor.remote = PrometheusSource(
        client,
        monitor.store,
        monitor.clock,
        range_s=settings.range,
        columns=max(1, round(settings.range / 5.0)),  # a 5 s step: no wider than a sparkline cell
        latency_histogram=settings.latency_histogram,
        selector=settings.selector,
        local_keys=monitor.local_keys,
        refresh_s=config.ui.interval,
        stale_after_s=settings.stale_after,
    )


def _attach_alertmanager(monitor: Monitor, config: Config) -> None:
    from gputop.sources.alertmanager import AlertmanagerClient, AlertmanagerSource

    settings = config.alertmanager
    assert settings is not None
    client = AlertmanagerClient(settings.url, **settings.client_kwargs())
    period = max(settings.interval, config.ui.interval)
    monitor.alertmanager = AlertmanagerSource(client, monitor.clock, period_s=period)


def _dashboard(args: argparse.Namespace) -> int:
    if args.json and not args.once:
        raise UsageError("--json: only with --once")
    if args.check and not args.once:
        raise UsageError("--check: only with --once")
    config = _load_config(args)
    kiosk = config.ui.kiosk and not args.once
    monitor = _build_monitor(args, config, keep_trying=kiosk)
    try:
        if monitor.local is None and monitor.remote is None:
            reason = monitor.state("nvml").reason or "NVML not available"
            if args.once and args.check:
                sys.stderr.write(f"gputop: nothing to check: {visible(reason)}\n")
                return EXIT_UNKNOWN
            raise UsageError(f"{reason}; {TRY_DEMO}")
        if args.once:
            return _once(monitor, args)
        from gputop.ui.app import run_dashboard

        return run_dashboard(
            monitor,
            interval=config.ui.interval,
            no_color=config.ui.no_color,
            notify=args.notify and not kiosk,
            kiosk_page_s=config.ui.kiosk_page_seconds if kiosk else None,
            read_only=config.ui.read_only or kiosk,
            warnings=config.warnings,
        )
    finally:
        monitor.close()


def _once(monitor: Monitor, args: argparse.Namespace) -> int:
    import asyncio

    from gputop.rules.engine import check_status
    from gputop.snapshot import snapshot_json, snapshot_text
    from gputop.ui.view import DEFAULT_WINDOW_S

    # the history the dashboard would hold (a source that can replay its past): the rules'
    # recent series, and so near, as the dashboard has them
    monitor.warm_start(DEFAULT_WINDOW_S, args.interval or 1.0)
    monitor.poll()

    async def remote() -> None:
        try:
            await monitor.refresh_remote()
        finally:
            await monitor.aclose()

    if monitor.remote is not None:
        asyncio.run(remote())
    statuses = monitor.rule_statuses()
    if args.json:
        doc = snapshot_json(monitor, [s.as_json() for s in statuses])
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(snapshot_text(monitor, statuses) + "\n")
    gc.enable()
    if not args.check:
        return 0
    return check_status(
        statuses, sources_failing=monitor.sources_failing(), lost_gpus=monitor.lost_count()
    )
