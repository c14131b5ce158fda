"""Whatever a source sends, it becomes that source's error with a short, safe reason.

Hypothesis mutates well-formed answers of Prometheus (`/api/v1/query`, `query_range`,
`/api/v1/rules`, `/api/v1/alerts`, `/api/v1/metadata`) and Alertmanager (`/api/v2/alerts`,
`/api/v2/alerts/groups`, `/api/v2/silences`, `/api/v2/status`) — a subtree replaced by a wrong
type, an overflowing number, markup or binary — and sends raw bodies (nested JSON bombs, bytes
that are not UTF-8). Every answer either parses or raises the client's own error, whose reason
is one line, short and free of control characters; the sources and the rules engine never
raise, nor does the backtest's reading of a server's retention. Rule files and config files:
a RuleFileError or ConfigError, one line, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gputop.config import ConfigError, load_config
from gputop.core.clock import FakeClock
from gputop.core.untrusted import MAX_REASON_CHARS, UNSAFE
from gputop.rules.backtest.remote import retention_s
from gputop.rules.engine import RulesEngine
from gputop.rules.files import RuleFileError, load_rule_set, read_rule_file
from gputop.rules.text import rule_line
from gputop.sources.alertmanager import AlertmanagerClient, AlertmanagerSource
from gputop.sources.amtypes import AmError
from gputop.sources.prometheus import PromError, PrometheusClient
from tests.support.hostile_server import HOSTILE, HostileServer, nested_json

NOW = 1_767_268_800.0
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Values that break parsers: wrong types, overflowing and odd numbers, markup and controls.
_ODD: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        10**30,
        1e308,
        math.inf,
        -math.inf,
        math.nan,
        "1e309",
        "-1e309",
        "NaN",
        "",
        "[/]",
        HOSTILE,
        "\udcff",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        [],
        {},
        [[[[[]]]]],
        {"a": {"b": [1, "x"]}},
    ]
)
_JSON = st.recursive(
    _ODD | st.text(max_size=20) | st.floats() | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(doc: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, (*at, i))


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.copy(doc)
    out[path[0]] = _replace(doc[path[0]], path[1:], value)
    return out


def mutated(doc: Any) -> st.SearchStrategy[Any]:
    """`doc` with one to three of its subtrees replaced by odd values."""
    paths = list(_paths(doc))
    changes = st.lists(st.tuples(st.sampled_from(paths), _JSON), min_size=1, max_size=3)

    def apply(edits: list[tuple[tuple[Any, ...], Any]]) -> Any:
        out = doc
        for path, value in edits:
            with contextlib.suppress(KeyError, IndexError, TypeError):  # the place is gone
                out = _replace(out, path, value)
        return out

    return changes.map(apply)


def _body(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


_RAW = st.one_of(
    st.binary(max_size=200),
    st.just(nested_json(100_000)),
    st.just(b'{"status": "success", "data": ' + nested_json(5_000) + b"}"),
    st.just(b'{"status": "error", "errorType": "x", "error": ' + nested_json(3_000) + b"}"),
    st.just(b'{"status": "success", "data": {"resultType": "vector", "result": 1e309}}'),
    st.just(
        b'{"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, 1'
        + b"0" * 5000
        + b"]}]}}"
    ),
)


def _safe(reason: str) -> None:
    assert "\n" not in reason
    assert len(reason) <= MAX_REASON_CHARS
    assert not UNSAFE.search(reason), repr(reason)


def _transport(status: int, body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body))


# ---- Prometheus ---------------------------------------------------------------------------------

_SERVER = HostileServer(gpus=2, clock=lambda: NOW)
_PROM_DOCS: dict[str, Any] = {
    "query": {"resultType": "vector", "result": _SERVER.instant("DCGM_FI_DEV_GPU_TEMP")},
    "query_range": {
        "resultType": "matrix",
        "result": _SERVER.series("DCGM_FI_DEV_GPU_TEMP", NOW - 10, NOW, 5),
    },
    "rules": _SERVER.rules(),
    "alerts": {"alerts": _SERVER.rules()["groups"][0]["rules"][0]["alerts"]},
    "metadata": {"DCGM_FI_DEV_GPU_TEMP": [{"type": "gauge", "help": "x"}]},
}
_PROM_CALLS: dict[str, Callable[[PrometheusClient], Any]] = {
    "query": lambda c: c.query("up"),
    "query_range": lambda c: c.query_range("up", NOW - 10, NOW, 5),
    "rules": lambda c: c.rules(),
    "alerts": lambda c: c.alerts(),
    "metadata": lambda c: c.metadata(),
}


def _answer(name: str) -> Callable[[Any], tuple[str, int, bytes]]:
    """What `name` answers with the document: 200 and its JSON."""
    return lambda doc: (name, 200, _body(doc))


def _prom_answers() -> st.SearchStrategy[tuple[str, int, bytes]]:
    documents = st.one_of(
        *(
            mutated({"status": "success", "data": doc}).map(_answer(name))
            for name, doc in _PROM_DOCS.items()
        )
    )
    raw = st.tuples(st.sampled_from(list(_PROM_CALLS)), st.sampled_from([200, 400, 500, 502]), _RAW)
    return documents | raw


@FUZZ
@given(_prom_answers())
def test_any_prometheus_answer_parses_or_is_a_prometheus_error(
    answer: tuple[str, int, bytes],
) -> None:
    name, status, body = answer

    async def go() -> None:
        async with PrometheusClient("http://prom.test", transport=_transport(status, body)) as c:
            try:
                await _PROM_CALLS[name](c)
            except PromError as exc:
                _safe(exc.reason)

    asyncio.run(go())


def _with_rule(**fields: Any) -> dict[str, Any]:
    """The rules answer, its first (firing) rule changed."""
    doc = copy.deepcopy(_PROM_DOCS["rules"])
    doc["groups"][0]["rules"][0].update(fields)
    return {"status": "success", "data": doc}


@FUZZ
@given(mutated({"status": "success", "data": _PROM_DOCS["rules"]}))
@example(_with_rule(duration="1e309"))
@example(_with_rule(duration=math.inf))
@example(_with_rule(duration=1e300))
@example(_with_rule(keepFiringFor=-5))
def test_the_rules_engine_never_raises_and_words_every_rule(doc: Any) -> None:
    """Prometheus' rules and states, however odd, become statuses worded for the screen, or
    the engine's error: never an exception through the dashboard."""
    query = {"status": "success", "data": _PROM_DOCS["query"]}

    def answer(request: httpx.Request) -> httpx.Response:
        body = doc if request.url.path.endswith("/rules") else query
        return httpx.Response(200, content=_body(body))

    async def go() -> RulesEngine:
        engine = RulesEngine([], clock=FakeClock(NOW), origin="Prometheus")
        client = PrometheusClient("http://prom.test", transport=httpx.MockTransport(answer))
        try:
            await engine.refresh_prometheus(client)
        finally:
            await client.aclose()
        return engine

    engine = asyncio.run(go())
    if engine.error is not None:
        _safe(engine.error)
    for status in engine.statuses:
        rule_line(status, NOW)


