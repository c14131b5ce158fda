"""`gputop rules check` on rule files in the shapes people publish (tests/data/corpus).

Ordinary files (node-exporter, Kubernetes control plane, a GPU PrometheusRule) print nothing
but the summary; the GPU file with every mistake gets each finding once, at the token its
`# expect:` marker names; promtool agrees on syntax with every file, PrometheusRules
compared on their extracted `spec`.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from gputop.commands.rules_check import main
from gputop.core.catalogue import in_namespace
from gputop.rules.checks import CHECKS
from gputop.rules.lint import check_files
from tests.support.prometheus_server import PROMTOOL, require_prometheus

CORPUS = Path(__file__).parent / "data" / "corpus"
ORDINARY = ["node-exporter.yml", "kubernetes-control-plane.yml", "gpu-prometheusrule.yaml"]
MISTAKES = CORPUS / "gpu-mistakes.yml"
_MARKER = re.compile(r"# expect: ([a-z-]+) (\S+)")
_ENV = ("GPUTOP_CONFIG", "GPUTOP_PROFILE", "GPUTOP_PROMETHEUS_URL", "GPUTOP_PROMETHEUS_TOKEN")


@pytest.fixture(autouse=True)
def no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def expected_findings(path: Path) -> list[tuple[int, int, str]]:
    """(line, col, check) of every `# expect: <check> <token>` marker: the token on the
    nearest line at or above the marker where it is written outside a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        for marker in _MARKER.finditer(line):
            check, token = marker.groups()
            word = re.compile(rf"(?<![\w:]){re.escape(token)}(?![\w:])")
            for j in range(i, -1, -1):
                code = (line[: marker.start()] if j == i else lines[j]).split("#")[0]
                hit = word.search(code)
                if hit:
                    out.append((j + 1, hit.start() + 1, check))
                    break
            else:
                raise AssertionError(f"marker on line {i + 1}: {token} is written nowhere above")
    return sorted(out)


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_rule_files_print_only_the_summary(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(CORPUS / name)
    assert main([path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].endswith(": 0 errors, 0 warnings"), out


def test_no_unknown_metric_outside_the_catalogue_namespaces() -> None:
    report = check_files(sorted(str(p) for p in CORPUS.glob("*.y*ml")))
    unknown = [f for f in report.findings if f.check in ("unknown-metric", "not-a-metric")]
    named = [re.search(r"\b(DCGM_\w+|dcgm_\w+|t2v_\w+)", f.message) for f in unknown]
    assert all(m is not None and in_namespace(m.group(1)) for m in named), unknown
    assert {(f.check, m.group(1)) for f, m in zip(unknown, named, strict=True) if m} == {
        ("unknown-metric", "DCGM_FI_DEV_GPU_TEMPERATURE"),
        ("not-a-metric", "DCGM_FI_DEV_COMPUTE_PIDS"),
    }


def test_each_mistake_once_at_its_token() -> None:
    expected = expected_findings(MISTAKES)
    report = check_files([str(MISTAKES)])
    found = sorted((f.line, f.col, f.check) for f in report.findings)
    assert found == expected
    assert len(set(found)) == len(found)  # once each
    assert report.errors == 0 and report.warnings == len(expected)


def test_the_mistakes_file_exercises_every_rule_check() -> None:
    checks = {check for _, _, check in expected_findings(MISTAKES)}
    # the others need a server, a second document, or a bad comment: tested on their own
    assert checks == set(CHECKS) - {"no-series", "ignored-document", "disable-comment"}


def test_the_mistakes_the_issue_names_are_found(tmp_path: Path) -> None:
    rules = tmp_path / "issue.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - record: accelerator_memory_total_bytes\n    expr: DCGM_FI_DEV_FB_TOTAL\n"
        "  - record: accelerator_sm_clock_hertz\n    expr: DCGM_FI_DEV_SM_CLOCK\n"
        "  - alert: Xid\n    expr: increase(DCGM_FI_DEV_XID_ERRORS[10m]) > 0\n"
        "  - alert: Pids\n    expr: count(DCGM_FI_DEV_COMPUTE_PIDS) > 1\n",
        encoding="utf-8",
    )
    messages = {(f.line, f.check): f.message for f in check_files([str(rules)]).findings}
    assert set(messages) == {
        (4, "unit-suffix"),
        (5, "default-export"),
        (6, "unit-suffix"),
        (9, "rate-of-gauge"),
        (11, "not-a-metric"),
    }
    assert (
        "is in MiB, as DCGM_FI_DEV_FB_TOTAL is: multiply by 1048576" in messages[4, "unit-suffix"]
    )
    assert "or use DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE" in messages[5, "default-export"]
    assert (
        "is in MHz, as DCGM_FI_DEV_SM_CLOCK is: multiply by 1000000" in messages[6, "unit-suffix"]
    )
    assert "the code of the last XID error, not a count" in messages[9, "rate-of-gauge"]


def test_a_prometheus_rule_is_read_from_its_spec_with_positions_in_the_file() -> None:
    report = check_files([str(CORPUS / "gpu-prometheusrule.yaml")], disabled=())
    assert report.rules == 11 and report.findings == []
    from gputop.rules.files import read_rule_file

    parsed = read_rule_file(CORPUS / "gpu-prometheusrule.yaml")
    assert parsed.skipped == ["ServiceMonitor"]
    energy = next(e for e in parsed.entries if e.name == "GPUEnergyBurn")
    lines = (CORPUS / "gpu-prometheusrule.yaml").read_text().splitlines()
    at = energy.locate("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
    assert lines[at.line - 1][at.col - 1 :].startswith("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
    assert at.line > 80  # in the third document, counted from the file's first line


def _promtool_ok(path: Path, tmp_path: Path) -> bool:
    """promtool's verdict; a PrometheusRule is judged on each object's extracted spec."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    rules = [d["spec"] for d in docs if d.get("kind") == "PrometheusRule"]
    files = []
    if not rules:
        files = [path]
    for i, spec in enumerate(rules):
        extracted = tmp_path / f"{path.stem}-{i}.yml"
        extracted.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
        files.append(extracted)
    done = subprocess.run(
        [PROMTOOL, "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    return done.returncode == 0


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.y*ml")))
def test_promtool_agrees_on_syntax(name: str, tmp_path: Path) -> None:
    require_prometheus()
    path = CORPUS / name
    ours = check_files([str(path)])
    assert _promtool_ok(path, tmp_path) == (ours.errors == 0), [str(f) for f in ours.findings]


def test_the_corpus_holds_files_both_tools_refuse() -> None:
    broken = [p for p in CORPUS.glob("*.y*ml") if check_files([str(p)]).errors]
    assert {p.name for p in broken} == {"broken.yml", "broken-prometheusrule.yaml"}


def test_github_annotations_for_every_finding(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--format", "github", str(MISTAKES)]) == 1
    out = capsys.readouterr().out.splitlines()
    annotations = [line for line in out if line.startswith("::")]
    assert len(annotations) == len(expected_findings(MISTAKES))
    first = annotations[0]
    line, col, check = expected_findings(MISTAKES)[0]
    assert first.startswith(f"::warning file={MISTAKES},line={line},col={col},title={check}::")
    assert out[-1].startswith("1 file, 25 rules: 0 errors, ")


def test_json_lists_every_finding(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--format", "json", str(MISTAKES), str(CORPUS / "node-exporter.yml")]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"] == 2 and doc["errors"] == 0
    assert doc["warnings"] == len(doc["findings"]) == len(expected_findings(MISTAKES))
    assert {f["file"] for f in doc["findings"]} == {str(MISTAKES)}
    assert all(f["rule"] and f["check"] in CHECKS for f in doc["findings"])


def test_the_readme_lists_every_check_with_severity_example_and_how_to_turn_it_off() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0].strip("`")] = cells[1:]
    assert sorted(rows) == sorted(CHECKS)
    for name, (severity, example, off) in rows.items():
        assert severity == "warning", name
        assert "`" in example and len(example) > 40, name  # an expression it finds
        assert f"--disable {name}" in off, name
