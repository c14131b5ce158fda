"""A real Alertmanager (Debian's `prometheus-alertmanager`) on loopback, for tests.

Its routing tree is small and fixed: alerts of severity critical go to `dingtalk-relay`,
everything else to `email-oncall` (neither delivers anywhere: receivers without integrations);
a critical alert inhibits info alerts. `group_wait` is 1 s so tests need not wait. Fixtures
`alertmanager_factory` (per test) and `module_alertmanager_factory` (per module) stop what
they started, by pid. Without the binary they skip, or fail under CI.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import (
    free_port,
    log_tail,
    require_binaries,
    spawn,
    stop_process,
    wait_ready,
)

__all__ = [
    "ALERTMANAGER",
    "AlertmanagerServer",
    "alertmanager_factory",
    "module_alertmanager_factory",
    "require_alertmanager",
    "start_alertmanager",
]

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
GROUP_WAIT_S = 1.0

CONFIG: dict[str, Any] = {
    "route": {
        "receiver": "email-oncall",
        "group_by": ["alertname"],
        "group_wait": f"{GROUP_WAIT_S:g}s",
        "group_interval": "1s",
        "repeat_interval": "1h",
        "routes": [{"receiver": "dingtalk-relay", "matchers": ['severity="critical"']}],
    },
    "receivers": [{"name": "email-oncall"}, {"name": "dingtalk-relay"}],
    "inhibit_rules": [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="info"']}
    ],
}


def require_alertmanager() -> None:
    require_binaries([ALERTMANAGER], "prometheus-alertmanager")


@dataclass
class AlertmanagerServer:
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        """host:port, as Prometheus' `alerting` config names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    def start(self, timeout: float = 30.0) -> None:
        config = self.workdir / "alertmanager.yml"
        config.write_text(json.dumps(CONFIG, indent=2))  # JSON is YAML
        for _ in range(3):
            self.port = free_port()
            cmd = [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ]
            self.proc = spawn(cmd, cwd=self.workdir, log=self.log_path, marker="servers")
            if wait_ready(self.url, self.proc, timeout, self.log_path):
                return
            time.sleep(0.5)  # its port was taken meanwhile: another one
        raise RuntimeError(f"Alertmanager did not start: {log_tail(self.log_path)}")

    # ---- the API, as a test reads it (not through gputop) -------------------------------

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}/api/v2/{path}", timeout=5.0)
        response.raise_for_status()
        return response.json()

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.get("alerts"))

    def silences(self, state: str | None = "active") -> list[dict[str, Any]]:
        return [s for s in self.get("silences") if state is None or s["status"]["state"] == state]

    def create_silence(
        self, matchers: dict[str, str], *, by: str, comment: str, hours: float
    ) -> str:
        now = time.time()
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in matchers.items()
            ],
            "startsAt": _rfc3339(now),
            "endsAt": _rfc3339(now + hours * 3600),
            "createdBy": by,
            "comment": comment,
        }
        response = httpx.post(f"{self.url}/api/v2/silences", json=body, timeout=5.0)
        response.raise_for_status()
        return str(response.json()["silenceID"])

    def expire_all(self) -> None:
        for silence in self.silences():
            httpx.delete(f"{self.url}/api/v2/silence/{silence['id']}", timeout=5.0)

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout:.0f} s; alerts: {self.alerts()}")

    def stop(self) -> None:
        stop_process(self.proc)


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def start_alertmanager(workdir: Path) -> AlertmanagerServer:
    workdir.mkdir(parents=True, exist_ok=True)
    server = AlertmanagerServer(workdir)
    server.start()
    return server


@contextlib.contextmanager
def _servers(base: Path) -> Iterator[Callable[[], AlertmanagerServer]]:
    started: list[AlertmanagerServer] = []

    def make() -> AlertmanagerServer:
        server = start_alertmanager(base / f"am{len(started)}")
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[Callable[[], AlertmanagerServer]]:
    require_alertmanager()
    with _servers(tmp_path) as make:
        yield make


@pytest.fixture(scope="module")
def module_alertmanager_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], AlertmanagerServer]]:
    require_alertmanager()
    with _servers(tmp_path_factory.mktemp("alertmanager")) as make:
        yield make
