"""How a sizing would have done on the samples after its training window.

- CPU slack: requested core-hours not used / requested core-hours (usage above the request counts
  as no slack, not negative slack);
- CPU samples above the request, and above the limit (a throttling proxy), in percent of samples;
- memory slack, the same way, over the samples that have a memory value, and memory samples above the
  request (a request below usage is what the kubelet evicts first under node memory pressure: a
  low request under a high limit shows here, not as OOM kills);
- memory-limit breaches: OOM-kill episodes, a run of consecutive samples above the limit counting once;
- requested cost: the request's monthly cost at the given per-vCPU-hour and per-GiB-hour rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from gitbot.backtest.baselines import Sizing
from gitbot.backtest.trace import Trace
from gitbot.pricing.catalog import ResourceRates
from gitbot.pricing.cost import monthly_cost

GIB = 2**30


@dataclass(frozen=True)
class Score:
    samples: int
    cpu_slack: float | None  # None: no CPU request to measure against
    cpu_over_request_pct: float | None
    cpu_over_limit_pct: float | None  # None: no CPU limit
    memory_slack: float | None
    memory_over_request_pct: float | None
    oom_episodes: int | None  # None: no memory limit or no memory samples
    monthly_cost_usd: Decimal
    cpu_requested_core_hours: float = 0.0
    cpu_unused_core_hours: float = 0.0
    memory_requested_gib_hours: float = 0.0
    memory_unused_gib_hours: float = 0.0


def score(sizing: Sizing, test: Trace, rates: ResourceRates) -> Score:
    cpu, memory = test.cpu_m if test.has_cpu else np.zeros(0), test.memory_bytes[test.memory_known]
    hours = test.step_seconds / 3600  # each sample stands for one step
    cpu_slack, cpu_requested, cpu_unused = _slack(cpu, sizing.cpu_request_m)
    memory_slack, memory_requested, memory_unused = _slack(memory, sizing.memory_request_bytes)
    return Score(
        samples=len(test),
        cpu_slack=cpu_slack,
        cpu_over_request_pct=_over_pct(cpu, sizing.cpu_request_m),
        cpu_over_limit_pct=_over_pct(cpu, sizing.cpu_limit_m),
        memory_slack=memory_slack,
        memory_over_request_pct=_over_pct(memory, sizing.memory_request_bytes),
        oom_episodes=(
            episodes(test.memory_known & (test.memory_bytes > sizing.memory_limit_bytes))  # a missing sample ends a run
            if sizing.memory_limit_bytes is not None and memory.size else None
        ),
        monthly_cost_usd=monthly_cost(sizing.cpu_request_m, sizing.memory_request_bytes, Decimal(1), rates),
        cpu_requested_core_hours=cpu_requested * (hours / 1000),
        cpu_unused_core_hours=cpu_unused * (hours / 1000),
        memory_requested_gib_hours=memory_requested * (hours / GIB),
        memory_unused_gib_hours=memory_unused * (hours / GIB),
    )


def merge(scores: list[Score]) -> Score:
    """One score for consecutive windows (rolling re-fits): slack from the summed core-/GiB-hours,
    percentages weighted by samples, OOM episodes summed, cost weighted by time."""
    total = sum(s.samples for s in scores)

    def weighted(values: list[tuple[float | None, int]]) -> float | None:
        known = [(v, n) for v, n in values if v is not None]
        weight = sum(n for _, n in known)
        return sum(v * n for v, n in known) / weight if weight else None

    def ratio(unused: float, requested: float) -> float | None:
        return unused / requested if requested else None

    cpu_requested, cpu_unused = sum(s.cpu_requested_core_hours for s in scores), sum(s.cpu_unused_core_hours for s in scores)
    memory_requested, memory_unused = sum(s.memory_requested_gib_hours for s in scores), sum(s.memory_unused_gib_hours for s in scores)
    ooms = [s.oom_episodes for s in scores if s.oom_episodes is not None]
    return Score(
        samples=total,
        cpu_slack=ratio(cpu_unused, cpu_requested),
        cpu_over_request_pct=weighted([(s.cpu_over_request_pct, s.samples) for s in scores]),
        cpu_over_limit_pct=weighted([(s.cpu_over_limit_pct, s.samples) for s in scores]),
        memory_slack=ratio(memory_unused, memory_requested),
        memory_over_request_pct=weighted([(s.memory_over_request_pct, s.samples) for s in scores]),
        oom_episodes=sum(ooms) if ooms else None,
        monthly_cost_usd=sum((s.monthly_cost_usd * s.samples for s in scores), Decimal(0)) / total if total else Decimal(0),
        cpu_requested_core_hours=cpu_requested,
        cpu_unused_core_hours=cpu_unused,
        memory_requested_gib_hours=memory_requested,
        memory_unused_gib_hours=memory_unused,
    )


def episodes(above: np.ndarray) -> int:
    """Runs of True: each run of consecutive samples above the limit is one OOM episode."""
    if above.size == 0:
        return 0
    starts = above & ~np.concatenate(([False], above[:-1]))
    return int(starts.sum())


def _slack(used: np.ndarray, request: int | None) -> tuple[float | None, float, float]:
    """(slack, requested, unused) in sample units (millicore- or byte-samples); slack None without a
    request or samples. Usage above the request counts as no slack, not negative slack."""
    if request is None or request <= 0 or used.size == 0:
        return None, 0.0, 0.0
    requested, unused = float(request * used.size), float(np.maximum(request - used, 0.0).sum())
    return unused / requested, requested, unused


def _over_pct(used: np.ndarray, bound: int | None) -> float | None:
    if bound is None or used.size == 0:
        return None
    return float((used > bound).mean() * 100.0)


@dataclass(frozen=True)
class Summary:
    """One strategy over all traces: totals, means of the per-trace percentages, and pooled slack
    (unused / requested core-hours or GiB-hours summed over the traces, so big workloads weigh more)."""

    strategy: str
    traces: int
    oom_episodes: int | None  # None: no trace had a memory limit to breach
    cpu_over_request_pct: float | None
    memory_over_request_pct: float | None  # a low request under a high limit shows here, not as OOMs
    cpu_slack_pct: float | None
    cpu_slack_pooled_pct: float | None
    memory_slack_pct: float | None
    memory_slack_pooled_pct: float | None
    monthly_cost_usd: Decimal


def summarize(strategy: str, scores: list[Score]) -> Summary:
    def mean(values: list[float | None], scale: float = 1.0) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) * scale if known else None

    def pooled(unused: float, requested: float) -> float | None:
        return unused / requested * 100 if requested else None

    return Summary(
        strategy=strategy,
        traces=len(scores),
        oom_episodes=None if all(s.oom_episodes is None for s in scores) else sum(s.oom_episodes or 0 for s in scores),
        cpu_over_request_pct=mean([s.cpu_over_request_pct for s in scores]),
        memory_over_request_pct=mean([s.memory_over_request_pct for s in scores]),
        cpu_slack_pct=mean([s.cpu_slack for s in scores], 100),
        cpu_slack_pooled_pct=pooled(sum(s.cpu_unused_core_hours for s in scores), sum(s.cpu_requested_core_hours for s in scores)),
        memory_slack_pct=mean([s.memory_slack for s in scores], 100),
        memory_slack_pooled_pct=pooled(sum(s.memory_unused_gib_hours for s in scores), sum(s.memory_requested_gib_hours for s in scores)),
        monthly_cost_usd=sum((s.monthly_cost_usd for s in scores), Decimal(0)),
    )
