"""Co-location: mesh traffic read from a snapshot, the cross-zone share and its price, and the
routing / pod-affinity advice with its exact snippet."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from gitbot.cli import main
from gitbot.colocation import cross_zone_share, suggest
from gitbot.metrics.openmetrics import Family, Series, write_file
from gitbot.metrics.snapshot import SnapshotSource
from gitbot.metrics.source import UsageQuery
from gitbot.metrics.usage import NodeInfo, PodContainerUsage, Traffic, UsageData, build_profiles
from gitbot.model import Container, ContainerType, ObjectSource, SourceKind, Target, TargetKind, Workload, WorkloadId
from gitbot.pricing.catalog import TransferPrice

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
GRID = np.arange(300.0, 3300.0, 300.0)  # 10 steps: a 3,000 s window
PRICE = TransferPrice(Decimal("0.01"), "test price")


def series(name: str, labels: dict[str, str], values: list[float], times: list[float]) -> Series:
    return Series(name, tuple(sorted(labels.items())), np.array(times), np.array(values))


def mesh_labels(reporter: str, src: str, dst: str, **extra: str) -> dict[str, str]:
    (sns, sw), (dns, dw) = src.split("/"), dst.split("/")
    return {"reporter": reporter, "source_workload_namespace": sns, "source_workload": sw,
            "destination_workload_namespace": dns, "destination_workload": dw, **extra}


def test_a_snapshot_sums_each_pairs_counters_from_one_reporter(tmp_path: Path) -> None:
    t = [100.0, 1000.0, 2000.0, 3000.0]
    cpu = series("container_cpu_usage_seconds_total", {"namespace": "shop", "pod": "api-0", "container": "api"}, [1, 2, 3, 4], t)
    flows = [
        # two source pods report shop/api -> data/db; their destination pod reports the same requests again
        ("source", "shop/api", "data/db", "api-a", [0, 100, 200, 300], [0, 1e6, 2e6, 3e6]),
        ("source", "shop/api", "data/db", "api-b", [0, 50, 100, 150], [0, 5e5, 1e6, 1.5e6]),
        ("destination", "shop/api", "data/db", "db-0", [0, 150, 300, 450], [0, 1.5e6, 3e6, 4.5e6]),
        # only the destination saw this one (the client has no sidecar), and a counter reset
        ("destination", "web/front", "shop/api", "api-a", [0, 10, 2, 12], [0, 1e5, 2e4, 1.2e5]),
        # a client outside the mesh, and a pair outside the plan's namespaces
        ("destination", "istio-system/unknown", "shop/api", "api-a", [0, 10, 20, 30], [0, 1, 2, 3]),
        ("source", "other/x", "other/y", "x-0", [0, 10, 20, 30], [0, 1, 2, 3]),
    ]
    requests, sent, received = [], [], []
    for reporter, src, dst, pod, counts, bytes_ in flows:
        labels = mesh_labels(reporter, src, dst, pod=pod)
        requests.append(series("istio_requests_total", labels, counts, t))
        sent.append(series("istio_request_bytes_sum", labels, [b / 4 for b in bytes_], t))
        received.append(series("istio_response_bytes_sum", labels, [b * 3 / 4 for b in bytes_], t))
    path = tmp_path / "mesh.om"
    write_file(path, [Family("container_cpu_usage_seconds", "counter", None, [cpu]), Family("istio_requests", "counter", None, requests),
                      Family("istio_request_bytes_sum", "gauge", None, sent), Family("istio_response_bytes_sum", "gauge", None, received)])
    data = SnapshotSource(path).fetch(UsageQuery(history_seconds=3000, step_seconds=300, end=3000.0, namespaces=frozenset({"shop", "data"})))
    # increase() over (0, 3000]: each counter starts at 0, so Prometheus does not extrapolate it
    # back to the window's start; the reset from 10 to 2 counts 10 + 2 + 10
    assert data.traffic == (
        Traffic(("shop", "api"), ("data", "db"), 450.0, 4.5e6, "source"),
        Traffic(("web", "front"), ("shop", "api"), 22.0, 2.2e5, "destination"),
    )


def container(name: str) -> Container:
    return Container(name, ContainerType.APP, 0, {})


def workload(namespace: str, kind: str, name: str, labels: tuple[tuple[str, str], ...] = ()) -> Workload:
    return Workload(WorkloadId(namespace, kind, name), Target(TargetKind.PLAIN, "x.yaml", "x.yaml"),
                    ObjectSource("x.yaml", 0, 1, SourceKind.PLAIN), "prod", "production", 1, (container("main"),), pod_labels=labels)


API = workload("shop", "Deployment", "api", (("app", "api"),))
DB = workload("data", "StatefulSet", "db", (("app.kubernetes.io/name", "db"), ("version", "2")))
AGENT = workload("shop", "DaemonSet", "agent", (("app", "agent"),))
CACHE = workload("shop", "Deployment", "cache", (("app", "cache"),))


def profiles(traffic: tuple[Traffic, ...], zoned: bool = True):
    nodes = {z: NodeInfo(f"node-{z}", "m6i.xlarge", "us-east-1", f"us-east-1{z}" if zoned else None, "on-demand", "amd64") for z in "abc"}
    placed = [("shop", "api-x-1", "a"), ("shop", "api-x-2", "b"), ("shop", "api-x-3", "c"), ("data", "db-0", "a"),
              ("shop", "agent-1", "a"), ("shop", "agent-2", "b"), ("shop", "cache-x-1", "a"), ("shop", "cache-x-2", "b"),
              ("shop", "cache-x-3", "c")]
    owners = {"api": ("ReplicaSet", "api-x"), "db": ("StatefulSet", "db"), "agent": ("DaemonSet", "agent"), "cache": ("ReplicaSet", "cache-x")}
    pods = [PodContainerUsage(ns, pod, "main", np.full(GRID.size, 10.0), np.full(GRID.size, 1e6), None, None, 0, (), None)
            for ns, pod, _ in placed]
    data = UsageData("test", GRID, 300, tuple(pods),
                     {(ns, pod): owners[pod.split("-")[0]] for ns, pod, _ in placed},
                     {("shop", "api-x"): ("Deployment", "api"), ("shop", "cache-x"): ("Deployment", "cache")}, {},
                     {(ns, pod): f"node-{z}" for ns, pod, z in placed}, {n.name: n for n in nodes.values()}, traffic=traffic)
    return build_profiles([API, DB, AGENT, CACHE], data)


def test_the_cross_zone_share_is_the_chance_a_zone_blind_request_leaves_its_zone() -> None:
    assert cross_zone_share({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, {"a": 1.0}) == Decimal("0.667")
    assert cross_zone_share({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == Decimal("0.500")
    assert cross_zone_share({"a": 1.0}, {"a": 1.0}) == Decimal("0.000")
    assert cross_zone_share({"a": 1.0}, {"b": 1.0}) == Decimal("1.000")


def test_chatty_pairs_get_their_monthly_cross_zone_cost_and_the_fitting_advice() -> None:
    traffic = (
        Traffic(("shop", "api"), ("data", "db"), 30_000.0, 10.0 * GIB, "source"),
        Traffic(("data", "db"), ("shop", "api"), 600.0, 0.5 * GIB, "source"),  # the same pair, the other way
        Traffic(("shop", "agent"), ("data", "db"), 3_000.0, 1.0 * GIB, "source"),
        Traffic(("shop", "api"), ("shop", "cache"), 3_000.0, 0.02 * GIB, "source"),  # $0.35/month: not worth a comment
        Traffic(("shop", "api"), ("elsewhere", "svc"), 3_000.0, 50.0 * GIB, "source"),  # not in the repository
    )
    found = suggest([API, DB, AGENT, CACHE], profiles(traffic), 3000.0, PRICE)
    assert [(str(c.source.id), str(c.destination.id)) for c in found] == [
        ("shop/Deployment/api", "data/StatefulSet/db"), ("shop/DaemonSet/agent", "data/StatefulSet/db")]
    api, agent = found
    # 10.5 GiB in 3,000 s -> 10.5 x 2,628,000 / 3,000 = 9,198 GiB a month; 2/3 of it crosses zones
    assert (api.gib_per_month, api.cross_zone_share, api.monthly_cost) == (Decimal("9198.00"), Decimal("0.667"), Decimal("61.35"))
    assert api.requests_per_second == 10.2
    assert api.affinity_on is API
    assert api.reason == (
        "10.2 req/s, 9,198 GiB/month; pods in us-east-1a 33%, us-east-1b 33%, us-east-1c 33% call pods in us-east-1a 100%, "
        "so about 67% crosses zones at $0.01/GiB (test price); db has no pods in us-east-1b, us-east-1c: preferred pod affinity "
        "moves api towards its zones (fewer zones for api), and locality-aware routing keeps requests there")
    assert api.snippet == (
        "# Service in front of data/db: prefer endpoints in the caller's zone\n"
        "spec:\n"
        "  trafficDistribution: PreferSameZone  # Kubernetes 1.34+; PreferClose before\n"
        "# (Istio sidecars: or give its DestinationRule an outlierDetection, which turns on locality load balancing)\n"
        "# shop/Deployment/api: pod template spec\n"
        "affinity:\n"
        "  podAffinity:\n"
        "    preferredDuringSchedulingIgnoredDuringExecution:\n"
        "      - weight: 100\n"
        "        podAffinityTerm:\n"
        "          topologyKey: topology.kubernetes.io/zone\n"
        "          namespaces: [data]\n"
        "          labelSelector:\n"
        "            matchLabels:\n"
        "              app.kubernetes.io/name: db\n"
        '              version: "2"\n')
    # a DaemonSet cannot follow its peer: the destination has to spread instead
    assert (agent.gib_per_month, agent.cross_zone_share, agent.monthly_cost) == (Decimal("876.00"), Decimal("0.500"), Decimal("4.38"))
    assert agent.affinity_on is None
    assert agent.reason.endswith("db has no pods in us-east-1b: spread it there (topologySpreadConstraints) so locality-aware "
                                 "routing can keep requests local")
    assert "podAffinity" not in agent.snippet


def test_without_traffic_zones_or_a_price_there_is_nothing_to_suggest() -> None:
    traffic = (Traffic(("shop", "api"), ("data", "db"), 30_000.0, 10.0 * GIB, "source"),)
    assert suggest([API, DB], profiles(()), 3000.0, PRICE) == ()
    assert suggest([API, DB], profiles(traffic), 3000.0, None) == ()
    assert suggest([API, DB], profiles(traffic, zoned=False), 3000.0, PRICE) == ()
    assert len(suggest([API, DB], profiles(traffic), 3000.0, PRICE)) == 1


def test_the_demo_plan_shows_both_kinds_of_advice_in_markdown() -> None:
    result = CliRunner().invoke(main, ["plan", str(ROOT / "fixtures" / "demo-repo"), "--metrics-file",
                                       str(ROOT / "fixtures" / "demo-metrics.om.gz"), "--format", "json"], catch_exceptions=False)
    doc = json.loads(result.stdout)
    assert [(c["source"], c["destination"], c["monthly_cost"]["delta_usd"], c["pod_affinity_on"]) for c in doc["colocations"]] == [
        ("shop-prod/Deployment/checkout", "shop-prod/Deployment/pricing-engine", "-19.58", "shop-prod/Deployment/checkout"),
        ("search-prod/Deployment/search-gateway", "search-prod/StatefulSet/search-index", "-15.70", None),
    ]
    assert doc["colocations"][0]["source_zones"] == {"us-east-1a": 0.333, "us-east-1b": 0.333, "us-east-1c": 0.333}
    assert doc["colocations"][0]["destination_zones"] == {"us-east-1a": 0.5, "us-east-1b": 0.5}
    assert doc["colocations"][0]["snippet"].endswith("          labelSelector:\n            matchLabels:\n              app: pricing-engine\n")
