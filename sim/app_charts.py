"""The browser app's interactive charts: ECharts options (plain dicts) drawn in the browser, with legends and hover.

Each ``*_option`` is a pure function of an :class:`sim.app_state.AppState` returning an `ECharts 5
<https://echarts.apache.org/en/option.html>`_ option: what the page sends to the browser, which draws it (Solara
serves ECharts 5.4 from its own offline assets, ``solara.FigureEcharts``'s; nothing comes from a CDN). The charts
hold what the PNG/SVG exports (:mod:`sim.app_figures`, matplotlib, drawn only when exported) hold: one line per brand
in the brand colours (:mod:`sim.style`), the selected brand thick, the 5-95% band over replications, the pinned
baseline dashed and faded; hover texts and money ticks are written in Python by :mod:`sim.formats` and carried in the
data, so the browser formats nothing itself.

Options are JSON: a formatter that must be a JavaScript function is written ``{"luxsim": NAME, ...}`` and built in
the browser by :data:`VUE`'s ``revive`` from one of four generic functions: ``axis`` (an axis tooltip listing, for
each series under the pointer, its name and the text carried in its data point), ``field`` (the text in a data
point's field ``key``), ``ticks`` (an axis label: the text of the nearest of the ticks given) and ``plain`` (a
number as it is: years without a thousands separator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.formats import compact_money, money, number, percent
from sim.style import brand_palette

if TYPE_CHECKING:
    from sim.app_state import AppState

FONT = 12  # px: the smallest text of a chart (axis labels, legend, hover), as the exports' 12 px
BASELINE_OPACITY = 0.55  # the pinned baseline: dashed, faded, under the run (as the exports draw it)
BAND_OPACITY = 0.18  # the 5-95% band over replications
FOCUS_WIDTH, OTHER_WIDTH = 3.0, 1.5  # line widths (px) of the selected brand and the others
HEAT = ["#fff5f0", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15"]  # the flows' scale (matplotlib's Reds)
NOT_IN_SEGMENT = "#eeeeee"  # a sampled buyer outside the segment (the exports' colour)


def _finite(x: float, digits: int = 4) -> float | None:
    """A number for JSON: rounded to ``digits`` decimals, None (a gap in a line) when missing or not finite."""
    return round(float(x), digits) if x is not None and math.isfinite(float(x)) else None


def _base(title: str = "", legend: list | None = None) -> dict[str, Any]:
    """What every chart shares: no animation (a redraw replaces the picture at once), the legend on top, text sizes."""
    option: dict[str, Any] = {"animation": False, "textStyle": {"fontSize": FONT},
                              "tooltip": {"trigger": "axis", "confine": True, "textStyle": {"fontSize": FONT},
                                          "formatter": {"luxsim": "axis"}}}
    if title:
        option["title"] = {"text": title, "left": "center", "top": "middle",
                           "textStyle": {"fontSize": 13, "fontWeight": "normal", "color": "#666"}}
    if legend is not None:
        option["legend"] = {"data": legend, "top": 0, "left": 8, "right": 8, "textStyle": {"fontSize": FONT},
                            "itemWidth": 18, "itemHeight": 8, "itemGap": 8}
    return option


def empty_option(text: str = "Press 'Step one year' or 'Run to end'") -> dict[str, Any]:
    """A chart with nothing to draw yet: the hint in its middle, no axes."""
    option = _base(text)
    option.pop("tooltip")
    return option


def _legend(state: AppState) -> list:
    """The legend's entries: each brand (clicking one hides its lines, band and baseline), then what shading and
    dashes mean when they are drawn (clicking hides every band, or the whole baseline)."""
    entries: list = list(state.model.brand_names)
    if state.series().replications > 1:
        entries.append({"name": band_name(state), "itemStyle": {"color": "#999999", "opacity": 0.5}})
    if state.baseline is not None:
        entries.append({"name": "baseline", "itemStyle": {"color": "#666666"},
                        "lineStyle": {"type": "dashed", "color": "#666666"}})
    return entries


def band_name(state: AppState) -> str:
    """The band series' name (and legend entry): "5-95% of 4 runs"."""
    return f"5-95% of {state.series().replications} runs"


