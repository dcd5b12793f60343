"""The forecast model behind the default strategy, on series whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from gitbot.strategies.forecast import DAY, Forecast, NoForecast, damped, fit, point_forecasts, smape

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
    # zero actuals: 0 against 0 is exact, anything else against 0 costs the full 200 %, however close
    assert round(smape(np.array([0.0, 0.001, 5.0]), np.array([0.0, 0.0, 0.0])) or 0, 9) == 133.333333333  # (0 + 2 + 2) / 3


def test_a_step_of_zero_is_no_forecast_not_a_crash() -> None:
    assert fit(np.full(10, 1.0), 0, WEEK) == NoForecast("a 0s step does not divide a day")


def test_sum_percentile_is_numpys_percentile_of_every_sum_to_the_bit() -> None:
    from gitbot.strategies.forecast import sum_percentile

    rng = np.random.default_rng(11)
    for trial in range(300):
        path = rng.normal(100, 30, int(rng.choice([2016, 288, 40])))
        if trial % 3 == 0:
            path = np.round(path)  # ties
        if trial % 5 == 1:
            path = np.tile(path[:max(path.size // 7, 1)], 8)[:path.size]  # a profile repeated, as a daily cycle over a week
        if trial % 25 == 2:
            path = np.full(path.size, path[0])  # no cycle: one value
        residuals = np.sort(np.round(rng.normal(0, 3, 201)) if trial % 2 else rng.normal(0, 10, 201))
        for q in (50.0, 80.0, 97.0, 99.0, 99.9, 100.0):
            assert sum_percentile(path, residuals, q) == float(np.percentile(path[:, None] + residuals[None, :], q))


def test_the_level_is_a_median_so_bursts_do_not_lift_it() -> None:
    """An hour a day at 1000 over 100 otherwise: the cycle carries the burst, the level stays at the
    usual 100 (a mean of the day would say 137.5 and lift every hour of the forecast with it)."""
    t = days(10)
    fc = fit(np.where(t % PER_DAY < 12, 1000.0, 100.0), STEP, WEEK)
    assert isinstance(fc, Forecast)
    assert (fc.level, fc.quantile(50), fc.quantile(97), fc.peak()) == (100.0, 100.0, 1000.0, 1000.0)
    assert fc.describe() == ("daily cycle (autocorrelation 0.90), median level 100; model alone: sMAPE 0.0% vs 0.0% "
                             "for ½(model + a day earlier) on the last 5 days")


def test_a_weekly_profile_needs_four_weeks_of_regime() -> None:
    """Weekdays at 500, weekends at 100, a daily wave on top: with three weeks each weekly phase would
    rest on three values, so the profile is daily; with four weeks and a day it is weekly."""
    def weekly(n: int) -> np.ndarray:
        t = days(n)
        return np.where((t // PER_DAY) % 7 >= 5, 100.0, 500.0) + 50 * np.sin(2 * np.pi * t / PER_DAY)

    three, four = fit(weekly(22), STEP, WEEK), fit(weekly(29), STEP, WEEK)
    assert isinstance(three, Forecast) and isinstance(four, Forecast)
    assert ([c.name for c in three.cycles], three.profile.size) == (["daily"], PER_DAY)
    assert ([c.name for c in four.cycles], four.profile.size) == (["daily", "weekly"], 7 * PER_DAY)
    assert round(four.cycles[1].autocorrelation, 2) == 0.75


def test_validation_chooses_the_blend_where_yesterday_knows_more_than_the_profile() -> None:
    """A two-hour burst that starts 15 minutes later each day: the profile (medians over all days)
    smears it, yesterday has it nearly in place, so ½(model + a day earlier) wins on the last 5 days.
    Plain noise around a level: copying yesterday copies its noise, and the model alone wins."""
    rng = np.random.default_rng(1)
    t = days(12)
    drifting = 100 + rng.normal(0, 5, t.size)
    for d in range(12):
        drifting[d * PER_DAY + 100 + 3 * d: d * PER_DAY + 124 + 3 * d] += 400
    blend = fit(drifting, STEP, WEEK)
    assert isinstance(blend, Forecast) and blend.blend
    assert blend.validation is not None and blend.validation.forecasts == 2808  # 5 days x 288 origins x 2 horizons, less the ends
    assert (round(blend.validation.model_smape, 1), round(blend.validation.blend_smape, 1)) == (20.8, 14.8)
    assert blend.describe().endswith("; ½(model + a day earlier): sMAPE 14.8% vs 20.8% for the model alone on the last 5 days")
    # the blend's path is half the model's and half the last day, repeated
    alone = fit(drifting, STEP, WEEK, validate=False)
    assert isinstance(alone, Forecast) and (alone.blend, alone.validation) == (False, None)
    assert np.array_equal(blend.path, 0.5 * (alone.path + np.resize(drifting[-PER_DAY:], alone.path.size)))
    noise = fit(100 + rng.normal(0, 10, t.size), STEP, WEEK)
    assert isinstance(noise, Forecast) and not noise.blend and noise.validation is not None
    assert (round(noise.validation.model_smape, 1), round(noise.validation.blend_smape, 1)) == (7.9, 8.9)
    short = fit(100 + rng.normal(0, 10, 7 * PER_DAY), STEP, WEEK)
    assert isinstance(short, Forecast) and (short.blend, short.validation) == (False, None)
    assert short.describe().endswith("; model alone (under 8 days: not validated)")


def test_point_forecasts_from_every_step_with_the_level_refreshed_hourly() -> None:
    """Four steps a day, the level refreshed every two steps from the median of the day before."""
    series = np.arange(1.0, 13.0)
    model, blend, naive, actual = point_forecasts(series, np.zeros(1), 0.0, 4, 4, 1, 2)
    # levels: median(1..4) = 2.5 for origins 4 and 5, median(3..6) = 4.5 for 6 and 7, then 6.5, 8.5
    assert model.tolist() == [2.5, 2.5, 4.5, 4.5, 6.5, 6.5, 8.5]
    assert naive.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]  # a day (4 steps) before each target
    assert blend.tolist() == [2.25, 2.75, 4.25, 4.75, 6.25, 6.75, 8.25]
    assert actual.tolist() == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
