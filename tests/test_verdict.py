"""The comparison verdict says what differs and calls a difference a service policy only when it is one (a
fresh-user review found "return on service spending" for a discount, a launch date and a different market), and its
payback words hold in the replications, not only in their mean."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.compare import (
    AHEAD_THROUGHOUT,
    brand_differences,
    market_differences,
    payback,
    verdict,
)
from sim.scenario_files import load_scenario


def dump(name: str, overrides: list[str] | None = None) -> dict:
    return load_scenario(name, overrides or []).model_dump(mode="json")


FLAGSHIP = dump("lexus_us_1989")


def test_what_differs_for_a_brand_is_named_in_words():
    assert brand_differences(FLAGSHIP, FLAGSHIP, "Lexus") == []
    assert brand_differences(FLAGSHIP, dump("lexus_service_parity"), "Lexus") == ["service"]
    assert brand_differences(dump("lexus_service_parity"), dump("lexus_discount_instead"), "Lexus") == ["discount"]
    assert brand_differences(FLAGSHIP, dump("lexus_us_1989", ["brands.Lexus.launch=1995-01"]), "Lexus") == ["launch"]
    # a dated change: the BMW timeline gains a service entry, named once however many entries change
    bmw = dump("lexus_us_1989")
    bmw["brands"]["BMW"]["timeline"] = [*bmw["brands"]["BMW"]["timeline"],
                                        {"date": "1999-01", "service": {"loaner_cars": True}},
                                        {"date": "2001-01", "service": {"roadside_level": 2}}]
    assert brand_differences(FLAGSHIP, bmw, "BMW") == ["dated service changes"]
    one = dump("lexus_us_1989")
    del one["brands"]["Jaguar"]
    assert brand_differences(FLAGSHIP, one, "Jaguar") == ["the whole brand"]
    assert market_differences(FLAGSHIP, dump("lexus_service_parity")) == []
    europe = market_differences(FLAGSHIP, dump("europe_1990"))
    assert "market" in europe and any(d.startswith("brands: ") for d in europe)


def table(effect: dict[str, np.ndarray], years=range(1990, 1996)) -> pd.DataFrame:
    """A brand_year table of two brands, replications x years; ``effect[col]`` (replications x years) is added to
    brand A's column in the compared scenario."""
    rows = []
    for r in range(next(iter(effect.values())).shape[0] if effect else 3):
        for k, y in enumerate(years):
            for b in ("A", "B"):
                row = {"replication": r, "year": y, "brand": b, "sales_share": 0.5, "sales": 100.0,
                       "profit": 1e6, "service_cost": 1e5, "service_revenue": 3e5, "new_car_margin": 2e6}
                if b == "A":
                    for col, v in effect.items():
                        row[col] += v[r, k]
                rows.append(row)
    return pd.DataFrame(rows)


def scenarios(**brand_a) -> tuple[dict, dict]:
    base = {"market": {"x": 1}, "brands": {"A": {"service": {"q": 0.5}, "discount": 0.0}, "B": {"service": {}}}}
    other = {"market": dict(base["market"]), "brands": {"A": {**base["brands"]["A"], **brand_a}, "B": {"service": {}}}}
    return base, other


SPEND = {"service_cost": np.full((3, 6), 2e5), "profit": np.array([[-1e5, 0, 1e5, 3e5, 4e5, 5e5]] * 3) + np.arange(
    3)[:, None] * 1e4, "sales_share": np.full((3, 6), 0.02) + np.arange(3)[:, None] * 1e-3}


def test_a_service_policy_gets_its_cost_and_return():
    v = verdict(table({}), table(SPEND), "base", "policy", scenarios=scenarios(service={"q": 0.9}))
    lines = v.lines()
    assert v.brand == "A" and v.service_policy and (v.policy, v.without) == ("policy", "base")
    assert "the policy: more service spending for A" in lines[0] and "What differs for A: service." in lines
    assert any(line.startswith("Return on that spending: ") for line in lines)
    # what differs not known (no scenarios given): read as a policy, as before, and nothing said about it
    unknown = verdict(table({}), table(SPEND), "base", "policy")
    assert unknown.changes is None and unknown.service_policy
    assert any(line.startswith("Return on that spending: ") for line in unknown.lines())
    assert not any(line.startswith("What differs") for line in unknown.lines())


