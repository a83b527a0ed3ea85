"""Supply: how many new cars a brand can deliver in a month.

A brand with a ``dealer_capacity`` (new cars a dealer delivers a year: the maker's allocation to its dealers and
their showrooms' throughput) has a monthly allocation of dealers × dealer_capacity / 12 cars. Once a month's
allocation is sold, the brand is out of stock for the shoppers who come later that month: they choose again among
the rest (``sim.rules.choose_in_stock``; demand under incomplete product availability: Conlon & Mortimer 2013). A
brand without one (``None``, the default) has no limit.

Why: Lexus's US dealers sold 505 to 564 cars each a year in 1990-1993 while the network grew from 121 to 168
(``sim/data/luxury_market_context.csv``, ``us_luxury_sales_1984_1993.csv``): sales grew with the network, not
beyond it, as an allocation from Japan would have it.
"""

from __future__ import annotations

import numpy as np


def monthly_allocation(dealers: np.ndarray, dealer_capacity: np.ndarray, scale: float) -> np.ndarray:
    """Each brand's cars for the month, in simulated buyers.

    Args:
        dealers: each brand's US dealerships, shape (n_brands,).
        dealer_capacity: each brand's cars per dealer per year, shape (n_brands,); ``inf`` = no limit.
        scale: real households per simulated buyer (``LuxuryMarketModel.scale``), > 0.

    Returns:
        Shape (n_brands,), float64: dealers × dealer_capacity / 12 / scale (``inf`` where there is no limit).
    """
    return np.asarray(dealers, np.float64) * np.asarray(dealer_capacity, np.float64) / 12.0 / scale