# ---- what the backtest reads of a server itself -------------------------------------------------

_RUNTIMEINFO = {"status": "success", "data": {"storageRetention": "15d or 10GiB", "CWD": "/p"}}
_VM_FLAG_LINE = 'flag{{name="retentionPeriod", value="{}"}} 1\n'


def _retention_answers() -> st.SearchStrategy[tuple[int, bytes, bytes]]:
    runtime = mutated(_RUNTIMEINFO).map(_body) | _RAW
    flag = st.text(max_size=12).map(_VM_FLAG_LINE.format) | st.text(max_size=200)
    metrics = flag.map(lambda t: t.encode("utf-8", "surrogatepass")) | _RAW
    return st.tuples(st.sampled_from([200, 404, 500]), runtime, metrics)


@FUZZ
@given(_retention_answers())
@example((200, _body({"status": "success", "data": {"storageRetention": "9999999999y"}}), b""))
@example((200, b"", _VM_FLAG_LINE.format("1e309").encode()))
@example((200, b"", _VM_FLAG_LINE.format("-3d").encode()))
def test_the_backtests_retention_is_a_duration_or_unknown(
    answer: tuple[int, bytes, bytes],
) -> None:
    """Prometheus' runtime information and VictoriaMetrics' flags, parsed by the backtest to
    refuse a range past the retention: a positive duration or unknown, never an exception."""
    status, runtime, metrics = answer

    def respond(request: httpx.Request) -> httpx.Response:
        body = runtime if request.url.path.endswith("/runtimeinfo") else metrics
        return httpx.Response(status, content=body)

    async def go() -> float | None:
        transport = httpx.MockTransport(respond)
        async with PrometheusClient("http://prom.test", transport=transport) as client:
            return await retention_s(client)

    found = asyncio.run(go())
    assert found is None or (math.isfinite(found) and found > 0)


# ---- Alertmanager -------------------------------------------------------------------------------

