"""The reporting layer: every report renders from its template with the scenario's text escaped, one palette for
the app and the reports, share intervals that stay inside what a share can take, and results objects that
render themselves (``__str__`` for the terminal, ``_repr_html_`` for notebooks) with their key figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from sim import attribution as A
from sim import calibration as cal
from sim import calibration_problem as calp
from sim import moments
from sim.attribution_report import write_attribution
from sim.calibration_report import write_calibration, write_validation
from sim.compare import BOUNDED, Comparison, paired_differences
from sim.compare_report import build_compare_report
from sim.executor import Executor
from sim.files import toml_inline
from sim.formats import difference, percent
from sim.report import environment, render, rich_table, text_of
from sim.results import write_comparison, write_results
from sim.run_report import build_run_report
from sim.runner import RunSet, run_replications
from sim.scenario_files import load_scenario
from sim.style import brand_palette
from sim.validation import validate_scenario

EVIL = "<script>alert('x')</script> & Lexus's \"best\" <b>year</b>"
SEED = 7
BUYERS = 1500
SMALL = ["market.years=5", f"simulation.buyers={BUYERS}", f"question={toml_inline(EVIL)}",
         f"description={toml_inline(EVIL)}"]
STARTED = datetime(2026, 1, 1, tzinfo=UTC)


def assert_escaped(html: str) -> None:
    """The scenario's text appears escaped and never as live markup."""
    assert str(escape(EVIL)) in html
    assert "<script" not in html.lower() and "<b>year</b>" not in html and "Lexus's \"best\"" not in html


@pytest.fixture(scope="module")
def runs() -> dict:
    scenarios = [load_scenario(name, SMALL) for name in ("lexus_us_1989", "lexus_service_parity")]
    return {sc.name: (sc, run_replications(sc, 2, SEED, workers=1)) for sc in scenarios}


