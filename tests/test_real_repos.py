"""End to end against real public repositories: inventory, synthetic usage, plan.

The repositories are read-only test data in ``../shared/data/repos`` (see its README.md for what each
holds). For each one, the test takes the inventory, builds a synthetic cluster from it with
``fixtures/synth.py`` (every container uses a seeded fraction of its request, or of its limit when no
request is set), writes that as an OpenMetrics snapshot and plans against it. Each repository is
planned once per module (module-scoped fixtures); all exact numbers below come from that run, and
the comments say why each is what the inputs and the default rules (``rules/*.yaml``) should give.

Synthetic-data facts the comments rely on (``scenario_for(..., days=4.0)`` with ``END``):
- every pod lives from 1 h before the snapshot's first sample to after ``END``, so each container has
  4 days x 288 five-minute samples = 1152 samples per pod;
- CPU follows a daily curve between 0.5x and 1x of ``request x U(0.15, 0.9)``; memory is flat at
  ``request x U(0.3, 0.85)`` (the limit replaces the request when only a limit is set);
- init containers run in the first 120 s of their pod, i.e. before the first sample, so they have no
  usage at all: gitbot rightly skips them with "no usage data".
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "repos"

if not REPOS.is_dir():
    pytest.skip(f"real-repository corpora not found at {REPOS}", allow_module_level=True)

jsonschema = pytest.importorskip("jsonschema")

sys.path.insert(0, str(ROOT / "fixtures"))
from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot

from gitbot.output.document import Plan
from gitbot.pipeline import PlanRequest, inventory, plan

pytestmark = pytest.mark.slow

MICROSERVICES = REPOS / "GoogleCloudPlatform__microservices-demo"
PODINFO = REPOS / "stefanprodan__podinfo"
EXAMPLES = REPOS / "kubernetes__examples"
FLUX = REPOS / "fluxcd__flux2-kustomize-helm-example"
BITNAMI = REPOS / "bitnami__charts"

END = 1794787200.0  # 2026-11-16T00:00:00Z, a multiple of the 300 s step
MI = 2**20

needs_kustomize = pytest.mark.skipif(
    shutil.which("kubectl") is None and shutil.which("kustomize") is None,
    reason="neither kubectl nor kustomize is on PATH",
)


# -- helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    inventory: dict[str, Any]
    plan: Plan
    doc: dict[str, Any]  # the plan document after a JSON round trip


def simple_workloads(inv: dict[str, Any]) -> list[SimpleWorkload]:
    """One synthetic workload per workload id, as a cluster would run it.

    A repository can define the same id in several targets (copies of a manifest); the cluster has
    one of them, so the copies are merged: the union of their containers by name, the first
    definition's values winning.
    """
    merged: dict[str, tuple[dict[str, Any], dict[str, SimpleContainer]]] = {}
    for w in inv["workloads"]:
        _, containers = merged.setdefault(w["workload"], (w, {}))
        for c in w["containers"]:
            f = c["fields"]
            containers.setdefault(
                c["name"],
                SimpleContainer(
                    c["name"],
                    f["cpu_request_m"]["current"],
                    f["memory_request_bytes"]["current"],
                    f["cpu_limit_m"]["current"],
                    f["memory_limit_bytes"]["current"],
                    init=c["type"] == "init",
                ),
            )
    return [
        SimpleWorkload(w["namespace"], w["kind"], w["name"], w["replicas"] or 1, list(cs.values()))
        for w, cs in merged.values()
    ]


def run_repo(repo: Path, workdir: Path, config: Path | None = None) -> Run:
    inv = inventory(PlanRequest(repo=repo, config_file=config))
    snapshot = workdir / "usage.om.gz"
    write_snapshot(scenario_for(simple_workloads(inv), END), snapshot)
    result, doc = plan(PlanRequest(repo=repo, config_file=config, metrics_file=snapshot, at=END))
    return Run(inv, result, json.loads(json.dumps(doc)))


def entries(doc: dict[str, Any], workload: str, container: str) -> list[dict[str, Any]]:
    return [c for c in doc["containers"] if c["workload"] == workload and c["container"] == container]


def entry(doc: dict[str, Any], workload: str, container: str, file: str | None = None) -> dict[str, Any]:
    found = [e for e in entries(doc, workload, container) if file is None or e["source"]["file"] == file]
    assert len(found) == 1, f"{workload} {container} {file}: {len(found)} entries"
    return found[0]


def recommended(e: dict[str, Any]) -> dict[str, int | None]:
    return {k: v["recommended"] for k, v in e["fields"].items()}


def current(e: dict[str, Any]) -> dict[str, int | None]:
    return {k: v["current"] for k, v in e["fields"].items()}


def written(e: dict[str, Any]) -> dict[str, str | None]:
    return {k: v["written_text"] for k, v in e["fields"].items()}


def by_id_hpa(inv: dict[str, Any], wid: str) -> str | None:
    w = next(w for w in inv["workloads"] if w["workload"] == wid)
    return w["hpa"]["name"] if w["hpa"] else None


def inventory_ids(inv: dict[str, Any]) -> list[str]:
    return [w["workload"] for w in inv["workloads"]]


def check_plan_invariants(run: Run) -> None:
    """What must hold for any plan: schema, counts that add up, limits not below requests."""
    schema = json.loads((ROOT / "docs" / "plan-schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(run.doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]

    doc = run.doc
    summary = doc["summary"]
    assert summary["containers"] == len(doc["containers"]) == run.inventory["summary"]["containers"]
    assert summary["workloads"] == run.inventory["summary"]["workloads"]
    assert sum(summary["by_status"].values()) == summary["containers"]
    assert summary["files_changed"] == len(doc["edits"]) == len(run.plan.changes.files)
    assert doc["usage_source"]["window_end"] == "2026-11-16T00:00:00Z"
    assert doc["usage_source"]["window_start"] == "2026-11-02T00:00:00Z"  # the default 14d history
    assert doc["usage_source"]["unmatched_pods"] == 0  # every synthetic pod belongs to a workload

    for e in doc["containers"]:
        fields = e["fields"]
        for f in fields.values():
            assert f["changed"] == (f["recommended"] != f["current"])
            assert (f["written_text"] is not None) == (e["status"] == "change" and f["changed"])
        for resource in ("cpu", "memory"):
            unit = "m" if resource == "cpu" else "bytes"
            request = fields[f"{resource}_request_{unit}"]["recommended"]
            limit = fields[f"{resource}_limit_{unit}"]["recommended"]
            if request is not None and limit is not None:
                assert limit >= request, (e["workload"], e["container"], resource)
        if e["status"] == "skipped":
            assert not any(f["changed"] for f in fields.values())
        if e["usage"] is not None:
            assert e["usage"]["samples"] == 1152 * e["usage"]["pods"]  # 4 days of 5-minute samples per pod


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def microservices(tmp_path_factory: pytest.TempPathFactory) -> Run:
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        pytest.skip("neither kubectl nor kustomize is on PATH")
    return run_repo(MICROSERVICES / "kubernetes-manifests", tmp_path_factory.mktemp("microservices"))


PODINFO_CONFIG = """\
environments:
  - name: production
    tier: production
    namespaces: [production, podinfo]
  - name: dev
    tier: non-production
    namespaces: [dev, staging]
helm:
  releases:
    - chart: charts/podinfo
      name: podinfo
      namespace: podinfo
      values: [charts/podinfo/values-prod.yaml]
