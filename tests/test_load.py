"""Discovery and rendering against real files, real `kubectl kustomize` and the in-process Helm SDK."""

from __future__ import annotations

from pathlib import Path

from gitbot.config import Config, load_config
from gitbot.load import load_repo
from gitbot.load.discover import discover
from gitbot.model import SourceKind, TargetKind

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"


def make(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_discover_demo_repo() -> None:
    found = discover(DEMO, load_config(DEMO, None))
    assert found.plain_files == [
        "apps/cart/deployment.yaml",
        "apps/image-resizer/deployment.yaml",
        "apps/legacy-admin/deployment.yaml",
        "apps/node-agent/daemonset.yaml",
        "apps/reports/cronjob.yaml",
        "apps/storefront/deployment.yaml",
        "apps/storefront/hpa.yaml",
    ]
    assert found.kustomize_roots == [
        "platform/checkout/overlays/production",
        "platform/checkout/overlays/staging",
        "platform/pricing-engine/overlays/production",
    ]
    assert found.charts == ["charts/search"]
    assert sorted(found.kustomizations["platform/checkout/overlays/production"].files) == [
        "platform/checkout/overlays/production/api-resources.yaml"
    ]
    assert found.kustomizations["platform/checkout/overlays/production"].children == ["platform/checkout/base"]


def test_load_demo_repo_objects_and_origins() -> None:
    result = load_repo(DEMO, load_config(DEMO, None))
    assert result.skipped == ()
    names = sorted((o.target.name, o.kind, o.name) for o in result.objects)
    assert names == [
        ("apps/cart/deployment.yaml", "Deployment", "cart"),
        ("apps/image-resizer/deployment.yaml", "Deployment", "image-resizer"),
        ("apps/legacy-admin/deployment.yaml", "Deployment", "legacy-admin"),
        ("apps/node-agent/daemonset.yaml", "DaemonSet", "node-agent"),
        ("apps/reports/cronjob.yaml", "CronJob", "nightly-report"),
        ("apps/storefront/deployment.yaml", "Deployment", "storefront"),
        ("apps/storefront/deployment.yaml", "Service", "storefront"),
        ("apps/storefront/hpa.yaml", "HorizontalPodAutoscaler", "storefront"),
        ("charts/search@search-prod/search", "Deployment", "search-gateway"),
        ("charts/search@search-prod/search", "Service", "search-gateway"),
        ("charts/search@search-prod/search", "StatefulSet", "search-index"),
        ("charts/search@search-staging/search", "Deployment", "search-gateway"),
        ("charts/search@search-staging/search", "Service", "search-gateway"),
        ("charts/search@search-staging/search", "StatefulSet", "search-index"),
        ("platform/checkout/overlays/production", "Deployment", "checkout"),
        ("platform/checkout/overlays/production", "Service", "checkout"),
        ("platform/checkout/overlays/staging", "Deployment", "checkout"),
        ("platform/checkout/overlays/staging", "Service", "checkout"),
        ("platform/pricing-engine/overlays/production", "Deployment", "pricing-engine"),
    ]
    prod = next(o for o in result.objects if o.target.name == "platform/checkout/overlays/production" and o.kind == "Deployment")
    assert prod.source.file == "platform/checkout/base/deployment.yaml"
    assert prod.source.kind is SourceKind.BASE
    assert prod.patched_by == ("platform/checkout/overlays/production/kustomization.yaml",)
    assert prod.data["metadata"] == {"name": "checkout", "namespace": "shop-prod", "labels": {"app.kubernetes.io/part-of": "checkout"}}
    assert prod.data["spec"]["replicas"] == 3
    staging = next(o for o in result.objects if o.target.name == "platform/checkout/overlays/staging" and o.kind == "Deployment")
    assert staging.patched_by == ()
    storefront = next(o for o in result.objects if o.name == "storefront" and o.kind == "Deployment")
    assert (storefront.source.file, storefront.source.line, storefront.source.kind) == ("apps/storefront/deployment.yaml", 2, SourceKind.PLAIN)
    index = next(o for o in result.objects if o.target.namespace == "search-prod" and o.kind == "StatefulSet")
    assert index.source.file == "charts/search/templates/statefulset.yaml"
    assert index.data["spec"]["replicas"] == 3
    assert index.data["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"memory": "4Gi"},
    }
    assert sorted(result.files) == [
        "apps/cart/deployment.yaml",
        "apps/image-resizer/deployment.yaml",
        "apps/legacy-admin/deployment.yaml",
        "apps/node-agent/daemonset.yaml",
        "apps/reports/cronjob.yaml",
        "apps/storefront/deployment.yaml",
        "apps/storefront/hpa.yaml",
        "charts/search/values-production.yaml",  # each release's values file, read for edits
        "charts/search/values-staging.yaml",
        "platform/checkout/base/deployment.yaml",
        "platform/checkout/base/service.yaml",
        "platform/checkout/overlays/production/api-resources.yaml",  # a patch file, read for edits
        "platform/pricing-engine/base/deployment.yaml",
    ]


def test_bad_inputs_are_skipped_with_reasons(tmp_path: Path) -> None:
    repo = make(
        tmp_path,
        {
            "good.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
            "broken.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [}\n",
            "template.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n",
            "notes.yaml": "just: some\nsettings: here\n",
            "list.yaml": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: q}\n",
            "latin1.yaml": "",
            "bad-kustomize/kustomization.yaml": "resources: [missing.yaml]\n",
        },
    )
    (repo / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    result = load_repo(repo, Config())
    assert sorted((o.target.path, o.name) for o in result.objects) == [("good.yaml", "p"), ("list.yaml", "q")]
    q = next(o for o in result.objects if o.name == "q")
    assert q.source.yaml_path == ("items", 0) and q.source.line == 4
    reasons = {s.path: (s.line, s.reason) for s in result.skipped}
    assert reasons["broken.yaml"] == (3, "invalid YAML: expected the node content, but found '}'")
    assert reasons["template.yaml"] == (None, "Go/Helm template outside a chart; not rendered")
    assert reasons["notes.yaml"] == (None, "no Kubernetes objects")
    assert reasons["latin1.yaml"] == (1, "not UTF-8 text (byte 0xe9)")
    assert reasons["bad-kustomize/kustomization.yaml"] == (
        None, "names bad-kustomize/missing.yaml, which does not exist; bad-kustomize not rendered")


def test_symlink_outside_repo_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link.yaml").symlink_to(outside / "secret.yaml")
    (repo / "linkdir").symlink_to(outside)
    result = load_repo(repo, Config())
    assert result.objects == ()
    assert sorted((s.path, s.reason) for s in result.skipped) == [
        ("link.yaml", "symlink points outside the repository; not read"),
        ("linkdir", "symlink points outside the repository; not followed"),
    ]


def test_kustomize_name_prefix_and_generated_objects(tmp_path: Path) -> None:
    repo = make(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deploy.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [a=b]\n",
            "base/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: x\n",
            "prod/kustomization.yaml": "namePrefix: prod-\nresources: [../base]\n",
        },
    )
    result = load_repo(repo, Config())
    assert [t.path for t in result.targets] == ["prod"]
    deploy = next(o for o in result.objects if o.kind == "Deployment")
    assert deploy.name == "prod-api"
    assert (deploy.source.file, deploy.source.kind, deploy.source.line) == ("base/deploy.yaml", SourceKind.BASE, 1)
    cm = next(o for o in result.objects if o.kind == "ConfigMap")
    assert cm.source.kind is SourceKind.UNKNOWN and cm.source.file == "base/kustomization.yaml"


def test_helm_chart_without_release_config_renders_with_defaults(tmp_path: Path) -> None:
    repo = make(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
            "chart/values.yaml": "cpu: 100m\n",
            "chart/templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-pod\nspec:\n  containers:\n  - name: c\n    resources:\n      requests:\n        cpu: {{ .Values.cpu }}\n",
            "chart/templates/test.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n",
        },
    )
    result = load_repo(repo, Config())
    assert [(t.kind, t.name, t.release) for t in result.targets] == [(TargetKind.HELM, "chart@chart", "chart")]
    assert [(o.name, o.source.file) for o in result.objects] == [("chart-pod", "chart/templates/pod.yaml")]
