"""Remote Helm chart sources for tests: an HTTP chart repository, a real OCI registry, and the
real charts of ``shared/data/repos`` published into them.

``ChartRepoServer`` serves packaged charts and their ``index.yaml`` over HTTP on 127.0.0.1 (one
repository at the root or several under sub-paths), records every request and can demand basic
auth or answer chosen paths with an error status. ``OciRegistry`` runs Debian's
``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1 with filesystem storage, optionally
behind htpasswd auth, and reads its access log back as a request list. :func:`build_chart_world`
packages podinfo, bitnami's common/redis/nginx and bjw-s' common/app-template from the read-only
checkouts, publishes them at paths that mirror their upstream locations, and returns the mirror
map a test configures.

Nothing here reaches beyond 127.0.0.1, except :func:`ensure_registry`, which installs the Debian
package ``docker-registry`` through ``apt-get`` when the binary is missing (never when the
environment has ``GITBOT_NO_APT=1``).

Facts about helm_python 0.2.2 that shaped this code:

- ``package()`` refuses a chart whose ``charts/`` lacks a declared dependency
  (``HelmChartInvalidError: found in Chart.yaml, but missing in charts/ directory: common``);
  ``Chart.load(dir).save(dest)`` writes the same archive (``.helmignore`` honoured, ``Chart.lock``
  kept) without that check: :func:`package_unbuilt` uses it.
- ``pull(oci_ref, username=..., password=...)`` does not authenticate against the registry
  ("basic credential not found"); only a ``RegistryClient`` that has ``login()``-ed does.
- ``Chart.render`` always validates ``values.schema.json`` and has no switch to skip it; bjw-s'
  app-template and common schemas ``$ref`` raw.githubusercontent.com, so they cannot render
  offline: :func:`without_schemas` strips the schemas from an archive (subcharts included).
- Helm indexes ``*.tgz`` one directory level deep, so a ``ChartRepoServer`` never mixes a root
  repository with sub-path ones.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import ctypes.util
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import helm_python as helm
from debian_tools import DebianTool, PortTaken, free_port, read_log_tail, stop_process, wait_until_ready

SHARED_REPOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "repos"
PODINFO_CHART = SHARED_REPOS / "stefanprodan__podinfo" / "charts" / "podinfo"
BITNAMI_CHARTS = SHARED_REPOS / "bitnami__charts" / "bitnami"
BJW_S_CHARTS = SHARED_REPOS / "bjw-s-labs__helm-charts" / "charts"

PODINFO_VERSIONS = ("6.14.1", "6.0.0")  # the checkout's version, then an older one for ranges
BITNAMI_COMMON_VERSIONS = ("2.31.10", "2.31.4")  # the checkout's, then the one the Chart.locks pin
BJW_S_VERSION = "4.1.1"  # common and app-template

# -- finding or installing docker-registry --------------------------------------------------------

REGISTRY_PACKAGE = "docker-registry"
REGISTRY = DebianTool(REGISTRY_PACKAGE, ("docker-registry",), "GITBOT_REQUIRE_REGISTRY")


def ensure_registry() -> str | None:
    """Path of ``docker-registry``, installing the Debian package once if needed.

    Returns None when it is missing and cannot be installed; :func:`registry_unavailable_reason`
    then says why. The result is cached for the life of the process.
    """
    found = REGISTRY.ensure()
    return None if found is None else found[0]


def registry_unavailable_reason() -> str:
    """Why :func:`ensure_registry` returned None (empty when it did not)."""
    return REGISTRY.reason


# -- small helpers --------------------------------------------------------------------------------


_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def local_open(url: str, *, timeout: float = 5.0) -> Any:
    """``urlopen`` without any proxy from the environment (these servers are all on 127.0.0.1);
    raises ``urllib.error.HTTPError`` on error statuses, as ``urlopen`` does."""
    return _direct.open(url, timeout=timeout)


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` header value HTTP basic auth sends for these credentials."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash of ``password`` for an htpasswd file (the only scheme distribution accepts).

    Tries the system's libcrypt (libxcrypt does bcrypt), then the ``bcrypt`` package, then
    ``htpasswd -B`` from apache2-utils.
    """
    library = ctypes.util.find_library("crypt")
    if library:
        try:
            libcrypt = ctypes.CDLL(library)
            libcrypt.crypt_gensalt.restype = ctypes.c_char_p
            libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
            libcrypt.crypt.restype = ctypes.c_char_p
            libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            salt = libcrypt.crypt_gensalt(b"$2b$", 5, None, 0)
            hashed = libcrypt.crypt(password.encode(), salt) if salt else None
            if hashed and hashed.startswith(b"$2b$"):
                return hashed.decode()
        except (OSError, AttributeError):
            pass
    try:
        import bcrypt  # type: ignore[import-not-found]

        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    except ImportError:
        pass
    if shutil.which("htpasswd"):
        result = subprocess.run(["htpasswd", "-nbB", "-C", "5", "user", password], capture_output=True,
                                text=True, check=False, stdin=subprocess.DEVNULL)
        if result.returncode == 0 and ":" in result.stdout:
            return result.stdout.strip().split(":", 1)[1]
    raise RuntimeError("no bcrypt implementation: need libcrypt with bcrypt, the bcrypt package, or htpasswd")


