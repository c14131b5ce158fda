"""`gputop rules backtest` against a real Prometheus and a real VictoriaMetrics holding the same
history: an hour of the simulated exporter back-filled at 10 s resolution, and rules that
cross often. The firing windows must equal those of the state machine written below, which
reads the raw samples themselves (a range-vector query) and knows nothing of gputop: at the
same evaluations, edge for edge, on both engines, `keep_firing_for` included; each value is
read at its evaluation's very instant (VictoriaMetrics would move it onto the step's
multiples).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gputop.cli import main
from gputop.rules.backtest.grid import Grid
from gputop.rules.backtest.history import Fetcher
from gputop.rules.backtest.remote import RemoteEngine
from gputop.sources.prometheus import PrometheusClient
from tests.support.prometheus_server import PromStack, require_engine, start_stack
from tests.support.victoria_server import VictoriaMetricsServer

pytestmark = pytest.mark.prometheus

INTERVAL = 10.0
LOOKBACK = 300.0  # Prometheus' default lookback delta
HISTORY = 3600.0
RULES = f"""\
groups:
  - name: backtest-reference
    interval: {INTERVAL:g}s
    rules:
      - alert: GPUIdle
        expr: DCGM_FI_DEV_GPU_UTIL < 20
        for: 30s
      - alert: GPUMemoryHigh
        expr: DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100 > 80
        for: 20s
        keep_firing_for: 40s
      - alert: GPUPowerLowWhileWarm
        expr: DCGM_FI_DEV_POWER_USAGE < 300 and on(gpu, Hostname) DCGM_FI_DEV_GPU_TEMP > 40
        for: 1m
  - name: backtest-recorded
    interval: {INTERVAL:g}s
    rules:
      - record: gpu:memory_used:percent
        expr: DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100
      - alert: GPUMemoryHighRecorded
        expr: gpu:memory_used:percent{{gpu!="0"}} > 80
        for: 20s
        keep_firing_for: 40s
"""
METRICS = (
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_GPU_TEMP",
)

Series = tuple[str, str]  # (Hostname, gpu)
Samples = dict[str, dict[Series, list[tuple[float, float]]]]  # metric → series → raw points
Windows = dict[Series, list[tuple[float, float]]]


@dataclass
class Reference:
    """The history: the Prometheus holding it (with the rules loaded, so it evaluates them
    at its own slots from now on), its raw samples, and the range replayed."""

    stack: PromStack
    samples: Samples
    labels: dict[Series, dict[str, str]]  # every label of each GPU's series (no name)
    start: float
    end: float
    offsets: dict[str, float]  # where in each interval Prometheus evaluates each group


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "reference.yml"
    path.write_text(RULES)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, rules_file: Path) -> Iterator[Reference]:
    require_engine("prometheus")
    before = math.floor(time.time())
    stack = start_stack(
        tmp_path_factory.mktemp("prom"),
        history_s=HISTORY,
        scrape_s=INTERVAL,
        rule_files=[rules_file],
    )
    try:
        # the back-filled hour ends where live scraping takes over: replay inside it
        end = before - 60.0
        start = before - HISTORY + 900.0
        samples, labels = _raw_samples(stack.url, end)
        offsets = _evaluation_offsets(stack.url)
        yield Reference(stack, samples, labels, start, end, offsets)
    finally:
        stack.stop()


def _evaluation_offsets(url: str) -> dict[str, float]:
    """Each group's slot in its interval, from when Prometheus says it last evaluated it."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        groups = httpx.get(f"{url}/api/v1/rules", timeout=5.0).json()["data"]["groups"]
        stamps = {g["name"]: g.get("lastEvaluation", "") for g in groups}
        if stamps and all(s and not s.startswith("0001") for s in stamps.values()):
            return {
                name: round(float(s[17:].rstrip("Z")) % INTERVAL, 3) for name, s in stamps.items()
            }
        time.sleep(0.5)
    raise AssertionError("Prometheus did not evaluate the rules")


@pytest.fixture(scope="module")
def victoria(
    reference: Reference, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VictoriaMetricsServer]:
    """VictoriaMetrics with the very samples Prometheus holds, imported."""
    require_engine("victoriametrics")
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("vm"), [])
    server.start()
    try:
        lines = []
        for metric, series in reference.samples.items():
            for key, points in series.items():
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(reference.labels[key].items()))
                lines += [f"{metric}{{{labels}}} {v!r} {t!r}" for t, v in points]
        server.backfill("\n".join(lines) + "\n")
        yield server
    finally:
        server.stop()


