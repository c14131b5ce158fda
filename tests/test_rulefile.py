"""Rule files: RuleDefs with file:line, and every error as one `file:line:col: message` line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputop.core.units import parse_prometheus_duration
from gputop.promql.positions import selector_spans, token_offsets
from gputop.rules.files import (
    RuleFileError,
    load_rule_set,
    load_rules,
    read_rule_file,
)

GOOD = """\
groups:
  - name: gpu
    interval: 30s
    rules:
      - record: gpu:temp:max
        expr: max by (Hostname) (DCGM_FI_DEV_GPU_TEMP)
      - alert: Hot
        expr: DCGM_FI_DEV_GPU_TEMP > 85
        for: 1m
        keep_firing_for: 5m
        labels:
          severity: critical
        annotations:
          summary: "GPU {{ $labels.gpu }} is hot"
          gputop_margin: 5%
      - alert: Stuck
        expr: |
          min_over_time(DCGM_FI_DEV_GPU_UTIL[10m]) > 85
          unless on (UUID)
          increase(t2v_jobs_completed_total[10m]) > 0
  - name: other
    rules:
      - alert: Down
        expr: 'up == 0'
"""


def write(tmp_path: Path, text: str, name: str = "rules.yml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_load_rules(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    rules = load_rules([path])
    assert [r.name for r in rules] == ["Hot", "Stuck", "Down"]  # recording rule: not an alert
    hot = rules[0]
    assert (hot.for_s, hot.keep_firing_for_s, hot.severity) == (60.0, 300.0, "critical")
    assert hot.labels == {"severity": "critical"}
    assert hot.annotations["summary"] == "GPU {{ $labels.gpu }} is hot"
    assert hot.margin == pytest.approx(0.05)
    assert hot.source == f"{path}:7" and hot.group == "gpu"
    assert rules[1].expr.startswith("min_over_time(") and rules[1].for_s == 0.0
    assert rules[2].source == f"{path}:23" and rules[2].group == "other"


def test_positions_of_rules_expressions_and_metrics(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    entries = {e.name: e for e in read_rule_file(path).entries}
    hot = entries["Hot"]
    assert (hot.position.line, hot.expr_position.line, hot.expr_position.col) == (7, 8, 15)
    assert hot.for_position is not None and hot.for_position.line == 9
    assert hot.group_interval_s == 30.0
    stuck = entries["Stuck"]
    assert (stuck.expr_position.line, stuck.expr_position.col) == (18, 11)  # block's 1st line
    where = stuck.locate("t2v_jobs_completed_total")
    assert (where.line, where.col) == (20, 20)
    assert Path(path).read_text().splitlines()[19][19:].startswith("t2v_jobs_completed_total")
    down = entries["Down"]
    assert (down.locate("up").line, down.locate("up").col) == (24, 16)  # inside the quotes


def _error(tmp_path: Path, text: str) -> RuleFileError:
    path = write(tmp_path, text)
    with pytest.raises(RuleFileError) as info:
        load_rules([path])
    assert str(info.value).count("\n") == 0
    return info.value


def test_promql_syntax_error_points_at_the_expr(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - alert: Broken
                expr: sum(rate(DCGM_FI_DEV_GPU_UTIL[5m]) > 1
        """,
    )
    assert str(err) == (
        f"{tmp_path / 'rules.yml'}:5:15: rule Broken: PromQL: unclosed left parenthesis"
    )


