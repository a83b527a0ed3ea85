"""An optimisation's result folder and report.

An optimisation folder (``results/optimisations/<name>/<time>-s<seed>-<random>/``, written whole or not at all)
holds::

    best_policy.toml    a ready-to-run scenario: extends the base scenario, with the file's ``set`` and the best levers
    best.csv            the best policy and the scenario as written: each objective's robust value, its mean with a
                        95% interval over replications, the 2.5-97.5% range over the uncertainty scenarios, and the
                        difference from the scenario as written (paired replications, 95% interval)
    history.csv         every evaluation: levers, robust and mean objective(s), constraints, feasible, best so far
    pareto.csv, pareto.png   the Pareto front (two objectives only)
    draws.csv           the uncertainty scenarios every candidate ran in
    optimisation.toml   the optimisation file as run (command-line options written in)
    manifest.json       the spec, the base scenario, seeds, the evaluations, the backend, the provenance
    report.html         all of the above, with the search's progress (template ``optimisation.html.j2``)
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sim.figures import Figure, png_uri
from sim.files import atomic_folder, safe_name, toml_document, toml_inline, unique_suffix, write_atomic, write_json
from sim.formats import MISSING, adaptive, compact_money, for_metric, percent
from sim.optimisation import AS_WRITTEN, OptimisationResult, lever_table
from sim.report import cell, head, markup, provenance, render, row, table
from sim.results import ROOT
from sim.results import provenance as manifest_provenance
from sim.scenario_files import SCENARIO_DIR, parse_override, set_values
from sim.stats import few_replications

BEST_POLICY = "best_policy.toml"


def default_destination(name: str, started: datetime, seed: int | None = None) -> Path:
    """``results/optimisations/NAME/<UTC start time>-s<seed>-<random>/`` (:func:`sim.files.safe_name`,
    :func:`sim.files.unique_suffix`)."""
    return ROOT / "results" / "optimisations" / safe_name(name) / f"{started:%Y%m%dT%H%M%SZ}-{unique_suffix(seed)}"


def _value(v: float, write=adaptive) -> str:
    return write(v) if v is not None and np.isfinite(v) else MISSING


def _writer(objective):
    """How an objective's values are written (``sim.formats.for_metric``: dollars, percentages, or plain)."""
    return for_metric(objective.metric, objective.per)


def headline(result: OptimisationResult) -> list:
    """The answer: the best policy's levers; its objective(s) with the interval over replications and the range over
    the uncertainty; the difference from the scenario as written; the budget, scenarios and time."""
    p = result.problem
    best = result.best
    levers = ", ".join(f"{x.name} = {toml_inline(best.levers[x.name])}" for x in p.levers)
    written = ", ".join(f"{x.name} = {toml_inline(x.as_written)}" for x in p.levers)
    lines = []
    if not result.feasible(best):
        lines.append(markup("<b>No candidate met every constraint in every uncertainty scenario</b>: the policy below "
                            "violates them least."))
    front = " (of the Pareto front, the best on the first objective)" if len(p.objectives) > 1 else ""
    lines.append(markup("Best policy{}: <b>{}</b> (as written: {}).", front, levers, written))
    for k, o in enumerate(p.objectives):
        s = result.summary(best, k)
        d = result.difference(best, k)
        w = result.summary(result.as_written, k)
        ci = f"95% CI {_ci(s['ci_low'], s['ci_high'], _writer(o))[1:-1]}" if np.isfinite(s["ci_low"]) else "no CI"
        dci = f"95% CI {_ci(d[1], d[2], _writer(o))[1:-1]}" if np.isfinite(d[1]) else "no CI"
        fmt = _writer(o)
        robust = "" if result.measure == "mean" else f"{result.measure} <b>{_value(s['robust'], fmt)}</b> "
        lines.append(markup(
            "{}: " + robust.replace("{", "{{").replace("}", "}}") + "mean over the {} uncertainty scenarios <b>{}</b> "
            "({} over {} replications; 95% of the scenarios between {} and {}). As written: {}; difference {} ({}, "
            "replications paired).", f"{o.label()} ({o.direction})", s["scenarios"], _value(s["mean"], fmt), ci,
            s["replications"], _value(s["scenarios_low"], fmt), _value(s["scenarios_high"], fmt),
            _value(w["mean"], fmt) if result.measure == "mean" else f"{result.measure} {_value(w['robust'], fmt)}, "
            f"mean {_value(w['mean'], fmt)}", _value(d[0], fmt), dci))
    warn = few_replications(p.spec.replications)
    if warn:
        lines.append(warn)
    sampler = "NSGA-II" if len(p.objectives) > 1 else "TPE"
    lines.append(f"{len(result.history)} candidates ({sampler}, batches of {p.spec.batch}) x "
                 f"{len(p.draw_values)} uncertainty scenarios x {p.spec.replications} replications of "
                 f"{p.spec.buyers:,} buyers, {result.seconds:,.0f} s ({result.backend})"
                 + (f"; {result.replayed} replayed from the interrupted run's history" if result.replayed else "")
                 + ".")
    return lines