def _line(name: str, colour: str, data: list, focus: bool, axis: int = 0) -> dict[str, Any]:
    return {"type": "line", "name": name, "data": data, "showSymbol": len(data) < 4, "symbolSize": 5,
            "color": colour, "lineStyle": {"width": FOCUS_WIDTH if focus else OTHER_WIDTH,
                                           "opacity": 1.0 if focus else 0.85},
            "z": 4 if focus else 3, "xAxisIndex": axis, "yAxisIndex": axis, "connectNulls": False}


def _baseline(colour: str, data: list, axis: int = 0) -> dict[str, Any]:
    return {"type": "line", "name": "baseline", "data": data, "showSymbol": False, "color": colour, "z": 1,
            "lineStyle": {"type": "dashed", "width": 1.5, "opacity": BASELINE_OPACITY}, "xAxisIndex": axis,
            "yAxisIndex": axis}


def _band(state: AppState, brand: str, colour: str, x: np.ndarray, low: np.ndarray, high: np.ndarray,
          axis: int = 0) -> list[dict[str, Any]]:
    """The 5-95% band as two stacked series: the low edge (invisible) and the width above it (shaded)."""
    stack = f"band-{brand}-{axis}"
    common = {"type": "line", "name": band_name(state), "stack": stack, "showSymbol": False, "color": colour, "z": 2,
              "lineStyle": {"opacity": 0}, "xAxisIndex": axis, "yAxisIndex": axis, "silent": True}
    return [{**common, "data": [[_finite(a), _finite(b)] for a, b in zip(x, low)]},
            {**common, "data": [[_finite(a), _finite(h - b)] for a, b, h in zip(x, low, high)],
             "areaStyle": {"color": colour, "opacity": BAND_OPACITY}}]


def _points(x, y, write: Callable[[float], str], when: list[str], prefix: str = "", scale: float = 1.0) -> list:
    """Data points ``[x, y * scale, text, when]``: the hover text written by :mod:`sim.formats` from the unscaled
    value (``prefix`` before it), and the period it belongs to (the hover's header)."""
    out = []
    for a, b, w in zip(x, y, when):
        value = _finite(b * scale) if b is not None else None
        out.append([_finite(a), value, prefix + write(b) if value is not None else "", w])
    return out


def _x_axis(state: AppState, grid: int = 0) -> dict[str, Any]:
    start = state.scenario.market.start_year
    return {"type": "value", "min": start, "max": start + state.scenario.market.years, "minInterval": 1,
            "gridIndex": grid, "axisLabel": {"fontSize": FONT, "formatter": {"luxsim": "plain"}},
            "splitLine": {"show": False}}


def _y_axis(name: str, grid: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "value", "name": name, "nameLocation": "middle", "nameGap": 48, "gridIndex": grid,
            "nameTextStyle": {"fontSize": FONT}, "axisLabel": {"fontSize": FONT, **extra.pop("axisLabel", {})},
            "splitLine": {"lineStyle": {"opacity": 0.4}}, **extra}


def _money_ticks(values: list[float]) -> dict[str, Any]:
    """A money axis's range and labels: ticks chosen here (matplotlib's MaxNLocator) and written by
    :func:`sim.formats.compact_money` (``−$734M``, ``$1.2B``); the browser shows the nearest one's text."""
    from matplotlib.ticker import MaxNLocator

    finite = [v for v in values if v is not None and math.isfinite(v)] or [0.0]
    lo, hi = min(finite), max(finite)
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    ticks = MaxNLocator(5).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo - (ticks[1] - ticks[0])) & (ticks <= hi + (ticks[1] - ticks[0]))]
    step = float(ticks[1] - ticks[0])
    return {"min": float(ticks[0]), "max": float(ticks[-1]), "interval": step,
            "axisLabel": {"formatter": {"luxsim": "ticks", "ticks": [[float(t), compact_money(t)] for t in ticks]}}}


