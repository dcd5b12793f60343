"""A Kustomize base shared by a staging and a production overlay that need different values (issue #16, point 5).

The repository, written by ``write_repo``: ``checkout/base`` is one Deployment with a plain init
container (``migrate``), a native sidecar (``log-shipper``: an init container with
``restartPolicy: Always``), the app (``api``) and an Envoy sidecar (``envoy``).
``overlays/production`` (3 replicas) has a strategic-merge patch file that sets the api's
resources; ``overlays/staging`` has an inline JSON 6902 op for envoy's memory limit. The usage,
written by ``write_usage``: production is busier than the base assumes, staging quieter, and the
two overlays' pods use clearly different amounts.

One ``plan --write`` gives every container the values its overlay needs, nothing comment-only:

- production's api values are edited in its patch; envoy, log-shipper and migrate (fields only the
  shared base sets) are added to that same patch document: envoy to its ``containers`` list, the
  two init containers as a new ``initContainers`` list, merged by name by Kustomize;
- staging's api values are edited in the base (production sets all four in its patch, so only
  staging reads those lines); its envoy memory limit is edited inside the inline JSON 6902 op, and
  envoy's requests, which the base shares with production, go into a new ``gitbot-resources.yaml``
  listed after the inline patch, with the api named before envoy (Kustomize puts a patch's
  containers first: without it envoy would become the pod's first container);
- log-shipper and migrate keep the base's values in staging (log-shipper's sizing rounds to them,
  its CPU within one rounding step; migrate has too little data), so only production sets them apart.

The second run, on the written tree, proposes nothing but the step-downs ``max-step-down`` held
back (and the CPU limit that follows its request).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitbot.edit.splice import CannotEdit, insert_fields
from gitbot.pipeline import PlanRequest, plan
from gitbot.yamldoc import parse_yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fixtures"))
from synth import DAY, MI, ContainerUsage, Node, Pod, Scenario, daily, flat, suffix, write_snapshot  # noqa: E402

END = 1794787200.0  # 2026-11-16T00:00:00Z
BASE = "checkout/base/deployment.yaml"
STAGING = "checkout/overlays/staging"
PRODUCTION = "checkout/overlays/production"

FILES = {
    ".gitbot.yaml": """\
environments:
  - name: production
    tier: production
    namespaces: [shop-prod]
  - name: staging
    tier: non-production
    namespaces: [shop-staging]
""",
    "checkout/base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n",
    BASE: """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  replicas: 1
  selector:
    matchLabels:
      app: checkout
  template:
    metadata:
      labels:
        app: checkout
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/example/checkout-migrate:7.4.0
          resources:
            requests:
              cpu: 500m
              memory: 256Mi
            limits:
              memory: 256Mi
        - name: log-shipper
          image: fluent/fluent-bit:3.1
          restartPolicy: Always
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
      containers:
        - name: api
          image: ghcr.io/example/checkout:7.4.0
          resources:
            requests:
              cpu: 500m
              memory: 512Mi
            limits:
              cpu: "1"
              memory: 1Gi
        - name: envoy
          image: envoyproxy/envoy:v1.31.2
          resources:
            requests:
              cpu: 200m
              memory: 128Mi
            limits:
              memory: 512Mi
""",
    f"{STAGING}/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-staging
resources:
  - ../../base
patches:
  - target:
      kind: Deployment
      name: checkout
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/1/resources/limits/memory
        value: 256Mi
""",
    f"{PRODUCTION}/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-prod
resources:
  - ../../base
replicas:
  - name: checkout
    count: 3
patches:
  - path: resources.yaml
""",
    f"{PRODUCTION}/resources.yaml": """\
# Production runs the API with more headroom than staging.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  template:
    spec:
      containers:
        - name: api
          resources:
            requests:
              cpu: "1"
              memory: 1Gi
            limits:
              cpu: "2"
              memory: 2Gi
