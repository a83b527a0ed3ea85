"""The scenario schema (sim/scenario.py) and its loading (sim/scenario_files.py): `extends`, dotted overrides,
and errors that name the file and the field."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.scenario import Scenario, year_month_index
from sim.scenario_files import (
    SCENARIO_DIR,
    ScenarioError,
    apply_overrides,
    load_scenario,
    parse_override,
    resolve_path,
    set_values,
    validate,
)

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=100)
FLAGSHIP = SCENARIO_DIR / "lexus_us_1989.toml"


def child(tmp_path: Path, body: str, name: str = "child.toml", parent: Path | str = FLAGSHIP) -> Path:
    """A scenario file in tmp_path that extends ``parent`` (absolute path by default)."""
    path = tmp_path / name
    path.write_text(f'extends = "{Path(parent).as_posix() if isinstance(parent, Path) else parent}"\n{body}')
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(*args, **kwargs)
    return str(info.value)


# ---- the flagship ----------------------------------------------------------------------------------------------------
def test_flagship_loads():
    s = load_scenario("lexus_us_1989")
    assert isinstance(s, Scenario)
    assert s.name == "lexus_us_1989"
    assert s.market.start_year == 1986
    assert {"Lexus", "Cadillac", "Mercedes-Benz", "BMW", "Infiniti"} <= set(s.brand_names)
    lexus = s.brands["Lexus"]
    assert lexus.launch == "1989-09"
    assert year_month_index(lexus.launch, s.market.start_year) == 3 * 12 + 8
    assert lexus.service.complimentary_maintenance_months == 36 and lexus.service.loaner_cars
    present = [b for b in s.brands.values() if b.launch is None or year_month_index(b.launch, 1986) <= 0]
    assert sum(b.initial_fleet_share for b in present) == pytest.approx(1.0)
    assert sum(seg.share for seg in s.market.segments.values()) == pytest.approx(1.0)


def test_flagship_by_file_name_and_by_path():
    assert load_scenario("lexus_us_1989.toml") == load_scenario("lexus_us_1989")
    assert load_scenario(FLAGSHIP) == load_scenario("lexus_us_1989")


def test_unknown_scenario_name_suggests_a_near_miss():
    msg = error_of("lexus_us_1998")
    assert "no such scenario" in msg and "did you mean 'lexus_us_1989'" in msg


# ---- unknown fields --------------------------------------------------------------------------------------------------
def test_unknown_field_names_file_path_and_near_miss(tmp_path):
    path = child(tmp_path, "[brands.Lexus.service]\nloaner_car = true\n")
    msg = error_of(path)
    assert str(path) in msg
    assert "brands.Lexus.service.loaner_car" in msg
    assert "unknown field" in msg and "did you mean 'loaner_cars'" in msg


def test_unknown_top_level_table(tmp_path):
    msg = error_of(child(tmp_path, "[simulaton]\nbuyers = 1000\n"))
    assert "simulaton" in msg and "did you mean 'simulation'" in msg


def test_unknown_segment_field(tmp_path):
    msg = error_of(child(tmp_path, "[market.segments.value]\nprestige_wieght = 1.0\n"))
    assert "market.segments.value.prestige_wieght" in msg and "did you mean 'prestige_weight'" in msg


def test_unknown_field_far_from_anything_has_no_suggestion(tmp_path):
    msg = error_of(child(tmp_path, "[choice]\nzzzzqqq = 1\n"))
    assert "choice.zzzzqqq" in msg and "unknown field" in msg and "did you mean" not in msg


def test_unknown_lever_in_a_timeline_is_reported_with_its_path(tmp_path):
    body = '[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { loaner_car = true }\n'
    msg = error_of(child(tmp_path, body))
    assert "brands.Lexus.timeline.0.service" in msg and "loaner_car" in msg
    assert "did you mean 'loaner_cars'" in msg


def test_unknown_lever_in_a_strategy_response():
    msg = error_of("lexus_us_1989", overrides=["brands.Cadillac.strategy.response.dealer_quality=0.9"])
    assert "brands.Cadillac.strategy.response" in msg and "did you mean 'dealer_service_quality'" in msg


def test_bad_lever_value_in_a_timeline(tmp_path):
    body = '[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { roadside_level = 7 }\n'
    msg = error_of(child(tmp_path, body))
    assert "brands.Lexus.timeline.0.service" in msg and "roadside_level" in msg


# ---- values out of range ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [
    ("brands.Lexus.service.proactive_goodwill", 1.5),
    ("brands.Lexus.service.recall_handling", -0.1),
    ("brands.Cadillac.new_car_margin", 2.0),
    ("service_events.breakdown_share", 1.01),
    ("word_of_mouth.aware_on_purchase", -0.5),
])
def test_probability_outside_unit_interval_is_rejected(tmp_path, field, value):
    *tables, key = field.split(".")
    msg = error_of(child(tmp_path, f"[{'.'.join(tables)}]\n{key} = {value}\n"))
    assert field in msg
    msg = error_of("lexus_us_1989", overrides=[f"{field}={value}"])
    assert field in msg and "with --set overrides" in msg


@pytest.mark.parametrize("field", ["brands.Lexus.price", "costs.repair_cost", "market.reference_price"])
def test_negative_money_is_rejected(field):
    msg = error_of("lexus_us_1989", overrides=[f"{field}=-100.0"])
    assert field in msg


def test_negative_price_in_file(tmp_path):
    msg = error_of(child(tmp_path, "[brands.Lexus]\nprice = -30000.0\n"))
    assert "brands.Lexus.price" in msg and "-30000" in msg


def test_resolution_probabilities_must_not_exceed_one():
    msg = error_of("lexus_us_1989", overrides=["brands.Lexus.service.complaint_resolution_slow=0.5"])
    assert "brands.Lexus.service" in msg and "must not exceed 1" in msg


def test_timeline_out_of_order_is_rejected(tmp_path):
    body = ('[[brands.Lexus.timeline]]\ndate = "1995-01"\nprice = 32000.0\n'
            '[[brands.Lexus.timeline]]\ndate = "1993-06"\nprice = 31000.0\n')
    msg = error_of(child(tmp_path, body))
    assert "brands.Lexus.timeline" in msg and "in order" in msg


def test_bad_date_is_rejected(tmp_path):
    msg = error_of(child(tmp_path, '[brands.Lexus]\nlaunch = "1989-13"\n'))
    assert "brands.Lexus.launch" in msg


def test_initial_fleet_shares_must_sum_to_one():
    msg = error_of("lexus_us_1989", overrides=["brands.Cadillac.initial_fleet_share=0.5"])
    assert "initial_fleet_share" in msg and "sum to 1" in msg


def test_segment_shares_must_sum_to_one():
    msg = error_of("lexus_us_1989", overrides=["market.segments.value.share=0.7"])
    assert "market.segments" in msg and "sum to 1" in msg


def test_several_problems_are_all_reported(tmp_path):
    path = child(tmp_path, "[brands.Lexus]\nprice = -1.0\nprestige = 3.0\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert len(info.value.problems) == 2
    assert all(str(path) in p for p in info.value.problems)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[market\nyears = 3\n")
    msg = error_of(path)
    assert str(path) in msg and "TOML" in msg


# ---- extends ---------------------------------------------------------------------------------------------------------
def test_extends_inherits_and_overrides(tmp_path):
    path = child(tmp_path, "question = 'What if?'\n[brands.Lexus.service]\ncomplimentary_maintenance_months = 0\n"
                           "[simulation]\nbuyers = 5000\n", name="no_comp.toml")
    base, s = load_scenario("lexus_us_1989"), load_scenario(path)
    assert s.name == "no_comp"  # the child's own name, not the parent's
    assert s.question == "What if?"
    assert s.brands["Lexus"].service.complimentary_maintenance_months == 0
    # the rest of the table is inherited, not reset to defaults
    assert s.brands["Lexus"].service.loaner_cars == base.brands["Lexus"].service.loaner_cars
    assert s.brands["Lexus"].service.roadside_level == base.brands["Lexus"].service.roadside_level
    assert s.brands["Lexus"].price == base.brands["Lexus"].price
    assert s.simulation.buyers == 5000 and s.simulation.seed == base.simulation.seed
    assert s.market == base.market and s.brands["BMW"] == base.brands["BMW"]


def test_extends_does_not_inherit_name_or_question(tmp_path):
    s = load_scenario(child(tmp_path, "", name="bare.toml"))
    assert s.name == "bare" and s.question == ""


def test_extends_chain_with_relative_path(tmp_path):
    child(tmp_path, "[simulation]\nbuyers = 5000\nseed = 3\n", name="base.toml")
    path = child(tmp_path, "[simulation]\nseed = 9\n", name="leaf.toml", parent="base.toml")
    s = load_scenario(path)
    assert s.simulation.buyers == 5000 and s.simulation.seed == 9
    assert s.brands["Lexus"].launch == "1989-09"


def test_extends_cycle_is_reported(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    msg = error_of(tmp_path / "a.toml")
    assert "cycle" in msg and "a.toml" in msg and "b.toml" in msg


def test_extends_itself_is_a_cycle(tmp_path):
    (tmp_path / "self.toml").write_text('extends = "self.toml"\n')
    assert "cycle" in error_of(tmp_path / "self.toml")


def test_extends_missing_parent(tmp_path):
    msg = error_of(child(tmp_path, "", parent="no_such_parent.toml"))
    assert "no_such_parent" in msg and "no such scenario" in msg


# ---- overrides -------------------------------------------------------------------------------------------------------
def test_override_changes_the_field():
    s = load_scenario("lexus_us_1989", overrides=["brands.Lexus.service.complimentary_maintenance_months=0"])
    base = load_scenario("lexus_us_1989")
    assert s.brands["Lexus"].service.complimentary_maintenance_months == 0
    restored = s.brands["Lexus"].service.model_copy(update={"complimentary_maintenance_months": 36})
    assert restored == base.brands["Lexus"].service
    assert s.brands["Cadillac"] == base.brands["Cadillac"]


def test_overrides_apply_in_order():
    s = load_scenario("lexus_us_1989", overrides=["simulation.buyers=2000", "simulation.buyers=3000",
                                                   "choice.inertia=0.5"])
    assert s.simulation.buyers == 3000 and s.choice.inertia == 0.5


@pytest.mark.parametrize("override,field", [
    ("brands.Lexus.service.complimentary_maintenance_months=lots",
     "brands.Lexus.service.complimentary_maintenance_months"),
    ("brands.Lexus.service.loaner_cars=maybe", "brands.Lexus.service.loaner_cars"),
    ("brands.Lexus.service.roadside_level=2.5", "brands.Lexus.service.roadside_level"),
    ("market.years=[1, 2]", "market.years"),
])
def test_override_with_wrong_type_is_rejected(override, field):
    msg = error_of("lexus_us_1989", overrides=[override])
    assert field in msg and "with --set overrides" in msg


def test_override_of_unknown_field_is_rejected():
    msg = error_of("lexus_us_1989", overrides=["brands.Lexus.service.loaner_car=true"])
    assert "brands.Lexus.service.loaner_car" in msg and "did you mean 'loaner_cars'" in msg


def test_override_syntax_errors():
    with pytest.raises(ScenarioError):
        parse_override("brands.Lexus.price")
    with pytest.raises(ScenarioError):
        parse_override("=3")


def test_parse_override_reads_toml_values():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a.b = 0.5") == (["a", "b"], 0.5)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override('a="x y"') == (["a"], "x y")
    assert parse_override("a=bare") == (["a"], "bare")
    assert parse_override("a=[24, 36]") == (["a"], [24, 36])


@HYP
@given(keys=st.lists(st.sampled_from(["market", "choice", "x", "y"]), min_size=1, max_size=4),
       value=st.integers(-5, 5))
def test_apply_overrides_sets_the_path_and_leaves_the_input_alone(keys, value):
    raw = {"market": {"years": 3, "segments": {"a": {"share": 1.0}}}, "choice": {"inertia": 1.0}}
    snapshot = tomllib.loads("market = {years = 3, segments = {a = {share = 1.0}}}\nchoice = {inertia = 1.0}")
    out = apply_overrides(raw, [f"{'.'.join(keys)}={value}"])
    assert raw == snapshot, "the input dict must not be modified"
    node = out
    for k in keys[:-1]:
        node = node[k]
    assert node[keys[-1]] == value


def test_validate_names_the_source():
    raw = tomllib.loads(FLAGSHIP.read_text())
    raw["brands"]["Lexus"]["price"] = 0
    with pytest.raises(ScenarioError) as info:
        validate(raw, "somewhere.toml")
    assert str(info.value).startswith("somewhere.toml: brands.Lexus.price")


# ---- timeline and response levers are checked against the brand's own policy (regression) ------------------------
# At commit 4393a5d each timeline change / strategy response was validated merged with the ServiceLevers()
# defaults, not with the brand's policy as it stands by then: an invalid change passed load_scenario and
# crashed the model mid-run (agents.policies.apply_levers), and a valid one could be rejected.
def test_timeline_change_invalid_for_the_brand_is_rejected_at_load(tmp_path):
    # Lexus resolves 75% of complaints fast; adding 50% slow would make 125%
    body = '[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { complaint_resolution_slow = 0.5 }\n'
    msg = error_of(child(tmp_path, body))
    assert "brands.Lexus" in msg and "must not exceed 1" in msg


def test_timeline_change_valid_for_the_brand_is_accepted(tmp_path):
    # Lexus resolves 20% slowly, so 80% fast is a valid total of 100% (the default slow share would give 110%)
    body = '[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { complaint_resolution_fast = 0.8 }\n'
    s = load_scenario(child(tmp_path, body))
    assert s.brands["Lexus"].timeline[0].service == {"complaint_resolution_fast": 0.8}


def test_timeline_changes_are_checked_in_sequence(tmp_path):
    """A change is valid given the changes before it: lowering slow first makes room for a higher fast."""
    ok = ('[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { complaint_resolution_slow = 0.1 }\n'
          '[[brands.Lexus.timeline]]\ndate = "1997-01"\nservice = { complaint_resolution_fast = 0.9 }\n')
    assert load_scenario(child(tmp_path, ok, name="ok.toml")).brands["Lexus"].timeline[1].service == {
        "complaint_resolution_fast": 0.9}
    # each change is fine against the brand's starting policy (0.75 + 0.25, 0.8 + 0.2), not after the first
    bad = ('[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { complaint_resolution_slow = 0.25 }\n'
           '[[brands.Lexus.timeline]]\ndate = "1997-01"\nservice = { complaint_resolution_fast = 0.8 }\n')
    assert "brands.Lexus" in error_of(child(tmp_path, bad, name="bad.toml"))


def test_strategy_response_invalid_for_the_brand_is_rejected_at_load():
    msg = error_of("lexus_us_1989", overrides=["brands.Cadillac.strategy.response.complaint_resolution_slow=0.8"])
    assert "brands.Cadillac" in msg and "must not exceed 1" in msg


# ---- what the entry points' docstrings promise -------------------------------------------------------------
@HYP
@given(start=st.integers(1900, 2100), year=st.integers(1900, 2100), month=st.integers(1, 12))
def test_year_month_index_counts_months_from_january_of_the_start(start, year, month):
    index = year_month_index(f"{year:04d}-{month:02d}", start)
    assert divmod(index, 12) == (year - start, month - 1)
    assert (index < 0) == (year < start)


def test_resolve_path_tries_base_then_the_library_with_and_without_toml(tmp_path):
    own = tmp_path / "lexus_us_1989.toml"
    own.write_text("")
    assert resolve_path("lexus_us_1989", base=tmp_path) == own.resolve()  # base first
    assert resolve_path("lexus_us_1989") == FLAGSHIP.resolve()  # then the library (cwd has no such file)
    assert resolve_path(tmp_path / "lexus_us_1989") == own.resolve()  # absolute, ".toml" added
    with pytest.raises(ScenarioError) as info:
        resolve_path("lexus_us_198", base=tmp_path, folder=tmp_path, kind="experiment")
    assert info.value.problems == ["lexus_us_198: no such experiment file (did you mean 'lexus_us_1989'?)"]


def test_set_values_copies_creates_tables_and_plain_numbers():
    raw = tomllib.loads(FLAGSHIP.read_text())
    del raw["satisfaction"]
    before = copy.deepcopy(raw)
    out = set_values(raw, {"brands.Lexus.price_index": np.float64(1.1), "simulation.replications": np.int64(3),
                           "satisfaction.new_car": 0.2})
    assert raw == before, "neither the input nor its nested tables may change"
    assert type(out["brands"]["Lexus"]["price_index"]) is float and type(out["simulation"]["replications"]) is int
    assert out["satisfaction"] == {"new_car": 0.2}  # a missing table is created
    assert validate(out).brands["Lexus"].price_index == 1.1


def test_set_values_never_creates_a_brand_or_segment():
    raw = tomllib.loads(FLAGSHIP.read_text())
    with pytest.raises(ScenarioError) as info:
        set_values(raw, {"brands.Lexsu.price": 1.0}, context="design point 3: ")
    assert info.value.problems == ["design point 3: brands.Lexsu: unknown brand 'Lexsu' (did you mean 'Lexus'?)"]
    with pytest.raises(ScenarioError, match=r"market\.segments\.rich: unknown segment 'rich'"):
        set_values(raw, {"market.segments.rich.share": 0.5})


def test_scenario_error_is_a_value_error_with_one_line_per_problem():
    error = ScenarioError(["a.toml: x: bad", "a.toml: y: worse"])
    assert isinstance(error, ValueError)
    assert str(error).splitlines() == error.problems


def _float_fields(model, prefix: str) -> list[str]:
    """Dotted paths of the float fields of a scenario section (and its sub-sections), from the schema."""
    from pydantic import BaseModel

    out = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _float_fields(value, f"{prefix}{name}.")
        elif isinstance(value, float) and not isinstance(value, bool):
            out.append(f"{prefix}{name}")
    return out


def test_every_float_field_refuses_non_finite_numbers():
    """TOML writes nan and inf; no number luxsim reads may be one (a field with only a lower bound once took inf
    and ran with NaN profit). Every float field of every section, the flagship's brands and levers included."""
    flagship = load_scenario("lexus_us_1989")
    paths = []
    for section in ("market", "service_events", "satisfaction", "word_of_mouth", "choice", "costs"):
        paths += _float_fields(getattr(flagship, section), f"{section}.")
    paths += _float_fields(flagship.brands["Lexus"], "brands.Lexus.")
    assert len(paths) > 40 and "brands.Lexus.price_index" in paths
    assert "brands.Lexus.service.dealer_service_quality" in paths
    for path in paths:
        for bad in ("inf", "-inf", "nan"):
            with pytest.raises(ScenarioError, match=rf"{re.escape(path)}: Input should be a finite number"):
                load_scenario("lexus_us_1989", [f"{path}={bad}"])


