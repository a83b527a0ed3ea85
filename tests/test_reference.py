"""sim/reference.py: the reference data loads whole, with provenance, and the accessors give the known values."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from sim import reference

LOADERS = [reference.sales, reference.facts, reference.policy_timeline, reference.blp_models]
FILES = [reference.SALES_FILE, reference.FACTS_FILE, reference.TIMELINE_FILE, reference.BLP_FILE]


@pytest.mark.parametrize("loader, file", list(zip(LOADERS, FILES)), ids=[f.__name__ for f in LOADERS])
def test_every_row_loaded_with_source_and_confidence(loader, file):
    df = loader()
    with (resources.files("sim") / "data" / file).open(encoding="utf-8") as f:
        n_rows = sum(1 for line in f if line.strip()) - 1  # no quoted newlines in these files
    assert len(df) == n_rows > 0
    assert df["source"].notna().all() and (df["source"].str.strip() != "").all()
    assert set(df["confidence"]) <= {"high", "medium"}


def test_loaders_return_copies():
    df = reference.sales()
    df.loc[0, "units"] = -1
    assert (reference.sales()["units"] > 0).all()


def test_sales_rows():
    s = reference.sales()
    assert set(s["period"]) == {"calendar_year", "jan_nov", "model_year"}
    lexus = s[(s["brand"] == "Lexus") & (s["period"] == "calendar_year")].set_index("year")["units"]
    assert lexus.to_dict() == {1989: 16302, 1990: 63534, 1991: 71206, 1992: 92890, 1993: 94677}
    assert s.query("brand == 'Lexus' and year == 1991 and period == 'jan_nov'")["units"].item() == 62512


def test_jd_power_csi():
    csi92 = reference.jd_power_csi(1992)
    assert csi92["Lexus"] == 179 and csi92["industry_average"] == 129 and "BMW" not in csi92
    assert reference.jd_power_csi(1993)["Lincoln"] == 143
    assert reference.jd_power_csi_below_average(1992) == ["Lincoln"]
    assert reference.jd_power_csi_below_average(1993) == ["BMW"]
    with pytest.raises(KeyError):
        reference.jd_power_csi(1980)


def test_quality_recovery_lease():
    iqs = reference.initial_quality_1991()
    assert iqs["Lexus"] == 55 and iqs["BMW"] == 141 and len(iqs) == 7
    assert reference.recovery_repurchase_rates() == {
        "resolved_within_90_days": 0.474, "resolved_90_to_180_days": 0.295, "unresolved": 0.0}
    assert reference.lease_share() == reference.lease_share(1993) == 0.5


def test_blp_prices_and_shares():
    assert reference.CPI_1983_TO_1989 == pytest.approx(124.0 / 99.6)
    prices, shares = reference.blp_prices(1990), reference.blp_shares(1990)
    assert set(prices) == set(shares) == {"Acura", "BMW", "Cadillac", "Infiniti", "Jaguar", "Lexus", "Lincoln",
                                          "Mercedes-Benz"}
    assert sum(shares.values()) == pytest.approx(1.0)
    # by hand: Lexus's 1990 rows, share-weighted, thousands of 1983 dollars -> 1989 dollars
    rows = pd.read_csv(resources.files("sim") / "data" / reference.BLP_FILE)
    rows = rows.query("market_ids == 1990 and make == 'Lexus'")
    by_hand = (rows["prices"] * rows["shares"]).sum() / rows["shares"].sum() * 1000 * 124.0 / 99.6
    assert prices["Lexus"] == pytest.approx(by_hand)
    assert 25_000 < prices["Lexus"] < 35_000 and prices["Mercedes-Benz"] > prices["Lexus"]
    assert "Jaguar" not in reference.blp_prices(1988)  # Jaguar from 1989 only
    with pytest.raises(KeyError):
        reference.blp_prices(1993)
