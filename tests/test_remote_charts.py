"""Charts that live elsewhere: pulled through mirrors from a real chart repository and a real OCI
registry (tests/chart_servers.py), kept in the chart cache, rendered and edited.

The repository is fluxcd/flux2-kustomize-helm-example from ../shared/data/repos, copied to a temp
git repository as it is upstream: podinfo's chart comes from its HelmRepository (an https index),
cert-manager and envoy-gateway from OCIRepositories. ``helm.mirrors`` points every upstream at the
local servers, as a CI job behind an Artifactory or Harbor would.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
REPOS = ROOT.parent / "shared" / "data" / "repos"
FLUX = REPOS / "fluxcd__flux2-kustomize-helm-example"
BITNAMI = REPOS / "bitnami__charts"
BJW_S = REPOS / "bjw-s-labs__helm-charts"

if not FLUX.is_dir():
    pytest.skip(f"real-repository corpora not found at {REPOS}", allow_module_level=True)
if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
    pytest.skip("neither kubectl nor kustomize is on PATH", allow_module_level=True)

sys.path.insert(0, str(ROOT / "fixtures"))
from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # noqa: E402

from gitbot.cli import main  # noqa: E402
from gitbot.load.charts import Credentials  # noqa: E402
from gitbot.pipeline import PlanRequest, inventory, plan  # noqa: E402

git = pytest.importorskip("git")

END = 1794787200.0
MI = 2**20
ENVIRONMENTS = """\
environments:
  - name: staging
    tier: non-production
    paths: ["apps/staging/**"]
  - name: production
    tier: production
    paths: ["apps/production/**"]
"""
PROD = "podinfo:6.14.1@podinfo/podinfo (apps/production)"
STAGING = "podinfo:6.14.1@podinfo/podinfo (apps/staging)"

# the same chart published three ways: an https index, an OCI HelmRepository, an OCIRepository chartRef
OCI_HELMREPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: podinfo
spec:
  type: oci
  interval: 5m
  url: oci://ghcr.io/stefanprodan/charts
"""
OCIREPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 5m
  url: oci://ghcr.io/stefanprodan/charts/podinfo
  ref:
    semver: ">=6.0.0"
