"""One palette for every chart luxsim draws: the app's, the reports', the notebooks'.

A brand keeps its colour everywhere (Lexus red, Cadillac blue, ...), so a reader who learns it in the app
finds it again in a report. Brands not listed (a scenario's own names) take the next colour of
matplotlib's ``tab10`` by their position in the scenario, skipping colours a listed brand already uses.
Scenarios in a comparison take ``Dark2`` (colour-blind safe).
"""

from __future__ import annotations

BRAND_COLOURS = {
    "Lexus": "#c62828", "Cadillac": "#1565c0", "Lincoln": "#00838f", "Mercedes-Benz": "#616161",
    "BMW": "#2e7d32", "Jaguar": "#6d4c41", "Acura": "#6a1b9a", "Infiniti": "#ef6c00", "Audi": "#37474f",
    # the generic_new_entrant scenario's brands
    "Entrant": "#c62828", "Heritage": "#1565c0", "Sporty": "#2e7d32", "Comfort": "#6a1b9a",
}
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf")
DARK2 = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
OTHER = "#9e9e9e"  # "new to segment", "left segment" and other non-brand categories


def brand_palette(brands: list[str]) -> dict[str, str]:
    """Brand name -> colour, for brands in scenario order; distinct colours for up to 10 unlisted brands."""
    used = {BRAND_COLOURS[b] for b in brands if b in BRAND_COLOURS}
    spare = iter([c for c in TAB10 if c not in used] + list(TAB10))
    return {b: BRAND_COLOURS[b] if b in BRAND_COLOURS else next(spare) for b in brands}


def scenario_palette(names: list[str]) -> dict[str, str]:
    """Scenario name -> colour, in the order given (a comparison's base first)."""
    return {name: DARK2[i % len(DARK2)] for i, name in enumerate(names)}
