"""``python -m benchmarks.static_bounds TRACES...``: how much slack a static sizing learned from the
training window can save, next to the backtest's clairvoyant oracle and its checks.

The backtest's oracle sees the scored part. This asks what the same trade reaches without that:
per trace, the request that minimises slack + price x over-request on the *training* samples
(``gitbot.backtest.oracle.Curve``, the oracle's own machinery) over the last 1, 2, 3, 4, 5, 7 or 14
days of the training part (by timestamp: a trace's missing samples do not stretch it), or all of
it; the price is then chosen with hindsight, as the one with the least mean scored slack whose mean
scored over-request stays within the better baseline's (the budget the backtest's checks hold
gitbot to). Price and window are tuned on the scored part, which
favours this sizing; it is a yardstick for the checks, not a strategy. For contrast, the same choice
made without hindsight: window and price picked on the training part's last ``HELD_OUT_DAYS`` (fitted
on the days before them), then applied to the whole training part and scored.

Then gitbot's own forecast with one request percentile per trace (``cpu_request_percentile`` and
``memory_request_percentile`` among ``PERCENTILES``, default rules, production tier), each trace's
chosen with hindsight: the least mean scored slack within the budget over every combination (exact,
by keeping the Pareto front of summed over-request and slack trace by trace). It says how far
choosing percentiles per workload could go if the choice were perfect.

Next to both: the clairvoyant bound at the same budget (``oracle.lower_bound`` on the scored part, CPU
and memory alike), gitbot's own scores and the two slack checks' bounds. Slack and over-request are
the backtest's (``gitbot.backtest.score``): unused / requested over the scored samples, and the share
of scored samples above the request.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gitbot.backtest import oracle
from gitbot.backtest.baselines import Sizing, ooms_under
from gitbot.backtest.run import Check, checks, gitbot_sizing, summaries, training_and_scored
from gitbot.backtest.score import Summary
from gitbot.backtest.trace import NotATrace, Trace, read_traces
from gitbot.pipeline import BacktestRequest, backtest
from gitbot.strategies.percentile import PercentileStrategy, settings_from_config
from gitbot.strategies.rules import default_rules_dir, load_rules

DAY = 86400
WINDOW_DAYS: tuple[int | None, ...] = (1, 2, 3, 4, 5, 7, 14, None)  # None: the whole training part
PRICES = np.geomspace(0.05, 200.0, 241)
PERCENTILES = (90.0, 93.0, 95.0, 97.0, 98.0, 99.0, 99.5)
HELD_OUT_DAYS = 5  # the trade's window and price chosen without hindsight: on the training part's last days


@dataclass(frozen=True)
class Trade:
    window_days: int | None
    price: float
    over_pct: float  # mean over the traces
    slack_pct: float


def trades(training: Sequence[np.ndarray], scored: Sequence[np.ndarray], window_days: int | None = None,
           prices: np.ndarray = PRICES) -> list[Trade]:
    """For each price, one for all traces: the requests that minimise slack + price x over-request
    on each trace's ``training`` samples (its last ``window_days``; None: all), scored on ``scored``."""
    curves = [oracle.Curve.of(t) for t in training]
    targets = [oracle.Sorted.of(s) for s in scored]
    out = []
    for price in prices:
        pairs = [_over_and_slack(target, curve.requests_m[curve.choose(float(price))]) for curve, target in zip(curves, targets)]
        out.append(Trade(window_days, float(price), float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs]))))
    return out


def best_within(candidates: Sequence[Trade], budget_pct: float) -> Trade | None:
    """The least mean slack among trades whose mean over-request is at most ``budget_pct``."""
    return min((t for t in candidates if t.over_pct <= budget_pct + 1e-9), key=lambda t: t.slack_pct, default=None)


@dataclass(frozen=True)
class Resource:
    name: str
    training: list[tuple[np.ndarray, np.ndarray]]  # per trace, (samples, their timestamps)
    scored: list[np.ndarray]
    budget: Check  # gitbot's mean samples over the request against the better baseline's, the budget
    target: Check  # gitbot's mean slack against the slack check's bound
    by_percentile: list[list[tuple[float, float]]]  # per trace, (over, slack) of gitbot's request at each of PERCENTILES

    @property
    def budget_pct(self) -> float:
        return self.budget.baseline_value


