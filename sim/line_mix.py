"""Model lines' shares of their brand's sales against BLP's 1986-1990 data, and line appeals inverted from them.

Within a brand (a nest of the nested logit, ``sim/choice.py``) the log odds of two lines move one for one with
their utilities divided by the nesting parameter λ. So a line's own appeal ξ (``ModelLine.appeal``) that makes the
simulated within-brand shares s equal the observed ones s* solves, line by line,

    ξ ← ξ + λ · (log s* − log s)

(Berry 1994, the within-nest form of his inversion; BLP 1995 iterate the same contraction). Adding λ·log(s*/s) to
every line of a brand leaves the brand's inclusive value as it was, to first order, so the brand's level moves
little while its mix is set. With buyers of several segments and needs, and owners' loyalty in the run, the
simulated shares respond to ξ only approximately that way, so the step is repeated on fresh runs
(:func:`invert_appeals`).

Observed shares: the BLP rows of ``sim/data/blp1995_luxury_models.csv`` (unit sales over US households, 1986-1990),
matched to the flagship's lines by ``sim/data/blp1995_line_map.csv`` (a BLP model name's prefix -> the line; BMW's
3 Series rows cover the sedan and coupe lines together, so those two form one group; the Mercedes SL, Acura NSX and
Infiniti G20 have no row and are left out). Each year's shares are taken over the groups BLP has for the brand that
year.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

from sim.executor import Executor
from sim.scenario import MAX_APPEAL, Scenario

FIRST_YEAR, LAST_YEAR = 1986, 1990  # the BLP data's years inside the flagship's run
# A line that replaces a mapped line in the same slot, launched as the other ends, inherits its appeal (the
# flagship's comments name them so): what the price class does not say about a car (its size and positioning)
# is the slot's, not the name's.
SUCCESSORS = {("Acura", "RL"): ("Acura", "Legend"),  # "the Legend's larger successor" (1996)
              ("Acura", "RSX"): ("Acura", "Integra")}  # "the Integra's successor" (2001)


def line_groups() -> pd.DataFrame:
    """``brand, line, clustering_prefix, group``: each mapped line and the group it is compared in (the lines that
    share a BLP prefix form one group, named by its lines joined with " + ")."""
    with (resources.files("sim") / "data" / "blp1995_line_map.csv").open("r", encoding="utf-8") as f:
        m = pd.read_csv(f)
    lines_of = m.groupby(["brand", "clustering_prefix"])["line"].apply(lambda s: " + ".join(sorted(set(s))))
    m["group"] = [lines_of[(b, p)] for b, p in zip(m["brand"], m["clustering_prefix"])]
    return m


def blp_line_shares(first: int = FIRST_YEAR, last: int = LAST_YEAR) -> pd.DataFrame:
    """``year, brand, group, share`` (BLP units over US households) and ``share_of_brand`` (within the brand's
    groups with a row that year)."""
    from sim.reference import blp_models

    blp = blp_models()
    blp = blp[blp["year"].between(first, last)]
    groups = line_groups()
    rows = []
    for r in blp.itertuples():
        prefix = np.array([r.clustering_ids.startswith(p) for p in groups["clustering_prefix"]])
        hit = groups[(groups["brand"] == r.brand).to_numpy() & prefix]
        if hit.empty:
            raise ValueError(f"blp1995_line_map.csv: no line for BLP row {r.clustering_ids} ({r.brand} {r.year})")
        rows.append({"year": r.year, "brand": r.brand, "group": hit["group"].iloc[0], "share": r.shares})
    out = pd.DataFrame(rows).groupby(["year", "brand", "group"], as_index=False)["share"].sum()
    out["share_of_brand"] = out["share"] / out.groupby(["year", "brand"])["share"].transform("sum")
    return out


def line_mix(line_year: pd.DataFrame, first: int = FIRST_YEAR, last: int = LAST_YEAR) -> pd.DataFrame:
    """Simulated within-brand shares beside BLP's.

    Args:
        line_year: ``year, brand, model, sales`` (``LuxuryMarketModel.line_year``; several replications are summed).

    Returns:
        ``year, brand, group, blp, simulated`` (shares of the brand's sales over the groups BLP has that brand-year;
        simulated NaN where the brand sold nothing in them), one row per BLP group-year.
    """
    groups = line_groups()
    group_of = {(b, line): g for b, line, g in zip(groups["brand"], groups["line"], groups["group"])}
    sim = line_year[line_year["year"].between(first, last)].copy()
    sim["group"] = [group_of.get((b, m)) for b, m in zip(sim["brand"], sim["model"])]
    sold = sim.dropna(subset=["group"]).groupby(["year", "brand", "group"])["sales"].sum()
    obs = blp_line_shares(first, last)
    units = np.array([sold.get((y, b, g), 0.0) for y, b, g in zip(obs["year"], obs["brand"], obs["group"])])
    total = pd.Series(units).groupby([obs["year"], obs["brand"]]).transform("sum").to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        simulated = np.where(total > 0, units / np.where(total > 0, total, 1.0), np.nan)
    return pd.DataFrame({"year": obs["year"], "brand": obs["brand"], "group": obs["group"],
                         "blp": obs["share_of_brand"], "simulated": simulated})


def appeal_step(mix: pd.DataFrame, nesting_parameter: float) -> pd.Series:
    """Each group's change of appeal, λ · mean over years of log(BLP share / simulated share), over the years where
    both are positive and the brand has at least two groups (a lone group's share is 1 whatever its appeal).

    Returns:
        The change, indexed by ``(brand, group)``; 0 for a group with no such year.
    """
    per_year = mix.groupby(["year", "brand"])["group"].transform("size")
    ok = (per_year > 1) & (mix["blp"] > 0) & (mix["simulated"] > 0)
    logs = np.log(mix["blp"].where(ok)) - np.log(mix["simulated"].where(ok))
    step = (nesting_parameter * logs).groupby([mix["brand"], mix["group"]]).mean()
    return step.fillna(0.0)


def with_appeals(scenario: Scenario, appeals: dict[tuple[str, str], float]) -> Scenario:
    """The scenario with ``appeals`` ((brand, line) -> utility units) set on those lines, clipped to the schema's
    range."""
    raw = scenario.model_dump(mode="json")
    for (brand, line), value in appeals.items():
        for spec in raw["brands"][brand]["models"]:
            if spec["name"] == line:
                spec["appeal"] = float(np.clip(value, -MAX_APPEAL, MAX_APPEAL))
    return Scenario.model_validate(raw)


def invert_appeals(scenario: Scenario, iterations: int = 4, buyers: int | None = None,
                   replications: int | None = None, seed: int | None = None,
                   executor: Executor | None = None) -> tuple[dict[tuple[str, str], float], pd.DataFrame]:
    """Line appeals that bring the 1986-1990 within-brand shares to BLP's (module docstring), from the scenario's.

    Args:
        scenario: runs through 1990 at least (longer runs are cut there).
        iterations: steps of the contraction, each on ``replications`` fresh runs with the same seeds.
        buyers, replications, seed, executor: as for :func:`sim.runner.run_scenarios`.

    Returns:
        ``(appeals, history)``: every mapped line's appeal after the last step (and their successors',
        :data:`SUCCESSORS`), and one row per iteration, brand
        and group: ``iteration, year, brand, group, blp, simulated`` (the shares the step was computed from) and
        ``appeal``.

    Raises:
        ValueError: the run ends before 1990, or ``iterations`` < 1.
    """
    from sim.model import as_scenario
    from sim.runner import run_scenarios

    if iterations < 1:
        raise ValueError(f"iterations must be at least 1 (got {iterations})")
    if scenario.market.start_year + scenario.market.years - 1 < LAST_YEAR:
        raise ValueError(f"{scenario.name}: the run ends before {LAST_YEAR}, the last year of BLP's shares")
    base = as_scenario(scenario, {"market.years": LAST_YEAR - scenario.market.start_year + 1})
    groups = line_groups()
    appeals = {(b, spec.name): spec.appeal for b, brand in base.brands.items() for spec in brand.models
               if ((groups["brand"] == b) & (groups["line"] == spec.name)).any()}
    lam = base.choice.nesting_parameter
    history = []
    for k in range(iterations):
        current = with_appeals(base, appeals)
        runs = run_scenarios({current.name: current}, replications, seed, buyers, executor)[current.name]
        mix = line_mix(pd.concat([r.line_year for r in runs], ignore_index=True))
        step = appeal_step(mix, lam)
        history.append(mix.assign(iteration=k, appeal=[appeals.get((b, g.split(" + ")[0]), 0.0)
                                                       for b, g in zip(mix["brand"], mix["group"])]))
        for (brand, group), delta in step.items():
            for line in group.split(" + "):
                if (brand, line) in appeals:
                    appeals[(brand, line)] += float(delta)
    lines = {(b, spec.name) for b, brand in base.brands.items() for spec in brand.models}
    appeals.update({line: appeals[before] for line, before in SUCCESSORS.items()
                    if line in lines and before in appeals})
    return appeals, pd.concat(history, ignore_index=True)


def write_appeals(scenario_path, appeals: dict[tuple[str, str], float], note: str) -> None:
    """Write ``appeals`` into a scenario file's ``[[brands.X.models]]`` entries (the line named so), each with the
    comment ``note``, keeping the file's other comments and layout; written whole (temporary file, then rename).

    Raises:
        KeyError: a (brand, line) the file does not list.
    """
    from pathlib import Path

    import tomlkit

    from sim.files import write_atomic

    path = Path(scenario_path)
    doc = tomlkit.parse(path.read_bytes().decode("utf-8-sig"))
    for (brand, line), value in appeals.items():
        entries = [m for m in doc["brands"][brand].get("models", []) if m["name"] == line]
        if not entries:
            raise KeyError(f"{path}: no [[brands.{brand}.models]] named {line!r}")
        item = tomlkit.item(round(float(value), 4))
        item.comment(note)
        entries[0]["appeal"] = item
    write_atomic(path, tomlkit.dumps(doc))


def mix_summary(mix: pd.DataFrame) -> pd.DataFrame:
    """``brand, group, blp, simulated``: the 1986-1990 means of :func:`line_mix`'s shares, and ``rmse`` (root mean
    square of the share differences over the group's years)."""
    d = mix.assign(sq=(mix["simulated"] - mix["blp"]) ** 2)
    out = d.groupby(["brand", "group"]).agg(blp=("blp", "mean"), simulated=("simulated", "mean"),
                                                         rmse=("sq", "mean"))
    out["rmse"] = np.sqrt(out["rmse"])
    return out.reset_index()


__all__: Sequence[str] = ("line_groups", "blp_line_shares", "line_mix", "appeal_step", "with_appeals",
                          "invert_appeals", "write_appeals", "mix_summary")
