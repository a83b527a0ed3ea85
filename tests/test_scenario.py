"""The scenario schema (sim/scenario.py) and its loading (sim/scenario_files.py): `extends`, dotted overrides,
and errors that name the file and the field."""

from __future__ import annotations

import copy
import re
import tomllib
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.scenario import Scenario, year_month_index
from sim.scenario_files import (
    SCENARIO_DIR,
    ScenarioError,
    apply_overrides,
    load_scenario,
    parse_override,
    read_raw,
    resolve_path,
    set_values,
    validate,
)
from tests.conftest import HANG_GUARD_S

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
    assert "brands.Lexus.timeline[1995-01].service" in msg and "loaner_car" in msg
    assert "did you mean 'loaner_cars'" in msg


def test_unknown_lever_in_a_strategy_response():
    msg = error_of("lexus_us_1989", overrides=["brands.Cadillac.strategy.response.dealer_quality=0.9"])
    assert "brands.Cadillac.strategy.response" in msg and "did you mean 'dealer_service_quality'" in msg


@pytest.mark.parametrize(("body", "field", "fix"), [
    ('[[brands.BMW.timeline]]\ndate = "1999-01"\ncomplimentary_maintenance_months = 36\n',
     "brands.BMW.timeline[1999-01].complimentary_maintenance_months",
     "is a service lever: write service = { complimentary_maintenance_months = 36 } in the timeline entry"),
    ("[brands.BMW]\nloaner_cars = true\n", "brands.BMW.loaner_cars",
     "is a service lever: write it under [brands.BMW.service], or as brands.BMW.service.loaner_cars = true"),
    ("[brands.BMW.strategy]\nroadside_level = 2\n", "brands.BMW.strategy.roadside_level",
     "is a service lever: write it under [brands.BMW.strategy.response], or as "
     "brands.BMW.strategy.response.roadside_level = 2"),
    ("years = 5\n", "years", "is a field of market: write it under [market], or as market.years = 5"),
    ('[brands.Lexus]\nbody = "suv"\n', "brands.Lexus.body",
     "is a field of each models entry: write it in a [[brands.Lexus.models]] entry"),
])
def test_a_known_field_written_one_level_too_high_says_where_it_belongs(tmp_path, body, field, fix):
    """A fresh user wrote a service lever straight into a timeline entry and got a bare 'unknown field'."""
    path = child(tmp_path, body)
    assert error_of(path) == f"{path}: {field}: unknown field: {field.rsplit('.', 1)[-1]} {fix}"


@pytest.mark.parametrize("value", ["-5", '"lots"', "0", "1e6", "true", '"Unlimited"'])
def test_a_bad_dealer_capacity_change_is_one_line_without_pydantic_internals(tmp_path, value):
    """``dealer_capacity`` takes a number or "unlimited": pydantic reported one line per kind, each under its internal
    name (``.constrained-float``, ``."literal['unlimited']"``)."""
    path = child(tmp_path, f'[[brands.Lexus.timeline]]\ndate = "1999-01"\ndealer_capacity = {value}\n')
    got = repr(tomllib.loads(f"x = {value}")["x"])
    assert error_of(path) == (f"{path}: brands.Lexus.timeline[1999-01].dealer_capacity: must be a number of cars a "
                              f"dealer delivers a year, above 0 and at most 10,000, or \"unlimited\" to lift the limit "
                              f"(got {got})")
    assert "constrained" not in error_of(path) and "literal[" not in error_of(path)


@pytest.mark.parametrize("value", ['"soon"', '"1990-13"', "5"])
def test_a_bad_model_line_launch_is_one_line_without_pydantic_internals(tmp_path, value):
    body = f'[[brands.Lexus.models]]\nname = "ES"\nbody = "sedan"\nlaunch = {value}\nprice = 25000.0\n'
    msg = error_of(child(tmp_path, body))
    assert "\n" not in msg and "constrained" not in msg and "literal[" not in msg and "pattern" not in msg
    assert (': brands.Lexus.models[ES].launch: must be a date as "YYYY-MM" with a month 01-12 (the first month on '
            'sale), or ') in msg


