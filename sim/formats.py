"""How numbers are written, in the terminal, in reports and in the app: one function per kind of number.

Every function returns "—" for a missing value (NaN or None), writes negative numbers with a true minus
sign (U+2212) and groups thousands with commas. Money in the model's tables is in dollars; the ``money``
writer picks $, $k, $M or $B so that a figure reads at a glance.
"""

from __future__ import annotations

import math

MINUS = "\u2212"
MISSING = "—"


def missing(x: object) -> bool:
    """True for None and NaN (what every writer shows as "—")."""
    return x is None or (isinstance(x, float) and math.isnan(x)) or (hasattr(x, "dtype") and x != x)


def number(x: float, digits: int = 0, plus: bool = False) -> str:
    """``1,234.5``; ``−12``; with ``plus``, ``+3.0`` (a zero has no sign)."""
    if missing(x):
        return MISSING
    text = f"{abs(float(x)):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return text
    return (MINUS if x < 0 else "+" if plus else "") + text


def money(dollars: float, digits: int = 1, plus: bool = False) -> str:
    """Dollars with a scale: ``$950``, ``$12.3k``, ``$1,234.5M``, ``$2.1B``, ``−$734.0M``; ``plus`` signs gains."""
    if missing(dollars):
        return MISSING
    size = abs(float(dollars))
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= scale:
            body = f"{size / scale:,.{digits}f}{suffix}"
            break
    else:
        body = f"{size:,.0f}"
    if float(body.rstrip("BMk").replace(",", "")) == 0:
        return f"${body}"
    return (MINUS if dollars < 0 else "+" if plus else "") + "$" + body


def compact_money(dollars: float) -> str:
    """Dollars in at most three significant figures, for chart axes and short texts: ``$1.2B``, ``−$734M``,
    ``$25k``, ``$2.5M``, ``$0`` (the scales of :func:`money`, no trailing zeros)."""
    if missing(dollars):
        return MISSING
    size = abs(float(dollars))
    scale, suffix = next(((s, u) for s, u in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if size >= s), (1.0, ""))
    body = f"{size / scale:.3g}"
    if "e" in body:  # 999.7M rounds to 1e+03M
        body = f"{size / scale:,.0f}"
    if float(body.replace(",", "")) == 0:
        return "$0"
    return (MINUS if dollars < 0 else "") + "$" + body + suffix


def millions(x: float, digits: int = 1, plus: bool = False) -> str:
    """A number of millions of dollars: ``$1,234.5M``, ``−$12.0M``."""
    if missing(x):
        return MISSING
    return money(float(x) * 1e6, digits, plus) if abs(x) >= 1e-3 else f"${0:.{digits}f}M"


def percent(fraction: float, digits: int = 1) -> str:
    """A fraction as a percentage: 0.123 -> ``12.3%``."""
    return MISSING if missing(fraction) else number(100 * float(fraction), digits) + "%"


def points(fraction_difference: float, digits: int = 1) -> str:
    """A difference of fractions in percentage points, signed: 0.021 -> ``+2.1 pp``."""
    return MISSING if missing(fraction_difference) else number(100 * float(fraction_difference), digits, True) + " pp"


def interval(low: float, high: float, write=number, **kwargs) -> str:
    """``[low, high]`` with each end written by ``write``; "" when either end is missing (one replication)."""
    if missing(low) or missing(high):
        return ""
    return f"[{write(low, **kwargs)}, {write(high, **kwargs)}]"


def signed(x: float, digits: int = 1) -> str:
    """A signed number: ``+2.0``, ``−0.3``, ``0.0`` (a zero has no sign)."""
    return number(x, digits, plus=True)


def difference(mean: float, low: float, high: float, unit: str = "pp", digits: int = 1) -> str:
    """A difference with its interval, already scaled: ``−14.5 pp [−15.8, −13.2]`` (unit "pp"),
    ``−$123.4M [−150.2, −96.1]`` (unit "$M": always in millions), ``+1.5 pp`` without an interval (one
    replication), "—" without a mean."""
    if missing(mean):
        return MISSING
    if unit == "$M":
        text = signed(mean, digits)
        text = (text[0] + "$" + text[1:] if text[0] in "+" + MINUS else "$" + text) + "M"
    else:
        text = f"{signed(mean, digits)} {unit}".rstrip()
    ends = interval(low, high, signed, digits=digits)
    return f"{text} {ends}" if ends else text


def adaptive(x: float) -> str:
    """A parameter or target value at a precision that suits its size: ``12,345``, ``123.4``, ``0.123``."""
    if missing(x) or (isinstance(x, float) and math.isinf(x)):
        return MISSING
    size = abs(float(x))
    return number(x, 0 if size >= 1e4 else 1 if size >= 10 else 3)


# brand_year() columns in dollars (1989 USD): the ledger's money (sim.metrics.MONEY) and what is derived from it
DOLLAR_COLUMNS = frozenset({"service_revenue", "service_cost", "service_margin", "new_car_margin", "sales_revenue",
                            "profit", "clv", "mean_price"})
FRACTION_COLUMNS = frozenset({"sales_share", "fleet_share", "lease_share", "repurchase_loyalty", "churn_rate"})


def for_metric(metric: str, per: str | None = None):
    """How a value of a ``brand_year()`` column is written: dollars as :func:`money` (``$3.48B``), a fraction as
    :func:`percent`, anything else (or a ratio of two columns other than dollars per unit) as :func:`adaptive`."""
    if metric in DOLLAR_COLUMNS:
        return lambda x: money(x, 2)
    if metric in FRACTION_COLUMNS and per is None:
        return percent
    return adaptive
