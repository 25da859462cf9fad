"""Window offers: latency of the service call with 100-1,000 committed orders and 8 or 16 windows, how often an
offer refuses a window a full re-plan would have admitted, and the HTTP endpoint's latency.

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

OUT = Path(__file__).resolve().parents[1] / "docs" / "bench"
LAT, LON, RADIUS_KM = 52.52, 13.405, 8.0
# 12-hour shift: 2-hour attended windows + two 6-hour in-home ones = 8; 1-hour + four 3-hour = 16.
LAYOUTS = {8: (120, 360), 16: (60, 180)}


def place(rng: random.Random) -> tuple[float, float]:
    """A random point within the station's radius."""
    r, a = 0.98 * RADIUS_KM * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return LAT + r * math.sin(a) / service.KM_PER_DEG_LAT, LON + r * math.cos(a) / (
        service.KM_PER_DEG_LON * math.cos(math.radians(LAT)))


async def setup(sessions: async_sessionmaker[AsyncSession], orders: int, windows: int, day: str,
                rng: random.Random) -> tuple[Station, str]:
    """A station and a day with `orders` committed orders, each in a window that was feasible when booked."""
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
        db.add(RoutePlan(station_id=station.id, day=day, version=1, objective="hierarchical", vehicles=0,
                         distance_km=0.0, routes=[[{"booking": p.id, "sequence": n} for n, p in enumerate(r.stops)]
                                                  for r in state.routes if r.stops]))
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
    sites = [Site(0.0, 0.0, 0, 0.0, f.horizon, 0.0, "station")] + [
        Site(p.x, p.y, p.demand, p.ready, p.due, p.service, p.id) for p in [*stops, new]]
    problem = Problem("probe", tuple(sites), station.vehicles, station.capacity)
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
        sel = [r for r in rows if r["windows"] == w]
        for q, style in (("p50", "o-"), ("p99", "s--")):
            ax.plot([r["orders"] for r in sel], [r[q] for r in sel], style, label=f"{w} windows {q}")
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
    for orders in numbers(args.orders):
        for windows in numbers(args.windows):
            if args.pg:
                url = await fresh_database(args.pg, f"threshold_bench_windows_{orders}_{windows}")
            else:
                url = f"sqlite+aiosqlite:///{tmp / f'w{orders}-{windows}.db'}"
                await asyncio.to_thread(migrate_sync, url)
            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            station, key = await setup(sessions, orders, windows, day, rng)
            calls, pure, refused = await latency(sessions, station, day, args.offers, now, rng)
            state = service.DayCache()
            async with sessions() as db:
                got, _ = await service.day_state(db, state, service.frame(station, day), now)
            row = {"orders": orders, "windows": windows, "vehicles": station.vehicles,
                   "p50": percentile(calls, 0.5) * 1e3, "p99": percentile(calls, 0.99) * 1e3,
                   "pure_p50": percentile(pure, 0.5) * 1e3, "pure_p99": percentile(pure, 0.99) * 1e3,
                   "refused": len(refused) / max(1, args.offers * windows)}
            if args.replan_sample:
                sample = rng.sample(refused, min(args.replan_sample, len(refused)))
                f = service.frame(station, day)
                admitted = sum(replan_admits(station, day, got.state, o, Window(f.minute(w.start), f.minute(w.end)),
                                             args.replan_seconds) for o, w in sample)
                row["admitted_of_sample"] = f"{admitted}/{len(sample)}"
                row["missed"] = row["refused"] * admitted / max(1, len(sample))
            rows.append(row)
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
            if args.http_requests and orders == max(numbers(args.orders)) and windows == max(numbers(args.windows)):
                took = await http_latency(url, station, key, day, args.http_requests, args.concurrency, rng)
                http = {"orders": orders, "windows": windows, "p50": percentile(took, 0.5) * 1e3,
                        "p99": percentile(took, 0.99) * 1e3, "requests": len(took), "concurrency": args.concurrency}
                print("http", {k: round(v, 3) if isinstance(v, float) else v for k, v in http.items()}, flush=True)
            await engine.dispose()
    OUT.mkdir(parents=True, exist_ok=True)
    plot(rows, OUT / "windows.png")
    print("\norders windows vehicles | service p50 p99 (ms) | pure offer p50 p99 (ms) | refused | missed by offer")
    for r in rows:
        print(f"{r['orders']:>6} {r['windows']:>7} {r['vehicles']:>8} | {r['p50']:.3f} {r['p99']:.3f} | "
              f"{r['pure_p50']:.3f} {r['pure_p99']:.3f} | {r['refused']:.1%} | "
              f"{r.get('missed', float('nan')):.2%} ({r.get('admitted_of_sample', 'not sampled')})")
    if http:
        print(f"HTTP POST /windows ({http['orders']} orders, {http['windows']} windows, {http['requests']} requests,"
              f" {http['concurrency']} in flight): p50 {http['p50']:.2f} ms, p99 {http['p99']:.2f} ms")
    print("machine:", machine())
    print("plot:", OUT / "windows.png")
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
    p.add_argument("--http-requests", type=int, default=2000, help="0 skips the HTTP measurement")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pg", default=None, help="a PostgreSQL admin URL: each case gets a fresh database there "
                   "(default: a temporary SQLite file)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.cmd == "serve":
        serve(args.db, args.port)
        return
    os.environ.setdefault("THRESHOLD_MODE", "test")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