@pytest.mark.parametrize("where, body", [
    ("brands.Lexus.launch", 'brands.Lexus.launch = "{}"\n'),
    ("brands.Lexus.timeline[{}].date", '[[brands.Lexus.timeline]]\ndate = "{}"\ndiscount = 0.1\n'),
    ("brands.Lexus.models[ES].end", '[[brands.Lexus.models]]\nname = "ES"\nbody = "sedan"\nend = "{}"\n'
                                    'price = 25000.0\n'),
    ("brands.Lexus.models[ES].prices[{}].date", '[[brands.Lexus.models]]\nname = "ES"\nbody = "sedan"\n'
                                              'price = 25000.0\nprices = [{{ date = "{}", price = 26000.0 }}]\n'),
])
@pytest.mark.parametrize("date", ["1990-13", "1990-1", "90-01", "soon"])
def test_a_malformed_date_says_what_a_date_is_not_the_regex(tmp_path, where, body, date):
    """A ``YYYY-MM`` field given a malformed date was 'String should match pattern '^\\d{4}-(0[1-9]|1[0-2])$''."""
    path = child(tmp_path, body.format(date))
    msg = error_of(path)
    assert msg == f'{path}: {where.format(date)}: must be a date as "YYYY-MM" with a month 01-12 (got {date!r})'
    assert "pattern" not in msg and "^\\d" not in msg and "[1-9]" not in msg


def test_a_malformed_date_from_the_command_line_is_one_plain_line():
    msg = error_of(FLAGSHIP, ["brands.Lexus.launch=1990-13"])
    assert msg == (f'{FLAGSHIP} (with --set overrides): brands.Lexus.launch: must be a date as "YYYY-MM" with a '
                   "month 01-12 (got '1990-13')")
    assert "pattern" not in msg and "^\\d" not in msg


def test_every_union_of_plain_values_in_the_scenario_has_its_one_line_reason():
    """Any field that takes one of several kinds of value gets a reason in UNION_REASONS (a new one would fall back
    to pydantic's reasons joined by 'or')."""
    from pydantic import BaseModel

    from sim.scenario_files import UNION_REASONS, _unwrap

    found = set()
    for model in _input_schemas():
        for name, field in model.model_fields.items():
            kinds = _unwrap(field.annotation)
            if isinstance(kinds, tuple) and not any(isinstance(k, type) and issubclass(k, BaseModel) for k in kinds):
                found.add((model.__name__, name))
    assert found == set(UNION_REASONS)  # experiment, calibration and optimisation files' models too


def test_a_brand_launched_before_the_start_without_a_line_then_is_blamed_on_its_launch(tmp_path):
    """``brands.Lexus.launch = "1700-01"`` was '(top level): brands.Lexus.models: ...'."""
    reason = ("1700-01 is not after the run's start (1986-01), so the brand is on sale at the start, but none of its "
              "lines is on sale in January 1986 (the first launches 1989-09): launch the brand when its first line "
              "launches, or a line by 1986-01")
    path = child(tmp_path, 'brands.Lexus.launch = "1700-01"\n')
    assert error_of(path) == f"{path}: brands.Lexus.launch: {reason}"
    assert error_of(FLAGSHIP, ["brands.Lexus.launch=1700-01"]) == (
        f"{FLAGSHIP} (with --set overrides): brands.Lexus.launch: {reason}")


def test_bad_lever_value_in_a_timeline(tmp_path):
    body = '[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { roadside_level = 7 }\n'
    msg = error_of(child(tmp_path, body))
    assert "brands.Lexus.timeline[1995-01].service" in msg and "roadside_level" in msg


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
    """The line names the file that says ``extends`` and the field, not only the missing name (found by the fuzzer,
    tests/test_fuzz.py)."""
    path = child(tmp_path, "", parent="no_such_parent.toml")
    assert error_of(path) == f"{path}: extends: no_such_parent.toml: no such scenario file"


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
    assert s.brands["Lexus"].timeline[-1].service == {"complaint_resolution_fast": 0.8}  # after the inherited ones


