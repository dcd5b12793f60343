"""The closed loop re-renders what an edit touches: anything but the intended change rejects it."""

from __future__ import annotations

from pathlib import Path

from gitbot.edit.changeset import FileChange, rec_key
from gitbot.edit.verify import ClosedLoop
from gitbot.model import Status
from gitbot.pipeline import PlanRequest, plan

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"
METRICS = ROOT / "fixtures" / "demo-metrics.om.gz"


def test_the_demo_edits_pass_and_a_stray_change_is_caught():
    result, _ = plan(PlanRequest(repo=DEMO, metrics_file=METRICS))
    recs = [e.rec for e in result.entries]
    from gitbot.config import load_config
    from gitbot.load import load_repo

    loaded = load_repo(DEMO, load_config(DEMO, None))
    loop = ClosedLoop(DEMO, loaded, recs)
    changes = list(result.changes.files)
    applied = result.changes.applied
    assert loop(changes, applied) == {}

    patch = next(c for c in changes if c.path == "platform/checkout/overlays/production/api-resources.yaml")
    stray_patch = patch.after.replace('cpu: "1250m"', 'cpu: "3"')
    failures = loop([c if c is not patch else FileChange(c.path, c.before, stray_patch) for c in changes], applied)
    overlay = "platform/checkout/overlays/production"
    assert set(failures) == {(overlay, "shop-prod/Deployment/checkout", "api")}
    assert set(failures.values()) == {
        f"re-rendering {overlay} with the edit: Deployment/checkout api cpu_limit becomes 3, expected 1250m"
    }

    # a field moved to another value than meant (the engine's memory limit): every edit of a file the overlay reads
    base = next(c for c in changes if c.path == "platform/pricing-engine/base/deployment.yaml")
    moved = base.after.replace("memory: 1385Mi", "memory: 1600Mi")
    assert moved != base.after
    failures = loop([c if c is not base else FileChange(c.path, c.before, moved) for c in changes], applied)
    overlay = "platform/pricing-engine/overlays/production"
    assert set(failures) == {(overlay, "shop-prod/Deployment/pricing-engine", "engine")}
    assert failures[(overlay, "shop-prod/Deployment/pricing-engine", "engine")] == (
        f"re-rendering {overlay} with the edit: Deployment/pricing-engine engine memory_limit becomes 1.56Gi, expected 1.35Gi"
    )

    prod = next(c for c in changes if c.path == "charts/search/values-production.yaml")
    head, tail = prod.after.rsplit("      memory: 256Mi\n", 1)  # the gateway's memory limit, the file's last line
    stray = f"{head}      memory: 999Mi\n{tail}"
    assert stray != prod.after
    tampered = [c if c is not prod else FileChange(c.path, c.before, stray) for c in changes]
    failures = loop(tampered, applied)
    target = "charts/search@search-prod/search"
    assert set(failures) == {(target, "search-prod/Deployment/search-gateway", "gateway")}
    assert set(failures.values()) == {
        f"re-rendering {target} with the edit: Deployment/search-gateway gateway memory_limit becomes 999Mi, expected 256Mi"
    }


def test_helm_values_fields_map_to_the_release_values_file():
    result, doc = plan(PlanRequest(repo=DEMO, metrics_file=METRICS))
    by = {(c["target"]["name"], c["workload"], c["container"]): c for c in doc["containers"]}
    index = by[("charts/search@search-prod/search", "search-prod/StatefulSet/search-index", "index")]
    assert index["status"] == "change"
    cpu = index["fields"]["cpu_request_m"]["source"]
    assert (cpu["kind"], cpu["file"], cpu["yaml_path"], cpu["present"], cpu["line"]) == (
        "helm-values", "charts/search/values-production.yaml", "index.resources.requests.cpu", True, 6
    )
    staging = by[("charts/search@search-staging/search", "search-staging/StatefulSet/search-index", "index")]
    mem = staging["fields"]["memory_request_bytes"]["source"]
    # staging's values file does not set it: inserted there, the chart's shared defaults stay untouched
    assert (mem["kind"], mem["file"], mem["present"]) == ("helm-values", "charts/search/values-staging.yaml", False)
    assert "charts/search/values.yaml" not in {e["file"] for e in doc["edits"]}
    assert all(e.status is not Status.COMMENT_ONLY for e in result.entries if e.rec.workload.target.name.startswith("charts/"))
    assert {rec_key(e.rec) for e in result.entries if e.status is Status.CHANGE} <= result.changes.applied