_AM_DOCS: dict[str, Any] = {
    "alerts": _SERVER.am_alerts(),
    "groups": _SERVER.am_groups(),
    "silences": _SERVER.am_silences(),
    "status": {
        "cluster": {},
        "versionInfo": {},
        "config": {"original": "route:\n  group_wait: 1s\n"},
    },
}
_AM_PATHS = {
    "alerts": "/api/v2/alerts",
    "groups": "/api/v2/alerts/groups",
    "silences": "/api/v2/silences",
    "status": "/api/v2/status",
}
_YAML_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "route: {group_wait: *d}\n"
)


def _am_answers() -> st.SearchStrategy[tuple[str, int, bytes]]:
    documents = st.one_of(*(mutated(doc).map(_answer(name)) for name, doc in _AM_DOCS.items()))
    bomb = st.just(("status", 200, _body({"config": {"original": _YAML_BOMB}})))
    raw = st.tuples(st.sampled_from(list(_AM_DOCS)), st.sampled_from([200, 400, 500]), _RAW)
    return documents | raw | bomb


@FUZZ
@given(_am_answers())
def test_any_alertmanager_answer_is_a_view_or_an_alertmanager_error(
    answer: tuple[str, int, bytes],
) -> None:
    name, status, body = answer

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == _AM_PATHS[name]:
            return httpx.Response(status, content=body)
        for other, path in _AM_PATHS.items():
            if request.url.path == path:
                return httpx.Response(200, content=_body(_AM_DOCS[other]))
        return httpx.Response(404)

    async def go() -> AlertmanagerSource:
        client = AlertmanagerClient("http://am.test", transport=httpx.MockTransport(handler))
        source = AlertmanagerSource(client, FakeClock(NOW))
        try:
            await source.refresh()  # never raises
            with_client = client
            try:
                await with_client.view(NOW)
            except AmError as exc:
                _safe(exc.reason)
        finally:
            await client.aclose()
        return source

    source = asyncio.run(go())
    if source.state.reason is not None:
        _safe(source.state.reason)


# ---- rule files and config files ----------------------------------------------------------------

_RULE_LINES = [
    "groups:",
    "- name: g",
    "  rules:",
    "  - alert: A",
    "    expr: up > 1",
    "    for: 1m",
    "    for: 1e309",
    "    for: 99999999999999999999999y",
    "    keep_firing_for: -1s",
    '  - alert: "\\e]52;c;eA==\\e\\\\[/]"',
    "    labels: {a: [1]}",
    "    annotations: {a: {b: c}}",
    '    expr: "[bold]x[/]"',
    "  interval: 0s",
    "  - record: r",
    "a: &a [1, 1, 1]",
    "b: [*a, *a, *a]",
    "- [" * 50,
    "\t",
    "\x00",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_RULE_LINES), max_size=12))
def test_any_rule_file_reads_or_gives_one_line_errors(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        parsed = read_rule_file(path)
        for error in parsed.errors:
            assert isinstance(error, RuleFileError)
            assert "\n" not in str(error)
        try:
            load_rule_set([path])
        except RuleFileError as exc:
            assert "\n" not in str(exc)


_CONFIG_LINES = [
    "[prometheus]",
    "[alertmanager]",
    'url = "http://[::1"',
    'url = "http://a:99999"',
    'url = "http://a:9090"',
    'url = "ftp://a"',
    'headers = { X-A = "é" }',
    'headers = { X-A = "a\\u0000b" }',
    'headers = { X-Api-Key = "k" }',
    'headers = { Cookie = "k" }',
    'headers = { "\\u001b]0;x" = "k" }',
    'header_files = { X-Api-Key = "/dev/zero" }',
    'bearer_token_file = "/dev/zero"',
    'bearer_token_file = "/"',
    'range = "1e309s"',
    "range = 1e309",
    "timeout = inf",
    "timeout = nan",
    "[rules]",
    'files = ["/"]',
    'files = ["/dev/zero"]',
    "eval_interval = 9e300",
    "[ui]",
    "interval = -0.0",
    '"\\u001b]52;c;eA==" = 1',
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_CONFIG_LINES), max_size=8))
@example(["[prometheus]", 'url = "http://[::1"'])
@example(["[prometheus]", 'url = "http://a:9090"', 'headers = { X-A = "é" }'])
@example(["[alertmanager]", 'url = "http://a:9090"', 'headers = { X-A = "a\\u0000b" }'])
@example(["[rules]", 'files = ["/"]'])
def test_any_config_loads_or_gives_one_line(lines: list[str]) -> None:
    """Either one line naming the file, or settings the clients can use as they are."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            config = load_config(path, env={})
        except ConfigError as exc:
            assert "\n" not in str(exc)
            assert exc.source == str(path)
            return
        for access in (config.prometheus, config.alertmanager):
            if access is not None:  # httpx takes them: no error waits for the first request
                httpx.Request("GET", access.url, headers=access.headers())