def share_option(state: AppState) -> dict[str, Any]:
    """Sales share by brand, trailing 12 months, in percent, month by month: one line per brand (the mean over
    replications, the selected brand thick, its launch dotted), the 5-95% band with several replications, the pinned
    baseline dashed. Hover: each brand's share that month (``12.3%``)."""
    series = state.series()
    if series.months == 0:
        return empty_option()
    palette = brand_palette(list(state.model.brand_names))
    share = series.share_frame()
    x = share.index.to_numpy()
    when = [f"{m // 12 + series.start_year}-{m % 12 + 1:02d}" for m in range(series.months)]
    out = []
    if state.baseline is not None:
        pinned = state.baseline.series
        old = pinned.share_frame()
        old_when = [f"{m // 12 + pinned.start_year}-{m % 12 + 1:02d}" for m in range(pinned.months)]
        for name in share.columns:
            if name in old.columns:
                out.append(_baseline(palette[name], _points(old.index.to_numpy(), old[name].to_numpy(), percent,
                                                            old_when, f"{name} ", 100)))
    if series.replications > 1:
        low, high = series.share_frame("p05"), series.share_frame("p95")
        for name in share.columns:
            out += _band(state, name, palette[name], x, low[name].to_numpy() * 100, high[name].to_numpy() * 100)
    for name in share.columns:
        line = _line(name, palette[name], _points(x, share[name].to_numpy(), percent, when, scale=100),
                     name == state.brand)
        out.append(line)
    launch = state.scenario.brands[state.brand].launch
    if launch:
        year, month = (int(p) for p in launch.split("-"))
        focus = next(s for s in out if s["name"] == state.brand and s["type"] == "line" and "stack" not in s)
        focus["markLine"] = {"symbol": "none", "silent": True, "label": {"show": False},
                             "lineStyle": {"type": "dotted", "color": palette[state.brand], "width": 1},
                             "data": [{"xAxis": year + (month - 1) / 12}]}
    option = _base(legend=_legend(state))
    option.update(grid={"left": 64, "right": 16, "top": 76, "bottom": 28}, xAxis=_x_axis(state),
                  yAxis=_y_axis("sales share, last 12 months (%)", min=0, axisLabel={"formatter": "{value}%"}),
                  series=out)
    return option


def _yearly_series(state: AppState, metric: str, write: Callable[[float], str], scale: float = 1.0,
                   axis: int = 0) -> list[dict[str, Any]]:
    """One line per brand of a yearly metric (the mean over replications, at mid-year), its band with several
    replications, and the pinned baseline's mean dashed beneath."""
    palette = brand_palette(list(state.model.brand_names))
    shaded = state.series().replications > 1
    band = _by_brand(state.series(), metric)
    base = _by_brand(state.baseline.series, metric) if state.baseline is not None else {}
    out = []
    for name in state.model.brand_names:
        if name in base:
            years, mean, _, _ = base[name]
            out.append(_baseline(palette[name], _points(years + 0.5, mean, write, [str(y) for y in years],
                                                        f"{name} ", scale), axis))
        years, mean, low, high = band.get(name, (np.empty(0, int),) + (np.empty(0),) * 3)
        if shaded:
            out += _band(state, name, palette[name], years + 0.5, low * scale, high * scale, axis)
        out.append(_line(name, palette[name], _points(years + 0.5, mean, write, [str(y) for y in years],
                                                      scale=scale), name == state.brand, axis))
    return out