def chart_identity(archive: Path | str) -> tuple[str, str]:
    """``(name, version)`` from a chart archive's Chart.yaml."""
    with helm.Chart.load(archive) as chart:
        return chart.name, chart.version


# -- packaging charts -----------------------------------------------------------------------------


def writable_copy(chart_dir: Path | str, destination: Path | str) -> Path:
    """Copy a chart directory (the checkouts are read-only) to ``destination/<dir name>``, with
    write permission on everything, and return the copy."""
    target = Path(destination) / Path(chart_dir).name
    shutil.copytree(chart_dir, target, copy_function=shutil.copyfile)
    for root, _dirs, _files in os.walk(target):
        os.chmod(root, 0o755)
    return target


def package_chart(chart_dir: Path | str, destination: Path | str, *, version: str | None = None) -> Path:
    """``helm package`` into ``destination`` (with Chart.yaml's version replaced by ``version``)."""
    Path(destination).mkdir(parents=True, exist_ok=True)
    return Path(helm.package(chart_dir, destination=destination, version=version))


def package_unbuilt(chart_dir: Path | str, destination: Path | str) -> Path:
    """An archive of a chart whose dependencies are declared but not in ``charts/`` (the state a
    consumer must run ``helm dependency build`` on). ``package()`` refuses such a chart, so this
    loads and saves it instead, which writes the same archive without the check."""
    Path(destination).mkdir(parents=True, exist_ok=True)
    with helm.Chart.load(chart_dir) as chart:
        return Path(chart.save(destination))


def package_vendored(chart_dir: Path | str, destination: Path | str, subcharts: Iterable[Path | str],
                     *, workdir: Path | str) -> Path:
    """Package a copy of ``chart_dir`` (made under ``workdir``) with the ``subcharts`` archives
    placed in its ``charts/``, as a chart's own release pipeline publishes it (the archive holds
    each subchart expanded, ``<chart>/charts/<subchart>/...``, as ``helm package`` writes them)."""
    copy = writable_copy(chart_dir, workdir)
    (copy / "charts").mkdir(exist_ok=True)
    for archive in subcharts:
        shutil.copyfile(archive, copy / "charts" / Path(archive).name)
    return package_chart(copy, destination)


_SCHEMA_FILE = re.compile(r"^(?:[^/]+/charts/)*[^/]+/values\.schema\.json$")
_SUBCHART_ARCHIVE = re.compile(r"^[^/]+/charts/[^/]+\.tgz$")


def without_schemas(archive: Path | str, destination: Path | str) -> Path:
    """A copy of a chart archive in ``destination`` without any ``values.schema.json`` (nor in its
    subcharts, packed or not), so charts whose schemas need the network render offline."""
    target = Path(destination) / Path(archive).name
    Path(destination).mkdir(parents=True, exist_ok=True)
    target.write_bytes(_strip_schemas(Path(archive).read_bytes()))
    return target


