"""Usage from a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Only the standard ``/api/v1/query`` and ``/api/v1/query_range`` endpoints are used, through
prometheus-api-client (POST, so long namespace lists never hit URL limits). The number of requests
does not grow with the number of containers:

1. one instant query counts the container series per namespace over the window;
2. namespaces are packed into chunks whose series x steps stay under a points budget;
3. per chunk, four range queries (CPU, memory, restarts, OOM flags), a fifth for the memory limit in
   force at each OOM kill only when the chunk had one, and four instant queries (throttled and total
   CFS periods, observed requests and limits), all aggregated on the server
   ``by (namespace, pod, container)`` (``gitbot.metrics.evaluated`` lists the expressions);
4. five instant queries for the join tables (pod owners, ReplicaSet owners, Job owners, pod info,
   node labels), and one more for the three owner tables of every other namespace, summed up with
   ``group by`` (one row per pod, ReplicaSet or Job, not per container): the pods no workload of the
   repository claims, and why (``gitbot.metrics.unmatched``), without a usage query outside the
   namespaces planned;
5. three instant queries for service-mesh traffic between workloads (Istio requests, request and
   response bytes), summed over the window per pair; a server that refuses them for its sample
   limit costs only the co-location suggestions (a warning), not the plan.

A chunk the server refuses for its sample limit is split in halves and retried; a single namespace
that still fails is reported as a gap (its containers are skipped with the reason), and the run goes
on. Server warnings (e.g. Thanos partial responses) are carried into the plan's warnings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3 import exceptions as urllib3_exceptions
from urllib3.util.retry import Retry

from gitbot.errors import SourceUnavailable, redact_urls
from gitbot.metrics import promql
from gitbot.metrics.evaluated import OOM_LIMIT_LOOKBACK_SECONDS, Evaluated, Key, Labels, assemble, observed_value
from gitbot.metrics.openmetrics import Series
from gitbot.metrics.query import Selector, by, duration
from gitbot.metrics.source import (
    CADVISOR_METRICS,
    CFS_PERIODS,
    CFS_THROTTLED,
    CPU_USAGE,
    JOB_OWNER,
    KSM_METRICS,
    LAST_TERMINATED,
    LIMITS,
    MEMORY_WORKING_SET,
    MESH_LABELS,
    MESH_METRICS,
    NODE_LABELS,
    OWNER_LABELS,
    OWNER_OBJECT_LABELS,
    POD_INFO,
    POD_OWNER,
    REPLICASET_OWNER,
    REQUESTS,
    RESTARTS,
    UsageQuery,
)
from gitbot.metrics.usage import UsageData
from gitbot.model import Bound, Field, Resource

KEY_LABELS = ("namespace", "pod", "container")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PrometheusOptions:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None  # sent as "Authorization: Bearer ..."
    basic_auth: tuple[str, str] | None = None
    ca_bundle: Path | None = None
    insecure: bool = False  # do not verify TLS certificates
    timeout_seconds: float = 60.0
    retries: int = 3  # on connection errors and 429/502/503/504, with exponential backoff
    max_points_per_query: int = 2_000_000  # series x steps per range query
    max_steps_per_query: int = 10_000  # Prometheus refuses more than 11,000 points per series
    max_samples_per_query: int = 5_000_000  # raw samples per request when recording a snapshot

    def secrets(self) -> tuple[str, ...]:
        values = [self.token or "", *(self.headers.values())]
        if self.basic_auth:
            values.append(self.basic_auth[1])
        return tuple(v for v in values if v)


class TooManySamples(Exception):
    """The server refused a query for its sample limit."""


class _FormSession(requests.Session):
    """Sends a POST's parameters as a form body (the HTTP API accepts both): prometheus-api-client
    puts them in the URL even for POST, where a long namespace list could meet a URL-length limit."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        method_name = method.decode() if isinstance(method, bytes) else method
        if method_name.upper() == "POST" and kwargs.get("params") and kwargs.get("data") is None and not args:
            kwargs["data"], kwargs["params"] = kwargs["params"], None
        return super().request(method, url, *args, **kwargs)


