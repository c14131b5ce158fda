"""The simulated dcgm-exporter: demo nodes served as Prometheus metrics on loopback ports.

`gputop sim-exporter --nodes 2 --gpus 8 --port 9400` serves sim-node-00 on 9400 and
sim-node-01 on 9401; every scrape of `/metrics` advances that node to the real time, so a
Prometheus scraping it sees the demo workload (hot GPU, memory creep, stuck job, slow
inference) as it would see real GPUs. Names and labels are dcgm-exporter's; alert rules rely
on them, so they must not change. `--port 0` gives each node any free port.

Options add what dcgm-exporter publishes in other setups:
- `--mig N`: the first N GPUs of each node are in MIG mode, split into a 3g.40gb and two
  1g.10gb GPU instances. As dcgm-exporter does, each instance is its own series (the GPU's
  `gpu` and `UUID`, plus `GPU_I_PROFILE` and `GPU_I_ID`) with its own memory and engine
  activity; device-level fields (temperature, power, clocks) repeat the GPU's value on every
  instance, and utilization, which DCGM has not per instance, is left out.
- `--slurm N`: the last N GPUs of each node run a Slurm job (`hpc_job`, dcgm-exporter's HPC
  mapping) instead of a Kubernetes pod.
- `--vllm`: each node also serves a vLLM server's metrics (see `simvllm`).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gputop.core.models import GpuSample
from gputop.sources.demo import LATENCY_BUCKETS, SCENARIOS, DemoNode
from gputop.sources.simvllm import VllmSim

__all__ = [
    "HISTOGRAM",
    "SimNode",
    "add_arguments",
    "main",
    "make_nodes",
    "openmetrics_history",
    "render_metrics",
    "run",
]

HISTOGRAM = "t2v_inference_duration_seconds"
_TOTAL_MIB = 81920.0
_MAX_NODES, _MAX_GPUS = 1024, 64

Sample = tuple[str, str, float]  # (metric name, rendered labels, value)

#: Gauges DCGM reads for the whole GPU: every instance's series repeats the GPU's value.
_DEVICE_LEVEL = frozenset(
    {
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
    }
)
#: Gauges DCGM has no value of per GPU instance: left out of an instance's series.
_NOT_PER_INSTANCE = frozenset({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL"})

# (name, help, value of one GPU) in dcgm-exporter's default order and wording
_GAUGES: tuple[tuple[str, str, Callable[[Any], float | None]], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda g: g.sm_clock_mhz),
    ("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", lambda g: g.mem_clock_mhz),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda g: g.temperature_c),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda g: g.power_w),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda g: g.utilization_gpu_pct),
    (
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "Memory utilization (in %).",
        lambda g: g.utilization_memory_pct,
    ),
    (
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        lambda g: round(g.memory_free_mib),
    ),
    (
        "DCGM_FI_DEV_FB_USED",
        "Framebuffer memory used (in MiB).",
        lambda g: round(g.memory_used_mib),
    ),
    (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "Ratio of time the graphics engine is active.",
        lambda g: round(g.utilization_gpu_pct / 100.0, 4),
    ),
)


@dataclass
class SimNode(DemoNode):
    """A demo node as the exporter serves it: with GPUs in MIG mode (the first `mig`), GPUs
    running a Slurm job (the last `slurm`), and a vLLM server (`vllm`)."""

    slurm: int = 0
    vllm: bool = False
    number: int = 0  # the node's place in the fleet (its Slurm job ids)
    serving: VllmSim | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vllm:
            self.serving = VllmSim(self.start, seed=self.seed, scenario=self.scenario)

    def advance_to(self, t: float) -> None:
        super().advance_to(t)
        if self.serving is not None:
            self.serving.advance_to(t)


def make_nodes(
    nodes: int,
    gpus: int,
    *,
    scenario: str = "mixed",
    seed: int = 7,
    start: float,
    mig: int = 0,
    slurm: int = 0,
    vllm: bool = False,
) -> list[SimNode]:
    """The simulated nodes sim-node-00, sim-node-01, ...; each its own seed, same start."""
    return [
        SimNode(
            start,
            seed=seed + i,
            gpus=gpus,
            scenario=scenario,
            host=f"sim-node-{i:02d}",
            mig=mig,
            slurm=slurm,
            vllm=vllm,
            number=i,
        )
        for i in range(nodes)
    ]


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _gpu_labels(node: DemoNode, g: GpuSample) -> str:
    """dcgm-exporter's labels, in its order: identity, MIG instance, host, then the job
    (a pod, or with its HPC mapping a Slurm job)."""
    host, mig = node.host, g.mig
    uuid = g.uuid if mig is None else mig.parent_uuid  # dcgm-exporter: the GPU's UUID
    labels = {"gpu": str(g.index), "UUID": uuid, "device": f"nvidia{g.index}"}
    labels["modelName"] = g.name
    if mig is not None:
        labels["GPU_I_PROFILE"], labels["GPU_I_ID"] = mig.profile or "", str(mig.gi)
    labels["Hostname"] = host
    slurm = node.slurm if isinstance(node, SimNode) else 0
    if g.index >= node.gpus - slurm:
        number = node.number if isinstance(node, SimNode) else 0
        labels["hpc_job"] = str(4242 + 100 * number + g.index)
    else:
        labels["container"] = "worker"
        labels["namespace"] = "t2v"
        suffix = f"-mig{mig.gi}" if mig is not None else ""
        labels["pod"] = f"t2v-serve-{host}-{g.index}{suffix}"
    return _labels(**labels)


def _gauge_rows(node: DemoNode) -> list[tuple[GpuSample, GpuSample, str, bool]]:
    """(reading, its GPU, labels, is a MIG instance) per series of the GPU gauges: a GPU in
    MIG mode has no series of its own, each of its instances one."""
    rows: list[tuple[GpuSample, GpuSample, str, bool]] = []
    whole: GpuSample | None = None
    for g in node.gpu_samples(source="sim-exporter"):
        if g.mig is None:
            whole = g
            if not g.mig_mode:
                rows.append((g, g, _gpu_labels(node, g), False))
            continue
        assert whole is not None, "a GPU instance follows its GPU"
        # DCGM has each instance's engine activity, which NVML does not give
        util = node.busy_pct(g.index) * node.mig_share(g.mig.gi)
        rows.append((replace(g, utilization_gpu_pct=util), whole, _gpu_labels(node, g), True))
    return rows


def _families(node: DemoNode) -> list[tuple[str, str, str, list[Sample]]]:
    """(family, help, type, samples) of one node at its current time."""
    host = node.host
    gpus = node.gpu_samples(source="sim-exporter")
    rows = _gauge_rows(node)
    out: list[tuple[str, str, str, list[Sample]]] = []
    for name, help_text, read in _GAUGES:
        samples: list[Sample] = []
        for own, whole, labels, instance in rows:
            if instance and name in _NOT_PER_INSTANCE:
                continue
            value = read(whole if instance and name in _DEVICE_LEVEL else own)
            if value is not None:
                samples.append((name, labels, float(value)))
        out.append((name, help_text, "gauge", samples))
    hist: list[Sample] = []
    cumulative = 0
    for bound, count in zip((*LATENCY_BUCKETS, math.inf), node.histogram, strict=True):
        cumulative += count
        le = "+Inf" if math.isinf(bound) else repr(bound)
        hist.append((f"{HISTOGRAM}_bucket", _labels(Hostname=host, le=le), float(cumulative)))
    hist.append((f"{HISTOGRAM}_sum", _labels(Hostname=host), node.latency_sum))
    hist.append((f"{HISTOGRAM}_count", _labels(Hostname=host), float(node.latency_count)))
    out.append((HISTOGRAM, "Duration of one text-to-video inference job.", "histogram", hist))
    completed = [
        (
            "t2v_jobs_completed_total",
            _labels(gpu=str(g.index), UUID=g.uuid, Hostname=host),
            float(node.completed(g.index)),
        )
        for g in gpus
    ]
    out.append(("t2v_jobs_completed_total", "Jobs completed per GPU.", "counter", completed))
    # DemoNode has no public accessor for its queue yet.
    depth = float(len(node._queue))
    out.append(
        (
            "t2v_queue_depth",
            "Jobs waiting for a free GPU.",
            "gauge",
            [("t2v_queue_depth", _labels(Hostname=host), depth)],
        )
    )
    serving = node.serving if isinstance(node, SimNode) else None
    if serving is not None:
        for family, help_text, kind, vllm_samples in serving.families():
            rendered = [(n, _labels(**lab), v) for n, lab, v in vllm_samples]
            out.append((family, help_text, kind, rendered))
    return out


def render_metrics(node: DemoNode) -> str:
    """The Prometheus text exposition (format 0.0.4) of one node at its current time."""
    lines: list[str] = []
    for family, help_text, kind, samples in _families(node):
        lines.append(f"# HELP {family} {help_text}")
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(f"{name}{labels} {_fmt(value)}" for name, labels, value in samples)
    return "\n".join(lines) + "\n"


def openmetrics_history(
    nodes: Sequence[DemoNode],
    start: float,
    end: float,
    step: float,
    *,
    target_labels: Sequence[Mapping[str, str]] = (),
) -> str:
    """OpenMetrics text of the nodes' metrics every `step` from start to end (for backfill).

    `target_labels[i]` (e.g. the `instance` and `job` a scrape would add) extend node i's
    labels, so back-filled and scraped samples form the same series. Each series is written
    whole, oldest first, ending with `# EOF`, as `promtool tsdb create-blocks-from
    openmetrics` wants. The nodes are advanced to `end`.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for i, node in enumerate(nodes):
        extra = target_labels[i] if i < len(target_labels) else {}
        suffix = "".join(f',{k}="{_escape(v)}"' for k, v in extra.items())
        t = float(math.ceil(max(start, node.now)))
        while t <= end:
            node.advance_to(t)
            for _, _, _, samples in _families(node):
                for name, labels, value in samples:
                    key = (name, labels[:-1] + suffix + "}")
                    series.setdefault(key, []).append((t, value))
            t += step
    lines = [
        f"{name}{labels} {_fmt(value)} {_fmt(t)}"
        for (name, labels), points in series.items()
        for t, value in points
    ]
    return "\n".join([*lines, "# EOF"]) + "\n"


