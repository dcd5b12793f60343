"""Usage records shared by every metric source, and the join from pods to workloads.

A metric source (a snapshot file, a Prometheus server) produces ``UsageData``: per pod container,
CPU and memory on a common time grid (NaN where there is no sample), plus the kube-state-metrics
tables needed to join pods to their GitOps workloads. ``build_profiles`` is the one place that
joins and pools them into a ``UsageProfile`` per workload container, so every source gives the
same profiles for the same data.

Join path (kube-state-metrics): pod -> ``kube_pod_owner`` -> ReplicaSet -> ``kube_replicaset_owner``
-> Deployment; Job -> ``kube_job_owner`` -> CronJob; a Job named a ``generateName`` prefix plus five
characters -> the Job workload of that prefix; StatefulSet and DaemonSet directly; no owner
-> the Pod itself. Pods the owner metrics do not cover are matched by name against the workloads in
the manifests (``web-7d9f8c6b5-x2k4q`` -> Deployment ``web``), and the profile says so.

Every other pod the source saw, in any namespace (the owner tables cover the whole cluster, not only
the namespaces planned), is an ``UnmatchedPod`` with its resolved owner: the raw material of the
hints in ``gitbot.metrics.unmatched`` when the repository and the cluster differ.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from gitbot.model import Field, Workload, WorkloadId

PodKey = tuple[str, str]  # (namespace, pod)
ContainerKey = tuple[WorkloadId, str]  # (workload, container name)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    instance_type: str | None
    region: str | None
    zone: str | None
    capacity_type: str | None  # raw label value: spot, on-demand, SPOT, true (GKE spot) ...
    arch: str | None


@dataclass(frozen=True, eq=False)
class PodContainerUsage:
    namespace: str
    pod: str
    container: str
    cpu_m: np.ndarray  # millicores on the grid; NaN where no sample
    memory_bytes: np.ndarray  # working set bytes on the grid; NaN where no sample
    throttled_periods: float | None  # increase over the window; None without a CPU quota
    total_periods: float | None
    restarts: int
    oom_times: tuple[float, ...]  # grid times at which an OOM kill was recorded
    oom_limit_bytes: int | None  # memory limit in force at the last OOM kill, when known
    observed: Mapping[Field, int] = field(default_factory=dict)  # requests/limits the pod ran with (max)


@dataclass(frozen=True)
class Traffic:
    """Service-mesh traffic from one workload to another over the window (Istio standard metrics)."""

    source: tuple[str, str]  # (namespace, workload name) as the mesh names it
    destination: tuple[str, str]
    requests: float
    bytes: float  # request plus response bytes
    reporter: str  # "source" or "destination": the proxy whose counts these are


@dataclass(frozen=True, eq=False)
class UsageData:
    source: str  # what it came from, for the plan output
    grid: np.ndarray  # evaluation times (unix seconds)
    step_seconds: int
    containers: tuple[PodContainerUsage, ...]
    pod_owners: Mapping[PodKey, tuple[str, str]]  # (namespace, pod) -> (owner kind, owner name)
    replicaset_owners: Mapping[PodKey, tuple[str, str]]  # (namespace, replicaset) -> (kind, name)
    job_owners: Mapping[PodKey, tuple[str, str]]  # (namespace, job) -> (kind, name)
    pod_nodes: Mapping[PodKey, str]
    nodes: Mapping[str, NodeInfo]
    warnings: tuple[str, ...] = ()
    failed_namespaces: Mapping[str, str] = field(default_factory=dict)  # namespace -> why it has no usage
    traffic: tuple[Traffic, ...] = ()  # empty without mesh metrics
    # pods with usage samples in namespaces the query did not ask for: a snapshot holds whatever it
    # holds, and they still count as unmatched (a server is asked only for their owner series)
    usage_elsewhere: frozenset[PodKey] = frozenset()

    @property
    def window_start(self) -> float:
        return float(self.grid[0] - self.step_seconds) if len(self.grid) else 0.0

    @property
    def window_end(self) -> float:
        return float(self.grid[-1]) if len(self.grid) else 0.0


@dataclass(frozen=True)
class NodeShare:
    node: NodeInfo
    share: float  # fraction of this container's samples observed on nodes of this kind


@dataclass(frozen=True, eq=False)
class UsageProfile:
    """Observed usage of one workload container, pooled over all its pods.

    The samples stay in the pods' own arrays on the grid (``cpu_rows``, ``memory_rows``: the source's
    arrays, not copies); the pooled forms (``cpu_m``, ``cpu_m_by_step`` ...) are computed when asked
    and not kept. A kept pooled copy would double the memory of a 10k-container plan."""

    workload: WorkloadId
    container: str
    cpu_rows: tuple[np.ndarray, ...]  # per pod: millicores on the grid, NaN where no sample
    memory_rows: tuple[np.ndarray, ...]  # per pod: working-set bytes on the grid, NaN where no sample
    cpu_samples: int  # CPU samples over all pods (the size of ``cpu_m``)
    memory_samples: int
    step_seconds: int
    steps_total: int
    steps_with_data: int
    first_seen: float | None
    last_seen: float | None
    pods: int
    avg_replicas: float  # mean number of pods with data per step over the whole window
    restarts: int
    oom_events: int
    oom_memory_bytes: int | None  # memory level of the last OOM kill (limit in force, or the peak before it)
    throttled_ratio: float | None  # throttled / total CFS periods over the window
    observed: Mapping[Field, int]  # requests/limits the pods ran with during the window (max over pods)
    nodes: tuple[NodeShare, ...]
    joined_by: str  # "owner" (kube-state-metrics owner chain) or "name" (pod-name fallback)
    zones: tuple[tuple[str, float], ...] = ()  # (zone, fraction of samples there), largest first; known zones only

    @property
    def samples(self) -> int:
        return max(self.cpu_samples, self.memory_samples)

    @property
    def cpu_m(self) -> np.ndarray:
        """Every CPU sample of every pod, pod by pod (millicores), no NaN."""
        return _known(self.cpu_rows)

    @property
    def cpu_m_steps(self) -> np.ndarray:
        """int32: the grid step of each value in ``cpu_m``."""
        return np.concatenate([np.flatnonzero(~np.isnan(row)) for row in self.cpu_rows]).astype(np.int32)

    @property
    def memory_bytes(self) -> np.ndarray:
        """Every working-set sample of every pod (bytes), no NaN."""
        return _known(self.memory_rows)

    @property
    def cpu_m_by_step(self) -> np.ndarray:
        """On the grid: the sum over pods (NaN where no pod had data)."""
        return _across_pods(self.cpu_rows, 0.0, np.sum)

    @property
    def cpu_m_per_pod_by_step(self) -> np.ndarray:
        """On the grid: the mean over the pods with data (NaN where none had)."""
        if len(self.cpu_rows) == 1:
            return _read_only(self.cpu_rows[0])
        pods = (~np.isnan(np.vstack(self.cpu_rows))).sum(axis=0)
        total = self.cpu_m_by_step
        return np.divide(total, pods, out=np.full(total.shape, np.nan), where=pods > 0)

    @property
    def memory_bytes_by_step(self) -> np.ndarray:
        """On the grid: the maximum over pods (NaN where no pod had data)."""
        return _across_pods(self.memory_rows, -np.inf, np.max)

    @property
    def coverage(self) -> float:
        return self.steps_with_data / self.steps_total if self.steps_total else 0.0

    @property
    def span_coverage(self) -> float:
        """Steps with data between the first and the last sample: gaps in scraping, not a short history."""
        span_steps = round(self.span_seconds / self.step_seconds) if self.step_seconds else 0
        return self.steps_with_data / span_steps if span_steps else 0.0

    @property
    def span_seconds(self) -> float:
        if self.first_seen is None or self.last_seen is None:
            return 0.0
        return self.last_seen - self.first_seen + self.step_seconds

    def cpu_percentile(self, q: float) -> float | None:
        return float(np.percentile(self.cpu_m, q)) if self.cpu_samples else None

    def memory_percentile(self, q: float) -> float | None:
        return float(np.percentile(self.memory_bytes, q)) if self.memory_samples else None

    def cpu_max(self) -> float | None:
        return _max_known(self.cpu_rows) if self.cpu_samples else None

    def memory_max(self) -> float | None:
        return _max_known(self.memory_rows) if self.memory_samples else None


@dataclass(frozen=True)
class UnmatchedPod:
    """A pod the usage source saw (usage samples or a ``kube_pod_owner`` series, any namespace) that
    no workload of the repository claims: the repository and the cluster differ there."""

    namespace: str
    pod: str
    owner: tuple[str, str] | None  # resolved controller (kind, name), e.g. ("Deployment", "web"); None: no owner series


@dataclass(frozen=True, eq=False)
class Profiles:
    by_container: Mapping[ContainerKey, UsageProfile]
    data: UsageData
    unmatched: tuple[UnmatchedPod, ...]  # sorted by (namespace, pod)

    @property
    def unmatched_pods(self) -> tuple[PodKey, ...]:
        """(namespace, pod) of every pod no workload in the repository claims, in all namespaces."""
        return tuple((u.namespace, u.pod) for u in self.unmatched)

    def get(self, workload: WorkloadId, container: str) -> UsageProfile | None:
        return self.by_container.get((workload, container))


def _known(rows: tuple[np.ndarray, ...]) -> np.ndarray:
    if len(rows) == 1 and not np.isnan(rows[0]).any():
        return _read_only(rows[0])  # one pod, no gap: its row as it is
    return np.concatenate([row[~np.isnan(row)] for row in rows]) if rows else np.zeros(0)


def _max_known(rows: tuple[np.ndarray, ...]) -> float:
    """The largest sample of any row (NaN left out: ``np.fmax`` takes the other operand)."""
    peaks = [float(np.fmax.reduce(row)) for row in rows if row.size]
    return max(peak for peak in peaks if not math.isnan(peak))


def _across_pods(rows: tuple[np.ndarray, ...], fill: float, reduce: Any) -> np.ndarray:
    """One value per grid step: ``reduce`` over the pods with data there (``fill`` stands in for the
    others), NaN where none had data; a single pod's row as it is."""
    if len(rows) == 1:
        return _read_only(rows[0])
    stacked = np.vstack(rows)
    known = ~np.isnan(stacked)
    with np.errstate(invalid="ignore"):
        return np.where(known.any(axis=0), reduce(np.where(known, stacked, fill), axis=0), np.nan)


