"""Forecast a container's usage over the next review period from its history on a regular grid.

The model, fitted per series (CPU per pod, memory of the largest pod), is a few array operations, so
that a fit batched across containers can do the same steps on a matrix:

1. **Regime.** Usage often moves to a new level and stays there (a release, a customer, a batch job
   that ended). The history is cut at the last such shift — daily means after it at least twice
   (or at most half) those before it, for at least ``MIN_REGIME_DAYS`` — and only the current regime
   is used: an old level says little about the next week.
2. **Cycle.** A daily cycle is kept when the series' autocorrelation one day apart is at least
   ``MIN_CYCLE_ACF``; a weekly one replaces it only when the regime holds ``WEEKLY_MIN_DAYS`` (four
   values per phase: with two or three, one busy day is the profile). The profile is the median of
   the series minus its moving average (statsmodels' classical decomposition), phase by phase.
3. **Level.** The median of the last day without its cycle. A mean would follow the bursts: one
   hour at ten times the usual lifts a day's mean by a third and every forecast step with it, which
   a series that is mostly idle (or mostly zero) then pays for on every other hour.
4. **Trend.** A Theil-Sen slope over the regime's six-hour medians of the series without its
   cycle; kept only when its 95 % interval excludes zero and it points up (a falling trend is not
   bet on), and extrapolated damped (``DAMPING`` per day) so a week adds at most a few days' growth.
5. **Model or blend.** The same model is fitted on the history without its last
   ``VALIDATION_DAYS`` and forecasts them 2 h and 4 h ahead from every step, as the backtest scores
   it; so does ½(model + seasonal-naive), the value a day before the target. Whichever has the lower
   sMAPE there is the forecast: the blend where yesterday knows something the profile does not (a
   cycle that drifts, bursts at fixed hours), the model alone where yesterday's noise would only
   be copied. With less history than ``MIN_DAYS + VALIDATION_DAYS`` the model is used unvalidated.
6. **Noise.** Residuals of the chosen forecast over the regime (series minus forecast, weighted by
   age), added to every step of the forecast path: noisy series get wider bands without a
   separate margin.

``quantile(q)`` is then the q-th percentile of usage over the horizon, and ``peak()`` its maximum.
With less than ``MIN_DAYS`` of data there is no forecast (the caller falls back to percentiles).
``point_forecasts`` is the rolling-origin forecast both the validation and ``gitbot backtest`` score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import theilslopes
from scipy import signal
from statsmodels.tsa.stattools import acf

DAY = 86400
WEEK = 7 * DAY
HOUR = 3600
MIN_DAYS = 3.0
MIN_REGIME_DAYS = 2
MIN_CYCLE_ACF = 0.3
WEEKLY_MIN_DAYS = 28
SHIFT_RATIO = 2.0
SHIFT_MATERIAL = 0.1
DAMPING = 0.8
BLOCKS_PER_DAY = 4
VALIDATION_DAYS = 5
POINT_HORIZONS_HOURS = (2, 4)
RESIDUAL_QUANTILES = np.linspace(0.0, 100.0, 201)
HIGH_PERCENTILE = 80.0  # from here on, sum_percentile gathers the top sums instead of sorting them all


@dataclass(frozen=True)
class Cycle:
    period_seconds: int
    autocorrelation: float

    @property
    def name(self) -> str:
        return "daily" if self.period_seconds == DAY else "weekly" if self.period_seconds == WEEK else f"{self.period_seconds}s"


@dataclass(frozen=True)
class Validation:
    """Both candidate forecasts of the history's last ``VALIDATION_DAYS``, fitted on the days before:
    sMAPE (percent) over every origin and horizon of ``POINT_HORIZONS_HOURS``."""

    forecasts: int  # (origin, horizon) pairs scored
    model_smape: float
    blend_smape: float

    @property
    def blend(self) -> bool:
        return self.blend_smape < self.model_smape


@dataclass(frozen=True)
class Model:
    """Level, cycle and trend of one series, fitted on its current regime. The profile is indexed by
    grid step (absolute, from the series' start) modulo its size; a single zero without a cycle."""

    regime_start: int
    cycles: tuple[Cycle, ...]
    profile: np.ndarray
    level: float
    slope_per_day: float

    def fitted(self, index: np.ndarray, end: int, per_day: int) -> np.ndarray:
        """Level, trend and cycle at grid steps ``index`` of a history of ``end`` steps."""
        return self.level - self.slope_per_day * (end - 1 - index) / per_day + self.profile[index % self.profile.size]


@dataclass(frozen=True, eq=False)
class Forecast:
    step_seconds: int
    horizon_seconds: int
    regime_start: int  # index into the input series where the current regime starts
    regime_days: float
    level: float  # median usage without its cycle over the last day of the history
    slope_per_day: float  # 0.0 when no upward trend was found
    cycles: tuple[Cycle, ...]
    profile: np.ndarray  # the cycle over one period of the kept cycle (a single zero without one)
    path: np.ndarray  # the chosen forecast for every step of the horizon
    next_day: np.ndarray  # the model's level + cycle over the day after the history (no trend, no blend)
    residuals: np.ndarray  # residual quantiles of the chosen forecast over the regime (RESIDUAL_QUANTILES)
    blend: bool = False  # True: ½(model + the value a day earlier); False: the model alone
    validation: Validation | None = None  # None: too short a history to validate; the model alone

    def quantile(self, q: float) -> float:
        return max(sum_percentile(self.path, self.residuals, q), 0.0)

    def peak(self) -> float:
        return max(float(self.path.max() + self.residuals[-1]), 0.0)

    @property
    def growth(self) -> float:
        """What the trend adds by the end of the horizon."""
        return damped(self.slope_per_day, self.horizon_seconds / DAY)

    def describe(self, human: Callable[[float], str] = lambda v: f"{v:g}") -> str:
        """What the forecast is made of, for the explanation: cycle, median level, trend, level shift,
        and which forecast the validation chose (with both errors)."""
        parts = [f"{c.name} cycle (autocorrelation {c.autocorrelation:.2f})" for c in self.cycles]
        parts.append(f"median level {human(self.level)}")
        if self.slope_per_day > 0:
            rate = self.slope_per_day / max(self.level, 1e-9)
            parts.append(f"trend +{rate:.0%}/day" if rate >= 0.01 else f"trend +{rate:.1%}/day")
        if self.regime_start:
            parts.append(f"level shift {self.regime_days:.0f}d ago")
        v = self.validation
        if v is None:
            choice = f"model alone (under {MIN_DAYS + VALIDATION_DAYS:g} days: not validated)"
        elif self.blend:
            choice = (f"½(model + a day earlier): sMAPE {v.blend_smape:.1f}% vs {v.model_smape:.1f}% for the model alone "
                      f"on the last {VALIDATION_DAYS} days")
        else:
            choice = (f"model alone: sMAPE {v.model_smape:.1f}% vs {v.blend_smape:.1f}% for ½(model + a day earlier) "
                      f"on the last {VALIDATION_DAYS} days")
        return ", ".join(parts) + "; " + choice


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
        samples: tuple[np.ndarray, np.ndarray] | None = None, validate: bool = True) -> Forecast | NoForecast:
    """``series``: one value per grid step, NaN where there was no sample. Residuals are weighted by
    age with ``half_life_days``, so the noise of the last days counts most.

    ``samples``: (values, grid step of each value) when the series is a mean over replicas: level,
    cycle and trend come from the mean, the noise from each replica's own samples (averaging two
    pods halves their bursts; a pod's request has to cover its own).

    ``validate``: choose between the model and ½(model + seasonal-naive) on the last
    ``VALIDATION_DAYS`` (False: the model alone, as the validation's own fit is)."""
    if step_seconds <= 0 or DAY % step_seconds:
        return NoForecast(f"a {step_seconds}s step does not divide a day")
    known = ~np.isnan(series)
    per_day = DAY // step_seconds
    if known.sum() < MIN_DAYS * per_day or series.size < MIN_DAYS * per_day:
        return NoForecast(f"less than {MIN_DAYS:g} days of samples")
    filled = _fill(series, known)
    model = fit_model(filled, step_seconds)
    validation = _validate(series, step_seconds) if validate else None
    end, start = series.size, model.regime_start

    if samples is None:
        index = np.flatnonzero(known[start:]) + start
        values = series[index]
    else:
        values, index = samples
        keep = index >= start
        values, index = values[keep], index[keep]
    expected = model.fitted(index, end, per_day)
    blend = validation is not None and validation.blend and bool(np.any(index >= start + per_day))
    if blend:  # the blend's own errors: it needs the value a day before, inside the regime
        lagged = index >= start + per_day
        values, index = values[lagged], index[lagged]
        expected = 0.5 * (expected[lagged] + filled[index - per_day])
    residuals = values - expected
    ages = (end - 1 - index) / per_day

    steps = horizon_seconds // step_seconds
    ahead = np.arange(1, steps + 1)
    path = model.level + damped(model.slope_per_day, ahead / per_day) + model.profile[(end - 1 + ahead) % model.profile.size]
    next_day = model.level + model.profile[(end + np.arange(per_day)) % model.profile.size]
    if blend:  # seasonal-naive over a horizon longer than a day repeats the last day
        path = 0.5 * (path + np.resize(filled[end - per_day:], steps))
    return Forecast(step_seconds, horizon_seconds, start, (end - start) / per_day, model.level, model.slope_per_day,
                    model.cycles, model.profile, path, next_day,
                    _weighted_quantiles(residuals, np.exp2(-ages / half_life_days), RESIDUAL_QUANTILES), blend, validation)


