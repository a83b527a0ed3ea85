"""HTML reports: built from real (small) result folders, self-contained, complete, and read-only on the data."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from markupsafe import escape

from sim.compare_report import COMPARE_FIGURES, build_compare_report
from sim.formats import difference as format_difference
from sim.report import excludes_zero
from sim.results import write_comparison, write_results
from sim.run_report import RUN_FIGURES, build_run_report
from sim.runner import run_replications
from sim.scenario_files import load_scenario
from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent
SEED = 11
BUYERS = 2000
SMALL = ["market.years=6", f"simulation.buyers={BUYERS}"]  # 1986-1991: Lexus and Infiniti launch in 1989
PNG = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def build(builder, folder: Path) -> dict:
    before = snapshot(folder)
    path = builder(folder)
    return {"folder": folder, "path": path, "html": path.read_text(encoding="utf-8"), "before": before,
            "after": snapshot(folder), "open_figures": plt.get_fignums()}


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A run folder of the flagship and a comparison folder (flagship vs service parity), 2 replications each."""
    root = tmp_path_factory.mktemp("report")
    started = datetime.now(UTC)
    scenarios = [load_scenario(name, SMALL) for name in ("lexus_us_1989", "lexus_service_parity")]
    runs = {sc.name: (sc, run_replications(sc, 2, SEED, workers=1)) for sc in scenarios}
    base = scenarios[0]
    return {"run": write_results(root / "run", base, runs[base.name][1], started, SEED, BUYERS),
            "compare": write_comparison(root / "compare", runs, base.name, started, SEED, BUYERS)}


@pytest.fixture(scope="session")
def run_report(folders) -> dict:
    return build(build_run_report, folders["run"])


@pytest.fixture(scope="session")
def compare_report(folders) -> dict:
    return build(build_compare_report, folders["compare"])


def embedded_pngs(text: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True) for data in IMG.findall(text)]


# ---- run report ----------------------------------------------------------------------------------------------
def test_run_report_embeds_every_figure_as_a_png_with_heading_and_caption(run_report):
    assert run_report["path"] == run_report["folder"] / "report.html"
    pngs = embedded_pngs(run_report["html"])
    assert len(pngs) == len(RUN_FIGURES) == 5
    assert all(png.startswith(PNG) and len(png) > 5000 for png in pngs)
    assert run_report["html"].count("<figure>") == run_report["html"].count("<figcaption>") == len(pngs)
    assert run_report["html"].count("<figure><h3>") == len(pngs)
    assert run_report["open_figures"] == []  # every figure closed after rendering


def test_run_report_has_question_headline_key_figures_and_provenance(run_report, folders):
    text = run_report["html"]
    manifest = json.loads((folders["run"] / "manifest.json").read_text())
    assert str(escape(manifest["scenario"]["question"])) in text
    assert "has the largest sales share" in text and "highest repurchase loyalty" in text
    assert 'class="figures"' in text and "Conquest sales" in text and "CSI" in text
    footer = text[text.index("<footer>"):]
    assert str(SEED) in footer and f"{BUYERS:,}" in footer
    assert "numpy" in footer and "Command line" in footer
    if manifest["git_commit"]:
        assert manifest["git_commit"] in footer


def test_reports_reference_nothing_outside_the_file(run_report, compare_report):
    for report in (run_report, compare_report):
        lowered = report["html"].lower()
        for needle in ("http://", "https://", "<script", "<link", "@import", "url(", "<iframe"):
            assert needle not in lowered, needle
        assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', report["html"]))


@pytest.mark.parametrize("report", ["run_report", "compare_report"])
def test_building_a_report_adds_only_report_html(report, request):
    built = request.getfixturevalue(report)
    before, after = built["before"], built["after"]
    assert set(after) - set(before) == {"report.html"}
    assert {name: digest for name, digest in after.items() if name in before} == before


# ---- compare report ------------------------------------------------------------------------------------------
def test_compare_report_embeds_its_figures(compare_report):
    pngs = embedded_pngs(compare_report["html"])
    assert len(pngs) == len(COMPARE_FIGURES) == 3
    assert all(png.startswith(PNG) for png in pngs)
    assert compare_report["open_figures"] == []


def test_compare_report_tabulates_differences_in_pp_with_intervals(compare_report, folders):
    text = compare_report["html"]
    diffs = pd.read_csv(folders["compare"] / "differences.csv")
    for scenario in diffs["scenario"].unique():
        assert f"{scenario} − lexus_us_1989" in text
        question = json.loads((folders["compare"] / scenario / "manifest.json").read_text())["scenario"]["question"]
        assert str(escape(question)) in text
    assert 'class="differences"' in text
    # the headline sentence for Lexus's last-year share, as computed from differences.csv
    last = int(diffs["year"].max())
    row = diffs[(diffs["metric"] == "sales_share") & (diffs["brand"] == "Lexus") & (diffs["year"] == last)].iloc[0]
    sentence = f"Lexus {last} share " + format_difference(row.diff_mean * 100, row.ci_low * 100, row.ci_high * 100)
    assert re.fullmatch(r"Lexus \d{4} share [+−]?\d+\.\d pp \[[+−]?\d+\.\d, [+−]?\d+\.\d\]", sentence)
    assert str(escape(sentence)) in text
    assert len(re.findall(r"[+−]?\d+\.\d pp <span class=\"ci\">\[", text)) >= 8  # table cells
    assert "$M" in text
    # highlighted cells are those whose interval excludes zero: shown rounded, such an interval may touch 0.0
    # (0.04 is shown as 0.0) but never straddles it
    for cell in re.findall(r'<td class="sig">([^<]*)<span class="ci">\[([^,]+), ([^\]]+)\]', text):
        low, high = (float(v.replace("−", "-").replace(",", "").replace("$", "").rstrip("M")) for v in cell[1:])
        assert not (low < 0 < high)


