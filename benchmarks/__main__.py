"""``python -m benchmarks``: time gitbot at fleet scale and print ratios, in three sections.

* ``fleet``: the plan path on synthetic fleets. Each size runs in a child process (``python -m
  benchmarks.fleet_run N``) and reports its own peak RSS. The strategy pass at the size
  ``--profile-at`` (1,000 when it is among the sizes, else the smallest) is also run under cProfile;
  its top functions go to ``benchmarks/out/profile-strategy-<size>.txt``, every child's numbers to
  ``benchmarks/out/results[-quick].json``.
* ``repo``: ``load_repo`` over synthetic GitOps repositories, no cache / cold / warm render cache, one
  child per size (``python -m benchmarks.repo_scan N``); the largest size (``--quick``: the smallest)
  also profiles a cold scan into ``benchmarks/out/profile-repo-scan[-quick].txt``; numbers to
  ``benchmarks/out/repo-scan[-quick].json``.
* ``prometheus``: ``PrometheusSource.fetch`` against a real Prometheus holding a 1k and a 10k
  container fleet, one child (``python -m benchmarks.prometheus_bench``), 6 h of history (12 h
  measured 157 s for this section alone); a profiled fetch of the 1k fleet goes to
  ``benchmarks/out/profile-prometheus-fetch[-quick].txt``, the numbers to
  ``benchmarks/out/prometheus[-quick].json``. Skipped, with the reason, when Prometheus cannot be
  installed or started.

Children run one after the other so they do not compete for the two cores. ``--only`` picks
sections (``--only repo,prometheus``); ``--quick`` makes every section a smoke run (fleet 200 and
1,000 containers; repositories of 20 and 100 targets; 2 h of Prometheus history instead of 6 h).

Exit status: 0 when every selected section ran (or Prometheus was skipped), whether or not the
targets were met (the tables say which); 1 when a child failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.report import (
    label,
    notes,
    prometheus_notes,
    prometheus_table,
    repo_notes,
    repo_table,
    table,
)

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
OUT = PACKAGE / "out"
SECTIONS = ("fleet", "repo", "prometheus")
FULL_SIZES = (1000, 10000)
QUICK_SIZES = (200, 1000)
QUICK_PROFILE_STRIDE = 4  # --quick profiles every 4th Deployment: the same hot spots in a quarter of the time
REPO_SIZES = (100, 500)
QUICK_REPO_SIZES = (20, 100)
PROMETHEUS_SIZES = (1000, 10000)
PROMETHEUS_HOURS = 6.0
QUICK_PROMETHEUS_HOURS = 2.0
HISTORY_WHY = {
    "default": ("12 h (the window of tests/test_prometheus_source.py) took 157 s for this section alone on 2 cores "
                "(backfill 79 s, the 10k fetch 43 s); 6 h halves both, which keeps the default run under 10 minutes "
                "even on a shared machine (a concurrent test suite made the repo section 1.5x slower)"),
    "quick": "--quick, a smoke run (the default run uses 6 h)",
    "given": "--history-hours as given",
}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated counts, got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("counts must be positive")
    return sizes


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [s for s in chosen if s not in SECTIONS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(SECTIONS)}, got {text!r}")
    return tuple(s for s in SECTIONS if s in chosen)


def _child(command: list[str]) -> tuple[dict[str, Any] | None, float, str]:
    """Run ``python -m <command>``; (its last stdout line as JSON, wall seconds, an error or "")."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *command], check=False, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return None, wall, f"failed (exit {done.returncode})"
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), wall, ""
    except (ValueError, IndexError):
        return None, wall, f"no result on stdout: {done.stdout[-500:]!r}"


def _relative(path: str | None) -> str | None:
    return str(Path(path).resolve().relative_to(ROOT)) if path else path


def run_fleet(args: argparse.Namespace) -> int:
    sizes = QUICK_SIZES if args.quick else args.sizes
    profile_at = args.profile_at or (1000 if 1000 in sizes else min(sizes))
    started = time.perf_counter()
    print(f"== fleet: plan path; sizes {', '.join(label(n) for n in sizes)}; seed {args.seed}; 14 days x 5 min; "
          f"Bitbrains shapes; {args.dtype} usage", flush=True)
    commands = []
    for n in sizes:
        command = ["benchmarks.fleet_run", str(n), "--seed", str(args.seed),
                   "--stride", str(args.stride), "--full-max", str(args.full_max), "--dtype", args.dtype]
        if n == profile_at:
            command += ["--profile", str(OUT / f"profile-strategy-{label(n)}.txt"),
                        "--profile-stride", str(QUICK_PROFILE_STRIDE if args.quick else 1)]
        commands.append((label(n), command))
    ran = _run_sizes(commands)
    if isinstance(ran, int):
        return ran
    results, walls = ran
    total = time.perf_counter() - started
    _report("fleet", table(results), notes(results, walls), total)
    (OUT / ("results-quick.json" if args.quick else "results.json")).write_text(
        json.dumps({"sizes": list(sizes), "seed": args.seed, "dtype": args.dtype, "wall_s": total, "results": results}, indent=2) + "\n",
        encoding="utf-8")
    return 0


def _run_sizes(commands: list[tuple[str, list[str]]]) -> tuple[list[dict[str, Any]], list[float]] | int:
    """Each size's child in turn: its results and wall times, or the exit status when one fails
    (1) or says the section cannot run (0)."""
    results: list[dict[str, Any]] = []
    walls: list[float] = []
    for shown, command in commands:
        print(f"  running {shown} ...", end="", flush=True)
        result, wall, error = _child(command)
        if result is None:
            print(f" {error}", flush=True)
            return 1
        if result.get("error"):
            print(f" cannot run: {result['error']}; section skipped", flush=True)
            return 0
        result["profile_path"] = _relative(result.get("profile_path"))
        results.append(result)
        walls.append(wall)
        print(f" {wall:.0f}s", flush=True)
    return results, walls


