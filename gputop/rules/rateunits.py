"""The check `rate-time-unit`: a rate compared with a constant written per another time unit.

rate(), irate() and deriv() give a value per second whatever their window: `rate(x[1h]) > 1`
holds above 1 per second, 3600 an hour. A rule whose words speak of a rate per hour (minute,
day, week) while it compares such a value with a constant means a constant 3600 (60, 86400,
604800) times smaller. The mirror: increase() and delta() count within their window, so
`increase(x[5m]) > 10` written for "10 errors per second" holds at 10 per 5 minutes.

The words are the rule's name (CamelCase and snake_case split), its annotations (links left
out) and the comments on its lines and just above it; a series recorded by the files checked
carries what its expression is. To stay silent when in doubt it speaks only when the words
name one time unit and none of it per second, and when they state the constant itself with
that unit ("below 1 error/hour" with `< 1`) — or, for a rate, state no number while the
constant is 1 or more (3600 and more an hour is not what "per hour" is written about). A
number the constant is converted to ("3.6 errors per hour" with `> 0.001`) is the right way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import promql_parser as pp

from gputop.core.units import format_duration
from gputop.promql.analysis import COMPARISON_OPS, parse, selector
from gputop.promql.units import VALUE_KEEPING_CALLS, constant, first_metric
from gputop.rules.entries import Position, RuleEntry
from gputop.rules.valuechecks import comparisons

__all__ = ["Per", "per_of", "rate_problems", "recorded_pers", "time_mentions"]

Problem = tuple[str, str, Position, str]

_PER_SECOND = frozenset({"rate", "irate", "deriv"})
_PER_WINDOW = frozenset({"increase", "delta"})
# Aggregations whose result is still per the same time unit (a sum of rates is a rate).
_KEEPING_AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "topk", "bottomk", "quantile"})
_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}
_LONG = {
    "second": "seconds?|secs?",
    "minute": "minutes?|mins?",
    "hour": "hours?|hrs?",
    "day": "days?",
    "week": "weeks?",
}
_SHORT = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_LONG_UNIT = "|".join(f"(?P<{name}>{words})" for name, words in _LONG.items())
_NUMBER = r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
# "per hour", "per-second", "per_day", "per 5 minutes", "per 5m"
_PER_WORD = re.compile(
    rf"\bper[\s_-]+(?:(?P<times>{_NUMBER})\s*(?P<short>[smhd])\b|(?:(?P<every>{_NUMBER})\s*)?"
    rf"(?:{_LONG_UNIT})\b)",
    re.IGNORECASE,
)
# "error/hour", "MiB/s", "{{ $value }}/h", "rows/5m" (not in a path: "/s/" or "/sbin")
_SLASH = re.compile(
    rf"(?<=[\w}}%)])\s?/\s?(?:(?P<times>{_NUMBER})\s*)?(?:(?:{_LONG_UNIT})|(?P<short>[smhd]))"
    r"(?![\w/])"
)
# "5 times an hour", "twice a day"; not "for an hour", "within a minute" (a duration)
_A_UNIT = re.compile(
    r"(?P<before>[A-Za-z]+)\s+an?\s+(?:" + "|".join(f"(?P<{u}>{u})" for u in _UNITS) + r")\b",
    re.IGNORECASE,
)
_DURATION_WORDS = frozenset(
    {
        "for", "in", "within", "over", "than", "after", "before", "about", "around", "under",
        "of", "to", "by", "half", "quarter", "least", "most", "last", "past", "only", "just",
        "nearly", "almost", "up",
    }
)  # fmt: skip
# The number a mention is of: "1 error" in "below 1 error/hour", up to three words before.
_COUNT_BEFORE = re.compile(rf"(?<![\w.])(?P<n>{_NUMBER})(?:\s*[%°A-Za-z][\w-]*){{0,3}}\s*$")
_WORD_BEFORE = re.compile(r"\S*$")
_LINK = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Per:
    """What a value is counted per: `seconds` 1 for rate(), irate(), deriv(); the window for
    increase() and delta(). `call` and `window_s` name the function it is read from."""

    seconds: float
    call: str
    metric: str | None
    window_s: float
    via: str | None = None  # the recorded series it comes through

    @property
    def window(self) -> str:
        return format_duration(self.window_s)

    @property
    def written(self) -> str:
        return f"{self.call}({self.metric or '...'}[{self.window}])"


@dataclass(frozen=True, slots=True)
class Mention:
    """A time unit the words name a rate per: `seconds` (300 for "per 5 minutes"), the
    number stated with it, what it says, and where."""

    seconds: float
    number: float | None
    quote: str
    where: str


def per_of(node: pp.Expr, recorded: Mapping[str, Per]) -> Per | None:
    """What an expression's value is counted per, when that is known and unchanged."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.VectorSelector):
        name = selector(node).metric
        return recorded.get(name) if name else None
    if isinstance(node, pp.AggregateExpr):
        return per_of(node.expr, recorded) if str(node.op) in _KEEPING_AGGREGATIONS else None
    if isinstance(node, pp.Call):
        return _call_per(node, recorded)
    if isinstance(node, pp.BinaryExpr):
        return _binary_per(node, recorded)
    return None


