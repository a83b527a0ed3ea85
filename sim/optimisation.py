"""Optimisation: the best decision levers for an objective, robust to an uncertainty, with common random numbers.

The problem (the optimisation file: base scenario, levers, objective(s), constraints, uncertainty, budget) is loaded
by ``sim.optimisation_problem.load_optimisation``.

Method:

1. **Optimiser.** Optuna's TPE sampler (Bergstra et al. 2011) for one objective, NSGA-II (Deb et al. 2002) for two,
   seeded from the file's seed, with the constraints passed to it (``Trial.set_constraint``: a candidate is feasible
   when every value is at most 0).
2. **Batches, ask then tell.** The optimiser is asked for ``batch`` candidates (a file field, never the number of
   workers), all of them are simulated at once on the execution layer (``sim.executor``: this process, a local Dask
   cluster, ``--scheduler``), then told in order. So the history depends on the file and the seed only, never on the
   workers or the order in which runs finish.
3. **Common random numbers.** Every candidate is run in the same uncertainty scenarios (drawn once, seeded) with the
   same replication seeds ``SeedSequence(seed, spawn_key=(r,))``: differences between candidates are differences of
   the levers, not of luck.
4. **Robustness.** Each run reports the objective(s) and the constraints; their replication means per uncertainty
   scenario are combined by the ``measure``: the mean over scenarios, a quantile (for maximize, the value the policy
   beats in 1 - q of the scenarios), or the regret (the largest shortfall, over the scenarios, from the best policy
   evaluated in that scenario; while searching, the best found so far, up to the candidate's own batch: the value
   told is fixed then, so the history is reproducible; the results recompute it against every candidate). A
   constraint must hold in every uncertainty scenario (its replication mean).
5. **Resumable.** After each batch its evaluations are appended to a history file beside the result folder (the
   staging place, ``.NAME.optimize.jsonl``); ``--resume`` replays it (the optimiser is asked again, in the same
   order, and told the recorded values: its state, random state included, is as it was) and goes on, so a resumed
   optimisation gives the same history as one never interrupted.

The scenario as written (the levers at their values in the base scenario) is evaluated first on the same scenarios
and seeds, for comparison; it is not told to the optimiser nor counted in the budget. A candidate proposed again (an
integer policy) counts in the budget but is not simulated again: it takes the runs of its first evaluation, which
common random numbers make exactly what it would run.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.compare import discount_factors
from sim.executor import Executor
from sim.optimisation_problem import LeverInfo, Metric, Problem
from sim.report import Rendered
from sim.scenario_files import set_values, validate
from sim.stats import mean_interval

AS_WRITTEN = "as written"


# ---- one run (on workers) -----------------------------------------------------------------------------------------
def metric_value(table: pd.DataFrame, m: Metric) -> float:
    """One metric of a ``brand_year()`` table: the selected cells aggregated (NaN cells skipped; NaN if none is left),
    ``npv`` discounted to the first selected year (``sim.compare.discount_factors``) and summed; with ``per``, divided
    by the same aggregate of that column (NaN where it is 0: a degenerate run reports NaN, never an infinity)."""
    rows = m.cells(table)

    def aggregate(column: str) -> float:
        values = rows[column].to_numpy(dtype=float)
        keep = ~np.isnan(values)
        if not keep.any():
            return float("nan")
        if m.aggregate == "npv":
            years = rows["year"].to_numpy()
            first = m.years[0] if m.years is not None else m.year if m.year is not None else int(years.min())
            return float(np.sum(values[keep] * discount_factors(years[keep], first, m.discount_rate)))
        return float(getattr(np, m.aggregate or "mean")(values[keep]))

    value = aggregate(m.metric)
    if m.per is None:
        return value
    denominator = aggregate(m.per)
    return value / denominator if denominator and np.isfinite(denominator) else float("nan")


@dataclass
class _Static:
    """What every run needs (sent to each worker once)."""

    base_raw: dict
    paths: list[str]
    kinds: list[str]
    metrics: list[Metric]
    draws: list[dict]
    seed: int
    buyers: int
    source: str


def lever_values(paths: list[str], kinds: list[str], values: tuple) -> dict[str, Any]:
    """Field path -> value of a candidate, each of its field's kind (an integer rounded, a float a float)."""
    out = {}
    for path, kind, v in zip(paths, kinds, values):
        out[path] = int(round(v)) if kind == "int" else float(v) if kind == "float" else v
    return out


