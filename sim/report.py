"""The reporting layer: HTML pages from Jinja2 templates, tables that render in a page, a notebook and a terminal.

Every report luxsim writes (run, comparison, calibration, validation, attribution) is a template in
``sim/templates/`` that extends ``base.html.j2``: one layout, one stylesheet (``report.css``, inlined so a
report is one self-contained file that opens offline), one provenance block and footer. Autoescaping is on:
text from a scenario (its question, description, brand names) is escaped wherever it appears; sentences that
carry markup are built with :func:`markup`, which escapes what is put into them.

A table is a plain dict (:func:`table`: a title, header cells, rows of :func:`cell`), so the same table is
drawn by the templates (the ``table`` macro of ``_macros.html.j2``), by a notebook (``_repr_html_`` of a
results object, through ``results.html.j2``) and in the terminal (:func:`rich_table`). Results objects
(``sim.runner.RunSet``, ``sim.compare.Comparison``, ``sim.attribution.Attribution``,
``sim.calibration.CalibrationResult``, ``sim.validation.ValidationResult``) inherit :class:`Rendered`:
``__str__`` is their terminal summary, ``_repr_html_`` the same tables as HTML.

The pages themselves are built by ``sim.run_report`` (run folders), ``sim.compare_report`` (comparison
folders), ``sim.calibration_report`` (calibration and validation) and ``sim.attribution_report``; figures are
drawn by ``sim.figures``.
"""

from __future__ import annotations

import io
import shlex
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from sim.files import write_atomic
from sim.formats import MISSING

REPORT_NAME = "report.html"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TERMINAL_WIDTH = 120

_environment: jinja2.Environment | None = None


# ---- templates ---------------------------------------------------------------------------------------------
def environment() -> jinja2.Environment:
    """The Jinja2 environment of ``sim/templates/`` (autoescape on; undefined names are errors)."""
    global _environment
    if _environment is None:
        _environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                          keep_trailing_newline=True)
    return _environment


def stylesheet() -> Markup:
    """``report.css``, the one stylesheet of every report (inlined into each page)."""
    return Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))


def render(template: str, **context: Any) -> str:
    """Render ``sim/templates/<template>`` with ``context`` (and the stylesheet as ``css``).

    Raises:
        jinja2.TemplateNotFound: no such template; jinja2.UndefinedError: the template uses a name not given.
    """
    return environment().get_template(template).render(css=stylesheet(), **context)


def write_report(folder: str | Path, text: str) -> Path:
    """Write ``text`` to ``folder/report.html`` atomically and return its path."""
    return write_atomic(Path(folder) / REPORT_NAME, text)


def markup(template: str, *args: Any, **kwargs: Any) -> Markup:
    """An HTML sentence: ``template`` is trusted markup, every argument is escaped (``Markup.format``)."""
    return Markup(template).format(*args, **kwargs)


def plain(text: Any) -> str:
    """A sentence as plain text: tags dropped, entities resolved."""
    return Markup(str(text)).striptags() if isinstance(text, Markup) else str(text)


# ---- tables ------------------------------------------------------------------------------------------------
def cell(text: Any = "", kind: str = "num", ci: str = "", sig: bool = False) -> dict:
    """One table cell. ``kind``: "num" (right-aligned), "name" (left-aligned text), "bold", "pass", "fail";
    ``ci``: an interval or band shown in small grey type after the text; ``sig``: highlighted (an interval that
    excludes zero, a failed check)."""
    return {"text": MISSING if text is None else text, "kind": kind, "ci": ci, "sig": sig}


def head(text: str, left: bool = False) -> dict:
    """A header cell (``left``: a text column)."""
    return {"text": text, "left": left}


def table(cls: str, header: list[dict], rows: list[dict], title: str = "", note: str = "") -> dict:
    """A table: CSS class, header cells (:func:`head`), rows (:func:`row` or :func:`group_rows`), a title and a
    note shown above it in a notebook or a terminal."""
    return {"cls": cls, "head": header, "rows": rows, "title": title, "note": note}


def row(cells: list[dict], first: bool = False, label: str = "") -> dict:
    """A body row of cells; ``label``: a left header cell (a lever, a year) before them."""
    return {"cells": cells, "first": first, "group": label, "span": 1 if label else 0, "brand": None}


def group_rows(label: str, cells: dict[str, list[dict]], palette: dict[str, str]) -> list[dict]:
    """The rows of one group (a year, a scenario): the label spans the group, then one row per brand with its
    colour swatch (``palette``: brand -> ``#rrggbb``) and its cells."""
    return [{"cells": tds, "first": i == 0, "group": label, "span": len(cells) if i == 0 else 0,
             "brand": brand, "colour": palette.get(brand, "#9e9e9e")}
            for i, (brand, tds) in enumerate(cells.items())]


def excludes_zero(low: float, high: float) -> bool:
    """True where a confidence interval lies entirely above or below zero (NaN intervals never do)."""
    return bool(low > 0 or high < 0)