"""


@pytest.fixture(scope="module")
def podinfo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The whole podinfo repository: Kustomize (kustomize/, deploy/overlays/*), plain YAML
    (deploy/webapp, deploy/secure: Flux generates their kustomization) and the Helm chart rendered
    with values-prod.yaml into its own namespace, so it does not collide with kustomize/'s
    default/Deployment/podinfo. The config lives in tmp_path, never in the shared directory."""
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        pytest.skip("neither kubectl nor kustomize is on PATH")
    workdir = tmp_path_factory.mktemp("podinfo")
    config = workdir / "gitbot.yaml"
    config.write_text(PODINFO_CONFIG)
    return run_repo(PODINFO, workdir, config)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_repo(EXAMPLES, tmp_path_factory.mktemp("examples"))


# -- GoogleCloudPlatform/microservices-demo, kubernetes-manifests/ ---------------------------------

MICROSERVICES_IDS = [
    "default/Deployment/adservice",
    "default/Deployment/cartservice",
    "default/Deployment/checkoutservice",
    "default/Deployment/currencyservice",
    "default/Deployment/emailservice",
    "default/Deployment/frontend",
    "default/Deployment/paymentservice",
    "default/Deployment/productcatalogservice",
    "default/Deployment/recommendationservice",
    "default/Deployment/redis-cart",
    "default/Deployment/shippingservice",
]


@needs_kustomize
def test_microservices_demo_inventory(microservices: Run) -> None:
    inv = microservices.inventory
    # README: "42 containers in all; 37 req, 5 none" counts every copy of raw YAML: 13 containers
    # (12 Deployments, loadgenerator has 2) in each of kubernetes-manifests/, kustomize/base/ and
    # release/ = 39, plus 3 in kustomize/components (otel-collector 2, shoppingassistantservice 1).
    # With kubernetes-manifests/ as PATH gitbot sees 11 Deployments / 11 containers: the directory is
    # one Kustomize root whose kustomization.yaml lists 10 files (cartservice.yaml also holds
    # redis-cart), and loadgenerator.yaml sits beside it unlisted (upstream deploys it separately), so
    # by gitbot's discovery rule it belongs to Kustomize and is not read as a plain file (no skip entry).
    # The whole repository gives 84 workloads / 93 containers (7 targets define the same services).
    assert inv["summary"] == {"workloads": 11, "containers": 11}
    assert sorted(inventory_ids(inv)) == MICROSERVICES_IDS
    assert len(set(inventory_ids(inv))) == 11  # no workload counted twice
    assert inv["skipped_inputs"] == []
    assert inv["warnings"] == []
    for w in inv["workloads"]:
        assert w["target"]["kind"] == "kustomize"
        assert w["source"]["kind"] == "base"
        assert w["replicas"] == 1 and w["hpa"] is None
        assert w["namespace_defaulted"] is True  # no namespace in the files, no config
        (c,) = w["containers"]
        assert c["type"] == "app"
        # README: every one of these sets cpu+memory requests and limits, in m / Mi
        for key, f in c["fields"].items():
            assert f["current"] is not None and f["source"]["editable"], (w["workload"], key)
            assert f["text"].endswith("m" if key.startswith("cpu") else "Mi")

    frontend = next(w for w in inv["workloads"] if w["workload"] == "default/Deployment/frontend")
    assert frontend["source"]["file"] == "frontend.yaml"
    fields = frontend["containers"][0]["fields"]
    assert {k: (v["current"], v["text"]) for k, v in fields.items()} == {
        "cpu_request_m": (100, "100m"),
        "cpu_limit_m": (200, "200m"),
        "memory_request_bytes": (64 * MI, "64Mi"),
        "memory_limit_bytes": (128 * MI, "128Mi"),
    }
    redis = next(w for w in inv["workloads"] if w["workload"] == "default/Deployment/redis-cart")
    assert redis["source"]["file"] == "cartservice.yaml"  # the second document of that file


@needs_kustomize
def test_microservices_demo_plan(microservices: Run) -> None:
    check_plan_invariants(microservices)
    summary = microservices.doc["summary"]
    assert (summary["workloads"], summary["containers"]) == (11, 11)
    # every service is over-provisioned by the synthetic usage (it uses 15-90% of its CPU request
    # and 30-85% of its memory request), so each container has at least one field to lower
    assert summary["by_status"] == {"change": 11, "unchanged": 0, "comment-only": 0, "skipped": 0}
    # 10 files: cartservice.yaml holds both cartservice and redis-cart
    assert summary["files_changed"] == 10
    assert sorted(e["file"] for e in microservices.doc["edits"]) == sorted(
        f"{name}.yaml"
        for name in (
            "adservice", "cartservice", "checkoutservice", "currencyservice", "emailservice",
            "frontend", "paymentservice", "productcatalogservice", "recommendationservice", "shippingservice",
        )
    )
    assert float(summary["monthly_cost"]["delta_usd"]) < 0  # only reductions
    for e in microservices.doc["containers"]:
        u = e["usage"]
        assert u is not None and u["joined_by"] == "owner", e["workload"]
        assert (u["pods"], u["samples"], u["oom_events"]) == (1, 1152, 0)
        # the pods ran with the manifest's values (kube_pod_container_resource_* in the snapshot)
        assert u["observed"] == current(e)


@needs_kustomize
def test_microservices_demo_recommendations(microservices: Run) -> None:
    doc = microservices.doc

    # frontend/server: 100m/200m CPU, 64Mi/128Mi memory. Usage: CPU p95 27m, max 32m (a fraction of
    # ~0.28 of the request); memory p99 53.46Mi, max 55.44Mi (~0.75 of the request).
    e = entry(doc, "default/Deployment/frontend", "server")
    assert (e["usage"]["cpu_m"]["p95"], e["usage"]["cpu_m"]["max"]) == (27, 32)
    assert recommended(e) == {
        "cpu_request_m": 50,  # p97 of the forecast 28m, but max-step-down: at most -50% of the 100m it ran with
        "cpu_limit_m": 100,  # cpu-limit: max(2 x 50m, 32m + 10%)
        "memory_request_bytes": 54 * MI,  # forecast p99 53.48Mi, no margin (the limit covers the peak) -> 54Mi
        "memory_limit_bytes": 67 * MI,  # max(request x1, peak 55.44Mi + 20% = 66.5Mi) rounded up to 1Mi
    }
    assert written(e) == {"cpu_request_m": "50m", "cpu_limit_m": "100m", "memory_request_bytes": "54Mi", "memory_limit_bytes": "67Mi"}
    assert e["fields"]["memory_request_bytes"]["rule_ids"] == ["rounding"]

    # adservice/server: 200m/300m, 180Mi/300Mi. CPU p95 150m (~0.75 of the request), max 176m.
    e = entry(doc, "default/Deployment/adservice", "server")
    assert recommended(e) == {
        "cpu_request_m": 160,  # p97 of the forecast 156m -> 5m grid
        "cpu_limit_m": 320,  # max(2 x 160m, 176m + 10%) = 320m: four 5m steps above today's 300m, so it moves
        "memory_request_bytes": 113 * MI,  # forecast p99 112.83Mi, no margin under the limit -> 113Mi
        "memory_limit_bytes": 150 * MI,  # peak 116.49Mi + 20% = 140Mi, but at most -50% of 300Mi
    }
    assert e["fields"]["memory_limit_bytes"]["rule_ids"] == ["memory-limit-production", "max-step-down"]

    # redis-cart/redis: 70m/125m, 200Mi/256Mi; CPU p95 40m, max 47m; memory p99 106.39Mi, max 112.98Mi
    e = entry(doc, "default/Deployment/redis-cart", "redis")
    assert recommended(e) == {
        "cpu_request_m": 45,  # p97 of the forecast 42m -> 45m (above the 35m step-down floor)
        "cpu_limit_m": 90,  # max(2 x 45m, 47m + 10%)
        "memory_request_bytes": 107 * MI,  # forecast p99 106.39Mi, no margin under the limit -> 107Mi
        "memory_limit_bytes": 136 * MI,  # 112.98Mi + 20% = 135.6Mi -> 136Mi (above the 128Mi step-down floor)
    }

    # currencyservice/server: memory forecast p99 21.84Mi is under the 32Mi floor rule
    e = entry(doc, "default/Deployment/currencyservice", "server")
    assert e["fields"]["memory_request_bytes"]["recommended"] == 32 * MI
    assert e["fields"]["memory_request_bytes"]["rule_ids"] == ["floor"]
    assert e["fields"]["cpu_request_m"]["recommended"] == 50  # forecast p97 46m -> step-down floor 50m


