"""A GPU's past firing windows for its detail charts, from a backtest run in a worker.

Asked when the chart's range changes, and again once a period has passed (at least 30 s, or a
sixtieth of the range), so the bars follow the charts without a backtest on every tick. A
backtest that fails leaves the last windows; nothing here ever blocks the UI.
"""

from __future__ import annotations

from collections.abc import Collection

from gputop.core.models import GpuSample
from gputop.monitor import Monitor
from gputop.rules.backtest.run import Options, backtest
from gputop.sources.base import SourceError
from gputop.ui.views.backtest import Windows, firing_windows

__all__ = ["FiringHistory"]

MIN_PERIOD_S = 30.0


class FiringHistory:
    def __init__(self) -> None:
        self.windows: Windows = {}
        self._asked: tuple[float, float] | None = None  # (range, when)

    def due(self, range_s: float, now: float) -> bool:
        if self._asked is None or self._asked[0] != range_s:
            return True
        return now - self._asked[1] >= max(MIN_PERIOD_S, range_s / 60)

    async def refresh(
        self, monitor: Monitor, gpu: GpuSample, names: Collection[str], range_s: float
    ) -> bool:
        """Replay the GPU's rules over the last `range_s`; True when the windows changed."""
        now = monitor.clock.now()
        self._asked = (range_s, now)
        setup = monitor.backtest_setup(now - range_s, now)
        rules = [r for r in setup.rules if r.name in names]
        if not rules:
            changed, self.windows = bool(self.windows), {}
            return changed
        options = Options(now - range_s, now, offsets=setup.offsets, near=False, local=setup.local)
        try:
            report = await backtest(setup.engine, rules, options, label=setup.label)
        except SourceError:
            return False
        windows = firing_windows(report, gpu)
        changed = windows != self.windows
        self.windows = windows
        return changed
