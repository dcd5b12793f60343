"""The clairvoyant static sizing: the least slack any static request could have had on the scored
part, at the over-request the best baseline allowed itself. Every strategy's slack is read as a
ratio to it, so slack cannot be bought with samples over the request unnoticed.

- Memory: request = limit = the scored part's maximum (no OOM kill, no sample over the request, the
  least slack that allows).
- CPU: per trace, the smallest request that leaves a given share of the scored samples above it;
  the shares are traded between the traces of a family so that their mean is at most ``budget_pct``
  (the best baseline's mean CPU samples over request) with the least mean slack. The trade is a
  Lagrangian search: for a price per point of over-request, each trace takes the request that
  minimises slack + price x over-request, and the lowest price that keeps the mean within the budget
  wins; what budget that leaves unspent then goes, move by move, to the trace where it removes the
  most slack. No static sizing of these traces with at most that mean over-request has less mean
  slack than ``lower_bound`` (the Lagrangian dual); the oracle's requests come within a fraction of
  a point of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

SEARCH_STEPS = 100


@dataclass(frozen=True)
class Sorted:
    """One trace's samples, sorted, with their prefix sums: the over-request and slack of any static
    request in one search, as ``gitbot.backtest.score`` counts them."""

    ordered: np.ndarray
    below_sums: np.ndarray  # below_sums[k]: the sum of the k smallest

    @classmethod
    def of(cls, used: np.ndarray) -> Sorted:
        ordered = np.sort(used)
        return cls(ordered, np.concatenate(([0.0], np.cumsum(ordered))))

    def over_and_slack(self, requests: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Percent of samples above each request, and percent of each requested amount not used."""
        n = self.ordered.size
        below = np.searchsorted(self.ordered, requests, side="right")
        return (n - below) / n * 100.0, (requests * below - self.below_sums[below]) / (requests * n) * 100.0


@dataclass(frozen=True)
class Curve:
    """One trace's static CPU requests (each a distinct usage value, rounded up to a millicore) with
    the share of samples above each and the slack each leaves, both in percent."""

    requests_m: np.ndarray
    over_pct: np.ndarray
    slack_pct: np.ndarray

    @classmethod
    def of(cls, used_m: np.ndarray) -> Curve:
        samples = Sorted.of(used_m)
        requests = np.unique(np.maximum(np.ceil(np.round(samples.ordered, 6)), 1.0))
        return cls(requests.astype(np.int64), *samples.over_and_slack(requests))

    def choose(self, price: float) -> int:
        """Index of the request with the least slack + price x over-request (the larger request on a tie)."""
        cost = self.slack_pct + price * self.over_pct
        return int(cost.size - 1 - np.argmin(cost[::-1]))


def memory_request(used_bytes: np.ndarray) -> int | None:
    return int(math.ceil(float(used_bytes.max()))) if used_bytes.size else None


def cpu_requests(usages: Sequence[np.ndarray], budget_pct: float) -> list[int]:
    """The static CPU request of each trace: least mean slack with a mean over-request of at most ``budget_pct``."""
    curves = [Curve.of(u) for u in usages]
    low, high = 0.0, 1.0
    while _mean_over(curves, high) > budget_pct and high < 1e12:
        high *= 2
    for _ in range(SEARCH_STEPS):
        middle = (low + high) / 2
        if _mean_over(curves, middle) > budget_pct:
            low = middle
        else:
            high = middle
    chosen = _spend_the_rest(curves, [c.choose(high) for c in curves], budget_pct * len(curves))
    return [int(c.requests_m[i]) for c, i in zip(curves, chosen)]


def lower_bound(usages: Sequence[np.ndarray], budget_pct: float) -> float:
    """A certified lower bound on the mean CPU slack (percent) of any static requests with a mean
    over-request of at most ``budget_pct``: the Lagrangian dual, max over prices of
    mean(min(slack + price x over)) - price x budget. The dual is concave in the price, so a
    ternary search finds its maximum."""
    curves = [Curve.of(u) for u in usages]

    def dual(price: float) -> float:
        return float(np.mean([float(np.min(c.slack_pct + price * c.over_pct)) for c in curves])) - price * budget_pct

    low, high = 0.0, 1e6
    for _ in range(SEARCH_STEPS * 2):
        left, right = low + (high - low) / 3, high - (high - low) / 3
        if dual(left) < dual(right):
            low = left
        else:
            high = right
    return max(dual(low), dual(0.0))


def _spend_the_rest(curves: Sequence[Curve], chosen: list[int], budget_total: float) -> list[int]:
    """Greedily lower one trace's request at a time, the move that removes the most slack and still
    fits the summed over-request budget, until none fits."""
    chosen = list(chosen)
    while True:
        spare = budget_total - sum(float(c.over_pct[i]) for c, i in zip(curves, chosen))
        best: tuple[float, int, int] | None = None
        for t, (c, i) in enumerate(zip(curves, chosen)):
            fits = np.flatnonzero(c.over_pct <= c.over_pct[i] + spare + 1e-9)
            j = int(fits[np.argmin(c.slack_pct[fits])])
            gain = float(c.slack_pct[i] - c.slack_pct[j])
            if gain > 1e-12 and (best is None or gain > best[0]):
                best = (gain, t, j)
        if best is None:
            return chosen
        chosen[best[1]] = best[2]


def _mean_over(curves: Sequence[Curve], price: float) -> float:
    return float(np.mean([c.over_pct[c.choose(price)] for c in curves]))
