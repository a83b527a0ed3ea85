"""The scenario: every parameter of a run, validated once at the edge.

A scenario is a TOML file (``scenarios/*.toml``) read into :class:`Scenario`, a pydantic model. Inside the
simulation the scenario is trusted; all checking happens in this schema. A file may ``extends = "other.toml"`` to
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

Loading lives in :mod:`sim.scenario_files`: :func:`~sim.scenario_files.load_scenario` (a file by name or path,
with ``--set`` overrides), :func:`~sim.scenario_files.validate` (a raw dict), the overrides, and
:class:`~sim.scenario_files.ScenarioError` (bad input, one line per problem naming the file, the field path and
the reason). This module is the schema only: the classes above, :func:`year_month_index`, :func:`named`,
:data:`MAX_BRANDS`, and the kinds of quantity whose type carries the range they can mean (:data:`Months`,
:data:`Money`, :data:`Price`, :data:`PriceIndex`, :data:`Weight`, :data:`Rate`: beyond it a number means nothing
and the model's arithmetic overflows).
"""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
# Kinds of quantity, each within the range it can mean: beyond it a number means nothing and the model's arithmetic
# overflows (a cost of 1e308 USD, a fade over 1e-300 months, a price of 5e-324 USD); refused with the range instead.
MIN_MONTHS = 0.1  # a time constant shorter than this is all gone within the month (and exp(months / it) overflows)
Months = Annotated[float, Field(ge=MIN_MONTHS)]  # a time constant: months to close ~63% of a gap
MAX_MONEY = 1_000_000.0  # USD per event: far above any visit, repair or take-back of a car
Money = Annotated[float, Field(ge=0.0, le=MAX_MONEY)]
MIN_PRICE, MAX_PRICE = 1.0, 10_000_000.0  # 1989 USD: a car's list price
Price = Annotated[float, Field(ge=MIN_PRICE, le=MAX_PRICE)]
MIN_RATIO = 0.01  # a price index or price-class ratio: prices are divided by it and logged
PriceIndex = Annotated[float, Field(ge=MIN_RATIO, le=10)]
MAX_APPEAL = 10.0  # utility units: a line's own appeal (exp(10) = 22,000 times as likely as an average line)
MAX_UTILITY = 1000.0  # utility units: a weight of 1,000 already makes every choice certain
Weight = Annotated[float, Field(ge=0.0, le=MAX_UTILITY)]
MAX_RATE = 100.0  # events per car-year or brand-year: about two a week
Rate = Annotated[float, Field(ge=0.0, le=MAX_RATE)]
YEAR_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"  # a date: its error line says so in words (sim.scenario_files.PATTERN_REASONS)
YearMonth = Annotated[str, Field(pattern=YEAR_MONTH, description="a date as 'YYYY-MM'")]
MAX_BRANDS = 16  # awareness is a 16-bit mask per buyer
MAX_SEED = 2**63 - 1  # root seeds are written as 64-bit signed integers (Parquet, Arrow): a larger one cannot be stored
RootSeed = Annotated[int, Field(ge=0, le=MAX_SEED)]  # every root seed: scenarios, experiments, calibrations, --seed


STRICT_SCALARS = ("int", "float", "bool")  # pydantic core schema types validated strictly in every input schema
INT64 = (-(2**63), 2**63 - 1)  # every integer luxsim reads: numpy, compiled code and Parquet hold it in 64 bits


def strict_scalars(schema: Any) -> Any:
    """``schema`` (a pydantic core schema, changed in place) with every integer, number and boolean in it strict,
    wherever it is: a field, an item of a list or tuple, a value of a table, a member of a union. Strict means
    a boolean is not a number (``true`` is not 1 dealer), a number is not a boolean (``1`` is not ``true``), and a
    number with a fraction part is not an integer (``2.0`` is not 2 years); an integer is still a number (a float
    field takes ``300``). Containers stay as they are (a TOML list is a tuple field's value). An integer without
    bounds of its own is also kept within 64 bits (:data:`INT64`): ``warranty_months = 2^63`` was an
    OverflowError traceback in compiled code."""
    if isinstance(schema, dict):
        if schema.get("type") in STRICT_SCALARS:
            schema["strict"] = True
        if schema.get("type") == "int":
            if "le" not in schema and "lt" not in schema:
                schema["le"] = INT64[1]
            if "ge" not in schema and "gt" not in schema:
                schema["ge"] = INT64[0]
        for value in schema.values():
            strict_scalars(value)
    elif isinstance(schema, (list, tuple)):
        for value in schema:
            strict_scalars(value)
    return schema


INPUT_RULES = ConfigDict(extra="forbid", allow_inf_nan=False)  # every input schema's: no unknown field, finite numbers


def ordered_range(value: tuple[float, float], use: str) -> tuple[float, float]:
    """A ``[low, high]`` range of a file (a calibration's prior, an optimisation's lever or uncertainty), checked:
    low < high, and high - low finite (else nothing could ``use`` it: search or sample).

    Raises:
        ValueError: with the reason, for pydantic to name the field.
    """
    if not value[0] < value[1]:
        raise ValueError(f"range must be [low, high] with low < high, got {list(value)}")
    if not math.isfinite(value[1] - value[0]):
        raise ValueError(f"the range {list(value)} is too wide to {use} (high - low overflows)")
    return value


