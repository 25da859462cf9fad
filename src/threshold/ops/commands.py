"""`threshold operators`: add the people who are told of incidents and watch the console."""

from __future__ import annotations

import asyncio
import os
import re
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from threshold.config import get_settings

operators_app = typer.Typer(help="Add and list operators.", no_args_is_help=True)
console = Console(stderr=True)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@operators_app.command("add")
def add(email: str, name: Annotated[str, typer.Option(help="Full name")],
        phone: Annotated[str | None, typer.Option(help="E.164 number for SMS about safety moments")] = None) -> None:
    """Add an operator; the password is read from THRESHOLD_OPERATOR_PASSWORD or asked for (never an argument)."""
    from threshold.db import make_engine, make_sessionmaker
    from threshold.ops.models import Operator
    from threshold.security import hash_password

    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        console.print(f"[red]not an email address: {email!r}[/red]")
        raise typer.Exit(2)
    if phone is not None and not E164.match(phone):
        console.print("[red]--phone must be an E.164 number such as +4915112345678[/red]")
        raise typer.Exit(2)
    password = os.environ.get("THRESHOLD_OPERATOR_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 12:
        console.print("[red]the password must have at least 12 characters[/red]")
        raise typer.Exit(2)
    settings = get_settings()

    async def main() -> bool:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                if (await db.execute(select(Operator.id).where(Operator.email == email))).first():
                    return False
                db.add(Operator(email=email, name=name, phone=phone, password_hash=hash_password(password)))
                await db.commit()
                return True
        finally:
            await engine.dispose()

    if not asyncio.run(main()):
        console.print(f"[red]an operator with {email} exists already[/red]")
        raise typer.Exit(1)
    console.print(f"operator {email} added")


@operators_app.command("list")
def list_operators() -> None:
    """Every operator: email, name, phone, active."""
    from threshold.db import make_engine, make_sessionmaker
    from threshold.ops.models import Operator

    async def main() -> list[Operator]:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                return list((await db.execute(select(Operator).order_by(Operator.email))).scalars())
        finally:
            await engine.dispose()

    for op in asyncio.run(main()):
        print(f"{op.email}\t{op.name}\t{op.phone or '-'}\t{'active' if op.active else 'inactive'}")