def resources(traces: Sequence[Trace], by_strategy: dict[str, Summary], train_fraction: float) -> list[Resource]:
    """CPU and memory of ``traces`` (one family), each where its slack check and a baseline's
    over-request are known and some trace has samples of it."""
    parts = [training_and_scored(t, train_fraction) for t in traces]
    rules = load_rules([default_rules_dir()])
    strategies = [PercentileStrategy(settings_from_config({"cpu_request_percentile": q, "memory_request_percentile": q},
                                                          "static_bounds"), rules) for q in PERCENTILES]
    sizings = [gitbot_by_percentile(train, strategies) for train, _ in parts]
    verdicts = {c.score: c for c in checks(by_strategy)}
    out = []
    for name, over_check, check, used, request in (
            ("CPU", "CPU samples over request %", "CPU slack % (mean) against the oracle",
             lambda t: (t.cpu_m, t.timestamps) if t.has_cpu else (np.empty(0), np.empty(0)), lambda z: z.cpu_request_m),
            ("memory", "memory samples over request %", "memory slack % (mean) against the better baseline",
             lambda t: (t.memory_bytes[t.memory_known], t.timestamps[t.memory_known]), lambda z: z.memory_request_bytes)):
        kept = [(used(train), used(test)[0], sized) for (train, test), sized in zip(parts, sizings)]
        kept = [k for k in kept if k[0][0].size and k[1].size]
        budget, verdict = verdicts.get(over_check), verdicts.get(check)
        if not kept or budget is None or verdict is None:
            continue
        options = [_options(oracle.Sorted.of(test), [request(z) for z in sized]) for _, test, sized in kept]
        out.append(Resource(name, [a for a, _, _ in kept], [b for _, b, _ in kept], budget, verdict, options))
    return out


def gitbot_by_percentile(train: Trace, strategies: Sequence[PercentileStrategy]) -> list[Sizing]:
    """gitbot's settled sizing of ``train`` by each strategy (as ``gitbot backtest`` replays it, the
    training window's OOM kills included)."""
    ooms = tuple(ooms_under(train, train.memory_capacity_bytes))
    return [gitbot_sizing(train, strategy, "production", ooms=ooms) for strategy in strategies]


def _options(scored: oracle.Sorted, requests: Sequence[int | None]) -> list[tuple[float, float]]:
    """(over, slack) of each request; a missing request is never within a budget."""
    return [_over_and_slack(scored, r) if r else (float("inf"), 0.0) for r in requests]


def _over_and_slack(scored: oracle.Sorted, request: float) -> tuple[float, float]:
    over, slack = scored.over_and_slack(float(request))
    return float(over), float(slack)


def best_choice(options: Sequence[Sequence[tuple[float, float]]], budget_pct: float) -> tuple[float, float, tuple[int, ...]] | None:
    """One option per trace, each (over-request, slack) in percent: the choice with the least mean
    slack whose mean over-request is at most ``budget_pct``, as (over, slack, index per trace); None
    when none keeps within it. Exact: the Pareto front of (summed over, summed slack) is carried from
    trace to trace, and a choice off it can never become the best."""
    front: list[tuple[float, float, tuple[int, ...]]] = [(0.0, 0.0, ())]
    limit = budget_pct * len(options) + 1e-9
    for trace in options:
        grown = sorted((over + o, slack + s, picked + (i,)) for over, slack, picked in front for i, (o, s) in enumerate(trace)
                       if over + o <= limit)
        front = []
        for candidate in grown:  # ascending over-request: keep each that lowers the slack
            if not front or candidate[1] < front[-1][1]:
                front.append(candidate)
    if not front or len(front[0][2]) != len(options):
        return None
    over, slack, picked = min(front, key=lambda f: f[1])
    return over / len(options), slack / len(options), picked


