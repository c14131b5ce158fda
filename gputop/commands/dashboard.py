"""`gputop [options]`: the dashboard (or, with `--once`, one snapshot: `gputop.commands.once`).

With `--once --check` the status is the monitoring-plugin convention (see `check_status`), and
no usable source at all is 3 (unknown), never 2, which a monitoring system reads as critical.
"""

from __future__ import annotations

import argparse
import os
import sys

from gputop.commands.build import build_monitor, settings_from_args
from gputop.commands.usage import EXIT_UNKNOWN, TRY_DEMO, UsageError
from gputop.core.untrusted import visible
from gputop.monitor import Monitor

__all__ = ["run", "run_dashboard"]


def run(args: argparse.Namespace) -> int:
    """`gputop [options]`: the dashboard, or with `--once` one snapshot; the exit status."""
    if args.json and not args.once:
        raise UsageError("--json: only with --once")
    if args.check and not args.once:
        raise UsageError("--check: only with --once")
    settings = settings_from_args(args)
    config = settings.config
    kiosk = config.ui.kiosk and not args.once
    monitor = build_monitor(settings, keep_trying=kiosk)
    try:
        if monitor.local is None and monitor.remote is None:
            reason = monitor.state("nvml").reason or "NVML not available"
            if args.once and args.check:
                sys.stderr.write(f"gputop: nothing to check: {visible(reason)}\n")
                return EXIT_UNKNOWN
            raise UsageError(f"{reason}; {TRY_DEMO}")
        if args.once:
            from gputop.commands.once import run_once

            return run_once(monitor, args)
        return run_dashboard(
            monitor,
            interval=config.ui.interval,
            no_color=config.ui.no_color,
            notify=args.notify and not kiosk,
            kiosk_page_s=config.ui.kiosk_page_seconds if kiosk else None,
            read_only=config.ui.read_only or kiosk,
            warnings=config.warnings,
        )
    finally:
        monitor.close()


def run_dashboard(
    monitor: Monitor,
    *,
    interval: float = 1.0,
    no_color: bool = False,
    notify: bool = False,
    kiosk_page_s: float | None = None,
    read_only: bool = False,
    warnings: tuple[str, ...] = (),
) -> int:
    """Run the dashboard until the user quits (or a signal ends it); returns the exit status.

    With `kiosk_page_s` it is a kiosk: pages cycle, and only the exit chord quits."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    from gputop.ui.app import GpuTopApp

    app = GpuTopApp(
        monitor,
        interval=interval,
        notify_firing=notify,
        kiosk_page_s=kiosk_page_s,
        read_only=read_only,
        kiosk=kiosk_page_s is not None,
        handle_signals=True,
        warnings=warnings,
    )
    monitor.warm_start(app.window_s, interval)
    monitor.poll()  # the first frame shows real numbers, not placeholders
    app.run()
    return app.return_code or 0
