"""A deterministic synthetic fleet built from the Bitbrains GWA-T-12 traces.

What it makes, for ``containers`` pod containers (the unit the issue's fleet sizes count):

* Deployments of 1-4 replicas, a fifth of them with a second ``proxy`` container, spread round-robin
  over ``namespaces`` namespaces (every fifth namespace is non-production, so the tier rules are
  exercised too); a tenth of the multi-replica ones have a CPU HPA.
* For every workload container, one of the nine Bitbrains VM traces (round-robin over workload
  containers), a seeded scale factor for CPU and for memory, and a seeded time offset into the
  30-day trace (a 14-day window starting there). Each replica of it gets a small seeded level
  jitter and per-sample multiplicative noise; the trace's own gaps stay NaN (no sample), as a
  metric source would leave them. Replicas of one Deployment therefore share a shape, as
  load-balanced replicas do.
* gitbot's in-memory records, built directly (no snapshot file): ``UsageData`` with one
  ``PodContainerUsage`` per pod container, the kube-state-metrics owner tables (pod -> ReplicaSet
  -> Deployment; 1 % of pods have no owner record, so the name-matching fallback is timed too),
  pod -> node placement and ``NodeInfo`` per node; and ``Workload`` / ``Container`` records with a
  ``CurrentValue`` for every field, as the manifest loader would produce.

Usage is stored as two (containers x steps) matrices, float64 as gitbot's sources produce it (or
float32 with ``dtype``: half the memory, ~7 significant digits, far finer than the 5m / 1Mi rounding
of the proposals); every ``PodContainerUsage`` holds row views of them, so the fleet's usage exists
once in memory and the numpy baseline reads the very same samples.

Everything random comes from ``numpy.random.default_rng((seed, workload_index))``: the same seed
gives the same fleet, and a smaller fleet's Deployments, manifests and samples are the first ones of
a larger fleet (up to its last Deployment, trimmed to hit the exact container count; the node count,
and so which node a pod lands on, grows with the fleet).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from gitbot.backtest.trace import read_bitbrains
from gitbot.metrics.usage import ContainerKey, NodeInfo, PodContainerUsage, UsageData
from gitbot.model import (
    FIELDS,
    Container,
    ContainerType,
    CurrentValue,
    Field,
    FieldSource,
    HpaInfo,
    ObjectSource,
    SourceKind,
    Target,
    TargetKind,
    Workload,
    WorkloadId,
)
from gitbot.quantity import MI, round_up

TRACE_DIR = Path("/work/shared/data/traces")
TRACE_GLOB = "bitbrains_rnd_2013-7_vm*.csv.gz"
STEP_SECONDS = 300
STEPS = 14 * 86400 // STEP_SECONDS  # 4,032: 14 days of 5-minute samples
END = 1_700_000_100.0  # a fixed evaluation end (unix seconds, a multiple of 300)
DEFAULT_SEED = 2013
NAMESPACES = 50

# Kubernetes' rand.SafeEncodeString alphabet: pod-template hashes and pod suffixes use it
SAFE_ALPHABET = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
REPLICA_CHOICES = np.array([1, 2, 3, 4])
REPLICA_WEIGHTS = np.array([0.30, 0.35, 0.20, 0.15])
SIDECAR_SHARE = 0.2
HPA_SHARE = 0.1
NO_OWNER_SHARE = 0.01
TIGHT_LIMIT_SHARE = 0.05
CPU_NOISE = 0.03  # relative, per sample
MEMORY_NOISE = 0.005
REPLICA_JITTER = 0.05  # relative, per replica
INSTANCE_TYPES = ("m6i.xlarge", "m6i.2xlarge", "c6i.2xlarge", "r6i.xlarge")
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
PODS_PER_NODE = 25
CFS_PERIODS_PER_STEP = STEP_SECONDS * 10  # 100 ms CFS periods
NODE_STREAM = 2**32 - 1  # the node table's random stream (workload streams count up from 0)


@dataclass(frozen=True, eq=False)
class Shape:
    """One Bitbrains VM on a regular 5-minute grid: millicores and bytes, NaN where no sample."""

    name: str
    cpu_m: np.ndarray  # float64
    memory_bytes: np.ndarray  # float64


@dataclass(frozen=True, eq=False)
class Fleet:
    workloads: tuple[Workload, ...]
    data: UsageData
    cpu_m: np.ndarray  # (containers, steps) float64 (or float32); data.containers[i].cpu_m is row i
    memory_bytes: np.ndarray  # (containers, steps), same dtype
    shapes: tuple[str, ...]  # trace names, in round-robin order
    seed: int
    rows: Mapping[ContainerKey, tuple[int, ...]]  # matrix rows (pods) of each workload container

    @property
    def containers(self) -> int:
        return int(self.cpu_m.shape[0])

    @property
    def steps(self) -> int:
        return int(self.cpu_m.shape[1])

    @property
    def usage_bytes(self) -> int:
        return int(self.cpu_m.nbytes + self.memory_bytes.nbytes)

    def fingerprint(self) -> str:
        """sha256 (first 16 hex digits) of every sample, pod, owner and manifest value: equal
        fingerprints mean an identical fleet."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.cpu_m).tobytes())
        digest.update(np.ascontiguousarray(self.memory_bytes).tobytes())
        digest.update(self.data.grid.tobytes())
        for u in self.data.containers:
            digest.update(f"{u.namespace}/{u.pod}/{u.container}:{self.data.pod_owners.get((u.namespace, u.pod))}"
                          f":{self.data.pod_nodes.get((u.namespace, u.pod))}:{u.throttled_periods}:{u.oom_times}\n".encode())
        for w in self.workloads:
            values = [(c.name, [c.current(f) for f in FIELDS]) for c in w.containers]
            digest.update(f"{w.id}:{w.tier}:{w.replicas}:{w.hpa}:{values}\n".encode())
        return digest.hexdigest()[:16]


