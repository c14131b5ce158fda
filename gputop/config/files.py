"""Reading a file that someone named: a regular file of bounded size, or a one-line refusal.

`/dev/zero` named as a token file would grow without end, a FIFO would block forever, a
directory is a mistake: each is refused with what it is, before anything is read. The file is
opened without blocking and checked on the open descriptor, so what is read is what was
checked.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileRefused", "LimitedFile", "read_limited"]

_CHUNK = 64 * 1024


class FileRefused(Exception):
    """Why a file was not read: one line, naming what it is, never what it holds; `kind`
    says which refusal ("missing", "directory", "other") for callers that word it their way."""

    def __init__(self, reason: str, kind: str = "other") -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class LimitedFile:
    data: bytes
    mode: int  # st_mode of the file read

    @property
    def open_to_others(self) -> bool:
        """Whether its group or others may read it (as ssh asks of a key)."""
        return bool(self.mode & (stat.S_IRGRP | stat.S_IROTH))


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


def read_limited(path: Path, limit: int) -> LimitedFile:
    """The contents of `path`; FileRefused when it is missing, unreadable, not a regular
    file, or larger than `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileRefused("not found", "missing") from None
    except PermissionError:
        raise FileRefused("is not readable (permission denied)") from None
    except ValueError:  # a NUL byte in the name
        raise FileRefused("the name holds a NUL character") from None
    except OSError as exc:
        raise FileRefused(f"cannot open: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused("is a directory", "directory")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("is not a regular file")
        if info.st_size > limit:
            raise FileRefused(f"is larger than {_size(limit)}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(f"is larger than {_size(limit)}")
        return LimitedFile(b"".join(chunks), info.st_mode)
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
