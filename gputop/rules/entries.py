"""What a rule file holds, with where each part of it is written: the types `files` builds.

`Position` is a 1-based line and column; `RuleEntry` one rule with the positions of its
name, expression (character by character) and `for:`; `RuleFile` one file's entries and
errors; `RuleSet` the rules of several files as the engine takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gputop.promql.analysis import Analysis
from gputop.promql.positions import token_offsets
from gputop.rules.model import RecordDef, RuleDef
from gputop.rules.yamltext import OffsetMap

__all__ = ["Position", "RuleEntry", "RuleFile", "RuleFileError", "RuleSet"]


@dataclass(frozen=True, slots=True)
class Position:
    path: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class RuleFileError(Exception):
    """A bad rule file; str() is the one line `file:line:col: message` (`file: message`
    when the problem has no place in the file, e.g. a missing file)."""

    def __init__(self, message: str, position: Position | None = None, *, path: str = "") -> None:
        self.message = " ".join(message.split())  # a parser's words may span lines
        self.position = position
        self.path = position.path if position else path
        where = str(position) if position else path
        super().__init__(f"{where}: {self.message}" if where else self.message)


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One rule of a file with where each part of it was written."""

    kind: Literal["alert", "record"]
    name: str
    expr: str
    group: str
    group_interval_s: float | None
    position: Position  # the rule's first key
    expr_position: Position  # the expression's first character
    for_position: Position | None
    analysis: Analysis
    rule: RuleDef | None  # alerting rules only
    record: RecordDef | None = None  # recording rules only
    name_position: Position | None = None  # the alert or record name itself
    #: Where each character of the expression is written, when the file shows it.
    expr_map: OffsetMap | None = None
    #: Checks turned off for this rule by `# gputop: disable=...`, with where each was named.
    disabled: tuple[tuple[str, Position], ...] = ()
    #: The comments on the rule's lines and just above it, each without its `#`.
    comments: tuple[str, ...] = ()
    #: Each annotation's name, where its value starts, and where each of its characters is.
    annotation_places: tuple[tuple[str, Position, OffsetMap | None], ...] = ()

    def position_at(self, offset: int) -> Position:
        """Where the expression's character at `offset` is written in the file."""
        if self.expr_map is None:
            return self.expr_position
        line, col = self.expr_map.at(offset)
        return Position(self.expr_position.path, line, col)

    def locate(self, name: str) -> Position:
        """Where `name` is first written in the expression as a whole token, else its start."""
        found = token_offsets(self.expr, name)
        return self.position_at(found[0]) if found else self.expr_position

    def annotation_position(self, name: str, offset: int) -> Position | None:
        """Where the character at `offset` of the annotation `name` is written."""
        for key, start, where in self.annotation_places:
            if key == name:
                if where is None:
                    return start
                line, col = where.at(offset)
                return Position(start.path, line, col)
        return None

    @property
    def disabled_checks(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.disabled)


@dataclass(slots=True)
class RuleFile:
    path: str
    entries: list[RuleEntry] = field(default_factory=list)
    errors: list[RuleFileError] = field(default_factory=list)
    #: Kubernetes objects other than PrometheusRule, by kind, skipped.
    skipped: list[str] = field(default_factory=list)
    #: Plain rule-file documents after the first, which Prometheus never reads.
    ignored_documents: list[Position] = field(default_factory=list)

    @property
    def rules(self) -> list[RuleDef]:
        return [e.rule for e in self.entries if e.rule is not None]

    @property
    def records(self) -> list[RecordDef]:
        return [e.record for e in self.entries if e.record is not None]

    def note(self) -> str | None:
        """What to say of a file gputop can show nothing from: no alerting rules in it."""
        if self.rules or self.errors:
            return None
        records = len(self.records)
        if records:
            plural = "s" if records != 1 else ""
            return f"{self.path}: no alerting rules, only {records} recording rule{plural}"
        return f"{self.path}: no rules"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The alerting and recording rules of several files, in file order, and what to say
    of files with no alerting rules."""

    alerts: tuple[RuleDef, ...] = ()
    records: tuple[RecordDef, ...] = ()
    notes: tuple[str, ...] = ()
    without_alerts: tuple[str, ...] = ()  # the files the notes speak of
