"""A real Prometheus server for integration tests, and a local HTTP proxy that injects faults.

``PrometheusServer`` backfills OpenMetrics snapshot files (plain or gzipped) with ``promtool tsdb
create-blocks-from openmetrics`` into a fresh data directory and serves them on 127.0.0.1 at a free
port, with no scrape jobs. ``FaultProxy`` sits between a client and such a server (or any HTTP
server), records every request and can answer the query endpoints with errors, delays, dropped
connections, ``warnings`` or rewritten results.

Nothing here reaches beyond 127.0.0.1, except :func:`ensure_prometheus`, which installs the Debian
package ``prometheus`` through ``apt-get`` when the binaries are missing (never when the
environment has ``GITBOT_NO_APT=1``).

Prometheus 2.42 notes that shaped this code:

- Its ``promtool`` has no ``--max-block-duration``: it writes one block per 2 h and re-parses the
  *whole* input once per block, so 14 days of data is 168 passes (over a minute for the demo
  fixture). :func:`split_openmetrics` therefore cuts each input into plain-text slices of a few
  blocks each, and the slices are backfilled in parallel: each sample line is parsed a few times
  instead of ~170. Newer ``promtool`` versions that have the flag get it too.
- Prometheus loads all blocks before ``/-/ready`` answers 200, but compacts backfilled 2 h blocks
  into larger ones a minute after start. The server here runs with the (hidden) block-duration
  flags set to 2h/2h, which turns compaction off, unless ``compact=True``.
- Backfilled blocks never pass through the head block, so its limits (samples older than the
  head's window are "out of bounds", out-of-order samples are refused) do not apply, and data from
  any time (past or future) can be loaded. Overlapping blocks (several files covering the same
  time) are merged at query time (always allowed since 2.39).
- Without scrape jobs there is no ``up`` series, and instant queries without ``time=`` look at
  "now": pass the data's time explicitly (``newest_timestamp``).
"""

from __future__ import annotations

import atexit
import gzip
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn, cast

from debian_tools import DebianTool, PortTaken, free_port, read_log_tail, stop_process, wait_until_ready

HOUR = 3600
TWO_HOURS_MS = 2 * HOUR * 1000

DEMO_METRICS = Path(__file__).resolve().parent.parent / "fixtures" / "demo-metrics.om.gz"
DEMO_START = 1793577600.0  # 2026-11-02T00:00:00Z, the demo fixture's window
DEMO_END = 1794787200.0  # 2026-11-16T00:00:00Z

# -- finding or installing the binaries -----------------------------------------------------------

PROMETHEUS = DebianTool("prometheus", ("prometheus", "promtool"), "GITBOT_REQUIRE_PROMETHEUS")


def ensure_prometheus() -> tuple[str, str] | None:
    """Paths of ``(prometheus, promtool)``, installing Debian's ``prometheus`` once if needed.

    Returns None when they are missing and cannot be installed; :func:`unavailable_reason` then
    says why. The result is cached for the life of the process.
    """
    return cast("tuple[str, str] | None", PROMETHEUS.ensure())


def unavailable_reason() -> str:
    """Why :func:`ensure_prometheus` returned None (empty when it did not)."""
    return PROMETHEUS.reason


_promtool_flags: dict[str, bool] = {}


def promtool_supports(promtool: str, flag: str) -> bool:
    """Whether ``promtool tsdb create-blocks-from openmetrics`` documents ``flag``."""
    if flag not in _promtool_flags:
        try:
            result = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--help-long"],
                                    capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
            _promtool_flags[flag] = flag in result.stdout + result.stderr
        except (OSError, subprocess.TimeoutExpired):
            _promtool_flags[flag] = False
    return _promtool_flags[flag]


# -- splitting snapshots for promtool -------------------------------------------------------------


class BackfillError(RuntimeError):
    """An input file promtool cannot take, or promtool failing on it."""


