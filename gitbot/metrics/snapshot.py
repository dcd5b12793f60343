"""Usage from a recorded metrics snapshot: an OpenMetrics file (optionally gzipped).

The file holds raw samples of the real cAdvisor and kube-state-metrics series, so it can equally
be backfilled into Prometheus with ``promtool tsdb create-blocks-from openmetrics``. Values are
evaluated on the plan's time grid with Prometheus' own semantics (``gitbot.metrics.promql``):

- CPU: ``sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total[W]))``
- memory: ``max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes[step]))``
- throttling: ``increase(...cfs_throttled_periods_total[history]) / increase(...cfs_periods_total[history])``
- OOM kills: steps where ``kube_pod_container_status_restarts_total`` went up while
  ``kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}`` is 1.

The window ends at ``--at`` when given, else at the last sample in the file (rounded up to the step),
so a snapshot replays the same plan whenever it is run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from gitbot.errors import InputError
from gitbot.metrics import promql
from gitbot.metrics.openmetrics import OpenMetricsError, Series, read_series
from gitbot.metrics.source import (
    ALL_METRICS,
    ARCH_LABELS,
    CAPACITY_TYPE_LABELS,
    CFS_PERIODS,
    CFS_THROTTLED,
    CPU_USAGE,
    INSTANCE_TYPE_LABELS,
    JOB_OWNER,
    LAST_TERMINATED,
    LIMITS,
    MEMORY_WORKING_SET,
    NODE_LABELS,
    POD_INFO,
    POD_OWNER,
    REGION_LABELS,
    REPLICASET_OWNER,
    REQUESTS,
    RESTARTS,
    ZONE_LABELS,
    UsageQuery,
)
from gitbot.metrics.usage import NodeInfo, PodContainerUsage, PodKey, UsageData
from gitbot.model import Bound, Field, Resource

Key = tuple[str, str, str]  # (namespace, pod, container)


class SnapshotSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"snapshot {self.path}"

    def fetch(self, query: UsageQuery) -> UsageData:
        if not self.path.is_file():
            raise InputError(f"metrics file {self.path}: no such file")
        try:
            series = read_series(self.path, ALL_METRICS)
        except OpenMetricsError as exc:
            raise InputError(f"metrics file {exc}") from None
        except OSError as exc:
            raise InputError(f"metrics file {self.path}: cannot read: {exc}") from None
        return evaluate(series, query, self.describe())


def evaluate(series: Mapping[str, list[Series]], query: UsageQuery, source: str) -> UsageData:
    """Evaluate raw series on the query's grid. Shared with any source that has raw samples."""
    usage_series = [s for name in (CPU_USAGE, MEMORY_WORKING_SET) for s in series.get(name, [])]
    if not usage_series:
        raise InputError(f"{source}: no {CPU_USAGE} or {MEMORY_WORKING_SET} samples")
    step = query.step_seconds
    end = query.end
    if end is None:
        last = max(float(s.timestamps[-1]) for s in usage_series if s.timestamps.size)
        end = math.ceil(last / step) * step
    grid = promql.eval_grid(end - query.history_seconds + step, end, step)

    def wanted(s: Series) -> bool:
        return query.namespaces is None or s.label("namespace") in query.namespaces

    cpu = _group(series.get(CPU_USAGE, []), wanted, lambda s: promql.rate(s.timestamps, s.values, grid, query.rate_window_seconds) * 1000.0, "sum")
    memory = _group(series.get(MEMORY_WORKING_SET, []), wanted, lambda s: promql.max_over_time(s.timestamps, s.values, grid, step), "max")
    end_only = grid[-1:]
    throttled = _group(series.get(CFS_THROTTLED, []), wanted, lambda s: promql.increase(s.timestamps, s.values, end_only, query.history_seconds), "sum")
    periods = _group(series.get(CFS_PERIODS, []), wanted, lambda s: promql.increase(s.timestamps, s.values, end_only, query.history_seconds), "sum")
    restarts = {_ksm_key(s): s for s in series.get(RESTARTS, []) if wanted(s)}
    oom_flags = {_ksm_key(s): s for s in series.get(LAST_TERMINATED, []) if wanted(s) and s.label("reason") == "OOMKilled"}
    observed, memory_limits = _observed_resources(series, wanted, grid, step)

    empty = np.full(grid.size, np.nan)
    containers: list[PodContainerUsage] = []
    for key in sorted(set(cpu) | set(memory)):
        cpu_row = cpu.get(key, empty)
        mem_row = memory.get(key, empty)
        if np.isnan(cpu_row).all() and np.isnan(mem_row).all():
            continue  # the pod lived outside the window
        restart_count, oom_times = _restarts_and_ooms(restarts.get(key), oom_flags.get(key), grid, step)
        limit_series = memory_limits.get(key)
        oom_limit = None
        if oom_times and limit_series is not None:
            at = promql.last_over_time(limit_series.timestamps, limit_series.values, np.array([oom_times[-1]]), query.history_seconds)
            oom_limit = None if np.isnan(at[0]) else int(math.ceil(at[0]))
        throttled_value = _scalar(throttled.get(key))
        periods_value = _scalar(periods.get(key))
        containers.append(
            PodContainerUsage(
                namespace=key[0],
                pod=key[1],
                container=key[2],
                cpu_m=cpu_row,
                memory_bytes=mem_row,
                throttled_periods=throttled_value if periods_value is not None else None,
                total_periods=periods_value,
                restarts=restart_count,
                oom_times=oom_times,
                oom_limit_bytes=oom_limit,
                observed=observed.get(key, {}),
            )
        )
    return UsageData(
        source=source,
        grid=grid,
        step_seconds=step,
        containers=tuple(containers),
        pod_owners=_owners(series.get(POD_OWNER, []), "pod"),
        replicaset_owners=_owners(series.get(REPLICASET_OWNER, []), "replicaset"),
        job_owners=_owners(series.get(JOB_OWNER, []), "job_name"),
        pod_nodes={(s.label("namespace"), s.label("pod")): s.label("node") for s in _by_time(series.get(POD_INFO, [])) if s.label("node")},
        nodes=_nodes(series.get(NODE_LABELS, [])),
    )


