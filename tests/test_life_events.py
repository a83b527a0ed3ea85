"""Life events that take a replacing owner out of the luxury segment (``market.life_event_exit``,
``sim.rules.leaves_at_life_event``): alone in the model, with fixed seeds. The rule itself is tested in
``tests/test_rules.py`` and both engines' use of it in ``tests/test_differential.py``."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import LuxuryMarketModel
from tests.conftest import small_flagship


def exits_and_loyalty(x: float, seed: int = 3) -> tuple[float, float, np.ndarray]:
    """Share of replacing owners who left the segment, pooled loyalty, and each brand's pooled loyalty, over a
    3-year, 4,000-buyer flagship run (1986-1988: ~2,500 replacing owners)."""
    scenario = small_flagship(years=3, buyers=4_000, overrides=[f"market.life_event_exit={x}"])
    led = LuxuryMarketModel(scenario, seed=seed).run().ledger
    nb = led.switching.shape[1] - 1
    s = led.switching[:, :nb, :].sum(axis=0)  # (from brand, to brand or leaving), the 3 years pooled
    replacers = s.sum(axis=1)
    by_brand = np.diag(s[:, :nb]) / np.where(replacers > 0, replacers, np.nan)
    return s[:, nb].sum() / replacers.sum(), np.trace(s[:, :nb]) / replacers.sum(), by_brand


def test_life_events_add_their_share_of_exits_and_cap_loyalty():
    """A share x of replacing owners leaves before choosing; the rest leave as often as without life events, so the
    exit share is about x + (1 - x) x (the share without them), and no brand keeps more than 1 - x of its owners
    (binomial sd at ~2,500 replacers: ~0.01; the tolerances are about 3 sd)."""
    base_exits, base_loyal, _ = exits_and_loyalty(0.0)
    x = 0.3
    exits, loyal, by_brand = exits_and_loyalty(x)
    assert exits == pytest.approx(x + (1 - x) * base_exits, abs=0.04)
    assert loyal == pytest.approx((1 - x) * base_loyal, abs=0.04)
    big = ~np.isnan(by_brand)
    assert (by_brand[big] <= 1 - x + 0.05).all()


def test_every_owner_leaves_when_every_replacement_is_a_life_event():
    exits, loyal, _ = exits_and_loyalty(1.0)
    assert exits == 1.0 and loyal == 0.0
