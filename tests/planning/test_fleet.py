"""The ejection-pool route minimiser, judged by the independent checker on Solomon instances and hand-made days."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

from threshold.planning import checker, fleet, solomon
from threshold.planning.problem import Problem, Site
from threshold.planning.routes import _instance, _Scaled

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vrptw" / "solomon"


def _every_customer_once(routes: list[list[int]], n: int) -> bool:
    return sorted(c for r in routes for c in r) == list(range(1, n + 1))


def test_one_route_per_customer_shrinks_to_a_feasible_plan_near_the_capacity_bound() -> None:
    problem = solomon.prefix(solomon.read(DATA / "C201.txt"), 40)  # wide windows: capacity is what binds
    inst = _instance(_Scaled(problem))
    start = [[c] for c in range(1, 41)]
    routes = fleet.minimise(inst, start, time.perf_counter() + 3, seed=1)
    assert _every_customer_once(routes, 40)
    assert checker.check(problem, routes).feasible
    assert len(routes) <= fleet.lower_bound(inst) + 1 < len(start)


def test_a_pass_cut_short_leaves_only_feasible_routes_and_names_what_is_left() -> None:
    # R101's tight windows, 50 ms a pass: whether or not the pool empties, no customer is lost or doubled.
    problem = replace(solomon.prefix(solomon.read(DATA / "R101.txt"), 50), vehicles=50)
    inst = _instance(_Scaled(problem))
    start = [[c] for c in range(1, 51)]
    for seed in range(3):
        routes, left = fleet.one_fewer(inst, start, time.perf_counter() + 0.05, random.Random(seed))
        assert len(routes) == len(start) - 1
        assert checker.check(problem, [r for r in routes if r]).feasible
        assert sorted([*left, *(c for r in routes for c in r)]) == list(range(1, 51))


def test_a_deadline_already_past_or_a_single_route_returns_at_once() -> None:
    problem = solomon.prefix(solomon.read(DATA / "R101.txt"), 20)
    inst = _instance(_Scaled(problem))
    start = [[c] for c in range(1, 21)]
    assert fleet.minimise(inst, start, time.perf_counter() - 1) == start
    # One route has nowhere to go: the pass says so at once instead of trying until the deadline.
    began = time.perf_counter()
    routes, left = fleet.one_fewer(inst, [[1, 2, 3]], began + 30, random.Random(1))
    assert routes == [] and sorted(left) == [1, 2, 3] and time.perf_counter() - began < 1


def test_a_customer_that_fits_nowhere_goes_in_by_ejecting_a_less_troublesome_one() -> None:
    # Two routes, one slot each at time 10-12 near x=10: the deleted route's customer wants that slot, so it can
    # only go in by ejecting the customer there, who then fits a later window on the other route.
    depot = Site(0, 0, due=100)
    sites = (depot,
             Site(10, 0, demand=1, ready=10, due=12, service=1, ref="a"),     # 1: the contested slot
             Site(10, 1, demand=1, ready=10, due=40, service=1, ref="b"),     # 2: flexible, sits in the slot first
             Site(-10, 0, demand=1, ready=10, due=12, service=1, ref="c"),    # 3: the other route's own slot
             )
    problem = Problem("eject", sites, vehicles=3, capacity=10)
    inst = _instance(_Scaled(problem))
    routes = fleet.minimise(inst, [[2], [3], [1]], time.perf_counter() + 2, seed=0)
    assert checker.check(problem, routes).feasible and _every_customer_once(routes, 3)
    assert len(routes) == 2
