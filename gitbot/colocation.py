"""Chatty workload pairs whose traffic crosses zones: what it costs, and how to keep it in one zone.

Service-mesh metrics (Istio's ``istio_requests_total`` and the ``istio_request_bytes`` /
``istio_response_bytes`` histograms) say how much each workload sends to each other one; the pods'
nodes say which zones both run in. With zone-blind load balancing a request leaves its zone with
probability ``1 - sum_z share_src(z) x share_dst(z)`` (the shares are each side's fraction of pod
samples per zone), and the catalog prices each GiB that crosses (OpenCost's ``zoneNetworkEgress``).

Two things keep the traffic local, and which one helps depends on where the destination runs:

- **Locality-aware routing** sends each request to an endpoint in the caller's zone while one is
  healthy: ``spec.trafficDistribution: PreferSameZone`` on the destination's Service (Kubernetes
  1.34+, ``PreferClose`` before), or Istio's locality load balancing, which takes effect only once
  the destination's DestinationRule has ``outlierDetection``. When the destination already runs in
  every zone the source does, this alone removes the cross-zone share, and pod affinity adds nothing.
- **Preferred pod affinity** (``topologyKey: topology.kubernetes.io/zone``) on the source, towards
  the destination's pods, when the destination is missing from some of the source's zones: the
  scheduler then prefers zones where the destination runs. It is *preferred*, never required, so a
  zone outage cannot leave the source unschedulable — but it does concentrate the source in fewer
  zones, which the explanation says.

Suggestions are comment-only. The estimate is what crosses today; both changes together bring it
to about zero while local endpoints are healthy, so that is the saving shown ("up to").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gitbot.metrics.usage import Profiles, Traffic
from gitbot.model import ContainerType, Workload
from gitbot.pricing.catalog import TransferPrice
from gitbot.placement import yaml_scalar
from gitbot.pricing.cost import HOURS_PER_MONTH

GIB = 2**30
MIN_MONTHLY_USD = Decimal("1.00")  # below this a pair is not worth a comment
ZONE_KEY = "topology.kubernetes.io/zone"
UNMOVABLE = ("DaemonSet",)  # one pod per node: affinity cannot move it


@dataclass(frozen=True)
class Colocation:
    source: Workload
    destination: Workload
    requests_per_second: float
    gib_per_month: Decimal  # all traffic between the pair, both directions, projected to a month
    cross_zone_share: Decimal  # fraction of it that leaves its zone today (zone-blind balancing)
    price: TransferPrice
    source_zones: tuple[tuple[str, float], ...]
    destination_zones: tuple[tuple[str, float], ...]
    affinity_on: Workload | None  # the source, when it should follow the destination's zones
    snippet: str

    @property
    def monthly_cost(self) -> Decimal:
        return (self.gib_per_month * self.cross_zone_share * self.price.per_gib).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def reason(self) -> str:
        def zones(shares: tuple[tuple[str, float], ...]) -> str:
            return ", ".join(f"{zone} {share:.0%}" for zone, share in shares)

        text = (f"{self.requests_per_second:.1f} req/s, {self.gib_per_month:,.0f} GiB/month; pods in {zones(self.source_zones)} "
                f"call pods in {zones(self.destination_zones)}, so about {self.cross_zone_share:.0%} crosses zones "
                f"at ${self.price.per_gib}/GiB ({self.price.source})")
        missing = sorted({z for z, _ in self.source_zones} - {z for z, _ in self.destination_zones})
        if not missing:
            return text + "; the destination runs in every zone the source does, so locality-aware routing alone keeps it local"
        if self.affinity_on is None:
            return (text + f"; {self.destination.id.name} has no pods in {', '.join(missing)}: spread it there "
                    f"(topologySpreadConstraints) so locality-aware routing can keep requests local")
        return (text + f"; {self.destination.id.name} has no pods in {', '.join(missing)}: preferred pod affinity moves "
                f"{self.source.id.name} towards its zones (fewer zones for {self.source.id.name}), "
                f"and locality-aware routing keeps requests there")


def suggest(workloads: Sequence[Workload], profiles: Profiles, window_seconds: float, price: TransferPrice | None) -> tuple[Colocation, ...]:
    """Pairs whose cross-zone traffic costs at least MIN_MONTHLY_USD a month, most expensive first."""
    if price is None or window_seconds <= 0 or not profiles.data.traffic:
        return ()
    by_name: dict[tuple[str, str], Workload] = {}
    for w in sorted(workloads, key=lambda w: str(w.id)):
        by_name.setdefault((w.id.namespace, w.id.name), w)
    pairs: dict[tuple[str, str], list[tuple[Workload, Workload, Traffic]]] = {}
    for t in profiles.data.traffic:
        a, b = by_name.get(t.source), by_name.get(t.destination)
        if a is not None and b is not None and a is not b:
            pairs.setdefault((min(str(a.id), str(b.id)), max(str(a.id), str(b.id))), []).append((a, b, t))
    out = []
    month = Decimal(HOURS_PER_MONTH) * 3600
    for directions in pairs.values():
        src, dst, _ = max(directions, key=lambda d: (d[2].bytes, d[2].requests))  # the calling side of the bulk of it
        traffic = [t for _, _, t in directions]
        src_zones, dst_zones = zones_of(src, profiles), zones_of(dst, profiles)
        if not src_zones or not dst_zones:
            continue
        share = cross_zone_share(dict(src_zones), dict(dst_zones))
        sent = sum(t.bytes for t in traffic)
        gib = (Decimal(repr(sent)) / GIB * month / Decimal(repr(window_seconds))).quantize(Decimal("0.01"), ROUND_HALF_UP)
        affinity_on = _affinity_side(src, dst, src_zones, dst_zones)
        found = Colocation(src, dst, sum(t.requests for t in traffic) / window_seconds, gib, share, price, src_zones, dst_zones,
                           affinity_on, snippet(src, dst, affinity_on))
        if found.monthly_cost >= MIN_MONTHLY_USD:
            out.append(found)
    return tuple(sorted(out, key=lambda c: (-c.monthly_cost, str(c.source.id), str(c.destination.id))))


def zones_of(workload: Workload, profiles: Profiles) -> tuple[tuple[str, float], ...]:
    """The zones a workload's pods ran in (its first long-running container's samples)."""
    for container in workload.containers:
        if container.type is ContainerType.INIT:
            continue
        profile = profiles.get(workload.id, container.name)
        if profile is not None and profile.zones:
            return profile.zones
    return ()


def cross_zone_share(source: Mapping[str, float], destination: Mapping[str, float]) -> Decimal:
    """``1 - sum_z src(z) x dst(z)``, to the percent tenth: a request's chance to leave its zone."""
    same = sum(share * destination.get(zone, 0.0) for zone, share in source.items())
    return Decimal(repr(max(0.0, 1.0 - same))).quantize(Decimal("0.001"), ROUND_HALF_UP)


