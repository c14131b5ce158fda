"""Alertmanager's API as gputop reads it: matchers, parsing, typed errors, polling, fates.

The client is driven through `httpx.MockTransport`; the real server is in
tests/test_alertmanager_real.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import SourceStatus
from gputop.rules.fate import Fates, fate_of, silence_labels, with_fates
from gputop.rules.model import RuleStatus
from gputop.rules.text import fate_text
from gputop.sources.alertmanager import (
    AlertmanagerClient,
    AlertmanagerSource,
    AmHTTPError,
    AmTimeout,
    AmUnreachable,
)
from gputop.sources.amstatus import parse_group_wait
from gputop.sources.amtypes import (
    AmAlert,
    AmError,
    AmMalformed,
    AmSilence,
    AmView,
    Matcher,
    format_matchers,
    parse_alerts,
    parse_matchers,
    parse_silences,
)

TOKEN = "s3cr3t-am-token"

Handler = Callable[[httpx.Request], httpx.Response]


# ---- matchers -----------------------------------------------------------------------------


def test_matchers_read_and_write_alertmanagers_syntax() -> None:
    matchers = parse_matchers('alertname="GPUHot", gpu=~"3|4", Hostname!="n1", job!~"x.*"')
    assert [(m.name, m.op, m.value) for m in matchers] == [
        ("alertname", "=", "GPUHot"),
        ("gpu", "=~", "3|4"),
        ("Hostname", "!=", "n1"),
        ("job", "!~", "x.*"),
    ]
    assert parse_matchers(format_matchers(matchers)) == matchers
    assert parse_matchers('{a="q\\"uote"}')[0].value == 'q"uote'
    assert str(Matcher("a", 'q"uote')) == 'a="q\\"uote"'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "at least one matcher"),
        ('gpu=~"("', "not a regular expression"),
        ("gpu", "cannot read matcher"),
        ('job!="x"', "would match every alert"),
        ('a="1" b="2"', "cannot read matcher"),
    ],
)
def test_bad_matchers_say_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_matchers(text)


def test_matching_is_alertmanagers_full_match_with_missing_labels_empty() -> None:
    labels = {"alertname": "GPUHot", "gpu": "13"}
    assert Matcher("gpu", "1|13", is_regex=True).matches(labels)
    assert not Matcher("gpu", "1", is_regex=True).matches(labels)  # anchored
    assert Matcher("pod", "", is_regex=False).matches(labels)  # absent reads as ""
    assert Matcher("gpu", "3", is_equal=False).matches(labels)


# ---- parsing ------------------------------------------------------------------------------


def test_alerts_and_silences_parse_and_bad_shapes_are_malformed() -> None:
    alerts = parse_alerts(
        [
            {
                "labels": {"alertname": "A"},
                "fingerprint": "f1",
                "receivers": [{"name": "pager"}],
                "startsAt": "2026-01-01T11:00:00.123456789Z",
                "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []},
            }
        ]
    )
    assert alerts[0].receivers == ("pager",) and alerts[0].silenced_by == ("s1",)
    assert alerts[0].starts_at == pytest.approx(1767265200.123456789)
    silences = parse_silences(
        [
            {"id": "old", "status": {"state": "expired"}, "matchers": [], "startsAt": None},
            {
                "id": "new",
                "status": {"state": "active"},
                "matchers": [{"name": "a", "value": "b", "isRegex": True, "isEqual": False}],
                "createdBy": "bob",
                "comment": "c",
                "startsAt": "2026-01-01T11:00:00Z",
                "endsAt": "2026-01-01T12:00:00Z",
            },
        ]
    )
    assert [s.id for s in silences] == ["new", "old"]  # newest first
    assert silences[0].matchers == (Matcher("a", "b", is_regex=True, is_equal=False),)
    odd: list[object] = [{"alerts": []}, [{"status": {"state": "odd"}}], [{"receivers": "x"}]]
    for bad in odd:
        with pytest.raises(AmMalformed):
            parse_alerts(bad)
    with pytest.raises(AmMalformed, match="not RFC 3339"):
        parse_silences([{"id": "x", "status": {"state": "active"}, "startsAt": "yesterday"}])


def test_group_wait_comes_from_the_routing_tree_with_alertmanagers_default() -> None:
    assert parse_group_wait({"config": {"original": "route:\n  group_wait: 1m30s\n"}}) == 90
    assert parse_group_wait({"config": {"original": "route:\n  receiver: x\n"}}) == 30
    with pytest.raises(AmMalformed):
        parse_group_wait({"config": {}})


# ---- the client: typed errors, no secret anywhere ----------------------------------------


def _client(handler: Handler, **kwargs: Any) -> AlertmanagerClient:
    return AlertmanagerClient(
        "http://am.test:9093/prefix",
        headers={"Authorization": f"Bearer {TOKEN}"},
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "error", "reason"),
    [
        (_raise(httpx.ConnectError("refused")), AmUnreachable, "unreachable"),
        (_raise(httpx.ReadTimeout("slow")), AmTimeout, "timeout"),
        (lambda r: httpx.Response(401), AmHTTPError, "HTTP 401 unauthorized: check the creden"),
        (
            lambda r: httpx.Response(422, json={"code": 612, "message": "bad matchers"}),
            AmHTTPError,
            "HTTP 422 bad matchers",
        ),
        (lambda r: httpx.Response(500, text="<html>oops</html>"), AmHTTPError, "HTTP 500 Int"),
        (lambda r: httpx.Response(200, text="<html>a web page</html>"), AmMalformed, "not JSON"),
        (lambda r: httpx.Response(200, json={"alerts": []}), AmMalformed, "not a list"),
    ],
)
async def test_every_failure_is_one_typed_line_without_the_token(
    handler: Handler, error: type[AmError], reason: str
) -> None:
    client = _client(handler)
    with pytest.raises(error) as caught:
        await client.view(0.0)
    await client.aclose()
    assert caught.value.reason.startswith(reason) or reason in caught.value.reason
    assert "\n" not in caught.value.reason
    assert TOKEN not in caught.value.reason and TOKEN not in repr(client)


NEW_SILENCE_ID = "0f5a1c2e-9d3b-4e7a-8c6f-5b4a3d2e1f00"


async def test_writes_go_to_the_api_under_the_path_prefix() -> None:
    seen: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if request.method == "POST":
            return httpx.Response(200, json={"silenceID": NEW_SILENCE_ID})
        return httpx.Response(200)

    client = _client(handler)
    source = AlertmanagerSource(client, FakeClock(1767268800.0))
    silence_id = await source.create_silence(
        (Matcher("alertname", "A"),),
        starts_at=1767268800.0,
        ends_at=1767268800.0 + 3600,
        created_by="alice@ops",
        comment="why",
    )
    await source.expire_silence(silence_id)
    await client.aclose()
    assert seen == [
        (
            "POST",
            "/prefix/api/v2/silences",
            {
                "matchers": [
                    {"name": "alertname", "value": "A", "isRegex": False, "isEqual": True}
                ],
                "startsAt": "2026-01-01T12:00:00.000Z",
                "endsAt": "2026-01-01T13:00:00.000Z",
                "createdBy": "alice@ops",
                "comment": "why",
            },
        ),
        ("DELETE", f"/prefix/api/v2/silence/{NEW_SILENCE_ID}", None),
    ]


async def test_the_source_keeps_its_last_view_through_an_outage_and_backs_off() -> None:
    down = False
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if down:
            raise httpx.ConnectError("refused")
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"config": {"original": "route: {}\n"}})
        return httpx.Response(200, json=[])

    clock = FakeClock(1000.0)
    source = AlertmanagerSource(_client(handler), clock, period_s=5.0)
    await source.refresh()
    assert source.state.ok and source.view is not None and source.version == 1
    view = source.view
    clock.advance(2.0)
    await source.refresh()  # not due
    assert source.version == 1
    down = True
    clock.advance(3.0)
    await source.refresh()
    state = source.state
    assert state.status is SourceStatus.ERROR and state.reason == "unreachable"
    assert state.last_ok == 1000.0 and state.retry_at == 1006.0
    assert source.view is view  # the last known truth stays
    before = calls
    clock.advance(0.5)
    await source.refresh()  # backing off: not asked
    assert calls == before
    down = False
    clock.advance(1.0)
    await source.refresh()
    # back, with the same answer: fresh again, and nothing new for the rows to work out
    assert source.state.ok and source.view is not view and source.version == 1
    await source.aclose()


# ---- fates --------------------------------------------------------------------------------

NOW = 1767268800.0  # 12:00 UTC
HOT = {"gpu": "3", "Hostname": "n1", "UUID": "GPU-3", "instance": "10.0.0.1:9400"}


def _status(state: str = "firing", **kw: Any) -> RuleStatus:
    return RuleStatus("GPUHot", state, labels=kw.pop("labels", HOT), **kw)  # type: ignore[arg-type]


def _alert(state: str = "active", **kw: Any) -> AmAlert:
    labels = {"alertname": "GPUHot", "severity": "critical", "replica": "a", **HOT}
    return AmAlert(labels=labels, fingerprint="fp-hot", state=state, **kw)  # type: ignore[arg-type]


SILENCE = AmSilence(
    "s1", "active", (Matcher("alertname", "GPUHot"),), "alice@ops", "", NOW - 60, NOW + 7200
)


def test_an_alert_routed_names_its_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    view = AmView(NOW, alerts=(_alert(receivers=("dingtalk-relay",)),))
    st = _status(alertmanager=fate_of(_status(), view, now=NOW))
    assert st.alertmanager is not None and st.alertmanager.state == "active"
    assert fate_text(st, NOW) == "→ dingtalk-relay"


def test_a_silenced_alert_says_by_whom_until_when(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    view = AmView(NOW, alerts=(_alert("suppressed", silenced_by=("s1",)),), silences=(SILENCE,))
    fate = fate_of(_status(), view, now=NOW)
    assert fate.as_json() == {
        "state": "suppressed",
        "silenced_by": ["s1"],
        "inhibited_by": [],
        "receivers": [],
        "stale": False,
        "stale_since": None,
    }
    assert fate_text(_status(alertmanager=fate), NOW) == "SILENCED by alice until 14:00 (2h)"
    # a pending row is not in Alertmanager, but the silence already covers it
    pending = fate_of(_status("pending"), AmView(NOW, silences=(SILENCE,)), now=NOW)
    assert pending.state is None and pending.silences[0][0] == "s1"


def test_an_inhibited_alert_names_the_inhibiting_alert() -> None:
    source = AmAlert({"alertname": "NodeDown"}, "fp-down", "active")
    view = AmView(NOW, alerts=(_alert("suppressed", inhibited_by=("fp-down",)), source))
    fate = fate_of(_status(), view, now=NOW)
    assert fate_text(_status(alertmanager=fate), NOW) == "INHIBITED by NodeDown"


def test_missing_only_after_group_wait_and_margin_and_only_from_a_working_poll() -> None:
    view = AmView(NOW, group_wait_s=30.0)
    firing = _status(active_at=NOW - 100.0, for_s=60.0)  # firing for 40 s
    assert fate_of(firing, view, now=NOW, margin_s=5.0).state == "missing"
    assert fate_of(firing, view, now=NOW, margin_s=15.0).state is None  # not yet
    assert fate_of(firing, view, now=NOW, margin_s=5.0, fresh=False).state is None
    local = _status(active_at=NOW - 100.0, source="local")  # gputop's own evaluation
    assert fate_of(local, view, now=NOW, margin_s=5.0).state is None
    other_gpu = AmView(NOW, alerts=(_alert(),), group_wait_s=30.0)
    moved = _status(active_at=NOW - 100.0, labels={**HOT, "gpu": "4"})
    assert fate_of(moved, other_gpu, now=NOW, margin_s=5.0).state == "missing"
    missing = _status(alertmanager=fate_of(firing, view, now=NOW, margin_s=5.0))
    assert fate_text(missing, NOW) == "NOT IN ALERTMANAGER"


def test_kept_fates_follow_the_time_and_the_view_as_worked_out_afresh() -> None:
    # thousands of rows keep their fates between polls; a firing alert Alertmanager does not
    # hold still turns "missing" on time, and a new view or new statuses count at once
    view = AmView(NOW, group_wait_s=30.0)
    statuses = [
        _status(active_at=NOW - 100.0, for_s=60.0),  # firing for 40 s: missing after 120 s
        _status("pending", active_at=NOW - 10.0, for_s=60.0),
        _status("ok", labels={**HOT, "gpu": "5"}),
    ]
    fates = Fates()
    for at in (NOW, NOW + 50.0, NOW + 81.0, NOW + 82.5):
        kept = fates.get(statuses, view, version=1, now=at, fresh=True)
        afresh = with_fates(statuses, view, now=at, fresh=True)
        assert kept == afresh, at
    assert kept[0].alertmanager is not None and kept[0].alertmanager.state == "missing"
    routed = AmView(NOW, alerts=(_alert(receivers=("pager",)),), group_wait_s=30.0)
    kept = fates.get(statuses, routed, version=2, now=NOW + 83.0, fresh=True)
    assert kept[0].alertmanager is not None and kept[0].alertmanager.receivers == ("pager",)
    failing = fates.get(statuses, routed, version=2, now=NOW + 84.0, fresh=False)
    assert all(st.alertmanager is not None and st.alertmanager.failing for st in failing)


def test_a_silence_of_a_row_matches_its_alertname_and_gpu_identity() -> None:
    assert silence_labels(_status()) == {
        "alertname": "GPUHot",
        "Hostname": "n1",
        "gpu": "3",
        "UUID": "GPU-3",
    }
    no_gpu = _status(labels={"job": "t2v", "instance": "a:1"})
    assert silence_labels(no_gpu) == {"alertname": "GPUHot", "instance": "a:1"}
    assert silence_labels(_status(labels={"job": "t2v"})) == {"alertname": "GPUHot", "job": "t2v"}


def test_rule_lines_and_json_without_alertmanager_are_unchanged() -> None:
    st = _status()
    assert st.as_json()["alertmanager"] is None
    assert fate_text(st, NOW) == ""


async def test_a_slow_alertmanager_is_a_timeout_not_a_hang() -> None:
    gate = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, json=[])

    client = AlertmanagerClient("http://am.test", transport=httpx.MockTransport(slow), timeout=0.2)
    source = AlertmanagerSource(client, FakeClock(0.0))
    await source.refresh()
    assert source.state.status is SourceStatus.ERROR and source.state.reason == "timeout"
    await client.aclose()


async def test_a_silence_id_that_is_not_a_uuid_is_never_sent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200)

    client = _client(handler)
    for hostile in ("../../../-/reload", "a/b", "", "5d8c1f3e-2b7a-4c1e-9f00-1234567890ab/../x"):
        with pytest.raises(AmError, match="not a UUID: nothing sent"):
            await client.expire_silence(hostile)
    assert seen == []
    await client.expire_silence(NEW_SILENCE_ID.upper())
    await client.aclose()
    assert seen == [f"/prefix/api/v2/silence/{NEW_SILENCE_ID}"]


def test_while_alertmanager_fails_every_row_it_touches_says_its_fate_is_unknown_and_how_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a live `→ receiver`: the last known fate, as of the last good poll, at every width
    (the rules panel's short form included)."""
    from gputop.rules.fate import with_fates
    from gputop.ui.views.rules import rule_row
    from gputop.ui.views.rules_lines import RuleColumns, row_line

    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    view = AmView(NOW - 45, alerts=(_alert(receivers=("null",)),), silences=(SILENCE,))
    firing = _status()
    silenced = _status("near", labels={**HOT, "gpu": "4"}, value=80.0, op=">", threshold=85.0)
    calm = RuleStatus("GPUCold", "ok", labels=HOT, value=40.0, op=">", threshold=85.0)
    shown = with_fates([firing, silenced, calm], view, now=NOW, fresh=False)
    assert all(s.alertmanager and s.alertmanager.failing for s in shown)
    assert [fate_text(s, NOW) for s in shown] == [
        "? ALERTMANAGER STALE 40s (was → null)",  # its age in steps of 10 s
        "? ALERTMANAGER STALE 40s (was SILENCED by alice until 14:00 (2h))",
        "",  # Alertmanager has no say about a calm row
    ]
    for width in (76, 96, 116):  # the rules panel at 80, 100 and 120 columns
        rows = [rule_row(s, (), now=NOW) for s in shown[:2]]
        cols = RuleColumns.fit(width, rows)
        for row in rows:
            line = "".join(t for t, _ in row_line(row, cols))
            assert "STALE 40s" in line and "→" not in line.split("STALE")[0], (width, line)
    never = with_fates([firing], None, now=NOW, fresh=False)
    assert fate_text(never[0], NOW) == "? ALERTMANAGER NOT READ YET"
    assert never[0].as_json()["alertmanager"]["stale"] is True  # type: ignore[index]