def _read_only(row: np.ndarray) -> np.ndarray:
    view = row.view()
    view.flags.writeable = False
    return view


def build_profiles(workloads: Iterable[Workload], data: UsageData, repository: Iterable[Workload] | None = None) -> Profiles:
    """Join each pod container to the workload that claims it and pool them into profiles.

    ``repository``: every workload of the repository, when ``workloads`` is a part of it (a shard):
    a pod of another part is not "unmatched", only not planned here. Default: ``workloads``.
    """
    claims = _Claims(workloads, data)
    groups: dict[ContainerKey, list[PodContainerUsage]] = {}
    joined_by: dict[ContainerKey, str] = {}
    for usage in data.containers:
        claimed = claims.claim(usage.namespace, usage.pod)
        if claimed is None:
            continue
        owner, how = claimed
        key = (owner, usage.container)
        groups.setdefault(key, []).append(usage)
        if how == "name" or key not in joined_by:
            joined_by[key] = how
    profiles = {key: _pool(key, items, data, joined_by[key]) for key, items in groups.items()}
    everyone = claims if repository is None else _Claims(repository, data)
    return Profiles(profiles, data, _unmatched(everyone, data))


class _Claims:
    """Which workload of a set claims a pod: its owner chain, a generateName Job's prefix, else its
    name (flagged "name": it can be wrong)."""

    def __init__(self, workloads: Iterable[Workload], data: UsageData) -> None:
        workloads = tuple(workloads)
        self.data = data
        self.known = {w.id for w in workloads}
        self.generated = {w.id for w in workloads if w.generate_name}
        self.by_namespace: dict[str, list[WorkloadId]] = {}
        for wid in sorted(self.known, key=str):
            self.by_namespace.setdefault(wid.namespace, []).append(wid)

    def claim(self, namespace: str, pod: str) -> tuple[WorkloadId, str] | None:
        owner = _owner(self.data, namespace, pod)
        if owner is not None and owner not in self.known and owner.kind == "Job":
            owner = _generated_job(owner, self.generated) or owner
        if owner is not None and owner in self.known:
            return owner, "owner"
        guess = _guess_owner(pod, self.by_namespace.get(namespace, []), self.generated)
        return None if guess is None else (guess, "name")


