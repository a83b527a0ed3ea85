"""The luxsim browser app: the Lexus case with sliders, live charts and a view of word of mouth.

Start it with ``python run_sim.py app [--host 127.0.0.1] [--port 8765]`` (which calls :func:`serve`), or with
``solara run sim.app`` (the installed package, loaded by module name). Students pick a scenario from the library
(``scenarios/*.toml``), pick a brand and move its service levers, then step the market a year at a time or run it to
the end and watch sales share, loyalty, conquest flows, satisfaction (CSI), the service P&L and a sample of the
social network react.

The app is four modules, one concept each:

* ``sim/app_levers.py``: what each control is, what it costs and what the case claims (:data:`LEVERS`).
* ``sim/app_state.py``: :class:`AppState`, plain Python holding everything the page shows: the scenario, the lever
  overrides, the model, chunked stepping, the series drawn and the command line that reproduces the run. It is
  unit-tested without a browser (``tests/test_app.py``).
* ``sim/app_figures.py``: the charts, the network layout, the latest-numbers table and the status line.
* this module: the Solara page (:func:`Page`): controls with a plain-language explanation beside each, buttons,
  and the charts, all reading from one ``AppState`` per browser session; its CSS; and :func:`serve`.

The app works offline: with ``solara-assets`` installed the page's scripts, styles and fonts are served by the
local server, and :func:`serve` turns off Solara's usage telemetry (``tests/test_app_browser.py`` checks that
no request leaves the machine).
"""

from __future__ import annotations

import html
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

from sim.app_charts import VUE
from sim.app_levers import (
    BASELINE_EXPLAIN,
    BUYERS_EXPLAIN,
    CHART_NOTES,
    EXPORT_EXPLAIN,
    LAG_EXPLAIN,
    LEVERS,
    REPLICATIONS_EXPLAIN,
    SEED_EXPLAIN,
    Lever,
    lever_text,
)
from sim.app_state import (
    BUYER_RANGE,
    FLOW_WINDOWS,
    KERNELS_READY,
    RENDER_INTERVALS,
    REPLICATION_RANGE,
    AppState,
    app_defaults,
    new_state,
    scenario_library,
    start_warming,
)
from sim.files import safe_name

CSS = """
.luxsim-latest { border-collapse: collapse; font-size: 13px; }
.luxsim-latest td, .luxsim-latest th { padding: 2px 8px; text-align: right; border-bottom: 1px solid #ddd; }
.luxsim-latest td:first-child, .luxsim-latest th:first-child { text-align: left; }
.luxsim-explain { font-size: 12px; color: #555; margin: 0 0 12px 0; line-height: 1.3; }
.luxsim-label { font-size: 14px; margin-top: 4px; }
.luxsim-slider .v-input { margin-top: 0; padding-top: 0; }
.luxsim-status { font-size: 15px; font-weight: 500; }
.luxsim-swatch { display: inline-block; width: 18px; height: 4px; margin: 0 6px 3px 0; }
.luxsim-headline { font-size: 15px; margin: 4px 0 8px 0; }
.luxsim-baseline-label { font-size: 12px; color: #555; margin: 0; }
.luxsim-cli { font-family: monospace; font-size: 11px; word-break: break-all; color: #333; }
.luxsim-compiling { font-size: 16px; margin: 24px; }
"""
CHART_HEIGHT = "380px"  # every chart's height in the page (they take half the page's width)

try:
    import solara
    import solara.lab
except ImportError:  # the model and AppState work without the app's extra packages
    solara = None


