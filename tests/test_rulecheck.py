"""`gputop rules check`: GNU-style findings, a summary line, exit 0/1/2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gputop.rules.builtin import builtin_path
from gputop.rules.lint import check_files, main

DATA = Path(__file__).parent / "data"
ARTICLE = str(DATA / "article-rules.yml")


def _lines_of(path: str, needle: str) -> int:
    """1-based line of the first line holding `needle` (so tests follow the data file)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_article_rules_report_both_mistakes(capsys):
    code = main([ARTICLE])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    busy_line = _lines_of(ARTICLE, "DCGM_FI_PROF_GR_ENGINE_ACTIVE > 95")
    mem_line = _lines_of(ARTICLE, "DCGM_FI_DEV_MEM_COPY_UTIL")
    assert (busy_line, mem_line) == (15, 7)
    busy = [line for line in out if line.startswith(f"{ARTICLE}:{busy_line}:")]
    assert len(busy) == 1
    assert ": warning: DCGM_FI_PROF_GR_ENGINE_ACTIVE is a ratio 0–1" in busy[0]
    assert "can never fire" in busy[0] and "> 0.95" in busy[0]
    mem = [line for line in out if line.startswith(f"{ARTICLE}:{mem_line}:")]
    assert len(mem) == 1
    assert "DCGM_FI_DEV_MEM_COPY_UTIL" in mem[0] and "not memory usage" in mem[0]
    assert "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)" in mem[0]
    assert out[-1] == "1 file, 4 rules: 0 errors, 3 warnings"


def test_article_for_1m_against_the_evaluation_interval(capsys):
    temp_for = _lines_of(ARTICLE, "for: 1m")
    main([ARTICLE])
    assert f"{ARTICLE}:{temp_for}:10: warning: for: 1m is shorter than two evaluation" in (
        capsys.readouterr().out
    )
    assert main(["--eval-interval", "30s", ARTICLE]) == 1
    assert f"{ARTICLE}:{temp_for}:" not in capsys.readouterr().out


def test_builtin_pack_is_clean(capsys):
    assert main([str(builtin_path())]) == 0
    assert capsys.readouterr().out == "1 file, 5 rules: 0 errors, 0 warnings\n"


def test_syntax_error_exits_2_with_file_line_col(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: DCGM_FI_DEV_GPU_TEMP >\n",
        encoding="utf-8",
    )
    assert main([str(bad), ARTICLE]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{bad}:5:11: error: rule Broken: PromQL: invalid promql query"
    assert out[-1] == "2 files, 4 rules: 1 error, 3 warnings"


def test_missing_file_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope.yml")]) == 2
    assert (
        capsys.readouterr().out.splitlines()[0]
        == f"{tmp_path / 'nope.yml'}: error: no such rule file"
    )


def _check(tmp_path: Path, rules: str, **kw: float) -> list[str]:
    path = tmp_path / "r.yml"
    body = textwrap.indent(textwrap.dedent(rules), "      ")
    path.write_text(f"groups:\n  - name: g\n    rules:\n{body}", encoding="utf-8")
    return [str(f) for f in check_files([str(path)], **kw).findings]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL > 100\n", "`> 100` can never fire"),
        ("- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL >= 0\n", "always holds"),
        ("- alert: A\n  expr: avg_over_time(DCGM_FI_PROF_SM_ACTIVE[5m]) < 2\n", "always holds"),
        ("- alert: A\n  expr: DCGM_FI_DEV_FB_USED < 0\n", "can never fire"),
        ("- alert: A\n  expr: DCGM_FI_PROF_GR_ENGINE_ACTIVE == 95\n", "`== 95` can never fire"),
        ("- alert: A\n  expr: gpu_temprature > 85\n", "unknown metric gpu_temprature"),
        (
            "- alert: A\n  expr: rate(DCGM_FI_DEV_GPU_TEMP[5m]) > 1\n",
            "rate() of DCGM_FI_DEV_GPU_TEMP",
        ),
        (
            "- alert: GPUOutOfMemory\n  expr: DCGM_FI_DEV_MEM_COPY_UTIL > 95\n",
            "not memory usage",
        ),
    ],
)
def test_warnings(tmp_path, rule, expected):
    found = _check(tmp_path, rule)
    assert len(found) == 1 and expected in found[0], found
    assert ": warning: " in found[0]


@pytest.mark.parametrize(
    "rule",
    [
        "- alert: A\n  expr: DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100 > 95\n",
        "- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL > bool 100\n",
        "- alert: MemBusBusy\n  expr: DCGM_FI_DEV_MEM_COPY_UTIL > 95\n",
        "- alert: A\n  expr: t2v_inference_duration_seconds_count > 0\n",
        "- alert: A\n  expr: rate(t2v_jobs_completed_total[5m]) == 0\n  for: 2m\n",
        "- record: job:util\n  expr: avg(DCGM_FI_DEV_GPU_UTIL)\n"
        "- alert: A\n  expr: job:util > 90\n",
    ],
)
def test_no_false_alarms(tmp_path, rule):
    assert _check(tmp_path, rule) == []


def test_group_interval_decides_the_for_warning(tmp_path):
    rule = "- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMP > 85\n  for: 1m\n"
    assert len(_check(tmp_path, rule)) == 1
    assert _check(tmp_path, rule, eval_interval_s=15.0) == []
    path = tmp_path / "g.yml"
    path.write_text(
        "groups:\n  - name: g\n    interval: 2m\n    rules:\n"
        "      - alert: A\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 3m\n",
        encoding="utf-8",
    )
    findings = check_files([str(path)], eval_interval_s=15.0).findings
    assert [(f.line, f.col, f.severity) for f in findings] == [(7, 14, "warning")]


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "gputop.rules.lint", ARTICLE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "1 file, 4 rules: 0 errors, 3 warnings"
    assert proc.stderr == ""