def _unmatched(claims: _Claims, data: UsageData) -> tuple[UnmatchedPod, ...]:
    """Every pod with usage or an owner series, in any namespace, that no workload claims, with the
    controller its owner chain resolves to (for the hints: a namespace that differs, a missing app)."""
    pods = {(u.namespace, u.pod) for u in data.containers} | set(data.pod_owners) | set(data.usage_elsewhere)
    out = []
    for namespace, pod in sorted(pods):
        if claims.claim(namespace, pod) is None:
            owner = _owner(data, namespace, pod)
            out.append(UnmatchedPod(namespace, pod, None if owner is None else (owner.kind, owner.name)))
    return tuple(out)


def _owner(data: UsageData, namespace: str, pod: str) -> WorkloadId | None:
    owner = data.pod_owners.get((namespace, pod))
    if owner is None:
        return None
    kind, name = owner
    if kind == "ReplicaSet":
        parent = data.replicaset_owners.get((namespace, name))
        if parent is not None and parent[0] == "Deployment":
            return WorkloadId(namespace, "Deployment", parent[1])
    elif kind == "Job":
        parent = data.job_owners.get((namespace, name))
        if parent is not None and parent[0] == "CronJob":
            return WorkloadId(namespace, "CronJob", parent[1])
    elif kind == "<none>":
        return WorkloadId(namespace, "Pod", pod)
    return WorkloadId(namespace, kind, name)