def summary_tables(result: OptimisationResult) -> list[dict]:
    """The levers (best vs as written) and the objectives (best vs as written, with intervals)."""
    p = result.problem
    best = result.best
    levers = table("levers", [head("lever", left=True), head("best"), head("as written"), head("searched", left=True)],
                   [row([cell(toml_inline(best.levers[x.name]), "bold"), cell(toml_inline(x.as_written)),
                         cell(r.space, "name")], label=x.name)
                    for x, r in zip(p.levers, lever_table(p.levers).itertuples())],
                   title=f"Optimisation {p.spec.name}: the best policy of {len(result.history)} candidates")
    rows = []
    robust = result.measure != "mean"  # else the robust value is the mean: not shown twice
    for k, o in enumerate(p.objectives):
        s, w, d = result.summary(best, k), result.summary(result.as_written, k), result.difference(best, k)
        f = _writer(o)
        rows.append(row([*([cell(_value(s["robust"], f), "bold"), cell(_value(w["robust"], f))] if robust else []),
                         cell(_value(s["mean"], f), "num" if robust else "bold", ci=_ci(s["ci_low"], s["ci_high"], f)),
                         cell(_value(w["mean"], f), ci=_ci(w["ci_low"], w["ci_high"], f)),
                         cell(_value(d[0], f), ci=_ci(d[1], d[2], f), sig=bool(d[1] > 0 or d[2] < 0)),
                         cell(f"{_value(s['scenarios_low'], f)} to {_value(s['scenarios_high'], f)}")],
                        label=o.label()))
    objectives = table("objectives", [head("objective", left=True),
                                      *([head(f"best ({result.measure})"), head(f"as written ({result.measure})")]
                                        if robust else []),
                                      head("best, mean"), head("as written, mean"), head("difference"),
                                      head("best: 95% of scenarios")], rows,
                       title=("Objectives: robust value, " if robust else "Objectives: ") + "mean over the "
                             "uncertainty scenarios with its 95% CI over replications, difference from the scenario "
                             "as written (paired replications), range of the best over the uncertainty scenarios")
    objectives["stack"] = True  # each interval under its value: narrow columns
    return [levers, objectives]


def _ci(low: float, high: float, write=adaptive) -> str:
    return f"({_value(low, write)} to {_value(high, write)})" if np.isfinite(low) and np.isfinite(high) else ""


def best_frame(result: OptimisationResult) -> pd.DataFrame:
    """``best.csv``: one row per policy (best, as written) and objective."""
    rows = []
    for label, ev in (("best", result.best), (AS_WRITTEN, result.as_written)):
        for k, o in enumerate(result.problem.objectives):
            s = result.summary(ev, k)
            d = result.difference(ev, k)
            rows.append({"policy": label, "objective": o.label(), "direction": o.direction,
                         "measure": result.measure, "robust": s["robust"], "mean": s["mean"], "ci_low": s["ci_low"],
                         "ci_high": s["ci_high"], "scenarios_p2_5": s["scenarios_low"],
                         "scenarios_p97_5": s["scenarios_high"], "difference_from_as_written": d[0],
                         "difference_ci_low": d[1], "difference_ci_high": d[2], "feasible": result.feasible(ev),
                         **{f"lever_{name}": v for name, v in ev.levers.items()}})
    return pd.DataFrame(rows)


