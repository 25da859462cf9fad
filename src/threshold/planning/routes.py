"""Plan a VRPTW's routes with PyVRP: fewest vehicles then distance ("hierarchical"), or distance only.

CPU-bound for up to `time_limit` seconds on one core (PyVRP's search is single-threaded): never call it on a
request path; callers run it in a worker thread or process. The returned plan is judged by the independent
checker, not by PyVRP: `feasible` and `distance` come from `checker.check`.

Integer scaling: PyVRP works in integers. Under DIMACS rounding, arcs are truncated to tenths and scaled by 10, so
the solver sees exactly the benchmark's numbers. Under exact rounding, distances are scaled by 10,000 and rounded
(the objective's error is below 1e-4 per arc; the reported distance is the exact one), and travel times are rounded
UP, windows inward, so whatever the solver finds feasible is feasible in double precision too.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pyvrp import Client, Depot, Location, ProblemData, RandomNumberGenerator, Solution, SolveParams, VehicleType
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.IteratedLocalSearch import IteratedLocalSearch
from pyvrp.PenaltyManager import PenaltyManager
from pyvrp.search import LocalSearch, PerturbationManager, compute_neighbours
from pyvrp.stop import FirstFeasible, MaxRuntime, MultipleCriteria, StoppingCriterion

from threshold.planning import checker, fleet
from threshold.planning.problem import Objective, Plan, Problem

Strategy = Literal["fixed-cost", "fleet"]
SCALE = {"dimacs": 10, "exact": 10_000}
# The share of a vehicle-reduction try's time PyVRP gets before the ejection pool tries the same count.
SEARCH_SHARE = 0.6
# The share of the time left after the first feasible plan that vehicle reduction may use (the rest: distance).
REDUCTION_SHARE = 0.8


class _Scaled:
    """The problem in PyVRP's integers: one vehicle type, one depot, duration = travel time."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.scale = s = SCALE[problem.rounding]
        xy = np.array([(site.x, site.y) for site in problem.sites], dtype=np.float64)
        d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        if problem.rounding == "dimacs":
            # Same as checker.tenths: floor(10 d), used for both distance and travel time.
            self.distance = self.duration = np.floor(10 * d).astype(np.int64)
        else:
            self.distance = np.rint(d * s).astype(np.int64)
            self.duration = np.ceil(d * s - 1e-7).astype(np.int64)
        # Windows rounded inward and service rounded up, as PyVRP and the ejection pool both get them.
        self.early = [math.ceil(site.ready * s) for site in problem.sites]
        self.late = [math.floor(site.due * s) for site in problem.sites]
        self.service = [math.ceil(site.service * s) for site in problem.sites]
        # A vehicle must cost more than any distance a plan can save by using it: no plan's distance exceeds
        # (customers + vehicles) times the longest arc.
        self.vehicle_cost = int((problem.customers + problem.vehicles) * int(self.distance.max()) + 1)

    def data(self, vehicles: int, *, vehicle_cost: int) -> ProblemData:
        """PyVRP's ProblemData with this many vehicles, each costing vehicle_cost."""
        p = self.problem
        early, late = self.early[0], self.late[0]
        clients = [Client(location=i, delivery=[site.demand], service_duration=self.service[i],
                          tw_early=self.early[i], tw_late=self.late[i], name=site.ref)
                   for i, site in enumerate(p.sites) if i > 0]
        vehicle_type = VehicleType(num_available=vehicles, capacity=[p.capacity], fixed_cost=vehicle_cost,
                                   tw_early=early, tw_late=late)
        return ProblemData(locations=[Location(x=site.x, y=site.y) for site in p.sites], clients=clients,
                           depots=[Depot(location=0, tw_early=early, tw_late=late)], vehicle_types=[vehicle_type],
                           distance_matrices=[self.distance], duration_matrices=[self.duration])


def _routes(solution: Solution) -> list[list[int]]:
    # PyVRP numbers clients 0..n-1 after the depot; ours are 1..n.
    return [[a.idx + 1 for a in route.schedule() if a.is_client()] for route in solution.routes()]


def _solution(data: ProblemData, routes: Sequence[Sequence[int]]) -> Solution | None:
    kept = [[c - 1 for c in r] for r in routes if r]
    if not kept or len(kept) > data.num_vehicles:
        return None
    try:
        return Solution(data, kept)
    except (ValueError, IndexError, RuntimeError):
        return None


