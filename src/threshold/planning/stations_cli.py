"""`threshold stations`: add and list the depots whose days are planned and whose windows are offered."""

from __future__ import annotations

import asyncio
import uuid
from datetime import time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console

from threshold.config import get_settings

stations_app = typer.Typer(help="Add and list stations (depots).", no_args_is_help=True)
console = Console(stderr=True)


def _clock(value: str, name: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        console.print(f"[red]{name} must be a time such as 08:00[/red]")
        raise typer.Exit(2) from None


@stations_app.command("add")
def add(partner: Annotated[str, typer.Option(help="The partner's id (UUID)")],
        name: Annotated[str, typer.Option(help="What people call it")],
        lat: Annotated[float, typer.Option(min=-90, max=90)], lon: Annotated[float, typer.Option(min=-180, max=180)],
        timezone: Annotated[str, typer.Option(help="IANA time zone, such as Europe/Berlin")] = "UTC",
        vehicles: Annotated[int, typer.Option(min=1, max=1000)] = 4,
        capacity: Annotated[int, typer.Option(min=1, help="Per vehicle, in package-size units (S=1 .. XL=4)")] = 100,
        shift_start: str = "08:00", shift_end: str = "20:00",
        radius_km: Annotated[float, typer.Option(min=0.5, max=500)] = 25.0,
        speed_kmh: Annotated[float, typer.Option(min=1, max=130)] = 30.0,
        carrier: Annotated[str | None, typer.Option(help="Whose drivers run the routes (UUID)")] = None) -> None:
    """Add a station; prints its id."""
    from threshold.db import make_engine, make_sessionmaker
    from threshold.deliveries.models import Carrier, Partner
    from threshold.planning.models import Station

    try:
        partner_id, carrier_id = uuid.UUID(partner), uuid.UUID(carrier) if carrier else None
        ZoneInfo(timezone)
    except ValueError:
        console.print("[red]--partner and --carrier must be ids (UUIDs)[/red]")
        raise typer.Exit(2) from None
    except ZoneInfoNotFoundError:
        console.print(f"[red]unknown time zone {timezone!r}[/red]")
        raise typer.Exit(2) from None
    start, end = _clock(shift_start, "--shift-start"), _clock(shift_end, "--shift-end")
    if end <= start:
        console.print("[red]the shift must end after it starts[/red]")
        raise typer.Exit(2)

    async def main() -> str | None:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                if await db.get(Partner, partner_id) is None:
                    return None
                if carrier_id and await db.get(Carrier, carrier_id) is None:
                    return None
                station = Station(partner_id=partner_id, carrier_id=carrier_id, name=name, lat=lat, lon=lon,
                                  timezone=timezone, vehicles=vehicles, capacity=capacity, shift_start=start,
                                  shift_end=end, radius_km=radius_km, speed_kmh=speed_kmh)
                db.add(station)
                await db.commit()
                return str(station.id)
        finally:
            await engine.dispose()

    made = asyncio.run(main())
    if made is None:
        console.print("[red]no such partner or carrier[/red]")
        raise typer.Exit(1)
    print(made)


@stations_app.command("list")
def list_stations() -> None:
    """Every station with its fleet and shift, one per line."""
    from sqlalchemy import select

    from threshold.db import make_engine, make_sessionmaker
    from threshold.planning.models import Station

    async def main() -> list[Station]:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                return list((await db.execute(select(Station).order_by(Station.name))).scalars())
        finally:
            await engine.dispose()

    # One tab-separated line per station (id, name, where, vehicles, capacity, shift, radius km): easy to read and
    # to cut, as `operators list` does.
    for s in asyncio.run(main()):
        print("\t".join((str(s.id), s.name, f"{s.lat:.4f},{s.lon:.4f} {s.timezone}", str(s.vehicles),
                         str(s.capacity), f"{s.shift_start:%H:%M}-{s.shift_end:%H:%M}", f"{s.radius_km:g} km")))
