"""A slow server with huge answers never holds up the dashboard: the real program in a pty,
against `HeavyServer` (3000 alerting rules each with its own compared query, an Alertmanager
status carrying a 4 MB `config.original`, every answer 0.3 s late). The header clock shows
every second, and an arrow key moves the selection within 200 ms, while the answers are being
fetched and parsed.

A behaviour check with generous bounds (the timings themselves are benchmarked in
benchmarks/heavy.py): the clock may stand still at most 2 s, and the keys' median is within
200 ms with none over a second.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.fake_nvml import FakeNvml
from tests.support.heavy_server import HeavyServer
from tests.support.pty_run import PtyRun

pytestmark = pytest.mark.e2e

_CLOCK = re.compile(r"^\s*(\d\d:\d\d:\d\d)\b")
_CARD = re.compile(r"▶ (?:[●◐○] )?GPU (\d+)\b")
_LINE = re.compile(r"^▶[ ●◐○]? *(\d+)[▕✖]")
#: How long the clock may stand still, and how many keys are typed.
_CLOCK_GAP_S = 2.0
_KEYS = 6
RIGHT, LEFT = b"\x1b[C", b"\x1b[D"


@pytest.fixture(scope="module")
def server() -> Iterator[HeavyServer]:
    srv = HeavyServer(rules=3000, delay_s=0.3)
    with srv:
        yield srv


class Watched(PtyRun):
    """A pty run whose header clock is followed as the screen changes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(args, cols=120, rows=40, env=env)
        self.clock_seen: list[tuple[float, str]] = []  # (when it changed, what it shows)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            super().pump(min(left, 0.02))
            found = _CLOCK.match(self.screen.display[0])
            if found and (not self.clock_seen or self.clock_seen[-1][1] != found.group(1)):
                self.clock_seen.append((time.monotonic(), found.group(1)))

    def selected(self) -> int | None:
        for line in self.lines():
            found = _CARD.search(line) or _LINE.search(line)
            if found is not None:
                return int(found.group(1))
        return None

    def until(self, check: Callable[[], bool], timeout: float) -> float | None:
        """Seconds until `check()` holds, pumping the output; None if it never does."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if check():
                return time.monotonic() - start
            self.pump(0.005)
        return None

    def longest_still(self, since: float) -> float:
        """The longest time the clock stood still after `since`, to now."""
        times = [t for t, _ in self.clock_seen if t >= since] + [time.monotonic()]
        return max(b - a for a, b in zip([since, *times], times, strict=False))


@pytest.mark.parametrize(
    "scenario",
    [
        # no local GPU: only gputop's own refresh moves the screen
        pytest.param("remote", id="prometheus-and-alertmanager-no-local-gpu"),
        # Alertmanager's huge status is asked first thing
        pytest.param("alertmanager", id="local-gpus-and-alertmanager"),
    ],
)
def test_the_clock_ticks_and_keys_answer_while_a_heavy_server_answers(
    server: HeavyServer, fake_nvml: FakeNvml, scenario: str
) -> None:
    if scenario == "remote":
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        args = ["--prometheus", server.url, "--alertmanager", server.url]
    else:
        env = fake_nvml.env(gpus=8)
        args = ["--alertmanager", server.url]
    run = Watched(args, env)
    try:
        shown = run.until(lambda: run.selected() is not None, 20.0)
        assert shown is not None, "\n".join(run.lines())
        since = time.monotonic()
        latencies: list[float] = []
        for _ in range(_KEYS):
            before = run.selected() or 0
            key, want = (RIGHT, before + 1) if before == 0 else (LEFT, before - 1)
            run.send(key)
            took = run.until(lambda: run.selected() == want, 10.0)  # noqa: B023
            latencies.append(took if took is not None else float("inf"))
            run.pump(0.8)
        still = run.longest_still(since)
        text = "\n".join(run.lines())
        assert still <= _CLOCK_GAP_S, f"the clock stood still {still:.1f}s\n{text}"
        assert max(latencies) <= 1.0, f"keys took {latencies}\n{text}"
        assert statistics.median(latencies) <= 0.2, f"keys took {latencies}\n{text}"
        assert b"Traceback" not in run.output
        if scenario == "remote":
            # the server's GPUs and its rules came while the clock ticked
            assert run.until(lambda: "GpuHot" in "\n".join(run.lines()), 30.0) is not None, text
        run.send(b"q")
        assert run.wait(15) == 0
    finally:
        run.close()
