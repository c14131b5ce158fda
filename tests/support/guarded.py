"""A dashboard where every action has something real to act on, for the tests of what guards
the actions: a real child process listed on a GPU (as NVML lists one), and an Alertmanager
that answers with a firing alert and an active silence and records every request.

The Alertmanager is an `httpx.MockTransport`: what the tests check is which requests gputop
sends (no POST, no DELETE when read-only), and a recorder sees exactly that.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest

from gputop.core.models import NodeSnapshot, ProcessSample
from gputop.monitor import Monitor
from gputop.sources.alertmanager import AlertmanagerClient, AlertmanagerSource
from gputop.sources.demosource import DemoSource
from tests.support.ui import build_monitor

__all__ = [
    "FakeAlertmanager",
    "ListedProcess",
    "child",
    "child_process",
    "guarded_monitor",
    "kills",
    "with_alertmanager",
]

_SILENCE = {
    "id": "8c1e2c55-3d3f-4f0b-9d34-1f1b0c6a9a11",
    "status": {"state": "active"},
    "updatedAt": "2026-01-01T11:00:00.000Z",
    "comment": "fan swap",
    "createdBy": "alice@ops",
    "startsAt": "2026-01-01T11:00:00.000Z",
    "endsAt": "2026-01-01T14:00:00.000Z",
    "matchers": [{"name": "alertname", "value": "GPUBusy", "isRegex": False, "isEqual": True}],
}
_ALERT = {
    "labels": {"alertname": "GPUBusy", "gpu": "3", "Hostname": "demo-node", "severity": "warning"},
    "annotations": {},
    "fingerprint": "a5a38c6bafbe9898",
    "receivers": [{"name": "dingtalk-relay"}],
    "startsAt": "2026-01-01T11:50:00.000Z",
    "status": {"state": "suppressed", "silencedBy": [_SILENCE["id"]], "inhibitedBy": []},
}


class FakeAlertmanager:
    """Answers API v2 reads; every request is kept in `requests` as (method, path)."""

    def __init__(self, *, down: bool = False) -> None:
        self.requests: list[tuple[str, str]] = []
        self.down = down  # every request is refused, as by a stopped Alertmanager
        self.transport = httpx.MockTransport(self._handle)

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if request.method == "POST" and path == "/api/v2/silences":
            return httpx.Response(200, json={"silenceID": "new"})
        if request.method == "DELETE":
            return httpx.Response(200)
        answers = {
            "/api/v2/alerts": [_ALERT],
            "/api/v2/alerts/groups": [
                {
                    "labels": {"alertname": "GPUBusy"},
                    "receiver": {"name": "dingtalk-relay"},
                    "alerts": [_ALERT],
                }
            ],
            "/api/v2/silences": [_SILENCE],
            "/api/v2/status": {"config": {"original": "route:\n  group_wait: 30s\n"}},
        }
        if path not in answers:
            return httpx.Response(404, text="not found")
        return httpx.Response(200, content=json.dumps(answers[path]).encode())


@dataclasses.dataclass
class ListedProcess:
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextmanager
def child_process() -> Iterator[ListedProcess]:
    """A real process of this user that sleeps until signalled; stopped by its pid after."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield ListedProcess(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.fixture
def child() -> Iterator[ListedProcess]:
    with child_process() as proc:
        yield proc


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every os.kill gputop makes, passed through."""
    calls: list[tuple[int, int]] = []
    real_kill = os.kill

    def kill(pid: int, sig: int) -> None:
        calls.append((pid, sig))
        real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    return calls


class _NvmlLikeSource:
    """The demo node, named "nvml", listing `pid` first on every GPU: processes that are real."""

    name = "nvml"

    def __init__(self, inner: DemoSource, pid: int) -> None:
        self.inner = inner
        self.host = inner.node.host
        info = psutil.Process(pid)
        self._proc = dict(
            pid=pid, user=info.username(), command="python -c sleep", started=info.create_time()
        )

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def sample(self) -> NodeSnapshot:
        snap = self.inner.sample()
        listed = tuple(
            ProcessSample(gpu_index=g.index, gpu_uuid=g.uuid, gpu_memory_mib=512.0, **self._proc)
            for g in snap.gpus
        )
        return dataclasses.replace(snap, processes=listed)


def with_alertmanager(monitor: Monitor, alertmanager: FakeAlertmanager) -> Monitor:
    """`monitor` with the fake Alertmanager as its Alertmanager (asked on every refresh)."""
    client = AlertmanagerClient("http://alertmanager.test:9093", transport=alertmanager.transport)
    monitor.alertmanager = AlertmanagerSource(client, monitor.clock, period_s=0.0)
    return monitor


def guarded_monitor(pid: int, alertmanager: FakeAlertmanager) -> Monitor:
    """The demo node's monitor with `pid` listed on every GPU and the fake Alertmanager."""
    monitor = with_alertmanager(build_monitor(), alertmanager)
    assert isinstance(monitor.local, DemoSource)
    monitor.local = _NvmlLikeSource(monitor.local, pid)
    monitor.clock.advance(1.0)  # type: ignore[attr-defined]
    monitor.poll()
    return monitor
