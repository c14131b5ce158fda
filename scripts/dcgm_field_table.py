#!/usr/bin/env python3
"""Write gputop/core/dcgm_field_table.py from NVIDIA's DCGM sources: every field identifier of
`dcgmlib/dcgm_fields.h`, with its number, its old (deprecated) names, its value type and its
unit where DCGM states one.

    scripts/dcgm_field_table.py 4.6.0 DCGM/dcgmlib/dcgm_fields.h [DCGM/dcgmlib/src/dcgm_fields.cpp]

The header gives the names, numbers and comments; `dcgm_fields.cpp` (optional) gives each
field's value type (int64, double, string, binary, timestamp) and the unit of the few fields
it formats with one. Units come only from what DCGM states (the field table's unit, a comment's
"in MB", "in Watts", "in ns", "percent 0-100", a `_CELSIUS`/`_WATTS` name): a unit guessed
wrong would make the rule checks cry wolf. The markers that bound ranges of ids
(`DCGM_FI_FIRST_VGPU_FIELD_ID`, `DCGM_FI_MAX_FIELDS`, ...) are no fields and are left out.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "gputop" / "core" / "dcgm_field_table.py"

_DEFINE = re.compile(
    r"((?:/\*(?:(?!\*/).)*\*/|//[^\n]*)\s*)?^#define\s+(DCGM_FI_\w+)\s+(\d+)[ \t]*$",
    re.M | re.S,
)
_ALIAS = re.compile(r"^#define\s+(DCGM_FI_\w+)\s+(DCGM_FI_\w+)\b", re.M)
_MARKER = re.compile(r"_(?:FIRST|LAST)_\w*FIELD_ID$|^DCGM_FI_MAX_\w*FIELDS$|^DCGM_FI_INTERNAL_")
_CALL = re.compile(
    r"DcgmFieldsPopulateOneFieldWithFormatting\(\s*(DCGM_FI_\w+)\s*,\s*(DCGM_FT_\w+)\s*,(.*?)\);",
    re.S,
)
_TYPES = {
    "DCGM_FT_INT64": "i",
    "DCGM_FT_DOUBLE": "d",
    "DCGM_FT_STRING": "s",
    "DCGM_FT_BINARY": "b",
    "DCGM_FT_TIMESTAMP": "t",
}
_TABLE_UNITS = {
    "DCGM_FIELD_UNIT_TEMP_C": "°C",
    "DCGM_FIELD_UNIT_POW_W": "W",
    "DCGM_FIELD_UNIT_MILLIJOULES": "mJ",
    "DCGM_FIELD_UNIT_BW_MBPS": "MB/s",
    "DCGM_FIELD_UNIT_BW_KBPS": "KB/s",
}
# What a comment says of the unit, in the order tried.
_COMMENT_UNITS = (
    (re.compile(r"\bin MB/s\b"), "MB/s"),
    (re.compile(r"\bin mW/s\b"), "mW/s"),
    (re.compile(r"\bin MB\b"), "MiB"),
    (re.compile(r"\bin (?:Watts|watts)\b"), "W"),
    (re.compile(r"\bin mJ\b"), "mJ"),
    (re.compile(r"\bin (?:ns|nanoseconds)\b"), "ns"),
    (re.compile(r"\bin (?:ms|milliseconds)\b"), "ms"),
    (re.compile(r"\bin seconds\b"), "s"),
    (re.compile(r"\bin degrees C\b"), "°C"),
    (re.compile(r"\bin percent 0-100\b|\bPercentage of\b"), "%"),
)
_NAME_UNITS = (("_CELSIUS", "°C"), ("_WATTS", "W"))


def _words(comment: str) -> str:
    text = re.sub(r"^\s*(?:/\*+|\*+/?|//+)", " ", comment, flags=re.M)
    text = text.replace("*/", " ")
    return " ".join(text.split())


def _meaning(words: str) -> str:
    """The comment's first sentence, short enough for a message."""
    first = re.split(r"(?<=[a-z0-9)])\. |@note|@|\bDeprecated\b", words)[0].strip(" .")
    first = first.replace("|", "/")
    return first if len(first) <= 90 else first[:87].rstrip() + "..."


def _unit(name: str, words: str, table_unit: str | None, kind: str) -> str:
    if table_unit:
        return table_unit
    for pattern, unit in _COMMENT_UNITS:
        if pattern.search(words):
            return unit
    for suffix, unit in _NAME_UNITS:
        if name.endswith(suffix):
            return unit
    if kind == "d" and re.match(r"(?:The )?[Rr]atio of\b", words):
        return "ratio"
    return "-"


def build(header: str, cpp: str | None) -> list[str]:
    """The table's lines for the header and, if given, the field table's source."""
    types: dict[str, str] = {}
    units: dict[str, str] = {}
    for name, ft, rest in _CALL.findall(cpp or ""):
        types[name] = _TYPES.get(ft, "?")
        stated = re.search(r"DCGM_FIELD_UNIT_\w+", rest)
        if stated and stated.group(0) in _TABLE_UNITS:
            units[name] = _TABLE_UNITS[stated.group(0)]
    fields: dict[str, tuple[int, str]] = {}
    for match in _DEFINE.finditer(header):
        comment, name, number = match.groups()
        if _MARKER.search(name):
            continue
        words = _words(comment or "")
        if "Copyright" in words:
            words = ""
        fields[name] = (int(number), words)
    aliases: dict[str, list[str]] = {}
    alias_of = dict(_ALIAS.findall(header))
    for old, new in alias_of.items():
        while new in alias_of and new not in fields:
            new = alias_of[new]
        if new in fields and not _MARKER.search(old):
            aliases.setdefault(new, []).append(old)
    lines = []
    for name, (number, words) in sorted(fields.items(), key=lambda kv: (kv[1][0], kv[0])):
        kind = types.get(name, "?")
        unit = _unit(name, words, units.get(name), kind)
        old = ",".join(aliases.get(name, [])) or "-"
        lines.append(f"{number}|{name}|{kind}|{unit}|{old}|{_meaning(words)}")
    return lines


def render(version: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return f'''# ruff: noqa: E501 (one field a line, as generated)
"""Every field identifier of DCGM {version}'s `dcgm_fields.h`, generated by
`scripts/dcgm_field_table.py` from NVIDIA's DCGM sources (Apache License 2.0): do not edit.

One field a line: `id|name|type|unit|old names|meaning`. type: i int64, d double, s string,
b binary, t timestamp, ? not in DCGM's field table. unit: as DCGM states it, - when it does
not. old names: the deprecated names the header still defines for the field (dcgm-exporter's
counters files use them), - when none. Read once, on first need, by `gputop.core.catalogue`.
"""

DCGM_VERSION = "{version}"

TABLE = """\\
{body}
"""
'''


def main(argv: list[str]) -> int:
    if not 2 <= len(argv) <= 3:
        sys.stderr.write(__doc__ or "")
        return 2
    version = argv[0]
    header = Path(argv[1]).read_text(encoding="utf-8")
    cpp = Path(argv[2]).read_text(encoding="utf-8") if len(argv) == 3 else None
    lines = build(header, cpp)
    OUT.write_text(render(version, lines), encoding="utf-8")
    print(f"{OUT}: {len(lines)} fields of DCGM {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
