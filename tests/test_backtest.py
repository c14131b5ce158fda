"""The backtest's parts without a server: evaluation slots and chunks, the alert state machine,
expression rewriting, what the command line shows while it runs, and how a report writes
outside text (the near seam: `test_backtest_near`)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import json
import math
import re
from array import array
from collections.abc import Sequence

import promql_parser as pp
import pytest

from gputop.commands.rules_backtest import _progress_line, _shows_progress
from gputop.promql.analysis import analyse
from gputop.rules.backtest.grid import MAX_POINTS, Grid, steps_for
from gputop.rules.backtest.history import Fetcher
from gputop.rules.backtest.machine import FIRING, INACTIVE, PENDING, flap_gap, run_series
from gputop.rules.backtest.output import write_report
from gputop.rules.backtest.report import Gap, Outcome, Report, RuleResult, SeriesResult, Window
from gputop.rules.backtest.rewrite import (
    RecordSource,
    RewriteError,
    substitute_records,
    with_threshold,
)
from gputop.rules.model import RuleDef
from gputop.sources.prometheus import PromUnreachable
from gputop.sources.prometheus.api import PromSeries

# ---- slots and chunks ------------------------------------------------------------------------


def test_evaluations_fall_on_the_groups_slots_with_the_warm_up_before_the_start() -> None:
    grid = Grid.over(1000.0, 1100.0, 10.0, offset_s=3.5, warmup_s=30.0)
    assert grid.time(0) == 973.5  # the first slot at or after 1000 - 30
    assert grid.time(grid.start_index) == 1003.5  # the first reported: at or after 1000
    assert grid.time(grid.count - 1) == 1093.5
    assert grid.index(1023.5) == grid.start_index + 2
    assert grid.index(2000.0) is None


def test_for_counts_whole_evaluations_as_the_rule_manager_fires() -> None:
    assert steps_for(30.0, 10_000) == 3
    assert steps_for(15.0, 10_000) == 2  # pending at t, fires at t + 20 s
    assert steps_for(0.0, 10_000) == 0


def test_range_queries_never_exceed_the_engines_points_per_series() -> None:
    week = Grid.over(0.0, 7 * 86400.0, 10.0)
    spans = list(week.chunks(steps=50_000))
    assert max(hi - lo + 1 for lo, hi in spans) == MAX_POINTS
    assert spans[0][0] == 0 and spans[-1][1] == week.count - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))


class _Recorder:
    """An engine that answers one series with the value 1 at every point asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, float, float]] = []

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]:
        self.asked.append((start, end, step))
        await asyncio.sleep(0)
        n = round((end - start) / step) + 1
        times = array("d", [start + i * step for i in range(n)])
        return (PromSeries({"gpu": "0"}, times, array("d", [1.0]) * n),)

    def presence_query(self, metrics: Sequence[str]) -> str | None:
        return None


def test_a_query_over_a_grid_is_asked_in_chunks_and_laid_back_on_the_grid() -> None:
    engine = _Recorder()
    done: list[int] = []
    fetcher = Fetcher(engine, limit=2, steps=100, done=lambda: done.append(1))
    grid = Grid.over(0.0, 2500.0, 10.0)  # 251 evaluations
    values = asyncio.run(fetcher.values("x", grid))
    assert [round((e - s) / st) + 1 for s, e, st in engine.asked] == [100, 100, 51]
    assert len(done) == 3 == fetcher.chunks(grid)
    (column,) = values.values()
    assert list(column) == [1.0] * grid.count


# ---- the state machine -------------------------------------------------------------------------


def _run(held: str, *, for_s: float = 0.0, keep_s: float = 0.0, gaps: str = "") -> str:
    grid = Grid.over(0.0, 10.0 * (len(held) - 1), 10.0)
    holding = [c == "1" for c in held]
    missing = [c == "x" for c in gaps.ljust(len(held), ".")]
    run = run_series(holding, missing, grid, for_s=for_s, keep_s=keep_s)
    return "".join({INACTIVE: ".", PENDING: "p", FIRING: "F"}[s] for s in run.states)


def test_pending_then_firing_after_for_and_a_reset_before_it() -> None:
    assert _run("0111100110", for_s=20.0) == ".ppFF..pp."
    assert _run("0110", for_s=0.0) == ".FF."


def test_keep_firing_for_counts_from_the_first_evaluation_without_the_condition() -> None:
    assert _run("01110000", for_s=0.0, keep_s=20.0) == ".FFFFF.."
    # the condition back within keep_firing_for: still the same firing
    assert _run("01101100", for_s=0.0, keep_s=20.0) == ".FFFFFFF"


