"""scenarios/lexus_us_1989.toml: the flagship's model lines and market-level need series follow their stated rules.

The flagship's `[[brands.X.models]]` blocks and the market keys `body_type_mix` and `tier_price_ratio` (issue #13)
are read from the scenario file as written (no inheritance). Checked here: every line has a
body, a tier and a positive price; launch before end; price changes in date order, after launch, inside the run;
each body-type-mix point sums to 1 in increasing years; the stated tier rule and tier price ratios hold; the
Lexus LS path is the reference data's CPI-deflated price path.
"""

from __future__ import annotations

import statistics
import tomllib
from pathlib import Path

import pytest

from sim import reference

FLAGSHIP = Path(__file__).resolve().parent.parent / "scenarios" / "lexus_us_1989.toml"
BRANDS = ("Cadillac", "Lincoln", "Mercedes-Benz", "BMW", "Jaguar", "Acura", "Lexus", "Infiniti")
BRAND_LAUNCH = {"Acura": "1986-03", "Lexus": "1989-09", "Infiniti": "1989-11"}  # as in lexus_us_1989.toml
RUN_START, RUN_STOP = "1986-01", "2011-01"  # January 1986 to December 2010; STOP is the first month after
BODIES = {"sedan", "coupe", "suv"}
TIERS = {"entry", "mid", "flagship"}
ENTRY_BELOW, FLAGSHIP_ABOVE = 25_000.0, 40_000.0  # 1989 USD, the flagship's stated thresholds
BORDER = 0.10  # a line this close (relative) to a threshold may join its rivals' tier
REFERENCE_PRICE = 30_000.0  # market.reference_price of the flagship
MAX_LINES = 10  # a brand's lines: a buyer's line draw walks them (sim.rules.draw_line)


def _month(date: str) -> int:
    """Months since year 0 of a "YYYY-MM" date."""
    year, month = date.split("-")
    assert len(year) == 4 and 1 <= int(month) <= 12, date
    return int(year) * 12 + int(month) - 1


def _models() -> dict[str, list[dict]]:
    return {brand: b["models"] for brand, b in tomllib.loads(FLAGSHIP.read_text())["brands"].items()}


def _market() -> dict:
    """The flagship's ``[market]`` table."""
    return tomllib.loads(FLAGSHIP.read_text())["market"]


def _lines():
    return [(brand, line) for brand, lines in _models().items() for line in lines]


def _first_month(brand: str, line: dict) -> str:
    return line.get("launch", BRAND_LAUNCH.get(brand, RUN_START))


def _monthly_prices(brand: str, line: dict) -> list[float]:
    """The line's list price (1989 USD) in each month it is on sale within the run."""
    steps = [(_month(_first_month(brand, line)), line["price"])]
    steps += [(_month(p["date"]), p["price"]) for p in line.get("prices", [])]
    first = max(steps[0][0], _month(RUN_START))
    stop = min(_month(line.get("end", RUN_STOP)), _month(RUN_STOP))
    return [[price for when, price in steps if when <= t][-1] for t in range(first, stop)]


def test_every_brand_has_lines_with_unique_names():
    models = _models()
    assert set(models) == set(BRANDS)
    for brand, lines in models.items():
        names = [line["name"] for line in lines]
        assert 0 < len(names) <= MAX_LINES, brand
        assert len(set(names)) == len(names), brand


@pytest.mark.parametrize("brand, line", _lines(), ids=lambda x: x if isinstance(x, str) else x["name"])
def test_line_fields(brand, line):
    assert set(line) <= {"name", "body", "tier", "launch", "end", "price", "prices", "defects_per_car_year", "appeal",
                         "luxury_tax_exempt"}
    assert -3.0 <= line.get("appeal", 0.0) <= 3.0  # set from BLP's shares: within a few logit units of its tier
    assert line["body"] in BODIES
    assert line["tier"] in TIERS
    assert line["price"] > 0
    assert all(p["price"] > 0 for p in line.get("prices", []))
    first, stop = _month(_first_month(brand, line)), _month(line.get("end", RUN_STOP))
    assert _month(RUN_START) <= first < stop <= _month(RUN_STOP)
    if brand in BRAND_LAUNCH:  # an entrant's lines cannot be on sale before the brand
        assert first >= _month(BRAND_LAUNCH[brand])
    dates = [_month(p["date"]) for p in line.get("prices", [])]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert all(first < d < stop for d in dates)


@pytest.mark.parametrize("brand, line", _lines(), ids=lambda x: x if isinstance(x, str) else x["name"])
def test_tier_follows_the_median_price(brand, line):
    """The tier is the one the time-weighted median price gives, unless that median is near a threshold."""
    median = statistics.median(_monthly_prices(brand, line))
    by_price = "entry" if median < ENTRY_BELOW else "flagship" if median > FLAGSHIP_ABOVE else "mid"
    near = min(abs(median / ENTRY_BELOW - 1), abs(median / FLAGSHIP_ABOVE - 1)) <= BORDER
    assert line["tier"] == by_price or near, (line["name"], median)


def test_body_type_mix_points_sum_to_one_in_increasing_years():
    mix = _market()["body_type_mix"]
    years = [point["year"] for point in mix]
    assert years[0] == 1986 and years[-1] == 2010 and years == sorted(set(years))
    for point in mix:
        shares = [point[body] for body in sorted(BODIES)]
        assert set(point) == BODIES | {"year"}
        assert all(0 <= s <= 1 for s in shares)
        assert sum(shares) == pytest.approx(1.0, abs=1e-6), point
    suv = [point["suv"] for point in mix]
    assert suv == sorted(suv)  # the market-level shift toward SUVs


def test_tier_price_ratio_is_the_line_month_mean_by_tier():
    pooled: dict[str, list[float]] = {tier: [] for tier in TIERS}
    for brand, line in _lines():
        pooled[line["tier"]] += _monthly_prices(brand, line)
    ratio = _market()["tier_price_ratio"]
    assert set(ratio) == TIERS
    for tier, prices in pooled.items():
        assert ratio[tier] == round(statistics.fmean(prices) / REFERENCE_PRICE, 2), tier
    assert ratio["entry"] < ratio["mid"] < ratio["flagship"]


def test_lexus_ls_follows_the_deflated_price_history():
    """The LS path's sourced points (1990-1991MY and 1994-1997MY) are sim.reference's CPI-deflated prices."""
    ls = next(line for line in _models()["Lexus"] if line["name"] == "LS")
    by_model_year = {int(p["date"][:4]) + 1: p["price"] for p in ls["prices"]}  # in force from the October before
    by_model_year[1990] = ls["price"]
    path = reference.price_path("Lexus LS 400")  # 1989 USD; 1990 $35,000 (high), 1994 inferred, 1995-1997
    for year in (1990, 1994, 1995, 1996, 1997):
        assert by_model_year[year] == pytest.approx(path[year], abs=1.0), year
    listed_1991 = reference.facts().query("fact == 'list_price_usd' and brand == 'Lexus LS 400'")
    deflated_1991 = float(listed_1991["value"].item()) * reference.cpi(1989) / reference.cpi(1991)
    assert by_model_year[1991] == pytest.approx(deflated_1991, abs=1.0)
