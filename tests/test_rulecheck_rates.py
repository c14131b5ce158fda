"""rate-time-unit: rate(), irate() and deriv() are per second whatever their window; a rule
whose words give its constant per hour, minute or day means one 3600, 60 or 86400 times
smaller. The mirror: increase() and delta() count within their window. Each mistake is found
at its token, and the same rule written right stays silent."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from gputop.rules.checks import Finding
from gputop.rules.lint import check_files


def _file(tmp_path: Path, rules: str, name: str = "r.yml") -> str:
    path = tmp_path / name
    body = textwrap.indent(textwrap.dedent(rules), "      ")
    path.write_text(f"groups:\n  - name: g\n    rules:\n{body}", encoding="utf-8")
    return str(path)


def _found(tmp_path: Path, rules: str, name: str = "r.yml") -> list[Finding]:
    report = check_files([_file(tmp_path, rules, name)], disabled=("default-export",))
    return [f for f in report.findings if f.check == "rate-time-unit"]


def test_a_rate_over_1h_compared_as_if_per_hour_is_found_at_its_metric(tmp_path: Path) -> None:
    found = _found(
        tmp_path,
        """\
        - alert: GPURowRemapsFrequent
          # more than 1 remapped row per hour
          expr: rate(DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS[1h]) > 1
        """,
    )
    assert [(f.line, f.col, f.severity, f.rule) for f in found] == [
        (6, 20, "warning", "GPURowRemapsFrequent")
    ]
    message = found[0].message
    assert message.startswith(
        "rate(DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS[1h]) is per second whatever its window, "
        'but this rule speaks of a rate per hour (a comment says "1 remapped row per hour"): '
        "`> 1` is 1 per second, 3600 per hour; for 1 per hour compare with 1/3600 (0.0002778)"
    )
    assert message.endswith(
        ", or increase(DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS[1h]) > 1 in place of rate()"
    )


# (wrong, right, what the finding on the wrong one says)
_MISTAKES = [
    pytest.param(
        """\
        - record: gpu:ecc_sbe:rate1h
          expr: rate(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL[1h]) or rate(DCGM_FI_DEV_ECC_SBE_AGG_TOTAL[1h])
        # OK while below 1 error/hour
        - record: gpu_ecc_sbe_ok
          expr: max by (Hostname) (gpu:ecc_sbe:rate1h) < bool 1
        """,
        """\
        - record: gpu:ecc_sbe:rate1h
          expr: rate(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL[1h]) or rate(DCGM_FI_DEV_ECC_SBE_AGG_TOTAL[1h])
        # OK while below 1 error/hour
        - record: gpu_ecc_sbe_ok
          expr: max by (Hostname) (gpu:ecc_sbe:rate1h) < bool 1/3600
        """,
        "gpu:ecc_sbe:rate1h (recorded from rate(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL[1h])) is per "
        'second whatever its window, but this rule speaks of a rate per hour (a comment says "1 '
        'error/hour")',
        id="a recorded rate, a comment above, a bool comparison",
    ),
    pytest.param(
        """\
        - alert: PodsRestarting
          expr: sum by (namespace) (rate(kube_pod_container_status_restarts_total[5m])) > 3
          annotations:
            description: "more than 3 restarts/min in {{ $labels.namespace }}"
        """,
        """\
        - alert: PodsRestarting
          expr: sum by (namespace) (rate(kube_pod_container_status_restarts_total[5m])) * 60 > 3
          annotations:
            description: "more than 3 restarts/min in {{ $labels.namespace }}"
        """,
        "`> 3` is 3 per second, 180 per minute; for 3 per minute compare with 3/60 (0.05)",
        id="per minute in the description, a sum of rates",
    ),
    pytest.param(
        """\
        - alert: JobFailuresPerHourHigh
          expr: rate(job_failures_total[1h]) > 5
        """,
        """\
        - alert: JobFailuresPerHourHigh
          expr: increase(job_failures_total[1h]) > 5
        """,
        'its name says "Per Hour"): `> 5` is 5 per second, 18000 per hour',
        id="the name, no number stated",
    ),
    pytest.param(
        """\
        # memory in use grows by more than 100 MiB a day
        - alert: GPUMemoryLeak
          expr: deriv(DCGM_FI_DEV_FB_USED[6h]) > 100
        """,
        """\
        # memory in use grows by more than 100 MiB a day
        - alert: GPUMemoryLeak
          expr: deriv(DCGM_FI_DEV_FB_USED[6h]) * 86400 > 100
        """,
        'rate per day (a comment says "100 MiB a day"): `> 100` is 100 per second, 8.64e+06 per '
        "day; for 100 per day compare with 100/86400 (0.001157), or multiply the slope by 86400",
        id="deriv, a day",
    ),
    pytest.param(
        """\
        - alert: ManyErrors
          expr: rate(http_errors_total[5m]) > 10  # more than 10 errors per 5 minutes
        """,
        """\
        - alert: ManyErrors
          expr: increase(http_errors_total[5m]) > 10  # more than 10 errors per 5 minutes
        """,
        'rate per 5m (a comment says "10 errors per 5 minutes"): `> 10` is 10 per second, '
        "3000 per 5m",
        id="per 5 minutes, a comment on the line",
    ),
    pytest.param(
        """\
        - alert: ManyErrors
          expr: increase(http_errors_total[5m]) > 10
          annotations:
            summary: "more than 10 errors/s"
        """,
        """\
        - alert: ManyErrors
          expr: rate(http_errors_total[5m]) > 10
          annotations:
            summary: "more than 10 errors/s"
        """,
        "increase(http_errors_total[5m]) counts within its 5m window, but this rule speaks of a "
        'rate per second (its summary says "10 errors/s"): `> 10` is 10 per 5m, 0.03333 per '
        "second; for 10 per second compare with 3000, or rate(http_errors_total[5m]) > 10",
        id="the mirror: increase() read as per second",
    ),
    pytest.param(
        """\
        - alert: PodRestartStorm
          expr: increase(kube_pod_container_status_restarts_total[1h]) > 5
          annotations:
            summary: "more than 5 restarts per minute"
        """,
        """\
        - alert: PodRestartStorm
          expr: increase(kube_pod_container_status_restarts_total[1h]) > 300
          annotations:
            summary: "more than 5 restarts per minute"
        """,
        "`> 5` is 5 per 1h, 0.08333 per minute; for 5 per minute compare with 300",
        id="the mirror: a count within 1h read as per minute",
    ),
    pytest.param(
        """\
        - alert: GPUHeatingFast
          expr: delta(DCGM_FI_DEV_GPU_TEMP[10m]) > 2
          annotations:
            summary: "temperature rising by more than 2 °C a minute"
        """,
        """\
        - alert: GPUHeatingFast
          expr: delta(DCGM_FI_DEV_GPU_TEMP[10m]) > 20
          annotations:
            summary: "temperature rising by more than 2 °C a minute"
        """,
        "delta(DCGM_FI_DEV_GPU_TEMP[10m]) counts within its 10m window, but this rule speaks "
        'of a rate per minute (its summary says "2 °C a minute")',
        id="the mirror: delta() read as per minute",
    ),
    pytest.param(
        """\
        - alert: Remaps
          expr: |
            # below 0.1 rows/hour is fine
            rate(DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS[1h]) >= 0.1
        """,
        """\
        - alert: Remaps
          expr: |
            # below 0.1 rows/hour is fine
            rate(DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS[1h]) >= 0.1 / 3600
        """,
        'a comment says "0.1 rows/hour"): `>= 0.1` is 0.1 per second, 360 per hour',
        id="a PromQL comment in the expression",
    ),
]


@pytest.mark.parametrize(("wrong", "right", "expected"), _MISTAKES)
def test_each_mistake_is_found_and_the_rule_written_right_is_not(
    tmp_path: Path, wrong: str, right: str, expected: str
) -> None:
    found = _found(tmp_path, wrong, "wrong.yml")
    assert len(found) == 1, [str(f) for f in found]
    assert expected in found[0].message
    assert _found(tmp_path, right, "right.yml") == []


def _alert(expr: str, words: str) -> str:
    return f"- alert: A\n  expr: {expr}\n  annotations:\n    description: {json.dumps(words)}\n"


# (a rule it finds, the same rule with words or an expression that make it right or unclear)
_SILENT = [
    pytest.param(
        _alert("rate(app_errors_total[5m]) > 1", "errors more than once an hour"),
        _alert("rate(app_errors_total[5m]) > 1", "errors for more than an hour"),
        id="an hour as a duration",
    ),
    pytest.param(
        _alert("rate(app_errors_total[5m]) > 1", "errors more than once a minute"),
        _alert("rate(app_errors_total[5m]) > 1", "errors within a minute of a deploy"),
        id="a minute as a duration",
    ),
    pytest.param(
        _alert("rate(node_vmstat_pgmajfault[5m]) > 500", "500 major page faults per minute"),
        _alert("rate(node_vmstat_pgmajfault[5m]) > 500", "500 major page faults per second"),
        id="per second is what rate() is",
    ),
    pytest.param(
        _alert("rate(app_errors_total[1h]) > 1", "above 1 error per hour"),
        _alert("rate(app_errors_total[1h]) > 1", "above 1 error per hour ({{ $value }}/s)"),
        id="two time units named: unclear",
    ),
    pytest.param(
        _alert("rate(app_restarts_total[5m]) > 5", "restart rate per minute is high"),
        _alert("rate(app_restarts_total[5m]) > 0.5", "restart rate per minute is high"),
        id="no number stated and a constant below 1",
    ),
    pytest.param(
        _alert("rate(app_errors_total[1h]) > 2", "more than 2 errors per hour"),
        _alert("rate(app_errors_total[1h]) > 1", "more than 2 errors per hour"),
        id="a number stated that is not the constant",
    ),
    pytest.param(
        _alert("rate(app_errors_total[1h]) > 1", "any error per hour"),
        _alert("rate(app_errors_total[1h]) > 0", "any error per hour"),
        id="zero is zero in every unit",
    ),
    pytest.param(
        _alert("rate(app_errors_total[1h]) > 1", "see https://wiki.example/errors per hour"),
        _alert("rate(app_errors_total[1h]) > 1", "see https://wiki.example/errors-per-hour"),
        id="words inside a link",
    ),
    pytest.param(
        _alert("sum(rate(t2v_inference_duration_seconds_count[5m])) > 300", "jobs per minute"),
        _alert(
            "histogram_quantile(0.95, sum by (le) (rate(t2v_inference_duration_seconds_bucket"
            "[5m]))) > 300",
            "P95 above 300 s while jobs per minute drop",
        ),
        id="a quantile of rates is no rate",
    ),
    pytest.param(
        _alert("rate(app_errors_total[5m]) > 2", "more than 2 errors per minute"),
        _alert(
            "rate(app_errors_total[5m]) / rate(app_requests_total[5m]) > 2",
            "more than 2 errors per minute",
        ),
        id="a quotient of rates is no rate",
    ),
    pytest.param(
        _alert("increase(app_errors_total[5m]) > 10", "10 errors/s"),
        _alert("increase(app_errors_total[5m]) > 10", "10 errors per 5 minutes ({{ $value }})"),
        id="a count within its own window",
    ),
    pytest.param(
        _alert("increase(app_errors_total[5m]) > 10", "10 errors/s"),
        _alert("increase(app_errors_total[5m]) > 10", "errors at {{ $value }}/s"),
        id="the mirror only with the constant stated",
    ),
]


@pytest.mark.parametrize(("found", "silent"), _SILENT)
def test_silent_where_the_words_do_not_say_another_unit(
    tmp_path: Path, found: str, silent: str
) -> None:
    assert len(_found(tmp_path, found, "found.yml")) == 1
    assert _found(tmp_path, silent, "silent.yml") == []


def test_turned_off_by_name_everywhere_and_by_comment(tmp_path: Path) -> None:
    rule = "- alert: A\n  expr: rate(app_errors_total[1h]) > 1  # 1 error per hour\n"
    path = _file(tmp_path, rule)
    assert [f.check for f in check_files([path]).findings] == ["rate-time-unit"]
    assert check_files([path], disabled=("rate-time-unit",)).findings == []
    path = _file(tmp_path, f"# gputop: disable=rate-time-unit\n{rule}", "off.yml")
    assert check_files([path]).findings == []


def test_a_comment_above_a_rule_is_that_rule_s_not_the_one_before(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """\
        - alert: A
          expr: rate(app_errors_total[1h]) > 1
          annotations:
            summary: "errors"

        # more than 1 error per hour; gputop: disable=raw-counter
        - alert: B
          expr: rate(app_errors_total[1h]) > 1
        """,
    )
    found = check_files([path]).findings
    assert [(f.rule, f.check) for f in found] == [("B", "rate-time-unit")]
    path = _file(
        tmp_path,
        """\
        - alert: A
          expr: DCGM_FI_DEV_FAN_SPEED < 10
          annotations:
            summary: "fans"

        # gputop: disable=default-export
        - alert: B
          expr: DCGM_FI_DEV_FAN_SPEED < 10
        """,
        "disabled.yml",
    )
    assert [(f.rule, f.check) for f in check_files([path]).findings] == [("A", "default-export")]
