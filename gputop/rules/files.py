"""Prometheus rule files (YAML) with the line and column of every rule and expression.

Every problem is one line, `file:line:col: message`, pointing at the YAML mark of the
offending value: a PromQL syntax error at its `expr:`, a YAML error where the parser stopped.
Recording rules are checked like alerting rules but yield no RuleDef.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from gputop.promql.analysis import Analysis, PromQLSyntaxError
from gputop.rules.model import MARGIN_ANNOTATION, RuleDef, analysis_of, parse_margin

__all__ = [
    "Position",
    "RuleEntry",
    "RuleFile",
    "RuleFileError",
    "load_rules",
    "parse_prometheus_duration",
    "read_rule_file",
]

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (31536000.0, 604800.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_TOP_KEYS = frozenset({"groups"})
_GROUP_KEYS = frozenset({"name", "interval", "limit", "rules", "query_offset", "labels"})
_RULE_KEYS = frozenset(
    {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)


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
        self.message = message
        self.position = position
        self.path = position.path if position else path
        where = str(position) if position else path
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One rule of a file with where each part of it was written."""

    kind: Literal["alert", "record"]
    name: str
    expr: str
    group: str
    group_interval_s: float | None
    position: Position  # the rule's first key
    expr_position: Position
    for_position: Position | None
    analysis: Analysis
    rule: RuleDef | None  # alerting rules only
    #: Where each line of the expression starts in the file, when that is known exactly.
    expr_lines: tuple[Position, ...] = ()

    def locate(self, needle: str) -> Position:
        """Where `needle` (e.g. a metric name) is written in the expression, else its start."""
        index = self.expr.find(needle)
        if index < 0:
            return self.expr_position
        line = self.expr.count("\n", 0, index)
        if line >= len(self.expr_lines):
            return self.expr_position
        start = self.expr_lines[line]
        offset = index - (self.expr.rfind("\n", 0, index) + 1)
        return Position(start.path, start.line, start.col + offset)


@dataclass(slots=True)
class RuleFile:
    path: str
    entries: list[RuleEntry] = field(default_factory=list)
    errors: list[RuleFileError] = field(default_factory=list)

    @property
    def rules(self) -> list[RuleDef]:
        return [e.rule for e in self.entries if e.rule is not None]


