"""The Prometheus HTTP client against canned answers and a small loopback server."""

from __future__ import annotations

import calendar
import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputop.sources.base import SourceError
from gputop.sources.prometheus import (
    PromAPIError,
    PromError,
    PrometheusClient,
    PromHTTPError,
    PromMalformed,
    PromTimeout,
    PromUnreachable,
    PromWrongEndpoint,
)
from gputop.sources.prometheus.rulesapi import parse_rfc3339

TOKEN = "s3cr3t-t0ken-value"


def ok(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> PrometheusClient:
    return PrometheusClient("http://prom.test:9090", transport=httpx.MockTransport(handler), **kw)


def answer(doc: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=doc)


# ---- parsing ------------------------------------------------------------------------------


async def test_vector_values_nan_and_infinities() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result = [
            {"metric": {"gpu": "0"}, "value": [1700000000.5, "71.5"]},
            {"metric": {"gpu": "1"}, "value": [1700000000.5, "NaN"]},
            {"metric": {"gpu": "2"}, "value": [1700000000.5, "+Inf"]},
            {"metric": {"gpu": "3"}, "value": [1700000000.5, "-Inf"]},
        ]
        return httpx.Response(200, json=ok({"resultType": "vector", "result": result}))

    async with mock_client(handler) as client:
        samples = await client.query("DCGM_FI_DEV_GPU_TEMP", time=1700000000.5)
    assert [s.labels["gpu"] for s in samples] == ["0", "1", "2", "3"]
    assert samples[0].value == 71.5 and samples[0].time == 1700000000.5
    assert samples[1].value is None
    assert samples[2].value == math.inf and samples[3].value == -math.inf
    assert seen[0].url.path == "/api/v1/query"
    assert seen[0].url.params["time"] == "1700000000.5"


async def test_scalar_result_is_one_sample_without_labels() -> None:
    doc = ok({"resultType": "scalar", "result": [1700000000, "2"]})
    async with mock_client(answer(doc)) as client:
        (sample,) = await client.query("1+1")
    assert sample.labels == {} and sample.value == 2.0


async def test_query_range_points_and_parameters() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        series = {
            "metric": {"__name__": "up", "instance": "a"},
            "values": [[100, "1"], [115, "NaN"], [130, "0"]],
        }
        return httpx.Response(200, json=ok({"resultType": "matrix", "result": [series]}))

    async with mock_client(handler) as client:
        (series,) = await client.query_range("up", 100, 130, 15)
    assert series.labels == {"__name__": "up", "instance": "a"}
    assert series.points == [(100.0, 1.0), (115.0, None), (130.0, 0.0)]
    params = seen[0].url.params
    assert (params["start"], params["end"], params["step"]) == ("100", "130", "15")


async def test_base_url_path_prefix_is_kept() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=ok({"resultType": "vector", "result": []}))

    transport = httpx.MockTransport(handler)
    async with PrometheusClient("http://mimir.test/prometheus", transport=transport) as client:
        await client.query("up")
    assert seen == ["/prometheus/api/v1/query"]


RULES = ok(
    {
        "groups": [
            {
                "name": "gpu-alerts",
                "file": "/etc/prometheus/rules.yml",
                "interval": 15,
                "rules": [
                    {
                        "state": "pending",
                        "name": "GPUTemperatureHigh",
                        "query": "DCGM_FI_DEV_GPU_TEMP > 85",
                        "duration": 60,
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "hot"},
                        "alerts": [
                            {
                                "labels": {"alertname": "GPUTemperatureHigh", "gpu": "3"},
                                "annotations": {"summary": "hot"},
                                "state": "pending",
                                "activeAt": "2026-01-01T00:00:30.123456789Z",
                                "value": "8.7e+01",
                            }
                        ],
                        "health": "ok",
                        "evaluationTime": 0.0004,
                        "lastEvaluation": "2026-01-01T01:00:00+01:00",
                        "type": "alerting",
                    },
                    {
                        "state": "inactive",
                        "name": "GPUBusy",
                        "query": "DCGM_FI_PROF_GR_ENGINE_ACTIVE > 95",
                        "duration": 300,
                        "labels": {},
                        "annotations": {},
                        "alerts": [],
                        "health": "err",
                        "lastError": "many-to-many matching not allowed",
                        "type": "alerting",
                    },
                    {
                        "name": "job:up:sum",
                        "query": "sum(up)",
                        "health": "ok",
                        "type": "recording",
                    },
                ],
            },
            {
                "name": "other",
                "file": "x.yml",
                "interval": 60,
                "rules": [
                    {
                        "state": "firing",
                        "name": "T2VInferenceSlow",
                        "query": "x > 300",
                        "duration": 300,
                        "alerts": [],
                        "health": "ok",
                        "type": "alerting",
                    }
                ],
            },
        ]
    }
)
NEW_YEAR = calendar.timegm((2026, 1, 1, 0, 0, 0))