def simulate(static: _Static, levers: tuple, draw: int, replication: int) -> np.ndarray:
    """The metrics (objectives, then constraints) of one run: the candidate's ``levers`` in uncertainty scenario
    ``draw``, replication ``replication`` (its common seed). Shape (metrics,)."""
    from sim.model import LuxuryMarketModel
    from sim.runner import replication_seed

    values = {**static.draws[draw], **lever_values(static.paths, static.kinds, levers)}
    scenario = validate(set_values(static.base_raw, values, static.source), static.source)
    model = LuxuryMarketModel(scenario, seed=replication_seed(static.seed, replication), buyers=static.buyers).run()
    table = model.brand_year()
    return np.array([metric_value(table, m) for m in static.metrics], dtype=float)


def _run(task: tuple[Callable, _Static], job: tuple[tuple, int, int]) -> np.ndarray:
    fn, static = task
    return fn(static, *job)


# ---- evaluations and the robustness measure -----------------------------------------------------------------------
@dataclass
class Evaluation:
    """One candidate evaluated: its number (-1: the scenario as written), batch, lever values, and every run's metrics
    (uncertainty scenarios x replications x metrics)."""

    number: int
    batch: int
    levers: dict[str, Any]  # lever name -> value
    runs: np.ndarray

    def per_draw(self) -> np.ndarray:
        """Replication means per uncertainty scenario: (scenarios, metrics), NaN where no replication had a value."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a scenario with no value: NaN, said as such
            return np.nanmean(self.runs, axis=1)


def robust(values: np.ndarray, direction: str, measure: str, q: float, reference: np.ndarray | None) -> float:
    """The robustness measure of one metric's per-scenario values (scenarios,): ``mean``; ``quantile`` (q for
    maximize, 1 - q for minimize: the pessimistic side); ``regret``: the largest shortfall from ``reference`` (the best
    value in each scenario), >= 0, lower is better. NaN if any scenario has no value."""
    values = np.asarray(values, float)
    if values.size == 0 or np.isnan(values).any():
        return float("nan")
    if measure == "mean":
        return float(values.mean())
    if measure == "quantile":
        return float(np.quantile(values, q if direction == "maximize" else 1 - q))
    short = (reference - values) if direction == "maximize" else (values - reference)
    return float(max(0.0, np.max(short)))


def best_per_draw(evaluations: list[Evaluation], k: int, direction: str) -> np.ndarray:
    """The best replication-mean value of metric ``k`` in each uncertainty scenario over ``evaluations`` (NaNs
    ignored)."""
    stack = np.array([ev.per_draw()[:, k] for ev in evaluations])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(stack, axis=0) if direction == "maximize" else np.nanmin(stack, axis=0)


def violation(problem: Problem, ev: Evaluation) -> list[float]:
    """Each constraint's violation (<= 0: respected) in its worst uncertainty scenario: ``value - max`` or
    ``min - value``; NaN values count as violated (+inf is never told: 1e300)."""
    out = []
    means = ev.per_draw()
    n = len(problem.objectives)
    for j, c in enumerate(problem.spec.constraints):
        v = means[:, n + j]
        gap = (v - c.max) if c.max is not None else (c.min - v)
        out.append(float(np.max(gap)) if not np.isnan(gap).any() else 1e300)
    return out


# ---- the search ---------------------------------------------------------------------------------------------------
class HistoryMismatch(ValueError):
    """A history file that does not belong to this optimisation (another file, scenario or seed): not resumed."""


def staging_file(destination: Path) -> Path:
    """Where an optimisation keeps its history while it runs: ``.NAME.optimize.jsonl`` beside ``destination``."""
    destination = Path(destination)
    return destination.parent / f".{destination.name}.optimize.jsonl"


@dataclass
class Optimiser:
    """The search (module docstring). ``simulate(static, levers, draw, replication)`` (module level, picklable) gives
    one run's metrics; tests pass a toy model."""

    problem: Problem
    executor: Executor
    staging: Path | None = None
    resume: bool = False
    progress: Callable[[int, float], None] | None = None
    simulate: Callable = simulate
    history: list[Evaluation] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.problem
        self.static = _Static(p.base_raw, [x.path for x in p.levers], [x.kind for x in p.levers], p.metrics,
                              p.draw_values, p.spec.seed, p.spec.buyers, p.source)
        self.as_written: Evaluation | None = None
        self.told: list[list[float] | None] = []  # what each candidate told the optimiser (None: failed)
        self.memory = None
        if self.simulate is simulate:
            from sim.model import memory_needed

            self.memory = (memory_needed(validate(p.base_raw, p.source), p.spec.buyers), f"{p.spec.buyers:,} buyers")

    # ---- the optimiser ------------------------------------------------------------------------------------------
    def _study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        spec = self.problem.spec
        if spec.second_objective is None:
            sampler = optuna.samplers.TPESampler(seed=spec.seed % 2**32, n_startup_trials=spec.startup,
                                                 constant_liar=True)
        else:
            sampler = optuna.samplers.NSGAIISampler(seed=spec.seed % 2**32, population_size=spec.population)
        return optuna.create_study(directions=self.directions(), sampler=sampler)

    def directions(self) -> list[str]:
        """The direction of each value told: an objective's own, or minimize for a regret."""
        if self.problem.spec.uncertainty.measure == "regret":
            return ["minimize"] * len(self.problem.objectives)
        return [o.direction for o in self.problem.objectives]

    def distributions(self) -> dict:
        """Optuna's search space: a float or int range, or categorical choices, per lever (by column name)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out = {}
        for x in self.problem.levers:
            if x.choices is not None:
                out[x.name] = CategoricalDistribution(x.choices)
            elif x.kind == "int":
                out[x.name] = IntDistribution(int(x.low), int(x.high))
            else:
                out[x.name] = FloatDistribution(x.low, x.high)
        return out

    def _values(self, levers: dict[str, Any]) -> tuple:
        return tuple(levers[x.name] for x in self.problem.levers)

    def evaluate(self, candidates: list[dict[str, Any]], first: int, batch: int) -> list[Evaluation]:
        """Simulate each candidate (lever name -> value) in every uncertainty scenario and replication, all runs at
        once on the executor; numbered from ``first``."""
        p = self.problem
        if not candidates:
            return []
        draws, reps = len(self.static.draws), p.spec.replications
        jobs = [(self._values(c), d, r) for c in candidates for d in range(draws) for r in range(reps)]
        from sim.runner import estimated_seconds

        cost = None if self.memory is None else \
            len(jobs) * estimated_seconds(validate(p.base_raw, p.source), p.spec.buyers)
        results = self.executor.map(_run, jobs, shared=(self.simulate, self.static), cost=cost, memory=self.memory,
                                    label=lambda _, job: f"candidate {dict(zip([x.name for x in p.levers], job[0]))}, "
                                                         f"uncertainty scenario {job[1]}, replication {job[2]}")
        per = draws * reps
        out = []
        for i, c in enumerate(candidates):
            runs = np.array(results[i * per:(i + 1) * per], dtype=float).reshape(draws, reps, len(p.metrics))
            out.append(Evaluation(first + i if first >= 0 else -1, batch, dict(c), runs))
        return out

    def _evaluate_new(self, candidates: list[dict[str, Any]], first: int, batch: int) -> list[Evaluation]:
        """:meth:`evaluate` of the candidates not met before; one met before (the sampler may propose an integer
        policy again) takes that evaluation's runs, which common random numbers make exactly what it would run."""
        seen = {json.dumps(_plain(ev.levers), sort_keys=True): ev.runs for ev in [self.as_written, *self.history]}
        keys = [json.dumps(_plain(c), sort_keys=True) for c in candidates]
        new = [c for i, (c, k) in enumerate(zip(candidates, keys)) if k not in seen and k not in keys[:i]]
        done = {json.dumps(_plain(ev.levers), sort_keys=True): ev.runs for ev in self.evaluate(new, first, batch)}
        runs = {**seen, **done}
        return [Evaluation(first + i, batch, dict(c), runs[k]) for i, (c, k) in enumerate(zip(candidates, keys))]

    def _tell_values(self, ev: Evaluation, pool: list[Evaluation]) -> list[float] | None:
        u = self.problem.spec.uncertainty
        means = ev.per_draw()
        values = []
        for k, o in enumerate(self.problem.objectives):
            ref = best_per_draw(pool, k, o.direction) if u.measure == "regret" else None
            values.append(robust(means[:, k], o.direction, u.measure, u.quantile, ref))
        return values if all(np.isfinite(values)) else None

    def _tell(self, study, trials: list, evs: list[Evaluation]) -> None:
        from optuna.trial import TrialState

        pool = ([self.as_written] if self.as_written is not None else []) + self.history + evs
        for trial, ev in zip(trials, evs):
            values = self._tell_values(ev, pool)
            for j, v in enumerate(violation(self.problem, ev)):
                trial.set_constraint(f"c{j}", v)
            if values is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, values if len(values) > 1 else values[0])
            self.told.append(values)
        self.history.extend(evs)

    # ---- the history file ---------------------------------------------------------------------------------------
    def _read_staging(self) -> tuple[Evaluation | None, list[Evaluation]]:
        if not self.resume or self.staging is None or not self.staging.exists():
            return None, []
        lines = self.staging.read_text(encoding="utf-8").splitlines()
        try:
            head = json.loads(lines[0])
            records = []
            for line in lines[1:]:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by the interruption: that batch runs again
        except (IndexError, json.JSONDecodeError):
            raise HistoryMismatch(f"{self.staging}: not an optimisation history") from None
        if head.get("fingerprint") != self.problem.fingerprint():
            raise HistoryMismatch(f"{self.staging}: the history of another optimisation (its file, scenario, seed or "
                                  "options differ); remove it to start afresh")
        evs = [Evaluation(r["number"], r["batch"], r["levers"], np.array(r["runs"], dtype=float)) for r in records]
        written = next((e for e in evs if e.number < 0), None)
        return written, [e for e in evs if e.number >= 0]

    def _append(self, evs: list[Evaluation], new: bool = False) -> None:
        if self.staging is None:
            return
        lines = []
        if new:
            lines.append(json.dumps({"fingerprint": self.problem.fingerprint(), "name": self.problem.spec.name,
                                     "source": self.problem.source}))
        for ev in evs:
            runs = np.where(np.isnan(ev.runs), None, ev.runs.astype(object)).tolist()
            lines.append(json.dumps({"number": ev.number, "batch": ev.batch, "levers": _plain(ev.levers),
                                     "runs": runs}))
        from sim.files import _write_error

        try:
            self.staging.parent.mkdir(parents=True, exist_ok=True)  # the result folder's parent, as run's --out
            with open(self.staging, "w" if new else "a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise _write_error(self.staging, exc) from exc

    # ---- the whole search ---------------------------------------------------------------------------------------
    def run(self) -> OptimisationResult:
        """The scenario as written, then batches of candidates until the budget is spent (a resumed optimisation
        replays its history first).

        Raises:
            sim.executor.TaskError: a simulation raised.
            HistoryMismatch: ``resume`` with a history file of another optimisation.
        """
        p = self.problem
        started = time.perf_counter()
        written, recorded = self._read_staging()
        if written is None:
            as_written = {x.name: x.as_written for x in p.levers}
            written = self.evaluate([as_written], -1, -1)[0]
            self._append([written], new=True)
        self.as_written = written
        study = self._study()
        dists = self.distributions()
        budget = p.spec.max_evaluations
        batch = 0
        replayed = 0
        while len(self.history) < budget:
            n = min(p.spec.batch, budget - len(self.history))
            trials = [study.ask(dists) for _ in range(n)]
            candidates = [{name: t.params[name] for name in dists} for t in trials]
            first = len(self.history)
            if replayed + n <= len(recorded):  # told again, not simulated: the optimiser's state is rebuilt exactly
                evs = recorded[replayed:replayed + n]
                for ev, c in zip(evs, candidates):
                    if _plain(ev.levers) != _plain(c):
                        raise HistoryMismatch(f"{self.staging}: candidate {ev.number} differs on replay "
                                              f"({ev.levers} recorded, {c} asked); remove it to start afresh")
                replayed += n
            else:
                evs = self._evaluate_new(candidates, first, batch)
                self._append(evs)
            self._tell(study, trials, evs)
            batch += 1
            if self.progress:
                self.progress(len(self.history), self.best_told())
        return OptimisationResult(p, written, list(self.history), time.perf_counter() - started,
                                  self.executor.description, self.executor.describe(), replayed)

    def best_told(self) -> float:
        """The best first value told so far (NaN before any): what the progress bar shows."""
        vals = [t[0] for t in self.told if t is not None]
        if not vals:
            return float("nan")
        return max(vals) if self.directions()[0] == "maximize" else min(vals)


def _plain(value: Any) -> Any:
    from sim.files import plain

    return json.loads(json.dumps(plain(value)))


# ---- results ------------------------------------------------------------------------------------------------------
@dataclass
class OptimisationResult(Rendered):
    """A finished optimisation: the problem, the scenario as written, every candidate evaluated, the wall seconds and
    where the runs went. ``str()`` gives the best policy and its comparison with the scenario as written."""

    problem: Problem
    as_written: Evaluation
    history: list[Evaluation]
    seconds: float
    backend: str
    execution: dict
    replayed: int = 0  # candidates told again from the history file (--resume), not simulated in this session

    # ---- values -------------------------------------------------------------------------------------------------
    @property
    def measure(self) -> str:
        """The robustness measure (``mean``, ``quantile`` or ``regret``)."""
        return self.problem.spec.uncertainty.measure

    def robust_values(self, ev: Evaluation) -> list[float]:
        """Each objective's robust value for ``ev``; a regret against the best of every policy evaluated."""
        u = self.problem.spec.uncertainty
        pool = [self.as_written, *self.history]
        means = ev.per_draw()
        return [robust(means[:, k], o.direction, u.measure, u.quantile,
                       best_per_draw(pool, k, o.direction) if u.measure == "regret" else None)
                for k, o in enumerate(self.problem.objectives)]

    def feasible(self, ev: Evaluation) -> bool:
        """True when every constraint holds in every uncertainty scenario."""
        return all(v <= 0 for v in violation(self.problem, ev))

    def _better(self, k: int) -> str:
        return "minimize" if self.measure == "regret" else self.problem.objectives[k].direction

    def ranked(self) -> list[Evaluation]:
        """The candidates from best to worst on the first objective's robust value: feasible ones first, then the
        least violating; NaN last."""
        sign = 1.0 if self._better(0) == "minimize" else -1.0

        def key(ev: Evaluation):
            v = self.robust_values(ev)[0]
            worst = max(violation(self.problem, ev), default=0.0)
            return (not self.feasible(ev), worst if worst > 0 else 0.0, not np.isfinite(v),
                    sign * v if np.isfinite(v) else 0.0, ev.number)

        return sorted(self.history, key=key)

    @property
    def best(self) -> Evaluation:
        """The best candidate (:meth:`ranked`; with two objectives, the Pareto front's best on the first)."""
        return self.ranked()[0]

    def pareto(self) -> list[Evaluation]:
        """The feasible candidates no other feasible candidate beats on both robust objective values (two objectives;
        with one, the best alone)."""
        if len(self.problem.objectives) < 2:
            return [self.best]
        pts = []
        for ev in self.history:
            v = self.robust_values(ev)
            if self.feasible(ev) and all(np.isfinite(v)):
                pts.append((ev, [x if self._better(k) == "minimize" else -x for k, x in enumerate(v)]))
        front = [ev for ev, a in pts if not any(all(b_ <= a_ for a_, b_ in zip(a, b)) and b != a for _, b in pts)]
        return sorted(front, key=lambda ev: self.robust_values(ev)[0], reverse=self._better(0) == "maximize")

    def summary(self, ev: Evaluation, k: int = 0) -> dict:
        """Objective ``k`` of ``ev``: the robust value, the mean with its 95% t interval over replications (the mean
        over uncertainty scenarios, replication by replication), and the 2.5-97.5% range over the uncertainty
        scenarios (replication means)."""
        draws = ev.runs[:, :, k]  # scenarios x replications
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_rep = np.nanmean(draws, axis=0)
            per_draw = np.nanmean(draws, axis=1)
        mean, low, high = mean_interval(per_rep)
        finite = per_draw[np.isfinite(per_draw)]
        lo_u, hi_u = (np.quantile(finite, [0.025, 0.975]) if finite.size else (np.nan, np.nan))
        return {"robust": self.robust_values(ev)[k], "mean": mean, "ci_low": low, "ci_high": high,
                "scenarios_low": float(lo_u), "scenarios_high": float(hi_u), "replications": int(per_rep.size),
                "scenarios": int(per_draw.size)}

    def difference(self, ev: Evaluation, k: int = 0) -> tuple[float, float, float]:
        """Objective ``k`` of ``ev`` minus the scenario as written's, paired by replication (common random numbers:
        each replication's mean over the uncertainty scenarios): ``(mean, low, high)``, a 95% t interval."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            a = np.nanmean(ev.runs[:, :, k], axis=0)
            b = np.nanmean(self.as_written.runs[:, :, k], axis=0)
        return mean_interval(a - b)

    def history_frame(self) -> pd.DataFrame:
        """Every evaluation in order (the scenario as written first, number -1): number, batch, lever values, each
        objective's robust value and mean, each constraint's worst-scenario value, feasible, best so far."""
        p = self.problem
        rows = []
        best_so_far = np.nan
        for ev in [self.as_written, *self.history]:
            means = ev.per_draw()
            row: dict[str, Any] = {"evaluation": ev.number, "batch": ev.batch,
                                   "policy": AS_WRITTEN if ev.number < 0 else "candidate", **ev.levers}
            values = self.robust_values(ev)
            for k, o in enumerate(p.objectives):
                row[f"{o.label()}_{self.measure}"] = values[k]
                if self.measure != "mean":
                    row[f"{o.label()}_mean"] = float(np.mean(means[:, k]))
            for j, c in enumerate(p.spec.constraints):
                worst = means[:, len(p.objectives) + j]
                row[f"{c.label()}_worst"] = float(np.max(worst) if c.max is not None else np.min(worst))
            row["feasible"] = self.feasible(ev)
            if ev.number >= 0 and row["feasible"] and np.isfinite(values[0]):
                better = self._better(0) == "maximize"
                best_so_far = values[0] if np.isnan(best_so_far) else (
                    max(best_so_far, values[0]) if better else min(best_so_far, values[0]))
            row["best_so_far"] = best_so_far if ev.number >= 0 else np.nan
            rows.append(row)
        return pd.DataFrame(rows)

    def pareto_frame(self) -> pd.DataFrame:
        """The Pareto front (two objectives): number, levers, both robust values, sorted by the first."""
        p = self.problem
        rows = []
        for ev in self.pareto():
            v = self.robust_values(ev)
            rows.append({"evaluation": ev.number, **ev.levers,
                         **{f"{o.label()}_{self.measure}": v[k] for k, o in enumerate(p.objectives)}})
        return pd.DataFrame(rows)

    def best_levers(self) -> dict[str, Any]:
        """The best policy as field path -> value (what ``best_policy.toml`` sets)."""
        p = self.problem
        return lever_values([x.path for x in p.levers], [x.kind for x in p.levers],
                            tuple(self.best.levers[x.name] for x in p.levers))

    # ---- words and tables ---------------------------------------------------------------------------------------
    def headline(self) -> list[str]:
        """The answer in a few sentences: the best policy, its objective with intervals, against the scenario as
        written, and what the budget and the uncertainty were."""
        from sim.optimisation_report import headline

        return headline(self)

    def title(self) -> str:
        """``Optimisation NAME``."""
        return f"Optimisation {self.problem.spec.name}"

    def tables(self) -> list[dict]:
        """The best policy against the scenario as written (:func:`sim.optimisation_report.summary_tables`)."""
        from sim.optimisation_report import summary_tables

        return summary_tables(self)


def optimise(problem: Problem, executor: Executor | None = None, staging: Path | None = None, resume: bool = False,
             progress: Callable[[int, float], None] | None = None) -> OptimisationResult:
    """Solve ``problem`` (see the module docstring).

    Args:
        problem: from :func:`sim.optimisation_problem.load_optimisation`.
        executor: where the runs go (default: a new :class:`Executor` on the local cores, closed after).
        staging: the history file kept while it runs (:func:`staging_file`; None: none, no resume).
        resume: replay ``staging`` first (it must exist and belong to this problem).
        progress: ``progress(candidates evaluated, best value told)`` after each batch.

    Returns:
        The :class:`OptimisationResult`.

    Raises:
        sim.executor.TaskError: a simulation raised (the message names the candidate, scenario and replication).
        HistoryMismatch: ``resume`` with a history file of another optimisation.
    """
    if executor is None:
        with Executor() as own:
            return Optimiser(problem, own, staging, resume, progress).run()
    return Optimiser(problem, executor, staging, resume, progress).run()


def lever_table(levers: list[LeverInfo]) -> pd.DataFrame:
    """The levers as the manifest and report list them: name, path, kind, range or choices, value as written."""
    return pd.DataFrame([{"lever": x.name, "path": x.path, "kind": x.kind,
                          "space": f"{x.low:g} to {x.high:g}" if x.choices is None else
                          ", ".join(json.dumps(c) for c in x.choices), "as_written": x.as_written} for x in levers])
