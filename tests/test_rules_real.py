"""Alert rules end to end: a real engine evaluating tests/data/rules-fast.yml against
`gputop sim-exporter --scenario hot-gpu` (Prometheus 2.42, or vmalert reading VictoriaMetrics
1.79 and served through it), seen through the monitor, `--once --json`, `--once --check` and
the dashboard; and the same rules evaluated locally on the demo node.

One engine at a time serves the module. Each test loads the rules again under a new group
name, which gives every alert a fresh start: FastGpuHot is pending for 12 s on the hot GPU,
then fires; FastAlwaysPending is pending for 30 s; FastMemClockNear stays near. vmalert adds
an `alertgroup` label to every alert; gputop must still list each series once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gputop.core.labels import LabelKey, label_key
from gputop.monitor import Monitor
from gputop.rules.model import RuleStatus
from gputop.ui.app import GpuTopApp
from gputop.ui.views.rules import RuleRow
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.cli import cli_monitor
from tests.support.prometheus_server import ENGINES, PromStack, engine_stack
from tests.support.ui import screen_lines

RULES = Path(__file__).parent / "data" / "rules-fast.yml"
REPO = Path(__file__).resolve().parents[1]
#: With this seed, GPU 3 of sim-node-00 stays above 85 C from 590 s to 900 s into the
#: simulation; the fixture's Prometheus watches it from 600 s on.
SEED = 148
HOT, NEAR, LONG = "FastGpuHot", "FastMemClockNear", "FastAlwaysPending"
HOT_FOR_S, LONG_FOR_S, THRESHOLD, MARGIN = 12.0, 30.0, 80.0, 0.10
HOT_GPU = "3"
ALERT_STATES = ("pending", "firing")

AlertKey = tuple[str, LabelKey]


@dataclass
class RulesServer:
    """The module's Prometheus and the rule file it reads."""

    stack: PromStack
    path: Path
    loads: int = 0

    @property
    def url(self) -> str:
        return self.stack.url

    def fresh_rules(self, timeout: float = 20.0) -> None:
        """Load the rules again under a new group name, so every alert starts over, and wait
        until the hot GPU's alert is pending."""
        self.loads += 1
        doc = yaml.safe_load(RULES.read_text())
        groups = []
        for group in doc["groups"]:
            group["name"] = f"{group['name']}-{self.loads}"
            groups.append(group["name"])
        self.path.write_text(json.dumps(doc))  # JSON is YAML
        self.stack.engine.reload_rules()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = rules_api(self.url)
            if [g["name"] for g in data["groups"]] == groups:
                alerts = prometheus_alerts(data)
                if any(name == HOT and state == "pending" for (name, _), state in alerts.items()):
                    return
            time.sleep(0.2)
        temps = self.stack.engine.query(f'DCGM_FI_DEV_GPU_TEMP{{gpu="{HOT_GPU}"}}')
        raise AssertionError(
            f"{HOT} not pending {timeout:.0f} s after a reload; GPU {HOT_GPU}: {temps}"
        )


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RulesServer]:
    workdir = tmp_path_factory.mktemp(request.param)
    path = workdir / "rules-fast.yml"
    path.write_text(RULES.read_text())
    options = {"scenario": "hot-gpu", "seed": SEED, "rule_files": [path]}
    with engine_stack(request.param, workdir / "stack", **options) as stack:
        yield RulesServer(stack, path)


# ---- helpers ---------------------------------------------------------------------------