class _NodeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, node: DemoNode, now: Callable[[], float]) -> None:
        super().__init__(("127.0.0.1", port), _MetricsHandler)
        self.node = node
        self._now = now
        self._lock = threading.Lock()

    def scrape(self) -> bytes:
        with self._lock:  # scrapes may overlap; the simulation is not thread-safe
            self.node.advance_to(self._now())
            return render_metrics(self.node).encode()


class _MetricsHandler(BaseHTTPRequestHandler):
    server: _NodeServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") != "/metrics":
            self.send_error(404, "only /metrics is served here")
            return
        body = self.server.scrape()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # one line per scrape per second would drown the terminal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `gputop sim-exporter`."""
    parser.add_argument("--nodes", type=int, default=1, help="simulated nodes (default 1)")
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per node (default 8)")
    parser.add_argument(
        "--port",
        type=int,
        default=9400,
        help="port of the first node; node i listens on PORT+i (0: any free port each)",
    )
    parser.add_argument(
        "--scenario", default="mixed", help=f"one of {', '.join(SCENARIOS)} (default mixed)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--mig",
        type=int,
        default=0,
        metavar="N",
        help="the first N GPUs of each node in MIG mode: 3g.40gb + 2x 1g.10gb (default 0)",
    )
    parser.add_argument(
        "--slurm",
        type=int,
        default=0,
        metavar="N",
        help="the last N GPUs of each node run a Slurm job (hpc_job) instead of a pod",
    )
    parser.add_argument(
        "--vllm", action="store_true", help="each node also serves a vLLM server's metrics"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="start the simulation this long in the past (default 600)",
    )
    parser.add_argument(
        "--start",
        type=float,
        default=None,
        metavar="EPOCH",
        help="start the simulation at this Unix time instead (reproducible runs)",
    )


