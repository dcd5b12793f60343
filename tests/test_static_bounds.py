"""benchmarks.static_bounds: the static sizing a training window supports, next to the backtest's oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.static_bounds import Scored, Trade, best_within, main, trades

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"


def test_scored_is_the_backtests_over_request_and_slack() -> None:
    over, slack = Scored.of(np.array([4.0, 1.0, 3.0, 2.0])).over_and_slack(2.0)
    assert over == 50.0  # 3 and 4 are above 2
    assert slack == 12.5  # 1 of the 2 x 4 requested is unused (at the sample of 1)


def test_requests_are_chosen_on_training_and_scored_on_the_rest() -> None:
    # training: a request of 10 leaves 25 % over and no slack; 100 leaves none over and 67.5 % slack,
    # so prices below 2.7 choose 10 and prices above it choose 100
    training, scored = [np.array([10.0, 10.0, 10.0, 100.0])], [np.array([10.0, 10.0, 50.0, 100.0])]
    low, high = trades(training, scored, None, None, prices=np.array([1.0, 5.0]))
    assert low == Trade(None, 1.0, 50.0, 0.0)  # 50 and 100 are above 10
    assert (high.price, high.over_pct, high.slack_pct) == (5.0, 0.0, pytest.approx(57.5))  # 230 of 400 unused
    assert best_within([low, high], 10.0) is high
    assert best_within([low, high], 50.0) is low
    assert best_within([low], 10.0) is None
    # a window: only the last two training samples (10, 100) are seen, and at a price of 1 that makes it 100
    (windowed,) = trades(training, scored, 2, 2, prices=np.array([1.0]))
    assert (windowed.window_days, windowed.over_pct, windowed.slack_pct) == (2, 0.0, pytest.approx(57.5))


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not found")
def test_on_the_bitbrains_traces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(sorted(str(p) for p in TRACES.glob("bitbrains_rnd_2013-7_vm*.csv.gz"))) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bitbrains (9 traces): static sizing learned from the training window, its price and window chosen with hindsight"
    assert "CPU: budget 12.9 % of samples over the request (vpa-like, the better baseline)" in out
    assert "  last 2d           5.13   12.9%   34.4%" in out
    assert "  best from the training window: 34.4 %" in out
    assert "  the check asks for at most 28.1 % (1.10 × oracle's 25.6 %)" in out
    assert "memory: budget 4.2 % of samples over the request (krr-simple, the better baseline)" in out
    assert "  all of it       103.72    5.0%   66.8%  over the budget at every price" in out
    assert "  best from the training window: none within the budget" in out
    assert "  gitbot: 55.2 % slack at 2.7 % over (clairvoyant bound at that over-request: 44.2 %)" in out
    assert "  the check asks for at most 51.1 % (0.80 × vpa-like's 63.9 %)" in out
