"""`gputop rules backtest` as a user runs it, against a real Prometheus holding an hour of
series made for the purpose (10 s apart): a ramp that crosses its threshold every ten
minutes, a flat series with a fifteen-minute hole, a series that dips below its threshold for
one evaluation now and then. The JSON contract, exit statuses, what-ifs, `--target`, gaps,
flaps, near scores, the text and GitHub forms, and every bad input as one line.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gputop.cli import main
from tests.support.prometheus_server import PrometheusServer, require_prometheus, start_prometheus

pytestmark = pytest.mark.prometheus

STEP = 10
OUTAGE = (1250, 1700)  # seconds after the first sample: no data at all (the engine was down)
FLAT_HOLE = (2400, 2900)  # only bt_flat is missing (its exporter was down)
RULES = """\
groups:
  - name: synthetic
    interval: 10s
    rules:
      - alert: RampHigh
        expr: bt_ramp > 90
        for: 20s
        labels: {severity: warning}
      - alert: FlatHigh
        expr: bt_flat > 50
      - alert: FlapHigh
        expr: bt_flap > 90
      - alert: Missing
        expr: absent(bt_missing)
      - alert: "Bad\\u001b]0;titleName"
        expr: bt_flap > 90
"""


def ramp(k: int) -> float:
    """0 to 98.3 over ten minutes, then back to 0."""
    return (k % 60) * 10 / 6


def flap(k: int) -> float:
    """95, but 80 at every sixth sample."""
    return 80.0 if k % 6 == 5 else 95.0


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, float]]:
    """Prometheus with the synthetic hour; and the time of its first sample."""
    require_prometheus()
    first = math.floor(time.time() / STEP) * STEP - 3600 + 3  # samples 3 s after each slot
    lines = []
    for name, value in (("bt_ramp", ramp), ("bt_flat", lambda k: 95.0), ("bt_flap", flap)):
        gpu = {"bt_ramp": "0", "bt_flat": "1", "bt_flap": "2"}[name]
        for k in range(3600 // STEP - 6):
            offset = k * STEP
            if OUTAGE[0] <= offset < OUTAGE[1]:
                continue
            if name == "bt_flat" and FLAT_HOLE[0] <= offset < FLAT_HOLE[1]:
                continue
            lines.append(f'{name}{{gpu="{gpu}",Hostname="node-a"}} {value(k)!r} {first + offset}')
    backfill = "\n".join(lines) + "\n# EOF\n"
    server = start_prometheus(tmp_path_factory.mktemp("prom"), [], backfill=backfill)
    try:
        yield server, first
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "synthetic.yml"
    path.write_text(RULES)
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["rules", "backtest", *argv])
    return status, out.getvalue(), err.getvalue()


def against(engine: tuple[PrometheusServer, float], rules: Path, *extra: str) -> list[str]:
    """The arguments of a backtest of `rules` over the engine's 40 minutes of history."""
    server, first = engine
    window = ["--start", str(first + 600), "--end", str(first + 3000)]
    return [str(rules), "--prometheus", server.url, *window, *extra]


def backtest(engine: tuple[PrometheusServer, float], rules: Path, *extra: str) -> tuple[int, Any]:
    status, out, err = run(*against(engine, rules, "--format", "json", *extra))
    assert err == "", err
    return status, json.loads(out)


def by_name(report: Any) -> dict[str, Any]:
    return {r["name"]: r for r in report["rules"]}


# ---- the JSON contract ---------------------------------------------------------------------

RULE_KEYS = {
    "name",
    "group",
    "source",
    "interval_s",
    "for_s",
    "keep_firing_for_s",
    "fired",
    "firing_s",
    "flaps",
    "series_fired",
    "near",
    "series",
    "error",
    "whatif",
    "suggestion",
}
NEAR_KEYS = {"warnings", "followed_by_firing", "firings_warned", "lead_s_median", "horizon_s"}
SERIES_KEYS = {"labels", "firing", "pending_only", "firing_s", "flaps"}


def test_the_json_report_keeps_its_documented_shape(engine: Any, rules: Path) -> None:
    status, report = backtest(engine, rules)
    assert status == 0
    _, first = engine
    assert set(report) == {"start", "end", "engine", "rules", "gaps"}
    assert (report["start"], report["end"]) == (first + 600, first + 3000)
    assert report["engine"] == engine[0].url
    ramp_rule = by_name(report)["RampHigh"]
    assert set(ramp_rule) == RULE_KEYS
    assert ramp_rule["group"] == "synthetic"
    assert ramp_rule["source"] == f"{rules}:5"
    assert (ramp_rule["interval_s"], ramp_rule["for_s"], ramp_rule["keep_firing_for_s"]) == (
        10,
        20,
        0,
    )
    assert set(ramp_rule["near"]) == NEAR_KEYS
    (series,) = ramp_rule["series"]
    assert set(series) == SERIES_KEYS
    assert series["labels"] == {"gpu": "0", "Hostname": "node-a"}
    for window in series["firing"] + series["pending_only"]:
        assert set(window) == {"start", "end"}
        assert report["start"] <= window["start"] <= window["end"] <= report["end"]
    assert ramp_rule["whatif"] == [] and ramp_rule["suggestion"] is None
    assert by_name(report)["Missing"]["near"] is None  # absent() compares nothing


