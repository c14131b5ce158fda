"""Secrets: values that never show in a repr, a log line or an error message."""

from __future__ import annotations

import hmac
from pathlib import Path

from gputop.config.errors import Origin

__all__ = ["Secret", "read_secret_file"]


class Secret:
    """A token or password; `repr` and `str` show `***`, `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time, so comparing configs cannot become a timing oracle.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


def read_secret_file(path: Path, origin: Origin, what: str) -> Secret:
    """Read a secret from `path`, dropping the trailing newline; errors never show contents."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise origin.error(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise origin.error(f"{what} file is a directory: {path}") from None
    except PermissionError:
        raise origin.error(f"cannot read {what} file {path}: permission denied") from None
    except OSError as exc:
        raise origin.error(f"cannot read {what} file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise origin.error(f"{what} file {path} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value.strip():
        raise origin.error(f"{what} file {path} is empty")
    if "\n" in value or "\r" in value:
        # A header value cannot hold a line break; say so without printing any line.
        raise origin.error(f"{what} file {path} must hold one line, it holds several")
    return Secret(value)
