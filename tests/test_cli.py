"""The command line as users run it: --once, --json, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest


def gputop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gputop", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_once_demo_json_has_8_complete_gpus() -> None:
    out = gputop("--once", "--demo", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) >= {"time", "host", "sources", "gpus", "processes", "latency", "rules"}
    demo = doc["sources"]["demo"]
    assert (demo["state"], demo["reason"]) == ("ok", None)
    newest, at = datetime.fromisoformat(demo["newest"]), datetime.fromisoformat(doc["time"])
    assert abs((at - newest).total_seconds()) < 5 and 0 <= demo["age_s"] < 5
    assert doc["sources"]["nvml"] == {
        "state": "off", "reason": None, "newest": None, "age_s": None
    }  # fmt: skip
    assert doc["sources"]["prometheus"]["state"] == "off"
    assert len(doc["gpus"]) == 8
    numeric = [
        "memory_used_mib",
        "memory_total_mib",
        "utilization_gpu_pct",
        "utilization_memory_pct",
        "temperature_c",
        "power_w",
        "power_limit_w",
        "sm_clock_mhz",
    ]
    for g in doc["gpus"]:
        assert g["state"] == "ok" and g["source"] == "demo" and g["host"] == "demo-node"
        assert g["uuid"].startswith("GPU-")
        for field in numeric:
            assert isinstance(g[field], (int, float)), field
        assert g["fan_pct"] is None
    assert {p["gpu_index"] for p in doc["processes"]} == set(range(8))
    assert all(isinstance(p["gpu_memory_mib"], float) for p in doc["processes"])
    assert doc["time"].endswith("+00:00")


def test_once_text_is_a_table() -> None:
    out = gputop("--once", "--demo")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("demo-node")
    assert sum(1 for line in lines if line.startswith("[")) == 8
    assert "A100-SXM4-80GB" in out.stdout and "latency p50" in out.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--interval", "0"], "--interval"),
        (["--interval", "soon"], "--interval"),
        (["--demo", "--scenario", "boom"], "--scenario"),
        (["--json", "--demo"], "--json"),
        (["--bogus"], "--bogus"),
        (["--demo", "--alertmanager", "am:9093"], "--alertmanager: URL has no scheme"),
        (["--demo", "--alertmanager", "http://u:pw@am"], "--alertmanager: URL must not carry"),
    ],
)
def test_bad_flags_are_one_line_exit_2(args: list[str], needle: str) -> None:
    out = gputop(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_once_evaluates_recording_rules_and_names_files_without_alerts(tmp_path: Path) -> None:
    records = tmp_path / "records.yml"
    records.write_text(
        "groups:\n- name: r\n  rules:\n  - record: gpu:fb_used:ratio\n"
        "    expr: DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL\n",
        encoding="utf-8",
    )
    alerts = tmp_path / "alerts.yml"
    alerts.write_text(
        "groups:\n- name: a\n  rules:\n  - alert: FramebufferInUse\n"
        "    expr: gpu:fb_used:ratio > 0\n",
        encoding="utf-8",
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path), "GPUTOP_CONFIG": ""}
    rules = ["--rules", str(records), "--rules", str(alerts)]
    out = gputop("--once", "--demo", "--json", *rules, env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["rule_notes"] == [f"{records}: no alerting rules, only 1 recording rule"]
    in_use = [r for r in doc["rules"] if r["name"] == "FramebufferInUse"]
    assert len(in_use) == 8 and {r["state"] for r in in_use} == {"firing"}
    text = gputop("--once", "--demo", *rules, env=env)
    assert f"NOTE     {records}: no alerting rules, only 1 recording rule" in text.stdout