def _report(section: str, table_lines: list[str], note_lines: list[str], wall: float) -> None:
    print()
    for line in table_lines:
        print(line)
    print()
    for line in note_lines:
        print(line)
    print(f"{section} section wall {wall:.0f}s")


def run_repo(args: argparse.Namespace) -> int:
    sizes = QUICK_REPO_SIZES if args.quick else args.repo_sizes
    profile = OUT / ("profile-repo-scan-quick.txt" if args.quick else "profile-repo-scan.txt")
    profile_at = args.repo_profile_at or (min(sizes) if args.quick else max(sizes))
    started = time.perf_counter()
    print(f"== repo: load_repo over synthetic GitOps repositories; {', '.join(map(str, sizes))} targets "
          f"(half Kustomize overlays, half Helm releases); seed {args.seed}", flush=True)
    commands = []
    for n in sizes:
        command = ["benchmarks.repo_scan", str(n), "--seed", str(args.seed)]
        if n == profile_at and not args.no_repo_profile:
            command += ["--profile", str(profile)]
        commands.append((f"{n} targets", command))
    ran = _run_sizes(commands)
    if isinstance(ran, int):
        return ran
    results, walls = ran
    total = time.perf_counter() - started
    _report("repo", repo_table(results), repo_notes(results, walls), total)
    (OUT / ("repo-scan-quick.json" if args.quick else "repo-scan.json")).write_text(
        json.dumps({"sizes": list(sizes), "seed": args.seed, "wall_s": total, "results": results}, indent=2) + "\n", encoding="utf-8")
    return 0


def run_prometheus(args: argparse.Namespace) -> int:
    hours = QUICK_PROMETHEUS_HOURS if args.quick else args.history_hours
    why = HISTORY_WHY["quick" if args.quick else "default" if hours == PROMETHEUS_HOURS else "given"]
    sizes = args.prometheus_sizes
    print(f"== prometheus: PrometheusSource.fetch against a real Prometheus; fleets of {', '.join(label(n) for n in sizes)} "
          f"containers; {hours:g} h history", flush=True)
    print("  running ...", end="", flush=True)
    profile = OUT / ("profile-prometheus-fetch-quick.txt" if args.quick else "profile-prometheus-fetch.txt")
    result, wall, error = _child(["benchmarks.prometheus_bench", "--sizes", ",".join(map(str, sizes)), "--history-hours", str(hours),
                                  "--direct", str(args.direct), "--profile", str(profile)])
    if result is None:
        print(f" {error}", flush=True)
        return 1
    result["profile_path"] = _relative(result.get("profile_path"))
    (OUT / ("prometheus-quick.json" if args.quick else "prometheus.json")).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if result.get("skipped"):
        print(f" skipped: {result['skipped']}", flush=True)
        return 0
    print(f" {wall:.0f}s", flush=True)
    _report("prometheus", prometheus_table(result), prometheus_notes(result, wall, why), wall)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Fleet-scale benchmarks of gitbot.")
    parser.add_argument("--only", type=_sections, default=SECTIONS, help=f"sections to run, comma-separated (default {','.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", help="smoke run: smaller fleets and repositories, shorter history")
    parser.add_argument("--seed", type=int, default=2013)
    fleet = parser.add_argument_group("fleet")
    fleet.add_argument("--sizes", type=_sizes, default=FULL_SIZES, help="container counts (default 1000,10000; --quick 200,1000)")
    fleet.add_argument("--stride", type=int, default=20, help="above --full-max, time the strategy on every Nth Deployment")
    fleet.add_argument("--full-max", type=int, default=1000, help="largest fleet whose strategy pass covers every container")
    fleet.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                       help="usage arrays as float64 (as gitbot's metric sources build them, default) or float32 (half the memory)")
    fleet.add_argument("--profile-at", type=int, help="fleet size whose strategy pass is profiled (default 1000 if run, else the smallest)")
    repo = parser.add_argument_group("repo")
    repo.add_argument("--repo-sizes", type=_sizes, default=REPO_SIZES, help="render targets, even (default 100,500; --quick 20,100)")
    repo.add_argument("--repo-profile-at", type=int, help="repository size whose cold scan is also profiled (default the largest; --quick the smallest)")
    repo.add_argument("--no-repo-profile", action="store_true", help="no profiled cold scan")
    prometheus = parser.add_argument_group("prometheus")
    prometheus.add_argument("--prometheus-sizes", type=_sizes, default=PROMETHEUS_SIZES, help="container counts (default 1000,10000)")
    prometheus.add_argument("--history-hours", type=float, default=PROMETHEUS_HOURS,
                            help=f"hours of 5-minute samples (default {PROMETHEUS_HOURS:g}; --quick {QUICK_PROMETHEUS_HOURS:g})")
    prometheus.add_argument("--direct", type=int, default=1,
                            help="fetches of the first fleet straight to the server, to show the proxies' cost (default 1)")
    args = parser.parse_args(argv)
    if any(n % 2 for n in args.repo_sizes):
        parser.error("--repo-sizes must be even (two environments per app)")

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runners = {"fleet": run_fleet, "repo": run_repo, "prometheus": run_prometheus}
    status = 0
    for i, section in enumerate(args.only):
        if i:
            print()
        status = max(status, runners[section](args))
    print()
    print(f"total wall {time.perf_counter() - started:.0f}s ({', '.join(args.only)}{', quick' if args.quick else ''})")
    return status


if __name__ == "__main__":
    sys.exit(main())