""",
}

# per namespace: replicas, how long migrate runs after a pod starts (s), and each container's CPU
# (cores) and memory (bytes) per pod
USAGE = {
    "shop-prod": (3, 1800.0, {
        "migrate": (flat(0.6), flat(300 * MI)),
        "log-shipper": (flat(0.18), flat(150 * MI)),
        "api": (daily(0.3, 0.6), flat(700 * MI)),
        "envoy": (daily(0.15, 0.3), flat(200 * MI)),
    }),
    "shop-staging": (1, 1200.0, {
        "migrate": (flat(0.3), flat(180 * MI)),
        "log-shipper": (flat(0.09), flat(115 * MI)),  # p95 127Mi: the base's 128Mi (and 256Mi limit) fit
        "api": (daily(0.05, 0.1), flat(200 * MI)),
        "envoy": (daily(0.02, 0.04), flat(60 * MI)),
    }),
}


def write_repo(root: Path, files: dict[str, str] = FILES) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_usage(path: Path, usage: dict[str, Any] = USAGE) -> None:
    """Eight days of pods, rolled every four hours (so the init container ran often enough to be sized
    in production; staging's single replica gives it too few samples)."""
    start = END - 8 * DAY
    rng = np.random.default_rng(16)
    node = Node("node-1", "m6i.xlarge", "us-east-1a", "us-east-1", "on-demand")
    scenario = Scenario(start=start, end=END, nodes=[node], seed=16)
    edges = np.arange(start - 3600, END + 3600, 4 * 3600.0)
    for namespace, (replicas, init_seconds, containers) in usage.items():
        for lo, hi in zip(edges, edges[1:]):
            rs = f"checkout-{suffix(rng, 9)}"
            scenario.replicasets[(namespace, rs)] = "checkout"
            for _ in range(replicas):
                usage = tuple(
                    ContainerUsage(name, cpu, memory, active=(0.0, init_seconds) if name == "migrate" else None)
                    for name, (cpu, memory) in containers.items()
                )
                scenario.pods.append(Pod(namespace, f"{rs}-{suffix(rng, 5)}", "ReplicaSet", rs, node.name, float(lo), float(hi), usage))
    write_snapshot(scenario, path)


@pytest.fixture(scope="module")
def usage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usage") / "usage.om.gz"
    write_usage(path)
    return path


def run_plan(repo: Path, usage: Path, write: bool = False) -> tuple[str, dict[str, Any]]:
    result, doc = plan(PlanRequest(repo=repo, metrics_file=usage, at=END, write=write))
    assert result.written is (write and bool(result.changes.files))
    return result.changes.diff(), doc


def statuses(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["workload"], c["container"]): c["status"] for c in doc["containers"]}


FIRST_DIFF = f"""\
--- a/{BASE}
+++ b/{BASE}
@@ -35,11 +35,11 @@
           image: ghcr.io/example/checkout:7.4.0
           resources:
             requests:
-              cpu: 500m
-              memory: 512Mi
+              cpu: 250m
+              memory: 256Mi
             limits:
               cpu: "1"
-              memory: 1Gi
+              memory: 512Mi
         - name: envoy
           image: envoyproxy/envoy:v1.31.2
           resources:
--- a/{PRODUCTION}/resources.yaml
+++ b/{PRODUCTION}/resources.yaml
@@ -6,12 +6,34 @@
 spec:
   template:
     spec:
+      initContainers:
+        - name: migrate
+          resources:
+            requests:
+              cpu: 725m
+              memory: 342Mi
+            limits:
+              memory: 410Mi
+        - name: log-shipper
+          resources:
+            requests:
+              cpu: 200m
+              memory: 172Mi
+            limits:
+              memory: 221Mi
       containers:
         - name: api
           resources:
             requests:
-              cpu: "1"
-              memory: 1Gi
+              cpu: "635m"
+              memory: 800Mi
             limits:
-              cpu: "2"
-              memory: 2Gi
+              cpu: "1300m"
+              memory: 1029Mi
+        - name: envoy
+          resources:
+            requests:
+              cpu: 320m
+              memory: 231Mi
+            limits:
+              memory: 289Mi
--- /dev/null
+++ b/{STAGING}/gitbot-resources.yaml
@@ -0,0 +1,16 @@
+# Resources for {STAGING}, set here by gitbot: the base is shared with overlays that need other values.
+# A container listed by name only keeps the base's resources; it is there to keep its place (a patch's containers go first).
+apiVersion: apps/v1
+kind: Deployment
+metadata:
+  name: checkout
+spec:
+  template:
+    spec:
+      containers:
+        - name: api
+        - name: envoy
+          resources:
+            requests:
+              cpu: 100m
+              memory: 66Mi
--- a/{STAGING}/kustomization.yaml
+++ b/{STAGING}/kustomization.yaml
@@ -10,4 +10,5 @@
     patch: |-
       - op: replace
         path: /spec/template/spec/containers/1/resources/limits/memory
-        value: 256Mi
+        value: 132Mi
+  - path: gitbot-resources.yaml
"""

