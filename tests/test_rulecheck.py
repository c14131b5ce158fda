"""`gputop rules check`: GNU-style findings, a summary line, exit 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gputop.commands.rules_check import main
from gputop.rules.builtin import builtin_path
from gputop.rules.lint import check_files

DATA = Path(__file__).parent / "data"
ARTICLE = str(DATA / "article-rules.yml")
_ENV = ("GPUTOP_CONFIG", "GPUTOP_PROFILE", "GPUTOP_PROMETHEUS_URL", "GPUTOP_PROMETHEUS_TOKEN")


@pytest.fixture(autouse=True)
def no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check reads the config like gputop does: never the user's own here."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def _lines_of(path: str, needle: str) -> int:
    """1-based line of the first line holding `needle` (so tests follow the data file)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_article_rules_report_both_mistakes(capsys: pytest.CaptureFixture[str]) -> None:
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
    assert out[-1] == "1 file, 4 rules: 0 errors, 2 warnings"


def test_article_for_1m_against_a_known_evaluation_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    temp_for = _lines_of(ARTICLE, "for: 1m")
    main([ARTICLE])  # no interval known: no guess
    assert f"{ARTICLE}:{temp_for}:" not in capsys.readouterr().out
    assert main(["--eval-interval", "2m", ARTICLE]) == 1
    assert f"{ARTICLE}:{temp_for}:10: warning: for: 1m is shorter than the evaluation interval" in (
        capsys.readouterr().out
    )
    for equal_or_shorter in ("1m", "30s", "45s"):
        main(["--eval-interval", equal_or_shorter, ARTICLE])
        assert f"{ARTICLE}:{temp_for}:" not in capsys.readouterr().out


def test_builtin_pack_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(builtin_path())]) == 0
    assert capsys.readouterr().out == "1 file, 5 rules: 0 errors, 0 warnings\n"


def test_syntax_error_exits_2_with_file_line_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: DCGM_FI_DEV_GPU_TEMP >\n",
        encoding="utf-8",
    )
    assert main([str(bad), ARTICLE]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{bad}:5:11: error: rule Broken: PromQL: invalid promql query [syntax]"
    assert out[-1] == "2 files, 4 rules: 1 error, 2 warnings"


def test_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.yml")]) == 2
    assert (
        capsys.readouterr().out.splitlines()[0]
        == f"{tmp_path / 'nope.yml'}: error: no such rule file [file]"
    )


def _check(tmp_path: Path, rules: str, **kw: Any) -> list[str]:
    path = tmp_path / "r.yml"
    body = textwrap.indent(textwrap.dedent(rules), "      ")
    path.write_text(f"groups:\n  - name: g\n    rules:\n{body}", encoding="utf-8")
    return [str(f) for f in check_files([str(path)], **kw).findings]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL > 100\n", "`> 100` can never fire"),
        ("- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL >= 0\n", "always holds"),
        ("- alert: A\n  expr: avg_over_time(DCGM_FI_PROF_DRAM_ACTIVE[5m]) < 2\n", "always holds"),
        ("- alert: A\n  expr: DCGM_FI_DEV_FB_USED < 0\n", "can never fire"),
        ("- alert: A\n  expr: DCGM_FI_PROF_GR_ENGINE_ACTIVE == 95\n", "`== 95` can never fire"),
        (
            "- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMPRATURE > 85\n",
            "unknown metric DCGM_FI_DEV_GPU_TEMPRATURE: no exporter exports it; "
            "did you mean DCGM_FI_DEV_GPU_TEMP?",
        ),
        (
            "- alert: A\n  expr: dcgm_gpu_temperature > 85\n",
            "did you mean dcgm_gpu_temp (1.x), now DCGM_FI_DEV_GPU_TEMP?",
        ),
        (
            "- alert: A\n  expr: dcgm_fb_used > 70000\n",
            "dcgm_fb_used is a dcgm-exporter 1.x name; since 2.0 the metric is DCGM_FI_DEV_FB_USED",
        ),
        (
            "- alert: A\n  expr: DCGM_FI_DEV_FB_USED{DCGM_FI_DRIVER_VERSION!=''} > 0\n"
            "- alert: B\n  expr: DCGM_FI_DRIVER_VERSION > 0\n",
            "DCGM_FI_DRIVER_VERSION is a label dcgm-exporter puts on every series",
        ),
        (
            "- alert: A\n  expr: t2v_inference_duration_seconds > 300\n",
            "t2v_inference_duration_seconds is a histogram: select",
        ),
        (
            "- alert: A\n  expr: t2v_inference_duration_second_bucket > 300\n",
            "did you mean t2v_inference_duration_seconds_bucket?",
        ),
        (
            "- alert: A\n  expr: DCGM_FI_DEV_PCIE_REPLAY_COUNTER > 10\n",
            "DCGM_FI_DEV_PCIE_REPLAY_COUNTER is a counter, compared raw (`> 10`)",
        ),
        (
            "- alert: A\n  expr: max_over_time(t2v_jobs_completed_total[1h]) < 5\n",
            "t2v_jobs_completed_total is a counter, compared raw (`< 5`)",
        ),
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
def test_warnings(tmp_path: Path, rule: str, expected: str) -> None:
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
        "- alert: A\n  expr: gpu_temprature > 85\n",  # not dcgm-exporter's: not ours to judge
        "- alert: A\n  expr: node_filesystem_files_free / node_filesystem_files < 0.1\n",
        "- alert: A\n  expr: rate(kube_pod_container_status_restarts_total[15m]) > 0\n",
        "# gputop: disable=default-export\n- alert: A\n  expr: DCGM_FI_DEV_ECC_DBE_VOL_TOTAL > 0\n",
        "- alert: A\n  expr: DCGM_FI_DEV_CLOCK_THROTTLE_REASONS > 0"
        "  # gputop: disable=default-export\n",
        "- alert: A\n  expr: DCGM_FI_DEV_ROW_REMAP_FAILURE == 1\n",
        "- alert: A\n  expr: increase(DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS[1h]) > 10\n",
        "- alert: A\n  expr: DCGM_FI_DEV_XID_ERRORS > 0\n",
        "- alert: A\n  expr: DCGM_FI_DEV_ECC_DBE_VOL_TOTAL > 0  # gputop: disable=default-export\n",
        "- alert: A\n  expr: absent(DCGM_FI_DEV_GPU_TEMP)\n",
        "- alert: A\n  expr: DCGM_FI_DEV_FB_USED / 1024 > 70\n",
    ],
)
def test_no_false_alarms(tmp_path: Path, rule: str) -> None:
    assert _check(tmp_path, rule) == []


