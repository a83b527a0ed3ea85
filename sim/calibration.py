"""Calibration: fit a scenario's free parameters to history by the simulated method of moments (SMM).

The problem (the calibration file: base scenario, free parameters with prior ranges and why, population,
replications, seed, optimiser budget) is loaded by ``sim.calibration_problem.load_calibration``. The targets
are those of ``sim/moments.py`` (1984-1997 sales, J.D. Power CSI gaps, lease share, Dillard & Bates rebuy
rates, Polk make loyalty).

Method (Gouriéroux & Monfort 1996; McFadden 1989):

1. **Common random numbers.** Every candidate θ is simulated with the same R replication seeds
   ``SeedSequence(seed, spawn_key=(r,))``, so differences between candidates are differences of θ, not of
   luck, and the objective is a deterministic function of θ that an optimiser can descend.
2. **Moments.** The simulated moments are averaged over the R replications (levels, then transformed:
   ``log`` for sales), and the distance is ``sum_k w_k z_k^2`` with ``z_k = (g(sim_k) - g(obs_k)) / sd_k``
   (``sim.moments.distance``). The runs stop at ``end_year``: later years cannot inform the fit.
3. **Search.** θ lives in the prior box, mapped to the unit cube. A scrambled Sobol' sample of the box
   (``screening`` points, evaluated in parallel) finds a good basin; scipy's bounded Nelder-Mead (adaptive
   to the dimension) refines the best point found (the start included).
   **Budget.** ``max_evaluations`` bounds every candidate simulated, whatever the stage (a candidate met again
   is looked up, not simulated): first the start; then the scenario's current values (evaluated last, never
   steering the search: what ``--apply`` compares the fit with) and the Jacobian's 2 x parameters points, each
   reserved only if the budget holds it; then the screening (its first points only, if the budget is short);
   Nelder-Mead gets the rest.
4. **Uncertainty and identification.** At the optimum θ̂ the Jacobian G = ∂g(m̄)/∂θ is taken by central
   differences (same seeds). With W = diag(w / sd²), the sandwich
   ``V = A⁻¹ G'W (S_obs + S_sim / R) W G A⁻¹``, ``A = G'WG``, gives standard errors: S_obs = diag(sd²) is the
   targets' own uncertainty and S_sim the across-replication variance of the simulated moments (the SMM
   ``(1 + 1/R)`` correction, in its general form). A parameter is *pinned down* when its 95% interval spans
   less than half of its prior range, *weakly identified* otherwise. Each target's share of the information
   ``A_jj`` on parameter j says which moments pin it; the sensitivity matrix ``Λ = -A⁻¹ G'W`` (Andrews,
   Gentzkow & Shapiro 2017) says how far each parameter would move if a target moved by one sd.

Runs go through ``sim.executor.Executor`` (a local Dask cluster on this machine's cores, or ``--scheduler``);
results are the same whatever the backend and the number of workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim import moments
from sim.calibration_problem import Optimiser, Problem
from sim.executor import Executor
from sim.report import Rendered
from sim.scenario_files import set_values, validate

PINNED_FRACTION = 0.5  # a 95% interval narrower than this fraction of the prior range: pinned down
NOT_ESTIMATED = "not estimated (evaluation budget)"  # identification when the budget left no room for the Jacobian


class BudgetSpent(RuntimeError):
    """A stage asked for more candidates than ``max_evaluations`` leaves (what stops Nelder-Mead at the budget)."""


# ---- simulation (runs on workers) ----------------------------------------------------------------------
@dataclass
class _Static:
    """What every run needs (sent to each worker once)."""

    base_raw: dict
    paths: list[str]
    integer: list[bool]
    targets: list[moments.Target]
    seed: int
    buyers: int
    source: str


def simulate(static: _Static, theta: tuple[float, ...], replication: int) -> np.ndarray:
    """Simulated moments (in target order) of one run at ``theta``: shape (targets,), NaN where unavailable."""
    from sim.model import LuxuryMarketModel
    from sim.runner import replication_seed  # the same seeds for every candidate: common random numbers

    values = {p: (int(round(v)) if i else float(v)) for p, v, i in zip(static.paths, theta, static.integer)}
    scenario = validate(set_values(static.base_raw, values, static.source), static.source)
    model = LuxuryMarketModel(scenario, seed=replication_seed(static.seed, replication), buyers=static.buyers).run()
    sim = moments.simulated_moments(model, static.targets)
    out = sim["simulated"].to_numpy(dtype=float).copy()
    out[~sim["available"].to_numpy(bool)] = np.nan
    return out


# ---- the objective -------------------------------------------------------------------------------------
def error_scale(values: np.ndarray, targets: list[moments.Target]) -> np.ndarray:
    """Moments on the scale their errors are measured: ``log`` for sales (floored), as is otherwise."""
    values = np.asarray(values, dtype=float)
    log = np.array([t.error == "log_ratio" for t in targets])
    out = values.copy()
    out[..., log] = np.log(np.maximum(values[..., log], moments.SALES_FLOOR))
    return out


def _observed(targets: list[moments.Target]) -> np.ndarray:
    return error_scale(np.array([t.observed for t in targets]), targets)


def distance_of(mean_moments: np.ndarray, targets: list[moments.Target]) -> float:
    """The SMM distance of replication-mean moments (equal to ``moments.distance`` of their table)."""
    sd = np.array([t.sd for t in targets])
    w = np.array([t.weight for t in targets])
    z = (error_scale(mean_moments, targets) - _observed(targets)) / sd
    z2 = np.where(np.isnan(z), moments.MISSING_Z ** 2, z ** 2)
    return float(np.sum(w * z2))


@dataclass
class Evaluation:
    """One candidate simulated: its parameter vector, each replication's moments, the SMM distance, the stage."""

    theta: np.ndarray
    runs: np.ndarray  # replications x moments
    distance: float
    stage: str


