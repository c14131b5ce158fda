"""The sections and keys gputop understands, each with the check its value must pass."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import urlsplit

from gputop.core.secrecy import is_credential_header
from gputop.core.units import parse_duration

__all__ = ["SCHEMA", "Field", "Invalid", "ParseContext", "kind_of", "secret_hint"]


class Invalid(Exception):
    """A value failed its check; the message completes "<where>: ..."."""


@dataclass(frozen=True, slots=True)
class ParseContext:
    """How to read one layer's values."""

    base_dir: Path | None = None  # relative paths resolve against it (None: as given)
    from_flag: bool = False  # flag values may arrive as text or Path objects


Parser = Callable[[object, ParseContext], object]


@dataclass(frozen=True, slots=True)
class Field:
    """One config key: its parser, the settings attribute it fills, and load-time checks.

    `table`: the value is a table whose every value goes through `parse`, merged key by key
    across layers; `check_key` vets each table key. `final` runs only on the value that wins,
    so a file named by an unused profile is never touched. `secret` names what the file holds
    (its contents are read at load time, never shown).
    """

    parse: Parser
    attr: str
    table: bool = False
    check_key: Callable[[str], None] | None = None
    final: Callable[[object], None] | None = None
    secret: str | None = None


def kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime, date, time)):
        return "a date/time"
    return type(value).__name__


def string(value: object, ctx: ParseContext) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {kind_of(value)}")
    return value


def boolean(value: object, ctx: ParseContext) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {kind_of(value)}")
    return value


