"""benchmarks.static_bounds: the static sizing a training window supports, next to the backtest's oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.static_bounds import Trade, best_choice, best_within, main, trades
from gitbot.backtest.oracle import Sorted

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"


def test_sorted_gives_the_backtests_over_request_and_slack() -> None:
    over, slack = Sorted.of(np.array([4.0, 1.0, 3.0, 2.0])).over_and_slack(2.0)
    assert over == 50.0  # 3 and 4 are above 2
    assert slack == 12.5  # 1 of the 2 x 4 requested is unused (at the sample of 1)


def test_requests_are_chosen_on_training_and_scored_on_the_rest() -> None:
    # training: a request of 10 leaves 25 % over and no slack; 100 leaves none over and 67.5 % slack,
    # so prices below 2.7 choose 10 and prices above it choose 100
    training, scored = [np.array([10.0, 10.0, 10.0, 100.0])], [np.array([10.0, 10.0, 50.0, 100.0])]
    low, high = trades(training, scored, None, prices=np.array([1.0, 5.0]))
    assert low == Trade(None, 1.0, 50.0, 0.0)  # 50 and 100 are above 10
    assert (high.price, high.over_pct, high.slack_pct) == (5.0, 0.0, pytest.approx(57.5))  # 230 of 400 unused
    assert best_within([low, high], 10.0) is high
    assert best_within([low, high], 50.0) is low
    assert best_within([low], 10.0) is None
    # the last two training samples (10, 100) alone: at a price of 1 that makes it 100
    (windowed,) = trades([training[0][-2:]], scored, 2, prices=np.array([1.0]))
    assert (windowed.window_days, windowed.over_pct, windowed.slack_pct) == (2, 0.0, pytest.approx(57.5))


def test_best_choice_is_the_best_combination_within_the_budget() -> None:
    options = [[(0.0, 50.0), (10.0, 25.0), (30.0, 5.0)],  # (over-request, slack) per option of each trace
               [(0.0, 40.0), (20.0, 10.0)],
               [(5.0, 30.0), (5.0, 25.0)]]  # an equal over-request with less slack: always the second
    # a mean over-request of at most 10 (summed 30): (0, 1, 1) is 25 over with 50 + 10 + 25 = 85 slack,
    # (1, 0, 1) 15 over with 90, (0, 0, 1) 5 over with 115; the rest are 35 over or more
    over, slack, picked = best_choice(options, 10.0)
    assert (picked, over * 3, slack * 3) == ((0, 1, 1), pytest.approx(25.0), pytest.approx(85.0))
    # summed 35: (1, 1, 1) with 25 + 10 + 25 = 60 beats (2, 0, 1) with 70
    over, slack, picked = best_choice(options, 35.0 / 3)
    assert (picked, over * 3, slack * 3) == ((1, 1, 1), pytest.approx(35.0), pytest.approx(60.0))
    assert best_choice(options, 100.0)[2] == (2, 1, 1)  # no budget to speak of: the least slack everywhere
    assert best_choice(options, 1.0) is None  # the third trace is 5 over at best


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not found")
def test_on_the_bitbrains_traces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(sorted(str(p) for p in TRACES.glob("bitbrains_rnd_2013-7_vm*.csv.gz"))) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bitbrains (9 traces): static sizing learned from the training window, its price and window chosen with hindsight"
    assert "CPU: budget 12.9 % of samples over the request (vpa-like, the better baseline)" in out
    assert "  last 2d           5.13   12.9%   34.4%" in out
    assert "  best from the training window: 34.4 %" in out
    assert "  chosen on the training part's last 5 days instead: last 3d at price 2.16: 25.4 % slack at 19.2 % over" in out
    assert ("  gitbot, one percentile per trace chosen with hindsight: 35.7 % slack at 12.8 % over "
            "(p90, p90, p90, p99, p95, p90, p95, p90, p90)") in out
    assert "  the check asks for at most 28.1 % (1.10 × oracle's 25.6 %)" in out
    assert "memory: budget 4.2 % of samples over the request (krr-simple, the better baseline)" in out
    assert "  all of it       103.72    5.0%   66.8%  over the budget at every price" in out
    assert "  best from the training window: none within the budget" in out
    assert "  chosen on the training part's last 5 days instead: last 7d at price 51.96: 57.0 % slack at 5.3 % over" in out
    assert "  gitbot: 55.2 % slack at 2.7 % over (clairvoyant bound at that over-request: 44.2 %)" in out
    assert ("  gitbot, one percentile per trace chosen with hindsight: 49.4 % slack at 4.1 % over "
            "(p93, p90, p97, p95, p99, p99, p93, p99.5, p90)") in out
    assert "  the check asks for at most 51.1 % (0.80 × vpa-like's 63.9 %)" in out
