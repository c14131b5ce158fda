"""Alerting rules for the obvious failures of inference servers, written from the engine
table (`gputop.sources.prometheus.serving.ENGINES`), so each engine's metric names live in one
place:

- the queue grows while throughput falls: waiting requests rose by more than 5 over 10 minutes
  while tokens (or requests, where the engine counts no tokens) per second fell below 80 % of
  what they were 10 minutes before;
- the KV cache is nearly full (over 95 % on a replica for 5 minutes): requests will queue or
  be preempted.

An engine without such a metric gets no such rule. Load the output into Prometheus (or
vmalert) beside the GPU rules; gputop shows their states and how near they are, like any rule.
`gputop rules serving` prints them (`gputop.commands.rules_serving`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from gputop.sources.prometheus.serving import ENGINES, Engine

__all__ = ["serving_rules"]


def serving_rules(engines: Iterable[Engine] = ENGINES) -> str:
    """The rules (Prometheus YAML), one group per engine."""
    lines = ["groups:"]
    for engine in engines:
        by = f"{engine.model_label}, instance" if engine.model_label else "instance"
        rules: list[str] = []
        if engine.waiting and engine.tokens:
            waiting, tokens = engine.waiting[0], engine.tokens[0]
            rate = f"sum by ({by}) (rate({tokens}[5m]"
            expr = (
                f"sum by ({by}) (delta({waiting}[10m])) > 5 and on ({by}) "
                f"{rate})) < 0.8 * {rate} offset 10m))"
            )
            summary = f"{engine.title}: the queue grows while throughput falls"
            rules += _rule(f"{engine.title}QueueGrowingThroughputFalling", expr, summary)
        if engine.kv_cache:
            kv = " or ".join(engine.kv_cache)  # an old and a new name: whichever is exported
            expr = f"max by ({by}) ({kv}) > 0.95"
            summary = (
                f"{engine.title}: the KV cache is over 95 % full; requests queue or are preempted"
            )
            rules += _rule(f"{engine.title}KVCacheNearlyFull", expr, summary)
        lines += [f"  - name: gputop-serving-{engine.key}", "    rules:" + ("" if rules else " []")]
        lines += rules
    return "\n".join(lines) + "\n"


def _rule(name: str, expr: str, summary: str) -> list[str]:
    return [
        f"      - alert: {name}",
        f"        expr: {json.dumps(expr)}",
        "        for: 5m",
        "        labels:",
        "          severity: warning",
        "        annotations:",
        f"          summary: {json.dumps(summary)}",
    ]
