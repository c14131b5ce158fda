"""The checks of a metric's name against the catalogue (`gputop rules check`): a 1.x name, a
label or a text field used as a metric, a name no exporter exports, a field dcgm-exporter
does not export by default. Each speaks only for the names the catalogue covers, and never
for a name the project's exporter or the server says exists.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gputop.core.catalogue import (
    LABEL_FIELDS,
    NOT_METRICS,
    OLD_NAMES,
    dcgm_field,
    in_namespace,
    lookup,
    suggest,
)

if TYPE_CHECKING:
    from gputop.rules.checks import CheckContext

__all__ = ["name_problem"]

_DECLARE_COUNTERS = "declare it with --counters FILE or [rules] counters"


def name_problem(metric: str, ctx: CheckContext) -> tuple[str, str] | None:
    """(check, message) when the catalogue's namespace holds this name and it is wrong."""
    declared = ctx.counters.types.get(metric) if ctx.counters else None
    if metric in OLD_NAMES and declared is None:
        return (
            "old-metric-name",
            f"{metric} is a dcgm-exporter 1.x name; since 2.0 the metric is {OLD_NAMES[metric]}",
        )
    if metric in LABEL_FIELDS or declared == "label":
        return (
            "not-a-metric",
            f"{metric} is a label dcgm-exporter puts on every series, not a metric: "
            f'select it as a label, e.g. DCGM_FI_DEV_GPU_TEMP{{{metric}="..."}}',
        )
    if metric in NOT_METRICS:
        return "not-a-metric", f"{metric} is {NOT_METRICS[metric]}"
    if declared is not None:
        return None  # the project's exporter exports it
    field = dcgm_field(metric)
    if field is not None and not field.numeric:
        return (
            "not-a-metric",
            f"{metric} holds {'text' if field.type == 'string' else 'a binary record'}, "
            f"not a number: dcgm-exporter can export it only as a label on other series",
        )
    info = lookup(metric, histogram=ctx.histogram)
    if info is None:
        if not in_namespace(metric, histogram=ctx.histogram):
            return None
        if ctx.present is not None and metric in ctx.present:
            return None  # the server has it: an exporter's field this catalogue lacks
        guess = suggest(metric, histogram=ctx.histogram)
        if guess in OLD_NAMES:
            guess = f"{guess} (1.x), now {OLD_NAMES[guess]}"
        hint = f"; did you mean {guess}?" if guess else ""
        return "unknown-metric", f"unknown metric {metric}: no exporter exports it{hint}"
    if metric.startswith("DCGM_") and (ctx.counters is not None or not info.default_export):
        if ctx.present is not None and metric in ctx.present:
            return None
        return "default-export", _not_exported(
            metric, info.kind, info.meaning, info.equivalent, ctx
        )
    if metric == info.name and info.kind == "histogram":
        return (
            "unknown-metric",
            f"{metric} is a histogram: select {metric}_bucket, _sum or _count",
        )
    return None


def _not_exported(
    metric: str, kind: str, meaning: str, equivalent: str | None, ctx: CheckContext
) -> str:
    line = f"`{metric}, {kind if kind in ('gauge', 'counter') else 'gauge'}, {meaning}`"
    if ctx.counters is not None:
        files = ", ".join(ctx.counters.paths)
        message = (
            f"{metric} is not in the dcgm-exporter counters file ({files}), so the exporter "
            f"does not export it and this rule never sees it: add {line} to it"
        )
    else:
        message = (
            f"{metric} is not exported by a default dcgm-exporter install, so this rule never "
            f"sees it: add {line} to dcgm-exporter's counters CSV (and {_DECLARE_COUNTERS})"
        )
    needs = re.findall(r"\bDCGM_\w+", equivalent or "")
    if equivalent and (ctx.counters is None or all(map(ctx.counters.exports, needs))):
        message += f", or use {equivalent}"
    return message
