"""What every screen test that compares pixels or rows needs: the same environment each run.

`stable_environment` (used by the modules that snapshot or read whole screens) clears the
colour and theme switches a developer's shell may set and pins the clock's time zone, so a
frame is the same on every machine. `SnapCompare` is the type of pytest-textual-snapshot's
`snap_compare` fixture, whose own annotation leaves out the keyword arguments it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.ui import fixed_utc

__all__ = ["SnapCompare", "stable_environment"]

SnapCompare = Callable[..., bool]


@pytest.fixture
def stable_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("GPUTOP_THEME", raising=False)
    with fixed_utc():
        yield
