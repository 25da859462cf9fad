"""Outbox dispatch on PostgreSQL: notifications per second with two workers, and commit-to-SMTP latency.

Two real `threshold worker` processes (device hub on the neighbourhood's simulated devices, video off, default
outbox settings) deliver email to a MailCatcher's SMTP server in its own process, reading headers only. Each
event is a "delivery.completed" for a household with one member: one email. The catcher's capacity is measured
alone first, so it is known not to be the bottleneck.

- steady: each of RATES events/s for DURATION s, open loop (scheduled times), one event per transaction. Latency runs
  from the clock read after COMMIT returns to the catcher's receipt of the message (end of DATA).
- saturation: BURST events are committed held back, released by one UPDATE, and the drain is timed.

Run: make bench-outbox   (or: THRESHOLD_BENCH_PG_URL=postgresql+asyncpg://... .venv/bin/python bench/outbox.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiosmtplib
from aiosmtpd.smtp import Envelope
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import fresh_database, machine, percentile
from threshold.db import make_engine, make_sessionmaker, utcnow
from threshold.devices.broker import free_port
from threshold.notify.mailcatcher import MailCatcher
from threshold.notify.models import Notification, OutboxMessage
from threshold.notify.outbox import enqueue
from threshold.sim import neighbourhood

OUT = Path(__file__).resolve().parent / "out"
SECRET = "bench-secret-" + "o" * 40
PRODUCERS = 8
ENTRY = "2 x `threshold worker` (device hub on simulated devices, video off, default outbox settings)"
console = Console(stderr=True)
Sessions = async_sessionmaker[AsyncSession]


class LeanCatcher(MailCatcher):
    """The MailCatcher's SMTP server keeping only what the bench reads: each Message-ID's key and first receipt.

    MailCatcher parses every message in full for its pages (about 4 ms of CPU each here), which would make the
    catcher, not the dispatcher, the bottleneck; this reads the headers alone.
    """

    def __init__(self, port: int) -> None:
        super().__init__(port=port)
        self.first: dict[str, tuple[str | None, float]] = {}

    async def receive(self, envelope: Envelope) -> None:
        """Note the message's key and when it arrived, unless its Message-ID was already seen."""
        now = time.time()
        self.raw_count += 1
        headers = BytesHeaderParser(policy=compat32).parsebytes(envelope.original_content or b"")
        identity = str(headers.get("Message-ID") or f"no-id-{self.raw_count}").strip()
        key = headers.get("X-Threshold-Key")
        self.first.setdefault(identity, (str(key).strip() if key else None, now))


def catch(port: int, out: Path) -> None:
    """The SMTP server under load, alone in its process: SIGUSR1 writes what it received, SIGTERM stops it."""
    import uvloop

    async def main() -> None:
        catcher = LeanCatcher(port)
        await catcher.start()
        loop, stop = asyncio.get_running_loop(), asyncio.Event()

        def dump() -> None:
            mails = [[key, at] for key, at in catcher.first.values()]
            out.with_suffix(".tmp").write_text(json.dumps({"raw": catcher.raw_count, "mails": mails}))
            out.with_suffix(".tmp").replace(out)

        loop.add_signal_handler(signal.SIGUSR1, dump)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await catcher.stop()

    uvloop.run(main())


