"""gputop against a heavy server: does the UI keep answering while big answers come in?

The server is `tests.support.heavy_server.HeavyServer` (3000 alerting rules, each with its own
compared query; an Alertmanager whose `/api/v2/status` carries a 4 MB `config.original`;
optionally a delay before every answer). Runs per program and round (`SCENARIOS`):

- `local`: the 8 stand-in GPUs plus the server as Prometheus and as Alertmanager;
- `remote`: the same with no local GPU (NVML cannot be loaded): the overview shows the
  server's GPUs, so nothing but gputop's own refresh moves the screen;
- `am`: the 8 stand-in GPUs and the server as Alertmanager only (its big status is asked
  first thing, not after Prometheus' rules);
- `kiosk`: `am` with `--kiosk`; the exit chord (ctrl+x ctrl+c) is typed 2 s after the first
  frame and the time until the program has ended is measured.

Except in the kiosk, the probe types an arrow key once a second from the first frame on and
measures the time until the selection has moved on screen (input latency; the next key waits
until the last has shown, and a key still not shown at the end of the run counts the time it
waited). In every run it follows the header clock from its first
appearance to the end of the run: the longest time it stood still, and the seconds it
skipped (it should show every second).
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from benchmarks.pty_run import RunResult, run_in_pty

__all__ = ["SCENARIOS", "HeavyProbe", "HeavyResult", "heavy_report", "run_heavy"]

#: scenario: (local GPUs, Prometheus, Alertmanager, kiosk)
SCENARIOS: dict[str, tuple[bool, bool, bool, bool]] = {
    "local": (True, True, True, False),
    "remote": (False, True, True, False),
    "am": (True, False, True, False),
    "kiosk": (True, False, True, True),
}

#: The kiosk's exit chord, as a terminal sends it.
EXIT_CHORD = (b"\x18", b"\x03")
#: Keys start this long after the first frame.
SETTLE_S = 0.5
RIGHT, LEFT = b"\x1b[C", b"\x1b[D"
_CLOCK = re.compile(r"^\s*(\d\d):(\d\d):(\d\d)\b")
_CARD = re.compile(r"▶ (?:[●◐○] )?GPU (\d+)\b")
_LINE = re.compile(r"^▶[ ●◐○✖]? *(\d+)[▕✖]", re.M)


def shown(lines: Sequence[str]) -> bool:
    """Whether the overview's GPUs are on screen (with the clock in the header)."""
    text = "\n".join(lines)
    return (
        bool(lines)
        and _CLOCK.match(lines[0]) is not None
        and ("GPU 0 " in text or re.search(r"^[ ▶][ ●◐○✖]? *0[▕✖]", text, re.M) is not None)
    )


def selected(lines: Sequence[str]) -> int | None:
    """The index of the selected GPU on the overview (a card's title or a compact line)."""
    for line in lines:
        found = _CARD.search(line) or _LINE.search(line)
        if found is not None:
            return int(found.group(1))
    return None


@dataclass
class HeavyProbe:
    """Types arrows and follows the clock; `__call__` is `run_in_pty`'s `on_screen`."""

    gpus: int
    interactive: bool = True
    chord_after_s: float | None = None  # kiosk: type the exit chord this long after the frame
    frame_at: float | None = None
    latencies: list[float] = field(default_factory=list)
    clock_seen: list[tuple[float, int]] = field(default_factory=list)  # (when, clock seconds)
    chord_at: float | None = None
    last_t: float = 0.0  # the last time the probe was called: the run's end
    _sent: tuple[float, int] | None = None  # (when, the selection expected)
    _next_key_at: float = 0.0
    _chord_step: int = 0

    def __call__(self, t: float, lines: list[str] | None) -> bytes:
        self.last_t = t
        if lines is not None:
            self._follow_clock(t, lines)
            if self.frame_at is None and shown(lines):
                self.frame_at = t
                self._next_key_at = t + SETTLE_S
        if self.frame_at is None:
            return b""
        if self.chord_after_s is not None:
            return self._chord(t)
        if not self.interactive:
            return b""
        return self._keys(t, lines)

    def _follow_clock(self, t: float, lines: list[str]) -> None:
        found = _CLOCK.match(lines[0]) if lines else None
        if found is None:
            return
        h, m, s = (int(g) for g in found.groups())
        value = h * 3600 + m * 60 + s
        if not self.clock_seen or self.clock_seen[-1][1] != value:
            self.clock_seen.append((t, value))

    def _chord(self, t: float) -> bytes:
        assert self.frame_at is not None and self.chord_after_s is not None
        if self._chord_step == 0 and t >= self.frame_at + self.chord_after_s:
            self._chord_step, self.chord_at = 1, t
            return EXIT_CHORD[0]
        if self._chord_step == 1 and t >= (self.chord_at or t) + 0.1:
            self._chord_step = 2
            return EXIT_CHORD[1]
        return b""

    def _keys(self, t: float, lines: list[str] | None) -> bytes:
        if self._sent is not None:
            sent_at, want = self._sent
            if lines is None or selected(lines) != want:
                return b""
            self.latencies.append(t - sent_at)
            self._sent = None
        if t < self._next_key_at or lines is None:
            return b""
        now = selected(lines) or 0  # none selected yet: an arrow selects GPU 1
        key, want = (RIGHT, now + 1) if now == 0 else (LEFT, now - 1)
        self._sent = (t, want)
        self._next_key_at = t + 1.0
        return key

    # ---- figures ------------------------------------------------------------------------

    def clock_gap_s(self) -> float | None:
        """The longest time the header clock stood still, from its first appearance to the
        end of the run (a clock that stops for good counts until the end)."""
        seen = [t for t, _ in self.clock_seen]
        if not seen:
            return None
        gaps = [b - a for a, b in itertools.pairwise([*seen, max(self.last_t, seen[-1])])]
        return max(gaps)

    def all_latencies(self) -> list[float]:
        """The keys' latencies, with a key still unanswered at the end of the run."""
        if self._sent is None:
            return list(self.latencies)
        return [*self.latencies, self.last_t - self._sent[0]]

    def clock_skipped(self) -> int:
        """Seconds the header clock never showed (it jumped over them)."""
        values = [v for _, v in self.clock_seen]
        return sum(max(0, b - a - 1) for a, b in itertools.pairwise(values))