@dataclass
class SplitResult:
    files: list[Path]
    samples: int
    oldest: float | None  # seconds
    newest: float | None


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``90s``, ``1h30m`` or ``2w``."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
    total, number, i = 0.0, "", 0
    text = text.strip()
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError(f"bad duration {text!r}")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number or not text:
        raise ValueError(f"bad duration {text!r}")
    return total


def compatible_block_ms(max_block_duration: str | None) -> int:
    """The block length newer promtool versions pick for ``--max-block-duration`` (2h x 3^k)."""
    block = TWO_HOURS_MS
    if max_block_duration:
        limit = parse_duration(max_block_duration) * 1000
        for _ in range(9):  # tsdb.ExponentialBlockRanges(2h, 10, 3)
            if block * 3 > limit:
                break
            block *= 3
    return block


def _label_set_end(line: bytes, brace: int) -> int:
    close = line.find(b"}", brace)
    if close != -1:
        inside = line[brace:close]
        if b"\\" not in inside and inside.count(b'"') % 2 == 0:
            return close
    quoted = escaped = False
    for i in range(brace + 1, len(line)):
        ch = line[i]
        if escaped:
            escaped = False
        elif ch == 0x5C:  # backslash
            escaped = quoted
        elif ch == 0x22:  # quote
            quoted = not quoted
        elif ch == 0x7D and not quoted:  # closing brace
            return i
    raise BackfillError("unterminated label set")


def _sample_timestamp(line: bytes) -> float:
    if b"#" not in line:  # no exemplar: the value and timestamp follow the last '}', if any
        close = line.rfind(b"}")
        words = (line[close + 1 :] if close != -1 else line).split()
        if len(words) == 3 - (close != -1):
            return float(words[-1])
    brace, space = line.find(b"{"), line.find(b" ")
    if brace != -1 and (space == -1 or brace < space):
        rest = line[_label_set_end(line, brace) + 1 :]
    else:
        rest = line[space:] if space != -1 else b""
    words = rest.split()
    if len(words) < 2 or words[1] == b"#":
        raise BackfillError("sample without a timestamp (promtool needs one on every sample)")
    return float(words[1])