def cpu(pid: int | str = "self") -> float:
    """CPU seconds (user + system) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, every process of every user."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU used by each named process between start() and stop(), as a share of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.c0: dict[str, float] = {}
        self.m0 = (0.0, 0.0)

    def start(self) -> None:
        """Note the counters now."""
        self.t0, self.c0, self.m0 = time.time(), {k: cpu(p) for k, p in self.pids.items()}, machine_busy()

    def stop(self) -> dict[str, float]:
        """Core shares since start(); `machine` is the share of all cores busy, whoever used them."""
        wall = time.time() - self.t0
        shares = {k: round((cpu(p) - self.c0[k]) / wall, 3) for k, p in self.pids.items()}
        busy, total = machine_busy()
        shares["machine"] = round((busy - self.m0[0]) / max(1e-9, total - self.m0[1]), 3)
        return shares


class Catcher:
    """The catcher process, asked for what it received."""

    def __init__(self, port: int) -> None:
        self.port, self.file = port, OUT / "outbox-catcher.json"
        self.proc = subprocess.Popen([sys.executable, __file__, "catch", "--port", str(port),
                                      "--out", str(self.file)])

    async def wait_up(self) -> None:
        """Return once it accepts connections."""
        for _ in range(300):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise SystemExit("mail catcher did not start")

    async def received(self) -> tuple[int, dict[str, float]]:
        """(raw deliveries, first receipt time per notification key)."""
        self.file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        for _ in range(600):
            if self.file.exists():
                break
            await asyncio.sleep(0.05)
        data = json.loads(self.file.read_text())
        return data["raw"], {k: t for k, t in data["mails"] if k}


async def calibrate(catcher: Catcher, count: int = 1000, concurrency: int = 32) -> dict[str, float]:
    """The catcher alone: messages per second and its CPU per message (the sender shares the cores)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "bench@threshold.local", f"r{i}@bench.example", "calibration"
        m["Message-ID"] = f"<cal-{i}-{uuid.uuid4().hex}@bench>"
        m.set_content("calibration " * 40)
        m.add_alternative(f"<p>{'calibration ' * 40}</p>", subtype="html")
        async with gate:
            await aiosmtplib.send(m, hostname="127.0.0.1", port=catcher.port, timeout=30)

    c0, t0 = cpu(catcher.proc.pid), time.time()
    await asyncio.gather(*(one(i) for i in range(count)))
    wall, used = time.time() - t0, cpu(catcher.proc.pid) - c0
    return {"messages": count, "per_s": round(count / wall, 1), "cpu_ms_per_message": round(1000 * used / count, 3),
            "per_core_second": round(count / max(used, 1e-9), 1)}


def start_workers(url: str, count: int, port: int) -> list[subprocess.Popen[bytes]]:
    """`threshold worker` processes delivering email to the catcher."""
    env = {**os.environ, "THRESHOLD_DATABASE_URL": url, "THRESHOLD_MODE": "production",
           "THRESHOLD_SECRET_KEY": SECRET, "THRESHOLD_VIDEO": "false", "THRESHOLD_SMTP_HOST": "127.0.0.1",
           "THRESHOLD_SMTP_PORT": str(port)}
    return [subprocess.Popen([sys.executable, "-m", "threshold", "worker"], env=env,
                             stdout=subprocess.DEVNULL, stderr=(OUT / f"outbox-worker{i}.log").open("wb"))
            for i in range(count)]


async def add_event(db: AsyncSession, home: uuid.UUID, at: Any) -> str:
    """One "delivery.completed" event in the caller's transaction; returns its id."""
    payload = {"session": None, "home": str(home), "delivery": None, "actor": "driver"}
    msg = enqueue(db, "household", "delivery.completed", home, payload, f"bench:{uuid.uuid4().hex}", at)
    msg.id = uuid.uuid4()
    return str(msg.id)


async def sent_count(sessions: Sessions) -> int:
    """Notifications recorded as sent."""
    async with sessions() as db:
        return int((await db.execute(select(func.count()).select_from(Notification)
                                     .where(Notification.status == "sent"))).scalar_one())


async def drain(sessions: Sessions, target: int, progress: Progress, task: TaskID, timeout: float) -> None:
    """Wait until `target` notifications in all are sent, showing progress."""
    end = time.time() + timeout
    while (done := await sent_count(sessions)) < target:
        progress.update(task, completed=done)
        if time.time() > end:
            raise SystemExit(f"only {done} of {target} notifications sent after {timeout:.0f} s")
        await asyncio.sleep(0.25)
    progress.update(task, completed=done)


