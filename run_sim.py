"""luxsim command line. `python run_sim.py` runs the flagship scenario; `python run_sim.py --help` lists commands.

Exit codes: 0 success, 2 bad input (the message names the file, the field and the reason), 1 internal error.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated


def quit_while_starting(signum: int, frame) -> None:
    """SIGINT's handler until the command line is ready (its imports: a few tenths of a second): one line and exit
    130, as a later Ctrl-C gives, rather than the traceback of whichever import it interrupted."""
    print("Interrupted (Ctrl-C) before the command started: nothing was run.", file=sys.stderr)
    raise SystemExit(130)


if __name__ == "__main__" and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, quit_while_starting)

from sim.executor import prepare_for_command_line

if __name__ == "__main__":  # (speed only) a sweep's workers' parent starts loading the model before the imports below
    prepare_for_command_line(sys.argv[1:])

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim.executor import TaskError
from sim.scenario import MAX_SEED
from sim.scenario_files import ScenarioError, ScenarioWarning, load_scenario, read_toml

FLAGSHIP = "lexus_us_1989"

app = typer.Typer(add_completion=False, no_args_is_help=False, rich_markup_mode="rich",
                  help="luxsim: an agent-based simulator of the luxury car market (the Lexus case).")
# The terminal's width (or COLUMNS, when set: COLUMNS=80 for an 80-column summary); 120 when piped to a file.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 120)
err = Console(stderr=True)


def _report_problems(exc: ScenarioError) -> None:
    err.print("[bold red]Invalid input[/]")
    for problem in exc.problems:  # one unwrapped line per problem, easy to read and to grep
        print(f"  {problem}", file=sys.stderr)


def _fail(exc: ScenarioError) -> None:
    _report_problems(exc)
    raise typer.Exit(2)


def _claim(destination: Path) -> None:
    """Before any computing: a result folder that exists is refused (exit 2, results are never overwritten), and
    one that cannot be written (read-only, full, no permission) raises :class:`sim.files.WriteError` (exit 1)."""
    if destination.exists():
        err.print(f"[red]{escape(str(destination))} already exists; choose another --out[/]")
        raise typer.Exit(2)
    from sim.files import check_writable

    check_writable(destination)


def _progress(quiet: bool, *columns) -> Progress:
    """The progress display on stderr (none with --quiet, gone when done): the task's description, printed as
    written (a scenario or brand name may hold '[' and ']'), then ``columns`` (default: a bar and done/total), then
    the time elapsed."""
    return Progress(TextColumn("{task.description}", markup=False), *(columns or (BarColumn(), MofNCompleteColumn())),
                    TimeElapsedColumn(), console=err, disable=quiet, transient=True)


def _summary(result, quiet: bool):
    """The terminal summary of a results object, drawn before anything is written: a summary that cannot be drawn
    fails the command while no result folder exists yet (output appears whole or not at all)."""
    return None if quiet else result.__rich__()


def _show(summary, destination: Path, contents: str) -> None:
    """Print a summary from :func:`_summary` and where the results went (``--quiet``: only the folder). A path is
    printed whole on a line of its own, never wrapped (a terminal narrower than it shows it folded, but it copies
    whole)."""
    if summary is None:
        console.print(str(destination), markup=False, highlight=False, soft_wrap=True)  # a path never wraps
        return
    console.print(summary)
    console.print(f"Results, in the folder below: {contents}", markup=False, highlight=False)
    console.print(f"[bold]{escape(str(destination))}[/]", soft_wrap=True)  # on its own line, whole: copied as it is


def _load(name: str, overrides: list[str], years: int | None):
    """A scenario with the --set overrides, then --years (named as such in error and warning lines)."""
    return load_scenario(name, list(overrides or []), None if years is None else {"--years": f"market.years={years}"})


def _run(scenario_name: str, replications: int | None, seed: int | None, buyers: int | None,
         years: int | None, overrides: list[str], out: Path | None, quiet: bool, workers: int | None,
         engine: str = "vectorised", scheduler: str | None = None) -> None:
    from sim.executor import Executor
    from sim.results import default_destination, write_results
    from sim.runner import run_replications

    try:
        scenario = _load(scenario_name, overrides, years)
    except ScenarioError as exc:
        _fail(exc)
    reps = replications or scenario.simulation.replications
    seed = scenario.simulation.seed if seed is None else seed
    n = buyers or scenario.simulation.buyers
    started = datetime.now(UTC)
    destination = out or default_destination(scenario, started, seed)
    _claim(destination)
    with _progress(quiet) as progress:
        task = progress.add_task(f"{scenario.name}: {n:,} buyers x {scenario.market.years} years", total=reps)
        with Executor(workers, scheduler) as executor:
            results = run_replications(scenario, reps, seed, buyers, progress=lambda _: progress.advance(task),
                                       engine=engine, executor=executor)
    from sim.run_report import build_run_report

    summary = _summary(results, quiet)
    write_results(destination, scenario, results, started, seed, n, after=build_run_report,
                  execution=executor.describe())
    _show(summary, destination, "open report.html (tables: brand_year.parquet/.csv, switching.csv, line_year.csv, "
                                "monthly.parquet, manifest.json)")


Replications = Annotated[int | None, typer.Option("--replications", "-r", min=1,
                                                  help="Replications (default: the scenario's).")]
Seed = Annotated[int | None, typer.Option(min=0, max=MAX_SEED, help="Root seed, 0 to 2^63 - 1 (default: the "
                                                                      "scenario's).")]
MIN_BUYERS = 100  # as the scenario's simulation.buyers
Buyers = Annotated[int | None, typer.Option("--buyers", "-n", min=MIN_BUYERS,
                                            help="Buyers simulated (default: the scenario's).")]
Years = Annotated[int | None, typer.Option(min=1, help="Simulated years (default: the scenario's).")]
Sets = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a field: --set brands.Lexus.service.loaner_cars=false (repeatable).")]
Out = Annotated[Path | None, typer.Option(
    help="Result folder (default: results/<scenario>/<UTC time>-<hash>-s<seed>-<random>/).")]
CompareOut = Annotated[Path | None, typer.Option(
    help="Result folder (default: results/compare/<UTC time>-<base>-vs-<other>-s<seed>-<random>/).")]
SweepOut = Annotated[Path | None, typer.Option(
    help="Sweep folder (default: results/sweeps/<experiment>/<UTC time>-s<seed>-<random>/).")]
ValidationOut = Annotated[Path | None, typer.Option(
    help="Result folder (default: results/validation/<scenario>/<UTC time>-s<seed>-<random>/).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; print only the result folder.")]
Workers = Annotated[int | None, typer.Option(
    min=1, help="Local worker processes (default: the cores; 1 runs everything in this process).")]
Scheduler = Annotated[str | None, typer.Option(
    help="Existing Dask scheduler, e.g. tcp://host:8786 (or DASK_SCHEDULER_ADDRESS); its workers need this project "
         "at the same commit.")]
ScenarioName = Annotated[str, typer.Argument(help="Scenario name in scenarios/ or a path to a TOML file.")]


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """With no command: run the flagship scenario (scenarios/lexus_us_1989.toml) and print its summary."""
    if ctx.invoked_subcommand is None:
        _run(FLAGSHIP, None, None, None, None, [], None, False, None)


@app.command()
def run(scenario: ScenarioName = FLAGSHIP,
        replications: Replications = None, seed: Seed = None, buyers: Buyers = None, years: Years = None,
        set_: Sets = None, out: Out = None, quiet: Quiet = False, workers: Workers = None, scheduler: Scheduler = None,
        engine: Annotated[str, typer.Option(
            help="vectorised (fast, default) or agents (the per-agent reference engine).")] = "vectorised") -> None:
    """Run a scenario with replications; write results and print a summary."""
    if engine not in ("vectorised", "agents"):
        err.print(f"[red]--engine: expected 'vectorised' or 'agents', got {escape(repr(engine))}[/]")
        raise typer.Exit(2)
    _run(scenario, replications, seed, buyers, years, set_ or [], out, quiet, workers, engine, scheduler)


@app.command()
def compare(base: Annotated[str, typer.Argument(help="The baseline scenario.")],
            others: Annotated[list[str], typer.Argument(help="Scenarios to compare with the baseline.")],
            replications: Replications = None, seed: Seed = None, buyers: Buyers = None, years: Years = None,
            set_: Sets = None, out: CompareOut = None, quiet: Quiet = False, workers: Workers = None,
            scheduler: Scheduler = None) -> None:
    """Run scenarios with common random numbers (the same seeds) and report differences with 95% intervals."""
    from sim.compare import Comparison, common_ground
    from sim.executor import Executor
    from sim.files import safe_name, unique_suffix
    from sim.results import ROOT, write_comparison
    from sim.runner import RunSet, run_scenarios

    names = [base, *others]
    problems, scenarios = [], {}
    for name in names:
        try:
            sc = _load(name, set_ or [], years)
        except ScenarioError as exc:
            problems += exc.problems
            continue
        key = next((k for k in (sc.name, name) if k not in scenarios), None)
        k = 2
        while key is None:  # the same scenario twice: its second run gets a name of its own
            key = f"{sc.name}-{k}" if f"{sc.name}-{k}" not in scenarios else None
            k += 1
        scenarios[key] = sc
    if problems:
        _fail(ScenarioError(problems))
    base_name = next(iter(scenarios))
    first = scenarios[base_name]
    problems, notes = common_ground(scenarios, base_name)  # differences are brand-year by brand-year
    if problems:
        _fail(ScenarioError(problems))
    for note in notes:
        print(note, file=sys.stderr)
    reps = replications or first.simulation.replications
    seed = first.simulation.seed if seed is None else seed
    n = buyers or first.simulation.buyers
    started = datetime.now(UTC)
    label = safe_name(f"{started:%Y%m%dT%H%M%SZ}-{'-vs-'.join(safe_name(name) for name in scenarios)}", 180)
    destination = out or ROOT / "results" / "compare" / f"{label}-{unique_suffix(seed)}"
    _claim(destination)
    with _progress(quiet) as progress:
        task = progress.add_task(f"{len(scenarios)} scenarios x {reps} replications, {n:,} buyers",
                                 total=reps * len(scenarios))
        with Executor(workers, scheduler) as executor:
            results = run_scenarios(scenarios, reps, seed, n, executor, progress=lambda _: progress.advance(task))
    runs = {name: (sc, RunSet(results[name], sc)) for name, sc in scenarios.items()}
    from sim.compare_report import build_compare_report

    summary = _summary(Comparison(runs, base_name), quiet)
    write_comparison(destination, runs, base_name, started, seed, n, after=build_compare_report,
                     execution=executor.describe())
    _show(summary, destination, "open report.html (differences.csv, payback.csv, one run folder per scenario)")


@app.command("scenarios")
def list_scenarios() -> None:
    """List the scenario library with the question each scenario answers."""
    from sim.scenario_files import SCENARIO_DIR

    table = Table(title="Scenarios (scenarios/*.toml)", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("extends")
    table.add_column("question")
    invalid = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            sc = load_scenario(path)
            parent = read_toml(path).get("extends", "")
        except ScenarioError as exc:  # listed below the table, one line each
            more = len(exc.problems) - 1
            invalid.append(exc.problems[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))
            continue
        table.add_row(escape(path.stem), escape(str(parent).removesuffix(".toml")), escape(sc.question))
    console.print(table)
    for line in invalid:
        print(f"not listed, invalid: {line}", file=sys.stderr)


@app.command()
def explain(scenario: Annotated[str, typer.Argument(help="Scenario name or path.")],
            set_: Sets = None, years: Years = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print the resolved scenario as JSON.")] = False,
            ) -> None:
    """Print a scenario's resolved parameters (after `extends` and --set) as a TOML file that loads back as the
    same scenario (its name and question in a comment above), or as JSON."""
    from sim.scenario_files import scenario_toml

    try:
        sc = _load(scenario, set_ or [], years)
    except ScenarioError as exc:
        _fail(exc)
    # Plain writes: a console would wrap long lines (a long question) and break the TOML.
    sys.stdout.write(sc.model_dump_json(indent=2) + "\n" if as_json else scenario_toml(sc))


@app.command()
def sweep(experiment: Annotated[str, typer.Argument(help="Experiment name in scenarios/experiments/ or a path.")],
          workers: Workers = None, scheduler: Scheduler = None, out: SweepOut = None,
          resume: Annotated[bool, typer.Option(
              "--resume", help="Finish the interrupted sweep in --out: run only what is missing.")] = False,
          quiet: Quiet = False) -> None:
    """Run a parameter sweep (grid, LHS, Sobol, Morris) with replications on Dask; results stream to Parquet."""
    from sim.executor import prepare_local_workers

    prepare_local_workers(workers, scheduler)  # the workers' parent loads the model while this process reads the design
    from sim.sweep import SweepIncomplete, SweepInterrupted, every_run_failed, run_sweep, sweep_summary
    from sim.sweep_folder import read_manifest

    if resume and out is None:
        err.print("[red]--resume needs --out SWEEP_DIR (the folder to finish)[/]")
        raise typer.Exit(2)
    try:
        folder = run_sweep(experiment, out=out, workers=workers, scheduler=scheduler, resume=resume,
                           progress=not quiet)
    except ScenarioError as exc:
        _fail(exc)
    except SweepIncomplete as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(1) from None
    except SweepInterrupted as exc:
        _interrupted[0] = str(exc)  # what cli() says on exit 130: this sweep keeps its finished runs
        raise
    except Exception as exc:  # an error after runs were saved: say how to finish, then fail as the error does
        for note in getattr(exc, "__notes__", []):
            print(note, file=sys.stderr)
        raise
    summary = sweep_summary(folder)
    if quiet:  # only the folder, on a line of its own (dir=$(python run_sim.py sweep X -q)); failed runs on stderr
        console.print(str(folder), markup=False, highlight=False, soft_wrap=True)
        counts = read_manifest(folder).get("status_counts", {})
        if counts.get("error") or counts.get("missing"):
            print(f"Warning: {summary}", file=sys.stderr)
    else:
        console.print(summary, markup=False, highlight=False)
    failed = every_run_failed(folder)
    if failed:  # nothing to analyse: a failure, not a result (a sweep with some failed runs is one, and says so)
        print(f"every run failed; the first error: {failed}", file=sys.stderr)
        raise typer.Exit(1)
    if not quiet:
        console.print(f"Next: python run_sim.py analyze {folder}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def analyze(sweep_dir: Annotated[Path, typer.Argument(help="A sweep folder (results/sweeps/<name>/<time>/).")],
            ) -> None:
    """Sensitivity indices (Sobol S1/ST, Morris mu*/sigma) with confidence intervals, plots and CSVs; for a grid, the
    best point of each output (with its 95% interval) and main effects."""
    from sim.analysis import analyze as run_analysis
    from sim.analysis import caveat_line, format_summary

    try:
        folder = run_analysis(sweep_dir)
    except ScenarioError as exc:
        _fail(exc)
    caveat = caveat_line(json.loads((folder / "analysis.json").read_text()))
    if caveat:  # too small a sample, indices outside [0, 1]: one line, the numbers still shown (with it) below
        print(f"Warning: {caveat}", file=sys.stderr)
    console.print(format_summary(folder), markup=False, highlight=False)
    console.print(f"Analysis: {folder}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def discover(sweep_dir: Annotated[Path, typer.Argument(help="A sweep folder (results/sweeps/<name>/<time>/).")],
             where: Annotated[str, typer.Option(
                 help="The outcome of interest: a condition on the sweep's columns (outputs, levers, "
                      "uncertainties), a pandas expression, e.g. \"lexus_cum_profit_1995 < 0\".")] = ...,
             on: Annotated[str, typer.Option(
                 help="runs (each run a case) or points (each design point, its outputs averaged over its "
                      "replications).")] = "runs",
             boxes: Annotated[int, typer.Option(help="PRIM boxes at most (its covering), 1 to 10.")] = 3,
             min_density: Annotated[float, typer.Option(
                 help="The share of a box's cases that should meet the condition (a later box below it is not "
                      "kept).")] = 0.8,
             out: Annotated[Path | None, typer.Option(
                 help="Result folder (default: SWEEP_DIR/discovery/<UTC time>-<random>/).")] = None,
             quiet: Quiet = False) -> None:
    """Scenario discovery: which regions of the levers and uncertainties lead to an outcome (PRIM boxes with
    coverage and density, the peeling trajectory, CART's rules), as sentences, CSV and report.html."""
    from sim.discovery import default_destination, load_cases, write_discovery
    from sim.discovery import discover as find

    started = datetime.now(UTC)
    try:  # every problem with the input before the destination is claimed
        cases = load_cases(sweep_dir, where, on)
        found = find(sweep_dir, where, on, boxes, min_density, cases=cases, before=lambda: _claim(
            out or default_destination(sweep_dir, started)))
    except ScenarioError as exc:
        _fail(exc)
    destination = out or default_destination(sweep_dir, started)
    write_discovery(destination, found, started)
    if quiet:
        console.print(str(destination), markup=False, highlight=False, soft_wrap=True)
        return
    for line in found.summary_lines():  # a sentence on one line (the terminal folds it), never cut
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print("Results, in the folder below: open report.html (boxes.csv, trajectory.csv/.png, cart.txt, "
                  "manifest.json)", markup=False, highlight=False)
    console.print(f"[bold]{escape(str(destination))}[/]", soft_wrap=True)


@app.command()
def calibrate(calibration: Annotated[str, typer.Argument(
                  help="Calibration file in scenarios/calibration/ or a path.")] = FLAGSHIP,
              buyers: Buyers = None,
              replications: Replications = None,
              max_evaluations: Annotated[int | None, typer.Option(
                  min=1, help="Candidates simulated at most, every stage counted: start, current values, screening, "
                              "Nelder-Mead, Jacobian (default: the file's).")] = None,
              workers: Workers = None, scheduler: Scheduler = None,
              apply: Annotated[bool, typer.Option(
                  "--apply", help="Write the fitted values into the base scenario file, each with a comment naming "
                                  "this run (refused if the fit is worse than the values it replaces).")] = False,
              force: Annotated[bool, typer.Option(
                  "--force", help="With --apply: write the fitted values even if they fit worse than the current "
                                  "ones.")] = False,
              out: Annotated[Path | None, typer.Option(
                  help="Result folder (default: results/calibration/<name>/<UTC time>-s<seed>-<random>/).")] = None,
              quiet: Quiet = False) -> None:
    """Fit the free parameters to 1984-1997 history (simulated method of moments, common random numbers, Dask)."""
    from sim.calibration import calibrate as fit
    from sim.calibration_problem import load_calibration
    from sim.calibration_report import apply_to_scenario, default_destination, run_label, write_calibration
    from sim.executor import Executor
    from sim.scenario_files import resolve_path

    try:
        problem = load_calibration(calibration, {"buyers": buyers, "replications": replications,
                                                 "max_evaluations": max_evaluations})
    except ScenarioError as exc:
        _fail(exc)
    started = datetime.now(UTC)
    destination = out or default_destination(problem.spec.name, started, problem.spec.seed)
    _claim(destination)
    spec = problem.spec
    if not quiet:
        err.print(f"Calibrating {len(problem.paths)} parameters of {escape(spec.scenario)} to "
                  f"{len(problem.targets)} targets (to {spec.end_year}): {spec.replications} replications x "
                  f"{spec.buyers:,} buyers per candidate")
    with Executor(workers, scheduler) as executor, \
            _progress(quiet, TextColumn("{task.completed} evaluations"),
                      TextColumn("best distance {task.fields[best]}")) as progress:
        task = progress.add_task("start", total=None, best="-")
        result = fit(problem, executor, progress=lambda stage, n, best: progress.update(
            task, description=stage, completed=n, best=f"{best:,.1f}"))
    summary = _summary(result, quiet)
    write_calibration(destination, result, started)
    refusal = result.apply_refusal() if apply and not force else None
    if apply and refusal is None:
        apply_to_scenario(resolve_path(spec.scenario), result.values, run_label(destination))
    note = " The fitted values were written into the scenario file (--apply)." if apply and refusal is None else \
        "" if refusal or result.shortfall() else " Add --apply to write the fitted values into the scenario file."
    _show(summary, destination, f"open report.html.{note}")
    if refusal:
        err.print(f"--apply refused: {refusal}; {spec.scenario} is unchanged (--force applies it anyway)",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def optimize(optimisation: Annotated[str, typer.Argument(
                 help="Optimisation file in scenarios/optimisations/ or a path.")],
             max_evaluations: Annotated[int | None, typer.Option(
                 min=1, help="Candidate policies evaluated (default: the file's max_evaluations).")] = None,
             buyers: Buyers = None, replications: Replications = None, seed: Seed = None,
             workers: Workers = None, scheduler: Scheduler = None,
             out: Annotated[Path | None, typer.Option(
                 help="Result folder (default: results/optimisations/<name>/<UTC time>-s<seed>-<random>/).")] = None,
             resume: Annotated[bool, typer.Option(
                 "--resume", help="Continue the interrupted optimisation of --out from its history.")] = False,
             quiet: Quiet = False) -> None:
    """Find the levers that maximise (or minimise) an objective, robust to an uncertainty (Optuna TPE, or NSGA-II for
    two objectives), with common random numbers, on Dask; writes best_policy.toml and report.html."""
    from sim.executor import Executor
    from sim.optimisation import HistoryMismatch, optimise, staging_file
    from sim.optimisation_problem import load_optimisation
    from sim.optimisation_report import default_destination, write_optimisation

    if resume and out is None:
        err.print("[red]--resume needs --out DIR (the folder the interrupted optimisation was writing)[/]")
        raise typer.Exit(2)
    try:
        problem = load_optimisation(optimisation, {"max_evaluations": max_evaluations, "buyers": buyers,
                                                   "replications": replications, "seed": seed})
    except ScenarioError as exc:
        _fail(exc)
    spec = problem.spec
    started = datetime.now(UTC)
    destination = out or default_destination(spec.name, started, spec.seed)
    staging = staging_file(destination)
    if resume and not staging.exists():
        err.print(f"--resume: no interrupted optimisation at {destination} (no {staging.name} beside it)",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if not resume and staging.exists():
        err.print(f"{destination}: an interrupted optimisation's history is beside it ({staging.name}); add --resume "
                  "to continue it, or remove that file", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    _claim(destination)
    command = f"python run_sim.py optimize {optimisation} --out {destination} --resume" + \
        "".join(f" --{k.replace('_', '-')} {v}" for k, v in (("max_evaluations", max_evaluations), ("buyers", buyers),
                                                             ("replications", replications), ("seed", seed))
                if v is not None)
    _interrupted[0] = f"Interrupted (Ctrl-C): the evaluations so far are kept; continue with: {command}"
    runs = len(problem.draw_values) * spec.replications
    if not quiet:
        err.print(f"Optimising {len(problem.levers)} levers of {escape(spec.scenario)}: {spec.max_evaluations} "
                  f"candidates x {len(problem.draw_values)} uncertainty scenarios x {spec.replications} replications "
                  f"({runs} runs each) of {spec.buyers:,} buyers")
    try:
        with Executor(workers, scheduler) as executor, \
                _progress(quiet, BarColumn(), MofNCompleteColumn(), TextColumn("best {task.fields[best]}")) as progress:
            task = progress.add_task("candidates", total=spec.max_evaluations, best="-")
            result = optimise(problem, executor, staging, resume, progress=lambda n, best: progress.update(
                task, completed=n, best=f"{best:,.4g}"))
    except HistoryMismatch as exc:
        print(f"--resume: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        if not staging.exists():  # stopped before the first evaluation was kept
            _interrupted[0] = "Interrupted (Ctrl-C): nothing was written."
        raise
    except TaskError:
        _interrupted[0] = "Interrupted (Ctrl-C): nothing was written."
        print(f"The evaluations so far are kept; after fixing the cause, continue with: {command}", file=sys.stderr)
        raise
    summary = _summary(result, quiet)
    write_optimisation(destination, result, started)
    staging.unlink(missing_ok=True)
    _show(summary, destination, "open report.html (best_policy.toml: run it with run_sim.py run; history.csv, "
                                "best.csv, manifest.json)")


@app.command("validate")
def validate_command(scenario: Annotated[str, typer.Argument(help="The calibrated scenario.")] = FLAGSHIP,
                     parity: Annotated[str, typer.Option(
                         help="The service-parity file: its own changes, applied to SCENARIO, make the "
                              "counterfactual ('' to skip that check).")] = "lexus_service_parity",
                     replications: Replications = None, seed: Seed = None, buyers: Buyers = None,
                     overrides: Sets = None, workers: Workers = None, scheduler: Scheduler = None,
                     out: ValidationOut = None,
                     quiet: Quiet = False,
                     strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if a stylized fact fails.")] = False,
                     ) -> None:
    """Validate a scenario: the 1984-1997 fit and the case's stylized facts (pass/fail); later years, a forecast."""
    from sim import moments
    from sim.calibration_report import write_validation
    from sim.files import safe_name, unique_suffix
    from sim.results import ROOT
    from sim.scenario_files import load_counterfactual
    from sim.validation import parity_mismatch, validate_scenario

    started = datetime.now(UTC)
    try:  # the destination is known and checked before anything runs
        sc = _load(scenario, overrides or [], None)
    except ScenarioError as exc:
        _fail(exc)
    # A counterfactual of another market is refused before anything runs (after the scenario's own coverage: a
    # scenario the data cannot judge is refused as such by validate_scenario, also before anything runs).
    if parity and moments.coverage(sc) is None:
        try:
            mismatch = parity_mismatch(sc, load_counterfactual(scenario, parity, overrides or []))
        except ScenarioError as exc:
            _fail(ScenarioError([f"--parity {parity}: {p}" for p in exc.problems]))
        if mismatch is not None:
            _fail(ScenarioError([f"--parity {parity}: cannot be {scenario}'s counterfactual: {mismatch}"]))
    run_seed = sc.simulation.seed if seed is None else seed
    destination = out or ROOT / "results" / "validation" / safe_name(sc.name) / \
        f"{started:%Y%m%dT%H%M%SZ}-{unique_suffix(run_seed)}"
    _claim(destination)
    try:
        with _progress(quiet) as progress:
            task = progress.add_task(f"validating {scenario} (and {parity or 'no counterfactual'})", total=None)
            result = validate_scenario(scenario, parity or None, replications, buyers, seed, workers, overrides,
                                       progress=lambda _: progress.advance(task), scheduler=scheduler)
    except ScenarioError as exc:
        _fail(exc)
    summary = _summary(result, quiet)
    write_validation(destination, result, started)
    last = int(result.brand_year["year"].max())
    _show(summary, destination, f"report.html has the forecast to {last}." if len(result.forecast) else
          f"report.html has the fit and the facts (no forecast: the run ends in {last}).")
    if strict and not result.passed:
        raise typer.Exit(1)


@app.command("app")
def app_command(host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] = "127.0.0.1",
                port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765) -> None:
    """Start the browser app (sliders, live charts, network view) at http://HOST:PORT, offline."""
    sockets = _listen(host, port)  # before the app's imports (seconds) and before the address is announced
    from sim.app import serve

    serve(host=host, port=port, sockets=sockets)  # prints the address; exercises in docs/case_study.md


def _listen(host: str, port: int) -> list:
    """Listening sockets bound to every address ``host`` names (as uvicorn would bind them), or one line and exit:
    1 when one cannot be bound (the port is taken, an address this machine does not have, a port that needs
    privileges), 2 when ``host`` does not resolve. Nothing is left bound on failure."""
    import socket

    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def refuse(reason: str, hint: str, code: int):
        err.print(f"[red]cannot serve the app on {escape(where)}: {escape(reason)} ({hint})[/]", soft_wrap=True)
        raise typer.Exit(code)

    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        refuse(str(getattr(exc, "strerror", None) or exc).lower(), "check --host", 2)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):  # (each address once)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio binds each family apart
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        hint = {errno.EADDRINUSE: "try --port N", errno.EACCES: "a port below 1024 needs privileges; try --port N",
                errno.EADDRNOTAVAIL: "this machine has no such address; check --host"}.get(exc.errno, "check --host "
                                                                                                 "and --port")
        reason = exc.strerror or str(exc)
        refuse(reason[:1].lower() + reason[1:], hint, 1)
    return sockets


@app.command()
def elasticity(scenario: ScenarioName = FLAGSHIP,
               line: Annotated[list[str] | None, typer.Option(
                   "--line", help="A model line as Brand:Line, e.g. 'Lexus:LS' (repeatable; default: the five "
                                  "1990 luxury models Berry, Levinsohn & Pakes 1995 estimated, beside their "
                                  "figures).")] = None,
               year: Annotated[int | None, typer.Option(
                   help="Calendar year of the price change (default: 1990, BLP's year).")] = None,
               replications: Replications = None, seed: Seed = None, buyers: Buyers = None, set_: Sets = None,
               workers: Workers = None, scheduler: Scheduler = None) -> None:
    """Own-price elasticities of demand for model lines: each line's price 5% lower and higher for one year, in paired
    runs with the same seeds (supply limits lifted). Prints a table; writes nothing."""
    from sim import elasticity as el
    from sim.executor import Executor

    try:
        sc = _load(scenario, set_ or [], None)
        pairs = []
        for text in line or []:
            brand, sep, name = text.partition(":")
            if not sep or not brand.strip() or not name.strip():
                raise ScenarioError([f"--line {text!r}: must be Brand:Line, e.g. 'Lexus:LS'"])
            pairs.append((brand.strip(), name.strip()))
        if pairs:
            el.check_request(sc, pairs, year or el.BLP_YEAR)
        else:
            el.check_request(sc, el.blp_lines(), el.BLP_YEAR if year is None else year)
            if year not in (None, el.BLP_YEAR):
                raise ScenarioError([f"--year {year}: BLP's figures are for {el.BLP_YEAR}; give --line to measure "
                                     "other years"])
    except ValueError as exc:
        _fail(exc if isinstance(exc, ScenarioError) else ScenarioError([str(exc)]))
    with Executor(workers, scheduler) as executor, _progress(False) as progress:
        progress.add_task(f"{scenario}: paired runs, {len(pairs) or 5} lines x 2 prices x "
                          f"{replications or sc.simulation.replications} replications", total=None)
        table = (el.own_price_elasticities(sc, pairs, year or el.BLP_YEAR, buyers, replications, seed,
                                           executor=executor) if pairs
                 else el.compare_with_blp(sc, buyers, replications, seed, executor=executor))
    out = Table(title=f"Own-price elasticities of demand, {int(table['year'].iloc[0])} ({sc.name})")
    for column in ("brand", "line", "list price (1989 $)", "sales", "elasticity", "sd") + (("BLP 1995",) if not pairs
                                                                                           else ()):
        out.add_column(column, justify="left" if column in ("brand", "line") else "right")
    for row in table.itertuples():
        cells = [row.brand, row.line, f"{row.price:,.0f}", f"{row.sales:,.0f}", f"{row.own_price_elasticity:.2f}",
                 f"{row.sd:.2f}"] + ([f"{row.blp:.2f}"] if not pairs else [])
        out.add_row(*cells)
    console.print(out)
    if not pairs:
        console.print(f"Mean: {table['own_price_elasticity'].mean():.2f} (BLP {table['blp'].mean():.2f}).")


@app.command("line-mix")
def line_mix_command(scenario: ScenarioName = FLAGSHIP,
                     invert: Annotated[int, typer.Option(
                         min=0, help="Steps of Berry's inversion that set the lines' appeals to BLP's 1986-1990 "
                                     "within-brand shares (0: only compare).")] = 0,
                     apply: Annotated[bool, typer.Option(
                         "--apply", help="With --invert: write the appeals into the scenario file.")] = False,
                     replications: Replications = None, seed: Seed = None, buyers: Buyers = None, set_: Sets = None,
                     workers: Workers = None, scheduler: Scheduler = None) -> None:
    """Model lines' shares of their brand's 1986-1990 sales beside BLP's, and (--invert) the line appeals that match
    them. Prints a table; writes only the scenario file, and only with --apply."""
    from sim import line_mix as lm
    from sim.executor import Executor
    from sim.scenario_files import resolve_path

    try:
        sc = _load(scenario, set_ or [], None)
        if apply and not invert:
            raise ScenarioError(["--apply: give --invert N (the steps whose appeals are written)"])
        if apply and set_:
            raise ScenarioError(["--apply: not with --set (the file would get appeals fitted to other values)"])
        if apply and "extends" in read_toml(resolve_path(scenario)):
            raise ScenarioError([f"--apply: {scenario} extends another file: apply to the file that lists the lines"])
        if sc.market.start_year + sc.market.years - 1 < lm.LAST_YEAR or sc.market.start_year > lm.FIRST_YEAR:
            raise ScenarioError([f"{scenario}: the run must cover {lm.FIRST_YEAR}-{lm.LAST_YEAR} (BLP's years)"])
    except ValueError as exc:
        _fail(exc if isinstance(exc, ScenarioError) else ScenarioError([str(exc)]))
    with Executor(workers, scheduler) as executor, _progress(False) as progress:
        progress.add_task(f"{scenario}: {max(invert, 1)} step(s) of "
                          f"{replications or sc.simulation.replications} replications to {lm.LAST_YEAR}", total=None)
        appeals, history = lm.invert_appeals(sc, max(invert, 1), buyers, replications, seed, executor)
        first = history[history["iteration"] == 0]
        last = (lm.invert_appeals(lm.with_appeals(sc, appeals), 1, buyers, replications, seed, executor)[1]
                if invert else first)
    table = lm.mix_summary(first).merge(lm.mix_summary(last)[["brand", "group", "simulated"]], on=["brand", "group"],
                                        suffixes=("", "_after"))
    out = Table(title=f"Lines' shares of their brand's sales, mean of {lm.FIRST_YEAR}-{lm.LAST_YEAR} ({sc.name})")
    for column in ("brand", "line", "BLP", "simulated") + (("after inversion", "appeal") if invert else ()):
        out.add_column(column, justify="left" if column in ("brand", "line") else "right")
    for row in table.itertuples():
        cells = [row.brand, row.group, f"{row.blp:.1%}", f"{row.simulated:.1%}"]
        if invert:
            cells += [f"{row.simulated_after:.1%}", f"{appeals.get((row.brand, row.group.split(' + ')[0]), 0.0):+.2f}"]
        out.add_row(*cells)
    console.print(out)
    if apply:
        path = resolve_path(scenario)
        lm.write_appeals(path, appeals, f"set from BLP's {lm.FIRST_YEAR}-{lm.LAST_YEAR} within-brand shares "
                                        f"(run_sim.py line-mix --invert {invert})")
        console.print(f"Wrote {len(appeals)} line appeals into {path}.")


@app.command()
def attribute(scenario: ScenarioName = FLAGSHIP,
              brand: Annotated[str, typer.Option(help="The brand whose gain is explained, e.g. Lexus.")] = ...,
              levers: Annotated[str, typer.Option(
                  help="Comma-separated levers (at most 6): service, price, reliability, line_up (product "
                       "line-up: only the lines on sale at launch; void for a brand without models), "
                       "word_of_mouth.",
              )] = "service,price,reliability,word_of_mouth",
              metric: Annotated[str, typer.Option(
                  help="sales_share (share in --to minus share the year before --from) or cumulative_profit "
                       "(--from..--to).")] = "sales_share",
              from_: Annotated[int | None, typer.Option(
                  "--from", help="First year of the gain (default: the brand's launch year).")] = None,
              to: Annotated[int | None, typer.Option(
                  "--to", help="Last year of the gain (default: six years after --from); runs stop there.")] = None,
              replications: Replications = None, seed: Seed = None, buyers: Buyers = None, set_: Sets = None,
              out: Annotated[Path | None, typer.Option(
                  help="Result folder (default: results/attribution/<scenario>-<brand>-<UTC time>-s<seed>-<random>/)."
              )] = None,
              quiet: Quiet = False, workers: Workers = None, scheduler: Scheduler = None) -> None:
    """Shapley attribution of a brand's gain to its levers, with a waterfall plot, a table and 95% intervals.

    Every combination of levers is switched to the incumbents' level, with common random numbers.
    """
    from sim import attribution as attr
    from sim.attribution_report import write_attribution

    try:
        sc = _load(scenario, set_ or [], None)
        names, first, last = attr.check_inputs(sc, brand, levers, metric, from_, to)
    except ScenarioError as exc:
        _fail(exc)
    reps = replications or sc.simulation.replications
    n = buyers or sc.simulation.buyers
    started = datetime.now(UTC)
    destination = out or attr.default_destination(sc, brand, started, sc.simulation.seed if seed is None else seed)
    _claim(destination)
    runs = (1 << len(names)) * reps
    with _progress(quiet) as progress:
        task = progress.add_task(f"{brand}: {1 << len(names)} coalitions x {reps} replications, {n:,} buyers, "
                                 f"{sc.market.start_year}-{last}", total=runs)
        try:
            result = attr.attribute(sc, brand, names, metric, first, last, reps, seed, n, workers,
                                    progress=lambda: progress.advance(task), scheduler=scheduler)
        except ScenarioError as exc:
            _fail(exc)
    summary = _summary(result, quiet)
    write_attribution(destination, result, started)
    _show(summary, destination, "open report.html (shapley.csv, coalitions.parquet, brand_year.parquet, "
                                "manifest.json)")


@app.command()
def bench(sizes: Annotated[str, typer.Option(help="Comma-separated buyer counts.")] = "10000,100000,1000000",
          reference_sizes: Annotated[str, typer.Option(
              help="Buyer counts for the per-agent reference engine ('' for none).")] = "10000",
          reference_repeats: Annotated[int, typer.Option(min=1, help="Runs per size of the reference engine.")] = 1,
          repeats: Annotated[int, typer.Option(min=1, help="Runs per size (best and median reported).")] = 3,
          years: Annotated[int | None, typer.Option(
              min=1, help="Simulated years per run (default 30; with --suite, also the whole runs').")
          ] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print the measurements as JSON.")] = False,
          suite: Annotated[bool, typer.Option(
              "--suite", help="Issue #15's suite: engine rates, peer ratios, whole-run and sweep efficiency.")] = False,
          peer_sizes: Annotated[str, typer.Option(
              help="--suite: the peers' sizes, 'full' (Mesa 20000 x 24, numpy 1M) or 'small'.")] = "full",
          peers: Annotated[Path | None, typer.Option(
              help="--suite: the peers' folder (default: ../shared/peers beside the repository).")] = None,
          sweep_runs: Annotated[int | None, typer.Option(
              min=1, help="--suite: time this many of the grid's runs (default: all 48).")] = None,
          workers: Annotated[int, typer.Option(min=1, help="--suite: the sweep's workers.")] = 2,
          app: Annotated[bool, typer.Option(
              "--app/--no-app", help="--suite: measure the app in headless Chromium (about a minute).")] = True,
          ) -> None:
    """Measure buyer-months per second and peak memory of the full flagship model (--suite: issue #15's ratios)."""
    from sim.bench import benchmark

    def counts(option: str, text: str, none: bool) -> list[int]:
        """The buyer counts of ``option`` (``none``: it may be empty, measuring nothing with that engine)."""
        try:
            values = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
        except ValueError:
            err.print(f"{option}: expected comma-separated integers, got {text!r}", markup=False, highlight=False,
                      soft_wrap=True)
            raise typer.Exit(2) from None
        if not values and not none:
            err.print(f"{option}: expected at least one buyer count, e.g. {option} 10000,100000 (got {text!r}): "
                      "nothing would be measured", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        small = [v for v in values if v < MIN_BUYERS]
        if small:
            err.print(f"{option}: every buyer count must be at least {MIN_BUYERS}, got {small[0]:,}", markup=False,
                      highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        return values

    progress = None if as_json else lambda e, n, r: err.print(f"  {e} engine, {n:,} buyers, run {r + 1} done")
    sizes_, reference_ = counts("--sizes", sizes, False), counts("--reference-sizes", reference_sizes, True)
    if suite:
        _bench_suite(sizes_, repeats, years, peer_sizes, peers, sweep_runs, workers, as_json, app)
        return
    years = years or 30
    if sizes_ or reference_:  # each run is measured alone in a fresh process: one at a time
        from sim.executor import check_memory
        from sim.model import memory_needed

        largest = max(sizes_ + reference_)
        flagship = load_scenario(FLAGSHIP, options={"--years": f"market.years={years}"})
        check_memory(memory_needed(flagship, largest), f"{largest:,} buyers", new_processes=1)  # a fresh process
    rows = benchmark(sizes_, repeats, years, reference_sizes=reference_,
                     reference_repeats=reference_repeats, progress=progress)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"luxsim benchmark: flagship scenario, {years} simulated years, best/median of {repeats}")
    for col in ("engine", "buyers", "best M buyer-months/s", "median M buyer-months/s", "best run s", "setup s",
                "peak RSS MB", "state bytes/buyer", "time by phase"):
        table.add_column(col, justify="right")
    for r in rows:
        phases = ", ".join(f"{k} {v:.0%}" for k, v in sorted(r["phase_detail_share"].items(), key=lambda kv: -kv[1]))
        speedup = f" (vectorised {r['vectorised_speedup']:.0f}x faster)" if "vectorised_speedup" in r else ""
        table.add_row(r["engine"] + speedup, f"{r['buyers']:,}", f"{r['best_buyer_months_per_s'] / 1e6:.3g}",
                      f"{r['median_buyer_months_per_s'] / 1e6:.3g}", f"{r['best_run_s']:.2f}", f"{r['setup_s']:.2f}",
                      f"{r['peak_rss_mb']:,.0f}", f"{r['state_bytes_per_buyer']:.0f}", phases)
    console.print(table)
    for r in rows:
        if r["engine"] == "vectorised":
            ms = ", ".join(f"{k} {v:.1f}" for k, v in r["phase_ms_per_month"].items())
            console.print(f"{r['buyers']:,} buyers, ms per simulated month: {ms} (kernels compiled or loaded in "
                          f"{r['jit_s']:.1f} s)", markup=False, highlight=False)
    from sim.bench import target_lines

    for line in target_lines(rows):
        console.print(("[green]" if line.startswith("met") else "[bold red]") + line + "[/]", highlight=False)


def _bench_suite(sizes: list[int], repeats: int, years: int | None, peer_sizes: str, peers: Path | None,
                 sweep_runs: int | None, workers: int, as_json: bool, app: bool = True) -> None:
    """`bench --suite`: measure issue #15's rows, print them (a table of 80 columns, or JSON)."""
    from sim.bench import PEER_ARGS, PEERS, suite, suite_table
    from sim.executor import check_memory
    from sim.model import memory_needed

    if peer_sizes not in PEER_ARGS:
        err.print(f"--peer-sizes: expected one of {', '.join(PEER_ARGS)}, got {peer_sizes!r}", markup=False,
                  highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    flagship = load_scenario(FLAGSHIP, options={"--years": f"market.years={years or 30}"})
    check_memory(memory_needed(flagship, max(sizes)), f"{max(sizes):,} buyers", new_processes=1)
    progress = None if as_json else lambda text: err.print(f"  {text}", markup=False, highlight=False)
    result = suite(sizes, repeats, years or 30, run_years=years, sweep_runs=sweep_runs,
                   workers=workers, peer_sizes=peer_sizes, peers=peers or PEERS, app=app, progress=progress)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    Console(width=80).print(suite_table(result, repeats))


_python_show_warning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a scenario's warning (a date outside the run) as one line on stderr; others as Python does."""
    if issubclass(category, ScenarioWarning):
        print(f"Warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_interrupted = ["Interrupted (Ctrl-C): nothing was written."]  # what an interrupted command leaves (a sweep: its runs)


def cli() -> None:
    """Run the command line (`python run_sim.py ...`): exit 2 with one line per problem on bad input, 1 with one
    line when a result cannot be written (a full or read-only disk), when a run cannot fit in memory or a scheduler
    does not answer, 143 on SIGTERM, 130 with one line on Ctrl-C (typer turns KeyboardInterrupt into exit 130; local
    workers never see it: sim.executor)."""
    # A terminated run unwinds like Ctrl-C, so partial result folders are removed (sim/results.py).
    from sim.files import WriteError

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if signal.getsignal(signal.SIGINT) is quit_while_starting:  # ready: Ctrl-C is a KeyboardInterrupt again
        signal.signal(signal.SIGINT, signal.default_int_handler)
    warnings.showwarning = _show_warning
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:
            print(_interrupted[0], file=sys.stderr)
        raise
    except ScenarioError as exc:  # raised outside a command's own handling
        _report_problems(exc)
        sys.exit(2)
    except WriteError as exc:  # sim.files: nothing half-written is left
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    except MemoryError as exc:  # sim.executor.InsufficientMemory: refused before allocating, with the estimate
        if not str(exc):
            raise
        err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        sys.exit(1)
    except TaskError as exc:
        if not isinstance(exc.error, MemoryError) or not str(exc.error):
            raise
        err.print(f"[red]{escape(str(exc.error))}[/]", soft_wrap=True)  # refused on a worker (a scheduler's)
        sys.exit(1)
    except ConnectionError as exc:  # sim.executor.SchedulerUnavailable: a --scheduler that does not answer
        err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        sys.exit(2 if getattr(exc, "bad_address", False) else 1)  # a malformed address is input, the rest environment
    except OSError as exc:  # the command's own output cannot be written (stdout on a full disk): one line, exit 1
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
        print(f"cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)


def exit_without_teardown(main) -> None:
    """Run ``main`` (the command line) and end the process as the interpreter would, less its teardown.

    What Python does at exit, in its order: wait for the threads that are not daemons (``threading._shutdown``:
    also the thread pools' own exit hooks), run the ``atexit`` functions (the fork server's end, logging's flush),
    flush stdout and stderr; then ``os._exit`` with the code a ``SystemExit`` gave (a text one is printed, code
    1). What is skipped is freeing every module and object one by one, which with the model's stack loaded (numba
    and LLVM, pandas, Dask) takes 0.4 s after every command on the 2-core development machine, with nothing left to
    write: results are written and closed before a command returns. Anything else raised goes through Python's
    own exit (a traceback, code 1)."""
    import atexit
    import threading

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``) or stream: nothing more can be said on it
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(cli)