class StrictModel(BaseModel):
    """The base of every luxsim input schema (scenarios, experiments, calibrations): unknown fields are refused
    (a misspelt field is an error, not a silent default), every number must be finite (TOML can write ``nan``
    and ``inf``), integers, numbers and booleans are strict (:func:`strict_scalars`: ``dealers = true`` is an
    error, not 1 dealer), and values assigned later are validated too. A subclass needs nothing more: the rules
    apply to every field of every model built on this one, in a file or from ``--set``."""

    model_config = ConfigDict(**INPUT_RULES, validate_assignment=True)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Pydantic's schema of the model, with its integers, numbers and booleans strict (:func:`strict_scalars`)."""
        return strict_scalars(handler(source))


def printable(text: str, what: str, blank: bool = False, allow: str = "") -> str:
    """``text`` if it may be printed as it is: no control or format character (Unicode categories Cc and Cf: a line
    break, a tab, a terminal escape, a right-to-left override) but those in ``allow``, and, unless ``blank``,
    something besides whitespace.
    Ordinary unicode (Citroën, 名前) is fine. The one rule for every name-like field (:data:`Name`, :data:`Text`,
    :func:`named`): a name is printed, and names files.

    Raises:
        ValueError: ``WHAT must not be empty`` or ``WHAT holds a control character (U+001B) ...``.
    """
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c not in allow), None)
    if bad is not None:  # first: some control characters (U+001C-U+001F) count as whitespace to str.strip
        raise ValueError(f"{what} holds a control character (U+{ord(bad):04X}); names and questions are "
                         "printed, so they must be plain text")
    if not blank and not text.strip():
        raise ValueError(f"{what} must not be empty" + (" or only spaces" if text else ""))
    return text


Name = Annotated[str, AfterValidator(lambda text: printable(text, "a name"))]  # a name: printable, not blank
# free text (a question): printable, may be empty, and a tab is only spacing
Text = Annotated[str, AfterValidator(lambda text: printable(text, "the text", blank=True, allow="\t"))]


def named(table: dict[str, Any], kind: str) -> None:
    """A table keyed by names the user chose (brands, segments) has printable names, none empty (:func:`printable`):
    a name is printed, and is the name of its implicit model line and of files.

    Raises:
        ValueError: ``a KIND's name must not be empty``, or names a control character.
    """
    for name in table:
        printable(name, f"a {kind}'s name" + (f" {name!r}" if name else ""))


class FieldError(ValueError):
    """A rule of a model broken by one of its fields (or of a nested model's): ``loc`` is that field's path from
    the model whose validator raised it (``("brands", "Lexus", "launch")`` from :class:`Scenario`), so the error
    line names the field (:func:`sim.scenario_files.validate`) rather than the model (``(top level)``).

    Args:
        loc: the field path, relative to the model validated.
        message: the reason, without the path.
    """

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = tuple(loc)


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
class ServiceLevers(StrictModel):
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


def _lever_changes() -> type:
    """The type of a partial service policy (a timeline entry's ``service``, a strategy's ``response``): a plain
    dict of some of :class:`ServiceLevers`' fields, each with its type and range, under the rules of every input
    schema (:class:`StrictModel`: unknown names refused, finite numbers, :func:`strict_scalars`). Every bad lever is
    one error at its own path (``...service.roadside_level``), as a field of a model is; combinations are checked
    per brand (:class:`Brand`)."""
    fields = {name: Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
              for name, field in ServiceLevers.model_fields.items()}
    changes = TypedDict("LeverChanges", fields, total=False)  # validated into a plain dict of the levers given
    changes.__pydantic_config__ = INPUT_RULES
    changes.__get_pydantic_core_schema__ = classmethod(lambda cls, source, handler: strict_scalars(handler(source)))
    return changes


LeverChanges = _lever_changes()


class PolicyChange(StrictModel):
    """A dated change to a brand's service policy or price (e.g. BMW free maintenance from 1997-01).

    ``service`` names only the levers that change (each checked on its own here; the policy they give, applied
    in date order, is checked by :class:`Brand`). A change dated at or before the start is in force from month 0.
    """

    date: YearMonth
    note: str = ""
    service: LeverChanges = Field(default_factory=dict, description="Service levers that change on this date.")
    discount: float | None = Field(None, ge=0.0, lt=1.0, description="New price discount (fraction of list price).")
    price: Price | None = Field(
        None, description="New list price, 1989 USD (a brand without ``models`` only: a brand with model lines "
                                "reprices them with their ``prices`` paths or ``price_index``).")
    price_index: PriceIndex | None = Field(
        None, description="New price index: multiplies every model line's list price (an exchange-rate "
                                       "or cost shock; 1 = the prices as listed).")
    dealers: int | None = Field(None, gt=0, description="US dealerships from this date (a network that grows or "
                                                        "shrinks), or None to keep the number.")
    dealer_capacity: Annotated[float, Field(gt=0, le=10_000)] | Literal["unlimited"] | None = Field(
        None, description="New cars a dealer can deliver a year from this date (sim/supply.py), \"unlimited\" to lift "
                          "the limit, or None to keep it.")