def _affinity_side(src: Workload, dst: Workload, src_zones: tuple[tuple[str, float], ...],
                   dst_zones: tuple[tuple[str, float], ...]) -> Workload | None:
    """The source, when the destination misses some of its zones and the source can move; else None."""
    missing = {z for z, _ in src_zones} - {z for z, _ in dst_zones}
    if missing and src.id.kind not in UNMOVABLE and dst.pod_labels:
        return src
    return None


def snippet(src: Workload, dst: Workload, affinity_on: Workload | None) -> str:
    """Ready-to-paste YAML: the routing change on the destination's Service, and the pod affinity."""
    lines = [f"# Service in front of {dst.id.namespace}/{dst.id.name}: prefer endpoints in the caller's zone",
             "spec:", "  trafficDistribution: PreferSameZone  # Kubernetes 1.34+; PreferClose before",
             "# (Istio sidecars: or give its DestinationRule an outlierDetection, which turns on locality load balancing)"]
    if affinity_on is not None:
        lines += [f"# {src.id}: pod template spec", "affinity:", "  podAffinity:",
                  "    preferredDuringSchedulingIgnoredDuringExecution:", "      - weight: 100", "        podAffinityTerm:",
                  f"          topologyKey: {ZONE_KEY}"]
        if dst.id.namespace != src.id.namespace:
            lines.append(f"          namespaces: [{dst.id.namespace}]")
        lines += ["          labelSelector:", "            matchLabels:"]
        lines += [f"              {k}: {yaml_scalar(v)}" for k, v in dst.pod_labels]
    return "\n".join(lines) + "\n"
