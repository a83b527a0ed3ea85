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

from sim.formats import difference
from sim.report import Rendered
from sim.stats import CONFIDENCE, clip, mean_interval, ratio_interval, t_half_width

KEYS = ["year", "brand"]
PAIR = ["replication", *KEYS]
BOUNDED = ("sales_share", "lease_share", "fleet_share", "churn_rate", "repurchase_loyalty")  # fractions in [0, 1]
# The rate at which the verdict discounts a later year's profit against an earlier one's: results are in constant
# 1989 dollars, so this is a real rate, and 8% a year is a conventional hurdle rate for a carmaker's investment
# (a cost of capital of the period). A number a strategist may change; every report names it.
DISCOUNT_RATE = 0.08
HEADLINE = ("sales_share", "fleet_share", "repurchase_loyalty", "conquest_sales", "csi", "service_cost", "profit")


def discount_factors(years, first: int, rate: float = DISCOUNT_RATE):
    """What a value of each year is worth in year ``first``: ``(1 + rate) ** -(year - first)`` (the one rule of every
    net present value luxsim reports: the comparison's verdict, an optimisation's NPV objective).

    Args:
        years: calendar years (an array, a Series or a number).
        first: the year values are discounted to.
        rate: the real discount rate a year (results are in 1989 dollars), default :data:`DISCOUNT_RATE`.
    """
    return (1.0 + rate) ** -(years - first)


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
        One row per year × brand × metric: year, brand, metric, base, other, diff_mean, n, ci_low, ci_high,
        clipped (NaN interval with one replication; a difference of fractions (:data:`BOUNDED`) clipped to
        [−1, 1], ``clipped`` True where it was).
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
    bounded = table["metric"].isin(BOUNDED).to_numpy()
    cut_low, cut_high, cut = clip(low, high, (-1.0, 1.0))
    table["ci_low"] = np.where(bounded, cut_low, low)
    table["ci_high"] = np.where(bounded, cut_high, high)
    table["clipped"] = bounded & cut
    return table.drop(columns=["diff_sd"])