class Strategy(StrictModel):
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
    response: LeverChanges = Field(default_factory=dict, description="Service levers adopted when responding.")
    launch: list[str] = Field(
        default_factory=list, description="Model lines (declared with launch = \"response\") launched when responding: "
                                          "an incumbent can answer with products.")
    end: list[str] = Field(
        default_factory=list, description="Model lines the brand stops selling when responding (a restructuring "
                                          "that prunes the line-up).")
    price_index: PriceIndex | None = Field(
        None, description="Price index adopted when responding (multiplies every line's list price).")


BODY_TYPES = ("sedan", "coupe", "suv")  # what a household needs, and what a model line is (coupe = coupe/convertible)
TIERS = ("entry", "mid", "flagship")  # price classes of model lines
BodyType = Literal["sedan", "coupe", "suv"]
Tier = Literal["entry", "mid", "flagship"]


class PricePoint(StrictModel):
    """A dated list price of a model line (``models[].prices``): from ``date`` on, 1989 USD."""

    date: YearMonth
    price: Price = Field(description="List price from this date on, 1989 USD.")


class ModelLine(StrictModel):
    """One model line a brand sells (``[[brands.X.models]]``): its body type, price class, price path, reliability
    and when it is on sale (``launch`` <= month < ``end``).

    ``launch = "response"`` declares a line that the brand launches only when its strategy responds (listed in
    ``strategy.launch``). ``prices`` are dated changes after the launch, in date order. A line's price in force is
    its latest price times the brand's ``price_index``.
    """

    name: Name = Field(description="The line's name, unique within the brand (e.g. 'LS 400'); plain text.")
    body: BodyType = Field(description="Body type: sedan, coupe (coupe/convertible) or suv; households need one.")
    tier: Tier = Field("mid", description="Price class: its price is judged against market.reference_price times "
                                          "market.tier_price_ratio[tier].")
    launch: YearMonth | Literal["response"] | None = Field(
        None, description="First month on sale; omitted = from the start (or the brand's launch); 'response' = "
                          "launched by the brand's strategy response.")
    end: YearMonth | None = Field(None, description="First month no longer on sale; omitted = on sale to the end.")
    price: Price = Field(description="List price at launch, 1989 USD.")
    prices: list[PricePoint] = Field(default_factory=list, description="Dated list-price changes, 1989 USD.")
    defects_per_car_year: Rate | None = Field(
        None, description="Unscheduled repair visits per car-year of a new car (0-100); omitted = the brand's.")
    appeal: float = Field(
        0.0, ge=-MAX_APPEAL, le=MAX_APPEAL,
        description="The line's own appeal beyond its price class, utility units: what its tier does not say about "
                    "it (size, performance, design; the xi of BLP 1995). 0 = an average line of its tier.")
    luxury_tax_exempt: bool = Field(
        False, description="Not subject to market.luxury_tax (the US law spared trucks and sport-utility vehicles of "
                           "more than 6,000 lb gross vehicle weight).")

    @model_validator(mode="after")
    def _dates_in_order(self) -> ModelLine:
        dated = self.launch if self.launch not in (None, "response") else None
        if dated and self.end and self.end <= dated:
            raise ValueError(f"{self.name}: end {self.end} must come after launch {dated}")
        dates = [point.date for point in self.prices]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError(f"{self.name}: prices dates must be in order and distinct, got {dates}")
        if dated and dates and dates[0] < dated:
            raise ValueError(f"{self.name}: a price dated {dates[0]} comes before the launch {dated}")
        return self