@pytest.fixture(scope="module")
def folders(runs, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reporting")
    base = "lexus_us_1989"
    sc, results = runs[base]
    return {"run": write_results(root / "run", sc, results, STARTED, SEED, BUYERS, after=build_run_report),
            "compare": write_comparison(root / "compare", runs, base, STARTED, SEED, BUYERS,
                                        after=build_compare_report)}


@pytest.fixture(scope="module")
def attribution() -> A.Attribution:
    """An Attribution with synthetic values (no simulation): 2 levers, 3 replications."""
    sc = load_scenario("lexus_us_1989", SMALL)
    levers = ["service", "price"]
    values = np.array([[0.01, 0.02, 0.015], [0.06, 0.07, 0.05], [0.03, 0.025, 0.035], [0.11, 0.12, 0.10]])
    rows = [{"coalition": A.coalition_name(m, levers), "replication": r, "year": y, "brand": "Lexus",
             "sales_share": values[m, r] * (y - 1985) / 5}
            for m in range(4) for r in range(3) for y in range(1986, 1991)]
    levels = {"incumbents": ["Cadillac", "Lincoln"], "at_month": 44}
    changes = {"service": {"brands.Lexus.service.loaner_cars": (True, False)},
               "price": {"brands.Lexus.price": (30000.0, 36040.0)}}
    return A.Attribution(sc, "Lexus", levers, "sales_share", 1989, 1990, SEED, BUYERS, 3, levels, changes, values,
                         pd.DataFrame(rows), 1.0, {(m, r): 0.1 for m in range(4) for r in range(3)})


def toy_calibration() -> cal.CalibrationResult:
    """A two-parameter calibration of a toy model (no simulation), its description the EVIL text."""
    def simulate(static, theta, replication):
        noise = np.random.default_rng(np.random.SeedSequence(static.seed, spawn_key=(replication,))).normal(0, .05, 3)
        a, b = theta
        return np.array([a + b, a - b, a * b]) + noise

    targets = [moments.Target(f"m{k}", "toy", "all", None, float(v), 0.1, source=EVIL)
               for k, v in enumerate((1.5, 0.5, 0.5))]
    spec = calp.CalibrationSpec(name="toy", description=EVIL, scenario="toy", replications=3, seed=5,
                               parameters=[calp.FreeParameter(path=f"p{j}", range=(0.0, 2.0), why=EVIL)
                                           for j in range(2)],
                               optimiser=calp.Optimiser(screening=8, max_evaluations=60), jacobian_step=0.02)
    problem = calp.Problem(spec, "toy.toml", {}, targets, np.zeros(2, bool), np.array([0.5, 0.5]))
    return cal.Calibrator(problem, Executor(workers=1), simulate=simulate).run()


@pytest.fixture(scope="module")
def validation():
    return validate_scenario("lexus_us_1989", "lexus_service_parity", replications=2, buyers=BUYERS, seed=SEED,
                             workers=1, overrides=[f"question={toml_inline(EVIL)}"])


# ---- every report from its template, text escaped ---------------------------------------------------------
def test_every_report_template_extends_the_base_layout():
    env = environment()
    assert env.autoescape is True
    for name in ("run", "compare", "calibration", "validation", "attribution"):
        source = env.loader.get_source(env, f"{name}.html.j2")[0]
        assert '{% extends "base.html.j2" %}' in source, name


@pytest.mark.parametrize("kind", ["run", "compare"])
def test_run_and_compare_reports_escape_the_scenario_text(folders, kind):
    html = (folders[kind] / "report.html").read_text(encoding="utf-8")
    assert_escaped(html)
    assert html.count("<style>") == 1 and "<footer><h2>Provenance</h2>" in html


def test_attribution_report_escapes_the_scenario_text(attribution, tmp_path):
    out = write_attribution(tmp_path / "att", attribution, STARTED)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert_escaped(html)
    shapley = pd.read_csv(out / "shapley.csv")
    assert {"leave_one_out_effect", "leave_one_out_ci_low", "leave_one_out_ci_high"} <= set(shapley.columns)
    assert not any("alone" in c for c in shapley.columns) and A.INTERACTION in set(shapley["lever"])
    assert "Leave-one-out: v(all) − v(all without it)" in html


def test_calibration_report_escapes_its_text(tmp_path):
    result = toy_calibration()
    out = write_calibration(tmp_path / "cal", result, STARTED)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert_escaped(html)
    assert html.count('<img src="data:image/png;base64,') == 2
    assert "<dt>Replications</dt><dd>3 (spawn keys [0], [1], [2]" in html  # the calibration's own replications


def test_validation_report_escapes_the_scenario_text(validation, tmp_path):
    out = write_validation(tmp_path / "val", validation, STARTED)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert_escaped(html)
    assert "Stylized facts" in html and html.count('class="pass"') + html.count('class="fail sig"') == len(
        validation.facts)
    assert f"<dt>Replications</dt><dd>{validation.replications} (spawn keys [0]" in html


def test_a_template_cannot_be_given_unescaped_text():
    text = render("results.html.j2", title=EVIL, headline=[EVIL], tables=[])
    assert_escaped(text)


# ---- one palette ------------------------------------------------------------------------------------------
def test_the_app_and_the_report_give_a_brand_the_same_colour(folders):
    from sim.app_figures import colours
    from sim.app_state import AppState

    app_colours = colours(AppState(buyers=5_000))
    html = (folders["run"] / "report.html").read_text(encoding="utf-8")
    swatches = dict((b, c) for c, b in re.findall(r'<span class="swatch" style="background:(#[0-9a-f]{6})"></span>'
                                                   r"([^<]+)</td>", html))
    brands = list(load_scenario("lexus_us_1989").brands)
    assert set(swatches) == set(brands)
    for brand in brands:
        assert swatches[brand] == app_colours[brand] == brand_palette(brands)[brand], brand
    assert swatches["Lexus"] == "#c62828"  # Lexus red, in the app and in every report


# ---- bounded intervals ------------------------------------------------------------------------------------
def _percentages(text: str) -> list[float]:
    return [float(v.replace("−", "-").replace(",", "")) for v in re.findall(r"([−\d.,]+)%", text)]


def test_share_and_loyalty_bands_in_the_run_report_stay_in_0_100(folders):
    html = (folders["run"] / "report.html").read_text(encoding="utf-8")
    table = html[html.index('class="figures"'):html.index("<h2>Figures</h2>")]
    for tr in re.findall(r"<tr.*?</tr>", table, flags=re.S):
        cells = re.findall(r"<td>(.*?)</td>", tr, flags=re.S)
        for text in cells[:2]:  # sales share, repurchase loyalty
            assert all(0 <= v <= 100 for v in _percentages(text)), text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.001, 0.5, 0.999, 1.0]), min_size=2, max_size=6),
       st.lists(st.sampled_from([0.0, 0.001, 0.5, 0.999, 1.0]), min_size=2, max_size=6))