SECOND_DIFF = f"""\
--- a/{BASE}
+++ b/{BASE}
@@ -35,11 +35,11 @@
           image: ghcr.io/example/checkout:7.4.0
           resources:
             requests:
-              cpu: 250m
-              memory: 256Mi
+              cpu: 125m
+              memory: 217Mi
             limits:
-              cpu: "1"
-              memory: 512Mi
+              cpu: "500m"
+              memory: 434Mi
         - name: envoy
           image: envoyproxy/envoy:v1.31.2
           resources:
--- a/{STAGING}/gitbot-resources.yaml
+++ b/{STAGING}/gitbot-resources.yaml
@@ -12,5 +12,5 @@
         - name: envoy
           resources:
             requests:
-              cpu: 100m
+              cpu: 50m
               memory: 66Mi
"""


def test_one_run_gives_each_overlay_its_own_values(tmp_path: Path, usage: Path) -> None:
    repo = tmp_path / "repo"
    write_repo(repo)
    diff, doc = run_plan(repo, usage, write=True)
    assert statuses(doc) == {
        ("shop-prod/Deployment/checkout", "api"): "change",
        ("shop-prod/Deployment/checkout", "envoy"): "change",
        ("shop-prod/Deployment/checkout", "log-shipper"): "change",
        ("shop-prod/Deployment/checkout", "migrate"): "change",
        ("shop-staging/Deployment/checkout", "api"): "change",
        ("shop-staging/Deployment/checkout", "envoy"): "change",
        ("shop-staging/Deployment/checkout", "log-shipper"): "unchanged",  # the base's values fit
        ("shop-staging/Deployment/checkout", "migrate"): "skipped",  # too few samples
    }
    assert diff == FIRST_DIFF
    assert [e["file"] for e in doc["edits"]] == [BASE, f"{PRODUCTION}/resources.yaml", f"{STAGING}/gitbot-resources.yaml", f"{STAGING}/kustomization.yaml"]
    # the base's envoy, log-shipper and migrate lines stay: both overlays render from them
    assert (repo / BASE).read_text() == FILES[BASE].replace(
        "cpu: 500m\n              memory: 512Mi", "cpu: 250m\n              memory: 256Mi"
    ).replace('cpu: "1"\n              memory: 1Gi', 'cpu: "1"\n              memory: 512Mi')
    assert (repo / PRODUCTION / "kustomization.yaml").read_text() == FILES[f"{PRODUCTION}/kustomization.yaml"]
    assert not (repo / PRODUCTION / "gitbot-resources.yaml").exists()
    # the staging envoy's memory limit is written where staging sets it: in the JSON 6902 op
    staging = {c["container"]: c for c in doc["containers"] if c["workload"] == "shop-staging/Deployment/checkout"}
    limit = staging["envoy"]["fields"]["memory_limit_bytes"]
    assert (limit["source"]["kind"], limit["source"]["yaml_path"], limit["written_text"]) == ("json6902", "patches[0].patch::[0].value", "132Mi")


