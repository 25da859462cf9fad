"""The day's slack for one station: which windows a new order can still be promised, and at what cost. Pure.

Times are minutes from the shift start; positions are planar coordinates in travel minutes from the station (so a
straight-line distance is a travel time). Every route keeps, per stop, the earliest service start (forward: waiting
allowed) and the latest service start that breaks no later window nor the shift end (backward). Inserting a new
stop between k and k+1 is then feasible exactly when

    A = max(ready, earliest[k] + service[k] + t(k, new)) <= due   and   A + service_new + t(new, k+1) <= latest[k+1]

and the route's load leaves room, so an offer is a handful of vectorised operations over all insertion positions
and all windows at once: it re-solves nothing. Both recursions are max-plus prefix scans, so even rebuilding one
route's arrays after an insert or a removal is vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
INF = float("inf")
# Float noise must not refuse an insertion that lands exactly on a window's end.
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Stop:
    """A committed order: where (travel minutes from the station), how much, how long, and its window."""

    id: str
    x: float
    y: float
    demand: int
    service: float
    ready: float
    due: float


@dataclass(frozen=True, slots=True)
class Window:
    """A window of the day in minutes from the shift start."""

    start: float
    end: float
    kind: str = "attended"


@dataclass(frozen=True, slots=True)
class Offer:
    """One window's answer: feasible or why not, the cheapest detour (minutes), and where it would go."""

    window: Window
    feasible: bool
    reason: str | None  # capacity | shift | window
    cost: float
    route: int = -1
    position: int = -1  # the new stop would be the route's position-th stop (0-based)
    arrival: float = INF


class Route:
    """One vehicle's stops with their slack arrays (index 0 and -1 are the station)."""

    __slots__ = ("earliest", "horizon", "latest", "load", "service", "stops", "travel", "xs", "ys")

    def __init__(self, horizon: float, stops: Iterable[Stop] = ()) -> None:
        self.horizon = horizon
        self.stops: list[Stop] = list(stops)
        self.refresh()

    def refresh(self) -> None:
        """Recompute this route's arrays (earliest and latest by max-plus prefix scans)."""
        s = self.stops
        self.xs = np.array([0.0, *(p.x for p in s), 0.0])
        self.ys = np.array([0.0, *(p.y for p in s), 0.0])
        ready = np.array([0.0, *(p.ready for p in s), 0.0])
        due = np.array([self.horizon, *(p.due for p in s), self.horizon])
        self.service = np.array([0.0, *(p.service for p in s), 0.0])
        self.travel = np.hypot(np.diff(self.xs), np.diff(self.ys))
        # cum[i]: service and travel from the station's departure up to reaching stop i, without waiting.
        cum = np.concatenate(([0.0], np.cumsum(self.service[:-1] + self.travel)))
        self.earliest = cum + np.maximum.accumulate(ready - cum)
        self.latest = cum + np.minimum.accumulate((due - cum)[::-1])[::-1]
        self.load = sum(p.demand for p in s)

    @property
    def feasible(self) -> bool:
        """Every stop can start within its window and the vehicle is back by the shift end."""
        return bool(np.all(self.earliest <= self.latest + EPS))

    def distance(self) -> float:
        """The route's travel minutes."""
        return float(self.travel.sum()) if self.stops else 0.0


