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
        {"path": "apps/applications.yaml", "line": 1, "reason": "Application web-prod: value file '$values/shared.yaml' names no source with ref 'values'; not read"},
        {"path": "apps/applications.yaml", "line": 18, "reason": (
            "Application remote: chart redis from https://charts.example.com is not in the repository, and pulling charts is off; "
            "its workloads are not sized"
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
        "              memory: 66Mi",
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
        "reason": "ApplicationSet web: the clusters generator is not followed (only list, git and matrix of those); point gitbot at the source paths",
    }]


# -- app-of-apps: an Applications chart, Kustomize / directory / Helm sources, another repository --

APP_OF_APPS = {
    "apps/Chart.yaml": "apiVersion: v2\nname: apps\nversion: 0.1.0\n",
    "apps/values.yaml": "repoURL: https://github.com/acme/gitops.git\nenv: prod\n",
    "apps/templates/guestbook.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: guestbook\n  namespace: argocd\nspec:\n"
        "  destination:\n    namespace: guestbook\n    server: https://kubernetes.default.svc\n"
        "  source:\n    repoURL: {{ .Values.repoURL }}\n    path: guestbook\n    targetRevision: HEAD\n"
    ),
    "apps/templates/jobs.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: jobs\n  namespace: argocd\nspec:\n"
        "  destination:\n    namespace: batch\n"
        "  source:\n    repoURL: git@github.com:acme/gitops\n    path: manifests/jobs\n"
    ),
    "apps/templates/web.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web-{{ .Values.env }}\n  namespace: argocd\nspec:\n"
        "  destination:\n    namespace: web-{{ .Values.env }}\n"
        "  source:\n    repoURL: {{ .Values.repoURL }}\n    path: charts/web\n    helm:\n      releaseName: web\n"
        "      valueFiles: [values-prod.yaml]\n"
    ),
    "apps/templates/podinfo.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: podinfo\n  namespace: argocd\nspec:\n"
        "  destination:\n    namespace: podinfo\n"
        "  sources:\n"
        "    - repoURL: https://stefanprodan.github.io/podinfo\n      chart: podinfo\n      targetRevision: 6.x\n"
        "      helm:\n        valueFiles: [$values/envs/prod/podinfo.yaml]\n"
        "    - repoURL: https://github.com/acme/gitops\n      targetRevision: main\n      ref: values\n"
    ),
    "apps/templates/external.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: vendor-guestbook\n  namespace: argocd\nspec:\n"
        "  destination:\n    namespace: vendor\n"
        "  source:\n    repoURL: https://github.com/vendor/deploy.git\n    path: guestbook\n"
    ),
    "guestbook/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "guestbook/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: ui\n          image: gcr.io/heptio-images/ks-guestbook-demo:0.2\n"
        "          resources:\n            requests:\n              cpu: 100m\n              memory: 64Mi\n"
    ),
    "manifests/jobs/cleanup.yaml": (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cleanup\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n"
        "      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n            - name: cleanup\n"
        "              image: busybox:1.36\n              resources:\n                requests:\n                  cpu: 50m\n"
    ),
    "envs/prod/podinfo.yaml": "replicaCount: 2\nresources:\n  requests:\n    cpu: 250m\n    memory: 96Mi\n",
}


def make_app_of_apps(root: Path, world) -> Path:
    import git

    make_repo(root)
    (root / "apps/applications.yaml").unlink()
    for rel, text in APP_OF_APPS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / ".gitbot.yaml").write_text(f"helm:\n  mirrors:\n    https://stefanprodan.github.io/podinfo: {world.mirrors['https://stefanprodan.github.io/podinfo']}\n")
    repo = git.Repo.init(root)
    repo.create_remote("origin", "https://github.com/acme/gitops.git")
    return root