"""


def config(world: Any, extra: str = "") -> str:
    mirrors = "".join(f"    {upstream}: {local}\n" for upstream, local in world.mirrors.items())
    # the OCI charts nobody serves here fail fast, with the registry's 404, not a DNS timeout
    mirrors += f"    oci://quay.io: {world.oci_url}/quay\n    oci://docker.io: {world.oci_url}/dockerio\n"
    return ENVIRONMENTS + "helm:\n  mirrors:\n" + mirrors + extra


def make_repo(root: Path, world: Any, files: dict[str, str] | None = None) -> tuple[Path, Any]:
    work = root / "flux"
    shutil.copytree(FLUX, work)
    (work / ".gitbot.yaml").write_text(config(world))
    for rel, text in (files or {}).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    repo = git.Repo.init(work)
    repo.git.add(A=True)
    actor = git.Actor("t", "t@example.com")
    repo.index.commit("flux example", author=actor, committer=actor)
    return work, repo


def chart_ref_variant() -> dict[str, str]:
    """podinfo through an OCIRepository ``chartRef``: the release names no chart, the overlays no version."""
    release = (FLUX / "apps/base/podinfo/release.yaml").read_text()
    release = release.replace(
        "  chart:\n    spec:\n      chart: podinfo\n      sourceRef:\n        kind: HelmRepository\n        name: podinfo\n",
        "  chartRef:\n    kind: OCIRepository\n    name: podinfo\n",
    )
    assert "chartRef" in release
    files = {"apps/base/podinfo/release.yaml": release, "apps/base/podinfo/repository.yaml": OCIREPOSITORY}
    for env in ("staging", "production"):
        patch = (FLUX / f"apps/{env}/podinfo-values.yaml").read_text()
        cut = patch.replace("  chart:\n    spec:\n", "").replace("      version: \">=1.0.0-alpha\"\n", "").replace("      version: \">=1.0.0\"\n", "")
        assert "version" not in cut, cut
        files[f"apps/{env}/podinfo-values.yaml"] = cut
    return files


def usage(path: Path) -> Path:
    workloads = [
        SimpleWorkload("podinfo", "Deployment", "podinfo", 1, [SimpleContainer("podinfo", 200, 256 * MI, None, None)]),
        SimpleWorkload("podinfo", "Deployment", "podinfo-redis", 1, [SimpleContainer("redis", 100, 32 * MI, 1000, 128 * MI)]),
    ]
    write_snapshot(scenario_for(workloads, END), path)
    return path


def targets(doc: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {t["name"]: (t["status"], t["detail"]) for t in doc["targets"] if t["kind"] == "helm"}


@pytest.mark.parametrize("variant", ["https index", "oci helmrepository", "ocirepository chartref"])
def test_a_remote_chart_is_pulled_through_the_mirror_and_its_helmrelease_values_are_edited(
    chart_world: Any, tmp_path: Path, variant: str
) -> None:
    files = {"https index": {}, "oci helmrepository": {"apps/base/podinfo/repository.yaml": OCI_HELMREPOSITORY},
             "ocirepository chartref": chart_ref_variant()}[variant]
    work, repo = make_repo(tmp_path, chart_world, files)
    cache = tmp_path / "charts"
    chart_world.clear_requests()
    inv = inventory(PlanRequest(repo=work, chart_cache=cache))

    local = {"https index": chart_world.mirrors["https://stefanprodan.github.io/podinfo"],
             "oci helmrepository": chart_world.mirrors["oci://ghcr.io/stefanprodan/charts"],
             "ocirepository chartref": chart_world.mirrors["oci://ghcr.io/stefanprodan/charts"]}[variant]
    upstream = "https://stefanprodan.github.io/podinfo/podinfo:6.14.1" if variant == "https index" else "oci://ghcr.io/stefanprodan/charts/podinfo:6.14.1"
    found = targets(inv)
    # production asks first and downloads; staging's constraint picks the same version: from the cache
    assert found[PROD] == ("pulled", f"pulled podinfo 6.14.1 from {local}")
    assert found[STAGING] == ("rendered", f"chart {upstream} from the chart cache")
    assert found["cert-manager@cert-manager/cert-manager (infrastructure/controllers)"] == (
        "failed", f"cannot list the tags of {chart_world.oci_url}/quay/jetstack/charts/cert-manager: not found (404) "
                  f"(mirror {chart_world.oci_url}/quay/jetstack/charts)",
    )
    assert inv["coverage"]["helm_releases"] == {"rendered": 2, "total": 4}
    if variant == "https index":  # the index once per run, the archive once
        assert chart_world.http.request_lines() == ["GET /stefanprodan/podinfo/index.yaml", "GET /stefanprodan/podinfo/podinfo-6.14.1.tgz"]
    else:
        assert chart_world.http.request_lines() == []

    fields = {(w["target"]["name"], c["name"], k): f for w in inv["workloads"] for c in w["containers"] for k, f in c["fields"].items()}
    # the chart's own defaults (1m / 16Mi); set nowhere in the repository: inserted into each environment's values patch
    for target, file in ((PROD, "apps/production/podinfo-values.yaml"), (STAGING, "apps/staging/podinfo-values.yaml")):
        cpu = fields[(target, "podinfo", "cpu_request_m")]
        assert (cpu["current"], cpu["source"]["kind"], cpu["source"]["file"], cpu["source"]["yaml_path"]) == (
            1, "helmrelease-values", file, "spec.values.resources.requests.cpu",
        )
        redis = fields[(target, "redis", "cpu_request_m")]["source"]
        assert (redis["file"], redis["not_editable_reason"]) == (
            f"{upstream}/templates/redis/deployment.yaml", "set by the chart's template, not by a values key",
        )

    snapshot = usage(tmp_path / "usage.om.gz")
    chart_world.clear_requests()
    first, doc = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, write=True, chart_cache=cache))
    assert first.written
    assert [e["file"] for e in doc["edits"]] == ["apps/production/podinfo-values.yaml", "apps/staging/podinfo-values.yaml"]
    # verified by re-rendering the pulled chart with the edited HelmRelease: no field fell back to a comment
    changed = {(c["target"]["name"], c["container"]): {k: f["written_text"] for k, f in c["fields"].items() if f["changed"]}
               for c in doc["containers"] if c["status"] == "change"}
    assert changed == {
        (PROD, "podinfo"): {"cpu_request_m": "160m", "memory_request_bytes": "161Mi", "memory_limit_bytes": "199Mi"},
        (STAGING, "podinfo"): {"cpu_request_m": "135m", "memory_request_bytes": "156Mi", "memory_limit_bytes": "312Mi"},
    }
    assert (work / "apps/production/podinfo-values.yaml").read_text().endswith(
        "    resources:\n      requests:\n        cpu: 160m\n        memory: 161Mi\n      limits:\n        memory: 199Mi\n"
    )
    assert repo.git.diff("--numstat") == "6\t0\tapps/production/podinfo-values.yaml\n6\t0\tapps/staging/podinfo-values.yaml"
    # the archive is not downloaded again: the index (or the tag list) says its digest is cached
    if variant == "https index":
        assert chart_world.http.request_lines() == ["GET /stefanprodan/podinfo/index.yaml"]
    assert not any(r.path.endswith(".tgz") or "/blobs/" in r.path for r in chart_world.oci.requests if "stefanprodan" in r.path)

    _, again = plan(PlanRequest(repo=work, metrics_file=snapshot, at=END, chart_cache=cache))
    assert again["summary"]["by_status"]["change"] == 0 and again["edits"] == []


def test_offline_with_an_empty_cache_plans_what_it_can_and_names_each_missing_chart(chart_world: Any, tmp_path: Path) -> None:
    work, _ = make_repo(tmp_path, chart_world)
    chart_world.clear_requests()
    doc = inventory(PlanRequest(repo=work, chart_cache=tmp_path / "empty", offline=True))
    assert chart_world.http.request_lines() == [] and chart_world.oci.requests == []
    failed = {t["name"]: t["detail"] for t in doc["targets"] if t["status"] == "failed"}
    mirror = chart_world.mirrors["https://stefanprodan.github.io/podinfo"]
    assert failed == {
        "podinfo@podinfo/podinfo (apps/production)":
            f"podinfo from https://stefanprodan.github.io/podinfo >=1.0.0 is not in the chart cache; --offline pulls nothing (mirror {mirror})",
        "podinfo@podinfo/podinfo (apps/staging)":
            f"podinfo from https://stefanprodan.github.io/podinfo >=1.0.0-alpha is not in the chart cache; --offline pulls nothing (mirror {mirror})",
        "cert-manager@cert-manager/cert-manager (infrastructure/controllers)":
            f"oci://quay.io/jetstack/charts/cert-manager 1.x is not in the chart cache; --offline pulls nothing (mirror {chart_world.oci_url}/quay/jetstack/charts)",
        "gateway-helm@envoy-gateway-system/envoy-gateway (infrastructure/controllers)":
            f"oci://docker.io/envoyproxy/gateway-helm >= 1.8.0-rc.0 is not in the chart cache; --offline pulls nothing (mirror {chart_world.oci_url}/dockerio/envoyproxy)",
    }
    # the Kustomize roots and plain files still render
    assert doc["coverage"]["by_status"] == {"rendered": 12, "cached": 0, "pulled": 0, "failed": 4, "skipped": 0}


def test_offline_after_an_online_run_uses_the_cache_and_asks_nothing(chart_world: Any, tmp_path: Path) -> None:
    work, _ = make_repo(tmp_path, chart_world)
    cache = tmp_path / "charts"
    online = inventory(PlanRequest(repo=work, chart_cache=cache))
    chart_world.clear_requests()
    offline = inventory(PlanRequest(repo=work, chart_cache=cache, offline=True))
    assert chart_world.http.request_lines() == [] and chart_world.oci.requests == []
    assert [w["workload"] for w in offline["workloads"]] == [w["workload"] for w in online["workloads"]]
    assert targets(offline)[PROD] == ("rendered", "chart https://stefanprodan.github.io/podinfo/podinfo:6.14.1 from the chart cache")


def test_the_cli_exits_6_for_failed_targets_unless_partial_runs_are_allowed(chart_world: Any, tmp_path: Path) -> None:
    work, _ = make_repo(tmp_path, chart_world)
    cache = tmp_path / "charts"
    runner = CliRunner()
    args = ["inventory", str(work), "--chart-cache", str(cache), "--render-cache", "off", "--format", "table"]
    result = runner.invoke(main, args)
    assert result.exit_code == 6, result.output
    assert "targets: 14 rendered (1 pulled), 2 failed (see above) · HelmReleases: 2 of 4 rendered" in result.stdout
    assert re.search(r"\ncert-manager@cert-manager/cert-manager \(infrastructure/controllers\) +failed +cannot list the tags of ", result.stdout)
    allowed = runner.invoke(main, [*args, "--allow-partial"])
    assert allowed.exit_code == 0, allowed.output
    # json: the document has it, and stderr names each failed target
    as_json = runner.invoke(main, [*args[:-2], "--format", "json"])
    assert as_json.exit_code == 6
    assert json.loads(as_json.stdout)["coverage"]["by_status"]["failed"] == 2
    assert "gitbot: failed gateway-helm@envoy-gateway-system/envoy-gateway (infrastructure/controllers): cannot list the tags" in as_json.stderr


def test_chart_sources_with_credentials_use_the_environment_and_never_show_them(chart_world_factory: Any, tmp_path: Path) -> None:
    world = chart_world_factory(username="ci-bot", password="s3cret-Passw0rd")
    work, _ = make_repo(tmp_path, world)
    refused = inventory(PlanRequest(repo=work, chart_cache=tmp_path / "a"))
    detail = targets(refused)["podinfo@podinfo/podinfo (apps/production)"][1]
    assert detail is not None and detail.startswith(f"cannot read the index of {world.mirrors['https://stefanprodan.github.io/podinfo']}: refused: 401")
    host = world.http_url.split("://", 1)[1].upper().replace(".", "_").replace(":", "_")
    login = Credentials({f"GITBOT_HELM_USERNAME_{host}": "ci-bot", f"GITBOT_HELM_PASSWORD_{host}": "s3cret-Passw0rd"})
    doc = inventory(PlanRequest(repo=work, chart_cache=tmp_path / "b", helm_credentials=login))
    assert targets(doc)[PROD][0] == "pulled"
    assert all(r.authorization == world.http.auth_header for r in world.http.requests[-2:])

    # the OCI registry takes the unsuffixed pair (every host), through a registry login
    oci = make_repo(tmp_path / "oci", world, {"apps/base/podinfo/repository.yaml": OCI_HELMREPOSITORY})[0]
    doc = inventory(PlanRequest(repo=oci, chart_cache=tmp_path / "c",
                                helm_credentials=Credentials({"GITBOT_HELM_USERNAME": "ci-bot", "GITBOT_HELM_PASSWORD": "s3cret-Passw0rd"})))
    assert targets(doc)[PROD][0] == "pulled"

    result = CliRunner().invoke(main, ["inventory", str(work), "--chart-cache", str(tmp_path / "d"), "--format", "json", "-v"],
                                env={"GITBOT_HELM_PASSWORD": "s3cret-Passw0rd", "GITBOT_HELM_USERNAME": "nobody"})
    assert result.exit_code == 6
    assert "s3cret-Passw0rd" not in result.stdout + result.stderr


BITNAMI_CONFIG = """\
helm:
  mirrors:
    oci://registry-1.docker.io/bitnamicharts: {mirror}
  releases:
    - chart: bitnami/redis
      name: cache
      namespace: cache
