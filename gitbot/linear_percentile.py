"""numpy's default (linear) percentile method, step for step, for the places that compute
percentiles without calling ``np.percentile`` on each array and must still give its float:
``percentiles_many`` (arrays of one length partitioned together) and
``gitbot.strategies.forecast.sum_percentile`` (order statistics gathered from sums).

For n sorted values and a Python float q, numpy's answer lies between the order statistics at
``low`` and ``low + 1`` of the virtual index (n - 1) x q / 100, interpolated by its fraction
``gamma`` (``rank``), with numpy's own two-sided formula (``lerp``); an index at or past n - 1 is
the largest value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

CHUNK_ROWS = 256  # arrays of one length stacked at a time: bounds the copy a batch makes


class Rank(NamedTuple):
    virtual: float  # (n - 1) x q / 100
    low: int  # the lower order statistic's position
    gamma: float  # the interpolation weight of the upper one
    last: bool  # at or past the largest value: numpy takes it alone


def rank(n: int, q: float) -> Rank:
    virtual = (n - 1) * np.true_divide(q, 100)
    low = np.floor(virtual)
    # gamma a Python float, as numpy keeps it for a Python q: float32 values interpolate in float32
    return Rank(float(virtual), int(low), float(virtual - low), bool(virtual >= n - 1))


def lerp(a: Any, b: Any, gamma: float) -> Any:
    """numpy's ``_lerp``: from the lower value below one half, from the upper one from there on
    (elementwise for arrays)."""
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def percentiles_many(samples: Sequence[Callable[[], np.ndarray]], sizes: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    """``float(np.percentile(samples[i](), qs[i]))`` for every i (q a Python number), the same
    floats, None where ``sizes[i]`` is 0. ``samples`` are callables giving NaN-free arrays of
    ``sizes`` values (a profile's pooled samples are built when asked for and not kept), so only
    ``CHUNK_ROWS`` of them are alive at once. Arrays of one size and q are stacked and partitioned
    together at the lower order statistic; the upper one is the least value above it. One call per
    length instead of one ``np.percentile`` (partition, checks, wrapping) per array."""
    out: list[float | None] = [None] * len(samples)
    groups: dict[tuple[int, float], list[int]] = {}
    for i, (size, q) in enumerate(zip(sizes, qs)):
        if size:
            groups.setdefault((size, float(q)), []).append(i)
    for (n, q), members in groups.items():
        at = rank(n, q)
        for start in range(0, len(members), CHUNK_ROWS):
            chunk = members[start:start + CHUNK_ROWS]
            stacked = np.vstack([samples[i]() for i in chunk])
            if at.last:
                a = b = stacked.max(axis=1)
            else:
                stacked.partition(at.low, axis=1)
                a, b = stacked[:, at.low], stacked[:, at.low + 1:].min(axis=1)
            for i, value in zip(chunk, lerp(a, b, at.gamma)):
                out[i] = float(value)
    return out
