"""The remote-chart harness itself (tests/chart_servers.py): the HTTP chart repository's index,
request log, basic auth and injected failures; the OCI registry's push/pull/tags/resolve, htpasswd
auth, access log and restart; and the chart world's contents, mirrors and real charts."""

from __future__ import annotations

import tarfile
import urllib.error
from collections.abc import Callable
from pathlib import Path

import chart_servers as cs
import helm_python as helm
import pytest
from chart_servers import ChartRepoServer, ChartWorld, OciRegistry

PODINFO_ARCHIVE = "podinfo-6.14.1.tgz"


def index_versions(index: dict[str, object]) -> dict[str, list[str]]:
    entries = index["entries"]
    assert isinstance(entries, dict)
    return {name: [entry["version"] for entry in versions] for name, versions in entries.items()}


def archive_names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


@pytest.fixture
def podinfo_repo(chart_repo_factory: Callable[..., ChartRepoServer]) -> ChartRepoServer:
    """A root repository with podinfo 6.14.1 and 6.0.0."""
    repo = chart_repo_factory()
    repo.add_chart(cs.PODINFO_CHART)
    repo.add_chart(cs.PODINFO_CHART, version="6.0.0")
    return repo


# -- the HTTP chart repository --------------------------------------------------------------------


def test_the_index_lists_each_chart_version_with_its_url_and_digest(podinfo_repo: ChartRepoServer) -> None:
    index = helm.repo_index(podinfo_repo.url)
    assert index_versions(index) == {"podinfo": ["6.14.1", "6.0.0"]}
    newest = index["entries"]["podinfo"][0]  # type: ignore[index]
    assert newest["urls"] == [f"{podinfo_repo.url}/{PODINFO_ARCHIVE}"]
    assert "sha256:" + newest["digest"] == helm.digest(podinfo_repo.directory / PODINFO_ARCHIVE)
    assert podinfo_repo.request_lines() == ["GET /index.yaml"]


def test_a_pull_reads_the_index_then_the_archive(podinfo_repo: ChartRepoServer, tmp_path: Path) -> None:
    helm.pull("podinfo", repo_url=podinfo_repo.url, destination=tmp_path, version="6.14.1")
    assert helm.digest(tmp_path / PODINFO_ARCHIVE) == helm.digest(podinfo_repo.directory / PODINFO_ARCHIVE)
    assert podinfo_repo.requests == [
        cs.HttpRequest("GET", "/index.yaml", None),
        cs.HttpRequest("GET", f"/{PODINFO_ARCHIVE}", None),
    ]


def test_a_semver_range_picks_the_newest_match(podinfo_repo: ChartRepoServer, tmp_path: Path) -> None:
    helm.pull("podinfo", repo_url=podinfo_repo.url, destination=tmp_path, version="<6.14")
    assert [p.name for p in tmp_path.iterdir()] == ["podinfo-6.0.0.tgz"]
    assert podinfo_repo.request_lines() == ["GET /index.yaml", "GET /podinfo-6.0.0.tgz"]


def test_sub_path_repositories_have_their_own_index(chart_repo_factory: Callable[..., ChartRepoServer]) -> None:
    repo = chart_repo_factory()
    repo.add_chart(cs.PODINFO_CHART, repo="a/podinfo")
    repo.add_chart(cs.BJW_S_CHARTS / "library" / "common", repo="b")
    assert index_versions(helm.repo_index(repo.repo_url("a/podinfo"))) == {"podinfo": ["6.14.1"]}
    assert index_versions(helm.repo_index(repo.repo_url("b"))) == {"common": ["4.1.1"]}
    assert repo.request_lines() == ["GET /a/podinfo/index.yaml", "GET /b/index.yaml"]
    with pytest.raises(ValueError, match="not both"):
        repo.add_chart(cs.PODINFO_CHART)


def test_basic_auth_refuses_without_the_credentials(chart_repo_factory: Callable[..., ChartRepoServer], tmp_path: Path) -> None:
    repo = chart_repo_factory(username="reader", password="s3cret")
    repo.add_chart(cs.PODINFO_CHART)
    with pytest.raises(urllib.error.HTTPError) as refused:
        cs.local_open(f"{repo.url}/index.yaml", timeout=5)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"] == 'Basic realm="gitbot chart repository"'
    with pytest.raises(helm.HelmError):
        helm.pull("podinfo", repo_url=repo.url, destination=tmp_path, version="6.14.1")
    with pytest.raises(helm.HelmError):
        helm.pull("podinfo", repo_url=repo.url, destination=tmp_path, version="6.14.1", username="reader", password="wrong")
    assert [p.name for p in tmp_path.iterdir()] == []

    repo.clear_requests()
    helm.pull("podinfo", repo_url=repo.url, destination=tmp_path, version="6.14.1", username="reader", password="s3cret")
    assert [p.name for p in tmp_path.iterdir()] == [PODINFO_ARCHIVE]
    credentials = cs.basic_auth("reader", "s3cret")
    assert repo.requests == [
        cs.HttpRequest("GET", "/index.yaml", credentials),
        cs.HttpRequest("GET", f"/{PODINFO_ARCHIVE}", credentials),
    ]