def _number(value: object, ctx: ParseContext, what: str) -> float:
    if ctx.from_flag and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise Invalid(f"must be {what}, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"must be {what}, not {kind_of(value)}")
    if not math.isfinite(value):
        raise Invalid(f"must be a finite number, not {value}")
    return float(value)


#: No setting in seconds is longer than a year: a longer one is a typo (or an attack on a
#: timer), not a wish.
MAX_SECONDS = 365 * 86400.0


def seconds(minimum: float, *, inclusive: bool) -> Parser:
    def parse(value: object, ctx: ParseContext) -> float:
        number = _number(value, ctx, "a number of seconds")
        if number < minimum or (number == minimum and not inclusive):
            bound = "at least" if inclusive else "more than"
            raise Invalid(f"must be {bound} {minimum:g} seconds")
        if number > MAX_SECONDS:
            raise Invalid(f"must be at most {MAX_SECONDS:g} seconds (a year)")
        return number

    return parse


def percent(value: object, ctx: ParseContext) -> float:
    number = _number(value, ctx, "a percentage")
    if not 0 < number < 100:
        raise Invalid("must be a percentage more than 0 and less than 100")
    return number


def duration(value: object, ctx: ParseContext) -> float:
    if isinstance(value, str):
        try:
            number = parse_duration(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    else:
        number = _number(value, ctx, 'a duration such as "90s", "5m" or "1h30m"')
    if number <= 0:
        raise Invalid("must be longer than 0s")
    if number > MAX_SECONDS:
        raise Invalid("must be at most a year (1y)")
    return number


def url(value: object, ctx: ParseContext) -> str:
    text = string(value, ctx).strip()
    if not text:
        raise Invalid("must not be empty")
    if any(not c.isprintable() or c.isspace() for c in text):
        raise Invalid("URL must not hold spaces or control characters")
    if "://" not in text:
        # Never echo a value that may carry credentials.
        hint = "" if "@" in text else f" (did you mean 'http://{text}'?)"
        raise Invalid(f"URL has no scheme; write it as http://host:port{hint}")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise Invalid("is not a valid URL (a bad host or IPv6 address)") from None
    try:
        parts.port  # noqa: B018 - reading it is the check: it raises on a bad port
    except ValueError:
        raise Invalid("URL has an invalid port") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid(f"URL scheme must be http or https, not '{parts.scheme}'")
    if "@" in parts.netloc:
        raise Invalid("URL must not carry credentials; use the *_file keys or the environment")
    if not host:
        raise Invalid("URL has no host")
    if parts.query or parts.fragment:
        raise Invalid("URL must not have a ?query or #fragment")
    import httpx  # the clients' own parser must accept it too (only when a URL is set)

    try:
        httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        raise Invalid("is not a valid URL (a bad host, IPv6 address or port)") from None
    return text.rstrip("/")


def path(value: object, ctx: ParseContext) -> Path:
    if ctx.from_flag and isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = string(value, ctx)
    if not text.strip():
        raise Invalid("must not be empty")
    if "\x00" in text:
        raise Invalid("a path cannot hold a NUL character")
    result = Path(text).expanduser()
    if ctx.base_dir is not None and not result.is_absolute():
        result = ctx.base_dir / result
    return result


def path_list(value: object, ctx: ParseContext) -> tuple[Path, ...]:
    if ctx.from_flag and isinstance(value, (str, os.PathLike)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise Invalid(f'must be an array of paths such as ["rules.yml"], not {kind_of(value)}')
    try:
        return tuple(path(item, ctx) for item in value)
    except Invalid as exc:
        raise Invalid(f"every entry {exc}") from None


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_name(value: object, ctx: ParseContext) -> str:
    text = string(value, ctx).strip()
    if not _METRIC_NAME.fullmatch(text):
        raise Invalid(f"'{text}' is not a Prometheus metric name")
    if text.endswith("_bucket"):
        raise Invalid("give the histogram's name without '_bucket'")
    return text


def label_selector(value: object, ctx: ParseContext) -> str:
    text = string(value, ctx).strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text:
        return ""
    import promql_parser  # only when a selector is set: keeps plain start-up lean

    try:
        expr = promql_parser.parse(f"up{{{text}}}")
    except ValueError:
        expr = None
    if not isinstance(expr, promql_parser.VectorSelector):
        raise Invalid('must be PromQL label matchers such as Hostname="node-3"')
    return text


def check_names(value: object, ctx: ParseContext) -> tuple[str, ...]:
    if ctx.from_flag and isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise Invalid(
            f'must be an array of check names such as ["default-export"], not {kind_of(value)}'
        )
    from gputop.rules.checks import CHECKS  # only when set: keeps plain start-up lean

    names = []
    for item in value:
        name = string(item, ctx).strip()
        if name not in CHECKS:
            import difflib  # only to word an error

            close = difflib.get_close_matches(name, list(CHECKS), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise Invalid(f"no check is named '{name}' ({hint}checks: {', '.join(CHECKS)})")
        names.append(name)
    return tuple(names)


_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_AUTH_HEADERS = ("authorization", "proxy-authorization")


def header_token(name: str) -> None:
    if not _TOKEN_CHARS.fullmatch(name):
        raise Invalid("is not a valid HTTP header name")


def header_name(name: str) -> None:
    """A header written inline: never one that carries a credential."""
    header_token(name)
    elsewhere = (
        f'put it in a file and name it in header_files = {{ "{name}" = "FILE" }}, or in an '
        f'environment variable named in header_env = {{ "{name}" = "VARIABLE" }}'
    )
    if name.lower() in _AUTH_HEADERS:
        raise Invalid(
            "credentials are not read from the config file; use bearer_token_file, "
            "basic_auth_password_file or the GPUTOP_PROMETHEUS_TOKEN environment variable, "
            f"or {elsewhere}"
        )
    if is_credential_header(name):
        raise Invalid(f"carries a credential, which is not read from the config file; {elsewhere}")


def header_value(value: object, ctx: ParseContext) -> str:
    text = string(value, ctx)
    if "\r" in text or "\n" in text:
        raise Invalid("a header value must be one line")
    if not all(" " <= c <= "~" or c == "\t" for c in text):
        raise Invalid("a header value must be printable ASCII (no control or non-ASCII characters)")
    if _CREDENTIAL_VALUE.match(text):
        raise Invalid(
            "looks like a credential, which is not read from the config file; put it in a "
            "file named in header_files, or in an environment variable named in header_env"
        )
    return text


#: A header value that is a credential whatever its header's name: `Bearer <token>`, ...
_CREDENTIAL_VALUE = re.compile(r"\s*(bearer|basic|digest|token|negotiate)\s+\S", re.IGNORECASE)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_name(value: object, ctx: ParseContext) -> str:
    text = string(value, ctx).strip()
    if not _ENV_NAME.fullmatch(text):
        raise Invalid("must name an environment variable, such as PROM_API_KEY")
    return text


def existing_file(value: object) -> None:
    assert isinstance(value, Path)
    if value.is_dir():
        raise Invalid(f"{value} is a directory, not a file")
    if not value.exists():
        raise Invalid(f"file not found: {value}")
    if not value.is_file():
        raise Invalid(f"{value} is not a regular file")


def ca_bundle(value: object) -> None:
    existing_file(value)
    import ssl  # only with a CA file configured

    try:
        ssl.create_default_context(cafile=str(value))
    except (ssl.SSLError, OSError):
        raise Invalid(f"{value} is not a readable PEM certificate file") from None


def _existing_files(what: str, kind: str) -> Callable[[object], None]:
    def check(value: object) -> None:
        assert isinstance(value, tuple)
        for item in value:
            if item.is_dir():
                raise Invalid(f"{item} is a directory, not a {kind} (name the files in it)")
            if not item.exists():
                raise Invalid(f"{what} not found: {item}")
            if not item.is_file():
                raise Invalid(f"{item} is not a regular file")

    return check


rule_files = _existing_files("rules file", "rule file")
counters_files = _existing_files("counters file", "counters file")


#: How to reach an HTTP API: the same keys for Prometheus and Alertmanager.
_HTTP_ACCESS: dict[str, Field] = {
    "url": Field(url, "url"),
    "bearer_token_file": Field(path, "bearer_token", secret="bearer token"),
    "basic_auth_user": Field(string, "basic_auth_user"),
    "basic_auth_password_file": Field(path, "basic_auth_password", secret="password"),
    "headers": Field(header_value, "extra_headers", table=True, check_key=header_name),
    # credential headers: the file or environment variable that holds each value
    "header_files": Field(path, "header_files", table=True, check_key=header_token),
    "header_env": Field(env_name, "header_env", table=True, check_key=header_token),
    "ca_file": Field(path, "ca_file", final=ca_bundle),
    "insecure": Field(boolean, "insecure"),
    "timeout": Field(seconds(0, inclusive=False), "timeout"),
}

SCHEMA: dict[str, dict[str, Field]] = {
    "prometheus": {
        **_HTTP_ACCESS,
        "latency_histogram": Field(metric_name, "latency_histogram"),
        "selector": Field(label_selector, "selector"),
        "range": Field(duration, "range"),
        "rules_url": Field(url, "rules_url"),
        "stale_after": Field(duration, "stale_after"),
    },
    "rules": {
        "files": Field(path_list, "files", final=rule_files),
        "margin_pct": Field(percent, "margin_pct"),
        "margins": Field(percent, "margins", table=True),
        "eval_interval": Field(duration, "eval_interval"),
        "counters": Field(path_list, "counters", final=counters_files),
        "disabled_checks": Field(check_names, "disabled_checks"),
    },
    "ui": {
        "interval": Field(seconds(0.2, inclusive=True), "interval"),
        "kiosk_page_seconds": Field(seconds(1, inclusive=True), "kiosk_page_seconds"),
        "no_color": Field(boolean, "no_color"),
        "read_only": Field(boolean, "read_only"),
        "kiosk": Field(boolean, "kiosk"),
    },
    "alertmanager": {
        **_HTTP_ACCESS,
        "interval": Field(seconds(1, inclusive=True), "interval"),
    },
}

_SECRET_WORDS = re.compile(r"token|passw|secret|api_?key|credential", re.IGNORECASE)


def secret_hint(section: str, key: str) -> str | None:
    """For a key that would hold a secret in plain text, where the secret belongs instead."""
    if section not in ("prometheus", "alertmanager"):
        return None
    if key.endswith("_file") or not _SECRET_WORDS.search(key):
        return None
    if "passw" in key.lower():
        where = "basic_auth_password_file"
    elif section == "alertmanager":
        where = "bearer_token_file"
    else:
        where = "bearer_token_file or the GPUTOP_PROMETHEUS_TOKEN environment variable"
    return f"use {where} instead"
