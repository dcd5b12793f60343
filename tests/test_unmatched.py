"""The pods no workload of the repository claims, in every namespace, and the hints that say why
(a namespace that differs, a missing app, an owner no manifest defines): the pure hint function,
the join, the snapshot source, the real Prometheus server (one more query) and the CLI output."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from prometheus_harness import status

from gitbot.cli import main
from gitbot.metrics.openmetrics import read_series
from gitbot.metrics.prometheus import PrometheusOptions, PrometheusSource
from gitbot.metrics.snapshot import SnapshotSource
from gitbot.metrics.source import UsageQuery
from gitbot.metrics.unmatched import MISSING_APP, NAMESPACE, UNKNOWN_OWNER, OwnerCount, UnmatchedHint, UnmatchedSummary, unmatched_hints
from gitbot.metrics.usage import PodContainerUsage, UnmatchedPod, UsageData, build_profiles
from gitbot.model import ObjectSource, SourceKind, Target, TargetKind, Workload, WorkloadId
from gitbot.output.render import unmatched_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fixtures"))
from synth import MI, SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # noqa: E402

END = 1794787200.0  # 2026-11-16T00:00Z
WHERE = "set the namespace in the manifests, an Argo CD destination, or namespaces: in .gitbot.yaml"
PODINFO, WEB, DB = WorkloadId("podinfo", "Deployment", "podinfo"), WorkloadId("shop", "Deployment", "web"), WorkloadId("shop", "StatefulSet", "db")
REPOSITORY = (PODINFO, WEB, DB)


def pod(namespace: str, name: str, kind: str | None = None, owner: str | None = None) -> UnmatchedPod:
    return UnmatchedPod(namespace, name, None if kind is None or owner is None else (kind, owner))


def workload(wid: WorkloadId) -> Workload:
    target = Target(TargetKind.PLAIN, "x.yaml", "x.yaml")
    return Workload(wid, target, ObjectSource("x.yaml", 0, 1, SourceKind.PLAIN), "default", "production", 1, ())


# ---- the hints: a pure function of the pods and the repository's workloads -------------------------------


def test_a_workload_the_cluster_runs_in_other_namespaces_is_one_hint_naming_both_sides() -> None:
    pods = [pod("podinfo-staging", f"podinfo-7d9f8c6b5-s{i}", "Deployment", "podinfo") for i in range(5)]
    pods += [pod("podinfo-production", f"podinfo-7d9f8c6b5-p{i}", "Deployment", "podinfo") for i in range(7)]
    pods += [pod("shop-old", "db-0", "StatefulSet", "db")]
    found = unmatched_hints(pods, REPOSITORY)
    assert found == UnmatchedSummary(13, 3, (
        UnmatchedHint(NAMESPACE, 12, ("podinfo-production", "podinfo-staging"), (OwnerCount("Deployment", "podinfo", 12),), ("podinfo",),
                      f"12 pods of Deployment podinfo run in podinfo-production, podinfo-staging; the repository puts it in podinfo ({WHERE})"),
        UnmatchedHint(NAMESPACE, 1, ("shop-old",), (OwnerCount("StatefulSet", "db", 1),), ("shop",),
                      f"1 pod of StatefulSet db runs in shop-old; the repository puts it in shop ({WHERE})"),
    ))


def test_a_workload_the_repository_puts_in_two_namespaces_names_both() -> None:
    repository = (*REPOSITORY, WorkloadId("podinfo-dev", "Deployment", "podinfo"))
    (hint,) = unmatched_hints([pod("podinfo-staging", "podinfo-7d9f8c6b5-abcde", "Deployment", "podinfo")], repository).hints
    assert hint.text == f"1 pod of Deployment podinfo runs in podinfo-staging; the repository puts it in podinfo, podinfo-dev ({WHERE})"
    assert hint.repository_namespaces == ("podinfo", "podinfo-dev")


def test_a_namespace_without_a_workload_of_the_repository_is_one_hint_with_three_owners_named() -> None:
    pods = [pod("kube-system", f"coredns-5d78c9869d-{i}", "Deployment", "coredns") for i in range(4)]
    pods += [pod("kube-system", f"kube-proxy-{i}", "DaemonSet", "kube-proxy") for i in range(6)]
    pods += [pod("kube-system", f"aws-node-{i}", "DaemonSet", "aws-node") for i in range(2)]
    pods += [pod("kube-system", "etcd-node-1", "Node", "node-1"), pod("kube-system", "leftover")]
    found = unmatched_hints(pods, REPOSITORY)
    assert found == UnmatchedSummary(14, 1, (
        UnmatchedHint(MISSING_APP, 14, ("kube-system",), (
            OwnerCount("DaemonSet", "kube-proxy", 6), OwnerCount("Deployment", "coredns", 4), OwnerCount("DaemonSet", "aws-node", 2),
            OwnerCount("Node", "node-1", 1), OwnerCount(None, None, 1),
        ), (), "kube-system: 14 pods (DaemonSet kube-proxy, Deployment coredns, DaemonSet aws-node and 2 more); "
               "no workload of this repository is in that namespace"),
    ))


def test_an_owner_the_repository_does_not_define_in_one_of_its_namespaces() -> None:
    pods = [pod("shop", f"legacy-api-6c8d9f7b5-{i}", "Deployment", "legacy-api") for i in range(3)]
    pods += [pod("shop", "scratch"), pod("shop", "debug-pod")]
    pods += [pod("shop", "web-canary-0", "StatefulSet", "web")]  # the same name, another kind: not the repository's
    found = unmatched_hints(pods, REPOSITORY)
    assert [(h.kind, h.pods, h.text) for h in found.hints] == [
        (UNKNOWN_OWNER, 3, "shop: 3 pods of Deployment legacy-api, which no manifest here defines"),
        (UNKNOWN_OWNER, 2, "shop: 2 pods without an owner series, whose names match no workload here"),
        (UNKNOWN_OWNER, 1, "shop: 1 pod of StatefulSet web, which no manifest here defines"),
    ]
    assert (found.pods, found.namespaces) == (6, 1)


def test_hints_come_most_pods_first_and_nothing_unmatched_gives_none() -> None:
    pods = [pod("monitoring", "prometheus-0", "StatefulSet", "prometheus"), pod("shop", "legacy-0", "StatefulSet", "legacy"),
            pod("shop", "legacy-1", "StatefulSet", "legacy"), pod("podinfo-staging", "podinfo-x-y", "Deployment", "podinfo")]
    assert [h.text.split(";")[0].split(",")[0] for h in unmatched_hints(pods, REPOSITORY).hints] == [
        "shop: 2 pods of StatefulSet legacy",
        "1 pod of Deployment podinfo runs in podinfo-staging",
        "monitoring: 1 pod (StatefulSet prometheus)",
    ]
    assert unmatched_hints([], REPOSITORY) == UnmatchedSummary(0, 0, ())


# ---- the join: every pod with usage or an owner series, in any namespace ---------------------------------


GRID = np.arange(300.0, 3300.0, 300.0)


def usage(namespace: str, name: str) -> PodContainerUsage:
    return PodContainerUsage(namespace, name, "app", np.full(GRID.size, 10.0), np.full(GRID.size, 2.0**20), None, None, 0, (), None)


def test_owner_series_of_every_namespace_and_usage_elsewhere_count_with_their_resolved_owner() -> None:
    data = UsageData(
        "test", GRID, 300,
        (usage("shop", "web-5d8f7c9b4-abcde"), usage("shop", "stray")),
        pod_owners={
            ("shop", "web-5d8f7c9b4-abcde"): ("ReplicaSet", "web-5d8f7c9b4"),
            ("shop", "db-0"): ("StatefulSet", "db"),  # claimed, without usage in the window
            ("kube-system", "coredns-5d78c9869d-x7k2p"): ("ReplicaSet", "coredns-5d78c9869d"),
            ("ops", "backup-29000000-kq2x9"): ("Job", "backup-29000000"),
            ("ops", "toolbox"): ("<none>", "<none>"),
            ("podinfo-staging", "podinfo-6b7c8d9f5-q2w3e"): ("ReplicaSet", "podinfo-6b7c8d9f5"),
        },
        replicaset_owners={("shop", "web-5d8f7c9b4"): ("Deployment", "web"), ("kube-system", "coredns-5d78c9869d"): ("Deployment", "coredns"),
                           ("podinfo-staging", "podinfo-6b7c8d9f5"): ("Deployment", "podinfo")},
        job_owners={("ops", "backup-29000000"): ("CronJob", "backup")},
        pod_nodes={}, nodes={},
        usage_elsewhere=frozenset({("monitoring", "node-exporter-abcde")}),
    )
    profiles = build_profiles([workload(w) for w in REPOSITORY], data)
    assert profiles.unmatched == (
        UnmatchedPod("kube-system", "coredns-5d78c9869d-x7k2p", ("Deployment", "coredns")),
        UnmatchedPod("monitoring", "node-exporter-abcde", None),
        UnmatchedPod("ops", "backup-29000000-kq2x9", ("CronJob", "backup")),
        UnmatchedPod("ops", "toolbox", ("Pod", "toolbox")),
        UnmatchedPod("podinfo-staging", "podinfo-6b7c8d9f5-q2w3e", ("Deployment", "podinfo")),
        UnmatchedPod("shop", "stray", None),
    )
    assert profiles.unmatched_pods[0] == ("kube-system", "coredns-5d78c9869d-x7k2p")
    # a shard plans only web; the rest of the repository still claims its pods
    shard = build_profiles([workload(WEB)], data, [workload(w) for w in REPOSITORY])
    assert shard.unmatched == profiles.unmatched
    assert [str(w) for w, _ in shard.by_container] == ["shop/Deployment/web"]
    alone = build_profiles([workload(WEB)], data).unmatched  # without the rest, db-0 would be a stranger
    assert [u for u in alone if u not in profiles.unmatched] == [UnmatchedPod("shop", "db-0", ("StatefulSet", "db"))]


# ---- the sources: a synthetic cluster where the repository and the cluster differ -------------------------


def _cluster() -> list[SimpleWorkload]:
    def w(namespace: str, kind: str, name: str, replicas: int) -> SimpleWorkload:
        return SimpleWorkload(namespace, kind, name, replicas, [SimpleContainer("app", 100, 128 * MI)])

    return [
        w("shop", "Deployment", "web", 2), w("shop", "StatefulSet", "db", 1),  # the repository's, where it puts them
        w("shop", "Deployment", "legacy-api", 3), w("shop", "Pod", "scratch", 1),  # in its namespace, not its
        w("podinfo-staging", "Deployment", "podinfo", 2), w("podinfo-production", "Deployment", "podinfo", 3),  # its, elsewhere
        w("kube-system", "Deployment", "coredns", 2), w("kube-system", "DaemonSet", "kube-proxy", 1),
        w("kube-system", "DaemonSet", "aws-node", 1), w("kube-system", "Deployment", "metrics-server", 1),
        w("kube-system", "Pod", "etcd-node-1", 1), w("monitoring", "StatefulSet", "prometheus", 1),
    ]


QUERY = UsageQuery(history_seconds=86400, step_seconds=300, end=END, namespaces=frozenset({"podinfo", "shop"}))
EXPECTED = [
    (MISSING_APP, 6, "kube-system: 6 pods (Deployment coredns, DaemonSet aws-node, DaemonSet kube-proxy and 2 more); "
                     "no workload of this repository is in that namespace"),
    (NAMESPACE, 5, f"5 pods of Deployment podinfo run in podinfo-production, podinfo-staging; the repository puts it in podinfo ({WHERE})"),
    (UNKNOWN_OWNER, 3, "shop: 3 pods of Deployment legacy-api, which no manifest here defines"),
    (MISSING_APP, 1, "monitoring: 1 pod (StatefulSet prometheus); no workload of this repository is in that namespace"),
    (UNKNOWN_OWNER, 1, "shop: 1 pod without an owner series, whose names match no workload here"),
]


@pytest.fixture(scope="module")
def cluster_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One day of the cluster; kube-state-metrics exported no owner for the pod ``scratch``."""
    scenario = scenario_for(_cluster(), END, days=1)
    scenario.pods = [replace(p, publish_owner=False) if p.name == "scratch" else p for p in scenario.pods]
    path = tmp_path_factory.mktemp("unmatched") / "cluster.om"
    write_snapshot(scenario, path)
    return path