class PrometheusClient:
    """prometheus-api-client with gitbot's error messages, request counting and server warnings."""

    def __init__(self, options: PrometheusOptions) -> None:
        self.options = options
        self.display_url = redact_urls(options.url.rstrip("/"))
        self.requests = 0
        self.warnings: list[str] = []
        session = _FormSession()
        session.verify = str(options.ca_bundle) if options.ca_bundle else not options.insecure
        session.hooks["response"].append(self._on_response)
        headers = dict(options.headers)
        if options.token:
            headers["Authorization"] = f"Bearer {options.token}"
        retry = Retry(
            total=options.retries,
            backoff_factor=0.5,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
        )
        self._connect = PrometheusConnect(
            url=options.url.rstrip("/"),
            headers=headers or None,
            disable_ssl=options.insecure,
            retry=retry,
            auth=options.basic_auth,
            session=session,
            timeout=options.timeout_seconds,
            method="POST",
        )

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests += 1
        tail = response.content[-65536:]
        if b'"warnings"' in tail:
            try:
                self.warnings.extend(str(w) for w in response.json().get("warnings") or [])
            except ValueError:
                pass

    def instant(self, query: str, at: float) -> list[dict[str, Any]]:
        return self._call(lambda: self._connect.custom_query(query, params={"time": _ts(at)}), query)

    def range(self, query: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        """A range query, split into slices of at most ``max_steps_per_query`` steps."""
        out: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        slice_steps = self.options.max_steps_per_query
        t = start
        while t <= end:
            t_end = min(end, t + (slice_steps - 1) * step)
            part = self._call(
                lambda: self._connect.custom_query_range(query, _datetime(t), _datetime(t_end), str(step)), query
            )
            for item in part:
                key = tuple(sorted(item.get("metric", {}).items()))
                out.setdefault(key, {"metric": item.get("metric", {}), "values": []})["values"].extend(item.get("values", []))
            t = t_end + step
        return list(out.values())

    def _call(self, run: Callable[[], Any], query: str) -> list[dict[str, Any]]:
        where = f"prometheus {self.display_url}"
        try:
            result = run()
        except requests.exceptions.Timeout:
            raise SourceUnavailable(f"{where}: timed out after {self.options.timeout_seconds:g}s") from None
        except requests.exceptions.SSLError as exc:
            raise SourceUnavailable(f"{where}: TLS error: {self._clean(_root_cause(exc))}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.RetryError) as exc:
            cause = _root_cause(exc)
            if isinstance(cause, (urllib3_exceptions.ReadTimeoutError, urllib3_exceptions.ConnectTimeoutError)):
                raise SourceUnavailable(f"{where}: timed out after {self.options.timeout_seconds:g}s") from None
            raise SourceUnavailable(f"{where}: cannot connect: {self._clean(cause)}") from None
        except PrometheusApiClientException as exc:
            status, message = _api_error(str(exc))
            if "too many samples" in message or "exceeded maximum resolution" in message:
                raise TooManySamples(message) from None
            raise SourceUnavailable(f"{where}: HTTP {status}: {self._clean(message)}") from None
        except (ValueError, KeyError, TypeError) as exc:  # not the JSON the API documents
            raise SourceUnavailable(f"{where}: unexpected response: {self._clean(exc)}") from None
        if not isinstance(result, list):
            raise SourceUnavailable(f"{where}: unexpected response to {query[:80]!r}")
        return result

    def _clean(self, exc: object) -> str:
        text = " ".join(str(exc).split())
        text = text.replace(self.options.url.rstrip("/"), self.display_url)
        for secret in self.options.secrets():
            text = text.replace(secret, "***")
        return text if len(text) <= 300 else text[:299] + "…"


class PrometheusSource:
    def __init__(self, options: PrometheusOptions, progress: Progress | None = None) -> None:
        self.options = options
        self.client = PrometheusClient(options)
        self.progress = progress or (lambda message: None)

    def describe(self) -> str:
        return f"prometheus {self.client.display_url}"

    # -- plan --------------------------------------------------------------------------------------

    def fetch(self, query: UsageQuery) -> UsageData:
        if query.end is None:
            raise ValueError("a Prometheus query needs an explicit window end")
        step, history, end = query.step_seconds, query.history_seconds, query.end
        grid = promql.eval_grid(end - history + step, end, step)
        counts = self._series_per_namespace(query.namespaces, end, history)
        chunks = _pack(counts, max(1, self.options.max_points_per_query // max(1, grid.size)))
        tables = _Tables(grid)
        failed: dict[str, str] = {}
        todo = list(chunks)
        done = 0
        while todo:
            chunk = todo.pop(0)
            done += 1
            self.progress(f"usage: namespaces {done}/{done + len(todo)}: {', '.join(chunk[:3])}{' …' if len(chunk) > 3 else ''}")
            try:
                self._fetch_chunk(chunk, grid, query, tables)
            except TooManySamples as exc:
                if len(chunk) > 1:
                    half = len(chunk) // 2
                    todo[:0] = [chunk[:half], chunk[half:]]
                    continue
                failed[chunk[0]] = f"the query for namespace {chunk[0]} exceeds the server's sample limit ({exc})"
        namespaces = sorted(counts)
        rows = {name: self._rows(name, namespaces, end, history) for name in (POD_OWNER, REPLICASET_OWNER, JOB_OWNER, POD_INFO)}
        node_rows = self._rows(NODE_LABELS, None, end, history)
        owner_warnings: list[str] = []
        try:
            elsewhere = self._owners_elsewhere(namespaces, end - history, end)
        except TooManySamples as exc:
            elsewhere, owner_warnings = {}, [f"the pods of the other namespaces are left out of the unmatched pods: {exc}"]
        for name, found in elsewhere.items():
            rows[name] = rows[name] + found
        traffic, traffic_warnings = self._traffic(query.namespaces, end, history)
        warnings = [f"prometheus: {w}" for w in dict.fromkeys(self.client.warnings)] + owner_warnings + traffic_warnings
        warnings += [f"no usage for namespace {ns}: {why}" for ns, why in failed.items()]
        evaluated = Evaluated(
            grid=grid,
            step_seconds=step,
            cpu_m=tables.range[CPU_USAGE],
            memory_bytes=tables.range[MEMORY_WORKING_SET],
            restarts=tables.range[RESTARTS],
            oom_flags=tables.range[LAST_TERMINATED],
            memory_limits=tables.range[LIMITS],
            throttled=tables.instant[CFS_THROTTLED],
            periods=tables.instant[CFS_PERIODS],
            observed=tables.observed,
            pod_owners=rows[POD_OWNER],
            replicaset_owners=rows[REPLICASET_OWNER],
            job_owners=rows[JOB_OWNER],
            pod_info=rows[POD_INFO],
            node_labels=node_rows,
            warnings=tuple(warnings),
            failed_namespaces=failed,
            traffic=traffic,
        )
        return assemble(evaluated, self.describe())

    def _traffic(self, namespaces: frozenset[str] | None, end: float, history: int) -> tuple[list[tuple[str, Labels, float]], list[str]]:
        """Mesh traffic per workload pair (``gitbot.metrics.evaluated``), for pairs touching ``namespaces``."""
        rows: list[tuple[str, Labels, float]] = []
        for name in MESH_METRICS:
            try:
                result = self.client.instant(f"sum {by(MESH_LABELS)} (increase({Selector(name).range(history)}))", end)
            except TooManySamples as exc:
                return [], [f"service-mesh traffic left out (no co-location suggestions): {exc}"]
            for item in result:
                labels = {k: item["metric"].get(k, "") for k in MESH_LABELS}
                if namespaces is None or {labels["source_workload_namespace"], labels["destination_workload_namespace"]} & namespaces:
                    rows.append((name, labels, _number(item["value"][1])))
        return sorted(rows, key=lambda r: (r[0], tuple(r[1].values()))), []

    def _series_per_namespace(self, namespaces: frozenset[str] | None, end: float, history: int) -> dict[str, int]:
        if namespaces is not None and not namespaces:
            return {}
        sel = _containers(Selector(MEMORY_WORKING_SET), namespaces)
        result = self._whole(f"count {by(['namespace'])} (max_over_time({sel.range(history)}))", end)
        return {item["metric"].get("namespace", ""): int(float(item["value"][1])) for item in result}

    def _whole(self, query: str, at: float) -> list[dict[str, Any]]:
        """An instant query that cannot be split: over the sample limit, the run cannot go on."""
        try:
            return self.client.instant(query, at)
        except TooManySamples as exc:
            raise SourceUnavailable(
                f"prometheus {self.client.display_url}: {exc}; use a shorter --history or a query frontend"
            ) from None

    def _fetch_chunk(self, chunk: Sequence[str], grid: np.ndarray, query: UsageQuery, tables: _Tables) -> None:
        history, step = query.history_seconds, query.step_seconds
        key = by(KEY_LABELS)
        ns = frozenset(chunk)
        cadvisor = lambda metric: _containers(Selector(metric), ns)  # noqa: E731
        ksm = lambda metric: Selector(metric).where("namespace", "in", ns)  # noqa: E731
        oom = ksm(LAST_TERMINATED).where("reason", "eq", "OOMKilled")
        ranges = {
            CPU_USAGE: (f"sum {key} (rate({cadvisor(CPU_USAGE).range(query.rate_window_seconds)}))", 1000.0),
            MEMORY_WORKING_SET: (f"max {key} (max_over_time({cadvisor(MEMORY_WORKING_SET).range(step)}))", 1.0),
            RESTARTS: (f"max {key} ({ksm(RESTARTS)})", 1.0),
            LAST_TERMINATED: (f"max {key} ({oom})", 1.0),
            LIMITS: (
                f"max {key} (last_over_time({ksm(LIMITS).where('resource', 'eq', 'memory').range(OOM_LIMIT_LOOKBACK_SECONDS)}))"
                f" and on (namespace, pod, container) max {key} (max_over_time({oom.range(history)}) == 1)",
                1.0,
            ),
        }
        fetched_range: dict[str, list[dict[str, Any]]] = {}
        for name, (expr, _) in ranges.items():
            if name == LIMITS and not fetched_range[LAST_TERMINATED]:
                fetched_range[name] = []  # no OOM kill in the chunk: no limit in force at one to look up
                continue
            fetched_range[name] = self.client.range(expr, float(grid[0]), float(grid[-1]), step)
        end = float(grid[-1])
        instants = {
            CFS_THROTTLED: f"sum {key} (increase({cadvisor(CFS_THROTTLED).range(history)}))",
            CFS_PERIODS: f"sum {key} (increase({cadvisor(CFS_PERIODS).range(history)}))",
        }
        fetched_instant = {name: self.client.instant(expr, end) for name, expr in instants.items()}
        observed = {
            bound: self.client.instant(
                f"max {by((*KEY_LABELS, 'resource'))} (max_over_time({ksm(name).where('resource', 're', 'cpu|memory').range(history)}))",
                end,
            )
            for name, bound in ((REQUESTS, Bound.REQUEST), (LIMITS, Bound.LIMIT))
        }
        # only now, with every answer in hand, add the chunk (a split chunk is retried whole)
        for name, result in fetched_range.items():
            tables.add_range(name, result, ranges[name][1])
        for name, result in fetched_instant.items():
            tables.add_instant(name, result)
        for bound, result in observed.items():
            tables.add_observed(bound, result)

    def _rows(self, metric: str, namespaces: Sequence[str] | None, end: float, history: int) -> list[Labels]:
        sel = Selector(metric)
        if namespaces is not None:
            if not namespaces:
                return []
            sel = sel.where("namespace", "in", namespaces)
        result = self._whole(f"max_over_time({sel.range(history)})", end)
        return [dict(item.get("metric", {})) for item in result]

    def _owners_elsewhere(self, covered: Sequence[str], start: float, end: float) -> dict[str, list[Labels]]:
        """The owner tables (pod, ReplicaSet, Job) of every namespace but ``covered`` seen in (start, end],
        in one instant query: the pods the repository does not claim, and their owners, for the hints.

        Over the server's sample limit the window is halved (the label sets seen in the halves are
        those seen in the whole); TooManySamples when even 10 minutes are too many."""
        found: dict[str, dict[tuple[tuple[str, str], ...], Labels]] = {name: {} for name in OWNER_OBJECT_LABELS}
        for labels in self._owner_rows(covered, start, end):
            for name, object_label in OWNER_OBJECT_LABELS.items():
                if labels.get(object_label):
                    found[name][tuple(sorted(labels.items()))] = labels
                    break
        return {name: list(rows.values()) for name, rows in found.items()}

    def _owner_rows(self, covered: Sequence[str], start: float, end: float) -> list[Labels]:
        try:
            result = self.client.instant(_owners_query(covered, math.ceil(end - start)), end)
        except TooManySamples:
            if end - start <= 600:
                raise
            mid = (start + end) / 2
            return self._owner_rows(covered, start, mid) + self._owner_rows(covered, mid, end)
        return [dict(item.get("metric", {})) for item in result]

    # -- snapshot ------------------------------------------------------------------------------------

    def fetch_raw(self, namespaces: frozenset[str] | None, start: float, end: float, window_start: float | None = None) -> dict[str, list[Series]]:
        """Raw samples in (start, end] of every series a plan reads, for ``gitbot snapshot``.

        Namespaces are chunked by their raw sample count (measured with one ``count_over_time``
        query), and a namespace too big for one request is fetched in time slices. The owner tables
        of the other namespaces are what a plan asks of them (``_owners_elsewhere`` over the plan's
        window, (window_start, end]): each label set becomes one sample at ``end``, so a plan of the
        file finds the same unmatched pods as a plan of the server, for a few bytes a pod.
        """
        length = int(math.ceil(end - start))
        sel = _containers(Selector(MEMORY_WORKING_SET), namespaces)
        result = self._whole(f"sum {by(['namespace'])} (count_over_time({sel.range(length)}))", end)
        samples = {item["metric"].get("namespace", ""): int(float(item["value"][1])) for item in result}
        budget = self.options.max_samples_per_query
        collected: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]] = {}
        names = [*CADVISOR_METRICS, *(m for m in KSM_METRICS if m != NODE_LABELS)]
        chunks = _pack(samples, budget)
        for i, chunk in enumerate(chunks, 1):
            self.progress(f"snapshot: namespaces {i}/{len(chunks)}: {', '.join(chunk[:3])}{' …' if len(chunk) > 3 else ''}")
            slices = max(1, math.ceil(sum(samples[ns] for ns in chunk) / budget))
            for name in names:
                sel = _containers(Selector(name), frozenset(chunk)) if name in CADVISOR_METRICS else Selector(name).where("namespace", "in", chunk)
                self._raw(name, str(sel), start, end, math.ceil(length / slices), collected)
        nodes = {labels.get("node") for labels in _label_sets(collected.get(POD_INFO, {}))} - {None, ""}
        if nodes:
            self._raw(NODE_LABELS, str(Selector(NODE_LABELS).where("node", "in", sorted(nodes))), start, end, length, collected)
        try:
            elsewhere = self._owners_elsewhere(sorted(samples), start if window_start is None else window_start, end)
        except TooManySamples as exc:
            raise SourceUnavailable(f"prometheus {self.client.display_url}: the owner tables exceed the server's sample limit even for 10 minutes ({exc})") from None
        for name, found in elsewhere.items():
            for labels in found:
                collected.setdefault(name, {})[tuple(sorted(labels.items()))] = [(end, 1.0)]
        for name in MESH_METRICS:  # pairs with either end in the namespaces (a pair in both is deduplicated below)
            sides = ("source_workload_namespace", "destination_workload_namespace") if namespaces is not None else ("",)
            for side in sides:
                sel = Selector(name).where(side, "in", sorted(namespaces)) if side and namespaces is not None else Selector(name)
                self._raw(name, str(sel), start, end, length, collected)
        out: dict[str, list[Series]] = {}
        for name, by_labels in collected.items():
            series = []
            for labels, pairs in sorted(by_labels.items()):
                pairs.sort()
                ts = np.array([t for t, _ in pairs])
                keep = np.concatenate([ts[1:] != ts[:-1], [True]]) if ts.size else ts.astype(bool)
                series.append(Series(name, labels, ts[keep], np.array([v for _, v in pairs])[keep]))
            out[name] = series
        return out

    def _raw(self, name: str, selector: str, start: float, end: float, slice_seconds: int, into: dict) -> None:  # type: ignore[type-arg]
        """Raw samples of ``selector`` in (start, end], a slice at a time (halved when too big)."""
        t = end
        while t > start:
            self._raw_slice(name, selector, max(start, t - slice_seconds), t, into)
            t -= slice_seconds

    def _raw_slice(self, name: str, selector: str, lo: float, hi: float, into: dict) -> None:  # type: ignore[type-arg]
        try:
            result = self.client.instant(f"{selector}[{duration(math.ceil(hi - lo))}]", hi)
        except TooManySamples:
            if hi - lo <= 600:
                raise SourceUnavailable(
                    f"prometheus {self.client.display_url}: {name} exceeds the server's sample limit even for 10 minutes"
                ) from None
            mid = (lo + hi) / 2
            self._raw_slice(name, selector, lo, mid, into)
            self._raw_slice(name, selector, mid, hi, into)
            return
        for item in result:
            labels = {k: v for k, v in item.get("metric", {}).items() if k != "__name__"}
            samples = into.setdefault(name, {}).setdefault(tuple(sorted(labels.items())), [])
            samples.extend((float(ts), _number(v)) for ts, v in item.get("values", []) if lo < float(ts) <= hi)


class _Tables:
    """The chunks' answers, merged: what ``Evaluated`` is built from."""

    def __init__(self, grid: np.ndarray) -> None:
        self.grid = grid
        self.range: dict[str, dict[Key, np.ndarray]] = {n: {} for n in (CPU_USAGE, MEMORY_WORKING_SET, RESTARTS, LAST_TERMINATED, LIMITS)}
        self.instant: dict[str, dict[Key, float]] = {CFS_THROTTLED: {}, CFS_PERIODS: {}}
        self.observed: dict[Key, dict[Field, int]] = {}

    def add_range(self, name: str, result: list[dict[str, Any]], scale: float) -> None:
        step = float(self.grid[1] - self.grid[0]) if self.grid.size > 1 else 1.0
        for item in result:
            row = np.full(self.grid.size, np.nan)
            pairs = item.get("values") or []
            if pairs:  # whole arrays at once: a 10k-container answer holds millions of samples
                ts = np.array([t for t, _ in pairs], dtype=np.float64)
                values = np.array([v for _, v in pairs], dtype=np.float64)  # "NaN", "+Inf" read as float() does
                index = np.rint((ts - self.grid[0]) / step).astype(np.int64)  # round half to even, as round()
                inside = (index >= 0) & (index < row.size)
                row[index[inside]] = values[inside] * scale
            self.range[name][_key(item["metric"])] = row

    def add_instant(self, name: str, result: list[dict[str, Any]]) -> None:
        for item in result:
            value = _number(item["value"][1])
            if not math.isnan(value):
                self.instant[name][_key(item["metric"])] = value

    def add_observed(self, bound: Bound, result: list[dict[str, Any]]) -> None:
        for item in result:
            resource = item["metric"].get("resource", "")
            value = _number(item["value"][1])
            if resource in ("cpu", "memory") and math.isfinite(value):
                self.observed.setdefault(_key(item["metric"]), {})[Field.of(Resource(resource), bound)] = observed_value(resource, value)


def _owners_query(covered: Sequence[str], seconds: int) -> str:
    """``group by (namespace, <object>, owner_kind, owner_name, owner_is_controller) (max_over_time(<owner
    table>{namespace!~covered}[seconds]))`` for the three owner tables, joined with ``or`` (their label
    sets never match: each has its own object label), so one request answers all three."""
    parts = []
    for name, object_label in OWNER_OBJECT_LABELS.items():
        sel = Selector(name) if not covered else Selector(name).where("namespace", "not_in", covered)
        parts.append(f"group {by(('namespace', object_label, *OWNER_LABELS))} (max_over_time({sel.range(seconds)}))")
    return " or ".join(parts)


def _containers(sel: Selector, namespaces: Iterable[str] | None) -> Selector:
    sel = sel.where("container", "ne", "").where("container", "ne", "POD")
    return sel if namespaces is None else sel.where("namespace", "in", namespaces)


def _pack(counts: Mapping[str, int], budget: int) -> list[list[str]]:
    """Namespaces in chunks of at most ``budget`` series (a bigger namespace gets a chunk alone)."""
    chunks: list[list[str]] = []
    size = 0
    for ns in sorted(counts):
        if not chunks or size + counts[ns] > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(ns)
        size += counts[ns]
    return chunks


def _key(metric: Mapping[str, str]) -> Key:
    return (metric.get("namespace", ""), metric.get("pod", ""), metric.get("container", ""))


def _label_sets(by_labels: Mapping[tuple[tuple[str, str], ...], Any]) -> list[dict[str, str]]:
    return [dict(k) for k in by_labels]


def _root_cause(exc: BaseException) -> object:
    """The urllib3 reason inside requests' wrapping (no URL with the whole query in it)."""
    inner: object = exc.args[0] if exc.args else exc
    if isinstance(inner, urllib3_exceptions.MaxRetryError) and inner.reason is not None:
        inner = inner.reason
    if isinstance(inner, urllib3_exceptions.NewConnectionError):
        return str(inner).split(": ", 1)[-1]  # "Failed to establish a new connection: [Errno 111] Connection refused"
    if isinstance(inner, urllib3_exceptions.ProtocolError) and len(inner.args) > 1:
        return inner.args[1]  # e.g. RemoteDisconnected('Remote end closed connection without response')
    return inner


def _number(text: Any) -> float:
    return float(text)  # Prometheus writes NaN, +Inf and -Inf the way float() reads them


def _ts(at: float) -> str:
    return f"{at:.3f}"


def _datetime(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def _api_error(text: str) -> tuple[str, str]:
    """(status, error) from prometheus-api-client's "HTTP Status Code 422 (b'{...}')" message."""
    status = text.split("HTTP Status Code ", 1)[-1].split(" ", 1)[0] if "HTTP Status Code" in text else "?"
    start = text.find("{")
    body = text[start:text.rfind("}") + 1] if start >= 0 else ""
    try:
        error = json.loads(body.encode().decode("unicode_escape")).get("error")
    except (ValueError, AttributeError, UnicodeDecodeError):
        error = None
    return status, str(error) if error else (body or text)
