"""sim/sampling.py: O(events) Bernoulli sampling and thinning.

Statistical checks use fixed seeds and a tolerance of 5 standard errors (z-tests) or a p-value floor of 1e-6
(chi-square), so a correct implementation essentially never fails them, while a biased one (off-by-one at
the ends, a wrong geometric parameterisation, a dropped chunk) fails by a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.sampling import bernoulli_indices, bernoulli_positions, thinned_indices, uniform_integer

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
Z = 5.0  # tolerance in standard errors
P_FLOOR = 1e-6  # chi-square p-values below this fail


def _valid(idx: np.ndarray, n: int) -> None:
    assert idx.dtype == np.int64
    assert idx.ndim == 1
    if idx.size:
        assert idx[0] >= 0 and idx[-1] < n
        assert np.all(np.diff(idx) > 0), "indices must be strictly increasing (sorted and distinct)"


# ---- structure and edge cases ---------------------------------------------------------------------------
@HYP
@given(n=st.integers(-5, 3000), p=st.floats(1e-9, 1.0), seed=st.integers(0, 2**32 - 1))
def test_indices_sorted_distinct_in_range(n, p, seed):
    idx = bernoulli_indices(np.random.default_rng(seed), n, p)
    _valid(idx, max(n, 0))
    assert idx.size <= max(n, 0)


@HYP
@given(n=st.integers(-3, 500), seed=st.integers(0, 2**32 - 1))
def test_p_zero_or_negative_gives_nothing(n, seed):
    rng = np.random.default_rng(seed)
    for p in (0.0, -0.5):
        idx = bernoulli_indices(rng, n, p)
        assert idx.size == 0 and idx.dtype == np.int64


@HYP
@given(n=st.integers(0, 500), p=st.floats(1.0, 5.0), seed=st.integers(0, 2**32 - 1))
def test_p_one_or_more_gives_everyone(n, p, seed):
    idx = bernoulli_indices(np.random.default_rng(seed), n, p)
    np.testing.assert_array_equal(idx, np.arange(n))
    assert idx.dtype == np.int64


@HYP
@given(n=st.integers(-10, 0), p=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_empty_population_gives_nothing(n, p, seed):
    assert bernoulli_indices(np.random.default_rng(seed), n, p).size == 0


@HYP
@given(n=st.integers(1, 3), p=st.floats(1e-6, 0.999999), seed=st.integers(0, 2**32 - 1))
def test_tiny_populations(n, p, seed):
    idx = bernoulli_indices(np.random.default_rng(seed), n, p)
    _valid(idx, n)


class _ScriptedRng:
    """Stands in for a Generator inside the plain-Python version of the sampler: the exponential draws are
    scripted so that the geometric gaps come from a known stream, and every gap handed out is recorded, so the
    exact expected output can be recomputed independently of how the output buffer grows."""

    def __init__(self, gaps_rng: np.random.Generator, low: int, high: int, p: float):
        self.gaps_rng, self.low, self.high = gaps_rng, low, high
        self.rate = -np.log1p(-p)
        self.handed_out: list[int] = []

    def standard_exponential(self):
        gap = int(self.gaps_rng.integers(self.low, self.high + 1))
        self.handed_out.append(gap)
        return (gap - 0.5) * self.rate  # 1 + floor(draw / rate) == gap


@pytest.mark.parametrize("n,p,low,high", [(1000, 0.01, 1, 1), (5000, 0.002, 1, 3), (777, 0.05, 1, 2)])
def test_buffer_growth_is_stitched_exactly(n, p, low, high, monkeypatch):
    """Gaps much shorter than 1/p force the output buffer (sized for the mean plus 10%) to grow: the result
    must be exactly the running sum of all gaps (minus one) below n — no gap lost or double-counted where the
    buffer grew."""
    import sim.sampling

    for name in ("next_slot", "geometric_scale"):  # plain Python all the way, for the scripted generator
        monkeypatch.setattr(sim.sampling, name, getattr(sim.sampling, name).py_func)
    rng = _ScriptedRng(np.random.default_rng(7), low, high, p)
    idx = bernoulli_positions.py_func(rng, n, p)
    assert idx.size > n * p * 1.1 + 16, "the test should exercise the buffer's growth"
    positions = np.cumsum(rng.handed_out) - 1
    np.testing.assert_array_equal(idx, positions[positions < n])
    if low == high == 1:
        np.testing.assert_array_equal(idx, np.arange(n))


# ---- distribution -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,p", [(1000, 0.03), (200, 0.5), (50_000, 0.0004)])
def test_count_is_binomial(n, p):
    rng = np.random.default_rng(12345)
    reps = 3000
    counts = np.array([bernoulli_indices(rng, n, p).size for _ in range(reps)])
    mean, var = n * p, n * p * (1 - p)
    # mean within 5 standard errors
    assert abs(counts.mean() - mean) < Z * np.sqrt(var / reps)
    # variance: the sample variance has standard error ~ var * sqrt(2 / (reps - 1)) (plus a kurtosis term,
    # small here); 5 SE leaves room for it
    assert abs(counts.var(ddof=1) - var) < Z * var * np.sqrt(2.0 / (reps - 1)) * 1.2
    # whole shape: chi-square against Binomial(n, p), bins with expected count >= 5 (tails pooled)
    k = np.arange(n + 1)
    expected = stats.binom.pmf(k, n, p) * reps
    inner = expected >= 5
    lo, hi = k[inner][0], k[inner][-1]
    obs = np.bincount(np.clip(counts, lo, hi) - lo, minlength=hi - lo + 1)
    exp = expected[lo : hi + 1].copy()
    exp[0] += expected[:lo].sum()
    exp[-1] += expected[hi + 1 :].sum()
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > P_FLOOR


def test_inclusion_frequency_is_uniform_over_indices():
    """Every index (the first and the last included) is in the sample with probability p."""
    rng = np.random.default_rng(2024)
    n, p, reps = 60, 0.2, 20_000
    hits = np.zeros(n)
    for _ in range(reps):
        hits[bernoulli_indices(rng, n, p)] += 1
    se = np.sqrt(reps * p * (1 - p))
    z = (hits - reps * p) / se
    assert np.abs(z).max() < Z, f"worst index z = {np.abs(z).max():.2f} (index {np.abs(z).argmax()})"
    # and jointly: sum of z^2 ~ chi2(n) (indices are independent)
    assert stats.chi2.sf((z**2).sum(), df=n) > P_FLOOR


def test_inclusions_are_independent_across_indices():
    """Neighbouring indices are included independently (a gap sampler with the wrong law would correlate them)."""
    rng = np.random.default_rng(99)
    n, p, reps = 40, 0.3, 20_000
    both = np.zeros(n - 1)
    for _ in range(reps):
        x = np.zeros(n, dtype=bool)
        x[bernoulli_indices(rng, n, p)] = True
        both += x[:-1] & x[1:]
    q = p * p
    # adjacent pairs overlap: Var(sum_i x_i x_{i+1}) = (n-1) q (1-q) + 2 (n-2) (p^3 - p^4) per replication
    var = reps * ((n - 1) * q * (1 - q) + 2 * (n - 2) * (p**3 - p**4))
    z = (both.sum() - reps * (n - 1) * q) / np.sqrt(var)
    assert abs(z) < Z


# ---- thinning ------------------------------------------------------------------------------------------------
def test_thinned_keeps_index_with_its_rate():
    """rate(i) = p_max * (i mod 4) / 3: classes kept with probability 0, p/3, 2p/3, p."""
    rng = np.random.default_rng(31337)
    n, p_max, reps = 400, 0.6, 2000
    rate_of = lambda c: p_max * (c % 4) / 3.0  # noqa: E731
    kept = np.zeros(n)
    for _ in range(reps):
        idx = thinned_indices(rng, n, p_max, rate_of)
        _valid(idx, n)
        kept[idx] += 1
    assert kept[np.arange(n) % 4 == 0].sum() == 0, "rate 0 must never be kept"
    for cls in (1, 2, 3):
        trials = reps * np.count_nonzero(np.arange(n) % 4 == cls)
        q = p_max * cls / 3.0
        observed = kept[np.arange(n) % 4 == cls].sum()
        assert abs(observed - trials * q) < Z * np.sqrt(trials * q * (1 - q)), f"class {cls}"


def test_thinned_with_rate_equal_to_p_max_is_plain_bernoulli():
    rng = np.random.default_rng(5)
    n, p, reps = 500, 0.1, 2000
    counts = np.array([thinned_indices(rng, n, p, lambda c: np.full(c.size, p)).size for _ in range(reps)])
    assert abs(counts.mean() - n * p) < Z * np.sqrt(n * p * (1 - p) / reps)


def test_thinned_calls_rate_only_with_candidates():
    seen = []

    def rate_of(c):
        seen.append(c.copy())
        return np.full(c.size, 0.05)

    rng = np.random.default_rng(1)
    out = thinned_indices(rng, 1000, 0.1, rate_of)
    assert len(seen) == 1
    _valid(seen[0], 1000)
    assert np.isin(out, seen[0]).all()


def test_thinned_empty():
    called = []
    out = thinned_indices(np.random.default_rng(0), 0, 0.5, lambda c: called.append(1) or c)
    assert out.size == 0 and not called


@HYP
@given(n=st.integers(0, 2000), p_max=st.floats(1e-6, 1.0), seed=st.integers(0, 2**32 - 1))
def test_thinned_is_subset_of_range(n, p_max, seed):
    out = thinned_indices(np.random.default_rng(seed), n, p_max, lambda c: p_max * (c % 2))
    _valid(out, n)
    assert np.all(out % 2 == 1)


# ---- tiny probabilities (regression) ---------------------------------------------------------------------------
# At commit 4393a5d, bernoulli_indices summed geometric gaps of ~1/p with np.cumsum; for p below ~1e-18 the
# sum wrapped around int64 and returned negative, unsorted indices (and for p ~ 1e-300 it never returned).
def test_tiny_probability_gives_valid_indices():
    for seed in range(5):
        _valid(bernoulli_indices(np.random.default_rng(seed), 10, 1e-19), 10)


@pytest.mark.parametrize("p", [2e-9, 5e-10, 1e-11])
def test_tiny_probability_on_a_huge_range_is_binomial_and_uniform(p):
    """Either side of any small-p special case: the count is Binomial(n, p) and the indices uniform on [0, n)."""
    rng = np.random.default_rng(77)
    n, reps = 2**40, 300
    draws = [bernoulli_indices(rng, n, p) for _ in range(reps)]
    for idx in draws:
        _valid(idx, n)
    counts = np.array([d.size for d in draws])
    mean = n * p
    assert abs(counts.mean() - mean) < Z * np.sqrt(mean * (1 - p) / reps)
    pooled = np.concatenate(draws) / n
    assert stats.kstest(pooled, "uniform").pvalue > P_FLOOR


# ---- uniform integers (lease terms, resolution delays, early replacement) ------------------------------------------
@HYP
@given(low=st.integers(-50, 50), width=st.integers(0, 40), seed=st.integers(0, 2**32 - 1))
def test_uniform_integer_stays_in_its_range(low, width, seed):
    rng = np.random.default_rng(seed)
    draws = [uniform_integer(rng, low, low + width) for _ in range(50)]
    assert min(draws) >= low and max(draws) <= low + width


@pytest.mark.parametrize("low,high", [(1, 3), (4, 6), (1, 6), (24, 36)])
def test_uniform_integer_is_uniform(low, high):
    rng = np.random.default_rng(17)
    draws = np.array([uniform_integer(rng, low, high) for _ in range(60_000)])
    counts = np.bincount(draws - low, minlength=high - low + 1)
    assert counts.size == high - low + 1, "no value outside the range"
    assert stats.chisquare(counts).pvalue > P_FLOOR, counts
