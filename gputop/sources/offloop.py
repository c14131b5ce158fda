"""Decoding and parsing an answer without holding up the event loop that asked for it.

An answer of more than `THREAD_BYTES` is decoded (JSON) and parsed (into typed values) on a
worker thread, within `PARSE_DEADLINE_S`: a 16 MiB Alertmanager status or a 3000-rule
`/api/v1/rules` must never freeze the dashboard's clock or keys. A small answer is parsed
where it is, which costs less than the trip to a thread. A parse past its deadline is left to
finish on its thread, its result dropped: `ParseTimeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["PARSE_DEADLINE_S", "THREAD_BYTES", "ParseTimeout", "parse_off_loop"]

#: Answers at least this big are parsed on a worker thread.
THREAD_BYTES = 32 * 1024
#: A parse taking longer than this is given up (its answer treated as a timeout).
PARSE_DEADLINE_S = 20.0

T = TypeVar("T")


class ParseTimeout(Exception):
    """The answer could not be parsed within the deadline."""


async def parse_off_loop(
    parse: Callable[[], T], size: int, *, deadline_s: float = PARSE_DEADLINE_S
) -> T:
    """`parse()`, on a worker thread when the answer is `size` bytes or more."""
    if size < THREAD_BYTES:
        return parse()
    try:
        return await asyncio.wait_for(asyncio.to_thread(parse), deadline_s)
    except asyncio.TimeoutError:
        raise ParseTimeout() from None
