"""The fast lane stays fast and honest: `--fast` (`scripts/test --fast`) leaves out every test
that needs a real server, a pseudo-terminal or long, and a test that starts a server or a
pseudo-terminal without the marker that keeps it out fails.

Markers (registered in pyproject.toml): `prometheus` (a real Prometheus, or VictoriaMetrics
with vmalert), `servers` (another real server: Alertmanager), `e2e` (the real program in a
pseudo-terminal) and `slow` (5 s or more on 2 cores with neither: sweeps of every key and
click, a fleet's memory measured). The first three are checked where the server or terminal
starts (`require_marker`); `slow` is found with `--durations`.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

__all__ = ["OUT_OF_FAST_LANE", "require_marker"]

#: The markers of the tests `--fast` leaves out.
OUT_OF_FAST_LANE = ("prometheus", "servers", "e2e", "slow")

_running: list[pytest.Item] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help=f"the fast lane: leave out the tests marked {', '.join(OUT_OF_FAST_LANE)}",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fast"):
        return
    kept: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        slow = any(item.get_closest_marker(name) for name in OUT_OF_FAST_LANE)
        (left_out if slow else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


def require_marker(marker: str, what: str) -> None:
    """Fail the running test unless it carries `marker`; outside a test run (benchmarks,
    scripts) say nothing."""
    if not _running:
        return
    item = _running[-1]
    if item.get_closest_marker(marker) is None:
        pytest.fail(
            f"{item.nodeid} starts {what} but is not marked @pytest.mark.{marker}: "
            f"the fast lane (scripts/test --fast) would run it",
            pytrace=False,
        )
