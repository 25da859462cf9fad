"""Entry latency on PostgreSQL: the platform's own time from "ask for entry" to the unlock command.

Open-loop load: DRIVERS simulated drivers ask at a combined RATE per second (scheduled times, so a slow
server cannot slow the load down and hide its own queueing). Devices are simulated in the server process
and answer at once; their time (command to confirmed report) is subtracted anyway. Each driver finishes
shortly after the door opens, so doors relock and cameras stop as in real use.

Run: make bench   (or: THRESHOLD_BENCH_PG_URL=postgresql+asyncpg://... .venv/bin/python bench/entry_latency.py)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from common import fresh_database, machine, percentile
from httpclient import Connection
from threshold.config import Settings
from threshold.db import make_engine
from threshold.devices.ports import DeviceCommand, DeviceKind, DeviceReport, ReportHandler
from threshold.devices.simulated import Behaviour, SimDevice, SimulatedGateway
from threshold.security import issue_token

OUT = Path(__file__).resolve().parent / "out"
SECRET = "bench-secret-" + "b" * 40
console = Console(stderr=True)


class TimedGateway(SimulatedGateway):
    """Simulated devices with no latency that note the wall-clock time of every command and report."""

    def __init__(self) -> None:
        super().__init__(frame_interval=0.5)
        self.timeline: list[tuple[float, str, str]] = []

    def add(self, address: str, kind: DeviceKind, behaviour: Behaviour | None = None) -> SimDevice:
        return super().add(address, kind, Behaviour(latency=0.0))

    async def send(self, command: DeviceCommand) -> None:
        self.timeline.append((time.time(), command.address, command.action))
        await super().send(command)

    async def start(self, on_report: ReportHandler) -> None:
        async def timed(report: DeviceReport) -> None:
            if report.state is not None:
                self.timeline.append((time.time(), report.address, "=" + report.state))
            await on_report(report)

        await super().start(timed)


def serve(url: str, port: int, out: Path) -> None:
    """The platform under test: API, hub and worker loops in one process, as `threshold serve` runs them."""
    import uvicorn

    from threshold.app import create_app

    settings = Settings(mode="production", database_url=url, secret_key=SECRET, dwell_limit=600,
                        camera_timeout=10, alarm_timeout=10, unlock_timeout=10, lock_timeout=10, arm_timeout=10,
                        sweep_interval=0.25, reconcile_interval=300)
    gateway = TimedGateway()
    app = create_app(settings, gateway=gateway, apply_migrations=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           loop="uvloop", http="httptools", backlog=4096,
                                           timeout_keep_alive=120))

    def dump(*_: object) -> None:
        out.write_text(json.dumps({"timeline": gateway.timeline, "hub": dict(app.state.hub.counters)}))
        server.should_exit = True

    signal.signal(signal.SIGUSR1, dump)
    server.run()


async def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    conn = Connection("127.0.0.1", port)
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("server exited")
        try:
            status, _ = await conn.request("GET", "/healthz")
            if status == 200:
                await conn.close()
                return
        except OSError:
            await asyncio.sleep(0.1)
            conn = Connection("127.0.0.1", port)
    raise SystemExit("server did not start")


async def phase(port: int, rate: float, seconds: float, tokens: list[str], stops: dict[int, list[Any]],
                asks: list[dict[str, Any]], progress: Progress, turns: Iterator[int]) -> None:
    """Send asks at `rate` per second for `seconds`, open loop; each driver finishes after the door opens."""
    conns = [Connection("127.0.0.1", port) for _ in tokens]
    total = int(rate * seconds)
    task = progress.add_task(f"{rate:>6.0f}/s", total=total)
    start = time.time() + 0.2
    pending: list[asyncio.Task[None]] = []

    async def one(k: int, when: float) -> None:
        # Drivers take turns across phases, so nobody runs out of stops.
        d = next(turns) % len(tokens)
        stop = stops[d].pop()
        await asyncio.sleep(max(0.0, when - time.time()))
        headers = {"Authorization": f"Bearer {tokens[d]}", "Prefer": "respond-async"}
        status, body = await conns[d].request("POST", "/v1/driver/entries", {
            "delivery_id": stop.delivery_id, "barcode": stop.barcode, "lat": stop.lat, "lon": stop.lon}, headers)
        answered = time.time()
        asks.append({"rate": rate, "sched": when, "answered": answered, "status": status, "lock": stop.lock,
                     "camera": stop.camera, "alarm": stop.alarm})
        progress.advance(task)
        if status < 300:
            session = json.loads(body)["id"]
            await asyncio.sleep(1.0)
            for _ in range(5):
                s, _ = await conns[d].request("POST", f"/v1/driver/entries/{session}/finish", None, headers)
                if s != 409:
                    break
                await asyncio.sleep(0.5)

    for k in range(total):
        pending.append(asyncio.create_task(one(k, start + k / rate)))
    await asyncio.gather(*pending)
    for c in conns:
        await c.close()


def analyse(asks: list[dict[str, Any]], timeline: list[list[Any]]) -> dict[float, dict[str, Any]]:
    """Per rate: platform time (ask scheduled -> unlock command, minus device time) p50/p99, and failures."""
    events: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for t, address, what in timeline:
        events[address].append((t, what))

    def first(address: str | None, what: str, after: float) -> float | None:
        for t, w in events.get(address or "", []):
            if w == what and t >= after:
                return t
        return None

    by_rate: dict[float, list[float]] = defaultdict(list)
    failed: dict[float, int] = defaultdict(int)
    count: dict[float, int] = defaultdict(int)
    for a in asks:
        count[a["rate"]] += 1
        unlock = first(a["lock"], "unlock", a["sched"])
        cam_cmd = first(a["camera"], "start", a["sched"])
        cam_ok = first(a["camera"], "=recording", cam_cmd or a["sched"])
        if a["status"] >= 300 or unlock is None or cam_cmd is None or cam_ok is None:
            failed[a["rate"]] += 1
            continue
        device = cam_ok - cam_cmd
        if a["alarm"]:
            dis = first(a["alarm"], "disarm", a["sched"])
            dis_ok = first(a["alarm"], "=disarmed", dis or a["sched"])
            if dis is None or dis_ok is None:
                failed[a["rate"]] += 1
                continue
            device += dis_ok - dis
        by_rate[a["rate"]].append((unlock - a["sched"] - device) * 1000)
    result = {}
    for rate in sorted(count):
        xs = sorted(by_rate[rate])
        result[rate] = {"asks": count[rate], "unlocked": len(xs), "failed": failed[rate],
                        "p50_ms": percentile(xs, 0.50), "p90_ms": percentile(xs, 0.90), "p99_ms": percentile(xs, 0.99),
                        "max_ms": xs[-1] if xs else float("nan")}
    return result


def plot(result: dict[float, dict[str, Any]], path: Path) -> None:
    """p50 and p99 against offered rate, with the 50 ms line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted(result)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(rates, [result[r]["p50_ms"] for r in rates], "o-", label="p50")
    ax.plot(rates, [result[r]["p99_ms"] for r in rates], "s-", label="p99")
    ax.axhline(50, color="grey", linestyle="--", label="50 ms")
    ax.set_xlabel("offered entries per second (open loop)")
    ax.set_ylabel("platform time to unlock command (ms)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("threshold entry latency on PostgreSQL")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def run(args: argparse.Namespace) -> None:
    """Seed, start the server, drive each phase, collect, analyse, report."""
    from seed import seed

    admin = args.pg or os.environ.get("THRESHOLD_BENCH_PG_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    url = await fresh_database(admin, "threshold_bench")
    server = create_async_engine(url)
    async with server.connect() as conn:
        # Commit latency is fsync latency: say which the figures were taken with.
        ran_on = {**machine(), "postgresql": (await conn.execute(text("SHOW server_version"))).scalar_one(),
                  "fsync": (await conn.execute(text("SHOW fsync"))).scalar_one()}
    await server.dispose()
    # Lighter rates first and the target last, so that no phase inherits another's backlog.
    phases = [(r, args.step_duration) for r in sorted(args.steps) if r != args.rate] + [(args.rate, args.duration)]
    homes = int(sum(r * s for r, s in phases) * 1.02) + args.drivers
    console.print(f"seeding {homes} homes, {args.drivers} drivers")
    db = make_engine(url)
    driver_ids, stop_list = await seed(db, homes, args.drivers)
    await db.dispose()
    stops: dict[int, list[Any]] = defaultdict(list)
    for s in stop_list:
        stops[s.driver_index].append(s)
    now = datetime.now(UTC)
    tokens = [issue_token(SECRET, d, "driver", 7200, now) for d in driver_ids]
    OUT.mkdir(exist_ok=True)
    timeline_file = OUT / "timeline.json"
    timeline_file.unlink(missing_ok=True)
    port = args.port
    cmd = [sys.executable, __file__, "serve", "--db", url, "--port", str(port), "--out", str(timeline_file)]
    proc = subprocess.Popen(cmd)  # noqa: ASYNC220 - started once, before any load
    asks: list[dict[str, Any]] = []
    try:
        await _wait_up(port, proc)
        turns = itertools.count()
        with Progress(console=console) as progress:
            for rate, seconds in phases:
                await phase(port, rate, seconds, tokens, stops, asks, progress, turns)
                await asyncio.sleep(5)
    finally:
        proc.send_signal(signal.SIGUSR1)
        proc.wait(timeout=60)
    data = json.loads(timeline_file.read_text())
    (OUT / "asks.json").write_text(json.dumps(asks))
    result = analyse(asks, data["timeline"])
    report(result, args, data["hub"], ran_on)


def report(result: dict[float, dict[str, Any]], args: argparse.Namespace, hub: dict[str, int],
           ran_on: dict[str, str]) -> None:
    """Print the table, the sustained rate and the command; write JSON and a PNG plot."""
    table = Table(title="entry latency (platform time, ms), PostgreSQL, open loop")
    for col in ("offered/s", "asks", "unlocked", "failed", "p50", "p90", "p99", "max"):
        table.add_column(col, justify="right")
    for rate, r in result.items():
        table.add_row(f"{rate:.0f}", str(r["asks"]), str(r["unlocked"]), str(r["failed"]), f"{r['p50_ms']:.1f}",
                      f"{r['p90_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}")
    Console().print(table)
    ok = [rate for rate, r in result.items() if r["p99_ms"] < 50 and r["failed"] <= 0.01 * r["asks"]]
    sustained = max(ok) if ok else 0
    target = result.get(float(args.rate)) or result.get(args.rate)
    print(f"at {args.rate:.0f}/s: p50 {target['p50_ms']:.1f} ms, p99 {target['p99_ms']:.1f} ms" if target else "")
    print(f"highest offered rate with p99 < 50 ms and <= 1% failed: {sustained:.0f}/s")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in ran_on.items()))
    print("reproduce: make bench   # or: .venv/bin/python bench/entry_latency.py " + " ".join(sys.argv[1:]))
    (OUT / "entry_latency.json").write_text(json.dumps(
        {"result": {str(k): v for k, v in result.items()}, "sustained_per_s": sustained, "hub": hub,
         "args": vars(args), "machine": ran_on}, indent=2, default=str))
    plot(result, OUT / "entry_latency.png")
    print(f"wrote {OUT / 'entry_latency.json'} and {OUT / 'entry_latency.png'}")


def main() -> None:
    """Command line: `serve` (internal) or the benchmark itself."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("--db", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: THRESHOLD_BENCH_PG_URL or local)")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--drivers", type=int, default=200)
    parser.add_argument("--steps", type=lambda v: [float(x) for x in v.split(",")],
                        default=[2.0, 5.0, 10.0, 15.0, 20.0, 30.0])
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args.db, args.port, args.out)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