def test_timeline_changes_are_checked_in_sequence(tmp_path):
    """A change is valid given the changes before it: lowering slow first makes room for a higher fast."""
    ok = ('[[brands.Lexus.timeline]]\ndate = "1995-01"\nservice = { complaint_resolution_slow = 0.1 }\n'
          '[[brands.Lexus.timeline]]\ndate = "1997-01"\nservice = { complaint_resolution_fast = 0.9 }\n')
    assert load_scenario(child(tmp_path, ok, name="ok.toml")).brands["Lexus"].timeline[-1].service == {
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


# ---- extends: lists of dated or named tables merge entry by entry; replace = [...] for a whole value (issue #14) ----
def _old_merge(base: dict, override: dict) -> dict:
    """The merge before issue #14: tables key by key, any other value (every list) the child's."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _old_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _without_replace(raw):
    if isinstance(raw, dict):
        return {k: _without_replace(v) for k, v in raw.items() if k != "replace"}
    return raw


def _old_load(path: Path) -> Scenario:
    raw = _without_replace(tomllib.loads(path.read_text()))
    if "extends" in raw:
        parent = _old_load(resolve_path(raw.pop("extends"), base=path.parent)).model_dump(mode="json",
                                                                                         exclude_none=True)
        for key in ("name", "question", "description", "extends"):
            parent.pop(key, None)
        raw = _old_merge(parent, raw)
    raw.setdefault("name", path.stem)
    return validate(raw, str(path))


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
def test_every_shipped_scenario_loads_as_it_did_before_lists_were_merged(name):
    """The library relied on a child's list replacing its parent's only in incumbents_never_respond, which now says
    replace = ["timeline"]; every shipped scenario resolves to what the old rule gave."""
    path = SCENARIO_DIR / f"{name}.toml"
    assert load_scenario(path) == _old_load(path)


def test_a_child_timeline_entry_keeps_the_inherited_entries(tmp_path):
    """Issue #14's example: one Mercedes-Benz entry for 1995 used to wipe the inherited Mercedes timeline."""
    base = load_scenario("lexus_us_1989").brands["Mercedes-Benz"].timeline
    s = load_scenario(child(tmp_path, '[[brands.Mercedes-Benz.timeline]]\ndate = "1995-01"\n'
                                      'service = { loaner_cars = true }\n'))
    timeline = s.brands["Mercedes-Benz"].timeline
    assert [c.date for c in timeline] == sorted([c.date for c in base] + ["1995-01"])
    assert [c for c in timeline if c.date != "1995-01"] == base
    assert next(c for c in timeline if c.date == "1995-01").service == {"loaner_cars": True}


def test_a_child_entry_replaces_the_parent_entry_of_the_same_date_whole(tmp_path):
    base = {c.date: c for c in load_scenario("lexus_us_1989").brands["BMW"].timeline}
    assert len(base["1997-01"].service) > 1  # the parent's entry changes more than one lever
    s = load_scenario(child(tmp_path, '[[brands.BMW.timeline]]\ndate = "1997-01"\nservice = { loaner_cars = true }\n'))
    timeline = {c.date: c for c in s.brands["BMW"].timeline}
    assert timeline.keys() == base.keys()
    assert timeline["1997-01"].service == {"loaner_cars": True} and timeline["1997-01"].note == ""
    assert all(timeline[d] == base[d] for d in base if d != "1997-01")


dates = st.sets(st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(1990, 2005), st.integers(1, 12)), max_size=5)


@HYP
@given(parent=dates, child_dates=dates)
def test_dated_lists_merge_by_date_the_child_winning(parent, child_dates):
    """Any parent and child timelines: the merged one has every date of either, once, in order; a date the child
    gives is the child's entry, any other the parent's."""
    import tempfile

    def entries(ds, who):
        return "".join(f'[[brands.Lexus.timeline]]\ndate = "{d}"\nnote = "{who}"\n' for d in sorted(ds))

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "parent.toml").write_text(f'extends = "{FLAGSHIP.as_posix()}"\n'
                                            '[brands.Lexus]\nreplace = ["timeline"]\n'
                                            + (entries(parent, "parent") or "timeline = []\n"))
        (folder / "child.toml").write_text('extends = "parent.toml"\n' + entries(child_dates, "child"))
        timeline = load_scenario(folder / "child.toml").brands["Lexus"].timeline
    assert [c.date for c in timeline] == sorted(parent | child_dates)
    assert all(c.note == ("child" if c.date in child_dates else "parent") for c in timeline)


def test_model_lines_merge_by_name_in_the_parent_order(tmp_path):
    base = load_scenario("lexus_us_1989").brands["Lexus"].models
    first = base[0]
    body = (f'[[brands.Lexus.models]]\nname = "{first.name}"\nbody = "{first.body}"\ntier = "{first.tier}"\n'
            f'price = 99000.0\n'
            '[[brands.Lexus.models]]\nname = "Concept"\nbody = "coupe"\nlaunch = "2005-01"\nprice = 50000.0\n')
    models = load_scenario(child(tmp_path, body)).brands["Lexus"].models
    assert [m.name for m in models] == [m.name for m in base] + ["Concept"]
    assert models[0].price == 99000.0 and models[0].prices == []  # replaced whole: the parent's price path is gone
    assert models[1:-1] == base[1:]


def test_replace_makes_a_list_the_childs_whole(tmp_path):
    s = load_scenario(child(tmp_path, '[brands.Mercedes-Benz]\nreplace = ["timeline"]\n'
                                      '[[brands.Mercedes-Benz.timeline]]\ndate = "1995-01"\n'
                                      'service = { loaner_cars = true }\n'))
    assert [c.date for c in s.brands["Mercedes-Benz"].timeline] == ["1995-01"]
    never = load_scenario("incumbents_never_respond")
    assert never.brands["Mercedes-Benz"].timeline == [] and never.brands["BMW"].timeline == []


