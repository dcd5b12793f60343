"""Fleet-scale benchmarks for gitbot (issue "Performance at fleet scale", part 1).

Run from the repository root::

    .venv/bin/python -m benchmarks            # 1,000 and 10,000 containers
    .venv/bin/python -m benchmarks --quick    # 200 and 1,000 containers, a smoke run

Each fleet size runs in its own child process (``python -m benchmarks.fleet_run N``) so its peak
resident memory is measured on its own. Timings are reported next to a bare numpy pass over the same
samples, so the printed ratios say how much gitbot's records and rules cost on top of the
arithmetic itself, whatever the speed of the machine.

Modules: ``fleet`` (deterministic synthetic fleet from the Bitbrains traces), ``measure`` (the
timed passes), ``fleet_run`` (one fleet size in a child process, JSON out), ``report`` (the table).
"""
