"""Percentiles computed without ``np.percentile`` on each array still give its float, to the bit."""

import numpy as np

from gitbot import linear_percentile
from gitbot.linear_percentile import percentiles_many


def test_percentiles_many_is_numpys_percentile_of_each_array_to_the_bit(monkeypatch):
    """Arrays of one length and q go through one partition; each result must still be the float
    ``np.percentile`` gives that array alone, in float64 and float32, with ties, for the edge
    percentiles, and with more arrays of one length than a chunk holds."""
    monkeypatch.setattr(linear_percentile, "CHUNK_ROWS", 3)
    rng = np.random.default_rng(5)
    arrays = []
    for i in range(40):
        size = int(rng.choice([0, 1, 2, 7, 288, 4032]))
        a = rng.gamma(2.0, 50.0, size)
        if i % 3 == 0:
            a = np.round(a)  # ties
        arrays.append(a.astype(np.float32) if i % 4 == 0 else a)
    qs = [float(rng.choice([0.0, 50.0, 95.0, 97.0, 99.0, 99.9, 100.0])) for _ in arrays]
    built = []

    def sampler(a):
        def build():
            built.append(a.size)
            return a.copy()
        return build

    got = percentiles_many([sampler(a) for a in arrays], [a.size for a in arrays], qs)
    assert got == [float(np.percentile(a, q)) if a.size else None for a, q in zip(arrays, qs)]
    assert sorted(built) == sorted(a.size for a in arrays if a.size)  # each array built once, empty ones never