async def test_rules_are_parsed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=RULES)

    async with mock_client(handler) as client:
        groups = await client.rules()
    assert seen[0].url.params["type"] == "alert"
    assert [g.name for g in groups] == ["gpu-alerts", "other"]
    temp, busy = groups[0].rules  # the recording rule is dropped for type="alert"
    assert (temp.name, temp.state, temp.duration_s, temp.health) == (
        "GPUTemperatureHigh",
        "pending",
        60.0,
        "ok",
    )
    assert temp.last_error is None and temp.labels == {"severity": "critical"}
    assert temp.last_evaluation == NEW_YEAR
    (alert,) = temp.alerts
    assert alert.name == "GPUTemperatureHigh" and alert.value == 87.0
    assert alert.active_at == pytest.approx(NEW_YEAR + 30.123456789)
    assert busy.health == "err" and busy.last_error == "many-to-many matching not allowed"
    assert groups[0].interval_s == 15.0


async def test_rule_names_are_filtered_here_when_the_server_ignores_them() -> None:
    async with mock_client(answer(RULES)) as client:
        groups = await client.rules(names={"T2VInferenceSlow"})
        both = await client.rules(type=None)
    assert [(g.name, [r.name for r in g.rules]) for g in groups] == [
        ("other", ["T2VInferenceSlow"])
    ]
    assert [r.type for r in both[0].rules] == ["alerting", "alerting", "recording"]


async def test_rules_type_is_checked() -> None:
    async with mock_client(answer(RULES)) as client:
        with pytest.raises(ValueError, match="rule type"):
            await client.rules(type="alerts")


async def test_alerts_and_buildinfo() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/alerts"):
            alert = {
                "labels": {"alertname": "GPUBusy"},
                "annotations": {},
                "state": "firing",
                "activeAt": "0001-01-01T00:00:00Z",
                "value": "NaN",
            }
            return httpx.Response(200, json=ok({"alerts": [alert]}))
        return httpx.Response(200, json=ok({"version": "2.42.0", "revision": "abc"}))

    async with mock_client(handler) as client:
        (alert,) = await client.alerts()
        info = await client.buildinfo()
    assert alert.state == "firing" and alert.active_at is None and alert.value is None
    assert info["version"] == "2.42.0"


async def test_ready() -> None:
    async with mock_client(lambda r: httpx.Response(200, text="Prometheus is Ready.")) as c:
        assert await c.ready() is True
    async with mock_client(lambda r: httpx.Response(503, text="Service Unavailable")) as c:
        assert await c.ready() is False


async def test_ready_without_a_readiness_endpoint_asks_a_query() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/-/ready":
            return httpx.Response(404)
        return httpx.Response(200, json=ok({"resultType": "scalar", "result": [1, "1"]}))

    async with mock_client(handler) as client:
        assert await client.ready() is True


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.none()
    ),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_rfc3339_round_trip(moment: datetime, offset_min: int) -> None:
    zone = timezone(timedelta(minutes=offset_min))
    aware = moment.replace(tzinfo=timezone.utc).astimezone(zone)
    text = aware.isoformat().replace("+00:00", "Z")
    assert parse_rfc3339(text) == pytest.approx(aware.timestamp(), abs=1e-6)


def test_rfc3339_zero_time_and_junk() -> None:
    assert parse_rfc3339("0001-01-01T00:00:00Z") is None
    with pytest.raises(PromMalformed):
        parse_rfc3339("yesterday")


# ---- failures -----------------------------------------------------------------------------


def test_error_tree() -> None:
    classes = (PromUnreachable, PromTimeout, PromHTTPError, PromAPIError, PromMalformed)
    for cls in (*classes, PromWrongEndpoint):
        assert issubclass(cls, PromError) and issubclass(cls, SourceError)


async def test_http_500_says_what_the_server_said() -> None:
    async with mock_client(lambda r: httpx.Response(500, text="oops\nstack...")) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query("up")
    assert info.value.status == 500
    assert info.value.reason == "HTTP 500 Internal Server Error: oops"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(502, text=""), "HTTP 502 Bad Gateway"),
        (httpx.Response(404, text="404 page not found"), "HTTP 404 Not Found"),
        (
            httpx.Response(400, json={"error": "too many points", "code": 400}),
            "HTTP 400 Bad Request: too many points",
        ),
        (httpx.Response(429, json={"message": "slow   down\n please"}),
         "HTTP 429 Too Many Requests: slow down please"),
        (
            httpx.Response(
                422,
                text='remoteAddr: "10.0.0.1:5"; requestURI: /api/v1/query?query=x; '
                "cannot parse query: unexpected end",
            ),
            "HTTP 422 Unprocessable Entity: cannot parse query: unexpected end",
        ),
        (httpx.Response(503, text="x" * 500), "HTTP 503 Service Unavailable: " + "x" * 199 + "…"),
        (httpx.Response(500, html="<html><body>oops</body></html>"),
         "HTTP 500 Internal Server Error"),
    ],
)  # fmt: skip
async def test_an_error_body_is_shown_trimmed(response: httpx.Response, reason: str) -> None:
    async with mock_client(lambda r: response) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query_range("up", 0, 1, 1)
    assert info.value.reason == reason


