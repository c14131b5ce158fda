"""The built-in alert rule pack (`builtin.yml`, group `gputop-builtin`).

`builtin.yml` is the pack as written (with its comments; what `gputop rules check` and the
docs read). The dashboard loads its mirror `builtin.json` (written by
scripts/builtin_rules_json.py, checked equal by the tests), which needs no YAML parser: the
rules are evaluated for the first frame, and a YAML parser costs that frame more than the
rules themselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from gputop.rules.model import RuleDef

__all__ = ["BUILTIN_GROUP", "JSON_PATH", "as_json", "builtin_pack", "builtin_path", "builtin_rules"]

BUILTIN_GROUP = "gputop-builtin"
JSON_PATH = Path(__file__).with_name("builtin.json")
_FIELDS: tuple[str, ...] = ("name", "expr", "for_s", "keep_firing_for_s", "labels")
_FIELDS += ("annotations", "severity", "margin", "group", "interval_s")


def builtin_path() -> Path:
    """Path of the built-in rule file (installed with the package)."""
    return Path(__file__).with_name("builtin.yml")


def as_json(rules: Sequence[RuleDef]) -> list[dict[str, Any]]:
    """The rules as `builtin.json` holds them: their fields, and the line of `builtin.yml`
    each is written on."""
    out = []
    for rule in rules:
        doc: dict[str, Any] = {f: getattr(rule, f) for f in _FIELDS}
        doc["labels"], doc["annotations"] = dict(rule.labels), dict(rule.annotations)
        doc["line"] = int((rule.source or ":0").rsplit(":", 1)[1])
        out.append(doc)
    return out


@cache
def _parsed() -> tuple[RuleDef, ...]:
    source = builtin_path()
    rules = json.loads(JSON_PATH.read_text(encoding="utf-8"))
    return tuple(
        RuleDef(**{f: doc[f] for f in _FIELDS}, source=f"{source}:{doc['line']}") for doc in rules
    )


def builtin_rules() -> list[RuleDef]:
    """The built-in alerting rules, parsed (the file is read once)."""
    return list(_parsed())


def builtin_pack() -> tuple[Path, list[RuleDef]]:
    """The pack's path and its parsed rules."""
    return builtin_path(), builtin_rules()
