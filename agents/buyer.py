"""Buyer agents: luxury-car households.

A buyer belongs to a segment (e.g. prestige-driven wealthy, affluent value-seekers, aspirational entrants),
owns a car of some brand (leased or owned, of some age), is more or less satisfied with that brand, knows of
some brands, and has social ties. Their state lives in columnar arrays (``sim/population.py``) so that a
month of a million buyers is a few vectorised operations; a ``BuyerAgent`` is a Mesa agent that *views* one
household's slot, for inspection, the browser app and the reference per-agent engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from sim import satisfaction

if TYPE_CHECKING:
    from sim.model import LuxuryMarketModel


class BuyerAgent(mesa.Agent):
    def __init__(self, model: LuxuryMarketModel, slot: int):
        super().__init__(model)
        self.slot = slot
        self.household = int(model.pop.household[slot])

    @property
    def _pop(self):
        return self.model.pop

    @property
    def active(self) -> bool:
        """Still in the luxury segment (the same household still lives in this slot)."""
        return bool(self._pop.active[self.slot]) and int(self._pop.household[self.slot]) == self.household

    @property
    def segment(self) -> str:
        return self.model.config.segment_names[self._pop.segment[self.slot]]

    @property
    def brand(self) -> str | None:
        b = int(self._pop.brand[self.slot])
        return self.model.brand_names[b] if b >= 0 and self.active else None

    @property
    def car_age_months(self) -> int:
        return max(self.model.month, 0) - int(self._pop.purchase_month[self.slot])

    @property
    def leased(self) -> bool:
        return bool(self._pop.leased[self.slot])

    @property
    def replacement_month(self) -> int:
        return int(self._pop.replace_month[self.slot])

    @property
    def satisfaction(self) -> float:
        """Satisfaction with the owned brand now, -1..1."""
        sp = self.model.config.satisfaction
        p = self._pop
        s = satisfaction.current(p.sat[self.slot : self.slot + 1], p.sat_month[self.slot : self.slot + 1],
                                 max(self.model.month, 0), sp.baseline, sp.decay_months)
        return float(s[0])

    @property
    def aware_of(self) -> list[str]:
        bits = int(self._pop.aware[self.slot])
        return [name for i, name in enumerate(self.model.brand_names) if bits >> i & 1]

    @property
    def contacts(self) -> list[int]:
        """Slots of this household's social ties."""
        return [int(c) for c in self.model.network.contacts(self.slot)]

    def __repr__(self) -> str:
        return (f"BuyerAgent(slot={self.slot}, {self.segment}, brand={self.brand}, age={self.car_age_months}m, "
                f"satisfaction={self.satisfaction:+.2f})")
