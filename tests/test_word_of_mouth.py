"""sim/word_of_mouth.py: tellers keep a fading stock of stories; shoppers hear exactly their contacts' stocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.network import Network
from sim.word_of_mouth import REBASE_EXPONENT, hear, inflation, story_value, tell_stories

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
N_BRANDS = 3

# A square 0-1-3-2-0 (so 1 and 2 share the contacts 0 and 3), a pair 4-5, and 6 with no contacts.
#   0: 1 2    1: 0 3    2: 0 3    3: 1 2    4: 5    5: 4    6: -
INDPTR = np.array([0, 2, 4, 6, 8, 9, 10, 10], dtype=np.int32)
INDICES = np.array([1, 2, 0, 3, 0, 3, 1, 2, 5, 4], dtype=np.int32)
NET = Network.from_slots(INDPTR, INDICES)
CONTACTS = {0: [1, 2], 1: [0, 3], 2: [0, 3], 3: [1, 2], 4: [5], 5: [4], 6: []}


def fresh():
    """Nobody has told anything, and nobody owns a car."""
    return np.zeros(NET.n, np.float32), np.full(NET.n, -1, np.int8), np.full(NET.n, -1, np.int8)


def _tell_stories(told, told_brand, tellers, brands, x, month=0, epoch=0, strength=0.1, negativity=2.0, decay=24.0):
    tell_stories(told, told_brand, np.asarray(tellers, np.int64), np.asarray(brands, np.int64),
                 np.asarray(x, np.float32), month, epoch, strength, negativity, decay)


def _hear(listeners, told, told_brand, owned, month=0, epoch=0, decay=24.0, see=0.0, seed=0):
    return hear(np.random.default_rng(seed), NET, np.asarray(listeners, np.int64), told, told_brand, owned, N_BRANDS,
                month, epoch, decay, see)


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


# ---- recording stories -----------------------------------------------------------------------------------------
def test_record_touches_only_the_tellers():
    told, told_brand, _ = fresh()
    _tell_stories(told, told_brand, [0, 4], [2, 1], [0.5, -0.5], strength=0.1, negativity=2.0)
    np.testing.assert_allclose(told, [0.05, 0, 0, 0, -0.1, 0, 0], rtol=1e-6)
    assert told_brand.tolist() == [2, -1, -1, -1, 1, -1, -1]


def test_stories_about_the_same_brand_accumulate():
    told, told_brand, _ = fresh()
    _tell_stories(told, told_brand, [0], [2], [0.5])
    _tell_stories(told, told_brand, [0], [2], [0.5])
    assert told[0] == pytest.approx(0.1)


def test_a_story_about_another_brand_starts_a_new_stock():
    told, told_brand, _ = fresh()
    _tell_stories(told, told_brand, [0], [2], [0.5])
    _tell_stories(told, told_brand, [0], [1], [-0.5], negativity=1.0)
    assert told_brand[0] == 1 and told[0] == pytest.approx(-0.05)


# ---- hearing -------------------------------------------------------------------------------------------------------
def test_a_shopper_hears_exactly_their_contacts_stocks():
    told, told_brand, owned = fresh()
    _tell_stories(told, told_brand, [0, 3, 4], [2, 2, 1], [0.5, 0.3, 0.9])
    heard, bits = _hear([1, 2, 5, 6], told, told_brand, owned)
    expected = np.zeros((4, N_BRANDS), np.float32)
    expected[0, 2] = expected[1, 2] = 0.05 + 0.03  # 1 and 2 both have contacts 0 and 3
    expected[2, 1] = 0.09  # 5 hears 4
    np.testing.assert_allclose(heard, expected, rtol=1e-5)
    assert bits.tolist() == [4, 4, 2, 0]  # stories make their brand known


def test_hearing_does_not_change_the_stocks():
    told, told_brand, owned = fresh()
    _tell_stories(told, told_brand, [0], [2], [0.5])
    before = told.copy(), told_brand.copy()
    _hear([1, 2, 3], told, told_brand, owned)
    np.testing.assert_array_equal(told, before[0])
    np.testing.assert_array_equal(told_brand, before[1])


@HYP
@given(seed=st.integers(0, 2**31), n_tell=st.integers(0, 7))
def test_pull_equals_pushing_each_story_to_every_contact(seed, n_tell):
    """Hearing the contacts' stocks gives what a listener would have accumulated story by story."""
    rng = np.random.default_rng(seed)
    told, told_brand, owned = fresh()
    pushed = np.zeros((NET.n, N_BRANDS))
    brand_of = rng.integers(0, N_BRANDS, NET.n)  # each owner talks about one brand (their car)
    for month in range(3):
        tellers = np.sort(rng.choice(NET.n, n_tell, replace=False))
        x = rng.normal(0, 0.5, n_tell).astype(np.float32)
        _tell_stories(told, told_brand, tellers, brand_of[tellers], x, month=month, decay=10.0)
        for t, v in zip(tellers, story_value(x, 0.1, 2.0)):
            for c in CONTACTS[int(t)]:
                pushed[c, brand_of[t]] += v * math.exp(-(2 - month) / 10.0)
    heard, _ = _hear(np.arange(NET.n), told, told_brand, owned, month=2, decay=10.0)
    np.testing.assert_allclose(heard, pushed, rtol=1e-4, atol=1e-6)


