"""How a command says it was used wrongly: one line, exit status 2, never a traceback."""

from __future__ import annotations

__all__ = ["EXIT_UNKNOWN", "EXIT_USAGE", "TRY_DEMO", "UsageError"]

EXIT_USAGE = 2
EXIT_UNKNOWN = 3
#: Said where it helps: nothing to watch on this machine, and no Prometheus either.
TRY_DEMO = "try --demo, or --prometheus URL"


class UsageError(Exception):
    """A bad flag, file or environment: printed as one line, exit status 2."""
