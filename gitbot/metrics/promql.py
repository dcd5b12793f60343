"""Prometheus range-function semantics over one series' samples, evaluated on a time grid.

Each function takes one series' ``ts`` (float seconds, strictly ascending) and ``vals`` and returns
a float64 array with one value per grid point, NaN where Prometheus returns no sample.

Windows select ``t - range < ts <= t``: left-open, as in Prometheus 3 (the instant lookback too).
Prometheus 2.x closes them on the left (``t - range <= ts``); ``left_closed=True`` gives that. The
two differ only for samples exactly on a window's left edge.

``rate``/``increase`` follow Prometheus 2.x ``extrapolatedRate`` (checked against 2.42): a counter
drop adds the value before it; the result over the first..last sample in the window is stretched
towards each window edge, all the way when the gap is under 1.1x the average sample interval, else
by half an interval. For counters the start is first clamped to the extrapolated zero point
("durationToZero") and the threshold tested after. (Since prometheus#13725, 2024, Prometheus
tests the threshold first and clamps after; results differ only when that clamp lands between
0.5x and 1.1x the average interval.) Staleness markers and native histograms are not modeled.
"""

from __future__ import annotations

import numpy as np


def eval_grid(start: float, end: float, step: float) -> np.ndarray:
    """``start, start + step, ...`` up to and including ``end``, like ``query_range``."""
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    if end < start:
        return np.empty(0)
    count = int(np.floor((end - start) / step + 1e-9)) + 1
    return start + np.arange(count, dtype=np.float64) * step


def rate(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, range_s: float, *, left_closed: bool = False) -> np.ndarray:
    """``rate(m[range_s])``: per-second increase of a counter, extrapolated."""
    return _extrapolated(ts, vals, grid, range_s, left_closed) / range_s


def increase(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, range_s: float, *, left_closed: bool = False) -> np.ndarray:
    """``increase(m[range_s])``: increase of a counter over the window, extrapolated."""
    return _extrapolated(ts, vals, grid, range_s, left_closed)


def instant(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, lookback: float, *, left_closed: bool = False) -> np.ndarray:
    """Instant-vector selector: the last sample with ``t - lookback < ts <= t``."""
    return last_over_time(ts, vals, grid, lookback, left_closed=left_closed)


def last_over_time(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, range_s: float, *, left_closed: bool = False) -> np.ndarray:
    """``last_over_time(m[range_s])``: the last sample in the window."""
    ts, vals, grid = _arrays(ts, vals, grid)
    lo, hi = _window(ts, grid, range_s, left_closed)
    out = np.full(grid.size, np.nan)
    has = hi > lo
    out[has] = vals[hi[has] - 1]
    return out


def max_over_time(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, range_s: float, *, left_closed: bool = False) -> np.ndarray:
    """``max_over_time(m[range_s])``: NaN samples lose to any number, as in Prometheus.

    A sparse table (maxima of runs of 1, 2, 4, ... samples) answers each window with two lookups:
    O(n log w + grid) for windows of at most w samples.
    """
    ts, vals, grid = _arrays(ts, vals, grid)
    lo, hi = _window(ts, grid, range_s, left_closed)
    out = np.full(grid.size, np.nan)
    has = hi > lo
    if not has.any():
        return out
    lo, length = lo[has], (hi - lo)[has]
    level = np.floor(np.log2(length)).astype(np.int64)
    tables = [vals]
    for _ in range(int(level.max())):
        prev, half = tables[-1], 1 << (len(tables) - 1)
        tables.append(np.fmax(prev[:-half], prev[half:]))
    result = np.empty(lo.size)
    for k in np.unique(level):
        pick = level == k
        table, a = tables[k], lo[pick]
        result[pick] = np.fmax(table[a], table[a + length[pick] - (1 << int(k))])
    out[has] = result
    return out


def _arrays(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = np.asarray(ts, dtype=np.float64)
    vals = np.asarray(vals, dtype=np.float64)
    if ts.shape != vals.shape or ts.ndim != 1:
        raise ValueError("timestamps and values must be 1-d arrays of one length")
    return ts, vals, np.asarray(grid, dtype=np.float64)


def _window(ts: np.ndarray, grid: np.ndarray, range_s: float, left_closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds ``[lo, hi)`` of the samples in ``(t - range_s, t]`` (``[...]``: left_closed)."""
    lo = np.searchsorted(ts, grid - range_s, side="left" if left_closed else "right")
    hi = np.searchsorted(ts, grid, side="right")
    return lo, hi


def _extrapolated(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, range_s: float, left_closed: bool) -> np.ndarray:
    """Prometheus' extrapolatedRate for a counter, not divided by the range."""
    ts, vals, grid = _arrays(ts, vals, grid)
    lo, hi = _window(ts, grid, range_s, left_closed)
    out = np.full(grid.size, np.nan)
    ok = hi - lo >= 2
    if not ok.any():
        return out
    t, first, last = grid[ok], lo[ok], hi[ok] - 1
    # Value before each drop, accumulated; the window's share is the difference of two prefixes.
    drops = np.concatenate(([0.0], np.where(vals[1:] < vals[:-1], vals[:-1], 0.0)))
    resets = np.cumsum(drops)
    first_v = vals[first]
    result = vals[last] - first_v + (resets[last] - resets[first])

    sampled = ts[last] - ts[first]
    average = sampled / (last - first)
    to_start = ts[first] - (t - range_s)
    to_end = t - ts[last]
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = sampled * (first_v / result)
        clamp = (result > 0) & (first_v >= 0) & (to_zero < to_start)
        to_start = np.where(clamp, to_zero, to_start)
        threshold = average * 1.1
        interval = (
            sampled
            + np.where(to_start < threshold, to_start, average / 2)
            + np.where(to_end < threshold, to_end, average / 2)
        )
        out[ok] = result * (interval / sampled)
    return out
