"""The app's controls: what each lever is, what it costs and what the Lexus case claims about it.

A :class:`Lever` is one brand-level control of the browser app (``sim/app.py``): a scenario field (a dotted path
with ``{brand}`` for the chosen brand, handed to :func:`sim.scenario_files.load_scenario` as a ``--set`` override so the
scenario schema validates every slider value), its range, and a function that explains it in plain language with
the scenario's own costs and the chosen brand's own numbers. The texts beside the other controls and under each
chart are here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.attribution import list_price_at
from sim.formats import money, number
from sim.scenario import Scenario, year_month_index


@dataclass(frozen=True)
class Lever:
    """One brand-level control. ``path`` is the scenario field, with ``{brand}`` for the chosen brand.

    Attributes:
        key: the field's name in ``Brand.service`` or ``Brand`` (e.g. ``"loaner_cars"``, ``"price_index"``).
        label: what the control says, in words and units.
        kind: ``"int"``, ``"float"`` or ``"bool"`` (a slider, a slider, a switch).
        path: the dotted scenario path, e.g. ``"brands.{brand}.service.loaner_cars"``.
        explain: (scenario, brand) -> one paragraph: what the lever is, what it costs (the scenario's costs), the
            case's claim, and where it matters the brand's own numbers.
        min, max, step: the slider's range and step, in the field's units (ignored for switches).
        main: shown up front (else under "More levers").
    """

    key: str
    label: str
    kind: str
    path: str
    explain: Callable[[Scenario, str], str]
    min: float = 0
    max: float = 1
    step: float = 1
    main: bool = True


def lexus_case(sc: Scenario) -> bool:
    """True for the Lexus case's scenarios (a brand named Lexus): only they quote the case's Lexus claims."""
    return "Lexus" in sc.brands


def dollars(sc: Scenario) -> str:
    """The unit money is written in: "1989 dollars", or the scenario's own ``market.price_year``."""
    return f"{sc.market.price_year} dollars"


def explain_complimentary(sc: Scenario, brand: str) -> str:
    """Complimentary maintenance: the visits' price forgone per car-year (the scenario's dollars), and in the Lexus
    case its 1989 choice."""
    c, iv = sc.costs, sc.service_events.maintenance_interval_months
    forgone = 12 / iv * c.maintenance_price
    case = (" Case: Lexus included it from 1989, so owners kept coming back to a dealer who looked after them."
            if lexus_case(sc) else " The idea: owners keep coming back to a dealer who looks after them.")
    return (f"Scheduled maintenance (a visit every {iv:g} months: oil, tires, battery, brakes) is free for this many "
            f"months after purchase. Cost: the owner no longer pays {money(c.maintenance_price)} a visit, so the "
            f"brand forgoes about {money(forgone)} per car-year ({dollars(sc)}) while it lasts (the "
            f"{money(c.maintenance_cost)} visit is paid either way).{case}")


def explain_dealer_service_quality(sc: Scenario, brand: str) -> str:
    """Dealer service quality: its cost per visit per unit of quality; in the Lexus case, J.D. Power's CSI ranking."""
    case = (" Case: Lexus dealers ranked first in J.D. Power's customer satisfaction index (1992-1993)."
            if lexus_case(sc) else "")
    return (f"How well a routine dealer visit goes, from 0 (long waits, repeat visits) to 1 (excellent). Cost: "
            f"{money(sc.costs.service_quality_cost)} extra per visit per unit of quality.{case}")


def explain_loaner(sc: Scenario, brand: str) -> str:
    """Loaner cars: their cost per repair visit."""
    return (f"A courtesy car during every repair visit, so the owner is never left without a car. Cost: "
            f"{money(sc.costs.loaner_cost)} per repair visit. Case: a repair becomes proof that the brand cares.")


def explain_roadside(sc: Scenario, brand: str) -> str:
    """Roadside rescue: the cost per breakdown of each of the four levels."""
    r = sc.costs.rescue_cost
    return (f"Help when the car breaks down: 0 none, 1 tow truck, 2 premium (fast, alternative transport), "
            f"3 'helicopter' (whatever it takes). Cost per breakdown: {', '.join(money(x) for x in r)} for levels "
            "0-3. Case: stories of stranded owners rescued travel by word of mouth.")


def explain_take_back(sc: Scenario, brand: str) -> str:
    """The take-back guarantee: its cost per car taken back."""
    return (f"Empowered staff may take back a very unhappy owner's car and replace it. Cost: "
            f"{money(sc.costs.take_back_cost)} per take-back: rare but expensive. Case: the angriest owners become "
            "advocates.")


def explain_goodwill(sc: Scenario, brand: str) -> str:
    """Proactive goodwill: a fix costs the repair plus ``goodwill_cost`` and earns nothing (``sim/finance.py``)."""
    c = sc.costs
    return (f"Share of defects found and fixed before the owner notices. Cost per fix: the repair's parts and "
            f"labour ({money(c.repair_cost)}) plus {money(c.goodwill_cost)} for finding the car and fetching the "
            f"owner, {money(c.repair_cost + c.goodwill_cost)} in all; the owner pays nothing, even out of warranty "
            f"(where a repair the owner reports earns {money(c.repair_price)}). Avoiding a bad experience instead of "
            "recovering from it.")


def explain_complaints(sc: Scenario, brand: str) -> str:
    """Fast complaint resolution: its cost per complaint resolved (Dillard & Bates), and its ceiling: the scenario
    resolves a share of the brand's complaints in 90-180 days (no control here), and the two add up to at most 1."""
    slow = sc.brands[brand].service.complaint_resolution_slow
    return (f"Chance a complaint is resolved within 90 days (later resolution restores less satisfaction; "
            f"Dillard & Bates). Cost: {money(sc.costs.complaint_cost)} per complaint resolved. The scenario resolves "
            f"another {number(slow, 2)} of {brand}'s complaints in 90-180 days, so at most {number(1 - slow, 2)} can "
            "be resolved within 90 days.")


def explain_defects(sc: Scenario, brand: str) -> str:
    """Reliability: the brand's default defects per car-year (not service quality); the lines that set their own;
    in the Lexus case, the 1991 J.D. Power initial quality."""
    own = [f"{line.name} {number(line.defects_per_car_year, 2)}" for line in sc.brands[brand].models
           if line.defects_per_car_year is not None]
    lines = (f" Model lines may set their own rate, which this does not move: {brand}'s {', '.join(own)}."
             if own else f" Model lines may set their own rate; none of {brand}'s does.")
    return ("Reliability: unscheduled repair visits per car-year of a new car (breakdowns are a share of "
            "them), the brand's default for its model lines." + lines + " Fewer defects means fewer bad "
            "experiences to recover from." + (" Case: the 1991 Lexus had the best initial quality (J.D. Power)."
                                              if lexus_case(sc) else ""))


def price_month(sc: Scenario, brand: str) -> int:
    """The model month at which the price lever quotes the brand's list price: its launch, or the first month."""
    launch = sc.brands[brand].launch
    return max(0, year_month_index(launch, sc.market.start_year)) if launch else 0


def explain_price_index(sc: Scenario, brand: str) -> str:
    """Price level: the brand's mean list price at launch (the scenario's dollars) at this level, and who is
    sensitive to it."""
    spec, month = sc.brands[brand], price_month(sc, brand)
    price = list_price_at(spec.model_dump(mode="json"), month, sc.market.start_year)
    when = f"{sc.market.start_year + month // 12}-{month % 12 + 1:02d}"
    lines = f"{len(spec.models)} model lines" if spec.models else "one model line"
    later = (" Price-index changes in its timeline replace this level from their dates."
             if any(c.price_index is not None for c in spec.timeline) else "")
    listed = f"{money(price)} on average" if price is not None else "nothing (no line on sale then)"
    return (f"Multiplies every list price of {brand}'s {lines}, as an exchange-rate or cost shock would (x1.00 = "
            f"the prices as listed). At x{spec.price_index:.2f}, its lines on sale at {when} list at {listed}, "
            f"{dollars(sc)}; each line's price is judged against the market's reference price "
            f"({money(sc.market.reference_price)}) times its price class.{later} Value-seekers and aspirational "
            "buyers are price-sensitive; prestige buyers hardly.")


def explain_discount(sc: Scenario, brand: str) -> str:
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
    Lever("price_index", "Price level (x list prices)", "float", "brands.{brand}.price_index", explain_price_index,
          0.5, 2.0, 0.05),
    Lever("discount", "Discount (share of price)", "float", "brands.{brand}.discount", explain_discount, 0, 0.3, 0.01),
    Lever("proactive_goodwill", "Proactive goodwill (0-1)", "float", "brands.{brand}.service.proactive_goodwill",
          explain_goodwill, 0, 1, 0.05, main=False),
    Lever("complaint_resolution_fast", "Complaints resolved within 90 days (0-1)", "float",
          "brands.{brand}.service.complaint_resolution_fast", explain_complaints, 0, 1, 0.05, main=False),
    Lever("defects_per_car_year", "Defects per car-year (reliability)", "float",
          "brands.{brand}.defects_per_car_year", explain_defects, 0, 2, 0.01, main=False),
)
LEVER_BY_KEY = {lever.key: lever for lever in LEVERS}


