"""Replay traces through sizing strategies: train on the first part of each trace, score on the rest.

``gitbot`` is the same strategy and rules ``gitbot plan`` uses: the trace's training window becomes
the usage profile of a one-container workload that currently runs with the trace's provisioned
size (so rules such as ``max-step-down`` act as they would on a first run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from gitbot.backtest.baselines import Sizing, current, krr_simple, vpa_like
from gitbot.backtest.score import Score, score
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

STRATEGIES = ("current", "krr-simple", "vpa-like", "gitbot")


@dataclass(frozen=True)
class Result:
    trace: str
    strategy: str
    train_samples: int
    sizing: Sizing
    score: Score


def backtest(traces: Sequence[Trace], strategies: Sequence[str], gitbot: PercentileStrategy, rates: ResourceRates,
             train_fraction: float = 2 / 3, tier: str = "production") -> list[Result]:
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise InputError(f"unknown strategy {unknown[0]!r} (known: {', '.join(STRATEGIES)})")
    out = []
    for trace in traces:
        split = int(trace.timestamps[0] + (trace.timestamps[-1] - trace.timestamps[0] + trace.step_seconds) * train_fraction)
        train, test = trace.window(int(trace.timestamps[0]), split), trace.window(split, int(trace.timestamps[-1]) + 1)
        if len(train) < 2 or len(test) < 1:
            raise InputError(f"{trace.name}: too short to split at {train_fraction:.0%} ({len(trace)} samples)")
        sizers: dict[str, Callable[[Trace], Sizing]] = {
            "current": current,
            "krr-simple": krr_simple,
            "vpa-like": vpa_like,
            "gitbot": lambda t: gitbot_sizing(t, gitbot, tier),
        }
        for name in strategies:
            sizing = sizers[name](train)
            out.append(Result(trace.name, name, len(train), sizing, score(sizing, test, rates)))
    return out


def gitbot_sizing(train: Trace, strategy: PercentileStrategy, tier: str) -> Sizing:
    now = current(train)
    values = {Field.CPU_REQUEST: now.cpu_request_m, Field.CPU_LIMIT: now.cpu_limit_m,
              Field.MEMORY_REQUEST: now.memory_request_bytes, Field.MEMORY_LIMIT: now.memory_limit_bytes}
    source = FieldSource(SourceKind.UNKNOWN, None, None, None, None, True, not_editable="a trace")
    container = Container("main", ContainerType.APP, 0, {f: CurrentValue(values[f], None, source) for f in FIELDS})
    target = Target(TargetKind.PLAIN, train.name, train.name)
    workload = Workload(WorkloadId("trace", "Deployment", train.name), target, ObjectSource(train.name, None, None, SourceKind.UNKNOWN),
                        tier, tier, 1, (container,))
    memory = train.memory_bytes[train.memory_known]
    profile = UsageProfile(
        workload=workload.id, container="main", cpu_m=train.cpu_m, memory_bytes=memory,
        cpu_m_by_step=train.cpu_m, memory_bytes_by_step=train.memory_bytes, step_seconds=train.step_seconds,
        steps_total=len(train), steps_with_data=len(train), first_seen=float(train.timestamps[0]),
        last_seen=float(train.timestamps[-1]), pods=1, avg_replicas=1.0, restarts=0, oom_events=0, oom_memory_bytes=None,
        throttled_ratio=None, observed={f: v for f, v in values.items() if v is not None}, nodes=(), joined_by="trace",
    )
    rec = strategy.recommend(workload, container, profile)
    fields = {f: rec.fields[f].recommended for f in FIELDS}
    return Sizing(fields[Field.CPU_REQUEST], fields[Field.CPU_LIMIT], fields[Field.MEMORY_REQUEST], fields[Field.MEMORY_LIMIT])