if solara is not None:
    import traitlets
    from solara.components.echarts import EchartsWidget

    class EchartsChart(EchartsWidget):
        """Solara's ECharts widget (the same offline ECharts 5.4 from Solara's assets) with luxsim's template
        (:data:`sim.app_charts.VUE`): formatters written in the option as ``{"luxsim": NAME}`` become functions, a
        redraw keeps the legend entries switched off, ``data-drawn`` on the chart counts its redraws, and the option
        comes as JSON text (``option_json``)."""

        template_file = None
        option_json = traitlets.Unicode("").tag(sync=True)  # the option as JSON text (AppState.chart_json)

        @traitlets.default("template")
        def _template(self):
            return VUE

    @solara.component
    def Explain(text: str):
        """A control's or chart's explanation: what it is, what it costs, what the case claims (small print)."""
        solara.Text(text, classes=["luxsim-explain"])

    @solara.component
    def Slider(label: str, value: float, lo: float, hi: float, step: float, on_value, kind: str, css: str,
               disabled: bool = False):
        """A labelled slider: the label with the current value above the track, keyboard-friendly."""
        with solara.Column(classes=[css], gap="0px"):
            solara.Text(label, classes=["luxsim-label"])
            if kind == "int":
                solara.SliderInt("", value=int(value), min=int(lo), max=int(hi), step=int(step), on_value=on_value,
                                 thumb_label=False, disabled=disabled)
            else:
                solara.SliderFloat("", value=float(value), min=lo, max=hi, step=step, on_value=on_value,
                                   thumb_label=False, disabled=disabled)

    @solara.component
    def SeedInput(state: AppState, seed: int, bump: Callable[[], None]):
        """The seed as text (Enter or leaving the field applies it), so a value that is not a whole number reaches
        :meth:`AppState.set_seed` and is refused with a message; the field then shows the seed kept."""
        text = solara.use_reactive(str(seed))

        def apply(value):
            if value == str(state.seed):  # also the field being put back after a refusal
                return
            state.stop_requested = True
            state.set_seed(value)
            text.set(str(state.seed))
            bump()

        solara.InputText("Seed", value=text, on_value=apply, continuous_update=False, classes=["luxsim-seed"])

    @solara.component
    def LeverControl(state: AppState, lever: Lever, bump: Callable[[], None], value: Any, generation: int, brand: str):
        """A lever of the selected brand; ``value``, ``generation`` and ``brand`` are props so the control re-renders
        (the explanation quotes the brand's own numbers)."""

        def on_value(v):
            state.set_lever(lever.key, v)
            bump()

        with solara.Column(classes=[f"lever-{lever.key}"], gap="0px"):
            if lever.kind == "bool":
                solara.Switch(label=f"{lever.label}: {lever_text(lever, value)}", value=bool(value), on_value=on_value)
            else:
                Slider(f"{lever.label}: {lever_text(lever, value)}", value, lever.min, lever.max, lever.step, on_value,
                       lever.kind, "luxsim-slider")
            Explain(state.lever_explanation(lever.key, brand))

    @solara.component
    def Downloads(state: AppState, kind: str):
        """A chart's PNG and SVG downloads, drawn by matplotlib (:mod:`sim.app_figures`) only when asked for."""
        with solara.Row(gap="4px", classes=["luxsim-downloads"]):
            for fmt in ("png", "svg"):
                solara.FileDownload(lambda fmt=fmt: state.figure_bytes(kind, fmt),
                                    filename=f"{safe_name(state.scenario.name)}-{kind}.{fmt}",
                                    label=fmt.upper(), mime_type=f"image/{'svg+xml' if fmt == 'svg' else fmt}")

    @solara.component
    def Chart(state: AppState, kind: str, title: str, option: str):
        """One chart card, drawn in the browser (legend, hover), with its PNG and SVG downloads; ``option`` (JSON
        text) comes from the page's frame (every chart of one render at the same month) and is sent only when it
        changes."""
        with solara.Card(title, margin=1, classes=[f"luxsim-chart-{kind}"]):
            EchartsChart.element(option_json=option, attributes={"style": f"height: {CHART_HEIGHT}; width: 100%;"})
            Explain(CHART_NOTES[kind])
            Downloads(state, kind)

    @solara.component
    def NetworkChart(state: AppState, drawn, bump: Callable[[], None]):
        """The network view: drawn when the button is pressed (at the month reached), not as the run moves."""
        def draw():
            state.draw_network()
            bump()

        with solara.Card("Word of mouth: a sample of the social network", margin=1, classes=["luxsim-chart-network"]):
            solara.Button("Draw the network now" if drawn is None else "Redraw the network now", on_click=draw,
                          text=True, classes=["luxsim-draw-network"])
            if drawn is None:
                Explain("Press the button to draw who knows whom among 150 neighbours, coloured by the brand each "
                        "drives now (drawn when you ask, so runs do not wait for it). " + CHART_NOTES["network"])
            else:
                EchartsChart.element(option_json=drawn[1],
                                     attributes={"style": f"height: {CHART_HEIGHT}; width: 100%;"})
                Explain(CHART_NOTES["network"])
            Downloads(state, "network")

    @solara.component
    def ExportAndSave(state: AppState, bump: Callable[[], None]):
        """Downloads of the series, the settings as a scenario file, the comparison and the app's state, and the
        drop zone that loads a saved state."""
        name = safe_name(state.scenario.name)

        def load(info):
            state.stop_requested = True
            state.restore_state(info["data"], f"state file {info['name']}")
            bump()

        with solara.Details("Export and save"):
            with solara.Row(gap="4px", classes=["luxsim-downloads"]):
                solara.FileDownload(state.series_csv, filename=f"{name}-series.csv", label="Series (CSV)",
                                    mime_type="text/csv")
                solara.FileDownload(state.scenario_toml, filename=f"{name}-app.toml", label="Scenario (TOML)",
                                    mime_type="application/toml")
                if state.baseline is not None:
                    solara.FileDownload(state.comparison_csv, filename=f"{name}-vs-baseline.csv",
                                        label="Comparison (CSV)", mime_type="text/csv")
                solara.FileDownload(state.state_json, filename=f"{name}-app-state.json", label="App state (JSON)",
                                    mime_type="application/json")
            Explain(EXPORT_EXPLAIN)
            solara.FileDrop(label="Drop a saved app state (JSON) here to load it", on_file=load, lazy=False)

    @solara.component
    def Page():
        """The app's page: while this process compiles the model's kernels (once: :func:`sim.app_state.warm_kernels`,
        started with the server), a message saying so; then the market (:func:`Market`)."""
        ready, set_ready = solara.use_state(KERNELS_READY.is_set())

        def wait_for_kernels():
            start_warming()
            KERNELS_READY.wait()
            set_ready(True)

        solara.use_thread(wait_for_kernels, dependencies=[])
        if ready:
            Market()
        else:
            solara.Title("luxsim: the Lexus case")
            solara.Style(CSS)
            solara.Info("Compiling the model, once (after installing or editing a formula: about 20 s)... the page "
                        "opens when it is ready.", classes=["luxsim-compiling"])

    @solara.component
    def Live(state: AppState, tick, running: bool, bump: Callable[[], None], version: int):
        """What moves as the market runs: the status line, the progress bar, the table, the comparison with the
        baseline, the command line, the exports, the charts and the policy changes, all at one month
        (:meth:`AppState.frame`). Reading ``tick`` (a reactive counter the run bumps at each redraw, every
        :attr:`AppState.render_every` months) re-renders this part alone: the controls in the sidebar are left as
        they are while the run moves. ``version`` is the page's change counter: any other change re-renders it."""
        tick.value  # noqa: B018  (reading it subscribes this component to the run's redraws)

        def set_window(w):
            state.flow_window = w
            bump()

        frame = state.frame(running)  # every chart, the table and the status at one month
        with solara.Column(gap="8px", style={"padding": "0"}):
            solara.HTML(unsafe_innerHTML=frame["status"])
            solara.ProgressLinear(value=100 * frame["months"] / state.n_months)
            if state.error:
                solara.Error(f"Not applied: {state.error}")
            solara.HTML(unsafe_innerHTML=frame["table"])
            if frame["comparison"]:
                with solara.Card("Against the baseline", margin=1, classes=["luxsim-baseline"]):
                    solara.HTML(unsafe_innerHTML=frame["comparison"])
                    Explain(BASELINE_EXPLAIN)
            with solara.Details("The same run from the command line"):
                solara.Text(state.cli_command(), classes=["luxsim-cli"])
            ExportAndSave(state, bump)
            charts = frame["charts"]
            with solara.Columns([1, 1]):
                Chart(state, "share", "Sales share", charts["share"])
                Chart(state, "loyalty", "Churn and repurchase loyalty", charts["loyalty"])
            with solara.Columns([1, 1]):
                with solara.Column(gap="0px"):
                    solara.ToggleButtonsSingle(value=state.flow_window, values=list(FLOW_WINDOWS),
                                               on_value=set_window, dense=True)
                    Chart(state, "flows", "Conquest flows: who takes buyers from whom", charts["flows"])
                NetworkChart(state, frame["network"], bump)
            with solara.Columns([1, 1]):
                Chart(state, "csi", "Customer satisfaction (CSI)", charts["csi"])
                Chart(state, "money", "Service P&L and cumulative profit", charts["money"])
            events = state.history()
            if events:
                with solara.Details(f"Policy changes so far ({len(events)})"):
                    solara.HTML(tag="ul", unsafe_innerHTML="".join(
                        f"<li>{html.escape(d)} <b>{html.escape(b)}</b>: {html.escape(n)}</li>" for d, b, n in events))

    @solara.component
    def Main(state: AppState, bump: Callable[[], None], version: int):
        """The buttons, the redraw control and what moves (:func:`Live`). It owns the "Run to end" task, so the run
        starting and ending re-renders this part, not the sidebar's controls; ``version`` is the page's change
        counter (any change re-renders it)."""
        lock = solara.use_memo(threading.Lock, [])
        tick = solara.use_reactive(0)  # bumped by the run at each redraw: re-renders Live (the charts), not all

        def redraw():
            with lock:
                tick.value += 1

        def run_loop():  # the task's end re-renders the page (running no more): no redraw of its own at the end
            state.run_to_end(on_chunk=lambda: None if state.done else redraw())

        runner = solara.lab.use_task(run_loop, dependencies=None)
        running = bool(runner.pending)

        def step():
            state.step_year()
            bump()

        def step_month():
            state.step_month()
            bump()

        def stop():
            state.stop_requested = True

        def reset():
            state.stop_requested = True
            state.reset()
            bump()

        def set_render(label):
            state.render_every = RENDER_INTERVALS[label]
            bump()

        def pin():
            state.pin_baseline()
            bump()

        def unpin():
            state.clear_baseline()
            bump()

        with solara.Column(gap="8px", style={"padding": "0"}):
            with solara.Row(gap="8px", classes=["luxsim-buttons"]):
                solara.Button("Step one month", on_click=step_month, disabled=running or state.done,
                              color="primary", classes=["luxsim-step-month"])
                solara.Button("Step one year", on_click=step, disabled=running or state.done, color="primary",
                              classes=["luxsim-step"])
                solara.Button("Run to end", on_click=lambda: runner(), disabled=running or state.done,
                              color="primary", classes=["luxsim-run"])
                solara.Button("Stop", on_click=stop, disabled=not running, classes=["luxsim-stop"])
                solara.Button("Reset", on_click=reset, disabled=running, classes=["luxsim-reset"])
                solara.Button("Pin as baseline", on_click=pin, disabled=running or state.months_done == 0,
                              classes=["luxsim-pin"])
                solara.Button("Clear baseline", on_click=unpin, disabled=state.baseline is None,
                              classes=["luxsim-unpin"])
            with solara.Row(gap="8px", classes=["luxsim-render"], style={"align-items": "center"}):
                solara.Text("Redraw the charts while running:", classes=["luxsim-label"])
                render = next(k for k, v in RENDER_INTERVALS.items() if v == state.render_every)
                solara.ToggleButtonsSingle(value=render, values=list(RENDER_INTERVALS), on_value=set_render,
                                           dense=True)
            Live(state, tick, running, bump, version)

    @solara.component
    def Market():
        """The market: scenario and brand pickers, levers, step/run buttons, charts, the table, the CLI line.

        One :class:`~sim.app_state.AppState` per browser session; every change bumps a counter that re-renders it.
        """
        state = solara.use_memo(lambda: new_state(app_defaults()), [])
        version, set_version = solara.use_state(0)  # bumped after every change: re-renders the page
        lock = solara.use_memo(threading.Lock, [])
        counter = solara.use_ref(0)

        def bump():
            with lock:
                counter.current += 1
                value = counter.current
            set_version(value)

        def choose_scenario(name):
            state.stop_requested = True
            state.select_scenario(name)
            bump()

        def choose_brand(name):
            state.select_brand(name)
            bump()

        def set_buyers(n):
            state.set_buyers(n)
            bump()

        def set_replications(n):
            state.stop_requested = True
            state.set_replications(n)
            bump()

        def set_lag(m):
            state.set_response_lag(m)
            bump()

        def restore():
            state.restore_scenario()
            bump()

        library = solara.use_memo(scenario_library, [])
        questions = dict(library)
        sc = state.scenario

        solara.Style(CSS)
        solara.Title("luxsim: the Lexus case")
        with solara.Column(gap="8px", style={"padding": "0 8px"}):
            solara.AppBarTitle("luxsim: service, loyalty and share in the luxury car market")
            with solara.Sidebar():
                with solara.Column(gap="4px"):
                    solara.Select("Scenario", values=[n for n, _ in library], value=state.scenario_name,
                                  on_value=choose_scenario)
                    Explain(questions.get(state.scenario_name, sc.question))
                    with solara.Column(classes=["lever-buyers"], gap="0px"):
                        Slider(f"Buyers simulated: {state.buyers:,}", state.buyers, *BUYER_RANGE, set_buyers, "int",
                               "luxsim-slider")
                        Explain(BUYERS_EXPLAIN.format(real=sc.market.segment_households))
                    with solara.Column(classes=["lever-replications"], gap="0px"):
                        Slider(f"Replications: {state.replications}", state.replications, *REPLICATION_RANGE, 1,
                               set_replications, "int", "luxsim-slider")
                        Explain(REPLICATIONS_EXPLAIN)
                    SeedInput(state, state.seed, bump)
                    Explain(SEED_EXPLAIN)
                    solara.Select("Brand whose levers you move", values=list(sc.brands), value=state.brand,
                                  on_value=choose_brand)
                    for lever in LEVERS:
                        if lever.main:
                            LeverControl(state, lever, bump, state.lever_value(lever.key), state.generation,
                                         state.brand).key(f"{lever.key}-{state.rejections}")
                    with solara.Details("More levers (product quality, goodwill, complaints)"):
                        for lever in LEVERS:
                            if not lever.main:
                                LeverControl(state, lever, bump, state.lever_value(lever.key), state.generation,
                                             state.brand).key(f"{lever.key}-{state.rejections}")
                    lag = state.response_lag()
                    with solara.Column(classes=["lever-response_lag"], gap="0px"):
                        if lag is None:
                            Slider("Incumbent response lag: none respond", 0, 0, 120, 3, None, "int", "luxsim-slider",
                                   disabled=True)
                            Explain("No brand in this scenario responds to share loss: the incumbents follow their "
                                    "timelines only.")
                        else:
                            Slider(f"Incumbent response lag: {lag} months", lag, 0, 120, 3, set_lag, "int",
                                   "luxsim-slider")
                            Explain(LAG_EXPLAIN.format(names=", ".join(state.responders())))
                    timeline = sc.brands[state.brand].timeline
                    if timeline:
                        Explain(f"Dated changes for {state.brand} still happen on schedule: "
                                + "; ".join(f"{c.date} {c.note or 'policy change'}" for c in timeline))
                    solara.Button("Restore the scenario's levers", on_click=restore, text=True,
                                  disabled=not state.overrides, classes=["luxsim-restore"])

            # the main area (the sidebar above goes to the app bar's drawer)
            solara.HTML(tag="h3", unsafe_innerHTML=html.escape(f"{sc.name}: {sc.question}"))
            if sc.description:
                Explain(sc.description.strip())
            Main(state, bump, version)

