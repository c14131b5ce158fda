"""`rules check` judges exports by the project's dcgm-exporter counters file: named with
`--counters` or `[rules] counters`, else found beside the rule file or above it in its
repository; without one, a default install's fields, and the message says how to declare it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputop.commands.rules_check import main
from gputop.rules.counters import Counters, CountersError, find_counters, read_counters
from gputop.rules.lint import Report, check_files

_ENV = ("GPUTOP_CONFIG", "GPUTOP_PROFILE", "GPUTOP_PROMETHEUS_URL", "GPUTOP_PROMETHEUS_TOKEN")
RULES = """\
groups:
  - name: g
    rules:
      - alert: MemoryAlmostFull
        expr: DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL > 0.9
      - alert: Throttled
        expr: DCGM_FI_DEV_CLOCK_THROTTLE_REASONS > 0
      - alert: Xid
        expr: increase(DCGM_FI_DEV_XID_ERRORS[5m]) > 0
"""
COUNTERS = """\
# Format
# If line starts with a '#' it is considered a comment
# DCGM FIELD, Prometheus metric type, help message

DCGM_FI_DEV_FB_USED, gauge, Framebuffer memory used (in MiB).
DCGM_FI_DEV_FB_TOTAL,  gauge, Framebuffer memory total (in MiB).
DCGM_FI_DEV_CLOCK_THROTTLE_REASONS, counter, Throttling reasons bitmask
DCGM_FI_DEV_XID_ERRORS ,  gauge,   Value of the last XID error encountered.
DCGM_FI_DRIVER_VERSION,        label, Driver Version
"""


@pytest.fixture(autouse=True)
def no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def _project(root: Path, *, csv_in: str | None = "deploy", git: bool = True) -> Path:
    """A repository with its rules in rules/gpu/ and a counters file in `csv_in`."""
    if git:
        (root / ".git").mkdir(parents=True)
    rules = root / "rules" / "gpu" / "alerts.yml"
    rules.parent.mkdir(parents=True)
    rules.write_text(RULES, encoding="utf-8")
    if csv_in is not None:
        (root / csv_in).mkdir(parents=True, exist_ok=True)
        (root / csv_in / "dcgm-metrics.csv").write_text(COUNTERS, encoding="utf-8")
    return rules


def _checks(report: Report) -> list[tuple[int, str]]:
    return [(f.line, f.check) for f in report.findings]


def test_without_a_counters_file_the_default_install_and_how_to_declare_one(tmp_path: Path) -> None:
    rules = _project(tmp_path, csv_in=None)
    report = check_files([str(rules)])
    assert _checks(report) == [(5, "default-export"), (7, "default-export"), (9, "rate-of-gauge")]
    message = report.findings[0].message
    assert "not exported by a default dcgm-exporter install" in message
    assert "declare it with --counters FILE or [rules] counters" in message
    assert report.counters == [] and "dcgm-exporter fields" not in report.summary()


def test_the_counters_file_named_replaces_the_default_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = _project(tmp_path, csv_in="elsewhere")
    csv = tmp_path / "elsewhere" / "dcgm-metrics.csv"
    assert main(["--counters", str(csv), str(rules)]) == 1
    out = capsys.readouterr().out.splitlines()
    # FB_TOTAL and CLOCK_THROTTLE_REASONS are exported; XID_ERRORS is still a gauge there
    assert [line.rsplit("[", 1)[1] for line in out[:-1]] == ["rate-of-gauge]"]
    assert out[-1].endswith(f"; dcgm-exporter fields as in {csv}")


def test_a_field_the_file_does_not_list_is_named_with_the_file(tmp_path: Path) -> None:
    rules = _project(tmp_path, csv_in=None)
    csv = tmp_path / "c.csv"
    csv.write_text("DCGM_FI_DEV_FB_USED, gauge, used\nDCGM_FI_DEV_GPU_UTIL, gauge, util\n")
    report = check_files([str(rules)], counters=_counters(csv))
    fb_total = report.findings[0]
    assert (fb_total.line, fb_total.check) == (5, "default-export")
    assert f"DCGM_FI_DEV_FB_TOTAL is not in the dcgm-exporter counters file ({csv})" in (
        fb_total.message
    )
    assert "add `DCGM_FI_DEV_FB_TOTAL, gauge, framebuffer memory in all` to it" in fb_total.message


def _counters(*paths: Path) -> Counters:
    from gputop.rules.lint import read_counters_files

    return read_counters_files(paths)


def test_the_declared_type_is_the_one_the_type_checks_use(tmp_path: Path) -> None:
    rules = _project(tmp_path, csv_in=None)
    csv = tmp_path / "c.csv"
    csv.write_text(
        COUNTERS.replace("DCGM_FI_DEV_XID_ERRORS ,  gauge", "DCGM_FI_DEV_XID_ERRORS, counter")
    )
    assert _checks(check_files([str(rules)], counters=_counters(csv))) == []
    label = tmp_path / "label.yml"
    label.write_text("groups: [{name: g, rules: [{alert: A, expr: DCGM_FI_DRIVER_VERSION > 0}]}]")
    found = check_files([str(label)], counters=_counters(csv)).findings
    assert [(f.check, "is a label" in f.message) for f in found] == [("not-a-metric", True)]


@pytest.mark.parametrize("where", ["rules/gpu", "rules", "."])
def test_a_counters_file_beside_the_rules_or_above_them_is_found_and_named(
    tmp_path: Path, where: str
) -> None:
    rules = _project(tmp_path, csv_in=where)
    report = check_files([str(rules)])
    assert _checks(report) == [(9, "rate-of-gauge")]
    assert report.counters == [str((tmp_path / where / "dcgm-metrics.csv").resolve())]


def test_the_search_stops_at_the_repository_and_skips_other_csvs(tmp_path: Path) -> None:
    outside = tmp_path / "dcgm-metrics.csv"
    outside.write_text(COUNTERS, encoding="utf-8")
    rules = _project(tmp_path / "repo", csv_in=None)
    (rules.parent / "capacity.csv").write_text("node,gpus\nnode-1,8\n", encoding="utf-8")
    assert find_counters(rules) == []  # above the repository's root: not the project's
    assert _checks(check_files([str(rules)]))[0] == (5, "default-export")
    # outside any repository only the rule file's own folder counts
    loose = tmp_path / "loose" / "deep"
    loose.mkdir(parents=True)
    (loose / "r.yml").write_text(RULES, encoding="utf-8")
    (tmp_path / "loose" / "dcgm-metrics.csv").write_text(COUNTERS, encoding="utf-8")
    assert find_counters(loose / "r.yml") == []
    assert check_files([str(loose / "r.yml")], find=False).counters == []


def test_the_config_names_the_counters_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = _project(tmp_path, csv_in="elsewhere")
    config = tmp_path / "gputop.toml"
    config.write_text('[rules]\ncounters = ["elsewhere/dcgm-metrics.csv"]\n', encoding="utf-8")
    assert main(["--config", str(config), "--format", "json", str(rules)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["counters"] == [str(tmp_path / "elsewhere" / "dcgm-metrics.csv")]
    assert [f["check"] for f in doc["findings"]] == ["rate-of-gauge"]
    config.write_text('[rules]\ncounters = ["nope.csv"]\n', encoding="utf-8")
    assert main(["--config", str(config), str(rules)]) == 2
    assert "counters file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("DCGM_FI_DEV_GPU_UTIL, gauge\n", ":1: expected `FIELD, TYPE, HELP` (3 fields), found 2"),
        ("# c\nDCGM_FI_DEV_GPU_UTIL, gaug, x\n", ":2: 'gaug' is no type dcgm-exporter knows"),
        ("node,gpus,x\n", ":1: 'node' is no DCGM field"),
        ("# only comments\n", ": no fields: not a dcgm-exporter counters file"),
    ],
)
def test_a_bad_counters_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    rules = _project(tmp_path, csv_in=None)
    bad = tmp_path / "bad.csv"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(CountersError) as raised:
        read_counters(bad)
    assert str(raised.value).startswith(f"{bad}{error}")
    assert main(["--counters", str(bad), str(rules)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"gputop rules check: --counters: {bad}{error}")


def test_a_missing_counters_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = _project(tmp_path, csv_in=None)
    assert main(["--counters", str(tmp_path / "nope.csv"), str(rules)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gputop rules check: --counters: ")
    assert "nope.csv: cannot read" in err
