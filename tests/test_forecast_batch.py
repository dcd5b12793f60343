"""The batched forecasts (``fit_many``, ``PercentileStrategy.recommend_many``) give the recommendations
of a fit per container, exactly: on the demo and on a synthetic fleet of 1k containers."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from gitbot.strategies.base import Recommendation
from gitbot.strategies.forecast import Forecast, fit, fit_many
from gitbot.strategies.percentile import Item, PercentileStrategy, settings_from_config
from gitbot.strategies.rules import default_rules_dir, load_rules

from tests.test_cli import DEMO, METRICS, run

STEP, DAY = 300, 86400
PER_DAY = DAY // STEP


def one_by_one(self: PercentileStrategy, items: Sequence[Item]) -> list[Recommendation]:
    """``recommend_many`` as a fit per container: each item alone."""
    return [BATCHED(self, [item])[0] for item in items]


BATCHED = PercentileStrategy.recommend_many


def same(a: Recommendation, b: Recommendation) -> bool:
    return (a.workload, a.container, a.status, a.fields, a.explanation, a.reasons) == (b.workload, b.container, b.status, b.fields,
                                                                                       b.explanation, b.reasons)


def test_the_demo_plan_is_the_same_batched_and_container_by_container(monkeypatch):
    code, batched, _ = run("plan", DEMO, "--metrics-file", METRICS, "--format", "json")
    monkeypatch.setattr(PercentileStrategy, "recommend_many", one_by_one)
    code_alone, alone, _ = run("plan", DEMO, "--metrics-file", METRICS, "--format", "json")
    assert code == code_alone == 0
    assert json.loads(batched) == json.loads(alone)


def test_a_1k_container_fleet_gets_the_same_recommendations_batched_and_container_by_container():
    fleet_module = pytest.importorskip("benchmarks.fleet")
    if not fleet_module.TRACE_DIR.is_dir():
        pytest.skip(f"no traces in {fleet_module.TRACE_DIR}")
    from gitbot.metrics.usage import build_profiles

    fleet = fleet_module.generate(1000)
    profiles = build_profiles(fleet.workloads, fleet.data)
    strategy = PercentileStrategy(settings_from_config({}, "test"), load_rules([default_rules_dir()]))
    items = [(w, c, profiles.get(w.id, c.name), None) for w in fleet.workloads for c in w.containers]
    batched, alone = strategy.recommend_many(items), one_by_one(strategy, items)
    assert len(batched) == len(alone) == len(items) > 400
    assert all(same(a, b) for a, b in zip(batched, alone))
    assert sum("median level" in r.explanation for r in batched) > 0.9 * len(batched)  # forecasts, not percentiles


def test_fit_many_is_fit_row_by_row_float_for_float():
    # rows of one length with what makes rows differ: gaps, level shifts (regimes of other lengths),
    # cycles or none, trends, replicas' own samples, too few samples
    rng = np.random.default_rng(18)
    t = np.arange(14 * PER_DAY)
    rows, samples = [], []
    for i in range(40):
        y = 100 + 50 * (i % 3) * np.sin(2 * np.pi * t / PER_DAY) + rng.normal(0, 5 + i, t.size) + (i % 4 == 1) * 0.02 * t
        if i % 5 == 2:
            y[: (i % 9 + 2) * PER_DAY] *= 4  # a level shift some days ago
        y[rng.random(t.size) < 0.05 * (i % 3)] = np.nan
        if i % 11 == 10:
            y[: 12 * PER_DAY] = np.nan  # two days: no forecast
        rows.append(y)
        known = np.flatnonzero(~np.isnan(y))
        samples.append(None if i % 2 else (np.concatenate([y[known] * 1.1, y[known] * 0.9]), np.concatenate([known, known])))
    many = fit_many(np.array(rows), STEP, 7 * DAY, 3.0, samples)
    for y, s, fc in zip(rows, samples, many):
        alone = fit(y, STEP, 7 * DAY, 3.0, s)
        assert type(fc) is type(alone)
        if isinstance(fc, Forecast):
            assert isinstance(alone, Forecast)
            assert (fc.regime_start, fc.cycles, fc.level, fc.slope_per_day, fc.blend, fc.validation) == \
                (alone.regime_start, alone.cycles, alone.level, alone.slope_per_day, alone.blend, alone.validation)
            for name in ("profile", "path", "next_day", "residuals"):
                np.testing.assert_allclose(getattr(fc, name), getattr(alone, name), rtol=1e-12, atol=1e-9)
            assert np.ceil(round(fc.quantile(97), 6)) == np.ceil(round(alone.quantile(97), 6))
    assert sum(isinstance(f, Forecast) and f.regime_start > 0 for f in many) >= 3
    assert sum(isinstance(f, Forecast) and bool(f.cycles) for f in many) >= 10


# -- the batched steps against the libraries whose arithmetic they repeat, row by row ------------


def _rows(count: int = 12, days: int = 9) -> np.ndarray:
    """Rows with a cycle, noise, ties (rounded values, a flat stretch) and a constant row."""
    rng = np.random.default_rng(7)
    t = np.arange(days * PER_DAY)
    rows = np.array([np.round(50 + 30 * (i % 4) * np.sin(2 * np.pi * t / PER_DAY + i) + rng.gamma(2, 3 + i, t.size), i % 3)
                     for i in range(count)])
    rows[3, 100:400] = rows[3, 99]
    rows[5] = 42.0
    return rows


def test_autocorrelations_are_statsmodels_acf_row_by_row():
    from statsmodels.tsa.stattools import acf

    from gitbot.strategies.forecast import _autocorrelations

    rows = _rows()
    lags = [1, 7, PER_DAY // 2, PER_DAY]
    batched = _autocorrelations(rows, lags)
    for r, row in enumerate(rows):
        if np.ptp(row) == 0:
            assert np.isnan(batched[r]).all()  # a constant row has no autocorrelation (statsmodels divides 0 by 0 too)
            continue
        # the same quantity; summed directly where statsmodels goes through an FFT, so the last bits may differ
        np.testing.assert_allclose(batched[r], acf(row, nlags=PER_DAY, fft=True)[lags], rtol=1e-12, atol=1e-15)
        assert (batched[r] == _autocorrelations(row[None, :], lags)[0]).all()  # alone: the same floats


def test_centred_trends_are_the_trend_of_statsmodels_seasonal_decompose():
    from statsmodels.tsa.seasonal import seasonal_decompose

    from gitbot.strategies.forecast import _centred_trends

    rows = _rows()
    for period in (PER_DAY, 7):  # an even and an odd period
        batched = _centred_trends(rows, period)
        for r, row in enumerate(rows):
            trend = seasonal_decompose(row, period=period, extrapolate_trend=period).trend
            np.testing.assert_allclose(batched[r], trend, rtol=1e-12, atol=1e-9)


def test_upward_slopes_are_scipy_theilslopes_where_its_interval_is_above_zero():
    from scipy.stats import theilslopes

    from gitbot.strategies.forecast import BLOCKS_PER_DAY, _upward_slopes

    rng = np.random.default_rng(3)
    t = np.arange(8 * PER_DAY)
    rows = np.array([20 + s * t / PER_DAY + rng.normal(0, 4, t.size) for s in (-2.0, 0.0, 0.3, 1.0, 5.0)])
    rows[1] = np.round(rows[1])  # ties among the block medians
    batched = _upward_slopes(rows, PER_DAY)
    block = PER_DAY // BLOCKS_PER_DAY
    for r, row in enumerate(rows):
        medians = np.median(row.reshape(-1, block), axis=1)
        rate, _, low, _ = theilslopes(medians)
        assert batched[r] == (rate * BLOCKS_PER_DAY if low > 0 else 0.0)
    assert batched[0] == 0.0 and batched[4] > 0  # falling: not bet on; rising: kept


def test_gaps_are_filled_as_np_interp_fills_each_row():
    from gitbot.strategies.forecast import _fill

    rows = _rows(6, 4)
    rng = np.random.default_rng(5)
    rows[rng.random(rows.shape) < 0.2] = np.nan
    rows[2, :50] = np.nan  # a gap at the start: held at the first value
    rows[4, -70:] = np.nan  # and at the end
    known = ~np.isnan(rows)
    filled = _fill(rows, known)
    index = np.arange(rows.shape[1])
    for r in range(rows.shape[0]):
        np.testing.assert_array_equal(filled[r], np.interp(index, index[known[r]], rows[r, known[r]]))


def test_medians_are_numpys_medians_nan_left_out():
    from gitbot.strategies.forecast import _median, _nanmedian

    rows = _rows(6, 2)
    np.testing.assert_array_equal(_median(rows), np.median(rows, axis=1))
    rows[np.random.default_rng(1).random(rows.shape) < 0.3] = np.nan
    rows[0] = np.nan
    with pytest.warns(RuntimeWarning):  # numpy warns of the all-NaN row; the batched median is silent
        expected = np.nanmedian(rows, axis=1)
    np.testing.assert_array_equal(_nanmedian(rows), expected)
