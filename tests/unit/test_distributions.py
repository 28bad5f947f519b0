"""Length sampling stays within bounds, hits the mean, is seeded; the CLI shorthand parses."""

from __future__ import annotations

import numpy as np
import pytest

from benchmatrix.distributions import (
    Empirical,
    Fixed,
    LogNormal,
    Normal,
    Uniform,
    mean_of,
    parse_distribution,
    sample_lengths,
    upper_bound,
)

CASES = [
    Fixed(value=64),
    Uniform(min=10, max=30),
    Normal(mean=200, std=40, min=100, max=300),
    LogNormal(mean=300, std=150, min=1, max=5000),
    Empirical(values=(5, 10, 20)),
]


@pytest.mark.parametrize("dist", CASES, ids=lambda d: d.kind)
def test_samples_within_bounds_and_near_mean(dist):
    x = sample_lengths(dist, 20_000, seed=1)
    assert x.dtype == np.int64 and x.min() >= 1
    assert x.max() <= upper_bound(dist)
    assert x.mean() == pytest.approx(mean_of(dist), rel=0.03)
    assert np.array_equal(x, sample_lengths(dist, 20_000, seed=1))


def test_empirical_from_file(tmp_path):
    path = tmp_path / "lens.txt"
    path.write_text("3\n4\n")
    dist = Empirical(path=path)
    assert set(sample_lengths(dist, 100, 0).tolist()) <= {3, 4}


@pytest.mark.parametrize("text,expected", [
    ("512", Fixed(value=512)),
    ("fixed:7", Fixed(value=7)),
    ("uniform:128:512", Uniform(min=128, max=512)),
    ("normal:100:10", Normal(mean=100, std=10)),
    ("lognormal:100:50:1:400", LogNormal(mean=100, std=50, min=1, max=400)),
    ("empirical:1,2,3", Empirical(values=(1, 2, 3))),
])
def test_parse_distribution(text, expected):
    assert parse_distribution(text) == expected


@pytest.mark.parametrize("text", ["zipf:1", "uniform:5", "uniform:9:1", "normal:1", "abc"])
def test_parse_distribution_rejects_with_forms(text):
    with pytest.raises(ValueError, match="uniform:MIN:MAX"):
        parse_distribution(text)
