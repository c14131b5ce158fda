"""`gputop --once [--json] [--check]`: one snapshot of every source and rule, printed; with
`--check`, the monitoring-plugin exit status."""

from __future__ import annotations

import argparse
import gc
import json
import sys

from gputop.monitor import Monitor

__all__ = ["run_once"]


def run_once(monitor: Monitor, args: argparse.Namespace) -> int:
    import asyncio

    from gputop.rules.engine import check_status
    from gputop.snapshot import snapshot_json, snapshot_text
    from gputop.ui.views.readings import DEFAULT_WINDOW_S

    # the history the dashboard would hold (a source that can replay its past): the rules'
    # recent series, and so near, as the dashboard has them
    monitor.warm_start(DEFAULT_WINDOW_S, args.interval or 1.0)
    monitor.poll()

    async def remote() -> None:
        try:
            await monitor.refresh_remote()
        finally:
            await monitor.aclose()

    if monitor.remote is not None:
        asyncio.run(remote())
    statuses = monitor.rule_statuses()
    if args.json:
        doc = snapshot_json(monitor, [s.as_json() for s in statuses])
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(snapshot_text(monitor, statuses) + "\n")
    gc.enable()
    if not args.check:
        return 0
    return check_status(
        statuses, sources_failing=monitor.sources_failing(), lost_gpus=monitor.lost_count()
    )
