"""The PyVRP planner on small instances built from the Solomon files, judged by the independent checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from threshold.planning import checker, solomon
from threshold.planning.problem import Objective, Problem, Rounding
from threshold.planning.routes import plan

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vrptw" / "solomon"


def small(name: str, rounding: Rounding, customers: int = 25) -> Problem:
    return solomon.prefix(solomon.read(DATA / f"{name}.txt", rounding=rounding), customers)


@pytest.mark.parametrize("name", ["C101", "R101"])
@pytest.mark.parametrize(("objective", "rounding"), [("hierarchical", "exact"), ("distance", "dimacs")])
def test_plans_are_feasible_within_the_limit(name: str, objective: Objective, rounding: Rounding) -> None:
    problem = small(name, rounding)
    result = plan(problem, time_limit=0.6, objective=objective, seed=3)
    verdict = checker.check(problem, result.routes)
    assert verdict.violations == ()
    assert result.feasible and result.distance == pytest.approx(verdict.distance)
    assert sorted(c for r in result.routes for c in r) == list(range(1, 26))
    assert result.seconds < 0.6 + 0.5
    assert set(result.starts) == set(range(1, 26))


def test_hierarchical_prefers_fewer_vehicles_and_distance_objective_fewer_km() -> None:
    # R101's first 25 customers: the distance objective may use more routes, never more distance.
    hier = plan(small("R101", "exact"), time_limit=0.6, objective="hierarchical")
    dist = plan(small("R101", "exact"), time_limit=0.6, objective="distance")
    assert hier.feasible and dist.feasible
    assert hier.vehicles <= dist.vehicles
    assert dist.distance <= hier.distance + 1e-6


def test_c101_reaches_the_best_known_plan() -> None:
    # README anchor: C101 is 10 vehicles / 828.94 (exact), and the same routes give 827.3 under truncation.
    problem = solomon.read(DATA / "C101.txt")
    result = plan(problem, time_limit=1.5, objective="hierarchical", seed=1)
    assert result.feasible and result.vehicles == 10
    assert round(result.distance, 2) == 828.94
    assert checker.check(problem, result.routes, rounding="dimacs").distance == 827.3


def test_warm_start_is_accepted_and_never_worse() -> None:
    problem = small("R101", "dimacs", customers=40)
    first = plan(problem, time_limit=0.2, objective="distance", seed=1)
    again = plan(problem, time_limit=0.3, objective="distance", seed=2, warm=first.routes)
    assert again.feasible and again.distance <= first.distance + 1e-9
    hier = plan(problem, time_limit=0.3, objective="hierarchical", seed=2, warm=first.routes)
    assert hier.feasible and hier.vehicles <= first.vehicles


def test_a_poor_warm_start_is_repaired() -> None:
    # One route through every customer breaks windows and capacity; the planner must still return a feasible plan.
    problem = small("R101", "exact")
    result = plan(problem, time_limit=0.5, objective="hierarchical", warm=[list(range(1, 26))])
    assert result.feasible and checker.check(problem, result.routes).feasible


def test_same_seed_same_plan_for_a_fixed_amount_of_work() -> None:
    problem = small("C101", "dimacs", customers=15)
    a = plan(problem, time_limit=0.3, objective="distance", seed=7)
    b = plan(problem, time_limit=0.3, objective="distance", seed=7)
    assert a.feasible and b.feasible and a.distance == b.distance


def test_a_start_missing_customers_is_completed_before_the_search() -> None:
    # A k - 1 try starts from a plan with one route's customers removed. Handed to the search as it is, the
    # incomplete start stays the current solution (it pays no penalty for the customers it misses) and the try
    # comes back incomplete; completed first, even one iteration returns every customer.
    from pyvrp.stop import MaxIterations

    from threshold.planning.routes import _run, _Scaled, _solution

    problem = small("R101", "exact")
    full = plan(problem, time_limit=0.3, objective="distance", seed=1)
    scaled = _Scaled(problem)
    data = scaled.data(full.vehicles - 1, vehicle_cost=scaled.vehicle_cost)
    start = _solution(data, sorted(full.routes, key=len)[1:])
    assert start is not None and not start.is_complete()
    found = _run(data, MaxIterations(1), 1, start)
    assert found.is_complete() and found.num_clients() == 25