def _raw_samples(url: str, end: float) -> tuple[Samples, dict[Series, dict[str, str]]]:
    samples: Samples = {}
    labels: dict[Series, dict[str, str]] = {}
    for metric in METRICS:
        params = {"query": f"{metric}[{int(HISTORY) + 60}s]", "time": repr(end)}
        answer = httpx.get(f"{url}/api/v1/query", params=params, timeout=30.0).json()
        for item in answer["data"]["result"]:
            metric_labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
            key = (metric_labels["Hostname"], metric_labels["gpu"])
            labels[key] = metric_labels
            points = [(float(t), float(v)) for t, v in item["values"]]
            samples.setdefault(metric, {})[key] = points
    return samples, labels


# ---- the independent state machine ---------------------------------------------------------


def _value_at(points: list[tuple[float, float]], t: float) -> float | None:
    """What an instant query at `t` reads: the newest sample at or before `t`, at most the
    lookback old."""
    found = None
    for ts, v in points:
        if ts > t:
            break
        found = (ts, v)
    if found is None or t - found[0] > LOOKBACK:
        return None
    return found[1]


def _conditions(samples: Samples) -> dict[str, Callable[[Series, float], bool]]:
    def value(metric: str, key: Series, t: float) -> float | None:
        return _value_at(samples[metric].get(key, []), t)

    def idle(key: Series, t: float) -> bool:
        v = value("DCGM_FI_DEV_GPU_UTIL", key, t)
        return v is not None and v < 20

    def memory(key: Series, t: float) -> bool:
        used = value("DCGM_FI_DEV_FB_USED", key, t)
        free = value("DCGM_FI_DEV_FB_FREE", key, t)
        return used is not None and free is not None and used / (used + free) * 100 > 80

    def power(key: Series, t: float) -> bool:
        watts = value("DCGM_FI_DEV_POWER_USAGE", key, t)
        temp = value("DCGM_FI_DEV_GPU_TEMP", key, t)
        return watts is not None and temp is not None and watts < 300 and temp > 40

    return {"GPUIdle": idle, "GPUMemoryHigh": memory, "GPUPowerLowWhileWarm": power}


def reference_windows(
    ref: Reference,
    holds: Callable[[Series, float], bool],
    for_s: float,
    keep_s: float,
    *,
    group: str = "backtest-reference",
    offset: float | None = None,
) -> Windows:
    """Firing windows per GPU, evaluating every INTERVAL from the first sample on (at the
    group's offset, by default Prometheus' own): pending
    when the condition first holds, firing once it has held `for_s`, kept firing `keep_s`
    after it stops holding; windows clipped to the replayed range."""
    offset = ref.offsets[group] if offset is None else offset
    first = min(p[0][0] for s in ref.samples.values() for p in s.values())
    k = math.ceil((first - offset) / INTERVAL)
    evaluations = []
    while offset + k * INTERVAL <= ref.end:
        evaluations.append(round(offset + k * INTERVAL, 3))
        k += 1
    out: Windows = {}
    for key in ref.labels:
        windows: list[tuple[float, float]] = []
        pending_since: float | None = None
        firing_since: float | None = None
        last_firing: float | None = None
        cleared_at: float | None = None
        for t in evaluations:
            if holds(key, t):
                cleared_at = None
                if pending_since is None and firing_since is None:
                    pending_since = t
            elif firing_since is not None:
                cleared_at = t if cleared_at is None else cleared_at
                if t - cleared_at >= keep_s:
                    windows.append((firing_since, last_firing or firing_since))
                    firing_since = cleared_at = None
            else:
                pending_since = None
            if pending_since is not None and t - pending_since >= for_s - 1e-6:
                firing_since, pending_since = t, None
            if firing_since is not None:
                last_firing = t
        if firing_since is not None:
            windows.append((firing_since, last_firing or firing_since))
        first_reported = next(t for t in evaluations if t >= ref.start)
        clipped = [(max(a, first_reported), b) for a, b in windows if b >= ref.start]
        if clipped:
            out[key] = clipped
    return out


