"""Flux HelmReleases: rendered when the chart is in the repository, edited in ``spec.values``.

The repository is fluxcd/flux2-kustomize-helm-example from ../shared/data/repos (a podinfo
HelmRelease in apps/base, with a values patch per environment in apps/staging and apps/production),
copied to a temp git repository with podinfo's own chart (stefanprodan/podinfo charts/podinfo)
vendored at vendor/podinfo and mapped in the config, as a team without network access would do.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPOS = ROOT.parent / "shared" / "data" / "repos"
FLUX = REPOS / "fluxcd__flux2-kustomize-helm-example"
PODINFO_CHART = REPOS / "stefanprodan__podinfo" / "charts" / "podinfo"

if not FLUX.is_dir() or not PODINFO_CHART.is_dir():
    pytest.skip(f"real-repository corpora not found at {REPOS}", allow_module_level=True)
if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
    pytest.skip("neither kubectl nor kustomize is on PATH", allow_module_level=True)

sys.path.insert(0, str(ROOT / "fixtures"))
from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot

from gitbot.pipeline import PlanRequest, inventory, plan

git = pytest.importorskip("git")

END = 1794787200.0
CONFIG = """\
environments:
  - name: staging
    tier: non-production
    paths: ["apps/staging/**"]
  - name: production
    tier: production
    paths: ["apps/production/**"]
helm:
  charts:
    podinfo: vendor/podinfo
