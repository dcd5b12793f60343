"""Pod -> workload joins (kube-state-metrics owner chain, name fallback) and pooling into profiles."""

import numpy as np
import pytest

from gitbot.metrics.usage import NodeInfo, PodContainerUsage, UsageData, build_profiles
from gitbot.model import Field, ObjectSource, SourceKind, Target, TargetKind, Workload, WorkloadId

GRID = np.arange(300.0, 3300.0, 300.0)  # 10 steps
NAN = np.nan


def workload(namespace, kind, name):
    target = Target(TargetKind.PLAIN, "x.yaml", "x.yaml")
    return Workload(WorkloadId(namespace, kind, name), target, ObjectSource("x.yaml", 0, 1, SourceKind.PLAIN), "default", "production", 1, ())


def usage(pod, container="app", cpu=None, mem=None, ns="shop", **kw):
    cpu = np.full(GRID.size, 100.0) if cpu is None else np.asarray(cpu, dtype=float)
    mem = np.full(GRID.size, 2.0**20) if mem is None else np.asarray(mem, dtype=float)
    fields = dict(throttled_periods=None, total_periods=None, restarts=0, oom_times=(), oom_limit_bytes=None)
    fields.update(kw)
    return PodContainerUsage(ns, pod, container, cpu, mem, **fields)


def data(containers, pod_owners=None, rs=None, jobs=None, pod_nodes=None, nodes=None):
    return UsageData("test", GRID, 300, tuple(containers), pod_owners or {}, rs or {}, jobs or {}, pod_nodes or {}, nodes or {})


WORKLOADS = [
    workload("shop", "Deployment", "web"),
    workload("shop", "Deployment", "web-admin"),
    workload("shop", "StatefulSet", "db"),
    workload("shop", "CronJob", "report"),
    workload("shop", "DaemonSet", "agent"),
    workload("shop", "Pod", "debug"),
]


def test_owner_chain_joins_pods_to_deployments_cronjobs_statefulsets_and_bare_pods():
    d = data(
        [usage("web-5d8f7c9b4-abcde"), usage("web-5d8f7c9b4-fghij"), usage("db-0"), usage("report-29000000-kq2x9"), usage("debug"), usage("agent-x7k2p")],
        pod_owners={
            ("shop", "web-5d8f7c9b4-abcde"): ("ReplicaSet", "web-5d8f7c9b4"),
            ("shop", "web-5d8f7c9b4-fghij"): ("ReplicaSet", "web-5d8f7c9b4"),
            ("shop", "db-0"): ("StatefulSet", "db"),
            ("shop", "report-29000000-kq2x9"): ("Job", "report-29000000"),
            ("shop", "debug"): ("<none>", "<none>"),
            ("shop", "agent-x7k2p"): ("DaemonSet", "agent"),
        },
        rs={("shop", "web-5d8f7c9b4"): ("Deployment", "web")},
        jobs={("shop", "report-29000000"): ("CronJob", "report")},
    )
    profiles = build_profiles(WORKLOADS, d)
    assert sorted((str(w), c) for w, c in profiles.by_container) == [
        ("shop/CronJob/report", "app"),
        ("shop/DaemonSet/agent", "app"),
        ("shop/Deployment/web", "app"),
        ("shop/Pod/debug", "app"),
        ("shop/StatefulSet/db", "app"),
    ]
    web = profiles.get(WorkloadId("shop", "Deployment", "web"), "app")
    assert web.joined_by == "owner"
    assert web.pods == 2
    assert web.avg_replicas == 2.0
    assert web.cpu_m.size == 20
    assert web.cpu_m_by_step.tolist() == [200.0] * 10
    assert profiles.unmatched_pods == ()


def test_name_fallback_is_flagged_and_prefers_the_longest_workload_name():
    d = data([usage("web-admin-7f9c6d5b8-zzzzz"), usage("web-7f9c6d5b8-qqqqq"), usage("db-3"), usage("other-7f9c6d5b8-qqqqq")])
    profiles = build_profiles(WORKLOADS, d)
    admin = profiles.get(WorkloadId("shop", "Deployment", "web-admin"), "app")
    assert admin is not None and admin.joined_by == "name" and admin.pods == 1
    assert profiles.get(WorkloadId("shop", "Deployment", "web"), "app").pods == 1
    assert profiles.get(WorkloadId("shop", "StatefulSet", "db"), "app").joined_by == "name"
    assert profiles.unmatched_pods == (("shop", "other-7f9c6d5b8-qqqqq"),)


