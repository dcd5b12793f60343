"""The printed summary: one row per fleet size, ratios against the numpy floor, targets met or not.

Targets (issue "Performance at fleet scale"): a plan (profiles + strategy) within ``RATIO_TARGET``
times the bare numpy pass over the same samples, and a peak resident set within ``RSS_TARGET_MB``.
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
    out = ["plan = build_profiles + PercentileStrategy.recommend for every workload container (default settings: 7-day forecast);",
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