def test_injected_failures_and_a_closed_server(podinfo_repo: ChartRepoServer, tmp_path: Path) -> None:
    podinfo_repo.fail("/index.yaml", 503)
    with pytest.raises(helm.HelmError, match="503"):
        helm.pull("podinfo", repo_url=podinfo_repo.url, destination=tmp_path, version="6.14.1")
    podinfo_repo.clear_failures()
    helm.pull("podinfo", repo_url=podinfo_repo.url, destination=tmp_path, version="6.14.1")
    assert podinfo_repo.request_lines() == ["GET /index.yaml", "GET /index.yaml", f"GET /{PODINFO_ARCHIVE}"]

    podinfo_repo.close()
    with pytest.raises(urllib.error.URLError):
        cs.local_open(f"{podinfo_repo.url}/index.yaml", timeout=5)


# -- the OCI registry -----------------------------------------------------------------------------


def test_push_tags_resolve_and_pull(oci_registry_factory: Callable[..., OciRegistry], tmp_path: Path) -> None:
    registry = oci_registry_factory()
    newest = cs.package_chart(cs.PODINFO_CHART, tmp_path / "built")
    older = cs.package_chart(cs.PODINFO_CHART, tmp_path / "built", version="6.0.0")
    assert helm.push(newest, registry.ref("stefanprodan/charts"), plain_http=True) == {"output": ""}
    assert registry.push(older, "stefanprodan/charts") == registry.ref("stefanprodan/charts/podinfo:6.0.0")

    chart = registry.ref("stefanprodan/charts/podinfo")
    with helm.RegistryClient(plain_http=True, credentials_file=tmp_path / "creds.json") as client:
        assert client.tags(chart) == ["6.14.1", "6.0.0"]
        manifest = client.resolve(chart + ":6.14.1")
        assert manifest["media_type"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["digest"].startswith("sha256:")
        registry.clear_requests()
        (tmp_path / "pulled").mkdir()
        client.pull(chart, destination=tmp_path / "pulled", version="6.14.1")
    assert helm.digest(tmp_path / "pulled" / PODINFO_ARCHIVE) == helm.digest(newest)
    lines = registry.request_lines()
    assert lines[0] == "GET /v2/stefanprodan/charts/podinfo/manifests/6.14.1 200"
    assert sorted(line.rsplit("/", 1)[0] for line in lines[1:]) == ["GET /v2/stefanprodan/charts/podinfo/blobs"] * 2


def test_htpasswd_auth_refuses_anonymous_clients(oci_registry_factory: Callable[..., OciRegistry], tmp_path: Path) -> None:
    registry = oci_registry_factory(username="pusher", password="pa55")
    with pytest.raises(urllib.error.HTTPError) as refused:
        cs.local_open(f"{registry.url}/v2/", timeout=5)
    assert refused.value.code == 401
    archive = cs.package_chart(cs.PODINFO_CHART, tmp_path / "built")
    with pytest.raises(helm.HelmRegistryError):
        helm.push(archive, registry.ref("charts"), plain_http=True)
    with helm.RegistryClient(plain_http=True, credentials_file=tmp_path / "creds.json") as client:
        with pytest.raises(helm.HelmRegistryError):
            client.login(registry.host, "pusher", "wrong", plain_http=True)

    assert registry.push(archive, "charts") == registry.ref("charts/podinfo:6.14.1")
    with registry.client() as client:
        assert client.tags(registry.ref("charts/podinfo")) == ["6.14.1"]
    with helm.RegistryClient(plain_http=True, credentials_file=tmp_path / "creds.json") as anonymous:
        with pytest.raises(helm.HelmError):
            anonymous.tags(registry.ref("charts/podinfo"))
        registry.clear_requests()
        anonymous.login(registry.host, "pusher", "pa55", plain_http=True)
        (tmp_path / "pulled").mkdir()
        anonymous.pull(registry.ref("charts/podinfo"), destination=tmp_path / "pulled", version="6.14.1")
    assert (tmp_path / "pulled" / PODINFO_ARCHIVE).is_file()
    assert registry.requests[:2] == [cs.RegistryRequest("GET", "/v2/", 401), cs.RegistryRequest("GET", "/v2/", 200)]


def test_a_stopped_registry_comes_back_on_the_same_port_with_its_data(
        oci_registry_factory: Callable[..., OciRegistry], tmp_path: Path) -> None:
    registry = oci_registry_factory()
    registry.push(cs.package_chart(cs.PODINFO_CHART, tmp_path), "charts")
    port = registry.port
    registry.stop()
    with helm.RegistryClient(plain_http=True, credentials_file=tmp_path / "creds.json") as client:
        with pytest.raises(helm.HelmError):
            client.tags(registry.ref("charts/podinfo"))
        registry.start()
        assert registry.port == port
        assert client.tags(registry.ref("charts/podinfo")) == ["6.14.1"]


# -- packaging helpers ----------------------------------------------------------------------------


def test_package_refuses_an_unbuilt_dependency_and_package_unbuilt_does_not(tmp_path: Path) -> None:
    redis = cs.BITNAMI_CHARTS / "redis"
    with pytest.raises(helm.HelmChartInvalidError, match="missing in charts/ directory: common"):
        helm.package(redis, destination=tmp_path)
    archive = cs.package_unbuilt(redis, tmp_path)
    assert archive.name == "redis-23.1.1.tgz"
    names = archive_names(archive)
    assert "redis/Chart.lock" in names and not any(n.startswith("redis/charts/") for n in names)
    assert helm.dependency_list(redis) == [
        {"name": "common", "version": "2.x.x", "repository": "oci://registry-1.docker.io/bitnamicharts", "status": "missing"}]


def test_without_schemas_strips_the_chart_and_its_subcharts(tmp_path: Path) -> None:
    common = cs.package_chart(cs.BJW_S_CHARTS / "library" / "common", tmp_path / "built")
    app_template = cs.package_vendored(cs.BJW_S_CHARTS / "other" / "app-template", tmp_path / "built", [common],
                                       workdir=tmp_path / "sources")
    stripped = cs.without_schemas(app_template, tmp_path)
    schemas = {"app-template/values.schema.json", "app-template/charts/common/values.schema.json"}
    assert schemas <= set(archive_names(app_template))
    assert archive_names(stripped) == [n for n in archive_names(app_template) if n not in schemas]

    packed = tmp_path / "x.tgz"  # a subchart kept as an archive in charts/ loses its schemas too
    with tarfile.open(packed, "w:gz") as tar:
        for name in ("Chart.yaml", "values.yaml", "values.schema.json"):  # contents do not matter
            tar.add(cs.PODINFO_CHART / "Chart.yaml", f"x/{name}")
        tar.add(app_template, "x/charts/app-template-4.1.1.tgz")
    with tarfile.open(cs.without_schemas(packed, tmp_path / "out")) as tar:
        assert tar.getnames() == ["x/Chart.yaml", "x/values.yaml", "x/charts/app-template-4.1.1.tgz"]
        inner = tar.extractfile("x/charts/app-template-4.1.1.tgz")
        assert inner is not None
        with tarfile.open(fileobj=inner) as sub:
            assert sub.getnames() == archive_names(stripped)


# -- the chart world ------------------------------------------------------------------------------


def test_the_world_publishes_every_chart_where_its_mirror_points(chart_world: ChartWorld) -> None:
    http, oci = chart_world.http_url, chart_world.oci_url
    assert chart_world.mirrors == {
        "https://stefanprodan.github.io/podinfo": f"{http}/stefanprodan/podinfo",
        "oci://ghcr.io/stefanprodan/charts": f"{oci}/stefanprodan/charts",
        "oci://registry-1.docker.io/bitnamicharts": f"{oci}/bitnamicharts",
        "https://bjw-s-labs.github.io/helm-charts": f"{http}/bjw-s-labs/helm-charts",
        "oci://ghcr.io/bjw-s-labs/helm": f"{oci}/bjw-s-labs/helm",
    }
    assert chart_world.published == {
        f"{http}/stefanprodan/podinfo": {"podinfo": ["6.14.1", "6.0.0"]},
        f"{oci}/stefanprodan/charts": {"podinfo": ["6.14.1", "6.0.0"]},
        f"{oci}/bitnamicharts": {"common": ["2.31.10", "2.31.4"], "redis": ["23.1.1"], "nginx": ["22.1.1"]},
        f"{http}/bjw-s-labs/helm-charts": {"common": ["4.1.1"], "app-template": ["4.1.1"]},
        f"{oci}/bjw-s-labs/helm": {"common": ["4.1.1"], "app-template": ["4.1.1"]},
    }
    for location, charts in chart_world.published.items():
        if location.startswith("http"):
            assert index_versions(helm.repo_index(location)) == charts
        else:
            with chart_world.oci.client() as client:
                assert {name: client.tags(f"{location}/{name}") for name in charts} == charts
    assert cs.mirrored(chart_world.mirrors, "oci://registry-1.docker.io/bitnamicharts/redis") == f"{oci}/bitnamicharts/redis"
    assert cs.mirrored(chart_world.mirrors, "https://example.com/charts") == "https://example.com/charts"


def test_redis_is_published_unbuilt_and_its_dependency_builds_from_the_mirror(chart_world: ChartWorld, tmp_path: Path) -> None:
    bitnami = chart_world.mirrors["oci://registry-1.docker.io/bitnamicharts"]
    with chart_world.oci.client() as client:
        client.pull(f"{bitnami}/redis", destination=tmp_path, version="23.1.1")
    with helm.Chart.load(tmp_path / "redis-23.1.1.tgz") as chart:
        assert chart.dependencies == []
        assert [(d["name"], d["version"], d["repository"]) for d in chart.metadata["dependencies"]] == [
            ("common", "2.x.x", "oci://registry-1.docker.io/bitnamicharts")]

    helm.expand(tmp_path, tmp_path / "redis-23.1.1.tgz")
    chart_yaml = tmp_path / "redis" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("oci://registry-1.docker.io/bitnamicharts", bitnami))
    (tmp_path / "redis" / "Chart.lock").unlink()  # it pins the upstream repository
    helm.dependency_update(tmp_path / "redis", plain_http=True)
    assert [p.name for p in (tmp_path / "redis" / "charts").iterdir()] == ["common-2.31.10.tgz"]
    with helm.Chart.load(tmp_path / "redis") as chart:
        rendered = chart.render({}, name="cache", namespace="db")
    assert "redis/templates/master/application.yaml" in rendered


