"""Forecast a container's usage over the next review period from its history on a regular grid.

The model, fitted per series (CPU per pod, memory of the largest pod), is a few array operations,
done on many series at once: ``fit_many`` fits the rows of a (series x steps) matrix together, each
step along the rows (rows whose regimes start at different steps in groups), and gives every row the
forecast, float for float, it would get alone; ``fit`` is ``fit_many`` of one row.

1. **Regime.** Usage often moves to a new level and stays there (a release, a customer, a batch job
   that ended). The history is cut at the last such shift — daily medians after it at least twice
   (or at most half) those before it on average, for at least ``MIN_REGIME_DAYS`` — and only the
   current regime is used: an old level says little about the next week (a day of bursts, whose
   median stays low, is not a new level).
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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from gitbot.linear_percentile import lerp, rank

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
    float, without building and partitioning every sum. A week of 5-minute steps x 201 residual
    quantiles is 405,216 sums, but the path mostly repeats (a daily profile seven times over), so
    each distinct path value is taken once with its count; and for a high ``q`` only the sums above
    a threshold can be the order statistics needed, which ``residuals`` (ascending) says where to
    find in each row: those few are gathered and sorted instead of all of them."""
    n = path.size * residuals.size
    if q < HIGH_PERCENTILE or n < 4096 or not (np.isfinite(path).all() and np.isfinite(residuals).all()) \
            or bool(np.any(residuals[1:] < residuals[:-1])):
        return float(np.percentile(path[:, None] + residuals[None, :], q))
    at = rank(n, q)
    if at.last:
        return float(path.max() + residuals[-1])
    above = n - at.low  # sums at sorted positions low .. n - 1
    values, counts = np.unique(path, return_counts=True)  # equal path values make equal sums
    # a threshold from a subsample, lowered until at least `above` sums reach it
    sample = np.sort((values[::max(values.size // 64, 1), None] + residuals[None, ::4]).ravel())
    spare = (100.0 - q) * 0.5 + 0.25
    while True:
        threshold = float(sample[int((q - spare) / 100 * (sample.size - 1))]) if spare < q else -np.inf
        starts = np.searchsorted(residuals, threshold - values, side="left")
        reaching = residuals.size - starts
        if int((reaching * counts).sum()) >= above:
            break
        spare *= 2
    total = int(reaching.sum())
    rows = np.repeat(np.arange(values.size), reaching)
    cols = np.repeat(starts, reaching) + (np.arange(total) - np.repeat(np.cumsum(reaching) - reaching, reaching))
    sums = values[rows] + residuals[cols]
    if values.size == path.size:  # no value repeats: sort the sums alone (numpy's sort is faster than its partition here)
        picked = np.sort(sums)
        first = total - above  # sorted position `low` among the gathered sums
        a, b = picked[first], picked[first + 1]
    else:  # each sum stands for `count` equal ones (equal sums are equal floats: their order does not matter)
        order = np.argsort(sums)
        picked, taken = sums[order], np.cumsum(counts[rows][order])
        first = int(taken[-1]) - above
        a, b = picked[np.searchsorted(taken, first, side="right")], picked[np.searchsorted(taken, first + 1, side="right")]
    return float(lerp(a, b, at.gamma))


def fit(series: np.ndarray, step_seconds: int, horizon_seconds: int, half_life_days: float = 3.0,
        samples: tuple[np.ndarray, np.ndarray] | None = None, validate: bool = True) -> Forecast | NoForecast:
    """``series``: one value per grid step, NaN where there was no sample. Residuals are weighted by
    age with ``half_life_days``, so the noise of the last days counts most.

    ``samples``: (values, grid step of each value) when the series is a mean over replicas: level,
    cycle and trend come from the mean, the noise from each replica's own samples (averaging two
    pods halves their bursts; a pod's request has to cover its own).

    ``validate``: choose between the model and ½(model + seasonal-naive) on the last
    ``VALIDATION_DAYS`` (False: the model alone, as the validation's own fit is).

    ``fit_many`` with one row: there is one implementation, batched."""
    return fit_many([series], step_seconds, horizon_seconds, half_life_days, [samples], validate)[0]


def fit_many(series: np.ndarray | Sequence[np.ndarray], step_seconds: int, horizon_seconds: int, half_life_days: float = 3.0,
             samples: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
             validate: bool = True) -> list[Forecast | NoForecast]:
    """``fit`` for every row of ``series`` (rows of one length, a matrix or a sequence of them), as
    array operations over ``CHUNK_ROWS`` rows at a time: the same forecast, float for float, as a
    fit of each row alone (every operation works along the rows, none mixes them). ``samples``: per
    row, as ``fit``'s, or None."""
    rows = len(series)
    if step_seconds <= 0 or DAY % step_seconds:
        return [NoForecast(f"a {step_seconds}s step does not divide a day")] * rows
    per_day = DAY // step_seconds
    out: list[Forecast | NoForecast] = [NoForecast(f"less than {MIN_DAYS:g} days of samples")] * rows
    if rows == 0 or len(series[0]) < MIN_DAYS * per_day:
        return out
    order = np.arange(rows)
    if samples is not None:  # rows with as many samples together: each chunk pads its samples to its widest row
        order = order[np.argsort([len(series[i]) if s is None else s[0].size for i, s in enumerate(samples)], kind="stable")]
    for chunk in np.array_split(order, -(-rows // CHUNK_ROWS)):
        block = np.array([series[i] for i in chunk], dtype=float)
        enough = np.count_nonzero(~np.isnan(block), axis=1) >= MIN_DAYS * per_day
        chunk, block = chunk[enough], block[enough]
        if chunk.size:
            chunk_samples = None if samples is None else [samples[i] for i in chunk]
            for i, forecast in zip(chunk, _fit_rows(block, step_seconds, horizon_seconds, half_life_days, chunk_samples, validate)):
                out[i] = forecast
    return out


CHUNK_ROWS = 32  # rows fitted together: bounds the memory of the (rows x origins x day) validation windows


def _fit_rows(series: np.ndarray, step_seconds: int, horizon_seconds: int, half_life_days: float,
              samples: Sequence[tuple[np.ndarray, np.ndarray] | None] | None, validate: bool) -> list[Forecast]:
    """``fit_many`` for rows that all have enough samples."""
    rows, end = series.shape
    per_day = DAY // step_seconds
    known = ~np.isnan(series)
    filled = _fill(series, known)
    models = _Models.fit(filled, step_seconds)
    validations: list[Validation | None] = _validate(series, step_seconds) if validate else [None] * rows
    start = models.starts[:, None]

    values, index, valid = _residual_samples(series, known, samples)
    valid &= index >= start
    profiles, sizes = models.profile_matrix()
    slopes, levels = models.slopes[:, None], models.levels[:, None]
    expected = levels - slopes * (end - 1 - index) / per_day + np.take_along_axis(profiles, index % sizes, axis=1)
    blend = np.array([v is not None and v.blend for v in validations])
    blend &= (valid & (index >= start + per_day)).any(axis=1)
    if blend.any():  # the blend's own errors, where the value a day before is in the regime
        lagged = np.take_along_axis(filled[blend], np.maximum(index[blend] - per_day, 0), axis=1)
        expected[blend] = 0.5 * (expected[blend] + lagged)
        valid[blend] &= index[blend] >= start[blend] + per_day
    by_step = np.exp2(-((end - 1 - np.arange(end)) / per_day) / half_life_days)  # a weight per grid step, by its age in days
    residuals = _weighted_quantiles(values - expected, by_step[index], valid, RESIDUAL_QUANTILES)

    steps = horizon_seconds // step_seconds
    ahead = np.arange(1, steps + 1)
    path = levels + damped(slopes, ahead / per_day) + np.take_along_axis(profiles, (end - 1 + ahead) % sizes, axis=1)
    next_day = levels + np.take_along_axis(profiles, (end + np.arange(per_day)) % sizes, axis=1)
    if blend.any():  # seasonal-naive over a horizon longer than a day repeats the last day
        naive = filled[:, end - per_day + np.arange(steps) % per_day]
        path = np.where(blend[:, None], 0.5 * (path + naive), path)
    return [Forecast(step_seconds, horizon_seconds, int(models.starts[r]), (end - int(models.starts[r])) / per_day,
                     float(models.levels[r]), float(models.slopes[r]), models.cycles[r], models.profiles[r], path[r], next_day[r],
                     residuals[r], bool(blend[r]), validations[r])
            for r in range(rows)]


def _residual_samples(series: np.ndarray, known: np.ndarray,
                      samples: Sequence[tuple[np.ndarray, np.ndarray] | None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the values whose residuals make the noise and their grid steps, padded to one width:
    (values, steps, valid). A row's values are the series' own samples, or its ``samples``."""
    rows, size = series.shape
    if samples is None or all(s is None for s in samples):
        return np.where(known, series, 0.0), np.broadcast_to(np.arange(size), series.shape), known.copy()
    width = max(size if s is None else s[0].size for s in samples)
    values, index, valid = np.zeros((rows, width)), np.zeros((rows, width), dtype=np.intp), np.zeros((rows, width), dtype=bool)
    for r, s in enumerate(samples):  # gathering the rows: one copy each, no arithmetic
        if s is None:
            values[r, :size], index[r, :size], valid[r, :size] = np.where(known[r], series[r], 0.0), np.arange(size), known[r]
        else:
            n = s[0].size
            values[r, :n], index[r, :n], valid[r, :n] = s[0], s[1], True
    return values, index, valid


@dataclass(frozen=True)
class _Models:
    """Regime, cycle, median level and trend of rows of one length, as arrays (steps 1-4 of the
    module's model); each profile is indexed by grid step (from the series' start) modulo its size,
    a single zero without a cycle."""

    starts: np.ndarray  # per row: the regime's first step
    cycles: list[tuple[Cycle, ...]]
    profiles: list[np.ndarray]  # per row: the profile over one period of the kept cycle (a single zero without one)
    levels: np.ndarray
    slopes: np.ndarray  # per day

    @classmethod
    def fit(cls, filled: np.ndarray, step_seconds: int) -> _Models:
        """Fit gap-free rows: the regime of each, then the rest on the rows whose regimes start at
        the same step together (a few groups: regimes start on day boundaries)."""
        rows = filled.shape[0]
        starts = _regime_starts(filled, DAY // step_seconds)
        cycles: list[tuple[Cycle, ...]] = [()] * rows
        profiles: list[np.ndarray] = [np.zeros(1)] * rows
        levels, slopes = np.zeros(rows), np.zeros(rows)
        for start in np.unique(starts):
            group = np.flatnonzero(starts == start)
            group_cycles, group_profiles, levels[group], slopes[group] = _fit_regime(filled[group, start:], int(start), step_seconds)
            for i, c, p in zip(group, group_cycles, group_profiles):
                cycles[i], profiles[i] = c, p
        return cls(starts, cycles, profiles, levels, slopes)

    def profile_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """The profiles padded to one width, and each one's size (a column): ``matrix[r, i % sizes[r]]``."""
        sizes = np.array([p.size for p in self.profiles])
        matrix = np.zeros((sizes.size, int(sizes.max())))
        for r, p in enumerate(self.profiles):
            matrix[r, :p.size] = p
        return matrix, sizes[:, None]


def _fit_regime(y: np.ndarray, start: int, step_seconds: int
                ) -> tuple[list[tuple[Cycle, ...]], list[np.ndarray], np.ndarray, np.ndarray]:
    """Cycle, median level and trend of rows of one regime (steps 2-4): (cycles, profiles, levels, slopes)."""
    rows, size = y.shape
    per_day = DAY // step_seconds
    days = size / per_day
    # a cycle needs two periods of history at least, a weekly one WEEKLY_MIN_DAYS
    candidates = [(period, period // step_seconds) for period, min_days in ((DAY, 2.0), (WEEK, float(WEEKLY_MIN_DAYS)))
                  if days >= min_days]
    lags = _autocorrelations(y, [lag for _, lag in candidates])
    flat = np.ptp(y, axis=1) == 0  # no autocorrelation to speak of: no cycle
    cycles: list[tuple[Cycle, ...]] = [()] * rows
    for k, (period, _) in enumerate(candidates):
        for r in np.flatnonzero(~flat & (lags[:, k] >= MIN_CYCLE_ACF)):
            cycles[r] = (*cycles[r], Cycle(period, float(lags[r, k])))
    periods = np.array([c[-1].period_seconds // step_seconds if c else 0 for c in cycles])
    profiles: list[np.ndarray] = [np.zeros(1)] * rows
    plain = y.copy()
    for period in np.unique(periods[periods > 0]):
        group = np.flatnonzero(periods == period)
        profile = _phase_medians(y[group] - _centred_trends(y[group], int(period)), start % period, int(period))
        profile -= _median(profile)[:, None]  # the level is the usual usage, the cycle what its busy hours add
        plain[group] = y[group] - profile[:, (np.arange(size) + start) % period]
        for r, p in zip(group, profile):
            profiles[r] = p
    levels = _median(plain[:, -per_day:])
    return cycles, profiles, levels, _upward_slopes(plain, per_day)


def _autocorrelations(y: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Per row, statsmodels' ``acf(row, nlags, fft=True)`` at ``lags`` only (rows x len(lags)): the
    lagged products summed directly, one pass per lag, where the FFT computes every lag up to the
    longest (rounding differs from the FFT's in the last bits). Each row is summed along its own
    contiguous products, so it gets the float it would get alone."""
    xo = y - y.mean(axis=1, keepdims=True)
    variance = (xo * xo).sum(axis=1)
    out = np.empty((y.shape[0], len(lags)))
    with np.errstate(invalid="ignore", divide="ignore"):  # constant rows: 0 / 0, and no cycle
        for k, lag in enumerate(lags):
            out[:, k] = (xo[:, lag:] * xo[:, :xo.shape[1] - lag]).sum(axis=1) / variance
    return out


def _centred_trends(y: np.ndarray, period: int) -> np.ndarray:
    """Per row, the centred moving average over one period (a 2 x ``period`` average for an even
    period), its ends extrapolated by least squares over the ``period + 1`` nearest values: the
    trend of statsmodels' ``seasonal_decompose(y, period, extrapolate_trend=period)``, without the
    seasonal means it would also compute and then throw away. One ``np.convolve`` over the rows
    laid end to end (the sums that straddle two rows are dropped), so each row's moving average is
    the float it would be alone."""
    rows, size = y.shape
    if period % 2 == 0:
        filt = np.array([0.5] + [1.0] * (period - 1) + [0.5]) / period
    else:
        filt = np.repeat(1.0 / period, period)
    head = int(np.ceil(filt.size / 2.0) - 1)
    tail = int(np.ceil(filt.size / 2.0) - filt.size % 2)
    moving = np.convolve(np.ascontiguousarray(y).ravel(), filt, mode="valid")
    middle = np.concatenate([moving, np.zeros(filt.size - 1)]).reshape(rows, size)[:, :size - filt.size + 1]
    trend = np.empty((rows, size))
    trend[:, head:size - tail] = middle
    front, back = head, size - 1 - tail
    npoints = period + 1
    first, last = min(front + npoints, back), max(front, back - npoints)
    for fitted, to in ((slice(front, first), slice(0, front)), (slice(last, back), slice(back + 1, size))):
        x = np.c_[np.arange(fitted.start, fitted.stop), np.ones(fitted.stop - fitted.start)]
        # a 2-parameter solve per row: LAPACK rounds a solve with many right-hand sides differently
        # from one with a single one, and each row's line must be the float it is alone (this is cheap)
        line = np.array([np.linalg.lstsq(x, row, rcond=-1)[0] for row in trend[:, fitted]])
        trend[:, to] = np.arange(to.start, to.stop) * line[:, :1] + line[:, 1:]
    return trend


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
    series = np.asarray(series, dtype=float)[None, :]
    cycle = profile[np.arange(series.shape[1]) % profile.size][None, :]
    levels = _anchor_levels(series - cycle, per_day, _anchors(series.shape[1], first, ahead, refresh))
    model, blend, naive, actual = _point_forecasts(series, cycle, np.array([[slope_per_day]]), levels, per_day, first, ahead, refresh)
    return model[0], blend[0], naive[0], actual[0]


def _anchors(size: int, first: int, ahead: int, refresh: int) -> np.ndarray:
    """The steps where the level is re-estimated; a longer ``ahead``'s are the first of a shorter's."""
    return np.arange(first, max(size - ahead, first), refresh)


def _anchor_levels(plain: np.ndarray, per_day: int, anchors: np.ndarray) -> np.ndarray:
    """Per row and anchor, the median of the day before the anchor (NaN: no sample that day)."""
    windows = sliding_window_view(plain, per_day, axis=1)[:, anchors - per_day]  # a copy: fancy indexing
    windows.sort(axis=-1)  # in place: half the time of np.sort's sorted copy of this (rows x anchors x day) block
    return _middle(windows)


def _point_forecasts(series: np.ndarray, cycle: np.ndarray, slopes: np.ndarray, levels: np.ndarray, per_day: int, first: int,
                     ahead: int, refresh: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``point_forecasts`` of every row: ``cycle`` the rows' profiles on the grid, ``slopes`` a column,
    ``levels`` per row at ``_anchors`` (a longer horizon's may be longer than its own)."""
    origins = np.arange(first, max(series.shape[1] - ahead, first))
    targets = origins + ahead
    model = np.maximum(levels[:, (origins - first) // refresh] + cycle[:, targets] + damped(slopes, ahead / per_day), 0.0)
    naive = series[:, targets - per_day]
    return model, 0.5 * (model + naive), naive, series[:, targets]


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


def _smapes(forecast: np.ndarray, actual: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """``smape`` of each row over its ``scored`` columns, the same float: rows scored everywhere
    averaged as rows, the few with gaps one by one (a mean over fewer terms sums them differently)."""
    denominator = np.abs(forecast) + np.abs(actual)
    terms = np.divide(2 * np.abs(forecast - actual), denominator, out=np.zeros_like(denominator), where=scored & (denominator > 0))
    out = np.ascontiguousarray(terms).mean(axis=1) * 100  # along contiguous rows: pairwise sums, as a row's own mean
    for r in np.flatnonzero(~scored.all(axis=1) & scored.any(axis=1)):
        out[r] = terms[r, scored[r]].mean() * 100
    return out


def _validate(series: np.ndarray, step_seconds: int) -> list[Validation | None]:
    """Per row: fit the model on all but the last ``VALIDATION_DAYS`` and score it and the blend
    there, as the backtest scores the forecast after training (``point_forecasts`` at
    ``POINT_HORIZONS_HOURS``). None when the days before are too few to fit or nothing could be scored."""
    rows, size = series.shape
    per_day = DAY // step_seconds
    cut = size - VALIDATION_DAYS * per_day
    out: list[Validation | None] = [None] * rows
    if cut < MIN_DAYS * per_day:
        return out
    head = series[:, :cut]
    known = ~np.isnan(head)
    fitted = np.flatnonzero(np.count_nonzero(known, axis=1) >= MIN_DAYS * per_day)
    if fitted.size == 0:
        return out
    series = series[fitted]
    models = _Models.fit(_fill(head[fitted], known[fitted]), step_seconds)
    profiles, sizes = models.profile_matrix()
    cycle = np.take_along_axis(profiles, np.arange(size) % sizes, axis=1)
    refresh = max(HOUR // step_seconds, 1)
    aheads = [hours * HOUR // step_seconds for hours in POINT_HORIZONS_HOURS]
    levels = _anchor_levels(series - cycle, per_day, _anchors(size, cut, min(aheads), refresh))
    parts = [_point_forecasts(series, cycle, models.slopes[:, None], levels, per_day, cut, ahead, refresh) for ahead in aheads]
    forecast, blended, naive, actual = (np.concatenate(columns, axis=1) for columns in zip(*parts))
    scored = ~(np.isnan(forecast) | np.isnan(naive) | np.isnan(actual))
    counts = scored.sum(axis=1)
    model_errors, blend_errors = _smapes(forecast, actual, scored), _smapes(blended, actual, scored)
    for r, i in enumerate(fitted):
        if counts[r]:
            out[i] = Validation(int(counts[r]), float(model_errors[r]), float(blend_errors[r]))
    return out


def _upward_slopes(plain: np.ndarray, per_day: int) -> np.ndarray:
    """Per row, the Theil-Sen slope per day over block medians (``BLOCKS_PER_DAY`` a day) when its
    95 % interval lies above zero, else 0: ``scipy.stats.theilslopes`` step for step, on every row."""
    rows, size = plain.shape
    block = max(per_day // BLOCKS_PER_DAY, 1)
    blocks = size // block
    if blocks < 2 * BLOCKS_PER_DAY:
        return np.zeros(rows)
    medians = _median(plain[:, size - blocks * block:].reshape(rows, blocks, block))
    later, earlier = np.nonzero(np.subtract.outer(np.arange(blocks), np.arange(blocks)) > 0)
    slopes = np.sort((medians[:, later] - medians[:, earlier]) / (later - earlier).astype(float), axis=1)
    rate = _middle(slopes)
    ties = np.sort(medians, axis=1)  # Sen's variance, less each run of equal medians' share
    run = np.concatenate([np.zeros((rows, 1), dtype=np.intp), np.cumsum(ties[:, 1:] != ties[:, :-1], axis=1)], axis=1)
    lengths = np.bincount((run + np.arange(rows)[:, None] * blocks).ravel(), minlength=rows * blocks).reshape(rows, blocks)
    tied = (lengths * (lengths - 1) * (2 * lengths + 5)).sum(axis=1)
    sigma = np.sqrt(1 / 18. * (blocks * (blocks - 1) * (2 * blocks + 5) - tied))
    nt = slopes.shape[1]
    low_rank = np.maximum(np.round((nt + THEIL_SEN_Z * sigma) / 2.).astype(np.intp) - 1, 0)
    low = np.take_along_axis(slopes, low_rank[:, None], axis=1)[:, 0]
    return np.where(low > 0, rate * (per_day / block), 0.0)


THEIL_SEN_Z = float(norm.ppf((1. - 0.95) / 2.))  # theilslopes' default 95 % interval, its float


def _phase_medians(values: np.ndarray, first_phase: int, period: int) -> np.ndarray:
    """Per row, the median of ``values`` at each phase of the period, the first value being at ``first_phase``."""
    rows, size = values.shape
    cycles = -(-(first_phase + size) // period)
    grid = np.full((rows, cycles * period), np.nan)
    grid[:, first_phase:first_phase + size] = values
    return _nanmedian(grid.reshape(rows, cycles, period).transpose(0, 2, 1))


def _nanmedian(a: np.ndarray) -> np.ndarray:
    """``np.nanmedian(a, axis=-1)``, the same floats (NaN where a slice has no value)."""
    return _middle(np.sort(a, axis=-1))  # NaN sorts last


def _median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)`` of values without NaN, the same floats."""
    return _middle(np.sort(a, axis=-1))


def _middle(ordered: np.ndarray) -> np.ndarray:
    """The median of each sorted slice along the last axis, NaN (sorted last) left out: its middle
    value, or the mean of its middle two, as numpy's median takes them. Sorting is numpy's fast
    (SIMD) path; its ``partition`` is several times slower on slices of a few hundred values."""
    if not np.isnan(ordered[..., -1]).any():  # every slice full: the same two columns of each
        n = ordered.shape[-1]
        return (ordered[..., (n - 1) // 2] + ordered[..., n // 2]) / 2.
    counts = np.count_nonzero(~np.isnan(ordered), axis=-1)
    high = np.minimum(counts // 2, ordered.shape[-1] - 1)[..., None]
    low = np.where(counts[..., None] % 2 == 1, high, np.maximum(high - 1, 0))
    middle = (np.take_along_axis(ordered, low, axis=-1) + np.take_along_axis(ordered, high, axis=-1))[..., 0] / 2.
    return np.where(counts > 0, middle, np.nan)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, valid: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Per row, the weighted ``qs`` quantiles of its ``valid`` values (rows x qs)."""
    keys = np.where(valid, values, np.inf)  # the valid ones first
    order = np.argsort(keys, axis=1)  # numpy's fast sort, whose order of equal values is arbitrary: ...
    ordered = np.take_along_axis(keys, order, axis=1)
    tied = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] < np.inf)).any(axis=1)
    if tied.any():  # ... rows with equal values sort again, stable, so their weights add up in the same order
        order[tied] = np.argsort(keys[tied], axis=1, kind="stable")
        ordered[tied] = np.take_along_axis(keys[tied], order[tied], axis=1)
    cumulative = np.cumsum(np.take_along_axis(np.where(valid, weights, 0.0), order, axis=1), axis=1)
    last = valid.sum(axis=1)[:, None] - 1
    totals = np.take_along_axis(cumulative, last, axis=1)
    index = _searchsorted_left(cumulative, totals * qs[None, :] / 100.0)
    return np.take_along_axis(ordered, np.minimum(index, last), axis=1)


def _searchsorted_left(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``np.searchsorted(a[r], v[r], side="left")`` for every row r of ascending rows: a binary search
    over all rows at once."""
    low = np.zeros(v.shape, dtype=np.intp)
    high = np.full(v.shape, a.shape[1], dtype=np.intp)
    while True:
        active = low < high
        if not active.any():
            return low
        middle = (low + high) // 2
        below = np.take_along_axis(a, np.minimum(middle, a.shape[1] - 1), axis=1) < v
        low = np.where(active & below, middle + 1, low)
        high = np.where(active & ~below, middle, high)


def damped(slope: float | np.ndarray, days: np.ndarray | float) -> np.ndarray | float:
    return slope * DAMPING * (1 - DAMPING ** np.asarray(days)) / (1 - DAMPING)


def _fill(series: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per row, ``np.interp`` over the steps without a sample (the row's ends held at its first and
    last value), the same floats: slope x (step - previous known step) + previous known value. The
    neighbours of every gap, in all rows at once, by one search among the known steps of the
    flattened rows (a neighbour in another row is none)."""
    filled = series.copy()
    values, size = filled.reshape(-1), series.shape[1]
    holes, seen = np.flatnonzero(~known), np.flatnonzero(known)
    if holes.size == 0:
        return filled
    at = np.searchsorted(seen, holes)
    before, after = seen[np.maximum(at - 1, 0)], seen[np.minimum(at, seen.size - 1)]
    row_start = holes - holes % size
    has_before = (at > 0) & (before >= row_start)
    has_after = (at < seen.size) & (after < row_start + size)
    left, right = values[before], values[after]
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = (right - left) / (after - before).astype(float) * (holes - before) + left
    values[holes] = np.where(has_before, np.where(has_after, inner, left), right)
    return filled


def _regime_starts(y: np.ndarray, per_day: int) -> np.ndarray:
    """Per row, the index of the first sample of the current regime.

    Binary segmentation on daily medians: the split that leaves the least squared error is a level
    shift when one side's mean is at least SHIFT_RATIO times the other's and the gap is material
    (SHIFT_MATERIAL of the highest daily median); the search then goes on after it, for a later
    shift. Every row at once: each search step scores every split of every row still searching.
    """
    rows, size = y.shape
    full_days = size // per_day
    offset = size - full_days * per_day
    means = _median(y[:, offset:].reshape(rows, full_days, per_day))
    material = SHIFT_MATERIAL * means.max(axis=1)
    first = np.zeros(rows, dtype=np.intp)
    searching = np.ones(rows, dtype=bool)
    day = np.arange(full_days)
    split = np.arange(full_days + 1)[:, None]  # a split at day s: days before s | days from s on
    while True:
        searching &= full_days - first >= 2 * MIN_REGIME_DAYS
        rows_left = np.flatnonzero(searching)
        if rows_left.size == 0:
            break
        m, f = means[rows_left][:, None, :], first[rows_left][:, None, None]
        before, after = (day >= f) & (day < split), np.broadcast_to(day >= split, (rows_left.size, *split.shape[:1], full_days))
        mean_before = np.where(before, m, 0.0).sum(axis=2) / np.maximum(split.T - f[:, :, 0], 1)
        mean_after = np.where(after, m, 0.0).sum(axis=2) / np.maximum(full_days - split.T, 1)
        errors = (np.where(before, (m - mean_before[:, :, None]) ** 2, 0.0).sum(axis=2)
                  + np.where(after, (m - mean_after[:, :, None]) ** 2, 0.0).sum(axis=2))
        allowed = (split.T - f[:, :, 0] >= MIN_REGIME_DAYS) & (full_days - split.T >= MIN_REGIME_DAYS)
        best = np.argmin(np.where(allowed, errors, np.inf), axis=1)
        picked = np.arange(rows_left.size)
        low = np.minimum(mean_before[picked, best], mean_after[picked, best])
        high = np.maximum(mean_before[picked, best], mean_after[picked, best])
        shift = ~((high < low * SHIFT_RATIO) | (high - low < material[rows_left]))
        first[rows_left[shift]] = best[shift]
        searching[rows_left[~shift]] = False
    return np.where(first > 0, offset + first * per_day, 0)
