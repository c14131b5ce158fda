"""A heavy Prometheus and Alertmanager on one loopback port: thousands of alerting rules, a
status whose `config.original` is megabytes of YAML, and, on demand, a delay on every answer.

What a big production setup sends, in plain text (no attack in it: see `hostile_server` for
that): `rules` alerting rules in groups of `group_size`, each with its own compared query (so
nothing is shared between rules), a few of them firing or pending; GPU series whose values
move with time; the freshness probe and the raw samples a scrape interval is learnt from;
Alertmanager's alerts, groups and silences for the firing rules, and `/api/v2/status` with a
`config.original` of about `status_bytes` (a route per rule, a receiver per team). A range
query made of parts tagged with `label_replace(..., "<label>", "<value>", "", "")` joined by
`or` is answered part by part, each part's series with its tag.

In tests: `with HeavyServer(rules=3000, delay_s=0.2) as server: server.url`. By hand:
`python -m tests.support.heavy_server --port 9098 --rules 3000 --delay 0.2`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.support.hostile_server import Answer, HostileServer, serve_until_interrupted

__all__ = ["HeavyServer", "big_config"]

_MIB = 1024 * 1024
HOST = "heavy-node"
INSTANCE = "heavy-node:9400"
#: The tag of one part of a batched query: `label_replace(<q>, "<label>", "<value>", "", "")`.
_TAG = re.compile(r',\s*"(\w+)",\s*"([^"]*)",\s*"",\s*""\)\s*$')
_GPU = re.compile(r'gpu="(\d+)"')
_RANGE = re.compile(r"\[(\d+)s\]\s*$")


def big_config(size: int, *, group_wait: str = "10s") -> str:
    """Alertmanager's configuration as it echoes it, about `size` bytes: a route per team and
    a receiver with webhooks per team, `route.group_wait` set to `group_wait`."""
    head = (
        "global:\n  resolve_timeout: 5m\n"
        f"route:\n  receiver: default\n  group_by: [alertname]\n  group_wait: {group_wait}\n"
        "  group_interval: 5m\n  repeat_interval: 4h\n  routes:\n"
    )
    routes: list[str] = []
    receivers: list[str] = ["receivers:\n- name: default\n"]
    used = len(head) + len(receivers[0])
    team = 0
    while used < size:
        route = (
            f'  - receiver: team-{team}\n    matchers:\n    - team="team-{team}"\n'
            f'    - severity=~"critical|warning"\n    continue: false\n'
        )
        receiver = (
            f"- name: team-{team}\n  webhook_configs:\n"
            f"  - url: http://relay.example/hook/team-{team}\n    send_resolved: true\n"
            f"    max_alerts: 0\n"
        )
        routes.append(route)
        receivers.append(receiver)
        used += len(route) + len(receiver)
        team += 1
    return head + "".join(routes) + "".join(receivers)


class HeavyServer(HostileServer):
    """Prometheus' and Alertmanager's APIs on 127.0.0.1, heavy; `delay_s` before each answer."""

    def __init__(
        self,
        *,
        rules: int = 3000,
        group_size: int = 100,
        status_bytes: int = 4 * _MIB,
        delay_s: float = 0.0,
        gpus: int = 8,
        interval_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        port: int = 0,
    ) -> None:
        super().__init__(gpus=gpus, clock=clock, port=port)
        self.rule_count = rules
        self.group_size = max(1, group_size)
        self.interval_s = interval_s
        self.delay_s = delay_s
        self.started = clock()
        self.keep_requests = False  # a long run asks tens of thousands of queries
        self._rules_doc: tuple[float, dict[str, Any]] = (-1.0, {})
        self._rules_lock = threading.Lock()
        original = big_config(status_bytes)
        status = {
            "cluster": {"name": "heavy", "status": "ready", "peers": []},
            "versionInfo": {"version": "0.25.0", "branch": "HEAD", "revision": "heavy"},
            "config": {"original": original},
            "uptime": "2026-01-01T00:00:00.000Z",
        }
        self.answer("/api/v2/status", Answer(body=json.dumps(status).encode()))

    # ---- Prometheus ---------------------------------------------------------------------

    def gpu_labels(self, i: int) -> dict[str, str]:
        return {
            "__name__": "DCGM_FI_DEV_GPU_TEMP",
            "gpu": str(i),
            "UUID": f"GPU-heavy-{i:04d}",
            "Hostname": HOST,
            "modelName": "NVIDIA A100-SXM4-80GB",
            "instance": INSTANCE,
        }

    def value(self, gpu: int, t: float) -> float:
        """A reading that moves: 60-90, a different phase per GPU."""
        return round(75.0 + 15.0 * math.sin(t / 40.0 + gpu), 1)

    def series(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        times: list[float] = []
        t = start
        while t <= end and len(times) < 11_000:
            times.append(t)
            t += step
        if "DCGM_FI" not in query:  # the latency panel: no histogram here
            return []
        out: list[dict[str, Any]] = []
        for part in query.split(" or "):
            tag = _TAG.search(part)
            gpu = _GPU.search(part)
            for i in range(self.gpus) if gpu is None else (int(gpu.group(1)),):
                if i >= self.gpus:
                    continue
                labels = self.gpu_labels(i)
                if tag is not None:
                    labels[tag.group(1)] = tag.group(2)
                points = [[x, str(self.value(i, x))] for x in times]
                out.append({"metric": labels, "values": points})
        return out

    def instant(self, query: str) -> list[dict[str, Any]]:
        now = self.clock()
        newest = float(math.floor(now))
        if "vector(time())" in query:  # the freshness probe
            return [
                {"metric": {"gputop_probe": "now"}, "value": [now, str(now)]},
                {
                    "metric": {"gputop_probe": "gpu", "instance": INSTANCE},
                    "value": [now, str(newest)],
                },
            ]
        return [
            {"metric": self.gpu_labels(i), "value": [now, str(self.value(i, now))]}
            for i in range(self.gpus)
        ]

    def raw(self, query: str) -> list[dict[str, Any]]:
        """The raw samples of a range selector: one a second, for each GPU."""
        now = math.floor(self.clock())
        found = _RANGE.search(query)
        window = int(found.group(1)) if found is not None else 60
        times = [now - k for k in range(min(window, 600) - 1, -1, -1)]
        return [
            {
                "metric": {**self.gpu_labels(i), "__name__": "DCGM_FI_DEV_FB_USED"},
                "values": [[t, "1000"] for t in times],
            }
            for i in range(self.gpus)
        ]

    def rules(self) -> dict[str, Any]:
        now = self.clock()
        with self._rules_lock:
            at, doc = self._rules_doc
            if now - at < 1.0:
                return doc
            doc = self._build_rules(now)
            self._rules_doc = (now, doc)
            return doc

    def _build_rules(self, now: float) -> dict[str, Any]:
        groups: list[dict[str, Any]] = []
        for g, first in enumerate(range(0, self.rule_count, self.group_size)):
            phase = (g * 0.37) % self.interval_s
            evaluated = math.floor((now - phase) / self.interval_s) * self.interval_s + phase
            rules = [
                self._rule(k, evaluated + 0.001 * (k - first))
                for k in range(first, min(first + self.group_size, self.rule_count))
            ]
            groups.append(
                {
                    "name": f"team-{g}",
                    "file": f"/etc/prometheus/rules/team-{g}.yml",
                    "interval": self.interval_s,
                    "rules": rules,
                }
            )
        return {"groups": groups}

    def _rule(self, k: int, evaluated: float) -> dict[str, Any]:
        gpu = k % self.gpus
        state = "firing" if k % 500 == 7 else "pending" if k % 500 == 11 else "inactive"
        labels = {"severity": "warning", "team": f"team-{k // self.group_size}"}
        alerts = []
        if state != "inactive":
            alert_labels = {**self.gpu_labels(gpu), "alertname": f"GpuHot{k:04d}", **labels}
            alert_labels.pop("__name__")
            alerts.append(
                {
                    "labels": alert_labels,
                    "annotations": {"summary": f"GPU {gpu} is hot"},
                    "state": state,
                    "activeAt": _rfc3339(self.started - 600 - k % 60),
                    "value": str(self.value(gpu, evaluated)),
                }
            )
        return {
            "name": f"GpuHot{k:04d}",
            "query": f'DCGM_FI_DEV_GPU_TEMP{{gpu="{gpu}", instance!="retired-{k}"}} > '
            f"{70 + k % 25}",
            "duration": 300,
            "labels": labels,
            "annotations": {"summary": "GPU {{ $labels.gpu }} is hot"},
            "alerts": alerts,
            "health": "ok",
            "type": "alerting",
            "state": state,
            "lastEvaluation": _rfc3339(evaluated, fraction=True),
            "evaluationTime": 0.0005,
        }

    # ---- Alertmanager -------------------------------------------------------------------

    def _firing(self) -> list[dict[str, Any]]:
        return [
            a
            for group in self.rules()["groups"]
            for rule in group["rules"]
            for a in rule["alerts"]
            if a["state"] == "firing"
        ]

    def am_alerts(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [
            {
                "labels": a["labels"],
                "annotations": a["annotations"],
                "fingerprint": f"{n:016x}",
                "receivers": [{"name": a["labels"]["team"]}],
                "startsAt": a["activeAt"],
                "endsAt": _rfc3339(now + 3600),
                "updatedAt": _rfc3339(now),
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            }
            for n, a in enumerate(self._firing())
        ]

    def am_groups(self) -> list[dict[str, Any]]:
        alerts = self.am_alerts()
        return [
            {
                "labels": {"alertname": a["labels"]["alertname"]},
                "receiver": {"name": a["receivers"][0]["name"]},
                "alerts": [a],
            }
            for a in alerts
        ]

    def am_silences(self) -> list[dict[str, Any]]:
        return []

    # ---- routing ------------------------------------------------------------------------

    def respond(self, method: str, path: str, query: dict[str, str]) -> Answer:
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        expr = query.get("query", "")
        if path == "/api/v1/query" and _RANGE.search(expr):
            data = {"resultType": "matrix", "result": self.raw(expr)}
            return Answer(body=json.dumps({"status": "success", "data": data}).encode())
        return super().respond(method, path, query)


def _rfc3339(t: float, *, fraction: bool = False) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return f"{whole}.{int((t % 1) * 1000):03d}Z" if fraction else f"{whole}Z"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9098)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--rules", type=int, default=3000)
    parser.add_argument("--status-mb", type=float, default=4.0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    server = HeavyServer(
        rules=args.rules,
        gpus=args.gpus,
        status_bytes=int(args.status_mb * _MIB),
        delay_s=args.delay,
        port=args.port,
    )
    with server:
        serve_until_interrupted(server, "heavy")


if __name__ == "__main__":
    main()