def _by_brand(series, metric: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Brand -> (years, mean, 5th, 95th percentile over the replications) of a yearly metric (one replication: its
    values, the band collapsed onto them)."""
    if series.replications == 1:
        table = series.yearly
        columns = ("year", metric, metric, metric)
    else:
        table = series.band(metric)
        columns = ("year", "mean", "p05", "p95")
    brand = table["brand"].to_numpy()
    arrays = [table[c].to_numpy(dtype=float) for c in columns]
    out = {}
    for name in series.brands:
        rows = brand == name
        if rows.any():
            year, mean, low, high = (a[rows] for a in arrays)
            out[name] = (year.astype(int), mean, low, high)
    return out


def loyalty_option(state: AppState) -> dict[str, Any]:
    """Repurchase loyalty by brand and year, in percent (blank where too few owners replaced). Empty until the
    first full year."""
    if state.series().yearly.empty:
        return empty_option("Loyalty appears after the first full year")
    option = _base(legend=_legend(state))
    option.update(grid={"left": 64, "right": 16, "top": 76, "bottom": 28}, xAxis=_x_axis(state),
                  yAxis=_y_axis("repurchase loyalty (%)", min=0, max=100, axisLabel={"formatter": "{value}%"}),
                  series=_yearly_series(state, "repurchase_loyalty", percent, 100))
    return option


def csi_option(state: AppState) -> dict[str, Any]:
    """Customer satisfaction (CSI, 0-1000, 500 neutral) by brand and year, neutral marked. Empty until the first
    full year."""
    if state.series().yearly.empty:
        return empty_option("CSI appears after the first full year")
    out = _yearly_series(state, "csi", number)
    out[-1]["markLine"] = {"symbol": "none", "silent": True, "label": {"show": False},
                           "lineStyle": {"type": "dashed", "color": "#888888", "width": 1}, "data": [{"yAxis": 500}]}
    option = _base(legend=_legend(state))
    option.update(grid={"left": 64, "right": 16, "top": 76, "bottom": 28}, xAxis=_x_axis(state),
                  yAxis=_y_axis("CSI (0-1000, 500 = neutral)", scale=True), series=out)
    return option


def money_option(state: AppState) -> dict[str, Any]:
    """Service margin per year and cumulative profit by brand, in the scenario's dollars (two panels, ticks and hover
    written as luxsim writes money). Empty until the first full year."""
    if state.series().yearly.empty:
        return empty_option("The P&L appears after the first full year")
    year = state.scenario.market.price_year
    series = []
    y_axes = []
    for axis, metric in enumerate(("service_margin", "cum_profit")):
        part = _yearly_series(state, metric, money, axis=axis)
        values = [p[1] for s in part for p in s["data"]]
        if any(s.get("stack") for s in part):  # the band's upper edge is stacked: its top is low + width
            values += [a[1] + b[1] for s1, s2 in zip(part, part[1:]) if s1.get("stack") and s1.get("stack") ==
                       s2.get("stack") for a, b in zip(s1["data"], s2["data"]) if a[1] is not None and b[1] is not None]
        y_axes.append(_y_axis("", axis, **_money_ticks(values)))
        series += part
    series[-1]["markLine"] = {"symbol": "none", "silent": True, "label": {"show": False},
                              "lineStyle": {"color": "#555555", "width": 1}, "data": [{"yAxis": 0}]}
    option = _base(legend=_legend(state))
    option["title"] = [{"text": f"service margin per year ({year} $)", "left": "24%", "top": 60, "textAlign": "center",
                        "textStyle": {"fontSize": FONT, "fontWeight": "normal"}},
                       {"text": f"cumulative profit ({year} $)", "left": "76%", "top": 60, "textAlign": "center",
                        "textStyle": {"fontSize": FONT, "fontWeight": "normal"}}]
    option.update(grid=[{"left": 64, "right": "53%", "top": 88, "bottom": 28},
                        {"left": "59%", "right": 16, "top": 88, "bottom": 28}],
                  xAxis=[_x_axis(state, 0), _x_axis(state, 1)], yAxis=y_axes, series=series)
    return option


def flows_option(state: AppState) -> dict[str, Any]:
    """Who took buyers from whom: a heat map of buyers (thousands, real units) from the brand owned before (rows) to
    the brand bought (columns) over ``state.flow_window``, loyal repurchases left blank. Hover: "Cadillac → Lexus:
    12.3 thousand buyers"."""
    f = state.flows()
    if state.months_done == 0 or f.to_numpy().sum() == 0:
        return empty_option()
    shown = f.to_numpy() / 1000.0
    n = len(state.model.brand_names)
    data = []
    for r in range(shown.shape[0]):
        for c in range(shown.shape[1]):
            if r == c and r < n:
                continue  # loyal repurchases: not a flow between brands
            v = float(shown[r, c])
            label = "" if v < 0.05 else f"{v:.0f}" if v >= 10 else f"{v:.1f}"
            data.append([c, r, _finite(v, 3), label, f"{f.index[r]} → {f.columns[c]}: {number(v, 1)} thousand buyers"])
    top = max((d[2] for d in data), default=0.0) or 1.0
    focus = state.brand
    bold = {"fontWeight": "bold", "color": "#000"}
    option = {"animation": False, "textStyle": {"fontSize": FONT},
              "title": {"text": f"thousands of buyers, {state.flow_window}", "left": "center", "top": 0,
                        "textStyle": {"fontSize": FONT, "fontWeight": "normal"}},
              "tooltip": {"trigger": "item", "confine": True, "formatter": {"luxsim": "field", "key": 4}},
              "grid": {"left": 110, "right": 8, "top": 28, "bottom": 96},
              "xAxis": {"type": "category", "data": [_bold(c, focus) for c in f.columns], "name": "bought",
                        "nameLocation": "middle", "nameGap": 82,
                        "axisLabel": {"rotate": 40, "fontSize": FONT, "interval": 0, "rich": {"focus": bold}},
                        "splitArea": {"show": True}},
              "yAxis": {"type": "category", "data": [_bold(r, focus) for r in f.index], "inverse": True,
                        "name": "owned before", "nameLocation": "middle", "nameGap": 96,
                        "axisLabel": {"fontSize": FONT, "interval": 0, "rich": {"focus": bold}},
                        "splitArea": {"show": True}},
              "visualMap": {"show": False, "min": 0, "max": top, "inRange": {"color": HEAT}, "dimension": 2},
              "series": [{"type": "heatmap", "name": "buyers (thousands)", "data": data,
                          "label": {"show": True, "fontSize": FONT - 1, "formatter": {"luxsim": "field", "key": 3}},
                          "emphasis": {"itemStyle": {"borderColor": "#333", "borderWidth": 1}}}]}
    return option


