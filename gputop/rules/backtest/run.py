"""A backtest from rules to report: plan the queries, fetch them, replay each rule.

Rules are taken one after another: while one is replayed (off the event loop: a week of a
fleet is minutes of arithmetic, most of it the near logic at every evaluation of every
series), the next one's queries are already on their way, and a query's answer is dropped
once no rule left needs it, so memory holds a few rules' data however many rules there are.
A large backtest from the command line replays several rules at once, each in a process of
its own (`Options.processes`); the dashboard replays in a thread, which it can cancel. Rules
sharing a group share its evaluation grid, and queries asked by several rules (a compared
side with two thresholds) are asked once.

Engine failures other than a query the engine refuses (a timeout, the server gone) end the
whole backtest (`PromError`); a query refused, or a rule that cannot be replayed, is that
rule's `error` and the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from gputop.promql.analysis import PromQLSyntaxError, analyse
from gputop.rules.backtest.grid import CHUNK_STEPS, Grid
from gputop.rules.backtest.history import Engine, Fetcher, History, Values
from gputop.rules.backtest.near import horizon_s
from gputop.rules.backtest.replay import Target, derivable, replay
from gputop.rules.backtest.report import Report, RuleResult, WhatIf, merge_gaps
from gputop.rules.backtest.rewrite import RecordSource, RewriteError, substitute_records
from gputop.rules.backtest.whatif import Change, TargetRate, changed_target, suggest
from gputop.rules.model import DEFAULT_MARGIN, RuleDef
from gputop.sources.prometheus import PromAPIError

__all__ = ["DEFAULT_EVAL_INTERVAL_S", "Options", "Progress", "backtest", "plan"]

#: Called with (queries done, queries planned, rules done, rules).
Progress = Callable[[int, int, int, int], None]
#: A backtest of this many range queries or more replays its rules in processes (when
#: `Options.processes` allows): below it, starting them costs more than they save.
PROCESSES_FROM = 24
#: Prometheus' default `evaluation_interval`: for groups without their own when none is given.
DEFAULT_EVAL_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Options:
    start: float
    end: float
    eval_interval_s: float = DEFAULT_EVAL_INTERVAL_S  # for groups without their own interval
    margin: float = DEFAULT_MARGIN
    near: bool = True
    local: bool = False  # the history is this node's own: near reads it as the local rules do
    changes: Mapping[str, Change] = field(default_factory=dict)  # by rule name
    target: TargetRate | None = None
    offsets: Mapping[str, float] = field(default_factory=dict)  # group → evaluation offset
    concurrency: int = 4
    steps: int = CHUNK_STEPS
    processes: int = 0  # replay rules in this many processes (large backtests only)


@dataclass(slots=True)
class _Plan:
    rule: RuleDef
    base: Target | None = None
    changed: Target | None = None
    change: Change | None = None
    error: str | None = None

    def targets(self) -> list[Target]:
        return [t for t in (self.base, self.changed) if t is not None]

    def needs(self) -> set[tuple[str, Grid, bool]]:
        """(query, grid, is a presence query) this rule needs."""
        out: set[tuple[str, Grid, bool]] = set()
        for t in self.targets():
            if t.compared is not None:
                out.add((t.compared, t.grid, False))
            if not t.derive:
                out.add((t.expr, t.grid, False))
            if t.presence is not None:
                out.add((t.presence, t.grid, True))
        return out


def plan(
    rule: RuleDef, options: Options, substitutes: Mapping[str, RecordSource] | None = None
) -> _Plan:
    """What to ask the engine for one rule (and its what-if)."""
    out = _Plan(rule)
    try:
        expr = substitute_records(rule.expr, substitutes or {})
        analysis = analyse(expr)
    except (PromQLSyntaxError, RewriteError) as exc:
        out.error = str(exc)
        return out
    interval = rule.interval_s or options.eval_interval_s
    change = options.changes.get(rule.name)
    wider = change or Change()
    longest = max(rule.for_s, wider.for_s or 0.0)
    keep = max(rule.keep_firing_for_s, wider.keep_firing_for_s or 0.0)
    probe = dataclasses.replace(rule, for_s=longest, interval_s=interval)
    grid = Grid.over(
        options.start,
        options.end,
        interval,
        offset_s=options.offsets.get(rule.group or "", 0.0),
        warmup_s=longest + keep + horizon_s(probe) + interval,
    )
    comparison = analysis.comparison
    out.base = Target(
        rule=dataclasses.replace(rule, interval_s=interval),
        analysis=analysis,
        expr=expr,
        compared=comparison.query if comparison is not None else None,
        derive=derivable(analysis),
        presence=None,  # one for all rules: see _shared_grids
        grid=grid,
        margin=rule.margin if rule.margin is not None else options.margin,
    )
    if change is not None:
        try:
            out.changed = changed_target(out.base, change)
        except (PromQLSyntaxError, RewriteError) as exc:
            out.error = f"--threshold: {exc}"
            return out
        out.change = change
    return out


async def backtest(
    engine: Engine,
    rules: Sequence[RuleDef],
    options: Options,
    *,
    label: str,
    substitutes: Mapping[str, RecordSource] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Report:
    """Replay every rule over the engine's history between `options.start` and `.end`."""
    plans = _shared_grids([plan(rule, options, substitutes) for rule in rules], engine)
    counter = _Counter(progress, len(plans))
    fetcher = Fetcher(engine, limit=options.concurrency, steps=options.steps, done=counter.query)
    needed: dict[tuple[str, Grid, bool], int] = {}
    for p in plans:
        for key in p.needs():
            needed[key] = needed.get(key, 0) + 1
    counter.planned = sum(fetcher.chunks(grid) for _, grid, _ in needed)
    counter.report()
    processes = options.processes if counter.planned >= PROCESSES_FROM else 0
    slots = max(1, processes)
    cache: dict[tuple[str, Grid, bool], asyncio.Task[Values | bytearray]] = {}
    queue: asyncio.Queue[_Plan | None] = asyncio.Queue(maxsize=1)  # one rule fetched ahead

    async def produce() -> None:
        for p in plans:
            for key in sorted(p.needs(), key=repr):
                if key not in cache:
                    query, grid, is_presence = key
                    job = (
                        fetcher.presence(query, grid)
                        if is_presence
                        else fetcher.values(query, grid)
                    )
                    cache[key] = asyncio.ensure_future(job)
            await asyncio.gather(*(cache[k] for k in p.needs()), return_exceptions=True)
            await queue.put(p)
        await queue.put(None)

    report = Report(options.start, options.end, label)
    found_gaps: list[tuple[float, float, str]] = []
    running: deque[tuple[_Plan, dict[Grid, History], asyncio.Future[RuleResult]]] = deque()

    async def collect() -> None:
        item, history_of, future = running.popleft()
        report.rules.append(await future)
        for t in item.targets()[:1]:
            history = history_of.get(t.grid)
            if history is not None:
                found_gaps.extend(_gap_spans(t, history))
        for key in item.needs():
            needed[key] -= 1
            if needed[key] == 0:
                cache.pop(key, None)  # no rule left needs it
        counter.rule()

    pool = _pool(processes)
    producer = asyncio.ensure_future(produce())
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            error = item.error
            for key in item.needs():
                exc = cache[key].exception()
                if isinstance(exc, PromAPIError):
                    error = error or exc.reason
                elif exc is not None:
                    raise exc
            history_of = _histories(item, cache) if error is None else {}
            args = (item, history_of, options, error)
            future: asyncio.Future[RuleResult]
            if pool is None:
                future = asyncio.ensure_future(asyncio.to_thread(_replayed, *args, cancel))
            else:  # a process of its own: the replay is arithmetic, and the GIL is one core
                future = asyncio.get_running_loop().run_in_executor(pool, _replayed, *args)
            running.append((item, history_of, future))
            if len(running) >= slots:
                await collect()
        while running:
            await collect()
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
        for task in cache.values():
            task.cancel()
        for _, _, future in running:
            future.cancel()
        if pool is not None:  # reaped when done (a report waits on nothing), not when failed
            pool.shutdown(wait=not running, cancel_futures=True)
    report.gaps = merge_gaps(found_gaps)
    return report


