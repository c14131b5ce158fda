"""Secrets stay secret: scrubbed from every error of every source, never inline in the config,
never sent to another origin by a redirect, read only from small regular files (or the
environment), and a file that others can read is named in a warning."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gputop.config import ConfigError, load_config
from gputop.sources.alertmanager import AlertmanagerClient
from gputop.sources.amtypes import AmError
from gputop.sources.prometheus import PromError, PrometheusClient
from tests.support.cli import run_gputop
from tests.support.hostile_server import Answer, HostileServer

TOKEN = "tok-8f3a9c1d2e7b"
AM_TOKEN = "amtok-51c9e2aa7f"
API_KEY = "key-0c4d1e9f88aa"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """A second server on another port: another origin."""
    with HostileServer() as srv:
        yield srv


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


# ---- scrubbed from every error ------------------------------------------------------------------


async def test_a_prometheus_api_error_never_shows_the_token(server: HostileServer) -> None:
    said = {"status": "error", "errorType": "bad_data", "error": f"rejected Bearer {TOKEN}"}
    server.answer("/api/v1/query", Answer(400, json.dumps(said).encode()))
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": API_KEY}
    async with PrometheusClient(server.url, headers=headers) as client:
        with pytest.raises(PromError) as caught:
            await client.query("up")
        server.answer("/api/v1/query", Answer(502, f"bad key {API_KEY}".encode(), "text/plain"))
        with pytest.raises(PromError) as echoed:
            await client.query("up")
    assert "rejected ***" in caught.value.reason
    for reason in (caught.value.reason, echoed.value.reason, str(caught.value)):
        assert TOKEN not in reason and API_KEY not in reason
    assert "bad key ***" in echoed.value.reason


async def test_an_alertmanager_error_body_never_shows_the_token(server: HostileServer) -> None:
    body = f"rejected credentials Bearer {AM_TOKEN} for user alice:{API_KEY}".encode()
    server.answer("/api/v2/", Answer(502, body, "text/plain"))
    client = AlertmanagerClient(server.url, headers={"Authorization": f"Bearer {AM_TOKEN}"})
    try:
        with pytest.raises(AmError) as caught:
            await client.view(0.0)
    finally:
        await client.aclose()
    assert "rejected credentials ***" in caught.value.reason
    assert AM_TOKEN not in caught.value.reason
    client = AlertmanagerClient(server.url, auth=("alice", API_KEY))
    try:
        with pytest.raises(AmError) as caught:
            await client.view(0.0)
    finally:
        await client.aclose()
    assert API_KEY not in caught.value.reason


def test_once_json_and_text_never_show_alertmanager_s_token(
    server: HostileServer, tmp_path: Path
) -> None:
    server.answer("/api/v2/", Answer(502, f"rejected credentials Bearer {AM_TOKEN}".encode()))
    token = _private(tmp_path / "am-token", AM_TOKEN + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[prometheus]\nurl = "{server.url}"\n'
        f'[alertmanager]\nurl = "{server.url}"\nbearer_token_file = "{token}"\n'
    )
    for extra in (["--json"], []):
        out = run_gputop(tmp_path, "--once", "--demo", "--config", str(config), *extra)
        assert out.returncode == 0, out.stderr
        assert AM_TOKEN not in out.stdout + out.stderr
        assert "rejected credentials ***" in out.stdout
        if extra:
            reason = json.loads(out.stdout)["sources"]["alertmanager"]["reason"]
            assert reason == "HTTP 502 rejected credentials ***"


def test_rules_backtest_never_shows_the_token(server: HostileServer, tmp_path: Path) -> None:
    token = _private(tmp_path / "token", TOKEN + "\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[prometheus]\nurl = "{server.url}"\nbearer_token_file = "{token}"\n')
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up > 1\n")
    backtest = ("rules", "backtest", str(rules), "--config", str(config), "--range", "10m")
    said = {"status": "error", "errorType": "bad_data", "error": f"rejected Bearer {TOKEN}"}
    server.answer("/api/v1/query_range", Answer(400, json.dumps(said).encode()))
    out = run_gputop(tmp_path, *backtest, "--format", "json")
    assert out.returncode == 2, out.stderr  # the rule could not be replayed: it says why
    assert TOKEN not in out.stdout + out.stderr
    assert "rejected ***" in json.loads(out.stdout)["rules"][0]["error"]
    server.answer("/api/v1/query_range", Answer(502, f"bad token {TOKEN}".encode(), "text/plain"))
    out = run_gputop(tmp_path, *backtest)
    assert out.returncode == 2 and TOKEN not in out.stdout + out.stderr
    assert "bad token ***" in out.stderr


# ---- credential headers: never inline -----------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["X-Api-Key", "Cookie", "X-Auth-Token", "Authorization", "My-Secret", "Api-Key"]
)
def test_credential_headers_are_refused_inline(tmp_path: Path, name: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[prometheus]\nurl = "http://a:9090"\nheaders = {{ "{name}" = "v" }}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).startswith(f"{path}:3: [prometheus] headers.{name}: ")
    assert "header_files" in str(caught.value) and "header_env" in str(caught.value)


def test_credential_headers_come_from_a_file_or_the_environment(tmp_path: Path) -> None:
    key = _private(tmp_path / "api-key", API_KEY + "\n")
    path = tmp_path / "config.toml"
    path.write_text(
        '[prometheus]\nurl = "http://a:9090"\nheaders = { "X-Scope-OrgID" = "team-a" }\n'
        f'header_files = {{ "X-Api-Key" = "{key}" }}\n'
        '[alertmanager]\nurl = "http://b:9093"\nheader_env = { "Cookie" = "AM_COOKIE" }\n'
    )
    config = load_config(path, env={"AM_COOKIE": "session=abcd1234"})
    assert config.prometheus is not None and config.alertmanager is not None
    assert config.prometheus.headers() == {"X-Scope-OrgID": "team-a", "X-Api-Key": API_KEY}
    assert config.alertmanager.headers() == {"Cookie": "session=abcd1234"}
    assert API_KEY not in repr(config) and "abcd1234" not in repr(config)
    assert config.warnings == ()
    with pytest.raises(ConfigError, match="environment variable AM_COOKIE is not set"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("é", "printable ASCII"),
        ("a\u0000b", "printable ASCII"),
        ("a\u001b]0;x", "printable ASCII"),
        (f"Bearer {TOKEN}", "looks like a credential"),
    ],
)
def test_header_values_must_be_printable_ascii(tmp_path: Path, value: str, problem: str) -> None:
    path = tmp_path / "config.toml"
    escaped = json.dumps(value)  # a TOML basic string reads JSON's escapes
    path.write_text(f'[prometheus]\nurl = "http://a:9090"\nheaders = {{ "X-A" = {escaped} }}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert problem in str(caught.value) and "\n" not in str(caught.value)


# ---- never to another origin ---------------------------------------------------------------------


def _redirect(server: HostileServer, path: str, to: str) -> None:
    server.answer(path, Answer(302, b"", "text/plain", {"Location": to}))


def _credentials_seen(server: HostileServer, path: str) -> list[dict[str, str]]:
    return [
        {k.lower(): v for k, v in r.headers.items() if k.lower() in _CREDENTIAL_NAMES}
        for r in server.seen(path)
    ]


_CREDENTIAL_NAMES = ("authorization", "x-api-key", "cookie", "x-scope-orgid")


async def test_no_configured_header_or_credential_follows_a_redirect_elsewhere(
    server: HostileServer, elsewhere: HostileServer
) -> None:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "X-Api-Key": API_KEY,
        "Cookie": f"s={API_KEY}",
        "X-Scope-OrgID": "team-a",
    }
    _redirect(server, "/api/v1/query", f"{elsewhere.url}/api/v1/query")
    async with PrometheusClient(server.url, headers=headers) as client:
        await client.query("up")  # the other origin answers, without credentials
    assert _credentials_seen(server, "/api/v1/query") == [
        {k.lower(): v for k, v in headers.items()}
    ]
    assert _credentials_seen(elsewhere, "/api/v1/query") == [{}]

    _redirect(server, "/api/v2/alerts", f"{elsewhere.url}/api/v2/alerts")
    alertmanager = AlertmanagerClient(server.url, headers=headers)
    try:
        await alertmanager.view(0.0)
    finally:
        await alertmanager.aclose()
    assert _credentials_seen(elsewhere, "/api/v2/alerts") == [{}]


async def test_basic_auth_does_not_follow_a_redirect_elsewhere_but_does_at_home(
    server: HostileServer, elsewhere: HostileServer
) -> None:
    _redirect(server, "/api/v1/rules", f"{server.url}/moved/api/v1/rules")  # same origin
    _redirect(server, "/api/v1/alerts", f"{elsewhere.url}/api/v1/alerts")
    async with PrometheusClient(server.url, auth=("alice", API_KEY)) as client:
        await client.rules()
        await client.alerts()
    assert [set(c) for c in _credentials_seen(server, "/moved/api/v1/rules")] == [{"authorization"}]
    assert _credentials_seen(elsewhere, "/api/v1/alerts") == [{}]


# ---- token files ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "big", "directory", "nul"])
def test_a_token_file_must_be_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        target = tmp_path / "fifo"
        os.mkfifo(target)
    elif kind == "big":
        target = _private(tmp_path / "big", "x" * (64 * 1024 + 1))
    elif kind == "directory":
        target = tmp_path
    elif kind == "nul":
        target = _private(tmp_path / "nul", "a\x00b\n")
    else:
        target = Path(kind)
    config = tmp_path / "config.toml"
    config.write_text(f'[prometheus]\nurl = "http://127.0.0.1:9"\nbearer_token_file = "{target}"\n')
    started = time.monotonic()
    out = run_gputop(tmp_path, "--once", "--demo", "--config", str(config), timeout=20)
    assert time.monotonic() - started < 15
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{config}:3:" in lines[0], out.stderr
    assert "bearer token file" in lines[0] and "Traceback" not in out.stderr


def test_a_token_file_that_others_can_read_is_named_in_a_warning(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o644)
    path = tmp_path / "config.toml"
    path.write_text(f'[prometheus]\nurl = "http://a:9090"\nbearer_token_file = "{token}"\n')
    config = load_config(path, env={})
    assert len(config.warnings) == 1 and str(token) in config.warnings[0]
    assert "chmod 600" in config.warnings[0] and TOKEN not in config.warnings[0]
    out = run_gputop(tmp_path, "--once", "--demo", "--config", str(path))
    assert f"gputop: warning: bearer token file {token} is readable" in out.stderr
    token.chmod(0o600)
    assert load_config(path, env={}).warnings == ()
    token.chmod(0o640)
    assert load_config(path, env={}).warnings != ()
