"""The built-in alert rule pack (`builtin.yml`, group `gputop-builtin`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gputop.rules.files import load_rules
from gputop.rules.model import RuleDef

__all__ = ["BUILTIN_GROUP", "builtin_pack", "builtin_path", "builtin_rules"]

BUILTIN_GROUP = "gputop-builtin"


def builtin_path() -> Path:
    """Path of the built-in rule file (installed with the package)."""
    return Path(__file__).with_name("builtin.yml")


@cache
def _parsed() -> tuple[RuleDef, ...]:
    return tuple(load_rules([builtin_path()]))


def builtin_rules() -> list[RuleDef]:
    """The built-in alerting rules, parsed (the file is read once)."""
    return list(_parsed())


def builtin_pack() -> tuple[Path, list[RuleDef]]:
    """The pack's path and its parsed rules."""
    return builtin_path(), builtin_rules()