def test_the_diff_applies_as_written(tmp_path: Path, usage: Path) -> None:
    """The diff (value pairs and inserted lines, matched by key) is a patch git applies to the same tree --write makes."""
    repo = tmp_path / "repo"
    write_repo(repo)
    diff, _ = run_plan(repo, usage)
    patch = tmp_path / "plan.diff"
    patch.write_text(diff, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=repo, check=True)
    written = tmp_path / "written"
    write_repo(written)
    run_plan(written, usage, write=True)
    for name in [*FILES, f"{STAGING}/gitbot-resources.yaml"]:
        assert (repo / name).read_text() == (written / name).read_text(), name


def test_the_second_run_only_steps_down_further(tmp_path: Path, usage: Path) -> None:
    repo = tmp_path / "repo"
    write_repo(repo)
    run_plan(repo, usage, write=True)
    diff, doc = run_plan(repo, usage, write=True)
    changed = {
        (c["workload"], c["container"], name): (f["current"], f["recommended"], f["rule_ids"], f["source"]["file"])
        for c in doc["containers"] for name, f in c["fields"].items() if f["changed"]
    }
    assert changed == {
        # max-step-down held these at half of what the pods ran with; the CPU limit stays four times
        # the (non-production) request, the memory limit twice; the memory request, held at 256Mi,
        # now reaches the p95 it was heading for (a 10% band would have stopped it there)
        ("shop-staging/Deployment/checkout", "api", "cpu_request_m"): (250, 125, ["max-step-down"], BASE),
        ("shop-staging/Deployment/checkout", "api", "cpu_limit_m"): (1000, 500, ["cpu-limit-non-production"], BASE),
        ("shop-staging/Deployment/checkout", "api", "memory_request_bytes"): (256 * MI, 217 * MI, ["rounding"], BASE),
        ("shop-staging/Deployment/checkout", "api", "memory_limit_bytes"): (512 * MI, 434 * MI, ["memory-limit-non-production"], BASE),
        ("shop-staging/Deployment/checkout", "envoy", "cpu_request_m"): (100, 50, ["max-step-down"], f"{STAGING}/gitbot-resources.yaml"),
    }
    assert {k: v for k, v in statuses(doc).items() if v != "unchanged"} == {
        ("shop-staging/Deployment/checkout", "api"): "change",
        ("shop-staging/Deployment/checkout", "envoy"): "change",
        ("shop-staging/Deployment/checkout", "migrate"): "skipped",
    }
    assert diff == SECOND_DIFF
    # every field production sets apart is now read from its own patch
    prod = {c["container"]: c for c in doc["containers"] if c["workload"] == "shop-prod/Deployment/checkout"}
    sources = {(name, f["source"]["file"]) for c in prod.values() for name, f in c["fields"].items() if f["current"] is not None}
    assert {file for _, file in sources} == {f"{PRODUCTION}/resources.yaml"}


def test_a_patch_entry_that_selects_more_than_the_object_is_left_alone(tmp_path: Path, usage: Path) -> None:
    """A patch whose entry selects every Deployment would add the container to all of them: envoy
    and the init containers get production's own gitbot-resources.yaml instead."""
    files = dict(FILES)
    files[f"{PRODUCTION}/kustomization.yaml"] = files[f"{PRODUCTION}/kustomization.yaml"].replace(
        "  - path: resources.yaml\n", "  - path: resources.yaml\n    target:\n      kind: Deployment\n"
    )
    repo = tmp_path / "repo"
    write_repo(repo, files)
    diff, doc = run_plan(repo, usage, write=True)
    assert "comment-only" not in statuses(doc).values()
    assert (repo / PRODUCTION / "resources.yaml").read_text().count("- name:") == 1  # the api only, its values edited
    created = (repo / PRODUCTION / "gitbot-resources.yaml").read_text()
    assert [line.strip() for line in created.splitlines() if "name:" in line] == [
        "name: checkout", "- name: migrate", "- name: log-shipper", "- name: api", "- name: envoy",
    ]
    assert (repo / PRODUCTION / "kustomization.yaml").read_text().endswith(
        "  - path: resources.yaml\n    target:\n      kind: Deployment\n  - path: gitbot-resources.yaml\n"
    )
    _, again = run_plan(repo, usage)
    assert {k for k, v in statuses(again).items() if v == "change"} <= {
        ("shop-staging/Deployment/checkout", "api"), ("shop-staging/Deployment/checkout", "envoy"),
    }


