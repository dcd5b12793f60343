"""Argo CD Applications that deploy a chart from the repository become Helm releases."""

from __future__ import annotations

from pathlib import Path

import sys

from gitbot.pipeline import PlanRequest, inventory, plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from synth import SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # noqa: E402

END = 1794787200.0

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "resources:\n  requests:\n    cpu: 100m\n    memory: 128Mi\n",
    "charts/web/values-prod.yaml": "replicas: 3\nresources:\n  requests:\n    cpu: 500m\n",
    "charts/web/templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicas | default 1 }}\n"
        "  template:\n    spec:\n      containers:\n        - name: web\n          image: web:1\n"
        "          resources:\n            {{- toYaml .Values.resources | nindent 12 }}\n"
    ),
}
APPS = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-prod
spec:
  destination:
    namespace: web-prod
  source:
    repoURL: https://example.com/gitops.git
    path: charts/web
    helm:
      releaseName: web
      valueFiles: [values-prod.yaml, $values/shared.yaml]
      parameters:
        - name: resources.requests.memory
          value: 256Mi
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: remote
spec:
  destination:
    namespace: other
  source:
    repoURL: https://charts.example.com
    chart: redis
"""


def make_repo(root: Path) -> Path:
    for rel, text in {**CHART, "apps/applications.yaml": APPS}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_application_on_a_chart_in_the_repo_is_rendered_as_its_release(tmp_path):
    doc = inventory(PlanRequest(repo=make_repo(tmp_path)))
    assert [(w["workload"], w["target"]["name"], w["replicas"]) for w in doc["workloads"]] == [
        ("web-prod/Deployment/web", "charts/web@web-prod/web", 3)
    ]
    fields = doc["workloads"][0]["containers"][0]["fields"]
    assert (fields["cpu_request_m"]["current"], fields["cpu_request_m"]["source"]["kind"], fields["cpu_request_m"]["source"]["file"]) == (
        500, "helm-values", "charts/web/values-prod.yaml"
    )
    # the Application's own parameter wins over the files, and is not edited there
    memory = fields["memory_request_bytes"]
    assert (memory["current"], memory["source"]["editable"]) == (256 * 2**20, False)
    assert memory["source"]["not_editable_reason"] == (
        "set inline in the Argo CD Application (apps/applications.yaml: web-prod); edit it there"
    )
    assert doc["skipped_inputs"] == [
        {"path": "apps/applications.yaml", "line": 1, "reason": "Application web-prod: value file '$values/shared.yaml' is in another source; not read"},
        {"path": "apps/applications.yaml", "line": 18, "reason": (
            "Application remote: its source is not a Helm chart in this repository, so it is not followed "
            "(a Kustomize path here is rendered as its own root)"
        )},
    ]


VALUES_OBJECT_APP = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-staging
spec:
  destination:
    namespace: web-staging
  sources:
    - repoURL: https://example.com/gitops.git
      path: charts/web
      helm:
        releaseName: web
        valuesObject:
          replicas: 2
          resources:
            requests:
              cpu: 300m
        parameters:
          - name: resources.requests.memory
            value: 200Mi
"""


def test_values_object_of_an_application_is_edited_in_place(tmp_path):
    """helm.valuesObject is YAML in the Application: a key it sets is edited there; a key only the
    chart sets is inserted there too (the release's own place, not the chart defaults shared by every
    Application); a key a parameter sets stays comment-only."""
    root = make_repo(tmp_path)
    (root / "apps/applications.yaml").write_text(VALUES_OBJECT_APP)
    doc = inventory(PlanRequest(repo=root))
    assert [w["target"]["name"] for w in doc["workloads"]] == ["charts/web@web-staging/web"]
    fields = doc["workloads"][0]["containers"][0]["fields"]
    rows = {k: (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["line"], f["source"]["yaml_path"], f["source"]["not_editable_reason"]) for k, f in fields.items()}
    assert rows == {
        "cpu_request_m": (300, "argocd-values", "apps/applications.yaml", 17, "spec.sources[0].helm.valuesObject.resources.requests.cpu", None),
        "memory_request_bytes": (200 * 2**20, "helm-template", "charts/web/templates/deployment.yaml", None, None,
                                 "set inline in the Argo CD Application (apps/applications.yaml: web-staging); edit it there"),
        "cpu_limit_m": (None, "argocd-values", "apps/applications.yaml", 16, "spec.sources[0].helm.valuesObject.resources.limits.cpu", None),
        "memory_limit_bytes": (None, "argocd-values", "apps/applications.yaml", 16, "spec.sources[0].helm.valuesObject.resources.limits.memory", None),
    }


def test_values_object_edit_is_written_and_verified(tmp_path):
    root = make_repo(tmp_path / "repo")
    app = VALUES_OBJECT_APP.replace("        parameters:\n          - name: resources.requests.memory\n            value: 200Mi\n", "")
    (root / "apps/applications.yaml").write_text(app)
    snapshot = tmp_path / "usage.om.gz"
    container = SimpleContainer("web", 300, 128 * 2**20, None, None)
    write_snapshot(scenario_for([SimpleWorkload("web-staging", "Deployment", "web", 2, [container])], END), snapshot)
    result, doc = plan(PlanRequest(repo=root, metrics_file=snapshot, at=END, write=True))
    assert result.written and [e["file"] for e in doc["edits"]] == ["apps/applications.yaml"]
    # cpu replaced where valuesObject sets it; memory (only the chart's 128Mi) inserted beside it
    assert (root / "apps/applications.yaml").read_text().splitlines()[13:] == [
        "          replicas: 2",
        "          resources:",
        "            requests:",
        "              cpu: 150m",
        "              memory: 76Mi",
        "            limits:",
        "              memory: 82Mi",
    ]
    _, again = plan(PlanRequest(repo=root, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0


APPSET = """apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: web
spec:
  goTemplate: true
  generators:
    - list:
        elements:
          - env: staging
            replicas: "1"
          - env: prod
            replicas: "3"
    - clusters: {}
  template:
    metadata:
      name: "web-{{.env}}"
    spec:
      destination:
        namespace: "web-{{.env}}"
      source:
        repoURL: https://example.com/gitops.git
        path: charts/web
        helm:
          releaseName: web
          valueFiles: ["values-{{.env}}.yaml"]
          valuesObject:
            replicas: "{{.replicas}}"
"""


def test_an_application_set_list_generator_becomes_one_release_per_element(tmp_path):
    root = make_repo(tmp_path)
    (root / "charts/web/values-staging.yaml").write_text("resources:\n  requests:\n    cpu: 50m\n")
    (root / "charts/web/values-prod.yaml").write_text("resources:\n  requests:\n    cpu: 500m\n")
    (root / "apps/applications.yaml").write_text(APPSET)
    doc = inventory(PlanRequest(repo=root))
    rows = [
        (w["workload"], w["replicas"], w["containers"][0]["fields"]["cpu_request_m"]["current"],
         w["containers"][0]["fields"]["cpu_request_m"]["source"]["file"])
        for w in doc["workloads"]
    ]
    # each element's value file is edited; the template's valuesObject is shared by all elements
    assert rows == [
        ("web-staging/Deployment/web", 1, 50, "charts/web/values-staging.yaml"),
        ("web-prod/Deployment/web", 3, 500, "charts/web/values-prod.yaml"),
    ]
    assert doc["skipped_inputs"] == [{
        "path": "apps/applications.yaml", "line": 1,
        "reason": "ApplicationSet web: the clusters generator is not followed (only list); point gitbot at the source paths",
    }]