def test_an_engine_gap_freezes_the_states_instead_of_resolving() -> None:
    grid = Grid.over(0.0, 70.0, 10.0)
    run = run_series(
        [1, 1, 0, 0, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0, 0, 0], grid, for_s=0.0, keep_s=0.0
    )
    assert run.firing == [(0, 5)]  # one window across the gap
    assert run.pending_only == []


def test_windows_and_pending_that_never_fired() -> None:
    grid = Grid.over(0.0, 90.0, 10.0)
    run = run_series([0, 1, 0, 1, 1, 1, 0, 1, 1, 0], [0] * 10, grid, for_s=20.0, keep_s=0.0)
    assert run.firing == [(5, 5)]
    assert run.pending_only == [(1, 1), (7, 8)]
    assert flap_gap(grid, 20.0) == 3


# ---- rewriting ------------------------------------------------------------------------------


def test_a_recorded_series_is_replaced_by_its_rule_with_its_labels_and_matchers() -> None:
    records = {"gpu:mem:pct": RecordSource("sum by (gpu) (used)", {"team": "a"}, 30.0)}
    text = substitute_records('avg_over_time(gpu:mem:pct{gpu!="3"}[5m]) > 90', records)
    pp.parse(text)  # valid PromQL
    assert "gpu:mem:pct" not in text
    assert "[300s:30s]" in text  # sampled at the recording rule's interval
    assert "label_replace(sum by (gpu) (used), \"team\", \"a\", '', '')" in text
    assert "unless on (gputop_backtest_match)" in text  # `!=` drops what matches
    assert analyse(text).comparison is not None
    assert substitute_records("other > 1", records) == "other > 1"
    with pytest.raises(RewriteError, match="offset"):
        substitute_records("gpu:mem:pct offset 5m > 1", records)


def test_a_threshold_changes_only_the_primary_comparison() -> None:
    text = with_threshold("(temp > 85) and on(gpu) util > 50", 90.0)
    analysis = analyse(text)
    assert [c.threshold for c in analysis.comparisons] == [90.0, 50.0]
    assert analysis.gated
    swapped = analyse(with_threshold("85 < temp", 90.0)).comparison
    assert swapped is not None and (swapped.op, swapped.threshold) == (">", 90.0)
    with pytest.raises(RewriteError):
        with_threshold("absent(temp)", 1.0)


# ---- the command line's own words ------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("fmt", "out_tty", "err_tty", "shown"),
    [
        ("text", True, True, True),
        ("text", False, True, True),
        ("json", True, True, True),
        ("json", False, True, False),  # JSON down a pipe: nothing but the JSON
        ("text", True, False, False),
    ],
)
def test_progress_is_shown_on_a_terminal_never_beside_json_on_a_pipe(
    fmt: str, out_tty: bool, err_tty: bool, shown: bool
) -> None:
    import argparse

    args = argparse.Namespace(format=fmt)
    out = _Tty() if out_tty else io.StringIO()
    err = _Tty() if err_tty else io.StringIO()
    assert _shows_progress(args, out, err) is shown