def _found(data: UsageData) -> tuple[tuple[UnmatchedPod, ...], UnmatchedSummary]:
    profiles = build_profiles([workload(w) for w in REPOSITORY], data)
    return profiles.unmatched, unmatched_hints(profiles.unmatched, REPOSITORY)


def test_the_snapshot_source_counts_every_pod_in_the_file(cluster_snapshot: Path) -> None:
    pods, found = _found(SnapshotSource(cluster_snapshot).fetch(QUERY))
    assert (found.pods, found.namespaces) == (16, 5)
    assert [(h.kind, h.pods, h.text) for h in found.hints] == EXPECTED
    assert found.hints[0].owners == (OwnerCount("Deployment", "coredns", 2), OwnerCount("DaemonSet", "aws-node", 1),
                                     OwnerCount("DaemonSet", "kube-proxy", 1), OwnerCount("Deployment", "metrics-server", 1),
                                     OwnerCount("Pod", "etcd-node-1", 1))
    assert UnmatchedPod("shop", "scratch", None) in pods


@pytest.fixture(scope="module")
def cluster_server(prometheus_factory: Any, cluster_snapshot: Path) -> Any:
    return prometheus_factory([cluster_snapshot])


def test_the_server_gives_the_same_pods_and_hints_for_one_more_query(cluster_server: Any, fault_proxy: Any, cluster_snapshot: Path) -> None:
    proxy = fault_proxy(cluster_server)
    source = PrometheusSource(PrometheusOptions(proxy.url))
    from_server = _found(source.fetch(QUERY))
    assert from_server == _found(SnapshotSource(cluster_snapshot).fetch(QUERY))
    # one count; for the one chunk (podinfo has no series) 4 range and 4 instant queries; 5 join
    # tables; the owners of every other namespace; 3 mesh sums
    queries = proxy.queries()
    assert source.client.requests == len(queries) == 18
    assert [q for q in queries if "!~" in q] == [queries[14]]
    assert queries[14] == (
        'group by (namespace, pod, owner_kind, owner_name, owner_is_controller) (max_over_time(kube_pod_owner{namespace!~"shop"}[86400s]))'
        ' or group by (namespace, replicaset, owner_kind, owner_name, owner_is_controller) (max_over_time(kube_replicaset_owner{namespace!~"shop"}[86400s]))'
        ' or group by (namespace, job_name, owner_kind, owner_name, owner_is_controller) (max_over_time(kube_job_owner{namespace!~"shop"}[86400s]))'
    )
    assert proxy.requests[14].path == "/api/v1/query" and proxy.requests[14].param("time") == f"{END:.3f}"