"""
PROD = "vendor/podinfo@podinfo/podinfo (apps/production)"
STAGING = "vendor/podinfo@podinfo/podinfo (apps/staging)"


def make_repo(root: Path, extra: dict[str, str] | None = None) -> tuple[Path, Any]:
    work = root / "flux"
    shutil.copytree(FLUX, work)
    shutil.copytree(PODINFO_CHART, work / "vendor" / "podinfo")
    (work / ".gitbot.yaml").write_text(CONFIG)
    for rel, text in (extra or {}).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    repo = git.Repo.init(work)
    repo.git.add(A=True)
    actor = git.Actor("t", "t@example.com")
    repo.index.commit("flux example", author=actor, committer=actor)
    return work, repo


def usage(path: Path, cpu_m: int, memory: int) -> Path:
    """podinfo uses ``cpu_m``/``memory`` in both clusters (synth scales them by its seeded fractions)."""
    workloads = [
        SimpleWorkload("podinfo", "Deployment", "podinfo", 1, [SimpleContainer("podinfo", cpu_m, memory, None, None)]),
        SimpleWorkload("podinfo", "Deployment", "podinfo-redis", 1, [SimpleContainer("redis", 100, 32 * 2**20, 1000, 128 * 2**20)]),
    ]
    write_snapshot(scenario_for(workloads, END), path)
    return path


def sources(doc: dict[str, Any]) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    return {
        (w["target"]["name"], c["name"], key): (
            f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["line"], f["source"]["yaml_path"],
            f["source"].get("not_editable_reason"),
        )
        for w in doc["workloads"]
        for c in w["containers"]
        for key, f in c["fields"].items()
    }


def test_each_environment_edits_its_own_values_patch_and_a_second_plan_proposes_nothing(tmp_path: Path) -> None:
    work, repo = make_repo(tmp_path)
    inv = inventory(PlanRequest(repo=work))
    rows = sources(inv)
    # podinfo's resources come from the chart (requests 1m / 16Mi, no limits); no HelmRelease sets
    # them, so each field would be inserted into the environment's own values patch, under spec.values
    for target, file, line in ((PROD, "apps/production/podinfo-values.yaml", 11), (STAGING, "apps/staging/podinfo-values.yaml", 13)):
        assert rows[(target, "podinfo", "cpu_request_m")] == (1, "helmrelease-values", file, line, "spec.values.resources.requests.cpu", None)
        assert rows[(target, "podinfo", "memory_request_bytes")] == (16 * 2**20, "helmrelease-values", file, line, "spec.values.resources.requests.memory", None)
        assert rows[(target, "podinfo", "cpu_limit_m")][:2] == (None, "helmrelease-values")
        # the chart hard-codes redis's resources in its template: no values key feeds them
        assert rows[(target, "redis", "cpu_request_m")] == (
            100, "helm-template", "vendor/podinfo/templates/redis/deployment.yaml", None, None, "set by the chart's template, not by a values key",
        )
    assert [(w["workload"], w["environment"], w["tier"]) for w in inv["workloads"]] == [
        ("podinfo/Deployment/podinfo", "production", "production"),
        ("podinfo/Deployment/podinfo-redis", "production", "production"),
        ("podinfo/Deployment/podinfo", "staging", "non-production"),
        ("podinfo/Deployment/podinfo-redis", "staging", "non-production"),
    ]
    # the two remote OCI charts are still reported, naming their source
    assert [s["reason"] for s in inv["skipped_inputs"]] == [
        "HelmRelease cert-manager (infrastructure/controllers): chart oci://quay.io/jetstack/charts/cert-manager 1.x is not in the repository, and pulling charts is off; its workloads are not sized",
        "HelmRelease envoy-gateway (infrastructure/controllers): chart oci://docker.io/envoyproxy/gateway-helm >= 1.8.0-rc.0 is not in the repository, and pulling charts is off; its workloads are not sized",
    ]

    snapshot = usage(tmp_path / "usage.om.gz", 200, 256 * 2**20)
    first, doc = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, write=True))
    assert first.written
    assert [e["file"] for e in doc["edits"]] == ["apps/production/podinfo-values.yaml", "apps/staging/podinfo-values.yaml"]
    changes = {(c["target"]["name"], c["container"]): c for c in doc["containers"]}
    prod, staging = changes[(PROD, "podinfo")], changes[(STAGING, "podinfo")]
    assert prod["status"] == staging["status"] == "change"
    assert changes[(PROD, "redis")]["status"] == "comment-only"
    # the same usage, sized by each environment's rules (non-production: lower percentile, limit 2x)
    assert {k: f["written_text"] for k, f in prod["fields"].items() if f["changed"]} == {
        "cpu_request_m": "160m", "memory_request_bytes": "161Mi", "memory_limit_bytes": "199Mi",
    }
    assert {k: f["written_text"] for k, f in staging["fields"].items() if f["changed"]} == {
        "cpu_request_m": "135m", "memory_request_bytes": "156Mi", "memory_limit_bytes": "312Mi",
    }
    assert repo.git.diff("--numstat") == "6\t0\tapps/production/podinfo-values.yaml\n6\t0\tapps/staging/podinfo-values.yaml"
    assert (work / "apps/production/podinfo-values.yaml").read_text().endswith(
        "    httpRoute:\n      hostnames:\n        - podinfo.production\n"
        "    resources:\n      requests:\n        cpu: 160m\n        memory: 161Mi\n      limits:\n        memory: 199Mi\n"
    )
    assert (work / "apps/staging/podinfo-values.yaml").read_text().endswith(
        "    httpRoute:\n      hostnames:\n        - podinfo.staging\n"
        "    resources:\n      requests:\n        cpu: 135m\n        memory: 156Mi\n      limits:\n        memory: 312Mi\n"
    )

    _, again = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []
    after = sources(inventory(PlanRequest(repo=work)))
    assert after[(PROD, "podinfo", "cpu_request_m")] == (160, "helmrelease-values", "apps/production/podinfo-values.yaml", 16, "spec.values.resources.requests.cpu", None)


def test_a_key_the_shared_base_sets_is_overridden_per_environment_and_the_base_is_kept(tmp_path: Path) -> None:
    base = (FLUX / "apps/base/podinfo/release.yaml").read_text().replace(
        "  values:\n", "  values:\n    resources:\n      requests:\n        cpu: 50m\n        memory: 64Mi\n"
    )
    work, repo = make_repo(tmp_path, {"apps/base/podinfo/release.yaml": base})
    rows = sources(inventory(PlanRequest(repo=work)))
    # the value renders from the base, but each environment overrides it in its own patch
    assert rows[(PROD, "podinfo", "cpu_request_m")] == (
        50, "helmrelease-values", "apps/production/podinfo-values.yaml", 11, "spec.values.resources.requests.cpu", None,
    )
    _, doc = plan(PlanRequest(repo=work, metrics_file=usage(tmp_path / "usage.om.gz", 200, 256 * 2**20), at=END, write=True))
    assert [e["file"] for e in doc["edits"]] == ["apps/production/podinfo-values.yaml", "apps/staging/podinfo-values.yaml"]
    assert repo.git.diff("--numstat") == "6\t0\tapps/production/podinfo-values.yaml\n6\t0\tapps/staging/podinfo-values.yaml"


INLINE_PIN = (
    "  - patch: |\n"
    "      apiVersion: helm.toolkit.fluxcd.io/v2\n"
    "      kind: HelmRelease\n"
    "      metadata:\n"
    "        name: podinfo\n"
    "        namespace: podinfo\n"
    "      spec:\n"
    "        values:\n"
    "          resources:\n"
    "            requests:\n"
    "              cpu: 500m\n"
)


def test_a_value_an_inline_patch_pins_is_edited_inside_it(tmp_path: Path) -> None:
    kustomization = (FLUX / "apps/production/kustomization.yaml").read_text() + INLINE_PIN
    work, repo = make_repo(tmp_path, {"apps/production/kustomization.yaml": kustomization})
    rows = sources(inventory(PlanRequest(repo=work)))
    assert rows[(PROD, "podinfo", "cpu_request_m")] == (
        500, "helmrelease-values", "apps/production/kustomization.yaml", 19,
        "patches[1].patch::spec.values.resources.requests.cpu", None,
    )
    _, doc = plan(PlanRequest(repo=work, metrics_file=usage(tmp_path / "usage.om.gz", 200, 256 * 2**20), at=END, write=True))
    assert [e["file"] for e in doc["edits"]] == [
        "apps/production/kustomization.yaml", "apps/production/podinfo-values.yaml", "apps/staging/podinfo-values.yaml",
    ]
    # the pinned request changes where it is pinned; the memory fields go to the values patch
    assert repo.git.diff("--numstat") == (
        "1\t1\tapps/production/kustomization.yaml\n5\t0\tapps/production/podinfo-values.yaml\n6\t0\tapps/staging/podinfo-values.yaml"
    )
    assert (work / "apps/production/kustomization.yaml").read_text().endswith("            requests:\n              cpu: 160m\n")


def test_an_edit_that_does_not_render_as_intended_becomes_a_comment(tmp_path: Path) -> None:
    """A JSON 6902 op inline in the production kustomization pins the CPU request after the values
    patch; gitbot does not see it as the key's source, and the insert into podinfo-values.yaml
    would change nothing, which the closed loop sees."""
    kustomization = (FLUX / "apps/production/kustomization.yaml").read_text() + (
        "  - patch: |\n"
        "      - op: add\n"
        "        path: /spec/values/resources\n"
        "        value:\n"
        "          requests:\n"
        "            cpu: 500m\n"
        "    target:\n"
        "      kind: HelmRelease\n"
        "      name: podinfo\n"
    )
    work, repo = make_repo(tmp_path, {"apps/production/kustomization.yaml": kustomization})
    _, doc = plan(PlanRequest(repo=work, metrics_file=usage(tmp_path / "usage.om.gz", 200, 256 * 2**20), at=END, write=True))
    prod = next(c for c in doc["containers"] if c["target"]["name"] == PROD and c["container"] == "podinfo")
    assert prod["fields"]["cpu_request_m"]["current"] == 500
    assert prod["status"] == "comment-only"
    assert prod["reasons"][-1] == (
        f"re-rendering {PROD} with the edit: Deployment/podinfo podinfo cpu_request becomes 500m, expected 160m"
    )
    # staging is not affected by production's problem
    assert [e["file"] for e in doc["edits"]] == ["apps/staging/podinfo-values.yaml"]
    assert repo.git.diff("--numstat") == "6\t0\tapps/staging/podinfo-values.yaml"


def test_values_from_a_configmap_are_applied_but_not_edited(tmp_path: Path) -> None:
    production = (FLUX / "apps/production/podinfo-values.yaml").read_text().replace(
        "  values:\n", "  valuesFrom:\n    - kind: ConfigMap\n      name: podinfo-sizing\n  values:\n"
    )
    staging = (FLUX / "apps/staging/podinfo-values.yaml").read_text().replace(
        "  values:\n", "  valuesFrom:\n    - kind: Secret\n      name: podinfo-secret-values\n  values:\n"
    )
    configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo-sizing\n  namespace: podinfo\ndata:\n"
        "  values.yaml: |\n    resources:\n      limits:\n        memory: 512Mi\n"
    )
    kustomization = (FLUX / "apps/production/kustomization.yaml").read_text().replace(
        "  - ../base/podinfo\n", "  - ../base/podinfo\n  - sizing.yaml\n"
    )
    work, _ = make_repo(tmp_path, {
        "apps/production/podinfo-values.yaml": production, "apps/staging/podinfo-values.yaml": staging,
        "apps/production/sizing.yaml": configmap, "apps/production/kustomization.yaml": kustomization,
    })
    rows = sources(inventory(PlanRequest(repo=work)))
    assert rows[(PROD, "podinfo", "memory_limit_bytes")][0] == 512 * 2**20
    assert rows[(PROD, "podinfo", "memory_limit_bytes")][5] == (
        "set through valuesFrom of HelmRelease podinfo (a ConfigMap or Secret), not spec.values; edit it there"
    )
    assert rows[(PROD, "podinfo", "cpu_request_m")][5] is None  # the other keys stay editable
    # a Secret that is not in the repository: the render may differ from the cluster's, so nothing is edited
    assert {rows[(STAGING, "podinfo", k)][5] for k in ("cpu_request_m", "memory_limit_bytes")} == {
        "the HelmRelease reads Secret podinfo-secret-values, which is not in the repository"
    }


def test_a_chart_from_a_git_repository_is_the_chart_directory_in_this_repository(tmp_path: Path) -> None:
    release = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: web\nspec:\n"
        "  chart:\n    spec:\n      chart: ./vendor/podinfo\n      sourceRef:\n        kind: GitRepository\n        name: flux-system\n"
        "  values:\n    resources:\n      requests:\n        cpu: 20m  # sized by hand\n"
    )
    work, _ = make_repo(tmp_path, {"clusters/dev/web.yaml": release})
    inv = inventory(PlanRequest(repo=work))
    rows = sources(inv)
    target = "vendor/podinfo@web/web (clusters/dev/web.yaml)"
    assert rows[(target, "podinfo", "cpu_request_m")] == (
        20, "helmrelease-values", "clusters/dev/web.yaml", 16, "spec.values.resources.requests.cpu", None,
    )
    assert [w["workload"] for w in inv["workloads"]][0] == "web/Deployment/web-podinfo"  # the chart names it <release>-<chart>


def test_a_remote_chart_is_sized_from_its_pre_rendered_output_but_not_edited(tmp_path: Path) -> None:
    """No vendored chart (and no chart cache to pull it into), but `helm template` output committed
    under rendered/ and named in helm.rendered: the workloads are sized; the fields no spec.values
    block holds are comment-only, naming the HelmRelease."""
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: podinfo\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: podinfo\n          image: podinfo:6\n          resources:\n"
        "            requests:\n              cpu: 1m\n              memory: 16Mi\n"
    )
    work, _ = make_repo(tmp_path, {
        ".gitbot.yaml": "helm:\n  rendered:\n    podinfo/podinfo: rendered/podinfo\n",
        "rendered/podinfo/deployment.yaml": deployment,
    })
    shutil.rmtree(work / "vendor")
    inv = inventory(PlanRequest(repo=work))
    assert [(w["workload"], w["target"]["name"]) for w in inv["workloads"]] == [
        ("podinfo/Deployment/podinfo", "rendered/podinfo (pre-rendered podinfo/podinfo)"),
    ]
    cpu = inv["workloads"][0]["containers"][0]["fields"]["cpu_request_m"]
    assert (cpu["current"], cpu["source"]["kind"], cpu["source"]["file"], cpu["source"]["editable"]) == (
        1, "helm-template", "rendered/podinfo/deployment.yaml", False,
    )
    assert cpu["source"]["not_editable_reason"] == (
        "pre-rendered from apps/base/podinfo/release.yaml: HelmRelease podinfo/podinfo, whose chart is remote; "
        "no resources block of its spec.values holds these numbers: set it there"
    )
    # the rendered output is not also read as plain manifests, and the HelmRelease is not reported as skipped
    assert [s["path"] for s in inv["skipped_inputs"]] == [
        "infrastructure/controllers/cert-manager.yaml", "infrastructure/controllers/envoy-gateway.yaml",
    ]
    _, doc = plan(PlanRequest(repo=work, metrics_file=usage(tmp_path / "usage.om.gz", 200, 256 * 2**20), at=END, write=True))
    assert [c["status"] for c in doc["containers"]] == ["comment-only"] and doc["edits"] == []


FLUX_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: web
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps/web
  prune: true
  targetNamespace: {env}
"""
PROD_PATCHES = """\
  patches:
    - target:
        kind: Deployment
        name: web
      patch: |
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - name: web
                  resources:
                    requests:
                      cpu: "1"
                      memory: 1Gi
                    limits:
                      memory: 1Gi
"""
WEB = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: web\n          image: web:1\n          resources:\n            requests:\n              cpu: 100m\n"
    "              memory: 128Mi\n            limits:\n              memory: 128Mi\n"
)


