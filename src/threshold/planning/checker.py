"""An independent feasibility check of any plan, written from the problem's definition (not from the solver): every
customer exactly once, vehicle capacity, time windows (service starts within [ready, due]; arriving early means
waiting; service may run past due), the depot's horizon (back by the depot's due) and the number of vehicles.
It also computes the plan's distance under the problem's rounding. Pure.

Rounding: "exact" uses double-precision Euclidean distances; "dimacs" truncates each arc to one decimal,
floor(10 d) / 10, and uses that truncated value for the arc's travel time too (the DIMACS 2021 convention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral

from threshold.planning.problem import Problem, Rounding, Site

# Slack for comparing double-precision times: far below any data resolution, far above accumulated float error.
EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Check:
    """What the checker found: violations (readable, empty when feasible), distance, routes used, service starts."""

    violations: tuple[str, ...]
    distance: float
    vehicles: int
    starts: dict[int, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """No violation at all."""
        return not self.violations


def euclid(a: Site, b: Site) -> float:
    """The double-precision Euclidean distance between two sites."""
    return math.hypot(a.x - b.x, a.y - b.y)


def tenths(a: Site, b: Site) -> int:
    """The DIMACS-truncated distance in tenths: floor(10 d)."""
    return math.floor(10 * euclid(a, b))


def arc(a: Site, b: Site, rounding: Rounding) -> float:
    """The distance (and travel time) of one arc under a rounding."""
    return tenths(a, b) / 10 if rounding == "dimacs" else euclid(a, b)


def _label(problem: Problem, index: int) -> str:
    ref = problem.sites[index].ref
    return f"customer {ref}" if ref else f"customer #{index}"


def check(problem: Problem, routes: Sequence[Sequence[int]], *, rounding: Rounding | None = None) -> Check:
    """Check routes (customer indices 1..n in visit order, depot implied at both ends) against the problem."""
    rounding = rounding or problem.rounding
    sites, depot, n = problem.sites, problem.depot, problem.customers
    violations: list[str] = []
    seen: dict[int, int] = {}
    starts: dict[int, float] = {}
    total_tenths, total = 0, 0.0
    used = [r for r in routes if len(r) > 0]
    for number, route in enumerate(used, start=1):
        bad = [c for c in route if not (isinstance(c, Integral) and not isinstance(c, bool) and 1 <= c <= n)]
        if bad:
            violations.append(f"route {number}: unknown customer index {bad[0]!r} (valid: 1..{n})")
            continue
        route = [int(c) for c in route]
        load, time, here = 0, depot.ready, depot
        for c in route:
            if c in seen:
                violations.append(f"{_label(problem, c)} is visited more than once (routes {seen[c]} and {number})")
            seen.setdefault(c, number)
            site = sites[c]
            load += site.demand
            total_tenths += tenths(here, site)
            total += euclid(here, site)
            time = max(time + arc(here, site, rounding), site.ready)
            if time > site.due + EPS:
                violations.append(f"route {number}: {_label(problem, c)} service starts at {time:g}, "
                                  f"after its window closes at {site.due:g}")
            starts.setdefault(c, time)
            time += site.service
            here = site
        total_tenths += tenths(here, depot)
        total += euclid(here, depot)
        back = time + arc(here, depot, rounding)
        if back > depot.due + EPS:
            violations.append(f"route {number}: returns to the depot at {back:g}, after the horizon {depot.due:g}")
        if load > problem.capacity:
            violations.append(f"route {number}: load {load} exceeds the capacity {problem.capacity}")
    missing = [c for c in range(1, n + 1) if c not in seen]
    if missing:
        shown = ", ".join(_label(problem, c).removeprefix("customer ") for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        violations.append(f"{len(missing)} customer(s) not visited: {shown}{more}")
    if len(used) > problem.vehicles:
        violations.append(f"{len(used)} routes but only {problem.vehicles} vehicles")
    distance = total_tenths / 10 if rounding == "dimacs" else total
    return Check(violations=tuple(violations), distance=distance, vehicles=len(used), starts=starts)
