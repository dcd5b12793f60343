"""Forecast a container's usage over the next review period from its history on a regular grid.

The model, fitted per series (CPU per pod, memory of the largest pod):

1. **Regime.** Usage often moves to a new level and stays there (a release, a customer, a batch job
   that ended). The history is cut at the last such shift — daily medians after it at least twice
   (or at most half) those before it, for at least ``MIN_REGIME_DAYS`` — and only the current regime
   is used: an old level says little about the next week.
2. **Cycles.** A daily (and, with two weeks of regime, weekly) cycle is kept when the series'
   autocorrelation at that lag is at least ``MIN_CYCLE_ACF``. Its profile is the median of the
   series minus its moving average (statsmodels' classical decomposition), phase by phase.
3. **Trend.** A Theil-Sen slope over the regime's daily means of the series without its cycle; kept
   only when its 95 % interval excludes zero and it points up (a falling trend is not bet on), and
   extrapolated damped (``DAMPING`` per day) so a week adds at most a few days' growth.
4. **Noise.** Residuals (series minus level, cycle and trend) of the regime, added to every step of
   the forecast path: noisy series get wider bands without a separate margin.

``quantile(q)`` is then the q-th percentile of usage over the horizon, and ``peak()`` its maximum.
With less than ``MIN_DAYS`` of data there is no forecast (the caller falls back to percentiles).
Sample errors are scored by ``smape`` against the seasonal-naive forecast in ``gitbot backtest``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import theilslopes
from scipy import signal
from statsmodels.tsa.stattools import acf

DAY = 86400
WEEK = 7 * DAY
MIN_DAYS = 3.0
MIN_REGIME_DAYS = 2
MIN_CYCLE_ACF = 0.3
SHIFT_RATIO = 2.0
SHIFT_MATERIAL = 0.1
DAMPING = 0.8
BLOCKS_PER_DAY = 4
RESIDUAL_QUANTILES = np.linspace(0.0, 100.0, 201)
HIGH_PERCENTILE = 80.0  # from here on, sum_percentile gathers the top sums instead of sorting them all


@dataclass(frozen=True)
class Cycle:
    period_seconds: int
    autocorrelation: float

    @property
    def name(self) -> str:
        return "daily" if self.period_seconds == DAY else "weekly" if self.period_seconds == WEEK else f"{self.period_seconds}s"


@dataclass(frozen=True, eq=False)
class Forecast:
    step_seconds: int
    horizon_seconds: int
    regime_start: int  # index into the input series where the current regime starts
    regime_days: float
    level: float  # usage without its cycle at the end of the history
    slope_per_day: float  # 0.0 when no upward trend was found
    cycles: tuple[Cycle, ...]
    profile: np.ndarray  # the cycle over one period of the longest kept cycle (zeros without one)
    path: np.ndarray  # level + damped trend + cycle for every step of the horizon
    residuals: np.ndarray  # residual quantiles of the regime (RESIDUAL_QUANTILES)

    def quantile(self, q: float) -> float:
        return max(sum_percentile(self.path, self.residuals, q), 0.0)

    def peak(self) -> float:
        return max(float(self.path.max() + self.residuals[-1]), 0.0)

    @property
    def growth(self) -> float:
        """What the trend adds by the end of the horizon."""
        return damped(self.slope_per_day, self.horizon_seconds / DAY)

    def describe(self) -> str:
        """The cycles, trend and level shift found, or "" when the series has none of them."""
        parts = [f"{c.name} cycle (autocorrelation {c.autocorrelation:.2f})" for c in self.cycles]
        if self.slope_per_day > 0:
            parts.append(f"trend +{self.slope_per_day / max(self.level, 1e-9):.0%}/day")
        if self.regime_start:
            parts.append(f"level shift {self.regime_days:.0f}d ago")
        return ", ".join(parts)


@dataclass(frozen=True)
class NoForecast:
    reason: str


def sum_percentile(path: np.ndarray, residuals: np.ndarray, q: float) -> float:
    """``np.percentile(path[:, None] + residuals[None, :], q)`` (its default, linear method), the same
    float, without building and partitioning every sum: for a high ``q`` only the sums above a
    threshold can be the order statistics needed, and ``residuals`` (ascending) says which those are
    in each row. A week of 5-minute steps x 201 residual quantiles is 405,216 sums; the few percent
    above a q of 97 are gathered and partitioned instead."""
    n = path.size * residuals.size
    if q < HIGH_PERCENTILE or n < 4096 or not (np.isfinite(path).all() and np.isfinite(residuals).all()) \
            or bool(np.any(residuals[1:] < residuals[:-1])):
        return float(np.percentile(path[:, None] + residuals[None, :], q))
    virtual = (n - 1) * np.true_divide(q, 100)  # numpy's linear method, step for step
    if virtual >= n - 1:
        return float(path.max() + residuals[-1])
    low = int(np.floor(virtual))
    gamma = virtual - np.floor(virtual)
    above = n - low  # sums at sorted positions low .. n - 1
    # a threshold from a subsample, lowered until at least `above` sums reach it
    sample = path[::8, None] + residuals[None, ::4]
    spare = (100.0 - q) * 2 + 0.5
    while True:
        threshold = float(np.percentile(sample, max(q - spare, 0.0))) if spare < q else -np.inf
        starts = np.searchsorted(residuals, threshold - path, side="left")
        counts = residuals.size - starts
        total = int(counts.sum())
        if total >= above:
            break
        spare *= 2
    rows = np.repeat(np.arange(path.size), counts)
    cols = np.repeat(starts, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
    sums = path[rows] + residuals[cols]
    first = total - above  # sorted position `low` among the gathered sums
    picked = np.partition(sums, [first, first + 1])
    a, b = picked[first], picked[first + 1]
    diff = b - a  # numpy's _lerp
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def centred_trend(y: np.ndarray, period: int) -> np.ndarray:
    """The centred moving average over one period (a 2 x ``period`` average for an even period), its
    ends extrapolated by least squares over the ``period + 1`` nearest values: the trend of
    statsmodels' ``seasonal_decompose(y, period, extrapolate_trend=period)``, value for value, without
    the seasonal means it would also compute (a Python loop over every phase) and then throw away."""
    if period % 2 == 0:
        filt = np.array([0.5] + [1.0] * (period - 1) + [0.5]) / period
    else:
        filt = np.repeat(1.0 / period, period)
    head = int(np.ceil(filt.size / 2.0) - 1)
    tail = int(np.ceil(filt.size / 2.0) - filt.size % 2)
    trend = np.concatenate([np.full(head, np.nan), signal.convolve(y, filt, mode="valid"), np.full(tail, np.nan)])
    front, back = head, trend.size - 1 - tail
    npoints = period + 1
    first, last = min(front + npoints, back), max(front, back - npoints)
    k, n = np.linalg.lstsq(np.c_[np.arange(front, first), np.ones(first - front)], trend[front:first], rcond=-1)[0]
    trend[:front] = np.arange(0, front) * k + n
    k, n = np.linalg.lstsq(np.c_[np.arange(last, back), np.ones(back - last)], trend[last:back], rcond=-1)[0]
    trend[back + 1:] = np.arange(back + 1, trend.size) * k + n
    return trend


def fit(series: np.ndarray, step_seconds: int, horizon_seconds: int, half_life_days: float = 3.0,
        samples: tuple[np.ndarray, np.ndarray] | None = None) -> Forecast | NoForecast:
    """``series``: one value per grid step, NaN where there was no sample. Residuals are weighted by
    age with ``half_life_days``, so the noise of the last days counts most.

    ``samples``: (values, grid step of each value) when the series is a mean over replicas: level,
    cycle and trend come from the mean, the noise from each replica's own samples (averaging two
    pods halves their bursts; a pod's request has to cover its own)."""
    if step_seconds <= 0 or DAY % step_seconds:
        return NoForecast(f"a {step_seconds}s step does not divide a day")
    known = ~np.isnan(series)
    per_day = DAY // step_seconds
    if known.sum() < MIN_DAYS * per_day or series.size < MIN_DAYS * per_day:
        return NoForecast(f"less than {MIN_DAYS:g} days of samples")
    filled = _fill(series, known)
    start = _regime_start(filled, per_day)
    y = filled[start:]
    days = y.size / per_day

    cycles = []
    flat = bool(np.ptp(y) == 0)
    lags = np.zeros(1) if flat else acf(y, nlags=min(y.size - 1, WEEK // step_seconds), fft=True)
    for period in (DAY, WEEK):
        lag = period // step_seconds
        if y.size >= 2 * lag and lag < lags.size and lags[lag] >= MIN_CYCLE_ACF:
            cycles.append(Cycle(period, float(lags[lag])))
    period = cycles[-1].period_seconds // step_seconds if cycles else 0
    if period:
        trend_part = centred_trend(y, period)
        detrended = y - trend_part
        phase = (np.arange(y.size) + start) % period
        profile = _phase_medians(detrended, start % period, period)
        profile -= profile.mean()
        seasonal = profile[phase]
    else:
        profile, seasonal = np.zeros(1), np.zeros(y.size)
    plain = y - seasonal

    block = per_day // BLOCKS_PER_DAY
    blocks = y.size // block
    means = plain[y.size - blocks * block:].reshape(blocks, block).mean(axis=1)
    slope = 0.0
    if blocks >= 2 * BLOCKS_PER_DAY:
        rate, _, low, _ = theilslopes(means)  # per block, with its 95 % interval's low end
        slope = float(rate) * BLOCKS_PER_DAY if low > 0 else 0.0
    level = float(plain[-per_day:].mean())

    def fitted(index: np.ndarray) -> np.ndarray:  # level, trend and cycle at absolute grid steps
        cycle = profile[index % period] if period else 0.0
        return level - slope * (series.size - 1 - index) / per_day + cycle

    if samples is None:
        index = np.flatnonzero(known[start:]) + start
        values = series[index]
    else:
        values, index = samples
        keep = index >= start
        values, index = values[keep], index[keep]
    residuals = values - fitted(index)
    ages = (series.size - 1 - index) / per_day

    steps = horizon_seconds // step_seconds
    ahead = np.arange(1, steps + 1)
    cycle_ahead = profile[(start + y.size + ahead - 1) % period] if period else np.zeros(steps)
    path = level + damped(slope, ahead / per_day) + cycle_ahead
    return Forecast(step_seconds, horizon_seconds, start, days, level, slope, tuple(cycles), profile, path,
                    _weighted_quantiles(residuals, np.exp2(-ages / half_life_days), RESIDUAL_QUANTILES))


def smape(forecast: np.ndarray, actual: np.ndarray) -> float | None:
    """Symmetric mean absolute percentage error in percent (0-200); pairs where both are 0 count as exact."""
    denominator = np.abs(forecast) + np.abs(actual)
    if denominator.size == 0:
        return None
    terms = np.divide(2 * np.abs(forecast - actual), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(terms.mean() * 100)


def _phase_medians(values: np.ndarray, first_phase: int, period: int) -> np.ndarray:
    """Median of ``values`` at each phase of the period, the first value being at ``first_phase``."""
    rows = -(-(first_phase + values.size) // period)
    grid = np.full(rows * period, np.nan)
    grid[first_phase:first_phase + values.size] = values
    return np.nanmedian(grid.reshape(rows, period), axis=0)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = np.searchsorted(cumulative, cumulative[-1] * qs / 100.0, side="left")
    return values[order][np.minimum(index, values.size - 1)]


def damped(slope: float, days: np.ndarray | float) -> np.ndarray | float:
    return slope * DAMPING * (1 - DAMPING ** np.asarray(days)) / (1 - DAMPING)


def _fill(series: np.ndarray, known: np.ndarray) -> np.ndarray:
    index = np.arange(series.size)
    return np.interp(index, index[known], series[known])


def _regime_start(y: np.ndarray, per_day: int) -> int:
    """Index of the first sample of the current regime.

    Binary segmentation on daily means: the split that leaves the least squared error is a level
    shift when one side's mean is at least SHIFT_RATIO times the other's and the gap is material
    (SHIFT_MATERIAL of the highest daily mean); the search then goes on after it, for a later shift.
    """
    full_days = y.size // per_day
    offset = y.size - full_days * per_day
    means = y[offset:].reshape(full_days, per_day).mean(axis=1)
    material = SHIFT_MATERIAL * float(means.max())
    first = 0
    while full_days - first >= 2 * MIN_REGIME_DAYS:
        segment = means[first:]
        splits = range(MIN_REGIME_DAYS, segment.size - MIN_REGIME_DAYS + 1)
        errors = [float(((segment[:k] - segment[:k].mean()) ** 2).sum() + ((segment[k:] - segment[k:].mean()) ** 2).sum()) for k in splits]
        k = splits[int(np.argmin(errors))]
        low, high = sorted((float(segment[:k].mean()), float(segment[k:].mean())))
        if high < low * SHIFT_RATIO or high - low < material:
            break
        first += k
    return offset + first * per_day