def _bold(name: str, focus: str) -> str:
    """An axis label, the selected brand's in bold (ECharts rich text)."""
    return f"{{focus|{name}}}" if name == focus else name


def network_option(state: AppState) -> dict[str, Any]:
    """A sample of the buyers' social network now: buyers coloured by the brand they own (light grey: outside the
    segment), their ties, and the share of ties between owners of the same brand against its value under random
    mixing. Hover a buyer: slot and brand. Drag to pan, scroll to zoom, click a legend entry to hide a brand."""
    g, pos = state.network_graph()
    if not g.number_of_nodes():
        return empty_option("No buyers to show")
    brands = state.network_brands()
    names = list(state.model.brand_names)
    palette = brand_palette(names)
    counts = brands.value_counts()
    shown = [n for n in names if counts.get(n, 0)]
    outside = int(brands.isna().sum())
    categories = [{"name": f"{n} ({counts[n]})", "itemStyle": {"color": palette[n]}} for n in shown]
    if outside:
        categories.append({"name": f"not in segment ({outside})", "itemStyle": {"color": NOT_IN_SEGMENT}})
    index = {n: i for i, n in enumerate(shown)}
    nodes = []
    for slot, brand in brands.items():
        x, y = pos[int(slot)]
        category = index[brand] if brand is not None else len(shown)
        nodes.append({"name": str(int(slot)), "x": round(x, 3), "y": round(y, 3), "category": category,
                      "tip": f"buyer {int(slot)}: {brand if brand is not None else 'not in the segment'}"})
    links = [{"source": str(int(u)), "target": str(int(v))} for u, v in g.edges]
    same, expected = state.same_brand_ties()
    when = state.model.date() if state.months_done else "at the start"
    note = (f"ties between owners of the same brand: {same:.0%} ({expected:.0%} if brands were spread at random)"
            if np.isfinite(same) else "")
    return {"animation": False, "textStyle": {"fontSize": FONT},
            "title": {"text": f"{len(nodes)} neighbours and their ties, {when}", "subtext": note, "left": "center",
                      "top": 0, "textStyle": {"fontSize": FONT, "fontWeight": "normal"},
                      "subtextStyle": {"fontSize": FONT, "color": "#444"}},
            "tooltip": {"trigger": "item", "confine": True, "formatter": {"luxsim": "field", "key": "tip"}},
            "legend": {"data": [c["name"] for c in categories], "orient": "vertical", "right": 0, "top": 48,
                       "textStyle": {"fontSize": FONT}},
            "series": [{"type": "graph", "layout": "none", "roam": True, "data": nodes, "links": links,
                        "categories": categories, "symbolSize": 8, "left": 8, "right": 150, "top": 56, "bottom": 8,
                        "itemStyle": {"borderColor": "#555555", "borderWidth": 0.5},
                        "lineStyle": {"color": "#bbbbbb", "width": 0.6, "opacity": 1},
                        "emphasis": {"focus": "adjacency"}}]}


CHARTS: dict[str, Callable[[AppState], dict]] = {
    "share": share_option, "loyalty": loyalty_option, "flows": flows_option, "csi": csi_option,
    "money": money_option}  # the charts redrawn as the run moves; the network is drawn when asked (network_option)

