"""The whole chain for real: the simulated dcgm-exporter, Prometheus evaluating
tests/data/rules-alertmanager.yml and sending to a real Alertmanager, and gputop reading both.

AmGpuHot fires on the hot GPU 3 and routes to dingtalk-relay; AmAlwaysFiring (info) is
inhibited by it. One Alertmanager and one Prometheus serve the module; each test leaves no
silence behind.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select

from gputop.cli import build_parser
from gputop.commands import build_monitor, settings_from_args
from gputop.monitor import Monitor
from gputop.rules.model import RuleStatus
from gputop.rules.text import fate_text
from gputop.sources.prometheus.rulesapi import parse_rfc3339
from gputop.ui.actions import created_by
from gputop.ui.app import GpuTopApp
from gputop.ui.confirm import ConfirmScreen
from gputop.ui.screens.alerts import AlertsScreen
from gputop.ui.screens.silence import SilenceScreen
from tests.support.alertmanager_server import AlertmanagerServer
from tests.support.prometheus_server import PromStack
from tests.support.ui import screen_lines

pytestmark = [pytest.mark.prometheus, pytest.mark.servers, pytest.mark.usefixtures("isolated_env")]

RULES = Path(__file__).parent / "data" / "rules-alertmanager.yml"
REPO = Path(__file__).resolve().parents[1]
#: With this seed GPU 3 of sim-node-00 runs above 85 C from 590 s to 900 s into the
#: simulation; the stack watches it from 600 s on (see tests/test_rules_real.py).
SEED = 148
HOT, INFO = "AmGpuHot", "AmAlwaysFiring"


@dataclass
class Chain:
    alertmanager: AlertmanagerServer
    stack: PromStack


@pytest.fixture(scope="module")
def chain(
    module_alertmanager_factory: Callable[[], AlertmanagerServer],
    module_prometheus_factory: Callable[..., PromStack],
) -> Chain:
    am = module_alertmanager_factory()
    stack = module_prometheus_factory(
        scenario="hot-gpu", seed=SEED, rule_files=[RULES], alertmanagers=[am.target]
    )
    am.wait_for(lambda: {HOT, INFO} <= {a["labels"]["alertname"] for a in am.alerts()}, "both")
    return Chain(am, stack)


@pytest.fixture(autouse=True)
def no_silence_left(chain: Chain) -> Iterator[None]:
    yield
    chain.alertmanager.expire_all()


def monitor_for(prometheus: str, alertmanager: str, *, margin_s: float | None = None) -> Monitor:
    args = build_parser().parse_args(["--prometheus", prometheus, "--alertmanager", alertmanager])
    monitor = build_monitor(settings_from_args(args))
    assert monitor.alertmanager is not None
    monitor.alertmanager.period_s = 0.0  # every refresh asks
    if margin_s is not None:
        monitor.alertmanager.missing_margin_s = margin_s
    return monitor


def status_of(monitor: Monitor, name: str, gpu: str | None = None) -> RuleStatus | None:
    return next(
        (
            st
            for st in monitor.rule_statuses()
            if st.name == name and st.state == "firing" and st.labels.get("gpu") == gpu
        ),
        None,
    )


async def refresh_until(
    monitor: Monitor, check: Callable[[], bool], what: str, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await monitor.refresh_remote()
        if check():
            return
        await asyncio.sleep(0.3)
    rows = [(s.name, s.state, dict(s.labels), s.alertmanager) for s in monitor.rule_statuses()]
    raise AssertionError(f"{what}: not within {timeout:.0f} s; {rows}")


def fate(monitor: Monitor, name: str, gpu: str | None = None) -> str | None:
    st = status_of(monitor, name, gpu)
    return None if st is None or st.alertmanager is None else st.alertmanager.state


# ---- fates --------------------------------------------------------------------------------


async def test_rows_say_where_each_alert_went_and_a_silence_made_in_alertmanager(
    chain: Chain,
) -> None:
    monitor = monitor_for(chain.stack.url, chain.alertmanager.url)
    try:
        await refresh_until(monitor, lambda: fate(monitor, HOT, "3") == "active", "routed")
        hot = status_of(monitor, HOT, "3")
        assert hot is not None and hot.alertmanager is not None
        assert hot.alertmanager.receivers == ("dingtalk-relay",)
        assert fate_text(hot, time.time()) == "→ dingtalk-relay"
        await refresh_until(monitor, lambda: fate(monitor, INFO) == "suppressed", "inhibited")
        info = status_of(monitor, INFO)
        assert info is not None and info.alertmanager is not None
        assert info.alertmanager.inhibited_by == (HOT,)
        assert fate_text(info, time.time()) == f"INHIBITED by {HOT}"

        silence_id = chain.alertmanager.create_silence(
            {"alertname": HOT, "gpu": "3"}, by="alice", comment="fan swap", hours=2
        )
        await refresh_until(monitor, lambda: fate(monitor, HOT, "3") == "suppressed", "silenced")
        hot = status_of(monitor, HOT, "3")
        assert hot is not None and hot.alertmanager is not None
        ends = parse_rfc3339(chain.alertmanager.silences()[0]["endsAt"])
        assert ends is not None
        now = time.time()
        same_day = time.localtime(ends)[:3] == time.localtime(now)[:3]  # 2 h on: maybe not
        until = time.strftime("%H:%M" if same_day else "%m-%d %H:%M", time.localtime(ends))
        assert fate_text(hot, now) == f"SILENCED by alice until {until} (2h)"
        assert hot.as_json()["alertmanager"] == {
            "state": "suppressed",
            "silenced_by": [silence_id],
            "inhibited_by": [],
            "receivers": ["dingtalk-relay"],
            "stale": False,
            "stale_since": None,
        }
        # the other GPUs are not firing: nothing of theirs is in Alertmanager
        others = [st for st in monitor.rule_statuses() if st.name == HOT and st.state != "firing"]
        assert others and all(st.alertmanager and st.alertmanager.state is None for st in others)
    finally:
        await monitor.aclose()


def test_once_json_carries_each_rules_fate(chain: Chain) -> None:
    silence_id = chain.alertmanager.create_silence(
        {"alertname": HOT, "gpu": "3"}, by="bob", comment="known", hours=1
    )
    chain.alertmanager.wait_for(
        lambda: any(a["status"]["silencedBy"] == [silence_id] for a in chain.alertmanager.alerts()),
        "silenced in Alertmanager",
    )
    urls = ["--prometheus", chain.stack.url, "--alertmanager", chain.alertmanager.url]
    done = subprocess.run(
        [sys.executable, "-m", "gputop", "--once", "--json", *urls],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    am = doc["sources"]["alertmanager"]
    assert (am["state"], am["reason"]) == ("ok", None)
    assert am["newest"] is not None and 0 <= am["age_s"] < 60  # the alerts as of the last poll
    rules = {(r["name"], r["labels"].get("gpu"), r["state"]): r for r in doc["rules"]}
    assert rules[(HOT, "3", "firing")]["alertmanager"] == {
        "state": "suppressed",
        "silenced_by": [silence_id],
        "inhibited_by": [],
        "receivers": ["dingtalk-relay"],
        "stale": False,
        "stale_since": None,
    }
    assert rules[(INFO, None, "firing")]["alertmanager"]["inhibited_by"] == [HOT]
    near = [r for r in doc["rules"] if r["name"] == HOT and r["state"] != "firing"]
    assert near and all(r["alertmanager"]["state"] is None for r in near)


async def test_not_in_alertmanager_when_prometheus_does_not_send_to_it(
    chain: Chain, module_prometheus_factory: Callable[..., PromStack]
) -> None:
    lone = module_prometheus_factory(scenario="hot-gpu", seed=SEED, rule_files=[RULES])
    sending = monitor_for(chain.stack.url, chain.alertmanager.url, margin_s=2.0)
    silent = monitor_for(lone.url, chain.alertmanager.url, margin_s=2.0)
    try:
        await refresh_until(silent, lambda: fate(silent, HOT, "3") == "missing", "missing", 60)
        hot = status_of(silent, HOT, "3")
        assert hot is not None
        assert fate_text(hot, time.time()) == "NOT IN ALERTMANAGER"
        await refresh_until(sending, lambda: fate(sending, HOT, "3") == "active", "present")
    finally:
        await sending.aclose()
        await silent.aclose()


async def test_an_alertmanager_outage_shows_on_every_row_it_touches_at_every_size(
    alertmanager_factory: Callable[[], AlertmanagerServer],
    prometheus_factory: Callable[..., PromStack],
) -> None:
    """Alertmanager dies: the firing row no longer says where its page went as if it knew
    now, but that its fate is unknown since the last answer, at 120x40 and at 80x24, and the
    header says Alertmanager is failing (its own stack: the module's stays up)."""
    am = alertmanager_factory()
    stack = prometheus_factory(
        scenario="hot-gpu", seed=SEED, rule_files=[RULES], alertmanagers=[am.target]
    )
    am.wait_for(lambda: HOT in {a["labels"]["alertname"] for a in am.alerts()}, HOT)
    monitor = monitor_for(stack.url, am.url)
    app = GpuTopApp(monitor, interval=1.0)
    # the node and the job on the GPU follow "@", cut in their middle where the row is narrow
    hot_row = re.compile(rf"● FIRING +{HOT} · GPU 3 @ sim-nod(.*)")

    def row(lines: list[str]) -> str:
        found = [m[1] for m in map(hot_row.search, lines) if m]
        return found[0] if found else ""

    async def until(check: Callable[[list[str]], bool], what: str) -> list[str]:
        deadline = time.monotonic() + 30
        while True:
            await pilot.pause(0.3)
            lines = screen_lines(app)
            if check(lines):
                return lines
            assert time.monotonic() < deadline, f"{what}:\n" + "\n".join(lines)

    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda ls: "→ dingtalk-relay" in row(ls), "routed")
        am.stop()
        stale = re.compile(r"\? (ALERTMANAGER|AM) STALE \d+s")  # the short form where narrow
        lines = await until(lambda ls: bool(stale.search(row(ls))), "stale at 120x40")
        # not as a live route (the job on the GPU may follow its node: "→ t2v/t2v-serve-…")
        assert "dingtalk-relay" not in row(lines).split("STALE")[0], row(lines)
        assert "✖ alertmanager" in lines[0], lines[0]
        await pilot.resize_terminal(80, 24)
        lines = await until(lambda ls: "? AM STALE" in row(ls), "stale at 80x24")
        assert "✖ alertmanager" in lines[0] or "✖ AM" in lines[0], lines[0]


