"""`threshold stations`: add and list the depots whose days are planned and whose windows are offered, and keep
their forward stock."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

from threshold.config import get_settings

stations_app = typer.Typer(help="Add and list stations (depots); their forward stock.", no_args_is_help=True)
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
        carrier: Annotated[str | None, typer.Option(help="Whose drivers run the routes (UUID)")] = None,
        next_morning_until: Annotated[str, typer.Option(
            help="Next-day windows starting before this local time need the order's products in forward stock")]
        = "12:00") -> None:
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
    cutoff = _clock(next_morning_until, "--next-morning-until")
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
                                  shift_end=end, radius_km=radius_km, speed_kmh=speed_kmh,
                                  next_morning_until=cutoff)
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


@stations_app.command("stock")
def stock_command(
        station: Annotated[str, typer.Argument(help="The station's id (UUID)")],
        set_file: Annotated[Path | None, typer.Option(
            "--set", help="CSV of product,units (sets on-hand units) or a move plan from `threshold forecast plan` "
                          "(adds move_units to on-hand)")] = None,
        zone: Annotated[str | None, typer.Option(
            help="Take the file's rows whose station column is this (a move plan names zones, such as Prague_1); "
                 "rows naming the station's id or name are always taken")] = None) -> None:
    """Show a station's forward stock, or first set it from a file (all of it or none)."""
    from threshold.db import make_engine, make_sessionmaker
    from threshold.errors import ThresholdError
    from threshold.planning import stock
    from threshold.planning.models import Station

    try:
        station_id = uuid.UUID(station)
    except ValueError:
        console.print("[red]the station must be an id (UUID)[/red]")
        raise typer.Exit(2) from None
    text = None
    if set_file is not None:
        try:
            opener = gzip.open if set_file.suffix == ".gz" else open
            with opener(set_file, "rt", encoding="utf-8-sig", newline="") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            console.print(f"[red]cannot read {set_file}: {err}[/red]")
            raise typer.Exit(2) from None

    async def main() -> tuple[int, str, list[stock.StockLevel]]:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                s = await db.get(Station, station_id)
                if s is None:
                    return 1, "no such station", []
                note = ""
                if text is not None:
                    try:
                        wanted = stock.read_stock_file(text, [str(s.id), s.name, *([zone] if zone else [])])
                        await stock.set_units(db, s, wanted.units, datetime.now(UTC), add=wanted.add)
                    except (stock.StockFileError, ThresholdError) as err:
                        await db.rollback()
                        return 2, f"{set_file}: {err}; nothing was changed", []
                    await db.commit()
                    verb = "added moved units of" if wanted.add else "set"
                    note = f"{verb} {len(wanted.units)} products"
                return 0, note, await stock.levels(db, s.id)
        finally:
            await engine.dispose()

    code, note, levels = asyncio.run(main())
    if code:
        console.print(f"[red]{note}[/red]")
        raise typer.Exit(code)
    if note:
        console.print(note)
    table = Table("product", "units", "reserved", "available")
    for line in levels:
        table.add_row(line.product, str(line.units), str(line.reserved), str(line.available))
    Console().print(table)
