"""`threshold drivers` and `threshold partners`: the people and partners who reach homes, managed without SQL."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.config import get_settings
from threshold.errors import ThresholdError

drivers_app = typer.Typer(help="Add, list, deactivate and reactivate drivers.", no_args_is_help=True)
partners_app = typer.Typer(help="Add and list partners; issue, rotate and revoke their API keys.",
                           no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")


def _actor() -> str:
    # The platform chain says who at the terminal made the change.
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except OSError:
        return "cli:unknown"


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one change in one transaction; a refusal prints its reason and exits 1 (2 for bad input)."""
    from threshold.db import make_engine, make_sessionmaker

    async def main() -> T:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ThresholdError as err:
        console.print(f"[red]{err.detail}[/red] ({err.code})")
        raise typer.Exit(2 if err.status == 422 else 1) from None


def _now() -> Any:
    from threshold.db import utcnow

    return utcnow()


def _print(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        print("\t".join(str(row[c]) for c in columns))


@drivers_app.command("add")
def add_driver(email: str, name: Annotated[str, typer.Option(help="Full name")],
               carrier: Annotated[str, typer.Option(help="Carrier's name (created when new)")],
               partner: Annotated[str | None, typer.Option(help="Partner (id or name) whose deliveries the "
                                                                 "carrier runs")] = None) -> None:
    """Add a driver; the password is read from THRESHOLD_DRIVER_PASSWORD or asked for (never an argument)."""
    from threshold.ops import people

    password = os.environ.get("THRESHOLD_DRIVER_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True)

    async def work(db: AsyncSession) -> people.DriverView:
        partner_id = (await people.partner(db, partner)).id if partner else None
        return await people.add_driver(db, email, name, carrier, password, _actor(), _now(), partner_id)

    view = _run(work)
    console.print(f"driver {view.email} added ({view.id})")


@drivers_app.command("list")
def list_drivers(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """Every driver: email, name, carrier, active."""
    from threshold.ops import people

    views = _run(people.drivers)
    _print([{**asdict(v), "id": str(v.id), "active": "active" if v.active else "inactive"} for v in views],
           as_json, ["email", "name", "carrier", "active"])


@drivers_app.command("deactivate")
def deactivate_driver(driver: Annotated[str, typer.Argument(help="Email or id")]) -> None:
    """Take a driver off the platform at once: every token and web session of theirs is refused from now."""
    from threshold.ops import people

    view = _run(lambda db: people.set_driver_active(db, driver, False, _actor(), _now()))
    console.print(f"driver {view.email} deactivated")


@drivers_app.command("reactivate")
def reactivate_driver(driver: Annotated[str, typer.Argument(help="Email or id")]) -> None:
    """Let a deactivated driver sign in again."""
    from threshold.ops import people

    view = _run(lambda db: people.set_driver_active(db, driver, True, _actor(), _now()))
    console.print(f"driver {view.email} reactivated")


@partners_app.command("add")
def add_partner(name: str) -> None:
    """Add a partner and print its first API key (shown this once; only its hash is kept)."""
    from threshold.ops import people

    view, key = _run(lambda db: people.add_partner(db, name, _actor(), _now()))
    console.print(f"partner {view.name} added ({view.id}); its API key, shown once:")
    print(key.key)


@partners_app.command("list")
def list_partners(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """Every partner with its keys' prefixes and whether each is revoked."""
    from threshold.ops import people

    views = _run(people.partners)
    rows: list[dict[str, Any]] = [{"id": str(v.id), "name": v.name,
             "keys": [{"prefix": k.prefix, "created_at": k.created_at.isoformat(),
                                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
                                   for k in v.keys]} for v in views]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        keys = ", ".join(k["prefix"] + (" (revoked)" if k["revoked_at"] else "") for k in r["keys"]) or "-"
        print(f"{r['id']}\t{r['name']}\t{keys}")


@partners_app.command("rotate-key")
def rotate_key(partner: Annotated[str, typer.Argument(help="Partner's id or name")],
               grace_minutes: Annotated[int, typer.Option(help="Minutes the old keys keep working", min=0,
                                                          max=7 * 24 * 60)] = 0) -> None:
    """Issue a new key and revoke the partner's older keys (now, or after a grace period); prints the new key."""
    from threshold.ops import people

    async def work(db: AsyncSession) -> Any:
        found = await people.partner(db, partner)
        return await people.rotate_key(db, found.id, timedelta(minutes=grace_minutes), _actor(), _now())

    key = _run(work)
    console.print(f"new key {key.prefix}; older keys stop {'now' if not grace_minutes else f'in {grace_minutes} min'}."
                  " The new key, shown once:")
    print(key.key)


@partners_app.command("revoke-key")
def revoke_key(prefix: Annotated[str, typer.Argument(help="The key's prefix, such as thr_0123456789ab")]) -> None:
    """Revoke one API key at once (other API processes stop accepting it within 10 seconds)."""
    from threshold.ops import people

    key = _run(lambda db: people.revoke_key(db, prefix, _actor(), _now()))
    console.print(f"key {key.prefix} revoked")
