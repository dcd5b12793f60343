"""Charts that live elsewhere: pulled from Helm repositories and OCI registries, kept in a cache.

A HelmRelease, an Argo CD Application or a chart dependency names a chart by repository, name and
version constraint (``ChartRef``). ``ChartFetcher.fetch`` turns that into an archive on disk, in
process through helm-python-sdk:

- an HTTP(S) repository: its ``index.yaml`` (read once per run) gives the versions and each
  archive's digest; the highest version the constraint allows is pulled from its URL;
- an OCI registry: its tags give the versions; the chosen tag's manifest digest is resolved and the
  chart pulled.

Archives are kept content-addressed in the chart cache (``<cache>/archives/<sha256>.tgz``); a small
record per repository and chart (``<cache>/refs/``, by the upstream URL, whatever mirror served it)
says which versions are there with the source's digest (the index's archive digest, or the OCI
manifest digest). A version whose digest is already
in the cache is not downloaded again. With ``offline`` nothing is asked of the network: the newest
cached version that satisfies the constraint is used, and a chart with none is reported missing.

``helm.mirrors`` rewrite a repository URL by prefix before anything is fetched (``oci://ghcr.io`` ->
an internal Harbor, an https repository -> Artifactory). Credentials come from the environment only:
``GITBOT_HELM_USERNAME``/``GITBOT_HELM_PASSWORD`` (every host) or their ``_<HOST>`` forms
(``GITBOT_HELM_PASSWORD_HARBOR_EXAMPLE_COM``), and for OCI the docker config
(``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``). Registries on the loopback
interface are spoken to over plain HTTP.

``prepare`` makes a chart renderable: missing dependencies (fetched here) are added under
``charts/``, and a ``values.schema.json`` that needs the network (a remote ``$ref`` or ``$id``) is left
out, since Helm would fetch it at render time. Prepared charts are written once, content-addressed,
under ``<cache>/built/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from gitbot.errors import SourceError
from gitbot.load import semver

FORMAT = "gitbot-chart-cache-1"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
SCHEMA = "values.schema.json"
_REMOTE_SCHEMA = re.compile(rb'"\$(?:ref|id)"\s*:\s*"https?://')


class ChartUnavailable(Exception):
    """A chart could not be had: why, in one line."""


@dataclass(frozen=True)
class ChartRef:
    """A chart by where it is published: ``repository`` is an http(s) chart repository URL or an
    ``oci://host/path`` registry path (without the chart name)."""

    repository: str
    name: str
    version: str | None = None  # exact version, a constraint, or None: the newest stable
    digest: str | None = None  # an OCI manifest digest the version must have (Flux OCIRepository ref.digest)

    @property
    def oci(self) -> bool:
        return self.repository.startswith("oci://")

    @property
    def location(self) -> str:
        """``oci://host/path/name`` or ``https://repo name``, for messages."""
        return f"{self.repository.rstrip('/')}/{self.name}" if self.oci else f"{self.name} from {self.repository.rstrip('/')}"

    def __str__(self) -> str:
        wanted = f" {self.version}" if self.version else ""
        return f"{self.location}{wanted}"


@dataclass(frozen=True)
class FetchedChart:
    ref: ChartRef
    repository: str  # after the mirrors
    version: str  # the version chosen
    digest: str  # the source's digest of it (index archive digest or OCI manifest digest)
    archive: Path  # in the cache
    status: str  # "pulled" (downloaded in this run) or "cached"

    @property
    def label(self) -> str:
        """``oci://ghcr.io/org/charts/podinfo:6.14.1``: the chart, in template paths and target names."""
        base = self.ref.repository.rstrip("/")
        return f"{base}/{self.ref.name}:{self.version}"


def split_oci(url: str) -> tuple[str, str]:
    """``oci://host/path/chart`` -> (``oci://host/path``, ``chart``)."""
    base, _, name = url.rstrip("/").rpartition("/")
    return base, name


@dataclass(frozen=True)
class Mirrors:
    """Repository URL prefixes and what replaces them, longest prefix first."""

    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, str]) -> Mirrors:
        rules = sorted(((k.rstrip("/"), v.rstrip("/")) for k, v in mapping.items()), key=lambda kv: -len(kv[0]))
        return cls(tuple(rules))

    def __call__(self, url: str) -> str:
        bare = url.rstrip("/")
        for prefix, replacement in self.rules:
            if bare == prefix or bare.startswith(prefix + "/"):
                return replacement + bare[len(prefix):]
        return bare