async def steady(sessions: Sessions, homes: list[uuid.UUID], rate: float, seconds: float, progress: Progress,
                 commits: dict[str, float]) -> list[float]:
    """Commit events open loop at `rate`/s; returns how late each commit started against its schedule (s)."""
    total = int(rate * seconds)
    task = progress.add_task(f"commit {rate:.0f}/s", total=total)
    start, late = time.time() + 0.5, []

    async def producer(slot: int) -> None:
        for k in range(slot, total, PRODUCERS):
            when = start + k / rate
            await asyncio.sleep(max(0.0, when - time.time()))
            late.append(time.time() - when)
            async with sessions() as db, db.begin():
                event = await add_event(db, homes[k % len(homes)], utcnow())
            commits[event] = time.time()
            progress.advance(task)

    await asyncio.gather(*(producer(i) for i in range(PRODUCERS)))
    return late


async def burst(sessions: Sessions, homes: list[uuid.UUID], count: int, commits: dict[str, float]) -> float:
    """Commit `count` events held back, then release them in one UPDATE; returns the release time."""
    held = utcnow() + timedelta(hours=1)
    ids = []
    for first in range(0, count, 200):
        async with sessions() as db, db.begin():
            ids += [await add_event(db, homes[k % len(homes)], held) for k in range(first, min(count, first + 200))]
    async with sessions() as db, db.begin():
        await db.execute(update(OutboxMessage).where(OutboxMessage.available_at == held).values(available_at=utcnow()))
    released = time.time()
    commits.update(dict.fromkeys(ids, released))
    return released


def latencies(commits: dict[str, float], received: dict[str, float]) -> tuple[list[tuple[float, float]], int]:
    """(commit time, seconds to receipt) per event, and how many events never arrived."""
    by_event = {key.split(":", 1)[0]: t for key, t in received.items()}
    pairs = [(c, by_event[e] - c) for e, c in commits.items() if e in by_event]
    return sorted(pairs), len(commits) - len(pairs)


def summary(pairs: list[tuple[float, float]], lost: int, span_start: float, cpu_share: dict[str, float],
            offered: float | None) -> dict[str, Any]:
    """Rate, latency percentiles and CPU of one phase."""
    ms = [d * 1000 for _, d in pairs]
    last = max(c + d for c, d in pairs)
    return {"notifications": len(pairs), "lost": lost, "offered_per_s": offered,
            "delivered_per_s": round(len(pairs) / (last - span_start), 1), "p50_ms": percentile(ms, 0.5),
            "p99_ms": percentile(ms, 0.99), "max_ms": max(ms), "cpu_cores": cpu_share}


