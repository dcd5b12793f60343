"""One fleet size, in its own process: ``python -m benchmarks.fleet_run N [options]``.

Generates the fleet, runs the timed passes of ``benchmarks.measure`` and prints one JSON object on
stdout (the parent, ``python -m benchmarks``, collects and tabulates them). Running each size in a
fresh process is what makes ``peak_rss_mb`` that size's own peak: the high-water mark of this
process's resident memory (``VmHWM``; ``ru_maxrss`` where /proc is missing), which covers the
generated fleet, the profiles, the recommendations and the imported libraries.

The strategy costs milliseconds per container with forecasts on (its forecasts batched across the
containers by ``recommend_many``), so above ``--full-max`` containers it runs on every
``--stride``-th Deployment and its time is scaled up by (all workload containers / sampled ones);
the JSON says so (``strategy_extrapolated``).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.fleet import DEFAULT_SEED, generate
from benchmarks.measure import (
    baseline_agrees,
    float32_agrees,
    numpy_pass,
    profile_strategy,
    profiles_pass,
    strategy_pass,
)
from gitbot.strategies.percentile import PercentileStrategy, settings_from_config
from gitbot.strategies.rules import default_rules_dir, load_rules

FLOAT32_CHECK_WORKLOADS = 8


def _status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB; None where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def current_rss_mb() -> float:
    """This process's resident set size now, in MiB (0.0 where /proc is missing)."""
    return _status_mb("VmRSS") or 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(containers: int, seed: int, stride: int, full_max: int, profile_path: Path | None,
        profile_stride: int = 1, dtype: str = "float64") -> dict[str, Any]:
    started = time.perf_counter()
    fleet = generate(containers, seed, dtype=dtype)
    generate_s = time.perf_counter() - started
    gc.collect()
    rss = {"generated": current_rss_mb()}
    peak_after_generate = peak_rss_mb()

    numpy_s, cpu_p97, memory_p99 = numpy_pass(fleet)
    profiles_s, profiles = profiles_pass(fleet)
    rss["profiles"] = current_rss_mb()

    rules = load_rules([default_rules_dir()])
    forecasting = PercentileStrategy(settings_from_config({}, "bench"), rules)
    plain = PercentileStrategy(settings_from_config({"forecast_days": 0}, "bench"), rules)
    sampled = containers > full_max
    selection = fleet.workloads[::stride] if sampled else fleet.workloads
    total_calls = sum(len(w.containers) for w in fleet.workloads)
    with_forecast = strategy_pass(forecasting, selection, profiles)
    without_forecast = strategy_pass(plain, selection, profiles)
    scale = total_calls / with_forecast.calls
    rss["strategy"] = current_rss_mb()

    top3: list[str] = []
    profiled = selection[::profile_stride]
    profile_calls = sum(len(w.containers) for w in profiled)
    if profile_path is not None:
        every = f"every {profile_stride}th Deployment: " if profile_stride > 1 else ""
        title = (f"cProfile of PercentileStrategy.recommend_many (default settings, forecasts on) over {every}"
                 f"{profile_calls} workload containers of the {containers}-container fleet (seed {seed})")
        top3 = profile_strategy(forecasting, profiled, profiles, profile_path, title)

    checked, agreeing = baseline_agrees(fleet, profiles, cpu_p97, memory_p99)
    compared, identical = float32_agrees(fleet, forecasting, fleet.workloads[:FLOAT32_CHECK_WORKLOADS])
    return {
        "containers": containers,
        "pods": len({(u.namespace, u.pod) for u in fleet.data.containers}),
        "workloads": len(fleet.workloads),
        "workload_containers": total_calls,
        "namespaces": len({w.id.namespace for w in fleet.workloads}),
        "steps": fleet.steps,
        "seed": seed,
        "fingerprint": fleet.fingerprint(),
        "dtype": dtype,
        "usage_mb": fleet.usage_bytes / 2**20,
        "generate_s": generate_s,
        "numpy_s": numpy_s,
        "profiles_s": profiles_s,
        "profiles": len(profiles.by_container),
        "unmatched_pods": len(profiles.unmatched_pods),
        "joined_by_name": sum(1 for p in profiles.by_container.values() if p.joined_by == "name"),
        "strategy_calls_measured": with_forecast.calls,
        "strategy_measured_s": with_forecast.seconds,
        "strategy_s": with_forecast.seconds * scale,
        "strategy_nofc_measured_s": without_forecast.seconds,
        "strategy_nofc_s": without_forecast.seconds * scale,
        "strategy_extrapolated": sampled,
        "stride": stride if sampled else 1,
        "statuses": with_forecast.statuses,
        "recommendations_digest": with_forecast.digest,
        "recommendations_nofc_digest": without_forecast.digest,
        "profile_top3": top3,
        "profile_path": str(profile_path) if profile_path else None,
        "profile_calls": profile_calls if profile_path else 0,
        "baseline_checked": checked,
        "baseline_agreeing": agreeing,
        "float32_compared": compared,
        "float32_identical": identical,
        "peak_rss_generate_mb": peak_after_generate,
        "rss_mb": rss,
        "peak_rss_mb": peak_rss_mb(),
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet_run", description=__doc__.splitlines()[0])
    parser.add_argument("containers", type=int)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--stride", type=int, default=20, help="above --full-max, time the strategy on every Nth Deployment")
    parser.add_argument("--full-max", type=int, default=1000, help="largest fleet whose strategy pass covers every container")
    parser.add_argument("--profile", type=Path, help="also cProfile the strategy pass and write its top functions here")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="usage array dtype")
    parser.add_argument("--profile-stride", type=int, default=1, help="cProfile every Nth Deployment of the timed selection")
    args = parser.parse_args(argv)
    if args.containers < 1 or args.stride < 1 or args.profile_stride < 1:
        parser.error("containers, --stride and --profile-stride must be positive")
    result = run(args.containers, args.seed, args.stride, args.full_max, args.profile, args.profile_stride, args.dtype)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