def test_a_price_change_is_not_called_a_service_policy():
    v = verdict(table({}), table(SPEND), "base", "cheaper", scenarios=scenarios(discount=0.07))
    text = "\n".join(v.lines())
    assert not v.service_policy and (v.policy, v.without) == ("cheaper", "base")
    assert "A's service settings are the same" in text and "What differs for A: discount." in text
    assert "Return on" not in text and "not a service policy's cost" in text and "more service spending" not in text
    # spending less, with nothing about service changed: still other − base, never turned round into "the policy"
    less = {k: -v for k, v in SPEND.items()}
    v = verdict(table({}), table(less), "base", "cheaper", scenarios=scenarios(discount=0.07))
    assert (v.policy, v.without) == ("cheaper", "base") and v.share[0] < 0


def test_two_markets_get_no_policy_verdict_and_every_changed_brand_is_named():
    base, other = scenarios(service={"q": 0.9})
    other["market"] = {"x": 2}
    other["brands"]["B"] = {"service": {"loaners": True}}
    v = verdict(table({}), table(SPEND), "base", "elsewhere", scenarios=(base, other))
    text = "\n".join(v.lines())
    assert v.market_changes == ("market",) and v.also_changed == ("B (service)",)
    assert "the policy" not in text and "Return on" not in text and "not one policy in one market" in text
    assert "Other brands' settings differ too: B" in text


def test_the_payback_words_say_how_the_replications_bear_out_the_mean():
    # the mean never behind, one replication behind in its first year: the words must not say "never behind" alone
    profit = np.array([[1e5] * 6, [1e5] * 6, [-5e4, 1e5, 1e5, 1e5, 1e5, 1e5]])
    v = verdict(table({}), table({**SPEND, "profit": profit}), "base", "policy", scenarios=scenarios(service={"q": 1}))
    assert v.payback == AHEAD_THROUGHOUT
    line = v.lines()[-1]
    assert "mean cumulative profit difference was never behind" in line
    assert "2 ahead throughout" in line and "1 behind at first, paid back in 1991" in line
    every = verdict(table({}), table({**SPEND, "profit": np.full((3, 6), 1e5)}), "base", "policy",
                    scenarios=scenarios(service={"q": 1}))
    assert every.lines()[-1].endswith("(the cumulative profit difference was never behind, in any replication).")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=6, max_size=6), min_size=2, max_size=4))
def test_payback_words_count_every_replication(profits):
    profit = np.array(profits)
    v = verdict(table({"profit": np.zeros_like(profit)}), table({"profit": profit, "service_cost": np.full(
        profit.shape, 1e5)}), "base", "p", scenarios=scenarios(service={"q": 1}))
    line = v.lines()[-1]
    assert len(v.payback_labels) == len(profits) and line.startswith(f"Payback: {v.payback}")
    counts = re.findall(r"(\d+) (?:ahead throughout|behind at first|not paid back)", line)
    if counts:  # the replications' counts add up to them all
        assert sum(int(c) for c in counts) == len(profits)


def test_payback_csv_names_who_was_ahead_throughout():
    base = table({})
    ahead = table({"profit": np.full((3, 6), 1e5)})
    p = payback(base, ahead)
    last = p[p["year"] == p["year"].max()].set_index("brand")
    assert np.isnan(last.loc["A", "payback_year"]) and last.loc["A", "paid_back_by"] == "other"
    assert last.loc["B", "paid_back_by"] == ""  # no difference at all
    crossing = payback(base, table({"profit": np.array([[-1e5, -1e5, 1e5, 2e5, 2e5, 2e5]] * 3)}))
    row = crossing[(crossing["brand"] == "A") & (crossing["year"] == 1995)].iloc[0]
    assert row["payback_year"] == pytest.approx(1993) and row["paid_back_by"] == "other"
