"""The rules panel's rows laid out at a width, and which of them are on screen: plain
functions, no app. What must hold at every width: the rule name is cut only when nothing
else can give way, the GPU and node stay, an unknown row's reason uses the whole width, and
every row not shown is counted."""

from __future__ import annotations

import re

import pytest

from gputop.core.models import Job
from gputop.rules.model import RuleStatus
from gputop.ui.views.rules import RowCache, RuleRow, panel_order, rows_needed, rule_row
from gputop.ui.views.rules_lines import (
    CURSOR_W,
    STATE_W,
    RuleColumns,
    counted,
    fit_detail,
    fit_title,
    row_line,
    shorten_middle,
    window,
)

NODE = {"Hostname": "sim-node-01"}


def st(name: str, state: str, gpu: str = "3", **kw: object) -> RuleStatus:
    kw.setdefault("value", 88.0)
    kw.setdefault("op", ">")
    kw.setdefault("threshold", 85.0)
    return RuleStatus(name, state, labels={"gpu": gpu, **NODE}, **kw)  # type: ignore[arg-type]


def text(line: tuple[tuple[str, str], ...]) -> str:
    return "".join(t for t, _ in line)


FIRING = st("GPUTemperatureHigh", "firing", active_at=1000.0, for_s=60.0)
PENDING = st("GPUHighMemoryUsage", "pending", gpu="12", active_at=1000.0, for_s=120.0)
UNKNOWN = RuleStatus(
    "GPUStuckJob", "unknown", reason="needs Prometheus: metric t2v_jobs_completed_total"
)


@pytest.mark.parametrize("width", [76, 96, 116])  # the panel's content at 80, 100, 120 columns
def test_rule_gpu_and_node_are_whole_at_every_terminal_width(width: int) -> None:
    rows = [rule_row(s, (), now=1030.0) for s in (FIRING, PENDING)]
    cols = RuleColumns.fit(width, rows)
    for row in rows:
        line = text(row_line(row, cols))
        assert len(line) <= width
        assert row.title in line, line  # "GPUTemperatureHigh · GPU 3 @ sim-node-01"
        assert line.endswith(" 88 vs > 85") or row.short in line or row.detail in line
    # the countdown stays, in the short form if need be; the start of firing from 100 columns
    assert re.search(r"(fires )?in 1m30s", text(row_line(rows[1], cols)))
    assert ("since" in text(row_line(rows[0], cols))) == (width > 76)


def test_the_sparkline_then_the_detail_give_way_before_the_name() -> None:
    long = st("GPUTemperatureHighOnTheInferenceFleet", "near", eta_s=95.0, history=(1.0,) * 20)
    row = rule_row(long, long.history)
    wide = RuleColumns.fit(120, [row])
    assert wide.spark_w > 0 and "trend crosses in 1m35s" in text(row_line(row, wide))
    narrow = RuleColumns.fit(94, [row])
    assert narrow.spark_w == 0  # the sparkline went first
    line = text(row_line(row, narrow))
    assert row.title in line and line.endswith("88 vs > 85 eta 1m35s")  # then the detail's
    line = text(row_line(row, RuleColumns.fit(86, [row])))
    assert row.title in line and line.endswith(" 88 vs > 85")  # then all but the value
    tiny = RuleColumns.fit(50, [row])
    line = text(row_line(row, tiny))
    assert "…" in line and line.count("@ sim-node-01") == 1  # the name cut in its middle
    assert line.endswith(" 88 vs > 85")  # the value against its threshold, never cut


def test_blank_columns_go_to_the_title_so_details_line_up_on_the_right() -> None:
    rows = [rule_row(FIRING, ()), rule_row(st("X", "ok", gpu="1"), ())]
    cols = RuleColumns.fit(116, rows)
    assert CURSOR_W + STATE_W + cols.title_w + 1 + cols.spark_w + 1 + cols.detail_w == 116
    starts = [text(row_line(r, cols)).index(r.detail) for r in rows]
    assert starts[0] == starts[1]


def test_an_unknown_rows_reason_runs_over_the_whole_width() -> None:
    rows = [rule_row(UNKNOWN, ()), rule_row(FIRING, ())]
    cols = RuleColumns.fit(116, rows)
    line = text(row_line(rows[0], cols))
    assert line.endswith("GPUStuckJob — needs Prometheus: metric t2v_jobs_completed_total")


def test_shorten_middle_and_fit_title() -> None:
    assert shorten_middle("GPUTemperatureHigh", 18) == "GPUTemperatureHigh"
    assert shorten_middle("GPUTemperatureHigh", 9) == "GPUT…High"
    row = rule_row(FIRING, ())
    assert fit_title(row, 40) == "GPUTemperatureHigh · GPU 3 @ sim-node-01"
    assert fit_title(row, 30) == "GPUT…igh · GPU 3 @ sim-node-01"  # the GPU and node stay
    assert fit_title(row, 12) == "GPUTem…de-01"  # nothing else left: the whole title


