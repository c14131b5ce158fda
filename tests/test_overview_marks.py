"""Card marks hold for a while after a rule lets go, so a wavering value does not flash them."""

from __future__ import annotations

from gputop.ui.screens.overview import MARK_HOLD_S, OverviewScreen


def test_near_marks_hold_then_clear_and_firing_clears_at_once() -> None:
    sticky = OverviewScreen()._sticky_marks
    assert sticky({"a": "near", "b": "firing"}, 100.0) == {"a": "near", "b": "firing"}
    # the rule lets go of both: the near mark holds, the firing one does not linger
    assert sticky({}, 101.0) == {"a": "near"}
    assert sticky({}, 100.0 + MARK_HOLD_S - 0.5) == {"a": "near"}
    assert sticky({}, 100.0 + MARK_HOLD_S) == {}
    # a worse state replaces a held one at once
    sticky({"a": "near"}, 200.0)
    assert sticky({"a": "pending"}, 201.0) == {"a": "pending"}