def _open_input(path: Path):
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def split_openmetrics(src: Path, out_dir: Path, slice_ms: int, max_open: int = 200) -> SplitResult:
    """Cut ``src`` (plain or gzipped) into plain OpenMetrics files, one per ``slice_ms`` of time.

    Each slice keeps the original line order and gets the ``# TYPE``/``# HELP``/``# UNIT`` lines of
    every family it has samples of, and a ``# EOF``. Blank lines and other comments (Prometheus
    text format) are dropped. Slices are aligned to multiples of ``slice_ms`` since the epoch, as
    promtool aligns its blocks, so a slice of k blocks' length makes exactly k blocks.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    handles: dict[int, Any] = {}  # open slice files, oldest-opened first
    created: dict[int, Path] = {}
    family_of: dict[int, int] = {}  # slice -> the family whose descriptors it last got
    descriptors: list[bytes] = []
    family, in_descriptors = 0, False
    samples, oldest, newest = 0, float("inf"), float("-inf")
    lineno = 0
    try:
        with _open_input(src) as stream:
            for lineno, line in enumerate(stream, 1):
                if line[:1] == b"#":
                    if line.startswith(b"# EOF"):
                        break
                    if line.startswith((b"# TYPE ", b"# HELP ", b"# UNIT ")):
                        if not in_descriptors:
                            descriptors, family, in_descriptors = [], family + 1, True
                        descriptors.append(line if line.endswith(b"\n") else line + b"\n")
                    continue
                if not line.strip():
                    continue
                in_descriptors = False
                ts = _sample_timestamp(line)
                key = int(ts * 1000) // slice_ms
                handle = handles.get(key)
                if handle is None:
                    if len(handles) >= max_open:
                        handles.pop(next(iter(handles))).close()
                    path = created.setdefault(key, out_dir / f"slice-{key}.om")
                    handle = handles[key] = open(path, "ab")
                if family_of.get(key) != family:
                    handle.writelines(descriptors)
                    family_of[key] = family
                handle.write(line if line.endswith(b"\n") else line + b"\n")
                samples += 1
                if ts < oldest:
                    oldest = ts
                if ts > newest:
                    newest = ts
    except (BackfillError, ValueError) as exc:
        raise BackfillError(f"{src}:{lineno}: {exc}") from None
    except (OSError, EOFError) as exc:
        raise BackfillError(f"{src}: {exc}") from None
    finally:
        for handle in handles.values():
            handle.close()
    files = [created[k] for k in sorted(created)]
    for path in files:
        with open(path, "ab") as handle:
            handle.write(b"# EOF\n")
    return SplitResult(files, samples, oldest if samples else None, newest if samples else None)


# -- the server -----------------------------------------------------------------------------------


class PrometheusUnavailable(RuntimeError):
    """prometheus/promtool are missing and could not be installed."""


class PrometheusStartError(RuntimeError):
    """The server did not start, or did not serve the backfilled data in time."""


_live_servers: weakref.WeakSet[PrometheusServer] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:  # a safety net for interrupted sessions
    for server in list(_live_servers):
        server.stop()


class PrometheusServer:
    """A Prometheus server on 127.0.0.1 serving the samples of some OpenMetrics files.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``start`` after ``stop``
    restarts on the same data without backfilling again. All files go to ``workdir``: ``data/``,
    ``prometheus.yml`` and ``prometheus.log``.
    """

    def __init__(
        self,
        openmetrics_files: Sequence[Path | str],
        workdir: Path | str,
        *,
        max_block_duration: str | None = "24h",
        query_max_samples: int | None = None,
        lookback_delta: str | None = None,
        query_timeout: str | None = None,
        scrape_interval: str = "1m",
        compact: bool = False,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
        backfill_workers: int | None = None,
    ) -> None:
        self.files = [Path(f) for f in openmetrics_files]
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self.max_block_duration = max_block_duration
        self.query_max_samples = query_max_samples
        self.lookback_delta = lookback_delta
        self.query_timeout = query_timeout
        self.scrape_interval = scrape_interval
        self.compact = compact
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.backfill_workers = backfill_workers or max(1, min(4, os.cpu_count() or 1))
        self.url = ""
        self.port = 0
        self.samples = 0  # sample lines backfilled
        self.oldest_timestamp: float | None = None  # seconds, over all files
        self.newest_timestamp: float | None = None
        self.blocks = 0  # promtool blocks written
        self.timings: dict[str, float] = {}  # "backfill", "start" (ready and data served), seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._backfilled = False

    # context manager
    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> PrometheusServer:
        if self._process is not None:
            return self
        binaries = ensure_prometheus()
        if binaries is None:
            raise PrometheusUnavailable(unavailable_reason())
        prometheus, promtool = binaries
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._backfilled:
            began = time.monotonic()
            self._backfill(promtool)
            self.timings["backfill"] = time.monotonic() - began
            self._backfilled = True
        self.config_path.write_text(
            f"# written by tests/prometheus_harness.py: no scrape jobs, no rules\n"
            f"global:\n  scrape_interval: {self.scrape_interval}\n  evaluation_interval: {self.scrape_interval}\n",
            encoding="utf-8",
        )
        began = time.monotonic()
        for attempt in range(5):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self._launch(prometheus)
            try:
                self._wait_ready()
                break
            except PortTaken:  # another process took the port between free_port() and the bind
                self._terminate()
                if attempt == 4:
                    raise PrometheusStartError(f"no free port after 5 tries\n{self.log_tail()}") from None
            except BaseException:
                self.stop()
                raise
        try:
            self._wait_for_data()
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - began
        return self

    def stop(self) -> None:
        self._terminate()
        _live_servers.discard(self)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def command(self, prometheus: str = "prometheus") -> list[str]:
        args = [
            prometheus,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        if not self.compact:  # min == max block duration: no compaction (as for Thanos sidecars)
            args += ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"]
        if self.query_max_samples is not None:
            args.append(f"--query.max-samples={self.query_max_samples}")
        if self.lookback_delta is not None:
            args.append(f"--query.lookback-delta={self.lookback_delta}")
        if self.query_timeout is not None:
            args.append(f"--query.timeout={self.query_timeout}")
        return args + self.extra_args

    def _launch(self, prometheus: str) -> None:
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"--- {' '.join(self.command(prometheus))}\n".encode())
            log_file.flush()
            self._log_offset = log_file.tell()
            self._process = subprocess.Popen(self.command(prometheus), stdout=log_file, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=self.workdir)
        _live_servers.add(self)

    def log_tail(self, lines: int = 40) -> str:
        return read_log_tail(self.log_path, lines)

    def _wait_ready(self) -> None:
        assert self._process is not None
        wait_until_ready(self._process, self._answers, name="prometheus", timeout=self.ready_timeout,
                         log_path=self.log_path, log_offset=self._log_offset, error=PrometheusStartError)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _wait_for_data(self) -> None:
        """Wait until a query at the newest sample time sees the backfilled data."""
        if self.newest_timestamp is None:
            return
        deadline = time.monotonic() + self.ready_timeout
        last: object = None
        while True:
            try:
                last = self.query('count({__name__=~".+"})', self.newest_timestamp)
                if last:
                    return
            except (OSError, PrometheusQueryError) as exc:
                last = exc
            if self._process is None or self._process.poll() is not None:
                raise PrometheusStartError(f"prometheus exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise PrometheusStartError(f"backfilled data not served after {self.ready_timeout:.0f} s "
                                           f"(last answer {last!r}):\n{self.log_tail()}")
            time.sleep(0.1)

    def _backfill(self, promtool: str) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True)
        flags: list[str] = []
        block_ms = TWO_HOURS_MS
        if self.max_block_duration and promtool_supports(promtool, "--max-block-duration"):
            flags.append(f"--max-block-duration={self.max_block_duration}")
            block_ms = compatible_block_ms(self.max_block_duration)
        # A slice of k blocks costs promtool k passes over it plus ~0.1 s to start: 3 x 2 h is about best.
        slice_ms = block_ms * max(1, -(-3 * TWO_HOURS_MS // block_ms))
        slices_root = self.workdir / "slices"
        if slices_root.exists():
            shutil.rmtree(slices_root)
        slices: list[Path] = []
        oldest: list[float] = []
        newest: list[float] = []
        self.samples = 0
        for i, path in enumerate(self.files):
            split = split_openmetrics(path, slices_root / str(i), slice_ms)
            slices += split.files
            self.samples += split.samples
            if split.oldest is not None and split.newest is not None:
                oldest.append(split.oldest)
                newest.append(split.newest)
        self.oldest_timestamp = min(oldest) if oldest else None
        self.newest_timestamp = max(newest) if newest else None

        def run(path: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
            command = [promtool, "tsdb", "create-blocks-from", "openmetrics", *flags, str(path), str(self.data_dir)]
            return path, subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)

        with ThreadPoolExecutor(self.backfill_workers) as pool:
            results = list(pool.map(run, slices))
        failures = [(path, r) for path, r in results if r.returncode != 0]
        if failures:
            path, r = failures[0]
            raise BackfillError(f"promtool failed on {len(failures)} of {len(slices)} slices; {path}:\n"
                                + "\n".join((r.stderr or r.stdout).strip().splitlines()[-10:]))
        shutil.rmtree(slices_root)
        self.blocks = sum(1 for p in self.data_dir.iterdir() if p.is_dir() and len(p.name) == 26)

    # -- querying ---------------------------------------------------------------------------------

    def api(self, path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]] = (), *, timeout: float = 60) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; raises PrometheusQueryError on errors."""
        query = urllib.parse.urlencode(params, doseq=True)
        request = f"{self.url}/api/v1/{path.lstrip('/')}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                body = json.load(exc)
            except ValueError:
                raise PrometheusQueryError(exc.code, "http", str(exc)) from None
            raise PrometheusQueryError(exc.code, body.get("errorType", ""), body.get("error", "")) from None
        if body.get("status") != "success":
            raise PrometheusQueryError(200, body.get("errorType", ""), body.get("error", ""))
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Result of an instant query (at ``at``, or the newest sample when None)."""
        at = self.newest_timestamp if at is None else at
        params = {"query": expr} if at is None else {"query": expr, "time": repr(float(at))}
        data = self.api("query", params)
        if data["resultType"] in ("scalar", "string"):  # [time, "value"]
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": repr(float(start)), "end": repr(float(end)), "step": repr(float(step))}
        return self.api("query_range", params)["result"]

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an instant query, or None for an empty result."""
        result = self.query(expr, at)
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError(f"{expr!r} returned {len(result)} series")
        return float(result[0]["value"][1])


