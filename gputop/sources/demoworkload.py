"""What the demo node simulates: the text-to-video pipeline's phases and their load, a job, a
GPU's state, the scenarios and their episodes, the hardware's numbers (an A100 80GB) and the
MIG layout of a GPU in MIG mode.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DIFFUSION_STEPS",
    "LATENCY_BUCKETS",
    "MIB_TOTAL",
    "MIG_LAYOUT",
    "NO_MIG_UTIL",
    "PHASES",
    "POWER_IDLE",
    "POWER_LIMIT",
    "RESIDENT_MIB",
    "SCENARIOS",
    "Episode",
    "GpuState",
    "Job",
    "Phase",
]

SCENARIOS = ("mixed", "calm", "hot-gpu", "memory-creep", "stuck-job", "slow")
#: Histogram bucket bounds (seconds) of the simulated inference-duration histogram.
LATENCY_BUCKETS = (30.0, 60.0, 120.0, 180.0, 240.0, 270.0, 300.0, 360.0, 480.0, 600.0, 900.0)

MIB_TOTAL = 81920.0  # A100 80GB
RESIDENT_MIB = 28_900.0  # weights of the DiT, text encoder and VAE, resident between jobs
POWER_IDLE, POWER_LIMIT = 62.0, 400.0
#: The GPU instances of a GPU in MIG mode: (GPU instance id, profile, MiB, share of the GPU's
#: memory use and engine activity it carries).
MIG_LAYOUT: tuple[tuple[int, str, float, float], ...] = (
    (1, "3g.40gb", 40192.0, 0.62),
    (7, "1g.10gb", 9856.0, 0.55),
    (8, "1g.10gb", 9856.0, 0.2),
)
NO_MIG_UTIL = "NVML gives no utilization per MIG instance"


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    seconds: float  # mean length
    util: float  # GPU utilization, %
    mem_util: float  # memory-bus utilization, %
    extra_mib: float  # activations held on top of the resident weights


PHASES = (
    Phase("text-encode", 6.0, 38.0, 12.0, 6_000.0),
    Phase("diffusion", 5.4, 97.0, 46.0, 30_500.0),  # per step
    Phase("vae-decode", 24.0, 76.0, 62.0, 42_000.0),
    Phase("super-res", 19.0, 88.0, 40.0, 21_000.0),
)
DIFFUSION_STEPS = 40


@dataclass(slots=True)
class Job:
    id: int
    arrived: float
    phase: int = 0
    step: int = 0
    phase_left: float = 0.0
    stuck: bool = False


@dataclass(slots=True)
class GpuState:
    index: int
    uuid: str
    pid: int
    started: float
    job: Job | None = None
    temp: float = 34.0
    power: float = POWER_IDLE
    util: float = 0.0
    mem_util: float = 0.0
    mem_mib: float = RESIDENT_MIB
    leak_mib: float = 0.0
    completed: int = 0
    hot: bool = False
    creeping: bool = False


@dataclass(slots=True)
class Episode:
    kind: str
    gpu: int
    start: float
    end: float