def test_app_template_bundles_common_and_renders_without_its_schemas(chart_world: ChartWorld, tmp_path: Path) -> None:
    with chart_world.oci.client() as client:
        client.pull(f"{chart_world.mirrors['oci://ghcr.io/bjw-s-labs/helm']}/app-template", destination=tmp_path, version="4.1.1")
    pulled = tmp_path / "app-template-4.1.1.tgz"
    assert helm.digest(pulled) == helm.digest(chart_world.archives["app-template-4.1.1.tgz"])
    with helm.Chart.load(pulled) as chart:
        assert [(d["name"], d["version"]) for d in chart.dependencies] == [("common", "4.1.1")]
    values = {"controllers": {"main": {"containers": {"main": {
        "image": {"repository": "ghcr.io/example/app", "tag": "1.0"},
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}}}}}
    with helm.Chart.load(cs.without_schemas(pulled, tmp_path / "plain")) as chart:
        manifest = chart.render(values, name="demo", namespace="apps")["app-template/templates/common.yaml"]
    documents = [helm.values_from_yaml(doc) for doc in manifest.split("\n---\n") if doc.strip("-\n ")]
    deployment = next(d for d in documents if d.get("kind") == "Deployment")
    assert deployment["metadata"]["name"] == "demo" and deployment["metadata"]["namespace"] == "apps"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"}}


