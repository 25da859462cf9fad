"""Window offers: latency of the service call with 100-1,000 committed orders and 8 or 16 windows, how often an
offer refuses a window a full re-plan would have admitted, and the HTTP endpoint's latency.

The fleet is one vehicle per 50 orders, which leaves the larger days room to spare; a "tight" case (by default at
1,000 orders) books the same way, then raises the vehicles' capacity so that the shift, not the load, limits a
vehicle (with 150 parcels the fleet stops at the capacity bound, with room in every route's shift), re-plans the day
(hierarchical, --tight-seconds) and keeps only the vehicles that plan uses, in its order, so the day is as full as
the planner can make it.

    .venv/bin/python bench/windows.py                       # the full run (a few minutes)
    .venv/bin/python bench/windows.py --orders 100 --offers 300 --replan-sample 3 --http-requests 200   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_database, machine, numbers, percentile
from threshold.db import make_engine, make_sessionmaker, migrate_sync
from threshold.deliveries.models import ApiKey, Partner
from threshold.planning import service
from threshold.planning.models import RoutePlan, Station, StationDay, WindowBooking
from threshold.planning.problem import Problem, Site
from threshold.planning.windows import DayState, Stop, Window
from threshold.security import new_api_key

OUT = Path(__file__).resolve().parents[1] / "docs" / "bench"  # --out changes it
LAT, LON, RADIUS_KM = 52.52, 13.405, 8.0
# 12-hour shift: 2-hour attended windows + two 6-hour in-home ones = 8; 1-hour + four 3-hour = 16.
LAYOUTS = {8: (120, 360), 16: (60, 180)}
TIGHT_CAPACITY = 1000


def place(rng: random.Random) -> tuple[float, float]:
    """A random point within the station's radius."""
    r, a = 0.98 * RADIUS_KM * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return LAT + r * math.sin(a) / service.KM_PER_DEG_LAT, LON + r * math.cos(a) / (
        service.KM_PER_DEG_LON * math.cos(math.radians(LAT)))


def day_problem(f: service.Frame, stops: list[Stop], vehicles: int, capacity: int) -> Problem:
    """The day's committed stops as a VRPTW from the station (index 0), in the given order (1..n)."""
    sites = [Site(0.0, 0.0, 0, 0.0, f.horizon, 0.0, "station")] + [
        Site(p.x, p.y, p.demand, p.ready, p.due, p.service, p.id) for p in stops]
    return Problem("day", tuple(sites), vehicles, capacity)


def tighten(f: service.Frame, state: DayState, seconds: float) -> tuple[int, list[list[str]]]:
    """Re-plan the booked day (hierarchical, warm) and return the vehicles it needs and its routes (stop ids)."""
    from threshold.planning import routes

    stops = [p for r in state.routes for p in r.stops]
    index = {p.id: i + 1 for i, p in enumerate(stops)}
    warm = [[index[p.id] for p in r.stops] for r in state.routes if r.stops]
    plan = routes.plan(day_problem(f, stops, state.vehicles, state.capacity), time_limit=seconds,
                       objective="hierarchical", warm=warm)
    if not plan.feasible:
        raise SystemExit("the re-plan that sizes the tight fleet is not feasible")
    return plan.vehicles, [[stops[c - 1].id for c in r] for r in plan.routes if r]


