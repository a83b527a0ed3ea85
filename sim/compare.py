"""Compare scenarios with common random numbers.

Every scenario runs with the same replication seeds, so replication r of the base and replication r of a
what-if share their random streams, and their difference is due to the scenario, not to luck. Differences
are paired by replication: mean and a 95% t-interval over replications.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["year", "brand"]
HEADLINE = ("sales_share", "fleet_share", "repurchase_loyalty", "conquest_sales", "csi", "service_cost", "profit")


def paired_differences(base: pd.DataFrame, other: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Long table of other − base per year × brand × metric: base and other means, the mean difference and
    its confidence interval over replications (paired: same replication = same seeds)."""
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
    half = stats.t.ppf(0.5 + confidence / 2, np.maximum(table["n"] - 1, 1)) * table["diff_sd"] / np.sqrt(table["n"])
    half = half.where(table["n"] > 1)
    table["ci_low"] = table["diff_mean"] - half
    table["ci_high"] = table["diff_mean"] + half
    return table.drop(columns=["diff_sd"])


def payback(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Per brand and year, cumulative differences (other − base) in service cost, service revenue, new-car margin
    and profit, as replication means. Where one scenario's policy costs more at first and earns more later, the
    cumulative profit difference changes sign once for good: ``payback_year`` is the first year from which it
    keeps its final sign, and ``paid_back_by`` names the scenario that came out ahead."""
    cols = ["service_cost", "profit", "service_revenue", "new_car_margin"]
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


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of paired differences (NaN interval with one replication)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


def total_differences(base: pd.DataFrame, other: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per brand: other − base of ``metric`` summed over all years, mean and 95% interval over replications."""
    per_rep = (other.groupby(["replication", "brand"])[metric].sum()
               - base.groupby(["replication", "brand"])[metric].sum()).reset_index()
    rows = [(brand, *mean_ci(g[metric].to_numpy())) for brand, g in per_rep.groupby("brand", sort=False)]
    return pd.DataFrame(rows, columns=["brand", "diff_mean", "ci_low", "ci_high"])
