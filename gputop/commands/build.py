"""What the commands build from the settings: the monitor with every configured source and its
rules. `build_monitor(settings)` is what `gputop` runs with; tests build theirs the same way.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gputop.commands.usage import UsageError
from gputop.core.clock import RealClock
from gputop.core.untrusted import visible
from gputop.monitor import Monitor

if TYPE_CHECKING:
    from gputop.config import Config
    from gputop.rules.entries import RuleSet
    from gputop.sources.base import LocalSource

__all__ = [
    "Settings",
    "attach_alertmanager",
    "attach_prometheus",
    "attach_rules",
    "build_monitor",
    "settings_from_args",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """What a monitor is built from: the configuration, and the local source the command line
    chose (NVML, or the demo node with its scenario and seed)."""

    config: Config
    demo: bool = False
    scenario: str = "mixed"
    seed: int = 7


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of `gputop`'s flags: the config file and profile they name, overridden by
    the flags themselves; its warnings are written to stderr."""
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
    return Settings(config, demo=args.demo, scenario=args.scenario, seed=args.seed)


def build_monitor(
    settings: Settings,
    *,
    keep_trying: bool = False,
) -> Monitor:
    """The monitor with every configured source and its rules (a rule file can be wrong: that
    is said before the UI starts). `keep_trying`: a local source that cannot be opened yet is
    retried (a kiosk with nothing else to show) rather than dropped."""
    config = settings.config
    clock = RealClock()
    local: LocalSource
    if settings.demo:
        from gputop.sources.demo import SCENARIOS
        from gputop.sources.demosource import DemoSource

        if settings.scenario not in SCENARIOS:
            known = ", ".join(SCENARIOS)
            raise UsageError(f"--scenario: unknown scenario {settings.scenario!r} (one of {known})")
        local = DemoSource(clock, seed=settings.seed, scenario=settings.scenario, warmup_s=900.0)
    else:
        from gputop.sources.nvml import NvmlSource

        local = NvmlSource(clock)
    monitor = Monitor(clock=clock, local=local)
    monitor.interval = config.ui.interval
    monitor.open(keep_trying=keep_trying and config.prometheus is None)
    attach_rules(monitor, config)  # evaluated with the first reading: the first frame shows them
    if config.prometheus is not None:
        attach_prometheus(monitor, config)
    if config.alertmanager is not None:
        attach_alertmanager(monitor, config)
    return monitor


def attach_rules(monitor: Monitor, config: Config) -> None:
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


def attach_prometheus(monitor: Monitor, config: Config) -> None:
    from gputop.sources.prometheus.client import PrometheusClient
    from gputop.sources.prometheus.feed import PrometheusSource

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


def attach_alertmanager(monitor: Monitor, config: Config) -> None:
    from gputop.sources.alertmanager import AlertmanagerClient, AlertmanagerSource

    settings = config.alertmanager
    assert settings is not None
    client = AlertmanagerClient(settings.url, **settings.client_kwargs())
    period = max(settings.interval, config.ui.interval)
    monitor.alertmanager = AlertmanagerSource(client, monitor.clock, period_s=period)
