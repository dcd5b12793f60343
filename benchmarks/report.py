"""The printed summary: one table per section, ratios with their targets, met or not.

Targets (issue "Performance at fleet scale"):

* fleet: a plan (profiles + strategy) within ``RATIO_TARGET`` times the bare numpy pass over the
  same samples, and a peak resident set within ``RSS_TARGET_MB``;
* repository scan: a warm render cache ``WARM_SPEEDUP_TARGET`` times faster than a cold one, and
  scan time linear in the number of targets (``SCALING_TARGET``);
* Prometheus: as many HTTP requests for 10k containers as for 1k (or more only by namespace
  chunks), and a fetch within ``SERVER_RATIO_TARGET`` times the server's own query time.

Ratios are what to compare between machines and runs; absolute seconds are shown for scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RATIO_TARGET = 3.0
RSS_TARGET_MB = 1536.0

Result = dict[str, Any]


def label(containers: int) -> str:
    """1000 -> "1k", 10000 -> "10k", 2500 -> "2.5k", 200 -> "200"."""
    if containers >= 1000 and containers % 100 == 0:
        return f"{containers / 1000:g}k"
    return str(containers)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def _seconds(value: float, extrapolated: bool = False) -> str:
    text = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return text + ("*" if extrapolated else "")


def table(results: Sequence[Result]) -> list[str]:
    header = ("fleet", "containers", "wl_ctrs", "numpy_s", "profiles_s", "strategy_s", "(plan)/(numpy)", f"target ≤{RATIO_TARGET:g}x",
              "nofc_s", "(plan_nofc)/(numpy)", f"target ≤{RATIO_TARGET:g}x", "peak_rss_MB", f"target ≤{RSS_TARGET_MB:g}")
    rows = [header]
    for r in results:
        star = bool(r["strategy_extrapolated"])
        plan = (r["profiles_s"] + r["strategy_s"]) / r["numpy_s"]
        plain = (r["profiles_s"] + r["strategy_nofc_s"]) / r["numpy_s"]
        rows.append((
            label(r["containers"]), str(r["containers"]), str(r["workload_containers"]), _seconds(r["numpy_s"]),
            _seconds(r["profiles_s"]), _seconds(r["strategy_s"], star), _ratio(plan), _met(plan <= RATIO_TARGET),
            _seconds(r["strategy_nofc_s"], star), _ratio(plain), _met(plain <= RATIO_TARGET),
            f"{r['peak_rss_mb']:.0f}", _met(r["peak_rss_mb"] <= RSS_TARGET_MB),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def notes(results: Sequence[Result], walls: Sequence[float]) -> list[str]:
    out = ["plan = build_profiles + PercentileStrategy.recommend_many over every workload container (default settings: 7-day forecast);",
           "plan_nofc = the same with forecast_days: 0; numpy = per-pod-container p97 CPU / p99 memory over the same samples",
           "(vectorised, NaN left out, best of 3). Other passes run once; ratios are the numbers to compare across machines."]
    for r in results:
        if r["strategy_extrapolated"]:
            out.append(f"* {label(r['containers'])}: extrapolated. The strategy was timed on every {r['stride']}th Deployment "
                       f"({r['strategy_calls_measured']} of {r['workload_containers']} workload containers: "
                       f"{r['strategy_measured_s']:.2f}s with forecasts, {r['strategy_nofc_measured_s']:.3f}s without) "
                       f"and scaled by {r['workload_containers'] / r['strategy_calls_measured']:.2f}.")
    out.append("")
    for r, wall in zip(results, walls):
        per_call = r["strategy_measured_s"] / r["strategy_calls_measured"] * 1000
        per_call_plain = r["strategy_nofc_measured_s"] / r["strategy_calls_measured"] * 1000
        out.append(
            f"{label(r['containers'])}: {r['pods']} pods in {r['workloads']} Deployments / {r['namespaces']} namespaces, "
            f"{r['steps']} steps, usage {r['usage_mb']:.0f} MB {r['dtype']}; generated in {r['generate_s']:.1f}s; "
            f"fleet {r['fingerprint']}, proposals {r['recommendations_digest']} (nofc {r['recommendations_nofc_digest']})")
        out.append(
            f"    forecast cost: {per_call:.1f} ms vs {per_call_plain:.2f} ms per recommend() = "
            f"{r['strategy_measured_s'] / r['strategy_nofc_measured_s']:.0f}x; profiles/numpy {r['profiles_s'] / r['numpy_s']:.1f}x; "
            f"RSS {r['rss_mb']['generated']:.0f} MB generated, {r['rss_mb']['profiles']:.0f} with profiles, "
            f"{r['peak_rss_mb']:.0f} peak ({r['peak_rss_generate_mb']:.0f} while generating); child wall {wall:.0f}s")
        out.append(
            f"    checks: join {r['profiles']} profiles, {r['unmatched_pods']} unmatched pods, {r['joined_by_name']} joined by name; "
            f"numpy floor = gitbot percentiles on {r['baseline_agreeing']}/{r['baseline_checked']} single-replica containers; "
            f"float32 = float64 proposals on {r['float32_identical']}/{r['float32_compared']}; statuses {r['statuses']}")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        factor = large["containers"] / small["containers"]
        growth = ", ".join(f"{key.removesuffix('_s')} {large[key] / small[key]:.1f}x"
                           for key in ("numpy_s", "profiles_s", "strategy_s") if small[key] > 0)
        out.append(f"scaling {label(small['containers'])} -> {label(large['containers'])} ({factor:g}x containers): {growth}, "
                   f"peak RSS {large['peak_rss_mb'] / small['peak_rss_mb']:.1f}x")
    for r in results:
        if r["profile_top3"]:
            out.append(f"cProfile of the strategy at {label(r['containers'])} ({r['profile_calls']} calls) -> {r['profile_path']}")
            out.append("    top 3 by cumulative time: " + "; ".join(r["profile_top3"]))
    return out


# -- repository scan (benchmarks.repo_scan) -------------------------------------------------------

WARM_SPEEDUP_TARGET = 10.0  # warm render cache at least 10x faster than cold
SCALING_TARGET = 1.3  # (time at N2 / time at N1) / (N2 / N1): 1.0 is linear


def _grid(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _ms(seconds: float, count: int) -> str:
    return f"{seconds / count * 1000:.1f}"


def _counts(counters: dict[str, Any] | None) -> str:
    if not counters or counters.get("hits") is None:
        return "-"
    return f"{counters['hits']}/{counters['misses']}"


def repo_table(results: Sequence[Result]) -> list[str]:
    header = ("targets", "kust/helm", "objects", "none_s", "cold_s", "warm_s", "none_ms/t", "cold_ms/t", "warm_ms/t",
              "(cold)/(warm)", f"target ≥{WARM_SPEEDUP_TARGET:g}x", "cold hit/miss", "warm hit/miss", "cache_MB")
    rows: list[Sequence[str]] = [header]
    for r in results:
        n = r["targets"]
        cached = r.get("cold_s") is not None
        speedup = r["cold_s"] / r["warm_s"] if cached and r["warm_s"] > 0 else None
        rows.append((
            str(n), f"{r['kustomize_targets']}/{r['helm_targets']}", str(r["objects"]), _seconds(r["none_s"]),
            _seconds(r["cold_s"]) if cached else "-", _seconds(r["warm_s"]) if cached else "-",
            _ms(r["none_s"], n), _ms(r["cold_s"], n) if cached else "-", _ms(r["warm_s"], n) if cached else "-",
            _ratio(speedup) if speedup is not None else "-", _met(speedup >= WARM_SPEEDUP_TARGET) if speedup is not None else "n/a",
            _counts(r.get("cold_counters")), _counts(r.get("warm_counters")),
            f"{r['cache_bytes'] / 2**20:.1f}" if cached else "-",
        ))
    lines = _grid(rows)
    if len(results) >= 2:
        small, large = results[0], results[-1]
        factor = large["targets"] / small["targets"]
        scale_rows: list[Sequence[str]] = [("scaling", "(t_large/t_small)/(n_large/n_small)", f"target ≤{SCALING_TARGET:g}")]
        for key in ("none_s", "cold_s", "warm_s"):
            if small.get(key) and large.get(key):
                value = large[key] / small[key] / factor
                scale_rows.append((f"{key.removesuffix('_s')} {small['targets']}->{large['targets']}", f"{value:.2f}",
                                   _met(value <= SCALING_TARGET)))
        lines += [""] + _grid(scale_rows)
    return lines


def repo_notes(results: Sequence[Result], walls: Sequence[float]) -> list[str]:
    out = ["targets = Kustomize overlay roots + Helm releases; none = load_repo(cache=None), cold = empty RenderCache (each once),",
           "warm = a new RenderCache over the directory the cold run filled (best of 2); after a 4-target warm-up scan."]
    for r, wall in zip(results, walls):
        n = r["targets"]
        problems = []
        if r["skipped_count"]:
            problems.append(f"{r['skipped_count']} SKIPPED: {'; '.join(r['skipped'])}")
        if r["rendered_targets"] != n:
            problems.append(f"rendered {r['rendered_targets']} targets, generated {n}")
        if r.get("cold_s") is not None:
            if not r["cold_equals_none"] or not r["warm_equals_cold"]:
                problems.append(f"objects differ: cold==none {r['cold_equals_none']}, warm==cold {r['warm_equals_cold']}")
            if r["rendered_targets_cold_warm"] != [n, n]:
                problems.append(f"cold/warm rendered {r['rendered_targets_cold_warm']} targets")
        checks = "; ".join(problems) if problems else (
            "checks ok: nothing skipped, every target rendered" + (", cold == warm == no-cache objects" if r.get("cold_s") is not None else ""))
        out.append(f"{n} targets: {r['repo_files']} files ({r['repo_bytes'] / 1024:.0f} KiB) generated in {r['generate_s']:.2f}s; "
                   f"{r['objects']} objects; {checks}; child wall {wall:.0f}s")
        if r.get("cold_s") is not None:
            out.append(f"    warm runs {', '.join(f'{x:.2f}' for x in r['warm_runs_s'])}s; "
                       f"cache: {r['cache_files']} files, {r['cache_bytes'] / 1024:.0f} KiB after the cold run; "
                       f"cold - none = {r['cold_s'] - r['none_s']:+.2f}s (hashing inputs and writing entries; noise when negative)")
        if r.get("cache_error"):
            out.append(f"    render cache not measured: {r['cache_error']}")
    for r in results:
        if r.get("profile_path"):
            out.append(f"cProfile of a cold scan at {r['targets']} targets ({r['profile_s']:.0f}s profiled) -> {r['profile_path']}")
            out.append("    top gitbot functions by cumulative time: " + "; ".join(r["profile_top"]))
    return out


# -- Prometheus (benchmarks.prometheus_bench) -----------------------------------------------------

SERVER_RATIO_TARGET = 1.5  # fetch wall within 1.5x the server's own query time


def prometheus_table(result: Result) -> list[str]:
    header = ("fleet", "containers", "namespaces", "requests", "range/instant", "chunks", "fetch_s", "server_exec_s",
              "(fetch)/(server)", f"target ≤{SERVER_RATIO_TARGET:g}x", "round_trip_s", "(fetch)/(round_trip)", "resp_MB")
    rows: list[Sequence[str]] = [header]
    for f in result["fleets"]:
        ratio = f["fetch_s"] / f["server_exec_s"] if f["server_exec_s"] > 0 else float("inf")
        by_path = f["requests_by_path"]
        rows.append((
            label(f["containers"]), str(f["containers"]), str(f["namespaces"]), str(f["requests"]),
            f"{by_path.get('/api/v1/query_range', 0)}/{by_path.get('/api/v1/query', 0)}", f"{f['chunks']:g}",
            _seconds(f["fetch_s"]), _seconds(f["server_exec_s"]), _ratio(ratio), _met(ratio <= SERVER_RATIO_TARGET),
            _seconds(f["server_round_trip_s"]), _ratio(f["fetch_s"] / f["server_round_trip_s"]), f"{f['response_mb']:.1f}",
        ))
    lines = _grid(rows)
    fleets = result["fleets"]
    if len(fleets) >= 2:
        small, large = fleets[0], fleets[-1]
        per_chunk = 9  # at most 5 range + 4 instant queries per namespace chunk
        allowed = small["requests"] + per_chunk * max(0, large["chunks"] - small["chunks"])
        ok = large["requests"] == small["requests"] or large["requests"] <= allowed
        lines.append("")
        lines.append(f"requests {label(small['containers'])} -> {label(large['containers'])} containers: "
                     f"{small['requests']} -> {large['requests']} ({small['chunks']:g} -> {large['chunks']:g} namespace chunks; "
                     f"target: equal, or +{per_chunk} per extra chunk only): {_met(ok)}")
    return lines


def prometheus_notes(result: Result, wall: float, why: str) -> list[str]:
    """``why``: the reason for the history used, from whoever chose it."""
    hours = result["history_seconds"] / 3600
    out = [
        (f"history {hours:g} h of {result['step_seconds'] // 60}-minute samples (+1 h lead-in for the CPU rate) up to {result['end']}, "
         f"for every fleet: {why}."),
        "Backfill and query time both grow with containers x hours; the request count and the ratios do not depend on it.",
        ("fetch = PrometheusSource.fetch through the recording FaultProxy and a shim that adds stats=all; server = sum of Prometheus' own "
         "data.stats.timings.execTotalTime"),
        "over the fetch's requests (evaluation only); round_trip = the shim's upstream round trips (evaluation + JSON encoding + gzip).",
        (f"server: {result['samples']:,} samples backfilled in {result['backfill_s']:.0f}s into {result['blocks']} blocks "
         f"(ready in {result['start_s']:.1f}s); {result['metrics_mb']:.0f} MB of OpenMetrics generated in {result['generate_s']:.0f}s; "
         f"child wall {wall:.0f}s"),
    ]
    for f in result["fleets"]:
        checks = []
        if any(n != f["containers"] for n in (f["containers_fetched"], *f["containers_fetched_direct"])):
            checks.append(f"FETCHED {f['containers_fetched']} (direct {f['containers_fetched_direct']}) of {f['containers']} containers")
        if any(n != f["requests"] for n in (f["requests_client"], *f["requests_client_direct"])):
            checks.append(f"client counted {f['requests_client']} requests (direct {f['requests_client_direct']}), the proxy {f['requests']}")
        if f["server_timed_requests"] != f["query_requests"]:
            checks.append(f"only {f['server_timed_requests']} of {f['query_requests']} answers had stats")
        if f["statuses"] != [200]:
            checks.append(f"HTTP statuses {f['statuses']}")
        direct = (f"; straight to the server (no proxies, no stats) {', '.join(f'{s:.2f}' for s in f['fetch_direct_s'])}s"
                  if f["fetch_direct_s"] else "")
        out.append(
            f"{label(f['containers'])}: fetch {f['fetch_s']:.2f}s through the proxies{direct}; server eval {f['server_eval_s']:.2f}s; "
            f"methods {','.join(f['methods'])}, "
            f"longest URL query {f['max_url_bytes']} B, bodies {f['body_bytes']} B; "
            + ("; ".join(checks) if checks else f"checks ok ({f['containers_fetched']} containers, proxy count = client count)"))
        out.append("    slowest on the server: " + "; ".join(f["slowest"]))
    if result.get("profile_path"):
        out.append(f"cProfile of one more fetch of the {label(result['profile_containers'])} fleet ({result['profile_s']:.1f}s profiled) "
                   f"-> {result['profile_path']}")
        out.append("    top gitbot functions by cumulative time: " + "; ".join(result["profile_top"]))
    return out
