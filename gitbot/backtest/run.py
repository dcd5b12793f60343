"""Replay traces through sizing strategies: train on the first part of each trace, score on the rest.

``gitbot`` is the same strategy and rules ``gitbot plan`` uses: the trace's training window becomes
the usage profile of a one-container workload that requests the trace's provisioned size and has no
limits. ``gitbot-first-run`` is its first proposal (``max-step-down`` keeps it within half of that
size); ``gitbot`` is where it settles when the proposal is applied and planned again on the same
history, as weekly runs would. ``oracle`` is the clairvoyant static sizing of the scored part
(``gitbot.backtest.oracle``). OOM kills feed back as they would in a cluster: those of the training
window (under the provisioned size) and, with re-fits, those each strategy's own sizing caused in
the windows replayed so far reach ``vpa-like`` (as OOM samples) and gitbot (as the kills its
``oom-bump`` rule reads); KRR's simple strategy ignores them by default. The replayed usage is the
trace's, not cut at the limit: every strategy sees what the workload wanted. ``checks`` compares
gitbot with the better baseline on each score, and with the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from gitbot.backtest import oracle
from gitbot.backtest.baselines import Oom, Sizing, current, krr_simple, ooms_under, vpa_like
from gitbot.backtest.forecast_error import ForecastError, forecast_errors
from gitbot.backtest.score import Score, Summary, merge, score, summarize
from gitbot.backtest.trace import Trace
from gitbot.errors import InputError
from gitbot.metrics.usage import UsageProfile
from gitbot.model import (
    FIELDS,
    Container,
    ContainerType,
    CurrentValue,
    Field,
    FieldSource,
    ObjectSource,
    SourceKind,
    Target,
    TargetKind,
    Workload,
    WorkloadId,
)
from gitbot.pricing.catalog import ResourceRates
from gitbot.strategies.percentile import PercentileStrategy

STRATEGIES = ("current", "krr-simple", "vpa-like", "gitbot", "gitbot-first-run", "oracle")
BASELINES = ("krr-simple", "vpa-like")
SETTLE_ROUNDS = 10
Sizer = Callable[[Trace, Sizing | None, tuple[Oom, ...]], Sizing]


@dataclass(frozen=True)
class Result:
    trace: str
    source: str  # trace family
    strategy: str
    train_samples: int
    sizing: Sizing  # the last fit's (the only one without re-fits)
    score: Score
    fits: int = 1
    windows: tuple[tuple[int, int, Sizing], ...] = ()  # (start, end, sizing) of each fit's scored window


@dataclass(frozen=True)
class Backtest:
    results: list[Result]
    forecast_errors: list[ForecastError]


@dataclass(frozen=True)
class _Replay:
    trace: Trace
    first: int
    split: int
    end: int
    starts: tuple[int, ...]  # where each fit's scored window begins

    @property
    def scored(self) -> Trace:
        return self.trace.window(self.split, self.end)


def backtest(traces: Sequence[Trace], strategies: Sequence[str], gitbot: PercentileStrategy, rates: ResourceRates,
             train_fraction: float = 2 / 3, tier: str = "production", refit_seconds: int | None = None) -> Backtest:
    """Train on the first ``train_fraction`` of each trace and score on the rest. With
    ``refit_seconds``, every strategy is fitted again at that interval on all data so far (gitbot
    starting from its previous proposal, as weekly runs would) and scored on the window until the next fit.
    The oracle needs the baselines' over-request: they are replayed for it even when not asked for."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise InputError(f"unknown strategy {unknown[0]!r} (known: {', '.join(STRATEGIES)})")
    sizers: dict[str, Sizer] = {
        "current": lambda t, _, __: current(t),
        "krr-simple": lambda t, _, __: krr_simple(t),
        "vpa-like": lambda t, _, ooms: vpa_like(t, ooms),
        "gitbot": lambda t, before, ooms: gitbot_sizing(t, gitbot, tier, start=before, ooms=ooms),
        "gitbot-first-run": lambda t, before, ooms: gitbot_sizing(t, gitbot, tier, settle=False, start=before, ooms=ooms),
    }
    replayed = [s for s in strategies if s != "oracle"]
    if "oracle" in strategies:
        replayed += [b for b in BASELINES if b not in replayed]
    results, errors, replays = [], [], []
    for trace in traces:
        replay = _split(trace, train_fraction, refit_seconds)
        replays.append(replay)
        results.extend(_replay(replay, name, sizers[name], rates) for name in replayed)
        errors.extend(forecast_errors(trace, replay.split, gitbot.settings.forecast_days, gitbot.settings.history_half_life_days))
    if "oracle" in strategies:
        results.extend(_oracles(replays, results, rates))
    order = {name: i for i, name in enumerate(strategies)}
    trace_order = {t.name: i for i, t in enumerate(traces)}
    shown = sorted((r for r in results if r.strategy in order), key=lambda r: (trace_order[r.trace], order[r.strategy]))
    return Backtest(shown, errors)


