"""The fast lane keeps its word: `--fast` leaves out the tests marked prometheus, servers, e2e
or slow, and a test that starts a real server or a pseudo-terminal without its marker fails
before anything starts (so the fast lane never waits on one unawares)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
markers =
    prometheus: a real Prometheus
    servers: another real server
    e2e: a pseudo-terminal
    slow: long
asyncio_default_fixture_loop_scope = function
"""
#: The runs inside this one load no plugin they do not need (the snapshot plugin keeps one report
#: per process, and would end this one's).
INNER = tuple(
    arg
    for name in ("textual-snapshot", "hypothesispytest", "xdist", "cacheprovider")
    for arg in ("-p", f"no:{name}")
)


@pytest.fixture
def lanes(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest('pytest_plugins = ["tests.support.lanes"]')
    return pytester


def test_fast_leaves_out_every_marked_test(lanes: pytest.Pytester) -> None:
    lanes.makepyfile(
        test_lane="""
        import pytest

        def test_plain(): pass

        @pytest.mark.prometheus
        def test_engine(): pass

        @pytest.mark.servers
        def test_alertmanager(): pass

        @pytest.mark.e2e
        def test_terminal(): pass

        @pytest.mark.slow
        def test_sweep(): pass
        """
    )
    lanes.runpytest(*INNER, "--fast").assert_outcomes(passed=1, deselected=4)
    lanes.runpytest(*INNER).assert_outcomes(passed=5)


def test_a_server_or_terminal_started_without_its_marker_fails_the_test(
    lanes: pytest.Pytester,
) -> None:
    log = lanes.path / "server.log"
    lanes.makepyfile(
        test_start=f"""
        import pathlib
        import pytest
        from tests.support.processes import spawn
        from tests.support.pty_run import PtyRun

        def _spawn(marker):
            log = pathlib.Path({str(log)!r})
            spawn(["true"], cwd=pathlib.Path("."), log=log, marker=marker).wait(5)

        def test_unmarked_server():
            _spawn("prometheus")

        def test_unmarked_alertmanager():
            _spawn("servers")

        def test_unmarked_terminal():
            PtyRun(["--version"], cols=80, rows=24)

        @pytest.mark.prometheus
        def test_marked_server():
            _spawn("prometheus")
        """
    )
    result = lanes.runpytest(*INNER)
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_unmarked_server starts true but is not marked @pytest.mark.prometheus*",
            "*test_unmarked_alertmanager starts true but is not marked @pytest.mark.servers*",
            "*test_unmarked_terminal starts the program in a pseudo-terminal but is not marked "
            "@pytest.mark.e2e*",
        ]
    )
    assert log.read_text() == ""  # the marked one ran `true`; the others started nothing
