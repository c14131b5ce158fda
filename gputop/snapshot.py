"""`--once`: one snapshot of the monitor as a readable table or as JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from gputop.core.jobs import jobs_text
from gputop.core.models import GpuSample, ServingSample
from gputop.core.units import format_latency, format_mib, format_since, format_value
from gputop.core.untrusted import visible
from gputop.monitor import Monitor
from gputop.rules.model import RuleStatus
from gputop.rules.text import rule_line

__all__ = ["snapshot_json", "snapshot_text"]


def snapshot_json(monitor: Monitor, rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The public --json contract: names here are added to, never renamed."""
    now = monitor.clock.now()
    latency = monitor.latency()
    serving_state = monitor.serving_state()
    fresh = serving_state.as_json(now) if serving_state is not None else None
    serving = [{**s.as_json(), "freshness": fresh} for s in monitor.serving()]
    return {
        "time": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(timespec="seconds"),
        "host": monitor.latest.host if monitor.latest else monitor.host,
        "sources": {name: state.as_json(now) for name, state in monitor.states().items()},
        "gpus": [{**g.as_json(), "lost_since": monitor.lost_since(g.key)} for g in monitor.gpus()],
        "processes": [p.as_json() for p in monitor.processes()],
        "latency": latency.as_json() if latency is not None else None,
        # the first model of the first inference server found; every one in serving_models
        "serving": serving[0] if serving else None,
        "serving_models": serving,
        "rules": rules or [],
        "rule_notes": list(_rule_notes(monitor)),
    }


def _rule_notes(monitor: Monitor) -> tuple[str, ...]:
    """What the rule engines say beside the rules (a file with no alerting rules)."""
    engines = (monitor.rules, monitor.local_rules)
    return tuple(note for e in engines if e is not None for note in e.notes)


def snapshot_text(monitor: Monitor, statuses: Sequence[RuleStatus] = ()) -> str:
    """A gpustat-like table: one line per GPU, the rules that are not ok, the processes; every
    control character of outside text (a process name, a label, an error) made visible."""
    snap = monitor.latest
    now = monitor.clock.now()
    stamp = dt.datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S")
    head = [f"{snap.host if snap else monitor.host}  {stamp}"]
    if snap and snap.driver_version:
        head.append(f"driver {snap.driver_version}")
    if snap and snap.cuda_version:
        head.append(f"CUDA {snap.cuda_version}")
    for name, state in monitor.states().items():
        if state.status.value != "off":
            reason = f" ({state.reason})" if state.reason else ""
            head.append(f"{name}: {state.status.value}{reason}")
    if monitor.remote is not None and monitor.rules is not None and monitor.rules.error:
        head.append(f"prometheus rules: error ({monitor.rules.error})")
    lost = monitor.lost_count()
    if lost:
        head.append(f"{lost} GPU{'s' if lost != 1 else ''} LOST")
    lines = ["  ".join(head)]
    for g in monitor.gpus():
        ident = f"[{g.index}]" if g.mig is None else f"  [{g.index} GI {g.mig.gi}]"
        if g.state == "lost":
            since = monitor.lost_since(g.key)
            when = f" since {format_since(since, now)}" if since is not None else ""
            lines.append(
                f"{ident} {_gpu_name(g):<24} LOST{when}: {g.reason or 'GPU is lost'}"
                f"  UUID {g.uuid or 'unknown (lost before it was read)'}"
                + (f"  {g.host}" if g.source == "prometheus" else "")
            )
            continue
        mem = f"{format_mib(g.memory_used_mib)} / {format_mib(g.memory_total_mib)}"
        who = jobs_text(g.jobs)
        lines.append(
            f"{ident} {_gpu_name(g):<24} "
            f"{format_value(g.temperature_c, '°C'):>5} "
            f"{format_value(g.utilization_gpu_pct, ' %'):>6} "
            f"{format_value(g.power_w, ' W'):>6} / {format_value(g.power_limit_w, ' W'):<6} "
            f"{mem:>19}"
            + (f"  {g.host}" if g.source == "prometheus" else "")
            + (f"  → {who}" if who else "")
        )
    latency = monitor.latency()
    if latency is not None and latency.p95_s is not None:
        p50, p95 = format_value(latency.p50_s, "s"), format_value(latency.p95_s, "s")
        lines.append(
            f"latency p50 {p50}  p95 {p95}"
            f"  p99 {format_value(latency.p99_s, 's')}  "
            f"{format_value(latency.jobs_per_min, ' jobs/min', 1)}"
        )
    serving_state = monitor.serving_state()
    stale = "" if serving_state is None or serving_state.ok else serving_state.status.value.upper()
    if stale and serving_state is not None and serving_state.reason:
        stale += f" ({serving_state.reason})"
    lines.extend(
        _serving_line(sample) + (f"  {stale}" if stale else "") for sample in monitor.serving()
    )
    troubled = [st for st in statuses if st.state != "ok"]
    notes = _rule_notes(monitor)
    if troubled or notes:
        lines.append("")
        lines.extend(f"{st.state.upper():<8} {rule_line(st, now)}" for st in troubled)
        lines.extend(f"{'NOTE':<8} {note}" for note in notes)
    procs = monitor.processes()
    if procs:
        lines.append("")
        lines.append(f"{'GPU':>6} {'PID':>7} {'USER':<10} {'GPU MEM':>9}  {'JOB':<24} COMMAND")
        for p in sorted(procs, key=lambda p: (p.gpu_index, p.gpu_instance or -1, p.pid)):
            gpu = str(p.gpu_index) if p.gpu_instance is None else f"{p.gpu_index}/{p.gpu_instance}"
            lines.append(
                f"{gpu:>6} {p.pid:>7} {(p.user or '?'):<10} "
                f"{format_mib(p.gpu_memory_mib):>9}  {jobs_text(p.jobs) or '-':<24} "
                f"{p.command or '?'}"
            )
    # names, labels, commands and reasons come from others: shown, never obeyed
    return "\n".join(visible(line) for line in lines)


def _gpu_name(gpu: GpuSample) -> str:
    """A GPU's model, or a MIG instance's profile."""
    if gpu.mig is not None:
        return f"MIG {gpu.mig.profile or '?'}"
    return gpu.name + (" (MIG)" if gpu.mig_mode else "")


def _serving_line(s: ServingSample) -> str:
    """One model of an inference server: `vLLM model  TTFT p95 0.21s  TPOT p95 ...`."""
    parts = [
        f"{s.engine} {s.model}".rstrip(),
        f"TTFT p95 {format_latency(s.ttft_p95_s)}",
        f"TPOT p95 {format_latency(s.tpot_p95_s)}",
        f"E2E p95 {format_latency(s.e2e_p95_s)}",
        f"running {format_value(s.running, '')}",
        f"waiting {format_value(s.waiting, '')}",
        f"KV {format_value(s.kv_cache_pct, '%')}",
    ]
    return "  ".join(parts)
