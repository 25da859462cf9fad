"""`threshold devices`: find devices on the configured MQTT broker or Home Assistant, and enrol them."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from threshold.config import Settings, get_settings
from threshold.devices.ports import DeviceKind, DeviceReport, DiscoveredDevice
from threshold.logs import configure_logging

devices_app = typer.Typer(help="Find devices (MQTT discovery, Home Assistant) and enrol them in homes.",
                          no_args_is_help=True)
console = Console(stderr=True)


async def discover(settings: Settings, seconds: float) -> list[DiscoveredDevice]:
    """What the configured adapter can see: retained MQTT discovery configs, or Home Assistant's entities."""
    if settings.mqtt_url:
        from threshold.devices.mqtt import MqttGateway

        gateway = MqttGateway(settings.mqtt_url, base=settings.mqtt_base,
                              discovery_prefix=settings.mqtt_discovery_prefix,
                              client_id=f"{settings.mqtt_client_id}-discover-{uuid.uuid4().hex[:6]}")

        async def ignore(_: DeviceReport) -> None:
            """Reports are not wanted here, only the discovery configs."""

        await gateway.start(ignore)
        try:
            if not gateway.connected:
                raise ConnectionError(f"cannot reach the MQTT broker at {settings.mqtt_url}")
            # Retained configs arrive right after subscribing; give slow brokers a moment.
            await asyncio.sleep(seconds)
        finally:
            await gateway.stop()
        return sorted(gateway.discovered.values(), key=lambda d: d.address)
    if settings.ha_url:
        from threshold.devices.homeassistant import discover as ha_discover

        return sorted(await ha_discover(settings.ha_url, settings.ha_token or ""), key=lambda d: d.address)
    raise LookupError("no adapter to discover with: set THRESHOLD_MQTT_URL or THRESHOLD_HA_URL")


@devices_app.command("discover")
def discover_command(seconds: Annotated[float, typer.Option(help="How long to listen on MQTT")] = 2.0,
                     as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table")] = False) -> None:
    """List the devices the configured MQTT broker or Home Assistant announces."""
    configure_logging(get_settings())
    try:
        found = asyncio.run(discover(get_settings(), seconds))
    except (LookupError, ConnectionError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps([{"address": d.address, "kind": d.kind.value, "name": d.name, "source": d.source}
                          for d in found], indent=2))
        return
    table = Table(title=f"{len(found)} devices")
    for col in ("address", "kind", "name", "source"):
        table.add_column(col)
    for d in found:
        table.add_row(d.address, d.kind.value, d.name, d.source)
    Console().print(table)


@devices_app.command("enrol")
def enrol_command(home: str, address: str,
                  entry_point: Annotated[str | None, typer.Option(help="Entry point id (locks, garage "
                                                                       "doors, contacts)")] = None,
                  kind: Annotated[DeviceKind | None, typer.Option(help="Kind, for a device not announced "
                                                                       "by discovery")] = None,
                  seconds: Annotated[float, typer.Option(help="How long to listen for discovery")] = 2.0) -> None:
    """Enrol a discovered device in HOME. An alarm panel's code is read from THRESHOLD_ALARM_CODE or asked."""
    from threshold.db import make_engine, make_sessionmaker, utcnow
    from threshold.devices.enrol import enrol
    from threshold.errors import ThresholdError

    settings = get_settings()
    configure_logging(settings)
    try:
        home_id = uuid.UUID(home)
        entry_id = uuid.UUID(entry_point) if entry_point else None
    except ValueError:
        console.print("[red]HOME and --entry-point must be ids (UUIDs)[/red]")
        raise typer.Exit(2) from None
    found: DiscoveredDevice | None = None
    if kind is not None:
        found = DiscoveredDevice(address, kind, address, "mqtt-discovery" if settings.mqtt_url else "homeassistant")
    else:
        try:
            found = next((d for d in asyncio.run(discover(settings, seconds)) if d.address == address), None)
        except (LookupError, ConnectionError, OSError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    if found is None:
        console.print(f"[red]{address} was not discovered; give --kind to enrol it anyway[/red]")
        raise typer.Exit(2)
    secret = None
    if found.kind is DeviceKind.ALARM:
        secret = os.environ.get("THRESHOLD_ALARM_CODE") or typer.prompt("Household's alarm code", hide_input=True)

    async def main() -> str:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                device = await enrol(db, home_id, found, now=utcnow(), entry_point_id=entry_id, secret=secret)
                await db.commit()
                return str(device.id)
        finally:
            await engine.dispose()

    try:
        device_id = asyncio.run(main())
    except ThresholdError as err:
        console.print(f"[red]{err.code}: {err}[/red]")
        raise typer.Exit(1) from None
    print(json.dumps({"device": device_id, "address": found.address, "kind": found.kind.value}))