def test_overlay_patch_fields_map_to_the_patch_file():
    _, doc = plan(PlanRequest(repo=DEMO, metrics_file=METRICS))
    api = next(c for c in doc["containers"] if c["workload"] == "shop-prod/Deployment/checkout" and c["container"] == "api")
    assert api["status"] == "change"
    sources = {k: (f["source"]["kind"], f["source"]["file"], f["source"]["yaml_path"], f["source"]["line"]) for k, f in api["fields"].items()}
    patch = "platform/checkout/overlays/production/api-resources.yaml"
    assert sources == {
        "cpu_request_m": ("patch", patch, "spec.template.spec.containers[0].resources.requests.cpu", 13),
        "cpu_limit_m": ("patch", patch, "spec.template.spec.containers[0].resources.limits.cpu", 16),
        "memory_request_bytes": ("patch", patch, "spec.template.spec.containers[0].resources.requests.memory", 14),
        "memory_limit_bytes": ("patch", patch, "spec.template.spec.containers[0].resources.limits.memory", 17),
    }
    edit = next(e["diff"] for e in doc["edits"] if e["file"] == patch)
    # the envoy sidecar, which production sizes apart from staging, joins the api in the same patch
    assert edit == (
        f"--- a/{patch}\n+++ b/{patch}\n@@ -10,8 +10,15 @@\n"
        "         - name: api\n"
        "           resources:\n"
        "             requests:\n"
        '-              cpu: "1"\n'
        "-              memory: 1Gi\n"
        '+              cpu: "615m"\n'
        "+              memory: 690Mi\n"
        "             limits:\n"
        '-              cpu: "2"\n'
        "-              memory: 2Gi\n"
        '+              cpu: "1250m"\n'
        "+              memory: 1Gi\n"
        "+        - name: envoy\n"
        "+          resources:\n"
        "+            requests:\n"
        "+              cpu: 75m\n"
        "+              memory: 80Mi\n"
        "+            limits:\n"
        "+              memory: 128Mi\n"
    )


def test_json6902_ops_and_inline_patches_are_located(tmp_path):
    from gitbot.pipeline import inventory

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: app\n          image: app:1\n          resources:\n            requests:\n              cpu: 100m\n"
        "              memory: 64Mi\n"
    )
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "cpu.yaml").write_text(
        "- op: replace\n  path: /spec/template/spec/containers/0/resources/requests/cpu\n  value: 300m\n"
        "- op: add\n  path: /spec/template/spec/containers/0/resources/limits\n  value:\n    memory: 256Mi\n"
    )
    (overlay / "kustomization.yaml").write_text(
        "resources:\n  - ../../base\npatches:\n  - path: cpu.yaml\n    target:\n      kind: Deployment\n      name: web\n"
        "  - patch: |-\n      - op: replace\n        path: /spec/template/spec/containers/0/resources/requests/memory\n        value: 128Mi\n"
        "    target:\n      kind: Deployment\n      name: web\n"
    )
    doc = inventory(PlanRequest(repo=tmp_path))
    fields = doc["workloads"][0]["containers"][0]["fields"]
    got = {k: (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["yaml_path"], f["source"]["editable"]) for k, f in fields.items()}
    assert got == {
        "cpu_request_m": (300, "json6902", "overlays/prod/cpu.yaml", "[0].value", True),
        "cpu_limit_m": (None, "base", "base/deployment.yaml", "spec.template.spec.containers[0].resources.limits.cpu", True),
        "memory_request_bytes": (128 * 2**20, "json6902", "overlays/prod/kustomization.yaml", "patches[1].patch::[0].value", True),
        "memory_limit_bytes": (256 * 2**20, "json6902", "overlays/prod/cpu.yaml", "[1].value.memory", True),
    }
    # the inline op's value: line 3 of the patch text, which starts on line 9 of the kustomization
    assert fields["memory_request_bytes"]["source"]["line"] == 11