def report(resource: Resource) -> list[str]:
    lines = [f"{resource.name}: budget {_pct(resource.budget_pct)} % of samples over the request "
             f"({resource.budget.baseline}, the better baseline)",
             f"  {'trained on':<14}{'price':>8}{'over':>8}{'slack':>8}"]
    found = []
    for days in WINDOW_DAYS:
        candidates = trades(_last(resource.training, days), resource.scored, days)
        trade = best_within(candidates, resource.budget_pct)
        label = _window(days)
        if trade is None:  # the least over-request any price reaches, for scale
            least = min(candidates, key=lambda t: (t.over_pct, t.slack_pct))
            lines.append(f"  {label:<14}{least.price:>8.2f}{least.over_pct:>7.1f}%{least.slack_pct:>7.1f}%  over the budget at every price")
            continue
        found.append(trade)
        lines.append(f"  {label:<14}{trade.price:>8.2f}{trade.over_pct:>7.1f}%{trade.slack_pct:>7.1f}%")
    bound = oracle.lower_bound(resource.scored, resource.budget_pct)
    best = min(found, key=lambda t: t.slack_pct, default=None)
    lines.append(f"  best from the training window: " + (f"{best.slack_pct:.1f} %" if best else "none within the budget"))
    blind = chosen_without_hindsight(resource)
    lines.append(f"  chosen on the training part's last {HELD_OUT_DAYS} days instead: " + (
        f"{_window(blind.window_days)} at price {blind.price:.2f}: {blind.slack_pct:.1f} % slack at {_pct(blind.over_pct)} % over"
        if blind else "no window and price keep within the budget there"))
    lines.append(f"  clairvoyant bound at the budget: {bound:.1f} %")
    over, slack = resource.budget.value, resource.target.value
    lines.append(f"  gitbot: {slack:.1f} % slack at {_pct(over)} % over "
                 f"(clairvoyant bound at that over-request: {oracle.lower_bound(resource.scored, over):.1f} %)")
    chosen = best_choice(resource.by_percentile, resource.budget_pct)
    if chosen is not None:
        picks = ", ".join(f"p{PERCENTILES[i]:g}" for i in chosen[2])
        lines.append(f"  gitbot, one percentile per trace chosen with hindsight: {chosen[1]:.1f} % slack at {_pct(chosen[0])} % over ({picks})")
    target = resource.target
    lines.append(f"  the check asks for at most {target.bound:.1f} % ({target.factor:.2f} × {target.baseline}'s {target.baseline_value:.1f} %)")
    return lines


def chosen_without_hindsight(resource: Resource) -> Trade | None:
    """The window and price with the least slack within the budget on the training part's last
    ``HELD_OUT_DAYS`` (requests from the days before them), applied to the whole training part and
    scored on the scored part; None when no window and price keep within the budget there."""
    inner, held = [], []
    for values, times in resource.training:
        before = times <= times[-1] - HELD_OUT_DAYS * DAY
        inner.append((values[before], times[before]))
        held.append(values[~before])
    if not all(v.size for v, _ in inner) or not all(h.size for h in held):
        return None
    picked = [best_within(trades(_last(inner, days), held, days), resource.budget_pct) for days in WINDOW_DAYS]
    choice = min((t for t in picked if t is not None), key=lambda t: t.slack_pct, default=None)
    if choice is None:
        return None
    return trades(_last(resource.training, choice.window_days), resource.scored, choice.window_days, np.array([choice.price]))[0]


def _last(series: Sequence[tuple[np.ndarray, np.ndarray]], days: int | None) -> list[np.ndarray]:
    """Each series' samples of its last ``days`` (by timestamp; None: all)."""
    return [values if days is None else values[times > times[-1] - days * DAY] for values, times in series]


def _window(days: int | None) -> str:
    return "all of it" if days is None else f"last {days}d"


def _pct(value: float) -> str:
    """One decimal, or two below 1 % so that a small budget does not print as none."""
    return f"{value:.2f}" if 0 < value < 1 else f"{value:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.static_bounds", description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="+", type=Path, help="trace files, as for gitbot backtest")
    parser.add_argument("--train", type=float, default=2 / 3, help="fraction trained on (gitbot backtest's --train)")
    args = parser.parse_args(argv)
    traces: list[Trace] = []
    for path in args.traces:
        try:
            traces.extend(read_traces(path))
        except NotATrace:
            continue
    run = backtest(BacktestRequest(tuple(args.traces), train_fraction=args.train))
    by_family = summaries(run.results)
    for family, by_strategy in by_family.items():
        members = [t for t in traces if t.source == family]
        print(f"{family} ({len(members)} traces): static sizing learned from the training window, "
              f"its price and window chosen with hindsight")
        found = resources(members, by_strategy, args.train)
        for resource in found:
            print("\n".join(report(resource)))
        if not found:
            print("  no resource with both a baseline's over-request and a slack check to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