async def test_the_header_says_now_between_polls_not_5s_behind() -> None:
    from gputop.ui.views.readings import source_part

    clock = FakeClock(NOW)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"config": {"original": "route: {}"}})
        return httpx.Response(200, json=[])

    client = AlertmanagerClient("http://am.test", transport=httpx.MockTransport(handler))
    source = AlertmanagerSource(client, clock, period_s=5.0)
    words = set()
    for _ in range(12):  # polled every 5 s, looked at every second
        await source.refresh()
        words.add(source_part("alertmanager", source.state, clock.now()))
        clock.advance(1)
    assert source.state.ok and words == {("● alertmanager now", "status-bar--ok")}
    await client.aclose()


def test_the_alerts_screen_names_the_gpu_and_node_of_each_alert() -> None:
    from gputop.sources.amtypes import AmGroup
    from gputop.ui.views.alerts import ALERT_COLUMNS, alert_rows

    hot = _alert(receivers=("dingtalk-relay",))
    node = AmAlert({"alertname": "NodeDown", "instance": "10.0.0.2:9100"}, "fp-down", "active")
    view = AmView(NOW, alerts=(hot, node), groups=(AmGroup({}, "dingtalk-relay", (hot, node)),))
    where = [
        dict(zip((k for k, _ in ALERT_COLUMNS), r.cells, strict=True)) for r in alert_rows(view)
    ]
    assert [(w["alert"], w["where"]) for w in where] == [
        ("GPUHot", "GPU 3 @ n1"),
        ("NodeDown", "10.0.0.2:9100"),
    ]
    assert "gpu=" not in where[0]["labels"] and "Hostname=" not in where[0]["labels"]


async def test_the_alerts_screen_shows_where_on_screen() -> None:
    from gputop.ui.app import GpuTopApp
    from tests.support.guarded import FakeAlertmanager, with_alertmanager
    from tests.support.ui import build_monitor, screen_lines

    app = GpuTopApp(with_alertmanager(build_monitor(), FakeAlertmanager()), poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.monitor.refresh_alertmanager()
        await pilot.press("a")
        await pilot.pause()
        text = "\n".join(screen_lines(app))
    assert "GPU @ NODE" in text and "GPU 3 @ demo-node" in text, text


def test_an_unknown_row_keeps_its_reason_while_alertmanager_fails() -> None:
    from gputop.rules.fate import with_fates
    from gputop.ui.views.rules import rule_row

    view = AmView(NOW - 45, alerts=(_alert(receivers=("null",)),))
    unknown = RuleStatus(
        "GPUHot", "unknown", reason="no data: DCGM_FI_DEV_GPU_TEMP{} returned no series"
    )
    (row,) = [rule_row(s, (), now=NOW) for s in with_fates([unknown], view, now=NOW, fresh=False)]
    assert row.title.endswith("— no data: DCGM_FI_DEV_GPU_TEMP{} returned no series"), row.title