def test_promql_syntax_error_in_a_folded_block_points_at_its_first_character(
    tmp_path: Path,
) -> None:
    err = _error(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - alert: Broken
                expr: >-
                  DCGM_FI_DEV_GPU_TEMP{gpu=0}
                  > 85
        """,
    )
    assert err.position is not None and (err.position.line, err.position.col) == (6, 11)
    assert "unexpected character inside braces" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ("groups:\n  - name: [oops\n", 3, 1, "YAML error"),
        ("groups:\n  - name: g\n    rules:\n      - alert: A\n", 4, 9, "missing 'expr'"),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
            "        for: 5\n",
            6,
            14,
            "not a valid duration string",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
            "        severity: page\n",
            6,
            9,
            "unknown key 'severity' in a rule",
        ),
        ("groups:\n  - name: g\n  - name: g\n", 3, 11, "group name 'g' is repeated"),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n"
            "        expr: up\n",
            4,
            9,
            "exactly one of 'alert' or 'record'",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: b\n        expr: up\n"
            "        for: 1m\n",
            6,
            9,
            "invalid field 'for' in recording rule",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: 'not a name'\n        expr: up\n",
            4,
            17,
            "invalid recording rule name",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
            "        labels:\n          bad-name: x\n",
            7,
            11,
            "invalid label name",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
            "        annotations:\n          gputop_margin: lots\n",
            7,
            11,
            "gputop_margin",
        ),
        ("groups: 3\n", 1, 9, "groups must be a list"),
        ("- 1\n", 1, 1, "the rule file must be a mapping"),
    ],
)
def test_errors_are_one_line_with_file_line_col(
    tmp_path: Path, text: str, line: int, col: int, message: str
) -> None:
    err = _error(tmp_path, text)
    assert str(err).startswith(f"{tmp_path / 'rules.yml'}:{line}:{col}: ")
    assert message in str(err)


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError) as info:
        load_rules([tmp_path / "nope.yml"])
    assert str(info.value) == f"{tmp_path / 'nope.yml'}: no such rule file"


def test_all_errors_of_a_file_are_collected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - alert: A
                expr: up >
              - alert: B
                expr: up
                for: soon
        """,
    )
    errors = read_rule_file(path).errors
    positions = [e.position for e in errors]
    assert [(p.line, p.col) if p else None for p in positions] == [(5, 15), (8, 14)]


def test_empty_files_hold_no_rules(tmp_path: Path) -> None:
    assert load_rules([write(tmp_path, ""), write(tmp_path, "groups:\n", "b.yml")]) == []


def test_prometheus_durations() -> None:
    assert parse_prometheus_duration("1h30m") == 5400.0
    assert parse_prometheus_duration("0") == 0.0
    assert parse_prometheus_duration("250ms") == 0.25
    for bad in ("", "120", "1.5m", "-1m", "5m1h"):
        with pytest.raises(ValueError):
            parse_prometheus_duration(bad)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "groups:",
                "- name: g",
                "  rules:",
                "  - alert: A",
                "    expr: up > 1",
                "    for: 1m",
                "  - record: r",
                "    expr: sum(",
                "labels: {a: 1}",
                "- [",
                "  :",
                "\t",
                "expr: |",
                "    x",
                "annotations:",
                "      gputop_margin: x",
                "!!python/object:os.system",
                "---",
                "kind: PrometheusRule",
                "apiVersion: v1",
                "spec:",
                "  groups:",
                '    expr: "a\\\n  b"',
                "# gputop: disable=x",
            ]
        ),
        max_size=12,
    )
)
def test_any_text_gives_errors_never_exceptions(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "r.yml"
    path.write_text("\n".join(lines), encoding="utf-8")
    parsed = read_rule_file(path)
    for error in parsed.errors:
        assert "\n" not in str(error) and str(error).startswith(str(path))


def _where(path: str, entry_name: str, token: str) -> tuple[int, int, str]:
    """Where `token` is first written as a whole name in a rule's expression, and the text
    of the file from there, to see that it is the token."""
    entry = next(e for e in read_rule_file(path).entries if e.name == entry_name)
    at = entry.locate(token)
    line = Path(path).read_text(encoding="utf-8").splitlines()[at.line - 1]
    return at.line, at.col, line[at.col - 1 :]


@pytest.mark.parametrize(
    ("expr_yaml", "line", "col"),
    [
        ("expr: |\n          sum(x)\n            / node_filesystem_files > 2\n", 8, 15),
        ("expr: >-\n          sum(x)\n            / node_filesystem_files > 2\n", 8, 15),
        (
            "expr: |2-\n            sum(x)\n          # node_filesystem_files\n"
            "            / node_filesystem_files > 2\n",
            9,
            15,
        ),
        ("expr: sum(x)\n          / node_filesystem_files > 2\n", 7, 13),
        ('expr: "sum(x{a=\\"b\\"})\n          / node_filesystem_files > 2"\n', 7, 13),
        ("expr: 'sum(x{a=''b''})\n          / node_filesystem_files > 2'\n", 7, 13),
        ('expr: "sum(x) \\\n          / node_filesystem_files > 2"\n', 7, 13),
    ],
)
def test_a_token_is_found_at_its_line_and_column_in_any_scalar_style(
    tmp_path: Path, expr_yaml: str, line: int, col: int
) -> None:
    # node_filesystem_files_free comes first: a substring search would stop there
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n"
        "        labels: {node_filesystem_files_free: x}\n        " + expr_yaml
    )
    text = text.replace("sum(x", "sum(node_filesystem_files_free")
    path = tmp_path / "r.yml"
    path.write_text(text, encoding="utf-8")
    assert read_rule_file(path).errors == []
    at_line, at_col, rest = _where(str(path), "A", "node_filesystem_files")
    assert (at_line, at_col) == (line, col), text
    assert rest.startswith("node_filesystem_files ")