def test_share_difference_intervals_never_leave_what_a_share_difference_can_take(a, b):
    n = min(len(a), len(b))
    frame = lambda v: pd.DataFrame({"replication": range(n), "year": 1990, "brand": "X",  # noqa: E731
                                    "sales_share": v[:n], "profit": np.arange(n) * 1e9})
    d = paired_differences(frame(a), frame(b)).set_index("metric")
    share = d.loc["sales_share"]
    if n > 1 and share["diff_mean"] == share["diff_mean"]:
        assert -1 <= share["ci_low"] <= share["diff_mean"] <= share["ci_high"] <= 1
        cell = difference(share["diff_mean"] * 100, share["ci_low"] * 100, share["ci_high"] * 100)
        low, high = (float(v.replace("−", "-")) for v in re.findall(r"\[(.+), (.+)\]", cell)[0])
        assert -100 <= low <= high <= 100
    assert "sales_share" in BOUNDED and "profit" not in BOUNDED


# ---- results objects render themselves --------------------------------------------------------------------
def test_a_run_set_prints_and_shows_its_summary(runs):
    results = runs["lexus_us_1989"][1]
    assert isinstance(results, RunSet) and len(results) == 2 and results[0].replication == 0
    summary = results.summary()
    last = summary[summary["year"] == summary["year"].max()].set_index("brand")
    leader = last["sales_share_mean"].idxmax()
    text, html = str(results), results._repr_html_()
    for out in (text, html):
        assert leader in out and percent(last.loc[leader, "sales_share_mean"]) in out
        assert all(brand in out for brand in last.index)
    assert "<table" in html and "<table" not in text
    assert_escaped(html)  # the title carries the scenario's question


def test_the_run_summary_shows_loyalty_by_year_against_the_polk_band():
    from sim.run_report import loyalty_band_note, summary_tables

    def summary(**loyalty: float) -> pd.DataFrame:  # every year 1988-2010, two brands; loyalty["A1995"] = 0.09
        return pd.DataFrame([{"year": y, "brand": b, "sales_share_mean": 0.5,
                              "repurchase_loyalty_mean": loyalty.get(f"{b}{y}", 0.4),
                              "replacers_mean": 5_000.0 if y > 1988 else 50.0, "conquest_sales_mean": 1.0,
                              "sales_mean": 2.0} for y in range(1988, 2011) for b in ("A", "B")])
    shown = [1988, 1991, 1995, 2000, 2005, 2010]
    assert loyalty_band_note(summary(A1999=0.01), shown).endswith("every brand-year shown lies inside it.")
    # below the floor with enough replacing owners: named; a launch year's few replacers are not judged
    low = summary(A1988=0.02, A1995=0.094, A2010=0.61)
    note = loyalty_band_note(low, shown)
    assert note.endswith("outside it: A 1995 (9.4%), A 2010 (61.0%).") and "1988" not in note
    text = "".join(text_of(rich_table(t), 80) for t in summary_tables(low))
    assert "Repurchase loyalty" in text and "61%" in text and "A 1995 (9.4%)" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_comparison_prints_and_shows_its_differences(runs):
    comparison = Comparison(runs, "lexus_us_1989")
    d = comparison.differences("lexus_service_parity").set_index(["metric", "year", "brand"])
    r = d.loc[("sales_share", int(d.index.get_level_values("year").max()), "Lexus")]
    expected = difference(r.diff_mean * 100, r.ci_low * 100, r.ci_high * 100, "").split(" [")[0]  # pp: in the title
    for out in (str(comparison), comparison._repr_html_()):
        assert "lexus_service_parity − lexus_us_1989" in out and expected in out
    pay = comparison.payback("lexus_service_parity").dropna(subset=["payback_year"])
    for year in pay["payback_year"].unique():
        assert f">{year:.0f}<" in comparison._repr_html_()  # a year, not "1,991"


