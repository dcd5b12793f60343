"""The sizings gitbot is compared with, each computed from a training window of a trace.

- ``current``: what the workload ran with at the end of the training window (for a VM trace, its
  provisioned cores and memory) as request and limit.
- ``krr-simple``: KRR's default "simple" strategy — CPU request = p95 of usage, no CPU limit; memory
  request = limit = max usage × 1.15 (robusta-dev/krr, ``SimpleStrategy``: cpu_percentile 95,
  memory_buffer_percentage 15).
- ``vpa-like``: the Vertical Pod Autoscaler recommender's target — decaying histograms with a 24 h
  half-life; CPU target = p90 of usage samples; memory target = p90 of per-interval (24 h) peaks;
  +15 % safety margin; after an OOM in training, memory at least max(peak + 100 MiB, peak × 1.2);
  minimums 25m and 250 MiB (kubernetes/autoscaler ``vertical-pod-autoscaler/pkg/recommender``). VPA
  keeps the original limit:request ratio; the traces start Guaranteed (ratio 1), so limits equal
  requests.

Quantities come out as whole millicores and bytes, rounded up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gitbot.backtest.trace import Trace

MIB = 2**20
HALF_LIFE_SECONDS = 24 * 3600
VPA_MEMORY_INTERVAL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Sizing:
    cpu_request_m: int | None
    cpu_limit_m: int | None
    memory_request_bytes: int | None
    memory_limit_bytes: int | None


def current(train: Trace) -> Sizing:
    cpu = int(train.cpu_capacity_m[-1]) if train.has_cpu else None
    memory = int(train.memory_capacity_bytes[-1])
    return Sizing(cpu, cpu, memory, memory)


def krr_simple(train: Trace) -> Sizing:
    cpu = _ceil(np.percentile(train.cpu_m, 95)) if train.has_cpu else None
    memory = _ceil(float(np.max(train.memory_bytes[train.memory_known])) * 1.15) if train.memory_known.any() else None
    return Sizing(cpu, None, memory, memory)


def vpa_like(train: Trace, ooms_in_training: bool = False) -> Sizing:
    end = int(train.timestamps[-1])
    weights = np.exp2(-(end - train.timestamps) / HALF_LIFE_SECONDS)
    cpu = max(_ceil(weighted_percentile(train.cpu_m, weights, 90) * 1.15), 25) if train.has_cpu else None
    memory: int | None = None
    if train.memory_known.any():
        ts, used = train.timestamps[train.memory_known], train.memory_bytes[train.memory_known]
        interval = (ts - ts[0]) // VPA_MEMORY_INTERVAL_SECONDS
        peaks = np.array([used[interval == i].max() for i in np.unique(interval)])
        peak_times = np.array([ts[interval == i].max() for i in np.unique(interval)])
        target = weighted_percentile(peaks, np.exp2(-(end - peak_times) / HALF_LIFE_SECONDS), 90) * 1.15
        if ooms_in_training:
            top = float(used.max())
            target = max(target, top + 100 * MIB, top * 1.2)
        memory = max(_ceil(target), 250 * MIB)
    return Sizing(cpu, cpu, memory, memory)


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` percent of the total."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, cumulative[-1] * q / 100.0, side="left"))
    return float(values[order][min(index, len(order) - 1)])


def _ceil(value: float) -> int:
    return int(math.ceil(round(float(value), 6)))