# ---- every number of every input schema: finite, and of its own kind ------------------------------------------------
def _input_schemas() -> list[type]:
    """Every model built on ``StrictModel``: the scenario's sections, experiment and calibration files."""
    import sim.calibration_problem  # noqa: F401  (their models register as subclasses)
    import sim.experiment  # noqa: F401
    from sim.scenario import StrictModel

    found, todo = [], [StrictModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if not sub.__name__.startswith("Lever_"):  # one-field models of the levers (built on demand)
                found.append(sub)
            todo.append(sub)
    return found


def _bad_values(annotation) -> list[tuple[object, str]]:
    """(value, pydantic error type) pairs a field of this annotation must refuse: non-finite numbers, booleans
    for numbers, numbers for booleans, fractions for integers; inside tuples, lists and tables too."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _bad_values(args[0])
    if origin in (typing.Union, types.UnionType):
        return [bad for a in args if a is not type(None) for bad in _bad_values(a)]
    if annotation is bool:
        return [(1, "bool_type"), (0.0, "bool_type")]
    if annotation is int:
        return [(True, "int_type"), (2.0, "int_type"), (2.5, "int_type")]
    if annotation is float:
        return [(float("nan"), "finite_number"), (float("inf"), "finite_number"), (-float("inf"), "finite_number"),
                (True, "float_type")]
    if origin is tuple and args:
        return [([value] * len(args), kind) for value, kind in _bad_values(args[0])]
    if origin is list and args:
        return [([value], kind) for value, kind in _bad_values(args[0])]
    if origin is dict and args:
        key = typing.get_args(args[0])[0] if typing.get_args(args[0]) else "x"  # a Literal's first value
        return [({key: value}, kind) for value, kind in _bad_values(args[1])]
    return []


def test_every_number_of_every_input_schema_is_finite_and_of_its_kind():
    """A rule of the base schema (``sim.scenario.StrictModel``), so no field can forget it: no NaN or infinity
    (``outside_utility = nan`` once ran), no boolean for a number (``dealers = true`` once gave 1 dealer), no number
    for a boolean, no fraction for an integer; each refused at the field, whatever the model."""
    checked = 0
    for model in _input_schemas():
        for name, field in model.model_fields.items():
            for value, kind in _bad_values(field.annotation):
                with pytest.raises(Exception) as info:
                    model.__pydantic_validator__.validate_assignment(model.model_construct(), name, value)
                errors = info.value.errors()
                assert errors[0]["loc"][0] == name and errors[0]["type"] == kind, (model.__name__, name, value, errors)
                checked += 1
    assert checked > 300


def test_an_integer_is_a_number_where_a_number_is_meant():
    s = load_scenario("lexus_us_1989", ["choice.inertia=3", "costs.rescue_cost=[0, 90, 300, 1200]",
                                        "brands.Lexus.timeline=[{date = \"1990-01\", service = {dealer_service_quality"
                                        " = 1}}]"])
    assert s.choice.inertia == 3.0 and isinstance(s.choice.inertia, float)
    assert all(isinstance(v, float) for v in s.costs.rescue_cost)
    assert s.brands["Lexus"].timeline[0].service == {"dealer_service_quality": 1.0}


@pytest.mark.parametrize(("override", "reason"), [
    ("brands.Lexus.dealers=true", "brands.Lexus.dealers: Input should be a valid integer (got True)"),
    ("market.years=2.0", "market.years: Input should be a valid integer (got 2.0)"),
    ("brands.Lexus.service.loaner_cars=1", "brands.Lexus.service.loaner_cars: Input should be a valid boolean (got 1)"),
    ("choice.inertia=true", "choice.inertia: Input should be a valid number (got True)"),
    ("costs.rescue_cost=[0, 90, 300, true]", "costs.rescue_cost.3: Input should be a valid number (got True)"),
    ("market.tier_price_ratio.mid=nan", "market.tier_price_ratio.mid: Input should be a finite number (got nan)"),
    ("market.segments.value.outside_utility=nan",
     "market.segments.value.outside_utility: Input should be a finite number (got nan)"),
    ("market.reference_price=inf", "market.reference_price: Input should be a finite number (got inf)"),
    ("brands.Lexus.timeline=[{date = \"1990-01\", service = {roadside_level = true}}]",
     "brands.Lexus.timeline.0.service: roadside_level: Input should be a valid integer (got True)"),
    ("brands.Lexus.strategy.response={loaner_cars = 1}",
     "brands.Lexus.strategy.response: loaner_cars: Input should be a valid boolean (got 1)"),
])
def test_set_overrides_of_the_wrong_kind_are_refused_with_the_field(override, reason):
    with pytest.raises(ScenarioError) as info:
        load_scenario("lexus_us_1989", [override])
    assert info.value.problems == [f"{FLAGSHIP} (with --set overrides): {reason}"]