def best_policy_toml(result: OptimisationResult, destination: Path) -> str:
    """``best_policy.toml``: a scenario that ``extends`` the base scenario's file (a library scenario by its name,
    so the folder can be moved; another file by its path relative to the result folder), with the optimisation
    file's ``set`` and the best levers; ``run_sim.py run`` runs it as it is."""
    p = result.problem
    base = Path(p.scenario_path).resolve()
    if base.is_relative_to(SCENARIO_DIR.resolve()):  # a library scenario by its name: found wherever the folder goes
        extends = base.relative_to(SCENARIO_DIR.resolve()).as_posix()
    else:
        try:
            extends = os.path.relpath(base, Path(destination))
        except ValueError:  # another drive
            extends = str(base)
    values: dict[str, Any] = {}
    for item in p.spec.set:
        keys, value = parse_override(item)
        values[_join(keys)] = value
    values.update(result.best_levers())
    tree = _pruned(set_values(_skeleton(p.base_raw), values))
    best = result.best
    question = p.spec.question or f"The best policy of optimisation {p.spec.name}"
    header = [f"# The best policy found by optimisation {p.spec.name} ({p.source})",
              "# " + ", ".join(f"{x.name} = {toml_inline(best.levers[x.name])}" for x in p.levers),
              "# run_sim.py run best_policy.toml runs it; run_sim.py compare <base> best_policy.toml compares it.", ""]
    doc = {"extends": extends, "name": f"{p.spec.name}_best", "question": f"Best policy: {question}"}
    return "\n".join(header) + toml_document({**doc, **tree})


def _skeleton(raw: dict) -> dict:
    """The named tables of a raw scenario (brands, segments) as empty tables: what ``set_values`` needs to accept a
    path through them, without copying their contents."""
    market = raw.get("market", {})
    return {"brands": {b: {} for b in raw.get("brands", {})},
            "market": {"segments": {s: {} for s in market.get("segments", {})}} if "segments" in market else {}}


def _pruned(tree: dict) -> dict:
    """``tree`` without its empty tables (those of :func:`_skeleton` nothing was set in)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            value = _pruned(value)
            if not value:
                continue
        out[key] = value
    return out


def _join(keys: list[str]) -> str:
    from sim.scenario_files import join_path

    return join_path(keys)


def manifest(result: OptimisationResult, started: datetime) -> dict:
    """The folder's ``manifest.json``: spec, file, base scenario, draws, seeds, budget, best, backend, provenance."""
    import optuna

    p = result.problem
    made = manifest_provenance(started)
    made["packages"]["optuna"] = optuna.__version__  # the optimiser: its samplers shape the history
    return {
        "optimisation": p.spec.model_dump(mode="json"),
        "optimisation_file": p.source,
        "base_scenario_file": str(p.scenario_path),
        "base_scenario": p.base_raw,
        "seed": p.spec.seed,
        "replication_spawn_keys": [[r] for r in range(p.spec.replications)],
        "buyers_simulated": p.spec.buyers,
        "uncertainty_scenarios": p.draws.to_dict(orient="records"),
        "sampler": "NSGA-II" if len(p.objectives) > 1 else "TPE",
        "evaluations": len(result.history),
        "max_evaluations": p.spec.max_evaluations,
        "replayed_from_history": result.replayed,
        "best": {"evaluation": result.best.number, "levers": result.best.levers, "values": result.best_levers(),
                 "feasible": result.feasible(result.best)},
        "execution": result.execution,
        "seconds": round(result.seconds, 1),
        **made,
    }


def _axis_format(axis, objective) -> None:
    """An objective's axis ticks as its values are written: dollars as ``$3.4B``, fractions as percentages."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    write = _writer(objective)
    if write is percent:
        axis.set_major_formatter(PercentFormatter(1.0))
    elif write is not adaptive:
        axis.set_major_formatter(FuncFormatter(lambda v, _: compact_money(v)))


def plot_history(result: OptimisationResult, history: pd.DataFrame) -> Figure:
    """Each candidate's robust first objective, the best so far, and the scenario as written."""
    o = result.problem.objectives[0]
    col = f"{o.label()}_{result.measure}"
    h = history[history["evaluation"] >= 0]
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(8, 3.4))
        colours = np.where(h["feasible"], "#4a6fa5", "#c0392b")
        ax.scatter(h["evaluation"], h[col], s=16, c=colours, label="candidate (red: violates a constraint)")
        ax.plot(h["evaluation"], h["best_so_far"], color="#222", lw=1.2, label="best so far (feasible)")
        written = history[history["evaluation"] < 0][col]
        if len(written) and np.isfinite(written.iloc[0]):
            ax.axhline(written.iloc[0], color="#999", ls="--", lw=1, label="scenario as written")
        ax.set_xlabel("candidate")
        ax.set_ylabel(col)
        _axis_format(ax.yaxis, o)
        ax.legend(frameon=False, fontsize=8)
    return Figure("Search", f"The robust value ({result.measure}) of every candidate in the order the optimiser "
                  "proposed it.", png_uri(fig))