TOO_MANY = "query processing would load too many samples into memory in query execution"


def test_over_the_sample_limit_the_owner_query_is_asked_for_halves_of_the_window(cluster_server: Any, fault_proxy: Any, cluster_snapshot: Path) -> None:
    proxy = fault_proxy(cluster_server)
    proxy.set_fault(status(422, error_type="execution", error=TOO_MANY, match="group by (namespace, pod,", times=1))
    source = PrometheusSource(PrometheusOptions(proxy.url))
    data = source.fetch(QUERY)
    assert _found(data) == _found(SnapshotSource(cluster_snapshot).fetch(QUERY)) and data.warnings == ()
    asked = [(r.query.split("[", 2)[1].split("]")[0], r.param("time")) for r in proxy.requests if r.query and r.query.startswith("group by")]
    assert asked == [("86400s", f"{END:.3f}"), ("43200s", f"{END - 43200:.3f}"), ("43200s", f"{END:.3f}")]
    assert source.client.requests == 18 + 2


def test_when_even_ten_minutes_are_too_many_the_other_namespaces_are_left_out_with_a_warning(cluster_server: Any, fault_proxy: Any) -> None:
    proxy = fault_proxy(cluster_server)
    proxy.set_fault(status(422, error_type="execution", error=TOO_MANY, match="group by (namespace, pod,"))
    source = PrometheusSource(PrometheusOptions(proxy.url))
    data = source.fetch(QUERY)
    assert data.warnings == (f"the pods of the other namespaces are left out of the unmatched pods: {TOO_MANY}",)
    _, found = _found(data)
    assert [h.text for h in found.hints] == [EXPECTED[2][2], EXPECTED[4][2]]  # shop's strangers only; the plan goes on
    # the window halved down to 10 minutes, its oldest part first, then given up
    ranges = [r.query.split("[", 2)[1].split("]")[0] for r in proxy.requests if r.query and r.query.startswith("group by")]
    assert ranges == ["86400s", "43200s", "21600s", "10800s", "5400s", "2700s", "1350s", "675s", "338s"]


