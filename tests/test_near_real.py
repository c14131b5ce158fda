"""Near, states and values against a real Prometheus: the dashboard and `--once --json` say the
same at the same moment (the one-shot reads the recent series it needs), and no row's value
contradicts its state. Two rules made to move in a known way:

- `Climbing`: a value rising one per second toward 150 (`for: 10m`): NEAR with an ETA that
  counts down, in both;
- `Sawtooth`: `time() % 20 > 10` (`for: 10m`), pending at some evaluations and reset at
  others: between two evaluations the live value says the opposite of the state, so a row
  must show the value the state was evaluated on.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gputop.monitor import Monitor
from gputop.promql.analysis import compare
from gputop.rules.model import RuleStatus
from gputop.rules.near import CROSSED
from tests.support.cli import cli_monitor
from tests.support.prometheus_server import PromStack

pytestmark = pytest.mark.prometheus

RULES = """
groups:
- name: shaped
  interval: 5s
  rules:
  - alert: Climbing
    expr: DCGM_FI_DEV_GPU_TEMP{{gpu="0"}} * 0 + (time() - {start}) > 150
    for: 10m
  - alert: Sawtooth
    expr: DCGM_FI_DEV_GPU_TEMP{{gpu="0"}} * 0 + (time() % 20) > 10
    for: 10m
"""


def agrees(status: RuleStatus) -> bool:
    """The state and the value shown do not contradict each other."""
    if status.value is None or status.op is None or status.threshold is None:
        return True
    across = compare(status.op, status.value, status.threshold)
    if status.state in ("pending", "firing"):
        return across
    return not across or status.reason == CROSSED


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


async def _shown_now(monitor: Monitor) -> dict[tuple[str, tuple[tuple[str, str], ...]], RuleStatus]:
    assert monitor.rules is not None
    monitor.rules.retry_now()
    await monitor.refresh_remote()
    return {_key(s.name, dict(s.labels)): s for s in monitor.rule_statuses()}


async def test_the_dashboard_and_once_say_the_same_and_values_agree_with_states(
    prometheus_factory: Callable[..., PromStack], tmp_path: Path, isolated_env: dict[str, str]
) -> None:
    start = math.floor(time.time())
    rules = tmp_path / "shaped.yml"
    rules.write_text(RULES.format(start=start))
    stack = prometheus_factory(nodes=1, gpus=2, history_s=120, rule_files=[rules])
    argv = [sys.executable, "-m", "gputop", "--prometheus", stack.url, "--once", "--json"]
    compared = 0
    sawtooth: set[str] = set()  # the states the sawtooth was seen in
    with cli_monitor(stack.url) as monitor:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and compared < 3:
                await monitor.refresh_remote()
                shown = monitor.rule_statuses()
                assert all(agrees(s) for s in shown), shown  # never a contradiction
                sawtooth.update(s.state for s in shown if s.name == "Sawtooth")
                climbing = [s for s in shown if s.name == "Climbing"]
                if time.time() - start < 30 or not climbing or climbing[0].eta_s is None:
                    await asyncio.sleep(1.0)
                    continue
                # the dashboard asks the rules just after each evaluation: here, right before
                # and after the one-shot, to know whether Prometheus evaluated in between
                before = await _shown_now(monitor)
                done = await asyncio.to_thread(
                    subprocess.run, argv, capture_output=True, text=True, env=isolated_env
                )
                said = {_key(r["name"], r["labels"]): r for r in json.loads(done.stdout)["rules"]}
                after = await _shown_now(monitor)
                if [s.value for s in before.values()] != [s.value for s in after.values()]:
                    continue  # Prometheus evaluated meanwhile: not the same moment, again
                assert said.keys() == before.keys()
                for key, status in before.items():
                    one = said[key]
                    assert (one["state"], one["value"]) == (status.state, status.value), key
                    assert (one["eta_s"] is None) == (status.eta_s is None), (one, status)
                    if status.eta_s is not None:  # counted down by the seconds between
                        assert status.eta_s - 5 <= one["eta_s"] <= status.eta_s, (one, status)
                compared += 1
        finally:
            await monitor.aclose()
    assert compared == 3
    assert {"pending", "ok"} <= sawtooth or {"pending", "near"} <= sawtooth, sawtooth
