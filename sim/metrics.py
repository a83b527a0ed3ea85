"""Brand × month accumulators and the tables made from them.

The model adds counts and money here as events happen (O(events)); the yearly tables are computed at the
end. Definitions (per brand):

* churn rate: owners of the brand who replaced their car and did not buy the brand again (switched brand or
  left the luxury segment), over owners who replaced; repurchase loyalty = 1 − churn (J.D. Power).
* conquest sales: sales to buyers whose previous car was another luxury brand; new-to-segment sales: to
  buyers entering the segment. Acquisition/churn ratio = (conquest + new-to-segment) / churned owners.
* CSI: mean satisfaction of owners right after a service event, on 0-1000 (500 = neutral).
* profit: new-car margin + service revenue − service cost (including every service-policy cost).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from sim.finance import lifetime_value
from sim.service import EVENT_KINDS

# Counts per (month, brand), in simulated buyers. Each is named as its column in ``Ledger.yearly`` (where it has one:
# ``leased_sales`` and ``repurchase`` enter rates), so a count has one name from kernel to output.
COUNTS = ("sales", "leased_sales", "new_to_segment_sales", "conquest_sales", "repurchase", "replacers",
          "churned_owners", "exits_from_segment", "complaints", "complaints_recovered", "take_backs", "stories_told")
MONEY = ("service_revenue", "service_cost", "new_car_margin", "sales_revenue")


class LedgerArrays(NamedTuple):
    """The accumulators compiled code adds to, indexed [month, brand, ...] (the Ledger's own arrays)."""
    events: np.ndarray
    service_revenue: np.ndarray
    service_cost: np.ndarray
    csi_sum: np.ndarray
    csi_n: np.ndarray
    take_backs: np.ndarray
    complaints: np.ndarray
    complaints_recovered: np.ndarray
    stories_told: np.ndarray
    leased_sales: np.ndarray
    switching: np.ndarray
    rebuy: np.ndarray
    line_sales: np.ndarray


# Counts that follow from the switching matrix of a month (derive_choices).
CHOICE_COUNTS = ("sales", "new_to_segment_sales", "conquest_sales", "repurchase", "replacers", "churned_owners",
                 "exits_from_segment")


class Ledger:
    """Brand x month accumulators of one run, filled as events happen; the yearly tables are made from them.

    Every count and money array has shape (months, n_brands) and is in simulated units: buyers, not the real
    households they stand for (the tables multiply by the model's ``scale``), and 1989 USD. Counts:
    :data:`COUNTS`; money: :data:`MONEY`; ``csi_sum`` / ``csi_n``: the sum and number of satisfaction readings
    after service events; ``fleet``: cars in use at the end of each month; ``prestige``: each brand's prestige.
    ``events`` is (months, n_brands, len(EVENT_KINDS)); ``switching`` and ``rebuy`` are described where they are
    made.

    ``line_sales`` is (months, n_lines): cars sold of each model line (``sim/lineup.py``); ``sales_revenue`` is
    what buyers paid for them (list price less discount), 1989 USD.

    Args:
        months: months the run can record.
        n_brands: brands, in scenario order.
        n_lines: model lines in line-index order (default: one per brand).
    """

    def __init__(self, months: int, n_brands: int, n_lines: int | None = None):
        self.months, self.n_brands = months, n_brands
        self.line_sales = np.zeros((months, n_brands if n_lines is None else n_lines))
        self.models_on_sale = np.zeros((months, n_brands))  # model lines on sale each month
        for name in COUNTS + MONEY + ("csi_sum", "csi_n", "fleet", "prestige"):
            setattr(self, name, np.zeros((months, n_brands)))
        self.events = np.zeros((months, n_brands, len(EVENT_KINDS)))
        # switching[m, from, to]: from = brand or n_brands ("new"); to = brand or n_brands ("left segment")
        self.switching = np.zeros((months, n_brands + 1, n_brands + 1))
        # rebuy[m, outcome, rebought]: owners replacing their car, by the outcome of their last complaint about
        # it (sim.population.COMPLAINT_OUTCOMES) and whether they bought the same brand again (Dillard & Bates)
        self.rebuy = np.zeros((months, 4, 2))

    @property
    def arrays(self) -> LedgerArrays:
        """The accumulators compiled code writes to, as a named tuple of the ledger's own arrays (not copies)."""
        return LedgerArrays(**{name: getattr(self, name) for name in LedgerArrays._fields})

    def rebuy_rates(self, months: slice = slice(None)) -> dict[str, float]:
        """Share of replacing owners who rebought the brand, by the outcome of their last complaint."""
        from sim.population import COMPLAINT_OUTCOMES

        counts = self.rebuy[months].sum(axis=0)
        totals = counts.sum(axis=1)
        return {name: float(counts[k, 1] / totals[k]) if totals[k] else float("nan")
                for k, name in enumerate(COMPLAINT_OUTCOMES)}

    def derive_choices(self, month: int) -> None:
        """Sales, conquests, churn ... of ``month`` from its switching matrix (rows: from brand or "new";
        columns: to brand or "left the segment"). Both engines fill the matrix as buyers choose."""
        nb, s = self.n_brands, self.switching[month]
        stayed = np.diag(s)[:nb]
        self.sales[month] = s[:, :nb].sum(axis=0)
        self.new_to_segment_sales[month] = s[nb, :nb]
        self.conquest_sales[month] = s[:nb, :nb].sum(axis=0) - stayed
        self.repurchase[month] = stayed
        self.replacers[month] = s[:nb].sum(axis=1)
        self.churned_owners[month] = self.replacers[month] - stayed
        self.exits_from_segment[month] = s[:nb, nb]

    def trailing_share(self, brand: int, month: int, window: int = 12) -> float:
        """Brand's share of sales over the ``window`` months before ``month``."""
        return float(self.trailing_shares(month, window)[brand])

    def trailing_shares(self, month: int, window: int = 12) -> np.ndarray:
        """Every brand's share of sales over the ``window`` months before ``month`` (zeros without sales)."""
        by_brand = self.sales[max(0, month - window) : month].sum(axis=0)
        total = by_brand.sum()
        return by_brand / total if total > 0 else np.zeros(self.n_brands)

    # ---- tables -------------------------------------------------------------------------------------
    def yearly(self, brand_names: list[str], start_year: int, scale: float, discount_rate: float,
               months_done: int | None = None) -> pd.DataFrame:
        """One row per year × brand, in real units (counts and money multiplied by ``scale``).

        Args:
            brand_names: the brands in scenario order (the ledger's brand axis).
            start_year: the calendar year of month 0.
            scale: real households per simulated buyer (the model's ``scale``).
            discount_rate: annual discount rate of customer lifetime value (``costs.discount_rate``).
            months_done: months simulated so far (default: all); only complete years are tabled.

        Returns:
            Columns ``year, brand``, then counts and money in real units (``sales``, ``fleet`` at year end,
            ``conquest_sales``, ``churned_owners``, ``service_revenue`` ... in 1989 USD, ``profit``, one
            ``<kind>_events`` column per event kind), shares and rates as fractions (``sales_share``,
            ``churn_rate``, ``repurchase_loyalty`` ...), ``models_on_sale`` (lines on sale in December),
            ``mean_price`` (what buyers paid on average, 1989 USD;
            NaN without sales), ``csi`` on 0-1000, ``clv`` in USD per owner and
            ``prestige`` (the year's mean). A rate whose denominator is zero is NaN. An empty frame before
            the first complete year.
        """
        m = months_done if months_done is not None else self.months
        years = m // 12
        if years == 0:
            return pd.DataFrame()

        def per_year(a: np.ndarray) -> np.ndarray:
            return a[: years * 12].reshape(years, 12, *a.shape[1:]).sum(axis=1)

        y = {name: per_year(getattr(self, name)) for name in COUNTS + MONEY + ("csi_sum", "csi_n")}
        fleet = self.fleet[11 : years * 12 : 12]  # end of each year
        with np.errstate(invalid="ignore", divide="ignore"):
            sales_share = y["sales"] / y["sales"].sum(axis=1, keepdims=True)
            fleet_share = fleet / fleet.sum(axis=1, keepdims=True)
            churn = y["churned_owners"] / y["replacers"]
            lease_share = y["leased_sales"] / y["sales"]
            acq_churn = np.where(y["churned_owners"] > 0,
                                 (y["conquest_sales"] + y["new_to_segment_sales"]) / y["churned_owners"], np.nan)
            csi = 500.0 * (1.0 + y["csi_sum"] / y["csi_n"])
            profit = y["new_car_margin"] + y["service_revenue"] - y["service_cost"]
            per_owner = profit / fleet
            mean_price = y["sales_revenue"] / y["sales"]
        # a brand with no owners at year end has no profit per owner: its CLV is NaN, never an infinity
        per_owner = np.where(fleet > 0, per_owner, np.nan)
        clv = lifetime_value(per_owner, np.nan_to_num(1.0 - churn, nan=0.0), discount_rate)
        events = per_year(self.events)
        cols = {
            "year": np.repeat(np.arange(start_year, start_year + years), self.n_brands),
            "brand": np.tile(brand_names, years),
            "sales": y["sales"] * scale,
            "sales_share": sales_share,
            "lease_share": lease_share,
            "fleet": fleet * scale,
            "fleet_share": fleet_share,
            "churn_rate": churn,
            "repurchase_loyalty": 1.0 - churn,
            "replacers": y["replacers"] * scale,
            "conquest_sales": y["conquest_sales"] * scale,
            "new_to_segment_sales": y["new_to_segment_sales"] * scale,
            "churned_owners": y["churned_owners"] * scale,
            "exits_from_segment": y["exits_from_segment"] * scale,
            "acquisition_churn_ratio": acq_churn,
            "csi": csi,
            "complaints": y["complaints"] * scale,
            "complaints_recovered": y["complaints_recovered"] * scale,
            "take_backs": y["take_backs"] * scale,
            "stories_told": y["stories_told"] * scale,
            "service_revenue": y["service_revenue"] * scale,
            "service_cost": y["service_cost"] * scale,
            "service_margin": (y["service_revenue"] - y["service_cost"]) * scale,
            "new_car_margin": y["new_car_margin"] * scale,
            "sales_revenue": y["sales_revenue"] * scale,
            "profit": profit * scale,
            "mean_price": mean_price,
            "clv": clv,
            "prestige": self.prestige[: years * 12].reshape(years, 12, -1).mean(axis=1),
            "models_on_sale": self.models_on_sale[11 : years * 12 : 12],  # in December
        }
        for k, kind in enumerate(EVENT_KINDS):
            cols[f"{kind}_events"] = events[:, :, k] * scale
        return pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in cols.items()})

    def switching_table(self, brand_names: list[str], start_year: int, scale: float,
                        months_done: int | None = None) -> pd.DataFrame:
        """``year, from_brand, to_brand, buyers``: from 'new' = entered the segment; to 'left' = left it.

        One row per year and flow with buyers (flows of zero are left out); ``buyers`` in real units
        (times ``scale``); ``from_brand == to_brand`` rows are repurchases. Only complete years (of
        ``months_done``, default all) are tabled.
        """
        m = months_done if months_done is not None else self.months
        years = m // 12
        s = self.switching[: years * 12].reshape(years, 12, self.n_brands + 1, self.n_brands + 1).sum(axis=1)
        frm = list(brand_names) + ["new"]
        to = list(brand_names) + ["left"]
        yi, fi, ti = np.nonzero(s)
        return pd.DataFrame({"year": start_year + yi, "from_brand": np.array(frm)[fi], "to_brand": np.array(to)[ti],
                             "buyers": s[yi, fi, ti] * scale})

    def line_year(self, lines: pd.DataFrame, start_year: int, scale: float,
                  months_done: int | None = None) -> pd.DataFrame:
        """Sales by model line and year: the complete years (of ``months_done``, default all).

        Args:
            lines: one row per line in line-index order with columns ``brand``, ``model``, ``body``, ``tier``
                (``LuxuryMarketModel.lines_table``).
            start_year: the calendar year of month 0.
            scale: real households per simulated buyer.

        Returns:
            Columns ``year, brand, model, body, tier, sales`` (real units), ``share_of_brand`` (the line's share of
            its brand's sales that year; NaN if the brand sold nothing); one row per year and line that sold.
        """
        m = months_done if months_done is not None else self.months
        years = m // 12
        n_lines = self.line_sales.shape[1]
        s = self.line_sales[: years * 12].reshape(years, 12, n_lines).sum(axis=1)
        yi, li = np.nonzero(s)
        out = lines.iloc[li].reset_index(drop=True)
        out.insert(0, "year", start_year + yi)
        out["sales"] = s[yi, li] * scale
        brand_total = out.groupby(["year", "brand"])["sales"].transform("sum")
        out["share_of_brand"] = out["sales"] / brand_total
        return out