def training_and_scored(trace: Trace, train_fraction: float = 2 / 3) -> tuple[Trace, Trace]:
    """The parts of ``trace`` that ``backtest`` trains on and scores (without re-fits)."""
    replay = _split(trace, train_fraction, None)
    return trace.window(replay.first, replay.split), replay.scored


def _split(trace: Trace, train_fraction: float, refit_seconds: int | None) -> _Replay:
    first, end = int(trace.timestamps[0]), int(trace.timestamps[-1]) + 1
    split = int(first + (end - 1 - first + trace.step_seconds) * train_fraction)
    if len(trace.window(first, split)) < 2 or len(trace.window(split, end)) < 1:
        raise InputError(f"{trace.name}: too short to split at {train_fraction:.0%} ({len(trace)} samples)")
    starts = tuple(range(split, end, refit_seconds)) if refit_seconds else (split,)
    return _Replay(trace, first, split, end, starts)


def _replay(replay: _Replay, name: str, sizer: Sizer, rates: ResourceRates) -> Result:
    """Fit at each start on all data so far, score until the next fit; the OOM kills of the training
    window (under the provisioned size) and of the strategy's own scored windows so far go to the next fit."""
    trace, first = replay.trace, replay.first
    train = trace.window(first, replay.split)
    ooms = ooms_under(train, train.memory_capacity_bytes)
    sizing: Sizing | None = None
    scores, windows = [], []
    for at, until in zip(replay.starts, [*replay.starts[1:], replay.end]):
        window = trace.window(at, until)
        if not len(window):
            continue
        sizing = sizer(trace.window(first, at), sizing, tuple(ooms))
        scores.append(score(sizing, window, rates))
        windows.append((at, until, sizing))
        ooms += ooms_under(window, sizing.memory_limit_bytes, sizing.memory_request_bytes)
    assert sizing is not None
    return Result(trace.name, trace.source, name, len(train), sizing, scores[0] if len(scores) == 1 else merge(scores),
                  len(scores), tuple(windows))


def _oracles(replays: Sequence[_Replay], results: Sequence[Result], rates: ResourceRates) -> list[Result]:
    """The oracle's result for each trace, family by family: the CPU budget is the best baseline's
    mean CPU samples over request in that family."""
    out = []
    totals = summaries(results)
    for source in dict.fromkeys(r.trace.source for r in replays):
        family = [r for r in replays if r.trace.source == source]
        known = [totals[source][b].cpu_over_request_pct for b in BASELINES if b in totals.get(source, {})]
        budget = min((k for k in known if k is not None), default=0.0)
        with_cpu = [r for r in family if r.trace.has_cpu]
        cpu = dict(zip((r.trace.name for r in with_cpu), oracle.cpu_requests([r.scored.cpu_m for r in with_cpu], budget))) \
            if with_cpu else {}
        for r in family:
            scored = r.scored
            memory = oracle.memory_request(scored.memory_bytes[scored.memory_known])
            sizing = Sizing(cpu.get(r.trace.name), None, memory, memory)
            train = r.trace.window(r.first, r.split)
            out.append(Result(r.trace.name, r.trace.source, "oracle", len(train), sizing, score(sizing, scored, rates), 1,
                              ((r.split, r.end, sizing),)))
    return out


@dataclass(frozen=True)
class Check:
    """One score of the issue's bar: gitbot against the better of the baselines on that score (or
    against the oracle), ``factor`` times its value."""

    score: str
    value: float
    baseline: str
    baseline_value: float
    strict: bool  # must be lower (slack), not merely no higher (OOMs, samples over request)
    factor: float = 1.0

    @property
    def bound(self) -> float:
        return self.baseline_value * self.factor

    @property
    def passed(self) -> bool:
        return self.value < self.bound if self.strict else self.value <= self.bound


CHECKS = (  # (label, Summary attribute, strict, against, factor): against the best baseline, or the oracle
    ("OOM episodes", "oom_episodes", False, "baselines", 1.0),
    ("CPU samples over request %", "cpu_over_request_pct", False, "baselines", 1.0),
    ("memory samples over request %", "memory_over_request_pct", False, "baselines", 1.0),
    ("CPU slack % (mean)", "cpu_slack_pct", True, "baselines", 1.0),
    ("CPU slack % (pooled)", "cpu_slack_pooled_pct", True, "baselines", 1.0),
    ("memory slack % (mean)", "memory_slack_pct", True, "baselines", 1.0),
    ("memory slack % (pooled)", "memory_slack_pooled_pct", True, "baselines", 1.0),
    ("CPU slack % (mean) against the oracle", "cpu_slack_pct", False, "oracle", 1.10),
    ("memory slack % (mean) against the better baseline", "memory_slack_pct", False, "baselines", 0.80),
)