def parse_prometheus_duration(text: str) -> float:
    """A Prometheus duration ("5m", "1h30m", "0"); raises ValueError like Prometheus does."""
    s = text.strip()
    m = _DURATION.match(s)
    if s == "0":
        return 0.0
    if not s or m is None:
        raise ValueError(f"not a valid duration string: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return sum(float(g) * unit for g, unit in zip(m.groups(), _DURATION_UNITS, strict=True) if g)


def load_rules(paths: Iterable[str | Path]) -> list[RuleDef]:
    """The alerting rules of every file, in order; raises the first RuleFileError."""
    rules: list[RuleDef] = []
    for path in paths:
        parsed = read_rule_file(path)
        if parsed.errors:
            raise parsed.errors[0]
        rules.extend(parsed.rules)
    return rules


def read_rule_file(path: str | Path) -> RuleFile:
    """Read and check one file; problems are collected in `errors`, never raised."""
    name = str(path)
    out = RuleFile(name)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        out.errors.append(RuleFileError("no such rule file", path=name))
        return out
    except IsADirectoryError:
        out.errors.append(RuleFileError("is a directory, not a rule file", path=name))
        return out
    except UnicodeDecodeError as exc:
        out.errors.append(RuleFileError(f"not UTF-8 text ({exc.reason})", path=name))
        return out
    except OSError as exc:
        out.errors.append(RuleFileError(f"cannot read: {exc.strerror or exc}", path=name))
        return out
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _position(name, mark) if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        out.errors.append(RuleFileError(f"YAML error: {problem}", where, path=name))
        return out
    except yaml.YAMLError as exc:
        out.errors.append(RuleFileError(f"YAML error: {exc}", path=name))
        return out
    if root is None:
        return out  # an empty file holds no rules, as for Prometheus
    _Reader(name, text.splitlines(), out).file(root)
    return out


def _position(path: str, mark: yaml.Mark) -> Position:
    return Position(path, mark.line + 1, mark.column + 1)


class _Reader:
    """Walks the composed YAML tree, recording entries and errors with their marks."""

    def __init__(self, path: str, lines: list[str], out: RuleFile) -> None:
        self.path = path
        self.lines = lines
        self.out = out

    def at(self, node: yaml.Node) -> Position:
        return _position(self.path, node.start_mark)

    def error(self, node: yaml.Node, message: str) -> None:
        self.out.errors.append(RuleFileError(message, self.at(node)))

    def mapping(
        self, node: yaml.Node, what: str, allowed: frozenset[str]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Key → (key node, value node) of a mapping; errors for other shapes and keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping")
            return None
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else None
            if k is None:
                self.error(key, f"{what} has a key that is not a string")
            elif k in found:
                self.error(key, f"{what} has the key {k!r} twice")
            elif k not in allowed:
                self.error(
                    key, f"unknown key {k!r} in {what} (one of {', '.join(sorted(allowed))})"
                )
            else:
                found[k] = (key, value)
        return found

    def scalar(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.error(node, f"{what} must be a single value")
            return None
        return str(node.value)

    def duration(self, node: yaml.Node, what: str) -> float | None:
        text = self.scalar(node, what)
        if text is None:
            return None
        try:
            return parse_prometheus_duration(text)
        except ValueError as exc:
            self.error(node, f"{what}: {exc}")
            return None

    def string_map(self, node: yaml.Node, what: str, *, check_names: bool) -> dict[str, str]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping")
            return {}
        out: dict[str, str] = {}
        for key, value in node.value:
            name = self.scalar(key, f"a key of {what}")
            text = self.scalar(value, f"{what}.{name}")
            if name is None or text is None:
                continue
            if check_names and not _LABEL_NAME.match(name):
                self.error(key, f"invalid label name {name!r} in {what}")
            elif name in out:
                self.error(key, f"{what} has the key {name!r} twice")
            out[name] = text
        return out

    def file(self, root: yaml.Node) -> None:
        top = self.mapping(root, "the rule file", _TOP_KEYS)
        if top is None or "groups" not in top:
            return
        groups = top["groups"][1]
        if isinstance(groups, yaml.ScalarNode) and groups.tag.endswith(":null"):
            return
        if not isinstance(groups, yaml.SequenceNode):
            self.error(groups, "groups must be a list")
            return
        seen: set[str] = set()
        for node in groups.value:
            self.group(node, seen)

    def group(self, node: yaml.Node, seen: set[str]) -> None:
        keys = self.mapping(node, "a group", _GROUP_KEYS)
        if keys is None:
            return
        name = self.scalar(keys["name"][1], "the group name") if "name" in keys else None
        if "name" not in keys:
            self.error(node, "a group needs a name")
        elif name is not None and name in seen:
            self.error(keys["name"][1], f"group name {name!r} is repeated in the same file")
        if name:
            seen.add(name)
        interval = self.duration(keys["interval"][1], "interval") if "interval" in keys else None
        rules = keys.get("rules", (None, None))[1]
        if rules is None or (isinstance(rules, yaml.ScalarNode) and rules.tag.endswith(":null")):
            return
        if not isinstance(rules, yaml.SequenceNode):
            self.error(rules, "rules must be a list")
            return
        for rule in rules.value:
            self.rule(rule, name or "", interval)

    def rule(self, node: yaml.Node, group: str, interval: float | None) -> None:
        keys = self.mapping(node, "a rule", _RULE_KEYS)
        if keys is None:
            return
        if ("alert" in keys) == ("record" in keys):
            self.error(node, "a rule needs exactly one of 'alert' or 'record'")
            return
        kind: Literal["alert", "record"] = "alert" if "alert" in keys else "record"
        name_node = keys[kind][1]
        name = self.scalar(name_node, kind)
        if name is None:
            return
        if not name.strip():
            self.error(name_node, f"{kind} name is empty")
            return
        if kind == "record":
            if not _METRIC_NAME.match(name):
                self.error(name_node, f"invalid recording rule name {name!r}")
            for key in ("for", "keep_firing_for", "annotations"):
                if key in keys:
                    self.error(keys[key][0], f"invalid field {key!r} in recording rule {name}")
        if "expr" not in keys:
            self.error(node, f"rule {name}: missing 'expr'")
            return
        expr_node = keys["expr"][1]
        expr = self.scalar(expr_node, "expr")
        if expr is None:
            return
        expr_lines = self.expr_lines(expr_node, expr)
        expr_at = expr_lines[0] if expr_lines else self.at(expr_node)
        try:
            analysis = analysis_of(expr)
        except PromQLSyntaxError as exc:
            self.out.errors.append(RuleFileError(f"rule {name}: PromQL: {exc}", expr_at))
            return
        for_s = self.duration(keys["for"][1], "for") if "for" in keys else 0.0
        keep = keys.get("keep_firing_for")
        keep_s = self.duration(keep[1], "keep_firing_for") if keep else 0.0
        labels = (
            self.string_map(keys["labels"][1], "labels", check_names=True)
            if "labels" in keys
            else {}
        )
        annotations = (
            self.string_map(keys["annotations"][1], "annotations", check_names=True)
            if "annotations" in keys
            else {}
        )
        margin = None
        if MARGIN_ANNOTATION in annotations:
            try:
                margin = parse_margin(annotations[MARGIN_ANNOTATION])
            except ValueError as exc:
                self.error(keys["annotations"][1], f"annotations.{MARGIN_ANNOTATION}: {exc}")
        position = self.at(keys[kind][0])
        rule = None
        if kind == "alert":
            rule = RuleDef(
                name=name,
                expr=expr,
                for_s=for_s or 0.0,
                keep_firing_for_s=keep_s or 0.0,
                labels=labels,
                annotations=annotations,
                severity=labels.get("severity"),
                source=f"{self.path}:{position.line}",
                margin=margin,
                group=group,
                interval_s=interval,
            )
        self.out.entries.append(
            RuleEntry(
                kind=kind,
                name=name,
                expr=expr,
                group=group,
                group_interval_s=interval,
                position=position,
                expr_position=expr_at,
                for_position=self.at(keys["for"][1]) if "for" in keys else None,
                analysis=analysis,
                rule=rule,
                expr_lines=expr_lines,
            )
        )

    def expr_lines(self, node: yaml.ScalarNode, value: str) -> tuple[Position, ...]:
        """Where each line of a scalar's value is written, when the file shows it verbatim."""
        line, col = node.start_mark.line, node.start_mark.column
        if node.style in (None, "'", '"') and "\n" not in value.strip():
            start = col + (1 if node.style else 0)
            if self._shows(line, start, value.strip()):
                return (Position(self.path, line + 1, start + 1),)
        elif node.style == "|":
            out = []
            for i, part in enumerate(value.rstrip("\n").split("\n")):
                row = line + 1 + i
                text = self.lines[row] if row < len(self.lines) else ""
                indent = len(text) - len(text.lstrip(" "))
                if part and not self._shows(row, indent, part):
                    break
                out.append(Position(self.path, row + 1, indent + 1))
            else:
                return tuple(out)
        return ()

    def _shows(self, row: int, col: int, text: str) -> bool:
        return row < len(self.lines) and self.lines[row][col : col + len(text)] == text