def test_group_interval_decides_the_for_warning(tmp_path: Path) -> None:
    rule = "- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMP > 85\n  for: 1m\n"
    assert _check(tmp_path, rule) == []  # no interval known
    assert _check(tmp_path, rule, eval_interval_s=60.0) == []  # equal: upstream does it
    found = _check(tmp_path, rule, eval_interval_s=90.0)
    assert len(found) == 1 and "for: 1m is shorter than the evaluation interval (1m30s" in found[0]
    assert "--eval-interval" in found[0] and "it fires 1m30s after the first" in found[0]
    path = tmp_path / "g.yml"
    path.write_text(
        "groups:\n  - name: g\n    interval: 5m\n    rules:\n"
        "      - alert: A\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 3m\n"
        "      - alert: B\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 7m\n",
        encoding="utf-8",
    )
    findings = check_files([str(path)], eval_interval_s=15.0).findings
    assert [(f.line, f.col, f.severity) for f in findings] == [(7, 14, "warning")]
    assert "(5m, the group's interval)" in findings[0].message


def test_a_for_not_a_multiple_of_the_interval_is_no_mistake(tmp_path: Path) -> None:
    # Prometheus rounds it up: for: 15s at 10 s fires at the third evaluation, as meant
    rule = "- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMP > 85\n  for: 15s\n"
    assert _check(tmp_path, rule, eval_interval_s=10.0) == []


