"""Prometheus range functions on arrays: hand-computed values, brute-force checks, a real Prometheus."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import numpy as np
import pytest
from prometheus_harness import start_prometheus

from gitbot.metrics import promql
from gitbot.metrics.openmetrics import Family, Series, write_openmetrics

NAN = np.nan


def arr(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


def same(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


def test_eval_grid() -> None:
    same(promql.eval_grid(0, 10, 5), arr(0, 5, 10))
    same(promql.eval_grid(0, 9, 5), arr(0, 5))
    assert promql.eval_grid(10, 0, 5).size == 0
    grid = promql.eval_grid(1.7e9, 1.7e9 + 86400, 300)
    assert grid.size == 289 and grid[-1] == 1.7e9 + 86400 and grid.dtype == np.float64
    with pytest.raises(ValueError):
        promql.eval_grid(0, 10, 0)


def test_increase_with_counter_reset() -> None:
    ts, vals = arr(0, 10, 20, 30, 40), arr(10, 20, 30, 5, 15)
    # (0, 40]: samples 10..40 = 20, 30, 5, 15; the drop adds 30 -> 25 over 30 s. The window start
    # is 10 s before the first sample (< 1.1 x 10 s average), so extrapolate over 40 s.
    same(promql.increase(ts, vals, arr(40), 40), arr(25 * 40 / 30))
    same(promql.rate(ts, vals, arr(40), 40), arr(25 * 40 / 30 / 40))


def test_duration_to_zero_limits_extrapolation() -> None:
    ts, vals = arr(10, 20, 30), arr(1, 11, 21)
    # Counting backwards from 1 at slope 1/s reaches zero 1 s before the first sample, not 10.
    same(promql.increase(ts, vals, arr(30), 30), arr(21))
    same(promql.rate(ts, vals, arr(30), 30), arr(0.7))
    # A first value below zero (not a real counter) skips the clamp: the full 10 s is used.
    same(promql.increase(ts, arr(-5, 5, 15), arr(30), 30), arr(30))


def test_far_edges_extrapolate_half_an_interval() -> None:
    ts, vals = arr(50, 60, 70), arr(100, 110, 120)
    # 50 s to the start and 30 s to the end are both over 1.1 x 10 s: add 5 s at each side.
    same(promql.increase(ts, vals, arr(100), 100), arr(30))
    same(promql.rate(ts, vals, arr(100), 100), arr(0.3))


def test_zero_point_clamped_before_the_threshold_test() -> None:
    # Prometheus 2.x: the 50 s gap is first cut to the 8 s zero point, then 8 < 11 extends by 8 s
    # (prometheus#13725 would take half an interval, 5 s, instead).
    same(promql.increase(arr(50, 60, 70), arr(8, 18, 28), arr(70), 70), arr(28))


def test_rate_needs_two_samples_in_the_window() -> None:
    ts, vals = arr(0, 100, 200), arr(1, 2, 3)
    same(promql.rate(ts, vals, arr(50, 100, 150, 250), 60), arr(NAN, NAN, NAN, NAN))
    same(promql.rate(ts, vals, arr(200), 150), arr(1 / 100 * 150 / 150))
    empty = np.empty(0)
    same(promql.rate(empty, empty, arr(1, 2), 10), arr(NAN, NAN))
    assert promql.increase(ts, vals, np.empty(0), 10).size == 0


def test_window_is_left_open_unless_asked() -> None:
    ts, vals = arr(0, 10, 20), arr(1, 5, 10)
    # (0, 20]: 5 -> 10; 10 s to the start (< 11 s), zero point 10 s back: 5 x 20/10.
    same(promql.increase(ts, vals, arr(20), 20), arr(10))
    # [0, 20] (Prometheus 2.x): 1 -> 10 over the whole window.
    same(promql.increase(ts, vals, arr(20), 20, left_closed=True), arr(9))
    same(promql.max_over_time(ts, vals, arr(20), 20), arr(10))
    same(promql.instant(ts, vals, arr(30), 10), arr(NAN))
    same(promql.instant(ts, vals, arr(30), 10, left_closed=True), arr(10))


def test_instant_and_last_over_time() -> None:
    ts, vals = arr(10, 20, 30), arr(1, 2, 3)
    grid = arr(5, 10, 15, 25, 30, 40, 45)
    same(promql.instant(ts, vals, grid, 10), arr(NAN, 1, 1, 2, 3, NAN, NAN))
    same(promql.last_over_time(ts, vals, grid, 20), arr(NAN, 1, 1, 2, 3, 3, 3))
    empty = np.empty(0)
    same(promql.instant(empty, empty, grid, 10), np.full(grid.size, NAN))


def test_max_over_time_small() -> None:
    ts, vals = arr(0, 1, 2, 3, 4, 5), arr(3, NAN, 7, 1, 9, 2)
    grid = arr(-1, 0, 1, 2, 3, 4, 5, 6, 7, 9)
    same(promql.max_over_time(ts, vals, grid, 2), arr(NAN, 3, 3, 7, 7, 9, 9, 2, NAN, NAN))
    same(promql.max_over_time(ts, arr(NAN, NAN, 1, 1, 1, 1), arr(1, 2), 5), arr(NAN, 1))


def brute(ts: np.ndarray, vals: np.ndarray, grid: np.ndarray, range_s: float, how: str) -> np.ndarray:
    out = []
    for t in grid:
        v = vals[(ts > t - range_s) & (ts <= t)]
        if how == "max":
            out.append(np.nan if v.size == 0 or np.isnan(v).all() else np.nanmax(v))
        else:
            out.append(v[-1] if v.size else np.nan)
    return np.array(out)


@pytest.mark.parametrize("range_s", [0.5, 7, 30, 333, 5000])
def test_window_functions_match_brute_force(range_s: float) -> None:
    rng = np.random.default_rng(int(range_s * 10))
    ts = np.cumsum(rng.integers(1, 20, 400)).astype(float)
    vals = rng.normal(size=ts.size)
    vals[rng.random(ts.size) < 0.1] = np.nan
    grid = promql.eval_grid(-10, ts[-1] + 50, 3.5)
    same(promql.max_over_time(ts, vals, grid, range_s), brute(ts, vals, grid, range_s, "max"))
    same(promql.last_over_time(ts, vals, grid, range_s), brute(ts, vals, grid, range_s, "last"))


# -- against a real Prometheus ------------------------------------------------------------------

T0 = 1_600_000_000.0
OFFSETS = arr(0, 30, 60, 95, 120, 150, 400, 430, 460, 700, 701, 731, 790, 1400, 1430, 1460, 1490, 1520, 1550)
COUNTER = arr(5, 8, 12, 20, 25, 2, 10, 30, 31, 31, 40, 1, 4, 9, 10, 15, 15, 0.5, 7.25)  # resets, gaps
GAUGE = np.round(np.sin(np.arange(OFFSETS.size)) * 10, 3)
# (start offset, step): half-second starts never put a window edge on a sample (open = closed),
# whole-second ones often do.
GRIDS = [(0.5, 7), (0.5, 13), (0, 17), (1, 1), (-700, 13)]
RANGES = [60, 100, 300, 600, 900]

@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> str:
    snapshot = tmp_path_factory.mktemp("promql") / "snap.om"
    families = [
        Family("m", "counter", None, [Series("m_total", (("job", "x"),), T0 + OFFSETS, COUNTER)]),
        Family("g", "gauge", None, [Series("g", (("job", "y"),), T0 + OFFSETS, GAUGE)]),
    ]
    with open(snapshot, "w", encoding="utf-8") as out:
        write_openmetrics(out, families)
    return start_prometheus(tmp_path_factory, [snapshot]).url


def query_range(url: str, expr: str, grid: np.ndarray, start: float, end: float, step: float) -> np.ndarray:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=30) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    out = np.full(grid.size, np.nan)
    for result in body["data"]["result"]:
        for t, value in result["values"]:
            i = round((t - start) / step)
            assert abs(grid[i] - t) < 1e-6
            out[i] = float(value)
    return out


@pytest.mark.parametrize(("offset", "step"), GRIDS)
def test_matches_real_prometheus(prometheus: str, offset: float, step: float) -> None:
    start, end = T0 + offset, T0 + 2300
    grid = promql.eval_grid(start, end, step)
    ts = T0 + OFFSETS
    checks = [
        ("rate(m_total[{r}s])", promql.rate, COUNTER),
        ("increase(m_total[{r}s])", promql.increase, COUNTER),
        ("max_over_time(g[{r}s])", promql.max_over_time, GAUGE),
        ("last_over_time(g[{r}s])", promql.last_over_time, GAUGE),
    ]
    edges_hit = 0
    for range_s in RANGES:
        for template, function, vals in checks:
            want = query_range(prometheus, template.format(r=range_s), grid, start, end, step)
            assert (~np.isnan(want)).any()
            # Prometheus 2.x windows are closed on the left.
            np.testing.assert_allclose(function(ts, vals, grid, range_s, left_closed=True), want, rtol=1e-9, atol=0, equal_nan=True)
            if offset % 1:  # no window edge on a sample: the default (left-open) agrees too
                np.testing.assert_allclose(function(ts, vals, grid, range_s), want, rtol=1e-9, atol=0, equal_nan=True)
            else:
                edges_hit += int(np.isin(grid - range_s, ts).any())
    lookback = 300  # Prometheus' default lookback delta
    want = query_range(prometheus, "g", grid, start, end, step)
    np.testing.assert_allclose(promql.instant(ts, GAUGE, grid, lookback, left_closed=True), want, rtol=1e-9, atol=0, equal_nan=True)
    assert offset % 1 or edges_hit  # whole-second grids do test samples on window edges
