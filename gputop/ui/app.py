"""The Textual application: owns the polling, hands the monitor's views to the screens."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import threading
import time
from collections.abc import Callable, Sequence

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.driver import Driver

from gputop.core.units import format_age
from gputop.monitor import OVERVIEW_MAX, Monitor
from gputop.rules.model import RuleStatus
from gputop.rules.text import rule_detail, rule_title, series_name
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.view import (
    DEFAULT_WINDOW_S,
    RULE_SPARK_BUCKET_S,
    bucket_means,
    rule_metric,
    status_matches_gpu,
)
from gputop.ui.widgets.rules_panel import RuleRow, RulesPanel
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["RULES_SHOWN_S", "GpuTopApp", "run_dashboard"]

#: How often rule values (not states) refresh on screen.
RULES_SHOWN_S = 5.0


class GpuTopApp(App[int]):
    TITLE = "gputop"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "processes", "Processes"),
        Binding("f", "fleet", "Fleet"),
        # without Prometheus `f` still opens the fleet, which says what it needs, unlisted
        Binding("f", "fleet('unlisted')", "Fleet", show=False),
    ]

    def __init__(
        self,
        monitor: Monitor,
        *,
        interval: float = 1.0,
        window_s: float = DEFAULT_WINDOW_S,
        poll: bool = True,
        notify_firing: bool = False,
        kiosk_page_s: float | None = None,
        load_rules: Callable[[], None] | None = None,
    ) -> None:
        theme = os.environ.get("GPUTOP_THEME", "ansi-dark")
        # decided before the theme is set: NO_COLOR must keep the terminal's own colours
        super().__init__(ansi_color=True if theme.startswith("ansi") else None)
        self.theme = theme
        self.monitor = monitor
        self.interval = interval
        self.window_s = window_s
        self._poll = poll
        self._notify_firing = notify_firing
        self._kiosk_page_s = kiosk_page_s  # kiosk: pages cycle by themselves
        self._kiosk_page = 0
        self._firing: set[tuple[str, tuple[tuple[str, str], ...]]] | None = None
        self._rule_spark_epoch = -1
        self._shown: list[RuleStatus] = []
        self._shown_states: Sequence[object] = ()
        self._shown_at = -math.inf
        self._rule_sparks: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, ...]] = {}
        self._load_rules = load_rules  # the first frame needs no rules: they load just after it
        self._stop = threading.Event()

    def get_driver_class(self) -> type[Driver]:
        """Textual's own driver, but on Linux one that sends only the cells that changed."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from gputop.ui.term.driver import ShadowDriver, shadow_enabled

            if shadow_enabled():
                return ShadowDriver
        return driver

    def get_default_screen(self) -> OverviewScreen:
        return OverviewScreen()  # the overview is the first and only full paint at start

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_frame)
        if self._kiosk_page_s:
            self.set_interval(self._kiosk_page_s, self.next_kiosk_page)

    def _after_first_frame(self) -> None:
        """What the first frame does without (the rules, the polling), then the collector."""
        load, self._load_rules = self._load_rules, None
        if load is not None:
            load()
            self.monitor.evaluate_rules()
            self.refresh_screen()
        if self._poll:  # the first reading is on screen: the next is one interval away
            if self.monitor.local is not None or self.monitor.remote is None:
                self.poll_local()
            if self.monitor.remote is not None:
                self.run_worker(self._poll_remote(), exclusive=True, group="remote")
        _settle_gc()

    async def on_unmount(self) -> None:
        self._stop.set()
        await self.monitor.aclose()

    # ---- polling -------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="local")
    def poll_local(self) -> None:
        """Read the local source once per interval; the next read starts when the last ends."""
        while not self._stop.wait(self._delay()):
            result = self.monitor.read_local()
            if self._stop.is_set():
                return
            self.call_from_thread(self.apply_local, result)

    def _delay(self) -> float:
        now = self.monitor.clock.now()
        return self.interval - (now % self.interval)  # ticks aligned to the interval

    def apply_local(self, result: object) -> None:
        self.monitor.ingest(result)  # type: ignore[arg-type]
        self.refresh_screen()

    async def _poll_remote(self) -> None:
        """Refresh Prometheus once per interval; the next refresh starts when the last ends."""
        fleet_checked = False
        while not self._stop.is_set():
            await self.monitor.refresh_remote()
            if not fleet_checked and self.monitor.state("prometheus").ok:
                fleet_checked = True
                self._open_fleet_if_no_local_gpus()
            self.refresh_screen()
            await asyncio.sleep(self._delay())

    def _open_fleet_if_no_local_gpus(self) -> None:
        """A fleet larger than the overview shows, and no GPU here: start on the fleet."""
        monitor = self.monitor
        local = monitor.latest is not None and bool(monitor.latest.gpus)
        if not local and len(monitor.gpus()) > OVERVIEW_MAX and len(self.screen_stack) == 1:
            self.action_fleet()

    def refresh_screen(self) -> None:
        refresh = getattr(self.screen, "refresh_view", None)
        if refresh is not None:
            # a screen just pushed is not composed yet: it fills itself on mount
            with contextlib.suppress(NoMatches):
                refresh()

    # ---- views the screens ask for -----------------------------------------------

    def update_status(self, bar: StatusBar) -> None:
        """The header of every screen: the clock, then the sources' states."""
        now = self.monitor.clock.now()
        bar.set_parts(self.status_parts(), time.strftime("%H:%M:%S", time.localtime(now)))

    def status_parts(self) -> list[tuple[str, str]]:
        monitor = self.monitor
        snap = monitor.latest
        parts: list[tuple[str, str]] = [("gputop", "status-bar--title")]
        host = snap.host if snap else monitor.host
        versions = []
        if snap and snap.driver_version:
            versions.append(f"driver {snap.driver_version}")
        if snap and snap.cuda_version:
            versions.append(f"CUDA {snap.cuda_version}")
        parts.append((" ".join([host, *versions]), "status-bar--off"))
        now = monitor.clock.now()
        for name, state in monitor.states().items():
            if state.status.value == "off":
                continue
            age = None if state.last_ok is None else now - state.last_ok
            if state.ok:
                parts.append((f"● {name} {format_age(age)}", "status-bar--ok"))
            elif (
                state.status.value == "unavailable"
                and name != "prometheus"
                and self.monitor.remote is not None
            ):
                parts.append((f"✖ {name} unavailable", "status-bar--off"))  # Prometheus stands in
            else:
                stale = f", stale {format_age(age)}" if state.last_ok is not None else ""
                parts.append((f"✖ {name}: {state.reason}{stale}", "status-bar--bad"))
        return parts

    def shown_statuses(self) -> list[RuleStatus]:
        """The rule statuses on screen: a rule that starts or stops pending or firing shows at
        once; values, and near/ok, every few seconds (noisy values flapping around a margin
        would otherwise repaint the rules panel and the cards every tick)."""
        statuses = self.monitor.rule_statuses()
        now = self.monitor.clock.now()
        states = [
            (st.name, st.labels, st.state) for st in statuses if st.state in ("pending", "firing")
        ]
        if states != self._shown_states or now - self._shown_at >= RULES_SHOWN_S:
            self._shown, self._shown_states, self._shown_at = statuses, states, now
        return self._shown

    def refresh_rules(self, panel: RulesPanel) -> None:
        """Fill the rules panel and ring the bell for rules that start firing."""
        monitor = self.monitor
        engine = monitor.rules
        self._notify_new_firing(monitor.rule_statuses())
        statuses = self.shown_statuses()
        if engine is None:
            panel.set_note("loading rules…" if self._load_rules else "no rules")
            return
        if engine.error is not None:
            panel.set_note(f"Prometheus rules unavailable: {engine.error}")
            return
        if not statuses:
            panel.set_note(
                "waiting for the first evaluation" if engine.rules or monitor.remote else "no rules"
            )
            return
        now = monitor.clock.now()
        epoch = int(now // RULE_SPARK_BUCKET_S)
        if epoch != self._rule_spark_epoch:  # rule histories shift once per bucket, like sparks
            self._rule_spark_epoch = epoch
            self._rule_sparks = {
                (st.name, tuple(sorted(st.labels.items()))): bucket_means(
                    st.history, RULE_SPARK_BUCKET_S
                )
                for st in statuses
            }
        rows = tuple(
            RuleRow(
                st.state,
                # an unknown rule's reason can be long: it gets the wide column
                f"{rule_title(st)} — {rule_detail(st)}"
                if st.state == "unknown"
                else rule_title(st),
                "" if st.state == "unknown" else rule_detail(st),
                self._rule_sparks.get((st.name, tuple(sorted(st.labels.items()))), ()),
                st.threshold,
            )
            for st in statuses
        )
        # near comes and goes with noisy values: the border (a whole repaint) counts only these
        counts = {
            state: sum(1 for st in statuses if st.state == state) for state in ("firing", "pending")
        }
        summary = " ".join(f"{n} {state}" for state, n in counts.items() if n) or "none firing"
        where = engine.origin if monitor.remote is None else "Prometheus"
        panel.set_rows(rows, subtitle=f"{summary} · {where}")

    def _notify_new_firing(self, statuses: list[RuleStatus]) -> None:
        firing = {
            (st.name, tuple(sorted(st.labels.items()))) for st in statuses if st.state == "firing"
        }
        new = firing - self._firing if self._firing is not None else set()
        self._firing = firing
        if not new or not self._notify_firing:
            return
        self.bell()
        for name, labels in sorted(new):
            body = f"{name} firing: {series_name(dict(labels))}"
            self.notify(body, severity="error", timeout=10)
            driver = self._driver
            if driver is not None:  # OSC 777: a desktop notification that passes through SSH
                driver.write(f"\x1b]777;notify;gputop;{_osc_safe(body)}\x07")

    def thresholds(self, gpu_key: str, metric_key: str) -> list[tuple[str, float]]:
        """(rule, threshold) lines to draw on a GPU's metric chart."""
        gpu = next((g for g in self.monitor.gpus() if g.key == gpu_key), None)
        out: dict[str, float] = {}
        for st in self.monitor.rule_statuses():
            mapped = rule_metric(st.query)
            if mapped is None or st.threshold is None or mapped[0] != metric_key:
                continue
            if st.labels and gpu is not None and not status_matches_gpu(st.labels, gpu):
                continue
            out[st.name] = st.threshold / mapped[1]
        return sorted(out.items(), key=lambda item: item[1])

    # ---- actions -------------------------------------------------------------------

    def open_detail(self, key: str) -> None:
        from gputop.ui.screens.detail import DetailScreen

        self.push_screen(DetailScreen(key))

    def action_processes(self) -> None:
        from gputop.ui.screens.processes import ProcessesScreen

        self.push_screen(ProcessesScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fleet":  # the listed binding with Prometheus, the unlisted one without
            return bool(parameters) == (self.monitor.remote is None)
        return True

    def action_fleet(self, _how: str = "") -> None:
        from gputop.ui.screens.fleet import FleetScreen

        if not isinstance(self.screen, FleetScreen):
            self.push_screen(FleetScreen())

    def kiosk_pages(self) -> list[str]:
        return ["overview", "processes"] + (["fleet"] if self.monitor.remote is not None else [])

    def next_kiosk_page(self) -> None:
        """Show the next page of the kiosk cycle (overview, processes, fleet)."""
        pages = self.kiosk_pages()
        self._kiosk_page = (self._kiosk_page + 1) % len(pages)
        while len(self.screen_stack) > 1:
            self.pop_screen()
        page = pages[self._kiosk_page]
        if page == "processes":
            self.action_processes()
        elif page == "fleet":
            self.action_fleet()

    def action_help(self) -> None:
        from gputop.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())


def _settle_gc() -> None:
    """After the first frame: move start-up objects out of the collector's way, collect again."""
    gc.freeze()
    gc.enable()


def _osc_safe(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in ";\x1b\x07")


def run_dashboard(
    monitor: Monitor,
    *,
    interval: float = 1.0,
    no_color: bool = False,
    notify: bool = False,
    kiosk_page_s: float | None = None,
    load_rules: Callable[[], None] | None = None,
) -> int:
    """Run the dashboard until the user quits; returns the exit status. `load_rules` attaches
    the rules to the monitor: it runs right after the first frame, which shows without them."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    app = GpuTopApp(
        monitor,
        interval=interval,
        notify_firing=notify,
        kiosk_page_s=kiosk_page_s,
        load_rules=load_rules,
    )
    monitor.warm_start(app.window_s, interval)
    monitor.poll()  # the first frame shows real numbers, not placeholders
    app.run()
    return app.return_code or 0