FIELD_WORDS = {"complaint_resolution_slow": "the share of complaints resolved in 90-180 days"}  # fields, no control


def in_words(reason: str, sc: Scenario, brand: str) -> str:
    """A schema error's reason with field names in the app's words: a lever's field as its control's label, any
    other field of the brand as what it is and its value in the scenario, marked as having no control here
    ("Complaints resolved within 90 days + the share of complaints resolved in 90-180 days (0.20 in the scenario;
    no control here) must not exceed 1")."""
    spec = sc.brands[brand]
    words = {lever.key: lever.label.split(" (")[0] for lever in LEVERS}

    def name(match: re.Match) -> str:
        field = match.group(0)
        if field in words:
            return words[field]
        value = getattr(spec.service, field) if hasattr(spec.service, field) else getattr(spec, field)
        shown = number(value, 2) if isinstance(value, float) else str(value)
        return f"{FIELD_WORDS.get(field, field.replace('_', ' '))} ({shown} in the scenario; no control here)"
    fields = sorted({*type(spec.service).model_fields, *type(spec).model_fields}, key=len, reverse=True)
    pattern = r"\b(" + "|".join(re.escape(f) for f in fields if "_" in f or f in words) + r")\b"
    return re.sub(pattern, name, reason)


def lever_text(lever: Lever, value: Any) -> str:
    """A lever's value as its control shows it: ``on``/``off``, ``x1.05`` for the price level, ``36``, ``0.75``."""
    if lever.kind == "bool":
        return "on" if value else "off"
    if lever.key == "price_index":
        return f"x{float(value):.2f}"
    if lever.kind == "int":
        return f"{int(value)}"
    return number(value, 2)