def _pool(processes: int) -> ProcessPoolExecutor | None:
    if processes < 2:
        return None
    # spawned, not forked: the event loop's threads (name lookups) must not be copied mid-lock
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


def _shared_grids(plans: list[_Plan], engine: Engine) -> list[_Plan]:
    """One grid per evaluation schedule (interval and offset), with the longest warm-up any of
    its rules needs, so rules of one group share their queries; and one gap query for all:
    the engine had no data when it had neither `up` nor any series any rule reads."""
    metrics = sorted({m for p in plans for t in p.targets() for m in t.analysis.metrics})
    presence = engine.presence_query(metrics)
    widest: dict[tuple[int, int], Grid] = {}
    for p in plans:
        for t in p.targets():
            key = (t.grid.step_ms, t.grid.first_ms % t.grid.step_ms)
            held = widest.get(key)
            if held is None or t.grid.first_ms < held.first_ms:
                widest[key] = t.grid
    for p in plans:
        if p.base is not None:
            grid = widest[(p.base.grid.step_ms, p.base.grid.first_ms % p.base.grid.step_ms)]
            p.base = dataclasses.replace(p.base, grid=grid, presence=presence)
            if p.changed is not None:
                p.changed = dataclasses.replace(p.changed, grid=grid, presence=presence)
    return plans


