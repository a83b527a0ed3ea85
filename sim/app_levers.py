"""The app's controls: what each lever is, what it costs and what the Lexus case claims about it.

A :class:`Lever` is one brand-level control of the browser app (``sim/app.py``): a scenario field (a dotted path
with ``{brand}`` for the chosen brand, handed to :func:`sim.scenario_files.load_scenario` as a ``--set`` override so the
scenario schema validates every slider value), its range, and a function that explains it in plain language with
the scenario's own costs. The texts beside the other controls and under each chart are here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.formats import money, number
from sim.scenario import Scenario


@dataclass(frozen=True)
class Lever:
    """One brand-level control. ``path`` is the scenario field, with ``{brand}`` for the chosen brand.

    Attributes:
        key: the field's name in ``BrandSpec.service`` or ``BrandSpec`` (e.g. ``"loaner_cars"``, ``"price"``).
        label: what the control says, in words and units.
        kind: ``"int"``, ``"float"`` or ``"bool"`` (a slider, a slider, a switch).
        path: the dotted scenario path, e.g. ``"brands.{brand}.service.loaner_cars"``.
        explain: scenario -> one paragraph: what the lever is, what it costs (the scenario's costs), the case's claim.
        min, max, step: the slider's range and step, in the field's units (ignored for switches).
        main: shown up front (else under "More levers").
    """

    key: str
    label: str
    kind: str
    path: str
    explain: Callable[[Scenario], str]
    min: float = 0
    max: float = 1
    step: float = 1
    main: bool = True


def explain_complimentary(sc: Scenario) -> str:
    """Complimentary maintenance: the visits' price forgone per car-year (1989 $), Lexus's 1989 choice."""
    c, iv = sc.costs, sc.service_events.maintenance_interval_months
    forgone = 12 / iv * c.maintenance_price
    return (f"Scheduled maintenance (a visit every {iv:g} months: oil, tires, battery, brakes) is free for this many "
            f"months after purchase. Cost: the owner no longer pays {money(c.maintenance_price)} a visit, so the "
            f"brand forgoes about {money(forgone)} per car-year while it lasts (the {money(c.maintenance_cost)} "
            "visit is paid either way). Case: Lexus included it from 1989, so owners kept coming back to a dealer "
            "who looked after them.")


def explain_dealer_service_quality(sc: Scenario) -> str:
    """Dealer service quality: its cost per visit per unit of quality; J.D. Power's CSI ranking."""
    return (f"How well a routine dealer visit goes, from 0 (long waits, repeat visits) to 1 (excellent). Cost: "
            f"{money(sc.costs.service_quality_cost)} extra per visit per unit of quality. Case: Lexus dealers ranked "
            "first in J.D. Power's customer satisfaction index (1992-1993).")


def explain_loaner(sc: Scenario) -> str:
    """Loaner cars: their cost per repair visit."""
    return (f"A courtesy car during every repair visit, so the owner is never left without a car. Cost: "
            f"{money(sc.costs.loaner_cost)} per repair visit. Case: a repair becomes proof that the brand cares.")


def explain_roadside(sc: Scenario) -> str:
    """Roadside rescue: the cost per breakdown of each of the four levels."""
    r = sc.costs.rescue_cost
    return (f"Help when the car breaks down: 0 none, 1 tow truck, 2 premium (fast, alternative transport), "
            f"3 'helicopter' (whatever it takes). Cost per breakdown: {', '.join(money(x) for x in r)} for levels "
            "0-3. Case: stories of stranded owners rescued travel by word of mouth.")


def explain_take_back(sc: Scenario) -> str:
    """The take-back guarantee: its cost per car taken back."""
    return (f"Empowered staff may take back a very unhappy owner's car and replace it. Cost: "
            f"{money(sc.costs.take_back_cost)} per take-back: rare but expensive. Case: the angriest owners become "
            "advocates.")


def explain_goodwill(sc: Scenario) -> str:
    """Proactive goodwill: its cost per fix."""
    return (f"Share of defects found and fixed before the owner notices. Cost: {money(sc.costs.goodwill_cost)} "
            "per fix. Avoiding a bad experience instead of recovering from it.")


def explain_complaints(sc: Scenario) -> str:
    """Fast complaint resolution: its cost per complaint resolved (Dillard & Bates)."""
    return (f"Chance a complaint is resolved within 90 days (later resolution restores less satisfaction; "
            f"Dillard & Bates). Cost: {money(sc.costs.complaint_cost)} per complaint resolved. Fast + slow "
            "resolution cannot exceed 1.")


def explain_defects(sc: Scenario) -> str:
    """Reliability: defects per car-year (not service quality)."""
    return ("Reliability: unscheduled repair visits per car-year of a new car (breakdowns are a share of "
            "them). Fewer defects means fewer bad experiences to recover from. Case: the 1991 Lexus had the best "
            "initial quality (J.D. Power).")


def explain_price(sc: Scenario) -> str:
    """Price: the market's reference price (1989 $) and who is sensitive to it."""
    return (f"Average transaction price before discount, 1989 dollars (the market's reference price is "
            f"{money(sc.market.reference_price)}). Value-seekers and aspirational buyers are price-sensitive; "
            "prestige buyers hardly.")


def explain_discount(sc: Scenario) -> str:
    """Discount: a price cut that erodes prestige, unlike a perk."""
    return ("A price cut as a share of list price. It wins price-sensitive buyers but erodes prestige, and "
            "status buyers dislike it. A complimentary perk never touches prestige: compare the two.")


LEVERS: tuple[Lever, ...] = (
    Lever("complimentary_maintenance_months", "Complimentary maintenance (months)", "int",
          "brands.{brand}.service.complimentary_maintenance_months", explain_complimentary, 0, 120, 6),
    Lever("dealer_service_quality", "Dealer service quality (0-1)", "float",
          "brands.{brand}.service.dealer_service_quality", explain_dealer_service_quality, 0, 1, 0.05),
    Lever("loaner_cars", "Loaner cars", "bool", "brands.{brand}.service.loaner_cars", explain_loaner),
    Lever("roadside_level", "Roadside rescue level (0-3)", "int", "brands.{brand}.service.roadside_level",
          explain_roadside, 0, 3, 1),
    Lever("take_back_guarantee", "Take-back guarantee", "bool", "brands.{brand}.service.take_back_guarantee",
          explain_take_back),
    Lever("price", "Price (1989 $)", "int", "brands.{brand}.price", explain_price, 10_000, 80_000, 500),
    Lever("discount", "Discount (share of price)", "float", "brands.{brand}.discount", explain_discount, 0, 0.3, 0.01),
    Lever("proactive_goodwill", "Proactive goodwill (0-1)", "float", "brands.{brand}.service.proactive_goodwill",
          explain_goodwill, 0, 1, 0.05, main=False),
    Lever("complaint_resolution_fast", "Complaints resolved within 90 days (0-1)", "float",
          "brands.{brand}.service.complaint_resolution_fast", explain_complaints, 0, 1, 0.05, main=False),
    Lever("defects_per_car_year", "Defects per car-year (reliability)", "float",
          "brands.{brand}.defects_per_car_year", explain_defects, 0, 2, 0.01, main=False),
)
LEVER_BY_KEY = {lever.key: lever for lever in LEVERS}


def lever_text(lever: Lever, value: Any) -> str:
    """A lever's value as its control shows it: ``on``/``off``, ``$38.5k`` for the price, ``36``, ``0.75``."""
    if lever.kind == "bool":
        return "on" if value else "off"
    if lever.key == "price":
        return money(value)
    if lever.kind == "int":
        return f"{int(value)}"
    return number(value, 2)


LAG_EXPLAIN = ("Months between an incumbent noticing it has lost share and its new service policy taking effect "
               "(brands whose strategy is 'respond to share loss': {names}). Case: the incumbents took their "
               "customers for granted and answered late.")
BUYERS_EXPLAIN = ("Households simulated. Results are scaled to the real market ({real:,} cars in use); more buyers "
                  "means less noise and slower steps.")
SEED_EXPLAIN = "The random seed. Change it to see how much of a difference is luck rather than policy."

CHART_NOTES = {
    "share": "Each brand's share of new luxury-car sales over the last 12 months. The dotted line is the selected "
             "brand's launch.",
    "loyalty": "Repurchase loyalty: of the owners who replaced their car that year, the share who bought the same "
               "brand again (churn = 1 - loyalty). Left blank while fewer than 30 simulated owners replaced.",
    "flows": "Who takes buyers from whom: rows are the brand owned before, columns the brand bought (thousands of "
             "real buyers). The diagonal (loyal repurchases) is left blank.",
    "csi": "Customer satisfaction index after service events, 0-1000 (500 = neutral), per year.",
    "money": "Left: the service P&L (service revenue - service cost, including every lever's cost) per year. Right: "
             "cumulative profit (new-car margin + service margin) since the start.",
    "network": "A sample of buyers who know each other, coloured by the brand they drive now (grey: not in the "
               "luxury segment at the moment). Stories of good and bad service travel along these ties.",
}