# ---- the silence dialog and the alerts screen, against the real Alertmanager -------------


async def test_a_silence_made_in_the_ui_exists_in_alertmanager_and_expires_from_the_ui(
    chain: Chain,
) -> None:
    am = chain.alertmanager
    monitor = monitor_for(chain.stack.url, am.url)
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await refresh_until(monitor, lambda: fate(monitor, HOT, "3") == "active", "routed")
        hot = status_of(monitor, HOT, "3")
        assert hot is not None
        app.silence_rule(hot)
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen)
        text = "\n".join(screen_lines(app))
        assert "matches 1 current alert in Alertmanager" in text
        assert f"by {created_by()}" in text

        app.screen.query_one("#duration", Select).focus()
        await pilot.press("enter", "down", "down", "enter")  # 1h → 4h → 24h
        await pilot.pause()
        assert app.screen.query_one("#duration", Select).value == "24h"
        app.screen.query_one("#comment", Input).focus()
        await pilot.press("enter")  # the comment is required
        await pilot.pause()
        assert "a comment is required" in "\n".join(screen_lines(app))
        assert am.silences() == []

        app.screen.query_one("#comment", Input).focus()
        await pilot.press(*"fan swap, ask alice")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        started = time.time()
        await pilot.press("y")
        deadline = time.monotonic() + 15
        while isinstance(app.screen, SilenceScreen | ConfirmScreen):
            assert time.monotonic() < deadline, "\n".join(screen_lines(app))
            await pilot.pause(0.1)

        silences = am.silences()
        assert len(silences) == 1
        made = silences[0]
        matchers = {m["name"]: m["value"] for m in made["matchers"]}
        assert matchers == {
            "alertname": HOT,
            "Hostname": "sim-node-00",
            "gpu": "3",
            "UUID": hot.labels["UUID"],
        }
        assert not any(m["isRegex"] for m in made["matchers"])
        assert made["comment"] == "fan swap, ask alice"
        assert made["createdBy"].endswith("@" + socket.gethostname())
        assert made["createdBy"] == created_by()
        ends = parse_rfc3339(made["endsAt"])
        assert ends is not None and abs(ends - (started + 24 * 3600)) < 60

        await refresh_until(monitor, lambda: fate(monitor, HOT, "3") == "suppressed", "silenced")
        await pilot.press("a")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert screen.silence_keys == [made["id"]]
        text = "\n".join(screen_lines(app))
        assert "fan swap, ask alice" in text and "dingtalk-relay" in text
        screen.query_one("#silences", DataTable).focus()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        deadline = time.monotonic() + 15
        while am.silences() or screen.silence_keys:
            assert time.monotonic() < deadline, "the silence is still active"
            await pilot.pause(0.2)
        assert [s["status"]["state"] for s in am.silences(None) if s["id"] == made["id"]] == [
            "expired"
        ]
    await monitor.aclose()
