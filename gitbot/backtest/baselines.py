"""The sizings gitbot is compared with, each computed from a training window of a trace.

- ``current``: what the workload ran with at the end of the training window (for a VM trace, its
  provisioned cores and memory) as request and limit.
- ``krr-simple``: KRR's default ``simple`` strategy (robusta-dev/krr, ``robusta_krr/strategies/simple.py``
  and ``core/runner.py``): over the last 14 days (``history_duration`` 336 h), CPU request = p95 of
  usage (``cpu_percentile`` 95), no CPU limit; memory request = limit = max usage × 1.15
  (``memory_buffer_percentage`` 15); rounded up to 1m and to 1 MB (10^6 bytes), and at least KRR's
  minimums, 10m and 100 MB (``cpu_min_value``, ``memory_min_value`` in ``core/models/config.py``).
  Its OOM-kill data is off by default (``use_oomkill_data``), so OOMs change nothing.
- ``vpa-like``: the Vertical Pod Autoscaler recommender's target (kubernetes/autoscaler,
  ``vertical-pod-autoscaler/pkg/recommender``): decaying histograms with a 24 h half-life; CPU
  target = p90 of usage samples; memory target = p90 of per-interval (24 h) peaks; +15 % safety
  margin; minimums 25m and 250 MiB. An OOM kill becomes a memory sample of max(used + 100 MiB,
  used × 1.2), used being the larger of the request in force and the interval's peak so far, which
  stands as that interval's peak when it is higher (``ContainerState.RecordOOM``). VPA keeps the
  original limit:request ratio; the traces start Guaranteed (ratio 1), so limits equal requests.

Quantities come out as whole millicores and bytes, rounded up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gitbot.backtest.trace import Trace

MIB = 2**20
MB = 10**6
HALF_LIFE_SECONDS = 24 * 3600
VPA_MEMORY_INTERVAL_SECONDS = 24 * 3600
VPA_OOM_MIN_BUMP_BYTES = 100 * MIB
VPA_OOM_BUMP_RATIO = 1.2
KRR_HISTORY_SECONDS = 14 * 24 * 3600
KRR_MIN_CPU_M = 10
KRR_MIN_MEMORY_BYTES = 100 * MB


@dataclass(frozen=True)
class Sizing:
    cpu_request_m: int | None
    cpu_limit_m: int | None
    memory_request_bytes: int | None
    memory_limit_bytes: int | None


@dataclass(frozen=True)
class Oom:
    """An OOM kill: the first sample of a run above the memory limit in force."""

    timestamp: int
    limit_bytes: int
    request_bytes: int | None


def current(train: Trace) -> Sizing:
    cpu = int(train.cpu_capacity_m[-1]) if train.has_cpu else None
    memory = int(train.memory_capacity_bytes[-1])
    return Sizing(cpu, cpu, memory, memory)


def krr_simple(train: Trace) -> Sizing:
    recent = train.window(int(train.timestamps[-1]) + 1 - KRR_HISTORY_SECONDS, int(train.timestamps[-1]) + 1)
    cpu = max(_ceil(np.percentile(recent.cpu_m, 95)), KRR_MIN_CPU_M) if recent.has_cpu else None
    memory = None
    if recent.memory_known.any():
        memory = max(math.ceil(round(float(np.max(recent.memory_bytes[recent.memory_known])) * 1.15 / MB, 6)) * MB, KRR_MIN_MEMORY_BYTES)
    return Sizing(cpu, None, memory, memory)


def vpa_like(train: Trace, ooms: Sequence[Oom] = ()) -> Sizing:
    end = int(train.timestamps[-1])
    weights = np.exp2(-(end - train.timestamps) / HALF_LIFE_SECONDS)
    cpu = max(_ceil(weighted_percentile(train.cpu_m, weights, 90) * 1.15), 25) if train.has_cpu else None
    memory: int | None = None
    if train.memory_known.any():
        ts, used = train.timestamps[train.memory_known], train.memory_bytes[train.memory_known]
        interval = (ts - ts[0]) // VPA_MEMORY_INTERVAL_SECONDS
        intervals = np.unique(interval)
        peaks = np.array([used[interval == i].max() for i in intervals])
        peak_times = np.array([ts[interval == i].max() for i in intervals])
        for oom in ooms:
            at = (oom.timestamp - ts[0]) // VPA_MEMORY_INTERVAL_SECONDS
            slot = np.flatnonzero(intervals == at)
            if not slot.size:
                continue
            so_far = used[(interval == at) & (ts <= oom.timestamp)]
            peak = float(so_far.max()) if so_far.size else 0.0
            peaks[slot[0]] = max(float(peaks[slot[0]]), vpa_oom_sample(max(float(oom.request_bytes or 0), peak)))
        target = weighted_percentile(peaks, np.exp2(-(end - peak_times) / HALF_LIFE_SECONDS), 90) * 1.15
        memory = max(_ceil(target), 250 * MIB)
    return Sizing(cpu, cpu, memory, memory)


def vpa_oom_sample(used: float) -> float:
    """The memory sample VPA records for an OOM kill at ``used`` bytes."""
    return max(used + VPA_OOM_MIN_BUMP_BYTES, used * VPA_OOM_BUMP_RATIO)


def ooms_under(window: Trace, limit_bytes: np.ndarray | int | None, request_bytes: int | None = None) -> list[Oom]:
    """The OOM kills of ``window`` run with ``limit_bytes`` (one per sample, or one for all): the first
    sample of each run above the limit (a missing sample ends a run, as ``score.episodes`` counts)."""
    if limit_bytes is None or not len(window):
        return []
    limits = np.broadcast_to(np.asarray(limit_bytes, dtype=np.float64), window.timestamps.shape)
    above = window.memory_known & (window.memory_bytes > limits)
    starts = np.flatnonzero(above & ~np.concatenate(([False], above[:-1])))
    return [Oom(int(window.timestamps[i]), int(limits[i]), request_bytes) for i in starts]


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` percent of the total."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, cumulative[-1] * q / 100.0, side="left"))
    return float(values[order][min(index, len(order) - 1)])


def _ceil(value: float) -> int:
    return int(math.ceil(round(float(value), 6)))
