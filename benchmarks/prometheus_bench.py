"""Prometheus source: HTTP requests and fetch time against the server's own time, 1k vs 10k containers.

Run by ``python -m benchmarks`` as a child process::

    .venv/bin/python -m benchmarks.prometheus_bench [--sizes 1000,10000] [--history-hours H] [--profile PATH]

What it makes: one synthetic fleet per size, ``fixtures/synth.py``'s ``scenario_for`` with
single-replica, single-container Deployments (as ``tests/test_prometheus_source.py``'s fleet), in
its own namespaces of at most ``PER_NAMESPACE`` containers (1k: 2 namespaces of 500; 10k: 10 of
1,000). Each namespace is its own scenario (seeded by its name, its series made by two worker
processes with ``synth.families``); all are written to one OpenMetrics file (``write_file``, as
``synth.write_snapshot`` does) and backfilled into ONE real Prometheus on 127.0.0.1 by the project's
harness (``tests/prometheus_harness.py``: ``ensure_prometheus``, ``PrometheusServer``). The history
is ``--history-hours`` of 5-minute samples plus one hour of lead-in for the CPU rate window; the
caller picks it to fit its time budget (backfill and query time both grow with containers x hours).

What it measures, per fleet, with ``PrometheusSource(PrometheusOptions(url)).fetch(UsageQuery(
history_seconds=H, step_seconds=300, end=END, namespaces=<the fleet's>))`` run once through
``FaultProxy`` (the harness's recording proxy) -> ``StatsShim`` (below) -> Prometheus:

* requests: HTTP requests of the fetch, as the proxy recorded them (by path) and as
  ``source.client.requests`` counts them; ``chunks`` = the CPU range queries (one per namespace
  chunk; a chunk asks 8 or 9 queries, the 9th only when it had an OOM kill). Target: the same count for 1k and 10k, or growing only with chunks.
* server time: the shim adds ``stats=all`` to every /api/v1/query and /api/v1/query_range request
  and sums Prometheus' own ``data.stats.timings.execTotalTime`` (query evaluation: queueing,
  preparation, inner evaluation, result sort; not JSON encoding, gzip or transfer). It also times
  each upstream round trip (evaluation + encoding + gzip + local transfer), reported alongside.
* ratio = fetch wall / summed execTotalTime (target <= 1.5x): what the client, the HTTP API and the
  JSON cost on top of the query evaluation itself; wall / summed round trips is the client's own
  share (requests, JSON decoding, gitbot's tables and assembly) plus the proxies'.

Both proxies (the harness's FaultProxy and the stats shim) turn Nagle's algorithm off (they answer in two writes, headers then body, and would
otherwise wait up to 40 ms per answer for the client's delayed ACK). ``--direct`` more fetches of
the first fleet go straight to the server, without proxies or ``stats``, to show the proxies' cost.
``--profile`` cProfiles one more direct fetch of the first fleet.

Prints one JSON object on stdout; when Prometheus cannot be found, installed or started, the object
has ``skipped`` with the reason (exit status 0).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [p for p in (str(ROOT / "tests"), str(ROOT / "fixtures")) if p not in sys.path]

from prometheus_harness import (  # type: ignore[import-not-found]
    BackfillError,
    FaultProxy,
    PrometheusServer,
    PrometheusStartError,
    PrometheusUnavailable,
    ensure_prometheus,
    unavailable_reason,
)
from synth import SimpleContainer, SimpleWorkload, families, scenario_for  # type: ignore[import-not-found]

from benchmarks.profiling import profiled, top_gitbot, write_profile
from gitbot.metrics.openmetrics import Family, write_file
from gitbot.metrics.prometheus import PrometheusOptions, PrometheusSource
from gitbot.metrics.source import UsageQuery

END = 1794787200  # 2026-11-16T00:00Z, as tests/test_prometheus_source.py
STEP_SECONDS = 300
LEAD_IN_SECONDS = 3600  # samples before the window, for the first steps' CPU rate
PER_NAMESPACE = 1000
MIN_NAMESPACES = 2
FULL_SIZES = (1000, 10000)
QUERY_PATHS = ("/api/v1/query", "/api/v1/query_range")
MI = 2**20
CHUNK_MARK = "rate(container_cpu_usage_seconds_total"  # in the one CPU range query of each namespace chunk

# -- the fleets -----------------------------------------------------------------------------------


def label(containers: int) -> str:
    return f"{containers / 1000:g}k" if containers >= 1000 and containers % 100 == 0 else str(containers)


def namespaces_for(containers: int) -> list[str]:
    count = max(MIN_NAMESPACES, -(-containers // PER_NAMESPACE))
    return [f"fleet{label(containers)}-{k:02d}" for k in range(count)]


def _workloads(namespace: str, index: range) -> list[SimpleWorkload]:
    return [SimpleWorkload(namespace, "Deployment", f"app-{i:05d}", 1,
                           [SimpleContainer("main", 100 + 50 * (i % 7), (128 + 64 * (i % 5)) * MI, None, (256 + 128 * (i % 5)) * MI)])
            for i in index]


def _namespace_families(job: tuple[str, int, int, float]) -> list[Family]:
    """One namespace's scenario as metric families (in a worker process)."""
    namespace, first, count, days = job
    seed = sum(namespace.encode()) * 7919 + count  # stable across processes, unlike hash()
    return families(scenario_for(_workloads(namespace, range(first, first + count)), float(END), days=days, seed=seed))


