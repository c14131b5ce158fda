"""Prometheus rule files (YAML) with the line and column of every rule and expression.

Read as Prometheus reads them (`groups:` at the top), and as Kubernetes ships them: a
`PrometheusRule` custom resource holds the same groups under `spec:`, and a file may hold
several YAML documents (`---`); every position is in the original file. Every problem is one
line, `file:line:col: message`, at the YAML mark of the offending value. The types built
here are in `entries`; where a value's characters sit in the file, in `yamltext`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import yaml

from gputop.config.files import FileRefused, read_limited
from gputop.promql.analysis import PromQLSyntaxError
from gputop.rules.entries import Position, RuleEntry, RuleFile, RuleFileError, RuleSet
from gputop.rules.model import MARGIN_ANNOTATION, RecordDef, RuleDef, analysis_of, parse_margin
from gputop.rules.yamltext import (
    OffsetMap,
    SourceText,
    comment_texts,
    disable_comments,
    scalar_map,
)

__all__ = [
    "Position",
    "RuleEntry",
    "RuleFile",
    "RuleFileError",
    "RuleSet",
    "load_rule_set",
    "load_rules",
    "parse_prometheus_duration",
    "read_rule_file",
]

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (31536000.0, 604800.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_MAX_DURATION_S = 2**63 / 1e9  # Go's time.Duration, as Prometheus parses it
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_TOP_KEYS = frozenset({"groups"})
_GROUP_KEYS = frozenset({"name", "interval", "limit", "rules", "query_offset", "labels"})
# prometheus-operator's RuleGroup adds Thanos' partial_response_strategy.
_CR_GROUP_KEYS = _GROUP_KEYS | {"partial_response_strategy"}
_CR_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_RULE_KEYS = frozenset(
    {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)
_CUSTOM_RESOURCE = "PrometheusRule"
#: Rule files are text someone wrote; one bigger than this is not one.
MAX_RULE_FILE_BYTES = 16 * 1024 * 1024


def parse_prometheus_duration(text: str) -> float:
    """A Prometheus duration ("5m", "1h30m", "0"); raises ValueError like Prometheus does."""
    s = text.strip()
    m = _DURATION.match(s)
    if s == "0":
        return 0.0
    if not s or m is None:
        raise ValueError(f"not a valid duration string: {text!r} (use e.g. 30s, 5m, 1h30m)")
    total = sum(float(g) * unit for g, unit in zip(m.groups(), _DURATION_UNITS, strict=True) if g)
    if total > _MAX_DURATION_S:
        raise ValueError(f"duration out of range: {text!r} (Prometheus holds up to 292y)")
    return total


def load_rules(paths: Iterable[str | Path]) -> list[RuleDef]:
    """The alerting rules of every file, in order; raises the first RuleFileError."""
    return list(load_rule_set(paths).alerts)


def load_rule_set(paths: Iterable[str | Path]) -> RuleSet:
    """Alerting and recording rules of every file, in order; raises the first RuleFileError."""
    alerts: list[RuleDef] = []
    records: list[RecordDef] = []
    notes: list[str] = []
    without: list[str] = []
    for path in paths:
        parsed = read_rule_file(path)
        if parsed.errors:
            raise parsed.errors[0]
        alerts.extend(parsed.rules)
        records.extend(parsed.records)
        note = parsed.note()
        if note is not None:
            notes.append(note)
            without.append(parsed.path)
    return RuleSet(tuple(alerts), tuple(records), tuple(notes), tuple(without))


def read_rule_file(path: str | Path) -> RuleFile:
    """Read and check one file; problems are collected in `errors`, never raised."""
    name = str(path)
    out = RuleFile(name)
    try:
        raw = read_limited(Path(path), MAX_RULE_FILE_BYTES).data
    except FileRefused as exc:
        message = {
            "missing": "no such rule file",
            "directory": "is a directory, not a rule file",
        }.get(exc.kind, str(exc))
        out.errors.append(RuleFileError(message, path=name))
        return out
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.errors.append(RuleFileError(f"not UTF-8 text ({exc.reason})", path=name))
        return out
    try:
        roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(name, mark.line + 1, mark.column + 1) if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        out.errors.append(RuleFileError(f"YAML error: {problem}", where, path=name))
        return out
    except yaml.YAMLError as exc:
        out.errors.append(RuleFileError(f"YAML error: {exc}", path=name))
        return out
    except RecursionError:
        out.errors.append(RuleFileError("YAML error: nested too deep", path=name))
        return out
    reader = _Reader(name, SourceText(text), out)
    plain = 0
    for root in roots:
        if root is None:
            continue  # an empty document holds no rules, as for Prometheus
        if reader.custom_resource(root):
            continue
        plain += 1
        if plain > 1:  # Prometheus reads only the first document of a rule file
            out.ignored_documents.append(reader.at(root))
        reader.file(root)
    return out


class _Reader:
    """Walks the composed YAML tree, recording entries and errors with their marks."""

    def __init__(self, path: str, source: SourceText, out: RuleFile) -> None:
        self.path = path
        self.source = source
        self.out = out

    def at(self, node: yaml.Node) -> Position:
        return Position(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

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

    def custom_resource(self, root: yaml.Node) -> bool:
        """Read a Kubernetes object's rules if it is a PrometheusRule (its groups under
        `spec:`); False when the document is a plain rule file."""
        if not isinstance(root, yaml.MappingNode):
            return False
        keys = {k.value: (k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        if "kind" not in keys and "apiVersion" not in keys:
            return False
        kind_node = keys["kind"][1] if "kind" in keys else None
        kind = kind_node.value if isinstance(kind_node, yaml.ScalarNode) else None
        if kind != _CUSTOM_RESOURCE:
            if kind is None:
                self.error(root, f"a Kubernetes object needs a kind ({_CUSTOM_RESOURCE})")
            else:
                self.out.skipped.append(str(kind))
            return True
        top = self.mapping(root, f"a {_CUSTOM_RESOURCE}", _CR_KEYS)
        if top is None:
            return True
        if "spec" not in top:
            self.error(root, f"a {_CUSTOM_RESOURCE} needs a spec with its groups")
            return True
        spec = self.mapping(top["spec"][1], f"the {_CUSTOM_RESOURCE} spec", _TOP_KEYS)
        if spec is not None and "groups" in spec:
            self.groups(spec["groups"][1], _CR_GROUP_KEYS)
        return True

    def file(self, root: yaml.Node) -> None:
        top = self.mapping(root, "the rule file", _TOP_KEYS)
        if top is not None and "groups" in top:
            self.groups(top["groups"][1], _GROUP_KEYS)

    def groups(self, groups: yaml.Node, allowed: frozenset[str]) -> None:
        if isinstance(groups, yaml.ScalarNode) and groups.tag.endswith(":null"):
            return
        if not isinstance(groups, yaml.SequenceNode):
            self.error(groups, "groups must be a list")
            return
        seen: set[str] = set()
        for node in groups.value:
            self.group(node, seen, allowed)

    def group(self, node: yaml.Node, seen: set[str], allowed: frozenset[str]) -> None:
        keys = self.mapping(node, "a group", allowed)
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
        assert isinstance(expr_node, yaml.ScalarNode)
        expr_map = scalar_map(self.source, expr_node, expr)
        expr_at = self.at(expr_node)
        if expr_map is not None:
            line, col = expr_map.at(len(expr) - len(expr.lstrip()))
            expr_at = Position(self.path, line, col)
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
        source = f"{self.path}:{position.line}"
        rule = record = None
        if kind == "alert":
            rule = RuleDef(
                name=name,
                expr=expr,
                for_s=for_s or 0.0,
                keep_firing_for_s=keep_s or 0.0,
                labels=labels,
                annotations=annotations,
                severity=labels.get("severity"),
                source=source,
                margin=margin,
                group=group,
                interval_s=interval,
            )
        else:
            record = RecordDef(name, expr, labels, source=source, group=group)
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
                record=record,
                name_position=self.value_at(name_node),
                expr_map=expr_map,
                disabled=self.disabled(node),
                comments=comment_texts(self.source.lines, *self.rows(node)),
                annotation_places=self.places(keys["annotations"][1]) if annotations else (),
            )
        )

    def places(self, node: yaml.Node) -> tuple[tuple[str, Position, OffsetMap | None], ...]:
        """Where each value of a mapping of strings is written, character by character."""
        out = []
        for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode):
                where = scalar_map(self.source, value, str(value.value))
                out.append((str(key.value), self.value_at(value), where))
        return tuple(out)

    def value_at(self, node: yaml.Node) -> Position:
        """Where a scalar's value starts: inside its quotes, if it has any."""
        at = self.at(node)
        quoted = isinstance(node, yaml.ScalarNode) and node.style in ('"', "'")
        return Position(at.path, at.line, at.col + 1) if quoted else at

    def rows(self, node: yaml.MappingNode) -> tuple[int, int]:
        """The first and last line (1-based) a rule is written on: up to its last value's
        end (a nested mapping's own end is where the next rule, or the comments above it,
        begin)."""
        last: yaml.Node = node
        while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and last.value:
            item = last.value[-1]
            last = item[1] if isinstance(item, tuple) else item
        end = last.end_mark
        return node.start_mark.line + 1, end.line if end.column == 0 else end.line + 1

    def disabled(self, node: yaml.MappingNode) -> tuple[tuple[str, Position], ...]:
        """The checks disabled by comments on the rule's lines or just above it."""
        found = disable_comments(self.source.lines, *self.rows(node))
        return tuple((name, Position(self.path, line, col)) for name, line, col in found)
