"""``python -m benchmarks``: time gitbot's plan path on synthetic fleets and print ratios.

Each size runs in a child process (``python -m benchmarks.fleet_run N``), one after the other so
they do not compete for the two cores, and reports its own peak RSS. The strategy pass at the size
``--profile-at`` (1,000 when it is among the sizes, else the smallest) is also run under cProfile;
its top functions go to ``benchmarks/out/profile-strategy-<size>.txt``, and every child's numbers to
``benchmarks/out/results[-quick].json``.

Exit status: 0 when every size ran, whether or not the targets were met (the table says which);
1 when a child failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.report import label, notes, table

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
OUT = PACKAGE / "out"
FULL_SIZES = (1000, 10000)
QUICK_SIZES = (200, 1000)
QUICK_PROFILE_STRIDE = 4  # --quick profiles every 4th Deployment: the same hot spots in a quarter of the time


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated container counts, got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("container counts must be positive")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Fleet-scale benchmark of gitbot's plan path.")
    parser.add_argument("--sizes", type=_sizes, default=FULL_SIZES, help="container counts (default 1000,10000)")
    parser.add_argument("--quick", action="store_true", help="sizes 200,1000 and a sampled profile: a smoke run")
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--stride", type=int, default=20, help="above --full-max, time the strategy on every Nth Deployment")
    parser.add_argument("--full-max", type=int, default=1000, help="largest fleet whose strategy pass covers every container")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="usage arrays as float32 (compact, default) or float64 (as gitbot's metric sources build them)")
    parser.add_argument("--profile-at", type=int, help="fleet size whose strategy pass is profiled (default 1000 if run, else the smallest)")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else args.sizes
    profile_at = args.profile_at or (1000 if 1000 in sizes else min(sizes))

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results, walls = [], []
    print(f"gitbot fleet benchmark: sizes {', '.join(label(n) for n in sizes)}; seed {args.seed}; 14 days x 5 min; "
          f"Bitbrains shapes; {args.dtype} usage", flush=True)
    for n in sizes:
        command = [sys.executable, "-m", "benchmarks.fleet_run", str(n), "--seed", str(args.seed),
                   "--stride", str(args.stride), "--full-max", str(args.full_max), "--dtype", args.dtype]
        if n == profile_at:
            command += ["--profile", str(OUT / f"profile-strategy-{label(n)}.txt"),
                        "--profile-stride", str(QUICK_PROFILE_STRIDE if args.quick else 1)]
        print(f"  running {label(n)} ...", end="", flush=True)
        child_start = time.perf_counter()
        done = subprocess.run(command, check=False, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - child_start)
        if done.returncode != 0:
            print(f" failed (exit {done.returncode})", flush=True)
            return 1
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(f" no result on stdout: {done.stdout[-500:]!r}", flush=True)
            return 1
        if result.get("profile_path"):
            result["profile_path"] = str(Path(result["profile_path"]).relative_to(ROOT))
        results.append(result)
        print(f" {walls[-1]:.0f}s", flush=True)

    print()
    for line in table(results):
        print(line)
    print()
    for line in notes(results, walls):
        print(line)
    total = time.perf_counter() - started
    print(f"total wall {total:.0f}s")
    (OUT / ("results-quick.json" if args.quick else "results.json")).write_text(
        json.dumps({"sizes": list(sizes), "seed": args.seed, "dtype": args.dtype, "wall_s": total, "results": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
