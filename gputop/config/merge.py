"""Layers of checked values, merged key by key and turned into frozen settings.

A layer maps (section, attribute) — or (section, attribute, table key) for tables such as
`headers` — to the checked value and where it was set. Later layers win key by key, so a
profile adds one header without dropping the others. Files named by the winning values
(secrets, the CA bundle, rule files) are read only here, once the winners are known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gputop.config.errors import Origin
from gputop.config.schema import SCHEMA, Field, Invalid, ParseContext, kind_of
from gputop.config.secret import Secret, check_secret_text, read_secret_file
from gputop.config.settings import (
    AlertmanagerSettings,
    Config,
    PrometheusSettings,
    RuleSettings,
    UiSettings,
)

__all__ = ["Entry", "Key", "Layer", "build_config", "put_value"]

# (section, attribute) or, for table keys, (section, attribute, table key).
Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    value: object
    origin: Origin


Layer = dict[Key, Entry]


def put_value(
    layer: Layer,
    section: str,
    field: Field,
    value: object,
    origin: Callable[..., Origin],
    ctx: ParseContext | None = None,
) -> None:
    """Check one value and add it to `layer`; a table adds one entry per key.

    `origin()` says where the value was set, `origin(table_key)` where one table entry was.
    """
    ctx = ctx or ParseContext()
    if not field.table:
        try:
            layer[(section, field.attr)] = Entry(field.parse(value, ctx), origin())
        except Invalid as exc:
            raise origin().error(str(exc)) from None
        return
    if not isinstance(value, Mapping):
        raise origin().error(f"must be a table such as {{ name = value }}, not {kind_of(value)}")
    for sub, item in value.items():
        try:
            if field.check_key is not None:
                field.check_key(str(sub))
            layer[(section, field.attr, str(sub))] = Entry(field.parse(item, ctx), origin(sub))
        except Invalid as exc:
            raise origin(str(sub)).error(str(exc)) from None


def build_config(
    merged: Layer,
    path: Path | None,
    profile: str | None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Turn the merged winners into settings, reading the files (and, for `header_env`, the
    environment variables) they name."""
    env = env or {}
    warnings: list[str] = []
    values: dict[str, dict[str, object]] = {section: {} for section in SCHEMA}
    origins: dict[tuple[str, str], Origin] = {}
    fields = {(s, f.attr): f for s, section in SCHEMA.items() for f in section.values()}
    # A section without a URL is off: its other keys (and the files they name) go unread.
    off = {s for s in ("prometheus", "alertmanager") if (s, "url") not in merged}
    for key, entry in merged.items():
        section, attr = key[0], key[1]
        if section in off:
            continue
        if len(key) == 3:
            value = entry.value
            if attr in _SECRET_HEADERS:  # a credential header: its value, read now
                value = _secret_header(attr, value, entry.origin, env, warnings)
                attr = "secret_headers"
            table = values[section].setdefault(attr, {})
            assert isinstance(table, dict)
            table[key[2]] = value
            continue
        field = fields[(section, attr)]
        value = entry.value
        origins[(section, attr)] = entry.origin
        if field.final is not None:
            try:
                field.final(value)
            except Invalid as exc:
                raise entry.origin.error(str(exc)) from None
        if field.secret is not None and isinstance(value, Path):
            value = read_secret_file(value, entry.origin, field.secret, warnings)
        values[section][attr] = value
    for section in values:
        for attr, value in values[section].items():
            if isinstance(value, dict):
                values[section][attr] = tuple(value.items())

    # the schema checked every value's type above; the settings' own types cannot say so
    sections: dict[str, dict[str, Any]] = values
    prometheus = None
    if "url" in sections["prometheus"]:
        _check_auth(sections["prometheus"], origins, "prometheus")
        prometheus = PrometheusSettings(**sections["prometheus"])
    alertmanager = None
    if "url" in sections["alertmanager"]:
        _check_auth(sections["alertmanager"], origins, "alertmanager")
        alertmanager = AlertmanagerSettings(**sections["alertmanager"])
    return Config(
        prometheus=prometheus,
        rules=RuleSettings(**sections["rules"]),
        ui=UiSettings(**sections["ui"]),
        alertmanager=alertmanager,
        path=path,
        profile=profile,
        warnings=tuple(dict.fromkeys(warnings)),
    )


#: Tables naming where each credential header's value is: a file, an environment variable.
_SECRET_HEADERS = ("header_files", "header_env")


def _secret_header(
    attr: str, where: object, origin: Origin, env: Mapping[str, str], warnings: list[str]
) -> Secret:
    if attr == "header_files":
        assert isinstance(where, Path)
        return read_secret_file(where, origin, "header", warnings)
    assert isinstance(where, str)
    value = env.get(where, "").rstrip("\r\n")
    problem = "is not set" if not value else check_secret_text(value)
    if problem is not None:
        raise origin.error(f"environment variable {where} {problem}")
    return Secret(value)


def _check_auth(
    values: Mapping[str, object], origins: Mapping[tuple[str, str], Origin], section: str
) -> None:
    user = "basic_auth_user" in values
    password = "basic_auth_password" in values
    if user and not password:
        raise origins[(section, "basic_auth_user")].error("needs basic_auth_password_file as well")
    if password and not user:
        raise origins[(section, "basic_auth_password")].error("needs basic_auth_user as well")
    if user and "bearer_token" in values:
        raise origins[(section, "bearer_token")].error(
            "a bearer token and basic auth are both set; use one of them"
        )
