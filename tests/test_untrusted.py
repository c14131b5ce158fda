"""The one door for outside text: controls made visible, markup never parsed; secrets and
credential headers; times dated when they are not today's."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from gputop.core.secrecy import is_credential_header, scrub, secret_forms
from gputop.core.units import format_clock, format_duration, format_since
from gputop.core.untrusted import MAX_REASON_CHARS, UNSAFE, escaped, one_line, visible
from gputop.rules.model import RuleStatus
from gputop.rules.text import rule_detail, rule_detail_short
from gputop.sources.amtypes import Matcher, parse_matchers
from gputop.ui.safetext import assemble, plain, plain_lines


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain words", "plain words"),
        ("\x1b]52;c;eA==\x1b\\", "␛]52;c;eA==␛\\"),
        ("bell\x07", "bell␇"),
        ("a\nb\tc\rd\x00", "a␊b␉c␍d␀"),
        ("del\x7f", "del␡"),
        ("csi\x9b31m", "csi\\x9b31m"),
        ("\u202eevil\u2066x\u2069", "\\u202eevil\\u2066x\\u2069"),
        ("byte \udcff", "byte \\xff"),
        ("[bold red]FAKE[/] é 漢 🙂", "[bold red]FAKE[/] é 漢 🙂"),
    ],
)
def test_visible_shows_every_control_as_what_it_is(text: str, shown: str) -> None:
    assert visible(text) == shown


@given(st.text())
def test_visible_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    shown = visible(text)
    assert not UNSAFE.search(shown)
    assert visible(shown) == shown  # once is enough
    assert not UNSAFE.search(escaped(text))
    shown.encode("utf-8")  # no lone surrogate left to fail the terminal's encoder


def test_text_without_controls_is_the_same_object() -> None:
    text = "GPUHot · GPU 3 @ node-1"
    assert visible(text) is text and escaped(text) is text


def test_one_line_is_short_single_and_visible() -> None:
    line = one_line("HTTP 500:\n  upstream\terror \x1b[2J" + "x" * 1000)
    assert line.startswith("HTTP 500: upstream error ␛[2J")
    assert len(line) == MAX_REASON_CHARS and line.endswith("…")
    assert "\n" not in line


@given(st.text())
def test_matchers_write_controls_as_escapes_and_read_them_back(value: str) -> None:
    matcher = Matcher("Hostname", value)
    text = str(matcher)
    assert not UNSAFE.search(text)
    if any(m.matches({}) for m in (matcher,)):
        return  # a matcher of the empty value alone is refused by design
    assert parse_matchers(text) == (matcher,)


def test_rich_text_from_outside_is_never_markup() -> None:
    console = Console(width=200, record=True, force_terminal=True, color_system="truecolor")
    shown = assemble("GPU 3 · ", ("[bold red]FAKE[/] [@click=app.quit]x[/]\x1b]0;t\x07", "bold"))
    console.print(shown, plain("[/]\x9b"), plain_lines(["a\nb", "c"]))
    out = console.export_text(styles=False)
    assert "[bold red]FAKE[/] [@click=app.quit]x[/]␛]0;t␇" in out
    assert "[/]\\x9b" in out and "a␊b\nc" in out
    assert all(not span.style or "@click" not in str(span.style) for span in shown.spans)


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("X-Amz-Security-Token", True),
        ("My-Secret", True),
        ("Api-Key", True),
        ("X-Scope-OrgID", False),
        ("X-Grafana-Org-Id", False),
        ("Accept", False),
    ],
)
def test_credential_header_names(name: str, credential: bool) -> None:
    assert is_credential_header(name) is credential


def test_scrub_replaces_each_form_of_a_secret() -> None:
    forms = secret_forms("Bearer abc/123+x")
    text = "got Bearer abc/123+x, then abc/123+x, then abc%2F123%2Bx"
    assert scrub(text, forms) == "got ***, then ***, then ***"
    assert scrub("ab ab", ["ab"]) == "ab ab"  # too short to scrub without garbling


def test_times_not_on_today_carry_their_date(utc: None) -> None:
    now = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC
    assert format_clock(now - 3600, now) == "11:00:00"
    assert format_clock(now - 2 * 86400 - 3600, now) == "12-30 11:00:00"
    assert format_clock(now + 86400, now, seconds=False) == "01-02 12:00"
    assert format_since(now - 2 * 86400, now) == "12-30 12:00:00 (2d)"
    assert format_clock(1e300, now) == "?" and format_duration(float("inf")) == "∞"
    firing = RuleStatus(
        name="GPUHot", state="firing", value=91.0, op=">", threshold=85.0,
        active_at=now - 2 * 86400 - 60, for_s=60.0,
    )  # fmt: skip
    assert rule_detail(firing, now) == "91 vs > 85  firing since 12-30 12:00:00"
    assert rule_detail_short(firing, now) == "91 vs > 85 since 12-30 12:00:00"
    today = RuleStatus(
        name="GPUHot", state="firing", value=91.0, op=">", threshold=85.0,
        active_at=now - 660, for_s=60.0,
    )  # fmt: skip
    assert rule_detail(today, now).endswith("firing since 11:50:00")
