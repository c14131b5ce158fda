"""dcgm-exporter's counters files: which fields an install exports, and as which type.

dcgm-exporter exports exactly the fields of the CSV it is started with (`-f FILE`): lines of
`DCGM_FI_<FIELD>, gauge|counter|label, help`, `#` comment lines and blank lines between. A
project that ships its own file exports what it lists, not what a default install does, so
`rules check` judges its rules by that file: named with `--counters` (or `[rules] counters`),
else found beside the rule file or in a directory above it, up to the repository's root.

A file named on purpose that is not such a CSV is an error; a CSV found on the way that is not
one (a spreadsheet of something else) is passed over in silence.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["COUNTER_TYPES", "Counters", "CountersError", "find_counters", "read_counters"]

#: The Prometheus types dcgm-exporter accepts in a counters file.
COUNTER_TYPES = frozenset({"gauge", "counter", "histogram", "summary", "label"})
# Beyond this size a file is no counters file (dcgm-exporter's own are a few kB).
_MAX_BYTES = 1 << 20


class CountersError(Exception):
    """A file named as a counters file that is not one; str() is `file:line: message`."""


@dataclass(frozen=True, slots=True)
class Counters:
    """The fields of one or more counters files, each with its declared type."""

    paths: tuple[str, ...] = ()
    types: Mapping[str, str] = field(default_factory=dict)

    def exports(self, name: str) -> bool:
        """Whether the exporter exports `name` as a metric (a `label` field is no metric)."""
        return self.types.get(name, "label") != "label"

    @classmethod
    def union(cls, files: Iterable[tuple[str, Mapping[str, str]]]) -> Counters:
        paths: list[str] = []
        types: dict[str, str] = {}
        for path, declared in files:
            paths.append(path)
            types.update(declared)
        return cls(tuple(paths), types)


def read_counters(path: str | Path) -> dict[str, str]:
    """Field name → declared type, as dcgm-exporter reads the file; CountersError if the file
    cannot be read or is not a counters file."""
    try:
        raw = Path(path).read_bytes()[: _MAX_BYTES + 1]
    except OSError as exc:
        raise CountersError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > _MAX_BYTES:
        raise CountersError(f"{path}: not a dcgm-exporter counters file (over 1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CountersError(f"{path}: not a dcgm-exporter counters file (not UTF-8)") from None
    types: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            row = next(csv.reader(io.StringIO(line)))
        except (csv.Error, StopIteration):
            row = []
        cells = [cell.strip(" ") for cell in row]
        if len(cells) != 3:
            raise CountersError(
                f"{path}:{number}: expected `FIELD, TYPE, HELP` (3 fields), found {len(cells)}"
            )
        name, kind = cells[0], cells[1]
        if not name.startswith(("DCGM_", "dcgm_")):
            raise CountersError(f"{path}:{number}: {name!r} is no DCGM field")
        if kind not in COUNTER_TYPES:
            raise CountersError(
                f"{path}:{number}: {kind!r} is no type dcgm-exporter knows "
                f"({', '.join(sorted(COUNTER_TYPES))})"
            )
        types[name] = kind
    if not types:
        raise CountersError(f"{path}: no fields: not a dcgm-exporter counters file")
    return types


def _repository_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def find_counters(rule_file: str | Path) -> list[tuple[str, dict[str, str]]]:
    """The counters files nearest a rule file: those in its own directory, else in the first
    directory above it (up to its repository's root) that holds any; each with its fields."""
    start = Path(rule_file).resolve().parent
    root = _repository_root(start)
    directories = [start] if root is None else [start, *start.parents]
    for directory in directories:
        found = []
        for csv_path in sorted(directory.glob("*.csv")):
            try:
                found.append((_shown(csv_path), read_counters(csv_path)))
            except CountersError:
                continue
        if found:
            return found
        if directory == root:
            break
    return []


def _shown(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