def test_an_attribution_prints_and_shows_its_shapley_values(attribution):
    table = attribution.table().set_index("lever")
    for out in (str(attribution), attribution._repr_html_()):
        for lever in attribution.levers:
            assert lever in out
            r = table.loc[lever]
            assert difference(r.phi_mean * 100, r.ci_low * 100, r.ci_high * 100).split(" [")[0] in out


def test_a_calibration_result_prints_and_shows_its_fitted_values():
    result = toy_calibration()
    params = result.parameters()
    from sim.formats import adaptive

    for out in (str(result), result._repr_html_()):
        for r in params.itertuples():
            assert r.path in out and adaptive(r.fitted) in out


def test_a_validation_result_prints_and_shows_its_facts(validation):
    text, html = str(validation), validation._repr_html_()
    for out in (text, html):
        assert f"{int(validation.facts['passed'].sum())} of {len(validation.facts)} hold" in out
    assert all(str(escape(fact)) in html for fact in validation.facts["fact"])
    verdicts = re.findall(r"\b(pass|FAIL)\b", text.split("Stylized facts")[-1])
    assert verdicts == ["pass" if p else "FAIL" for p in validation.facts["passed"]]
    assert "<table" in html


def test_a_headline_with_rich_markup_prints_as_written():
    """Issue #14: an attribution of a brand named '[/]X' crashed the terminal summary after its results were
    written: headlines (which name brands and scenarios) are text, never console markup."""
    import io

    from rich.console import Console

    from sim.report import Rendered

    class Named(Rendered):
        def headline(self):
            return ["[/]X's gain: [bold]big[/bold]"]

        def tables(self):
            return []

    console = Console(file=io.StringIO(), width=200)
    console.print(Named())  # the command line's console.print(result)
    assert "[/]X's gain: [bold]big[/bold]" in console.file.getvalue() and "[/]X's gain" in str(Named())


def test_a_comparison_of_scenarios_named_like_paths_stays_in_its_folder(tmp_path):
    """Issue #14: names become folders only through sim.files.safe_name, and the report finds them again."""
    sc = load_scenario("generic_new_entrant", ["market.years=2", "simulation.buyers=500"])
    results = run_replications(sc, 1, SEED, workers=1)
    names = ["../../escaped", "[b]x[/] / y"]
    runs = {n: (sc.model_copy(update={"name": n}), RunSet(results, sc)) for n in names}
    dest = write_comparison(tmp_path / "a" / "b" / "cmp", runs, names[0], datetime.now(UTC), SEED, 500,
                            after=build_compare_report)
    outside = [p for p in tmp_path.rglob("*") if not p.resolve().is_relative_to(dest.resolve())]
    assert outside == [tmp_path / "a", tmp_path / "a" / "b"]
    assert all(name in (dest / "report.html").read_text() or str(escape(name)) in (dest / "report.html").read_text()
               for name in names)