def _run(data: ProblemData, stop: StoppingCriterion, seed: int, start: Solution | None) -> Solution:
    """PyVRP's iterated local search (as `pyvrp.solve` assembles it) from `start`, completed first if need be.

    A start that leaves clients out (a k - 1 try seeded with a route's customers removed, a warm start without a
    new order) is first completed by an exhaustive local search under the largest penalties, as `pyvrp.solve` does
    for its random start. Handed over as it is, it stalls the search: an incomplete solution costs no penalty for
    the clients it misses, so the late-acceptance rule keeps it as the current solution and every iteration
    restarts from it. On the eleven Solomon instances where the plans kept a vehicle too many (10 s each), this
    alone took the count from 125 to 116 (best known 114).
    """
    params = SolveParams()
    rng = RandomNumberGenerator(seed=seed)
    search = LocalSearch(data, rng, compute_neighbours(data, params.neighbourhood),
                         PerturbationManager(params.perturbation))
    for op in params.operators:
        if op.supports(data):
            search.add_operator(op(data))
    penalties = PenaltyManager(params.penalty.midpoint_penalties(data), params.penalty)
    # A k - 1 try that cannot be made feasible drives PyVRP's penalties to their bound, and it warns; that is the
    # expected way for a try to fail, so the warning says nothing here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        init = start if start is not None else Solution.make_random(data, rng)
        if start is None or not start.is_complete():
            init = search(init, penalties.max_cost_evaluator(), exhaustive=True)
        ils = IteratedLocalSearch(data, penalties, search, init, params.ils)
        return ils.run(stop, collect_stats=False, display=False).best


def _better(a: checker.Check, b: checker.Check, objective: Objective) -> bool:
    """Whether a is a better plan than b: feasible first, then (vehicles, distance) or distance."""
    if a.feasible != b.feasible:
        return a.feasible
    if objective == "hierarchical" and a.vehicles != b.vehicles:
        return a.vehicles < b.vehicles
    return a.distance < b.distance - 1e-9


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.perf_counter())


def _fleet(scaled: _Scaled, deadline: float, seed: int, start: list[list[int]] | None,
           budget: float) -> list[list[int]] | None:
    """Vehicle reduction: from a feasible plan with k routes, look for one with k - 1, until a try fails.

    A try gives PyVRP, capped at k - 1 vehicles, the plan minus its smallest route (`_run` completes it first) for
    SEARCH_SHARE of what is left of `budget`. If that finds no feasible plan, an ejection-pool pass
    (`fleet.one_fewer`) tries the same count from the k-route plan for the rest; the try fails only if both do.
    The two fail on different days: on the 11 Solomon instances that kept a vehicle too many (10 s each, idle
    machine, seed 1) PyVRP alone ended with 106 vehicles, the pool alone with 110, one after the other with 105
    (best known 104; measured by hand).
    A try stops at its first feasible plan, so the final distance search keeps the rest of the time.
    """
    if start is None:
        return None
    best = start
    end = min(deadline, time.perf_counter() + budget)
    instance: fleet.Instance | None = None  # built at the first try PyVRP cannot finish
    rng = random.Random(seed)
    while len(best) > 1 and _left(end) > 0.01:
        k = len(best) - 1
        data = scaled.data(k, vehicle_cost=scaled.vehicle_cost)
        found = _run(data, MultipleCriteria([FirstFeasible(), MaxRuntime(_left(end) * SEARCH_SHARE)]), seed,
                     _solution(data, sorted(best, key=len)[1:]))
        if found.is_feasible():
            best = [r for r in _routes(found) if r]
            continue
        instance = instance or _instance(scaled)
        fewer, left = fleet.one_fewer(instance, best, end, rng)
        if left:
            break
        best = fewer
    return best


def _instance(scaled: _Scaled) -> fleet.Instance:
    """The problem as the ejection pool sees it: the same integers PyVRP gets."""
    p = scaled.problem
    return fleet.instance(scaled.duration, scaled.early, scaled.late, scaled.service,
                          [site.demand for site in p.sites], p.capacity)