# ---- the backtest --------------------------------------------------------------------------


def _backtest(url: str, ref: Reference, rules: Path | None, *extra: str) -> dict[str, Any]:
    argv = ["rules", "backtest", *([str(rules)] if rules else [])]
    argv += ["--prometheus", url, "--format", "json"]
    argv += ["--start", repr(ref.start), "--end", repr(ref.end), *extra]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(argv)
    assert status == 0, buffer.getvalue()
    return dict(json.loads(buffer.getvalue()))


def _windows(rule: Mapping[str, Any]) -> Windows:
    out: Windows = {}
    for series in rule["series"]:
        if series["firing"]:
            key = (series["labels"]["Hostname"], series["labels"]["gpu"])
            out[key] = [(w["start"], w["end"]) for w in series["firing"]]
    return out


#: Prometheus reports a group's lastEvaluation as the moment its evaluation began, its slot
#: plus however late a loaded machine ran it (milliseconds): two reads of the slot agree to that.
SLOT_JITTER_S = 0.05


def assert_same_windows(got: Windows, want: Windows, what: str, *, within: float) -> None:
    """The same series fire, as often, each edge at most `within` seconds apart (plus the
    jitter of the slot as read from the server)."""
    assert set(got) == set(want), f"{what}: series firing differ"
    for key, windows in want.items():
        mine = got[key]
        assert len(mine) == len(windows), f"{what} {key}: {mine} != {windows}"
        for (a, b), (c, d) in zip(mine, windows, strict=True):
            assert abs(a - c) <= within + SLOT_JITTER_S and abs(b - d) <= within + SLOT_JITTER_S, (
                f"{what} {key}: {mine} != {windows}"
            )


RULE_SHAPES = {
    "GPUIdle": (30.0, 0.0),
    "GPUMemoryHigh": (20.0, 40.0),
    "GPUPowerLowWhileWarm": (60.0, 0.0),
}


@pytest.mark.parametrize("engine", ["prometheus", "victoriametrics"])
def test_firing_windows_equal_an_independent_state_machine_over_the_raw_samples(
    engine: str, reference: Reference, rules_file: Path, request: pytest.FixtureRequest
) -> None:
    url = reference.stack.url
    if engine == "victoriametrics":
        url = request.getfixturevalue("victoria").url
    report = _backtest(url, reference, rules_file)
    conditions = _conditions(reference.samples)
    by_name = {r["name"]: r for r in report["rules"]}
    fired = 0
    for name, (for_s, keep_s) in RULE_SHAPES.items():
        rule = by_name[name]
        assert rule["error"] is None
        # the slots: Prometheus' own for its loaded group; VictoriaMetrics has no such group
        # (no vmalert here), so the backtest evaluates at multiples of the interval
        offset = None if engine == "prometheus" else 0.0
        want = reference_windows(reference, conditions[name], for_s, keep_s, offset=offset)
        assert_same_windows(_windows(rule), want, f"{engine} {name}", within=0.0)
        fired += sum(len(w) for w in want.values())
    assert fired >= 20, "the history should make these rules fire often"
    assert report["gaps"] == []


def test_keep_firing_for_holds_windows_open_and_a_what_if_without_it_matches(
    reference: Reference, rules_file: Path
) -> None:
    report = _backtest(
        reference.stack.url, reference, rules_file, "--keep-firing-for", "GPUMemoryHigh=0s"
    )
    rule = next(r for r in report["rules"] if r["name"] == "GPUMemoryHigh")
    memory = _conditions(reference.samples)["GPUMemoryHigh"]
    kept = reference_windows(reference, memory, 20.0, 40.0)
    plain = reference_windows(reference, memory, 20.0, 0.0)
    assert kept != plain, "keep_firing_for should change windows in this history"
    assert_same_windows(_windows(rule), kept, "as written", within=0.0)
    (whatif,) = rule["whatif"]
    assert whatif["changed"] == {"keep_firing_for_s": 0}
    assert_same_windows(_windows(whatif), plain, "keep_firing_for 0s", within=0.0)
    # every window kept open ends 40 s (four evaluations) after the condition last held
    for key, windows in kept.items():
        for _, end in windows:
            if end < reference.end:
                assert not memory(key, end)