@dataclass(frozen=True)
class Credentials:
    """Chart-source credentials from the environment, by host."""

    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ
        return cls({k: v for k, v in env.items() if k.startswith(("GITBOT_HELM_", "DOCKER_CONFIG")) or k == "HOME"})

    def for_host(self, host: str) -> tuple[str, str] | None:
        suffix = "_" + re.sub(r"[^A-Za-z0-9]", "_", host).upper()
        for user_key, password_key in ((f"GITBOT_HELM_USERNAME{suffix}", f"GITBOT_HELM_PASSWORD{suffix}"),
                                       ("GITBOT_HELM_USERNAME", "GITBOT_HELM_PASSWORD")):
            user, password = self.environ.get(user_key), self.environ.get(password_key)
            if user and password is not None:
                return user, password
        return None

    def docker_config(self) -> Path | None:
        directory = self.environ.get("DOCKER_CONFIG")
        base = Path(directory) if directory else (Path(self.environ["HOME"]) / ".docker" if self.environ.get("HOME") else None)
        path = base / "config.json" if base is not None else None
        return path if path is not None and path.is_file() else None

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(v for k, v in self.environ.items() if k.startswith("GITBOT_HELM_PASSWORD") and v)


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url if "://" in url else f"oci://{url}").netloc


def is_loopback(url: str) -> bool:
    host = host_of(url)
    return host.rsplit(":", 1)[0] in LOOPBACK or host in LOOPBACK


