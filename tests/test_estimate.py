"""Recommendation -> monthly cost: rates from the nodes the pods ran on, replicas, HPA, init containers."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from test_recommend import GRID, MI, container, profile, recommend, workload  # noqa: E402

from gitbot.metrics.usage import NodeInfo, PodContainerUsage, UsageData, build_profiles  # noqa: E402
from gitbot.model import ContainerType, HpaInfo  # noqa: E402
from gitbot.pricing.catalog import ResourceRates, load_catalog  # noqa: E402
from gitbot.pricing.cost import monthly_cost  # noqa: E402
from gitbot.pricing.estimate import estimate  # noqa: E402

CATALOG = load_catalog("aws")
M6I = CATALOG.rates("m6i.xlarge", "us-east-1", "on-demand")


def on_nodes(w, shares):
    """A profile whose single pod's samples are split between nodes: [(instance_type, capacity, steps)]."""
    pods = []
    owners = {}
    node_of = {}
    nodes = {}
    start = 0
    for i, (itype, capacity, steps) in enumerate(shares):
        cpu = np.full(GRID.size, np.nan)
        cpu[start : start + steps] = 100.0
        pods.append(PodContainerUsage("shop", f"web-{i}", "app", cpu, cpu * MI, None, None, 0, (), None))
        owners[("shop", f"web-{i}")] = (w.id.kind, w.id.name)
        node_of[("shop", f"web-{i}")] = f"n{i}"
        nodes[f"n{i}"] = NodeInfo(f"n{i}", itype, "us-east-1", "us-east-1a", capacity, "amd64")
        start += steps
    data = UsageData("t", GRID, 300, tuple(pods), owners, {}, {}, node_of, nodes)
    return build_profiles([w], data).get(w.id, "app")


def test_cost_uses_the_instance_price_and_the_observed_replicas():
    w = workload(container(cpu_request="500m", memory_request="512Mi", memory_limit="1Gi"))
    p = on_nodes(w, [("m6i.xlarge", "on-demand", GRID.size)])
    rec = recommend(w, p)
    cost = estimate(rec, CATALOG)
    assert cost.rates == M6I
    assert cost.replicas_before == Decimal("1.0")
    hours = Decimal(730)
    before = (Decimal("0.5") * M6I.cpu_vcpu_hour + Decimal("0.5") * M6I.memory_gib_hour) * hours
    assert cost.before_usd == before
    # 500m/512Mi -> 250m/256Mi (max-step-down): exactly half
    assert cost.after_usd == before / 2
    assert cost.delta_usd == -before / 2


def test_rates_are_weighted_by_where_the_samples_came_from():
    w = workload(container(cpu_request="500m", memory_request="512Mi"))
    p = on_nodes(w, [("m6i.xlarge", "on-demand", 300), ("m6i.xlarge", "spot", 100)])
    cost = estimate(recommend(w, p), CATALOG)
    spot = CATALOG.rates("m6i.xlarge", "us-east-1", "spot")
    assert cost.rates.cpu_vcpu_hour == Decimal("0.75") * M6I.cpu_vcpu_hour + Decimal("0.25") * spot.cpu_vcpu_hour
    assert cost.rates.source == "75% aws m6i.xlarge us-east-1 on-demand + 25% aws m6i.xlarge us-east-1 spot (estimated)"


def test_unknown_nodes_use_the_default_rates_and_spec_replicas_without_usage():
    w = workload(container(cpu_request="1", memory_request="1Gi"))
    rec = recommend(w, None)
    cost = estimate(rec, CATALOG)
    assert cost.rates == CATALOG.default_rates
    assert (cost.replicas_before, cost.replicas_basis) == (Decimal(2), "spec.replicas")
    assert cost.before_usd == cost.after_usd == (Decimal("0.031611") + Decimal("0.004237")) * 730 * 2


def test_unset_request_counts_as_its_limit_and_init_containers_as_zero():
    w = workload(container(cpu_limit="2", memory_limit="1Gi"))
    cost = estimate(recommend(w, None), CATALOG)
    assert cost.before_usd == monthly_cost(2000, 2**30, Decimal(2), CATALOG.default_rates)
    init = workload(container(ctype=ContainerType.INIT, cpu_request="1", memory_request="1Gi"))
    assert estimate(recommend(init, None), CATALOG).before_usd == 0


def test_hpa_replicas_follow_a_cpu_request_change():
    hpa = HpaInfo("web", 1, 10, 50, None)
    w = workload(container(cpu_request="200m", memory_request="64Mi"), hpa=hpa)
    p = profile(w, 150.0, 60 * MI)  # one pod at 150m: at 200m x 50% -> 2 replicas wanted, at 300m -> 1
    rec = recommend(w, p)
    assert rec.fields[next(iter(rec.fields))].recommended == 300  # median 150m / 50%
    cost = estimate(rec, CATALOG)
    assert cost.replicas_before == Decimal("1.0")
    assert cost.replicas_after == Decimal("0.5")
    assert cost.replicas_basis == "average pods observed; after: x0.50 replicas as the HPA rescales"
    assert isinstance(cost.rates, ResourceRates)
