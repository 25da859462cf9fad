"""The `threshold` command: serve, worker, demo, seed, migrate, audit, devices, operators, drivers, partners, plan,
stations, forecast."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

import threshold.models  # noqa: F401 - every table, so foreign-key columns know their types
from threshold.config import get_settings
from threshold.devices.commands import devices_app
from threshold.forecast.commands import forecast_app
from threshold.ops.commands import operators_app
from threshold.ops.people_cli import drivers_app, partners_app
from threshold.planning.commands import plan_app
from threshold.planning.stations_cli import stations_app

# Tracebacks never print local variables: they may hold tokens, codes or passwords.
app = typer.Typer(help="threshold: secure in-home and last-mile delivery.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
audit_app = typer.Typer(help="Verify the audit chains and export evidence.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(devices_app, name="devices")
app.add_typer(forecast_app, name="forecast")
app.add_typer(operators_app, name="operators")
app.add_typer(drivers_app, name="drivers")
app.add_typer(partners_app, name="partners")
app.add_typer(plan_app, name="plan")
app.add_typer(stations_app, name="stations")
console = Console(stderr=True)


def _check_secret() -> None:
    # Only `threshold demo` may sign with the published secret; serve and worker refuse it in every mode.
    problem = get_settings().secret_problem()
    if problem:
        console.print(f"[red]Refusing to start: {problem}.[/red]\n"
                      "Set a long random secret of your own, for example:\n"
                      "  export THRESHOLD_SECRET_KEY=\"$(python3 -c "
                      "'import secrets; print(secrets.token_urlsafe(48))')\"\n"
                      "(every process of one deployment needs the same value; `threshold demo` needs none).")
        raise typer.Exit(2)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          worker: Annotated[bool, typer.Option(help="Also run the device hub and loops here")] = True) -> None:
    """Serve the HTTP API (and, unless --no-worker, the worker loops in the same process)."""
    import uvicorn

    from threshold.app import create_app

    _check_secret()
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from loopback peers; threshold reads
    # it only from the proxies the operator trusts (THRESHOLD_TRUSTED_PROXIES).
    uvicorn.run(create_app(run_worker=worker), host=host, port=port, log_level="warning", proxy_headers=False)


@app.command("worker")
def run_worker() -> None:
    """Run the worker alone: device hub, deadlines, reconciler, outbox."""
    from threshold.app import create_app

    _check_secret()
    application = create_app(run_worker=True)

    async def main() -> None:
        async with application.router.lifespan_context(application):
            await asyncio.Event().wait()

    asyncio.run(main())


@app.command()
def migrate() -> None:
    """Apply database migrations up to head."""
    from threshold.db import migrate_sync

    migrate_sync(get_settings().database_url)
    console.print("migrated")


@app.command()
def seed(homes: int = 12, drivers: int = 4, out: Path | None = None) -> None:
    """Create a simulated neighbourhood and print (or write) its demo credentials as JSON."""
    from threshold.db import make_engine, make_sessionmaker, migrate_sync
    from threshold.sim import neighbourhood

    settings = get_settings()
    migrate_sync(settings.database_url)

    async def main() -> neighbourhood.World:
        engine = make_engine(settings.database_url)
        async with make_sessionmaker(engine)() as db:
            world = await neighbourhood.build(db, homes=homes, drivers=drivers)
            await db.commit()
        await engine.dispose()
        return world

    world = asyncio.run(main())
    text = json.dumps(asdict(world), default=str, indent=2)
    if out:
        out.write_text(text)
    else:
        print(text)


@app.command()
def demo(
    headless: Annotated[bool, typer.Option(help="No live view; print a JSON summary and exit")] = False,
    deliveries: Annotated[int, typer.Option(help="With --headless: how many deliveries to run")] = 20,
    scenario: Annotated[str | None, typer.Option(help="With --headless: run one named scenario "
                                                  "(happy, camera-fails, lock-jam, replayed-grant, "
                                                  "wrong-package, outside-window, expired-grant, wrong-driver, "
                                                  "blackout-day, opted-out, revoked-grant, camera-freeze, "
                                                  "alarm-rearm-fails, wrong-camera, door-reopened, driver-lingers, "
                                                  "lock-offline, garage-left-open, broker-outage, "
                                                  "crash-mid-session)")] = None,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed for the mishaps")] = 1,
    minutes: Annotated[float | None, typer.Option(help="With --headless: a soak, delivering for this many minutes "
                                                       "of wall time, then checking for broken invariants, expired "
                                                       "tokens, false alarms and missing all-clears")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --minutes: the summary as JSON, not a table")] = False,
    port: int = 8000,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the demo in the browser")] = True,
) -> None:
    """Run the neighbourhood: API on 127.0.0.1:PORT and deliveries with a live view (or headless)."""
    from threshold.sim import headless as hl

    if not headless:
        from threshold.sim.live import run_live

        asyncio.run(run_live(port, open_browser))
        return
    if minutes is not None:
        from rich.console import Console as Out

        from threshold.sim import soak

        summary = asyncio.run(soak.soak(minutes=minutes, seed=seed_value, show=sys.stderr.isatty()))
        if as_json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            soak.show(summary, Out())
        raise typer.Exit(0 if summary["ok"] else 1)
    if scenario:
        if scenario not in hl.names():
            console.print(f"[red]unknown scenario {scenario!r}; known: {', '.join(hl.names())}[/red]")
            raise typer.Exit(2)
        result = asyncio.run(hl.scenario(scenario))
        print(json.dumps(result, indent=2, default=str))
        raise typer.Exit(0 if result["ok"] else 1)
    summary = asyncio.run(hl.deliveries(deliveries, seed=seed_value, show=sys.stderr.isatty()))
    print(json.dumps(summary, indent=2, default=str))
    raise typer.Exit(1 if summary["invariants_broken"] else 0)


@audit_app.command("verify")
def audit_verify() -> None:
    """Verify every home's hash chain; exit 1 if any record was changed, inserted or deleted."""
    from threshold.audit import service
    from threshold.db import make_engine, make_sessionmaker

    async def main() -> tuple[int, int, list[str]]:
        engine = make_engine(get_settings().database_url)
        problems: list[str] = []
        homes = records = 0
        async with make_sessionmaker(engine)() as db:
            ids = [h async for h in service.home_ids(db)]
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("verifying chains", total=len(ids))
                for home_id in ids:
                    count, findings = await service.verify_home(db, home_id)
                    homes, records = homes + 1, records + count
                    problems += [f"home {home_id}: record {f.seq} {f.problem}" for f in findings]
                    bar.advance(task)
        await engine.dispose()
        return homes, records, problems

    homes, records, problems = asyncio.run(main())
    for p in problems:
        print(p)
    print(json.dumps({"homes": homes, "records": records, "ok": not problems, "problems": len(problems)}))
    raise typer.Exit(1 if problems else 0)


@audit_app.command("export")
def audit_export(home: str, out: Path | None = None) -> None:
    """Write HOME's evidence bundle (audit chain, sessions, incidents, manifest) as a zip."""
    from threshold.audit.export import bundle
    from threshold.db import make_engine, make_sessionmaker, utcnow
    from threshold.errors import NotFound

    try:
        home_id = uuid.UUID(home)
    except ValueError:
        console.print("[red]HOME must be a home id (UUID)[/red]")
        raise typer.Exit(2) from None
    target = out or Path(f"evidence-{home_id}.zip")

    async def main() -> dict[str, object]:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                return await bundle(db, home_id, target, utcnow())
        finally:
            await engine.dispose()

    try:
        manifest = asyncio.run(main())
    except NotFound:
        console.print(f"[red]no home {home_id}[/red]")
        raise typer.Exit(2) from None
    print(json.dumps({"bundle": str(target), **manifest}, indent=2))
    raise typer.Exit(0 if manifest["verified"] else 1)