def summaries(results: Sequence[Result]) -> dict[str, dict[str, Summary]]:
    """Trace family -> strategy -> summary over that family's traces."""
    grouped: dict[str, dict[str, list[Score]]] = {}
    for r in results:
        grouped.setdefault(r.source, {}).setdefault(r.strategy, []).append(r.score)
    return {source: {name: summarize(name, scores) for name, scores in by_strategy.items()} for source, by_strategy in grouped.items()}


def oracle_ratios(by_strategy: Mapping[str, Summary]) -> dict[str, tuple[float | None, float | None]]:
    """Strategy -> (mean CPU slack, mean memory slack) as multiples of the oracle's (None where either is unknown or 0)."""
    bound = by_strategy.get("oracle")

    def ratio(value: float | None, of: float | None) -> float | None:
        return value / of if value is not None and of else None

    if bound is None:
        return {}
    return {name: (ratio(t.cpu_slack_pct, bound.cpu_slack_pct), ratio(t.memory_slack_pct, bound.memory_slack_pct))
            for name, t in by_strategy.items()}


def checks(by_strategy: Mapping[str, Summary], candidate: str = "gitbot", baselines: Sequence[str] = BASELINES) -> list[Check]:
    """Each score of ``candidate`` against the best baseline on that score, or against the oracle
    (empty when a baseline is missing; the oracle's checks are left out without an oracle)."""
    if candidate not in by_strategy or not all(b in by_strategy for b in baselines):
        return []
    out = []
    for label, attribute, strict, against, factor in CHECKS:
        value = getattr(by_strategy[candidate], attribute)
        names = baselines if against == "baselines" else [n for n in ("oracle",) if n in by_strategy]
        known = [(getattr(by_strategy[b], attribute), b) for b in names if getattr(by_strategy[b], attribute) is not None]
        if value is None or not known:
            continue
        best, name = min(known)
        out.append(Check(label, float(value), name, float(best), strict, factor))
    return out


def gitbot_sizing(train: Trace, strategy: PercentileStrategy, tier: str, settle: bool = True, start: Sizing | None = None,
                  ooms: Sequence[Oom] = ()) -> Sizing:
    """gitbot's proposal for a container that requests the trace's provisioned size and has no limits
    (or, with ``start``, runs with an earlier proposal). ``ooms``: the kills in the history, which the
    profile reports as kube-state-metrics would (their count, and the limit of the last one).

    ``settle``: apply the proposal and plan again on the same history until nothing changes (at most
    ``SETTLE_ROUNDS``), as weekly runs would; rules such as ``max-step-down`` then shape the path, not
    the end point. Without it, the first run's proposal.
    """
    now = current(train)
    sizing = start or Sizing(now.cpu_request_m, None, now.memory_request_bytes, None)
    profile = _profile(train, ooms)
    for _ in range(SETTLE_ROUNDS if settle else 1):
        proposed = _propose(train, sizing, profile, strategy, tier)
        if proposed == sizing:
            break
        sizing = proposed
    return sizing


def _propose(train: Trace, now: Sizing, profile: UsageProfile, strategy: PercentileStrategy, tier: str) -> Sizing:
    values = {Field.CPU_REQUEST: now.cpu_request_m, Field.CPU_LIMIT: now.cpu_limit_m,
              Field.MEMORY_REQUEST: now.memory_request_bytes, Field.MEMORY_LIMIT: now.memory_limit_bytes}
    source = FieldSource(SourceKind.UNKNOWN, None, None, None, None, True, not_editable="a trace")
    container = Container("main", ContainerType.APP, 0, {f: CurrentValue(values[f], None, source) for f in FIELDS})
    target = Target(TargetKind.PLAIN, train.name, train.name)
    workload = Workload(profile.workload, target, ObjectSource(train.name, None, None, SourceKind.UNKNOWN), tier, tier, 1, (container,))
    observed = {f: v for f, v in values.items() if v is not None}
    rec = strategy.recommend(workload, container, replace(profile, observed=observed))
    fields = {f: rec.fields[f].recommended for f in FIELDS}
    return Sizing(fields[Field.CPU_REQUEST], fields[Field.CPU_LIMIT], fields[Field.MEMORY_REQUEST], fields[Field.MEMORY_LIMIT])


def _profile(train: Trace, ooms: Sequence[Oom] = ()) -> UsageProfile:
    cpu_by_step, memory_by_step = train.on_grid()
    return UsageProfile(
        workload=WorkloadId("trace", "Deployment", train.name), container="main",
        cpu_rows=(cpu_by_step,), memory_rows=(memory_by_step,), cpu_samples=int((~np.isnan(cpu_by_step)).sum()),
        memory_samples=int((~np.isnan(memory_by_step)).sum()), step_seconds=train.step_seconds, steps_total=cpu_by_step.size,
        steps_with_data=len(train), first_seen=float(train.timestamps[0]), last_seen=float(train.timestamps[-1]), pods=1,
        avg_replicas=1.0, restarts=len(ooms), oom_events=len(ooms), oom_memory_bytes=ooms[-1].limit_bytes if ooms else None,
        throttled_ratio=None, observed={}, nodes=(),
        joined_by="trace",
    )