def test_replace_makes_a_table_the_childs_whole(tmp_path):
    s = load_scenario(child(tmp_path, '[brands.Lexus]\nreplace = ["service"]\nservice = { loaner_cars = true }\n'))
    assert s.brands["Lexus"].service == s.brands["Lexus"].service.model_validate({"loaner_cars": True})


def test_an_empty_list_that_would_merge_nothing_is_refused_with_the_fix(tmp_path):
    path = child(tmp_path, "[brands.BMW]\ntimeline = []\n")
    assert error_of(path) == (f"{path}: brands.BMW.timeline: an empty list merges nothing into the inherited one; "
                              'to remove the inherited entries, write replace = ["timeline"] in brands.BMW')


@pytest.mark.parametrize("body,reason", [
    ('[brands.BMW]\nreplace = ["timelin"]\ntimeline = []\n', "'timelin' is not a key of brands.BMW (did you mean "
                                                            "'timeline'?)"),
    ('[brands.BMW]\nreplace = "timeline"\ntimeline = []\n', "must be a list of key names of this table"),
])
def test_a_bad_replace_names_the_file_and_the_field(tmp_path, body, reason):
    path = child(tmp_path, body)
    msg = error_of(path)
    assert msg.startswith(f"{path}: brands.BMW.replace: ") and reason in msg and "\n" not in msg


# ---- dates outside the run (issue #14): refused or warned, against the run as configured --------------------------
def test_two_timeline_entries_on_one_date_are_refused(tmp_path):
    body = ('[[brands.Lexus.timeline]]\ndate = "1995-01"\ndiscount = 0.05\n'
            '[[brands.Lexus.timeline]]\ndate = "1995-01"\nprice_index = 1.1\n')
    path = child(tmp_path, body)
    assert error_of(path) == (f"{path}: brands.Lexus.timeline: two timeline entries dated 1995-01: put that date's "
                              "changes in one entry")


def _warnings(*args) -> list[str]:
    import warnings

    from sim.scenario_files import ScenarioWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_scenario(*args)
    return [str(w.message) for w in caught if issubclass(w.category, ScenarioWarning)]


@HYP
@given(years=st.integers(1, 6))
def test_a_launch_after_the_last_month_warns_against_the_run_as_configured(years):
    """generic_new_entrant starts in 2020; its entrant launches in January 2022: it never sells in a run of one or
    two years, and the warning says so in one line naming the file and the field."""
    lines = _warnings("generic_new_entrant", [f"market.years={years}"])
    if years <= 2:
        assert lines == [f"{SCENARIO_DIR / 'generic_new_entrant.toml'} (with --set overrides): brands.Entrant.launch: "
                         f"2022-01 is after the run's last month ({2019 + years}-12): the brand never sells"]
    else:
        assert lines == []


def test_timeline_entries_and_lines_outside_the_run_warn(tmp_path):
    path = child(tmp_path, '[[brands.Heritage.timeline]]\ndate = "2018-06"\ndiscount = 0.05\n'
                           '[[brands.Heritage.timeline]]\ndate = "2030-01"\ndiscount = 0.1\n'
                           '[[brands.Sporty.timeline]]\ndate = "2021-01"\ndiscount = 0.02\n',
                 parent=SCENARIO_DIR / "generic_new_entrant.toml")
    assert _warnings(path, ["market.years=5"]) == [
        f"{path} (with --set overrides): brands.Heritage.timeline: 2030-01 after the run's last month (2024-12): "
        "never in force",
        f"{path} (with --set overrides): brands.Heritage.timeline: 2018-06 before the run's start (2020-01): in force "
        "from the start"]
    lines = _warnings("lexus_us_1989", ["market.years=10"])  # 1986-1995: later launches and changes are expected
    assert lines == [f"{SCENARIO_DIR / 'lexus_us_1989.toml'} (with --set overrides): market.years: the run ends "
                     "1995-12 (10 of the file's 25 years): the dates after it in brands.Cadillac.models, "
                     "brands.Lincoln.models, brands.Mercedes-Benz.timeline and 7 more never take effect"]
    assert len(_warnings("lexus_us_1989", ["market.years=2"])) == 1  # one line, however many dates
    assert _warnings("lexus_us_1989") == []  # the flagship as shipped dates nothing outside its run


