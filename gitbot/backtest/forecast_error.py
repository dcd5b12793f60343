"""How well gitbot's forecast predicts usage a few hours ahead, against the seasonal-naive forecast.

The forecast is fitted once on the training window (``gitbot.strategies.forecast.fit``, which also
chooses there between the model and ½(model + seasonal-naive) on its own last days). Then from an
origin at every grid step of the scored window it forecasts ``h`` hours ahead
(``gitbot.strategies.forecast.point_forecasts``): the median of the day before without its cycle
(re-estimated every hour), plus the cycle at the target time, plus the damped trend — blended with
the value a day before the target where the training window chose the blend. (Origins once an hour
would put every target on the same minute of the hour: a job that runs hourly at :00 would be all
that is scored.) Seasonal-naive forecasts the value one day before the target. Both are scored with
sMAPE over all origins, at each horizon in ``HORIZONS_HOURS``; a lower sMAPE than seasonal-naive
means the forecast knows more than "tomorrow looks like today". Targets whose value, or whose value
a day earlier, is missing are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gitbot.backtest.trace import Trace
from gitbot.strategies.forecast import DAY, HOUR, POINT_HORIZONS_HOURS, Forecast, fit, point_forecasts, smape

HORIZONS_HOURS = POINT_HORIZONS_HOURS


@dataclass(frozen=True)
class ForecastError:
    trace: str
    source: str
    series: str  # "cpu" or "memory"
    horizon_hours: int
    origins: int
    model_smape: float  # the chosen forecast's (the model's, or the blend's)
    naive_smape: float
    blend: bool = False  # the training window chose ½(model + seasonal-naive)


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
            scored = _score(series, cut, model, hours * HOUR // trace.step_seconds)
            if scored is not None:
                out.append(ForecastError(trace.name, trace.source, name, hours, *scored, blend=model.blend))
    return out


def _score(series: np.ndarray, cut: int, model: Forecast, ahead: int) -> tuple[int, float, float] | None:
    per_day = DAY // model.step_seconds
    forecast, blended, naive, actual = point_forecasts(series, model.profile, model.slope_per_day, per_day, max(cut, per_day), ahead,
                                                       max(HOUR // model.step_seconds, 1))
    chosen = blended if model.blend else forecast
    scored = ~(np.isnan(chosen) | np.isnan(naive) | np.isnan(actual))
    if not scored.any():
        return None
    model_error, naive_error = smape(chosen[scored], actual[scored]), smape(naive[scored], actual[scored])
    assert model_error is not None and naive_error is not None
    return int(scored.sum()), model_error, naive_error
