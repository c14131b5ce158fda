"""Configuration: built-in defaults < TOML file < profile < environment < command-line flags.

Every problem is a `ConfigError` whose `str()` is one line naming file:line, the
environment variable or the flag. Secrets come only from files or the environment and
are held as `Secret`, which never shows its value.
"""

from __future__ import annotations

from gputop.config.errors import ConfigError
from gputop.config.loader import (
    DEFAULT_FLAG_NAMES,
    ENV_CONFIG,
    ENV_PROFILE,
    ENV_PROMETHEUS_TOKEN,
    ENV_PROMETHEUS_URL,
    default_config_path,
    load_config,
)
from gputop.config.secret import Secret
from gputop.config.settings import (
    DEFAULT_LATENCY_HISTOGRAM,
    AlertmanagerSettings,
    Config,
    PrometheusSettings,
    RuleSettings,
    UiSettings,
)

__all__ = [
    "DEFAULT_FLAG_NAMES",
    "DEFAULT_LATENCY_HISTOGRAM",
    "ENV_CONFIG",
    "ENV_PROFILE",
    "ENV_PROMETHEUS_TOKEN",
    "ENV_PROMETHEUS_URL",
    "AlertmanagerSettings",
    "Config",
    "ConfigError",
    "PrometheusSettings",
    "RuleSettings",
    "Secret",
    "UiSettings",
    "default_config_path",
    "load_config",
]