def test_the_window_keeps_the_cursor_in_view_and_counts_the_rest() -> None:
    assert window(5, 10, 0) == window(5, 10, 7)  # everything fits: no scrolling
    w = window(20, 6, 0)
    assert (w.top, w.count, w.above, w.below) == (0, 5, False, True)  # 5 rows + "+15 more"
    w = window(20, 6, 0, cursor=9)
    assert w.top <= 9 < w.top + w.count and w.above and w.below
    w = window(20, 6, 30, cursor=19)
    assert (w.top + w.count, w.below) == (20, False)  # the last row, no blank below
    assert counted([rule_row(s, ()) for s in (FIRING, FIRING, UNKNOWN)]) == "2 firing, 1 unknown"


def test_panel_order_is_worst_first_and_stable_within_a_state() -> None:
    near = [st("GPUBusy", "near", gpu=str(i), value=0.9 - i / 100, threshold=0.95) for i in (10, 2)]
    order = panel_order([*near, PENDING, st("A", "ok"), UNKNOWN, FIRING])
    assert [s.state for s in order] == ["firing", "pending", "near", "near", "unknown", "ok"]
    # by GPU index as a number, not by how near: rows keep their places as values move
    assert [s.labels["gpu"] for s in order if s.state == "near"] == ["2", "10"]
    moved = [
        st("GPUBusy", "near", gpu="2", value=0.5, threshold=0.95),
        st("GPUBusy", "near", gpu="10", value=0.94, threshold=0.95),
    ]
    assert [s.labels["gpu"] for s in panel_order(moved)] == ["2", "10"]


def test_rows_needed_counts_every_active_row_and_the_more_line() -> None:
    assert rows_needed([]) == 0
    assert rows_needed([FIRING, PENDING]) == 2
    assert rows_needed([FIRING, PENDING, UNKNOWN]) == 3
    assert rows_needed([FIRING, UNKNOWN], stale=True) == 3


def test_row_cache_rewords_only_pending_rows_as_time_passes() -> None:
    cache = RowCache()
    statuses = [FIRING, PENDING]  # PENDING fires at 1120
    sparks: dict[object, tuple[float, ...]] = {}
    first = cache.rows(statuses, sparks, 1030.0)
    assert first[1].detail.endswith("fires in 1m30s")
    later = cache.rows(statuses, sparks, 1031.0)
    assert first[0] is later[0]  # firing: the same row
    assert later[1] is first[1]  # minutes away: the countdown moves in 5 s steps
    assert cache.rows(statuses, sparks, 1035.0)[1].detail.endswith("fires in 1m25s")
    # in the last minute, every second, and never up
    shown = [cache.rows(statuses, sparks, t)[1].detail for t in (1061.0, 1062.0, 1063.0)]
    assert [d.rsplit(" ", 1)[1] for d in shown] == ["59s", "58s", "57s"]


def test_a_firing_rows_pod_takes_the_blank_its_own_shorter_detail_leaves() -> None:
    pod = Job("pod", name="t2v-serve-sim-node-00-3", namespace="t2v")
    firing = st("JobsGpuHotByGpu", "firing", value=89.0, threshold=80.0, active_at=1000.0,
                for_s=60.0, jobs=(pod,))  # fmt: skip
    near = st("GPUTemperatureHigh", "near", gpu="5", eta_s=95.0, history=(1.0,) * 20)
    rows = [rule_row(s, s.history, now=1100.0) for s in (firing, near)]
    # widths where the near row's longer detail sizes the column and no sparkline fits
    lent = 0  # widths where the firing row's pod is whole only with its own detail's blank
    for width in range(70, 140):
        cols = RuleColumns.fit(width, rows)
        if cols.spark_w:
            break
        fire, other = (text(row_line(r, cols)) for r in rows)
        assert len(fire) <= width and len(other) <= width, (width, fire, other)
        detail = fit_detail_of(rows[0], cols)
        assert fire.endswith(" " + detail), (width, fire)  # the detail is never cut for it
        assert "GPU 3 @ sim-node-01 → " in fire, (width, fire)
        blank = cols.detail_w - len(detail)
        own = fit_title(rows[0], cols.title_w)
        if "…" not in fit_title(rows[0], cols.title_w + blank):
            assert "t2v-serve-sim-node-00-3" in fire, (width, fire)  # whole, never "t2v-…-3"
            lent += "…" in own
        if "…" not in own:  # nothing to lend for: the columns stay as they are
            assert f"{own} " in fire and fire.index(own) + len(own) <= 12 + cols.title_w
    assert lent, "no width needed the blank of the firing row's own detail"


def fit_detail_of(row: RuleRow, cols: RuleColumns) -> str:
    return fit_detail(row, cols.detail_w, short=cols.short)
