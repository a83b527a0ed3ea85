"""sim/word_of_mouth.py: stories reach exactly the tellers' contacts, stored inflated and read back faded."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.network import Network
from sim.word_of_mouth import REBASE_EXPONENT, heard, inflation, seen_in_new_car, story_value, tell

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
N_BRANDS = 3

# A square 0-1-3-2-0 (so 1 and 2 share the contacts 0 and 3), a pair 4-5, and 6 with no contacts.
#   0: 1 2    1: 0 3    2: 0 3    3: 1 2    4: 5    5: 4    6: -
INDPTR = np.array([0, 2, 4, 6, 8, 9, 10, 10], dtype=np.int32)
INDICES = np.array([1, 2, 0, 3, 0, 3, 1, 2, 5, 4], dtype=np.int32)
NET = Network(indptr=INDPTR, indices=INDICES)
CONTACTS = {0: [1, 2], 1: [0, 3], 2: [0, 3], 3: [1, 2], 4: [5], 5: [4], 6: []}


def fresh():
    return np.zeros((NET.n, N_BRANDS), np.float32), np.zeros(NET.n, np.uint16)


def _tell(tellers, brands, x, wom, aware, month=0, epoch=0, strength=0.1, negativity=2.0, decay=24.0):
    return tell(NET, np.asarray(tellers, np.int64), np.asarray(brands, np.int64), np.asarray(x, np.float32), wom,
                aware, month, epoch, strength, negativity, decay)


def test_the_hand_made_network_is_what_the_test_assumes():
    for i, c in CONTACTS.items():
        assert sorted(NET.contacts(i).tolist()) == c


# ---- story values ----------------------------------------------------------------------------------------------
@HYP
@given(a=st.floats(0.0, 3.0, width=32), strength=st.floats(0.0, 1.0), negativity=st.floats(1.0, 5.0))
def test_negative_stories_weigh_negativity_times_more(a, strength, negativity):
    x = np.array([a, -a], np.float32)
    good, bad = story_value(x, strength, negativity).astype(np.float64)
    assert good == pytest.approx(strength * a, rel=1e-5, abs=1e-7)
    assert bad == pytest.approx(-negativity * strength * a, rel=1e-5, abs=1e-7)


# ---- telling --------------------------------------------------------------------------------------------------------
def test_tell_reaches_exactly_the_contacts_for_the_right_brand():
    wom, aware = fresh()
    reached = _tell([0], [2], [0.5], wom, aware, strength=0.1)
    assert reached == 2
    expected = np.zeros_like(wom)
    expected[[1, 2], 2] = 0.05
    np.testing.assert_allclose(wom, expected, rtol=1e-6)
    assert aware.tolist() == [0, 4, 4, 0, 0, 0, 0]


def test_tell_negative_story():
    wom, aware = fresh()
    _tell([4], [1], [-0.5], wom, aware, strength=0.1, negativity=3.0)
    expected = np.zeros_like(wom)
    expected[5, 1] = -0.15
    np.testing.assert_allclose(wom, expected, rtol=1e-6)
    assert aware.tolist() == [0, 0, 0, 0, 0, 2, 0]


def test_shared_contacts_hear_both_stories():
    """Tellers 1 and 2 share contacts 0 and 3: each hears both stories (np.add.at, not fancy-index +=)."""
    wom, aware = fresh()
    reached = _tell([1, 2], [0, 0], [0.5, -0.5], wom, aware, strength=0.1, negativity=2.0)
    assert reached == 4
    np.testing.assert_allclose(wom[[0, 3], 0], [0.05 - 0.1, 0.05 - 0.1], rtol=1e-6)
    assert np.count_nonzero(wom) == 2
    # same brand twice from the same pair: accumulates
    wom, aware = fresh()
    _tell([1, 2], [0, 0], [0.5, 0.5], wom, aware, strength=0.1)
    np.testing.assert_allclose(wom[[0, 3], 0], [0.1, 0.1], rtol=1e-6)


def test_one_teller_telling_twice_in_one_call_counts_twice():
    wom, aware = fresh()
    _tell([4, 4], [1, 1], [0.5, 0.5], wom, aware, strength=0.1)
    assert wom[5, 1] == pytest.approx(0.1, rel=1e-6)


def test_stories_about_different_brands_go_to_their_columns_and_bits():
    wom, aware = fresh()
    aware[0] = 0b1000  # an existing bit is kept
    _tell([1, 2], [0, 2], [0.5, 0.5], wom, aware, strength=0.1)
    np.testing.assert_allclose(wom[0], [0.05, 0.0, 0.05], rtol=1e-6)
    np.testing.assert_allclose(wom[3], [0.05, 0.0, 0.05], rtol=1e-6)
    assert aware[0] == 0b1101 and aware[3] == 0b0101
    assert aware[[1, 2, 4, 5, 6]].tolist() == [0] * 5
    assert np.count_nonzero(wom[[1, 2, 4, 5, 6]]) == 0


def test_teller_without_contacts_changes_nothing():
    wom, aware = fresh()
    assert _tell([6], [0], [0.9], wom, aware) == 0
    assert not wom.any() and not aware.any()
    assert _tell([], [], [], wom, aware) == 0


@HYP
@given(tellers=st.lists(st.integers(0, 6), max_size=12), seed=st.integers(0, 2**32 - 1))
def test_tell_matches_a_plain_python_loop(tellers, seed):
    rng = np.random.default_rng(seed)
    k = len(tellers)
    brands = rng.integers(0, N_BRANDS, k)
    x = rng.uniform(-1, 1, k).astype(np.float32)
    wom, aware = fresh()
    reached = _tell(tellers, brands, x, wom, aware, strength=0.2, negativity=1.5)
    ref_wom, ref_aware, ref_reached = np.zeros((NET.n, N_BRANDS)), [0] * NET.n, 0
    for t, b, v in zip(tellers, brands, x):
        for c in CONTACTS[t]:
            ref_wom[c, b] += 0.2 * v * (1.5 if v < 0 else 1.0)
            ref_aware[c] |= 1 << int(b)
            ref_reached += 1
    assert reached == ref_reached
    np.testing.assert_allclose(wom, ref_wom, atol=1e-6)
    assert aware.tolist() == ref_aware


# ---- fading ---------------------------------------------------------------------------------------------------------------
@HYP
@given(t=st.integers(0, 600), d=st.integers(0, 600), epoch=st.integers(0, 600), tau=st.floats(6.0, 60.0),
       x=st.floats(-1, 1, width=32).filter(lambda v: abs(v) > 1e-3))
def test_story_told_at_t_read_at_t_plus_d_has_faded_by_exp(t, d, epoch, tau, x):
    epoch = min(epoch, t)
    if (t + d - epoch) / tau > REBASE_EXPONENT:  # the model re-bases the epoch before this
        return
    wom, aware = fresh()
    _tell([0], [1], [x], wom, aware, month=t, epoch=epoch, strength=0.1, negativity=2.0, decay=tau)
    value = float(story_value(np.array([x], np.float32), 0.1, 2.0)[0])
    now = heard(wom, t + d, epoch, tau)
    assert now[1, 1] == pytest.approx(value * math.exp(-d / tau), rel=1e-5)
    assert now[2, 1] == pytest.approx(value * math.exp(-d / tau), rel=1e-5)
    assert now[0].tolist() == [0.0, 0.0, 0.0]


def test_stories_told_at_different_months_fade_separately():
    tau, epoch = 24.0, 5
    wom, aware = fresh()
    _tell([4], [0], [0.5], wom, aware, month=10, epoch=epoch, strength=0.1, decay=tau)
    _tell([4], [0], [-0.5], wom, aware, month=40, epoch=epoch, strength=0.1, negativity=2.0, decay=tau)
    got = heard(wom, 70, epoch, tau)[5, 0]
    want = 0.05 * math.exp(-60 / tau) - 0.1 * math.exp(-30 / tau)
    assert got == pytest.approx(want, rel=1e-5)


def test_heard_at_the_epoch_is_the_stored_value_and_fades_over_time():
    stored = np.array([[0.2, -0.4, 0.0]], np.float32)
    np.testing.assert_allclose(heard(stored, 12, 12, 24.0), stored)
    later = heard(stored, 36, 12, 24.0)
    np.testing.assert_allclose(later, stored * math.exp(-1.0), rtol=1e-6)
    assert np.all(np.abs(later) <= np.abs(stored))


def test_rebasing_the_epoch_preserves_what_was_heard():
    """What the model does when inflation grows large: divide the stored values by inflation(m) and move the
    epoch to m. What buyers have heard must not change."""
    tau = 12.0
    wom, aware = fresh()
    _tell([0], [2], [0.7], wom, aware, month=700, epoch=0, strength=0.1, decay=tau)
    before = heard(wom, 720, 0, tau).copy()
    rebased = wom * np.float32(1.0 / inflation(710, 0, tau))
    np.testing.assert_allclose(heard(rebased, 720, 710, tau), before, rtol=1e-5)


def test_inflation():
    assert inflation(10, 10, 24.0) == 1.0
    assert inflation(34, 10, 24.0) == pytest.approx(math.e)
    assert inflation(0, 24, 24.0) == pytest.approx(1 / math.e)


# ---- seen in a new car ---------------------------------------------------------------------------------------------
def test_seen_in_new_car_sets_awareness_of_contacts():
    aware = np.zeros(NET.n, np.uint16)
    seen_in_new_car(np.random.default_rng(0), NET, np.array([0, 4]), np.array([1, 2]), aware, 1.0)
    assert aware.tolist() == [0, 2, 2, 0, 0, 4, 0]
    aware = np.zeros(NET.n, np.uint16)
    seen_in_new_car(np.random.default_rng(0), NET, np.array([0, 4]), np.array([1, 2]), aware, 0.0)
    assert not aware.any()


def test_seen_in_new_car_probability():
    n_pairs = 20_000
    indptr = np.arange(0, 2 * n_pairs + 1, dtype=np.int32)
    indices = (np.arange(2 * n_pairs) ^ 1).astype(np.int32)  # pairs (0,1), (2,3), ...
    net = Network(indptr, indices)
    aware = np.zeros(2 * n_pairs, np.uint16)
    buyers = np.arange(0, 2 * n_pairs, 2)
    seen_in_new_car(np.random.default_rng(1), net, buyers, np.full(n_pairs, 3), aware, 0.3)
    hits = np.count_nonzero(aware[1::2] == 8)
    assert np.count_nonzero(aware[0::2]) == 0
    assert abs(hits - 0.3 * n_pairs) < 5 * np.sqrt(n_pairs * 0.3 * 0.7)