class PrometheusQueryError(RuntimeError):
    def __init__(self, status: int, error_type: str, error: str) -> None:
        self.status, self.error_type, self.error = status, error_type, error
        super().__init__(f"HTTP {status} {error_type}: {error}")


# -- the fault-injecting proxy --------------------------------------------------------------------

QUERY_PATHS = ("/api/v1/query", "/api/v1/query_range")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                         "transfer-encoding", "upgrade", "host", "content-length"})
_ERROR_TYPES = {400: "bad_data", 422: "execution", 499: "canceled", 500: "internal", 503: "unavailable", 504: "timeout"}


class Headers(dict[str, str]):
    """Request headers as sent, looked up case-insensitively (repeated headers joined by ', ')."""

    def _key(self, name: str) -> str | None:
        if dict.__contains__(self, name):
            return name
        lower = name.lower()
        return next((k for k in self if k.lower() == lower), None)

    def __getitem__(self, name: str) -> str:
        key = self._key(name)
        if key is None:
            raise KeyError(name)
        return dict.__getitem__(self, key)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        key = self._key(name)
        return default if key is None else dict.__getitem__(self, key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) is not None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    params: dict[str, list[str]]  # URL query, plus the form fields of a form-encoded POST body
    headers: Headers
    body: bytes
    time: float  # time.time() when the request arrived
    fault: str | None  # the kind of fault applied, None if forwarded untouched

    @property
    def query(self) -> str | None:
        """The PromQL ``query`` parameter, if any."""
        return self.param("query")

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default


