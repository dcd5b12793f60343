"""The Prometheus source against a real Prometheus (tests/prometheus_harness.py): same plan as the
snapshot it was backfilled from, requests that do not grow with containers, snapshot round trips,
and faults that end in a clear one-line message and a documented exit code."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_harness import delay, drop_connection, ensure_prometheus, free_port, status, transform, warnings

from gitbot.cli import main
from gitbot.metrics.prometheus import PrometheusOptions, PrometheusSource
from gitbot.metrics.source import UsageQuery

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "fixtures" / "demo-repo")
METRICS = str(ROOT / "fixtures" / "demo-metrics.om.gz")
END = 1794787200  # the demo snapshot's window end, 2026-11-16T00:00Z

sys.path.insert(0, str(ROOT / "fixtures"))
from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # noqa: E402


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def plan_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    code, out, err = run("plan", DEMO, "--format", "json", *args, env=env)
    assert code == 0, err
    return json.loads(out)


def without_source(doc: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(doc))
    copy["usage_source"]["source"] = "<source>"
    return copy


@pytest.fixture(scope="module")
def file_plan() -> dict[str, Any]:
    return plan_json("--metrics-file", METRICS)


@pytest.fixture(scope="module")
def server_plan(demo_prometheus) -> dict[str, Any]:
    return plan_json("--prometheus-url", demo_prometheus.url, "--at", str(END))


def test_server_plan_equals_the_plan_from_the_backfilled_file(server_plan, file_plan):
    assert server_plan["usage_source"]["source"] == f"prometheus {server_plan['usage_source']['source'].split(' ', 1)[1]}"
    assert server_plan["usage_source"]["source"].startswith("prometheus http://127.0.0.1:")
    assert without_source(server_plan) == without_source(file_plan)
    assert server_plan["summary"]["by_status"] == {"change": 15, "unchanged": 0, "comment-only": 0, "skipped": 2}
    # kube-system is not planned: its pod is known from the owner tables of the other namespaces
    assert [h["text"] for h in server_plan["usage_source"]["unmatched"]] == [
        "kube-system: 1 pod (Deployment coredns); no workload of this repository is in that namespace"
    ]


def test_mesh_traffic_from_the_server_gives_the_co_location_suggestions(server_plan):
    """Istio counters summed on the server per workload pair, joined with the pods' zones."""
    pairs = [(c["source"], c["destination"], c["gib_per_month"], c["cross_zone_share"], c["monthly_cost"]["before_usd"],
              c["pod_affinity_on"]) for c in server_plan["colocations"]]
    assert pairs == [
        ("shop-prod/Deployment/checkout", "shop-prod/Deployment/pricing-engine", "2935.47", "0.667", "19.58", "shop-prod/Deployment/checkout"),
        ("search-prod/Deployment/search-gateway", "search-prod/StatefulSet/search-index", "2353.65", "0.667", "15.70", None),
    ]