def _check(args: argparse.Namespace) -> str | None:
    """The first bad option as a one-line message, or None."""
    if not 1 <= args.nodes <= _MAX_NODES:
        return f"--nodes must be between 1 and {_MAX_NODES}, got {args.nodes}"
    if not 1 <= args.gpus <= _MAX_GPUS:
        return f"--gpus must be between 1 and {_MAX_GPUS}, got {args.gpus}"
    if args.port != 0 and not (args.port >= 1 and args.port + args.nodes - 1 <= 65535):
        return f"--port {args.port} leaves no room for {args.nodes} node(s) below 65536"
    if not 0 <= args.mig <= args.gpus:
        return f"--mig must be between 0 and --gpus ({args.gpus}), got {args.mig}"
    if not 0 <= args.slurm <= args.gpus - args.mig:
        return f"--slurm must be between 0 and {args.gpus - args.mig} (GPUs not in MIG mode)"
    if args.scenario not in SCENARIOS:
        return f"--scenario must be one of {', '.join(SCENARIOS)}, got {args.scenario!r}"
    if not math.isfinite(args.warmup) or args.warmup < 0:
        return f"--warmup must be zero or more seconds, got {args.warmup}"
    if args.start is not None and (not math.isfinite(args.start) or args.start > time.time()):
        return f"--start must be a Unix time not in the future, got {args.start}"
    return None


def run(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or `stop` is set); 2 for bad options, 1 when a port
    cannot be opened."""
    problem = _check(args)
    if problem:
        print(f"gputop sim-exporter: {problem}", file=sys.stderr)
        return 2
    start = args.start if args.start is not None else time.time() - args.warmup
    nodes = make_nodes(
        args.nodes,
        args.gpus,
        scenario=args.scenario,
        seed=args.seed,
        start=start,
        mig=args.mig,
        slurm=args.slurm,
        vllm=args.vllm,
    )
    servers: list[_NodeServer] = []
    try:
        for i, node in enumerate(nodes):
            node.advance_to(time.time())  # the warm-up runs now, not in the first scrape
            port = 0 if args.port == 0 else args.port + i
            try:
                servers.append(_NodeServer(port, node, time.time))
            except OSError as exc:
                print(
                    f"gputop sim-exporter: cannot listen on 127.0.0.1:{port}: "
                    f"{exc.strerror or exc}",
                    file=sys.stderr,
                )
                return 1
        return _serve(servers, stop or threading.Event())
    finally:
        for server in servers:
            server.server_close()


def _serve(servers: Sequence[_NodeServer], stop: threading.Event) -> int:
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        for s in servers
    ]
    for server, thread in zip(servers, threads, strict=True):
        thread.start()
        print(
            f"serving {server.node.host} on http://127.0.0.1:{server.server_address[1]}/metrics",
            flush=True,
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for server in servers:
            server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _OneLineParser(
        prog="gputop sim-exporter",
        description="Serve simulated dcgm-exporter metrics of demo GPU nodes on loopback.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
