"""How a sizing would have done on the samples after its training window.

- CPU slack: requested core-hours not used / requested core-hours (usage above the request counts
  as no slack, not negative slack);
- CPU samples above the request, and above the limit (a throttling proxy), in percent of samples;
- memory slack, the same way, over the samples that have a memory value;
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


def score(sizing: Sizing, test: Trace, rates: ResourceRates) -> Score:
    cpu, memory = test.cpu_m, test.memory_bytes[test.memory_known]
    return Score(
        samples=len(test),
        cpu_slack=_slack(cpu, sizing.cpu_request_m),
        cpu_over_request_pct=_over_pct(cpu, sizing.cpu_request_m),
        cpu_over_limit_pct=_over_pct(cpu, sizing.cpu_limit_m),
        memory_slack=_slack(memory, sizing.memory_request_bytes),
        memory_over_request_pct=_over_pct(memory, sizing.memory_request_bytes),
        oom_episodes=(
            episodes(test.memory_known & (test.memory_bytes > sizing.memory_limit_bytes))  # a missing sample ends a run
            if sizing.memory_limit_bytes is not None and memory.size else None
        ),
        monthly_cost_usd=monthly_cost(sizing.cpu_request_m, sizing.memory_request_bytes, Decimal(1), rates),
    )


def episodes(above: np.ndarray) -> int:
    """Runs of True: each run of consecutive samples above the limit is one OOM episode."""
    if above.size == 0:
        return 0
    starts = above & ~np.concatenate(([False], above[:-1]))
    return int(starts.sum())


def _slack(used: np.ndarray, request: int | None) -> float | None:
    if request is None or request <= 0 or used.size == 0:
        return None
    return float(np.maximum(request - used, 0.0).sum() / (request * used.size))


def _over_pct(used: np.ndarray, bound: int | None) -> float | None:
    if bound is None or used.size == 0:
        return None
    return float((used > bound).mean() * 100.0)