@dataclass
class HeavyResult:
    program: str
    scenario: str
    run: RunResult
    latencies: list[float]
    clock_gap_s: float | None
    clock_skipped: int
    chord_s: float | None  # kiosk: from the chord's first key to the program's end

    def as_dict(self) -> dict[str, object]:
        return {
            "program": self.program,
            "scenario": self.scenario,
            "latencies_s": self.latencies,
            "clock_gap_s": self.clock_gap_s,
            "clock_skipped": self.clock_skipped,
            "chord_s": self.chord_s,
            "cpu_pct_total": self.run.cpu_pct_total,
            "cpu_pct_steady": self.run.cpu_pct_steady,
            "peak_rss_mb": self.run.peak_rss_mb,
            "first_frame_s": self.run.first_frame_s,
            "exited_s": self.run.exited_s,
        }


def run_heavy(
    name: str,
    argv: Sequence[str],
    *,
    url: str,
    scenario: str,
    env: Mapping[str, str],
    cwd: str,
    seconds: float,
    gpus: int = 8,
) -> HeavyResult:
    """One heavy run of a program (`scenario`: one of `SCENARIOS`)."""
    local, prometheus, alertmanager, kiosk = SCENARIOS[scenario]
    full = list(argv)
    if prometheus:
        full += ["--prometheus", url]
    if alertmanager:
        full += ["--alertmanager", url]
    if kiosk:
        full.append("--kiosk")
    if not local:  # no NVML here: only the server's GPUs
        env = {k: v for k, v in env.items() if k != "LD_LIBRARY_PATH"}
    probe = HeavyProbe(gpus, interactive=not kiosk, chord_after_s=2.0 if kiosk else None)

    def ready(text: str) -> bool:
        return shown(text.split("\n"))

    result = run_in_pty(
        f"{name}/{scenario}",
        full,
        env=env,
        cwd=cwd,
        seconds=seconds,
        warmup=min(5.0, seconds / 2),
        frame_complete=ready,
        on_screen=probe,
    )
    chord = None
    if kiosk and probe.chord_at is not None and result.exited_s is not None:
        chord = result.exited_s - probe.chord_at
    return HeavyResult(
        program=name,
        scenario=scenario,
        run=result,
        latencies=probe.all_latencies(),
        clock_gap_s=probe.clock_gap_s(),
        clock_skipped=probe.clock_skipped(),
        chord_s=chord,
    )


def _med(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _cell(value: float | None, fmt: str = "{:.2f}", missing: str = "n/a") -> str:
    return missing if value is None else fmt.format(value)


def heavy_report(results: Sequence[HeavyResult], seconds: float) -> str:
    """Per program and scenario, medians over rounds (the key latencies pooled)."""
    keys: dict[tuple[str, str], list[HeavyResult]] = {}
    for r in results:
        keys.setdefault((r.program, r.scenario), []).append(r)
    lines = [
        f"{'heavy server':22}{'keys':>6}{'key p50':>9}{'key max':>9}{'clock gap':>11}"
        f"{'skipped s':>11}{'exit chord':>12}{'CPU %':>8}{'RSS MB':>8}"
    ]
    for (program, scenario), runs in keys.items():
        pooled = [x for r in runs for x in r.latencies]
        chords = [r.chord_s for r in runs]
        chord = (
            ""
            if not SCENARIOS[scenario][3]
            else _cell(_med(chords), "{:.2f}s")
            if all(c is not None for c in chords)
            else "never"  # not within the run, in some round
        )
        lines.append(
            f"{program + ' ' + scenario:22}"
            f"{len(pooled):>6}"
            f"{_cell(statistics.median(pooled) if pooled else None, '{:.3f}s'):>9}"
            f"{_cell(max(pooled) if pooled else None, '{:.3f}s'):>9}"
            f"{_cell(_med([r.clock_gap_s for r in runs]), '{:.2f}s'):>11}"
            f"{_cell(_med([float(r.clock_skipped) for r in runs]), '{:.0f}'):>11}"
            f"{chord:>12}"
            f"{_cell(_med([r.run.cpu_pct_total for r in runs])):>8}"
            f"{_cell(_med([r.run.peak_rss_mb for r in runs]), '{:.1f}'):>8}"
        )
    return "\n".join(lines)