def test_a_shared_base_needing_different_values_gets_overlay_patches(tmp_path):
    import shutil

    work = tmp_path / "demo"
    shutil.copytree(DEMO, work)
    _, doc = plan(PlanRequest(repo=work, metrics_file=METRICS, write=True))
    envoy = {c["target"]["name"]: c for c in doc["containers"] if c["container"] == "envoy"}
    assert {t: c["status"] for t, c in envoy.items()} == {
        "platform/checkout/overlays/production": "change", "platform/checkout/overlays/staging": "change",
    }
    staging = "platform/checkout/overlays/staging"
    # the api, by name only, stays first: a strategic-merge patch puts the containers it lists first
    assert (work / staging / "gitbot-resources.yaml").read_text() == (
        f"# Resources for {staging}, set here by gitbot: the base is shared with overlays that need other values.\n"
        "# A container listed by name only keeps the base's resources; it is there to keep its place (a patch's containers go first).\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: api\n"
        "        - name: envoy\n          resources:\n            requests:\n              cpu: 50m\n              memory: 66Mi\n"
        "            limits:\n              memory: 132Mi\n"
    )
    assert (work / staging / "kustomization.yaml").read_text().endswith("resources:\n  - ../../base\npatches:\n  - path: gitbot-resources.yaml\n")
    # production already patches the Deployment: envoy is added to that patch, not to a second one
    production = work / "platform/checkout/overlays/production"
    assert (production / "kustomization.yaml").read_text() == (DEMO / "platform/checkout/overlays/production/kustomization.yaml").read_text()
    assert not (production / "gitbot-resources.yaml").exists()
    assert (production / "api-resources.yaml").read_text().endswith(
        "        - name: envoy\n          resources:\n            requests:\n              cpu: 75m\n              memory: 80Mi\n"
        "            limits:\n              memory: 128Mi\n"
    )
    # the base's envoy lines are untouched; a second plan finds the fields in the new patches
    assert "cpu: 100m" in (work / "platform/checkout/base/deployment.yaml").read_text()
    _, again = plan(PlanRequest(repo=work, metrics_file=METRICS))
    assert again["summary"]["by_status"]["change"] == 0
    envoy = next(c for c in again["containers"] if c["container"] == "envoy" and c["target"]["name"] == staging)
    assert envoy["fields"]["cpu_request_m"]["source"]["file"] == f"{staging}/gitbot-resources.yaml"


def test_edits_that_cannot_be_re_rendered_are_not_made(monkeypatch):
    import gitbot.edit.verify as verify

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(verify.shutil, "copytree", full_disk)
    _, doc = plan(PlanRequest(repo=DEMO, metrics_file=METRICS))
    by_kind = {}
    for c in doc["containers"]:
        by_kind.setdefault(c["target"]["kind"], set()).add(c["status"])
    assert by_kind["plain"] >= {"change"}  # plain files need no re-render
    assert "change" not in by_kind["kustomize"] | by_kind["helm"]
    reasons = {r for c in doc["containers"] if c["target"]["kind"] != "plain" for r in c["reasons"]}
    assert "cannot re-render to check the edit: [Errno 28] No space left on device" in reasons
    assert {e["file"] for e in doc["edits"]} == {
        "apps/cart/deployment.yaml", "apps/image-resizer/deployment.yaml", "apps/legacy-admin/deployment.yaml",
        "apps/node-agent/daemonset.yaml", "apps/reports/cronjob.yaml", "apps/storefront/deployment.yaml",
    }


def test_an_inline_patch_is_edited_inside_the_kustomization(tmp_path):
    """A strategic-merge patch written inline (``patches: - patch: |``) is edited in place: the value
    inside the block scalar changes, nothing else in the kustomization, and a second plan is clean."""
    import sys

    sys.path.insert(0, str(ROOT / "fixtures"))
    from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: app\n          image: app:1\n          resources:\n            requests:\n              cpu: 100m\n"
        "              memory: 64Mi\n            limits:\n              memory: 64Mi\n"
    )
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    kustomization = (
        "resources:\n  - ../../base\n"
        "patches:\n"
        "  # production runs bigger\n"
        "  - patch: |-\n"
        "      apiVersion: apps/v1\n"
        "      kind: Deployment\n"
        "      metadata:\n"
        "        name: web\n"
        "      spec:\n"
        "        template:\n"
        "          spec:\n"
        "            containers:\n"
        "              - name: app\n"
        "                resources:\n"
        "                  requests:\n"
        "                    cpu: \"2\"   # from the load test\n"
        "                    memory: 2Gi\n"
        "                  limits:\n"
        "                    memory: 2Gi\n"
    )
    (overlay / "kustomization.yaml").write_text(kustomization)
    snapshot = tmp_path / "usage.om.gz"
    container = SimpleContainer("app", 1000, 1024 * 2**20, None, 2048 * 2**20)
    write_snapshot(scenario_for([SimpleWorkload("default", "Deployment", "web", 1, [container])], 1794787200.0), snapshot)
    result, doc = plan(PlanRequest(repo=tmp_path, metrics_file=snapshot, at=1794787200.0, write=True))
    assert result.written and [e["file"] for e in doc["edits"]] == ["overlays/prod/kustomization.yaml"]
    fields = doc["containers"][0]["fields"]
    assert {k: (f["source"]["kind"], f["source"]["yaml_path"]) for k, f in fields.items() if f["changed"]} == {
        "cpu_request_m": ("patch", "patches[0].patch::spec.template.spec.containers[0].resources.requests.cpu"),
        "memory_request_bytes": ("patch", "patches[0].patch::spec.template.spec.containers[0].resources.requests.memory"),
        "memory_limit_bytes": ("patch", "patches[0].patch::spec.template.spec.containers[0].resources.limits.memory"),
    }
    written = {k: f["written_text"] for k, f in fields.items() if f["changed"]}
    assert (overlay / "kustomization.yaml").read_text() == (
        kustomization.replace('cpu: "2"', f'cpu: "{written["cpu_request_m"]}"')
        .replace("memory: 2Gi\n                  limits", f"memory: {written['memory_request_bytes']}\n                  limits")
        .replace("limits:\n                    memory: 2Gi", f"limits:\n                    memory: {written['memory_limit_bytes']}")
    )
    assert written == {"cpu_request_m": "780m", "memory_request_bytes": "642Mi", "memory_limit_bytes": "1Gi"}  # p99, no margin under the limit
    _, again = plan(PlanRequest(repo=tmp_path, metrics_file=snapshot, at=1794787200.0))
    assert again["summary"]["by_status"]["change"] == 0


