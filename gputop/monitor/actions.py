"""The monitor's actions, the only way the UI changes something outside gputop: a silence
created or expired in Alertmanager, a signal sent to a GPU process.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gputop.core.clock import Clock
from gputop.core.models import ProcessSample

if TYPE_CHECKING:
    from gputop.sources.alertmanager import AlertmanagerSource
    from gputop.sources.amtypes import Matcher

__all__ = ["MonitorActions"]


class MonitorActions:
    """What the UI may do, through the monitor's Alertmanager and its local source."""

    clock: Clock
    alertmanager: AlertmanagerSource | None

    def processes_now(self) -> tuple[ProcessSample, ...] | None:
        """The GPUs' processes read now (the monitor's, from its local source)."""
        raise NotImplementedError

    async def silence(
        self, matchers: Sequence[Matcher], seconds: float, *, created_by: str, comment: str
    ) -> str:
        """Silence `matchers` in Alertmanager from now on, for `seconds`; the silence's id.
        Raises AmError (also when no Alertmanager is configured)."""
        am = self._am()
        now = self.clock.now()
        return await am.create_silence(
            matchers, starts_at=now, ends_at=now + seconds, created_by=created_by, comment=comment
        )

    async def expire(self, silence_id: str) -> None:
        """Expire a silence in Alertmanager now. Raises AmError."""
        await self._am().expire_silence(silence_id)

    def signal(self, proc: ProcessSample, sig: signal.Signals) -> str:
        """Send `sig` to a listed GPU process once it is confirmed to be the one listed and
        still on its GPU; what was done. Raises ActionError saying why not."""
        from gputop.sources.signals import signal_process

        return signal_process(proc, sig, self.processes_now())

    def _am(self) -> AlertmanagerSource:
        if self.alertmanager is None:
            from gputop.sources.amtypes import AmError

            raise AmError("no Alertmanager configured")
        return self.alertmanager
