"""Secrets: values that never show in a repr, a log line or an error message."""

from __future__ import annotations

from pathlib import Path

from gputop.config.errors import Origin
from gputop.sources.files import FileRefused, read_limited

__all__ = ["MAX_SECRET_BYTES", "Secret", "check_secret_text", "read_secret_file"]


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
        import hmac  # only when secrets are compared

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


#: A token, password or header value is a line; a file bigger than this is not one.
MAX_SECRET_BYTES = 64 * 1024


def check_secret_text(value: str) -> str | None:
    """Why `value` cannot be sent as a credential (it goes into an HTTP header), or None."""
    if not value.strip():
        return "is empty"
    if "\n" in value or "\r" in value:
        return "must hold one line, it holds several"
    if not all(" " <= c <= "~" or c == "\t" for c in value):
        return "must be printable ASCII (no control or non-ASCII characters)"
    return None


def read_secret_file(
    path: Path, origin: Origin, what: str, warnings: list[str] | None = None
) -> Secret:
    """Read a secret from `path`, dropping the trailing newline; errors never show contents.

    The file must be a regular file of at most 64 KiB holding one line of printable ASCII.
    One that its group or others may read adds a warning naming it to `warnings`.
    """
    try:
        found = read_limited(path, MAX_SECRET_BYTES)
    except FileRefused as exc:
        if exc.kind == "missing":
            raise origin.error(f"{what} file not found: {path}") from None
        if exc.kind == "directory":
            raise origin.error(f"{what} file is a directory: {path}") from None
        raise origin.error(f"{what} file {path} {exc}") from None
    try:
        text = found.data.decode("utf-8")
    except UnicodeDecodeError:
        raise origin.error(f"{what} file {path} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    problem = check_secret_text(value)
    if problem is not None:
        raise origin.error(f"{what} file {path} {problem}")
    if found.open_to_others and warnings is not None:
        warnings.append(
            f"{what} file {path} is readable by its group or others; "
            f"make it private: chmod 600 {path}"
        )
    return Secret(value)
