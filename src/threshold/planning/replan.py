"""Routes in the background: re-plan station-days whose bookings changed, and hand each route to a driver."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.access.policy import local_date
from threshold.config import Settings
from threshold.deliveries.models import Carrier, Delivery, Driver
from threshold.planning import routes as solver
from threshold.planning import service
from threshold.planning.models import RoutePlan, Station, StationDay, WindowBooking
from threshold.planning.problem import Plan, Problem, Site
from threshold.planning.windows import Route, Stop

log = structlog.get_logger("threshold.planning")


def problem_of(f: service.Frame, rows: Sequence[WindowBooking]) -> Problem:
    """A station-day's booked orders as a VRPTW in travel minutes from the shift start (index 0: the station)."""
    sites = [Site(0.0, 0.0, 0, 0.0, f.horizon, 0.0, "station")]
    for b in rows:
        x, y = f.xy(b.lat, b.lon)
        sites.append(Site(x, y, b.demand, max(0.0, f.minute(b.window_start)), min(f.horizon, f.minute(b.window_end)),
                          b.service_minutes, str(b.id)))
    return Problem(f"{f.station.id}:{f.day}", tuple(sites), f.station.vehicles, f.station.capacity)


def stored_routes(f: service.Frame, problem: Problem, plan: Plan) -> list[list[dict[str, object]]]:
    """The plan as stored: per route, each stop's booking, sequence and expected arrival (UTC)."""
    out = []
    for r in plan.routes:
        if not r:
            continue
        sites = [problem.sites[i] for i in r]
        # The planner's own start times when it gives them; else the earliest start along the route.
        walk = Route(f.horizon, [Stop(s.ref, s.x, s.y, s.demand, s.service, s.ready, s.due)
                                 for s in sites])
        starts = [plan.starts.get(i, float(walk.earliest[n + 1])) for n, i in enumerate(r)]
        out.append([{"booking": s.ref, "sequence": n, "minute": round(t, 3), "arrival": f.at(t).isoformat()}
                    for n, (s, t) in enumerate(zip(sites, starts, strict=True))])
    return out


_pool: ProcessPoolExecutor | None = None


async def solve_elsewhere(problem: Problem, seconds: float, warm: list[list[int]]) -> Plan:
    """Plan in a process of its own: PyVRP holds the GIL for most of its run, and the worker's loop (device hub,
    safety watch, session deadlines) must not wait for it. One process per worker, started on first use."""
    global _pool
    if _pool is None:
        # Spawned, not forked: a fork of a process with a running event loop and open sockets is not safe.
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    job = functools.partial(solver.plan, problem, time_limit=seconds, objective="hierarchical", warm=warm or None)
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, job)
    except BrokenProcessPool:
        _pool = None  # the next turn starts a fresh one; this day stays unplanned until then
        raise


class Replanner:
    """One worker turn: write off lapsed reservations, then re-plan every station-day whose bookings changed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings,
                 clock: Callable[[], datetime]) -> None:
        self.sessions, self.settings, self.clock = sessions, settings, clock

    async def turn(self) -> int:
        """Sweep, then re-plan the changed days; returns how many days were planned."""
        now = self.clock()
        async with self.sessions() as db, db.begin():
            await service.sweep(db, now)
        async with self.sessions() as db:
            days = [(r.station_id, r.day, r.booked) for r in (await db.execute(
                select(StationDay).where(StationDay.booked > StationDay.planned))).scalars()]
        for station_id, day, booked in days:
            await self.replan(station_id, day, booked)
        return len(days)

    async def replan(self, station_id: uuid.UUID, day: str, booked: int) -> RoutePlan | None:
        """Plan one station-day from its booked orders, warm-started from its latest plan; store a new version."""
        async with self.sessions() as db:
            station = await db.get_one(Station, station_id)
            f = service.frame(station, day)
            rows = list((await db.execute(select(WindowBooking).where(
                WindowBooking.station_id == station_id, WindowBooking.day == day,
                WindowBooking.status == "booked").order_by(WindowBooking.created_at, WindowBooking.id))).scalars())
            latest = await _latest(db, station_id, day)
        problem = problem_of(f, rows)
        index = {s.ref: i for i, s in enumerate(problem.sites)}
        warm = [[index[str(s["booking"])] for s in r if str(s["booking"]) in index] for r in latest.routes] \
            if latest else []
        warm = [r for r in warm if r]
        if problem.customers:
            plan = await solve_elsewhere(problem, self.settings.replan_seconds, warm)
        else:
            plan = Plan((), 0.0, True)
        async with self.sessions() as db, db.begin():
            row = (await db.execute(select(StationDay).where(
                StationDay.station_id == station_id, StationDay.day == day).with_for_update())).scalar_one()
            version = ((await db.execute(select(func.max(RoutePlan.version)).where(
                RoutePlan.station_id == station_id, RoutePlan.day == day))).scalar_one() or 0) + 1
            stored = RoutePlan(station_id=station_id, day=day, version=version,
                               routes=stored_routes(f, problem, plan), distance_km=round(f.km(plan.distance), 3),
                               vehicles=plan.vehicles, objective="hierarchical", feasible=plan.feasible,
                               planned_at=self.clock())
            db.add(stored)
            row.planned = max(row.planned, booked)
            # Every process's day state reloads in the plan's order.
            row.version = uuid.uuid4().hex
        log.info("routes.planned", station=str(station_id), day=day, version=version, orders=problem.customers,
                 vehicles=plan.vehicles, feasible=plan.feasible, seconds=round(plan.seconds, 2))
        return stored


async def _latest(db: AsyncSession, station_id: uuid.UUID, day: str) -> RoutePlan | None:
    return (await db.execute(select(RoutePlan).where(RoutePlan.station_id == station_id, RoutePlan.day == day)
                             .order_by(RoutePlan.version.desc()).limit(1))).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class RouteStop:
    """One stop of a driver's route, in plan order."""

    station_id: uuid.UUID
    sequence: int
    booking_id: uuid.UUID
    delivery_id: uuid.UUID | None
    lat: float
    lon: float
    kind: str
    window_start: datetime
    window_end: datetime
    expected_arrival: datetime