def payback(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Per brand and year, cumulative differences (other − base) in service cost, service revenue, new-car margin
    and profit, as replication means. Where one scenario's policy costs more at first and earns more later, the
    cumulative profit difference changes sign once for good: ``payback_year`` is the first year from which it
    keeps its final sign, and ``paid_back_by`` names the scenario that came out ahead ("other" or "base"). Where the
    difference never changed sign, ``payback_year`` is NaN and ``paid_back_by`` names the scenario ahead throughout;
    where it ends at zero, both are empty (NaN, "")."""
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
        if final == 0:
            return float("nan"), ""
        if not (sign == -final).any():  # ahead throughout
            return float("nan"), "other" if final > 0 else "base"
        first = int(np.flatnonzero(sign == -final).max()) + 1  # first year of the final run of one sign
        return float(values[first, 0]), "other" if final > 0 else "base"

    result = {brand: crossing(g) for brand, g in mean.groupby("brand", sort=False)}
    mean["payback_year"] = mean["brand"].map(lambda b: result[b][0])
    mean["paid_back_by"] = mean["brand"].map(lambda b: result[b][1])
    return mean


AHEAD_THROUGHOUT = "ahead throughout"
NOT_PAID_BACK = "not within the run"


def payback_of(years, cumulative) -> tuple[float, str]:
    """When a policy's cumulative profit difference (policy − without, one value per year, ascending) paid back.

    Returns:
        ``(year, label)``: the first year from which the difference stays above zero and that year as text; NaN and
        "ahead throughout" when it was never below zero (and ends above); NaN and "not within the run" when it ends
        at or below zero (or there are no years).
    """
    values = np.asarray(cumulative, dtype=float)
    if values.size == 0 or not values[-1] > 0:
        return float("nan"), NOT_PAID_BACK
    behind = np.flatnonzero(~(values >= 0))  # below zero (a NaN year counts as not ahead)
    if behind.size == 0:
        return float("nan"), AHEAD_THROUGHOUT
    year = float(np.asarray(years)[behind.max() + 1])
    return year, f"{year:.0f}"


@dataclass(frozen=True)
class Verdict:
    """The effect of a policy on one brand: the scenario that spent more on the brand's service (the policy) against
    the one that spent less (without it), over the brand-years both have. Every figure is policy − without,
    ``(mean, low, high)`` over paired replications (a 95% t-interval; NaN ends with one replication); money in
    dollars of 1989, sales in cars, shares as fractions.

    Attributes:
        policy, without: scenario names (when service spending does not differ, ``policy`` is the compared
            scenario and ``without`` the base: ``spending_differs`` is False).
        brand: the brand whose service spending differs most (else whose last-year share differs most).
        first, last: the years compared. n: paired replications.
        share: sales share difference in ``last``. sales: cars sold, summed over the years.
        profit: cumulative profit difference (net of the service spending). service_cost: the extra service
            spending (what the policy cost). roi: profit gained per dollar of extra service spending, the ratio of
            the mean differences (``sim.stats.ratio_interval``; NaN where the spending does not differ).
            npv: profit differences discounted at :data:`DISCOUNT_RATE` a year to ``first``.
        payback: "YYYY", "ahead throughout" or "not within the run" (:func:`payback_of` on the mean cumulative
            profit difference); payback_years: each replication's payback year (NaN where it has none).
        share_clipped: the share interval ran past [−1, 1] and was cut there.
        payback_labels: each replication's :func:`payback_of` label ("YYYY", "ahead throughout" or "not within
            the run"): how far the mean's payback holds in each.
        changes: what differs in ``brand``'s settings, in words (:func:`brand_differences`; None when unknown).
        market_changes: what differs outside the brands (:func:`market_differences`): then the scenarios are not
            one market with one policy changed.
        also_changed: the other brands whose settings differ, each with what differs ("BMW (service)").
    """

    policy: str
    without: str
    brand: str
    first: int
    last: int
    n: int
    spending_differs: bool
    share: tuple[float, float, float]
    sales: tuple[float, float, float]
    profit: tuple[float, float, float]
    service_cost: tuple[float, float, float]
    roi: tuple[float, float, float]
    npv: tuple[float, float, float]
    payback: str
    payback_years: tuple[float, ...]
    share_clipped: bool = False
    payback_labels: tuple[str, ...] = ()
    changes: tuple[str, ...] | None = None
    market_changes: tuple[str, ...] = ()
    also_changed: tuple[str, ...] = ()

    @property
    def service_policy(self) -> bool:
        """Whether the brand's service settings differ (its service levers, dated or in a strategy response), so that
        the difference in its service spending is a policy's cost. True when what differs is not known."""
        return is_service_policy(self.changes)

    def lines(self) -> list[str]:
        """The verdict in words, one sentence a line (the same in the terminal and the reports)."""
        def money(t):
            return difference(t[0] / 1e6, t[1] / 1e6, t[2] / 1e6, "$M", 0)

        years = f"{self.first}–{self.last}"
        clipped = " (clipped)" if self.share_clipped else ""
        policy = self.spending_differs and self.service_policy and not self.market_changes
        if policy:
            who = f"{self.policy} (the policy: more service spending for {self.brand}) against {self.without}"
        elif not self.spending_differs:
            who = f"{self.policy} against {self.without} (no difference in {self.brand}'s service spending)"
        elif not self.service_policy:
            who = f"{self.policy} against {self.without} ({self.brand}'s service settings are the same)"
        else:
            who = f"{self.policy} against {self.without}"
        lines = [f"Verdict for {self.brand}, {years}: {who}, mean [95% interval] over {self.n} paired "
                 "replications."]
        if self.changes:
            lines.append(f"What differs for {self.brand}: {', '.join(self.changes)}.")
        if self.market_changes:
            lines.append(f"The scenarios also differ outside the brands ({', '.join(self.market_changes)}): this is "
                         "not one policy in one market, and the figures below are not its effect alone.")
        if self.also_changed:
            also = [a.split(" (")[0] for a in self.also_changed] if self.market_changes else self.also_changed
            lines.append(f"Other brands' settings differ too: {', '.join(also)} (their differences are in the "
                         "tables).")
        lines.append(f"Bought: {difference(self.share[0] * 100, self.share[1] * 100, self.share[2] * 100, 'pp')} of "
                     f"sales share in {self.last}{clipped}; "
                     f"{difference(*self.sales, 'cars', 0)} sold; {money(self.profit)} of "
                     "cumulative profit (net of the service spending).")
        if policy or not self.spending_differs:
            lines.append(f"Cost: {money(self.service_cost)} of extra service spending.")
        elif not self.service_policy:
            lines.append(f"Service spending: {money(self.service_cost)}, not a service policy's cost: it follows from "
                         "the other differences (more or fewer cars in service), so no return on it is given.")
        else:
            lines.append(f"Service spending: {money(self.service_cost)}; no return on it is given, as the "
                         "scenarios differ outside the brands too.")
        if policy:
            roi = difference(self.roi[0] * 100, self.roi[1] * 100, self.roi[2] * 100, "%", 0).replace(" %", "%")
            others = [c for c in self.changes or () if c not in SERVICE_CHANGES]
            credit = f"; it credits the other differences ({', '.join(others)}) to the spending too" if others else ""
            lines.append(f"Return on that spending: {roi} (profit gained per dollar of extra service "
                         f"spending{credit}).")
        lines.append(f"Net present value at {DISCOUNT_RATE:.0%} a year (real, to {self.first}): {money(self.npv)}.")
        lines.append(f"Payback: {self.payback}{self._payback_spread()}.")
        return lines

    def _payback_spread(self) -> str:
        """How the replications bear out the mean's payback (``payback``), in brackets: their payback years, and
        how many were ahead throughout or not paid back within the run ("" when there is nothing to add)."""
        n = len(self.payback_years)
        ahead_mean = self.payback == AHEAD_THROUGHOUT
        labels = self.payback_labels
        if n < 2 or len(labels) != n:
            return " (the cumulative profit difference was never behind)" if ahead_mean else ""
        years = [y for y in self.payback_years if y == y]
        ahead = sum(label == AHEAD_THROUGHOUT for label in labels)
        never = sum(label == NOT_PAID_BACK for label in labels)
        if ahead == n:
            return " (the cumulative profit difference was never behind, in any replication)"
        if never == n and self.payback == NOT_PAID_BACK:
            return " (in every replication)"
        low, high = (min(years), max(years)) if years else (0.0, 0.0)
        span = f"{low:.0f}" if low == high else f"{low:.0f}–{high:.0f}"
        if len(years) == n and not ahead_mean:
            return f" (each replication: {span})" if low == high else f" (replications: {span})"
        parts = ([f"{ahead} ahead throughout"] if ahead else []) + (
            [f"{len(years)} behind at first, paid back in {span}"] if years else []) + (
            [f"{never} not paid back within the run"] if never else [])
        lead = "the mean cumulative profit difference was never behind; " if ahead_mean else ""
        return f" ({lead}of {n} replications: {', '.join(parts)})"


SERVICE_CHANGES = ("service", "dated service changes", "strategy")  # what makes a brand's service a policy


def is_service_policy(changes: tuple[str, ...] | None) -> bool:
    """Whether what differs for a brand (:func:`brand_differences`' words; None when not known) changes its service
    settings, so that its service spending is a policy's cost (unknown counts as a policy, as before it was said)."""
    return changes is None or any(c in SERVICE_CHANGES for c in changes)
_BRAND_SETTINGS = {  # a brand's settings (``sim.scenario.Brand``), as a verdict names them when they differ
    "service": "service", "strategy": "strategy", "launch": "launch", "price": "price", "price_index": "prices",
    "discount": "discount", "models": "model lines", "initial_fleet_share": "initial fleet",
    "new_car_margin": "new-car margin", "prestige": "prestige", "defects_per_car_year": "reliability",
    "awareness": "awareness", "awareness_max": "awareness", "awareness_ramp_months": "awareness", "dealers": "dealers",
    "dealer_capacity": "dealers", "word_of_mouth": "word of mouth"}
_DATED = {"service": "dated service changes", "price": "dated prices", "price_index": "dated prices",
          "discount": "dated prices", "dealers": "dated dealers", "dealer_capacity": "dated dealers"}
_NOT_THE_MARKET = ("name", "question", "description", "extends", "brands", "simulation")


def brand_differences(base: dict, other: dict, brand: str) -> list[str]:
    """What differs in ``brand``'s settings between two scenarios (dicts: ``Scenario.model_dump(mode="json")``), in
    words and in the order of the schema: "service", "discount", "model lines", "dated service changes" (a timeline
    entry that changes service levers) ... Empty when the brand is the same, or missing from either; ["the whole
    brand"] when it is in only one."""
    a, b = base.get("brands", {}).get(brand), other.get("brands", {}).get(brand)
    if a is None or b is None:
        return [] if a is b else ["the whole brand"]
    out: list[str] = []
    for key in dict.fromkeys([*a, *b]):
        if a.get(key) == b.get(key):
            continue
        if key == "timeline":
            entries = [{k: v for k, v in e.items() if v not in (None, {}, [])} for e in (a.get(key) or [])]
            others = [{k: v for k, v in e.items() if v not in (None, {}, [])} for e in (b.get(key) or [])]
            changed = [e for e in entries if e not in others] + [e for e in others if e not in entries]
            labels = [_DATED.get(k, f"dated {k}") for e in changed for k in e if k not in ("date", "note")]
        else:
            labels = [_BRAND_SETTINGS.get(key, key)]
        out += [label for label in dict.fromkeys(labels) if label not in out]
    return out


def market_differences(base: dict, other: dict) -> list[str]:
    """The settings outside the brands that differ between two scenarios (the market, choice, costs ...: top-level
    sections of ``Scenario``), and brands in only one of them ("brands: Audi"): a comparison of two markets
    rather than of one policy. Names, questions and run settings (``simulation``) are left out."""
    keys = [k for k in dict.fromkeys([*base, *other]) if k not in _NOT_THE_MARKET and base.get(k) != other.get(k)]
    a, b = base.get("brands", {}), other.get("brands", {})
    only = [brand for brand in [*a, *b] if (brand in a) != (brand in b)]
    return keys + ([f"brands: {', '.join(only)}"] if only else [])


def changed_brands(base: dict, other: dict) -> list[str]:
    """The brands both scenarios have whose settings differ (levers, timeline, strategy, prices ...): where a policy
    was changed. ``base`` and ``other`` are scenarios as dicts (``Scenario.model_dump(mode="json")``, a manifest's
    ``scenario``)."""
    a, b = base.get("brands", {}), other.get("brands", {})
    return [brand for brand in a if brand in b and a[brand] != b[brand]]


def verdict(base: pd.DataFrame, other: pd.DataFrame, base_name: str, other_name: str,
            brand: str | None = None, candidates: list[str] | None = None,
            scenarios: tuple[dict, dict] | None = None) -> Verdict | None:
    """The :class:`Verdict` of a comparison, oriented as the effect of the policy: where the brand's service
    settings differ (or what differs is not known), the scenario that spent more on its service against the one that
    spent less; otherwise the compared scenario against the base.

    Args:
        base, other: ``brand_year`` tables of all replications of the base and the compared scenario.
        base_name, other_name: their names.
        brand: the brand judged (default: of ``candidates``, or of every brand when none is given or none is
            present, the one whose cumulative service spending differs most, else whose last-year sales share
            differs most).
        candidates: the brands whose settings differ (default: :func:`changed_brands` of ``scenarios``).
        scenarios: the base and the compared scenario as dicts (``Scenario.model_dump(mode="json")``), to say
            what differs (:func:`brand_differences`, :func:`market_differences`); None: not said.

    Returns:
        The verdict, or None when the scenarios have no brand-year in common.
    """
    base, other = common(base, other)
    if base.empty:
        return None
    cols = ["sales_share", "sales", "profit", "service_cost"]
    diff = other[PAIR].assign(**{c: other[c].to_numpy(float) - base[c].to_numpy(float) for c in cols})
    first, last = int(diff["year"].min()), int(diff["year"].max())
    totals = diff.groupby("brand", sort=False)[["service_cost"]].sum() / diff["replication"].nunique()
    if brand is None:
        if candidates is None and scenarios is not None:
            candidates = changed_brands(*scenarios)
        pool = [b for b in candidates or [] if b in totals.index] or list(totals.index)
        spend = totals.loc[pool, "service_cost"].abs()
        if spend.max() > 0.5:  # half a dollar over the run: a difference, not rounding
            brand = str(spend.idxmax())
        else:
            final = diff[diff["year"] == last].groupby("brand", sort=False)["sales_share"].mean().abs()
            brand = str(final.reindex(pool).fillna(0).idxmax())
    changes, market, also = None, (), ()
    if scenarios is not None:
        a, b = scenarios
        changes = tuple(brand_differences(a, b, brand))
        market = tuple(market_differences(a, b))
        also = tuple(f"{x} ({', '.join(brand_differences(a, b, x))})" for x in changed_brands(a, b) if x != brand)
    differs = abs(totals.loc[brand, "service_cost"]) > 0.5
    sign = -1.0 if is_service_policy(changes) and totals.loc[brand, "service_cost"] < 0 else 1.0
    d = diff[diff["brand"] == brand].sort_values(["replication", "year"])
    d = d.assign(**{c: sign * d[c] for c in cols})
    per = d.groupby("replication")
    profit, cost = per["profit"].sum(), per["service_cost"].sum()
    npv = (d["profit"] * discount_factors(d["year"], first)).groupby(d["replication"]).sum()
    share = d[d["year"] == last].set_index("replication")["sales_share"]
    roi = ratio_interval(profit, cost) if differs else (float("nan"),) * 3
    share_mean, low, high = mean_interval(share)
    low, high, clipped = clip(low, high, (-1.0, 1.0))
    mean_cum = d.groupby("year")["profit"].mean().cumsum()
    _, label = payback_of(mean_cum.index.to_numpy(), mean_cum.to_numpy())
    each = [payback_of(g["year"].to_numpy(), g["profit"].cumsum().to_numpy()) for _, g in per]
    return Verdict(policy=other_name if sign > 0 else base_name, without=base_name if sign > 0 else other_name,
                   brand=brand, first=first, last=last, n=int(d["replication"].nunique()), spending_differs=differs,
                   share=(share_mean, low, high), sales=mean_interval(per["sales"].sum()),
                   profit=mean_interval(profit), service_cost=mean_interval(cost), roi=roi,
                   npv=mean_interval(npv), payback=label, payback_years=tuple(y for y, _ in each),
                   share_clipped=clipped, payback_labels=tuple(t for _, t in each), changes=changes,
                   market_changes=market, also_changed=also)


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

    def verdict(self, name: str) -> Verdict | None:
        """:func:`verdict` of scenario ``name`` against the base (oriented as the effect of the policy)."""
        base, other = (self.runs[n][0].model_dump(mode="json") for n in (self.base, name))
        return verdict(self.brand_year(self.base), self.brand_year(name), self.base, name, scenarios=(base, other))

    def headline(self) -> list[str]:
        """Each compared scenario's verdict in words, then a warning when there are too few replications
        (``sim.compare_report.verdict_headline``)."""
        from sim.compare_report import verdict_headline

        return verdict_headline({name: self.verdict(name) for name in self.others},
                                len(self.runs[self.base][1]))

    def tables(self) -> list[dict]:
        """Two tables per scenario other than the base: share and loyalty differences, then the cumulative profit
        difference and the payback year, with 95% intervals (``sim.compare_report.summary_tables``)."""
        from sim.compare_report import summary_tables

        return [t for name in self.others for t in summary_tables(self, name)]
