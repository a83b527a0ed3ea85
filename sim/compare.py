"""Compare scenarios with common random numbers.

Every scenario runs with the same replication seeds, so replication r of the base and replication r of a
what-if share their random streams, and their difference is due to the scenario, not to luck. Differences
are paired by replication: mean and a 95% t-interval over replications.

Scenarios need not have the same brands or years: differences, cumulative totals and payback are taken over the
brand-years both have (:func:`common`), and :func:`common_ground` says, before anything runs, what is compared
and what is left out (or that nothing is: no brand or no year in common).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.report import Rendered
from sim.stats import CONFIDENCE, mean_interval, t_half_width

KEYS = ["year", "brand"]
PAIR = ["replication", *KEYS]
BOUNDED = ("sales_share", "lease_share", "fleet_share", "churn_rate", "repurchase_loyalty")  # fractions in [0, 1]
HEADLINE = ("sales_share", "fleet_share", "repurchase_loyalty", "conquest_sales", "csi", "service_cost", "profit")


def _years(scenario) -> range:
    return range(scenario.market.start_year, scenario.market.start_year + scenario.market.years)


def _span(years) -> str:
    years = sorted(years)
    return ", ".join(str(y) for y in years) if len(years) < 3 or years[-1] - years[0] != len(years) - 1 \
        else f"{years[0]}-{years[-1]}"


def common_ground(scenarios: dict, base: str) -> tuple[list[str], list[str]]:
    """What each scenario can be compared with the base on: the brands and the years both have.

    Args:
        scenarios: name -> ``sim.scenario.Scenario``, the base among them.
        base: the base's name.

    Returns:
        (problems, notes): a problem per scenario that shares no brand or no year with the base (nothing to
        compare: the command refuses); a note per scenario compared on only part of the base's brands or years,
        naming what is left out.
    """
    problems, notes = [], []
    first = scenarios[base]
    for name, sc in scenarios.items():
        if name == base:
            continue
        brands = [b for b in first.brands if b in sc.brands]
        years = sorted(set(_years(first)) & set(_years(sc)))
        if not brands:
            problems.append(f"{name}: nothing to compare with {base}: no brand in common")
            continue
        if not years:
            problems.append(f"{name}: nothing to compare with {base}: no year in common ({base} "
                            f"{_span(_years(first))}, {name} {_span(_years(sc))})")
            continue
        left = []
        only_base = [b for b in first.brands if b not in sc.brands]
        only_other = [b for b in sc.brands if b not in first.brands]
        if only_base:
            left.append(f"{', '.join(only_base)} (only in {base})")
        if only_other:
            left.append(f"{', '.join(only_other)} (only in {name})")
        if len(years) < max(len(_years(first)), len(_years(sc))):
            left.append(f"the years outside {_span(years)} ({base} runs {_span(_years(first))}, {name} "
                        f"{_span(_years(sc))})")
        if left:
            notes.append(f"{name} vs {base}: compared on {', '.join(brands)}, {_span(years)}; left out: "
                         + "; ".join(left))
    return problems, notes


def common(base: pd.DataFrame, other: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``base`` and ``other`` (``brand_year`` tables) cut to the replication-year-brand rows both have, in the
    same order: what every paired comparison is taken over."""
    keys = base[PAIR].merge(other[PAIR], on=PAIR)
    return (keys.merge(base, on=PAIR, how="left"), keys.merge(other, on=PAIR, how="left"))


