"""The checks of values, units and joins: value-unit, absent-join, constant-scale, unreachable;
each finds the mistake the issue names and stays silent on the right way to write it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gputop.rules.lint import check_files


def _findings(tmp_path: Path, rules: str) -> list[tuple[int, int, str, str]]:
    path = tmp_path / "r.yml"
    body = textwrap.indent(textwrap.dedent(rules), "      ")
    path.write_text(f"groups:\n  - name: g\n    rules:\n{body}", encoding="utf-8")
    return [(f.line, f.col, f.check, f.message) for f in check_files([str(path)]).findings]


def _checks(tmp_path: Path, rules: str) -> list[str]:
    return [check for _, _, check, _ in _findings(tmp_path, rules)]


def test_the_mistakes_the_issue_names_are_found(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        """\
        - alert: GPUHotWhilePowerCapped
          expr: DCGM_FI_DEV_POWER_USAGE < 400 and DCGM_FI_DEV_GPU_TEMP > 80
          annotations:
            summary: "GPU {{ $labels.gpu }} is at {{ $value }}°C"
        - alert: ZombieGPUProcess
          expr: (nf_gpu_util > 0 or nf_vram_used_gb > 1) and on(gpu_uuid) absent(kube_pod_info)
        - alert: GPUMemoryLow
          expr: DCGM_FI_DEV_FB_FREE < 1024*1024*1024
        - alert: TensorCoresIdle
          expr: DCGM_FI_PROF_PIPE_TENSOR_ACTIVE*100 > 0.9
        - alert: UtilizationCollapsing
          expr: deriv(DCGM_FI_DEV_GPU_UTIL[5m]) < -2
        """,
    )
    by_check = {check: (line, col, message) for line, col, check, message in found}
    assert [check for _, _, check, _ in found] == [
        "value-unit",
        "absent-join",
        "constant-scale",
        "constant-scale",
        "unreachable",
    ]
    line, col, message = by_check["value-unit"]
    assert (line, col) == (7, 52)  # at $value in the summary
    assert (
        "prints the value as °C, but the value is in W (as DCGM_FI_DEV_POWER_USAGE is)" in message
    )
    line, col, message = by_check["absent-join"]
    assert (line, col) == (9, 63)  # at gpu_uuid in on(...)
    assert "absent(kube_pod_info)" in message and "never fires" in message
    fb, tensor = [m for _, _, c, m in found if c == "constant-scale"]
    assert "compared with 1073741824: that is 1 PiB" in fb and "compare with 1024" in fb
    assert "in percent (0–100) here" in tensor and "did you mean > 90?" in tensor
    assert "between -0.6667 and 0.6667: `< -2` can never hold" in by_check["unreachable"][2]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # value-unit
        (
            "- alert: A\n  expr: DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"
            " > 0.9\n  annotations:\n    description: 'memory {{ $value }}% used'\n",
            "value is in a 0–1 ratio: print it with humanizePercentage",
        ),
        (
            "- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL > 90\n  annotations:\n"
            "    summary: '{{ $value | humanizePercentage }} busy'\n",
            "humanizePercentage multiplies by 100 again",
        ),
        (
            "- alert: A\n  expr: avg_over_time(DCGM_FI_DEV_GPU_TEMP[5m]) > 85\n  annotations:\n"
            "    summary: '{{ printf \"%.0f\" $value }} W'\n",
            "prints the value as W, but the value is in °C",
        ),
        (
            "- alert: A\n  expr: DCGM_FI_DEV_FB_USED > 70000\n  annotations:\n"
            "    summary: '{{ $value }} GB used'\n",
            "prints the value as GB, but the value is in MiB",
        ),
        # absent-join
        (
            "- alert: A\n  expr: up{job='dcgm'} == 0 unless on(instance) absent(up{job='dcgm'})\n",
            "so `unless` never removes anything",
        ),
        (
            "- alert: A\n  expr: sum by (Hostname) (absent(DCGM_FI_DEV_GPU_TEMP{job='dcgm'}))\n",
            "the result never has a Hostname label",
        ),
        # constant-scale
        ("- alert: A\n  expr: DCGM_FI_DEV_SM_CLOCK < 1.2\n", "looks written in GHz"),
        ("- alert: A\n  expr: max(DCGM_FI_DEV_FB_USED) > 8e10\n", "looks written in bytes"),
        ("- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL > 0.8\n", "did you mean > 80?"),
        # unreachable
        (
            "- alert: A\n  expr: DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100 > 150\n",
            "DCGM_FI_PROF_GR_ENGINE_ACTIVE × 100 is between 0 and 100",
        ),
        (
            "- alert: A\n  expr: delta(DCGM_FI_DEV_MEM_COPY_UTIL[10m]) > 250\n",
            "the change of DCGM_FI_DEV_MEM_COPY_UTIL",
        ),
        ("- alert: A\n  expr: 100 - DCGM_FI_DEV_GPU_UTIL < -5\n", "can never hold"),
    ],
)
def test_each_new_check_finds(tmp_path: Path, rule: str, expected: str) -> None:
    found = [(c, m) for _, _, c, m in _findings(tmp_path, rule) if c != "default-export"]
    assert len(found) == 1 and expected in found[0][1], found


@pytest.mark.parametrize(
    "rule",
    [
        # the value printed in its own unit, or a unit the value may well be in
        "- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMP > 85\n  annotations:\n"
        "    summary: 'at {{ $value }}°C, over {{ $value }} C, {{ $value | humanize }}C'\n",
        "- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL < 10\n  annotations:\n"
        "    summary: '{{ $value }}% busy, {{ $value | printf \"%.1f\" }} %'\n",
        "- alert: A\n  expr: DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE > 9\n  annotations:\n"
        "    summary: '{{ $value | humanizePercentage }} of free'\n",
        "- alert: A\n  expr: DCGM_FI_DEV_FB_USED > 70000\n  annotations:\n"
        "    summary: '{{ $value }} MB used ({{ $value }}MiB)'\n",
        "- alert: A\n  expr: DCGM_FI_PROF_PCIE_TX_BYTES > 1e9\n  annotations:\n"
        "    summary: '{{ $value | humanize }}B/s sent'\n",
        "- alert: A\n  expr: count(DCGM_FI_DEV_GPU_TEMP > 85) > 2\n  annotations:\n"
        "    summary: '{{ $value }} GPUs hot'\n",
        "- alert: A\n  expr: up == 0\n  annotations:\n    summary: '{{ $value }}s'\n",
        # absent() joined on labels it has, through a gate, or with or
        "- alert: A\n  expr: up{job='x'} == 0 and on(job) absent(up{job='x'})\n",
        "- alert: A\n  expr: sum(rate(x_total[5m])) == 0 and on(job) absent(y)\n",
        "- alert: A\n  expr: vector(1) and on(gpu) absent(DCGM_FI_DEV_GPU_TEMP)\n",
        "- alert: A\n  expr: DCGM_FI_DEV_GPU_TEMP > 85 or on(gpu) absent(DCGM_FI_DEV_GPU_TEMP)\n",
        "- alert: A\n  expr: absent(DCGM_FI_DEV_GPU_TEMP{gpu='0'}) and on(gpu) up{gpu='0'}\n",
        "- alert: A\n  expr: |\n    DCGM_FI_DEV_GPU_TEMP{Hostname='a'} > 85\n"
        "    unless on(Hostname) label_replace(absent(up), 'Hostname', 'a', '', '')\n",
        # constants of the field's own scale, converted values, sums
        "- alert: A\n  expr: DCGM_FI_DEV_FB_FREE < 1024\n",
        "- alert: A\n  expr: DCGM_FI_DEV_FB_FREE * 1024 * 1024 < 1024*1024*1024\n",
        "- alert: A\n  expr: sum(DCGM_FI_DEV_FB_USED) > 1e9\n",
        "- alert: A\n  expr: DCGM_FI_PROF_PIPE_TENSOR_ACTIVE > 0.9\n",
        "- alert: A\n  expr: DCGM_FI_PROF_PIPE_TENSOR_ACTIVE * 100 > 90\n",
        "- alert: A\n  expr: DCGM_FI_DEV_GPU_UTIL < 0.1\n",
        "- alert: A\n  expr: DCGM_FI_DEV_SM_CLOCK < 300\n",
        "- alert: A\n  expr: DCGM_FI_DEV_SM_CLOCK * 1e6 > 2e9\n",
        # slopes and shifts a bounded field can reach
        "- alert: A\n  expr: deriv(DCGM_FI_DEV_GPU_UTIL[5m]) < -0.1\n",
        "- alert: A\n  expr: delta(DCGM_FI_DEV_GPU_UTIL[10m]) < -50\n",
        "- alert: A\n  expr: deriv(DCGM_FI_DEV_GPU_TEMP[5m]) > 2\n",  # unbounded: no range
        "- alert: A\n  expr: 100 - DCGM_FI_DEV_GPU_UTIL > 95\n",
    ],
)
def test_the_new_checks_stay_silent_on_right_rules(tmp_path: Path, rule: str) -> None:
    assert [c for c in _checks(tmp_path, rule) if c != "default-export"] == []


def test_each_new_check_is_turned_off_by_name(tmp_path: Path) -> None:
    rules = """\
        - alert: A  # gputop: disable=constant-scale
          expr: DCGM_FI_DEV_FB_FREE < 1024*1024*1024
        - alert: B  # gputop: disable=unreachable,absent-join
          expr: deriv(DCGM_FI_DEV_GPU_UTIL[5m]) < -2 and on(gpu) absent(up)
        - alert: C  # gputop: disable=value-unit
          expr: DCGM_FI_DEV_POWER_USAGE > 400
          annotations:
            summary: "{{ $value }}°C"
        """
    assert _checks(tmp_path, rules) == []