def _strip_schemas(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source, \
            tarfile.open(fileobj=buffer, mode="w:gz") as target:
        for member in source.getmembers():
            if _SCHEMA_FILE.match(member.name):
                continue
            if not member.isfile():
                target.addfile(member)
                continue
            extracted = source.extractfile(member)
            content = extracted.read() if extracted is not None else b""
            if _SUBCHART_ARCHIVE.match(member.name):
                content = _strip_schemas(content)
                member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


# -- the HTTP chart repository --------------------------------------------------------------------


class HttpRequest(NamedTuple):
    """One request a ChartRepoServer received (``path`` as sent, query string included)."""

    method: str
    path: str
    authorization: str | None


_live: set[ChartRepoServer | OciRegistry] = set()  # running servers, closed at exit at the latest


@atexit.register
def _close_leftovers() -> None:  # a safety net for interrupted sessions
    for server in list(_live):
        server.close()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    repo: ChartRepoServer


class _RepoHandler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.0"  # one request per connection: a closed server refuses at once
    server_version = "gitbot-chart-repo"

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        repo = self.server.repo
        authorization = self.headers.get("Authorization")
        repo._record(HttpRequest(self.command, self.path, authorization))
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if not repo._authorized(authorization):
            self._reply(401, b"unauthorized\n", "text/plain", body=body,
                        extra=[("WWW-Authenticate", 'Basic realm="gitbot chart repository"')])
            return
        status = repo._failure(path)
        if status is not None:
            self._reply(status, f"injected failure {status}\n".encode(), "text/plain", body=body)
            return
        file = repo._file(path)
        if file is None:
            self._reply(404, b"not found\n", "text/plain", body=body)
            return
        kind = "application/x-yaml" if file.suffix == ".yaml" else "application/gzip"
        self._reply(200, file.read_bytes(), kind, body=body)

    def _reply(self, status: int, data: bytes, content_type: str, *, body: bool,
               extra: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


class ChartRepoServer:
    """A Helm chart repository over HTTP on 127.0.0.1, serving from ``directory``.

    Running from construction until :meth:`close` (also a context manager). A repository is
    either the root (``repo=""``: ``<url>/index.yaml``) or a sub-path (``repo="a/b"``:
    ``<url>/a/b/index.yaml``); :meth:`repo_url` gives its URL. Every GET/HEAD is recorded in
    :attr:`requests`, including refused ones. With ``username``/``password`` every request needs
    those basic-auth credentials, else 401.
    """

    def __init__(self, directory: Path | str, *, username: str | None = None, password: str | None = None) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.username, self.password = username, password
        self._lock = threading.Lock()
        self._requests: list[HttpRequest] = []
        self._failures: dict[str, int] = {}
        self._repos: set[str] = set()
        self._server: _HttpServer | None = _HttpServer(("127.0.0.1", 0), _RepoHandler)
        self._server.repo = self
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"ChartRepoServer {self.url}", daemon=True)
        self._thread.start()
        _live.add(self)

    def __enter__(self) -> ChartRepoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (connections are refused from then on). Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=5)
        _live.discard(self)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def auth_header(self) -> str | None:
        """The ``Authorization`` value this server wants, or None without auth."""
        if self.username is None or self.password is None:
            return None
        return basic_auth(self.username, self.password)

    # -- content

    def repo_url(self, repo: str = "") -> str:
        """URL of the repository at sub-path ``repo`` (the root by default), without a slash."""
        repo = _clean_repo(repo)
        return f"{self.url}/{repo}" if repo else self.url

    def add_chart(self, chart_dir: Path | str, *, repo: str = "", version: str | None = None) -> Path:
        """Package ``chart_dir`` (optionally as ``version``) into ``repo`` and re-index it; returns
        the served archive. ``package()`` refuses charts with unbuilt dependencies: use
        :func:`package_unbuilt` and :meth:`add_archive` for those."""
        archive = package_chart(chart_dir, self._repo_dir(repo), version=version)
        self.reindex(repo)
        return archive

    def add_archive(self, archive: Path | str, *, repo: str = "") -> Path:
        """Serve a copy of an already packaged chart from ``repo`` and re-index it."""
        target = self._repo_dir(repo) / Path(archive).name
        shutil.copyfile(archive, target)
        self.reindex(repo)
        return target

    def remove_archive(self, name: str, *, repo: str = "") -> None:
        """Stop serving ``name`` (e.g. ``podinfo-6.0.0.tgz``) and re-index ``repo``."""
        (self._repo_dir(repo) / name).unlink()
        self.reindex(repo)

    def reindex(self, repo: str = "") -> dict[str, object]:
        """Regenerate ``repo``'s index.yaml from the archives it holds; returns the index."""
        return helm.repo_index_generate(self._repo_dir(repo), base_url=self.repo_url(repo))

    def _repo_dir(self, repo: str) -> Path:
        repo = _clean_repo(repo)
        with self._lock:
            if repo not in self._repos:
                if ("" in self._repos) if repo else bool(self._repos):
                    raise ValueError("a ChartRepoServer holds one root repository or sub-path ones, not both "
                                     "(helm would index the sub-paths' archives into the root's index)")
                self._repos.add(repo)
        path = self.directory / repo if repo else self.directory
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _file(self, path: str) -> Path | None:
        parts = [part for part in path.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            return None
        file = self.directory.joinpath(*parts)
        return file if file.is_file() and file.suffix in (".yaml", ".tgz", ".prov", ".json") else None

    # -- auth and faults

    def _authorized(self, authorization: str | None) -> bool:
        wanted = self.auth_header
        return wanted is None or authorization == wanted

    def fail(self, path: str, status: int = 503) -> None:
        """Answer requests for ``path`` (e.g. ``/index.yaml``) with ``status`` until
        :meth:`clear_failures`. Auth is checked first."""
        with self._lock:
            self._failures[path] = status

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def _failure(self, path: str) -> int | None:
        with self._lock:
            return self._failures.get(path)

    # -- recordings

    def _record(self, request: HttpRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[HttpRequest]:
        """A copy of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def request_lines(self) -> list[str]:
        """``"GET /index.yaml"``-style lines of :attr:`requests`, for exact assertions."""
        return [f"{r.method} {r.path}" for r in self.requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()


def _clean_repo(repo: str) -> str:
    repo = repo.strip("/")
    if repo and any(part in ("", ".", "..") for part in repo.split("/")):
        raise ValueError(f"bad repository path {repo!r}")
    return repo


# -- the OCI registry -----------------------------------------------------------------------------


class RegistryUnavailable(RuntimeError):
    """docker-registry is missing and could not be installed."""


class RegistryStartError(RuntimeError):
    """The registry did not start or did not answer in time."""


class RegistryRequest(NamedTuple):
    """One request from the registry's access log (``path`` without its query string)."""

    method: str
    path: str
    status: int


_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


class OciRegistry:
    """A CNCF distribution registry on 127.0.0.1, storing under ``workdir/data``.

    :meth:`start` (or ``with``) launches it at a free port and waits until ``GET /v2/`` answers;
    :meth:`stop` ends the process and a later ``start`` brings it back on the same port and data
    (for "registry down" tests); :meth:`close` is the final stop. With ``username``/``password``
    the registry wants htpasswd (basic) auth; :meth:`client` gives a RegistryClient logged in with
    them, whose logins persist in :attr:`credentials_file`. All pushes and pulls need
    ``plain_http=True``: there is no TLS.
    """

    def __init__(self, workdir: Path | str, *, username: str | None = None, password: str | None = None,
                 ready_timeout: float = 30.0) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.workdir = Path(workdir)
        self.username, self.password = username, password
        self.ready_timeout = ready_timeout
        self.config_path = self.workdir / "config.yml"
        self.access_log = self.workdir / "access.log"  # the registry's stdout: one line per request
        self.log_path = self.workdir / "registry.log"  # its stderr: application messages
        self.credentials_file = self.workdir / "registry-credentials.json"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._pusher: helm.RegistryClient | None = None
        self._log_offset = 0
        self._access_offset = 0

    def __enter__(self) -> OciRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, as ``login()`` and credentials files name the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the HTTP API root."""
        return f"http://{self.host}"

    @property
    def oci_url(self) -> str:
        """``oci://127.0.0.1:<port>``, the prefix of chart references."""
        return f"oci://{self.host}"

    def ref(self, path: str) -> str:
        """``oci://127.0.0.1:<port>/<path>``."""
        return f"{self.oci_url}/{path.strip('/')}"

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> OciRegistry:
        if self._process is not None:
            return self
        binary = ensure_registry()
        if binary is None:
            raise RegistryUnavailable(registry_unavailable_reason())
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.username is not None and self.password is not None:
            htpasswd = self.workdir / "htpasswd"
            if not htpasswd.exists():
                htpasswd.write_text(f"{self.username}:{bcrypt_hash(self.password)}\n", encoding="utf-8")
        restart = self.port != 0
        for attempt in range(1 if restart else 5):
            if not restart:
                self.port = free_port()
            self._write_config()
            self._launch(binary)
            try:
                self._wait_ready()
                return self
            except PortTaken:
                self._terminate()
                if restart or attempt == 4:
                    raise RegistryStartError(f"port {self.port} is taken\n{self.log_tail()}") from None
            except BaseException:
                self._terminate()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """End the registry process; :meth:`start` brings it back on the same port and data."""
        self._terminate()

    def close(self) -> None:
        """Stop for good and free the push client. Safe to call twice."""
        self._terminate()
        if self._pusher is not None:
            self._pusher.close()
            self._pusher = None
        _live.discard(self)

    def _write_config(self) -> None:
        config: dict[str, object] = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": "gitbot-tests-" + secrets.token_hex(8)},
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.username is not None:
            config["auth"] = {"htpasswd": {"realm": "gitbot-tests", "path": str(self.workdir / "htpasswd")}}
        # JSON is YAML; written fresh on each start (the port may change)
        self.config_path.write_text("# written by tests/chart_servers.py\n" + json.dumps(config, indent=2) + "\n",
                                    encoding="utf-8")

    def _launch(self, binary: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}  # env overrides config
        with open(self.access_log, "ab") as access, open(self.log_path, "ab") as messages:
            messages.write(f"--- {binary} serve {self.config_path}\n".encode())
            messages.flush()
            self._log_offset = messages.tell()
            self._process = subprocess.Popen([binary, "serve", str(self.config_path)], stdout=access,
                                             stderr=messages, stdin=subprocess.DEVNULL, cwd=self.workdir, env=env)
        _live.add(self)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def _wait_ready(self) -> None:
        assert self._process is not None
        wait_until_ready(self._process, self._answers, name="docker-registry", timeout=self.ready_timeout,
                         log_path=self.log_path, log_offset=self._log_offset, error=RegistryStartError,
                         not_ready="not answering")

    def _answers(self) -> bool:
        try:
            with local_open(f"{self.url}/v2/", timeout=2):
                return True
        except urllib.error.HTTPError:  # 401 with auth: it answers
            return True
        except OSError:
            return False

    def log_tail(self, lines: int = 40) -> str:
        return read_log_tail(self.log_path, lines)

    # -- charts

    def client(self) -> helm.RegistryClient:
        """A new plain-HTTP RegistryClient, logged in when the registry has auth (close it)."""
        client = helm.RegistryClient(plain_http=True, credentials_file=self.credentials_file)
        if self.username is not None and self.password is not None:
            try:
                client.login(self.host, self.username, self.password, plain_http=True)
            except BaseException:
                client.close()
                raise
        return client

    def push(self, archive: Path | str, path: str) -> str:
        """Push a chart archive under ``path`` (e.g. ``stefanprodan/charts``); returns its
        reference ``oci://127.0.0.1:<port>/<path>/<name>:<version>``."""
        if self._pusher is None:
            self._pusher = self.client()
        self._pusher.push(archive, self.ref(path))
        name, version = chart_identity(archive)
        return f"{self.ref(path)}/{name}:{version}"

    # -- recordings

    @property
    def requests(self) -> list[RegistryRequest]:
        """The requests in the access log since :meth:`clear_requests`, in order."""
        end = self._settled_access_log_size()
        if end <= self._access_offset:
            return []
        with open(self.access_log, "rb") as access:
            access.seek(self._access_offset)
            lines = access.read(end - self._access_offset).decode(errors="replace").splitlines()
        found: list[RegistryRequest] = []
        for line in lines:
            match = _ACCESS_LINE.match(line)
            if match:
                target = urllib.parse.urlsplit(match["target"]).path
                found.append(RegistryRequest(match["method"], target, int(match["status"])))
        return found

    def request_lines(self) -> list[str]:
        """``"GET /v2/... 200"``-style lines of :attr:`requests`."""
        return [f"{r.method} {r.path} {r.status}" for r in self.requests]

    def clear_requests(self) -> None:
        self._access_offset = self._settled_access_log_size()

    def _settled_access_log_size(self) -> int:
        """The access log's size once it stops growing: the registry writes a request's line just
        after answering it, so a client can be done before its last line is there."""
        seen = -1
        for _ in range(25):
            size = self.access_log.stat().st_size if self.access_log.exists() else 0
            if size == seen:
                break
            seen = size
            time.sleep(0.02)
        return seen


# -- the chart world: every real chart, published where tests expect it ---------------------------


class ChartsMissing(RuntimeError):
    """The chart checkouts under shared/data/repos are not there."""


@dataclass
class ChartWorld:
    """One HTTP chart server and one OCI registry holding the real charts.

    ``mirrors`` maps each upstream chart source to its local stand-in::

        https://stefanprodan.github.io/podinfo    -> <http>/stefanprodan/podinfo   podinfo 6.14.1, 6.0.0
        oci://ghcr.io/stefanprodan/charts         -> <oci>/stefanprodan/charts     podinfo 6.14.1, 6.0.0
        oci://registry-1.docker.io/bitnamicharts  -> <oci>/bitnamicharts           common 2.31.10, 2.31.4;
                                                                                   redis 23.1.1, nginx 22.1.1 (unbuilt)
        https://bjw-s-labs.github.io/helm-charts  -> <http>/bjw-s-labs/helm-charts common 4.1.1, app-template 4.1.1
        oci://ghcr.io/bjw-s-labs/helm             -> <oci>/bjw-s-labs/helm         common 4.1.1, app-template 4.1.1

    redis and nginx are published without ``charts/common`` (their Chart.lock pins common 2.31.4,
    their Chart.yaml asks for 2.x.x); app-template has common 4.1.1 bundled, as upstream publishes
    it (``helm package`` stores a subchart expanded: ``app-template/charts/common/...``). ``published`` lists the same per local location: ``{location: {chart:
    [versions]}}``; ``archives`` holds every published archive by file name, to compare digests.
    """

    http: ChartRepoServer
    oci: OciRegistry
    mirrors: dict[str, str]
    published: dict[str, dict[str, list[str]]]
    archives: dict[str, Path] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return self.http.url

    @property
    def oci_url(self) -> str:
        return self.oci.oci_url

    def clear_requests(self) -> None:
        self.http.clear_requests()
        self.oci.clear_requests()

    def close(self) -> None:
        self.http.close()
        self.oci.close()


def build_chart_world(workdir: Path | str, *, username: str | None = None, password: str | None = None) -> ChartWorld:
    """Package the real charts under ``workdir`` and publish them; see :class:`ChartWorld`.
    With ``username``/``password`` both servers want those credentials.

    Raises ChartsMissing without the checkouts, RegistryUnavailable without docker-registry.
    """
    for chart in (PODINFO_CHART, BITNAMI_CHARTS / "common", BJW_S_CHARTS / "other" / "app-template"):
        if not (chart / "Chart.yaml").is_file():
            raise ChartsMissing(f"chart checkout not found: {chart}")
    work = Path(workdir)
    http = ChartRepoServer(work / "http", username=username, password=password)
    oci = OciRegistry(work / "registry", username=username, password=password)
    try:
        oci.start()
        return _publish_world(work, http, oci)
    except BaseException:
        http.close()
        oci.close()
        raise


def _publish_world(work: Path, http: ChartRepoServer, oci: OciRegistry) -> ChartWorld:
    built = work / "built"
    archives: dict[str, Path] = {}
    published: dict[str, dict[str, list[str]]] = {}

    def note(location: str, archive: Path) -> None:
        name, version = chart_identity(archive)
        published.setdefault(location, {}).setdefault(name, []).append(version)
        archives[archive.name] = archive

    def to_http(archive: Path, repo: str) -> None:
        http.add_archive(archive, repo=repo)
        note(http.repo_url(repo), archive)

    def to_oci(archive: Path, path: str) -> None:
        oci.push(archive, path)
        note(oci.ref(path), archive)

    for version in PODINFO_VERSIONS:
        podinfo = package_chart(PODINFO_CHART, built, version=version)
        to_http(podinfo, "stefanprodan/podinfo")
        to_oci(podinfo, "stefanprodan/charts")

    for version in BITNAMI_COMMON_VERSIONS:
        to_oci(package_chart(BITNAMI_CHARTS / "common", built, version=version), "bitnamicharts")
    for name in ("redis", "nginx"):
        to_oci(package_unbuilt(BITNAMI_CHARTS / name, built), "bitnamicharts")

    bjw_common = package_chart(BJW_S_CHARTS / "library" / "common", built)
    app_template = package_vendored(BJW_S_CHARTS / "other" / "app-template", built, [bjw_common],
                                    workdir=work / "sources")
    for archive in (bjw_common, app_template):
        to_http(archive, "bjw-s-labs/helm-charts")
        to_oci(archive, "bjw-s-labs/helm")

    mirrors = {
        "https://stefanprodan.github.io/podinfo": http.repo_url("stefanprodan/podinfo"),
        "oci://ghcr.io/stefanprodan/charts": oci.ref("stefanprodan/charts"),
        "oci://registry-1.docker.io/bitnamicharts": oci.ref("bitnamicharts"),
        "https://bjw-s-labs.github.io/helm-charts": http.repo_url("bjw-s-labs/helm-charts"),
        "oci://ghcr.io/bjw-s-labs/helm": oci.ref("bjw-s-labs/helm"),
    }
    world = ChartWorld(http, oci, mirrors, published, archives)
    world.clear_requests()
    return world


# -- pytest glue ----------------------------------------------------------------------------------


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test that needs docker-registry; fail it instead where it must run (CI sets
    GITBOT_REQUIRE_REGISTRY=1, so a missing registry can never pass as a skip)."""
    REGISTRY.skip_or_fail(reason)


def require_registry() -> str:
    """The docker-registry binary, or skip (fail under GITBOT_REQUIRE_REGISTRY=1) the test."""
    binary = ensure_registry()
    if binary is None:
        skip_or_fail(f"no docker-registry: {registry_unavailable_reason()}")
    assert binary is not None
    return binary


def start_chart_world(workdir: Path | str, **kw: str | None) -> ChartWorld:
    """:func:`build_chart_world`, skipping the test when the registry or the checkouts are missing."""
    import pytest

    require_registry()
    try:
        return build_chart_world(workdir, **kw)
    except ChartsMissing as exc:
        pytest.skip(str(exc))
        raise


def mirrored(mirrors: Mapping[str, str], url: str) -> str:
    """``url`` with the longest matching mirror prefix replaced (unchanged when none matches);
    what a consumer's mirror setting is expected to do, for tests that need the local URL."""
    for upstream in sorted(mirrors, key=len, reverse=True):
        if url == upstream or url.startswith(upstream.rstrip("/") + "/"):
            return mirrors[upstream] + url[len(upstream.rstrip("/")):]
    return url