class Brand(StrictModel):
    """One brand as it starts: product, price, prestige, awareness, dealers, its service policy and how it changes.

    A brand either sets ``price`` (one implicit mid-tier sedan line) or lists its ``models``. The brands on sale at
    the start (``launch`` omitted or not after January of ``market.start_year``) must have ``initial_fleet_share``
    summing to 1 (checked by :class:`Scenario`). ``timeline`` must be in date order, one entry a date, and each
    change, applied to the policy in force by then, must give a valid :class:`ServiceLevers`; so must
    ``strategy.response`` applied after the last one.
    """

    launch: YearMonth | None = Field(
        None, description="First month on sale; omitted = already on sale at the start.")
    initial_fleet_share: Prob = Field(
        0.0, description="Share of the luxury cars in use at the start (incumbents).")
    price: Price | None = Field(
        None, description="Average transaction price before discount, 1989 USD: a brand without ``models`` (one "
                                "implicit mid-tier sedan line); a brand with models prices each line.")
    price_index: PriceIndex = Field(
        1.0,
        description="Multiplies every line's list price: an exchange-rate or cost shock (1 = as listed).")
    models: list[ModelLine] = Field(
        default_factory=list, description="The model lines the brand sells (omitted: one line at ``price``).")
    discount: float = Field(
        0.0, ge=0.0, lt=1.0, description="Price cut as a fraction of list price; erodes prestige.")
    new_car_margin: Prob = Field(
        0.15, description="Brand's gross margin on a new car, fraction of the discounted price.")
    prestige: Prob = Field(0.5, description="Brand equity at the start, 0-1.")
    defects_per_car_year: Rate = Field(
        0.8, description="Unscheduled repair visits per car-year for a new car (product quality, 0-100).")
    awareness: Prob = Field(
        0.9, description="Share of buyers aware of the brand at launch (or at the start for incumbents).")
    awareness_max: Prob = Field(0.95, description="Share aware once marketing has saturated.")
    awareness_ramp_months: Months = Field(
        24.0, description="Months for marketing to close ~63% of the gap to awareness_max.")
    dealers: int = Field(300, gt=0, description="US dealerships (convenience of buying and of service).")
    dealer_capacity: float | None = Field(
        None, gt=0, le=10_000, description="New cars a dealer can deliver a year (the maker's allocation and the "
                                           "showroom's throughput): once a month's cars are sold, later shoppers "
                                           "choose among the other brands (sim/supply.py). None = no limit.")
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
        twice = sorted({d for d in dates if dates.count(d) > 1})
        if twice:
            raise ValueError(f"two timeline entries dated {', '.join(twice)}: put that date's changes in one entry")
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

    @model_validator(mode="after")
    def _lines_consistent(self) -> Brand:
        """A price or model lines (not both); line names unique; the strategy launches exactly the lines declared
        ``launch = "response"``; timeline prices only for a brand without lines."""
        if not self.models:
            if self.price is None:
                raise ValueError("price: a brand needs a price, or model lines ([[brands.X.models]]) with theirs")
            if self.strategy.launch or self.strategy.end:
                raise ValueError("strategy: the brand has no model lines to launch or end")
            return self
        if self.price is not None:
            raise ValueError("price: a brand with model lines prices each line (models[].price); remove the brand's "
                             "price, or use price_index for a change to all of them")
        names = [line.name for line in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"models: line names must be unique, got {names}")
        if any(c.price is not None for c in self.timeline):
            raise ValueError("timeline: a brand with model lines changes prices with models[].prices or price_index, "
                             "not price")
        on_response = {line.name for line in self.models if line.launch == "response"}
        unknown = [n for n in self.strategy.launch if n not in on_response]
        if unknown:
            raise ValueError(f"strategy.launch: {unknown} must be model lines declared with launch = \"response\"")
        missing = [n for n in self.strategy.end if n not in names]
        if missing:
            raise ValueError(f"strategy.end: {missing} are not model lines of the brand")
        never = sorted(on_response - set(self.strategy.launch))
        if never:
            raise ValueError(f"models: {never} have launch = \"response\" but strategy.launch does not list them")
        return self


# --------------------------------------------------------------------------------------------------------
# Market and buyer segments
# --------------------------------------------------------------------------------------------------------
class Segment(StrictModel):
    """A kind of luxury buyer, with its weights in the brand-choice utility.

    Across a market's segments, ``share`` and ``entrant_share`` each sum to 1 (checked by :class:`Market`).
    """

    share: Prob = Field(description="Share of the buyers at the start.")
    entrant_share: Prob = Field(description="Share of new entrants to the luxury segment.")
    prestige_weight: Weight = Field(description="Utility per unit of brand prestige (0-1).")
    price_weight: Weight = Field(description="Utility lost per unit of log(price / reference price).")
    service_weight: Weight = Field(description="Utility per unit of perceived service (satisfaction scale -1..1).")
    perk_weight: Weight = Field(
        description="Utility per $1,000 of complimentary maintenance (value-seekers care most).")
    discount_stigma: Weight = Field(
        0.0, description="Utility lost per unit of discount (fraction): cheapening hurts status buyers.")
    outside_utility: float = Field(
        ge=-MAX_UTILITY, le=MAX_UTILITY,
        description="Utility of leaving the luxury segment at replacement (the outside option).")
    lease_propensity: Prob = Field(
        0.5, description="Probability of leasing rather than buying (scaled by the market lease trend).")


LeaseMonths = Annotated[int, Field(ge=6, le=120)]  # sim.replacement.MIN_HOLDING_MONTHS to ten years


class TimePoint(StrictModel):
    """One point of a yearly series (``market.lease_trend``): a value in ``year``."""

    year: int
    value: float


class BodyTypeMix(StrictModel):
    """One point of ``market.body_type_mix``: the shares of households needing each body type in ``year``
    (summing to 1)."""

    year: int
    sedan: Prob = 0.0
    coupe: Prob = 0.0
    suv: Prob = 0.0

    @model_validator(mode="after")
    def _sums_to_one(self) -> BodyTypeMix:
        total = self.sedan + self.coupe + self.suv
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"body_type_mix {self.year}: sedan + coupe + suv must sum to 1, got {total:.4f}")
        return self


class TaxStep(StrictModel):
    """One step of ``market.luxury_tax`` (``sim/tax.py``): from ``date`` on, ``rate`` of the part of a new car's
    price above ``threshold`` is added to what its buyer pays."""

    date: YearMonth
    rate: float = Field(ge=0.0, le=0.5, description="Fraction of the price above the threshold paid as tax (0-0.5; "
                                                     "0 ends the tax).")
    threshold: Price = Field(description="Price above which the tax falls, in the scenario's dollars.")