# --------------------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------------------
def serve(host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning",
          sockets: list | None = None) -> None:
    """Start the Solara server for this app on ``host:port`` and block until it is stopped (Ctrl-C).

    Works offline: the page's assets come from the ``solara-assets`` package through the local server, and
    Solara's usage telemetry is switched off before the server starts. Solara loads the page by module name
    (``sim.app``) from the installed package, as ``solara run sim.app`` does.

    Args:
        host: the address to bind (loopback by default: the app is not meant to face a network).
        port: the TCP port.
        log_level: uvicorn's log level.
        sockets: listening sockets already bound to ``host:port`` (``run_sim.py app`` binds them before it imports
            this module, so a port that is taken is one line and exit 1 at once, before any address is announced);
            None: uvicorn binds ``host:port`` itself.

    Raises:
        SystemExit: (``sockets`` None) the address cannot be bound (the port is taken): uvicorn logs the reason and
            exits with 3.
    """
    os.environ["SOLARA_APP"] = "sim.app"
    os.environ["SERVER_NAME"] = host
    os.environ["SERVER_PORT"] = str(port)
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "False")
    import solara.server.settings as settings
    import uvicorn

    settings.telemetry.mixpanel_enable = False
    settings.theme.show_banner = False
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")  # plain http on loopback
    settings.main.mode = "production"
    from solara.server.starlette import app as starlette_app  # reads SOLARA_APP: import after setting it

    start_warming(spare=True)  # the kernels compile while the server starts (the page says so), then a first market
    print(f"luxsim app: http://{host}:{port}  (Ctrl-C to stop)", flush=True)
    if sockets is None:
        uvicorn.run(starlette_app, host=host, port=port, log_level=log_level, loop="asyncio")
        return
    server = uvicorn.Server(uvicorn.Config(starlette_app, host=host, port=port, log_level=log_level, loop="asyncio"))
    try:  # as uvicorn.run does, on the sockets given
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE (the app's startup failed; uvicorn logged why)