async def run(args: argparse.Namespace) -> None:
    """Seed, start the catcher and the workers, run both phases, report."""
    admin = args.pg or os.environ.get("THRESHOLD_BENCH_PG_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    url = await fresh_database(admin, "threshold_bench_outbox")
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    async with sessions() as db:
        ran_on = {**machine(), "postgresql": (await db.execute(text("SHOW server_version"))).scalar_one(),
                  "fsync": (await db.execute(text("SHOW fsync"))).scalar_one(),
                  "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
        world = await neighbourhood.build(db, homes=args.homes, drivers=1)
        await db.commit()
    homes = [h.id for h in world.homes]
    OUT.mkdir(exist_ok=True)
    catcher = Catcher(free_port())
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await catcher.wait_up()
        console.print("measuring the mail catcher alone")
        cal = await calibrate(catcher)
        workers = start_workers(url, args.workers, catcher.port)
        meter = Meter({**{f"worker{i}": w.pid for i, w in enumerate(workers)}, "catcher": catcher.proc.pid,
                       "bench": os.getpid()})
        with Progress(console=console) as progress:
            await burst(sessions, homes, 20, {})  # warm-up: both workers up, connections open
            await drain(sessions, 20, progress, progress.add_task("warm-up", total=20), 120)
            await asyncio.sleep(2)
            meter.start()
            await asyncio.sleep(3)
            idle = meter.stop()
            phases: dict[str, dict[str, Any]] = {}
            total = 20
            for rate in sorted(args.rates):
                commits: dict[str, float] = {}
                meter.start()
                late = await steady(sessions, homes, rate, args.duration, progress, commits)
                total += len(commits)
                await drain(sessions, total, progress, progress.add_task("delivered", total=total), 600)
                used = meter.stop()
                _, received = await catcher.received()
                pairs, lost = latencies(commits, received)
                phases[f"steady {rate:.0f}/s"] = summary(pairs, lost, min(commits.values()), used, rate)
                phases[f"steady {rate:.0f}/s"]["load_generator_late_p99_ms"] = round(percentile(late, 0.99) * 1e3, 1)
            burst_commits: dict[str, float] = {}
            released = await burst(sessions, homes, args.burst, burst_commits)
            meter.start()
            total += args.burst
            await drain(sessions, total, progress, progress.add_task("saturation", total=total), 900)
            used = meter.stop()
        raw, received = await catcher.received()
        sat_pairs, sat_lost = latencies(burst_commits, received)
        phases["saturation"] = summary(sat_pairs, sat_lost, released, used, None)
    finally:
        for proc in [*workers, catcher.proc]:
            proc.terminate()
        for proc in [*workers, catcher.proc]:
            proc.wait(timeout=30)
        await engine.dispose()
    result = {"entry": ENTRY, "catcher_alone": cal, "worker_idle_cpu_cores": idle, "phases": phases,
              "raw_smtp_repeats": raw - cal["messages"] - len(received), "args": vars(args), "machine": ran_on}
    report(result, pairs, sat_pairs, released)


def report(result: dict[str, Any], pairs: list[tuple[float, float]], sat_pairs: list[tuple[float, float]],
           released: float) -> None:
    """Print the table and the command; write JSON and a PNG plot."""
    table = Table(title="outbox dispatch, PostgreSQL, 2 workers, email to a MailCatcher")
    for col in ("phase", "offered/s", "sent", "lost", "sent/s", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right")
    for name, r in result["phases"].items():
        table.add_row(name, f"{r['offered_per_s']:.0f}" if r["offered_per_s"] else "max", str(r["notifications"]),
                      str(r["lost"]), f"{r['delivered_per_s']:.0f}", f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}",
                      f"{r['max_ms']:.0f}")
    Console().print(table)
    for name, r in result["phases"].items():
        late = f"; load generator p99 late {r['load_generator_late_p99_ms']} ms" if r["offered_per_s"] else ""
        print(f"{name}: CPU in cores " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_cores"].items()) + late)
    cal = result["catcher_alone"]
    print(f"workers: {result['entry']}; idle CPU in cores {result['worker_idle_cpu_cores']}")
    print(f"catcher alone: {cal['per_s']:.0f} msg/s with the sender on the same cores, {cal['cpu_ms_per_message']} ms "
          f"CPU per message (~{cal['per_core_second']:.0f} msg per core-second)")
    print(f"raw SMTP repeats (same Message-ID twice): {result['raw_smtp_repeats']}; target: p99 < 1000 ms at 200/s")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()))
    print("reproduce: make bench-outbox   # or: .venv/bin/python bench/outbox.py " + " ".join(sys.argv[1:]))
    (OUT / "outbox.json").write_text(json.dumps(result, indent=2, default=str))
    plot(pairs, sat_pairs, released, OUT / "outbox.png")
    print(f"wrote {OUT / 'outbox.json'} and {OUT / 'outbox.png'}")


def plot(pairs: list[tuple[float, float]], sat_pairs: list[tuple[float, float]], released: float, path: Path) -> None:
    """Left: latency of each steady-phase notification over time. Right: the saturation drain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    t0 = pairs[0][0]
    ax.scatter([c - t0 for c, _ in pairs], [d * 1000 for _, d in pairs], s=2)
    ax.axhline(1000, color="grey", linestyle="--", label="1 s target")
    ax.set_xlabel("commit time (s into the steady phase)")
    ax.set_ylabel("commit to SMTP accepted (ms)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("steady load (the highest rate)")
    done = sorted(c + d - released for c, d in sat_pairs)
    bx.plot(done, range(1, len(done) + 1))
    bx.set_xlabel("seconds since release")
    bx.set_ylabel("notifications sent")
    bx.set_title("saturation drain")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    """Command line: `catch` (internal) or the benchmark itself."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    c = sub.add_parser("catch")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: THRESHOLD_BENCH_PG_URL or local)")
    parser.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")], default=[30.0, 200.0],
                        help="steady phases, events (= notifications) per second, lightest first")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--homes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.cmd == "catch":
        catch(args.port, args.out)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