def test_a_private_world_with_credentials_can_be_shut_down(chart_world_factory: Callable[..., ChartWorld], tmp_path: Path) -> None:
    world = chart_world_factory(username="mirror", password="m1rr0r")
    podinfo = world.mirrors["https://stefanprodan.github.io/podinfo"]
    with pytest.raises(helm.HelmError):
        helm.pull("podinfo", repo_url=podinfo, destination=tmp_path, version="6.x")
    helm.pull("podinfo", repo_url=podinfo, destination=tmp_path, version="6.x", username="mirror", password="m1rr0r")
    assert [p.name for p in tmp_path.iterdir()] == [PODINFO_ARCHIVE]
    with world.oci.client() as client:
        assert client.tags(world.mirrors["oci://ghcr.io/bjw-s-labs/helm"] + "/app-template") == ["4.1.1"]

    world.close()
    with pytest.raises(helm.HelmError):
        helm.pull("podinfo", repo_url=podinfo, destination=tmp_path, version="6.x", username="mirror", password="m1rr0r")
    with helm.RegistryClient(plain_http=True, credentials_file=world.oci.credentials_file) as client:
        with pytest.raises(helm.HelmError):
            client.tags(world.mirrors["oci://ghcr.io/bjw-s-labs/helm"] + "/app-template")