class ChartCache:
    """Archives by content, and what each repository/chart/version resolved to."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def archive(self, sha256: str) -> Path:
        return self.directory / "archives" / f"{sha256}.tgz"

    def _refs_file(self, repository: str, name: str) -> Path:
        key = hashlib.sha256(f"{repository.rstrip('/')}\0{name}".encode()).hexdigest()
        return self.directory / "refs" / f"{key}.json"

    def versions(self, repository: str, name: str) -> dict[str, dict[str, str]]:
        """version -> {"digest": source digest, "sha256": archive content}, for archives still present."""
        try:
            record = json.loads(self._refs_file(repository, name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("versions"), dict):
            return {}
        return {
            v: e for v, e in record["versions"].items()
            if isinstance(e, dict) and isinstance(e.get("sha256"), str) and self.archive(e["sha256"]).is_file()
        }

    def add(self, repository: str, name: str, version: str, digest: str, downloaded: Path) -> Path:
        """Keep ``downloaded`` (moved) under its content hash and record the version."""
        data = downloaded.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        target = self.archive(sha)
        if not target.is_file():
            _atomic_write(target, data)
        versions = self.versions(repository, name)
        versions[version] = {"digest": digest, "sha256": sha}
        record = {"format": FORMAT, "repository": repository.rstrip("/"), "name": name, "versions": versions}
        _atomic_write(self._refs_file(repository, name), json.dumps(record, indent=1, sort_keys=True).encode())
        return target


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ChartFetcher:
    """Pulls charts into the cache (once per reference per run) and says what happened."""

    def __init__(self, cache_dir: Path, mirrors: Mirrors = Mirrors(), credentials: Credentials = Credentials(),
                 offline: bool = False) -> None:
        self.cache = ChartCache(cache_dir)
        self.mirrors = mirrors
        self.credentials = credentials
        self.offline = offline
        self._fetched: dict[ChartRef, FetchedChart | ChartUnavailable] = {}
        self._indexes: dict[str, dict[str, Any] | ChartUnavailable] = {}
        self._clients: dict[str, Any] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def builds(self) -> Path:
        return self.cache.directory / "built"

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def fetch(self, ref: ChartRef) -> FetchedChart:
        """The chart ``ref`` names; asked for again in the same run, from the cache (status "cached")."""
        if ref in self._fetched:
            found = self._fetched[ref]
            if isinstance(found, ChartUnavailable):
                raise found
            return replace(found, status="cached")
        try:
            self._fetched[ref] = fetched = self._fetch(ref)
        except ChartUnavailable as exc:
            self._fetched[ref] = exc
            raise
        return fetched

    def _fetch(self, ref: ChartRef) -> FetchedChart:
        repository = self.mirrors(ref.repository)
        mirrored = f" (mirror {repository})" if repository != ref.repository.rstrip("/") else ""
        if ref.oci != repository.startswith("oci://"):
            raise ChartUnavailable(f"helm.mirrors maps {ref.repository} to {repository}, which is not the same kind of source")
        cached = self.cache.versions(ref.repository, ref.name)  # by the upstream: a mirror is only the way there
        if self.offline:
            version = semver.pick(ref.version, [v for v, e in cached.items() if not ref.digest or e["digest"] == ref.digest])
            if version is None:
                have = f" (cached: {', '.join(sorted(cached))})" if cached else ""
                raise ChartUnavailable(f"{ref} is not in the chart cache{have}; --offline pulls nothing{mirrored}")
            entry = cached[version]
            return FetchedChart(ref, repository, version, entry["digest"], self.cache.archive(entry["sha256"]), "cached")
        try:
            if ref.oci:
                return self._fetch_oci(ref, repository, cached)
            return self._fetch_http(ref, repository, cached)
        except ChartUnavailable as exc:
            raise ChartUnavailable(f"{exc}{mirrored}") from None

    # -- HTTP(S) repositories ---------------------------------------------------------------------

    def _index(self, repository: str) -> dict[str, Any]:
        if repository not in self._indexes:
            helm = _helm()
            login = self.credentials.for_host(host_of(repository))
            try:
                self._indexes[repository] = helm.repo_index(
                    repository, username=login[0] if login else None, password=login[1] if login else None
                )
            except helm.HelmError as exc:
                self._indexes[repository] = ChartUnavailable(f"cannot read the index of {repository}: {_one_line(exc)}")
        index = self._indexes[repository]
        if isinstance(index, ChartUnavailable):
            raise index
        return index

    def _fetch_http(self, ref: ChartRef, repository: str, cached: dict[str, dict[str, str]]) -> FetchedChart:
        entries = self._index(repository).get("entries") or {}
        versions = [e for e in entries.get(ref.name) or [] if isinstance(e, dict) and isinstance(e.get("version"), str)]
        if not versions:
            raise ChartUnavailable(f"{repository} has no chart {ref.name!r}")
        chosen = semver.pick(ref.version, [e["version"] for e in versions])
        if chosen is None:
            raise ChartUnavailable(f"no version of {ref.location} satisfies {ref.version!r} (newest: {_newest(e['version'] for e in versions)})")
        entry = next(e for e in versions if e["version"] == chosen)
        digest = str(entry.get("digest") or "")
        hit = cached.get(chosen)
        if hit is not None and digest and hit["digest"] in (digest, f"sha256:{digest}"):
            return FetchedChart(ref, repository, chosen, hit["digest"], self.cache.archive(hit["sha256"]), "cached")
        urls = [u for u in entry.get("urls") or [] if isinstance(u, str)]
        if not urls:
            raise ChartUnavailable(f"{repository} lists {ref.name} {chosen} without a download URL")
        url = urllib.parse.urljoin(repository.rstrip("/") + "/", urls[0])
        downloaded = self._pull(url, None, host_of(url))
        if digest and hashlib.sha256(downloaded.read_bytes()).hexdigest() != digest.removeprefix("sha256:"):
            raise ChartUnavailable(f"{url} does not match the digest in {repository}/index.yaml")
        archive = self.cache.add(ref.repository, ref.name, chosen, digest, downloaded)
        return FetchedChart(ref, repository, chosen, digest, archive, "pulled")

    # -- OCI registries ---------------------------------------------------------------------------

    def _client(self, repository: str) -> Any:
        host = host_of(repository)
        if host not in self._clients:
            helm = _helm()
            docker = self.credentials.docker_config()
            login = self.credentials.for_host(host)
            credentials_file = str(docker) if docker is not None and login is None else str(self._scratch() / f"registry-{len(self._clients)}.json")
            client = helm.RegistryClient(plain_http=is_loopback(repository), credentials_file=credentials_file)
            if login is not None:
                try:
                    client.login(host, login[0], login[1], plain_http=is_loopback(repository))
                except helm.HelmError as exc:
                    client.close()
                    raise ChartUnavailable(f"cannot log in to {host}: {_one_line(exc)}") from None
            self._clients[host] = client
        return self._clients[host]

    def _fetch_oci(self, ref: ChartRef, repository: str, cached: dict[str, dict[str, str]]) -> FetchedChart:
        helm = _helm()
        client = self._client(repository)
        chart_url = f"{repository}/{ref.name}"
        try:
            tags = client.tags(chart_url)
        except helm.HelmError as exc:
            raise ChartUnavailable(f"cannot list the tags of {chart_url}: {_one_line(exc)}") from None
        chosen = semver.pick(ref.version, tags)
        if chosen is None:
            raise ChartUnavailable(f"no tag of {chart_url} satisfies {ref.version or '*'!r} (newest: {_newest(tags)})")
        try:
            digest = str(client.resolve(f"{chart_url}:{chosen}").get("digest") or "")
        except helm.HelmError as exc:
            raise ChartUnavailable(f"cannot resolve {chart_url}:{chosen}: {_one_line(exc)}") from None
        if ref.digest and digest != ref.digest:
            raise ChartUnavailable(f"{chart_url}:{chosen} has digest {digest}, not the pinned {ref.digest}")
        hit = cached.get(chosen)
        if hit is not None and digest and hit["digest"] == digest:
            return FetchedChart(ref, repository, chosen, digest, self.cache.archive(hit["sha256"]), "cached")
        downloaded = self._pull(chart_url, chosen, host_of(repository), client)
        archive = self.cache.add(ref.repository, ref.name, chosen, digest, downloaded)
        return FetchedChart(ref, repository, chosen, digest, archive, "pulled")

    # -- shared -----------------------------------------------------------------------------------

    def _scratch(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="gitbot-charts-")
        return Path(self._tmp.name)

    def _pull(self, chart_ref: str, version: str | None, host: str, client: Any = None) -> Path:
        """Download one archive into a fresh scratch directory; the path of the ``.tgz``."""
        helm = _helm()
        destination = Path(tempfile.mkdtemp(prefix="pull-", dir=self._scratch()))
        login = self.credentials.for_host(host) if client is None else None
        try:
            helm.pull(chart_ref, client=client, destination=str(destination), version=version,
                      plain_http=is_loopback(chart_ref), username=login[0] if login else None, password=login[1] if login else None)
        except helm.HelmError as exc:
            raise ChartUnavailable(f"cannot pull {chart_ref}{':' + version if version else ''}: {_one_line(exc)}") from None
        found = sorted(destination.glob("*.tgz"))
        if len(found) != 1:
            raise ChartUnavailable(f"pulling {chart_ref} left {len(found)} archives, expected one")
        return found[0]


def _newest(versions: Any) -> str:
    return semver.pick(">=0.0.0-0", list(versions)) or "none"


def _one_line(exc: BaseException) -> str:
    """Helm's error, in one line, said plainly where it is a common one."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "status code 404" in lowered or "name unknown" in lowered or " 404 " in f" {lowered} ":
        return "not found (404)"
    if "401" in lowered or "unauthorized" in lowered or "basic credential not found" in lowered:
        return ("refused: 401 unauthorized (set GITBOT_HELM_USERNAME and GITBOT_HELM_PASSWORD, or their _<HOST> "
                "forms, or log in with docker)")
    if "403" in lowered or "forbidden" in lowered:
        return "refused: 403 forbidden (the credentials cannot read it)"
    if "no such host" in lowered or "connection refused" in lowered or "i/o timeout" in lowered:
        reason = "no such host" if "no such host" in lowered else "connection refused" if "connection refused" in lowered else "timed out"
        return f"cannot connect ({reason})"
    return text[:300]