class DayState:
    """The committed orders of one station-day arranged in routes, with the flat arrays offers read."""

    def __init__(self, horizon: float, capacity: int, vehicles: int, routes: Sequence[Sequence[Stop]] = ()) -> None:
        self.horizon, self.capacity, self.vehicles = horizon, capacity, vehicles
        self.routes = [Route(horizon, r) for r in routes if r][:vehicles]
        self.routes += [Route(horizon) for _ in range(vehicles - len(self.routes))]
        self.where: dict[str, int] = {p.id: i for i, r in enumerate(self.routes) for p in r.stops}
        self.unplaced: list[Stop] = []
        self._flat: tuple[Array, ...] | None = None

    @classmethod
    def build(cls, horizon: float, capacity: int, vehicles: int, stops: Iterable[Stop],
              routes: Sequence[Sequence[str]] = ()) -> DayState:
        """Arrange committed orders: in a plan's order where one is given, the rest by cheapest insertion."""
        by_id = {p.id: p for p in stops}
        planned = [[by_id.pop(i) for i in r if i in by_id] for r in routes if r]
        for extra in planned[vehicles:]:
            by_id.update((p.id, p) for p in extra)
        state = cls(horizon, capacity, vehicles, planned[:vehicles])
        for r in state.routes:
            # A plan made before a late change may no longer hold: its stops are placed again one by one.
            if not r.feasible:
                for p in r.stops:
                    state.where.pop(p.id, None)
                    by_id[p.id] = p
                r.stops = []
                r.refresh()
        for p in sorted(by_id.values(), key=lambda p: (p.due - p.ready, p.due, p.id)):
            best = state.offer(p.x, p.y, p.demand, p.service, [Window(p.ready, p.due)])[0]
            if best.feasible:
                state.insert(p, best.route, best.position)
            else:
                state.unplaced.append(p)
        return state

    def __len__(self) -> int:
        return len(self.where)

    def insert(self, stop: Stop, route: int, position: int) -> None:
        """Put a stop into one route at a position; only that route's arrays are recomputed."""
        r = self.routes[route]
        r.stops.insert(position, stop)
        r.refresh()
        self.where[stop.id] = route
        self._flat = None

    def remove(self, stop_id: str) -> bool:
        """Take a stop out (a release or an expiry); only its route is recomputed. False if it was not there."""
        route = self.where.pop(stop_id, None)
        if route is None:
            before = len(self.unplaced)
            self.unplaced = [p for p in self.unplaced if p.id != stop_id]
            return len(self.unplaced) < before
        r = self.routes[route]
        r.stops = [p for p in r.stops if p.id != stop_id]
        r.refresh()
        self._flat = None
        return True

    def _arrays(self) -> tuple[Array, ...]:
        """One entry per insertion position over all routes (one empty route stands for every idle vehicle)."""
        if self._flat is None:
            used = [i for i, r in enumerate(self.routes) if r.stops]
            idle = [i for i, r in enumerate(self.routes) if not r.stops][:1]
            parts = [self.routes[i] for i in used + idle]
            owner = np.concatenate([np.full(len(r.travel), i) for i, r in zip(used + idle, parts, strict=True)])
            pos = np.concatenate([np.arange(len(r.travel)) for r in parts])
            self._flat = (
                np.concatenate([r.xs[:-1] for r in parts]), np.concatenate([r.ys[:-1] for r in parts]),
                np.concatenate([r.earliest[:-1] + r.service[:-1] for r in parts]),
                np.concatenate([r.xs[1:] for r in parts]), np.concatenate([r.ys[1:] for r in parts]),
                np.concatenate([r.latest[1:] for r in parts]), np.concatenate([r.travel for r in parts]),
                np.concatenate([np.full(len(r.travel), float(r.load)) for r in parts]),
                owner.astype(np.float64), pos.astype(np.float64),
            )
        return self._flat

    def offer(self, x: float, y: float, demand: int, service: float, windows: Sequence[Window]) -> list[Offer]:
        """For each window: can a new order here be inserted without breaking any promise, and at what cost."""
        fx, fy, depart, nx, ny, latest, travel, load, owner, pos = self._arrays()
        d_from = np.hypot(fx - x, fy - y)
        d_next = np.hypot(nx - x, ny - y)
        detour = d_from + d_next - travel
        room = load + demand <= self.capacity
        ready = np.array([w.start for w in windows])[:, None]
        due = np.array([w.end for w in windows])[:, None]
        arrive = np.maximum(ready, depart + d_from)
        ok = (arrive <= due + EPS) & (arrive + service + d_next <= latest + EPS) & room
        cost = np.where(ok, detour, INF)
        best = np.argmin(cost, axis=1)
        solo = np.hypot(x, y)
        offers = []
        for k, w in enumerate(windows):
            b = int(best[k])
            if ok[k, b]:
                offers.append(Offer(w, True, None, float(detour[b]), int(owner[b]), int(pos[b]),
                                    float(arrive[k, b])))
                continue
            if not room.any():
                reason = "capacity"
            elif max(w.start, solo) > w.end or max(w.start, solo) + service + solo > self.horizon:
                reason = "shift"  # not even a vehicle of its own could serve it in this window
            else:
                reason = "window"
            offers.append(Offer(w, False, reason, INF))
        return offers

    def place(self, stop: Stop) -> Offer:
        """Insert a stop where it is cheapest within its own window; returns the offer (not inserted if refused)."""
        found = self.offer(stop.x, stop.y, stop.demand, stop.service, [Window(stop.ready, stop.due)])[0]
        if found.feasible:
            self.insert(stop, found.route, found.position)
        return found

    def arrivals(self) -> dict[str, float]:
        """The earliest service start per stop."""
        return {p.id: float(r.earliest[i + 1]) for r in self.routes for i, p in enumerate(r.stops)}

    def distance(self) -> float:
        """All routes' travel minutes."""
        return sum(r.distance() for r in self.routes)
