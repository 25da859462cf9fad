"""The shape of a routing problem and of a plan, shared by the solver, the checker, the windows service and the
Solomon reader. Pure: no I/O.

Times and distances are in the same unit (minutes for a station's day, Solomon's units for benchmarks); travel
time equals travel distance unless a matrix says otherwise. Index 0 is the depot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Objective = Literal["hierarchical", "distance"]
# How distances are rounded: none (double precision) or DIMACS (truncated to one decimal).
Rounding = Literal["exact", "dimacs"]


@dataclass(frozen=True, slots=True)
class Site:
    """The depot (index 0) or a customer: where, how much, when service may start, how long it takes."""

    x: float
    y: float
    demand: int = 0
    ready: float = 0.0
    due: float = 0.0
    service: float = 0.0
    ref: str = ""  # the caller's id for it (an order id, a Solomon customer number)


@dataclass(frozen=True, slots=True)
class Problem:
    """A VRPTW: identical vehicles (count, capacity), a depot whose window is the horizon, customers."""

    name: str
    sites: tuple[Site, ...]
    vehicles: int
    capacity: int
    rounding: Rounding = "exact"

    @property
    def depot(self) -> Site:
        """The depot (index 0)."""
        return self.sites[0]

    @property
    def customers(self) -> int:
        """How many customers (sites other than the depot)."""
        return len(self.sites) - 1


@dataclass(frozen=True, slots=True)
class Plan:
    """Routes as lists of customer indices (1..n) in visit order, each from and back to the depot."""

    routes: tuple[tuple[int, ...], ...]
    distance: float
    feasible: bool
    seconds: float = 0.0
    # Expected start of service per customer index, when the planner computed it.
    starts: dict[int, float] = field(default_factory=dict)

    @property
    def vehicles(self) -> int:
        """Routes that visit at least one customer."""
        return sum(1 for r in self.routes if r)
