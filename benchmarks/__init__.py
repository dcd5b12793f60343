"""Fleet-scale benchmarks for gitbot (issue "Performance at fleet scale", part 1).

Run from the repository root::

    .venv/bin/python -m benchmarks                        # every section (under 10 minutes on 2 cores)
    .venv/bin/python -m benchmarks --quick                # a smoke run (about 2 minutes)
    .venv/bin/python -m benchmarks --only repo,prometheus # some sections

Each fleet size runs in its own child process (``python -m benchmarks.fleet_run N``) so its peak
resident memory is measured on its own. Timings are reported next to a bare numpy pass over the same
samples, so the printed ratios say how much gitbot's records and rules cost on top of the
arithmetic itself, whatever the speed of the machine.

Two more sections time the inputs of a plan: ``repo_scan`` (``load_repo`` over a synthetic GitOps
repository of 100 and 500 Kustomize overlays and Helm releases, without, with a cold and with a warm
render cache) and ``prometheus_bench`` (``PrometheusSource.fetch`` against a real Prometheus
holding a 1k and a 10k container fleet: HTTP requests, and fetch time against the server's own
query time).

Modules: ``fleet`` (deterministic synthetic fleet from the Bitbrains traces), ``measure`` (the
timed passes), ``fleet_run`` (one fleet size in a child process, JSON out), ``repo_scan`` (one
repository size in a child process, JSON out), ``prometheus_bench`` (the Prometheus section in a
child process, JSON out), ``report`` (the tables).

Apart from the timings, ``static_bounds`` (``python -m benchmarks.static_bounds TRACES...``) measures
what the backtest's slack checks ask for: the least slack a static sizing learned from the training
window reaches at the better baseline's over-request, next to the clairvoyant oracle's bound.
"""