def test_snapshot_replays_the_server_plan_offline(demo_prometheus, server_plan, tmp_path):
    out = tmp_path / "usage.om.gz"
    code, _, err = run("snapshot", DEMO, "--prometheus-url", demo_prometheus.url, "--at", str(END), "--output", str(out))
    assert code == 0, err
    assert err.startswith(f"gitbot: wrote {out}: ") and "from 5 namespaces" in err
    # no --at: the snapshot says where its window ends
    replayed = plan_json("--metrics-file", str(out))
    assert replayed["usage_source"]["source"] == f"snapshot {out}"
    assert without_source(replayed) == without_source(server_plan)
    # and promtool accepts it for backfilling
    tools = ensure_prometheus()
    assert tools is not None
    plain = tmp_path / "usage.om"
    plain.write_bytes(gzip.decompress(out.read_bytes()))
    backfill = subprocess.run([tools[1], "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h", str(plain), str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=300)
    assert backfill.returncode == 0, backfill.stderr


def test_requests_are_batched_per_namespace_chunk(demo_prometheus, fault_proxy):
    proxy = fault_proxy(demo_prometheus)
    plan_json("--prometheus-url", proxy.url, "--at", str(END))
    queries = proxy.queries()
    # one count, then 5 range + 4 instant queries for the single chunk of 5 namespaces, then 5 join
    # tables, the owner tables of every other namespace (one query) and 3 mesh-traffic sums
    assert len(queries) == 19
    assert [r.path for r in proxy.requests].count("/api/v1/query_range") == 5
    assert queries[0].startswith("count by (namespace) (max_over_time(container_memory_working_set_bytes{")
    planned = 'namespace!~"search-prod|search-staging|shop|shop-prod|shop-staging"'
    assert queries[15] == (
        f"group by (namespace, pod, owner_kind, owner_name, owner_is_controller) (max_over_time(kube_pod_owner{{{planned}}}[1209600s]))"
        f" or group by (namespace, replicaset, owner_kind, owner_name, owner_is_controller) (max_over_time(kube_replicaset_owner{{{planned}}}[1209600s]))"
        f" or group by (namespace, job_name, owner_kind, owner_name, owner_is_controller) (max_over_time(kube_job_owner{{{planned}}}[1209600s]))"
    )
    assert queries[-3:] == [
        f"sum by (reporter, source_workload_namespace, source_workload, destination_workload_namespace, destination_workload) "
        f"(increase({name}[1209600s]))"
        for name in ("istio_requests_total", "istio_request_bytes_sum", "istio_response_bytes_sum")
    ]
    assert all(r.method == "POST" for r in proxy.requests)
    # in the body, where a long namespace list meets no URL-length limit
    assert all(r.body.startswith(b"query=") for r in proxy.requests)


def _fleet(namespace_prefix: str, containers: int) -> list[SimpleWorkload]:
    """``containers`` single-container Deployments spread over two namespaces."""
    return [
        SimpleWorkload(f"{namespace_prefix}-{i % 2}", "Deployment", f"app-{i}", 1, [SimpleContainer("main", 100, 128 * 2**20, None, 256 * 2**20)])
        for i in range(containers)
    ]


@pytest.fixture(scope="module")
def fleet_prometheus(prometheus_factory, tmp_path_factory):
    """One server holding a 10-container and a 1,000-container fleet (12 h of 5-minute samples)."""
    path = tmp_path_factory.mktemp("fleet") / "fleet.om"
    write_snapshot(scenario_for(_fleet("small", 10) + _fleet("big", 1000), float(END), days=0.5), path)
    return prometheus_factory([path])


def test_request_count_does_not_grow_with_containers(fleet_prometheus):
    counts, seconds, sizes = {}, {}, {}
    for prefix in ("small", "big"):
        source = PrometheusSource(PrometheusOptions(fleet_prometheus.url))
        query = UsageQuery(history_seconds=12 * 3600, step_seconds=300, end=float(END), namespaces=frozenset({f"{prefix}-0", f"{prefix}-1"}))
        started = time.perf_counter()
        data = source.fetch(query)
        seconds[prefix] = time.perf_counter() - started
        counts[prefix] = source.client.requests
        sizes[prefix] = len(data.containers)
    assert sizes == {"small": 10, "big": 1000}
    assert counts == {"small": 18, "big": 18}  # no OOM kill in either: no query for the limits in force at one
    print(f"\nrequests 10 vs 1,000 containers: {counts}; seconds: {seconds}")


def test_chunks_split_under_a_small_points_budget(fleet_prometheus):
    source = PrometheusSource(PrometheusOptions(fleet_prometheus.url, max_points_per_query=144 * 600))
    query = UsageQuery(history_seconds=12 * 3600, step_seconds=300, end=float(END), namespaces=frozenset({"big-0", "big-1"}))
    data = source.fetch(query)
    assert len(data.containers) == 1000
    # 500 series per namespace: one chunk each (no OOM kills); 5 join tables, 1 for the other namespaces' owners, 3 mesh sums
    assert source.client.requests == 1 + 2 * 8 + 5 + 1 + 3


def test_sample_limit_splits_chunks_and_reports_what_still_fails(prometheus_factory):
    server = prometheus_factory([METRICS], query_max_samples=60_000)
    doc = plan_json("--prometheus-url", server.url, "--at", str(END))
    failed = [w for w in doc["warnings"] if w.startswith("no usage for namespace ")]
    assert failed, doc["warnings"]
    namespaces = {w.split()[4].rstrip(":") for w in failed}
    skipped = [c for c in doc["containers"] if c["namespace"] in namespaces]
    assert skipped and all(c["status"] == "skipped" for c in skipped)
    exempt = [c for c in skipped if c["reasons"][0].startswith("exempt in config:")]
    assert [(c["workload"], c["container"]) for c in exempt] == [("shop/DaemonSet/node-agent", "fluent-bit")]
    for c in skipped:
        if c not in exempt:
            assert c["reasons"][0].startswith(f"no usage data: the query for namespace {c['namespace']} exceeds the server's sample limit (query processing would load too many samples"), c
    sized = [c for c in doc["containers"] if c["namespace"] not in namespaces and c["usage"] is not None]
    assert sized, "the namespaces under the limit are still planned"


def test_server_down_is_exit_4_with_one_line(tmp_path):
    port = free_port()
    code, out, err = run("plan", DEMO, "--prometheus-url", f"http://127.0.0.1:{port}", "--retries", "0", "--at", str(END))
    assert code == 4 and out == ""
    assert err == f"gitbot: error: prometheus http://127.0.0.1:{port}: cannot connect: Failed to establish a new connection: [Errno 111] Connection refused\n"


def test_http_500_is_exit_4_and_never_leaks_the_token(demo_prometheus, fault_proxy):
    proxy = fault_proxy(demo_prometheus)
    proxy.set_fault(status(500, error="upstream said: Authorization Bearer s3cr3t-token is not welcome"))
    code, out, err = run("plan", DEMO, "--prometheus-url", proxy.url, "--at", str(END), "--retries", "0",
                         env={"GITBOT_PROMETHEUS_TOKEN": "s3cr3t-token"})
    assert code == 4
    assert err == f"gitbot: error: prometheus {proxy.url}: HTTP 500: upstream said: Authorization Bearer *** is not welcome\n"
    assert proxy.requests[0].headers["Authorization"] == "Bearer s3cr3t-token"
    assert "s3cr3t" not in out + err


def test_transient_503s_are_retried(demo_prometheus, fault_proxy, server_plan):
    proxy = fault_proxy(demo_prometheus)
    proxy.set_fault(status(503, times=2))
    doc = plan_json("--prometheus-url", proxy.url, "--at", str(END))
    assert without_source(doc) == without_source(server_plan)
    assert len(proxy.requests) == 19 + 2


def test_timeout_and_dropped_connections_are_exit_4(demo_prometheus, fault_proxy):
    proxy = fault_proxy(demo_prometheus)
    proxy.set_fault(delay(3))
    code, _, err = run("plan", DEMO, "--prometheus-url", proxy.url, "--at", str(END), "--timeout", "1", "--retries", "0")
    assert (code, err) == (4, f"gitbot: error: prometheus {proxy.url}: timed out after 1s\n")
    proxy.set_fault(drop_connection())
    code, _, err = run("plan", DEMO, "--prometheus-url", proxy.url, "--at", str(END), "--retries", "0")
    assert (code, err) == (4, f"gitbot: error: prometheus {proxy.url}: cannot connect: Remote end closed connection without response\n")


def test_partial_responses_are_reported_as_warnings(demo_prometheus, fault_proxy):
    proxy = fault_proxy(demo_prometheus)
    proxy.set_fault(warnings(["partial response: store 10.0.0.7:10901 unavailable"], match="container_cpu_usage_seconds_total"))
    doc = plan_json("--prometheus-url", proxy.url, "--at", str(END))
    assert "prometheus: partial response: store 10.0.0.7:10901 unavailable" in doc["warnings"]


def test_missing_series_and_non_finite_samples_become_gaps(demo_prometheus, fault_proxy, server_plan):
    def damage(body: dict[str, Any]) -> dict[str, Any]:
        result = body["data"]["result"]
        for item in result:
            if item["metric"].get("container") == "cart":
                item["values"] = [[t, "+Inf"] if i % 2 else [t, "NaN"] for i, (t, _) in enumerate(item["values"])]
        body["data"]["result"] = [r for r in result if r["metric"].get("container") != "resizer"]
        return body

    proxy = fault_proxy(demo_prometheus)
    proxy.set_fault(transform(damage, match="container_memory_working_set_bytes", paths=("/api/v1/query_range",)))
    doc = plan_json("--prometheus-url", proxy.url, "--at", str(END))
    by = {(c["workload"], c["container"]): c for c in doc["containers"]}
    cart = by[("shop/Deployment/cart", "cart")]
    assert cart["usage"]["memory_bytes"] is None  # every memory value was NaN or infinite
    assert cart["fields"]["memory_request_bytes"]["reason"] == "no memory samples; left as is"
    assert any(w.startswith("shop/cart-") and w.endswith("infinite memory values ignored") for w in doc["warnings"])
    resizer = by[("shop/Deployment/image-resizer", "resizer")]
    assert resizer["usage"]["memory_bytes"] is None and resizer["usage"]["cpu_m"] is not None
    untouched = {(c["workload"], c["container"]): c for c in server_plan["containers"]}
    assert by[("shop/Deployment/storefront", "web")] == untouched[("shop/Deployment/storefront", "web")]


def test_both_sources_at_once_is_a_usage_error():
    code, _, err = run("plan", DEMO, "--metrics-file", METRICS, "--prometheus-url", "http://127.0.0.1:1")
    assert (code, err) == (2, "gitbot: error: give one usage source: --metrics-file or --prometheus-url, not both\n")


def test_progress_reports_each_namespace_chunk(demo_prometheus):
    messages: list[str] = []
    source = PrometheusSource(PrometheusOptions(demo_prometheus.url), progress=messages.append)
    source.fetch(UsageQuery(end=float(END), namespaces=frozenset({"shop", "shop-prod", "search-prod", "search-staging"})))
    assert messages == ["usage: namespaces 1/1: search-prod, search-staging, shop …"]


def test_inventory_shows_the_same_usage_from_either_source(demo_prometheus):
    code, out, err = run("inventory", DEMO, "--prometheus-url", demo_prometheus.url, "--at", str(END), "--format", "json")
    assert code == 0, err
    from_server = json.loads(out)
    code, out, _ = run("inventory", DEMO, "--metrics-file", METRICS, "--format", "json")
    from_file = json.loads(out)
    assert from_server == from_file
    cart = next(w for w in from_file["workloads"] if w["workload"] == "shop/Deployment/cart")
    assert cart["containers"][0]["usage"]["joined_by"] == "owner"


def test_a_query_that_cannot_be_split_over_the_sample_limit_is_exit_4(demo_prometheus, fault_proxy):
    # the real server's 422 (see the test above); here only on the one query that cannot be split
    proxy = fault_proxy(demo_prometheus)
    too_many = "query processing would load too many samples into memory in query execution"
    proxy.set_fault(status(422, error_type="execution", error=too_many, match="count by (namespace)"))
    code, out, err = run("plan", DEMO, "--prometheus-url", proxy.url, "--at", str(END))
    assert (code, out) == (4, "")
    assert err == f"gitbot: error: prometheus {proxy.url}: {too_many}; use a shorter --history or a query frontend\n"


def test_mesh_traffic_over_the_sample_limit_costs_only_the_co_location_suggestions(demo_prometheus, fault_proxy, server_plan):
    proxy = fault_proxy(demo_prometheus)
    too_many = "query processing would load too many samples into memory in query execution"
    proxy.set_fault(status(422, error_type="execution", error=too_many, match="increase(istio_request_bytes_sum"))
    doc = plan_json("--prometheus-url", proxy.url, "--at", str(END))
    assert doc["colocations"] == []
    assert doc["warnings"][-1] == f"service-mesh traffic left out (no co-location suggestions): {too_many}"
    assert doc["containers"] == server_plan["containers"]
    # the first mesh sum was asked, the failing second one once, and the third not at all
    assert [q for q in proxy.queries() if "istio" in q] == [
        f"sum by (reporter, source_workload_namespace, source_workload, destination_workload_namespace, destination_workload) "
        f"(increase({name}[1209600s]))" for name in ("istio_requests_total", "istio_request_bytes_sum")
    ]


def test_a_shard_asks_the_server_only_for_its_namespaces(demo_prometheus, fault_proxy):
    proxy = fault_proxy(demo_prometheus)
    doc = plan_json("--prometheus-url", proxy.url, "--at", str(END), "--shard", "1/3")
    assert {c["workload"] for c in doc["containers"]} == {"shop-prod/Deployment/pricing-engine"}
    queries = proxy.queries()
    assert queries[0] == ('count by (namespace) (max_over_time(container_memory_working_set_bytes'
                          '{container!="",container!="POD",namespace=~"shop-prod"}[1209600s]))')
    assert all('namespace=~"shop-prod"' in q for q in queries[1:10])
    # outside them, only the owner tables (the unmatched pods: the other shards' are claimed), in one query
    assert [q.split(" (", 1)[0] for q in queries if 'namespace!~"shop-prod"' in q] == ["group by"]
    assert doc["usage_source"]["unmatched_pods"] == 1  # kube-system's coredns, as in the whole plan