# ---- fading --------------------------------------------------------------------------------------------------------
@HYP
@given(t=st.integers(0, 200), d=st.integers(0, 200), epoch=st.integers(0, 50), tau=st.floats(1.0, 60.0),
       x=st.floats(-1.0, 1.0, width=32))
def test_story_told_at_t_heard_at_t_plus_d_has_faded_by_exp(t, d, epoch, tau, x):
    if (t + d - epoch) / tau > REBASE_EXPONENT or t < epoch:
        return  # the model re-bases long before this
    told, told_brand, owned = fresh()
    _tell_stories(told, told_brand, [0], [1], [x], month=t, epoch=epoch, strength=1.0, negativity=1.0, decay=tau)
    heard, _ = _hear([1], told, told_brand, owned, month=t + d, epoch=epoch, decay=tau)
    assert heard[0, 1] == pytest.approx(x * math.exp(-d / tau), rel=1e-4, abs=1e-6)


def test_rebasing_the_epoch_preserves_what_is_heard():
    told, told_brand, owned = fresh()
    _tell_stories(told, told_brand, [0], [1], [0.8], month=30, epoch=0, decay=12.0)
    before, _ = _hear([1], told, told_brand, owned, month=40, epoch=0, decay=12.0)
    told *= np.float32(1.0 / inflation(35, 0, 12.0))  # what the model does at a re-base to month 35
    after, _ = _hear([1], told, told_brand, owned, month=40, epoch=35, decay=12.0)
    np.testing.assert_allclose(after, before, rtol=1e-5)


def test_inflation():
    assert inflation(10, 10, 5.0) == 1.0
    assert inflation(20, 10, 5.0) == pytest.approx(math.e**2)


# ---- friends' cars are seen ------------------------------------------------------------------------------------------
def test_contacts_cars_are_seen_with_certainty_at_probability_one():
    told, told_brand, owned = fresh()
    owned[[0, 3]] = [2, 0]
    _, bits = _hear([1, 5], told, told_brand, owned, see=1.0)
    assert bits.tolist() == [0b101, 0]


def test_contacts_cars_are_seen_with_the_given_probability():
    """Each of a shopper's two contacts is seen independently: P(knows brand 2 via contact 0) = p."""
    told, told_brand, owned = fresh()
    owned[0] = 2
    p, n = 0.3, 4000
    seen = [_hear([1], told, told_brand, owned, see=p, seed=s)[1][0] == 4 for s in range(n)]
    assert abs(np.mean(seen) - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_a_brand_with_no_word_of_mouth_is_neither_heard_of_nor_seen():
    """A brand's ``word_of_mouth`` multiplier scales stories about it; 0 silences its stories and cars."""
    from sim.network import build_network
    from sim.word_of_mouth import hear

    n, nb = 400, 3
    net = build_network(n, 400, 8, 0.1, np.random.default_rng(0))
    told = np.full(n, 2.0, dtype=np.float32)
    told_brand = (np.arange(n) % nb).astype(np.int8)
    owned = told_brand.copy()
    listeners = np.arange(0, n, 7)
    full, bits_full = hear(np.random.default_rng(1), net, listeners, told, told_brand, owned, nb, 0, 0, 24.0, 1.0)
    half, _ = hear(np.random.default_rng(1), net, listeners, told, told_brand, owned, nb, 0, 0, 24.0, 1.0,
                   word_of_mouth=np.array([1.0, 0.5, 1.0]))
    off, bits_off = hear(np.random.default_rng(1), net, listeners, told, told_brand, owned, nb, 0, 0, 24.0, 1.0,
                         word_of_mouth=np.array([1.0, 0.0, 1.0]))
    assert (full[:, 1] > 0).any()
    np.testing.assert_allclose(half[:, 1], 0.5 * full[:, 1], rtol=1e-6)
    np.testing.assert_allclose(half[:, [0, 2]], full[:, [0, 2]])
    assert (off[:, 1] == 0).all() and ((bits_off >> 1) & 1 == 0).all()
    assert ((bits_full >> 1) & 1 == 1).any()