"""


def test_a_missing_chart_dependency_is_pulled_like_helm_dependency_build(chart_world: Any, tmp_path: Path) -> None:
    """bitnami's redis and nginx need common, which their Chart.lock pins at 2.31.4 in Docker Hub's
    OCI registry; it is pulled through the mirror (once: both charts share it), never vendored."""
    work = tmp_path / "bitnami"
    shutil.copytree(BITNAMI, work)
    (work / ".gitbot.yaml").write_text(BITNAMI_CONFIG.format(mirror=chart_world.mirrors["oci://registry-1.docker.io/bitnamicharts"]))
    chart_world.clear_requests()
    doc = inventory(PlanRequest(repo=work, chart_cache=tmp_path / "charts"))
    local = chart_world.mirrors["oci://registry-1.docker.io/bitnamicharts"]
    assert [(t["name"], t["status"], t["detail"]) for t in doc["targets"]] == [
        ("bitnami/common (library chart)", "skipped", "a library chart: rendered only as another chart's dependency"),
        ("bitnami/redis@cache/cache", "pulled", f"pulled common 2.31.4 from {local}"),
        ("bitnami/nginx@nginx", "rendered", None),
    ]
    assert sorted({w["workload"] for w in doc["workloads"]}) == [
        "cache/StatefulSet/cache-redis-master", "cache/StatefulSet/cache-redis-replicas", "default/Deployment/nginx",
    ]
    tags = [r.path for r in chart_world.oci.requests if r.path.endswith("/tags/list")]
    assert tags == ["/v2/bitnamicharts/common/tags/list"]
    assert doc["skipped_inputs"] == []


def test_disabled_dependencies_are_not_pulled_and_a_missing_one_names_itself_and_its_chart(chart_world: Any, tmp_path: Path) -> None:
    chart = tmp_path / "repo" / "charts" / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\n")
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: shop\nversion: 1.0.0\ndependencies:\n"
        "  - name: podinfo\n    version: 6.x\n    repository: https://stefanprodan.github.io/podinfo\n    condition: podinfo.enabled\n"
        "  - name: redis\n    version: 23.x\n    repository: oci://registry.example.com/charts\n    condition: redis.enabled\n"
        "    tags: [cache]\n"
    )
    (chart / "values.yaml").write_text("podinfo:\n  enabled: true\nredis:\n  enabled: false\n")
    repo = tmp_path / "repo"
    (repo / ".gitbot.yaml").write_text(f"helm:\n  mirrors:\n    https://stefanprodan.github.io/podinfo: {chart_world.mirrors['https://stefanprodan.github.io/podinfo']}\n")
    chart_world.clear_requests()
    doc = inventory(PlanRequest(repo=repo, chart_cache=tmp_path / "charts"))
    assert [(t["name"], t["status"]) for t in doc["targets"]] == [("charts/shop@shop", "pulled")]
    assert [w["workload"] for w in doc["workloads"]] == ["default/Deployment/shop-podinfo"]
    assert chart_world.oci.requests == []  # redis is disabled: never asked for

    (chart / "values.yaml").write_text("podinfo:\n  enabled: true\nredis:\n  enabled: true\n")
    doc = inventory(PlanRequest(repo=repo, chart_cache=tmp_path / "charts", offline=True))
    assert [(t["name"], t["status"], t["detail"]) for t in doc["targets"]] == [(
        "charts/shop@shop", "failed",
        "dependency redis 23.x (oci://registry.example.com/charts) is missing from charts/ and cannot be pulled: "
        "oci://registry.example.com/charts/redis 23.x is not in the chart cache; --offline pulls nothing",
    )]


APP_TEMPLATE_RELEASE = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: app-template
  namespace: home
spec:
  interval: 1h
  url: oci://ghcr.io/bjw-s-labs/helm/app-template
  ref:
    tag: 4.1.1
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: echo
  namespace: home
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: app-template
  values:
    controllers:
      echo:
        containers:
          app:
            image:
              repository: ghcr.io/mendhak/http-https-echo
              tag: 37
            resources:
              requests:
                cpu: 500m
              limits:
                memory: 512Mi
"""