# The page's chart widget: Solara's ECharts template (solara/components/echarts.vue, the same offline ECharts 5.4)
# with `revive`, which turns {"luxsim": NAME, ...} into the JavaScript function NAME builds, and a redraw that keeps
# the legend entries the user switched off. The option arrives as JSON text (`option_json`): one string for the page
# to compare and send, rather than thousands of nested lists for it and the browser to walk and observe.
VUE = r"""
<template>
  <div ref="echarts" class="solara-echarts luxsim-echarts" v-bind="attributes"></div>
</template>
<script>
module.exports = {
  mounted() {
    (async () => {
      const echarts = (await this.import([`${this.getCdn()}/echarts@5.4.0/dist/echarts.min.js`]))[0];
      this.echarts = echarts;
      this.chart = echarts.init(this.$refs.echarts);
      this.draw();
    })();
    this.resizeObserver = new ResizeObserver(() => { if (this.chart) this.chart.resize(); });
    this.resizeObserver.observe(this.$refs.echarts);
  },
  beforeDestroy() {
    if (this.resizeObserver) this.resizeObserver.disconnect();
    if (this.chart) this.chart.dispose();
  },
  watch: {
    option_json() { this.draw(); },
  },
  methods: {
    draw() {
      if (!this.chart) return;
      const option = this.revive(JSON.parse(this.option_json || "{}"));
      const old = this.chart.getOption();
      const selected = old && old.legend && old.legend[0] && old.legend[0].selected;
      if (selected && option.legend && !Array.isArray(option.legend)) option.legend.selected = selected;
      this.chart.setOption(option, true);
      this.$refs.echarts.dataset.drawn = String((Number(this.$refs.echarts.dataset.drawn) || 0) + 1);
    },
    revive(value) {
      if (Array.isArray(value)) return value.map((v) => this.revive(v));
      if (value === null || typeof value !== "object") return value;
      if (typeof value.luxsim === "string") return this.formatter(value);
      const out = {};
      for (const key of Object.keys(value)) out[key] = this.revive(value[key]);
      return out;
    },
    formatter(spec) {
      const entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
      const esc = (s) => String(s).replace(/[&<>"]/g, (c) => entities[c]);
      if (spec.luxsim === "axis") {
        return (params) => {
          const rows = params.filter((p) => Array.isArray(p.data) && p.data[2]);
          if (!rows.length) return "";
          const main = rows.find((p) => p.seriesName !== "baseline") || rows[0];
          const lines = rows.map((p) => `${p.marker}${esc(p.seriesName)}: ${esc(p.data[2])}`);
          return `<b>${esc(main.data[3])}</b><br>` + lines.join("<br>");
        };
      }
      if (spec.luxsim === "field") {
        return (p) => { const v = p.data && p.data[spec.key]; return v === undefined || v === null ? "" : esc(v); };
      }
      if (spec.luxsim === "plain") return (v) => String(v);
      if (spec.luxsim === "ticks") {
        return (v) => {
          let best = spec.ticks[0];
          for (const t of spec.ticks) if (Math.abs(t[0] - v) < Math.abs(best[0] - v)) best = t;
          return best[1];
        };
      }
      return undefined;
    },
    import(deps) {
      return this.loadRequire().then(() => {
        if (window.jupyterVue) {
          define("vue", [], () => window.jupyterVue.Vue);
        } else {
          define("vue", ["jupyter-vue"], (jupyterVue) => jupyterVue.Vue);
        }
        return new Promise((resolve, reject) => { requirejs(deps, (...modules) => resolve(modules), reject); });
      });
    },
    loadRequire() {
      if (window.requirejs) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `${this.getCdn()}/requirejs@2.3.6/require.js`;
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    },
    getJupyterBaseUrl() {
      if (document.getElementsByTagName("base").length) return "./";
      const labConfigData = document.getElementById("jupyter-config-data");
      if (labConfigData) return JSON.parse(labConfigData.textContent).baseUrl;
      let base = document.body.dataset.baseUrl || document.baseURI;
      if (!base.endsWith("/")) base += "/";
      return base;
    },
    getCdn() {
      return this.cdn || (window.solara ? window.solara.cdn : `${this.getJupyterBaseUrl()}_solara/cdn`);
    },
  },
};
</script>
"""