def test_a_ramp_fires_once_per_cycle_and_near_warned_of_every_firing(
    engine: Any, rules: Path
) -> None:
    _, report = backtest(engine, rules)
    rule = by_name(report)["RampHigh"]
    (series,) = rule["series"]
    # > 90 for the last five samples of each ten minutes: pending, firing 20 s later
    assert rule["fired"] == 4 == len(series["firing"])
    for window in series["firing"]:
        assert window["end"] - window["start"] == 20
    assert rule["firing_s"] == 4 * 30  # three firing evaluations each
    near = rule["near"]
    assert near["firings_warned"] == rule["fired"]
    assert near["followed_by_firing"] == near["warnings"] > 0
    assert near["lead_s_median"] >= 60


def test_a_group_without_an_interval_is_replayed_at_prometheus_default(
    engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gputop.toml"
    config.write_text("[rules]\n")  # no eval_interval
    monkeypatch.setenv("GPUTOP_CONFIG", str(config))
    plain = tmp_path / "plain.yml"
    plain.write_text(
        "groups:\n  - name: plain\n    rules:\n      - alert: RampAny\n        expr: bt_ramp > 90\n"
    )
    status, report = backtest(engine, plain)
    assert status == 0
    assert by_name(report)["RampAny"]["interval_s"] == 60
    status, report = backtest(engine, plain, "--eval-interval", "20s")
    assert by_name(report)["RampAny"]["interval_s"] == 20


def test_an_engine_without_data_is_a_gap_not_a_resolution(engine: Any, rules: Path) -> None:
    _, report = backtest(engine, rules)
    _, first = engine
    (gap,) = report["gaps"]
    assert set(gap["rules"]) == {
        "RampHigh",
        "FlatHigh",
        "FlapHigh",
        "Missing",
        "Bad\x1b]0;titleName",
    }
    # the last samples before the outage stay current for the 5 m lookback
    assert first + OUTAGE[0] + 300 - STEP <= gap["start"] <= first + OUTAGE[0] + 300 + STEP
    assert first + OUTAGE[1] - 2 * STEP <= gap["end"] < first + OUTAGE[1]
    flat = by_name(report)["FlatHigh"]
    (series,) = flat["series"]
    first_window, second_window = series["firing"]
    # firing across the outage: one window; resolved once only its own series was gone
    # in progress when the range starts: from its first evaluation
    assert report["start"] <= first_window["start"] < report["start"] + STEP
    assert first + FLAT_HOLE[0] + 300 - STEP <= first_window["end"] + STEP
    assert first_window["end"] < first + FLAT_HOLE[0] + 300 + STEP
    assert first + FLAT_HOLE[1] <= second_window["start"] <= first + FLAT_HOLE[1] + STEP
    assert flat["fired"] == 1 and series["flaps"] == 0
    outage = gap["end"] - gap["start"] + STEP
    assert flat["firing_s"] < report["end"] - report["start"] - outage
    missing = by_name(report)["Missing"]
    assert len(missing["series"][0]["firing"]) == 1  # absent() fires throughout


def test_a_dip_of_one_evaluation_is_a_flap(engine: Any, rules: Path) -> None:
    _, report = backtest(engine, rules)
    rule = by_name(report)["FlapHigh"]
    (series,) = rule["series"]
    windows = series["firing"]
    assert len(windows) >= 30
    assert series["flaps"] == rule["flaps"] >= len(windows) - 2
    for a, b in itertools.pairwise(windows):
        assert b["start"] - a["end"] == 2 * STEP  # resolved at one evaluation, fired at the next


def test_a_changed_threshold_for_and_keep_firing_for_replay_beside_the_original(
    engine: Any, rules: Path
) -> None:
    status, report = backtest(
        engine,
        rules,
        "--threshold",
        "RampHigh=95",
        "--for",
        "FlapHigh=30s",
        "--keep-firing-for",
        "FlapHigh=10s",
    )
    assert status == 0
    ramp_rule = by_name(report)["RampHigh"]
    (whatif,) = ramp_rule["whatif"]
    assert whatif["changed"] == {"threshold": 95}
    assert whatif["threshold"] == 95
    assert whatif["fired"] == 0  # two samples above 95: pending 10 s, never 20 s
    flap_rule = by_name(report)["FlapHigh"]
    (whatif,) = flap_rule["whatif"]
    assert whatif["changed"] == {"for_s": 30, "keep_firing_for_s": 10}
    # kept firing through each one-evaluation dip: one window, from before the range
    (series,) = whatif["series"]
    assert len(series["firing"]) == 1 and whatif["flaps"] == 0 and whatif["fired"] == 0
    assert flap_rule["fired"] > 30


def test_target_suggests_the_loosest_threshold_and_shortest_for_within_the_rate(
    engine: Any, rules: Path
) -> None:
    _, report = backtest(engine, rules, "--rule", "RampHigh", "--target", "1/1h")
    (rule,) = report["rules"]
    suggestion = rule["suggestion"]
    assert suggestion["target"] == "1/1h"
    assert suggestion["allowed"] == pytest.approx(40 / 60, abs=0.01)  # 40 minutes replayed
    # every cycle is alike: only a rule that never fires is within 0.67 firings
    assert suggestion["threshold"] == 95 and suggestion["threshold_fired"] == 0
    assert suggestion["for_s"] == 50 and suggestion["for_fired"] == 0
    _, looser = backtest(engine, rules, "--rule", "RampHigh", "--threshold", "RampHigh=93.4")
    assert looser["rules"][0]["whatif"][0]["fired"] > 0  # the next value down would fire


# ---- exit status, output forms --------------------------------------------------------------


def test_max_fires_exits_1_and_github_annotates_the_rule(engine: Any, rules: Path) -> None:
    status, out, err = run(*against(engine, rules, "--max-fires", "3", "--format", "github"))
    assert status == 1, err
    lines = out.splitlines()
    ramp_line = next(line for line in lines if "RampHigh" in line)
    assert ramp_line.startswith(f"::warning file={rules},line=5,col=1,title=backtest::")
    assert "RampHigh would have fired 4 times in 40m (--max-fires 3)" in ramp_line
    assert not any("FlatHigh" in line for line in lines)  # in progress before the range
    status, _, _ = run(*against(engine, rules, "--max-fires", "1000"))
    assert status == 0


def test_text_report_has_a_table_per_rule_and_control_characters_made_visible(
    engine: Any, rules: Path
) -> None:
    status, out, _ = run(*against(engine, rules, "--threshold", "RampHigh=95"))
    assert status == 0
    assert "\x1b" not in out and "Bad␛]0;titleName" in out
    block = out.split("RampHigh", 1)[1].split("\n\n", 1)[0]
    assert "fired" in block and "precision" in block and "recall" in block and "lead" in block
    assert "as written" in block and "what if threshold 90→95" in block
    assert "GPU 0 @ node-a: firing" in block
    assert "gap: no data" in out and "FlatHigh" in out.split("gap: no data", 1)[1]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--threshold", "Nope=3"], "--threshold: no rule named 'Nope' (rules: RampHigh,"),
        (["--threshold", "Missing=3"], "--threshold Missing: the expression is not"),
        (["--rule", "Nope"], "--rule: no rule named 'Nope'"),
        (["--range", "30d"], "before the engine's retention (15d; it keeps data from"),
        (["--start", "2024-05-02T00:00:00Z", "--end", "2024-05-01T00:00:00Z"], "not after"),
        (["--end", str(time.time() + 3600)], "in the future"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    engine: Any, rules: Path, argv: list[str], said: str
) -> None:
    server, _ = engine
    status, out, err = run(str(rules), "--prometheus", server.url, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and said in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--for", "RampHigh=soon"], "argument --for: 'RampHigh=soon': not a valid duration"),
        (["--start", "yesterday"], "argument --start: not a time: 'yesterday'"),
        (["--target", "often"], "argument --target: expected N/DURATION"),
        (["--max-fires", "-1"], "argument --max-fires: must be 0 or more"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["rules", "backtest", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err and "Traceback" not in err


def test_an_engine_that_cannot_be_reached_or_a_bad_file_is_one_line(
    rules: Path, tmp_path: Path
) -> None:
    from tests.support.prometheus_server import free_port

    status, out, err = run(str(rules), "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert status == 2 and out == ""
    assert err.startswith("gputop rules backtest: http://127.0.0.1:") and "unreachable" in err
    assert err.count("\n") == 1
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: rate(\n")
    status, _, err = run(str(bad), "--prometheus", "http://127.0.0.1:1")
    assert (
        status == 2 and err.startswith(f"gputop rules backtest: {bad}:5:") and err.count("\n") == 1
    )