def owners(routes: Sequence[Sequence[uuid.UUID | None]], drivers: Sequence[uuid.UUID]) -> list[uuid.UUID | None]:
    """Who runs each route: the driver most of its deliveries are already assigned to (the partner's assignment,
    which the grants follow, wins), else the next active driver without a route, in a stable order."""
    taken: list[uuid.UUID | None] = []
    for assigned in routes:
        votes = Counter(d for d in assigned if d is not None and d not in taken)
        taken.append(votes.most_common(1)[0][0] if votes else None)
    free = iter(d for d in drivers if d not in taken)
    return [t if t is not None else next(free, None) for t in taken]


async def driver_route(db: AsyncSession, driver_id: uuid.UUID, day: str | None, now: datetime) -> list[RouteStop]:
    """The signed-in driver's stops of the day in plan order, with expected times."""
    driver = await db.get(Driver, driver_id)
    carrier = await db.get(Carrier, driver.carrier_id) if driver else None
    if driver is None or carrier is None or not driver.active:
        return []
    stations = (await db.execute(select(Station).where(
        (Station.carrier_id == carrier.id) | (Station.carrier_id.is_(None) & (Station.partner_id == carrier.partner_id))
    ).order_by(Station.name, Station.id))).scalars()
    found: list[RouteStop] = []
    for st in stations:
        local_day = day or local_date(now, st.timezone)
        plan = await _latest(db, st.id, local_day)
        if plan is None or not plan.routes:
            continue
        crew = Driver.carrier_id == st.carrier_id if st.carrier_id else Driver.carrier_id.in_(
            select(Carrier.id).where(Carrier.partner_id == st.partner_id))
        drivers = list((await db.execute(select(Driver.id).where(crew, Driver.active.is_(True))
                                         .order_by(Driver.name, Driver.id))).scalars())
        ids = {uuid.UUID(str(s["booking"])) for r in plan.routes for s in r}
        bookings = {b.id: b for b in (await db.execute(select(WindowBooking).where(WindowBooking.id.in_(ids))))
                    .scalars()}
        assigned = dict((await db.execute(select(Delivery.id, Delivery.driver_id).where(Delivery.id.in_(
            {b.delivery_id for b in bookings.values() if b.delivery_id})))).tuples().all())
        per_route = [[assigned.get(bookings[uuid.UUID(str(s["booking"]))].delivery_id)  # type: ignore[arg-type]
                      if uuid.UUID(str(s["booking"])) in bookings else None for s in r] for r in plan.routes]
        for r, owner in zip(plan.routes, owners(per_route, drivers), strict=True):
            if owner != driver_id:
                continue
            for s in r:
                b = bookings.get(uuid.UUID(str(s["booking"])))
                if b is None or b.status != "booked":
                    continue
                found.append(RouteStop(st.id, int(s["sequence"]), b.id, b.delivery_id, b.lat, b.lon, b.kind,
                                       b.window_start, b.window_end, datetime.fromisoformat(str(s["arrival"]))))
    return found