def _histories(
    p: _Plan, cache: Mapping[tuple[str, Grid, bool], asyncio.Task[object]]
) -> dict[Grid, History]:
    out: dict[Grid, History] = {}
    for query, grid, is_presence in p.needs():
        history = out.setdefault(grid, History(grid))
        value = cache[(query, grid, is_presence)].result()
        if is_presence:
            assert isinstance(value, bytearray)
            history.gaps[query] = value
        else:
            assert isinstance(value, dict)
            history.results[query] = value
    return out


def _replayed(
    p: _Plan,
    histories: Mapping[Grid, History],
    options: Options,
    error: str | None,
    cancel: threading.Event | None = None,
) -> RuleResult:
    rule = p.rule
    base = p.base
    comparison = base.analysis.comparison if base is not None else None
    result = RuleResult(
        name=rule.name,
        group=rule.group,
        source=rule.source,
        interval_s=base.grid.step_s
        if base is not None
        else (rule.interval_s or options.eval_interval_s),
        for_s=rule.for_s,
        keep_firing_for_s=rule.keep_firing_for_s,
        threshold=comparison.threshold if comparison is not None else None,
        op=comparison.op if comparison is not None else None,
        error=error,
    )
    if error is not None or base is None:
        return result
    history = histories[base.grid]
    outcome = replay(base, history, near=options.near, local=options.local, cancel=cancel)
    whatif: tuple[WhatIf, ...] = ()
    if p.changed is not None and p.change is not None:
        changed = p.changed
        c = changed.analysis.comparison
        whatif = (
            WhatIf(
                changed=p.change.as_dict(),
                threshold=c.threshold if c is not None else None,
                for_s=changed.rule.for_s,
                keep_firing_for_s=changed.rule.keep_firing_for_s,
                outcome=replay(
                    changed, history, near=options.near, local=options.local, cancel=cancel
                ),
            ),
        )
    suggestion = suggest(base, history, options.target) if options.target is not None else None
    return dataclasses.replace(result, outcome=outcome, whatif=whatif, suggestion=suggestion)


def _gap_spans(target: Target, history: History) -> list[tuple[float, float, str]]:
    gaps = history.gaps.get(target.presence or "")
    if gaps is None:
        return []
    grid = target.grid
    out: list[tuple[float, float, str]] = []
    run_start = None
    for i in range(grid.start_index, grid.count + 1):
        missing = i < grid.count and gaps[i]
        if missing and run_start is None:
            run_start = i
        elif not missing and run_start is not None:
            out.append((grid.time(run_start), grid.time(i - 1), target.rule.name))
            run_start = None
    return out


class _Counter:
    def __init__(self, progress: Progress | None, rules: int) -> None:
        self.progress = progress
        self.planned = 0
        self.done = 0
        self.rules_done = 0
        self.rules = rules

    def query(self) -> None:
        self.done += 1
        self.report()

    def rule(self) -> None:
        self.rules_done += 1
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.planned, self.rules_done, self.rules)