def test_the_closed_loop_refuses_a_patch_that_reorders_the_containers(tmp_path: Path, usage: Path) -> None:
    """Kustomize puts a strategic-merge patch's containers first: staging's patch lists the api by
    name before envoy, and without it envoy would become the first container (init containers
    would even run in another order). The re-render check compares the order too."""
    from gitbot.config import load_config
    from gitbot.edit.changeset import FileChange
    from gitbot.edit.verify import ClosedLoop
    from gitbot.load import load_repo

    repo = tmp_path / "repo"
    write_repo(repo)
    result, _ = plan(PlanRequest(repo=repo, metrics_file=usage, at=END))
    loop = ClosedLoop(repo, load_repo(repo, load_config(repo, None)), [e.rec for e in result.entries])
    changes = list(result.changes.files)
    assert loop(changes, result.changes.applied) == {}
    patch = next(c for c in changes if c.path == f"{STAGING}/gitbot-resources.yaml")
    reordering = FileChange(patch.path, patch.before, patch.after.replace("        - name: api\n", ""), created=True)
    failures = loop([reordering if c is patch else c for c in changes], result.changes.applied)
    assert set(failures.values()) == {
        f"re-rendering {STAGING} with the edit: Deployment/checkout containers come in another order: "
        "migrate, log-shipper, envoy, api (was migrate, log-shipper, api, envoy)"
    }
    # staging's containers, and production's whose moved fields come from the base that staging reads
    assert sorted(failures) == [
        (PRODUCTION, "shop-prod/Deployment/checkout", "envoy"),
        (PRODUCTION, "shop-prod/Deployment/checkout", "log-shipper"),
        (PRODUCTION, "shop-prod/Deployment/checkout", "migrate"),
        (STAGING, "shop-staging/Deployment/checkout", "api"),
        (STAGING, "shop-staging/Deployment/checkout", "envoy"),
    ]


def test_a_later_run_adds_a_container_to_the_patch_it_wrote(tmp_path: Path, usage: Path) -> None:
    """With a third overlay (dev, no usage yet) every base line stays shared, so staging's api joins
    envoy in its gitbot-resources.yaml. When staging's log-shipper later needs more than the base
    gives, it goes into the document that run wrote, as an initContainers list before containers,
    with migrate named first so that the init containers keep their order."""
    files = {**FILES, "checkout/overlays/dev/kustomization.yaml": "namespace: shop-dev\nresources:\n  - ../../base\n"}
    repo = tmp_path / "repo"
    write_repo(repo, files)
    _, doc = run_plan(repo, usage, write=True)
    assert {k: v for k, v in statuses(doc).items() if k[0].startswith("shop-dev/")} == {
        ("shop-dev/Deployment/checkout", name): "skipped" for name in ("migrate", "log-shipper", "api", "envoy")
    }
    assert (repo / BASE).read_text() == FILES[BASE]
    busier = {**USAGE, "shop-staging": (1, 1200.0, {**USAGE["shop-staging"][2], "log-shipper": (flat(0.2), flat(200 * MI))})}
    later = tmp_path / "later.om.gz"
    write_usage(later, busier)
    diff, doc = run_plan(repo, later, write=True)
    patch = f"{STAGING}/gitbot-resources.yaml"
    assert [e["file"] for e in doc["edits"]] == [patch]
    assert diff == (
        f"--- a/{patch}\n+++ b/{patch}\n@@ -6,16 +6,26 @@\n"
        " spec:\n"
        "   template:\n"
        "     spec:\n"
        "+      initContainers:\n"
        "+        - name: migrate\n"
        "+        - name: log-shipper\n"
        "+          resources:\n"
        "+            requests:\n"
        "+              cpu: 210m\n"
        "+              memory: 221Mi\n"
        "+            limits:\n"
        "+              memory: 442Mi\n"
        "       containers:\n"
        "         - name: api\n"
        "           resources:\n"
        "             requests:\n"
        "-              cpu: 250m\n"
        "-              memory: 256Mi\n"
        "+              cpu: 125m\n"
        "+              memory: 217Mi\n"  # the p95 the first run's step-down was heading for
        "             limits:\n"
        "-              memory: 512Mi\n"
        "+              cpu: 500m\n"  # the base's "1" for the CPU limit follows the request down (4x)
        "+              memory: 434Mi\n"
        "         - name: envoy\n"
        "           resources:\n"
        "             requests:\n"
        "-              cpu: 100m\n"
        "+              cpu: 50m\n"
        "               memory: 66Mi\n"
    )
    assert "comment-only" not in statuses(doc).values()
    _, again = run_plan(repo, later)
    shipper = next(c for c in again["containers"] if c["workload"] == "shop-staging/Deployment/checkout" and c["container"] == "log-shipper")
    assert shipper["status"] == "unchanged" and shipper["fields"]["cpu_request_m"]["source"]["file"] == patch