def test_verbose_notes_a_for_the_rule_manager_rounds_up_without_counting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.yml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: A\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 15s\n"
        "      - alert: B\n        expr: DCGM_FI_DEV_GPU_TEMP > 85\n        for: 20s\n",
        encoding="utf-8",
    )
    assert main(["--eval-interval", "10s", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["1 file, 2 rules: 0 errors, 0 warnings"]
    assert main(["--verbose", "--eval-interval", "10s", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:6:14: note: for: 15s is not a multiple of the evaluation interval (10s, "
        "--eval-interval): the rule fires at the 3rd evaluation that finds it true, 20s after "
        "the first, not 15s (the rule manager rounds up; `for: 20s` says so) [for-interval]",
        "1 file, 2 rules: 0 errors, 0 warnings, 1 note",
    ]
    assert main(["-v", "--format", "github", "--eval-interval", "10s", str(path)]) == 0
    assert capsys.readouterr().out.startswith(
        f"::notice file={path},line=6,col=14,title=for-interval::for: 15s is not a multiple"
    )
    assert main(["-v", "--format", "json", "--eval-interval", "10s", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["warnings"], doc["notes"]) == (0, 1)
    assert [(f["rule"], f["severity"]) for f in doc["findings"]] == [("A", "note")]
    assert main(["-v", "--disable", "for-interval", "--eval-interval", "10s", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["1 file, 2 rules: 0 errors, 0 warnings"]


@pytest.mark.parametrize(
    ("for_", "interval", "expected"),
    [
        ("35s", 10.0, "fires at the 5th evaluation that finds it true, 40s after the first"),
        ("95s", 10.0, "fires at the 11th evaluation that finds it true, 1m40s after the first"),
        ("90s", 60.0, "fires at the 3rd evaluation that finds it true, 2m after the first"),
        ("1m", 60.0, None),  # equal: upstream does it
        ("3m", 60.0, None),  # a multiple
        ("30s", 60.0, "warning"),  # shorter: a mistake, not a note
    ],
)
def test_the_note_counts_the_evaluations(
    tmp_path: Path, for_: str, interval: float, expected: str | None
) -> None:
    rule = f"- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMP > 85\n  for: {for_}\n"
    path = _file(tmp_path, rule)
    found = check_files([path], eval_interval_s=interval, verbose=True).findings
    if expected is None:
        assert found == []
    elif expected == "warning":
        assert [f.severity for f in found] == ["warning"]
    else:
        assert [f.severity for f in found] == ["note"] and expected in found[0].message
        assert check_files([path], eval_interval_s=interval).findings == []


def test_module_entry_point(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "gputop.commands.rules_check", ARTICLE],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "1 file, 4 rules: 0 errors, 2 warnings"
    assert proc.stderr == ""


def _file(tmp_path: Path, rules: str, name: str = "r.yml") -> str:
    path = tmp_path / name
    body = textwrap.indent(textwrap.dedent(rules), "      ")
    path.write_text(f"groups:\n  - name: g\n    rules:\n{body}", encoding="utf-8")
    return str(path)


def test_checks_are_turned_off_by_flag_config_and_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(
        tmp_path,
        """\
        - alert: A
          expr: DCGM_FI_DEV_FAN_SPEED < 10
          for: 30s
        - alert: B  # gputop: disable=for-interval, default-exports
          expr: DCGM_FI_DEV_GPU_TEMP > 85
          for: 30s
        """,
    )
    assert main(["--eval-interval", "1m", path]) == 1
    out = capsys.readouterr().out
    assert "[default-export]" in out and out.count("[for-interval]") == 1
    assert "r.yml:7:51: warning: no check is named 'default-exports'" in out
    flags = ["--disable", "default-export,for-interval", "--disable", "disable-comment"]
    assert main([*flags, "--eval-interval", "1m", path]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 file, 2 rules: 0 errors, 0 warnings"
    config = tmp_path / "gputop.toml"
    config.write_text(
        '[rules]\ndisabled_checks = ["default-export", "disable-comment"]\neval_interval = "15s"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), path]) == 0  # 30s is longer than 15 s
    config.write_text('[rules]\ndisabled_checks = ["default-export", "disable-comment"]\n')
    assert main(["--config", str(config), path]) == 0  # no interval known
    config.write_text('[rules]\ndisabled_checks = ["default-export"]\neval_interval = "1m"\n')
    assert main(["--config", str(config), path]) == 1
    assert capsys.readouterr().out.count("[for-interval]") == 1


def test_bad_flags_and_config_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "- alert: A\n  expr: up == 0\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--disable", "nope", path])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --disable: no check is named 'nope'" in err
    config = tmp_path / "bad.toml"
    config.write_text('[rules]\ndisabled_checks = ["nope"]\n', encoding="utf-8")
    assert main(["--config", str(config), path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{config}:2: [rules] disabled_checks: no check" in err


def test_without_an_interval_known_no_interval_is_assumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "- alert: A\n  expr: up == 0\n  for: 30s\n")
    assert main([path]) == 0
    assert main(["--eval-interval", "1m", path]) == 1
    assert "for: 30s is shorter than the evaluation interval (1m, --eval-interval)" in (
        capsys.readouterr().out
    )


def test_a_file_of_recording_rules_says_it_has_no_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "- record: job:up:sum\n  expr: sum(up)\n")
    assert main([path, ARTICLE]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"2 files, 5 rules: 0 errors, 2 warnings; no alerting rules in {path}"
    )


def test_a_second_document_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.yml"
    path.write_text(
        "groups: [{name: a, rules: [{alert: A, expr: up == 0}]}]\n---\n"
        "groups: [{name: b, rules: [{alert: B, expr: up == 0}]}]\n",
        encoding="utf-8",
    )
    assert main([str(path)]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{path}:3:1: warning: Prometheus reads only the first YAML document")
    assert first.endswith("[ignored-document]")


def test_an_unreachable_server_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.prometheus_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--prometheus", url, ARTICLE]) == 2
    out = capsys.readouterr().out.splitlines()
    server = [line for line in out if line.startswith(url)]
    assert server == [f"{url}: error: cannot check against Prometheus: unreachable [prometheus]"]
    config = tmp_path / "c.toml"
    config.write_text(f'[prometheus]\nurl = "{url}"\n', encoding="utf-8")
    assert main(["--config", str(config), ARTICLE]) == 2  # the config's server is used
    assert main(["--config", str(config), "--offline", ARTICLE]) == 1


def test_rules_check_through_the_gputop_command(capsys: pytest.CaptureFixture[str]) -> None:
    from gputop.cli import main as gputop

    assert gputop(["rules", "check", "--format", "github", ARTICLE]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"::warning file={ARTICLE},line=7,col=11,title=memory-usage::")


@pytest.mark.parametrize(
    ("name", "expr", "expected"),
    [
        ("gpu_throttled_seconds", "DCGM_FI_DEV_POWER_VIOLATION", "in ns, as DCGM_FI_DEV_POWER_"),
        ("gpu_busy_percent", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "multiply by 100"),
        ("gpu_energy_joules", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "divide by 1000"),
        ("gpu_power_celsius", "DCGM_FI_DEV_POWER_USAGE", "promises °C by its name, but its"),
        ("node:gpu_fb_free_bytes:sum", "sum(DCGM_FI_DEV_FB_FREE)", "multiply by 1048576"),
        ("gpu_fb_used_percent", "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE", "multiply by 100"),
    ],
)
def test_unit_suffix_mismatches(tmp_path: Path, name: str, expr: str, expected: str) -> None:
    found = _check(
        tmp_path,
        f"- record: {name}\n  expr: {expr}\n",
    )
    found = [f for f in found if "[default-export]" not in f]
    assert len(found) == 1 and expected in found[0] and "[unit-suffix]" in found[0], found


@pytest.mark.parametrize(
    ("name", "expr"),
    [
        ("gpu_temp_celsius", "max by (gpu) (DCGM_FI_DEV_GPU_TEMP)"),
        ("gpu_power_watts", "avg_over_time(DCGM_FI_DEV_POWER_USAGE[5m])"),
        ("gpu_util_percent", "DCGM_FI_DEV_GPU_UTIL"),
        ("gpu_busy_ratio", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
        ("gpu_fb_used_ratio", "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"),
        (
            "gpu_fb_used_percent",
            "100 * DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
        ),
        ("gpu_sm_clock_hertz", "DCGM_FI_DEV_SM_CLOCK * 1e6"),
        ("gpu_fb_used_bytes", "DCGM_FI_DEV_FB_USED * 2^20"),  # unknown (power): never reported
        ("instance:node_cpu_seconds:rate5m", "rate(node_cpu_seconds_total[5m])"),
        (
            "p95_latency_seconds",
            "histogram_quantile(0.95, sum by (le) (rate(t2v_inference_duration_seconds_bucket[5m])"
            "))",
        ),
        ("job:energy_joules:sum", "sum(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION) / 1000"),
    ],
)
def test_units_that_match_their_suffix(tmp_path: Path, name: str, expr: str) -> None:
    assert _check(tmp_path, f"- record: {name}\n  expr: {expr}\n") == []


def test_a_server_that_fails_every_query_is_said_not_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path.startswith("/api/v1/metadata")
            body = b'{"status":"success","data":{}}' if ok else b"overloaded"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert main(["--prometheus", url, ARTICLE]) == 2
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out.splitlines()
    assert f"{url}: error: 4 selectors not checked against Prometheus: HTTP 503" in out[-2]


def test_each_impossible_comparison_at_its_own_selector(tmp_path: Path) -> None:
    rules = (
        "- alert: A\n  expr: |\n"
        "    max(DCGM_FI_PROF_GR_ENGINE_ACTIVE) > 95\n"
        "    or count(DCGM_FI_DEV_GPU_UTIL > 100) > 0\n"
        "    or sum(DCGM_FI_PROF_GR_ENGINE_ACTIVE) > 95\n"
        "    or DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100 > 95\n"
        "    or 0.5 > DCGM_FI_PROF_SM_ACTIVE\n"
    )
    found = [f for f in _check(tmp_path, rules) if "[metric-range]" in f or "[default" in f]
    where = [[*f.split(": warning: ")[0].rsplit(":", 2)[1:], f.rsplit("[", 1)[1]] for f in found]
    assert where == [
        ["6", "15", "metric-range]"],
        ["7", "20", "metric-range]"],
        ["10", "20", "default-export]"],  # not exported by default, and yet in range
    ]
