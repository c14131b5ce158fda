"""`gputop rules check` on rule files other projects publish: every finding true.

Each project of tests/data/published/judged.yml is checked with its own context (the
dcgm-exporter counters file its exporter runs with, the interval its Prometheus evaluates
rules at), and what the check finds must be exactly the findings judged true there: a new
finding fails (a false one is a linter crying wolf), and so does a listed one no longer found.
The published files are read from a corpus folder (see the manifest's head); where none is
present, the tests that need the files say so and are skipped, and the manifest's own checks
still run.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gputop.core.units import parse_prometheus_duration
from gputop.rules.checks import CHECKS
from gputop.rules.counters import Counters, read_counters
from gputop.rules.lint import check_files

DATA = Path(__file__).parent / "data" / "published"
MANIFEST = yaml.safe_load((DATA / "judged.yml").read_text(encoding="utf-8"))
PROJECTS: list[dict[str, Any]] = MANIFEST["projects"]
_FOLDER = re.compile(r"[^/]+\+[^/]+$")


def corpus_folder() -> Path | None:
    """Where the published files are: $GPUTOP_RULES_CORPUS, tests/data/published/files, or
    shared/rules-corpus beside the checkout."""
    named = os.environ.get("GPUTOP_RULES_CORPUS")
    root = Path(__file__).resolve().parents[1]
    candidates = [Path(named)] if named else []
    candidates.append(DATA / "files")
    candidates += [d / "shared" / "rules-corpus" for d in (root, *root.parents)]
    for folder in candidates:
        if folder.is_dir() and any(folder.iterdir()):
            return folder
    return None


CORPUS = corpus_folder()
needs_corpus = pytest.mark.skipif(
    CORPUS is None,
    reason="the published rule files are not here: see tests/data/published/judged.yml",
)


def _folder(repository: str) -> str:
    return repository.replace("/", "+")


def _context(project: dict[str, Any], corpus: Path, tmp_path: Path) -> dict[str, Any]:
    context = project.get("context", {})
    files: list[tuple[str, dict[str, str]]] = []
    for name in context.get("counters", []):
        files.append((name, read_counters(corpus / name)))
    if "exports" in context:
        declared = tmp_path / "exports.csv"
        declared.write_text(
            "".join(
                f"{name}, gauge, exported by the project's exporter\n"
                for name in context["exports"]
            ),
            encoding="utf-8",
        )
        files.append(("exports", read_counters(declared)))
    interval = context.get("eval_interval")
    return {
        "counters": Counters.union(files) if files else None,
        "eval_interval_s": parse_prometheus_duration(interval) if interval else None,
        "find": False,
    }


def _rule_files(project: dict[str, Any]) -> list[dict[str, Any]]:
    return list(project.get("files", []))


@needs_corpus
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p["repository"])
def test_every_finding_is_one_judged_true(project: dict[str, Any], tmp_path: Path) -> None:
    assert CORPUS is not None
    kwargs = _context(project, CORPUS, tmp_path)
    for entry in _rule_files(project):
        path = CORPUS / _folder(project["repository"]) / entry["path"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{path}: not the version judged"
        report = check_files([str(path)], **kwargs)
        found = {(f.line, f.col, f.check): f.message for f in report.findings}
        judged = {(j["line"], j["col"], j["check"]) for j in entry.get("findings", [])}
        unjudged = {k: v for k, v in found.items() if k not in judged}
        assert unjudged == {}, f"{entry['path']}: findings no one judged true"
        assert judged - set(found) == set(), f"{entry['path']}: true findings no longer found"
        assert report.errors == 0


@needs_corpus
def test_the_counters_files_of_the_context_are_the_versions_named() -> None:
    assert CORPUS is not None
    for project in PROJECTS:
        for name, digest in project.get("context", {}).get("counters_sha256", {}).items():
            assert hashlib.sha256((CORPUS / name).read_bytes()).hexdigest() == digest, name


def test_the_judgements_span_at_least_15_repositories_each_with_its_source() -> None:
    with_rules = [p for p in PROJECTS if _rule_files(p)]
    assert len({p["repository"] for p in with_rules}) >= 15
    for project in PROJECTS:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", project["repository"])
        assert re.fullmatch(r"[0-9a-f]{40}", project["commit"]), project["repository"]
        assert project["licence"], project["repository"]
        for entry in _rule_files(project):
            assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])


def test_every_context_and_every_finding_says_why() -> None:
    for project in PROJECTS:
        context = project.get("context", {})
        for key in ("counters", "exports", "eval_interval"):
            if key in context:
                assert context.get(f"{key}_why"), f"{project['repository']}: {key} without why"
        for entry in _rule_files(project):
            for finding in entry.get("findings", []):
                assert finding["check"] in CHECKS
                assert finding["rule"] and len(finding["why"]) > 20, finding


def test_the_judged_findings_hold_true_findings_of_the_new_checks_and_the_old() -> None:
    checks = {f["check"] for p in PROJECTS for e in _rule_files(p) for f in e.get("findings", [])}
    assert {"default-export", "unit-suffix", "rate-time-unit"} <= checks
