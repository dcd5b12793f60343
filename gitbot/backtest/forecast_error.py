"""How well gitbot's forecast model predicts usage a few hours ahead, against the seasonal-naive forecast.

The model is fitted once on the training window (``gitbot.strategies.forecast.fit``). Then from an
origin at every hour of the scored window it forecasts ``h`` hours ahead: the level of the last day
before the origin without its cycle, plus the cycle at the target time, plus the damped trend.
Seasonal-naive forecasts the value one day before the target. Both are scored with sMAPE over all
origins, at each horizon in ``HORIZONS_HOURS``; a lower sMAPE than seasonal-naive means the model
knows more than "tomorrow looks like today".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gitbot.backtest.trace import Trace
from gitbot.strategies.forecast import DAY, Forecast, damped, fit, smape

HORIZONS_HOURS = (2, 4)


@dataclass(frozen=True)
class ForecastError:
    trace: str
    source: str
    series: str  # "cpu" or "memory"
    horizon_hours: int
    origins: int
    model_smape: float
    naive_smape: float


def forecast_errors(trace: Trace, split: int, horizon_days: float = 7.0, half_life_days: float = 3.0) -> list[ForecastError]:
    """Errors for each series and horizon; empty where the model has no forecast (short history, odd step)."""
    cpu, memory = trace.on_grid()
    start = int(trace.timestamps[0])
    cut = int(np.ceil((split - start) / trace.step_seconds))  # first grid step of the scored window
    out = []
    for name, series in (("cpu", cpu), ("memory", memory)):
        if name == "cpu" and not trace.has_cpu:
            continue
        model = fit(series[:cut], trace.step_seconds, int(horizon_days * DAY), half_life_days)
        if not isinstance(model, Forecast):
            continue
        for hours in HORIZONS_HOURS:
            scored = _score(series, cut, model, hours * 3600 // trace.step_seconds, DAY // trace.step_seconds)
            if scored is not None:
                out.append(ForecastError(trace.name, trace.source, name, hours, *scored))
    return out


def _score(series: np.ndarray, cut: int, model: Forecast, ahead: int, per_day: int) -> tuple[int, float, float] | None:
    period = model.profile.size
    hour = 3600 // model.step_seconds
    forecasts, naive, actual = [], [], []
    for origin in range(cut, series.size - ahead, hour):
        target = origin + ahead
        if np.isnan(series[target]) or np.isnan(series[target - per_day]):
            continue
        history = series[origin - per_day:origin]
        phases = np.arange(origin - per_day, origin) % period
        known = ~np.isnan(history)
        if not known.any():
            continue
        level = float((history[known] - model.profile[phases[known]]).mean())
        forecasts.append(max(level + model.profile[target % period] + float(damped(model.slope_per_day, ahead / per_day)), 0.0))
        naive.append(series[target - per_day])
        actual.append(series[target])
    if not actual:
        return None
    a = np.array(actual)
    model_error, naive_error = smape(np.array(forecasts), a), smape(np.array(naive), a)
    assert model_error is not None and naive_error is not None
    return len(actual), model_error, naive_error