# ---- files: encodings (issue #14) ----------------------------------------------------------------------------------
def test_a_byte_order_mark_is_accepted(tmp_path):
    path = child(tmp_path, "[simulation]\nbuyers = 5000\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_scenario(path).simulation.buyers == 5000


@pytest.mark.parametrize("data,reason", [
    ("# caf\xe9\n[market]\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 1): save the file as UTF-8"),
    ("[market]\nyears = 3\n".encode("utf-16"), "not UTF-8 text (it is UTF-16): save the file as UTF-8"),
])
def test_a_file_that_is_not_utf8_is_one_line_naming_it(tmp_path, data, reason):
    path = tmp_path / "latin.toml"
    path.write_bytes(data)
    assert error_of(path) == f"{path}: {reason}"
    (tmp_path / "leaf.toml").write_text('extends = "latin.toml"\n')  # found through extends too
    assert error_of(tmp_path / "leaf.toml") == f"{path.resolve()}: {reason}"


def test_experiments_and_calibrations_are_read_the_same_way(tmp_path):
    from sim.calibration_problem import load_calibration
    from sim.experiment import load_experiment

    for name, loader in (("lexus_service_grid", load_experiment), ("lexus_us_1989", load_calibration)):
        folder = SCENARIO_DIR / ("experiments" if loader is load_experiment else "calibration")
        path = tmp_path / f"{name}.toml"
        text = (folder / f"{name}.toml").read_text().replace('scenario = "lexus_us_1989"',
                                                             f'scenario = "{FLAGSHIP.as_posix()}"')
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        loader(path)  # a byte-order mark is accepted
        path.write_bytes(text.encode("latin-1", "replace") + b"\n# \xe9\n")
        with pytest.raises(ScenarioError, match="not UTF-8 text"):
            loader(path)


# ---- field paths: a name holding a dot is quoted (issue #14) ------------------------------------------------------
@HYP
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), min_size=1, max_size=4))
def test_field_paths_round_trip_whatever_the_names(parts):
    from sim.scenario_files import join_path, split_path

    assert split_path(join_path(parts)) == parts
    keys, value = parse_override(f"{join_path(parts)}=3")
    assert keys == parts and value == 3


@HYP
@given(parts=st.lists(st.sampled_from(["market", "years", "brands", '"Mercedes.Benz"', "service", "x"]), min_size=1,
                      max_size=4),
       at=st.integers(0, 4), spaces=st.sampled_from(["", " "]))
def test_a_set_path_with_an_empty_part_is_refused_naming_the_set_text(parts, at, spaces):
    """``--set market..years=3``, a leading or a trailing dot: a typo, refused in one line naming the text (it was
    read as market.years)."""
    parts = [*parts]
    parts.insert(min(at, len(parts)), spaces)
    text = ".".join(parts) + "=3"
    with pytest.raises(ScenarioError) as info:
        load_scenario("lexus_us_1989", [text])
    path = text[:-2]
    assert info.value.problems == [f"--set {text}: empty part in the field path {path!r} (two dots together, or a "
                                   "dot at one end)"]


def test_a_brand_named_with_a_dot_is_reached_by_quoting_it(tmp_path):
    text = (SCENARIO_DIR / "generic_new_entrant.toml").read_text().replace("[brands.Sporty]", '[brands."Sporty.S"]')
    path = tmp_path / "dotted.toml"
    path.write_text(text)
    assert load_scenario(path, ['brands."Sporty.S".dealers=3']).brands["Sporty.S"].dealers == 3
    assert load_scenario(path, ["brands.'Sporty.S'.dealers = 4"]).brands["Sporty.S"].dealers == 4
    assert error_of(path, ["brands.Sporty.S.dealers=3"]) == (
        "--set brands.Sporty.S.dealers=3: brands.Sporty: unknown brand 'Sporty' (did you mean 'Sporty.S'?)")
    assert error_of(path, ['brands."Sporty.S".dealerz=3']).endswith(
        """brands."Sporty.S".dealerz: unknown field (did you mean 'dealers'?)""")
    assert error_of(path, ['brands."Sporty.S.dealers=3']) == (
        '--set brands."Sporty.S.dealers=3: unclosed " in the field path')