# -- stefanprodan/podinfo, whole repository with a config ---------------------------------------

PODINFO_IDS = sorted(
    [f"{env}/{kind}/{name}" for env in ("dev", "production", "staging") for kind, name in (
        ("CronJob", "backup-daily"), ("CronJob", "rollup-daily"), ("CronJob", "rollup-weekly"),
        ("CronJob", "warm-cache"), ("Deployment", "backend"), ("Deployment", "cache"),
        ("Deployment", "database-replica"), ("Deployment", "frontend"), ("StatefulSet", "database-primary"),
    )]
    + [
        "default/Deployment/podinfo",
        "podinfo/Deployment/podinfo",
        "podinfo/Deployment/podinfo-redis",
        "secure/Deployment/backend",
        "secure/Deployment/frontend",
        "webapp/Deployment/backend",
        "webapp/Deployment/frontend",
    ]
)


@needs_kustomize
def test_podinfo_inventory(podinfo: Run) -> None:
    inv = podinfo.inventory
    # README: 15/15 containers with requests (all with limits), counting raw YAML once: the bases
    # (9 workloads, 10 containers: warm-cache has an init container), deploy/webapp (2),
    # deploy/secure (2) and kustomize/ (1). gitbot renders what a cluster would get: the three
    # overlays (dev, staging, production) each render the 10 base containers (+20 over the raw
    # count), and the chart with values-prod.yaml renders podinfo plus podinfo-redis (+2; the chart's
    # test Pods are hooks and left out): 15 + 20 + 2 = 37 containers in 34 workloads.
    assert inv["summary"] == {"workloads": 34, "containers": 37}
    assert sorted(inventory_ids(inv)) == PODINFO_IDS
    assert len(set(inventory_ids(inv))) == 34
    assert inv["skipped_inputs"] == []
    # the Helm release has its own namespace: no duplicate ids. Upstream's deploy/webapp/frontend/hpa.yaml
    # targets the backend Deployment (a copy-paste slip): said, and the HPA named like it is kept
    assert inv["warnings"] == [
        "webapp/Deployment/backend is the target of two HPAs, backend (deploy/webapp/backend/hpa.yaml) and "
        "frontend (deploy/webapp/frontend/hpa.yaml); sizing with backend"
    ]
    assert by_id_hpa(inv, "webapp/Deployment/backend") == "backend"

    by_id = {w["workload"]: w for w in inv["workloads"]}
    # environments from the config: dev + staging non-production, production + podinfo production,
    # the rest (default, secure, webapp) the default environment, which is production
    assert {(w["environment"], w["tier"]) for i, w in by_id.items() if i.split("/")[0] in ("dev", "staging")} == {("dev", "non-production")}
    assert {(w["environment"], w["tier"]) for i, w in by_id.items() if i.split("/")[0] in ("production", "podinfo")} == {("production", "production")}
    assert {(w["environment"], w["tier"]) for i, w in by_id.items() if i.split("/")[0] in ("default", "secure", "webapp")} == {("default", "production")}
    for env in ("dev", "staging", "production"):
        w = by_id[f"{env}/Deployment/backend"]
        assert (w["target"]["kind"], w["target"]["path"]) == ("kustomize", f"deploy/overlays/{env}")
        assert w["source"]["file"] == "deploy/bases/backend/deployment.yaml"
        warm = by_id[f"{env}/CronJob/warm-cache"]
        assert [(c["name"], c["type"]) for c in warm["containers"]] == [("warm-cache-init", "init"), ("warm-cache", "app")]
        assert warm["replicas"] is None

    # Helm: values-prod.yaml overrides values.yaml (cpu 1m / mem 16Mi, limits null) with requests
    # 100m / 64Mi and a 256Mi memory limit; no CPU limit
    helm = by_id["podinfo/Deployment/podinfo"]
    assert helm["target"] == {"kind": "helm", "path": "charts/podinfo", "name": "charts/podinfo@podinfo/podinfo"}
    fields = helm["containers"][0]["fields"]
    assert {k: v["current"] for k, v in fields.items()} == {
        "cpu_request_m": 100, "cpu_limit_m": None, "memory_request_bytes": 64 * MI, "memory_limit_bytes": 256 * MI,
    }
    # mapped by rendering with sentinels to the release's values file (values-prod.yaml sets all but
    # limits.cpu, which would be inserted there)
    assert {k: (v["source"]["kind"], v["source"]["file"], v["source"]["yaml_path"], v["source"]["present"]) for k, v in fields.items()} == {
        "cpu_request_m": ("helm-values", "charts/podinfo/values-prod.yaml", "resources.requests.cpu", True),
        "cpu_limit_m": ("helm-values", "charts/podinfo/values-prod.yaml", "resources.limits.cpu", False),
        "memory_request_bytes": ("helm-values", "charts/podinfo/values-prod.yaml", "resources.requests.memory", True),
        "memory_limit_bytes": ("helm-values", "charts/podinfo/values-prod.yaml", "resources.limits.memory", True),
    }
    # the redis sub-template hard-codes its resources: template fields, not editable
    redis = by_id["podinfo/Deployment/podinfo-redis"]["containers"][0]["fields"]
    assert {v["source"]["kind"] for v in redis.values()} == {"helm-template"}
    assert helm["hpa"]["max_replicas"] == 5 and helm["hpa"]["cpu_utilization_pct"] == 99  # values-prod hpa

    kustomize = by_id["default/Deployment/podinfo"]
    assert kustomize["hpa"] == {"name": "podinfo", "min_replicas": 2, "max_replicas": 4, "cpu_utilization_pct": 99, "memory_utilization_pct": None}
    # deploy/webapp/frontend/hpa.yaml upstream targets Deployment *backend* (a copy-paste slip), so no
    # HPA scales webapp's frontend and two HPAs claim webapp's backend; gitbot keeps one of them
    # without a warning (reported; not asserted which).
    assert by_id["webapp/Deployment/frontend"]["hpa"] is None
    assert by_id["webapp/Deployment/backend"]["hpa"] is not None