def _container_key(s: Series) -> Key | None:
    """(namespace, pod, container) of a cAdvisor series; None for pod-level and pause-container series."""
    container = s.label("container") or s.label("container_name")
    pod = s.label("pod") or s.label("pod_name")
    if not container or container == "POD" or not pod:
        return None
    return (s.label("namespace"), pod, container)


def _ksm_key(s: Series) -> Key:
    return (s.label("namespace"), s.label("pod"), s.label("container"))


def _group(items: Iterable[Series], wanted, evaluate_one, how: str) -> dict[Key, np.ndarray]:  # type: ignore[no-untyped-def]
    rows: dict[Key, list[np.ndarray]] = defaultdict(list)
    for s in items:
        key = _container_key(s)
        if key is None or not wanted(s):
            continue
        rows[key].append(evaluate_one(s))
    out: dict[Key, np.ndarray] = {}
    for key, arrays in rows.items():
        stacked = np.vstack(arrays)
        all_nan = np.isnan(stacked).all(axis=0)
        if how == "sum":
            combined = np.nansum(stacked, axis=0)
        else:
            combined = np.max(np.where(np.isnan(stacked), -np.inf, stacked), axis=0)
        out[key] = np.where(all_nan, np.nan, combined)
    return out


def _scalar(row: np.ndarray | None) -> float | None:
    if row is None or np.isnan(row[-1]):
        return None
    return float(row[-1])


def _restarts_and_ooms(restarts: Series | None, oom_flag: Series | None, grid: np.ndarray, step: int) -> tuple[int, tuple[float, ...]]:
    if restarts is None:
        return 0, ()
    counts = promql.instant(restarts.timestamps, restarts.values, grid, float(step))
    increases = np.diff(counts)
    increases = np.where(np.isnan(increases) | (increases < 0), 0.0, increases)
    total = int(increases.sum())
    if oom_flag is None or total == 0:
        return total, ()
    flags = promql.instant(oom_flag.timestamps, oom_flag.values, grid, float(step))[1:]
    times: list[float] = []
    for i in np.nonzero((increases > 0) & (flags == 1))[0]:
        times.extend([float(grid[i + 1])] * int(increases[i]))
    return total, tuple(times)


def _observed_resources(series: Mapping[str, list[Series]], wanted, grid: np.ndarray, step: int):  # type: ignore[no-untyped-def]
    """Max request/limit each pod container ran with during the window, and its memory limit series."""
    observed: dict[Key, dict[Field, int]] = defaultdict(dict)
    memory_limits: dict[Key, Series] = {}
    start = grid[0] - step
    for name, bound in ((REQUESTS, Bound.REQUEST), (LIMITS, Bound.LIMIT)):
        for s in series.get(name, []):
            resource = s.label("resource")
            if not wanted(s) or resource not in ("cpu", "memory"):
                continue
            inside = s.values[(s.timestamps > start) & (s.timestamps <= grid[-1])]
            if not inside.size:
                continue
            f = Field.of(Resource(resource), bound)
            value = float(inside.max())
            exact = math.ceil(round(value * 1000, 6)) if resource == "cpu" else math.ceil(value)
            key = _ksm_key(s)
            observed[key][f] = max(observed[key].get(f, exact), exact)
            if f is Field.MEMORY_LIMIT:
                memory_limits[key] = s
    return observed, memory_limits


def _by_time(items: list[Series]) -> list[Series]:
    """Series ordered by their last sample, so later label sets win when keyed."""
    return sorted(items, key=lambda s: float(s.timestamps[-1]) if s.timestamps.size else 0.0)


def _owners(items: list[Series], object_label: str) -> dict[PodKey, tuple[str, str]]:
    out: dict[PodKey, tuple[str, str]] = {}
    for s in _by_time(items):
        # a bare Pod has one row with owner_kind="<none>" (and owner_is_controller="<none>"/"false")
        if s.label("owner_is_controller", "true") != "true" and s.label("owner_kind") != "<none>":
            continue
        out[(s.label("namespace"), s.label(object_label))] = (s.label("owner_kind"), s.label("owner_name"))
    return out


def _nodes(items: list[Series]) -> dict[str, NodeInfo]:
    def first(s: Series, names: tuple[str, ...]) -> str | None:
        return next((s.label(n) for n in names if s.label(n)), None)

    nodes: dict[str, NodeInfo] = {}
    for s in _by_time(items):
        name = s.label("node")
        if name:
            nodes[name] = NodeInfo(
                name=name,
                instance_type=first(s, INSTANCE_TYPE_LABELS),
                region=first(s, REGION_LABELS),
                zone=first(s, ZONE_LABELS),
                capacity_type=_capacity(s),
                arch=first(s, ARCH_LABELS),
            )
    return nodes


def _capacity(s: Series) -> str | None:
    for label in CAPACITY_TYPE_LABELS:
        value = s.label(label)
        if not value:
            continue
        if label.endswith(("gke_spot", "gke_preemptible")):
            return "spot" if value == "true" else None
        return value
    return None