def _helm() -> Any:
    import helm_python

    return helm_python


# -- dependencies and preparation -------------------------------------------------------------------


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str | None
    repository: str
    alias: str | None
    condition: str | None
    tags: tuple[str, ...]


def declared_dependencies(metadata: Mapping[str, Any], lock: Mapping[str, Any] | None) -> list[Dependency]:
    """``Chart.yaml`` dependencies, with the versions ``Chart.lock`` pins when it has them."""
    pinned: dict[tuple[str, str], str] = {}
    for entry in (lock or {}).get("dependencies") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            pinned[(entry["name"], str(entry.get("repository") or ""))] = str(entry.get("version") or "")
    out = []
    for entry in metadata.get("dependencies") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        repository = str(entry.get("repository") or "")
        version = pinned.get((entry["name"], repository)) or (str(entry["version"]) if entry.get("version") is not None else None)
        tags = entry.get("tags")
        out.append(Dependency(entry["name"], version, repository, entry.get("alias") or None,
                              str(entry["condition"]) if entry.get("condition") else None,
                              tuple(str(t) for t in tags) if isinstance(tags, list) else ()))
    return out


def enabled(dep: Dependency, values: Mapping[str, Any]) -> bool:
    """Whether Helm would render ``dep`` with ``values``: the first condition path holding a
    boolean decides; else any true tag enables and all-false tags disable; else it is enabled."""
    for path in (dep.condition or "").split(","):
        found: Any = values
        for key in path.strip().split("."):
            found = found.get(key) if isinstance(found, dict) and key else None
        if isinstance(found, bool):
            return found
    tags = values.get("tags") if isinstance(values.get("tags"), dict) else {}
    states = [tags[t] for t in dep.tags if isinstance(tags.get(t), bool)]
    return any(states) if states else True