def plan(problem: Problem, *, time_limit: float, objective: Objective = "hierarchical", seed: int = 1,
         warm: Sequence[Sequence[int]] | None = None, strategy: Strategy = "fleet") -> Plan:
    """Plan routes for the problem within time_limit seconds (one core), optionally warm-started from a plan.

    Hierarchical objective: every route costs more than any distance it could save (`vehicle_cost`), and with
    strategy "fleet" (the default) an explicit vehicle-reduction loop runs first. Measured on 13 Solomon instances
    (R1, R2, RC1, RC2, C1, C2; 2 s each, seed 1): the fixed cost alone ended with 138 vehicles, fixed cost plus the
    loop with 130 (best known 126). PyVRP's local search rarely empties a route on its own, even when a route costs
    a lot: the penalty on time warp makes the intermediate, overloaded k - 1 route plans look worse than the k
    route one. Forcing k - 1 vehicles and letting the penalties adapt finds them; the distance it gives up in the
    final search is small next to a vehicle. (Those counts predate the completed k - 1 starts, see `_run`.)
    Tried on the eleven tight-window instances that kept a vehicle too many, 10 s each, and not kept: retrying a
    failed k - 1 try from another removed route or seed (117 against 116). With the ejection pool as a second
    chance (`_fleet`), the reduction gets REDUCTION_SHARE (80%) of the time instead of half, so that PyVRP's try
    keeps about the time it had alone; the distance search then has less (the mean distance gap on the
    instances at the best-known vehicle count rose from 0.63% to 1.01% at 10 s, full bench, idle machine).
    """
    began = time.perf_counter()
    deadline = began + max(0.0, time_limit)
    scaled = _Scaled(problem)
    cost = scaled.vehicle_cost if objective == "hierarchical" else 0
    data = scaled.data(problem.vehicles, vehicle_cost=cost)
    warm_routes = [list(r) for r in warm or () if r]
    start = _solution(data, warm_routes) if warm_routes else None
    if objective == "hierarchical" and strategy == "fleet":
        # A quick first feasible plan, then vehicle reduction for up to 80% of the time left, then distance.
        first = _run(data, MultipleCriteria([FirstFeasible(), MaxRuntime(_left(deadline) * 0.25)]), seed, start)
        first_routes = [r for r in _routes(first) if r] if first.is_feasible() else None
        reduced = _fleet(scaled, deadline, seed, first_routes, budget=_left(deadline) * REDUCTION_SHARE)
        if reduced is not None:
            # The distance search keeps the vehicles the reduction found (at most k routes) and no cost per
            # vehicle: with that cost, emptying a route pays more than PyVRP's largest penalty on excess load,
            # so on a day where capacity binds the search drifts into plans with fewer, overloaded routes and
            # never returns to a feasible one; more time then gives the same plan.
            data = scaled.data(len(reduced), vehicle_cost=0)
            start = _solution(data, reduced)
        elif first_routes is None:
            start = first if start is None else start
    found = _run(data, MaxRuntime(_left(deadline)), seed, start)
    routes = [r for r in _routes(found) if r]
    result = checker.check(problem, routes)
    if warm_routes:
        # Never hand back a plan worse than the one we were given.
        before = checker.check(problem, warm_routes)
        if _better(before, result, objective):
            routes, result = warm_routes, before
    return Plan(routes=tuple(tuple(r) for r in routes), distance=result.distance, feasible=result.feasible,
                seconds=time.perf_counter() - began, starts=result.starts)


def first_feasible(problem: Problem, *, time_limit: float, seed: int = 1) -> Plan:
    """The first feasible plan the search finds (all vehicles allowed, distance only), or the best try by the limit.

    For a quick plan to show while `plan` improves it, and to measure how soon a day can be planned at all.
    """
    began = time.perf_counter()
    scaled = _Scaled(problem)
    found = _run(scaled.data(problem.vehicles, vehicle_cost=0),
                 MultipleCriteria([FirstFeasible(), MaxRuntime(max(0.0, time_limit))]), seed, None)
    routes = [r for r in _routes(found) if r]
    result = checker.check(problem, routes)
    return Plan(routes=tuple(tuple(r) for r in routes), distance=result.distance, feasible=result.feasible,
                seconds=time.perf_counter() - began, starts=result.starts)
