"""Usage from a recorded metrics snapshot: an OpenMetrics file (optionally gzipped).

The file holds raw samples of the real cAdvisor and kube-state-metrics series (``gitbot snapshot``
writes one; so can any exporter), so it can equally be backfilled into Prometheus with
``promtool tsdb create-blocks-from openmetrics``. The samples are evaluated on the plan's grid with
Prometheus' own semantics (``gitbot.metrics.promql``), giving exactly the tables the Prometheus
source gets from the server (``gitbot.metrics.evaluated`` lists the expressions).

Usage is evaluated for the namespaces asked only; the owner tables are read for every namespace,
and every pod the file holds counts among the unmatched pods when no workload claims it
(``gitbot.metrics.usage``), since the file already holds whatever it holds.

The window ends at ``--at`` when given, else where the snapshot says it was recorded
(``gitbot_snapshot_info``), else at the last sample rounded up to the step, so a snapshot replays the
same plan whenever it is run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from gitbot.errors import InputError
from gitbot.metrics import promql
from gitbot.metrics.evaluated import OOM_LIMIT_LOOKBACK_SECONDS, Evaluated, Key, Labels, assemble, observed_value
from gitbot.metrics.openmetrics import OpenMetricsError, Series, read_series, sniff
from gitbot.metrics.source import (
    ALL_METRICS,
    CFS_PERIODS,
    CFS_THROTTLED,
    CPU_USAGE,
    JOB_OWNER,
    LAST_TERMINATED,
    LIMITS,
    LOOKBACK_SECONDS,
    MEMORY_WORKING_SET,
    MESH_LABELS,
    MESH_METRICS,
    NODE_LABELS,
    OWNER_OBJECT_LABELS,
    POD_INFO,
    POD_OWNER,
    REPLICASET_OWNER,
    REQUESTS,
    RESTARTS,
    SNAPSHOT_INFO,
    UsageQuery,
)
from gitbot.metrics.usage import PodKey, UsageData
from gitbot.model import Bound, Field, Resource


class SnapshotSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"snapshot {self.path}"

    def fetch(self, query: UsageQuery) -> UsageData:
        if not self.path.is_file():
            raise InputError(f"metrics file {self.path}: no such file")
        try:
            misnamed = self._not_gzip()
            series = read_series(self.path, (*ALL_METRICS, SNAPSHOT_INFO))
        except OpenMetricsError as exc:
            raise InputError(f"metrics file {exc}" + (f" ({misnamed})" if misnamed else "")) from None
        except OSError as exc:
            raise InputError(f"metrics file {self.path}: cannot read: {exc}") from None
        try:
            data = assemble(evaluate(series, query, self.describe()), self.describe())
        except InputError as exc:
            if misnamed is None:
                raise
            raise InputError(f"{exc} ({misnamed})") from None
        return replace(data, warnings=(*data.warnings, misnamed)) if misnamed else data

    def _not_gzip(self) -> str | None:
        """For a ``.gz`` file that is plain text: that it was read as such, since its name says otherwise
        (a file that is neither is refused by ``read_series``, saying what it is)."""
        if self.path.suffix != ".gz":
            return None
        sniffed = sniff(self.path)
        if sniffed.gzipped or sniffed.problem is not None:
            return None
        return f"{self.path} is not gzip (it {sniffed.looks}); read as plain OpenMetrics text"


def window_end(series: Mapping[str, list[Series]], query: UsageQuery, source: str) -> float:
    if query.end is not None:
        return query.end
    info = series.get(SNAPSHOT_INFO, [])
    if info and info[-1].timestamps.size:
        return float(info[-1].timestamps[-1])
    usage = [s for name in (CPU_USAGE, MEMORY_WORKING_SET) for s in series.get(name, []) if s.timestamps.size]
    if not usage:
        raise InputError(f"{source}: no {CPU_USAGE} or {MEMORY_WORKING_SET} samples")
    last = max(float(s.timestamps[-1]) for s in usage)
    return math.ceil(last / query.step_seconds) * query.step_seconds


def evaluate(series: Mapping[str, list[Series]], query: UsageQuery, source: str) -> Evaluated:
    """Evaluate raw series on the query's grid (see ``gitbot.metrics.evaluated`` for the semantics)."""
    if not any(series.get(name) for name in (CPU_USAGE, MEMORY_WORKING_SET)):
        raise InputError(f"{source}: no {CPU_USAGE} or {MEMORY_WORKING_SET} samples")
    step = query.step_seconds
    end = window_end(series, query, source)
    start = end - query.history_seconds  # the window is (start, end]
    grid = promql.eval_grid(start + step, end, step)
    end_only = grid[-1:]

    def wanted(s: Series) -> bool:
        return query.namespaces is None or s.label("namespace") in query.namespaces

    def by_container(name: str, evaluate_one: Callable[[Series], np.ndarray], how: str, only: Callable[[Series], bool] = lambda s: True) -> dict[Key, np.ndarray]:
        keyed = ((_container_key(s), s) for s in series.get(name, []) if wanted(s) and only(s))
        return _combine(((k, evaluate_one(s)) for k, s in keyed if k is not None), how)

    cpu = by_container(CPU_USAGE, lambda s: promql.rate(s.timestamps, s.values, grid, query.rate_window_seconds) * 1000.0, "sum")
    memory = by_container(MEMORY_WORKING_SET, lambda s: promql.max_over_time(s.timestamps, s.values, grid, step), "max")
    restarts = by_container(RESTARTS, lambda s: promql.instant(s.timestamps, s.values, grid, LOOKBACK_SECONDS), "max")
    oom_flags = by_container(
        LAST_TERMINATED, lambda s: promql.instant(s.timestamps, s.values, grid, LOOKBACK_SECONDS), "max",
        only=lambda s: s.label("reason") == "OOMKilled",
    )
    memory_limits = by_container(
        LIMITS, lambda s: promql.last_over_time(s.timestamps, s.values, grid, OOM_LIMIT_LOOKBACK_SECONDS), "max",
        only=lambda s: s.label("resource") == "memory",
    )
    throttled = by_container(CFS_THROTTLED, lambda s: promql.increase(s.timestamps, s.values, end_only, query.history_seconds), "sum")
    periods = by_container(CFS_PERIODS, lambda s: promql.increase(s.timestamps, s.values, end_only, query.history_seconds), "sum")

    def in_window(s: Series) -> bool:
        return bool(((s.timestamps > start) & (s.timestamps <= end)).any())

    def rows(name: str) -> list[Labels]:
        everywhere = name == NODE_LABELS or name in OWNER_OBJECT_LABELS  # owners: for the unmatched pods of every namespace
        return [dict(s.labels) for s in series.get(name, []) if in_window(s) and (everywhere or wanted(s))]

    return Evaluated(
        grid=grid,
        step_seconds=step,
        cpu_m=cpu,
        memory_bytes=memory,
        restarts=restarts,
        oom_flags=oom_flags,
        memory_limits=memory_limits,
        throttled=_at_end(throttled),
        periods=_at_end(periods),
        observed=_observed(series, wanted, start, end),
        pod_owners=rows(POD_OWNER),
        replicaset_owners=rows(REPLICASET_OWNER),
        job_owners=rows(JOB_OWNER),
        pod_info=rows(POD_INFO),
        node_labels=rows(NODE_LABELS),
        traffic=_traffic(series, query, end),
        usage_elsewhere=_usage_elsewhere(series, wanted, in_window),
    )