def test_owner_outside_the_repo_falls_back_to_name_or_stays_unmatched():
    d = data(
        [usage("web-5d8f7c9b4-abcde"), usage("db-0", ns="other")],
        pod_owners={("shop", "web-5d8f7c9b4-abcde"): ("ReplicaSet", "web-5d8f7c9b4")},
        rs={("shop", "web-5d8f7c9b4"): ("Deployment", "renamed")},
    )
    profiles = build_profiles(WORKLOADS, d)
    assert profiles.get(WorkloadId("shop", "Deployment", "web"), "app").joined_by == "name"
    assert profiles.unmatched_pods == (("other", "db-0"),)


def test_pooling_coverage_gaps_and_memory_max_per_step():
    half = [NAN] * 5 + [50.0] * 5
    d = data(
        [
            usage("db-0", cpu=half, mem=[NAN] * 5 + [3.0] * 5),
            usage("db-1", cpu=[10.0] * 10, mem=[1.0] * 10, throttled_periods=10.0, total_periods=100.0),
        ],
        pod_owners={("shop", "db-0"): ("StatefulSet", "db"), ("shop", "db-1"): ("StatefulSet", "db")},
    )
    p = build_profiles(WORKLOADS, d).get(WorkloadId("shop", "StatefulSet", "db"), "app")
    assert p.steps_total == 10 and p.steps_with_data == 10 and p.coverage == 1.0
    assert p.avg_replicas == 1.5
    assert p.cpu_m.size == 15
    assert p.cpu_m_by_step.tolist() == [10.0] * 5 + [60.0] * 5
    assert p.memory_bytes_by_step.tolist() == [1.0] * 5 + [3.0] * 5
    assert p.throttled_ratio == pytest.approx(0.1)
    assert p.first_seen == 300.0 and p.last_seen == 3000.0


def test_oom_level_is_the_limit_in_force_or_the_peak_before_the_kill():
    mem = [100.0, 200.0, 900.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    d = data(
        [usage("db-0", mem=mem, restarts=1, oom_times=(GRID[3],), oom_limit_bytes=None)],
        pod_owners={("shop", "db-0"): ("StatefulSet", "db")},
    )
    p = build_profiles(WORKLOADS, d).get(WorkloadId("shop", "StatefulSet", "db"), "app")
    assert (p.oom_events, p.oom_memory_bytes, p.restarts) == (1, 900, 1)
    d2 = data(
        [usage("db-0", mem=mem, restarts=1, oom_times=(GRID[3],), oom_limit_bytes=1024)],
        pod_owners={("shop", "db-0"): ("StatefulSet", "db")},
    )
    assert build_profiles(WORKLOADS, d2).get(WorkloadId("shop", "StatefulSet", "db"), "app").oom_memory_bytes == 1024


def test_node_shares_group_by_instance_type_and_capacity():
    nodes = {
        "n1": NodeInfo("n1", "m6i.large", "us-east-1", "us-east-1a", "on-demand", "amd64"),
        "n2": NodeInfo("n2", "m6i.large", "us-east-1", "us-east-1b", "on-demand", "amd64"),
        "n3": NodeInfo("n3", "c6i.large", "us-east-1", "us-east-1a", "spot", "amd64"),
    }
    d = data(
        [usage("db-0"), usage("db-1"), usage("db-2", cpu=[NAN] * 8 + [1.0, 1.0], mem=[NAN] * 8 + [1.0, 1.0])],
        pod_owners={(("shop", f"db-{i}")): ("StatefulSet", "db") for i in range(3)},
        pod_nodes={("shop", "db-0"): "n1", ("shop", "db-1"): "n2", ("shop", "db-2"): "n3"},
        nodes=nodes,
    )
    p = build_profiles(WORKLOADS, d).get(WorkloadId("shop", "StatefulSet", "db"), "app")
    assert [(s.node.instance_type, s.node.capacity_type, round(s.share, 4)) for s in p.nodes] == [
        ("m6i.large", "on-demand", round(20 / 22, 4)),
        ("c6i.large", "spot", round(2 / 22, 4)),
    ]


def test_observed_requests_are_the_max_over_pods():
    d = data(
        [usage("db-0", observed={Field.CPU_REQUEST: 100}), usage("db-1", observed={Field.CPU_REQUEST: 250, Field.MEMORY_LIMIT: 10})],
        pod_owners={("shop", "db-0"): ("StatefulSet", "db"), ("shop", "db-1"): ("StatefulSet", "db")},
    )
    p = build_profiles(WORKLOADS, d).get(WorkloadId("shop", "StatefulSet", "db"), "app")
    assert dict(p.observed) == {Field.CPU_REQUEST: 250, Field.MEMORY_LIMIT: 10}