# suffixes the controllers append to a workload name when they create pods
_POD_SUFFIX = {
    "Deployment": re.compile(r"-[a-z0-9]{5,10}-[a-z0-9]{5}$"),
    "StatefulSet": re.compile(r"-\d+$"),
    "DaemonSet": re.compile(r"-[a-z0-9]{5}$"),
    "ReplicaSet": re.compile(r"-[a-z0-9]{5}$"),
    "ReplicationController": re.compile(r"-[a-z0-9]{5}$"),
    "Job": re.compile(r"-[a-z0-9]{5}$"),
    "CronJob": re.compile(r"-\d{8,10}-[a-z0-9]{5}$"),
}


# what the API server appends to a generateName (five of "bcdfghjklmnpqrstvwxz2456789"), and a
# generated Job's pod name after the prefix: the Job's five characters, then the pod's
_GENERATED = re.compile(r"[a-z0-9]{5}")
_GENERATED_JOB_POD = re.compile(r"[a-z0-9]{5}-[a-z0-9]{5}")


def _generated_job(job: WorkloadId, generated: set[WorkloadId]) -> WorkloadId | None:
    """The generateName Job workload that ``job`` (a Job the cluster ran) was created from: its
    name is the prefix plus five characters; the longest prefix wins."""
    best: WorkloadId | None = None
    for wid in generated:
        if (wid.namespace == job.namespace and wid.kind == "Job" and job.name.startswith(wid.name)
                and _GENERATED.fullmatch(job.name[len(wid.name):]) and (best is None or len(wid.name) > len(best.name))):
            best = wid
    return best


def _guess_owner(pod: str, candidates: list[WorkloadId], generated: set[WorkloadId]) -> WorkloadId | None:
    """The workload whose name plus its controller's pod suffix gives ``pod``; the longest name wins."""
    best: WorkloadId | None = None
    for wid in candidates:
        if wid in generated:
            matched = pod.startswith(wid.name) and _GENERATED_JOB_POD.fullmatch(pod[len(wid.name):]) is not None
        elif wid.kind == "Pod":
            matched = pod == wid.name
        else:
            suffix = _POD_SUFFIX.get(wid.kind)
            matched = (
                suffix is not None
                and pod.startswith(wid.name + "-")
                and suffix.fullmatch(pod[len(wid.name):]) is not None
            )
        if matched and (best is None or len(wid.name) > len(best.name)):
            best = wid
    return best