def _usage_elsewhere(series: Mapping[str, list[Series]], wanted: Callable[[Series], bool], in_window: Callable[[Series], bool]) -> frozenset[PodKey]:
    """The pods with CPU or memory samples in the window outside the namespaces asked: not evaluated
    (no plan needs their usage), only counted among the unmatched pods, since the file holds them."""
    pods: set[PodKey] = set()
    for name in (CPU_USAGE, MEMORY_WORKING_SET):
        for s in series.get(name, []):
            key = None if wanted(s) else _container_key(s)
            if key is not None and in_window(s):
                pods.add((key[0], key[1]))
    return frozenset(pods)


def _traffic(series: Mapping[str, list[Series]], query: UsageQuery, end: float) -> list[tuple[str, Labels, float]]:
    """``sum by (MESH_LABELS) (increase(m[H]))`` at the window's end, for pairs touching the namespaces."""
    at = np.array([end])
    sums: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
    for name in MESH_METRICS:
        for s in series.get(name, []):
            if query.namespaces is not None and not {s.label("source_workload_namespace"), s.label("destination_workload_namespace")} & query.namespaces:
                continue
            value = float(promql.increase(s.timestamps, s.values, at, query.history_seconds)[0])
            if not math.isnan(value):
                sums[(name, tuple(s.label(k) for k in MESH_LABELS))] += value
    return [(name, dict(zip(MESH_LABELS, labels)), value) for (name, labels), value in sorted(sums.items())]


def _container_key(s: Series) -> Key | None:
    """(namespace, pod, container); None for cAdvisor's pod-level and pause-container series."""
    container = s.label("container") or s.label("container_name")
    pod = s.label("pod") or s.label("pod_name")
    if not container or container == "POD" or not pod:
        return None
    return (s.label("namespace"), pod, container)


def _combine(rows: Iterable[tuple[Key, np.ndarray]], how: str) -> dict[Key, np.ndarray]:
    """``sum by`` / ``max by`` (namespace, pod, container): NaN only where every series is NaN."""
    grouped: dict[Key, list[np.ndarray]] = defaultdict(list)
    for key, row in rows:
        grouped[key].append(row)
    out: dict[Key, np.ndarray] = {}
    for key, arrays in grouped.items():
        stacked = np.vstack(arrays)
        missing = np.isnan(stacked)
        if how == "sum":
            combined = np.where(missing, 0.0, stacked).sum(axis=0)
        else:
            combined = np.where(missing, -np.inf, stacked).max(axis=0)
        out[key] = np.where(missing.all(axis=0), np.nan, combined)
    return out


def _at_end(rows: Mapping[Key, np.ndarray]) -> dict[Key, float]:
    return {key: float(row[-1]) for key, row in rows.items() if not np.isnan(row[-1])}


def _observed(series: Mapping[str, list[Series]], wanted: Callable[[Series], bool], start: float, end: float) -> dict[Key, dict[Field, int]]:
    """The highest request/limit each pod container ran with in the window."""
    observed: dict[Key, dict[Field, int]] = defaultdict(dict)
    for name, bound in ((REQUESTS, Bound.REQUEST), (LIMITS, Bound.LIMIT)):
        for s in series.get(name, []):
            resource = s.label("resource")
            if not wanted(s) or resource not in ("cpu", "memory"):
                continue
            inside = s.values[(s.timestamps > start) & (s.timestamps <= end)]
            if not inside.size:
                continue
            f = Field.of(Resource(resource), bound)
            key = (s.label("namespace"), s.label("pod"), s.label("container"))
            exact = observed_value(resource, float(inside.max()))
            observed[key][f] = max(observed[key].get(f, exact), exact)
    return dict(observed)