def plot_pareto(result: OptimisationResult, history: pd.DataFrame, front: pd.DataFrame) -> Figure:
    """Every candidate in the plane of the two robust objectives, the front joined, the scenario as written."""
    p = result.problem
    a, b = (f"{o.label()}_{result.measure}" for o in p.objectives)
    h = history[history["evaluation"] >= 0]
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        ax.scatter(h[a], h[b], s=14, color="#bbb", label="candidate")
        if len(front):
            ax.plot(front[a], front[b], "o-", color="#4a6fa5", label="Pareto front")
        w = history[history["evaluation"] < 0]
        ax.scatter(w[a], w[b], marker="D", color="#c0392b", label="scenario as written", zorder=3)
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        _axis_format(ax.xaxis, p.objectives[0])
        _axis_format(ax.yaxis, p.objectives[1])
        ax.legend(frameon=False, fontsize=8)
    return Figure("Pareto front", "Feasible candidates no other beats on both objectives (robust values).",
                  png_uri(fig))


def write_optimisation(destination: Path, result: OptimisationResult, started: datetime) -> Path:
    """Write the optimisation folder (module docstring) atomically and return ``destination``.

    Raises:
        FileExistsError: ``destination`` exists (nothing is written).
        sim.files.WriteError: it cannot be written (nothing is left).
    """
    destination = Path(destination)
    p = result.problem
    with atomic_folder(destination) as tmp:
        history = result.history_frame()
        history.to_csv(tmp / "history.csv", index=False)
        best = best_frame(result)
        best.to_csv(tmp / "best.csv", index=False)
        p.draws.assign(scenario=range(len(p.draws)))[["scenario", *p.draws.columns]].to_csv(
            tmp / "draws.csv", index=False)
        write_atomic(tmp / BEST_POLICY, best_policy_toml(result, destination))
        spec = p.spec.model_dump(mode="json", exclude_none=True)
        write_atomic(tmp / "optimisation.toml", toml_document(spec))
        man = manifest(result, started)
        write_json(tmp / "manifest.json", man)
        pareto = None
        if len(p.objectives) > 1:
            front = result.pareto_frame()
            front.to_csv(tmp / "pareto.csv", index=False)
            pareto = plot_pareto(result, history, front)
            write_atomic(tmp / "pareto.png", base64.b64decode(pareto.uri.split(",", 1)[1]))
        levers, objectives = summary_tables(result)
        write_atomic(tmp / "report.html", render(
            "optimisation.html.j2", title=f"Optimisation {p.spec.name}", name=p.spec.name, question=p.spec.question,
            description=p.spec.description, headline=headline(result), levers=levers, objectives=objectives,
            history_figure=plot_history(result, history), pareto_figure=pareto,
            pareto=_front_table(result) if pareto is not None else None,
            draws=_draws_table(p.draws),
            provenance=provenance({**man, "seed": f"{p.spec.seed} (replication r: SeedSequence(seed, spawn_key=(r,)), "
                                                  "the same for every candidate and uncertainty scenario)"},
                                  [{"spawn_key": [r]} for r in range(p.spec.replications)],
                                  extra={"Optimisation file": p.source, "Base scenario": p.spec.scenario,
                                         "Ran on": result.backend})))
    return destination


def _front_table(result: OptimisationResult) -> dict:
    p = result.problem
    front = result.pareto_frame()
    cols = [f"{o.label()}_{result.measure}" for o in p.objectives]
    return table("pareto", [head("candidate"), *(head(x.name) for x in p.levers), *(head(c) for c in cols)],
                 [row([cell(str(r["evaluation"])), *(cell(toml_inline(r[x.name])) for x in p.levers),
                       *(cell(_value(r[c], _writer(o))) for c, o in zip(cols, p.objectives))])
                  for _, r in front.iterrows()])


def _draws_table(draws: pd.DataFrame) -> dict | None:
    if not len(draws.columns):
        return None
    return table("draws", [head("scenario"), *(head(c) for c in draws.columns)],
                 [row([cell(str(i)), *(cell(_draw(draws[c].iloc[i])) for c in draws.columns)])
                  for i in range(len(draws))])  # column by column: an integer parameter stays an integer


def _draw(value) -> str:
    """An uncertain parameter's value as drawn: an integer as it is, a number at a suitable precision."""
    return str(int(value)) if isinstance(value, (int, np.integer)) else adaptive(value)