def write_fleets(path: Path, sizes: Sequence[int], history_seconds: int, workers: int) -> dict[int, list[str]]:
    """Every fleet's namespaces in ONE OpenMetrics file (one file gives one set of non-overlapping
    blocks, as a Prometheus that compacts has; a file per namespace would make 11 overlapping sets,
    which query ~1.5x slower). Returns each fleet's namespaces. Series repeated across namespaces'
    scenarios (the shared node's labels) are written once."""
    days = (history_seconds + LEAD_IN_SECONDS) / 86400
    jobs: list[tuple[str, int, int, float]] = []
    fleets: dict[int, list[str]] = {}
    for containers in sizes:
        names = namespaces_for(containers)
        fleets[containers] = names
        per, extra = divmod(containers, len(names))
        first = 0
        for k, namespace in enumerate(names):
            count = per + (1 if k < extra else 0)
            jobs.append((namespace, first, count, days))
            first += count
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_namespace_families, jobs))
    else:
        parts = [_namespace_families(job) for job in jobs]
    merged: dict[str, Family] = {}
    seen: set[tuple[str, Any]] = set()
    for part in parts:
        for family in part:
            into = merged.setdefault(family.name, Family(family.name, family.type, family.help, []))
            for series in family.series:
                if (series.name, series.labels) not in seen:
                    seen.add((series.name, series.labels))
                    into.series.append(series)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, [merged[name] for name in sorted(merged)])
    return fleets


# -- a shim that asks Prometheus for its own timings ------------------------------------------------


@dataclass(frozen=True)
class ServerTiming:
    path: str
    query: str
    exec_total_s: float | None  # data.stats.timings.execTotalTime; None if the answer had none
    eval_s: float | None  # data.stats.timings.evalTotalTime
    round_trip_s: float  # request sent to the shim's upstream -> whole answer read
    response_bytes: int  # as sent (gzip when the client accepts it)
    status: int


