"""`threshold stations add/list`: a station is added from the command line; bad input adds nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import func, select

from cli_run import threshold_cli
from threshold.db import make_engine, make_sessionmaker, migrate
from threshold.deliveries.models import Partner
from threshold.planning.models import Station


async def test_a_station_is_added_and_listed_and_bad_input_adds_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stations.db'}"
    await migrate(url)
    engine = make_engine(url)
    partner = uuid.uuid4()
    async with make_sessionmaker(engine)() as db:
        db.add(Partner(id=partner, name="Parcel Partner"))
        await db.commit()
    env = {**os.environ, "THRESHOLD_DATABASE_URL": url, "THRESHOLD_MODE": "test"}
    base = ("stations", "add", "--partner", str(partner), "--name", "North depot", "--lat", "52.52",
            "--lon", "13.40")
    code, _, err = await threshold_cli(env, tmp_path, *base, "--timezone", "Mars/Olympus")
    assert code == 2 and "unknown time zone" in err
    code, out, err = await threshold_cli(env, tmp_path, *base, "--timezone", "Europe/Berlin", "--vehicles", "6")
    assert code == 0, err
    made = uuid.UUID(out.strip())
    code, out, _ = await threshold_cli(env, tmp_path, "stations", "list")
    assert code == 0 and "North depot" in out and "08:00-20:00" in out
    async with make_sessionmaker(engine)() as db:
        assert (await db.execute(select(func.count()).select_from(Station))).scalar_one() == 1
        station = await db.get(Station, made)
        assert station is not None and (station.vehicles, station.timezone) == (6, "Europe/Berlin")
    await engine.dispose()