def _pool(key: ContainerKey, items: list[PodContainerUsage], data: UsageData, joined_by: str) -> UsageProfile:
    items = sorted(items, key=lambda u: u.pod)
    cpu = np.vstack([u.cpu_m for u in items])
    mem = np.vstack([u.memory_bytes for u in items])
    cpu_known, mem_known = ~np.isnan(cpu), ~np.isnan(mem)  # each mask once: the arrays are pods x steps
    has_data = cpu_known | mem_known
    steps_present = has_data.any(axis=0)
    present_times = data.grid[steps_present]

    throttled = [u.throttled_periods for u in items if u.throttled_periods is not None]
    periods = [u.total_periods for u in items if u.total_periods is not None]
    total_periods = float(sum(periods))
    throttled_ratio = float(sum(throttled)) / total_periods if periods and total_periods > 0 else None

    oom = sorted(((t, u) for u in items for t in u.oom_times), key=lambda pair: pair[0])
    oom_level: int | None = None
    if oom:
        last_time, last_pod = oom[-1]
        before = (data.grid > last_time - 1800) & (data.grid <= last_time)
        peak = last_pod.memory_bytes[before]
        peak = peak[~np.isnan(peak)]
        candidates = [v for v in (last_pod.oom_limit_bytes, int(np.ceil(peak.max())) if peak.size else None) if v]
        oom_level = max(candidates) if candidates else None

    observed: dict[Field, int] = {}
    for u in items:
        for f, value in u.observed.items():
            observed[f] = max(observed.get(f, value), value)

    return UsageProfile(
        workload=key[0],
        container=key[1],
        cpu_rows=tuple(u.cpu_m for u in items),
        memory_rows=tuple(u.memory_bytes for u in items),
        cpu_samples=int(cpu_known.sum()),
        memory_samples=int(mem_known.sum()),
        step_seconds=data.step_seconds,
        steps_total=int(data.grid.size),
        steps_with_data=int(steps_present.sum()),
        first_seen=float(present_times[0]) if present_times.size else None,
        last_seen=float(present_times[-1]) if present_times.size else None,
        pods=len({u.pod for u in items}),
        avg_replicas=float(has_data.sum()) / data.grid.size if data.grid.size else 0.0,
        restarts=sum(u.restarts for u in items),
        oom_events=len(oom),
        oom_memory_bytes=oom_level,
        throttled_ratio=throttled_ratio,
        observed=observed,
        nodes=_node_shares(items, has_data, data),
        joined_by=joined_by,
        zones=_zone_shares(items, has_data, data),
    )


def _node_shares(items: list[PodContainerUsage], has_data: np.ndarray, data: UsageData) -> tuple[NodeShare, ...]:
    counts: dict[str, int] = {}
    for row, u in enumerate(items):
        node = data.pod_nodes.get((u.namespace, u.pod))
        if node is not None and node in data.nodes:
            counts[node] = counts.get(node, 0) + int(has_data[row].sum())
    by_kind: dict[NodeInfo, int] = {}
    for node, n in counts.items():
        info = data.nodes[node]
        kind = NodeInfo("", info.instance_type, info.region, None, info.capacity_type, info.arch)
        by_kind[kind] = by_kind.get(kind, 0) + n
    total = sum(by_kind.values())
    if not total:
        return ()
    shares = [NodeShare(info, n / total) for info, n in by_kind.items()]
    return tuple(sorted(shares, key=lambda s: (-s.share, s.node.instance_type or "", s.node.capacity_type or "")))


def _zone_shares(items: list[PodContainerUsage], has_data: np.ndarray, data: UsageData) -> tuple[tuple[str, float], ...]:
    counts: dict[str, int] = {}
    for row, u in enumerate(items):
        info = data.nodes.get(data.pod_nodes.get((u.namespace, u.pod), ""))
        if info is not None and info.zone:
            counts[info.zone] = counts.get(info.zone, 0) + int(has_data[row].sum())
    total = sum(counts.values())
    if not total:
        return ()
    return tuple(sorted(((zone, n / total) for zone, n in counts.items()), key=lambda zs: (-zs[1], zs[0])))
