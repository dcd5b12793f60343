"""The forecast model behind the default strategy, on series whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from gitbot.strategies.forecast import DAY, Forecast, NoForecast, damped, fit, smape

STEP = 300
PER_DAY = DAY // STEP
WEEK = 7 * DAY


def days(n: float) -> np.ndarray:
    return np.arange(int(n * PER_DAY), dtype=float)


def test_a_daily_cycle_is_found_and_forecast_at_its_peak() -> None:
    t = days(10)
    y = 500 + 300 * np.sin(2 * np.pi * t / PER_DAY)
    fc = fit(y, STEP, WEEK)
    assert isinstance(fc, Forecast)
    assert [c.name for c in fc.cycles] == ["daily"]  # 10 days: too short for a weekly cycle
    assert fc.cycles[0].autocorrelation == pytest.approx(0.9)  # (n - lag) / n for a pure cycle
    assert (fc.regime_start, fc.slope_per_day) == (0, 0.0)
    assert fc.path.size == 7 * PER_DAY
    assert fc.peak() == pytest.approx(800, abs=1e-6)
    assert fc.quantile(100) == pytest.approx(800, abs=1e-6) and fc.quantile(0) == pytest.approx(200, abs=1e-6)
    # the path continues the cycle in phase: the step after the history is phase 0 of day 11
    assert fc.path[0] == pytest.approx(500, abs=1e-6) and fc.path[PER_DAY // 4] == pytest.approx(800, abs=1e-6)


def test_a_level_shift_starts_a_new_regime_and_the_old_level_is_forgotten() -> None:
    y = np.concatenate([np.full(6 * PER_DAY, 100.0), np.full(3 * PER_DAY, 400.0)])
    fc = fit(y, STEP, WEEK)
    assert isinstance(fc, Forecast)
    assert (fc.regime_start, fc.regime_days, fc.cycles) == (6 * PER_DAY, 3.0, ())
    assert fc.quantile(99) == 400.0 and fc.peak() == 400.0
    # a shift too small to matter (x1.5) is no regime
    small = fit(np.concatenate([np.full(6 * PER_DAY, 100.0), np.full(3 * PER_DAY, 150.0)]), STEP, WEEK)
    assert isinstance(small, Forecast) and small.regime_start == 0


def test_an_upward_trend_is_extrapolated_damped() -> None:
    y = 1000 + 50 * days(8) / PER_DAY  # +50 a day, no noise
    fc = fit(y, STEP, WEEK)
    assert isinstance(fc, Forecast)
    assert fc.slope_per_day == pytest.approx(50)
    # the path adds 50 x 0.8 (1 - 0.8^d) / 0.2 after d days: at most 200, 158.05 after a week
    assert fc.growth == pytest.approx(50 * 0.8 * (1 - 0.8**7) / 0.2)
    assert fc.path[-1] == pytest.approx(fc.level + fc.growth)
    assert damped(50, 100) == pytest.approx(200, abs=1e-6)
    # a falling trend is not bet on
    down = fit(3000 - 50 * days(8) / PER_DAY, STEP, WEEK)
    assert isinstance(down, Forecast) and down.slope_per_day == 0.0


def test_no_forecast_without_three_days_or_with_a_step_that_does_not_divide_a_day() -> None:
    assert fit(np.full(2 * PER_DAY, 1.0), STEP, WEEK) == NoForecast("less than 3 days of samples")
    gappy = np.full(5 * PER_DAY, np.nan)
    gappy[: 2 * PER_DAY] = 1.0
    assert fit(gappy, STEP, WEEK) == NoForecast("less than 3 days of samples")
    assert fit(np.full(5000, 1.0), 57, WEEK) == NoForecast("a 57s step does not divide a day")


def test_recent_noise_weighs_more_than_old_noise() -> None:
    rng = np.random.default_rng(7)
    quiet_then_noisy = np.concatenate([np.full(6 * PER_DAY, 500.0), 500 + rng.normal(0, 100, 3 * PER_DAY)])
    noisy_then_quiet = quiet_then_noisy[::-1].copy()
    late, early = fit(quiet_then_noisy, STEP, WEEK), fit(noisy_then_quiet, STEP, WEEK)
    assert isinstance(late, Forecast) and isinstance(early, Forecast)
    assert late.quantile(97) > early.quantile(97) + 50


def test_smape() -> None:
    assert smape(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == 50.0  # (2*2/4 + 0) / 2
    assert smape(np.array([]), np.array([])) is None


def test_a_step_of_zero_is_no_forecast_not_a_crash() -> None:
    assert fit(np.full(10, 1.0), 0, WEEK) == NoForecast("a 0s step does not divide a day")


def test_sum_percentile_is_numpys_percentile_of_every_sum_to_the_bit() -> None:
    from gitbot.strategies.forecast import sum_percentile

    rng = np.random.default_rng(11)
    for trial in range(300):
        path = rng.normal(100, 30, int(rng.choice([2016, 288, 40])))
        if trial % 3 == 0:
            path = np.round(path)  # ties
        residuals = np.sort(np.round(rng.normal(0, 3, 201)) if trial % 2 else rng.normal(0, 10, 201))
        for q in (50.0, 80.0, 97.0, 99.0, 99.9, 100.0):
            assert sum_percentile(path, residuals, q) == float(np.percentile(path[:, None] + residuals[None, :], q))
