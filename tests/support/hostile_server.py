"""A hostile Prometheus and Alertmanager on one loopback port: well-formed answers whose every
string is an attack on the terminal, and, on demand, answers that attack the parser.

Every label value (the jobs on the GPUs: a pod with its namespace and container, a Slurm job;
a MIG instance's profile; an inference server's model), rule name, annotation, receiver,
silence comment and creator carries `HOSTILE`: an OSC 52 that would set the clipboard, an
OSC 0 that would set the window title, Rich/Textual markup that would restyle the screen, run
an action on click, or raise (`[/]`), a C1 CSI byte and a bidi override. `answer(path, ...)`
replaces what one path returns (an error body, a nested JSON bomb, a redirect);
`/moved/<path>` answers as `<path>` (a redirect's target at home); `requests` records what was
asked, with the headers.

In tests: `with HostileServer(clock=...) as server: server.url`. By hand (a terminal to try
gputop against): `python -m tests.support.hostile_server --port 9099`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CLICK",
    "HOSTILE",
    "MARKUP",
    "OSC0",
    "OSC52",
    "SILENCE_ID",
    "VICTIM",
    "Answer",
    "HostileServer",
    "Seen",
    "hostile",
    "nested_json",
]

#: Sets the clipboard to "echo pwned" in terminals that allow OSC 52.
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x1b\\"
#: Sets the window title.
OSC0 = "\x1b]0;pwned\x07"
#: Markup that would restyle text, and that would end a style never opened (Textual raises).
MARKUP = "[bold red]FAKE[/]"
#: Markup that would turn text into a link that, clicked, writes VICTIM (an app action).
VICTIM = "/tmp/gputop-hostile-victim.svg"
CLICK = "[@click=app.screenshot('gputop-hostile-victim.svg','/tmp')]x[/]"
HOSTILE = f"{OSC52}{OSC0}{MARKUP} {CLICK} \x9b31m\u202eLIVE [/]"
SILENCE_ID = "5d8c1f3e-2b7a-4c1e-9f00-1234567890ab"


def hostile(tag: str) -> str:
    """A hostile string that still says which field it is in."""
    return f"{tag}{HOSTILE}"


RULE = hostile("GPUHot")
#: The metric names of a vLLM server, as Prometheus lists them.
VLLM_NAMES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:time_to_first_token_seconds_count",
)


def nested_json(depth: int = 200_000) -> bytes:
    """`[[[...]]]`: valid JSON that overflows a recursive parser's stack."""
    return b"[" * depth + b"]" * depth


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class HostileServer:
    """Both APIs on 127.0.0.1; `clock` gives the server's "now" (a test's fake clock)."""

    def __init__(
        self, *, gpus: int = 2, clock: Callable[[], float] = time.time, port: int = 0
    ) -> None:
        self.gpus = gpus
        self.clock = clock
        self.firing = True  # False: no rule fires, no alert is active (a check can say 3)
        self.answers: dict[str, Answer] = {}
        self.requests: list[Seen] = []
        self.keep_requests = True  # what was asked, in `requests`
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def answer(self, path: str, answer: Answer | None) -> None:
        """What `path` answers from now on (a path ending in "/": every path under it); None:
        the default again."""
        with self._lock:
            if answer is None:
                self.answers.pop(path, None)
            else:
                self.answers[path] = answer

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path)]

    # ---- Prometheus ---------------------------------------------------------------------

    def gpu_labels(self, i: int) -> dict[str, str]:
        """GPU 0 (and every even one) runs a pod; GPU 1 (every odd one) is a MIG instance
        (GPU instance 3) running a Slurm job, as dcgm-exporter's HPC mapping labels it."""
        labels = {
            "__name__": "DCGM_FI_DEV_GPU_TEMP",
            "gpu": str(i),
            "UUID": f"GPU-hostile-{i}",
            "Hostname": hostile(f"node{i}"),
            "modelName": hostile("model"),
        }
        if i % 2:
            labels |= {"GPU_I_ID": "3", "GPU_I_PROFILE": hostile("profile")}
            labels["hpc_job"] = hostile("slurmjob")
        else:
            labels |= {"pod": hostile("pod"), "namespace": hostile("ns")}
            labels["container"] = hostile("container")
        return labels

    def series(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        points: list[list[float | str]] = []
        t = start
        while t <= end and len(points) < 11_000:
            points.append([t, "85"])
            t += step
        if "vllm:" in query:  # an inference server's panel: a series per number of its model
            return [
                {"metric": {"model_name": hostile("llm"), "gputop_stat": stat}, "values": points}
                for stat in re.findall(r'"gputop_stat", "(\w+)"', query)
            ]
        if "DCGM_FI" not in query:  # the latency panel: one series without labels
            return [{"metric": {}, "values": points}]
        return [{"metric": self.gpu_labels(i), "values": points} for i in range(self.gpus)]

    def raw(self, query: str) -> list[dict[str, Any]]:
        """A range selector's raw samples (how the scrape interval is read): one a second."""
        now = self.clock()
        points = [[now - k, "1"] for k in (2, 1, 0)]
        if "vllm:" in query:
            return [{"metric": {"model_name": hostile("llm")}, "values": points}]
        if "DCGM_FI" not in query:
            return [{"metric": {}, "values": points}]
        return [{"metric": self.gpu_labels(i), "values": points} for i in range(self.gpus)]

    def instant(self, query: str) -> list[dict[str, Any]]:
        now = self.clock()
        if "vector(time())" in query:  # the freshness probe
            groups = [
                "now",
                "gpu",
                "latency",
                *re.findall(r'"gputop_probe", "(serving_\w+)"', query),
            ]
            return [{"metric": {"gputop_probe": name}, "value": [now, str(now)]} for name in groups]
        return [{"metric": self.gpu_labels(i), "value": [now, "91"]} for i in range(self.gpus)]

    def rules(self) -> dict[str, Any]:
        now = self.clock()
        two_days_ago = _rfc3339(now - 2 * 86400)

        def alert(i: int, state: str) -> dict[str, Any]:
            labels = {**self.gpu_labels(i), "alertname": RULE, "severity": "critical"}
            labels.pop("__name__")
            labels[hostile("label")] = hostile("value")
            return {
                "labels": labels,
                "annotations": {"summary": hostile("summary")},
                "state": state,
                "activeAt": two_days_ago,
                "value": "91",
            }

        rule = {
            "name": RULE,
            "query": "DCGM_FI_DEV_GPU_TEMP > 85",
            "duration": 60,
            "labels": {"severity": "critical"},
            "annotations": {"summary": hostile("summary")},
            "alerts": [alert(i, "firing") for i in range(self.gpus)] if self.firing else [],
            "health": "ok",
            "type": "alerting",
            "state": "firing" if self.firing else "inactive",
        }
        named = {
            **rule,
            "name": hostile("rule"),
            "alerts": [],
            "state": "inactive",
            "query": "DCGM_FI_DEV_GPU_TEMP > 80",
        }
        broken = {
            **named,
            "name": hostile("broken"),
            "health": "err",
            "lastError": hostile("lastError"),
        }
        group = {"name": hostile("group"), "file": hostile("file"), "interval": 15}
        return {"groups": [{**group, "rules": [rule, named, broken]}]}

    # ---- Alertmanager -------------------------------------------------------------------

    def am_alerts(self) -> list[dict[str, Any]]:
        now = self.clock()
        out: list[dict[str, Any]] = []
        if not self.firing:
            return out
        for i in range(self.gpus):
            labels = {**self.gpu_labels(i), "alertname": RULE, "severity": "critical"}
            labels.pop("__name__")
            labels[hostile("label")] = hostile("value")
            out.append(
                {
                    "labels": labels,
                    "annotations": {"description": hostile("description")},
                    "fingerprint": f"{i:016x}",
                    "receivers": [{"name": hostile("receiver")}],
                    "startsAt": _rfc3339(now - 2 * 86400),
                    "endsAt": _rfc3339(now + 3600),
                    "updatedAt": _rfc3339(now),
                    "status": {
                        "state": "suppressed" if i else "active",
                        "silencedBy": [SILENCE_ID] if i else [],
                        "inhibitedBy": [],
                    },
                }
            )
        return out

    def am_groups(self) -> list[dict[str, Any]]:
        return [
            {
                "labels": {"alertname": RULE, hostile("group"): hostile("by")},
                "receiver": {"name": hostile("receiver")},
                "alerts": self.am_alerts(),
            }
        ]

    def am_silences(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [
            {
                "id": SILENCE_ID,
                "status": {"state": "active"},
                "matchers": [
                    {"name": "alertname", "value": RULE, "isRegex": False, "isEqual": True},
                    {"name": "Hostname", "value": hostile("node1"), "isRegex": False},
                ],
                "createdBy": hostile("creator"),
                "comment": hostile("comment"),
                "startsAt": _rfc3339(now - 3600),
                "endsAt": _rfc3339(now + 86400 + 3600),
                "updatedAt": _rfc3339(now - 3600),
            }
        ]

    # ---- routing ------------------------------------------------------------------------

    def respond(self, method: str, path: str, query: dict[str, str]) -> Answer:
        with self._lock:
            for where, answer in self.answers.items():
                if path == where or (where.endswith("/") and path.startswith(where)):
                    return answer
        path = path.removeprefix("/moved")  # where a test redirects to on this server
        data: Any
        if path == "/-/ready":
            return Answer(body=b"ready", content_type="text/plain")
        if path == "/api/v1/query" and query.get("query", "").endswith("s]"):
            data = {"resultType": "matrix", "result": self.raw(query["query"])}
        elif path == "/api/v1/query":
            data = {"resultType": "vector", "result": self.instant(query.get("query", ""))}
        elif path == "/api/v1/query_range":
            start, end = float(query["start"]), float(query["end"])
            step = max(1.0, float(query["step"]))
            data = {
                "resultType": "matrix",
                "result": self.series(query.get("query", ""), start, end, step),
            }
        elif path == "/api/v1/rules":
            data = self.rules()
        elif path == "/api/v1/alerts":
            data = {"alerts": [a for r in self.rules()["groups"][0]["rules"] for a in r["alerts"]]}
        elif path == "/api/v1/label/__name__/values":  # a vLLM server is found
            data = [*VLLM_NAMES, hostile("metric")]
        elif path == "/api/v1/metadata":
            data = {"DCGM_FI_DEV_GPU_TEMP": [{"type": "gauge", "help": hostile("help")}]}
        elif path == "/api/v1/status/buildinfo":
            data = {"version": hostile("version")}
        elif path == "/api/v2/status":
            original = "route:\n  receiver: x\n  group_wait: 1s\nreceivers:\n  - name: x\n"
            return _json({"cluster": {}, "versionInfo": {}, "config": {"original": original}})
        elif path == "/api/v2/alerts":
            return _json(self.am_alerts())
        elif path == "/api/v2/alerts/groups":
            return _json(self.am_groups())
        elif path == "/api/v2/silences" and method == "POST":
            return _json({"silenceID": str(uuid.uuid4())})
        elif path == "/api/v2/silences":
            return _json(self.am_silences())
        elif path.startswith("/api/v2/silence/") and method == "DELETE":
            return Answer(body=b"")
        else:
            return Answer(404, b"404 page not found", "text/plain")
        return _json({"status": "success", "data": data})


def _json(doc: Any) -> Answer:
    return Answer(body=json.dumps(doc).encode())


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _handler(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if server.keep_requests:
                with server._lock:
                    server.requests.append(Seen(self.command, parts.path, dict(self.headers)))
            answer = server.respond(self.command, parts.path, query)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up on a big or slow answer

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument(
        "--errors", action="store_true", help="answer every API call with a hostile HTTP 500"
    )
    args = parser.parse_args()
    with HostileServer(gpus=args.gpus, port=args.port) as server:
        if args.errors:
            body = f"upstream error [/api/v1/query_range] {hostile('error')}".encode()
            for path in ("/api/v1/", "/api/v2/"):
                server.answer(path, Answer(500, body, "text/plain"))
        serve_until_interrupted(server, "hostile")


def serve_until_interrupted(server: HostileServer, what: str) -> None:
    """Say where the (entered) server listens, and serve until ^C."""
    print(f"{what} Prometheus and Alertmanager at {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
