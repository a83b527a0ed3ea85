"""sim/kernels.py and the compiled plumbing: random streams shared with numpy, the calendar's pool, the
complaint queue, and the pricing of service events by coverage band (sim/model.py)."""

from __future__ import annotations

from functools import partial

import numba
import numpy as np
import pytest

from sim import kernels, word_of_mouth
from sim.finance import event_money
from sim.jit import record
from sim.metrics import Ledger
from sim.model import LuxuryMarketModel
from sim.population import Calendar, Complaints, Population
from sim.replacement import Holding, draw_holding_months
from sim.satisfaction import SatisfactionParams, decay_factors
from sim.scenario import Costs, Satisfaction, ServiceEvents
from sim.service import EVENT_KINDS, ROUTINE, EventParams
from tests.conftest import make_brand_arrays, small_flagship


# ---- random numbers: compiled code draws from the caller's numpy Generator --------------------------------------
def test_compiled_draws_are_numpys_and_move_the_generators_state():
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    h = Holding.from_values((24, 36), 54.0, 3.0)
    leased = [bool(i % 2) for i in range(20)]
    compiled = [draw_holding_months(a, x, h) for x in leased]
    plain = [draw_holding_months.py_func(b, x, h) for x in leased]  # the same function, run by Python
    assert compiled == plain
    assert a.random() == b.random()  # both generators have moved on by the same draws


def test_event_sampling_is_reproducible():
    ba = make_brand_arrays(3, defects_per_car_year=[0.5, 1.0, 2.0])
    active = np.ones(20_000, bool)
    brand = (np.arange(20_000) % 3).astype(np.int8)
    purchase = np.zeros(20_000, np.int16)
    one = kernels.draw_events(np.random.default_rng(1), active, brand, purchase, 40, ba, ServiceEvents())
    two = kernels.draw_events(np.random.default_rng(1), active, brand, purchase, 40, ba, ServiceEvents())
    assert sum(e.slots.size for e in one) > 0
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x.slots, y.slots)


def test_record_reads_scenario_sections_as_plain_numbers():
    p = record(EventParams, ServiceEvents(maintenance_interval_months=6))
    assert type(p.maintenance_interval_months) is float and p.maintenance_interval_months == 6.0
    assert isinstance(p.rescue_relief, tuple) and all(type(v) is float for v in p.rescue_relief)
    assert SatisfactionParams.of(Satisfaction()).loss_aversion == Satisfaction().loss_aversion


# ---- the calendar's pool of entries ------------------------------------------------------------------------------
def test_calendar_grows_its_pool_and_keeps_every_entry():
    cal = Calendar(entries=16)  # room for 16 chunks of 16
    months = np.arange(1000) % 7
    cal.add(months[:10], np.arange(10))
    cal.add(months[10:], np.arange(10, 1000))  # runs out of chunks half-way: grows and carries on
    assert len(cal) == 1000
    got = {m: sorted(cal.pop(m).tolist()) for m in range(7)}
    assert got == {m: sorted(np.flatnonzero(months == m).tolist()) for m in range(7)}
    assert len(cal) == 0
    cal.add(np.full(1000, 3), np.arange(1000))  # every entry is free again and reusable
    assert cal.due(3) == 1000 and sorted(cal.pop(3).tolist()) == list(range(1000))


# ---- complaints: resolved in their month, only if the owner still has the car complained about --------------------
def test_complaints_resolve_in_their_month_for_the_same_car():
    pop = Population.empty(5, 2)
    slots = pop.take_slots(5)
    pop.brand[slots] = [0, 0, 1, 1, 0]
    pop.sat[slots] = -0.6
    pop.sat_month[slots] = 10
    q = Complaints(capacity=16)
    a = q.arrays
    for k, (due, slot, fast) in enumerate([(12, 0, True), (12, 1, False), (13, 2, True), (12, 3, True), (12, 4, True)]):
        a.due[k], a.slot[k], a.car[k] = due, slot, pop.purchase_month[slot]
        a.brand[k], a.fast[k] = pop.brand[slot], fast
    a.n[0] = 5
    pop.brand[3] = 0  # slot 3 has changed brand since complaining: its complaint no longer helps
    pop.purchase_month[4] = 11  # slot 4 has a new car of the same brand: nor does its complaint
    sp = Satisfaction(decay_months=1e9)  # no decay, to read the recovery directly
    led = Ledger(24, 2)
    kernels.resolve_complaints(12, a, pop.columns(), SatisfactionParams.of(sp), decay_factors(24, sp.decay_months),
                               250.0, led.arrays)
    np.testing.assert_allclose(pop.sat[:5], [-0.6 + sp.recovery_fast, -0.6 + sp.recovery_slow, -0.6, -0.6, -0.6],
                               atol=1e-6)
    assert pop.complaint[:5].tolist() == [1, 2, 0, 0, 0]
    assert led.complaints_recovered[12].tolist() == [2, 0] and led.service_cost[12].tolist() == [500.0, 0.0]
    assert len(q) == 1 and a.slot[0] == 2 and a.due[0] == 13  # the pending one is kept


