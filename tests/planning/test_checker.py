"""The independent checker on hand-made instances: one violation of each kind, and the two roundings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from threshold.planning import checker, solomon
from threshold.planning.problem import Problem, Site

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vrptw"


def tiny(**changes: object) -> Problem:
    """Depot at the origin, customers at (3,4) and (6,8): the route 0-1-2-0 is 5 + 5 + 10 = 20 long."""
    sites = (Site(0, 0, ready=0, due=100, ref="0"),
             Site(3, 4, demand=4, ready=0, due=50, service=1, ref="1"),
             Site(6, 8, demand=5, ready=0, due=50, service=1, ref="2"))
    return replace(Problem(name="tiny", sites=sites, vehicles=2, capacity=10), **changes)  # type: ignore[arg-type]


def with_site(problem: Problem, index: int, **changes: object) -> Problem:
    sites = list(problem.sites)
    sites[index] = replace(sites[index], **changes)  # type: ignore[arg-type]
    return replace(problem, sites=tuple(sites))


def test_feasible_plan_distance_and_starts() -> None:
    result = checker.check(tiny(), [[1, 2]])
    assert result.feasible and result.violations == ()
    assert result.distance == pytest.approx(20.0) and result.vehicles == 1
    assert result.starts == {1: 5.0, 2: 11.0}  # travel 5, service 1, travel 5


def test_waiting_for_a_window_is_allowed() -> None:
    result = checker.check(with_site(tiny(), 2, ready=30, due=30), [[1, 2]])
    assert result.feasible and result.starts[2] == 30.0


def test_service_may_run_past_the_due_time() -> None:
    assert checker.check(with_site(tiny(), 2, due=11, service=20), [[1, 2]]).feasible


def test_customer_visited_twice() -> None:
    result = checker.check(tiny(), [[1, 2], [1]])
    assert result.violations == ("customer 1 is visited more than once (routes 1 and 2)",)


def test_customer_missing() -> None:
    assert checker.check(tiny(), [[1]]).violations == ("1 customer(s) not visited: 2",)


def test_unknown_customer_index() -> None:
    result = checker.check(tiny(), [[1, 2], [3]])
    assert result.violations == ("route 2: unknown customer index 3 (valid: 1..2)",)
    assert not checker.check(tiny(), [[0, 1, 2]]).feasible


def test_capacity() -> None:
    assert checker.check(tiny(capacity=8), [[1, 2]]).violations == ("route 1: load 9 exceeds the capacity 8",)
    assert checker.check(tiny(capacity=8), [[1], [2]]).feasible


def test_time_window() -> None:
    result = checker.check(with_site(tiny(), 2, due=10.5), [[1, 2]])
    assert result.violations == ("route 1: customer 2 service starts at 11, after its window closes at 10.5",)
    # The other way round, 2 is served at 10 and 1 at 16, which is fine.
    assert checker.check(with_site(tiny(), 2, due=10.5), [[2, 1]]).feasible


def test_depot_horizon() -> None:
    result = checker.check(with_site(tiny(), 0, due=21), [[1, 2]])
    assert result.violations == ("route 1: returns to the depot at 22, after the horizon 21",)
    assert checker.check(with_site(tiny(), 0, due=22), [[1, 2]]).feasible


def test_too_many_routes() -> None:
    assert checker.check(tiny(vehicles=1), [[1], [2]]).violations == ("2 routes but only 1 vehicles",)
    # Empty routes are not vehicles.
    assert checker.check(tiny(vehicles=1), [[1, 2], [], []]).feasible


def test_dimacs_truncates_distance_and_travel_time() -> None:
    # One customer at (1,1): each arc is sqrt(2) = 1.41421..., 1.4 under DIMACS truncation.
    sites = (Site(0, 0, ready=0, due=100), Site(1, 1, demand=1, ready=0, due=1.405))
    problem = Problem(name="diag", sites=sites, vehicles=1, capacity=1)
    exact = checker.check(problem, [[1]])
    dimacs = checker.check(problem, [[1]], rounding="dimacs")
    assert exact.distance == pytest.approx(2 * 2**0.5)
    assert dimacs.distance == 2.8
    # Arriving at 1.414 misses a window closing at 1.405; the truncated travel time (1.4) makes it.
    assert not exact.feasible and dimacs.feasible
    assert checker.check(replace(problem, rounding="dimacs"), [[1]]).distance == 2.8


def test_dimacs_distance_sums_without_float_drift() -> None:
    p = solomon.read(DATA / "solomon" / "C101.txt", rounding="dimacs")
    result = checker.check(p, [[c] for c in range(1, 101)])
    assert result.distance == round(result.distance, 1)
    assert result.vehicles == 100 and any(v == "100 routes but only 25 vehicles" for v in result.violations)