def test_compare_report_shows_payback_per_brand(compare_report, folders):
    text = compare_report["html"]
    assert "<h2>Payback</h2>" in text and 'class="payback"' in text
    payback = pd.read_csv(folders["compare"] / "payback.csv").drop_duplicates(["scenario", "brand"])
    section = text[text.index('class="payback"'):text.index("<h2>Figures</h2>")]
    for r in payback.itertuples():
        assert r.brand in section
        if pd.notna(r.payback_year):
            assert f"<td>{r.payback_year:.0f}</td><td class=\"name\">{r.paid_back_by}</td>" in section
    assert section.count("<tr") == len(payback) + 1  # header row and one row per scenario × brand


# ---- pieces --------------------------------------------------------------------------------------------------
def test_format_difference():
    assert format_difference(-14.5, -15.8, -13.2) == "−14.5 pp [−15.8, −13.2]"
    assert format_difference(2.04, -0.31, 4.4) == "+2.0 pp [−0.3, +4.4]"
    assert format_difference(-0.04, 0.0, 0.0) == "0.0 pp [0.0, 0.0]"
    assert format_difference(-123.42, -150.2, -96.1, "$M") == "−$123.4M [−150.2, −96.1]"
    assert format_difference(1.5, float("nan"), float("nan")) == "+1.5 pp"  # one replication: no interval
    assert format_difference(float("nan"), 0, 0) == "—"
    assert excludes_zero(0.1, 2) and excludes_zero(-3, -0.2)
    assert not excludes_zero(-0.1, 2) and not excludes_zero(0.0, 0.0) and not excludes_zero(float("nan"), float("nan"))


def test_report_module_does_not_import_the_model():
    code = "import sys, sim.report; print('sim.model' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_run_and_its_report_import_neither_seaborn_nor_scipy_stats():
    """seaborn and scipy.stats took 2-4 s of a run's start (a quarter of a 100,000-buyer run's wall time): the run
    report draws its figures with matplotlib alone, and intervals import scipy.stats only when they need it."""
    code = ("import sys, run_sim, sim.results, sim.runner, sim.run_report; "
            "print(sorted(m for m in ('seaborn', 'scipy.stats', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_reports_style_is_seaborns_whitegrid_without_importing_seaborn():
    import seaborn as sns

    from sim.figures import STYLE_RC

    theirs = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.9)}
    theirs.pop("image.cmap")  # seaborn's own colour map ("rocket"), registered by importing seaborn; no figure uses it
    assert STYLE_RC == theirs


@pytest.mark.parametrize("title, lacking", [("名前 🚗 Citroën", {"名", "前", "🚗"}), ("Lexus Citroën", set())])
def test_characters_the_font_lacks_give_one_warning_naming_them_not_one_per_glyph(title, lacking):
    """CJK or emoji brand names once printed ~33 lines of matplotlib "Glyph ... missing from font" warnings."""
    import warnings

    from sim.figures import MissingGlyphs, png_uri

    fig, ax = plt.subplots()
    ax.set_title(title)
    ax.plot([0, 1], [0, 1], label=title)
    ax.legend()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uri = png_uri(fig)
    assert uri.startswith("data:image/png;base64,")
    assert not [w for w in caught if "Glyph" in str(w.message)]
    glyphs = [w for w in caught if issubclass(w.category, MissingGlyphs)]
    assert len(glyphs) == (1 if lacking else 0)
    if lacking:
        assert all(ch in str(glyphs[0].message) for ch in lacking) and "ë" not in str(glyphs[0].message)


def test_provenance_states_simulation_seconds_only_when_the_runs_were_timed():
    """A run's replications carry their seconds; a calibration's or an optimisation's do not, and their report must
    not claim "0.0 s of simulation" for minutes of work."""
    from sim.report import provenance

    timed = provenance({"replications": [{"spawn_key": [0], "seconds": 1.25}, {"spawn_key": [1], "seconds": 2.0}]})
    assert timed["Replications"] == "2 (spawn keys [0], [1]; 3.2 s of simulation)"
    untimed = provenance({"replications": [{"spawn_key": [0]}, {"spawn_key": [1]}]})
    assert untimed["Replications"] == "2 (spawn keys [0], [1])"
