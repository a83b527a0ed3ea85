"""The luxury tax: an excise on the part of a new car's price above a threshold, paid by its buyer.

The United States taxed the first retail sale (or lease) of a passenger vehicle at 10% of the part of its price
above $30,000 from 1 January 1991 (Omnibus Budget Reconciliation Act of 1990, P.L. 101-508; 26 U.S.C. 4001). The
Omnibus Budget Reconciliation Act of 1993 (P.L. 103-66) repealed the other luxury taxes of 1990 (boats, aircraft,
jewellery, furs) and kept the one on cars with its threshold indexed to inflation; the Small Business Job
Protection Act of 1996 cut the rate by a point a year from 28 August 1996 (9%) until it expired after 2002 (3%
that year, above $40,000) (Talley, CRS Report RS20314, 1999 and 2002; Chicago Tribune 29 Sep 1996 and 19 Jan
1997). Trucks, vans and sport-utility vehicles of more than 6,000 lb gross vehicle weight were not taxed: a line
sets ``luxury_tax_exempt``. The schedule is the scenario's ``market.luxury_tax`` (:class:`sim.scenario.TaxStep`),
its thresholds in the scenario's dollars: the flagship's sources and the schedule are in
``sim/data/luxury_tax_1991_2002.csv``.

A buyer weighs what the car costs them, the tax included (``sim.choice.line_values``): a list price of $50,000
in 1995 cost $51,800 (10% of $18,000 above $32,000). The tax goes to the government, not to the brand: sales
revenue and margins are at the price paid before the tax.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.scenario import TaxStep, year_month_index


def tax_in_force(steps: Sequence[TaxStep], start_year: int, months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tax rate and threshold in force in each of ``months``.

    Args:
        steps: the schedule (``market.luxury_tax``), dated steps in date order; each in force from its date
            until the next (a step of rate 0 ends the tax).
        start_year: the run's first year (``market.start_year``): month 0 is its January.
        months: model months, int array of any shape.

    Returns:
        ``(rate, threshold)``, float64 arrays of the shape of ``months``: the fraction of the price above the
        threshold that is taxed (0 before the first step), and the threshold in the scenario's dollars (+inf
        where no tax is in force).
    """
    months = np.asarray(months)
    rate = np.zeros(months.shape)
    threshold = np.full(months.shape, np.inf)
    for step in steps:  # in date order: a later step overrides from its month on
        came = months >= year_month_index(step.date, start_year)
        rate[came] = step.rate
        threshold[came] = step.threshold if step.rate > 0 else np.inf
    return rate, threshold


def price_with_tax(paid: np.ndarray, rate: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """What a buyer pays for a car whose price is ``paid``: the price plus ``rate`` of its part above
    ``threshold``.

    Args:
        paid: price paid before the tax (list price less discount), any shape, in the scenario's dollars.
        rate: the tax rate (fraction, 0-1), broadcastable to ``paid``; 0 for a line that is not taxed.
        threshold: the price above which the tax falls, same dollars, broadcastable (+inf: none).

    Returns:
        ``paid + rate * max(paid - threshold, 0)``, float64, the broadcast shape: never below ``paid``.
    """
    paid = np.asarray(paid, dtype=np.float64)
    return paid + rate * np.maximum(paid - threshold, 0.0)
