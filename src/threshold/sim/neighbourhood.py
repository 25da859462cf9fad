"""A simulated neighbourhood: households, homes with devices, a partner with drivers. For demo, tests, load."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit.service import start_chain
from threshold.deliveries.models import ApiKey, Carrier, Driver, Partner
from threshold.homes.models import Device, EntryPoint, Home, HomeRules, Household, Member, PartnerAuthorization
from threshold.ops.models import Operator
from threshold.planning.models import Station
from threshold.security import hash_password, new_api_key

# Demo credentials are printed by the demo and are only valid on demo data.
DEMO_PASSWORD = "demo-password"
CENTRE = (52.5200, 13.4050)
STREETS = ("Linden", "Birch", "Maple", "Oak", "Willow", "Chestnut", "Elm", "Aspen")


@dataclass(slots=True)
class SimHome:
    """A simulated home and the addresses of its devices."""

    id: uuid.UUID
    lat: float
    lon: float
    front_door: uuid.UUID
    garage: uuid.UUID | None
    member_email: str
    lock: str
    camera: str
    alarm: str | None
    garage_door: str | None
    contact: str | None = None  # the front door's contact: says whether the door leaf is open
    address: str = ""


@dataclass(slots=True)
class World:
    """What the simulator created: who can sign in, and where."""

    partner_id: uuid.UUID
    api_key: str
    homes: list[SimHome] = field(default_factory=list)
    drivers: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (id, email)
    password: str = DEMO_PASSWORD
    operator_email: str = ""
    station_id: uuid.UUID | None = None
    # The demo's guest: (name, personal link token) of a schedule the first household set.
    guests: list[tuple[str, str]] = field(default_factory=list)
    # The demo's human driver (id, email), and the homes whose stops are theirs: robot drivers never go there.
    demo_driver: tuple[uuid.UUID, str] | None = None
    human_homes: tuple[int, ...] = ()

    def sign_ins(self) -> list[tuple[str, str]]:
        """Every demo sign-in as (who, email): the household, the visitor's driver, the robots, the operator."""
        rows = [("household", self.homes[0].member_email)] if self.homes else []
        if self.demo_driver:
            rows.append(("driver (yours)", self.demo_driver[1]))
        rows += [(f"driver {i + 1} (robot)", email) for i, (_, email) in enumerate(self.drivers)]
        if self.operator_email:
            rows.append(("operator", self.operator_email))
        return rows


async def build(db: AsyncSession, homes: int = 12, drivers: int = 4, seed: int = 7,
                password: str = DEMO_PASSWORD) -> World:
    """Create a neighbourhood in one transaction (the caller commits)."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6]
    partner = Partner(id=uuid.uuid4(), name=f"Parcel Partner {tag}")
    key, prefix, digest = new_api_key()
    # Tables are linked by foreign keys without ORM relationships, so parents are flushed first.
    db.add(partner)
    await db.flush()
    db.add(ApiKey(partner_id=partner.id, prefix=prefix, key_hash=digest))
    carrier = Carrier(id=uuid.uuid4(), name=f"Last Mile {tag}", partner_id=partner.id)
    db.add(carrier)
    await db.flush()
    # The partner's station, where the neighbourhood's day is planned and its windows offered.
    station = Station(id=uuid.uuid4(), partner_id=partner.id, carrier_id=carrier.id, name=f"Station {tag}",
                      lat=CENTRE[0], lon=CENTRE[1], timezone="Europe/Berlin")
    db.add(station)
    world = World(partner.id, key, password=password, station_id=station.id)
    hashed = hash_password(password)
    for i in range(drivers):
        d = Driver(id=uuid.uuid4(), carrier_id=carrier.id, name=f"Driver {i + 1}",
                   email=f"driver{i + 1}-{tag}@demo.threshold.invalid", password_hash=hashed)
        db.add(d)
        world.drivers.append((d.id, d.email))
    for i in range(homes):
        world.homes.append(await _home(db, rng, i, tag, hashed))
        # The neighbourhood's households let their partner deliver inside (the choice is theirs to take back).
        db.add(PartnerAuthorization(home_id=world.homes[-1].id, partner_id=partner.id, authorized_by="seed"))
    world.operator_email = f"ops-{tag}@demo.threshold.invalid"
    db.add(Operator(email=world.operator_email, name="Operator", password_hash=hashed))
    await db.flush()
    return world


async def _home(db: AsyncSession, rng: random.Random, i: int, tag: str, hashed: str) -> SimHome:
    household = Household(id=uuid.uuid4(), name=f"Household {i + 1}")
    email = f"home{i + 1}-{tag}@demo.threshold.invalid"
    lat = CENTRE[0] + rng.uniform(-0.02, 0.02)
    lon = CENTRE[1] + rng.uniform(-0.03, 0.03)
    home = Home(id=uuid.uuid4(), household_id=household.id, label=f"Home {i + 1}",
                address=f"{rng.randint(1, 120)} {STREETS[i % len(STREETS)]} Street", timezone="Europe/Berlin",
                lat=lat, lon=lon)
    front = EntryPoint(id=uuid.uuid4(), home_id=home.id, kind="front_door", label="Front door",
                       max_package_size="L")
    db.add(household)
    await db.flush()
    db.add_all([Member(household_id=household.id, email=email, name=f"Resident {i + 1}", password_hash=hashed,
                       phone=f"+1555{i:07d}"), home])
    await db.flush()
    db.add(front)
    await db.flush()
    await start_chain(db, home.id)
    db.add(HomeRules(home_id=home.id, in_home_enabled=True, allowed_entry_points=[], blackout_dates=[],
                     driver_note="Place parcels on the hall table."))
    lock, camera = f"sim-{tag}-{i}-front-lock", f"sim-{tag}-{i}-camera"
    contact = f"sim-{tag}-{i}-front-contact"
    db.add_all([Device(home_id=home.id, entry_point_id=front.id, kind="lock", address=lock, state="locked"),
                Device(home_id=home.id, entry_point_id=front.id, kind="contact", address=contact,
                       state="closed"),
                Device(home_id=home.id, entry_point_id=None, kind="camera", address=camera, state="idle")])
    alarm = garage_door = None
    garage_id = None
    if i % 3 == 0:
        alarm = f"sim-{tag}-{i}-alarm"
        db.add(Device(home_id=home.id, kind="alarm", address=alarm, state="armed_away", secret="1234"))
    if i % 4 == 1:
        garage = EntryPoint(id=uuid.uuid4(), home_id=home.id, kind="garage", label="Garage",
                            max_package_size="XL")
        garage_id, garage_door = garage.id, f"sim-{tag}-{i}-garage"
        db.add(garage)
        await db.flush()
        db.add(Device(home_id=home.id, entry_point_id=garage.id, kind="garage", address=garage_door,
                      state="closed"))
    return SimHome(home.id, lat, lon, front.id, garage_id, email, lock, camera, alarm, garage_door, contact,
                   address=home.address)


async def exists(db: AsyncSession) -> bool:
    """True when the database already holds a neighbourhood."""
    return (await db.execute(select(Home.id).limit(1))).first() is not None