@needs_kustomize
def test_podinfo_plan(podinfo: Run) -> None:
    check_plan_invariants(podinfo)
    doc = podinfo.doc
    summary = doc["summary"]
    assert (summary["workloads"], summary["containers"]) == (34, 37)
    # change 33: deploy/secure (2) and deploy/webapp (2) plain files, backend and database-replica in
    # all three overlays (they all want the same values, so one edit of the shared base serves them),
    # kustomize/'s podinfo, the Helm podinfo through values-prod.yaml, and 21 overlay containers
    # whose shared base line needs different values per overlay: each overlay gets a
    # gitbot-resources.yaml patch (listed in its kustomization) instead of a base edit. database-primary's
    # requests differ per overlay (patches), but its limits are the same in all three: one base edit.
    # comment-only 1: podinfo-redis (resources hard-coded in its template).
    # skipped 3: the warm-cache-init init container in each overlay has no usage (see module doc).
    assert summary["by_status"] == {"change": 33, "unchanged": 0, "comment-only": 1, "skipped": 3}
    assert summary["files_changed"] == 19
    assert sorted(e["file"] for e in doc["edits"]) == [
        "charts/podinfo/values-prod.yaml",
        "deploy/bases/backend/deployment.yaml",
        "deploy/bases/database/cronjob-backup-daily.yaml",
        "deploy/bases/database/cronjob-rollup-daily.yaml",
        "deploy/bases/database/cronjob-rollup-weekly.yaml",
        "deploy/bases/database/deployment-replica.yaml",
        "deploy/bases/database/statefulset-primary.yaml",
        "deploy/bases/frontend/cronjob-warm-cache.yaml",
        *(f"deploy/overlays/{env}/{name}" for env in ("dev", "production", "staging") for name in ("gitbot-resources.yaml", "kustomization.yaml")),
        "deploy/secure/backend/deployment.yaml",
        "deploy/secure/frontend/deployment.yaml",
        "deploy/webapp/backend/deployment.yaml",
        "deploy/webapp/frontend/deployment.yaml",
        "kustomize/deployment.yaml",
    ]
    skipped = sorted((e["workload"], e["container"]) for e in doc["containers"] if e["status"] == "skipped")
    assert skipped == [(f"{env}/CronJob/warm-cache", "warm-cache-init") for env in ("dev", "production", "staging")]
    for e in doc["containers"]:
        if e["status"] == "skipped":
            assert e["usage"] is None and e["reasons"] == ["no usage data for this container in the metrics"]
        else:
            assert e["usage"] is not None and e["usage"]["joined_by"] == "owner", e["workload"]
            assert e["usage"]["pods"] == 1  # one pod per workload (HPA-scaled ones too: replicas is 1)
    helm = [e for e in doc["containers"] if e["target"]["kind"] == "helm"]
    assert [(e["workload"], e["status"]) for e in helm] == [
        ("podinfo/Deployment/podinfo", "change"),
        ("podinfo/Deployment/podinfo-redis", "comment-only"),
    ]