class StatsShim:
    """An HTTP pass-through on 127.0.0.1 to ``upstream`` that adds ``stats=all`` to query requests
    and records Prometheus' timings per request. Answers are forwarded byte for byte (``stats``
    included; prometheus-api-client reads only ``data.result``)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream.rstrip("/"))
        self.url = ""
        self._lock = threading.Lock()
        self._timings: list[ServerTiming] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        shim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                shim._handle(self)

            do_POST = do_GET

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def timings(self) -> list[ServerTiming]:
        with self._lock:
            return list(self._timings)

    def clear(self) -> None:
        with self._lock:
            self._timings.clear()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(request.path)
        params = urllib.parse.parse_qs(split.query)
        if body and "x-www-form-urlencoded" in request.headers.get("Content-Type", ""):
            params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
        target = request.path
        if split.path in QUERY_PATHS:
            target = split.path + "?" + "&".join(p for p in (split.query, "stats=all") if p)
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port or 80, timeout=300)
        try:
            began = time.perf_counter()
            connection.putrequest(request.command, self.upstream.path + target, skip_accept_encoding=True)
            for key, value in request.headers.items():
                if key.lower() not in ("host", "content-length", "connection", "keep-alive", "transfer-encoding"):
                    connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
            round_trip = time.perf_counter() - began
            headers = [(k, v) for k, v in response.getheaders()
                       if k.lower() not in ("content-length", "connection", "keep-alive", "transfer-encoding", "date")]
            status = response.status
        finally:
            connection.close()
        if split.path in QUERY_PATHS:
            encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "")
            exec_total, evaluation = _stats(gzip.decompress(data) if encoding == "gzip" else data)
            with self._lock:
                self._timings.append(ServerTiming(split.path, (params.get("query") or [""])[0], exec_total, evaluation, round_trip, len(data), status))
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
        request.wfile.flush()


def _stats(document: bytes) -> tuple[float | None, float | None]:
    """``execTotalTime`` and ``evalTotalTime`` from an answer's ``data.stats`` (the last key of
    ``data``: only the tail is decoded, not the whole result)."""
    at = document.rfind(b'"stats":')
    if at == -1:
        return None, None
    try:
        stats, _ = json.JSONDecoder().raw_decode(document[at + len(b'"stats":'):].decode())
        timings = stats["timings"]
        return float(timings["execTotalTime"]), float(timings["evalTotalTime"])
    except (ValueError, KeyError, TypeError):
        return None, None


# -- the timed fetches ----------------------------------------------------------------------------


def describe(path: str, query: str) -> str:
    """``range sum(rate(container_cpu_usage_seconds_total))``: the request's kind, outer
    aggregation, function and first metric, for the notes."""
    kind = "range" if path.endswith("query_range") else "instant"
    metric = re.search(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", query) or re.search(r"\(([a-zA-Z_:][a-zA-Z0-9_:]*)\[", query)
    outer = re.match(r"\s*(sum|max|min|count|avg)\b", query)
    function = re.search(r"\b(rate|increase|max_over_time|last_over_time|count_over_time)\(", query)
    name = metric.group(1) if metric else query[:40]
    inner = f"{function.group(1)}({name})" if function else name
    text = f"{outer.group(1)}({inner})" if outer else inner
    return f"{kind} {text}" + (" and on(...) ..." if " and on " in query else "")


def _fetch(url: str, namespaces: Sequence[str], history_seconds: int) -> tuple[float, int, int]:
    """(wall seconds, requests the client counted, containers in the answer) of one fetch."""
    source = PrometheusSource(PrometheusOptions(url))
    query = UsageQuery(history_seconds=history_seconds, step_seconds=STEP_SECONDS, end=float(END), namespaces=frozenset(namespaces))
    started = time.perf_counter()
    data = source.fetch(query)
    return time.perf_counter() - started, source.client.requests, len(data.containers)


def measure_fleet(server: PrometheusServer, containers: int, namespaces: Sequence[str], history_seconds: int,
                  direct: int = 0) -> dict[str, Any]:
    """One fetch through FaultProxy -> StatsShim -> Prometheus (the measurement: requests, server
    time, wall), then ``direct`` fetches straight to the server (a check of the proxies' overhead)."""
    with StatsShim(server.url) as shim, FaultProxy(shim.url, upstream_timeout=300) as proxy:
        fetch_s, client_requests, found = _fetch(proxy.url, namespaces, history_seconds)
        recorded = proxy.requests
        timings = shim.timings
    direct_runs = [_fetch(server.url, namespaces, history_seconds) for _ in range(direct)]
    by_path: dict[str, int] = {}
    for r in recorded:
        by_path[r.path] = by_path.get(r.path, 0) + 1
    exec_times = [t.exec_total_s for t in timings if t.exec_total_s is not None]
    return {
        "containers": containers,
        "namespaces": len(namespaces),
        "containers_fetched": found,
        "containers_fetched_direct": [d[2] for d in direct_runs],
        "requests": len(recorded),
        "requests_by_path": by_path,
        "requests_client": client_requests,
        "requests_client_direct": [d[1] for d in direct_runs],
        "methods": sorted({r.method for r in recorded}),
        "max_url_bytes": max((len(urllib.parse.urlencode(r.params, doseq=True)) for r in recorded), default=0),
        "body_bytes": sum(len(r.body) for r in recorded),
        "chunks": sum(1 for r in recorded if r.path == "/api/v1/query_range" and CHUNK_MARK in (r.query or "")),
        "fetch_s": fetch_s,
        "fetch_direct_s": [d[0] for d in direct_runs],
        "server_exec_s": sum(exec_times),
        "server_eval_s": sum(t.eval_s or 0.0 for t in timings),
        "server_round_trip_s": sum(t.round_trip_s for t in timings),
        "server_timed_requests": len(exec_times),
        "query_requests": len(timings),
        "slowest": [f"{describe(t.path, t.query)} {t.exec_total_s or 0.0:.2f}s"
                    for t in sorted(timings, key=lambda t: -(t.exec_total_s or 0.0))[:3]],
        "response_mb": sum(t.response_bytes for t in timings) / 2**20,
        "statuses": sorted({t.status for t in timings}),
    }


def profile_fetch(server: PrometheusServer, containers: int, namespaces: Sequence[str], history_seconds: int, path: Path) -> dict[str, Any]:
    """cProfile one more direct fetch (client side: requests, JSON, gitbot's tables and assembly)."""
    (_, requests, _), profiler, seconds = profiled(lambda: _fetch(server.url, namespaces, history_seconds))
    write_profile(profiler, path, f"cProfile of PrometheusSource.fetch for the {containers}-container fleet ({len(namespaces)} namespaces, "
                                  f"{history_seconds / 3600:g} h x {STEP_SECONDS}s steps, {requests} requests) straight to the server; "
                                  f"profiled wall {seconds:.1f}s. Socket reads are the wait for the server.")
    return {"profile_path": str(path), "profile_top": top_gitbot(profiler, skip=("fetch",)), "profile_s": seconds,
            "profile_containers": containers}


def run(sizes: Sequence[int], history_hours: float, direct: int = 1, profile: Path | None = None,
        workdir: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    history_seconds = int(history_hours * 3600) // STEP_SECONDS * STEP_SECONDS
    out: dict[str, Any] = {"sizes": list(sizes), "history_seconds": history_seconds, "step_seconds": STEP_SECONDS, "end": END,
                           "direct_fetches": direct}
    if ensure_prometheus() is None:
        out["skipped"] = f"no Prometheus: {unavailable_reason()}"
        return out
    with tempfile.TemporaryDirectory(prefix="gitbot-bench-prometheus-", dir=workdir) as tmp:
        tmp_path = Path(tmp)
        began = time.perf_counter()
        metrics = tmp_path / "fleets.om"
        fleets = write_fleets(metrics, sizes, history_seconds, workers=min(2, os.cpu_count() or 1))
        out["generate_s"] = time.perf_counter() - began
        out["metrics_mb"] = metrics.stat().st_size / 2**20
        server = PrometheusServer([metrics], tmp_path / "server")
        try:
            try:
                server.start()
            except (PrometheusUnavailable, PrometheusStartError, BackfillError, OSError, subprocess.SubprocessError) as exc:
                out["skipped"] = f"Prometheus did not start: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
                return out
            metrics.unlink()  # backfilled; the blocks are in the server's data directory
            out.update(backfill_s=server.timings.get("backfill"), start_s=server.timings.get("start"),
                       samples=server.samples, blocks=server.blocks)
            out["fleets"] = [measure_fleet(server, n, fleets[n], history_seconds, direct if i == 0 else 0) for i, n in enumerate(sizes)]
            if profile is not None:
                out.update(profile_fetch(server, sizes[0], fleets[sizes[0]], history_seconds, profile))
        finally:
            server.stop()
    out["wall_s"] = time.perf_counter() - started
    return out


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated container counts, got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("container counts must be positive")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prometheus_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=FULL_SIZES, help="container counts (default 1000,10000)")
    parser.add_argument("--history-hours", type=float, default=12.0, help="window of 5-minute samples (default 12)")
    parser.add_argument("--direct", type=int, default=1, help="direct fetches of the first fleet, to check the proxies' overhead (default 1)")
    parser.add_argument("--profile", type=Path, help="also cProfile a fetch of the first fleet and write its top functions here")
    args = parser.parse_args(argv)
    if args.history_hours * 3600 < 2 * STEP_SECONDS or args.direct < 0:
        parser.error("--history-hours must cover two steps and --direct must not be negative")
    json.dump(run(args.sizes, args.history_hours, args.direct, args.profile), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
