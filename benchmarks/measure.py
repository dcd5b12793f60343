"""The timed passes over one fleet, and the checks that they compute the same thing.

* ``numpy_pass``: the floor. Per pod container, p97 of CPU millicores and p99 of memory bytes over
  the (containers x steps) matrices, NaN (no sample) left out, fully vectorised: one sort per
  matrix, then numpy's default linear interpolation between the two order statistics around the
  rank. This is the arithmetic a plan cannot avoid; it is faster than ``np.nanpercentile``, which
  falls back to a per-row loop once any NaN is present, so the ratios are against the faster floor.
* ``profiles_pass``: ``gitbot.metrics.usage.build_profiles``, the pod -> workload join and pooling.
* ``strategy_pass``: ``PercentileStrategy.recommend_many`` over every workload container, as
  ``gitbot plan`` calls it after building the profiles (the forecasts of all fitted together).

``baseline_agrees`` checks that the floor computes what gitbot computes: for single-replica
workloads the pooled profile holds exactly that pod's samples, so ``profile.cpu_percentile(97)``
must equal the floor's row. ``float32_agrees`` checks that the compact float32 usage gives the same
proposals as the float64 arrays gitbot's own sources produce.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import pstats
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.fleet import Fleet
from gitbot.metrics.usage import Profiles, UsageData, build_profiles
from gitbot.model import FIELDS, Workload
from gitbot.strategies.base import Recommendation
from gitbot.strategies.percentile import PercentileStrategy

CPU_Q = 97.0  # the default cpu_request_percentile
MEMORY_Q = 99.0  # the default memory_request_percentile


@dataclass(frozen=True)
class StrategyTiming:
    seconds: float
    calls: int  # recommend() calls: one per workload container
    digest: str  # of every proposed value, so runs can be compared for determinism
    statuses: dict[str, int]


def row_percentiles(matrix: np.ndarray, q: float) -> np.ndarray:
    """The q-th percentile of each row's non-NaN values (numpy's linear method); NaN for empty rows."""
    ordered = np.sort(matrix, axis=1)  # NaN sorts last
    counts = np.count_nonzero(~np.isnan(matrix), axis=1)
    rank = np.maximum(counts - 1, 0) * (q / 100.0)
    low = np.floor(rank).astype(np.intp)
    high = np.minimum(low + 1, np.maximum(counts - 1, 0))
    a = np.take_along_axis(ordered, low[:, None], axis=1)[:, 0].astype(np.float64)
    b = np.take_along_axis(ordered, high[:, None], axis=1)[:, 0].astype(np.float64)
    out = a + (b - a) * (rank - low)
    out[counts == 0] = np.nan
    return out


def numpy_pass(fleet: Fleet, repeats: int = 3) -> tuple[float, np.ndarray, np.ndarray]:
    """Best of ``repeats`` wall times of the floor, and its per-container results."""
    best = float("inf")
    cpu = memory = np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        cpu = row_percentiles(fleet.cpu_m, CPU_Q)
        memory = row_percentiles(fleet.memory_bytes, MEMORY_Q)
        best = min(best, time.perf_counter() - start)
    return best, cpu, memory


def profiles_pass(fleet: Fleet) -> tuple[float, Profiles]:
    start = time.perf_counter()
    profiles = build_profiles(fleet.workloads, fleet.data)
    return time.perf_counter() - start, profiles


def strategy_pass(strategy: PercentileStrategy, workloads: Sequence[Workload], profiles: Profiles) -> StrategyTiming:
    start = time.perf_counter()
    recs = _recommend_all(strategy, workloads, profiles)
    seconds = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for rec in recs:
        statuses[rec.status.value] = statuses.get(rec.status.value, 0) + 1
    return StrategyTiming(seconds, len(recs), recommendations_digest(recs), statuses)


def _recommend_all(strategy: PercentileStrategy, workloads: Sequence[Workload], profiles: Profiles) -> list[Recommendation]:
    return strategy.recommend_many([(w, c, profiles.get(w.id, c.name), None) for w in workloads for c in w.containers])


def recommendations_digest(recs: Sequence[Recommendation]) -> str:
    digest = hashlib.sha256()
    for rec in recs:
        values = [rec.recommended(f) for f in FIELDS]
        digest.update(f"{rec.workload.id}/{rec.container.name}:{rec.status.value}:{values}\n".encode())
    return digest.hexdigest()[:16]


def profile_strategy(strategy: PercentileStrategy, workloads: Sequence[Workload], profiles: Profiles,
                     path: Path, title: str, top: int = 10) -> list[str]:
    """cProfile the strategy pass; write the top ``top`` by cumulative and by own time to ``path``.
    Returns the top 3 by cumulative time below the benchmark's own loop, as ``file:line(function)``."""
    profiler = cProfile.Profile()
    profiler.enable()
    _recommend_all(strategy, workloads, profiles)
    profiler.disable()
    text = io.StringIO()
    text.write(f"{title}\n\n")
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue(), encoding="utf-8")

    raw = pstats.Stats(profiler)
    rows = sorted(raw.stats.items(), key=lambda item: -item[1][3])  # type: ignore[attr-defined]
    names = []
    for (file, line, function), (_, _, _, cumulative, _) in rows:
        if function in ("_recommend_all", "<listcomp>", "recommend", "recommend_many") or file == "~" or "benchmarks" in file:
            continue
        names.append(f"{_short(file)}:{line}({function}) {cumulative:.1f}s")
        if len(names) == 3:
            break
    return names


def _short(file: str) -> str:
    for marker in ("/gitbot/", "/site-packages/"):
        if marker in file:
            return file[file.index(marker) + 1:]
    return file


def baseline_agrees(fleet: Fleet, profiles: Profiles, cpu: np.ndarray, memory: np.ndarray) -> tuple[int, int]:
    """(single-replica workload containers checked, how many match the floor to 1e-6 relative)."""
    checked = agreeing = 0
    for key, rows in fleet.rows.items():
        profile = profiles.by_container.get(key)
        if len(rows) != 1 or profile is None:
            continue
        checked += 1
        ok_cpu = np.isclose(profile.cpu_percentile(CPU_Q) or 0.0, cpu[rows[0]], rtol=1e-6)
        ok_memory = np.isclose(profile.memory_percentile(MEMORY_Q) or 0.0, memory[rows[0]], rtol=1e-6)
        agreeing += int(bool(ok_cpu and ok_memory))
    return checked, agreeing


def float32_agrees(fleet: Fleet, strategy: PercentileStrategy, workloads: Sequence[Workload]) -> tuple[int, int]:
    """(recommend() calls compared, how many propose identical values) between float32 and float64
    copies of the fleet's usage, for ``workloads``."""
    rows = sorted(i for w in workloads for c in w.containers for i in fleet.rows[(w.id, c.name)])
    picked = tuple(fleet.data.containers[i] for i in rows)

    def as_type(dtype: type) -> UsageData:
        return replace(fleet.data, containers=tuple(
            replace(u, cpu_m=u.cpu_m.astype(dtype), memory_bytes=u.memory_bytes.astype(dtype)) for u in picked))

    narrow, wide = as_type(np.float32), as_type(np.float64)
    a = _recommend_all(strategy, workloads, build_profiles(workloads, narrow))
    b = _recommend_all(strategy, workloads, build_profiles(workloads, wide))
    same = sum(1 for x, y in zip(a, b) if all(x.recommended(f) == y.recommended(f) for f in FIELDS))
    return len(a), same