def test_an_app_of_apps_chart_is_followed_to_every_kind_of_source(tmp_path, chart_world):
    root = make_app_of_apps(tmp_path / "gitops", chart_world)
    doc = inventory(PlanRequest(repo=root, chart_cache=tmp_path / "charts"))
    rows = [
        (w["workload"], w["target"]["name"], [(c["name"], c["fields"]["cpu_request_m"]["current"], c["fields"]["cpu_request_m"]["source"]["file"],
                                               c["fields"]["cpu_request_m"]["source"]["editable"]) for c in w["containers"]])
        for w in doc["workloads"]
    ]
    assert rows == [
        # the Kustomize root, its objects placed in the Application's destination namespace
        ("guestbook/Deployment/guestbook-ui", "guestbook (apps/templates/guestbook.yaml: guestbook)",
         [("ui", 100, "guestbook/deployment.yaml", True)]),
        # a plain directory (repoURL written scp-style: the same repository)
        ("batch/CronJob/cleanup", "manifests/jobs/cleanup.yaml (apps/templates/jobs.yaml: jobs)",
         [("cleanup", 50, "manifests/jobs/cleanup.yaml", True)]),
        # a chart from a Helm repository, its values in this repository through the ref source ($values)
        ("podinfo/Deployment/podinfo", "podinfo:6.14.1@podinfo/podinfo (apps/templates/podinfo.yaml: podinfo)",
         [("podinfo", 250, "envs/prod/podinfo.yaml", True)]),
        # the chart in this repository, with the Application's value file
        ("web-prod/Deployment/web", "charts/web@web-prod/web", [("web", 500, "charts/web/values-prod.yaml", True)]),
    ]
    assert [(t["name"], t["status"], t["detail"]) for t in doc["targets"] if t["kind"] != "plain" or t["declared_kind"]] == [
        ("apps@apps", "rendered", None),  # nothing deploys the app-of-apps chart: its defaults
        ("apps/templates/external.yaml: vendor-guestbook", "skipped",
         "Application vendor-guestbook: source 'guestbook' is in another repository (https://github.com/vendor/deploy.git); not rendered"),
        ("guestbook (apps/templates/guestbook.yaml: guestbook)", "rendered", None),
        ("manifests/jobs/cleanup.yaml (apps/templates/jobs.yaml: jobs)", "rendered", None),
        ("podinfo:6.14.1@podinfo/podinfo (apps/templates/podinfo.yaml: podinfo)", "pulled",
         f"pulled podinfo 6.14.1 from {chart_world.mirrors['https://stefanprodan.github.io/podinfo']}"),
        ("charts/web@web-prod/web", "rendered", None),
    ]
    assert doc["coverage"]["applications"] == {"rendered": 4, "total": 5}
    assert doc["skipped_inputs"] == [{
        "path": "apps/templates/external.yaml", "line": None,
        "reason": "Application vendor-guestbook: source 'guestbook' is in another repository (https://github.com/vendor/deploy.git); not rendered",
    }]


def test_a_path_application_for_another_repository_is_not_rendered_from_a_local_directory(tmp_path):
    import git

    root = make_repo(tmp_path)
    (root / "apps/applications.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  destination:\n    namespace: web\n"
        "  source:\n    repoURL: https://github.com/someone/else\n    path: charts/web\n"
    )
    git.Repo.init(root).create_remote("origin", "git@github.com:acme/gitops.git")
    doc = inventory(PlanRequest(repo=root))
    # the chart here is rendered with its own defaults (nothing in this repository deploys it)
    assert [(w["workload"], w["target"]["name"]) for w in doc["workloads"]] == [("default/Deployment/web", "charts/web@web")]
    (root / ".gitbot.yaml").write_text("repository_urls: [https://github.com/someone/else.git]\n")
    doc = inventory(PlanRequest(repo=root))
    assert [(w["workload"], w["target"]["name"]) for w in doc["workloads"]] == [("web/Deployment/web", "charts/web@web/web")]


def test_application_set_git_and_matrix_generators_expand_from_this_repository(tmp_path):
    root = make_repo(tmp_path)
    for env, cpu in (("staging", "50m"), ("prod", "500m")):
        (root / f"envs/{env}").mkdir(parents=True)
        (root / f"envs/{env}/config.yaml").write_text(f"cluster:\n  name: {env}-eu\n")
        (root / f"charts/web/values-{env}.yaml").write_text(f"resources:\n  requests:\n    cpu: {cpu}\n")
    (root / "apps/applications.yaml").write_text("""apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: web
spec:
  generators:
    - matrix:
        generators:
          - git:
              repoURL: https://example.com/gitops.git
              revision: HEAD
              files:
                - path: "envs/*/config.yaml"
          - list:
              elements:
                - app: web
  template:
    metadata:
      name: "{{app}}-{{path.basename}}"
    spec:
      destination:
        namespace: "{{cluster.name}}"
      source:
        repoURL: https://example.com/gitops.git
        path: charts/{{app}}
        helm:
          releaseName: web
          valueFiles: ["values-{{path.basename}}.yaml"]
""")
    doc = inventory(PlanRequest(repo=root))
    assert [(w["workload"], w["containers"][0]["fields"]["cpu_request_m"]["current"]) for w in doc["workloads"]] == [
        ("prod-eu/Deployment/web", 500), ("staging-eu/Deployment/web", 50),
    ]
    assert doc["skipped_inputs"] == []