def test_the_same_history_gives_the_same_windows_on_both_engines(
    reference: Reference, victoria: VictoriaMetricsServer, tmp_path: Path
) -> None:
    # groups neither engine has loaded: both evaluate at multiples of the interval (else
    # Prometheus at its own groups' offsets, VictoriaMetrics without them at multiples)
    rules = tmp_path / "elsewhere.yml"
    rules.write_text(RULES.replace("name: backtest-", "name: elsewhere-"))
    prom = _backtest(reference.stack.url, reference, rules)
    vm = _backtest(victoria.url, reference, rules)
    fired = 0
    for a, b in zip(prom["rules"], vm["rules"], strict=True):
        assert a["name"] == b["name"] and a["error"] is None and b["error"] is None
        what = f"VictoriaMetrics vs Prometheus {a['name']}"
        assert_same_windows(_windows(b), _windows(a), what, within=0.0)
        assert a["fired"] == b["fired"] and a["firing_s"] == b["firing_s"], what
        fired += a["fired"]
    assert fired >= 20, "the history should make these rules fire often"


@pytest.mark.parametrize("engine", ["prometheus", "victoriametrics"])
def test_each_evaluation_reads_its_own_slot_off_the_steps_multiples(
    engine: str, reference: Reference, request: pytest.FixtureRequest
) -> None:
    """A group's slots sit at an offset in its interval. VictoriaMetrics moves a range query
    of 50 points or more onto multiples of the step unless told not to: the values read at
    each slot must be the raw samples' at that very instant, on both engines."""
    url = reference.stack.url
    if engine == "victoriametrics":
        url = request.getfixturevalue("victoria").url
    # every 15 s at 6 s past: moved onto multiples of 15 s, some slot of each pair would read
    # a sample 10 s older, whatever the phase of the 10 s samples
    grid = Grid.over(reference.start, reference.end, 15.0, offset_s=6.0)
    assert grid.time(0) % 15.0 == pytest.approx(6.0) and grid.count > 50

    async def read() -> dict[Series, list[float]]:
        async with PrometheusClient(url, timeout=30.0) as client:
            values = await Fetcher(RemoteEngine(client)).values("DCGM_FI_DEV_GPU_TEMP", grid)
        return {(dict(k)["Hostname"], dict(k)["gpu"]): list(v) for k, v in values.items()}

    got = asyncio.run(read())
    raw = reference.samples["DCGM_FI_DEV_GPU_TEMP"]
    assert set(got) == set(raw)
    for key, values in got.items():
        want = [_value_at(raw[key], grid.time(i)) for i in range(grid.count)]
        assert [None if v != v else v for v in values] == want, f"{engine} {key}"


def test_a_recorded_series_the_engine_lacks_is_worked_out_from_its_recording_rule(
    reference: Reference, rules_file: Path
) -> None:
    # Prometheus records the series only since it started: not over the replayed range
    assert reference.stack.engine.query("gpu:memory_used:percent", at=reference.start) == []
    report = _backtest(
        reference.stack.url, reference, rules_file, "--rule", "GPUMemoryHighRecorded"
    )
    (rule,) = report["rules"]
    assert rule["error"] is None
    memory = _conditions(reference.samples)["GPUMemoryHigh"]
    want = reference_windows(reference, memory, 20.0, 40.0, group="backtest-recorded")
    without_gpu0 = {key: w for key, w in want.items() if key[1] != "0"}
    assert without_gpu0 != want, "GPU 0 fires in this history: the matcher must drop it"
    assert_same_windows(_windows(rule), without_gpu0, "recorded", within=0.0)


def test_without_a_file_the_rules_prometheus_has_loaded_are_replayed(
    reference: Reference, rules_file: Path
) -> None:
    from_files = _backtest(reference.stack.url, reference, rules_file)
    from_server = _backtest(reference.stack.url, reference, None)
    by_name = {r["name"]: r for r in from_server["rules"]}
    assert sorted(by_name) == sorted(r["name"] for r in from_files["rules"])
    for a in from_files["rules"]:
        b = by_name[a["name"]]
        assert (b["interval_s"], b["for_s"], b["keep_firing_for_s"]) == (
            a["interval_s"],
            a["for_s"],
            a["keep_firing_for_s"],
        )
        assert_same_windows(_windows(b), _windows(a), f"from the server {a['name']}", within=0.0)