async def test_an_error_body_never_shows_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text=f"bad header Authorization: Bearer {TOKEN}")

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with mock_client(handler, headers=headers) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query("up")
    assert TOKEN not in info.value.reason and "***" in info.value.reason


def _server_at(routes: dict[str, httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """Answers by path; any other path gets `routes["*"]`."""
    return lambda request: routes.get(request.url.path, routes["*"])


@pytest.mark.parametrize(
    ("routes", "looks_like", "advice"),
    [
        (  # vmalert: rules, and a 400 in plain text for everything else
            {
                "/api/v1/rules": httpx.Response(200, json=ok({"groups": []})),
                "*": httpx.Response(400, text='unsupported path requested: "/api/v1/query"'),
            },
            "it serves alerting rules only, like vmalert",
            "rules_url",
        ),
        (  # Alertmanager
            {
                "/api/v2/status": httpx.Response(
                    200, json={"cluster": {}, "versionInfo": {}, "config": {}, "uptime": "x"}
                ),
                "*": httpx.Response(404, text="404 page not found"),
            },
            "this is Alertmanager",
            "[alertmanager] url",
        ),
        (  # a web page that answers 200 to anything
            {"*": httpx.Response(200, html="<!DOCTYPE html><html>Grafana</html>")},
            "this is a web page",
            "base URL",
        ),
    ],
)
async def test_a_url_with_no_query_api_is_named(
    routes: dict[str, httpx.Response], looks_like: str, advice: str
) -> None:
    async with mock_client(_server_at(routes)) as client:
        with pytest.raises(PromWrongEndpoint) as info:
            await client.query_range("up", 0, 1, 1)
    assert info.value.looks_like == looks_like
    reason = info.value.reason
    assert reason.startswith(f"no query API at this URL: {looks_like}; ") and advice in reason
    assert "\n" not in reason


async def test_a_plain_404_is_not_mistaken_for_another_server() -> None:
    routes = {"*": httpx.Response(404, text="404 page not found")}
    async with mock_client(_server_at(routes)) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query("up")
        assert client.stats.path_requests == {
            "api/v1/query": 1, "api/v2/status": 1, "api/v1/rules": 1,
        }  # fmt: skip
    assert info.value.reason == "HTTP 404 Not Found"


async def test_malformed_json() -> None:
    async with mock_client(lambda r: httpx.Response(200, text='{"status": "succ')) as client:
        with pytest.raises(PromMalformed) as info:
            await client.query("up")
    assert info.value.reason.startswith("malformed response")


@pytest.mark.parametrize(
    "doc",
    [
        {"status": "success"},
        ok({"resultType": "matrix", "result": []}),
        ok({"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]}),
        ok({"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}),
        ok({"resultType": "vector", "result": "nope"}),
        [1, 2, 3],
    ],
)
async def test_unexpected_shapes_are_malformed(doc: Any) -> None:
    async with mock_client(answer(doc)) as client:
        with pytest.raises(PromMalformed):
            await client.query("up")


async def test_api_error_body() -> None:
    doc = {"status": "error", "errorType": "bad_data", "error": 'parse error:\nunexpected "}"'}
    async with mock_client(answer(doc, status=400)) as client:
        with pytest.raises(PromAPIError) as info:
            await client.query("up{")
    assert info.value.error_type == "bad_data"
    assert info.value.reason == 'query error: bad_data: parse error: unexpected "}"'
    assert "\n" not in info.value.reason


async def test_stats_count_requests_and_bytes() -> None:
    body = json.dumps(ok({"resultType": "vector", "result": []})).encode()
    async with mock_client(lambda r: httpx.Response(200, content=body)) as client:
        await client.query("up")
        await client.query("up")
        stats = client.stats.copy()
    assert stats.requests == 2 and stats.bytes == 2 * len(body) and stats.errors == 0
    assert stats.path_requests == {"api/v1/query": 2}
    assert stats.path_bytes == {"api/v1/query": 2 * len(body)}
    assert stats.last_duration_s is not None and stats.last_duration_s >= 0


def test_bad_urls_and_options() -> None:
    with pytest.raises(ValueError, match="http://host:9090"):
        PrometheusClient("localhost:9090")
    with pytest.raises(ValueError, match="timeout"):
        PrometheusClient("http://localhost:9090", timeout=0)
    with pytest.raises(ValueError, match="CA bundle"):
        PrometheusClient("http://localhost:9090", verify="/nonexistent/ca.pem")


def test_repr_hides_credentials() -> None:
    client = PrometheusClient(
        f"http://user:{TOKEN}@prom.test:9090", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert TOKEN not in repr(client) and TOKEN not in client.url
    assert "prom.test:9090" in repr(client)


# ---- a real socket ------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Callable[[BaseHTTPRequestHandler], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.server.behaviour(self)  # a client that gave up is no error here

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def loopback() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], str]]:
    """`serve(behaviour)` -> base URL of a loopback server running `behaviour` per GET."""
    servers: list[_Server] = []

    def serve(behaviour: Callable[[BaseHTTPRequestHandler], None]) -> str:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.behaviour = behaviour
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _bearer_only(h: BaseHTTPRequestHandler) -> None:
    if h.headers.get("Authorization") == "Bearer right-token":
        _reply(h, 200, json.dumps(ok({"resultType": "vector", "result": []})).encode())
    else:
        _reply(h, 401, b"Unauthorized\n")


async def test_401_without_a_token(loopback: Callable[..., str]) -> None:
    async with PrometheusClient(loopback(_bearer_only)) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query("up")
    assert info.value.status == 401
    assert info.value.reason == "HTTP 401 unauthorized: no bearer token given"


async def test_401_with_a_wrong_token_never_shows_it(loopback: Callable[..., str]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with PrometheusClient(loopback(_bearer_only), headers=headers) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query("up")
        assert TOKEN not in repr(client)
    assert info.value.reason == "HTTP 401 unauthorized: check the bearer token"
    for text in (info.value.reason, str(info.value), repr(info.value)):
        assert TOKEN not in text
    async with PrometheusClient(
        loopback(_bearer_only), headers={"Authorization": "Bearer right-token"}
    ) as client:
        assert await client.query("up") == ()


async def test_403_is_unauthorized(loopback: Callable[..., str]) -> None:
    url = loopback(lambda h: _reply(h, 403, b"Forbidden"))
    async with PrometheusClient(url, auth=("user", TOKEN)) as client:
        with pytest.raises(PromHTTPError) as info:
            await client.query("up")
    assert info.value.reason == "HTTP 403 unauthorized: check the bearer token"


def _endless(h: BaseHTTPRequestHandler) -> None:
    """A 200 streaming far more than any limit, without a Content-Length."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    h.wfile.write(b'{"status":"success","data":{"resultType":"vector","result":[')
    chunk = b'{"metric":{},"value":[1,"1"]},' * 2000
    for _ in range(4000):  # ~ 240 MB if nobody stops reading
        h.wfile.write(chunk)


async def test_huge_body_stops_at_the_limit(loopback: Callable[..., str]) -> None:
    limit = 1024 * 1024
    async with PrometheusClient(loopback(_endless), max_body_bytes=limit, timeout=20) as client:
        started = time.monotonic()
        with pytest.raises(PromMalformed) as info:
            await client.query("up")
        assert client.stats.bytes <= limit + 256 * 1024  # read no further than a chunk past it
    assert info.value.reason == "malformed response: body over 1 MiB"
    assert time.monotonic() - started < 10


async def test_declared_huge_body_is_refused_before_reading(loopback: Callable[..., str]) -> None:
    def declared(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(64 * 1024 * 1024))
        h.end_headers()
        h.wfile.write(b"{" * 1024)

    async with PrometheusClient(loopback(declared), max_body_bytes=1024 * 1024) as client:
        with pytest.raises(PromMalformed):
            await client.query("up")
        assert client.stats.bytes == 0


async def test_slow_server_times_out(loopback: Callable[..., str]) -> None:
    release = threading.Event()

    def slow(h: BaseHTTPRequestHandler) -> None:
        release.wait(5)
        _reply(h, 200, json.dumps(ok({"resultType": "vector", "result": []})).encode())

    try:
        async with PrometheusClient(loopback(slow), timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(PromTimeout) as info:
                await client.query("up")
        assert info.value.reason == "timeout"
        assert time.monotonic() - started < 2
    finally:
        release.set()


async def test_trickling_server_times_out_on_the_whole_request(
    loopback: Callable[..., str],
) -> None:
    stop = threading.Event()

    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        while not stop.is_set():  # each byte well inside a read timeout, the whole never done
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.05)

    try:
        async with PrometheusClient(loopback(trickle), timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(PromTimeout):
                await client.query("up")
        assert time.monotonic() - started < 2
    finally:
        stop.set()


async def test_closed_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    async with PrometheusClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(PromUnreachable) as info:
            await client.query("up")
        assert await client.ready() is False
    assert info.value.reason == "unreachable"