@dataclass(eq=False)
class Fault:
    """What to do to matching requests; make these with :func:`status`, :func:`delay`, ...

    ``match``: only requests whose ``query`` parameter contains this text. ``times``: only the
    first N matching requests (then the fault lets requests through). ``paths``: which paths.
    ``hits`` counts the requests the fault was applied to.
    """

    kind: str
    code: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    fn: Callable[[Any], Any] | None = None
    reset: bool = False
    match: str | None = None
    times: int | None = None
    paths: tuple[str, ...] = QUERY_PATHS
    hits: int = field(default=0, init=False)

    def applies(self, path: str, params: Mapping[str, list[str]]) -> bool:
        if path not in self.paths or (self.times is not None and self.hits >= self.times):
            return False
        if self.match is not None and not any(self.match in q for q in params.get("query", ())):
            return False
        return True


def status(code: int, body: Any = None, *, error_type: str | None = None, error: str | None = None,
           headers: Mapping[str, str] | None = None, match: str | None = None, times: int | None = None,
           paths: Sequence[str] = QUERY_PATHS) -> Fault:
    """Answer with HTTP ``code`` and ``body`` (a dict is sent as JSON, str/bytes as they are).

    Without ``body``: a Prometheus-style ``{"status":"error","errorType":...,"error":...}``.
    """
    if body is None:
        body = {"status": "error", "errorType": error_type or _ERROR_TYPES.get(code, "internal"),
                "error": error or f"injected HTTP {code}"}
    content_type = "application/json"
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data, content_type = body.encode(), "text/plain; charset=utf-8"
    else:
        data = json.dumps(body).encode()
    all_headers = {"Content-Type": content_type, **(headers or {})}
    return Fault("status", code=code, body=data, headers=tuple(all_headers.items()), match=match, times=times, paths=tuple(paths))