def test_a_pulled_chart_of_an_application_is_edited_in_its_values_object(tmp_path, chart_world):
    root = tmp_path / "repo"
    (root / "apps").mkdir(parents=True)
    (root / "apps/podinfo.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: podinfo\n  namespace: argocd\nspec:\n"
        "  destination:\n    namespace: podinfo\n"
        "  source:\n    repoURL: ghcr.io/stefanprodan/charts\n    chart: podinfo\n    targetRevision: 6.14.1\n"
        "    helm:\n      valuesObject:\n        resources:\n          requests:\n            cpu: 300m\n"
    )
    (root / ".gitbot.yaml").write_text(f"helm:\n  mirrors:\n    oci://ghcr.io/stefanprodan/charts: {chart_world.mirrors['oci://ghcr.io/stefanprodan/charts']}\n")
    cache = tmp_path / "charts"
    doc = inventory(PlanRequest(repo=root, chart_cache=cache))
    [web] = [w for w in doc["workloads"] if w["workload"] == "podinfo/Deployment/podinfo"]
    assert web["target"]["name"] == "podinfo:6.14.1@podinfo/podinfo (apps/podinfo.yaml: podinfo)"
    fields = web["containers"][0]["fields"]
    rows = {k: (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["line"], f["source"]["yaml_path"]) for k, f in fields.items()}
    assert rows == {
        # replaced where valuesObject sets it; the chart's other defaults (16Mi, no limits) inserted beside it
        "cpu_request_m": (300, "argocd-values", "apps/podinfo.yaml", 17, "spec.source.helm.valuesObject.resources.requests.cpu"),
        "memory_request_bytes": (16 * 2**20, "argocd-values", "apps/podinfo.yaml", 17, "spec.source.helm.valuesObject.resources.requests.memory"),
        "cpu_limit_m": (None, "argocd-values", "apps/podinfo.yaml", 16, "spec.source.helm.valuesObject.resources.limits.cpu"),
        "memory_limit_bytes": (None, "argocd-values", "apps/podinfo.yaml", 16, "spec.source.helm.valuesObject.resources.limits.memory"),
    }
    snapshot = tmp_path / "usage.om.gz"
    container = SimpleContainer("podinfo", 300, 128 * 2**20, None, None)
    write_snapshot(scenario_for([SimpleWorkload("podinfo", "Deployment", "podinfo", 1, [container])], END), snapshot)
    result, doc = plan(PlanRequest(repo=root, metrics_file=snapshot, at=END, write=True, chart_cache=cache))
    assert result.written and [e["file"] for e in doc["edits"]] == ["apps/podinfo.yaml"]
    _, again = plan(PlanRequest(repo=root, metrics_file=snapshot, at=END, chart_cache=cache))
    assert again["summary"]["by_status"]["change"] == 0


VALUES_TEXT_APP = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-staging
spec:
  destination:
    namespace: web-staging
  source:
    repoURL: https://example.com/gitops.git
    path: charts/web
    helm:
      values: |
        replicas: 2
        resources:
          requests:
            cpu: 300m
"""


def test_keys_the_values_text_of_an_application_sets_are_edited_inside_it(tmp_path):
    """helm.values is YAML in a block of text: a key it sets is edited inside the text (and verified
    by rendering with the edited text); a key it does not set goes where it would without it."""
    root = make_repo(tmp_path / "repo")
    (root / "apps/applications.yaml").write_text(VALUES_TEXT_APP)
    doc = inventory(PlanRequest(repo=root))
    fields = doc["workloads"][0]["containers"][0]["fields"]
    rows = {k: (f["current"], f["source"]["kind"], f["source"]["file"], f["source"]["line"], f["source"]["editable"]) for k, f in fields.items()}
    assert rows == {
        "cpu_request_m": (300, "argocd-values", "apps/applications.yaml", 16, True),
        "memory_request_bytes": (128 * 2**20, "helm-values", "charts/web/values.yaml", 4, True),
        "cpu_limit_m": (None, "helm-values", "charts/web/values.yaml", 2, True),
        "memory_limit_bytes": (None, "helm-values", "charts/web/values.yaml", 2, True),
    }
    snapshot = tmp_path / "usage.om.gz"
    container = SimpleContainer("web", 300, 128 * 2**20, None, None)
    write_snapshot(scenario_for([SimpleWorkload("web-staging", "Deployment", "web", 2, [container])], END), snapshot)
    result, doc = plan(PlanRequest(repo=root, metrics_file=snapshot, at=END, write=True))
    assert result.written and [e["file"] for e in doc["edits"]] == ["apps/applications.yaml", "charts/web/values.yaml"]
    assert (root / "apps/applications.yaml").read_text().splitlines()[12:] == [
        "        replicas: 2",
        "        resources:",
        "          requests:",
        "            cpu: 150m",
    ]
    _, again = plan(PlanRequest(repo=root, metrics_file=snapshot, at=END))
    assert again["summary"]["by_status"]["change"] == 0