def fit_model(filled: np.ndarray, step_seconds: int) -> Model:
    """Regime, cycle, median level and trend of a gap-free series (steps 1-4 of the module's model)."""
    per_day = DAY // step_seconds
    start = _regime_start(filled, per_day)
    y = filled[start:]
    days = y.size / per_day
    weekly_possible = days >= WEEKLY_MIN_DAYS
    nlags = min(y.size - 1, (WEEK if weekly_possible else DAY) // step_seconds)
    lags = np.zeros(1) if np.ptp(y) == 0 else acf(y, nlags=nlags, fft=True)
    cycles = []
    for period, min_days in ((DAY, 2.0), (WEEK, float(WEEKLY_MIN_DAYS))):
        lag = period // step_seconds
        if days >= min_days and lag < lags.size and lags[lag] >= MIN_CYCLE_ACF:
            cycles.append(Cycle(period, float(lags[lag])))
    period = cycles[-1].period_seconds // step_seconds if cycles else 0
    if period:
        profile = _phase_medians(y - centred_trend(y, period), start % period, period)
        profile -= np.median(profile)  # the level is then the usual usage, the cycle what its busy hours add
        plain = y - profile[(np.arange(y.size) + start) % period]
    else:
        profile, plain = np.zeros(1), y
    level = float(np.median(plain[-per_day:]))
    return Model(start, tuple(cycles), profile, level, _upward_slope(plain, per_day))


def point_forecasts(series: np.ndarray, profile: np.ndarray, slope_per_day: float, per_day: int, first: int, ahead: int,
                    refresh: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rolling-origin forecasts: from every grid step ``first`` .. (the step not yet seen), the value
    ``ahead`` steps later. The model's is the level plus the cycle at the target plus the damped
    trend, the level being the median of the day before, re-estimated every ``refresh`` steps (an
    hour); the blend's is ½(the model's + seasonal-naive, the value a day before the target).

    Origins at every step, not once an hour: an origin on the hour always lands its target on the
    same minute of the hour, so a job that runs every hour at :00 would be all that is scored.
    Returns (model, blend, naive, actual), one per origin: model and blend NaN where the day before
    the refresh has no sample, naive and actual where the series has none. ``first`` must be at
    least a day in."""
    n, period = series.size, profile.size
    anchors = np.arange(first, max(n - ahead, first), refresh)
    windows = sliding_window_view(series - profile[np.arange(n) % period], per_day)[anchors - per_day]
    seen = ~np.isnan(windows).all(axis=1)
    levels = np.full(anchors.size, np.nan)
    levels[seen] = np.nanmedian(windows[seen], axis=1)
    origins = np.arange(first, max(n - ahead, first))
    targets = origins + ahead
    model = np.maximum(levels[(origins - first) // refresh] + profile[targets % period] + damped(slope_per_day, ahead / per_day), 0.0)
    naive = series[targets - per_day]
    return model, 0.5 * (model + naive), naive, series[targets]


def smape(forecast: np.ndarray, actual: np.ndarray) -> float | None:
    """Symmetric mean absolute percentage error in percent (0-200): mean of 2|f - a| / (|f| + |a|).

    Zero actuals: a pair where both are 0 counts as exact (0); an actual of 0 against any other
    forecast costs the full 200 %, however small the forecast. A series that is often exactly 0 is
    therefore scored mostly on whether the forecast is 0 there too — one reason the level is a
    median (0 on a mostly idle day), not a mean (lifted above 0 by the day's bursts)."""
    denominator = np.abs(forecast) + np.abs(actual)
    if denominator.size == 0:
        return None
    terms = np.divide(2 * np.abs(forecast - actual), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(terms.mean() * 100)


def _validate(series: np.ndarray, step_seconds: int) -> Validation | None:
    """Fit the model on all but the last ``VALIDATION_DAYS`` and score it and the blend there, as the
    backtest scores the forecast after training (``point_forecasts`` at ``POINT_HORIZONS_HOURS``).
    None when the days before are too few to fit or nothing could be scored."""
    per_day = DAY // step_seconds
    cut = series.size - VALIDATION_DAYS * per_day
    head = series[:max(cut, 0)]
    known = ~np.isnan(head)
    if cut < MIN_DAYS * per_day or known.sum() < MIN_DAYS * per_day:
        return None
    model = fit_model(_fill(head, known), step_seconds)
    refresh = max(HOUR // step_seconds, 1)
    parts = [point_forecasts(series, model.profile, model.slope_per_day, per_day, cut, hours * HOUR // step_seconds, refresh)
             for hours in POINT_HORIZONS_HOURS]
    forecast, blended, naive, actual = (np.concatenate(columns) for columns in zip(*parts))
    scored = ~(np.isnan(forecast) | np.isnan(naive) | np.isnan(actual))
    if not scored.any():
        return None
    model_error, blend_error = smape(forecast[scored], actual[scored]), smape(blended[scored], actual[scored])
    assert model_error is not None and blend_error is not None
    return Validation(int(scored.sum()), model_error, blend_error)


def _upward_slope(plain: np.ndarray, per_day: int) -> float:
    """Theil-Sen slope per day over block medians (``BLOCKS_PER_DAY`` a day) when its 95 % interval
    lies above zero, else 0."""
    block = max(per_day // BLOCKS_PER_DAY, 1)
    blocks = plain.size // block
    if blocks < 2 * BLOCKS_PER_DAY:
        return 0.0
    medians = np.median(plain[plain.size - blocks * block:].reshape(blocks, block), axis=1)
    rate, _, low, _ = theilslopes(medians)
    return float(rate) * (per_day / block) if low > 0 else 0.0


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
    means = np.median(y[offset:].reshape(full_days, per_day), axis=1)
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
    return offset + first * per_day if first else 0