@cache
def load_shapes(directory: Path = TRACE_DIR) -> tuple[Shape, ...]:
    """The Bitbrains VM traces in ``directory``, sorted by file name, through gitbot's own reader."""
    paths = sorted(directory.glob(TRACE_GLOB))
    if not paths:
        raise FileNotFoundError(f"no {TRACE_GLOB} in {directory}")
    shapes = []
    for path in paths:
        trace = read_bitbrains(path)
        if trace.step_seconds != STEP_SECONDS:
            raise ValueError(f"{path}: {trace.step_seconds}s samples, expected {STEP_SECONDS}s")
        cpu, memory = trace.on_grid()
        if cpu.size < STEPS:
            raise ValueError(f"{path}: {cpu.size} steps, fewer than the {STEPS} a 14-day window needs")
        shapes.append(Shape(trace.name, cpu, memory))
    return tuple(shapes)


def generate(containers: int, seed: int = DEFAULT_SEED, namespaces: int = NAMESPACES,
             trace_dir: Path = TRACE_DIR, dtype: str = "float64") -> Fleet:
    """A fleet of exactly ``containers`` pod containers on a 14-day, 5-minute grid, usage in ``dtype``
    (float64 as gitbot's own metric sources; float32 for half the memory)."""
    if containers < 1:
        raise ValueError("a fleet needs at least one container")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    shapes = load_shapes(trace_dir)
    cpu = np.empty((containers, STEPS), dtype=dtype)
    memory = np.empty((containers, STEPS), dtype=dtype)
    grid = END - STEP_SECONDS * np.arange(STEPS - 1, -1, -1, dtype=np.float64)
    nodes = _nodes(max(3, math.ceil(containers / PODS_PER_NODE)), seed)
    node_names = sorted(nodes)

    workloads: list[Workload] = []
    usages: list[PodContainerUsage] = []
    pod_owners: dict[tuple[str, str], tuple[str, str]] = {}
    rs_owners: dict[tuple[str, str], tuple[str, str]] = {}
    pod_nodes: dict[tuple[str, str], str] = {}
    rows: dict[ContainerKey, tuple[int, ...]] = {}
    row = 0
    shape_turn = 0  # round-robin over workload containers
    index = 0
    while row < containers:
        rng = np.random.default_rng((seed, index))
        left = containers - row
        replicas = int(rng.choice(REPLICA_CHOICES, p=REPLICA_WEIGHTS))
        names = ["app", "proxy"] if rng.random() < SIDECAR_SHARE else ["app"]
        if replicas * len(names) > left:  # the last Deployment: trim it to the exact count
            names, replicas = ["app"], left
        k = index % namespaces
        namespace = f"team-{k:02d}"
        production = k % 5 != 4
        name = f"svc-{index:05d}"
        path = f"apps/{namespace}/{name}.yaml"
        wid = WorkloadId(namespace, "Deployment", name)
        hpa = (HpaInfo(f"{name}-hpa", replicas, replicas * 4, 70, None)
               if replicas > 1 and rng.random() < HPA_SHARE else None)
        rs = f"{name}-{_token(rng, 10)}"
        rs_owners[(namespace, rs)] = ("Deployment", name)
        pods = [f"{rs}-{_token(rng, 5)}" for _ in range(replicas)]
        for pod in pods:
            if rng.random() >= NO_OWNER_SHARE:
                pod_owners[(namespace, pod)] = ("ReplicaSet", rs)
            pod_nodes[(namespace, pod)] = node_names[int(rng.random() * len(node_names))]  # one draw, whatever the node count

        spec_containers = []
        for position, cname in enumerate(names):
            shape = shapes[shape_turn % len(shapes)]
            shape_turn += 1
            offset = int(rng.integers(0, shape.cpu_m.size - STEPS + 1))
            base_cpu = shape.cpu_m[offset:offset + STEPS] * rng.lognormal(math.log(0.5), 0.5)
            base_memory = shape.memory_bytes[offset:offset + STEPS] * rng.lognormal(math.log(0.5), 0.5)
            if cname == "proxy":  # sidecars are small
                base_cpu, base_memory = base_cpu * 0.1, base_memory * 0.05
            current = _current_values(rng, base_cpu, base_memory)
            rows[(wid, cname)] = tuple(range(row, row + replicas))
            spec_containers.append(_container(cname, position, current, path))
            for pod in pods:
                jitter = 1.0 + REPLICA_JITTER * rng.standard_normal(2)
                c = base_cpu * jitter[0] * (1.0 + CPU_NOISE * rng.standard_normal(STEPS))
                m = base_memory * jitter[1] * (1.0 + MEMORY_NOISE * rng.standard_normal(STEPS))
                np.maximum(c, 0.0, out=c)  # NaN stays NaN
                cpu[row] = c
                memory[row] = m
                usages.append(_usage(namespace, pod, cname, cpu[row], memory[row], current, grid))
                row += 1
        workloads.append(Workload(wid, Target(TargetKind.PLAIN, path, path), ObjectSource(path, 0, 1, SourceKind.PLAIN),
                                  "prod" if production else "staging", "production" if production else "non-production",
                                  replicas, tuple(spec_containers), hpa=hpa, pod_labels=(("app", name),)))
        index += 1

    data = UsageData("benchmark fleet", grid, STEP_SECONDS, tuple(usages), pod_owners, rs_owners, {}, pod_nodes, nodes)
    return Fleet(tuple(workloads), data, cpu, memory, tuple(s.name for s in shapes), seed, rows)