def repository_ref(dep: Dependency) -> ChartRef | None:
    """Where a dependency is published; None for ``file://`` and unnamed (vendored) ones."""
    repo = dep.repository
    if repo.startswith(("http://", "https://")):
        return ChartRef(repo, dep.name, dep.version)
    if repo.startswith("oci://"):
        return ChartRef(repo, dep.name, dep.version)
    return None


@dataclass(frozen=True)
class Prepared:
    location: Path  # what to load: the source itself when nothing had to change
    dependencies: tuple[FetchedChart, ...]  # pulled for it
    notes: tuple[str, ...]  # what was changed, for the reader (e.g. a schema left out)


def prepare(source: Path, label: str, values: Mapping[str, Any], builds: Path, fetcher: ChartFetcher | None = None,
            repo: Path | None = None, fetched: Sequence[Path] = ()) -> Prepared:
    """``source`` (a chart directory or archive) ready to render with ``values``: missing enabled
    dependencies fetched (``file://`` ones packed from ``repo``), a network-bound schema left out.
    ``fetched``: dependency archives already resolved (a re-render of an edited copy uses them again).
    Prepared charts are written under ``builds``, named by the hash of everything in them.
    Raises SourceError naming the dependency and the chart when one cannot be had."""
    helm = _helm()
    try:
        with helm.Chart.load(str(source)) as chart:
            metadata = chart.metadata
            present = {str(d.get("name")) for d in chart.dependencies}
            defaults = chart.merge_values(dict(values))
    except helm.HelmError as exc:
        raise SourceError(label, f"not a loadable chart: {_one_line(exc)}") from None
    lock = _lock(source)
    known = {_chart_name(a): a for a in fetched}
    archives: list[Path] = []
    pulled: list[FetchedChart] = []
    local: list[Path] = []
    for dep in declared_dependencies(metadata, lock):
        if dep.name in present or not enabled(dep, defaults):
            continue
        where = f"dependency {dep.name} {dep.version or ''} ({dep.repository or 'no repository'})".replace("  ", " ")
        if dep.repository.startswith("file://"):
            if repo is None or not source.is_dir():
                raise SourceError(label, f"{where} is not in the chart's charts/ and a file:// dependency cannot be read here")
            local.append(_file_dependency(source, dep, label, repo))
            continue
        if dep.name in known:
            archives.append(known[dep.name])
            continue
        ref = repository_ref(dep)
        if ref is None:
            raise SourceError(label, f"{where} is missing from charts/ and names no repository gitbot can pull from "
                                     f"(a repository alias needs its URL in Chart.yaml)")
        if fetcher is None:
            raise SourceError(label, f"{where} is missing from charts/, and pulling charts is off")
        try:
            got = fetcher.fetch(ref)
        except ChartUnavailable as exc:
            raise SourceError(label, f"{where} is missing from charts/ and cannot be pulled: {exc}") from None
        pulled.append(got)
        archives.append(got.archive)
    schemas = _network_schemas(source)
    if not archives and not local and not schemas:
        return Prepared(source, (), ())
    key = hashlib.sha256(json.dumps([FORMAT, _content_digest(source), [_file_digest(a) for a in archives],
                                     [_content_digest(p) for p in local]]).encode()).hexdigest()
    built = builds / key
    name = str(metadata.get("name") or "chart")
    if not (built / name / "Chart.yaml").is_file():
        _build(source, name, archives, local, built)
    notes = tuple(f"{label}: {s} needs the network (a remote $ref or $id); rendered without it" for s in schemas)
    return Prepared(built / name, tuple(pulled), notes)