def test_flux_kustomization_patches_and_target_namespace_are_applied_and_edited(tmp_path: Path) -> None:
    """Two clusters deploy apps/web through Flux Kustomizations: staging as is (in its namespace),
    production with an inline patch raising the requests. Each is rendered as Flux deploys it; the
    patched values are edited inside the production cluster's Kustomization."""
    files = {
        "apps/web/deployment.yaml": WEB,
        "apps/web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "clusters/staging/web.yaml": FLUX_KUSTOMIZATION.format(env="staging"),
        "clusters/production/web.yaml": FLUX_KUSTOMIZATION.format(env="production") + PROD_PATCHES,
    }
    work = tmp_path / "fleet"
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    inv = inventory(PlanRequest(repo=work))
    rows = {
        (w["workload"], k): (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["line"], f["source"]["yaml_path"])
        for w in inv["workloads"] for c in w["containers"] for k, f in c["fields"].items()
    }
    prod, staging = "production/Deployment/web", "staging/Deployment/web"
    assert [w["target"]["name"] for w in inv["workloads"]] == [
        "apps/web (clusters/production/web.yaml: Kustomization web)", "apps/web (clusters/staging/web.yaml: Kustomization web)",
    ]
    assert rows[(prod, "cpu_request_m")] == (
        1000, "patch", "clusters/production/web.yaml", 30, "spec.patches[0].patch::spec.template.spec.containers[0].resources.requests.cpu",
    )
    assert rows[(prod, "memory_limit_bytes")] == (
        2**30, "patch", "clusters/production/web.yaml", 33, "spec.patches[0].patch::spec.template.spec.containers[0].resources.limits.memory",
    )
    assert rows[(staging, "cpu_request_m")] == (100, "base", "apps/web/deployment.yaml", 13, "spec.template.spec.containers[0].resources.requests.cpu")

    workloads = [
        SimpleWorkload("production", "Deployment", "web", 1, [SimpleContainer("web", 1000, 1024 * 2**20, None, None)]),
        SimpleWorkload("staging", "Deployment", "web", 1, [SimpleContainer("web", 100, 128 * 2**20, None, 128 * 2**20)]),
    ]
    snapshot = tmp_path / "usage.om.gz"
    write_snapshot(scenario_for(workloads, END), snapshot)
    result, doc = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, write=True))
    assert result.written
    # production's values change inside its Kustomization's patch (quoting kept); staging's in the base
    assert [e["file"] for e in doc["edits"]] == ["apps/web/deployment.yaml", "clusters/production/web.yaml"]
    assert (work / "clusters/production/web.yaml").read_text() == files["clusters/production/web.yaml"].replace(
        'cpu: "1"\n                      memory: 1Gi\n                    limits:\n                      memory: 1Gi\n',
        'cpu: "780m"\n                      memory: 642Mi\n                    limits:\n                      memory: 796Mi\n',
    )
    # (staging: the forecast's percentile with no margin under its limit; the limit, 1.2 x the peak, is no
    # longer held at 128Mi by a 10% band)
    assert (work / "apps/web/deployment.yaml").read_text() == WEB.replace(
        "cpu: 100m\n              memory: 128Mi\n            limits:\n              memory: 128Mi",
        "cpu: 80m\n              memory: 93Mi\n            limits:\n              memory: 116Mi")
    _, again = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0