def test_a_home_lab_app_template_release_is_pulled_from_oci_and_its_values_are_editable(chart_world: Any, tmp_path: Path) -> None:
    """The common home-lab shape: one HelmRelease per app on bjw-s' app-template from an OCI
    registry, everything in values. Its schema $refs raw.githubusercontent.com: rendered without it."""
    repo = tmp_path / "home"
    (repo / "apps").mkdir(parents=True)
    (repo / "apps" / "echo.yaml").write_text(APP_TEMPLATE_RELEASE)
    (repo / ".gitbot.yaml").write_text(f"helm:\n  mirrors:\n    oci://ghcr.io/bjw-s-labs/helm: {chart_world.mirrors['oci://ghcr.io/bjw-s-labs/helm']}\n")
    doc = inventory(PlanRequest(repo=repo, chart_cache=tmp_path / "charts"))
    assert [(t["name"], t["status"]) for t in doc["targets"] if t["kind"] == "helm"] == [("app-template:4.1.1@home/echo (apps/echo.yaml)", "pulled")]
    [workload] = doc["workloads"]
    assert workload["workload"] == "home/Deployment/echo"
    fields = workload["containers"][0]["fields"]
    assert (fields["cpu_request_m"]["current"], fields["cpu_request_m"]["source"]["file"], fields["cpu_request_m"]["source"]["line"],
            fields["cpu_request_m"]["source"]["yaml_path"]) == (500, "apps/echo.yaml", 32, "spec.values.controllers.echo.containers.app.resources.requests.cpu")
    assert fields["memory_request_bytes"]["source"]["editable"] is True
    assert doc["skipped_inputs"] == [{
        "path": "app-template:4.1.1@home/echo (apps/echo.yaml)", "line": None,
        "reason": "oci://ghcr.io/bjw-s-labs/helm/app-template:4.1.1: app-template/values.schema.json needs the network (a remote $ref or $id); rendered without it",
    }, {
        "path": "app-template:4.1.1@home/echo (apps/echo.yaml)", "line": None,
        "reason": "oci://ghcr.io/bjw-s-labs/helm/app-template:4.1.1: app-template/charts/common/values.schema.json needs the network (a remote $ref or $id); rendered without it",
    }]