# ---- the CLI: table, markdown, JSON, and a snapshot recorded from the server -----------------------------


MANIFESTS = {
    "apps/podinfo.yaml": ("Deployment", "podinfo", "podinfo"),
    "apps/web.yaml": ("Deployment", "shop", "web"),
    "apps/db.yaml": ("StatefulSet", "shop", "db"),
}


def _repo(root: Path) -> Path:
    for rel, (kind, namespace, name) in MANIFESTS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        service = "  serviceName: db\n" if kind == "StatefulSet" else ""
        path.write_text(
            f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{service}"
            f"  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n"
            "    spec:\n      containers:\n        - name: app\n          image: example/app\n"
            "          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n"
        )
    return root


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"GITBOT_CONFIG": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_plan_shows_the_count_and_the_hints(tmp_path: Path, cluster_snapshot: Path) -> None:
    repo = _repo(tmp_path / "repo")
    common = ("plan", str(repo), "--metrics-file", str(cluster_snapshot), "--history", "1d", "-q", "--render-cache", "off")
    doc = json.loads(_cli(*common, "--format", "json"))
    usage = doc["usage_source"]
    assert (usage["unmatched_pods"], usage["unmatched_namespaces"]) == (16, 5)
    assert [(h["kind"], h["pods"], h["text"]) for h in usage["unmatched"]] == EXPECTED
    assert usage["unmatched"][1] == {
        "kind": "namespace", "pods": 5, "namespaces": ["podinfo-production", "podinfo-staging"], "repository_namespaces": ["podinfo"],
        "owners": [{"kind": "Deployment", "name": "podinfo", "pods": 5}], "text": EXPECTED[1][2],
    }
    table = _cli(*common, "--format", "table").split("\n")
    assert table[1:8] == ["unmatched pods: 16 in 5 namespaces (usage no workload here claims)", *(f"  {text}" for _, _, text in EXPECTED), ""]
    markdown = _cli(*common, "--format", "markdown")
    assert ("<details><summary>unmatched pods: 16 in 5 namespaces (usage no workload here claims)</summary>\n\n"
            + "".join(f"- {text}\n" for _, _, text in EXPECTED) + "\n</details>\n") in markdown
    inventory = json.loads(_cli("inventory", str(repo), "--metrics-file", str(cluster_snapshot), "--history", "1d", "-q",
                                "--render-cache", "off", "--format", "json"))
    assert (inventory["unmatched_pods"], inventory["unmatched_namespaces"], inventory["unmatched"]) == (16, 5, usage["unmatched"])


