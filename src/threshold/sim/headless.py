"""`threshold demo --headless`: run N deliveries (with the neighbourhood's usual mishaps) or one scenario."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from threshold.config import Settings
from threshold.devices.simulated import Behaviour
from threshold.sim import evidence, invariants
from threshold.sim.driver import DriverApp, Run, deliver
from threshold.sim.harness import Harness, running
from threshold.sim.outage import broker_outage
from threshold.sim.outcome import Result
from threshold.sim.scenarios import SCENARIOS

# Where a headless run leaves its clips, so the summary's files can be opened afterwards.
CLIPS = Path(".threshold") / "headless-clips"

# Scenarios that take the broker away need one they control, even when another is configured.
OWN_BROKER = frozenset({"broker-outage"})


def broker_for(name: str | None = None) -> str:
    """The configured MQTT broker's URL, or "embedded" to start amqtt here (the demo's default)."""
    configured = Settings().mqtt_url
    return "embedded" if not configured or name in OWN_BROKER else configured


# Roughly how often real neighbourhoods misbehave, exaggerated so a short run shows every outcome.
MISHAPS = (("none", 0.80), ("camera_fails", 0.06), ("lock_jams_once", 0.06), ("lock_jams", 0.03),
           ("wrong_package", 0.05))


async def one_delivery(h: Harness, rng: random.Random, index: int, busy: dict[int, asyncio.Lock],
                       driver: DriverApp | None = None, driver_index: int | None = None) -> Run:
    """Delivery number `index`, with a mishap drawn from MISHAPS; a door it leaves jammed is freed afterwards."""
    home_index = index % len(h.world.homes)
    home = h.world.homes[home_index]
    driver_index = index % len(h.world.drivers) if driver_index is None else driver_index
    mishap = rng.choices([m for m, _ in MISHAPS], [w for _, w in MISHAPS])[0]
    async with busy.setdefault(home_index, asyncio.Lock()):
        h.gateway.devices[home.camera].behaviour = Behaviour(camera_fails=mishap == "camera_fails")
        jams = {"lock_jams_once": 1, "lock_jams": 99}.get(mishap, 0)
        h.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=jams)
        driver = driver or await h.driver(driver_index)
        run = await deliver(h.partner, driver, h.world.drivers[driver_index][0], home, dwell=0.05,
                            barcode_override="PKG-WRONG" if mishap == "wrong_package" else None)
        if run.outcome == "unsecured":
            # Someone at the house frees the lock; the incident stays open for a person to close.
            h.gateway.devices[home.lock].behaviour = Behaviour()
            await h.gateway.set_state(home.lock, "locked")
        return run


async def deliveries(n: int, seed: int = 1, database_url: str | None = None, show: bool = True,
                     video: bool = True, clip_dir: Path = CLIPS) -> dict[str, Any]:
    """Run n deliveries; returns the summary, with `invariants_broken` empty when all held.

    Per delivery it lists its clip file (kept under `clip_dir`) and the notifications sent (channel and
    moment), so a run can be checked from outside.
    """
    clip_dir = clip_dir.resolve()
    rng = random.Random(seed)
    runs: list[Run] = []
    async with running(database_url, homes=8, drivers=4, mqtt=broker_for(), video=video,
                       clip_dir=str(clip_dir)) as h:
        busy: dict[int, asyncio.Lock] = {}
        with Progress(TextColumn("deliveries"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show, transient=True) as bar:
            task = bar.add_task("run", total=n)

            async def one(i: int) -> None:
                runs.append(await one_delivery(h, rng, i, busy))
                bar.advance(task)

            await asyncio.gather(*(one(i) for i in range(n)))
        await asyncio.sleep(0.3)
        async with h.app.state.sessions() as db:
            broken = await invariants.check(db, h.gateway)
        await evidence.settled(h, timeout=60)
        async with h.app.state.sessions() as db:
            per_delivery = await evidence.per_delivery(db, [r.delivery_id for r in runs if r.delivery_id])
    summary: dict[str, Any] = {"deliveries": n}
    for outcome in ("completed", "refused", "aborted", "unsecured", "interrupted", "error"):
        these = [r for r in runs if r.outcome == outcome]
        summary[outcome] = {"count": len(these), "reasons": dict(Counter(r.reason or "-" for r in these))}
    summary["invariants_broken"] = broken
    summary["runs"] = [{"delivery": r.delivery_id, "session": r.session_id, "outcome": r.outcome,
                        "reason": r.reason, **per_delivery.get(r.delivery_id or "", evidence.EMPTY)}
                       for r in runs]
    return summary


async def scenario(name: str, database_url: str | None = None) -> dict[str, Any]:
    """Run one named scenario; `ok` is true only when the safe outcome happened."""
    if name == "crash-mid-session":
        from threshold.sim import crash

        facts = await crash.run(database_url)
        return {"scenario": name, "ok": bool(facts.pop("ok")), "facts": facts, "failures": []}
    play = broker_outage if name == "broker-outage" else SCENARIOS[name]
    async with running(database_url, mqtt=broker_for(name)) as h:
        result: Result = await play(h)
    return {"scenario": name, "ok": result.ok, "facts": result.facts, "failures": result.failures}


def names() -> list[str]:
    """Every scenario name."""
    return [*SCENARIOS, "broker-outage", "crash-mid-session"]
