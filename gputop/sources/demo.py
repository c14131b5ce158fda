"""A simulated 8-GPU node serving a text-to-video model (Wan2.2-T2V-A14B-like).

Jobs arrive at random (seeded) and queue for a free GPU; each holds GPU memory through its
phases: text encoding, a diffusion loop of tens of steps, VAE decode and super-resolution.
Utilization and power follow the phase; temperature follows power with a lag. Episodes make
things go wrong: a hot GPU, memory creep to near-OOM, a stuck job, slow inference.

The workload's numbers and states are `demoworkload`'s; `demosource` reads the node as a local
source. The model is driven by an injected clock in fixed 1 s steps, so it is deterministic from its
seed and an hour is simulated in well under a second.

Each GPU's worker is a Kubernetes pod (`inference/t2v-worker-<i>`). With `mig`, the first GPUs
are in MIG mode, split as `MIG_LAYOUT` says: each GPU instance a row of its own with its own
memory and worker pod, as NVML shows them (no utilization per instance; temperature and power
on the GPU).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from dataclasses import dataclass, field, replace

from gputop.core import models
from gputop.core.models import GpuSample, LatencySample, MigInfo, ProcessSample
from gputop.sources.demoworkload import (
    DIFFUSION_STEPS,
    LATENCY_BUCKETS,
    MIB_TOTAL,
    MIG_LAYOUT,
    NO_MIG_UTIL,
    PHASES,
    POWER_IDLE,
    POWER_LIMIT,
    RESIDENT_MIB,
    SCENARIOS,
    Episode,
    GpuState,
    Job,
)

__all__ = ["LATENCY_BUCKETS", "MIG_LAYOUT", "SCENARIOS", "DemoNode"]

STEP_S = 1.0  # the simulation's step
_LATENCY_WINDOW = 300.0


@dataclass
class DemoNode:
    """The simulation itself; `demosource.DemoSource` reads it as a source, `sim-exporter`
    serves it."""

    start: float
    seed: int = 7
    gpus: int = 8
    scenario: str = "mixed"
    host: str = "demo-node"
    model: str = "NVIDIA A100-SXM4-80GB"
    mig: int = 0  # the first `mig` GPUs are in MIG mode (MIG_LAYOUT)
    now: float = field(init=False)
    _rng: random.Random = field(init=False, repr=False)
    _gpus: list[GpuState] = field(init=False, repr=False)
    _queue: deque[Job] = field(init=False, repr=False)
    _done: deque[tuple[float, float]] = field(init=False, repr=False)
    _episodes: list[Episode] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r} (one of {', '.join(SCENARIOS)})")
        self.now = self.start
        self._rng = random.Random(self.seed)
        self._gpus = [
            GpuState(
                index=i,
                uuid=_uuid(self.seed, self.host, i),
                pid=41_200 + 17 * i,
                started=self.start - 3 * 86400 - 60 * i,
            )
            for i in range(self.gpus)
        ]
        self._queue = deque()
        self._done = deque()
        self._next_job = 1
        self._next_arrival = self.start + self._rng.expovariate(self._arrival_rate())
        self.histogram = [0] * (len(LATENCY_BUCKETS) + 1)  # cumulative counts added below
        self.latency_sum = 0.0
        self.latency_count = 0
        self._episodes = self._plan_episodes()
        # Start in steady state: jobs already running at staggered phases.
        for g in self._gpus:
            if self._rng.random() < 0.8:
                g.job = self._new_job(self.start - self._rng.uniform(0, 200))
                g.job.phase = 1
                g.job.step = self._rng.randrange(DIFFUSION_STEPS)
                g.job.phase_left = PHASES[1].seconds
                g.temp = 58.0 + self._rng.uniform(-3, 3)

    # ---- public -------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Run the simulation in 1 s steps up to time t (never backwards)."""
        while self.now + STEP_S <= t:
            self.now += STEP_S
            self._step()

    def gpu_samples(self, source: str = "demo") -> tuple[GpuSample, ...]:
        """Every GPU, each in MIG mode followed by its GPU instances."""
        out: list[GpuSample] = []
        for g in self._whole_gpus(source):
            if g.index >= self.mig:
                out.append(replace(g, jobs=(self._pod(g.index),)))
                continue
            instances = [self._instance(g, *slot) for slot in MIG_LAYOUT]
            used = sum(i.memory_used_mib or 0.0 for i in instances)
            jobs = tuple(job for i in instances for job in i.jobs)
            # NVML has no utilization of a GPU in MIG mode; its memory is its instances'
            parent = replace(
                g,
                memory_used_mib=used,
                utilization_gpu_pct=None,
                utilization_memory_pct=None,
                mig_mode=True,
                jobs=jobs,
            )
            out.extend([parent, *instances])
        return tuple(out)

    def busy_pct(self, gpu: int) -> float:
        """How busy a GPU's engines are, %, whether or not NVML reports it (MIG mode)."""
        return round(self._gpus[gpu].util)

    def mig_share(self, gi: int) -> float:
        """The share of its GPU's memory use and activity a GPU instance carries."""
        return next(share for slot_gi, _, _, share in MIG_LAYOUT if slot_gi == gi)

    def _instance(
        self, g: GpuSample, gi: int, profile: str, total: float, share: float
    ) -> GpuSample:
        used = min(total, round(total * share * (g.memory_used_mib or 0.0) / MIB_TOTAL * 1.6))
        mig = MigInfo(gi, 0, profile, g.uuid, (("utilization_gpu_pct", NO_MIG_UTIL),))
        return GpuSample(
            index=g.index,
            uuid=f"MIG-{g.uuid.removeprefix('GPU-')[:-1]}{gi:x}",
            name=g.name,
            host=g.host,
            source=g.source,
            time=g.time,
            memory_used_mib=float(used),
            memory_total_mib=total,
            mig=mig,
            jobs=(self._pod(g.index, gi),),
        )

    def _pod(self, index: int, gi: int | None = None) -> models.Job:
        suffix = "" if gi is None else f"-mig{gi}"
        r = random.Random(f"{self.seed}:{self.host}:{index}:{gi}:pod")
        h = f"{r.getrandbits(128):032x}"
        uid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        name = f"t2v-worker-{index}{suffix}"
        return models.Job("pod", name=name, namespace="inference", container="t2v", uid=uid)

    def _whole_gpus(self, source: str) -> tuple[GpuSample, ...]:
        return tuple(
            GpuSample(
                index=g.index,
                uuid=g.uuid,
                name=self.model,
                host=self.host,
                source=source,
                time=self.now,
                memory_used_mib=round(g.mem_mib, 1),
                memory_total_mib=MIB_TOTAL,
                utilization_gpu_pct=round(g.util),
                utilization_memory_pct=round(g.mem_util),
                temperature_c=round(g.temp),
                power_w=round(g.power, 1),
                power_limit_w=POWER_LIMIT,
                sm_clock_mhz=1410.0 if g.util > 5 else 210.0,
                mem_clock_mhz=1593.0,
                fan_pct=None,  # datacenter parts have no fan reading
            )
            for g in self._gpus
        )

    def processes(self) -> tuple[ProcessSample, ...]:
        """One worker per GPU, or per GPU instance of a GPU in MIG mode."""
        out: list[ProcessSample] = []
        for row in self.gpu_samples():
            if row.mig_mode:
                continue  # its workers run in its instances
            g = self._gpus[row.index]
            gi = None if row.mig is None else row.mig.gi
            used = row.memory_used_mib if row.mig is not None else g.mem_mib
            out.append(
                ProcessSample(
                    gpu_index=g.index,
                    gpu_uuid=row.uuid,
                    pid=g.pid + (0 if gi is None else 100_000 + gi),
                    gpu_memory_mib=round((used or 0.0) - 520.0, 1),
                    user="t2v",
                    command=f"python -m t2v_serve --model Wan2.2-T2V-A14B --device cuda:{g.index}",
                    cpu_pct=round(4.0 + g.util * 0.9, 1),
                    started=g.started,
                    gpu_instance=gi,
                    jobs=row.jobs,
                )
            )
        return tuple(out)

    def latency(self) -> LatencySample:
        cutoff = self.now - _LATENCY_WINDOW
        while self._done and self._done[0][0] < cutoff:
            self._done.popleft()
        durations = sorted(d for _, d in self._done)
        per_min = len(durations) * 60.0 / _LATENCY_WINDOW
        if not durations:
            return LatencySample(self.now, None, None, None, per_min)
        return LatencySample(
            self.now,
            _quantile(durations, 0.50),
            _quantile(durations, 0.95),
            _quantile(durations, 0.99),
            per_min,
        )

    def completed(self, gpu: int) -> int:
        return self._gpus[gpu].completed

    def phase_of(self, gpu: int) -> str:
        job = self._gpus[gpu].job
        return "idle" if job is None else PHASES[job.phase].name

    # ---- simulation ---------------------------------------------------------------------

    def _arrival_rate(self) -> float:
        mean_job = sum(p.seconds for p in PHASES) + (DIFFUSION_STEPS - 1) * PHASES[1].seconds
        return 0.7 * self.gpus / mean_job

    def _plan_episodes(self) -> list[Episode]:
        """Episodes as (kind, gpu, start, end) offsets in seconds from the start."""
        n = self.gpus
        forever = math.inf
        single = {
            "calm": [],
            "hot-gpu": [Episode("hot", min(3, n - 1), 0.0, forever)],
            "memory-creep": [Episode("creep", min(5, n - 1), 0.0, forever)],
            "stuck-job": [Episode("stuck", min(6, n - 1), 0.0, forever)],
            "slow": [Episode("slow", -1, 0.0, forever)],
        }
        if self.scenario in single:
            return single[self.scenario]
        # mixed: the same three episodes recur every hour at these offsets
        return [
            Episode("hot", min(3, n - 1), 0.0, 1500.0),
            Episode("creep", min(5, n - 1), 200.0, 1700.0),
            Episode("stuck", min(6, n - 1), 1900.0, 2800.0),
        ]

    def _active(self, kind: str, gpu: int) -> bool:
        offset = self.now - self.start
        if self.scenario == "mixed":
            offset %= 3600.0
        return any(
            e.kind == kind and e.gpu in (gpu, -1) and e.start <= offset < e.end
            for e in self._episodes
        )

    def _new_job(self, arrived: float) -> Job:
        job = Job(self._next_job, arrived, phase_left=self._jitter(PHASES[0].seconds))
        self._next_job += 1
        return job

    def _jitter(self, seconds: float) -> float:
        slow = 1.38 if self._active("slow", -1) else 1.0
        return max(0.5, self._rng.gauss(seconds, seconds * 0.08)) * slow

    def _step(self) -> None:
        rng = self._rng
        while self._next_arrival <= self.now:
            self._queue.append(self._new_job(self._next_arrival))
            self._next_arrival += rng.expovariate(self._arrival_rate())
        for g in self._gpus:
            g.hot = self._active("hot", g.index)
            g.creeping = self._active("creep", g.index)
            if g.job is None and self._queue:
                g.job = self._queue.popleft()
            job = g.job
            if job is not None:
                job.stuck = job.phase == 1 and self._active("stuck", g.index)
                if not job.stuck:
                    job.phase_left -= STEP_S
                    if job.phase_left <= 0:
                        self._next_phase(g, job)
            self._physics(g)

    def _next_phase(self, g: GpuState, job: Job) -> None:
        if job.phase == 1 and job.step + 1 < DIFFUSION_STEPS:
            job.step += 1
            job.phase_left = self._jitter(PHASES[1].seconds)
            return
        job.phase += 1
        if job.phase < len(PHASES):
            job.phase_left = self._jitter(PHASES[job.phase].seconds)
            return
        duration = self.now - job.arrived
        self._done.append((self.now, duration))
        self.latency_sum += duration
        self.latency_count += 1
        self.histogram[bisect.bisect_left(LATENCY_BUCKETS, duration)] += 1
        g.completed += 1
        g.job = None

    def _physics(self, g: GpuState) -> None:
        rng = self._rng
        job = g.job
        if job is None:
            util, mem_util, extra = 0.0, 0.0, 0.0
        else:
            phase = PHASES[job.phase]
            util, mem_util, extra = phase.util, phase.mem_util, phase.extra_mib
            if job.stuck:
                util, mem_util = 99.0, 8.0
            util = min(100.0, max(97.0 if job.stuck else 0.0, util + rng.gauss(0, 1.5)))
            mem_util = max(0.0, mem_util + rng.gauss(0, 2.0))
        g.util = util
        g.mem_util = mem_util
        if g.creeping:
            g.leak_mib += 9.0
        elif g.leak_mib:
            g.leak_mib = max(0.0, g.leak_mib - 600.0)
        target = RESIDENT_MIB + extra + g.leak_mib
        if target > MIB_TOTAL * 0.985:  # the allocator gives up: the worker restarts
            g.leak_mib = 0.0
            g.pid += 1000
            g.started = self.now
            g.job = None
            target = RESIDENT_MIB
        g.mem_mib += (target - g.mem_mib) * 0.6
        power_target = POWER_IDLE + (util / 100.0) * (POWER_LIMIT - POWER_IDLE - 25.0)
        g.power += (power_target - g.power) * 0.5 + rng.gauss(0, 2.0)
        g.power = min(POWER_LIMIT, max(POWER_IDLE * 0.8, g.power))
        temp_target = 29.0 + 0.095 * g.power + (26.0 if g.hot else 0.0)
        g.temp += (temp_target - g.temp) / 45.0


def _uuid(seed: int, host: str, index: int) -> str:
    r = random.Random(f"{seed}:{host}:{index}")
    h = f"{r.getrandbits(128):032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of already-sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