def _list_paths(node, prefix=()):
    """Every field path of a raw scenario whose value is a list (timelines, model lines, lease_trend, ...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _list_paths(value, (*prefix, key))
    elif isinstance(node, list):
        yield prefix


FLAGSHIP_LISTS = sorted(set(_list_paths(read_raw(FLAGSHIP))))


@settings(HYP, max_examples=20)
@given(path=st.sampled_from(FLAGSHIP_LISTS), item=st.sampled_from(["0", "1", "-1", "x", "price"]),
       rest=st.lists(st.sampled_from(["price", "date", "value", "year"]), max_size=2))
def test_a_set_path_into_a_list_says_so_in_one_line(path, item, rest):
    """Issue #14: ``--set brands.Lexus.models.0.price=40000`` was refused as "Input should be a valid list" (the
    override had replaced the list by a table). A field path reaches tables' fields, never a list's items: one line
    says so and what to do instead."""
    from sim.scenario_files import join_path

    text = f"{join_path([*path, item, *rest])}=1"
    assert error_of(FLAGSHIP, [text]) == (
        f"--set {text}: {join_path(path)} is a list: a field path cannot reach its items; set the whole list, or "
        "change the item in a scenario file that extends this one")


@settings(HYP, max_examples=12)
@given(value=st.sampled_from(["abc", "3", "0", "-1", "true", "nan", "1e9", '"5"']), years=st.integers(1, 30))
def test_an_option_never_silently_overwrites_a_set_of_the_same_field(value, years):
    """Issue #14: ``--set market.years=abc --years 3`` ran (the bad --set was overwritten unseen). An option and a
    --set of one field are refused together, whatever the value, naming both."""
    assert error_of(FLAGSHIP, [f"market.years={value}"], {"--years": f"market.years={years}"}) == (
        f"--years: market.years is also set by --set market.years={value}: give one of them")
    assert load_scenario(FLAGSHIP, ["market.annual_growth=0.01"], {"--years": "market.years=3"}).market.years == 3


# ---- every number of every input schema: finite, and of its own kind ------------------------------------------------
def _input_schemas() -> list[type]:
    """Every model built on ``StrictModel``: the scenario's sections, experiment, calibration and optimisation
    files."""
    import sim.calibration_problem  # noqa: F401  (their models register as subclasses)
    import sim.experiment  # noqa: F401
    import sim.optimisation_problem  # noqa: F401
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


@pytest.mark.parametrize("text", ["brands.\"a\\nb\".dealers=1", "market.segments.status.share=[\n    nan,\n]",
                                  "brands.\"\\u001b[31mred\".dealers=1"])
def test_a_problem_stays_on_one_line_whatever_the_input_holds(text):
    """A line break (or a terminal escape) in a name, a value or a --set text is written as an escape: one line per
    problem (found by the fuzzer, tests/test_fuzz.py)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario("lexus_us_1989", [text])
    assert not any(re.search(r"[\x00-\x1f\x7f]", line) for line in info.value.problems), info.value.problems
    assert str(info.value).count("\n") == len(info.value.problems) - 1


@pytest.mark.parametrize(("override", "field"), [  # each overflowed the model's arithmetic before it had a range
    ("costs.maintenance_cost=1e308", "costs.maintenance_cost"),
    ("costs.rescue_cost=[0, 90, 300, -1e308]", "costs.rescue_cost.3"),
    ("word_of_mouth.decay_months=1e-300", "word_of_mouth.decay_months"),  # an OverflowError traceback
    ("choice.prestige_months=5e-324", "choice.prestige_months"),
    ("service_events.maintenance_interval_months=0.5", "service_events.maintenance_interval_months"),
    ("market.reference_price=5e-324", "market.reference_price"),
    ("market.tier_price_ratio.mid=5e-324", "market.tier_price_ratio.mid"),
    ("brands.Acura.price_index=5e-324", "brands.Acura.price_index"),
    ("choice.dealer_weight=1e308", "choice.dealer_weight"),
    ("market.segments.value.perk_weight=1e308", "market.segments.value.perk_weight"),
    ("market.segments.value.outside_utility=-1e308", "market.segments.value.outside_utility"),
    ("market.lease_months=[9223372036854775807, 9223372036854775807]", "market.lease_months.0"),  # a crash: heap
    ("market.lease_months=[36, 24]", "market.lease_months"),
    ("costs.warranty_months=9223372036854775808", "costs.warranty_months"),  # 2^63: an OverflowError traceback
    ("brands.Cadillac.defects_per_car_year=1.7976931348623157e308", "brands.Cadillac.defects_per_car_year"),
    ("market.segment_households=100000000000000000000", "market.segment_households"),
])
def test_numbers_beyond_what_their_field_can_mean_are_refused_with_the_field(override, field):
    with pytest.raises(ScenarioError) as info:
        load_scenario("lexus_us_1989", [override])
    assert info.value.problems[0].startswith(f"{FLAGSHIP} (with --set overrides): {field}: "), info.value.problems


