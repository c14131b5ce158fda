"""The one error configuration raises, and where a setting came from.

Exception tree::

    ConfigError     a bad config file, profile, environment variable or flag; str() is one line
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "Origin"]


class ConfigError(Exception):
    """A configuration problem, printed as `source:line: message` on a single line."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        # A message is always one line: the CLI prints it after "gputop: " and nothing else.
        self.message = " ".join(message.split())
        self.source = source
        self.line = line
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value was set: a config file line, an environment variable or a flag.

    `label` names the setting inside a file ("[prometheus] url"); flags and environment
    variables name themselves, so they leave it empty.
    """

    source: str
    line: int | None = None
    label: str = ""

    def error(self, message: str) -> ConfigError:
        text = f"{self.label}: {message}" if self.label else message
        return ConfigError(text, source=self.source, line=self.line)
