"""Replay traces through sizing strategies: train on the first part of each trace, score on the rest.

``gitbot`` is the same strategy and rules ``gitbot plan`` uses: the trace's training window becomes
the usage profile of a one-container workload that requests the trace's provisioned size and has no
limits. ``gitbot-first-run`` is its first proposal (``max-step-down`` keeps it within half of that
size); ``gitbot`` is where it settles when the proposal is applied and planned again on the same
history, as weekly runs would. ``checks`` compares gitbot with the better baseline on each score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from gitbot.backtest.baselines import Sizing, current, krr_simple, vpa_like
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

STRATEGIES = ("current", "krr-simple", "vpa-like", "gitbot", "gitbot-first-run")
SETTLE_ROUNDS = 10


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


def backtest(traces: Sequence[Trace], strategies: Sequence[str], gitbot: PercentileStrategy, rates: ResourceRates,
             train_fraction: float = 2 / 3, tier: str = "production", refit_seconds: int | None = None) -> Backtest:
    """Train on the first ``train_fraction`` of each trace and score on the rest. With
    ``refit_seconds``, every strategy is fitted again at that interval on all data so far (gitbot
    starting from its previous proposal, as weekly runs would) and scored on the window until the next fit."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise InputError(f"unknown strategy {unknown[0]!r} (known: {', '.join(STRATEGIES)})")
    out, errors = [], []
    for trace in traces:
        first, end = int(trace.timestamps[0]), int(trace.timestamps[-1]) + 1
        split = int(first + (end - 1 - first + trace.step_seconds) * train_fraction)
        train, test = trace.window(first, split), trace.window(split, end)
        if len(train) < 2 or len(test) < 1:
            raise InputError(f"{trace.name}: too short to split at {train_fraction:.0%} ({len(trace)} samples)")
        starts = list(range(split, end, refit_seconds)) if refit_seconds else [split]
        sizers: dict[str, Callable[[Trace, Sizing | None], Sizing]] = {
            "current": lambda t, _: current(t),
            "krr-simple": lambda t, _: krr_simple(t),
            "vpa-like": lambda t, _: vpa_like(t),
            "gitbot": lambda t, before: gitbot_sizing(t, gitbot, tier, start=before),
            "gitbot-first-run": lambda t, before: gitbot_sizing(t, gitbot, tier, settle=False, start=before),
        }
        for name in strategies:
            sizing: Sizing | None = None
            scores, windows = [], []
            for at, until in zip(starts, [*starts[1:], end]):
                window = trace.window(at, until)
                if not len(window):
                    continue
                sizing = sizers[name](trace.window(first, at), sizing)
                scores.append(score(sizing, window, rates))
                windows.append((at, until, sizing))
            assert sizing is not None
            out.append(Result(trace.name, trace.source, name, len(train), sizing, scores[0] if len(scores) == 1 else merge(scores),
                              len(scores), tuple(windows)))
        errors.extend(forecast_errors(trace, split, gitbot.settings.forecast_days, gitbot.settings.history_half_life_days))
    return Backtest(out, errors)


@dataclass(frozen=True)
class Check:
    """One score of the issue's bar: gitbot against the better of the baselines on that score."""

    score: str
    value: float
    baseline: str
    baseline_value: float
    strict: bool  # must be lower (slack), not merely no higher (OOMs, CPU over request)

    @property
    def passed(self) -> bool:
        return self.value < self.baseline_value if self.strict else self.value <= self.baseline_value


CHECKS = (  # (label, Summary attribute, strict)
    ("OOM episodes", "oom_episodes", False),
    ("CPU samples over request %", "cpu_over_request_pct", False),
    ("CPU slack % (mean)", "cpu_slack_pct", True),
    ("CPU slack % (pooled)", "cpu_slack_pooled_pct", True),
    ("memory slack % (mean)", "memory_slack_pct", True),
    ("memory slack % (pooled)", "memory_slack_pooled_pct", True),
)


def summaries(results: Sequence[Result]) -> dict[str, dict[str, Summary]]:
    """Trace family -> strategy -> summary over that family's traces."""
    grouped: dict[str, dict[str, list[Score]]] = {}
    for r in results:
        grouped.setdefault(r.source, {}).setdefault(r.strategy, []).append(r.score)
    return {source: {name: summarize(name, scores) for name, scores in by_strategy.items()} for source, by_strategy in grouped.items()}


def checks(by_strategy: Mapping[str, Summary], candidate: str = "gitbot", baselines: Sequence[str] = ("krr-simple", "vpa-like")) -> list[Check]:
    """Each score of ``candidate`` against the best baseline on that score (empty when one is missing)."""
    if candidate not in by_strategy or not all(b in by_strategy for b in baselines):
        return []
    out = []
    for label, attribute, strict in CHECKS:
        value = getattr(by_strategy[candidate], attribute)
        known = [(getattr(by_strategy[b], attribute), b) for b in baselines if getattr(by_strategy[b], attribute) is not None]
        if value is None or not known:
            continue
        best, name = min(known)
        out.append(Check(label, float(value), name, float(best), strict))
    return out


def gitbot_sizing(train: Trace, strategy: PercentileStrategy, tier: str, settle: bool = True, start: Sizing | None = None) -> Sizing:
    """gitbot's proposal for a container that requests the trace's provisioned size and has no limits
    (or, with ``start``, runs with an earlier proposal).

    ``settle``: apply the proposal and plan again on the same history until nothing changes (at most
    ``SETTLE_ROUNDS``), as weekly runs would; rules such as ``max-step-down`` then shape the path, not
    the end point. Without it, the first run's proposal.
    """
    now = current(train)
    sizing = start or Sizing(now.cpu_request_m, None, now.memory_request_bytes, None)
    profile = _profile(train)
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


def _profile(train: Trace) -> UsageProfile:
    cpu_by_step, memory_by_step = train.on_grid()
    return UsageProfile(
        workload=WorkloadId("trace", "Deployment", train.name), container="main",
        cpu_rows=(cpu_by_step,), memory_rows=(memory_by_step,), cpu_samples=int((~np.isnan(cpu_by_step)).sum()),
        memory_samples=int((~np.isnan(memory_by_step)).sum()), step_seconds=train.step_seconds, steps_total=cpu_by_step.size,
        steps_with_data=len(train), first_seen=float(train.timestamps[0]), last_seen=float(train.timestamps[-1]), pods=1,
        avg_replicas=1.0, restarts=0, oom_events=0, oom_memory_bytes=None, throttled_ratio=None, observed={}, nodes=(),
        joined_by="trace",
    )