def _chart_name(archive: Path) -> str:
    helm = _helm()
    with helm.Chart.load(str(archive)) as chart:
        return chart.name


def _lock(source: Path) -> Mapping[str, Any] | None:
    from gitbot.yamldoc import load_all

    try:
        if source.is_dir():
            text = (source / "Chart.lock").read_text(encoding="utf-8") if (source / "Chart.lock").is_file() else None
        else:
            text = _archive_member(source, "Chart.lock")
        docs = load_all(text, "Chart.lock") if text else []
    except (OSError, SourceError, tarfile.TarError, UnicodeDecodeError):
        return None
    return docs[0] if docs and isinstance(docs[0], dict) else None


def _archive_member(archive: Path, name: str) -> str | None:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == name and member.isfile():
                handle = tar.extractfile(member)
                return handle.read().decode("utf-8") if handle else None
    return None


def _file_dependency(source: Path, dep: Dependency, label: str, repo: Path) -> Path:
    from gitbot.globs import within

    target = (source / dep.repository.removeprefix("file://")).resolve()
    if not within(repo.resolve(), target):
        raise SourceError(label, f"dependency {dep.name} ({dep.repository}) is outside the repository; not read")
    if not (target / "Chart.yaml").is_file():
        raise SourceError(label, f"dependency {dep.name} ({dep.repository}) is not a chart directory")
    return target


def _network_schemas(source: Path) -> list[str]:
    """Schema files in the chart (and its subcharts) that Helm would fetch more schema for."""
    found: list[str] = []
    for name, read in _chart_files(source):
        if name.rsplit("/", 1)[-1] == SCHEMA and _REMOTE_SCHEMA.search(read()):
            found.append(name)
    return found


def _chart_files(source: Path) -> Iterator[tuple[str, Any]]:
    """(path inside the chart, reader) of every file, nested subchart archives included."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                rel = path.relative_to(source).as_posix()
                if rel.endswith(".tgz") and rel.startswith("charts/"):
                    yield from ((f"{rel}!{n}", r) for n, r in _tar_files(path.read_bytes()))
                else:
                    yield rel, path.read_bytes
    else:
        yield from _tar_files(source.read_bytes())


def _tar_files(data: bytes) -> Iterator[tuple[str, Any]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            content = handle.read() if handle else b""
            if member.name.endswith(".tgz"):
                yield from ((f"{member.name}!{n}", r) for n, r in _tar_files(content))
            else:
                yield member.name, (lambda c=content: c)


def _build(source: Path, name: str, archives: Sequence[Path], local: Sequence[Path], built: Path) -> None:
    """Write the prepared chart to ``built/<name>`` (atomically: a whole chart or nothing)."""
    helm = _helm()
    built.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=built.parent))
    try:
        chart_dir = scratch / name
        if source.is_dir():
            shutil.copytree(source, chart_dir, symlinks=False)
        else:
            helm.expand(str(scratch), str(source))
        _unpack_subcharts(chart_dir)
        charts = chart_dir / "charts"
        charts.mkdir(exist_ok=True)
        for archive in archives:
            helm.expand(str(charts), str(archive))
        for directory in local:
            shutil.copytree(directory, charts / directory.name, symlinks=False, dirs_exist_ok=True)
        for schema in chart_dir.rglob(SCHEMA):
            if _REMOTE_SCHEMA.search(schema.read_bytes()):
                schema.unlink()
        try:
            os.replace(scratch, built)
        except OSError:
            if not (built / name / "Chart.yaml").is_file():
                raise
    except helm.HelmError as exc:
        raise SourceError(str(source), f"cannot prepare the chart: {_one_line(exc)}") from None
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def _unpack_subcharts(chart_dir: Path) -> None:
    """Subchart archives under charts/ become directories, so their schemas can be looked at."""
    helm = _helm()
    while archives := sorted(p for p in chart_dir.rglob("*.tgz") if p.parent.name == "charts"):
        for archive in archives:
            helm.expand(str(archive.parent), str(archive))
            archive.unlink()


def _content_digest(source: Path) -> str:
    if not source.is_dir():
        return _file_digest(source)
    h = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            h.update(f"{path.relative_to(source).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