async def setup(sessions: async_sessionmaker[AsyncSession], orders: int, windows: int, day: str,
                rng: random.Random, tight_seconds: float = 0.0) -> tuple[Station, str]:
    """A station and a day with `orders` committed orders, each in a window that was feasible when booked.

    With tight_seconds > 0 the fleet is then cut to what a re-plan of that many seconds needs, in its routes.
    """
    attended, in_home = LAYOUTS[windows]
    key, prefix, digest = new_api_key()
    async with sessions() as db:
        partner = Partner(id=uuid.uuid4(), name="bench")
        db.add(partner)
        await db.flush()
        db.add(ApiKey(partner_id=partner.id, prefix=prefix, key_hash=digest))
        # About 50-60 stops a vehicle fit a 12-hour shift at city speeds; the day is kept nearly full.
        station = Station(id=uuid.uuid4(), partner_id=partner.id, name="bench", lat=LAT, lon=LON, timezone="UTC",
                          vehicles=max(2, -(-orders // 50)), capacity=150, shift_start=clock(8), shift_end=clock(20),
                          speed_kmh=30.0, service_minutes=4.0, radius_km=RADIUS_KM, window_minutes=attended,
                          in_home_minutes=in_home)
        db.add(station)
        await db.flush()
        f = service.frame(station, day)
        state = DayState(f.horizon, station.capacity, station.vehicles)
        made = misses = 0
        while made < orders:
            lat, lon = place(rng)
            x, y = f.xy(lat, lon)
            demand = rng.choice((1, 1, 2, 2, 3, 4))
            fits = [o for o in state.offer(x, y, demand, 4.0, f.windows()) if o.feasible]
            if not fits:
                misses += 1
                if misses > 20 * orders:
                    raise SystemExit(f"only {made} of {orders} orders fit {station.vehicles} vehicles")
                continue
            o = rng.choice(fits)
            b = WindowBooking(id=uuid.uuid4(), station_id=station.id, day=day, partner_id=partner.id, lat=lat,
                              lon=lon, demand=demand, service_minutes=4.0, window_start=f.at(o.window.start),
                              window_end=f.at(o.window.end), kind=o.window.kind, status="booked")
            db.add(b)
            state.insert(f.stop(b), o.route, o.position)
            made += 1
        planned = [[p.id for p in r.stops] for r in state.routes if r.stops]
        if tight_seconds > 0:
            station.capacity = state.capacity = TIGHT_CAPACITY
            station.vehicles, planned = await asyncio.to_thread(tighten, f, state, tight_seconds)
        db.add(RoutePlan(station_id=station.id, day=day, version=1, objective="hierarchical", vehicles=0,
                         distance_km=0.0, routes=[[{"booking": b, "sequence": n} for n, b in enumerate(r)]
                                                  for r in planned]))
        db.add(StationDay(station_id=station.id, day=day, version=uuid.uuid4().hex, booked=made, planned=made))
        await db.commit()
    return station, key


async def latency(sessions: async_sessionmaker[AsyncSession], station: Station, day: str, count: int,
                  now: datetime, rng: random.Random) -> tuple[list[float], list[float], list[tuple[Any, ...]]]:
    """Offers through the service (a fresh session each, as a request has) and the pure offer alone."""
    cache = service.DayCache()
    calls, pure, refused = [], [], []
    for k in range(count + 20):
        lat, lon = place(rng)
        order = service.Order(lat, lon, rng.choice((1, 2, 3)), 4.0)
        t0 = time.perf_counter()
        async with sessions() as db:
            offers = await service.offer(db, cache, station.partner_id, station.id, day, order, now)
        t1 = time.perf_counter()
        got = cache[(station.id, day)]
        f = service.frame(station, day)
        x, y = f.xy(lat, lon)
        t2 = time.perf_counter()
        got.state.offer(x, y, order.demand, 4.0, f.windows())
        t3 = time.perf_counter()
        if k >= 20:  # the first calls load the day and warm the caches
            calls.append(t1 - t0)
            pure.append(t3 - t2)
            refused += [(order, o) for o in offers if not o.feasible]
    return calls, pure, refused


def replan_admits(station: Station, day: str, state: DayState, order: service.Order, window: Window,
                  seconds: float) -> bool:
    """Would a full re-plan fit the day plus this order in this window? (PyVRP, short limit, warm-started.)"""
    from threshold.planning import routes

    f = service.frame(station, day)
    stops = [p for r in state.routes for p in r.stops] + state.unplaced
    x, y = f.xy(order.lat, order.lon)
    new = Stop("new", x, y, order.demand, 4.0, window.start, window.end)
    problem = day_problem(f, [*stops, new], station.vehicles, station.capacity)
    index = {p.id: i + 1 for i, p in enumerate(stops)}
    warm = [[index[p.id] for p in r.stops] for r in state.routes if r.stops]
    plan = routes.plan(problem, time_limit=seconds, objective="hierarchical", warm=warm)
    served = sum(len(r) for r in plan.routes)
    return plan.feasible and served == problem.customers


def serve(url: str, port: int) -> None:
    """The API alone (no worker loops), as `threshold serve --no-worker` runs it."""
    import uvicorn

    from threshold.app import create_app
    from threshold.config import Settings

    settings = Settings(mode="test", database_url=url, secret_key="bench-" + "x" * 40, video=False)
    app = create_app(settings, run_worker=False, apply_migrations=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", loop="uvloop", http="httptools")


async def http_latency(url: str, station: Station, key: str, day: str, requests: int, concurrency: int,
                       rng: random.Random) -> list[float]:
    """POST /v1/stations/{id}/windows over loopback, `concurrency` requests in flight at most."""
    port = 18000 + rng.randrange(1000)
    proc = subprocess.Popen([sys.executable, __file__, "serve", "--db", url, "--port", str(port)])  # noqa: ASYNC220
    took: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            gate = asyncio.Semaphore(concurrency)

            async def one(k: int) -> None:
                lat, lon = place(rng)
                async with gate:
                    t0 = time.perf_counter()
                    r = await client.post(f"/v1/stations/{station.id}/windows",
                                          json={"date": day, "lat": lat, "lon": lon, "packages": ["M"]})
                    if k >= 20:
                        took.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text

            for k in range(20):
                await one(k)
            await asyncio.gather(*(one(20 + k) for k in range(requests)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return took


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Offer p50/p99 per committed-order count, one line per window count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for w in sorted({r["windows"] for r in rows}):
        sel = [r for r in rows if r["windows"] == w and r["fleet"] == "spare"]
        for q, style in (("p50", "o-"), ("p99", "s--")):
            ax.plot([r["orders"] for r in sel], [r[q] for r in sel], style, label=f"{w} windows {q}")
        tight = [r for r in rows if r["windows"] == w and r["fleet"] == "tight"]
        if tight:
            ax.plot([r["orders"] for r in tight], [r["p99"] for r in tight], "x", ms=9,
                    label=f"{w} windows p99, tight fleet")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="target p99 1 ms")
    ax.set_xlabel("committed orders in the day")
    ax.set_ylabel("offer latency, service call (ms)")
    ax.set_title("Window offers (in-process, warm)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main(args: argparse.Namespace) -> None:
    """Run every case and print the figures."""
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="threshold-windows-"))
    now = datetime.now(UTC)
    day = (now + timedelta(days=1)).date().isoformat()
    rows: list[dict[str, Any]] = []
    http: dict[str, float] = {}
    tight = set(numbers(args.tight))
    cases = [(o, w, fleet) for o in numbers(args.orders) for fleet in ("spare", "tight")
             for w in numbers(args.windows) if fleet == "spare" or o in tight]
    for orders, windows, fleet in cases:
        name = f"{orders}_{windows}" + ("_tight" if fleet == "tight" else "")
        if args.pg:
            url = await fresh_database(args.pg, f"threshold_bench_windows_{name}")
        else:
            url = f"sqlite+aiosqlite:///{tmp / f'w{name}.db'}"
            await asyncio.to_thread(migrate_sync, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        station, key = await setup(sessions, orders, windows, day, rng,
                                   args.tight_seconds if fleet == "tight" else 0.0)
        calls, pure, refused = await latency(sessions, station, day, args.offers, now, rng)
        state = service.DayCache()
        async with sessions() as db:
            got, _ = await service.day_state(db, state, service.frame(station, day), now)
        row = {"orders": orders, "windows": windows, "fleet": fleet, "vehicles": station.vehicles,
               "p50": percentile(calls, 0.5) * 1e3, "p99": percentile(calls, 0.99) * 1e3,
               "pure_p50": percentile(pure, 0.5) * 1e3, "pure_p99": percentile(pure, 0.99) * 1e3,
               "refused": len(refused) / max(1, args.offers * windows)}
        if args.replan_sample:
            sample = rng.sample(refused, min(args.replan_sample, len(refused)))
            f = service.frame(station, day)
            seconds = args.tight_replan_seconds if fleet == "tight" else args.replan_seconds
            admitted = sum(replan_admits(station, day, got.state, o, Window(f.minute(w.start), f.minute(w.end)),
                                         seconds) for o, w in sample)
            row["admitted_of_sample"] = f"{admitted}/{len(sample)}"
            row["missed"] = row["refused"] * admitted / max(1, len(sample))
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        if args.http_requests and fleet == "spare" and orders == max(numbers(args.orders)) \
                and windows == max(numbers(args.windows)):
            took = await http_latency(url, station, key, day, args.http_requests, args.concurrency, rng)
            http = {"orders": orders, "windows": windows, "p50": percentile(took, 0.5) * 1e3,
                    "p99": percentile(took, 0.99) * 1e3, "requests": len(took), "concurrency": args.concurrency}
            print("http", {k: round(v, 3) if isinstance(v, float) else v for k, v in http.items()}, flush=True)
        await engine.dispose()
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "windows.png")
    print("\norders windows vehicles | service p50 p99 (ms) | pure offer p50 p99 (ms) | refused | missed by offer")
    for r in rows:
        vehicles = f"{r['vehicles']}{' tight' if r['fleet'] == 'tight' else ''}"
        print(f"{r['orders']:>6} {r['windows']:>7} {vehicles:>8} | {r['p50']:.3f} {r['p99']:.3f} | "
              f"{r['pure_p50']:.3f} {r['pure_p99']:.3f} | {r['refused']:.1%} | "
              f"{r.get('missed', float('nan')):.2%} ({r.get('admitted_of_sample', 'not sampled')})")
    if http:
        print(f"HTTP POST /windows ({http['orders']} orders, {http['windows']} windows, {http['requests']} requests,"
              f" {http['concurrency']} in flight): p50 {http['p50']:.2f} ms, p99 {http['p99']:.2f} ms")
    print("machine:", machine())
    print("plot:", args.out / "windows.png")
    print("reproduce:", shlex.join([".venv/bin/python", "bench/windows.py", *sys.argv[1:]]))


def cli() -> None:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("--db", required=True)
    s.add_argument("--port", type=int, required=True)
    p.add_argument("--orders", default="100,200,1000")
    p.add_argument("--windows", default="8,16")
    p.add_argument("--offers", type=int, default=2000, help="offers measured per case")
    p.add_argument("--replan-sample", type=int, default=10,
                   help="refused windows per case checked by a full re-plan (0: skip; needs planning/routes.py)")
    p.add_argument("--replan-seconds", type=float, default=2.0)
    p.add_argument("--tight", default="1000", help="order counts that also get a tight-fleet case ('' = none)")
    p.add_argument("--tight-seconds", type=float, default=10.0,
                   help="the hierarchical re-plan that sizes the tight fleet")
    p.add_argument("--tight-replan-seconds", type=float, default=10.0,
                   help="re-plan limit for the refusals sampled in a tight case (a full day needs more than 2 s)")
    p.add_argument("--http-requests", type=int, default=2000, help="0 skips the HTTP measurement")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pg", default=None, help="a PostgreSQL admin URL: each case gets a fresh database there "
                   "(default: a temporary SQLite file)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT, help="where the PNG goes")
    args = p.parse_args()
    if args.cmd == "serve":
        serve(args.db, args.port)
        return
    os.environ.setdefault("THRESHOLD_MODE", "test")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
