"""`gputop sim-exporter`: the simulated dcgm-exporter (`gputop.sources.simexporter`) served
on loopback ports.

`gputop sim-exporter --nodes 2 --gpus 8 --port 9400` serves sim-node-00 on 9400 and
sim-node-01 on 9401; every scrape of `/metrics` advances that node to the real time.
`--port 0` gives each node any free port. `--mig N`, `--slurm N` and `--vllm` add GPUs in
MIG mode, Slurm jobs and a vLLM server (see `gputop.sources.simexporter`).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gputop.sources.demo import SCENARIOS, DemoNode
from gputop.sources.simexporter import MAX_GPUS, MAX_NODES, make_nodes, render_metrics

__all__ = ["add_arguments", "main", "run"]


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
    if not 1 <= args.nodes <= MAX_NODES:
        return f"--nodes must be between 1 and {MAX_NODES}, got {args.nodes}"
    if not 1 <= args.gpus <= MAX_GPUS:
        return f"--gpus must be between 1 and {MAX_GPUS}, got {args.gpus}"
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
