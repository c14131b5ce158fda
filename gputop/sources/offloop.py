"""Decoding and parsing an answer without holding up the event loop that asked for it.

An answer of more than `THREAD_BYTES` is decoded (JSON) and parsed (into typed values) on a
worker thread within `PARSE_DEADLINE_S`: a 16 MiB Alertmanager status or a 3000-rule
`/api/v1/rules` must never freeze the dashboard's clock or keys. One thread for all: answers
are parsed one at a time, as they were on the loop, so memory holds one decoded answer at a
time. A small answer is parsed where it is, which costs less than the trip to a thread. A
parse past its deadline is left to finish on its thread, its result dropped: `ParseTimeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["PARSE_DEADLINE_S", "THREAD_BYTES", "ParseTimeout", "parse_off_loop"]

#: Answers at least this big are parsed on a worker thread.
THREAD_BYTES = 32 * 1024
#: A parse taking longer than this is given up (its answer treated as a timeout).
PARSE_DEADLINE_S = 20.0

T = TypeVar("T")


class ParseTimeout(Exception):
    """The answer could not be parsed within the deadline."""


_parser: ThreadPoolExecutor | None = None


def _parsing_thread() -> ThreadPoolExecutor:
    """The one thread big answers are parsed on, one after another: decoded JSON is many
    times its text, so a fleet's dozen answers decoded at once would each hold theirs."""
    global _parser
    if _parser is None:
        _parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gputop-parse")
    return _parser


async def parse_off_loop(
    parse: Callable[[], T], size: int, *, deadline_s: float = PARSE_DEADLINE_S
) -> T:
    """`parse()`, on the parsing thread when the answer is `size` bytes or more."""
    if size < THREAD_BYTES:
        return parse()
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(_parsing_thread(), parse), deadline_s)
    except asyncio.TimeoutError:
        raise ParseTimeout() from None