# ---- the verdict of a comparison (issue #17, the reports) ---------------------------------------------------
def _direct_interval(values) -> tuple[float, float, float]:
    """Mean and 95% t-interval, computed here without sim.stats."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean(), values.mean() - half, values.mean() + half


def test_the_verdict_equals_the_paired_differences_computed_from_the_runs(runs, folders):
    """Whichever scenario is the base, the verdict is the effect of the policy (the flagship: Lexus's service,
    which costs more) against the parity what-if, and its numbers are the paired differences taken directly."""
    flagship, parity = (pd.concat([r.brand_year for r in runs[name][1]])
                        for name in ("lexus_us_1989", "lexus_service_parity"))
    diff = (flagship.set_index(["replication", "year", "brand"]) - parity.set_index(["replication", "year", "brand"])
            ).xs("Lexus", level="brand")
    per = diff.groupby(level="replication")
    last, first = int(diff.index.get_level_values("year").max()), int(diff.index.get_level_values("year").min())
    years = diff.index.get_level_values("year").to_numpy()
    expected = {
        "profit": per["profit"].sum(), "service_cost": per["service_cost"].sum(), "sales": per["sales"].sum(),
        "share": diff.xs(last, level="year")["sales_share"],
        "npv": (diff["profit"] / 1.08 ** (years - first)).groupby(level="replication").sum(),
    }
    p, c = per["profit"].sum().to_numpy(), per["service_cost"].sum().to_numpy()
    from scipy import stats

    ratio = p.mean() / c.mean()  # the ratio of the mean differences, delta-method interval (not a mean of ratios)
    half = stats.t.ppf(0.975, len(p) - 1) * (p - ratio * c).std(ddof=1) / np.sqrt(len(p)) / abs(c.mean())
    for base in ("lexus_us_1989", "lexus_service_parity"):
        v = Comparison(runs if base == "lexus_us_1989" else dict(reversed(runs.items())), base).verdict(
            "lexus_service_parity" if base == "lexus_us_1989" else "lexus_us_1989")
        assert (v.policy, v.without, v.brand, v.first, v.last, v.n) == (
            "lexus_us_1989", "lexus_service_parity", "Lexus", first, last, 2)
        for name, values in expected.items():
            np.testing.assert_allclose(getattr(v, name), _direct_interval(values), rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(v.roi, (ratio, ratio - half, ratio + half), rtol=1e-9)
        cumulative = diff.groupby(level="year")["profit"].mean().cumsum()
        behind = cumulative[cumulative < 0]
        assert v.payback == ("not within the run" if cumulative.iloc[-1] <= 0 else "ahead throughout"
                             if behind.empty else str(cumulative.index[cumulative.index > behind.index.max()][0]))
    from sim.compare import DISCOUNT_RATE

    assert DISCOUNT_RATE == 0.08
    comparison = Comparison(runs, "lexus_us_1989")
    lines = comparison.verdict("lexus_service_parity").lines()
    html = (folders["compare"] / "report.html").read_text(encoding="utf-8")
    text = " ".join(str(comparison).split())
    for line in lines:  # the same sentences in the terminal and in the report
        assert line in text and str(escape(line)) in html
    assert any(line.startswith("Payback: ") for line in lines) and any("at 8% a year" in line for line in lines)


def test_a_payback_reads_the_same_in_the_terminal_and_the_report():
    """The CLI once showed "-" where the report said "ahead throughout"; both now use payback_of's words."""
    from sim.compare import payback_of

    assert payback_of([1, 2, 3], [0.0, 1.0, 2.0]) == (pytest.approx(float("nan"), nan_ok=True), "ahead throughout")
    assert payback_of([1, 2, 3], [-1.0, 1.0, 2.0]) == (2.0, "2")
    assert payback_of([1, 2, 3], [-1.0, 1.0, -2.0])[1] == "not within the run"
    assert payback_of([], [])[1] == "not within the run"


