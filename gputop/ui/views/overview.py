"""How the overview divides the screen: plain functions, tested without an app.

The rules panel always has room for every firing and pending row (and the line counting the
rest): the GPU list gives way first, as compact lines instead of cards and then by scrolling
(the inference servers' panel keeps one model while it can, more where the GPUs leave room),
and the latency panel goes last. Cards never leave the rules fewer lines than one line per GPU
at 80x24 does (`CARD_RULE_ROWS`): on a wide terminal the latency panel stands beside the
rules, so 8 cards at 120x40 leave the rules 8 lines, not 3 (not while the inference servers'
panel is shown: it sits under the latency panel, both full width, on one time axis). The room
kept for rules grows at once when a rule starts pending or firing, and shrinks only after
`ROOM_HOLD_S`, so a rule flickering in and out of pending does not switch the whole layout (a
full repaint) back and forth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gputop.core.models import GpuSample

__all__ = [
    "CARD_H",
    "CARD_MIN_W",
    "CARD_RULE_ROWS",
    "LATENCY_BESIDE_W",
    "MIN_RULE_ROWS",
    "ROOM_HOLD_S",
    "OverviewLayout",
    "RuleRoom",
    "chrome_height",
    "node_groups",
    "overview_layout",
    "serving_height",
]

CARD_MIN_W = 56
CARD_H = 7
LATENCY_H = 4
#: The inference servers' panel: its border, and three lines per model (at most SERVING_MAX).
SERVING_BORDER_H = 2
SERVING_MODEL_H = 3
SERVING_MAX = 3
#: The header and the footer.
CHROME_H = 2
#: The rules panel's border.
RULES_BORDER_H = 2
#: The rules panel shows at least this many lines, whatever it needs.
MIN_RULE_ROWS = 3
#: Beside cards, the rules keep at least this many lines (what 8 GPUs leave them at 80x24).
CARD_RULE_ROWS = 6
#: From this width the latency panel stands beside the rules under the cards.
LATENCY_BESIDE_W = 2 * CARD_MIN_W
#: The GPU list keeps at least this many lines (it scrolls).
MIN_GPU_LINES = 2
#: Room kept for rule rows that are no longer needed, before the GPUs take it back.
ROOM_HOLD_S = 60.0


@dataclass(frozen=True, slots=True)
class OverviewLayout:
    """Cards or compact lines, cards per row, the GPU list's height, the latency panel."""

    compact: bool
    cols: int
    gpu_h: int
    latency: bool = True
    headings: bool = False  # a heading line per node (several nodes, compact lines)
    serving: int = 0  # models shown in the inference servers' panel (0: no panel)
    beside: bool = False  # the latency panel beside the rules, not above them


def node_groups(gpus: Sequence[GpuSample]) -> list[tuple[str, list[GpuSample]]]:
    """The GPUs by node, in the order the nodes first appear."""
    groups: dict[str, list[GpuSample]] = {}
    for gpu in gpus:
        groups.setdefault(gpu.host, []).append(gpu)
    return list(groups.items())


def chrome_height(*, kiosk: bool, banner_lines: int) -> int:
    """Lines above and below the panels: the header and the footer; in a kiosk the header
    and, while a source fails, the STALE banner (its lines and a blank line either side)."""
    if not kiosk:
        return CHROME_H
    return 1 + (banner_lines + 2 if banner_lines else 0)


def serving_height(models: int) -> int:
    """Lines of the inference servers' panel showing `models` models (0: none)."""
    return SERVING_BORDER_H + SERVING_MODEL_H * models if models else 0


def overview_layout(
    width: int,
    height: int,
    group_sizes: Sequence[int],
    rule_rows: int,
    *,
    chrome: int = CHROME_H,
    models: int = 0,
) -> OverviewLayout:
    """Cards when they fit beside a rules panel of `rule_rows` lines, else one line per GPU
    (with a heading per node when there are several), scrolling when they do not fit;
    `chrome` lines are taken by the header, the footer or the kiosk's banner. With `models`
    of inference servers, their panel shows one of them whenever the rules leave the room,
    and more as the GPUs leave room."""
    gpus = sum(group_sizes)
    rows = max(MIN_RULE_ROWS, rule_rows)
    fixed = chrome + LATENCY_H + RULES_BORDER_H + rows
    cols = max(1, min(gpus, width // CARD_MIN_W))
    cards_h = sum(math.ceil(n / cols) for n in group_sizes) * CARD_H
    wanted = min(models, SERVING_MAX)
    # the serving panel's sparklines share the latency panel's time axis: both full width
    beside = width >= LATENCY_BESIDE_W and not wanted
    card_fixed = chrome + RULES_BORDER_H + max(CARD_RULE_ROWS, rule_rows)
    card_fixed += 0 if beside else LATENCY_H
    room = height - card_fixed - cards_h
    if not gpus or (width >= 100 and serving_height(min(wanted, 1)) <= room):
        serving = _models_in(room, wanted)
        return OverviewLayout(False, cols, cards_h, serving=serving, beside=beside and bool(gpus))
    headings = len(group_sizes) > 1
    lines = gpus + (len(group_sizes) if headings else 0)
    room = height - fixed - 1  # the compact list's column heading
    # the GPUs' spare room, but one model while the GPU list keeps its minimum
    serving = max(
        _models_in(room - lines, wanted), _models_in(room - MIN_GPU_LINES, min(wanted, 1))
    )
    room -= serving_height(serving)
    latency = True
    if room < MIN_GPU_LINES and room + LATENCY_H >= MIN_GPU_LINES:
        latency, room = False, room + LATENCY_H  # the rules before the latency panel
    gpu_h = max(MIN_GPU_LINES, min(lines, room))
    return OverviewLayout(True, 1, gpu_h, latency, headings, serving)


def _models_in(lines: int, wanted: int) -> int:
    """The most models (up to `wanted`) whose panel fits in `lines`."""
    models = wanted
    while models and serving_height(models) > lines:
        models -= 1
    return models


class RuleRoom:
    """Lines kept for the rules panel: grows at once, shrinks after `hold_s` without need."""

    def __init__(self, hold_s: float = ROOM_HOLD_S) -> None:
        self.hold_s = hold_s
        self._rows = 0
        self._at = -math.inf

    def update(self, need: int, now: float) -> int:
        if need >= self._rows or now - self._at >= self.hold_s:
            self._rows = need
        if need >= self._rows:
            self._at = now
        return self._rows
