"""The day's slack state: its arrays match a brute-force recomputation, and offers refuse exactly what breaks."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from threshold.planning.windows import DayState, Route, Stop, Window

H = 600.0


def simulate(stops: list[Stop], horizon: float = H) -> tuple[list[float], bool]:
    """Drive the route stop by stop: service starts, and whether every window and the shift end hold."""
    t, x, y, starts, ok = 0.0, 0.0, 0.0, [], True
    for p in stops:
        t = max(p.ready, t + math.hypot(p.x - x, p.y - y))
        ok &= t <= p.due + 1e-9
        starts.append(t)
        t += p.service
        x, y = p.x, p.y
    return starts, ok and t + math.hypot(x, y) <= horizon + 1e-9


def latest_brute(stops: list[Stop], i: int, horizon: float = H) -> float:
    """The latest start at stop i that keeps every later stop and the return in time (walked backwards)."""
    z = horizon
    nodes = [*stops, Stop("depot", 0, 0, 0, 0, 0, horizon)]
    for j in range(len(stops) - 1, i - 1, -1):
        a, b = nodes[j], nodes[j + 1]
        z = min(a.due, z - math.hypot(b.x - a.x, b.y - a.y) - a.service)
    return z


coord = st.floats(-60, 60, allow_nan=False)
stop_st = st.builds(
    lambda i, x, y, q, s, r, w: Stop(f"s{i}", x, y, q, s, r, min(H, r + w)),
    st.integers(0, 10**6), coord, coord, st.integers(1, 4), st.floats(0, 15), st.floats(0, 500), st.floats(0, 240))


@settings(max_examples=150, deadline=None)
@given(st.lists(stop_st, max_size=8, unique_by=lambda s: s.id))
def test_slack_arrays_match_a_brute_force_walk(stops: list[Stop]) -> None:
    r = Route(H, stops)
    starts, ok = simulate(stops)
    assert r.feasible == ok
    for i in range(len(stops)):
        assert math.isclose(r.earliest[i + 1], starts[i], abs_tol=1e-6)
        assert math.isclose(r.latest[i + 1], latest_brute(stops, i), abs_tol=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(stop_st, min_size=1, max_size=14, unique_by=lambda s: s.id), st.data())
def test_insert_and_remove_keep_the_arrays_equal_to_a_rebuild(stops: list[Stop], data: st.DataObject) -> None:
    state = DayState.build(H, 20, 3, stops)
    placed = [p for r in state.routes for p in r.stops]
    if placed:
        gone = data.draw(st.sampled_from(placed))
        assert state.remove(gone.id)
    for r in state.routes:
        fresh = Route(H, r.stops)
        assert (r.earliest == fresh.earliest).all() and (r.latest == fresh.latest).all()
        assert r.load == sum(p.demand for p in r.stops) and r.feasible
    assert set(state.where) == {p.id for r in state.routes for p in r.stops}


@settings(max_examples=150, deadline=None)
@given(st.lists(stop_st, max_size=12, unique_by=lambda s: s.id), stop_st.map(lambda s: Stop(
    "new", s.x, s.y, s.demand, s.service, s.ready, s.due)), st.integers(4, 14))
def test_an_offer_admits_exactly_the_insertions_that_keep_every_promise(stops: list[Stop], new: Stop,
                                                                      capacity: int) -> None:
    state = DayState.build(H, capacity, 2, stops)
    windows = [Window(new.ready, new.due), Window(0, H, "in_home"), Window(100, 220)]
    offers = state.offer(new.x, new.y, new.demand, new.service, windows)
    for w, got in zip(windows, offers, strict=True):
        probe = Stop("new", new.x, new.y, new.demand, new.service, w.start, w.end)
        best = math.inf
        # Every position of every used route, and one idle vehicle if there is one.
        candidates = [r for r in state.routes if r.stops] + [r for r in state.routes if not r.stops][:1]
        for r in candidates:
            if r.load + new.demand > capacity:
                continue
            for k in range(len(r.stops) + 1):
                trial = [*r.stops[:k], probe, *r.stops[k:]]
                if simulate(trial)[1]:
                    best = min(best, Route(H, trial).distance() - r.distance())
        assert got.feasible == (best < math.inf), (got, best)
        if got.feasible:
            assert math.isclose(got.cost, best, abs_tol=1e-6)
            route = state.routes[got.route]
            trial = [*route.stops[:got.position], probe, *route.stops[got.position:]]
            starts, ok = simulate(trial)
            assert ok and math.isclose(starts[got.position], got.arrival, abs_tol=1e-6)


def test_refusals_name_capacity_shift_and_window() -> None:
    state = DayState.build(H, 6, 1, [Stop("a", 30, 0, 4, 5, 0, 60), Stop("b", -30, 0, 1, 5, 100, 130)])
    # A second order of 2 units exceeds the single vehicle's 6 (5 are taken).
    assert state.offer(10, 0, 2, 5, [Window(0, H)])[0].reason == "capacity"
    # 500 minutes away: not even a vehicle of its own could be back by the shift end.
    assert state.offer(400, 0, 1, 5, [Window(0, H)])[0].reason == "shift"
    # Between a (served at 30..35, due 60) and b (must start by 130): a stop 50 minutes off to the side in
    # 40..60 cannot be followed by b in time.
    off = state.offer(0, 50, 0, 5, [Window(40, 60), Window(200, 400)])
    assert off[0].reason == "window" and not off[0].feasible
    assert off[1].feasible and off[1].position == 2 and off[1].arrival >= 200


def test_a_plan_order_is_kept_and_late_orders_are_inserted() -> None:
    stops = [Stop("a", 10, 0, 1, 5, 0, H), Stop("b", 20, 0, 1, 5, 0, H), Stop("c", 0, 10, 1, 5, 0, H)]
    state = DayState.build(H, 10, 2, stops, routes=[["b", "a"]])
    assert [p.id for p in state.routes[0].stops][:2] == ["b", "a"] or "c" in state.where
    assert set(state.where) == {"a", "b", "c"} and not state.unplaced
    order = [p.id for p in state.routes[state.where["a"]].stops]
    assert order.index("b") < order.index("a")