def test_few_replications_are_warned_about_in_the_terminal_and_the_report(runs, folders):
    from sim.stats import MIN_REPLICATIONS, few_replications

    assert MIN_REPLICATIONS == 5 and few_replications(MIN_REPLICATIONS) is None
    warning = few_replications(2)
    assert warning.startswith("Warning: only 2 replications")
    assert warning in " ".join(str(Comparison(runs, "lexus_us_1989")).split())
    assert str(escape(warning)) in (folders["compare"] / "report.html").read_text(encoding="utf-8")


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0, 1), min_size=n, max_size=n), st.lists(st.floats(0, 1), min_size=n, max_size=n))))
def test_no_printed_share_or_loyalty_interval_leaves_what_the_metric_can_take(values):
    """Over any replicate values a share or loyalty can take, every difference interval printed in the summary lies
    in [−100, +100] pp, and it says "clipped" exactly when an interval was cut there."""
    from sim.compare_report import summary_tables
    from sim.report import rich_table, text_of
    from sim.stats import t_half_width

    a, b = values
    n = len(a)

    def frame(v):
        return pd.DataFrame({"replication": range(n), "year": 1990, "brand": "X", "sales_share": v,
                             "repurchase_loyalty": v[::-1], "profit": 0.0, "service_cost": 0.0, "sales": 1.0})

    d = paired_differences(frame(a), frame(b)).set_index("metric")
    raw_clipped = False
    for metric in ("sales_share", "repurchase_loyalty"):
        r = d.loc[metric]
        assert -1 <= r["ci_low"] <= r["diff_mean"] <= r["ci_high"] <= 1
        diffs = np.asarray(b if metric == "sales_share" else b[::-1]) - np.asarray(a if metric == "sales_share"
                                                                                   else a[::-1])
        half = t_half_width(diffs.std(ddof=1), n)
        cut = bool(diffs.mean() - half < -1 or diffs.mean() + half > 1)
        assert bool(r["clipped"]) == cut
        raw_clipped |= cut

    class Fake:  # what summary_tables reads of a Comparison
        base = "a"
        runs = {"a": (None, [0] * n), "b": (type("S", (), {"question": "?"})(), [0] * n)}

        def differences(self, name):
            return paired_differences(frame(a), frame(b))

        def total_differences(self, name, metric):
            return pd.DataFrame({"brand": ["X"], "diff_mean": [0.0], "ci_low": [0.0], "ci_high": [0.0]})

        def payback(self, name):
            return pd.DataFrame({"brand": ["X"], "year": [1990], "payback_year": [np.nan], "paid_back_by": [""],
                                 "cum_profit": [0.0]})

    text = "".join(text_of(rich_table(t), 80) for t in summary_tables(Fake(), "b"))
    for number in re.findall(r"[−+]?\d+\.\d", text):
        assert -100 <= float(number.replace("−", "-")) <= 100
    assert ("clipped" in text) == raw_clipped


def test_run_and_compare_summaries_fit_80_columns_without_cutting_anything(runs):
    """At 80 columns, no line is longer and nothing is cut ("72,7…", "Cadi…"): names and numbers are whole."""
    from sim.report import text_of

    for summary in (runs["lexus_us_1989"][1], Comparison(runs, "lexus_us_1989")):
        text = text_of(summary, 80)
        assert max(len(line) for line in text.splitlines()) <= 80
        assert "…" not in text and "..." not in text
        for brand in runs["lexus_us_1989"][0].brands:
            assert re.search(rf"[│┃] {re.escape(brand)} ", text), brand
    rows = [line for line in text_of(Comparison(runs, "lexus_us_1989"), 80).splitlines() if line.startswith("│")]
    assert any("[" in line for line in rows)
    assert all(line.count("[") == line.count("]") for line in rows)  # an interval in a table never wraps