# -- the splices behind it --------------------------------------------------------------------------

PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app   # the app
        resources:
          limits:
            memory: 1Gi
"""


def test_a_new_container_item_follows_the_lists_own_dashes() -> None:
    doc = parse_yaml(PATCH, "p.yaml")[0]
    tree = {1: {"name": "envoy", "resources": {"requests": {"cpu": "50m"}}}}
    splice = insert_fields(PATCH, doc, ("spec", "template", "spec", "containers"), tree)
    out = PATCH[: splice.start] + splice.text + PATCH[splice.end:]
    assert out == PATCH + "      - name: envoy\n        resources:\n          requests:\n            cpu: 50m\n"


def test_a_new_init_container_list_goes_before_containers_indented_like_the_file() -> None:
    doc = parse_yaml(PATCH, "p.yaml")[0]
    tree = {"initContainers": {0: {"name": "migrate", "resources": {"limits": {"memory": "64Mi"}}}}}
    splice = insert_fields(PATCH, doc, ("spec", "template", "spec"), tree)
    out = PATCH[: splice.start] + splice.text + PATCH[splice.end:]
    assert out == PATCH.replace(
        "      containers:\n",
        "      initContainers:\n      - name: migrate\n        resources:\n          limits:\n            memory: 64Mi\n      containers:\n",
    )


@pytest.mark.parametrize(
    ("anchor", "tree", "why"),
    [
        (("spec", "template", "spec", "containers"), {2: {"name": "envoy"}}, "new list items must follow the last one (item 1)"),
        (("spec", "template", "spec", "containers"), {1: "envoy"}, "a new list item must be a mapping"),
        (("spec", "template", "spec"), {"volumes": {1: {"name": "data"}}}, "new list items must follow the last one (item 0)"),
    ],
)
def test_list_items_that_would_not_be_appended_are_refused(anchor: tuple[str, ...], tree: dict[Any, Any], why: str) -> None:
    doc = parse_yaml(PATCH, "p.yaml")[0]
    with pytest.raises(CannotEdit, match=why.replace("(", r"\(").replace(")", r"\)")):
        insert_fields(PATCH, doc, anchor, tree)


def test_the_cli_table_has_nothing_left_to_set_apart_by_hand(tmp_path: Path, usage: Path) -> None:
    from click.testing import CliRunner

    from gitbot.cli import main

    repo = tmp_path / "repo"
    write_repo(repo)
    result = CliRunner().invoke(main, ["plan", str(repo), "--metrics-file", str(usage), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["by_status"] == {"change": 6, "unchanged": 1, "comment-only": 0, "skipped": 1}
    assert not [r for c in doc["containers"] for r in c["reasons"] if "by hand" in r]