def test_pre_rendered_fields_whose_numbers_the_helmrelease_values_hold_are_edited_there(tmp_path: Path) -> None:
    """The same, with the HelmRelease's spec.values setting exactly the numbers the output renders:
    that block is where they come from, so the edit goes there (the environment's own patch)."""
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: podinfo\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: podinfo\n          image: podinfo:6\n          resources:\n"
        "            requests:\n              cpu: 100m\n              memory: 64Mi\n            limits:\n              memory: 128Mi\n"
    )
    base = (FLUX / "apps/base/podinfo/release.yaml").read_text().replace(
        "  values:\n", "  values:\n    resources:\n      requests:\n        cpu: 100m\n        memory: 64Mi\n      limits:\n        memory: 128Mi\n"
    )
    work, repo = make_repo(tmp_path, {
        ".gitbot.yaml": CONFIG.replace("  charts:\n    podinfo: vendor/podinfo\n", "  rendered:\n    podinfo/podinfo: rendered/podinfo\n"),
        "rendered/podinfo/deployment.yaml": deployment,
        "apps/base/podinfo/release.yaml": base,
    })
    shutil.rmtree(work / "vendor")
    inv = inventory(PlanRequest(repo=work))
    fields = inv["workloads"][0]["containers"][0]["fields"]
    assert {k: (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["yaml_path"], f["source"]["editable"])
            for k, f in fields.items()} == {
        "cpu_request_m": (100, "helmrelease-values", "apps/production/podinfo-values.yaml", "spec.values.resources.requests.cpu", True),
        "memory_request_bytes": (64 * 2**20, "helmrelease-values", "apps/production/podinfo-values.yaml", "spec.values.resources.requests.memory", True),
        "cpu_limit_m": (None, "helmrelease-values", "apps/production/podinfo-values.yaml", "spec.values.resources.limits.cpu", True),
        "memory_limit_bytes": (128 * 2**20, "helmrelease-values", "apps/production/podinfo-values.yaml", "spec.values.resources.limits.memory", True),
    }
    _, doc = plan(PlanRequest(repo=work, metrics_file=usage(tmp_path / "usage.om.gz", 200, 256 * 2**20), at=END, write=True))
    assert [e["file"] for e in doc["edits"]] == ["apps/production/podinfo-values.yaml"]
    assert (work / "apps/production/podinfo-values.yaml").read_text().endswith(
        "    resources:\n      requests:\n        cpu: 160m\n        memory: 161Mi\n      limits:\n        memory: 199Mi\n"
    )
    assert (work / "apps/base/podinfo/release.yaml").read_text() == base
