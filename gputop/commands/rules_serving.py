"""`gputop rules serving [--engine ENGINE]...`: print the alerting rules for inference
servers (`gputop.rules.servingrules`), one group per engine, as Prometheus YAML.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from gputop.rules.servingrules import serving_rules
from gputop.sources.prometheus.serving import ENGINES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rules serving` arguments."""
    keys = [e.key for e in ENGINES]
    parser.add_argument(
        "--engine",
        action="append",
        choices=keys,
        metavar="ENGINE",
        help=f"only this engine's rules (repeatable): {', '.join(keys)}; default: all",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the rules; 0."""
    wanted: Sequence[str] = args.engine or [e.key for e in ENGINES]
    (out or sys.stdout).write(serving_rules(e for e in ENGINES if e.key in wanted))
    return 0