@pytest.mark.parametrize("table, kind", [(("brands",), "brand"), (("market", "segments"), "segment")])
def test_a_brand_or_a_segment_needs_a_name(table, kind):
    """A brand named "" without model lines was a pydantic traceback when the model built its implicit line (found
    by the fuzzer, tests/test_fuzz.py)."""
    raw = read_raw(SCENARIO_DIR / "generic_new_entrant.toml")
    names = raw
    for key in table:
        names = names[key]
    names[""] = names.pop(next(iter(names)))
    with pytest.raises(ScenarioError) as info:
        validate(raw, "x.toml")
    assert info.value.problems == [f"x.toml: {'.'.join(table)}: a {kind}'s name must not be empty"]


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
     "brands.Lexus.timeline[1990-01].service.roadside_level: Input should be a valid integer (got True)"),
    ("brands.Lexus.strategy.response={loaner_cars = 1}",
     "brands.Lexus.strategy.response.loaner_cars: Input should be a valid boolean (got 1)"),
])
def test_set_overrides_of_the_wrong_kind_are_refused_with_the_field(override, reason):
    with pytest.raises(ScenarioError) as info:
        load_scenario("lexus_us_1989", [override])
    assert info.value.problems == [f"{FLAGSHIP} (with --set overrides): {reason}"]


# ---- every bad lever of an inline table, one line each (issue #14) ------------------------------------------------
BAD_LEVERS = {  # a bad value of each kind a lever can have, and its line
    "roadside_level": ("9", "Input should be less than or equal to 3 (got 9)"),
    "loaner_cars": ("3", "Input should be a valid boolean (got 3)"),
    "complimentary_maintenance_months": ("2.0", "Input should be a valid integer (got 2.0)"),
    "proactive_goodwill": ("nan", "Input should be a finite number (got nan)"),
    "recall_handling": ("-0.5", "Input should be greater than or equal to 0 (got -0.5)"),
    "loaner_carz": ("true", "unknown field (did you mean 'loaner_cars'?)"),
}


@HYP
@given(bad=st.lists(st.sampled_from(sorted(BAD_LEVERS)), min_size=1, max_size=len(BAD_LEVERS), unique=True),
       where=st.sampled_from(["file", "timeline --set", "response --set"]))
def test_every_bad_lever_of_an_inline_table_is_one_line_at_its_own_path(tmp_path_factory, bad, where):
    """``service = { roadside_level = 9, loaner_cars = 3 }`` in a timeline entry (a file or --set) or a strategy's
    response: one line per bad lever, each at its own field path, as for fields of a table."""
    table = "{ " + ", ".join(f"{name} = {BAD_LEVERS[name][0]}" for name in bad) + " }"
    if where == "file":
        path = child(tmp_path_factory.mktemp("levers"), f'[[brands.Lexus.timeline]]\ndate = "1995-01"\n'
                                                        f"service = {table}\n")
        args, field = (path,), "brands.Lexus.timeline[1995-01].service"
    elif where == "timeline --set":
        path, field = FLAGSHIP, "brands.Lexus.timeline[1995-01].service"
        args = (path, [f'brands.Lexus.timeline=[{{ date = "1995-01", service = {table} }}]'])
    else:
        path, field = FLAGSHIP, "brands.BMW.strategy.response"
        args = (path, [f"{field}={table}"])
    with pytest.raises(ScenarioError) as info:
        load_scenario(*args)
    source = f"{path}" + (" (with --set overrides)" if len(args) > 1 else "")
    assert sorted(info.value.problems) == sorted(f"{source}: {field}.{name}: {BAD_LEVERS[name][1]}" for name in bad)


# ---- explain prints a file that loads back (issue #14) -------------------------------------------------------------
SHIPPED = sorted(p.name for p in SCENARIO_DIR.glob("*.toml"))
# any text a name or question may hold (control and format characters are refused: the tests below)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf")), max_size=200)