def _token(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(SAFE_ALPHABET, size=length))


def _nodes(count: int, seed: int) -> dict[str, NodeInfo]:
    rng = np.random.default_rng((seed, NODE_STREAM))
    out = {}
    for k in range(count):
        name = f"ip-10-0-{k // 250}-{k % 250}.eu-west-1.compute.internal"
        out[name] = NodeInfo(name, INSTANCE_TYPES[int(rng.integers(len(INSTANCE_TYPES)))], "eu-west-1",
                             ZONES[k % len(ZONES)], "spot" if rng.random() < 0.3 else "on-demand", "amd64")
    return out


def _current_values(rng: np.random.Generator, cpu: np.ndarray, memory: np.ndarray) -> dict[Field, int | None]:
    """What the manifest requests: over- or under-sized by a seeded factor, as fleets are."""
    cpu_p95 = float(np.nanpercentile(cpu, 95))
    mem_p99 = float(np.nanpercentile(memory, 99))
    cpu_request = round_up(max(int(cpu_p95 * rng.uniform(0.6, 3.0)), 10), 50)
    memory_request = round_up(max(int(mem_p99 * rng.uniform(0.8, 2.5)), 32 * MI), 16 * MI)
    cpu_limit = cpu_request * 2 if rng.random() < 0.4 else None
    # most limits clear the peak; one in twenty is tight enough to get OOM-killed
    peak = float(np.nanmax(memory)) * (rng.uniform(1.2, 1.5) if rng.random() >= TIGHT_LIMIT_SHARE else rng.uniform(0.9, 1.0))
    memory_limit = round_up(max(memory_request, int(peak)), MI)
    return {Field.CPU_REQUEST: cpu_request, Field.CPU_LIMIT: cpu_limit,
            Field.MEMORY_REQUEST: memory_request, Field.MEMORY_LIMIT: memory_limit}


def _container(name: str, position: int, current: dict[Field, int | None], path: str) -> Container:
    values = {}
    for f in FIELDS:
        value = current[f]
        text = None if value is None else (f"{value}m" if f in (Field.CPU_REQUEST, Field.CPU_LIMIT) else f"{value // MI}Mi")
        yaml_path = ("spec", "template", "spec", "containers", position, *f.resources_path)
        source = FieldSource(SourceKind.PLAIN, path, 0, yaml_path, 20 + 8 * position, present=value is not None)
        values[f] = CurrentValue(value, text, source)
    return Container(name, ContainerType.APP, position, values)


def _usage(namespace: str, pod: str, container: str, cpu: np.ndarray, memory: np.ndarray,
           current: dict[Field, int | None], grid: np.ndarray) -> PodContainerUsage:
    """One pod container's record; CFS throttling where it has a CPU limit, an OOM kill where its
    memory went past the limit."""
    cpu_limit, memory_limit = current[Field.CPU_LIMIT], current[Field.MEMORY_LIMIT]
    throttled = total = None
    if cpu_limit is not None:
        known = ~np.isnan(cpu)
        total = float(known.sum() * CFS_PERIODS_PER_STEP)
        throttled = float(np.count_nonzero(cpu[known] > 0.8 * cpu_limit) * CFS_PERIODS_PER_STEP // 2)
    oom_times: tuple[float, ...] = ()
    restarts = 0
    if memory_limit is not None:
        over = np.flatnonzero(memory > memory_limit)  # NaN compares False
        if over.size:
            oom_times, restarts = (float(grid[over[-1]]),), 1
    observed = {f: v for f, v in current.items() if v is not None}
    return PodContainerUsage(namespace, pod, container, cpu, memory, throttled, total, restarts, oom_times,
                             memory_limit if oom_times else None, observed)
