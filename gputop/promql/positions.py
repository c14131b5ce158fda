"""Where each selector of a PromQL expression is written: offsets of whole tokens.

promql-parser gives no positions, so a small lexer finds them: strings, comments and range
brackets are skipped, a name followed by `(` is a function or aggregation, names after
`by`/`without`/`on`/`ignoring`/`group_left`/`group_right` are labels, keywords are keywords.
What is left are the selectors, in the order the parser's tree lists them. Matching whole
tokens means `node_filesystem_files` is never found inside `node_filesystem_files_free`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SelectorSpan", "selector_spans", "token_offsets"]

_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
        "bool",
        "and",
        "or",
        "unless",
        "atan2",
        "offset",
        "inf",
        "nan",
        *_LABEL_LISTS,
    }
)
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")
_NAME_CHARS = _NAME_START | frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class SelectorSpan:
    """One selector: where it starts (its metric name, or `{` when it has none), the name
    as written, and each label matcher's name with its offset."""

    start: int
    name: str | None
    matchers: tuple[tuple[str, int], ...] = ()

    def matcher_offset(self, label: str) -> int | None:
        return next((at for name, at in self.matchers if name == label), None)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "string", "number", "range", or the punctuation itself
    text: str
    at: int


def _lex(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'`":
            start = i
            i += 1
            while i < n and text[i] != c:
                i += 2 if c != "`" and text[i] == "\\" else 1
            out.append(_Token("string", text[start : i + 1], start))
            i += 1
        elif c == "[":
            end = text.find("]", i)
            end = n if end < 0 else end + 1
            out.append(_Token("range", text[i:end], i))
            i = end
        elif c.isdigit() or (c == "." and text[i + 1 : i + 2].isdigit()):
            start = i
            while i < n and (text[i].isalnum() or text[i] in "._"):
                i += 1
                if i < n and text[i] in "+-" and text[i - 1] in "eE" and "x" not in text[start:i]:
                    i += 1  # an exponent's sign: 1e-3
            out.append(_Token("number", text[start:i], start))
        elif c in _NAME_START:
            start = i
            while i < n and text[i] in _NAME_CHARS:
                i += 1
            out.append(_Token("name", text[start:i], start))
        else:
            out.append(_Token(c, c, i))
            i += 1
    return out


def _matchers(tokens: list[_Token], k: int) -> tuple[tuple[tuple[str, int], ...], int]:
    """The label matchers of the braces opening at token k, and the token after them."""
    found: list[tuple[str, int]] = []
    k += 1
    while k < len(tokens) and tokens[k].kind != "}":
        tok = tokens[k]
        if (
            tok.kind in ("name", "string")
            and k + 1 < len(tokens)
            and tokens[k + 1].kind in ("=", "!")
        ):
            label = tok.text if tok.kind == "name" else tok.text[1:-1]
            found.append((label, tok.at))
            k += 2  # the name and the first character of its operator
            while k < len(tokens) and tokens[k].kind in ("=", "~"):
                k += 1
            k += 1  # the value
            continue
        k += 1
    return tuple(found), k + 1


def _skip_parens(tokens: list[_Token], k: int) -> int:
    """The token after the parenthesised list opening at token k."""
    depth = 0
    while k < len(tokens):
        if tokens[k].kind == "(":
            depth += 1
        elif tokens[k].kind == ")":
            depth -= 1
            if depth == 0:
                return k + 1
        k += 1
    return k


def selector_spans(text: str) -> list[SelectorSpan]:
    """Every selector of a (valid) expression, in the order it is written."""
    tokens = _lex(text)
    out: list[SelectorSpan] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        if tok.kind == "name":
            word = tok.text.lower()
            if word in _LABEL_LISTS and after is not None and after.kind == "(":
                k = _skip_parens(tokens, k + 1)
                continue
            if (after is not None and after.kind == "(") or word in _KEYWORDS:
                k += 1
                continue
            if after is not None and after.kind == "{":
                matchers, k = _matchers(tokens, k + 1)
                out.append(SelectorSpan(tok.at, tok.text, matchers))
                continue
            out.append(SelectorSpan(tok.at, tok.text))
        elif tok.kind == "{":
            matchers, end = _matchers(tokens, k)
            out.append(SelectorSpan(tok.at, None, matchers))
            k = end
            continue
        k += 1
    return out


def token_offsets(text: str, word: str) -> list[int]:
    """Where `word` is written as a whole name (not inside a longer name, string or comment)."""
    return [t.at for t in _lex(text) if t.kind == "name" and t.text == word]
