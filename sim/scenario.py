"""The scenario: every parameter of a run, validated once at the edge.

A scenario is a TOML file (``scenarios/*.toml``) read into :class:`Scenario`, a pydantic model. Inside the
simulation the scenario is trusted; all checking happens here. A file may ``extends = "other.toml"`` to
inherit another scenario and override only what differs, and any field can be overridden with a dotted path
(``brands.Lexus.service.complimentary_maintenance_months=0``), type-checked like the file.

Dates are ``"YYYY-MM"`` strings; money is 1989 US dollars; rates say their period in the field description.

A scenario has these sections:

* ``market`` (:class:`Market`): the years simulated, the segment's size, growth and leasing, and the buyer
  segments (:class:`Segment`, by name);
* ``brands`` (:class:`Brand`, by name): price, quality, prestige, awareness, dealers, the service policy
  (:class:`ServiceLevers`), its dated changes (``timeline``: :class:`PolicyChange`) and its :class:`Strategy`;
* the mechanisms' parameters, shared by all brands: ``service_events`` (:class:`ServiceEvents`),
  ``satisfaction`` (:class:`Satisfaction`), ``word_of_mouth`` (:class:`WordOfMouth`), ``choice``
  (:class:`Choice`) and ``costs`` (:class:`Costs`);
* ``simulation`` (:class:`Simulation`): the population simulated, the replications and the root seed.

Entry points: :func:`load_scenario` (a file by name or path, with ``--set`` overrides), :func:`validate` (a raw
dict, e.g. a design point of a sweep), :func:`apply_overrides` and :func:`set_values` (dotted-path changes to a
raw dict before validating it) and :func:`resolve_path` (find a TOML file). Bad input raises
:class:`ScenarioError`, one line per problem, each of the form ``SOURCE: field.path: reason``, e.g.
``scenarios/x.toml: brands.Lexus.service.loaner_carz: unknown field (did you mean 'loaner_cars'?)``.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
YearMonth = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="a date as 'YYYY-MM'")]
MAX_BRANDS = 16  # awareness is a 16-bit mask per buyer


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def year_month_index(date: str, start_year: int) -> int:
    """Months from January of ``start_year`` to ``date``: the model's month index of that date.

    Args:
        date: ``"YYYY-MM"`` (already validated: :data:`YearMonth`).
        start_year: the simulation's first year (``market.start_year``).

    Returns:
        ``(year - start_year) * 12 + month - 1``: 0 for January of ``start_year``, negative before it.
    """
    year, month = (int(part) for part in date.split("-"))
    return (year - start_year) * 12 + (month - 1)


# --------------------------------------------------------------------------------------------------------
# Service policy: the levers a brand pulls, each with an effect on the owner and a cost to the brand.
# --------------------------------------------------------------------------------------------------------
class ServiceLevers(_Strict):
    """One brand's service policy at one time: the levers, each with an effect on the owner and a cost.

    Every field has a default, so a timeline entry or a strategy's response names only the levers it changes.
    ``complaint_resolution_fast + complaint_resolution_slow`` must not exceed 1 (the rest are never resolved).
    """

    dealer_service_quality: Prob = Field(
        0.5, description="How well a routine dealer visit goes, 0 (poor) to 1 (excellent).")
    complimentary_maintenance_months: int = Field(
        0, ge=0, le=120,
        description="Months from purchase during which scheduled maintenance (tires, battery, brakes) is free to "
                    "the owner; the brand pays.",
    )
    loaner_cars: bool = Field(False, description="A courtesy car during every repair visit (the brand pays per visit).")
    roadside_level: int = Field(
        0, ge=0, le=3,
        description="Roadside rescue for breakdowns: 0 none, 1 tow truck, 2 premium (fast, alternative transport), "
                    "3 'helicopter' (whatever it takes).",
    )
    take_back_guarantee: bool = Field(
        False, description="Empowered staff take back the car of a very unhappy owner and replace it (expensive, "
                           "rare, strong recovery)."
    )
    proactive_goodwill: Prob = Field(
        0.0, description="Share of defects found and fixed before the owner reports them (and strangers' tail "
                         "lights fixed for free)."
    )
    recall_handling: Prob = Field(
        0.3, description="How well recalls are handled, 0 (letter in the mail) to 1 (home pickup and return).")
    complaint_resolution_fast: Prob = Field(0.3, description="Probability a complaint is resolved within 90 days.")
    complaint_resolution_slow: Prob = Field(
        0.3, description="Probability a complaint is resolved in 90-180 days (if not within 90).")

    @model_validator(mode="after")
    def _resolution_total(self) -> ServiceLevers:
        if self.complaint_resolution_fast + self.complaint_resolution_slow > 1.0 + 1e-9:
            raise ValueError("complaint_resolution_fast + complaint_resolution_slow must not exceed 1")
        return self


@functools.cache
def _lever_adapter(name: str) -> TypeAdapter:
    field = ServiceLevers.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


def _check_levers(changes: dict[str, Any]) -> dict[str, Any]:
    """Each named lever exists and its value is valid on its own (combinations are checked per brand)."""
    for name, value in changes.items():
        field = ServiceLevers.model_fields.get(name)
        if field is None:
            hint = difflib.get_close_matches(name, list(ServiceLevers.model_fields), n=1)
            raise ValueError(f"unknown service lever '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        try:
            _lever_adapter(name).validate_python(value)
        except ValidationError as exc:
            raise ValueError(f"{name}: {exc.errors()[0]['msg']} (got {value!r})") from None
    return changes


class PolicyChange(_Strict):
    """A dated change to a brand's service policy or price (e.g. BMW free maintenance from 1997-01).

    ``service`` names only the levers that change (each checked on its own here; the policy they give, applied
    in date order, is checked by :class:`Brand`). A change dated at or before the start is in force from month 0.
    """

    date: YearMonth
    note: str = ""
    service: dict[str, Any] = Field(default_factory=dict, description="Service levers that change on this date.")
    discount: float | None = Field(None, ge=0.0, lt=1.0, description="New price discount (fraction of list price).")
    price: float | None = Field(None, gt=0, description="New list price, 1989 USD.")

    @field_validator("service")
    @classmethod
    def _known_levers(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_levers(value)


class Strategy(_Strict):
    """How a brand reacts to the market (:mod:`agents.policies` implements each ``kind``).

    ``fixed`` follows its timeline only; ``respond_to_share_loss`` is the complacent incumbent: nothing changes
    until its trailing 12-month sales share falls by ``threshold`` relative to its share in the first simulated
    year, then after ``lag_months`` (at least one) it adopts the ``response`` levers.
    """

    kind: Literal["fixed", "respond_to_share_loss"] = "fixed"
    threshold: Prob = Field(
        0.2, description="Relative loss of 12-month sales share that triggers a response (0.2 = lost a fifth).")
    lag_months: int = Field(
        24, ge=0, le=240, description="Months between noticing the loss and the new policy taking effect.")
    response: dict[str, Any] = Field(default_factory=dict, description="Service levers adopted when responding.")

    @field_validator("response")
    @classmethod
    def _known_levers(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_levers(value)


class Brand(_Strict):
    """One brand as it starts: product, price, prestige, awareness, dealers, its service policy and how it changes.

    ``price`` is the only required field. The brands on sale at the start (``launch`` omitted or not after
    January of ``market.start_year``) must have ``initial_fleet_share`` summing to 1 (checked by
    :class:`Scenario`). ``timeline`` must be in date order, and each change, applied to the policy in force by
    then, must give a valid :class:`ServiceLevers`; so must ``strategy.response`` applied after the last one.
    """

    launch: YearMonth | None = Field(
        None, description="First month on sale; omitted = already on sale at the start.")
    initial_fleet_share: Prob = Field(
        0.0, description="Share of the luxury cars in use at the start (incumbents).")
    price: float = Field(gt=0, description="Average transaction price before discount, 1989 USD.")
    discount: float = Field(
        0.0, ge=0.0, lt=1.0, description="Price cut as a fraction of list price; erodes prestige.")
    new_car_margin: Prob = Field(
        0.15, description="Brand's gross margin on a new car, fraction of the discounted price.")
    prestige: Prob = Field(0.5, description="Brand equity at the start, 0-1.")
    defects_per_car_year: NonNeg = Field(
        0.8, description="Unscheduled repair visits per car-year for a new car (product quality).")
    awareness: Prob = Field(
        0.9, description="Share of buyers aware of the brand at launch (or at the start for incumbents).")
    awareness_max: Prob = Field(0.95, description="Share aware once marketing has saturated.")
    awareness_ramp_months: float = Field(
        24.0, gt=0, description="Months for marketing to close ~63% of the gap to awareness_max.")
    dealers: int = Field(300, gt=0, description="US dealerships (convenience of buying and of service).")
    word_of_mouth: NonNeg = Field(
        1.0, description="Multiplier on what others hear about this brand by word of mouth (1 = as told; 0 = its "
                         "owners' stories and cars reach no one: the attribution's word-of-mouth counterfactual).")
    service: ServiceLevers = Field(default_factory=ServiceLevers)
    timeline: list[PolicyChange] = Field(default_factory=list)
    strategy: Strategy = Field(default_factory=Strategy)

    @field_validator("timeline")
    @classmethod
    def _in_order(cls, value: list[PolicyChange]) -> list[PolicyChange]:
        dates = [change.date for change in value]
        if dates != sorted(dates):
            raise ValueError(f"timeline dates must be in order, got {dates}")
        return value

    @model_validator(mode="after")
    def _policies_valid_in_sequence(self) -> Brand:
        """Each timeline change, applied to the brand's policy as it stands by then, gives a valid policy;
        so does the strategy's response applied to the last one."""
        levers = self.service.model_dump()
        steps = [(f"timeline {c.date}", c.service) for c in self.timeline]
        steps.append(("strategy.response", self.strategy.response))
        for where, changes in steps:
            if not changes:
                continue
            levers = {**levers, **changes}
            try:
                ServiceLevers.model_validate(levers)
            except ValidationError as exc:
                raise ValueError(f"{where}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        return self


# --------------------------------------------------------------------------------------------------------
# Market and buyer segments
# --------------------------------------------------------------------------------------------------------
class Segment(_Strict):
    """A kind of luxury buyer, with its weights in the brand-choice utility.

    Across a market's segments, ``share`` and ``entrant_share`` each sum to 1 (checked by :class:`Market`).
    """

    share: Prob = Field(description="Share of the buyers at the start.")
    entrant_share: Prob = Field(description="Share of new entrants to the luxury segment.")
    prestige_weight: NonNeg = Field(description="Utility per unit of brand prestige (0-1).")
    price_weight: NonNeg = Field(description="Utility lost per unit of log(price / reference price).")
    service_weight: NonNeg = Field(description="Utility per unit of perceived service (satisfaction scale -1..1).")
    perk_weight: NonNeg = Field(
        description="Utility per $1,000 of complimentary maintenance (value-seekers care most).")
    discount_stigma: NonNeg = Field(
        0.0, description="Utility lost per unit of discount (fraction): cheapening hurts status buyers.")
    outside_utility: float = Field(
        description="Utility of leaving the luxury segment at replacement (the outside option).")
    lease_propensity: Prob = Field(
        0.5, description="Probability of leasing rather than buying (scaled by the market lease trend).")


class TimePoint(_Strict):
    """One point of a yearly series (``market.lease_trend``): a value in ``year``."""

    year: int
    value: float


class Market(_Strict):
    """The market: when and for how long, how many luxury households, growth, leasing, and the buyer segments.

    ``segments`` maps a segment name to its :class:`Segment`; at least one, with ``share`` and ``entrant_share``
    each summing to 1. ``lease_trend`` years must be in order and its values lie in [0, 1].
    """

    start_year: int = Field(ge=1900, le=2100, description="The simulation starts in January of this year.")
    years: int = Field(ge=1, le=100, description="Simulated years (monthly steps).")
    segment_households: int = Field(
        gt=0, description="Luxury-car households (cars in use) at the start, real units.")
    annual_growth: float = Field(
        0.0, ge=-0.5, le=0.5, description="Growth of the luxury segment per year (fraction).")
    reference_price: float = Field(
        40000.0, gt=0, description="Price at which the price term of utility is zero, 1989 USD.")
    lease_trend: list[TimePoint] = Field(
        default_factory=list, description="Market lease share by year (linearly interpolated); scales each "
                                          "segment's lease propensity."
    )
    lease_months: tuple[int, int] = Field(
        (24, 36), description="Lease terms are drawn uniformly from this range, months.")
    ownership_months_mean: float = Field(54.0, gt=6, description="Mean months an owned (not leased) car is kept.")
    ownership_shape: float = Field(
        3.0, gt=0.5, description="Weibull shape of ownership length (>1: hazard rises with age).")
    segments: dict[str, Segment]

    @field_validator("segments")
    @classmethod
    def _mix_sums_to_one(cls, value: dict[str, Segment]) -> dict[str, Segment]:
        if not value:
            raise ValueError("at least one segment is needed")
        for attr in ("share", "entrant_share"):
            total = sum(getattr(seg, attr) for seg in value.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"segment {attr}s must sum to 1, got {total:.4f}")
        return value

    @field_validator("lease_trend")
    @classmethod
    def _trend_in_order(cls, value: list[TimePoint]) -> list[TimePoint]:
        years = [p.year for p in value]
        if years != sorted(years):
            raise ValueError(f"lease_trend years must be in order, got {years}")
        if any(not 0 <= p.value <= 1 for p in value):
            raise ValueError("lease_trend values are shares and must lie in [0, 1]")
        return value

    @property
    def months(self) -> int:
        """Months simulated (``years * 12``): the number of model steps."""
        return self.years * 12


# --------------------------------------------------------------------------------------------------------
# Mechanism parameters (shared by all brands)
# --------------------------------------------------------------------------------------------------------
class ServiceEvents(_Strict):
    """How often service events happen and how each is experienced (``sim/service.py``), for all brands.

    Rates: maintenance every ``maintenance_interval_months``; defects at the brand's ``defects_per_car_year``,
    rising with car age; recall campaigns per brand-year. An event's experience is roughly -1..1 (above 0:
    better than ``expectation``): pains are subtracted, reliefs and delights added, as the brand's
    :class:`ServiceLevers` allow.
    """

    maintenance_interval_months: float = Field(6.0, gt=0, description="Months between scheduled maintenance visits.")
    defect_age_growth: NonNeg = Field(0.15, description="Relative rise of the defect rate per year of car age.")
    breakdown_share: Prob = Field(0.12, description="Share of defects that strand the car (roadside rescue).")
    recalls_per_brand_year: NonNeg = Field(0.3, description="Recall campaigns per brand per year.")
    recall_reach: Prob = Field(
        0.5, description="Share of a brand's cars (under 3 years old) a recall campaign covers.")
    expectation: float = Field(
        0.35, ge=0, le=1, description="Service quality a luxury owner takes for granted (routine visit).")
    noise: NonNeg = Field(0.25, description="Standard deviation of the experience of one event.")
    complimentary_delight: NonNeg = Field(0.25, description="Experience bonus of a free maintenance visit.")
    defect_pain: NonNeg = Field(0.45, description="Experience cost of a defect needing a repair visit.")
    loaner_relief: NonNeg = Field(
        0.2, description="Experience restored by a loaner car during a repair (also after a breakdown).")
    goodwill_delight: NonNeg = Field(0.3, description="Experience of a defect fixed before the owner noticed.")
    breakdown_pain: NonNeg = Field(1.0, description="Experience cost of being stranded.")
    rescue_relief: tuple[float, float, float, float] = Field(
        (0.0, 0.3, 0.6, 0.9), description="Experience restored by roadside rescue levels 0-3."
    )
    recall_pain: NonNeg = Field(0.3, description="Experience cost of a recall.")
    recall_relief: NonNeg = Field(
        0.45, description="Experience restored by perfect recall handling (times recall_handling).")


class Satisfaction(_Strict):
    """How an owner's satisfaction with the brand (scale -1..1) moves: events, decay, complaints, take-backs.

    Used by ``sim/satisfaction.py``: a loss-averse update per experience, lazy decay toward ``baseline``,
    complaints below ``complaint_below`` (resolved per the brand's ``complaint_resolution_*`` levers, Dillard &
    Bates), and the take-back and early-replacement thresholds.
    """

    learning_rate: Prob = Field(0.25, description="Weight of one experience in satisfaction (gains).")
    loss_aversion: float = Field(
        2.0, ge=1.0, le=5.0, description="Losses weigh this many times gains (Anderson & Sullivan 1993).")
    decay_months: float = Field(
        12.0, gt=0, description="Months for satisfaction to decay ~63% of the way back to its baseline.")
    new_car: float = Field(0.3, ge=-1, le=1, description="Satisfaction with a just-bought car.")
    baseline: float = Field(0.1, ge=-1, le=1, description="Satisfaction decays toward this level between events.")
    complaint_below: float = Field(
        -0.4, ge=-1, le=1, description="An event leaving satisfaction below this starts a complaint.")
    recovery_fast: float = Field(
        0.7, ge=0, le=2, description="Satisfaction restored by a complaint resolved within 90 days.")
    recovery_slow: float = Field(
        0.45, ge=0, le=2, description="Satisfaction restored by a complaint resolved in 90-180 days.")
    take_back_below: float = Field(
        -0.5, ge=-1, le=1, description="Guarantee brands take the car back from owners below this.")
    take_back_probability: Prob = Field(
        0.5, description="Chance an eligible very unhappy owner is offered (and takes) the take-back.")
    take_back_satisfaction: float = Field(0.7, ge=-1, le=1, description="Satisfaction after a take-back.")
    early_replace_below: float = Field(-0.6, ge=-1, le=1, description="Owners below this may replace their car early.")
    early_replace_probability: Prob = Field(
        0.15, description="Chance an owner below early_replace_below brings replacement forward.")
    repurchase_carryover: Prob = Field(
        0.5, description="Share (0-1) of an owner's satisfaction with their brand carried over to the new car "
                         "when they buy the same brand again; the rest is new_car (switchers start at new_car).")


class WordOfMouth(_Strict):
    """The social network (``sim/network.py``) and what travels on it (``sim/word_of_mouth.py``).

    Buyers are tied within communities of ``community_size`` (a Watts-Strogatz small world of ``degree`` ties
    and ``rewire`` shortcuts); experiences beyond ``tell_above`` become stories that shift contacts' perceived
    service, bad ones ``negativity`` times as much, fading over ``decay_months``.
    """

    degree: int = Field(8, ge=2, le=40, multiple_of=2, description="Social ties per buyer (even: Watts-Strogatz k).")
    rewire: Prob = Field(0.1, description="Watts-Strogatz rewiring probability (small-world shortcuts).")
    community_size: int = Field(
        1000, ge=20, le=100000, description="Buyers per community; ties are drawn within communities.")
    tell_above: NonNeg = Field(0.4, description="Experiences with |value| above this are told to contacts.")
    strength: NonNeg = Field(0.08, description="Shift in a contact's perceived service per unit of experience told.")
    negativity: float = Field(
        1.5, ge=1.0, le=5.0, description="Bad stories travel this many times further than good ones.")
    decay_months: float = Field(24.0, gt=0, description="Months for heard stories to fade ~63%.")
    aware_on_purchase: Prob = Field(
        0.3, description="Chance a shopper knows the brand of each contact's car (the car is seen).")


class Choice(_Strict):
    """The brand-choice utility's terms shared by all segments (``sim/choice.py``), and the slow brand dynamics.

    The segment-specific weights are in :class:`Segment`; the reputation and prestige dynamics
    (``sim/reputation.py``) are set here too: reputation follows owners' satisfaction over
    ``reputation_months``, prestige moves toward a target raised by share gains and lowered by discounts.
    """

    inertia: NonNeg = Field(
        1.5, description="Utility of staying with the current brand (state dependence, Mannering & Winston 1991).")
    satisfaction_loyalty: NonNeg = Field(
        1.5, description="Extra utility of the current brand per unit of the owner's satisfaction (-1..1): "
                         "satisfied owners rebuy, unhappy ones defect.")
    wom_weight: NonNeg = Field(1.0, description="Weight of word of mouth in perceived service.")
    defect_weight: NonNeg = Field(
        0.8, description="Utility lost per unscheduled repair visit per car-year (defects_per_car_year).")
    dealer_weight: NonNeg = Field(0.3, description="Utility per unit of log(dealers / 300).")
    reputation_months: float = Field(
        12.0, gt=0, description="Months over which the brand's service reputation follows its owners' "
                                "satisfaction.")
    prestige_months: float = Field(60.0, gt=0, description="Months for prestige to move ~63% toward its target.")
    prestige_share_weight: NonNeg = Field(
        0.3, description="Prestige gained per unit of sales-share gain over the reference share.")
    prestige_discount_erosion: NonNeg = Field(1.5, description="Prestige lost per unit of discount.")


class Costs(_Strict):
    """What each event costs the brand (and its dealers), 1989 USD, and what owners pay (``sim/finance.py``).

    Brand and dealers are one P&L here: the defaults give paid maintenance and out-of-warranty repairs a margin,
    as service and parts are about half of dealer gross profit (NADA: 47%,
    sim/data/service_and_satisfaction_facts.csv).
    """

    maintenance_cost: NonNeg = Field(
        180.0, description="Parts and labour of a scheduled visit (tires, battery, brakes amortised).")
    maintenance_price: NonNeg = Field(
        320.0, description="What an owner pays for a scheduled visit when it is not complimentary.")
    repair_cost: NonNeg = Field(350.0, description="Cost of a repair visit.")
    repair_price: NonNeg = Field(550.0, description="What an owner pays for a repair out of warranty.")
    warranty_months: int = Field(48, ge=0, description="Repairs within this car age are paid by the brand.")
    loaner_cost: NonNeg = Field(90.0, description="Cost of a loaner car per repair visit.")
    rescue_cost: tuple[float, float, float, float] = Field(
        (0.0, 90.0, 300.0, 1200.0), description="Cost per breakdown by roadside level 0-3.")
    take_back_cost: NonNeg = Field(9000.0, description="Loss on taking back and replacing a car.")
    goodwill_cost: NonNeg = Field(120.0, description="Cost of a proactive fix.")
    recall_cost: NonNeg = Field(180.0, description="Cost of a recall repair.")
    recall_handling_cost: NonNeg = Field(
        150.0, description="Extra cost per recalled car at perfect handling (home pickup).")
    service_quality_cost: NonNeg = Field(
        80.0, description="Extra cost per routine visit per unit of dealer service quality.")
    complaint_cost: NonNeg = Field(250.0, description="Cost of resolving a complaint.")
    discount_rate: Prob = Field(0.1, description="Annual discount rate for customer lifetime value.")


class Simulation(_Strict):
    """How a scenario is simulated: the population, the replications and the root seed (not the market)."""

    buyers: int = Field(
        100_000, ge=100, le=50_000_000,
        description="Buyers simulated at the start (results are scaled to segment_households).")
    replications: int = Field(
        4, ge=1, le=10_000, description="Independent replications (seeds spawned from `seed`).")
    seed: int = Field(20240901, ge=0, description="Root seed of numpy.random.SeedSequence.")
    agent_views: int = Field(
        2000, ge=0, description="Create Mesa BuyerAgent views for all buyers up to this population; larger ones "
                                "create them on demand.")


class Scenario(_Strict):
    """Every parameter of a run: a validated scenario file (see the module docstring for its sections).

    ``market`` and ``brands`` are required; every other section has defaults. Checked across sections: 1 to
    :data:`MAX_BRANDS` brands, and the ``initial_fleet_share`` of the brands on sale at the start sums to 1.
    Assignments are validated too (``validate_assignment``), and unknown fields are errors everywhere.
    """

    name: str = Field("scenario", description="Short name (defaults to the file name).")
    question: str = Field("", description="The one-line question this scenario answers.")
    description: str = ""
    extends: str | None = Field(None, description="Scenario file this one inherits from (path relative to this file).")
    market: Market
    brands: dict[str, Brand]
    service_events: ServiceEvents = Field(default_factory=ServiceEvents)
    satisfaction: Satisfaction = Field(default_factory=Satisfaction)
    word_of_mouth: WordOfMouth = Field(default_factory=WordOfMouth)
    choice: Choice = Field(default_factory=Choice)
    costs: Costs = Field(default_factory=Costs)
    simulation: Simulation = Field(default_factory=Simulation)

    @model_validator(mode="after")
    def _brands_consistent(self) -> Scenario:
        if not self.brands:
            raise ValueError("at least one brand is needed")
        if len(self.brands) > MAX_BRANDS:
            raise ValueError(f"at most {MAX_BRANDS} brands are supported, got {len(self.brands)}")
        present = {n: b for n, b in self.brands.items()
                   if b.launch is None or year_month_index(b.launch, self.market.start_year) <= 0}
        total = sum(b.initial_fleet_share for b in present.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"initial_fleet_share of the brands on sale at the start ({', '.join(present) or 'none'}) "
                f"must sum to 1, got {total:.4f}"
            )
        return self

    @property
    def brand_names(self) -> list[str]:
        """The brands in file order: the order of every brand axis of the model's arrays and tables."""
        return list(self.brands)

    @property
    def segment_names(self) -> list[str]:
        """The buyer segments in file order (the order of the model's segment codes)."""
        return list(self.market.segments)


# --------------------------------------------------------------------------------------------------------
# Loading: TOML, `extends`, dotted overrides, errors that name the file and the field
# --------------------------------------------------------------------------------------------------------
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """Bad scenario input: one line per problem, each naming the file, the field path and the reason.

    ``problems`` holds the lines (``str(error)`` joins them with newlines), each of the form
    ``SOURCE: field.path: reason``; the command line prints one per line and exits with code 2.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def resolve_path(name: str | Path, base: Path | None = None, folder: Path = SCENARIO_DIR,
                 kind: str = "scenario") -> Path:
    """Find a TOML file by path (relative to ``base``, default the working directory), or by name in ``folder``.

    Tried in order: ``base / name``, ``folder / name``, then both with ``.toml`` added (``lexus_us_1989`` or
    ``lexus_us_1989.toml``); an absolute ``name`` is tried as it is (and with ``.toml``).

    Args:
        name: a path or a bare file name, with or without ``.toml``.
        base: folder a relative ``name`` is taken from first (an ``extends`` resolves from its file's folder).
        folder: the library searched next (default ``scenarios/``).
        kind: what is looked for, for the error line (``"scenario"``, ``"experiment"`` ...).

    Returns:
        The absolute path of the first candidate that is a file.

    Raises:
        ScenarioError: no candidate exists: ``NAME: no such KIND file (did you mean 'x'?)``, the hint being
            the closest file name in ``folder``.
    """
    path = Path(name)
    candidates = [path] if path.is_absolute() else [(base or Path.cwd()) / path, folder / path]
    candidates += [c.with_suffix(".toml") for c in candidates if c.suffix != ".toml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    known = sorted(p.stem for p in folder.glob("*.toml"))
    hint = difflib.get_close_matches(path.stem, known, n=1)
    raise ScenarioError([f"{name}: no such {kind} file" + (f" (did you mean '{hint[0]}'?)" if hint else "")])


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A scenario file as a raw dict with its ``extends`` chain merged in (not validated).

    Raises:
        ScenarioError: not valid TOML, a cycle in ``extends``, or a parent file that does not exist.
    """
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError([f"{path}: extends: cycle in extends ({cycle})"])
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: not valid TOML: {exc}"]) from None
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ScenarioError([f"{path}: extends: must be a file name string"])
    parent_path = resolve_path(parent, base=path.parent)
    inherited = read_raw(parent_path, (*chain, path))
    inherited.pop("name", None)
    inherited.pop("question", None)
    inherited.pop("description", None)
    return _deep_merge(inherited, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split one ``--set`` text ``a.b.c=value`` into its field path and its value.

    Args:
        text: ``FIELD.PATH=VALUE``; the value is read as a TOML value (``true``, ``0.5``, ``[24, 36]``,
            ``"x"``), and a value that is not valid TOML is kept as a bare string.

    Returns:
        ``(["a", "b", "c"], value)``: the path's parts (empty parts dropped) and the Python value.

    Raises:
        ScenarioError: no ``=`` (``--set TEXT: expected FIELD.PATH=VALUE``) or an empty path
            (``--set TEXT: empty field path``).
    """
    if "=" not in text:
        raise ScenarioError([f"--set {text}: expected FIELD.PATH=VALUE"])
    key, _, value_text = text.partition("=")
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise ScenarioError([f"--set {text}: empty field path"])
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return keys, value


NAMED_TABLES = {("brands",): "brand", ("market", "segments"): "segment"}  # tables keyed by user-chosen names


def _check_named(raw: dict, keys: list[str], context: str) -> None:
    """An override may change a brand or segment but never create one: a typo must not add a brand."""
    for prefix, kind in NAMED_TABLES.items():
        n = len(prefix)
        if tuple(keys[:n]) == prefix and len(keys) > n + 1:
            table = raw
            for key in prefix:
                table = table.get(key, {}) if isinstance(table, dict) else {}
            if keys[n] not in table:
                hint = difflib.get_close_matches(keys[n], list(table), n=1)
                raise ScenarioError([f"{context}{'.'.join(keys[: n + 1])}: unknown {kind} '{keys[n]}'"
                                     + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(table)})")])


def set_values(raw: dict, values: dict[str, Any], context: str = "") -> dict:
    """A copy of the raw scenario with each ``dotted.path`` set to its (Python) value; validate it afterwards.

    Missing intermediate tables are created; ``raw`` itself and its nested tables are not modified. A path
    may change a brand or a segment but never create one (a typo must not add a brand).

    Args:
        raw: a scenario as read from TOML (nested dicts), not yet validated.
        values: ``{"brands.Lexus.price": 35000.0, ...}``; numpy scalars (a design's values) become Python ones.
        context: prefix of error lines (e.g. ``"--set TEXT: "``).

    Returns:
        The changed copy (unvalidated: pass it to :func:`validate`).

    Raises:
        ScenarioError: a path names a brand or segment the scenario lacks:
            ``CONTEXTbrands.Lexuss: unknown brand 'Lexuss' (did you mean 'Lexus'?)``.
    """
    raw = dict(raw)
    for path, value in values.items():
        keys = [k for k in path.split(".") if k]
        _check_named(raw, keys, context)
        if isinstance(value, np.generic):  # numpy scalars (a design's values) as plain Python
            value = value.item()
        node = raw
        for key in keys[:-1]:
            child = node.get(key)
            child = dict(child) if isinstance(child, dict) else {}
            node[key] = child
            node = child
        node[keys[-1]] = value
    return raw


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``--set`` texts applied in order to a raw scenario (a copy; validate it afterwards).

    Args:
        raw: a scenario as read from TOML, not yet validated.
        overrides: ``FIELD.PATH=VALUE`` texts, the value read as TOML (:func:`parse_override`).

    Returns:
        The changed copy.

    Raises:
        ScenarioError: a malformed text or an unknown brand or segment, the line starting ``--set TEXT: ``
            (:func:`parse_override`, :func:`set_values`).
    """
    for text in overrides:
        keys, value = parse_override(text)
        raw = set_values(raw, {".".join(keys): value}, context=f"--set {text}: ")
    return raw


def _unwrap(tp: Any) -> Any:
    """The model type inside Annotated / Optional / list annotations (a tuple of members for a real union)."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (list, tuple):
            args = get_args(tp)
            tp = args[-1] if args else None
        elif origin is Union or type(tp).__name__ == "UnionType":
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
            else:
                return tuple(members)
        else:
            return tp


def field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at ``loc`` in ``model`` (for 'did you mean'); unions are searched by their ``kind``.

    Args:
        model: the pydantic model the location is in (e.g. :class:`Scenario`).
        loc: a pydantic error location without its last part, e.g. ``("brands", "Lexus", "service")``;
            dict keys (brand, segment names) and list indices are stepped over.

    Returns:
        The field names of the model found there, or ``[]`` if the location is not a model.
    """
    current: Any = model
    for part in loc:
        if get_origin(current) is dict:  # ``part`` is a key (a brand or segment name): go to the value type
            current = get_args(current)[-1]
            continue
        current = _unwrap(current)
        if isinstance(part, int):
            continue
        if isinstance(current, tuple):  # a union: the discriminated design, pick the member by its kind
            current = next((m for m in current if isinstance(m, type) and issubclass(m, BaseModel)
                            and m.model_fields.get("kind")
                            and part in get_args(m.model_fields["kind"].annotation)), None)
            if current is not None:
                continue
            return []
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, tuple):
        return sorted({n for m in current if isinstance(m, type) and issubclass(m, BaseModel) for n in m.model_fields})
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def explain_error(error: dict, source: str, model: type[BaseModel] = None, path: str | None = None) -> str:
    """One line for a pydantic error: the source, the field path and the reason (with 'did you mean').

    Args:
        error: one item of ``ValidationError.errors()``.
        source: what was read (a file path, ``"<scenario>"`` ...), the line's first part.
        model: the model validated, for the names an unknown field is matched against (default :class:`Scenario`).
        path: the field path to show (default: the error's location, dotted, validator names dropped).

    Returns:
        ``SOURCE: field.path: reason``, with ``(got VALUE)`` for a bad scalar value, ``(did you mean 'x'?)`` for
        an unknown field close to a known one, and ``(top level)`` for an error about the whole document.
    """
    loc = tuple(error["loc"])
    if path is None:
        path = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    if error["type"] == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), field_names(model or Scenario, loc[:-1]), n=1)
        reason = "unknown field" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    else:
        reason = re.sub(r"^Value error, ", "", error["msg"])
        if "input" in error and error["type"] != "missing" and not isinstance(error["input"], (dict, list)):
            reason += f" (got {error['input']!r})"
    return f"{source}: {path or '(top level)'}: {reason}"


def validate(raw: dict, source: str = "<scenario>") -> Scenario:
    """Validate a raw scenario (nested dicts, as read from TOML) into a :class:`Scenario`.

    Args:
        raw: the scenario's tables; ``extends`` must already be resolved (:func:`load_scenario` does it).
        source: names the input in error lines (a file path, a design point ...).

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: one line per pydantic error, ``SOURCE: field.path: reason`` (:func:`explain_error`).
    """
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([explain_error(err, source) for err in exc.errors()]) from None


def load_scenario(name: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, inherit, override and validate a scenario file.

    The file's ``extends`` chain is merged first (tables merged key by key, the child winning; ``name``,
    ``question`` and ``description`` are never inherited), ``name`` defaults to the file's stem, then the
    overrides are applied in order and the result is validated.

    Args:
        name: a path, or a name in ``scenarios/`` (``"lexus_us_1989"``); see :func:`resolve_path`.
        overrides: ``--set`` texts, ``FIELD.PATH=VALUE`` with the value read as TOML
            (``["brands.Lexus.service.loaner_cars=false", "market.years=10"]``).

    Returns:
        The validated :class:`Scenario`.

    Raises:
        ScenarioError: with one line per problem, each ``SOURCE: field.path: reason``: no such file, a file
            (or one it extends) that is not valid TOML, a bad or cyclic ``extends``, a malformed override or one
            naming an unknown brand or segment (``--set TEXT: ...``), and every schema error (the source is then
            the file's path, with `` (with --set overrides)`` when there were any).
    """
    path = resolve_path(name)
    raw = read_raw(path)
    raw.setdefault("name", path.stem)
    raw.pop("extends", None)
    source = str(path) + (" (with --set overrides)" if overrides else "")
    return validate(apply_overrides(raw, overrides or []), source)