def _call_per(node: pp.Call, recorded: Mapping[str, Per]) -> Per | None:
    name = node.func.name
    args = [a for a in node.args if isinstance(a, pp.Expr) and constant(a) is None]
    if len(args) != 1 or isinstance(args[0], pp.StringLiteral):
        return None
    arg = args[0]
    if name in VALUE_KEEPING_CALLS and not name.endswith("_over_time"):
        return per_of(arg, recorded)
    if name not in _PER_SECOND | _PER_WINDOW or not isinstance(arg, pp.MatrixSelector):
        return None
    window = arg.range.total_seconds()
    metric = selector(arg.vector_selector).metric
    return Per(1.0 if name in _PER_SECOND else window, name, metric, window)


def _binary_per(node: pp.BinaryExpr, recorded: Mapping[str, Per]) -> Per | None:
    op = str(node.op)
    if node.modifier is not None and node.modifier.return_bool:
        return None  # 0 or 1
    lhs_c, rhs_c = constant(node.lhs), constant(node.rhs)
    if op in COMPARISON_OPS or op in ("and", "unless"):
        return per_of(node.lhs, recorded) if lhs_c is None else None
    if op in ("or", "+", "-"):
        if lhs_c is not None or rhs_c is not None:
            return per_of(node.lhs if rhs_c is not None else node.rhs, recorded)
        lhs, rhs = per_of(node.lhs, recorded), per_of(node.rhs, recorded)
        return lhs if lhs is not None and rhs is not None and lhs.seconds == rhs.seconds else None
    return None  # scaled (`* 3600`: converted) or divided: no longer per the same unit


def recorded_pers(entries: Sequence[RuleEntry]) -> dict[str, Per]:
    """The recording rules whose series is a rate (or a count within a window), each known
    to the records after it."""
    found: dict[str, Per] = {}
    for entry in entries:
        if entry.kind != "record":
            continue
        per = per_of(parse(entry.expr), found)
        if per is not None:
            found[entry.name] = Per(per.seconds, per.call, per.metric, per.window_s, entry.name)
        else:
            found.pop(entry.name, None)
    return found


# ---- the words -----------------------------------------------------------------------------


def _texts(entry: RuleEntry) -> list[tuple[str, str]]:
    """(where, text) of every place a rule's words are written."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", entry.name)
    out = [("its name", words.replace("_", " ").replace(":", " "))]
    for key, value in entry.rule.annotations.items() if entry.rule else ():
        out.append((f"its {key}", _LINK.sub(" ", value)))
    out += [("a comment", _LINK.sub(" ", c)) for c in entry.comments]
    return out


def time_mentions(entry: RuleEntry) -> list[Mention]:
    """Every rate per a time unit that a rule's words speak of."""
    found = []
    for where, text in _texts(entry):
        for pattern in (_PER_WORD, _SLASH, _A_UNIT):
            for match in pattern.finditer(text):
                if pattern is _A_UNIT and match.group("before").lower() in _DURATION_WORDS:
                    continue
                mention = _mention(match, text, where)
                if mention is not None:
                    found.append(mention)
    return found


