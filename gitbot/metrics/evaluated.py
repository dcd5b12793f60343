"""What every metric source answers, evaluated on the plan's grid, and its assembly into UsageData.

A source (the snapshot file, a Prometheus server) produces ``Evaluated``: one table per query of the
plan, keyed by pod container, with exactly the semantics of these PromQL expressions (``W`` is the
CPU rate window, ``S`` the step, ``H`` the history, ``C`` the container selector
``{container!="", container!="POD"}`` plus the namespace filter)::

    cpu_m           sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total C [W])) * 1000
    memory_bytes    max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes C [S]))
    restarts        max by (namespace, pod, container) (kube_pod_container_status_restarts_total)
    oom_flags       max by (namespace, pod, container) (kube_pod_container_status_last_terminated_reason{reason="OOMKilled"})
    memory_limits   max by (namespace, pod, container) (last_over_time(kube_pod_container_resource_limits{resource="memory"}[2h]))
    -- at the window's end only:
    throttled       sum by (namespace, pod, container) (increase(container_cpu_cfs_throttled_periods_total C [H]))
    periods         sum by (namespace, pod, container) (increase(container_cpu_cfs_periods_total C [H]))
    requests/limits max by (namespace, pod, container, resource) (max_over_time(kube_pod_container_resource_<x>{resource=~"cpu|memory"}[H]))
    owner rows      the label sets of kube_pod_owner / kube_replicaset_owner / kube_job_owner /
                    kube_pod_info / kube_node_labels seen in the window: max_over_time(<metric>[H]);
                    the three owner tables for every namespace (the unmatched pods' hints), the
                    other namespaces as group by (namespace, <object>, owner_kind, owner_name,
                    owner_is_controller) (max_over_time(<metric>[H]))
    traffic         sum by (reporter, source_workload_namespace, source_workload,
                            destination_workload_namespace, destination_workload) (increase(<m>[H]))
                    for m in istio_requests_total, istio_request_bytes_sum, istio_response_bytes_sum;
                    pairs with either namespace in the filter

Range tables hold one value per grid point (NaN: no sample). ``assemble`` then turns the tables into
``UsageData`` the same way for every source, so a plan from a snapshot and a plan from the server
that recorded it are identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from gitbot.metrics.source import (
    ARCH_LABELS,
    CAPACITY_TYPE_LABELS,
    INSTANCE_TYPE_LABELS,
    MESH_REQUESTS,
    REGION_LABELS,
    ZONE_LABELS,
)
from gitbot.metrics.usage import NodeInfo, PodContainerUsage, PodKey, Traffic, UsageData
from gitbot.model import Field

Key = tuple[str, str, str]  # (namespace, pod, container)
Labels = Mapping[str, str]
OOM_LIMIT_LOOKBACK_SECONDS = 7200  # how far back the memory limit in force at an OOM kill is looked up


@dataclass(frozen=True, eq=False)
class Evaluated:
    grid: np.ndarray
    step_seconds: int
    cpu_m: Mapping[Key, np.ndarray]
    memory_bytes: Mapping[Key, np.ndarray]
    restarts: Mapping[Key, np.ndarray]
    oom_flags: Mapping[Key, np.ndarray]
    memory_limits: Mapping[Key, np.ndarray]
    throttled: Mapping[Key, float]
    periods: Mapping[Key, float]
    observed: Mapping[Key, Mapping[Field, int]]
    pod_owners: Sequence[Labels]
    replicaset_owners: Sequence[Labels]
    job_owners: Sequence[Labels]
    pod_info: Sequence[Labels]
    node_labels: Sequence[Labels]
    warnings: tuple[str, ...] = ()
    failed_namespaces: Mapping[str, str] = field(default_factory=dict)
    traffic: Sequence[tuple[str, Labels, float]] = ()  # (mesh metric, MESH_LABELS, increase over the window)
    usage_elsewhere: frozenset[PodKey] = frozenset()  # pods with usage samples outside the namespaces asked (a snapshot's)


def observed_value(resource: str, value: float) -> int:
    """A kube-state-metrics request/limit (cores or bytes) as exact millicores or bytes."""
    return math.ceil(round(value * 1000, 6)) if resource == "cpu" else math.ceil(value)


def assemble(ev: Evaluated, source: str) -> UsageData:
    warnings = list(ev.warnings)
    containers: list[PodContainerUsage] = []
    empty = np.full(ev.grid.size, np.nan)
    for key in sorted(set(ev.cpu_m) | set(ev.memory_bytes)):
        cpu = _finite(ev.cpu_m.get(key, empty), key, "CPU", warnings)
        memory = _finite(ev.memory_bytes.get(key, empty), key, "memory", warnings)
        if np.isnan(cpu).all() and np.isnan(memory).all():
            continue  # the pod lived outside the window
        restarts, oom_times = _restarts_and_ooms(ev.restarts.get(key), ev.oom_flags.get(key), ev.grid)
        oom_limit = None
        if oom_times and key in ev.memory_limits:
            at = ev.memory_limits[key][int(np.searchsorted(ev.grid, oom_times[-1]))]
            oom_limit = None if not np.isfinite(at) else int(math.ceil(at))
        periods = ev.periods.get(key)
        throttled = ev.throttled.get(key)
        containers.append(
            PodContainerUsage(
                namespace=key[0],
                pod=key[1],
                container=key[2],
                cpu_m=cpu,
                memory_bytes=memory,
                throttled_periods=throttled if periods is not None else None,
                total_periods=periods,
                restarts=restarts,
                oom_times=oom_times,
                oom_limit_bytes=oom_limit,
                observed=ev.observed.get(key, {}),
            )
        )
    return UsageData(
        source=source,
        grid=ev.grid,
        step_seconds=ev.step_seconds,
        containers=tuple(containers),
        pod_owners=_owners(ev.pod_owners, "pod"),
        replicaset_owners=_owners(ev.replicaset_owners, "replicaset"),
        job_owners=_owners(ev.job_owners, "job_name"),
        pod_nodes={(r.get("namespace", ""), r.get("pod", "")): r["node"] for r in _ordered(ev.pod_info) if r.get("node")},
        nodes=_nodes(ev.node_labels),
        warnings=tuple(warnings),
        failed_namespaces=dict(ev.failed_namespaces),
        traffic=_traffic(ev.traffic),
        usage_elsewhere=ev.usage_elsewhere,
    )


def _finite(row: np.ndarray, key: Key, what: str, warnings: list[str]) -> np.ndarray:
    bad = np.isinf(row)
    if not bad.any():
        return row
    warnings.append(f"{'/'.join(key)}: {int(bad.sum())} infinite {what} values ignored")
    return np.where(bad, np.nan, row)


def _restarts_and_ooms(restarts: np.ndarray | None, oom_flag: np.ndarray | None, grid: np.ndarray) -> tuple[int, tuple[float, ...]]:
    """Restarts in the window, and the grid times of those that followed an OOM kill."""
    if restarts is None or restarts.size < 2:
        return 0, ()
    increases = np.diff(restarts)
    increases = np.where(~np.isfinite(increases) | (increases < 0), 0.0, increases)
    total = int(increases.sum())
    if oom_flag is None or total == 0:
        return total, ()
    flags = oom_flag[1:]
    times: list[float] = []
    for i in np.nonzero((increases > 0) & (flags == 1))[0]:
        times.extend([float(grid[i + 1])] * int(increases[i]))
    return total, tuple(times)


def _traffic(rows: Sequence[tuple[str, Labels, float]]) -> tuple[Traffic, ...]:
    """One record per (source, destination) workload pair, from the source proxy's counts when it
    reported (the client's view, including failed requests), else the destination's; each request is
    reported by both ends, so the two are never added. Clients outside the mesh ("unknown") are left out."""
    totals: dict[tuple[str, str, str, str], dict[str, dict[str, float]]] = {}
    for metric, labels, value in rows:
        pair = tuple(labels.get(k, "") for k in ("source_workload_namespace", "source_workload", "destination_workload_namespace", "destination_workload"))
        if not all(pair) or "unknown" in (pair[1], pair[3]) or not math.isfinite(value) or value <= 0:
            continue
        by_metric = totals.setdefault(pair, {}).setdefault(labels.get("reporter", ""), {})  # type: ignore[arg-type]
        by_metric[metric] = by_metric.get(metric, 0.0) + value
    out = []
    for (sns, src, dns, dst), by_reporter in sorted(totals.items()):
        reporter = "source" if "source" in by_reporter else min(by_reporter)
        counts = by_reporter[reporter]
        requests = counts.get(MESH_REQUESTS, 0.0)
        sent = sum(v for m, v in counts.items() if m != MESH_REQUESTS)
        out.append(Traffic((sns, src), (dns, dst), requests, sent, reporter))
    return tuple(out)


def _ordered(rows: Sequence[Labels]) -> list[Labels]:
    """A deterministic order, whatever order the source listed the rows in."""
    return sorted(rows, key=lambda r: sorted(r.items()))


def _owners(rows: Sequence[Labels], object_label: str) -> dict[PodKey, tuple[str, str]]:
    out: dict[PodKey, tuple[str, str]] = {}
    for r in _ordered(rows):
        # a bare Pod has one row with owner_kind="<none>" (and owner_is_controller "<none>" or "false")
        if r.get("owner_is_controller", "true") != "true" and r.get("owner_kind") != "<none>":
            continue
        out[(r.get("namespace", ""), r.get(object_label, ""))] = (r.get("owner_kind", ""), r.get("owner_name", ""))
    return out


def _nodes(rows: Sequence[Labels]) -> dict[str, NodeInfo]:
    def first(r: Labels, names: tuple[str, ...]) -> str | None:
        return next((r[n] for n in names if r.get(n)), None)

    nodes: dict[str, NodeInfo] = {}
    for r in _ordered(rows):
        name = r.get("node")
        if name:
            nodes[name] = NodeInfo(
                name=name,
                instance_type=first(r, INSTANCE_TYPE_LABELS),
                region=first(r, REGION_LABELS),
                zone=first(r, ZONE_LABELS),
                capacity_type=_capacity(r),
                arch=first(r, ARCH_LABELS),
            )
    return nodes


def _capacity(r: Labels) -> str | None:
    for label in CAPACITY_TYPE_LABELS:
        value = r.get(label)
        if not value:
            continue
        if label.endswith(("gke_spot", "gke_preemptible")):
            return "spot" if value == "true" else None
        return value
    return None
