"""Where a workload should run: the cheapest instance family for its pods' shape, from the catalogs.

A pod's shape is the sum of its containers' recommended requests (init containers excluded: they
run before the others). On an instance type its cost is the dominant share of the node it takes:
``price x max(cpu / node vCPU, memory / node memory)`` per hour — a memory-heavy pod on a
compute-optimised node pays for the cores it leaves idle, and the other way round. Node overhead
(kubelet, daemonsets) is left out on both sides of the comparison.

CPU is normalised by per-vCPU performance when moving family, conservatively. The benchmark ratio
``perf(candidate) / perf(current)`` (median CoreMark per vCPU for AWS and GCP, ACU for Azure; only
compared within one source) overstates real differences: CoreMark is a small integer kernel that
fits in the core's caches, so it follows clock and core width, while services also wait on memory
and I/O (m8a against m6i is 2.6x in CoreMark, well above the vendors' own claims from one generation
to the next). The ratio *counted* is the square root of the benchmark ratio (half the gap on a log
scale), capped at ``MAX_SPEEDUP`` (1.5x) and, symmetrically, at ``1 / MAX_SPEEDUP`` for a slower
family: the benchmark's gap is discounted the same way whichever family is ahead, so no family's
price moves by more than that factor on its CPU. The same work then needs ``millicores / counted
ratio`` on the candidate's cores, and on a faster family never less than the pods' observed CPU
median (the sum of the containers' CPU p50s over the window, mostly on the current nodes; the floor
never raises the request itself). The reason shows both ratios, and the floor when it applied.
Families whose speed is unknown are not candidates when the current one's is known.

Candidates are the families of the current node's cloud, region and architecture (burstable and
uncategorised families excluded). DaemonSets get no suggestion: they run on every node. Non-production workloads are priced on spot where the catalog has a
spot price; production stays on-demand. A suggestion is made when it saves at least
``MIN_SAVING_PCT`` of the pods' current cost, with a ready-to-paste scheduling snippet using the
well-known node labels of that cloud.

The snippet's node affinity is *preferred* by default (``placement: {affinity: preferred}``): the
scheduler, and Karpenter when it provisions, use the family when they can and place the pods
elsewhere when they cannot, so a cluster whose node pools do not offer the family runs the pods as
before. *Required* affinity (``affinity: required``) guarantees the family, and leaves the pods
Pending wherever it cannot be provisioned; spot on GKE/AKS is then a ``nodeSelector`` too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from gitbot.metrics.usage import NodeInfo
from gitbot.model import ContainerType, Field, Workload
from gitbot.pricing.catalog import Catalog, InstanceType, normalize_capacity_type
from gitbot.pricing.cost import HOURS_PER_MONTH
from gitbot.pricing.estimate import CostDelta
from gitbot.quantity import human_cpu, human_memory
from gitbot.strategies.base import Recommendation

GIB = Decimal(2**30)
MIN_SAVING_PCT = Decimal(10)
MAX_SPEEDUP = Decimal("1.5")  # the most a family's cores are counted faster (or, inverted, slower) than the current ones
BENCHMARK_NAMES = {"coremark": "CoreMark", "acu": "ACU"}
SIZED_CATEGORIES = ("general", "compute", "memory")
CATEGORY_NAMES = {"general": "general purpose", "compute": "compute-optimised", "memory": "memory-optimised"}
AFFINITIES = ("preferred", "required")  # how strongly the snippet asks for the family
PREFERRED_WEIGHT = 100  # the highest: no other preference of the pod spec outweighs it


@dataclass(frozen=True)
class Option:
    """One way to run the pods: an instance type (the family's best-priced size) and capacity type."""

    instance: InstanceType
    capacity: str  # "on-demand" | "spot"
    cpu_m: int  # the pod's CPU request on this family's cores
    hourly_per_pod: Decimal

    @property
    def label(self) -> str:
        kind = CATEGORY_NAMES.get(self.instance.category, self.instance.category)
        return f"{family_of(self.instance)} ({kind}, {self.capacity})"


@dataclass(frozen=True)
class Placement:
    workload: Workload
    cpu_m: int  # per pod, as recommended (on the current node's cores)
    memory_bytes: int
    replicas: Decimal
    current: Option
    suggested: Option
    speed_ratio: Decimal | None  # counted: sqrt(benchmark ratio) within [1/MAX_SPEEDUP, MAX_SPEEDUP]; None when unknown (millicores kept)
    scheduling: Mapping[str, Any]  # the pod-spec keys to add (affinity; nodeSelector and tolerations for spot)
    affinity: str = "preferred"  # of the snippet's node affinity: preferred | required
    benchmark_ratio: Decimal | None = None  # candidate perf / current perf as the benchmark has it
    cpu_p50_m: int | None = None  # the pods' observed CPU median on the current nodes (sum over containers)

    @property
    def cpu_scaled_m(self) -> int:
        """The request on the candidate's cores by the counted ratio alone, before the p50 floor."""
        return _rescaled(self.cpu_m, self.speed_ratio) if self.speed_ratio else self.cpu_m

    @property
    def floored(self) -> bool:
        """Whether the observed p50 kept the request above what the counted ratio alone gives."""
        return self.suggested.cpu_m > self.cpu_scaled_m

    @property
    def snippet(self) -> str:
        return to_yaml(self.scheduling)

    @property
    def monthly_before(self) -> Decimal:
        return self.current.hourly_per_pod * self.replicas * HOURS_PER_MONTH

    @property
    def monthly_after(self) -> Decimal:
        return self.suggested.hourly_per_pod * self.replicas * HOURS_PER_MONTH

    @property
    def reason(self) -> str:
        shape = f"{human_cpu(self.cpu_m)} CPU and {human_memory(self.memory_bytes)} per pod"
        ratio = Decimal(self.memory_bytes) / GIB / (Decimal(self.cpu_m) / 1000)
        speed = ""
        if self.speed_ratio is not None and (self.suggested.cpu_m != self.cpu_m or self.floored):
            here, there = family_of(self.current.instance), family_of(self.suggested.instance)
            source = self.current.instance.cpu_perf_source or "benchmark"
            how = "square root"
            if self.benchmark_ratio is not None and self.speed_ratio != self.benchmark_ratio.sqrt():
                how += f", capped at {self.speed_ratio:.2f}x"
            basis = f"{BENCHMARK_NAMES.get(source, source)} {self.benchmark_ratio:.2f}x: {how}" if self.benchmark_ratio is not None else source
            speed = f"; {there} cores counted {self.speed_ratio:.2f}x as fast as {here} ({basis}), so {human_cpu(self.cpu_m)} "
            if self.floored:
                speed += (f"would become {human_cpu(self.cpu_scaled_m)}, below the {human_cpu(self.cpu_p50_m or 0)} CPU p50 "
                          f"observed on {here}: kept at {human_cpu(self.suggested.cpu_m)}")
            else:
                speed += f"becomes {human_cpu(self.suggested.cpu_m)}"
        return (f"{shape} ({ratio:.1f} GiB per vCPU) fits {self.suggested.label} better than "
                f"{self.current.label}{speed}")


@dataclass(frozen=True)
class NoPlacement:
    reason: str


class Market:
    """A catalog's instance types by (cloud, region, arch), with each family's median speed; built
    once per plan and shared by its workloads."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._near: dict[tuple[str, str, str | None], tuple[list[InstanceType], dict[tuple[str, str | None], Decimal]]] = {}

    def near(self, here: InstanceType) -> tuple[list[InstanceType], dict[tuple[str, str | None], Decimal]]:
        key = (here.cloud, here.region, here.arch)
        if key not in self._near:
            local = [i for i in self.catalog.instances if (i.cloud, i.region, i.arch) == key]
            self._near[key] = (local, _family_speed(local))
        return self._near[key]


def suggest(workload: Workload, cpu_m: int, memory_bytes: int, replicas: Decimal, node: NodeInfo,
            catalog: Catalog | Market, spot: bool, affinity: str = "preferred", cpu_p50_m: int | None = None) -> Placement | NoPlacement:
    """The cheapest family for pods of this shape, or why there is no suggestion; ``affinity``:
    how the snippet asks for it (AFFINITIES); ``cpu_p50_m``: the pods' observed CPU median on the
    current nodes, below which a faster family's request is not rescaled (None: no floor)."""
    market = catalog if isinstance(catalog, Market) else Market(catalog)
    catalog = market.catalog
    if cpu_m <= 0 or memory_bytes <= 0:
        return NoPlacement("no CPU or memory request to place")
    here = catalog.find(node.instance_type, node.region)
    if here is None:
        return NoPlacement(f"node type {node.instance_type or 'unknown'} is not in the catalog")
    capacity = normalize_capacity_type(node.capacity_type) or "on-demand"
    current = _option(here, capacity, cpu_m, memory_bytes)
    if current is None:
        return NoPlacement(f"no {capacity} price for {here.instance_type}")
    local, speed = market.near(here)
    floor = min(cpu_p50_m, cpu_m) if cpu_p50_m is not None else 0  # the floor never raises the request itself
    best: tuple[Option, Decimal | None] | None = None
    for inst in local:
        if inst.category not in SIZED_CATEGORIES:
            continue
        benchmark = _speed_ratio(speed.get((here.family, here.cpu_perf_source)), speed.get((inst.family, inst.cpu_perf_source)),
                                 here.cpu_perf_source == inst.cpu_perf_source)
        if benchmark is None and here.cpu_perf_per_vcpu is not None:
            continue
        needed = max(_rescaled(cpu_m, counted_ratio(benchmark)), floor) if benchmark else cpu_m
        option = _option(inst, "spot" if spot and inst.price_spot is not None else "on-demand", needed, memory_bytes)
        if option is not None and (best is None or (option.hourly_per_pod, inst.instance_type) < (best[0].hourly_per_pod, best[0].instance.instance_type)):
            best = (option, benchmark)
    if best is None:
        return NoPlacement("no priced candidate in the catalog")
    option, benchmark = best
    if option.hourly_per_pod > current.hourly_per_pod * (1 - MIN_SAVING_PCT / 100):
        return NoPlacement(f"{current.label} is within {MIN_SAVING_PCT}% of the cheapest fit")
    family = family_of(option.instance)
    fitting = sorted((i for i in local if family_of(i) == family and _fits(i, option.cpu_m, memory_bytes)), key=lambda i: (i.vcpu, i.memory_gib))
    return Placement(workload, cpu_m, memory_bytes, replicas, current, option, counted_ratio(benchmark) if benchmark else None,
                     scheduling(option.instance, [i.instance_type for i in fitting], option.capacity, affinity), affinity,
                     benchmark, cpu_p50_m)


def counted_ratio(benchmark: Decimal) -> Decimal:
    """How much faster a family's cores are counted than the current ones, from the benchmark's ratio:
    its square root, kept within [1 / MAX_SPEEDUP, MAX_SPEEDUP] (see the module docstring)."""
    return min(max(benchmark.sqrt(), 1 / MAX_SPEEDUP), MAX_SPEEDUP)


def family_of(inst: InstanceType) -> str:
    """The family a scheduler can select: the catalog's family, except on GCP, where one family
    (n2) spans shapes (n2-standard, n2-highmem, n2-highcpu) and the machine type's prefix is meant."""
    if inst.cloud == "gcp":
        prefix, _, size = inst.instance_type.rpartition("-")
        if prefix and size.isdigit():
            return prefix
    return inst.family


def pod_shape(requests: list[tuple[int | None, int | None]]) -> tuple[int, int] | None:
    """Sum of the containers' (CPU, memory) requests; None when one of them has none."""
    if not requests or any(c is None or m is None for c, m in requests):
        return None
    return sum(c for c, _ in requests if c is not None), sum(m for _, m in requests if m is not None)


def scheduling(instance: InstanceType, instance_types: list[str], capacity: str, affinity: str = "preferred") -> dict[str, Any]:
    """The pod-spec keys that schedule onto the family (and spot capacity), with the cloud's labels.

    ``required``: a required node affinity, plus a ``nodeSelector`` for spot on GKE/AKS.
    ``preferred``: one preferred term (weight 100) holding every label, spot included, so nothing
    is a hard constraint; spot's toleration is kept (it allows those nodes, it asks for nothing)."""
    if affinity not in AFFINITIES:
        raise ValueError(f"affinity must be one of {', '.join(AFFINITIES)}, not {affinity!r}")
    expressions: list[tuple[str, list[str]]] = []
    spot_label: tuple[str, str] | None = None
    if instance.cloud == "aws":
        expressions.append(("karpenter.k8s.aws/instance-family", [family_of(instance)]))
        if capacity == "spot":
            expressions.append(("karpenter.sh/capacity-type", ["spot"]))
    else:
        expressions.append(("node.kubernetes.io/instance-type", instance_types or [instance.instance_type]))
        if capacity == "spot" and instance.cloud == "gcp":
            spot_label = ("cloud.google.com/gke-spot", "true")
        elif capacity == "spot" and instance.cloud == "azure":
            spot_label = ("kubernetes.azure.com/scalesetpriority", "spot")
    if spot_label is not None and affinity == "preferred":
        expressions.append((spot_label[0], [spot_label[1]]))
    terms = [{"key": key, "operator": "In", "values": values} for key, values in expressions]
    if affinity == "required":
        node_affinity: dict[str, Any] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": terms}]}}
    else:
        node_affinity = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": PREFERRED_WEIGHT, "preference": {"matchExpressions": terms}}]}
    out: dict[str, Any] = {"affinity": {"nodeAffinity": node_affinity}}
    if spot_label is not None and affinity == "required":
        out["nodeSelector"] = {spot_label[0]: spot_label[1]}
    if spot_label is not None:
        out["tolerations"] = [{"key": spot_label[0], "operator": "Equal", "value": spot_label[1], "effect": "NoSchedule"}]
    return out


def snippet(instance: InstanceType, instance_types: list[str], capacity: str, affinity: str = "preferred") -> str:
    """``scheduling`` as ready-to-paste YAML."""
    return to_yaml(scheduling(instance, instance_types, capacity, affinity))


def to_yaml(data: Mapping[str, Any], column: int = 0, step: int = 2) -> str:
    """Block YAML for mappings, lists of mappings and lists of scalars (written ``[a, b]``), keys in
    their order, each line starting at ``column``; list items are indented one ``step`` under their key.
    Strings are quoted when they would read back as something else; integers are written as numbers."""
    lines: list[str] = []

    def mapping(m: Mapping[str, Any], col: int, first_prefix: str | None = None) -> None:
        for i, (key, value) in enumerate(m.items()):
            lead = first_prefix if i == 0 and first_prefix is not None else " " * col
            if isinstance(value, Mapping):
                lines.append(f"{lead}{key}:")
                mapping(value, col + step)
            elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                lines.append(f"{lead}{key}:")
                for item in value:
                    mapping(item, col + step + 2, " " * (col + step) + "- ")
            elif isinstance(value, list):
                lines.append(f"{lead}{key}: [{', '.join(yaml_scalar(str(v)) for v in value)}]")
            elif isinstance(value, int) and not isinstance(value, bool):
                lines.append(f"{lead}{key}: {value}")  # a number stays one (a preferred term's weight)
            else:
                lines.append(f"{lead}{key}: {yaml_scalar(str(value))}")

    mapping(data, column)
    return "\n".join(lines) + "\n"


def yaml_scalar(text: str) -> str:
    """A string as a YAML scalar that reads back as the same string (quoted only when it must be)."""
    plain = (bool(text) and text.strip() == text and text[0] not in "!&*{}[],#|>@`\"'%-?:" and ": " not in text
             and " #" not in text and not text.endswith(":") and not any(c in text for c in "[]{},"))
    if plain and text.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~", "y", "n") and not _numeric(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _option(inst: InstanceType, capacity: str, cpu_m: int, memory_bytes: int) -> Option | None:
    price = inst.price_spot if capacity == "spot" else inst.price_ondemand
    if price is None or not _fits(inst, cpu_m, memory_bytes):
        return None
    share = max(Decimal(cpu_m) / (inst.vcpu * 1000), Decimal(memory_bytes) / (inst.memory_gib * GIB))
    return Option(inst, capacity, cpu_m, price * share)


def _fits(inst: InstanceType, cpu_m: int, memory_bytes: int) -> bool:
    return cpu_m <= inst.vcpu * 1000 and memory_bytes <= inst.memory_gib * GIB


def _family_speed(instances: list[InstanceType]) -> dict[tuple[str, str | None], Decimal]:
    """Median per-vCPU performance of each family (the sizes' benchmark runs scatter a few percent)."""
    runs: dict[tuple[str, str | None], list[Decimal]] = {}
    for inst in instances:
        if inst.cpu_perf_per_vcpu:
            runs.setdefault((inst.family, inst.cpu_perf_source), []).append(inst.cpu_perf_per_vcpu)
    out = {}
    for key, values in runs.items():
        values.sort()
        middle = len(values) // 2
        out[key] = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return out


def cpu_p50(items: Sequence[tuple[Recommendation, CostDelta]]) -> int | None:
    """The pod's observed CPU median: the sum of its containers' CPU p50s (each pooled over the pods,
    millicores, rounded up); None when no container has CPU samples."""
    medians = [rec.profile.cpu_percentile(50) for rec, _ in items if rec.profile is not None]
    known = [m for m in medians if m is not None]
    return sum(math.ceil(m) for m in known) if known else None


def _speed_ratio(current: Decimal | None, candidate: Decimal | None, same_benchmark: bool) -> Decimal | None:
    if current is None or candidate is None or not same_benchmark:
        return None
    return candidate / current


def _rescaled(cpu_m: int, ratio: Decimal) -> int:
    """The millicores doing ``cpu_m``'s work on cores ``ratio`` times as fast, rounded up; to a
    millionth of a millicore first, so 1000m on cores 1/1.5 as fast is 1500m, not 1501m."""
    return _ceil((Decimal(cpu_m) / ratio).quantize(Decimal("0.000001")))


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def for_workloads(items: Sequence[tuple[Recommendation, CostDelta]], catalog: Catalog, affinity: str = "preferred") -> tuple[Placement, ...]:
    """One suggestion per workload whose pods would cost at least MIN_SAVING_PCT less elsewhere;
    ``affinity``: how its snippet asks for the family (AFFINITIES)."""
    by_workload: dict[tuple[str, str], list[tuple[Recommendation, CostDelta]]] = {}
    for rec, cost in items:
        by_workload.setdefault((rec.workload.target.name, str(rec.workload.id)), []).append((rec, cost))
    out = []
    market = Market(catalog)
    for group in by_workload.values():
        if group[0][0].workload.id.kind == "DaemonSet":
            continue  # it runs on every node: confining it to a family would leave the other nodes without it
        running = [(rec, cost) for rec, cost in group if rec.container.type is not ContainerType.INIT]
        shape = pod_shape([(rec.recommended(Field.CPU_REQUEST), rec.recommended(Field.MEMORY_REQUEST)) for rec, _ in running])
        nodes = [share for rec, _ in running if rec.profile is not None for share in rec.profile.nodes]
        if shape is None or not nodes:
            continue
        node = max(nodes, key=lambda share: share.share).node
        rec, cost = running[0]
        found = suggest(rec.workload, shape[0], shape[1], cost.replicas_after, node, market, rec.workload.tier != "production", affinity,
                        cpu_p50(running))
        if isinstance(found, Placement):
            out.append(found)
    return tuple(out)