def test_return_on_spending_is_a_ratio_of_means_never_flipped_by_one_replication():
    """A verifier saw -89,330% beside +$96M profit for +$4M spending: a mean of per-replication ratios, one of them
    over a near-zero negative spending. The ratio of the means is the return, with a delta-method interval that
    widens when a replication's spending is near 0, and NaN when the mean spending is 0."""
    from sim.stats import ratio_interval

    ratio, low, high = ratio_interval([100.0, 90.0, 110.0, 100.0], [4.0, 5.0, 3.0, 4.0])
    assert ratio == pytest.approx(400 / 16) and low < ratio < high
    ratio, low, high = ratio_interval([96.0, 100.0], [8.5, -0.01])
    assert ratio == pytest.approx(196 / 8.49) and low < ratio < high  # positive: the mean of ratios was -4,994
    assert all(np.isnan(ratio_interval([5.0, 7.0], [1.0, -1.0])))  # no extra spending on average: no return
    assert np.isnan(ratio_interval([1.0], [2.0])[1]) and ratio_interval([1.0], [2.0])[0] == 0.5
    assert all(np.isnan(ratio_interval([], [])))


def test_a_runs_money_verdict_discounts_profit_as_the_comparison_does():
    """The run headline's NPV is the profit discounted at DISCOUNT_RATE to the first year (the one NPV rule,
    sim.compare.discount_factors), a mean over replications; and it says where a policy's effect is found."""
    from sim.run_report import RunData, money_verdict

    rows = [{"replication": r, "year": y, "brand": "Lexus", "profit": p * 1e6, "service_revenue": 5e6,
             "service_cost": 7e6}
            for r, ps in ((0, (100.0, 108.0)), (1, (100.0, 216.0))) for y, p in zip((1989, 1990), ps)]
    run = RunData(folder=Path("flagship"), manifest={"scenario": {"name": "flagship"}}, brand_year=pd.DataFrame(rows),
                  summary=pd.DataFrame(), switching=pd.DataFrame())
    money, pointer = (str(line) for line in money_verdict(run, ["Lexus"]))
    # replication 0: 100 + 108 / 1.08 = 200; replication 1: 100 + 216 / 1.08 = 300; mean 250 ($M)
    assert "profit $262.0M, worth $250.0M in 1989 at 8% a year" in money
    assert "service P&L totals −$4.0M" in money
    assert "compare WITHOUT flagship" in pointer and "what-ifs" not in pointer  # no library scenario extends it
    assert "(replication means, 1989 dollars)" in money  # the schema's default price year
    run.manifest["scenario"]["market"] = {"price_year": 2020}  # a market of another time: its own dollars
    assert "(replication means, 2020 dollars)" in str(money_verdict(run, ["Lexus"])[0])


def test_the_run_headline_names_the_librarys_what_ifs_of_a_scenario():
    from sim.results import ROOT
    from sim.run_report import what_ifs

    found = what_ifs("lexus_us_1989")
    assert 0 < len(found) <= 3 and "lexus_us_1989" not in found
    assert all((ROOT / "scenarios" / f"{name}.toml").read_text().count("lexus_us_1989") for name in found)
    assert what_ifs("no_such_scenario") == []


def test_the_headline_names_no_most_loyal_brand_when_none_kept_an_owner():
    """Every brand at 0% loyalty (life events take every replacing owner out): no brand is named the most loyal."""
    from sim.run_report import RunData, headline
    from sim.runner import summarise

    rows = pd.DataFrame([{"replication": r, "year": y, "brand": b, "sales": 10.0, "sales_share": 0.5,
                          "fleet_share": 0.5, "repurchase_loyalty": 0.0, "profit": 1e6, "service_revenue": 1e6,
                          "service_cost": 1e6} for r in (0, 1) for y in (2000, 2001) for b in ("A", "B")])
    run = RunData(folder=Path("x"), manifest={"scenario": {"name": "x"}}, brand_year=rows, summary=summarise(rows),
                  switching=pd.DataFrame())
    text = " ".join(str(line) for line in headline(run))
    assert "No brand kept any of its owners who replaced their car in 2001." in text
    assert "highest repurchase loyalty" not in text
