"""The command line against hostile servers and hostile input: `--once` text, and `rules check`
and `rules backtest` text, GitHub and JSON output, carry no raw control character from data;
an answer no parser can use makes `--once --check` say 3 (unknown) and `rules check
--prometheus` say 2; bad flags, paths and URLs are one line naming them, exit 2, never a
traceback."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_gputop
from tests.support.hostile_server import Answer, HostileServer, hostile, nested_json

#: What must never reach a terminal from data: ESC, BEL, C1 controls, bidi overrides.
RAW = re.compile("[\x07\x1b\x80-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE_RULES = r"""groups:
  - name: "g\e]0;title\a"
    rules:
      - alert: "GPUHot\e]52;c;ZWNobyBwd25lZA==\e\\[bold red]FAKE[/]\x9b31m\u202e"
        expr: DCGM_FI_DEV_GPU_TEMP{Hostname="\x1b]0;x\x07"} > 85
        for: 1m
        labels: {severity: "critical\e[2J"}
      - alert: Fine
        expr: DCGM_FI_PROF_GR_ENGINE_ACTIVE > 95
"""


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def test_once_text_shows_hostile_names_labels_and_errors_as_text(
    server: HostileServer, tmp_path: Path
) -> None:
    out = run_gputop(
        tmp_path, "--once", "--demo", "--prometheus", server.url, "--alertmanager", server.url
    )
    assert out.returncode == 0, out.stderr
    assert not RAW.search(out.stdout + out.stderr), repr(RAW.search(out.stdout))
    assert "␛]52;c;" in out.stdout and "[bold red]FAKE[/]" in out.stdout
    firing = [line for line in out.stdout.splitlines() if line.startswith("FIRING")]
    assert firing and all(re.search(r"since \d\d-\d\d \d\d:\d\d:\d\d", ln) for ln in firing)
    # the jobs on the firing rows' GPUs, a MIG profile and a served model: shown, inert
    assert any("→ job slurmjob␛]52" in ln for ln in firing), firing
    assert any("→ ns␛]52" in ln for ln in firing), firing
    assert "MIG profile␛]52" in out.stdout and "vLLM llm␛]52" in out.stdout


@pytest.mark.parametrize("path", ["/api/v1/rules", "/api/v2/alerts", "/api/v1/query_range"])
def test_an_unusable_answer_makes_the_check_unknown(
    server: HostileServer, tmp_path: Path, path: str
) -> None:
    server.firing = False  # else the check is critical (2), whatever else it cannot read
    server.answer(path, Answer(200, nested_json(200_000)))
    out = run_gputop(
        tmp_path,
        "--once",
        "--check",
        "--demo",
        "--prometheus",
        server.url,
        "--alertmanager",
        server.url,
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "JSON nested too deep" in out.stdout


def test_rules_check_against_an_unusable_server_is_an_error(
    server: HostileServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up > 1\n")
    for path in ("/api/v1/query", "/api/v1/metadata"):
        server.answer(path, Answer(200, nested_json(200_000)))
    out = run_gputop(tmp_path, "rules", "check", "--prometheus", server.url, str(rules))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "not checked against Prometheus" in out.stdout


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_rules_check_output_carries_no_control_character(
    server: HostileServer, tmp_path: Path, fmt: str
) -> None:
    rules = tmp_path / "rules\x1b]52;c;ZWNobw==\x07.yml"  # a file name is outside text too
    rules.write_text(HOSTILE_RULES)
    check = ("rules", "check", "--format", fmt, "--prometheus", server.url, str(rules))
    out = run_gputop(tmp_path, *check)
    assert out.returncode in (1, 2), out.stderr
    assert not RAW.search(out.stdout + out.stderr), repr(RAW.search(out.stdout))
    if fmt == "json":
        doc = json.loads(out.stdout)
        assert {f["file"] for f in doc["findings"]} == {str(rules)}  # intact, escaped
        names = {f["rule"] for f in doc["findings"]}
        assert any(name and name.startswith("GPUHot\x1b]52") for name in names)
    else:
        assert "rules␛]52;c;ZWNobw==␇.yml" in out.stdout


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_rules_backtest_output_carries_no_control_character(
    server: HostileServer, tmp_path: Path, fmt: str
) -> None:
    rules = tmp_path / "rules\x1b]52;c;ZWNobw==\x07.yml"
    rules.write_text(HOSTILE_RULES.replace("} > 85", "} > 80"))  # 85 everywhere: it fires
    backtest = ("rules", "backtest", "--prometheus", server.url, "--range", "10m", "--format", fmt)
    out = run_gputop(tmp_path, *backtest, str(rules))
    assert out.returncode == 0, out.stdout + out.stderr
    assert not RAW.search(out.stdout + out.stderr), repr(RAW.search(out.stdout + out.stderr))
    if fmt == "json":
        doc = json.loads(out.stdout)  # intact, escaped
        (hot,) = [r for r in doc["rules"] if r["name"].startswith("GPUHot\x1b]52")]
        assert hot["source"] == f"{rules}:4" and hot["group"] == "g\x1b]0;title\x07"
        assert hot["series"][0]["labels"]["Hostname"].startswith("node0\x1b]52")
    elif fmt == "text":
        assert "GPUHot␛]52;c;" in out.stdout and "[bold red]FAKE[/]" in out.stdout
        assert "rules␛]52;c;ZWNobw==␇.yml:4" in out.stdout
        assert "GPU 0 @ node0␛]52;c;" in out.stdout  # a series' labels

    # the server's own rules (names, groups and files of its choosing), each refused
    said = {"status": "error", "errorType": "bad_data", "error": hostile("refused")}
    server.answer("/api/v1/query_range", Answer(400, json.dumps(said).encode()))
    out = run_gputop(tmp_path, *backtest)
    assert out.returncode == 2, out.stdout + out.stderr  # rules that could not be replayed
    assert not RAW.search(out.stdout + out.stderr), repr(RAW.search(out.stdout + out.stderr))
    if fmt == "json":
        errors = {r["name"]: r["error"] for r in json.loads(out.stdout)["rules"]}
        assert "bad_data: refused␛]52;c;" in errors[hostile("GPUHot")]  # the client's reason
    else:
        assert "GPUHot␛]52;c;" in out.stdout and "refused␛]52;c;" in out.stdout
    if fmt == "github":
        assert all(line.startswith("::error ") for line in out.stdout.splitlines())


def test_rules_backtest_error_lines_carry_no_control_character(
    server: HostileServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(HOSTILE_RULES)
    body = f"upstream error [/api/v1/query_range] {hostile('error')}".encode()
    server.answer("/api/v1/query_range", Answer(502, body, "text/plain"))
    out = run_gputop(
        tmp_path, "rules", "backtest", str(rules), "--prometheus", server.url, "--range", "10m"
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "HTTP 502 Bad Gateway: upstream error" in lines[0], out.stderr
    assert not RAW.search(out.stderr) and "error␛]52;c;" in lines[0]
    # a file that is not there, and rule names in what --threshold says
    for args in ([str(tmp_path / "no\x1b]0;t\x07.yml")], [str(rules), "--threshold", "X=5"]):
        out = run_gputop(tmp_path, "rules", "backtest", *args, "--prometheus", server.url)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert not RAW.search(out.stderr), out.stderr
    assert "no rule named 'X' (rules: GPUHot␛]52;c;" in out.stderr


def test_rules_backtest_config_warnings_carry_no_control_character(
    server: HostileServer, tmp_path: Path
) -> None:
    """A warning about the config (a token file others can read) names a path from the
    config file: shown, with its controls visible, before the report."""
    token = tmp_path / "token\x1b]52;c;ZWNobw==\x07\x9b31m"
    token.write_text("s3cret-backtest-token\n")
    token.chmod(0o644)
    config = tmp_path / "gputop.toml"
    config.write_text(
        f'[prometheus]\nurl = "{server.url}"\nbearer_token_file = {json.dumps(str(token))}\n'
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(HOSTILE_RULES)
    out = run_gputop(
        tmp_path, "rules", "backtest", str(rules), "--config", str(config), "--range", "10m"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert not RAW.search(out.stdout + out.stderr), repr(RAW.search(out.stdout + out.stderr))
    (warning,) = out.stderr.strip().splitlines()
    assert warning.startswith("gputop rules backtest: warning: bearer token file "), warning
    assert "token␛]52;c;ZWNobw==␇\\x9b31m is readable by its group or others" in warning
    assert "s3cret-backtest-token" not in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--prometheus", "http://[::1"], "--prometheus: is not a valid URL"),
        (["--prometheus", "http://a\x01b:9090"], "--prometheus: URL must not hold"),
        (["--alertmanager", "http://a:99999"], "--alertmanager: URL has an invalid port"),
        (["--rules", "/etc"], "/etc is a directory, not a rule file"),
        (["--rules", "/dev/zero"], "/dev/zero is not a regular file"),
        (["--config", "/dev/zero"], "/dev/zero: is not a regular file"),
        (["--config", "/etc"], "/etc: is a directory, not a config file"),
        (["--interval", "1e309"], "--interval: must be a finite number"),
        (["--interval", "nan"], "--interval: must be a finite number"),
        (["--interval", "1e12"], "--interval: must be at most"),
    ],
)
def test_bad_flags_are_one_line_naming_them(tmp_path: Path, args: list[str], says: str) -> None:
    started = time.monotonic()
    out = run_gputop(tmp_path, "--once", "--demo", *args, timeout=20)
    assert time.monotonic() - started < 15
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], out.stderr
    assert not RAW.search(out.stderr)


@pytest.mark.parametrize(
    ("target", "says"),
    [("/etc", "is a directory, not a rule file"), ("/dev/zero", "is not a regular file")],
)
def test_rules_check_names_a_file_that_is_not_one(tmp_path: Path, target: str, says: str) -> None:
    out = run_gputop(tmp_path, "rules", "check", "--offline", target, timeout=20)
    assert out.returncode == 2
    assert f"{target}: error: {says} [file]" in out.stdout and "Traceback" not in out.stderr


def test_a_rule_duration_out_of_range_is_a_rule_file_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up > 1\n"
        "        for: 99999999999y\n"
    )
    out = run_gputop(tmp_path, "--once", "--demo", "--rules", str(rules))
    assert out.returncode == 2
    assert "duration out of range" in out.stderr and len(out.stderr.strip().splitlines()) == 1
