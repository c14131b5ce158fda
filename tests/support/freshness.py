"""Freshness scenarios against a real engine: the monitor `gputop --prometheus URL` builds,
refreshed every second as the dashboard does (`watch`), what its header said at each refresh
(`Look`, `Watch`), the raw sample times the engine holds, and `gputop --once` run beside it.
Used by the Prometheus and VictoriaMetrics freshness tests and by the near-firing tests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gputop.core.models import SourceStatus
from gputop.monitor.monitor import Monitor
from gputop.ui.views.readings import status_parts
from tests.support.cli import cli_monitor
from tests.support.prometheus_server import PromStack

__all__ = ["SLACK_S", "Look", "Watch", "live_scrapes", "once", "raw_times", "watch"]

#: After the allowance runs out, STALE shows within this (a refresh, a probe, a slow CPU).
SLACK_S = 4.0


@dataclass
class Look:
    """What the dashboard said at one refresh."""

    at: float  # local time
    status: SourceStatus
    header: str
    age_s: float | None  # of the newest sample
    lost: int
    interval_s: float | None = None  # the scrape interval the monitor has learned
    lag_s: float | None = None  # how late it finds the engine's data
    targets: str = ""  # each GPU target as the monitor judges it: newest, moved, spacings


@dataclass
class Watch:
    """One scenario: its stack, and every look the dashboard took at it."""

    name: str
    stack: PromStack
    looks: list[Look] = field(default_factory=list)

    def failing(self) -> list[Look]:
        return [k for k in self.looks if k.status is not SourceStatus.OK or k.lost]

    def story(self) -> str:
        """The last looks, and the newest raw sample times each target has in the engine."""
        try:
            raw = "\n".join(
                f"  raw {target}: {', '.join(f'{t:.1f}' for t in times[-6:])}"
                for target, times in sorted(raw_times(self.stack).items())
            )
        except Exception as exc:  # the engine may be gone by now: the looks still tell
            raw = f"  raw: not read ({type(exc).__name__})"
        return f"{self.name}:\n{raw}\n" + "\n".join(
            f"  {k.at:.1f} {k.status.value} age={_s(k.age_s)} interval={_s(k.interval_s)} "
            f"lag={_s(k.lag_s)} lost={k.lost} | {k.header}"
            + (f"\n      {k.targets}" if k.targets else "")
            for k in self.looks[-12:]
        )


async def watch(w: Watch, done: Callable[[Watch], bool], seconds: float) -> None:
    """Refresh the monitor `gputop --prometheus` builds every second, as the dashboard does,
    noting what the header says, until `done` or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    with cli_monitor(w.stack.url) as monitor:
        try:
            while time.monotonic() < deadline:
                await monitor.refresh_remote()
                now = monitor.clock.now()
                state = monitor.state("prometheus")
                header = "  ".join(text for text, _ in status_parts(monitor, now))
                look = Look(
                    now, state.status, header, state.age_s(now), monitor.lost_count(),
                    state.interval_s, state.lag_s, _targets(monitor, now),
                )  # fmt: skip
                w.looks.append(look)
                if done(w):
                    return
                await asyncio.sleep(1.0 - now % 1.0)
        finally:
            await monitor.aclose()


def _targets(monitor: Monitor, now: float) -> str:
    """The GPU group's targets as the monitor judges them (read from its feed)."""
    feeds = getattr(monitor.remote, "_feeds", {})
    feed = feeds.get("gpu")
    if feed is None:
        return ""
    return "  ".join(
        f"{instance}: newest={_s(t.newest)} moved={_s(_ago(t.advanced_at, now))}s ago "
        f"spacings={[round(x, 1) for x in t.spacings]} allowance={feed.allowance(t):.0f} "
        f"missing={_s(feed.missing(instance, now))}"
        for instance, t in sorted(feed.targets.items())
    )


def _ago(then: float | None, now: float) -> float | None:
    return None if then is None else now - then


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def raw_times(stack: PromStack) -> dict[str, list[float]]:
    """Each target's raw sample times of the last 10 minutes, as the engine holds them."""
    series = stack.engine.query('DCGM_FI_DEV_FB_USED{gpu="0"}[10m]')
    return {s["metric"]["instance"]: [float(t) for t, _ in s["values"]] for s in series}


def once(stack: PromStack, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gputop", "--prometheus", stack.url, "--once", *flags]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def live_scrapes(stack: PromStack, since: float) -> int:
    """The fewest live scrapes (after `since`) any target has had."""
    return min((sum(t > since for t in ts) for ts in raw_times(stack).values()), default=0)