def rules_api(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/v1/rules", params={"type": "alert"}, timeout=5.0)
    response.raise_for_status()
    return dict(response.json()["data"])


def prometheus_alerts(data: Mapping[str, Any]) -> dict[AlertKey, str]:
    """(rule, series) → pending|firing, for every active alert of `/api/v1/rules`; a series is
    its alert's labels without alertname, the rule's own labels and vmalert's `alertgroup`,
    as gputop names it."""
    out: dict[AlertKey, str] = {}
    for group in data["groups"]:
        for rule in group["rules"]:
            own = {"alertname", "alertgroup", *(rule.get("labels") or {})}
            for alert in rule.get("alerts") or ():
                if alert["state"] in ALERT_STATES:
                    out[(rule["name"], label_key(alert["labels"], drop=own))] = alert["state"]
    return out


def run_gputop(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gputop", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(env),
        cwd=REPO,
        check=False,
    )


def json_statuses(doc: Mapping[str, Any]) -> dict[AlertKey, dict[str, Any]]:
    out: dict[AlertKey, dict[str, Any]] = {}
    for status in doc["rules"]:
        key = (status["name"], label_key(status["labels"], drop=()))
        assert key not in out, f"two statuses for one series: {key}"
        out[key] = status
    return out


def assert_json_agrees(
    url: str, env: Mapping[str, str]
) -> tuple[dict[AlertKey, str], dict[AlertKey, dict[str, Any]]]:
    """`gputop --once --json --prometheus URL` against `/api/v1/rules` read just before and
    just after it: every alert in the same state at both reads has that state in the JSON;
    every series with no alert at either read is near, ok or unknown.

    Returns the alerts stable across both reads, and the JSON's statuses."""
    before = prometheus_alerts(rules_api(url))
    done = run_gputop("--once", "--json", "--prometheus", url, env=env)
    after = prometheus_alerts(rules_api(url))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    doc = json.loads(done.stdout)
    assert doc["sources"]["prometheus"]["state"] == "ok"
    shown = json_statuses(doc)
    assert {s["source"] for s in shown.values()} == {"prometheus"}
    stable = {key: state for key, state in before.items() if after.get(key) == state}
    for key, state in stable.items():
        assert key in shown, f"Prometheus has {state} {key}; the JSON has no such series"
        assert shown[key]["state"] == state, (key, state, shown[key])
    for key, status in shown.items():
        if key not in before and key not in after:
            assert status["state"] in ("near", "ok", "unknown"), status
    return stable, shown


def hot_gpu_alerts(alerts: Mapping[AlertKey, str]) -> list[str]:
    return [s for (name, key), s in alerts.items() if name == HOT and ("gpu", HOT_GPU) in key]


def hot_gpu_status(statuses: list[RuleStatus]) -> RuleStatus | None:
    return next((s for s in statuses if s.name == HOT and s.labels.get("gpu") == HOT_GPU), None)


async def refreshed(monitor: Monitor) -> tuple[float, list[RuleStatus]]:
    """Refresh from Prometheus; (when, statuses)."""
    await monitor.refresh_remote()
    return time.monotonic(), monitor.rule_statuses()


@contextlib.asynccontextmanager
async def closing(monitor: Monitor) -> AsyncIterator[Monitor]:
    try:
        yield monitor
    finally:
        await monitor.aclose()


# ---- against Prometheus ----------------------------------------------------------------


@pytest.mark.prometheus
async def test_pending_counts_down_then_fires_and_near_is_near(
    server: RulesServer, isolated_env: dict[str, str]
) -> None:
    server.fresh_rules()
    with cli_monitor(server.url) as monitor:
        async with closing(monitor):
            t1, statuses = await refreshed(monitor)
            first = hot_gpu_status(statuses)
            assert first is not None and first.state == "pending", first
            assert first.fires_in_s is not None and 0 < first.fires_in_s <= HOT_FOR_S
            assert first.source == "prometheus"

            # near: inactive, the steady 1593 MHz memory clock within 10 % of 1700
            near = [s for s in statuses if s.name == NEAR]
            assert len(near) == server.stack.gpus
            assert {(s.state, s.value, s.op, s.threshold) for s in near} == {
                ("near", 1593.0, ">", 1700.0)
            }
            # the other GPUs run more than 10 % under the threshold
            others = [s for s in statuses if s.name == HOT and s.labels.get("gpu") != HOT_GPU]
            assert len(others) == server.stack.gpus - 1
            for status in others:
                assert status.value is not None and status.value < THRESHOLD * (1 - MARGIN)
                assert status.state == "ok", status
            (long,) = [s for s in statuses if s.name == LONG]
            assert long.state == "pending" and long.labels == {}
            assert long.fires_in_s is not None and 0 < long.fires_in_s <= LONG_FOR_S

            await asyncio.sleep(2.5)
            t2, statuses = await refreshed(monitor)
            second = hot_gpu_status(statuses)
            assert second is not None and second.state == "pending", second
            assert second.fires_in_s is not None
            assert second.fires_in_s < first.fires_in_s  # the countdown moves
            assert first.fires_in_s - second.fires_in_s == pytest.approx(t2 - t1, abs=1.0)

            deadline = time.monotonic() + HOT_FOR_S + 10
            while True:
                _, statuses = await refreshed(monitor)
                hot = hot_gpu_status(statuses)
                assert hot is not None and hot.state in ALERT_STATES, hot
                if hot.state == "firing":
                    break
                assert time.monotonic() < deadline, f"still {hot.state} after {HOT_FOR_S:.0f} s"
                await asyncio.sleep(0.5)
            assert hot.fires_in_s is None and hot.active_at is not None
            assert statuses[0] == hot  # worst first


@pytest.mark.prometheus
def test_cli_json_and_check_agree_with_prometheus(
    server: RulesServer, isolated_env: dict[str, str]
) -> None:
    server.fresh_rules()
    # nothing fires yet: pending and near only
    before = prometheus_alerts(rules_api(server.url))
    check = run_gputop("--once", "--check", "--prometheus", server.url, env=isolated_env)
    after = prometheus_alerts(rules_api(server.url))
    assert "firing" not in {*before.values(), *after.values()}, "fired too soon to test"
    assert check.returncode == 1, (check.stdout, check.stderr)
    assert "PENDING" in check.stdout and "NEAR" in check.stdout

    stable, shown = assert_json_agrees(server.url, isolated_env)
    assert hot_gpu_alerts(stable) == ["pending"]
    near = [s for (name, _), s in shown.items() if name == NEAR]
    assert len(near) == server.stack.gpus and {s["state"] for s in near} == {"near"}
    assert stable.get((LONG, ())) == "pending"

    deadline = time.monotonic() + HOT_FOR_S + 10
    while "firing" not in prometheus_alerts(rules_api(server.url)).values():
        assert time.monotonic() < deadline, f"{HOT} did not fire"
        time.sleep(0.3)
    check = run_gputop("--once", "--check", "--prometheus", server.url, env=isolated_env)
    assert check.returncode == 2, (check.stdout, check.stderr)
    assert "FIRING" in check.stdout

    stable, _ = assert_json_agrees(server.url, isolated_env)
    assert hot_gpu_alerts(stable) == ["firing"]
    assert stable.get((LONG, ())) == "pending"


_COUNTDOWN = re.compile(r"fires in (?:(\d+)m)?(\d+(?:\.\d+)?)s$")


def _countdown_s(row: RuleRow) -> float:
    if row.detail.endswith("  due"):  # its firing time has come: it fires at the next evaluation
        return 0.0
    match = _COUNTDOWN.search(row.detail)
    assert match is not None, row.detail
    return 60 * float(match.group(1) or 0) + float(match.group(2))


@pytest.mark.prometheus
async def test_dashboard_shows_pending_countdown_then_firing(
    server: RulesServer, isolated_env: dict[str, str]
) -> None:
    server.fresh_rules()
    with cli_monitor(server.url) as monitor:
        app = GpuTopApp(monitor, interval=1.0)
        host = server.stack.hosts[0]
        # the series keeps dcgm-exporter's pod labels: the row names the pod on the GPU
        title = f"{HOT} · GPU {HOT_GPU} @ {host} → t2v/t2v-serve-{host}-{HOT_GPU}"
        # wide enough for the rule, its GPU and node, the pod and the countdown in one row (at
        # 120 columns the rules stand beside the latency panel, 78 columns: the pod comes first)
        async with app.run_test(size=(160, 40)) as pilot:
            panel = app.screen.query_one(RulesPanel)
            countdowns: list[float] = []
            seen_pending_line = False
            deadline = time.monotonic() + HOT_FOR_S + 15
            row: RuleRow | None = None
            while time.monotonic() < deadline:
                await pilot.pause(0.2)
                row = next((r for r in panel.rows if r.title == title), None)
                if row is None:
                    continue
                if row.state == "firing":
                    break
                assert row.state == "pending", row
                value = _countdown_s(row)
                if not countdowns or value != countdowns[-1]:
                    countdowns.append(value)
                    line = next(ln for ln in screen_lines(app) if title in ln)
                    assert "PENDING" in line and (row.detail in line or row.short in line), line
                    seen_pending_line = True
            assert row is not None and row.state == "firing", (row, countdowns)
            assert seen_pending_line and len(countdowns) >= 2, countdowns
            assert all(a > b for a, b in itertools.pairwise(countdowns)), countdowns
            await pilot.pause(0.2)
            line = next(ln for ln in screen_lines(app) if title in ln)
            assert "FIRING" in line and re.search(r"since \d\d:\d\d:\d\d", line), line
            assert panel.rows[0].title == title
            assert "1 firing" in str(panel.border_subtitle)


# ---- local evaluation ------------------------------------------------------------------


def test_local_evaluation_of_the_fast_rules(isolated_env: dict[str, str]) -> None:
    """`--demo --scenario hot-gpu --rules FILE`: one local evaluation of the same rules."""
    done = run_gputop(
        "--once", "--json", "--demo", "--scenario", "hot-gpu", "--seed", str(SEED),
        "--rules", str(RULES), env=isolated_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    statuses = doc["rules"]
    assert statuses and {s["source"] for s in statuses} == {"local"}
    temps = {g["index"]: g["temperature_c"] for g in doc["gpus"]}
    assert len(temps) == 8

    hot = {int(s["labels"]["gpu"]): s for s in statuses if s["name"] == HOT}
    assert set(hot) == set(temps)
    for gpu, status in hot.items():
        assert status["value"] == temps[gpu]
        if temps[gpu] > THRESHOLD:  # holds at the first evaluation: pending for the whole `for`
            assert (status["state"], status["fires_in_s"]) == ("pending", HOT_FOR_S), status
        elif temps[gpu] >= THRESHOLD * (1 - MARGIN):
            assert status["state"] == "near", status
        else:
            assert status["state"] == "ok", status
    assert hot[int(HOT_GPU)]["state"] == "pending"  # the scenario's hot GPU

    near = [s for s in statuses if s["name"] == NEAR]
    assert len(near) == 8 and {s["state"] for s in near} == {"near"}
    (long,) = [s for s in statuses if s["name"] == LONG]
    assert long["state"] == "unknown" and long["reason"].startswith("needs Prometheus")

    check = run_gputop(
        "--once", "--check", "--demo", "--scenario", "hot-gpu", "--seed", str(SEED),
        "--rules", str(RULES), env=isolated_env,
    )  # fmt: skip
    assert check.returncode == 1, (check.stdout, check.stderr)  # pending and near; none firing