def test_the_table_shows_five_hints_and_says_where_the_rest_are() -> None:
    hints = [{"text": f"ns-{i}: 1 pod (Deployment a); no workload of this repository is in that namespace"} for i in range(7)]
    assert unmatched_lines({"unmatched_pods": 7, "unmatched_namespaces": 7, "unmatched": hints}) == [
        "unmatched pods: 7 in 7 namespaces (usage no workload here claims)", *(f"  {h['text']}" for h in hints[:5]), "  … 2 more in --format json",
    ]
    assert unmatched_lines({"unmatched_pods": 0, "unmatched_namespaces": 0, "unmatched": []}) == []
    assert unmatched_lines({"unmatched_pods": 3}) == ["unmatched pods: 3 (usage no workload here claims)"]  # a plan.json of an older gitbot


def test_a_snapshot_records_the_owners_of_the_other_namespaces_for_the_same_plan(tmp_path: Path, cluster_server: Any) -> None:
    repo = _repo(tmp_path / "repo")
    out = tmp_path / "usage.om"
    result = CliRunner().invoke(main, ["snapshot", str(repo), "--prometheus-url", cluster_server.url, "--at", str(int(END)), "--history", "1d",
                                       "--output", str(out), "--render-cache", "off"], env={"GITBOT_CONFIG": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    # the other namespaces' owners: one sample each at the window's end, no uid (a group by), no usage
    owners = [s for s in read_series(out, ["kube_pod_owner"])["kube_pod_owner"] if s.label("namespace") != "shop"]
    assert len(owners) == 12 and all(s.timestamps.tolist() == [END] and s.label("uid") == "" for s in owners)
    assert {s.label("namespace") for s in read_series(out, ["container_memory_working_set_bytes"])["container_memory_working_set_bytes"]} == {"shop"}
    common = ("--history", "1d", "-q", "--render-cache", "off", "--format", "json")
    replayed = json.loads(_cli("plan", str(repo), "--metrics-file", str(out), *common))["usage_source"]
    served = json.loads(_cli("plan", str(repo), "--prometheus-url", cluster_server.url, "--at", str(int(END)), *common))["usage_source"]
    assert {**replayed, "source": None} == {**served, "source": None}
    assert (served["unmatched_pods"], [h["text"] for h in served["unmatched"]]) == (16, [text for _, _, text in EXPECTED])


def test_a_snapshot_whose_owner_query_never_fits_the_sample_limit_is_exit_4(tmp_path: Path, cluster_server: Any, fault_proxy: Any) -> None:
    repo = _repo(tmp_path / "repo")
    proxy = fault_proxy(cluster_server)
    proxy.set_fault(status(422, error_type="execution", error=TOO_MANY, match="group by (namespace, pod,"))
    result = CliRunner().invoke(main, ["snapshot", str(repo), "--prometheus-url", proxy.url, "--at", str(int(END)), "--history", "1d",
                                       "--output", str(tmp_path / "usage.om"), "--render-cache", "off", "-q"], env={"GITBOT_CONFIG": None})
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == (f"gitbot: error: prometheus {proxy.url}: the owner tables exceed the server's sample limit even for 10 minutes "
                             f"({TOO_MANY})\n")
    assert not (tmp_path / "usage.om").exists()