@needs_kustomize
def test_podinfo_recommendations(podinfo: Run) -> None:
    doc = podinfo.doc

    # kustomize/'s podinfo: 100m/2000m, 64Mi/512Mi, HPA at 99% CPU. CPU median 40m; memory p99
    # 46.23Mi, max 47.19Mi.
    e = entry(doc, "default/Deployment/podinfo", "podinfod")
    assert e["status"] == "change"
    assert recommended(e) == {
        "cpu_request_m": 50,  # hpa-cpu: median 40m / 99% = 41m; max-step-down keeps >= 50% of 100m
        "cpu_limit_m": 1000,  # max(2 x 50m, peak 78m + 10%) = 100m, but at most -50% of 2000m
        "memory_request_bytes": 47 * MI,  # forecast p99 46.27Mi, no margin under the limit -> 47Mi
        "memory_limit_bytes": 256 * MI,  # peak + 20% = 57Mi, but at most -50% of 512Mi
    }
    assert written(e) == {"cpu_request_m": "50m", "cpu_limit_m": "1000m", "memory_request_bytes": "47Mi", "memory_limit_bytes": "256Mi"}
    assert e["fields"]["cpu_request_m"]["rule_ids"] == ["hpa-cpu", "max-step-down"]

    # backend in the three overlays: every overlay ends at 50m / 1000m / 32Mi / 256Mi because the
    # step-down floors (50% of what the pods ran with) and the 32Mi floor dominate both tiers, so the
    # shared base takes one edit; the non-production tier is still visible in the rule ids.
    backends = {env: entry(doc, f"{env}/Deployment/backend", "backend") for env in ("dev", "staging", "production")}
    for env, e in backends.items():
        assert e["status"] == "change", env
        assert recommended(e) == {"cpu_request_m": 50, "cpu_limit_m": 1000, "memory_request_bytes": 32 * MI, "memory_limit_bytes": 256 * MI}
    assert backends["dev"]["fields"]["cpu_limit_m"]["rule_ids"] == ["cpu-limit-non-production", "max-step-down"]
    assert backends["production"]["fields"]["cpu_limit_m"]["rule_ids"] == ["cpu-limit", "max-step-down"]
    base_edit = next(x for x in doc["edits"] if x["file"] == "deploy/bases/backend/deployment.yaml")
    added = [line for line in base_edit["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == ["+            cpu: 1000m", "+            memory: 256Mi", "+            cpu: 50m"]  # once, not per overlay

    # cache: the overlays want different CPU requests for the same base line (dev 50m from the
    # step-down floor, production p95 73m -> 75m): the base stays, each overlay gets its own patch
    for env, cpu in (("dev", "50m"), ("staging", "50m"), ("production", "75m")):
        e = entry(doc, f"{env}/Deployment/cache", "redis")
        assert (e["status"], e["reasons"], written(e)["cpu_request_m"]) == ("change", [], cpu)
        patch = next(x["diff"] for x in doc["edits"] if x["file"] == f"deploy/overlays/{env}/gitbot-resources.yaml")
        assert "+  name: cache\n" in patch and f"+              cpu: {cpu}\n" in patch
    assert "deploy/bases/cache/deployment.yaml" not in {x["file"] for x in doc["edits"]}

    # CronJob containers: 10m / 16Mi requests are below the floor rule (10m CPU, 32Mi memory), so the
    # memory request goes *up* to 32Mi; in dev the non-production memory limit is 2 x request = 64Mi
    e = entry(doc, "dev/CronJob/backup-daily", "backup")
    assert recommended(e) == {"cpu_request_m": 10, "cpu_limit_m": 50, "memory_request_bytes": 32 * MI, "memory_limit_bytes": 64 * MI}
    assert e["usage"]["pods"] == 1 and e["usage"]["joined_by"] == "owner"  # Job -> CronJob owner chain

    # Helm podinfo (values-prod.yaml): 100m / 64Mi / 256Mi, no CPU limit and none added
    e = entry(doc, "podinfo/Deployment/podinfo", "podinfo")
    assert recommended(e) == {
        "cpu_request_m": 50,  # hpa-cpu: median 11m / 99%, raised to the 50m step-down floor
        "cpu_limit_m": None,
        "memory_request_bytes": 48 * MI,  # p99 47.66Mi, no margin under the limit -> 48Mi
        "memory_limit_bytes": 128 * MI,  # peak 49.27Mi + 20% = 59Mi, at most -50% of 256Mi
    }
    assert written(e) == {"cpu_request_m": "50m", "cpu_limit_m": None, "memory_request_bytes": "48Mi", "memory_limit_bytes": "128Mi"}
    redis = entry(doc, "podinfo/Deployment/podinfo-redis", "redis")
    assert (redis["status"], redis["reasons"]) == ("comment-only", ["cpu_request, cpu_limit, memory_limit: set by the chart's template, not by a values key"])


# -- kubernetes/examples, whole repository --------------------------------------------------------

EXAMPLES_IDS = [
    "default/Deployment/frontend",
    "default/Deployment/nfs-busybox",
    "default/Deployment/nfs-server",
    "default/Deployment/nfs-web",
    "default/Deployment/redis-master",
    "default/Deployment/redis-replica",
    "default/Deployment/selenium-hub",
    "default/Deployment/selenium-node-chrome",
    "default/Deployment/selenium-node-firefox",
    "default/Deployment/storm-worker-controller",
    "default/Deployment/tf-serving",
    "default/Deployment/vllm-gemma-deployment",
    "default/Pod/be",
    "default/Pod/exclusive-1",
    "default/Pod/exclusive-2",
    "default/Pod/exclusive-3",
    "default/Pod/exclusive-4",
    "default/Pod/mysql",
    "default/Pod/nimbus",
    "default/Pod/redis-master",
    "default/Pod/shared",
    "default/Pod/zookeeper",
    "default/ReplicationController/frontend",
    "default/ReplicationController/guestbook",
    "default/ReplicationController/redis",
    "default/ReplicationController/redis-master",
    "default/ReplicationController/redis-replica",
    "default/ReplicationController/redis-sentinel",
    "default/ReplicationController/spark-master-controller",
    "default/ReplicationController/spark-ui-proxy-controller",
    "default/ReplicationController/spark-worker-controller",
    "default/ReplicationController/vtctld",
    "default/ReplicationController/zeppelin-controller",
    "default/StatefulSet/cassandra",
    "default/StatefulSet/cockroachdb",
    "monitoring/Deployment/prometheus-adapter",
]
BARE_POD_CONTAINERS = 11  # 10 Pods; redis-master has two containers
DUPLICATED = ("default/Deployment/frontend", "default/Deployment/redis-master", "default/Deployment/redis-replica")


def test_examples_inventory(examples: Run) -> None:
    inv = examples.inventory
    # README: 48 containers (23 req, 12 lim-only, 13 none). gitbot finds 46 in 44 workloads (36
    # distinct ids): the 12 ReplicationController objects hold 13 containers; the 2 missing ones are
    # vitess' vttablet-pod-template.yaml, whose {{uid}} placeholders parse as YAML but make an invalid
    # name: skipped with a reason.
    assert inv["summary"] == {"workloads": 44, "containers": 46}
    ids = inventory_ids(inv)
    assert sorted(set(ids)) == EXAMPLES_IDS
    # the guestbook Deployments are defined three times each (web/guestbook, its all-in-one/ copies and
    # guestbook-go's redis-master-controller.yaml, which despite its name is a Deployment); gitbot
    # lists every definition and warns once per id
    assert {i: ids.count(i) for i in DUPLICATED} == {i: 3 for i in DUPLICATED}
    rc_copies = ("default/ReplicationController/guestbook", "default/ReplicationController/redis-replica")
    assert {i: ids.count(i) for i in rc_copies} == {i: 2 for i in rc_copies}
    assert len(ids) - len(set(ids)) == 8
    duplicate_warnings = [w for w in inv["warnings"] if " is defined by " in w]
    assert sorted(w.split(" is defined by")[0] for w in duplicate_warnings) == sorted(DUPLICATED + rc_copies)
    # vLLM's two HPA files both target the Deployment (one on GPU metrics): said, not silently dropped
    assert [w for w in inv["warnings"] if w not in duplicate_warnings] == [
        "default/Deployment/vllm-gemma-deployment is the target of two HPAs, gemma-server-gpu-hpa "
        "(AI/vllm-deployment/hpa/gpu-horizontal-pod-autoscaler.yaml) and gemma-server-hpa "
        "(AI/vllm-deployment/hpa/horizontal-pod-autoscaler.yaml); sizing with gemma-server-hpa"
    ]

    # The three vitess templates that are not valid YAML ({{cell}} / {{replicas}} as flow mappings)
    # and the one that parses but names its Pod vttablet-{{uid}} are the only skipped inputs; PVCs
    # (resources.requests.storage), Services, HPAs, RBAC etc. are simply not workloads.
    assert inv["skipped_inputs"] == [
        {"path": f"_archived/storage/vitess/{name}-template.yaml", "line": None, "reason": "Go/Helm template outside a chart; not rendered"}
        for name in ("etcd-controller", "etcd-service", "vtgate-controller")
    ] + [
        {"path": "_archived/storage/vitess/vttablet-pod-template.yaml", "line": 1,
         "reason": "Pod default/vttablet-{{uid}}: not a valid Kubernetes name (a template?)"}
    ]

    by_id: dict[str, dict[str, Any]] = {}
    for w in inv["workloads"]:
        by_id.setdefault(w["workload"], w)

    def values(wid: str, container: str) -> dict[str, tuple[int | None, str | None]]:
        c = next(c for c in by_id[wid]["containers"] if c["name"] == container)
        return {k: (v["current"], v["text"]) for k, v in c["fields"].items()}

    # quantity edge cases: integer cores, decimal SI memory, ".5" cores, Gi
    assert values("default/Pod/exclusive-1", "exclusive-1") == {
        "cpu_request_m": (1000, "1"), "cpu_limit_m": (1000, "1"),
        "memory_request_bytes": (256_000_000, "256M"), "memory_limit_bytes": (256_000_000, "256M"),
    }
    assert values("default/Deployment/selenium-hub", "selenium-hub") == {
        "cpu_request_m": (None, None), "cpu_limit_m": (500, ".5"),
        "memory_request_bytes": (None, None), "memory_limit_bytes": (1000 * MI, "1000Mi"),
    }
    # vLLM also requests nvidia.com/gpu and ephemeral-storage: not CPU/memory, ignored
    assert values("default/Deployment/vllm-gemma-deployment", "inference-server") == {
        "cpu_request_m": (2000, "2"), "cpu_limit_m": (2000, "2"),
        "memory_request_bytes": (10 * 2**30, "10Gi"), "memory_limit_bytes": (10 * 2**30, "10Gi"),
    }
    # its HPA scales on custom metrics (no CPU/memory utilisation); two HPA files target it
    assert by_id["default/Deployment/vllm-gemma-deployment"]["hpa"]["cpu_utilization_pct"] is None
    # JSON manifests are read like YAML
    assert by_id["default/Pod/nimbus"]["source"]["file"] == "_archived/storm/storm-nimbus.json"
    assert by_id["default/Pod/zookeeper"]["source"]["file"] == "_archived/storm/zookeeper.json"
    assert values("default/Pod/nimbus", "nimbus")["cpu_limit_m"] == (100, "100m")
    # init containers are typed
    cockroach = by_id["default/StatefulSet/cockroachdb"]
    assert [(c["name"], c["type"]) for c in cockroach["containers"]] == [("bootstrap", "init"), ("cockroachdb", "app")]
    assert cockroach["replicas"] == 3
    # the README's resource-less containers are there with all four fields unset
    assert set(values("default/Deployment/tf-serving", "tensorflow-serving").values()) == {(None, None)}
    assert sum(1 for w in inv["workloads"] if w["kind"] == "Pod" for _ in w["containers"]) == BARE_POD_CONTAINERS


def test_examples_plan(examples: Run) -> None:
    check_plan_invariants(examples)
    doc = examples.doc
    summary = doc["summary"]
    assert (summary["workloads"], summary["containers"]) == (44, 46)
    # every app container is sized (the synthetic usage is well below what most of them set, and
    # containers without any value get requests added); the one skip is cockroachdb's init container
    assert summary["by_status"] == {"change": 44, "unchanged": 1, "comment-only": 0, "skipped": 1}
    # 41 files: guestbook-all-in-one.yaml holds three Deployments, redis-master.yaml a two-container Pod
    assert summary["files_changed"] == 41
    (skipped,) = [e for e in doc["containers"] if e["status"] == "skipped"]
    assert (skipped["workload"], skipped["container"], skipped["usage"]) == ("default/StatefulSet/cockroachdb", "bootstrap", None)

    for e in doc["containers"]:
        if e is skipped:
            continue
        assert e["usage"] is not None, (e["workload"], e["container"])
        assert e["usage"]["joined_by"] == "owner", e["workload"]

    # a workload defined three times is sized once from the same usage: identical proposals
    for wid, container in (("default/Deployment/frontend", "php-redis"), ("default/Deployment/redis-replica", "replica")):
        copies = entries(doc, wid, container)
        assert len(copies) == (3 if container == "php-redis" else 2)
        assert len({json.dumps(recommended(c)) for c in copies}) == 1
        assert all(c["usage"]["pods"] == copies[0]["usage"]["pods"] for c in copies)


def test_examples_recommendations(examples: Run) -> None:
    doc = examples.doc

    # storm-worker-controller (2 replicas): 100m/200m, 100Mi/500Mi. Usage over both pods: CPU p95
    # 55m, max 67m; memory p99 88.84Mi, max 92.79Mi.
    e = entry(doc, "default/Deployment/storm-worker-controller", "storm-worke")  # sic, upstream's name
    assert (e["usage"]["pods"], e["usage"]["samples"]) == (2, 2304)
    assert recommended(e) == {
        "cpu_request_m": 60,  # p97 of the forecast 57m -> 60m (above the -50% floor of 50m)
        "cpu_limit_m": 120,  # max(2 x 60m, 67m + 10%)
        "memory_request_bytes": 90 * MI,  # forecast p99 89.98Mi, no margin under the limit -> 90Mi
        "memory_limit_bytes": 250 * MI,  # peak + 20% = 111Mi -> at most -50% of 500Mi
    }

    # selenium-hub sets only limits (.5 CPU, 1000Mi): the synthetic usage is a fraction of the
    # limits (CPU p95 101m, max 115m; memory p99 577.37Mi, max 593.75Mi); gitbot adds requests and
    # writes CPU in the file's decimal-core idiom
    e = entry(doc, "default/Deployment/selenium-hub", "selenium-hub")
    assert recommended(e) == {
        "cpu_request_m": 105,  # p97 of the forecast 104m -> 5m grid
        "cpu_limit_m": 250,  # max(2 x 105m, 115m + 10%) = 210m, at most -50% of 500m
        "memory_request_bytes": 580 * MI,  # forecast p99 579.42Mi, no margin under the limit it sets -> 580Mi
        "memory_limit_bytes": 713 * MI,  # 593.75Mi + 20% = 712.5Mi -> 713Mi (above the 500Mi floor)
    }
    assert written(e) == {"cpu_request_m": "0.105", "cpu_limit_m": "0.25", "memory_request_bytes": "580Mi", "memory_limit_bytes": "713Mi"}

    # nimbus (a JSON Pod with only a 100m CPU limit): requests and a memory limit are inserted, and
    # the edited file must still be JSON with exactly the recommended values
    e = entry(doc, "default/Pod/nimbus", "nimbus")
    assert recommended(e) == {
        "cpu_request_m": 35,  # p97 of the forecast 32m -> 35m (5m steps)
        "cpu_limit_m": 70,  # max(2 x 35m, 37m + 10%)
        "memory_request_bytes": 72 * MI,  # forecast p99 71.86Mi, no margin under the limit it adds -> 72Mi
        "memory_limit_bytes": 91 * MI,  # peak 75.75Mi + 20% = 90.9Mi -> 91Mi (none before)
    }
    for change in examples.plan.changes.files:
        if change.path.endswith(".json"):
            after = json.loads(change.after)
            resources = after["spec"]["containers"][0]["resources"]
            assert set(resources) == {"requests", "limits"}, change.path
    nimbus = next(c for c in examples.plan.changes.files if c.path == "_archived/storm/storm-nimbus.json")
    assert json.loads(nimbus.after)["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "35m", "memory": "72Mi"},
        "limits": {"cpu": "70m", "memory": "91Mi"},
    }

    # a container with no resources at all gets requests and a memory limit, but no CPU limit
    e = entry(doc, "default/Deployment/tf-serving", "tensorflow-serving")
    assert recommended(e) == {"cpu_request_m": 80, "cpu_limit_m": None, "memory_request_bytes": 81 * MI, "memory_limit_bytes": 100 * MI}

    # Guaranteed-QoS pods (cpu-manager exclusive-*: requests == limits, whole cores for the static
    # CPU manager) stay Guaranteed: CPU (about 300m used) stays a whole core, memory goes to the sized
    # limit (peak 143.28Mi + 20% = 180.3M -> 181M, in the file's M)
    e = entry(doc, "default/Pod/exclusive-1", "exclusive-1")
    assert recommended(e) == {"cpu_request_m": 1000, "cpu_limit_m": 1000, "memory_request_bytes": 181_000_000, "memory_limit_bytes": 181_000_000}
    assert written(e) == {"cpu_request_m": None, "cpu_limit_m": None, "memory_request_bytes": "181M", "memory_limit_bytes": "181M"}
    assert "guaranteed-qos" in e["rule_ids"]


def test_examples_bare_pods_are_joined_by_owner(examples: Run) -> None:
    pods = [e for e in examples.doc["containers"] if e["kind"] == "Pod"]
    assert len(pods) == BARE_POD_CONTAINERS
    assert {e["usage"]["joined_by"] for e in pods} == {"owner"}


# -- the repositories without sizable workloads ---------------------------------------------------


@needs_kustomize
def test_flux_example_inventory() -> None:
    # README: no container or resources block anywhere; everything comes from remote Helm charts
    # referenced by HelmReleases. The Flux/kustomize roots render, but hold no workload. Without a
    # chart cache nothing is pulled (with the charts served locally: tests/test_remote_charts.py).
    # The HelmReleases are listed as failed (podinfo's twice: staging and production overlays), so
    # an empty plan is not mistaken for "nothing to do".
    inv = inventory(PlanRequest(repo=FLUX))
    assert inv["summary"] == {"workloads": 0, "containers": 0}
    assert inv["workloads"] == [] and inv["warnings"] == []
    off = "is not in the repository, and pulling charts is off; its workloads are not sized"
    assert inv["skipped_inputs"] == [
        {"path": "apps/base/podinfo/release.yaml", "line": 1,
         "reason": f"HelmRelease podinfo (apps/production): chart podinfo from https://stefanprodan.github.io/podinfo >=1.0.0 {off}"},
        {"path": "apps/base/podinfo/release.yaml", "line": 1,
         "reason": f"HelmRelease podinfo (apps/staging): chart podinfo from https://stefanprodan.github.io/podinfo >=1.0.0-alpha {off}"},
        {"path": "infrastructure/controllers/cert-manager.yaml", "line": 23,
         "reason": f"HelmRelease cert-manager (infrastructure/controllers): chart oci://quay.io/jetstack/charts/cert-manager 1.x {off}"},
        {"path": "infrastructure/controllers/envoy-gateway.yaml", "line": 23,
         "reason": f"HelmRelease envoy-gateway (infrastructure/controllers): chart oci://docker.io/envoyproxy/gateway-helm >= 1.8.0-rc.0 {off}"},
    ]


def test_bitnami_charts_inventory() -> None:
    # README: both charts depend on bitnami/common through an OCI registry; it is not vendored into
    # <chart>/charts/, and without a chart cache nothing is pulled, so both releases fail naming the
    # dependency (never Helm's nil-pointer or missing-template message). common itself is a library
    # chart: listed, not rendered. With common pulled through a mirror: tests/test_remote_charts.py;
    # vendored: test_bitnami_presets_become_explicit_blocks_in_the_release_values_file.
    inv = inventory(PlanRequest(repo=BITNAMI))
    assert inv["summary"] == {"workloads": 0, "containers": 0}
    missing = "dependency common 2.31.4 (oci://registry-1.docker.io/bitnamicharts) is missing from charts/, and pulling charts is off"
    assert inv["skipped_inputs"] == [
        {"path": "bitnami/nginx@nginx", "line": None, "reason": missing},
        {"path": "bitnami/redis@redis", "line": None, "reason": missing},
    ]


BITNAMI_CONFIG = """\
helm:
  releases:
    - chart: redis
      name: cache
      namespace: cache
      values: [redis/values-production.yaml]
"""
REDIS_PRODUCTION = "architecture: replication\nmaster:\n  persistence:\n    size: 8Gi\n"
REDIS_PRODUCTION_AFTER = REDIS_PRODUCTION + """\
  resources:
    requests:
      cpu: 65m
      memory: 115Mi
      ephemeral-storage: 50Mi
    limits:
      cpu: 130m
      memory: 142Mi
      ephemeral-storage: 2Gi
replica:
  resources:
    requests:
      cpu: 80m
      memory: 64Mi
      ephemeral-storage: 50Mi
    limits:
      cpu: 160m
      memory: 96Mi
      ephemeral-storage: 2Gi
"""


def bitnami_copy(tmp_path: Path) -> tuple[Path, Any]:
    """redis and nginx with bitnami/common vendored into each chart's charts/ (as `helm dependency
    build` would), a production values file for redis, committed to a temp git repository."""
    import git

    work = tmp_path / "bitnami"
    for chart in ("redis", "nginx"):
        shutil.copytree(BITNAMI / "bitnami" / chart, work / chart)
        shutil.copytree(BITNAMI / "bitnami" / "common", work / chart / "charts" / "common")
    (work / "redis" / "values-production.yaml").write_text(REDIS_PRODUCTION)
    (work / ".gitbot.yaml").write_text(BITNAMI_CONFIG)
    repo = git.Repo.init(work)
    repo.git.add(A=True)
    actor = git.Actor("t", "t@example.com")
    repo.index.commit("bitnami", author=actor, committer=actor)
    return work, repo


def test_bitnami_presets_become_explicit_blocks_in_the_release_values_file(tmp_path: Path) -> None:
    work, repo = bitnami_copy(tmp_path)
    inv = inventory(PlanRequest(repo=work))
    rows = {
        (w["workload"], c["name"], k): (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["line"], f["source"]["yaml_path"], f["source"]["note"])
        for w in inv["workloads"] for c in w["containers"] for k, f in c["fields"].items()
    }
    note = "replaces the chart's resourcesPreset 'nano' with an explicit {} block, keeping the preset's ephemeral-storage"
    # per-component keys: master.resources / replica.resources, both empty, sized by the "nano" preset
    # (requests 100m / 128Mi, limits 150m / 192Mi); the edit goes to the release's own values file:
    # inside its existing master: mapping (line 3), and as a new top-level replica: key
    assert rows[("cache/StatefulSet/cache-redis-master", "redis", "cpu_request_m")] == (
        100, "preset", "redis/values-production.yaml", 3, "master.resources.requests.cpu", note.format("master.resources"),
    )
    assert rows[("cache/StatefulSet/cache-redis-replicas", "redis", "memory_limit_bytes")] == (
        192 * MI, "preset", "redis/values-production.yaml", 1, "replica.resources.limits.memory", note.format("replica.resources"),
    )
    # nginx has no release configured: its own values.yaml, where `resources: {}` is line 352; the
    # preserve-logs-symlinks init container renders from the same key
    for container in ("nginx", "preserve-logs-symlinks"):
        assert rows[("default/Deployment/nginx", container, "cpu_limit_m")] == (
            150, "preset", "nginx/values.yaml", 352, "resources.limits.cpu", note.format("resources"),
        )

    snapshot = tmp_path / "usage.om.gz"
    write_snapshot(scenario_for(simple_workloads(inv), END), snapshot)
    first, doc = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, write=True))
    assert first.written and [e["file"] for e in doc["edits"]] == ["redis/values-production.yaml"]
    # the init container has no usage (it ran before the first sample), so the shared key stays as is
    nginx = entry(doc, "default/Deployment/nginx", "nginx")
    assert nginx["status"] == "comment-only"
    assert nginx["reasons"][-1] == (
        "nginx/values.yaml:352 is shared by nginx@nginx nginx/nginx, nginx@nginx nginx/preserve-logs-symlinks, "
        "which need different values (60m vs unchanged); set them apart by hand (an overlay patch, a separate values key)"
    )
    assert (work / "redis" / "values-production.yaml").read_text() == REDIS_PRODUCTION_AFTER
    _, again = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []


@needs_kustomize
def test_podinfo_write_then_plan_again_proposes_nothing(podinfo: Run, tmp_path: Path) -> None:
    """--write on a copy (plain files, a shared Kustomize base, the Helm values file), then a second
    plan against the same usage proposes nothing: the edits read back as the recommendations."""
    work = tmp_path / "podinfo"
    repo = git_copy(PODINFO, work)
    config = tmp_path / "gitbot.yaml"
    config.write_text(PODINFO_CONFIG)
    snapshot = tmp_path / "usage.om.gz"
    write_snapshot(scenario_for(simple_workloads(podinfo.inventory), END), snapshot)
    first, doc = plan(PlanRequest(repo=work, config_file=config, metrics_file=snapshot, at=END, write=True))
    assert first.written and doc["summary"]["files_changed"] == 19
    repo.git.add("-N", ".")  # the new overlay patch files
    changed = sorted(line.split("\t")[2] for line in repo.git.diff("--numstat").splitlines())
    assert changed == sorted(e["file"] for e in doc["edits"])
    assert repo.git.diff("--numstat", "--", "charts/podinfo/values-prod.yaml") == "3\t3\tcharts/podinfo/values-prod.yaml"
    _, again = plan(PlanRequest(repo=work, config_file=config, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []


def git_copy(src: Path, work: Path) -> Any:
    """``src`` copied to ``work`` and committed to a fresh git repository."""
    import git

    shutil.copytree(src, work)
    repo = git.Repo.init(work)
    repo.git.add(A=True)
    actor = git.Actor("t", "t@example.com")
    repo.index.commit("copy", author=actor, committer=actor)
    return repo


def write_then_replan(work: Path, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Plan --write against synthetic usage of the repository as it is, then plan again."""
    snapshot = tmp_path / "usage.om.gz"
    write_snapshot(scenario_for(simple_workloads(inventory(PlanRequest(repo=work))), END), snapshot)
    first, doc = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, write=True))
    assert first.written
    _, again = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END))
    return doc, again


@needs_kustomize
def test_microservices_demo_kustomize_components_write_then_plan_again_proposes_nothing(tmp_path: Path) -> None:
    """kustomize/: the top kustomization and three tests/ roots that add components to the same base.
    Every field renders from base/ or from a component's resource file (the OpenTelemetry collector
    of google-cloud-operations); the components' inline patches set env, not resources."""
    work = tmp_path / "kustomize"
    repo = git_copy(MICROSERVICES / "kustomize", work)
    inv = inventory(PlanRequest(repo=work))
    kinds = {(f["source"]["kind"], f["source"]["editable"]) for w in inv["workloads"] for c in w["containers"] for f in c["fields"].values()}
    assert kinds == {("base", True)} and inv["summary"] == {"workloads": 49, "containers": 56}
    doc, again = write_then_replan(work, tmp_path)
    # the four roots agree (same usage), so each shared base line is edited once
    assert doc["summary"]["by_status"] == {"change": 49, "unchanged": 0, "comment-only": 0, "skipped": 7}
    # (more lines than before the memory request lost its 15% margin and hysteresis its 10% band: values
    # that were held within 10% of today's now move)
    assert repo.git.diff("--numstat").splitlines() == [
        "4\t4\tbase/adservice.yaml", "8\t8\tbase/cartservice.yaml", "4\t4\tbase/checkoutservice.yaml",
        "3\t3\tbase/currencyservice.yaml", "3\t3\tbase/emailservice.yaml", "4\t4\tbase/frontend.yaml",
        "4\t4\tbase/loadgenerator.yaml", "2\t2\tbase/paymentservice.yaml", "4\t4\tbase/productcatalogservice.yaml",
        "4\t4\tbase/recommendationservice.yaml", "4\t4\tbase/shippingservice.yaml",
        "6\t0\tcomponents/google-cloud-operations/otel-collector.yaml",
    ]
    otel = next(e for e in doc["edits"] if e["file"] == "components/google-cloud-operations/otel-collector.yaml")
    assert [line for line in otel["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")] == [
        "+        resources:", "+          requests:", "+            cpu: 35m", "+            memory: 73Mi",
        "+          limits:", "+            memory: 89Mi",
    ]
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []


@needs_kustomize
def test_microservices_demo_raw_manifests_write_then_plan_again_proposes_nothing(tmp_path: Path) -> None:
    work = tmp_path / "kubernetes-manifests"
    repo = git_copy(MICROSERVICES / "kubernetes-manifests", work)
    doc, again = write_then_replan(work, tmp_path)
    assert doc["summary"]["by_status"] == {"change": 11, "unchanged": 0, "comment-only": 0, "skipped": 0}
    # values replaced in place (one line per changed field); cartservice.yaml also holds redis-cart
    assert repo.git.diff("--numstat").splitlines() == [
        "4\t4\tadservice.yaml", "8\t8\tcartservice.yaml", "4\t4\tcheckoutservice.yaml", "3\t3\tcurrencyservice.yaml",
        "3\t3\temailservice.yaml", "4\t4\tfrontend.yaml", "3\t3\tpaymentservice.yaml", "4\t4\tproductcatalogservice.yaml",
        "4\t4\trecommendationservice.yaml", "4\t4\tshippingservice.yaml",
    ]
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []


def test_microservices_demo_helm_chart_maps_every_service_to_its_values_key() -> None:
    """The chart's values.yaml has one ``<service>.resources`` block per service, fed through
    ``toYaml``; redis-cart's resources are hard-coded in its template, loadgenerator's frontend-check
    init container has none. With no values file configured, the edit goes to the chart's values.yaml."""
    inv = inventory(PlanRequest(repo=MICROSERVICES / "helm-chart"))
    rows = {
        (w["workload"].split("/")[-1], c["name"]): (
            {f["source"]["kind"] for f in c["fields"].values()},
            c["fields"]["memory_limit_bytes"]["source"]["yaml_path"],
            c["fields"]["memory_limit_bytes"]["source"]["file"],
        )
        for w in inv["workloads"]
        for c in w["containers"]
    }
    values_keys = {
        "adservice": "adService", "cartservice": "cartService", "checkoutservice": "checkoutService",
        "currencyservice": "currencyService", "emailservice": "emailService", "frontend": "frontend",
        "paymentservice": "paymentService", "productcatalogservice": "productCatalogService",
        "recommendationservice": "recommendationService", "shippingservice": "shippingService",
    }
    expected = {(name, "server"): ({"helm-values"}, f"{key}.resources.limits.memory", "values.yaml") for name, key in values_keys.items()}
    expected[("loadgenerator", "main")] = ({"helm-values"}, "loadGenerator.resources.limits.memory", "values.yaml")
    template = "templates/cartservice.yaml"  # the chart renders redis-cart beside cartservice
    expected[("redis-cart", "redis")] = ({"helm-template"}, None, rows[("redis-cart", "redis")][2])
    expected[("loadgenerator", "frontend-check")] = ({"helm-template"}, None, rows[("loadgenerator", "frontend-check")][2])
    assert rows == expected
    assert rows[("redis-cart", "redis")][2].endswith(template)
    redis = next(c for w in inv["workloads"] if w["workload"].endswith("/redis-cart") for c in w["containers"])
    assert redis["fields"]["cpu_request_m"]["source"]["not_editable_reason"] == "set by the chart's template, not by a values key"
    check = next(c for w in inv["workloads"] if w["workload"].endswith("/loadgenerator") for c in w["containers"] if c["name"] == "frontend-check")
    assert check["fields"]["cpu_request_m"]["source"]["not_editable_reason"] == "not set, and no values key of the chart feeds it"


def test_microservices_demo_helm_chart_write_then_plan_again_proposes_nothing(tmp_path: Path) -> None:
    work = tmp_path / "helm-chart"
    shutil.copytree(MICROSERVICES / "helm-chart", work)
    inv = inventory(PlanRequest(repo=work))
    snapshot = tmp_path / "usage.om.gz"
    write_snapshot(scenario_for(simple_workloads(inv), END), snapshot)
    first, doc = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, write=True))
    # every service's values block, in the chart's own values.yaml (no values file is configured);
    # redis-cart (hard-coded) stays a suggestion
    assert [e["file"] for e in doc["edits"]] == ["values.yaml"]
    assert doc["summary"]["by_status"] == {"change": 11, "unchanged": 0, "comment-only": 1, "skipped": 1}
    assert first.written
    _, again = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []
    for e in again["containers"]:
        before = next(c for c in doc["containers"] if (c["workload"], c["container"]) == (e["workload"], e["container"]))
        if before["status"] == "change":
            assert {k: f["current"] for k, f in e["fields"].items()} == {k: f["recommended"] for k, f in before["fields"].items()}