class Market(StrictModel):
    """The market: when and for how long, how many luxury households, growth, leasing, and the buyer segments.

    ``segments`` maps a segment name to its :class:`Segment`; at least one, with ``share`` and ``entrant_share``
    each summing to 1. ``lease_trend`` years must be in order and its values lie in [0, 1].
    """

    region: str | None = Field(
        None, min_length=1,
        description="Where the market is, e.g. 'US' or 'Western Europe'. 'US' says it is the United States luxury "
                    "market that the reference data (sim/data/) describe: validate and calibrate compare a scenario "
                    "with them only then. Omitted = a market without reference data.")
    start_year: int = Field(ge=1900, le=2100, description="The simulation starts in January of this year.")
    years: int = Field(ge=1, le=100, description="Simulated years (monthly steps).")
    price_year: int = Field(
        1989, ge=1900, le=2100,
        description="The year whose dollars the scenario's prices and costs (and so its results) are written in: a "
                    "label for texts, nothing is deflated. The Lexus case's scenarios use 1989 dollars; a market of "
                    "another time gives its own (generic_new_entrant: 2020).")
    segment_households: int = Field(
        gt=0, description="Luxury-car households (cars in use) at the start, real units.")
    annual_growth: float = Field(
        0.0, ge=-0.5, le=0.5, description="Growth of the luxury segment per year (fraction).")
    reference_price: Price = Field(
        40000.0, description="Price at which the price term of utility is zero, 1989 USD.")
    lease_trend: list[TimePoint] = Field(
        default_factory=list, description="Market lease share by year (linearly interpolated); scales each "
                                          "segment's lease propensity."
    )
    body_type_mix: list[BodyTypeMix] = Field(
        default_factory=list, description="Shares of households needing each body type, by year (linearly "
                                          "interpolated); omitted = every household needs a sedan.")
    luxury_tax: list[TaxStep] = Field(
        default_factory=list, description="An excise on the part of a new car's price above a threshold, paid by the "
                                          "buyer (the US luxury tax of 1991-2002): dated steps in date order, each "
                                          "in force until the next; omitted = no such tax (sim/tax.py).")
    need_change: Prob = Field(
        0.0, description="Probability that a household replacing its car needs another body type than before, "
                         "redrawn from body_type_mix then (life events: children, moves, retirement).")
    life_event_exit: Prob = Field(
        0.0, description="Probability that a household replacing its car leaves the luxury segment whatever it thinks "
                         "of the brands (life status changes: income, retirement, a family that needs a minivan or "
                         "a pickup; Andreasen 1984). Polk's make loyalty counts it as not loyal, so no brand's loyalty "
                         "exceeds 1 - life_event_exit.")
    tier_price_ratio: dict[Tier, PriceIndex] = Field(
        default_factory=lambda: {"entry": 0.7, "mid": 1.0, "flagship": 1.6},
        description="What a car of each price class costs relative to reference_price: a line's price term is "
                    "log(price / (reference_price * ratio)).")
    lease_months: tuple[LeaseMonths, LeaseMonths] = Field(
        (24, 36), description="Lease terms are drawn uniformly from this range, months ([shortest, longest], each "
                              "6-120: no car is replaced within 6 months of its purchase).")
    ownership_months_mean: float = Field(
        54.0, gt=6, le=600, description="Mean months an owned (not leased) car is kept (6-600).")
    ownership_shape: float = Field(
        3.0, gt=0.5, description="Weibull shape of ownership length (>1: hazard rises with age).")
    segments: dict[str, Segment]

    @field_validator("lease_months")
    @classmethod
    def _lease_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError(f"lease_months is [shortest, longest]: {value[0]} is longer than {value[1]}")
        return value

    @field_validator("segments")
    @classmethod
    def _mix_sums_to_one(cls, value: dict[str, Segment]) -> dict[str, Segment]:
        if not value:
            raise ValueError("at least one segment is needed")
        named(value, "segment")
        for attr in ("share", "entrant_share"):
            total = sum(getattr(seg, attr) for seg in value.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"segment {attr}s must sum to 1, got {total:.4f}")
        return value

    @field_validator("tier_price_ratio")
    @classmethod
    def _every_tier(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [t for t in TIERS if t not in value]
        if missing:
            raise ValueError(f"tier_price_ratio needs a ratio for each of {list(TIERS)}, got {value}")
        return value

    @field_validator("body_type_mix", "lease_trend")
    @classmethod
    def _series_in_order(cls, value: list, info) -> list:
        years = [p.year for p in value]
        if years != sorted(years) or len(set(years)) != len(years):
            raise ValueError(f"{info.field_name} years must be in order and distinct, got {years}")
        return value

    @field_validator("luxury_tax")
    @classmethod
    def _steps_in_order(cls, value: list[TaxStep]) -> list[TaxStep]:
        dates = [step.date for step in value]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError(f"luxury_tax dates must be in order and distinct, got {dates}")
        return value

    @field_validator("lease_trend")
    @classmethod
    def _trend_shares(cls, value: list[TimePoint]) -> list[TimePoint]:
        if any(not 0 <= p.value <= 1 for p in value):
            raise ValueError("lease_trend values are shares and must lie in [0, 1]")
        return value

    @property
    def months(self) -> int:
        """Months simulated (``years * 12``): the number of model steps."""
        return self.years * 12

    @property
    def growth_factor(self) -> float:
        """How many times its start the segment is at the end of the run: ``(1 + annual_growth) ** years``."""
        return (1.0 + self.annual_growth) ** self.years


# --------------------------------------------------------------------------------------------------------
# Mechanism parameters (shared by all brands)
# --------------------------------------------------------------------------------------------------------
class ServiceEvents(StrictModel):
    """How often service events happen and how each is experienced (``sim/service.py``), for all brands.

    Rates: maintenance every ``maintenance_interval_months``; defects at the brand's ``defects_per_car_year``,
    rising with car age; recall campaigns per brand-year. An event's experience is roughly -1..1 (above 0:
    better than ``expectation``): pains are subtracted, reliefs and delights added, as the brand's
    :class:`ServiceLevers` allow.
    """

    maintenance_interval_months: float = Field(
        6.0, ge=1.0, description="Months between scheduled maintenance visits (at least one: the model's step).")
    defect_age_growth: NonNeg = Field(0.15, description="Relative rise of the defect rate per year of car age.")
    breakdown_share: Prob = Field(0.12, description="Share of defects that strand the car (roadside rescue).")
    recalls_per_brand_year: Rate = Field(0.3, description="Recall campaigns per brand per year (0-100).")
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


class Satisfaction(StrictModel):
    """How an owner's satisfaction with the brand (scale -1..1) moves: events, decay, complaints, take-backs.

    Used by ``sim/satisfaction.py``: a loss-averse update per experience, lazy decay toward ``baseline``,
    complaints below ``complaint_below`` (resolved per the brand's ``complaint_resolution_*`` levers, Dillard &
    Bates), and the take-back and early-replacement thresholds.
    """

    learning_rate: Prob = Field(0.25, description="Weight of one experience in satisfaction (gains).")
    loss_aversion: float = Field(
        2.0, ge=1.0, le=5.0, description="Losses weigh this many times gains (Anderson & Sullivan 1993).")
    decay_months: Months = Field(
        12.0, description="Months for satisfaction to decay ~63% of the way back to its baseline.")
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


class WordOfMouth(StrictModel):
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
    decay_months: Months = Field(24.0, description="Months for heard stories to fade ~63%.")
    aware_on_purchase: Prob = Field(
        0.3, description="Chance a shopper knows the brand of each contact's car (the car is seen).")


class Choice(StrictModel):
    """The brand-choice utility's terms shared by all segments (``sim/choice.py``), and the slow brand dynamics.

    The segment-specific weights are in :class:`Segment`; the reputation and prestige dynamics
    (``sim/reputation.py``) are set here too: reputation follows owners' satisfaction over
    ``reputation_months``, prestige moves toward a target raised by share gains and lowered by discounts.
    """

    inertia: Weight = Field(
        1.5, description="Utility of staying with the current brand (state dependence, Mannering & Winston 1991).")
    satisfaction_loyalty: Weight = Field(
        1.5, description="Extra utility of the current brand per unit of the owner's satisfaction (-1..1): "
                         "satisfied owners rebuy, unhappy ones defect.")
    satisfaction_loyalty_upside: Prob = Field(
        1.0, description="Satisfaction loyalty per unit of satisfaction above neutral, as a fraction (0-1) of that per "
                         "unit below it: dissatisfaction drives defection more than satisfaction drives repurchase "
                         "(Anderson & Sullivan 1993; Mittal, Ross & Baldasare 1998, car owners). 1 = symmetric.")
    unresolved_inertia: Prob = Field(
        1.0, description="Share (0-1) of the inertia an owner keeps toward their brand while a complaint about it is "
                         "unresolved: 1 = a grudge costs only satisfaction; 0 = an unresolved complaint ends the "
                         "habit of rebuying (exit: Hirschman 1970), leaving the owner's low satisfaction and own "
                         "tastes. Dillard & Bates: unresolved complainers effectively never rebought.")
    variety_seeking: Prob = Field(
        0.0, description="Probability that an owner replacing their car ignores state dependence this time (inertia "
                         "and satisfaction loyalty): variety seeking (McAlister & Pessemier 1982; Givon 1984).")
    variety_seekers: Prob = Field(
        0.0, description="Share of households who are variety seekers, a latent class that ignores state dependence at "
                         "every replacement (brand-loyal and switching segments: Grover & Srinivasan 1987; Kamakura & "
                         "Russell 1989); drawn when a household enters the segment.")
    brand_taste_sd: float = Field(
        0.0, ge=0.0, le=3.0,
        description="Standard deviation (utility units, 0-3) of each household's persistent taste for each brand, "
                    "drawn when it enters the segment and kept for life: random brand intercepts, the unobserved "
                    "heterogeneity that, beside state dependence, makes owners rebuy (Heckman 1981; Keane 1997; BLP "
                    "1995; Train 2009 ch. 6). 0 = none (a plain nested logit).")
    brand_taste_persistence: Prob = Field(
        1.0,
        description="Correlation (0-1) of a household's brand tastes from one car to the next: at each replacement "
                    "each taste becomes persistence x taste + sqrt(1 - persistence^2) x brand_taste_sd x N(0, 1), "
                    "so their spread stays brand_taste_sd while a household's tastes drift over its life (serially "
                    "correlated AR(1) tastes: Keane 1997; life-cycle changes in what a household wants from a car: "
                    "Mannering & Winston 1991). 1 = kept for life; 0 = redrawn at every replacement.")
    nesting_parameter: float = Field(
        1.0, ge=MIN_RATIO, le=1.0,
        description="Nested logit log-sum coefficient (lambda, 0.01-1) of the brand nests: lower = a brand's lines are "
                    "closer substitutes (McFadden 1978; Train 2009 ch. 4).")
    body_mismatch: Weight = Field(
        3.0, description="Utility lost when a line's body type is not the one the household needs (3: about 1 "
                         "buyer in 20 takes a car of the wrong body type).")
    wom_weight: Weight = Field(1.0, description="Weight of word of mouth in perceived service.")
    defect_weight: Weight = Field(
        0.8, description="Utility lost per unscheduled repair visit per car-year (defects_per_car_year).")
    dealer_weight: Weight = Field(0.3, description="Utility per unit of log(dealers / 300).")
    reputation_months: Months = Field(
        12.0, description="Months over which the brand's service reputation follows its owners' "
                                "satisfaction.")
    prestige_months: Months = Field(60.0, description="Months for prestige to move ~63% toward its target.")
    prestige_share_weight: NonNeg = Field(
        0.3, description="Prestige gained per unit of sales-share gain over the reference share.")
    prestige_discount_erosion: NonNeg = Field(1.5, description="Prestige lost per unit of discount.")


class Costs(StrictModel):
    """What each event costs the brand (and its dealers), 1989 USD, and what owners pay (``sim/finance.py``).

    Brand and dealers are one P&L here. Owners pay for scheduled maintenance (unless complimentary) and for
    repairs after the warranty; the brand-and-dealer cost of that work is its price times (1 - 0.60), the
    combined gross margin on customer-pay service (derivation and sources: ``sim/finance.py``'s docstring and
    ``docs/calibration.md``, "Service money"). Warranty repairs, recalls and goodwill fixes are paid by the maker
    to its dealers: a wash inside one P&L, so they cost the same parts and labour and earn nothing. The service
    policy (free maintenance, dealer quality, loaners, rescue, recall handling, complaints, take-backs) is a
    cost against that profit pool. Every default has a unit, a plausible range and a source or stated reason.
    """

    maintenance_cost: Money = Field(
        128.0, description="USD per scheduled visit, range 90-190: parts and labour of the visit to brand and "
                           "dealers, whether or not the owner pays for it (wear items such as brakes, battery and "
                           "tires amortised). maintenance_price x (1 - 0.60): the combined customer-pay gross "
                           "margin (NADA dealer gross 46.6% of service and parts sales, labour 64-67%, parts "
                           "26-40%, plus the maker's own margin on the parts it sells its dealers; sim/finance.py).")
    maintenance_price: Money = Field(
        320.0, description="USD per scheduled visit, range 200-400: what an owner pays for it when it is not "
                           "complimentary. Two visits a year = $640 a year; FHWA 'Cost of Owning and Operating "
                           "Automobiles, Vans and Trucks 1991': an intermediate car's maintenance, repair and "
                           "tires cost its owner $550 a year over 12 years (1991 USD, about $500 of 1989), a "
                           "luxury car at dealer rates about 1.5-2x that (assumption). Also the value of free "
                           "maintenance in choice (sim.choice.perk_value).")
    repair_cost: Money = Field(
        180.0, description="USD per repair visit (and breakdown), range 120-350: parts and labour to brand and "
                           "dealers, in warranty or not. repair_price x (1 - 0.60) (see maintenance_cost). Check: "
                           "about 1 repair a car-year (IQS 130-140) for 4 years = $720 + rescue, 2.4% of a $30,000 "
                           "car, as the Detroit makers' warranty claims, 2.5% of revenue (Warranty Week 2010); "
                           "Lexus (0.33) about 0.7% (Toyota and Honda 1.0-1.5%).")
    repair_price: Money = Field(
        450.0, description="USD per repair visit out of warranty, range 250-800: what the owner pays. NADA 2017: "
                           "$285 per customer-pay repair order (all makes, maintenance included), $144 in 1989 USD "
                           "(CPI-U); a luxury repair, not an oil change, at luxury labour rates: about 3x "
                           "(assumption).")
    warranty_months: int = Field(
        48, ge=0, description="Months, range 36-72: repairs of cars younger than this are paid by the brand "
                                      "(the 4-year/50,000-mile luxury warranty of Lexus, Infiniti, Mercedes-Benz "
                                      "and Cadillac around 1990; BMW, Jaguar and Acura 3 years then: one value "
                                      "for all brands).")
    loaner_cost: Money = Field(
        90.0, description="USD per repair or breakdown visit, range 40-200: a loaner for about two days at "
                          "the $40-50 a day a luxury loaner fleet costs (depreciation, insurance, fuel, "
                          "cleaning; assumption from 1989 rental rates).")
    rescue_cost: tuple[Money, Money, Money, Money] = Field(
        (0.0, 90.0, 300.0, 1200.0),
        description="USD per breakdown by roadside level 0-3, ranges (0, 50-150, 150-500, 600-2000): 1 = a "
                    "motor-club tow (Mercedes-Benz's nationwide programme since 1984); 2 = 24-hour flatbed tow "
                    "with trip-interruption cover (Lexus 1989); 3 = a technician or a replacement car sent "
                    "out. Assumptions scaled from a 1989 tow of about $50-100.")
    take_back_cost: Money = Field(
        9000.0, description="USD per take-back, range 5,000-15,000: the loss on taking back a nearly new car and "
                            "replacing it at no margin: a year's depreciation of a $35,000-40,000 car (20-25%) "
                            "plus resale costs (assumption).")
    goodwill_cost: Money = Field(
        60.0, description="USD per proactive fix on top of its parts and labour (repair_cost), range 0-150: "
                          "finding the car and fetching the owner (assumption: about an hour of staff time and a "
                          "pickup). The fix earns nothing even out of warranty: the forgone repair_price is the "
                          "rest of the lever's cost.")
    recall_cost: Money = Field(
        180.0, description="USD per recall visit, range 80-500: parts and labour, paid by the maker (about "
                           "repair_cost: a defined job, no diagnosis, sometimes a costly part).")
    recall_handling_cost: Money = Field(
        150.0, description="USD per recalled car at perfect handling (home pickup and return, as Lexus in "
                           "December 1989), range 50-300: two driver trips and a loaner (assumption).")
    service_quality_cost: Money = Field(
        80.0, description="USD per routine visit per unit of dealer service quality (0-1), range 20-200: more "
                          "advisers, shuttles, washes and facilities (assumption: a top dealer, quality 0.85, "
                          "spends $68 a visit more than one at 0, about half the visit's parts and labour).")
    complaint_cost: Money = Field(
        150.0, description="USD per complaint resolved, range 50-400: a re-repair or goodwill adjustment at "
                           "cost (about half a repair visit) plus customer-relations time (assumption).")
    discount_rate: Prob = Field(0.1, description="Annual discount rate for customer lifetime value.")


class Simulation(StrictModel):
    """How a scenario is simulated: the population, the replications and the root seed (not the market)."""

    buyers: int = Field(
        100_000, ge=100, le=50_000_000,
        description="Buyers simulated at the start (results are scaled to segment_households).")
    replications: int = Field(
        4, ge=1, le=10_000, description="Independent replications (seeds spawned from `seed`).")
    seed: RootSeed = Field(20240901, description="Root seed of numpy.random.SeedSequence (0 to 2^63 - 1).")
    agent_views: int = Field(
        2000, ge=0, description="Create Mesa BuyerAgent views for all buyers up to this population; larger ones "
                                "create them on demand.")
    agent_sample: int = Field(
        20, ge=0, le=100_000,
        description="Households whose Mesa BuyerAgent views are kept at any population size and whose state the "
                    "DataCollector records each month (BuyerAgent reporters): the households in this many evenly "
                    "spaced slots of the starting population, followed as the slot passes to new households. "
                    "Inspection only: the simulation is the same whatever the value; recording costs about 7 "
                    "microseconds per sampled household a month (0.14 ms a month at 20, about 3% of a "
                    "100,000-buyer month).")


class Scenario(StrictModel):
    """Every parameter of a run: a validated scenario file (see the module docstring for its sections).

    ``market`` and ``brands`` are required; every other section has defaults. Checked across sections: 1 to
    :data:`MAX_BRANDS` brands, and the ``initial_fleet_share`` of the brands on sale at the start sums to 1.
    Assignments are validated too (``validate_assignment``), and unknown fields are errors everywhere.
    """

    name: Name = Field("scenario", description="Short name (defaults to the file name); plain text.")
    question: Text = Field("", description="The one-line question this scenario answers; plain text.")
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

    @field_validator("brands")
    @classmethod
    def _brand_names(cls, value: dict[str, Brand]) -> dict[str, Brand]:
        named(value, "brand")
        return value

    @model_validator(mode="after")
    def _brands_consistent(self) -> Scenario:
        if not self.brands:
            raise ValueError("at least one brand is needed")
        if len(self.brands) > MAX_BRANDS:
            raise ValueError(f"at most {MAX_BRANDS} brands are supported, got {len(self.brands)}")
        present = {n: b for n, b in self.brands.items()
                   if b.launch is None or year_month_index(b.launch, self.market.start_year) <= 0}
        start = self.market.start_year
        for n, b in present.items():  # a brand with cars on the road at the start sells something then
            if b.models and not any(line.launch != "response"
                                    and (line.launch is None or year_month_index(line.launch, start) <= 0)
                                    and (line.end is None or year_month_index(line.end, start) > 0)
                                    for line in b.models):
                later = sorted(line.launch for line in b.models if line.launch not in (None, "response")
                               and year_month_index(line.launch, start) > 0)
                first = f" (the first launches {later[0]})" if later else ""
                if b.launch is None:
                    raise FieldError(("brands", n, "models"), f"the brand is on sale at the start (launch omitted: "
                                     f"its owners' cars are on the road) but none of its lines is on sale in "
                                     f"January {start}{first}: give the brand a launch, or a line on sale then")
                raise FieldError(("brands", n, "launch"), f"{b.launch} is not after the run's start ({start}-01), "
                                 f"so the brand is on sale at the start, but none of its lines is on sale in "
                                 f"January {start}{first}: launch the brand when its first line launches, or a "
                                 f"line by {start}-01")
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