def _mention(match: re.Match[str], text: str, where: str) -> Mention | None:
    groups = match.groupdict()
    unit = next((name for name in _LONG if groups.get(name)), None)
    if unit is None and groups.get("short"):
        unit = _SHORT[groups["short"].lower()]
    if unit is None:
        return None
    times = groups.get("times") or groups.get("every")
    seconds = _UNITS[unit] * (float(times) if times else 1.0)
    start = match.start("before") if "before" in groups else match.start()
    count = _COUNT_BEFORE.search(text[max(0, start - 48) : start])
    number = float(count.group("n")) if count else None
    lead = count or _WORD_BEFORE.search(text[:start])  # "errors" of "errors/h"
    quote = text[start - len(lead.group(0)) if lead else start : match.end()]
    return Mention(seconds, number, quote.strip(), where)


# ---- the check -------------------------------------------------------------------------------


def rate_problems(entry: RuleEntry, recorded: Mapping[str, Per]) -> list[Problem]:
    """`rate-time-unit` findings of one rule."""
    found = [
        (side, op, threshold, per)
        for side, op, threshold in comparisons(parse(entry.expr))
        if threshold != 0 and (per := per_of(side, recorded)) is not None
    ]
    if not found:
        return []
    mentions = time_mentions(entry)
    out: list[Problem] = []
    for side, op, threshold, per in found:
        message = _problem(per, op, threshold, mentions)
        if message is not None:
            metric = first_metric(side) or ""
            where = entry.locate(metric) if metric else entry.expr_position
            out.append(("rate-time-unit", f"{metric}{op}{threshold}", where, message))
    return out


def _problem(per: Per, op: str, t: float, mentions: list[Mention]) -> str | None:
    units = {m.seconds for m in mentions}
    if len(units) != 1:
        return None  # none, or several: no one unit the rule is written in
    unit = units.pop()
    if math.isclose(unit, per.seconds):
        return None
    numbers = [m.number for m in mentions if m.number is not None]
    right = t * unit / per.seconds  # the number the words would state if the constant were right
    if any(math.isclose(n, right, rel_tol=0.02) for n in numbers):
        return None
    said = [m for m in mentions if m.number is not None and math.isclose(m.number, t)]
    if said:
        mention = said[0]
    elif numbers or per.call not in _PER_SECOND or abs(t) < 1:
        return None
    else:
        mention = mentions[0]
    return _message(per, op, t, unit, mention)


def _per(seconds: float) -> str:
    """A time unit as a rate is written per it: "hour", "5m"."""
    for name, size in _UNITS.items():
        if math.isclose(seconds, size):
            return name
    return format_duration(seconds)


def _message(per: Per, op: str, t: float, unit: float, mention: Mention) -> str:
    said = f'{mention.where} says "{mention.quote}"'
    through = f"{per.via} (recorded from {per.written})" if per.via else per.written
    per_unit = _per(unit)
    if per.call in _PER_SECOND:
        message = (
            f"{through} is per second whatever its window, but this rule speaks of a rate per "
            f"{per_unit} ({said}): `{op} {t:g}` is {t:g} per second, {t * unit:g} per "
            f"{per_unit}; for {t:g} per {per_unit} compare with {t:g}/{unit:g} ({t / unit:.4g})"
        )
        if per.call == "rate" and not per.via and math.isclose(per.window_s, unit):
            message += f", or increase({per.metric}[{per.window}]) {op} {t:g} in place of rate()"
        elif per.call == "deriv":
            message += f", or multiply the slope by {unit:g}"
        return message
    message = (
        f"{through} counts within its {per.window} window, but this rule speaks of a rate per "
        f"{per_unit} ({said}): `{op} {t:g}` is {t:g} per {per.window}, "
        f"{t * unit / per.seconds:.4g} per {per_unit}; for {t:g} per {per_unit} compare with "
        f"{t * per.seconds / unit:g}"
    )
    if unit == 1.0 and per.call == "increase":
        message += f", or rate({per.metric}[{per.window}]) {op} {t:g}"
    return message