@HYP
@given(file=st.sampled_from(SHIPPED), question=TEXT, name=TEXT.filter(str.strip), years=st.integers(1, 40))
def test_the_resolved_scenario_explain_prints_loads_back_as_the_same_scenario(tmp_path_factory, file, question, name,
                                                                               years):
    """What ``explain`` prints (comments, then the resolved fields) is a scenario file: saved and loaded, it gives the
    same Scenario, whatever its name and question hold (brackets, quotes, unicode line separators, long lines)."""
    import warnings

    from sim.files import toml_inline
    from sim.scenario_files import scenario_toml

    overrides = [f"question={toml_inline(question)}", f"name={toml_inline(name)}", f"market.years={years}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dates outside a shortened run
        scenario = load_scenario(file, overrides)
        path = tmp_path_factory.mktemp("explained") / "saved.toml"
        path.write_text(scenario_toml(scenario), encoding="utf-8")
        assert load_scenario(path) == scenario


# ---- names are plain text (issue #14, kind 14) -----------------------------------------------------------------------
def _name_slots(raw: dict) -> dict[str, tuple]:
    """Where a scenario holds a name-like value, each as (the field path a problem names, how to put one there)."""
    brand = next(b for b, body in raw["brands"].items() if body.get("models"))

    def rename(table: dict, new: str) -> None:
        old = next(iter(table))
        table[new] = table.pop(old)

    return {
        "brands": ("brands", lambda r, v: rename(r["brands"], v)),
        "market.segments": ("market.segments", lambda r, v: rename(r["market"]["segments"], v)),
        "line": (f"brands.{brand}.models[", lambda r, v: r["brands"][brand]["models"][0].__setitem__("name", v)),
        "name": ("name", lambda r, v: r.__setitem__("name", v)),
        "question": ("question", lambda r, v: r.__setitem__("question", v)),
    }


CONTROL_CHARS = st.characters(categories=["Cc", "Cf"])
SLOTS = ["brands", "market.segments", "line", "name", "question"]


@HYP
@given(slot=st.sampled_from(SLOTS), before=st.text(max_size=5), bad=CONTROL_CHARS, after=st.text(max_size=5))
def test_a_name_or_question_holding_a_control_or_format_character_is_refused_in_one_printable_line(
        slot, before, bad, after):
    """An ESC sequence, a line break, a tab, a bidi override in a brand, segment, model line or scenario name or the
    question reached the terminal as it was; now it is refused, naming the field, and the problem line itself holds
    no such character (it is escaped). A tab in the question is spacing, kept (below)."""
    assume(not (slot == "question" and bad == "\t"))
    raw = read_raw(FLAGSHIP)
    where, put = _name_slots(raw)[slot]
    put(raw, before + bad + after)
    with pytest.raises(ScenarioError) as info:
        validate(raw, "x.toml")
    problems = info.value.problems
    assert any(line.startswith(f"x.toml: {where}") and "control character" in line for line in problems), problems
    for line in problems:
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in line), line


@pytest.mark.parametrize("slot", ["brands", "market.segments", "line", "name"])
@pytest.mark.parametrize("blank", ["", " ", "\u3000", "   "])
def test_a_name_that_is_empty_or_only_spaces_is_refused(slot, blank):
    raw = read_raw(FLAGSHIP)
    where, put = _name_slots(raw)[slot]
    put(raw, blank)
    with pytest.raises(ScenarioError) as info:
        validate(raw, "x.toml")
    assert any(line.startswith(f"x.toml: {where}") and "must not be empty" in line for line in info.value.problems)


@HYP
@given(slot=st.sampled_from(SLOTS),
       text=st.text(st.characters(exclude_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]), min_size=1, max_size=12)
       .filter(str.strip))
def test_ordinary_unicode_names_are_accepted(slot, text):
    raw = read_raw(FLAGSHIP)
    _, put = _name_slots(raw)[slot]
    put(raw, text)
    validate(raw, "x.toml")


@pytest.mark.parametrize("name", ["Citroën", "名前", "🚗", "Mercedes.Benz", "a=b"])
def test_ordinary_unicode_brand_names_load(tmp_path, name):
    s = validate(_renamed_brand(name), "x.toml")
    assert name in s.brand_names


def _renamed_brand(name: str) -> dict:
    raw = read_raw(FLAGSHIP)
    raw["brands"][name] = raw["brands"].pop("Lexus")
    return raw


def test_the_cli_refuses_an_escape_sequence_in_a_brand_name_in_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    path = child(tmp_path, 'question = "fine"\n[brands."\\u001b[31mRED"]\nprice = 30000.0\n')
    done = subprocess.run([sys.executable, str(Path(__file__).parent.parent / "run_sim.py"), "explain", str(path)],
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and lines[0] == "Invalid input" and len(lines) == 2, done.stderr
    assert "\x1b" not in done.stderr + done.stdout and "\\x1b[31mRED" in lines[1] and "control character" in lines[1]


def test_a_tab_in_a_question_is_spacing_and_kept_but_not_in_a_name():
    raw = read_raw(FLAGSHIP)
    raw["question"] = "Lexus's case:\tservice"
    assert validate(raw, "x.toml").question == "Lexus's case:\tservice"
    raw["name"] = "a\tb"
    with pytest.raises(ScenarioError, match="x.toml: name: .*control character"):
        validate(raw, "x.toml")
