"""Recommendation -> CostDelta: what the container's requests cost per month, before and after.

- Rates: the instance types the container's pods ran on (kube_node_labels), weighted by how many
  samples came from each, priced from the catalog and split into per-vCPU and per-GiB rates;
  the catalog's default rates when the node type is unknown.
- Replicas: the average number of pods seen per step over the window (so CronJobs, HPAs and
  rollouts count for the time they ran); ``spec.replicas`` when there is no usage data.
  With an HPA on CPU utilisation, the replica count after a CPU-request change is estimated by
  replaying the observed total CPU against the new request and the HPA target.
- Requests: an unset request with a limit counts as the limit (Kubernetes defaults it so); unset
  both ways counts as nothing reserved. Init containers reserve capacity only while a pod starts,
  so they count as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from gitbot.metrics.usage import UsageProfile
from gitbot.model import ContainerType, Field, HpaInfo
from gitbot.pricing.catalog import Catalog, ResourceRates, normalize_capacity_type
from gitbot.pricing.cost import monthly_cost
from gitbot.strategies.base import Recommendation


@dataclass(frozen=True)
class CostDelta:
    rates: ResourceRates
    replicas_before: Decimal
    replicas_after: Decimal
    replicas_basis: str
    before_usd: Decimal
    after_usd: Decimal

    @property
    def delta_usd(self) -> Decimal:
        return self.after_usd - self.before_usd


def estimate(rec: Recommendation, catalog: Catalog) -> CostDelta:
    rates = _rates(rec.profile, catalog)
    if rec.container.type is ContainerType.INIT:
        zero = Decimal(0)
        return CostDelta(rates, zero, zero, "init container: reserves capacity only while a pod starts", zero, zero)
    replicas, basis = _replicas(rec)
    replicas_after = replicas
    cpu_before = _effective(rec, Field.CPU_REQUEST, Field.CPU_LIMIT, after=False)
    cpu_after = _effective(rec, Field.CPU_REQUEST, Field.CPU_LIMIT, after=True)
    hpa = rec.workload.hpa
    if hpa is not None and hpa.cpu_utilization_pct and rec.profile is not None and cpu_before and cpu_after and cpu_after != cpu_before:
        ratio = _hpa_replica_ratio(rec.profile, hpa, cpu_before, cpu_after)
        if ratio is not None:
            replicas_after = _decimal(float(replicas) * ratio)
            basis += f"; after: x{ratio:.2f} replicas as the HPA rescales"
    before = monthly_cost(cpu_before, _effective(rec, Field.MEMORY_REQUEST, Field.MEMORY_LIMIT, after=False), replicas, rates)
    after = monthly_cost(cpu_after, _effective(rec, Field.MEMORY_REQUEST, Field.MEMORY_LIMIT, after=True), replicas_after, rates)
    return CostDelta(rates, replicas, replicas_after, basis, before, after)


def _effective(rec: Recommendation, request: Field, limit: Field, after: bool) -> int | None:
    pick = (lambda f: rec.fields[f].recommended) if after else (lambda f: rec.fields[f].current)
    value = pick(request)
    return value if value is not None else pick(limit)


def _replicas(rec: Recommendation) -> tuple[Decimal, str]:
    p = rec.profile
    if p is not None and p.avg_replicas > 0:
        return _decimal(p.avg_replicas), "average pods observed"
    if rec.workload.replicas is not None:
        return Decimal(rec.workload.replicas), "spec.replicas"
    return Decimal(1), "assumed 1 (no usage data, no spec.replicas)"


def _hpa_replica_ratio(p: UsageProfile, hpa: HpaInfo, before_m: int, after_m: int) -> float | None:
    total = p.cpu_m_by_step[~np.isnan(p.cpu_m_by_step)]
    if not total.size or not hpa.cpu_utilization_pct:
        return None
    lo = hpa.min_replicas or 1
    hi = hpa.max_replicas or 10**6

    def replicas_for(request_m: int) -> float:
        target = request_m * hpa.cpu_utilization_pct / 100  # type: ignore[operator]
        return float(np.clip(np.ceil(total / target), lo, hi).mean())

    before = replicas_for(before_m)
    return replicas_for(after_m) / before if before else None


def _rates(p: UsageProfile | None, catalog: Catalog) -> ResourceRates:
    if p is None or not p.nodes:
        return catalog.rates(None, None, None)
    parts = [(share, catalog.rates(share.node.instance_type, share.node.region, normalize_capacity_type(share.node.capacity_type))) for share in p.nodes]
    if len(parts) == 1:
        return parts[0][1]
    cpu = sum((_decimal(s.share) * r.cpu_vcpu_hour for s, r in parts), Decimal(0))
    memory = sum((_decimal(s.share) * r.memory_gib_hour for s, r in parts), Decimal(0))
    source = " + ".join(f"{s.share:.0%} {r.source}" for s, r in parts)
    return ResourceRates(cpu, memory, source)


def _decimal(value: float) -> Decimal:
    if math.isnan(value) or math.isinf(value):
        return Decimal(0)
    return Decimal(str(round(value, 4)))