def rich_table(t: dict):
    """A :func:`table` as a ``rich.table.Table`` (for the terminal). Every text is a ``rich.text.Text``, never
    parsed as console markup: a scenario's question may hold ``[`` and ``]``. Nothing is ever cut with an ellipsis:
    a cell too wide for its column folds onto the next line. A table with ``"stack": True`` puts each cell's
    interval on a line of its own under the value (narrow columns: no interval spread over three lines). The title
    and note are printed above the table at the terminal's width (a narrow table does not squeeze them)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = "\n".join(x for x in (t["title"], t["note"]) if x)
    out = Table()
    grouped = any(r["group"] for r in t["rows"])
    branded = any(r["brand"] is not None for r in t["rows"])
    header = t["head"]
    if grouped and branded:
        out.add_column(Text(plain(header[0]["text"])), style="bold", overflow="fold")
        header = header[1:]
    for h in header:
        label = h is header[0] and not branded  # the row labels: a brand, a lever, a target
        out.add_column(Text(plain(h["text"])), justify="left" if h["left"] else "right",
                       style="bold" if label else None, overflow="fold")
    styles = {"pass": "green", "fail": "bold red"}
    for r in t["rows"]:
        cells = []
        if grouped and branded:
            cells.append(Text(str(r["group"]) if r["span"] else ""))
        if branded:
            cells.append(Text(str(r["brand"])))
        elif grouped:
            cells.append(Text(str(r["group"])))
        for c in r["cells"]:
            text = plain(c["text"]) + (("\n" if t.get("stack") else " ") + plain(c["ci"]) if c["ci"] else "")
            cells.append(Text(text, style=styles.get(c["kind"], "")))
        out.add_row(*cells, end_section=bool(r.get("end_section")))
    return Group(Text(title), out) if title else out


def text_of(renderable: Any, width: int = TERMINAL_WIDTH) -> str:
    """What ``rich`` would print for ``renderable``, as plain text (no colours)."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()


class Rendered:
    """A results object that renders itself: ``tables()`` (and optionally ``headline()``) give its summary;
    ``__rich__`` draws them in a terminal, ``__str__`` as plain text, ``_repr_html_`` as HTML in a notebook."""

    def tables(self) -> list[dict]:
        """The summary tables (:func:`table` dicts), in order; every subclass gives its own.

        Raises:
            NotImplementedError: in this base class.
        """
        raise NotImplementedError

    def headline(self) -> list:
        """Sentences (text or :func:`markup`) shown above the tables; none by default."""
        return []

    def title(self) -> str:
        """The heading of the notebook view (default: the class name)."""
        return type(self).__name__

    def __rich__(self):
        from rich.console import Group
        from rich.text import Text

        # Text, never console markup: a headline names brands and scenarios, whose names may hold '[' and ']'
        return Group(*(Text(plain(line)) for line in self.headline()), *(rich_table(t) for t in self.tables()))

    def __str__(self) -> str:
        return text_of(self)

    def _repr_html_(self) -> str:
        return render("results.html.j2", title=self.title(), headline=self.headline(), tables=self.tables())


# ---- the provenance block ----------------------------------------------------------------------------------
def _time(text: str | None) -> str:
    if not text:
        return MISSING
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return text


def provenance(manifest: dict, replications: Iterable[dict] | None = None, extra: dict | None = None) -> dict:
    """The provenance block of a report, label -> text, from a folder's ``manifest.json``: ``extra`` first,
    then seed, replications (spawn keys, seconds), buyers, package versions, git commit, command line, times."""
    import matplotlib

    reps = list(replications if replications is not None else manifest.get("replications", []))
    timed = [r["seconds"] for r in reps if isinstance(r.get("seconds"), (int, float))]
    seconds = f"; {sum(timed):,.1f} s of simulation" if timed else ""  # (a fit's or search's runs are not timed)
    packages = ", ".join(f"{k} {v}" for k, v in manifest.get("packages", {}).items())
    command = manifest.get("command_line")
    return {
        **(extra or {}),
        "Seed": manifest.get("seed"),
        "Replications": f"{len(reps)} (spawn keys {', '.join(str(r.get('spawn_key')) for r in reps)}{seconds})"
                        if reps else MISSING,
        "Buyers simulated": f"{manifest['buyers_simulated']:,}" if manifest.get("buyers_simulated") else MISSING,
        "Packages": packages or MISSING,
        "Git commit": manifest.get("git_commit") or MISSING,
        "Command line": shlex.join(command) if isinstance(command, list) else command or MISSING,
        "Started": _time(manifest.get("started")),
        "Finished": _time(manifest.get("finished")),
        "Report drawn with": ", ".join([f"matplotlib {matplotlib.__version__}", *(
            [f"seaborn {sys.modules['seaborn'].__version__}"] if "seaborn" in sys.modules else []),
            f"jinja2 {jinja2.__version__}"]),
    }


def scenario_header(scenario: dict) -> dict:
    """The question and description of a scenario (its manifest dict) for the page header."""
    return {"question": scenario.get("question", ""), "description": (scenario.get("description") or "").strip()}