def _run(task: tuple[Callable, _Static], job: tuple[tuple[float, ...], int]) -> np.ndarray:
    fn, static = task
    return fn(static, *job)


@dataclass
class Calibrator:
    """The search (module docstring). ``executor`` runs the simulations; ``simulate(static, theta, replication)``
    (module level, picklable) gives one run's moments (tests pass a toy model)."""

    problem: Problem
    executor: Executor
    progress: Callable[[str, int, float], None] | None = None
    history: list[Evaluation] = field(default_factory=list)
    simulate: Callable[[_Static, tuple[float, ...], int], np.ndarray] = simulate

    def __post_init__(self) -> None:
        p = self.problem
        self.static = _Static(p.base_raw, p.paths, [bool(i) for i in p.integer], p.targets, p.spec.seed,
                              p.spec.buyers, p.source)
        self._cache: dict[tuple, Evaluation] = {}
        self.best: Evaluation | None = None
        self.budget = p.spec.optimiser.max_evaluations
        self.memory = None  # (peak bytes of one run, what): the model's runs are checked against available memory
        if self.simulate is simulate:
            from sim.model import memory_needed

            self.memory = (memory_needed(validate(p.base_raw, p.source), p.spec.buyers), f"{p.spec.buyers:,} buyers")

    @property
    def left(self) -> int:
        """Candidates the budget still allows (``max_evaluations`` minus those simulated)."""
        return self.budget - len(self.history)

    def _key(self, theta: np.ndarray) -> tuple:
        p = self.problem
        return tuple(int(round(v)) if i else round(float(v), 12) for v, i in zip(theta, p.integer))

    def evaluate(self, thetas: list[np.ndarray], stage: str, steer: bool = True) -> list[Evaluation]:
        """Simulate each candidate with the R common seeds (all runs in parallel); cached by value. ``steer``
        False: the candidates never become :attr:`best` (the scenario's current values, evaluated for comparison).

        Raises:
            BudgetSpent: more new candidates than the budget has left (nothing is simulated).
        """
        reps = self.problem.spec.replications
        todo = []
        for theta in thetas:
            k = self._key(theta)
            if k not in self._cache and k not in [t[0] for t in todo]:
                todo.append((k, theta))
        if len(todo) > self.left:
            raise BudgetSpent(f"{stage}: {len(todo)} candidates asked for, {self.left} left of {self.budget}")
        jobs = [(tuple(float(v) for v in theta), r) for _, theta in todo for r in range(reps)]
        results = self.executor.map(_run, jobs, shared=(self.simulate, self.static),
                                    label=lambda _, job: f"{stage} candidate {job[0]}, replication {job[1]}",
                                    memory=self.memory)
        for j, (k, theta) in enumerate(todo):
            runs = np.array(results[j * reps:(j + 1) * reps])
            ev = Evaluation(np.asarray(theta, float), runs, distance_of(np.nanmean(runs, axis=0)
                            if np.isfinite(runs).any() else runs[0], self.problem.targets), stage)
            self._cache[k] = ev
            self.history.append(ev)
            if steer and (self.best is None or ev.distance < self.best.distance):
                self.best = ev
            if self.progress:
                self.progress(stage, len(self.history), (self.best or ev).distance)
        return [self._cache[self._key(theta)] for theta in thetas]

    def _is_new(self, theta: np.ndarray) -> bool:
        return self._key(theta) not in self._cache

    def run(self) -> CalibrationResult:
        """The whole search: the start, Sobol' screening, Nelder-Mead from the best point, the Jacobian at the fit.

        Raises:
            sim.executor.TaskError: a simulation raised.
        """
        p, opt = self.problem, self.problem.spec.optimiser
        started = time.perf_counter()
        start = self.evaluate([np.clip(p.start, p.low, p.high)], "start")[0]
        current_theta = p.start if p.current is None else np.asarray(p.current, float)
        reserve = int(self._is_new(current_theta) and self.left >= 1)
        jacobian_points = 2 * len(p.paths)
        estimate = self.left - reserve >= jacobian_points
        reserve += jacobian_points if estimate else 0
        if opt.screening and self.left > reserve:
            from scipy.stats import qmc

            n = 2 ** math.ceil(math.log2(opt.screening))
            u = qmc.Sobol(len(p.paths), scramble=True, seed=np.random.default_rng(p.spec.seed)).random(n)
            self.evaluate([p.from_unit(x) for x in u][:self.left - reserve], "screening")
        local = self.nelder_mead(self.best.theta, opt, self.left - reserve)
        fitted = self.best
        if estimate:
            jac, spread = self.jacobian(fitted.theta)
        else:
            jac, spread = np.full((len(p.targets), len(p.paths)), np.nan), np.zeros(len(p.targets))  # unknown
        current = None
        if not self._is_new(current_theta) or self.left >= 1:
            current = self.evaluate([current_theta], "current", steer=False)[0]
        return CalibrationResult(p, start, fitted, list(self.history), jac, spread,
                                 time.perf_counter() - started, self.executor.description, local, current, estimate)

    def nelder_mead(self, theta0: np.ndarray, opt: Optimiser, budget: int) -> dict:
        """Bounded, adaptive Nelder-Mead from ``theta0`` in prior-range units, simulating at most ``budget`` new
        candidates; the first simplex steps ``opt.initial_step`` inward from a bound. Returns scipy's outcome:
        converged, message, evaluations (function calls, cached ones included), iterations (every evaluation also
        lands in :attr:`history`, the best in :attr:`best`)."""
        from scipy.optimize import minimize

        if budget <= 0:
            return {"converged": False, "message": "not run: no evaluation left in the budget (max_evaluations)",
                    "evaluations": 0, "iterations": 0}
        p = self.problem
        limit = len(self.history) + budget
        u0 = p.to_unit(theta0)
        d = u0.size
        simplex = [u0]
        for j in range(d):  # step inward from a bound
            u = u0.copy()
            u[j] = u[j] + opt.initial_step if u[j] + opt.initial_step <= 1 else u[j] - opt.initial_step
            simplex.append(u)

        calls = [0]

        def f(u: np.ndarray) -> float:
            theta = p.from_unit(u)
            if self._is_new(theta) and len(self.history) >= limit:
                raise BudgetSpent("nelder-mead")
            calls[0] += 1
            return self.evaluate([theta], "nelder-mead")[0].distance

        try:
            res = minimize(f, u0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * d,
                           options={"maxfev": budget, "xatol": opt.xatol, "fatol": opt.fatol,
                                    "adaptive": True, "initial_simplex": np.array(simplex)})
        except BudgetSpent:
            return {"converged": False, "message": f"stopped: the evaluation budget is spent ({self.budget}, "
                                                   "max_evaluations)", "evaluations": calls[0], "iterations": None}
        return {"converged": bool(res.success), "message": str(res.message), "evaluations": int(res.nfev),
                "iterations": int(res.nit)}

    def jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G (moments x parameters, error scale) by central differences with the common seeds, and the
        across-replication sd of each error-scale moment at ``theta``."""
        p = self.problem
        h = p.spec.jacobian_step * (p.high - p.low)
        h = np.where(p.integer, np.maximum(np.round(h), 1.0), h)
        points = []
        for j in range(theta.size):
            up, down = theta.copy(), theta.copy()
            up[j] = min(theta[j] + h[j], p.high[j])
            down[j] = max(theta[j] - h[j], p.low[j])
            points += [up, down]
        evs = self.evaluate([theta] + points, "jacobian")
        centre, rest = evs[0], evs[1:]
        G = np.zeros((len(p.targets), theta.size))
        for j in range(theta.size):
            up, down = rest[2 * j], rest[2 * j + 1]
            step = up.theta[j] - down.theta[j]
            if step > 0:
                G[:, j] = (error_scale(np.nanmean(up.runs, 0), p.targets)
                           - error_scale(np.nanmean(down.runs, 0), p.targets)) / step
        spread = np.nanstd(error_scale(centre.runs, p.targets), axis=0, ddof=1) if centre.runs.shape[0] > 1 \
            else np.zeros(len(p.targets))
        return np.nan_to_num(G), np.nan_to_num(spread)


# ---- results ---------------------------------------------------------------------------------------------
@dataclass
class CalibrationResult(Rendered):
    """A finished calibration. ``str()`` gives the fitted parameters and the sales fit for the terminal,
    ``_repr_html_`` the same tables in a notebook (``sim.calibration_report.summary_tables``)."""

    problem: Problem
    start: Evaluation
    fitted: Evaluation
    history: list[Evaluation]
    jacobian: np.ndarray
    spread: np.ndarray
    seconds: float
    backend: str  # where the runs went (Executor.description)
    local: dict
    current: Evaluation | None = None  # the scenario's current values (None: the budget left no room for them)
    estimated: bool = True  # False: the budget left no room for the Jacobian (no standard errors)

    def apply_refusal(self) -> str | None:
        """Why the fitted values should not replace the scenario's current values, or None if they may: the fit is
        worse (a higher distance) than the current values, or the current values were not evaluated."""
        if self.current is None:
            return ("the scenario's current values were not evaluated (no evaluation left in the budget), so the fit "
                    "cannot be shown to improve on them")
        if self.fitted.distance > self.current.distance:
            return (f"the fit's distance {self.fitted.distance:,.1f} is higher (worse) than the "
                    f"{self.current.distance:,.1f} of the values it would replace")
        return None

    def shortfall(self) -> str | None:
        """In plain words, what the fit did not improve on, or None if it improved on its start values and on the
        scenario's current values (when evaluated). The search keeps the best candidate, so a fit is never worse
        than its start, but it may be the start itself (no candidate did better: a budget too small, a start at the
        optimum) or worse than the scenario's current values (a search started elsewhere)."""
        lines = []
        if self.fitted.distance >= self.start.distance:
            lines.append(f"The fit did not improve on the start values: no candidate of the {len(self.history)} "
                         f"evaluated did better than their distance {self.start.distance:,.1f}, so the 'fitted' values "
                         "are the start values.")
        if self.current is not None and self.fitted.distance > self.current.distance:
            lines.append(f"The fit did not improve on the scenario's current values: its distance "
                         f"{self.fitted.distance:,.1f} is higher (worse) than their {self.current.distance:,.1f}.")
        return " ".join(lines) or None

    def headline(self) -> list:
        """What the fit did not improve on (:meth:`shortfall`), above the tables; nothing when it improved."""
        return [line for line in (self.shortfall(),) if line]

    @property
    def values(self) -> dict[str, Any]:
        """The fitted values by field path (integers rounded): what ``calibrated.toml`` and ``--apply`` write."""
        return self.problem.values(self.fitted.theta)

    def covariance(self) -> np.ndarray:
        """The SMM sandwich (module docstring); all NaN when the Jacobian was not estimated."""
        p = self.problem
        if not self.estimated:
            return np.full((len(p.paths), len(p.paths)), np.nan)
        sd = np.array([t.sd for t in p.targets])
        w = np.array([t.weight for t in p.targets])
        ok = (w > 0) & np.isfinite(error_scale(np.nanmean(self.fitted.runs, 0), p.targets))
        W = np.diag(w[ok] / sd[ok] ** 2)
        S = np.diag(sd[ok] ** 2 + self.spread[ok] ** 2 / p.spec.replications)
        # Work in units of each prior range (households and fractions differ by 10^8), then scale back.
        width = p.high - p.low
        G = self.jacobian[ok] * width[None, :]
        # A parameter that moves no moment (a zero column of G: within the Jacobian step the fit does not
        # notice it) has no information: infinite variance, and it is left out of the others' inverse.
        scaled = np.sqrt(W) @ G
        moves = np.linalg.norm(scaled, axis=0) > 1e-9 * max(np.linalg.norm(scaled), 1e-300)
        V = np.full((moves.size, moves.size), np.nan)
        np.fill_diagonal(V, np.inf)
        if moves.any():
            Gm = G[:, moves]
            A_inv = np.linalg.pinv(Gm.T @ W @ Gm, rcond=1e-12, hermitian=True)
            V[np.ix_(moves, moves)] = A_inv @ Gm.T @ W @ S @ W @ Gm @ A_inv
        V = V * np.outer(width, width)
        return V

    def sensitivity(self) -> pd.DataFrame:
        """Λ = -A⁻¹G'W scaled by each target's sd: the shift in each parameter if a target moved by one sd (all NaN
        when the Jacobian was not estimated: unknown, not zero)."""
        p = self.problem
        if not self.estimated:
            return self._unknown()
        sd = np.array([t.sd for t in p.targets])
        w = np.array([t.weight for t in p.targets])
        W = np.diag(w / sd ** 2)
        width = p.high - p.low
        G = self.jacobian * width[None, :]  # prior-range units, as in covariance()
        A_inv = np.linalg.pinv(G.T @ W @ G, rcond=1e-12, hermitian=True)
        lam = -(A_inv @ G.T @ W) * sd[None, :] * width[:, None]
        return pd.DataFrame(lam, index=p.names, columns=[t.name for t in p.targets])

    def information_shares(self) -> pd.DataFrame:
        """Where each parameter's information comes from: target k's share of ``A_jj = sum_k w_k (G_kj / sd_k)^2``
        (parameters x targets, rows sum to 1; 0 for a parameter no target moves; all NaN when the Jacobian was not
        estimated)."""
        p = self.problem
        if not self.estimated:
            return self._unknown()
        sd = np.array([t.sd for t in p.targets])
        w = np.array([t.weight for t in p.targets])
        contrib = (w[:, None] * (self.jacobian / sd[:, None]) ** 2).T
        total = contrib.sum(axis=1, keepdims=True)
        shares = np.divide(contrib, total, out=np.zeros_like(contrib), where=total > 0)
        return pd.DataFrame(shares, index=p.names, columns=[t.name for t in p.targets])

    def _unknown(self) -> pd.DataFrame:
        """A parameters x targets table of NaN: what the Jacobian would have told, when it was not estimated."""
        p = self.problem
        return pd.DataFrame(np.nan, index=p.names, columns=[t.name for t in p.targets])

    @property
    def jacobian_note(self) -> str | None:
        """Why there are no standard errors, sensitivity, information shares or Jacobian (and no sensitivity.csv,
        information.csv or jacobian.csv), or None when the Jacobian was estimated."""
        if self.estimated:
            return None
        k, budget = len(self.problem.paths), self.problem.spec.optimiser.max_evaluations
        return (f"Not estimated: the evaluation budget ({budget}) left no room for the Jacobian's {2 * k} evaluations "
                "(two per parameter), so there are no standard errors, "
                "identification or sensitivity, and sensitivity.csv, information.csv and jacobian.csv are not written "
                "(raise max_evaluations or --max-evaluations).")

    def parameters(self) -> pd.DataFrame:
        """One row per free parameter: prior range, start, fitted value, standard error (sandwich), the normal 95%
        interval (+-1.96 se), its width as a fraction of the prior range, whether it is pinned down (interval
        under ``PINNED_FRACTION`` of the range), whether it ended at a bound, the targets that pin it, and why."""
        p = self.problem
        se = np.sqrt(np.maximum(np.diag(self.covariance()), 0.0))  # inf: no information; NaN: not estimated
        info = self.information_shares()
        width = p.high - p.low
        rows = []
        for j, spec in enumerate(p.spec.parameters):
            value = self.fitted.theta[j]
            lo, hi = value - 1.96 * se[j], value + 1.96 * se[j]
            pinned = 2 * 1.96 * se[j] < PINNED_FRACTION * width[j]
            top = info.iloc[j].sort_values(ascending=False)
            top = top[top > 0].head(3)
            rows.append({
                "parameter": p.names[j], "path": spec.path, "prior_low": spec.range[0], "prior_high": spec.range[1],
                "start": p.start[j], "fitted": (int(round(value)) if p.integer[j] else value), "se": se[j],
                "ci_low": lo, "ci_high": hi, "ci_width_of_prior": 2 * 1.96 * se[j] / width[j],
                "at_bound": bool(np.isclose(value, spec.range[0]) or np.isclose(value, spec.range[1])),
                "identification": NOT_ESTIMATED if not self.estimated else
                "pinned down" if pinned else "weakly identified",
                "pinned_by": "; ".join(f"{k} ({v:.0%})" for k, v in top.items()), "why": spec.why,
            })
        return pd.DataFrame(rows)

    def fit_table(self, which: str = "fitted") -> pd.DataFrame:
        """Targets vs simulated (replication mean, min and max over the R runs) at the fit (or start)."""
        p = self.problem
        ev = self.fitted if which == "fitted" else self.start
        mean = np.nanmean(ev.runs, axis=0)
        sim = pd.DataFrame({"name": [t.name for t in p.targets], "simulated": mean, "available": np.isfinite(mean),
                            "basis": "mean of replications"})
        table = moments.moment_table(p.targets, sim)
        table["sim_low"] = np.nanmin(ev.runs, axis=0)
        table["sim_high"] = np.nanmax(ev.runs, axis=0)
        return table

    def history_frame(self) -> pd.DataFrame:
        """Every evaluation in order: its number, stage, distance and parameter values (one column each)."""
        p = self.problem
        rows = [{"evaluation": k, "stage": ev.stage, "distance": ev.distance,
                 **{n: v for n, v in zip(p.names, ev.theta)}} for k, ev in enumerate(self.history)]
        return pd.DataFrame(rows)

    def title(self) -> str:
        """``Calibration NAME``: the heading of the terminal and notebook views."""
        return f"Calibration {self.problem.spec.name}"

    def tables(self) -> list[dict]:
        """The fitted parameters and the sales fit (:func:`sim.calibration_report.summary_tables`)."""
        from sim.calibration_report import summary_tables

        return summary_tables(self)


def calibrate(problem: Problem, executor: Executor | None = None, progress: Callable | None = None
              ) -> CalibrationResult:
    """Fit ``problem`` (see the module docstring).

    Args:
        problem: from :func:`load_calibration`.
        executor: where the runs go (default: a new :class:`Executor` on the local cores, closed after).
        progress: ``progress(stage, evaluations so far, best distance)`` after each evaluation.

    Returns:
        The :class:`CalibrationResult`: start and fitted evaluations (each with its (replications, targets)
        moments), every evaluation, the Jacobian (targets x parameters, error scale per unit of each parameter),
        the replication spread at the fit (targets,), wall seconds, the backend, Nelder-Mead's outcome.

    Raises:
        sim.executor.TaskError: a simulation raised (the message names the candidate and the replication).
    """
    if executor is None:
        with Executor() as own:
            return Calibrator(problem, own, progress).run()
    return Calibrator(problem, executor, progress).run()