def paired_differences(base: pd.DataFrame, other: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Long table of other − base per year × brand × metric: base and other means, the mean difference and
    its confidence interval over replications (paired: same replication = same seeds).

    Args:
        base, other: ``brand_year`` tables of all replications (replication, year, brand, metrics...).
        confidence: two-sided level of the t-interval (``sim.stats.t_half_width``).

    Returns:
        One row per year × brand × metric: year, brand, metric, base, other, diff_mean, n, ci_low, ci_high
        (NaN interval with one replication; a difference of fractions (:data:`BOUNDED`) clipped to [−1, 1]).
    """
    numeric = [c for c in base.columns if c not in ("replication", *KEYS) and pd.api.types.is_numeric_dtype(base[c])]
    merged = base.merge(other, on=["replication", *KEYS], suffixes=("_base", "_other"))
    rows = []
    for metric in numeric:
        m = merged[["replication", *KEYS, f"{metric}_base", f"{metric}_other"]].rename(
            columns={f"{metric}_base": "base", f"{metric}_other": "other"})
        m["diff"] = m["other"] - m["base"]
        g = m.groupby(KEYS, sort=False)
        out = g.agg(base=("base", "mean"), other=("other", "mean"), diff_mean=("diff", "mean"),
                    diff_sd=("diff", "std"), n=("diff", "count")).reset_index()
        out.insert(2, "metric", metric)
        rows.append(out)
    table = pd.concat(rows, ignore_index=True)
    half = t_half_width(table["diff_sd"].to_numpy(), table["n"].to_numpy(), confidence)
    low, high = table["diff_mean"] - half, table["diff_mean"] + half
    bounded = table["metric"].isin(BOUNDED)
    table["ci_low"] = low.where(~bounded, low.clip(lower=-1.0))
    table["ci_high"] = high.where(~bounded, high.clip(upper=1.0))
    return table.drop(columns=["diff_sd"])


def payback(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Per brand and year, cumulative differences (other − base) in service cost, service revenue, new-car margin
    and profit, as replication means. Where one scenario's policy costs more at first and earns more later, the
    cumulative profit difference changes sign once for good: ``payback_year`` is the first year from which it
    keeps its final sign, and ``paid_back_by`` names the scenario that came out ahead."""
    cols = ["service_cost", "profit", "service_revenue", "new_car_margin"]
    base, other = common(base, other)
    diff = (other.set_index(["replication", *KEYS])[cols] - base.set_index(["replication", *KEYS])[cols]).reset_index()
    diff = diff.sort_values(["replication", "brand", "year"])
    cum = diff.groupby(["replication", "brand"], sort=False)[cols].cumsum().add_prefix("cum_")
    cum = pd.concat([diff[["replication", *KEYS]], cum], axis=1)
    mean = cum.groupby(["brand", "year"], sort=False).mean(numeric_only=True).drop(columns="replication").reset_index()

    def crossing(group: pd.DataFrame) -> tuple[float, str]:
        values = group.sort_values("year")[["year", "cum_profit"]].to_numpy()
        sign = np.sign(values[:, 1])
        final = sign[-1]
        if final == 0 or not (sign == -final).any():
            return float("nan"), ""
        first = int(np.flatnonzero(sign == -final).max()) + 1  # first year of the final run of one sign
        return float(values[first, 0]), "other" if final > 0 else "base"

    result = {brand: crossing(g) for brand, g in mean.groupby("brand", sort=False)}
    mean["payback_year"] = mean["brand"].map(lambda b: result[b][0])
    mean["paid_back_by"] = mean["brand"].map(lambda b: result[b][1])
    return mean


def headline(differences: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """The differences worth printing: headline metrics in the given years."""
    keep = differences["metric"].isin(HEADLINE) & differences["year"].isin(years)
    return differences[keep].reset_index(drop=True)


def total_differences(base: pd.DataFrame, other: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per brand: other − base of ``metric`` summed over the years both have, mean and 95% interval over
    replications."""
    base, other = common(base, other)
    per_rep = (other.groupby(["replication", "brand"])[metric].sum()
               - base.groupby(["replication", "brand"])[metric].sum()).reset_index()
    rows = [(brand, *mean_interval(g[metric].to_numpy())) for brand, g in per_rep.groupby("brand", sort=False)]
    return pd.DataFrame(rows, columns=["brand", "diff_mean", "ci_low", "ci_high"])


@dataclass
class Comparison(Rendered):
    """Scenarios run with the same seeds, and their differences from the base (what ``run_sim.py compare``
    prints and writes).

    Attributes:
        runs: scenario name -> (Scenario, its replications: a list of ``sim.runner.RunResult``), base first.
        base: the base scenario's name (a key of ``runs``).
    """

    runs: dict
    base: str
    _tables: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def others(self) -> list[str]:
        """The compared scenarios other than the base, in order."""
        return [name for name in self.runs if name != self.base]

    def brand_year(self, name: str) -> pd.DataFrame:
        """The ``brand_year`` rows of every replication of scenario ``name``."""
        if name not in self._tables:
            self._tables[name] = pd.concat([r.brand_year for r in self.runs[name][1]], ignore_index=True)
        return self._tables[name]

    def differences(self, name: str) -> pd.DataFrame:
        """``paired_differences`` of scenario ``name`` against the base."""
        return paired_differences(self.brand_year(self.base), self.brand_year(name))

    def total_differences(self, name: str, metric: str) -> pd.DataFrame:
        """:func:`total_differences` of ``metric`` for scenario ``name`` against the base."""
        return total_differences(self.brand_year(self.base), self.brand_year(name), metric)

    def payback(self, name: str) -> pd.DataFrame:
        """:func:`payback` of scenario ``name`` against the base."""
        return payback(self.brand_year(self.base), self.brand_year(name))

    def tables(self) -> list[dict]:
        """One table per scenario other than the base: share, loyalty and cumulative profit differences with
        their 95% intervals, and the payback year (``sim.compare_report.summary_table``)."""
        from sim.compare_report import summary_table

        return [summary_table(self, name) for name in self.others]
