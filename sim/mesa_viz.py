"""Mesa's own SolaraViz for the market: ``make_page()`` is a page with Mesa's controls (reset, play, step a month),
sales share and repurchase loyalty charts (``make_plot_component``) and sliders for a brand's service levers.

Mesa's visualization needs altair, which the project declares on its own (``mesa[viz]`` would pin starlette below
1.0 and so break the app's pinned Solara stack). Serve a page with Solara (README, "Use from Mesa")::

    # viz.py
    from sim.mesa_viz import make_page

    page = make_page("lexus_us_1989", buyers=5000)

``.venv/bin/python -m solara run viz.py --host 127.0.0.1``, or show ``make_page()`` as a notebook cell's last value.

SolaraViz rebuilds the model on Reset as ``type(model)(scenario=<Mesa's own Scenario>, **model_params)``: Mesa's
``Scenario`` (``mesa.experimental.scenarios``, a bag of parameters) takes the place of any ``scenario`` parameter.
:class:`VizModel` is :class:`~sim.model.LuxuryMarketModel` with luxsim's scenario under another name,
``luxsim_scenario``, and Mesa's left aside; it also reports each brand's repurchase loyalty for the charts.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import mesa.visualization as mv
import numpy as np
from matplotlib.ticker import FuncFormatter, PercentFormatter
from mesa.experimental.scenarios import Scenario as MesaScenario

from sim.model import SCENARIO_SEED, LuxuryMarketModel
from sim.scenario import Scenario
from sim.scenario_files import load_scenario
from sim.style import brand_palette

FLAGSHIP = "lexus_us_1989"
VIZ_BUYERS = 5000  # households simulated at the start: a year of the flagship in a fraction of a second


def _loyalty_reporter(model: VizModel, brand: str) -> float:
    return model.last_year_loyalty().get(brand, np.nan)


class VizModel(LuxuryMarketModel):
    """:class:`~sim.model.LuxuryMarketModel` as Mesa's SolaraViz rebuilds it.

    Reset passes Mesa's own ``Scenario`` as ``scenario``; the luxsim scenario is ``luxsim_scenario`` here, so the
    rebuilt model is the one the page's parameters describe. Besides the base model's reporters, the
    DataCollector records ``repurchase_loyalty[BRAND]`` each month: the brand's repurchase loyalty in the last
    complete year (``brand_year()``'s definition; NaN before the first complete year or without owners replacing).
    """

    def __init__(self, scenario: MesaScenario | Scenario | str | Path | None = None, *,
                 luxsim_scenario: Scenario | str | Path = FLAGSHIP, buyers: int | None = VIZ_BUYERS,
                 rng: int | np.random.SeedSequence | None = SCENARIO_SEED, **fields):
        """Build the market of ``luxsim_scenario`` (or of ``scenario``, when it is luxsim's and not Mesa's).

        Args:
            scenario: ignored when it is Mesa's ``Scenario`` (what SolaraViz's Reset passes) or None; a luxsim
                scenario, name or path otherwise (then ``luxsim_scenario`` is ignored).
            luxsim_scenario: a luxsim scenario, or a scenario name or path.
            buyers: households simulated at the start.
            rng: the seed (default the scenario's ``simulation.seed``); digits as text are read as a number (the
                page's seed field).
            **fields: dotted scenario field paths and values, as for :class:`~sim.model.LuxuryMarketModel`.

        Raises:
            sim.scenario_files.ScenarioError: no such scenario, or a bad field path or value (one line each).
            ValueError: ``rng`` is text that is not a whole number.
        """
        chosen = luxsim_scenario if scenario is None or isinstance(scenario, MesaScenario) else scenario
        if isinstance(rng, str):  # the page's seed field is text
            if not rng.strip().isdigit():
                raise ValueError(f"seed: a whole number of 0 or more, got {rng!r}")
            rng = int(rng)
        self._loyalty: tuple[int, dict[str, float]] = (0, {})
        super().__init__(chosen, rng=rng, buyers=buyers, **fields)

    def model_reporters(self) -> dict:
        """The base model's reporters and each brand's ``repurchase_loyalty[BRAND]`` (last complete year)."""
        return super().model_reporters() | {f"repurchase_loyalty[{b}]": partial(_loyalty_reporter, brand=b)
                                            for b in self.brand_names}

    def last_year_loyalty(self) -> dict[str, float]:
        """Brand -> repurchase loyalty (a fraction) in the last complete year simulated; empty before one."""
        years = (self.month + 1) // 12
        if years and years != self._loyalty[0]:
            table = self.brand_year()
            last = table[table["year"] == table["year"].max()]
            self._loyalty = (years, dict(zip(last["brand"], last["repurchase_loyalty"].astype(float))))
        return self._loyalty[1]


def _axes(ax, start_year: int, title: str, markers: bool = False) -> None:
    """A chart's axes: dates on x (Mesa's steps: row k is month k from January of ``start_year``), percentages on
    y, brand names in the legend; ``markers`` marks each December (a yearly series, held between)."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda k, _: f"{start_year + int(k) // 12}-{int(k) % 12 + 1:02d}"))
    ax.tick_params(axis="x", labelrotation=30)
    if markers:  # a dot each December, when the year's figure is new
        for line in ax.get_lines():
            line.set_marker(".")
            line.set_markevery(slice(11, None, 12))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(title)
    ax.set_xlabel("year")
    ax.set_ylabel("")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [label.split("[", 1)[-1].rstrip("]") for label in labels], loc="upper left",
                  fontsize="small", ncols=2)