def test_an_existing_gitbot_patch_is_extended_with_one_more_document(tmp_path):
    """staging already has gitbot-resources.yaml from an earlier run (web's CPU request); now web's
    memory and api also need different values per overlay: web's go into its document, api's
    document is appended, and the kustomization is left alone (the file is already listed)."""
    import sys

    sys.path.insert(0, str(ROOT / "fixtures"))
    from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot

    def deployment(name: str, cpu: str, memory: str) -> str:
        return (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n"
            f"        - name: {name}\n          image: {name}:1\n          resources:\n            requests:\n"
            f"              cpu: {cpu}\n              memory: {memory}\n            limits:\n              memory: {memory}\n"
        )

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "web.yaml").write_text(deployment("web", "100m", "64Mi"))
    (tmp_path / "base" / "api.yaml").write_text(deployment("api", "1", "1Gi"))
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - web.yaml\n  - api.yaml\n")
    for env in ("staging", "production"):
        (tmp_path / env).mkdir()
        (tmp_path / env / "kustomization.yaml").write_text(f"namespace: {env}\nresources:\n  - ../base\n")
    earlier = (
        "# Resources for staging, set here by gitbot: the base is shared with overlays that need other values.\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: web\n          resources:\n            requests:\n              cpu: 100m\n"
    )
    (tmp_path / "staging" / "gitbot-resources.yaml").write_text(earlier)
    (tmp_path / "staging" / "kustomization.yaml").write_text("namespace: staging\nresources:\n  - ../base\npatches:\n  - path: gitbot-resources.yaml\n")
    workloads = [
        SimpleWorkload(env, "Deployment", name, 1, [SimpleContainer(name, cpu, memory, None, memory)])
        for env, name, cpu, memory in (
            ("staging", "web", 100, 64 * 2**20), ("production", "web", 100, 64 * 2**20),
            ("staging", "api", 300, 300 * 2**20), ("production", "api", 1000, 1024 * 2**20),
        )
    ]
    snapshot = tmp_path / "usage.om.gz"
    write_snapshot(scenario_for(workloads, 1794787200.0), snapshot)
    result, doc = plan(PlanRequest(repo=tmp_path, metrics_file=snapshot, at=1794787200.0, write=True))
    assert result.written
    # web's document gets its new values where it is (cpu replaced, memory added beside it); api,
    # which had none, is appended as one more document
    assert (tmp_path / "staging" / "gitbot-resources.yaml").read_text() == (
        earlier.replace("cpu: 100m\n", "cpu: 80m\n              memory: 41Mi\n            limits:\n              memory: 50Mi\n")
        + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: api\n          resources:\n            requests:\n              cpu: 265m\n              memory: 217Mi\n"
        "            limits:\n              memory: 281Mi\n"
    )
    assert sorted(e["file"] for e in doc["edits"]) == [
        "production/gitbot-resources.yaml", "production/kustomization.yaml", "staging/gitbot-resources.yaml",
    ]
    assert (tmp_path / "staging" / "kustomization.yaml").read_text().count("gitbot-resources.yaml") == 1
    _, again = plan(PlanRequest(repo=tmp_path, metrics_file=snapshot, at=1794787200.0))
    assert again["summary"]["by_status"]["change"] == 0