# ---- money: the model prices events by (kind, brand, free to the owner) --------------------------------------------
@pytest.mark.parametrize("kind", range(len(EVENT_KINDS)))
def test_event_money_depends_on_car_age_only_through_coverage(kind):
    """sim/model.py books revenue and cost from event counts by whether the visit is free to the owner
    (complimentary maintenance for routine visits, warranty otherwise), priced at one representative age per
    band. That is exact only if sim.finance.event_money changes with age nowhere else."""
    ba = make_brand_arrays(3, complimentary_maintenance_months=[0, 36, 48], loaner_cars=[False, True, True],
                           roadside_level=[0, 2, 3])
    c = Costs()
    ages = np.arange(0, 400)
    for b in range(3):
        brand = np.full(ages.size, b)
        revenue, cost = event_money(kind, brand, ages, ba, c)
        covered = ages < (ba.complimentary_maintenance_months[b] if kind == ROUTINE else c.warranty_months)
        for band, age in ((True, -1), (False, 10**6)):
            r, k = event_money(kind, np.array([b]), np.array([age]), ba, c)
            np.testing.assert_allclose(revenue[covered == band], r[0])
            np.testing.assert_allclose(cost[covered == band], k[0])


# ---- the on-disk cache follows every compiled module's source ----------------------------------------------------
def test_every_module_with_compiled_code_keys_the_cache():
    """Numba's cache only notices edits to a compiled function's own file; sim/jit.py names the cache folder
    after the source of every module with compiled code, so editing a formula recompiles the kernels that
    inline it. A new module with compiled code must be listed there."""
    from pathlib import Path

    from sim import jit

    sim_dir = Path(jit.__file__).parent
    compiled = {p.stem for p in sim_dir.glob("*.py") if "from sim.jit import" in p.read_text()} | {"jit"}
    assert compiled <= set(jit.COMPILED_MODULES)
    assert jit.numba.config.CACHE_DIR.endswith(Path(jit._cache_dir()).name)


# ---- prefetching is a hint only ----------------------------------------------------------------------------------
def test_prefetch_compiles_and_changes_nothing():
    """sim.jit.prefetch (used by kernels.shop) asks the CPU to load memory early; it has no result and may be
    given any index (a prefetch never faults)."""
    import numba

    from sim.jit import prefetch

    @numba.njit
    def total(a, idx):
        s = 0.0
        for k in range(idx.size):
            prefetch(a, idx[min(k + 4, idx.size - 1)])
            prefetch(a, a.size + 10**6)  # out of range: still harmless
            s += a[idx[k]]
        return s

    a = np.arange(1000, dtype=np.float64)
    idx = np.random.default_rng(0).integers(0, 1000, 500)
    assert total(a, idx) == a[idx].sum()


# ---- the market month in one compiled call -----------------------------------------------------------------------
def _market_month_by_parts(model, m, ba, clock):
    """The market month as it was before ``kernels.market_month``: owners shop (``kernels.shop``), the leavers'
    slots are freed, entrants are admitted (``kernels.admit_entrants``, through the model) and shop, each a call."""
    cfg, rng, par, pop = model.config, model.rngs["market"], model.params, model.pop
    fade = word_of_mouth.inflation(m, model.wom_epoch, cfg.word_of_mouth.decay_months)

    def shop(slots, may_leave):
        leavers, moved = np.empty(slots.size, np.int64), np.empty((slots.size, 2), np.int64)
        n_left, n_moved = kernels.shop(
            rng, slots, may_leave, may_leave, m, model._columns, model.network.indptr, model.network.local,
            model.network.size, ba, fade,
            cfg.word_of_mouth.aware_on_purchase, model.offer, cfg.market.need_change, cfg.market.life_event_exit,
            model.segments.service_weight, model.segments.outside_utility, par["cp"], par["sp"], model._sat_decay,
            model.lease_p, par["holding"], model._ledger_arrays, model.fleet, model.stock, leavers, moved)
        pop.release(leavers[:n_left])
        model.calendar.add(moved[:n_moved, 1], moved[:n_moved, 0])

    shop(np.sort(model.calendar.pop(m)), True)
    shop(model._admit_entrants(m), False)


@pytest.mark.parametrize("seed", [3, 11])
def test_the_one_call_market_month_is_its_parts_in_turn(seed, monkeypatch):
    """``kernels.market_month`` (owners, leavers freed, entrants admitted and shopping, in one compiled call) makes
    the same months as the calls it replaced, draw for draw: the same households, ledger and generator state."""
    scenario = small_flagship(years=3, buyers=2000, overrides=["market.annual_growth=0.08"])
    one, parts = LuxuryMarketModel(scenario, seed=seed), LuxuryMarketModel(scenario, seed=seed)
    monkeypatch.setattr(parts, "_market_month", partial(_market_month_by_parts, parts))
    one.run()
    parts.run()
    assert one.entries > 0 and one.exits > 0
    for name in Population.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(one.pop, name), getattr(parts.pop, name), err_msg=name)
    for name, a in vars(one.ledger).items():
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, getattr(parts.ledger, name), err_msg=name)
    assert one.rngs["market"].bit_generator.state == parts.rngs["market"].bit_generator.state


def test_a_generator_has_numbas_own_type_and_compiled_code_draws_its_numbers():
    """sim.jit looks a Generator's numba type up once (numba built it at every call: a tenth of the per-agent engine's
    time); it is numba's own type, and compiled code still draws the generator's own numbers and moves it on."""
    from numba.core.typing.typeof import Purpose, typeof_random_generator

    import sim.jit  # noqa: F401  (the registration)

    @numba.njit
    def draw(rng):
        return rng.random()

    rng = np.random.default_rng(5)
    assert numba.typeof(rng) is typeof_random_generator(rng, Purpose.argument)
    expected = np.random.default_rng(5).random(2)
    assert [draw(rng), draw(rng)] == list(expected)