SHARED = {
    # repository: (workloads, containers, targets by status, HelmReleases rendered/total)
    "GoogleCloudPlatform__microservices-demo": (84, 93, {"rendered": 7}, (0, 0)),
    "bitnami__charts": (3, 4, {"rendered": 1, "pulled": 1, "skipped": 1}, (0, 0)),
    "bjw-s-labs__helm-charts": (0, 0, {"pulled": 1, "skipped": 1}, (0, 0)),
    "fluxcd__flux2-kustomize-helm-example": (4, 4, {"rendered": 13, "pulled": 1, "failed": 2}, (2, 4)),
    "kubernetes__examples": (44, 46, {"rendered": 82}, (0, 0)),
    "stefanprodan__podinfo": (33, 36, {"rendered": 25}, (0, 0)),
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_every_shared_repository_as_a_new_user_runs_it(chart_world: Any, tmp_path: Path, name: str) -> None:
    """Each repository of ../shared/data/repos, as it is, with only the mirrors configured (a CI job
    behind a chart proxy): what renders, what is pulled, and what cannot be covered. The two OCI
    charts of the Flux example (cert-manager, envoy-gateway) are not served here: they fail, named."""
    cfg = tmp_path / "gitbot.yaml"
    cfg.write_text(config(chart_world).replace(ENVIRONMENTS, ""))
    doc = inventory(PlanRequest(repo=REPOS / name, config_file=cfg, chart_cache=tmp_path / "charts"))
    workloads, containers, statuses, (rendered, total) = SHARED[name]
    assert doc["summary"] == {"workloads": workloads, "containers": containers}
    assert {k: v for k, v in doc["coverage"]["by_status"].items() if v} == statuses
    assert doc["coverage"]["helm_releases"] == {"rendered": rendered, "total": total}


def test_the_chart_cache_is_keyed_by_the_upstream_so_offline_needs_no_mirror(chart_world: Any, tmp_path: Path) -> None:
    work, _ = make_repo(tmp_path, chart_world)
    cache = tmp_path / "charts"
    inventory(PlanRequest(repo=work, chart_cache=cache))
    (work / ".gitbot.yaml").write_text(ENVIRONMENTS)  # a laptop without the CI mirror
    doc = inventory(PlanRequest(repo=work, chart_cache=cache, offline=True))
    assert targets(doc)[PROD] == ("rendered", "chart https://stefanprodan.github.io/podinfo/podinfo:6.14.1 from the chart cache")
    records = [json.loads(p.read_text()) for p in sorted((cache / "refs").glob("*.json"))]
    assert [(r["repository"], r["name"], sorted(r["versions"])) for r in records] == [
        ("https://stefanprodan.github.io/podinfo", "podinfo", ["6.14.1"]),
    ]
