"""Argo CD Applications that deploy a chart from the repository become Helm releases."""

from __future__ import annotations

from pathlib import Path

from gitbot.pipeline import PlanRequest, inventory

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