def test_selector_spans_skip_strings_comments_functions_and_label_lists() -> None:
    expr = (
        'sum by (node_load1) (rate(node_load1{job="node_load1"}[5m])) # node_load1\n'
        "/ on (instance) group_left (node_load1) node_load15 > 1e-3"
    )
    spans = selector_spans(expr)
    assert [(s.name, s.start) for s in spans] == [("node_load1", 26), ("node_load15", 114)]
    assert spans[0].matchers == (("job", 37),)
    assert token_offsets(expr, "node_load1") == [8, 26, 102]  # label names are names too
    assert [s.name for s in selector_spans('{__name__="x"} + topk(5, y) or vector(1)')] == [
        None,
        "y",
    ]


def test_prometheus_rule_groups_are_read_from_spec(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: other}
        ---
        apiVersion: monitoring.coreos.com/v1
        kind: PrometheusRule
        metadata:
          name: gpu
        spec:
          groups:
            - name: gpu
              partial_response_strategy: warn
              rules:
                - alert: Hot
                  expr: DCGM_FI_DEV_GPU_TEMP > 85
        """,
    )
    parsed = read_rule_file(path)
    assert parsed.errors == [] and parsed.skipped == ["ConfigMap"]
    hot = parsed.entries[0]
    assert (hot.name, hot.position.line, hot.expr_position.line, hot.expr_position.col) == (
        "Hot",
        14,
        15,
        17,
    )


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        (
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {}\n",
            1,
            1,
            "a PrometheusRule needs a spec with its groups",
        ),
        (
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  group: []\n",
            4,
            3,
            "unknown key 'group' in the PrometheusRule spec (one of groups)",
        ),
        ("apiVersion: v1\nspec:\n  groups: []\n", 1, 1, "needs a kind (PrometheusRule)"),
    ],
)
def test_prometheus_rule_errors_point_into_the_file(
    tmp_path: Path, text: str, line: int, col: int, message: str
) -> None:
    err = _error(tmp_path, text)
    assert str(err).startswith(f"{tmp_path / 'rules.yml'}:{line}:{col}: ")
    assert message in str(err)


def test_a_second_plain_document_is_read_and_marked_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        groups: [{name: a, rules: [{alert: A, expr: up == 0}]}]
        ---
        groups: [{name: a, rules: [{alert: B, expr: up == 0}]}]
        """,
    )
    parsed = read_rule_file(path)
    assert [e.name for e in parsed.entries] == ["A", "B"]
    assert [(p.line, p.col) for p in parsed.ignored_documents] == [(3, 1)]


def test_disable_comments_above_and_inside_a_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              # gputop: disable=default-export, raw-counter
              - alert: A
                expr: |
                  DCGM_FI_DEV_FB_TOTAL  # gputop: disable=no-such-check
              - alert: B  # gputop: disable=for-interval
                expr: up == 0
              # gputop: disable=metric-range
        """,
    )
    a, b = read_rule_file(path).entries
    assert [(name, p.line, p.col) for name, p in a.disabled] == [
        ("default-export", 4, 25),
        ("raw-counter", 4, 41),
        ("no-such-check", 7, 51),
    ]
    assert b.disabled_checks == {"for-interval"}  # not the comment after it: the next rule's


def test_rule_set_holds_records_and_says_which_files_have_no_alerts(tmp_path: Path) -> None:
    alerts = write(tmp_path, GOOD, "alerts.yml")
    records = write(
        tmp_path,
        "groups:\n  - name: r\n    rules:\n      - record: a:b\n        expr: up\n"
        "        labels: {x: y}\n",
        "records.yml",
    )
    rule_set = load_rule_set([alerts, records])
    assert [r.name for r in rule_set.alerts] == ["Hot", "Stuck", "Down"]
    assert [(r.name, dict(r.labels), r.source) for r in rule_set.records] == [
        ("gpu:temp:max", {}, f"{alerts}:5"),
        ("a:b", {"x": "y"}, f"{records}:4"),
    ]
    assert rule_set.notes == (f"{records}: no alerting rules, only 1 recording rule",)
    assert rule_set.without_alerts == (records,)