def delay(seconds: float, *, match: str | None = None, times: int | None = None, paths: Sequence[str] = QUERY_PATHS) -> Fault:
    """Wait ``seconds`` before forwarding (to trigger client timeouts)."""
    return Fault("delay", seconds=seconds, match=match, times=times, paths=tuple(paths))


def drop_connection(*, reset: bool = False, match: str | None = None, times: int | None = None,
                    paths: Sequence[str] = QUERY_PATHS) -> Fault:
    """Close the connection without answering (``reset``: try to send a TCP RST instead of a FIN)."""
    return Fault("drop", reset=reset, match=match, times=times, paths=tuple(paths))


def warnings(messages: Sequence[str], *, match: str | None = None, times: int | None = None,
             paths: Sequence[str] = QUERY_PATHS) -> Fault:
    """Forward, then add ``"warnings": messages`` to the JSON answer (like Thanos partial responses)."""
    return Fault("warnings", warnings=tuple(messages), match=match, times=times, paths=tuple(paths))


def transform(fn: Callable[[Any], Any], *, match: str | None = None, times: int | None = None,
              paths: Sequence[str] = QUERY_PATHS) -> Fault:
    """Forward, then pass the parsed JSON answer through ``fn`` (its return value, or the object
    it changed in place when it returns None, is sent)."""
    return Fault("transform", fn=fn, match=match, times=times, paths=tuple(paths))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: without it each answer waits ~40 ms for a delayed ACK
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.proxy._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        split = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        content_type = self.headers.get("Content-Type", "")
        if body and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            for key, values in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        headers = Headers()
        for key, value in self.headers.items():
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        fault = proxy._claim(split.path, params)
        proxy._record(RecordedRequest(self.command, split.path, params, headers, body, time.time(),
                                      None if fault is None else fault.kind))
        try:
            if fault is None:
                self._send(*self._forward(body))
            elif fault.kind == "status":
                self._send(fault.code, list(fault.headers), fault.body)
            elif fault.kind == "delay":
                if proxy._closing.wait(fault.seconds):
                    self.close_connection = True
                    return
                self._send(*self._forward(body))
            elif fault.kind == "drop":
                self.close_connection = True
                if fault.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                code, response_headers, data = self._forward(body, identity=True)
                try:
                    data = self._rewrite(fault, response_headers, data)
                except Exception as exc:  # a broken transform: say so rather than drop the connection
                    error = {"status": "error", "errorType": "proxy", "error": f"FaultProxy {fault.kind} failed: {exc!r}"}
                    code, response_headers, data = 500, [("Content-Type", "application/json")], json.dumps(error).encode()
                self._send(code, response_headers, data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. timed out)
            self.close_connection = True

    def _forward(self, body: bytes, *, identity: bool = False) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        upstream = urllib.parse.urlsplit(proxy.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80,
                                                timeout=proxy.upstream_timeout)
        try:
            connection.putrequest(self.command, upstream.path.rstrip("/") + self.path, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() in _HOP_BY_HOP or (identity and key.lower() == "accept-encoding"):
                    continue
                connection.putheader(key, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, headers, data
        except OSError as exc:
            error = {"status": "error", "errorType": "proxy", "error": f"upstream {proxy.upstream}: {exc}"}
            return 502, [("Content-Type", "application/json")], json.dumps(error).encode()
        finally:
            connection.close()

    @staticmethod
    def _rewrite(fault: Fault, headers: list[tuple[str, str]], data: bytes) -> bytes:
        encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "").lower()
        if encoding == "gzip":  # identity was asked for; decode anyway if the upstream ignored that
            data = gzip.decompress(data)
            headers[:] = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        try:
            document = json.loads(data)
        except ValueError:
            return data
        if fault.kind == "warnings":
            if isinstance(document, dict):
                document.setdefault("warnings", []).extend(fault.warnings)
        else:
            assert fault.fn is not None
            changed = fault.fn(document)
            document = document if changed is None else changed
        return json.dumps(document).encode()

    def _send(self, code: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(code)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP and key.lower() not in ("date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 to ``upstream`` that records requests and injects faults.

    Faults apply to the query endpoints only (``/api/v1/query``, ``/api/v1/query_range``, unless a
    fault says otherwise); everything else (``/-/ready``, ``/api/v1/series``, ...) passes through.
    Several faults may be active: the first one that applies to a request is used.
    """

    def __init__(self, upstream: str, *, upstream_timeout: float = 120.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.upstream_timeout = upstream_timeout
        self.url = ""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        if self._server is None:
            self._closing.clear()
            server = _Server(("127.0.0.1", 0), _Handler)
            server.proxy = self
            self._server = server
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"FaultProxy {self.url}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._closing.set()
        server.shutdown()
        server.server_close()
        for connection in list(self._connections):  # idle keep-alive connections
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    # faults
    def set_fault(self, fault: Fault | None) -> None:
        """Make ``fault`` the only active fault (None: none)."""
        with self._lock:
            self._faults = [] if fault is None else [fault]

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    @contextmanager
    def fault(self, *faults: Fault) -> Iterator[Fault | tuple[Fault, ...]]:
        """Activate ``faults`` inside the ``with`` block; yields the fault (or the tuple)."""
        with self._lock:
            before, self._faults = self._faults, list(faults)
        try:
            yield faults[0] if len(faults) == 1 else faults
        finally:
            with self._lock:
                self._faults = before

    def _claim(self, path: str, params: Mapping[str, list[str]]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.applies(path, params):
                    fault.hits += 1
                    return fault
        return None

    # recordings
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def queries(self, *paths: str) -> list[str]:
        """The ``query`` parameters of the query requests received (of ``paths`` when given)."""
        wanted = paths or QUERY_PATHS
        return [r.query for r in self.requests if r.path in wanted and r.query is not None]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()


# -- session-wide servers for pytest --------------------------------------------------------------

_session_servers: dict[tuple[Any, ...], PrometheusServer | BaseException] = {}


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test that needs Prometheus; fail it instead where it must run (CI sets
    GITBOT_REQUIRE_PROMETHEUS=1, so a missing server can never pass as a skip)."""
    PROMETHEUS.skip_or_fail(reason)


def start_prometheus(tmp_path_factory: Any, files: Sequence[Path | str], **kw: Any) -> PrometheusServer:
    """A running server for ``files`` (and PrometheusServer keyword arguments), one per session.

    Servers are cached by the resolved file paths and ``kw``; :func:`stop_session_servers` (run
    by the session fixture in conftest.py) stops them all. Skips the test when Prometheus is not
    available; a server that failed to start fails every test that asks for it, without retrying.
    """
    import pytest

    if ensure_prometheus() is None:
        skip_or_fail(f"no Prometheus: {unavailable_reason()}")
    key = (tuple(str(Path(f).resolve()) for f in files), _freeze(kw))
    cached = _session_servers.get(key)
    if isinstance(cached, BaseException):
        pytest.fail(f"prometheus failed to start earlier in this session: {cached}", pytrace=False)
    if cached is None:
        server = PrometheusServer(files, tmp_path_factory.mktemp("prometheus"), **kw)
        try:
            server.start()
        except Exception as exc:
            server.stop()
            _session_servers[key] = exc
            raise
        _session_servers[key] = cached = server
    return cached


def stop_session_servers() -> None:
    for server in _session_servers.values():
        if isinstance(server, PrometheusServer):
            server.stop()
    _session_servers.clear()