LAG_EXPLAIN = ("Months between an incumbent noticing it has lost share and its new service policy taking effect "
               "(brands whose strategy is 'respond to share loss': {names}). Case: the incumbents took their "
               "customers for granted and answered late.")
BUYERS_EXPLAIN = ("Households simulated. Results are scaled to the real market ({real:,} cars in use); more buyers "
                  "means less noise and slower steps.")
BASELINE_EXPLAIN = ("Current run minus the pinned baseline, in the last complete year both runs have (means over the "
                    "replications). On the charts the baseline is the dashed, faded line of each brand. Pin another "
                    "run to move the baseline; clear it to draw the current run alone.")
REPLICATIONS_EXPLAIN = ("Independent runs of the same market with different random numbers (the seed's replications, "
                        "as `run_sim.py run -r` runs them). With more than one, the charts draw the mean and a "
                        "shaded 5-95% band: a difference inside the band may be luck. Each one adds a run's time to "
                        "the first step; the conquest flows and the network show the first replication.")
EXPORT_EXPLAIN = ("Series: every number the charts draw, one row per year (and month), brand, metric and replication. "
                  "Scenario: the current settings as a file that `python run_sim.py run FILE` runs as it is (it "
                  "extends the chosen scenario; seed, buyers and replications included), and reproduces these "
                  "numbers. Comparison: current and baseline year by year. App state: the settings, brand and "
                  "baseline, to load again here later (the runs are re-simulated: same settings, same numbers). "
                  "Each chart has its own PNG and SVG buttons.")
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
