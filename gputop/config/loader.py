"""Loading the configuration: defaults < file < profile < environment < flags.

Every layer is checked on its own, so an error names the place the bad value was written
(file:line, environment variable or flag); `merge` then joins the layers. Every profile
in the file is checked, not only the chosen one, so a typo never waits for its day.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from gputop.config.errors import ConfigError, Origin
from gputop.config.merge import Entry, Key, Layer, build_config, put_value
from gputop.config.schema import SCHEMA, ParseContext, secret_hint
from gputop.config.secret import Secret, check_secret_text
from gputop.config.settings import Config
from gputop.config.tomllines import KeyLines
from gputop.sources.files import FileRefused, read_limited

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

__all__ = [
    "DEFAULT_FLAG_NAMES",
    "ENV_CONFIG",
    "ENV_PROFILE",
    "ENV_PROMETHEUS_TOKEN",
    "ENV_PROMETHEUS_URL",
    "default_config_path",
    "load_config",
]

ENV_PROMETHEUS_URL = "GPUTOP_PROMETHEUS_URL"
ENV_PROMETHEUS_TOKEN = "GPUTOP_PROMETHEUS_TOKEN"
ENV_CONFIG = "GPUTOP_CONFIG"
ENV_PROFILE = "GPUTOP_PROFILE"
#: A config file is a few lines; one bigger than this is not one.
MAX_CONFIG_BYTES = 1024 * 1024

#: The flag each override key comes from, for error messages; others read "--section-key".
DEFAULT_FLAG_NAMES: Mapping[str, str] = {
    "config": "--config",
    "profile": "--profile",
    "prometheus.url": "--prometheus",
    "prometheus.insecure": "--insecure",
    "alertmanager.url": "--alertmanager",
    "ui.read_only": "--read-only",
    "ui.kiosk": "--kiosk",
    "rules.files": "--rules",
    "ui.interval": "--interval",
    "ui.no_color": "--no-color",
}


@dataclass(frozen=True, slots=True)
class _Document:
    path: Path
    data: dict[str, object]
    lines: KeyLines


def default_config_path() -> Path:
    """Where gputop looks when no file is named, e.g. ~/.config/gputop/config.toml."""
    return Path(platformdirs.user_config_dir("gputop")) / "config.toml"


def load_config(
    path: Path | None = None,
    *,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Config:
    """Read the configuration; raises ConfigError (one line) for anything wrong.

    `path` and `profile` come from --config and --profile (else GPUTOP_CONFIG and
    GPUTOP_PROFILE). `overrides` maps dotted keys ("prometheus.url", "ui.interval") to
    flag values; None means the flag was not given. `flag_names` maps the same keys to
    the flags to name in errors, over DEFAULT_FLAG_NAMES.
    """
    env = os.environ if env is None else env
    flags = {**DEFAULT_FLAG_NAMES, **(flag_names or {})}
    document = _open_document(path, env, flags)
    profile_name, profile_source = _chosen_profile(profile, env, flags)

    layers: list[Layer] = []
    if document is not None:
        base, profiles = _file_layers(document)
        layers.append(base)
    else:
        profiles = {}
    if profile_name is not None:
        if profile_name not in profiles:
            raise _unknown_profile(profile_name, profile_source, document)
        layers.append(profiles[profile_name])
    layers.append(_env_layer(env))
    layers.append(_override_layer(overrides or {}, flags))

    merged: Layer = {}
    for layer in layers:
        merged.update(layer)
    return build_config(merged, document.path if document else None, profile_name, env)


# --- the file ------------------------------------------------------------------------------


def _open_document(
    path: Path | None, env: Mapping[str, str], flags: Mapping[str, str]
) -> _Document | None:
    if path is not None:
        source: str | None = flags["config"]
    elif env.get(ENV_CONFIG, "").strip():
        path, source = Path(env[ENV_CONFIG].strip()), ENV_CONFIG
    else:
        path, source = default_config_path(), None
    path = Path(path).expanduser()
    if "\x00" in str(path):
        raise ConfigError("a path cannot hold a NUL character", source=source or "config")
    if source is None and not path.exists():
        return None  # no file where we looked by default: built-in defaults it is
    try:
        raw = read_limited(path, MAX_CONFIG_BYTES).data
    except FileRefused as exc:
        if exc.kind == "missing":
            raise ConfigError(f"config file not found: {path}", source=source) from None
        if exc.kind == "directory":
            raise ConfigError("is a directory, not a config file", source=str(path)) from None
        raise ConfigError(str(exc), source=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not UTF-8 text", source=str(path), line=line) from None
    if sys.version_info >= (3, 11):  # read only when there is a file
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, path, text) from None
    return _Document(path, data, KeyLines(text))


_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")


def _syntax_error(exc: tomllib.TOMLDecodeError, path: Path, text: str) -> ConfigError:
    message = str(exc)
    match = _POSITION.search(message)
    if match is None:
        return ConfigError(f"invalid TOML: {message}", source=str(path))
    reason = message[: match.start()]
    if match.group(1) is None:
        line, where = max(len(text.splitlines()), 1), " at the end of the file"
    else:
        line, where = int(match.group(1)), f" (column {match.group(2)})"
    return ConfigError(f"invalid TOML: {reason}{where}", source=str(path), line=line)


def _file_layers(doc: _Document) -> tuple[Layer, dict[str, Layer]]:
    sections = {key: value for key, value in doc.data.items() if key != "profiles"}
    base = _section_layer(sections, (), doc)
    raw_profiles = doc.data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise _file_error(doc, ("profiles",), "'profiles' must hold [profiles.<name>] tables")
    profiles: dict[str, Layer] = {}
    for name, body in raw_profiles.items():
        if not isinstance(body, dict):
            raise _file_error(doc, ("profiles", name), f"profile '{name}' must be a table")
        profiles[name] = _section_layer(body, ("profiles", name), doc)
    return base, profiles


def _section_layer(sections: dict[str, object], prefix: Key, doc: _Document) -> Layer:
    layer: Layer = {}
    ctx = ParseContext(base_dir=doc.path.absolute().parent)
    for section, body in sections.items():
        where = (*prefix, section)
        if section not in SCHEMA:
            raise _file_error(doc, where, _unknown_section(section, body, prefix))
        name = ".".join(where)
        if not isinstance(body, dict):
            raise _file_error(doc, where, f"[{name}] must be a table")
        fields = SCHEMA[section]
        for key, value in body.items():
            field = fields.get(key)
            if field is None:
                hint = secret_hint(section, key)
                if hint is None:
                    message = f"unknown key '{key}' in [{name}]{_did_you_mean(key, fields)}"
                else:
                    message = f"'{key}' in [{name}] would put a secret in the config file; {hint}"
                raise _file_error(doc, (*where, key), message)
            put_value(layer, section, field, value, _file_origin(doc, (*where, key)), ctx)
    return layer


def _file_origin(doc: _Document, key_path: Key) -> Callable[..., Origin]:
    """Where `key_path` (or one entry of its table) is written in the file."""

    def origin(*sub: str) -> Origin:
        label = f"[{'.'.join(key_path[:-1])}] {'.'.join((key_path[-1], *sub))}"
        return Origin(str(doc.path), doc.lines.line_of((*key_path, *sub)), label)

    return origin


def _file_error(doc: _Document, where: Key, message: str) -> ConfigError:
    return ConfigError(message, source=str(doc.path), line=doc.lines.line_of(where))


def _unknown_section(section: str, body: object, prefix: Key) -> str:
    if not isinstance(body, dict):
        homes = [name for name, fields in SCHEMA.items() if section in fields]
        hint = f" (it belongs in [{'.'.join((*prefix, homes[0]))}])" if homes else ""
        where = f"[{'.'.join(prefix)}]" if prefix else "the top level"
        return f"unknown key '{section}' at {where}{hint}"
    names = list(SCHEMA) if prefix else [*SCHEMA, "profiles"]
    import difflib  # only to word an error

    match = difflib.get_close_matches(section, names, n=1, cutoff=0.6)
    hint = f" (did you mean [{'.'.join((*prefix, match[0]))}]?)" if match else ""
    return f"unknown section [{'.'.join((*prefix, section))}]{hint}"


def _did_you_mean(key: str, known: Mapping[str, object]) -> str:
    import difflib  # only to word an error

    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


# --- profile, environment, flags -----------------------------------------------------------


def _chosen_profile(
    profile: str | None, env: Mapping[str, str], flags: Mapping[str, str]
) -> tuple[str | None, str]:
    if profile is not None:
        return profile, flags["profile"]
    name = env.get(ENV_PROFILE, "").strip()
    return (name or None), ENV_PROFILE


def _unknown_profile(name: str, source: str, doc: _Document | None) -> ConfigError:
    if doc is None:
        return ConfigError(
            f"no profile '{name}': no config file at {default_config_path()}", source=source
        )
    known = doc.data.get("profiles")
    names = ", ".join(sorted(known)) if isinstance(known, dict) and known else ""
    listing = f"known profiles: {names}" if names else "the file defines no profiles"
    return ConfigError(f"no profile '{name}' in {doc.path} ({listing})", source=source)


def _env_layer(env: Mapping[str, str]) -> Layer:
    layer: Layer = {}
    url = env.get(ENV_PROMETHEUS_URL, "").strip()
    if url:
        origin = Origin(ENV_PROMETHEUS_URL)
        put_value(layer, "prometheus", SCHEMA["prometheus"]["url"], url, lambda *sub: origin)
    token = env.get(ENV_PROMETHEUS_TOKEN, "").rstrip("\r\n")
    if token.strip():
        problem = check_secret_text(token)
        if problem is not None:
            raise ConfigError(f"the token {problem}", source=ENV_PROMETHEUS_TOKEN)
        layer[("prometheus", "bearer_token")] = Entry(Secret(token), Origin(ENV_PROMETHEUS_TOKEN))
    if env.get("NO_COLOR"):
        # The no-color.org convention: any non-empty value turns colour off.
        layer[("ui", "no_color")] = Entry(True, Origin("NO_COLOR"))
    return layer


def _override_layer(overrides: Mapping[str, object], flags: Mapping[str, str]) -> Layer:
    layer: Layer = {}
    ctx = ParseContext(from_flag=True)
    for dotted, value in overrides.items():
        if value is None:
            continue
        flag = flags.get(dotted) or "--" + dotted.replace(".", "-").replace("_", "-")
        section, _, key = dotted.partition(".")
        field = SCHEMA.get(section, {}).get(key)
        if field is None:
            hint = secret_hint(section, key)
            if hint is None:
                raise ConfigError(f"unknown setting '{dotted}'", source=flag)
            raise ConfigError(
                f"a secret on the command line is visible to others; {hint}", source=flag
            )
        origin = Origin(flag)
        put_value(layer, section, field, value, lambda *sub, _o=origin: _o, ctx)
    return layer