def lever_params(scenario: Scenario, brand: str) -> dict:
    """SolaraViz ``model_params`` controls for a brand's main service levers (dotted scenario field paths), each
    starting at the scenario's value."""
    service = scenario.brands[brand].service
    path = f"brands.{brand}.service"
    return {
        f"{path}.complimentary_maintenance_months": {
            "type": "SliderInt", "label": f"{brand}: complimentary maintenance (months)",
            "value": service.complimentary_maintenance_months, "min": 0, "max": 60, "step": 6},
        f"{path}.dealer_service_quality": {
            "type": "SliderFloat", "label": f"{brand}: dealer service quality (0-1)",
            "value": service.dealer_service_quality, "min": 0.0, "max": 1.0, "step": 0.05},
        f"{path}.loaner_cars": {"type": "Checkbox", "label": f"{brand}: loaner cars", "value": service.loaner_cars},
    }


def make_page(scenario: str | Path = FLAGSHIP, buyers: int = VIZ_BUYERS, brand: str | None = None,
              years: int | None = None):
    """Mesa's SolaraViz page for a scenario: sales share and repurchase loyalty by brand, with sliders for one
    brand's service levers, the buyers and the seed; Mesa's Reset rebuilds the market with them.

    Args:
        scenario: a scenario name or path (as for ``run_sim.py run``).
        buyers: households simulated at the start.
        brand: whose levers the sliders move (default: Lexus if the scenario has it, else its first brand).
        years: simulate this many years (default: the scenario's ``market.years``).

    Returns:
        The SolaraViz element (show it in a notebook, or name it ``page`` in a file for ``solara run``); its model
        is a :class:`VizModel`.

    Raises:
        sim.scenario_files.ScenarioError: no such scenario, or ``years`` out of range (one line).
        ValueError: ``brand`` is not one of the scenario's brands.
    """
    fixed = {"market.years": years} if years is not None else {}
    config = load_scenario(scenario, values=fixed)
    brand = brand or ("Lexus" if "Lexus" in config.brands else next(iter(config.brands)))
    if brand not in config.brands:
        raise ValueError(f"brand: {brand!r} is not in scenario {config.name} ({', '.join(config.brands)})")
    levers = lever_params(config, brand)
    seed = config.simulation.seed
    model_params = {
        "luxsim_scenario": str(scenario), **fixed,
        "buyers": {"type": "SliderInt", "label": "buyers simulated", "value": buyers, "min": 1000,
                   "max": max(50_000, buyers), "step": 1000},
        "rng": {"type": "InputText", "label": "seed", "value": str(seed)},
        **levers,
    }
    model = VizModel(luxsim_scenario=scenario, buyers=buyers, rng=seed, **fixed,
                     **{name: control["value"] for name, control in levers.items()})
    colours = brand_palette(model.brand_names)
    start = config.market.start_year
    share = mv.make_plot_component({f"sales_share[{b}]": colours[b] for b in model.brand_names},
                                   post_process=partial(_axes, start_year=start, title="Sales share, each month"))
    loyalty = mv.make_plot_component(
        {f"repurchase_loyalty[{b}]": colours[b] for b in model.brand_names},
        post_process=partial(_axes, start_year=start, title="Repurchase loyalty, last complete year", markers=True))
    return mv.SolaraViz(model, components=[share, loyalty], model_params=model_params,
                        name=f"luxsim: {config.name}")  # Step: a month (Mesa's render interval slider:
    # 1, 3, 5 ... steps; an even value such as 12 is shown, and then used, as the next odd one)