def test_the_progress_line_counts_queries_and_rules_and_is_erased(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gputop.commands.rules_backtest as cli

    monkeypatch.setattr(cli, "_PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(cli, "_PROGRESS_EVERY_S", 0.0)
    err = _Tty()
    progress = _progress_line(err)
    progress(3, 12, 1, 4)
    progress.close()
    assert err.getvalue() == (
        "\rgputop rules backtest: 3/12 queries · 1/4 rules replayed\x1b[K\r\x1b[K"
    )


# ---- what a report writes of outside text ------------------------------------------------------

#: A rule name from outside: OSC 52 (the clipboard), markup that would raise or run an action
#: on click, a C1 CSI byte and a bidi override.
HOSTILE = "Hot\x1b]52;c;ZWNobw==\x07[/][@click=app.quit]\x9b31m\u202e"
#: As `core.untrusted.visible` shows it.
SHOWN = "Hot␛]52;c;ZWNobw==␇[/][@click=app.quit]\\x9b31m\\u202e"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _hostile_report() -> Report:
    """A rule that fired (its name, group, file and labels from outside) and one whose replay
    failed with a reason quoting outside text, over a gap in the engine's data."""
    window = Window(1_000.0, 1_300.0)
    series = SeriesResult({"gpu": "0", "Hostname": HOSTILE}, (window,), (), 300.0, 0, 1)
    fired = RuleResult(
        name=HOSTILE,
        group=f"g{HOSTILE}",
        source=f"rules{HOSTILE}.yml:4",
        interval_s=60.0,
        for_s=60.0,
        keep_firing_for_s=0.0,
        outcome=Outcome((series,), None),
    )
    failed = dataclasses.replace(
        fired, name=f"Cold{HOSTILE}", source=None, outcome=None, error=f"refused {HOSTILE}"
    )
    gap = Gap(2_000.0, 2_600.0, (HOSTILE,))
    return Report(0.0, 3_600.0, "http://127.0.0.1:9090", [fired, failed], [gap])


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_a_reports_outside_text_is_written_with_its_controls_visible(fmt: str) -> None:
    """Every place a report writes a rule's name, group, file, labels or error, and the rules
    of a gap or over --max-fires: as visible text (escaped in JSON), never raw."""
    out = io.StringIO()
    write_report(_hostile_report(), out, fmt, max_fires=0)
    text = out.getvalue()
    assert not RAW.search(text), repr(RAW.search(text))
    if fmt == "json":
        doc = json.loads(text)  # the names intact, once read back
        assert [r["name"] for r in doc["rules"]] == [HOSTILE, f"Cold{HOSTILE}"]
        assert doc["rules"][1]["error"] == f"refused {HOSTILE}"
        assert doc["gaps"][0]["rules"] == [HOSTILE]
        return
    if fmt == "text":
        assert f"Cold{SHOWN} (group g{SHOWN}, every 1m, for 1m)\n" in text
        assert f"\n  cannot be replayed: refused {SHOWN}\n" in text
        assert f"{SHOWN} (group g{SHOWN}, every 1m, for 1m)  rules{SHOWN}.yml:4" in text
        assert f"GPU 0 @ {SHOWN}: firing " in text  # the series' labels
        assert f"not counted as resolved) for {SHOWN}" in text  # the gap
        assert f"over --max-fires 0: {SHOWN} (1)" in text
    else:
        warning, error = sorted(text.splitlines(), reverse=True)
        assert warning.startswith(f"::warning file=rules{SHOWN}.yml,line=4,")
        assert warning.endswith(f"::{SHOWN} would have fired 1 times in 1h (--max-fires 0)")
        # the engine's own rule has no file: the annotation names the engine
        assert error == (
            "::error title=backtest::http://127.0.0.1:9090: "
            f"Cold{SHOWN}: cannot be replayed: refused {SHOWN}"
        )


class _Sine:
    """An engine with eight GPUs whose value swings across 85 every ten minutes."""

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]:
        n = round((end - start) / step) + 1
        times = array("d", [start + i * step for i in range(n)])
        return tuple(
            PromSeries(
                {"gpu": str(g)},
                times,
                array("d", [80 + 10 * math.sin(t / 300 + g) for t in times]),
            )
            for g in range(8)
        )

    def presence_query(self, metrics: Sequence[str]) -> str | None:
        return None


def test_rules_replayed_in_processes_give_what_a_thread_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gputop.rules.backtest.run as run

    rules = [
        RuleDef(name=f"Hot{k}", expr=f"temp > {84 + k}", for_s=60.0, interval_s=30.0)
        for k in range(3)
    ]
    options = run.Options(0.0, 6 * 3600.0, processes=2)
    threaded = asyncio.run(run.backtest(_Sine(), rules, options, label="x"))
    monkeypatch.setattr(run, "PROCESSES_FROM", 0)
    in_processes = asyncio.run(run.backtest(_Sine(), rules, options, label="x"))
    assert [r.as_json() for r in in_processes.rules] == [r.as_json() for r in threaded.rules]
    assert all(r.fired > 0 for r in threaded.rules)


class _Flaky(_Recorder):
    """An engine whose connection drops on the first query."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]:
        if self.failures:
            self.failures -= 1
            raise PromUnreachable("connection reset")
        return await super().query_range(expr, start, end, step)


def test_a_dropped_connection_is_asked_again_not_the_end_of_the_backtest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gputop.rules.backtest.history as history

    monkeypatch.setattr(history, "RETRY_DELAY_S", 0.0)
    engine = _Flaky()
    values = asyncio.run(Fetcher(engine).values("x", Grid.over(0.0, 100.0, 10.0)))
    assert engine.failures == 0 and len(engine.asked) == 1
    assert list(next(iter(values.values()))) == [1.0] * 11
