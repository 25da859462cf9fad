"""Tables for planning: stations, their forward stock, window bookings, a change counter per station-day, and route
plans."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column, utcnow


class Station(Base):
    """A depot that drivers start from: its fleet, shift and the area it serves."""

    __tablename__ = "stations"
    id: Mapped[uuid.UUID] = id_column()
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    # Whose drivers run the routes; without one, the partner's carriers' drivers do.
    carrier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("carriers.id"), default=None)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    vehicles: Mapped[int] = mapped_column(Integer, default=4)
    # In units of package size (S=1, M=2, L=3, XL=4).
    capacity: Mapped[int] = mapped_column(Integer, default=100)
    shift_start: Mapped[time] = mapped_column(Time, default=time(8, 0))
    shift_end: Mapped[time] = mapped_column(Time, default=time(20, 0))
    speed_kmh: Mapped[float] = mapped_column(Float, default=30.0)
    service_minutes: Mapped[float] = mapped_column(Float, default=5.0)
    radius_km: Mapped[float] = mapped_column(Float, default=25.0)
    # The day's windows: attended ones of this width, and wider in-home ones (nobody has to be home).
    window_minutes: Mapped[int] = mapped_column(Integer, default=120)
    in_home_minutes: Mapped[int] = mapped_column(Integer, default=720)
    # Windows of the next local day starting before this clock time are served from forward stock (None: noon).
    next_morning_until: Mapped[time | None] = mapped_column(Time, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WindowBooking(Base):
    """One order's hold on a window: reserved for minutes, then booked, released or expired."""

    __tablename__ = "window_bookings"
    __table_args__ = (Index("ix_window_bookings_station_day_status", "station_id", "day", "status"),)
    id: Mapped[uuid.UUID] = id_column()
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))  # the station's local date, YYYY-MM-DD
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deliveries.id"), index=True, default=None)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    demand: Mapped[int] = mapped_column(Integer)
    service_minutes: Mapped[float] = mapped_column(Float)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(10))  # attended | in_home
    status: Mapped[str] = mapped_column(String(10))  # reserved | booked | released | expired
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Forward stock this order holds at the station ({product: units}), and where those units are: held (counted
    # in the station's reserved units), returned (released or lapsed) or shipped (left the station).
    stock_units: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)
    stock_status: Mapped[str | None] = mapped_column(String(10), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StationStock(Base):
    """Units of one product on hand at a station, and how many of them orders hold for next-morning windows."""

    __tablename__ = "station_stock"
    __table_args__ = (
        CheckConstraint("units >= 0", name="units_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= units", name="reserved_within_units"),
    )
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    product: Mapped[str] = mapped_column(String(64), primary_key=True)  # the partner's SKU
    units: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StationDay(Base):
    """The change counter of one station-day: every process compares `version` with its cached state, and the
    row is what reserve and book lock; `booked` counts changes to booked orders, `planned` the last one planned."""

    __tablename__ = "station_days"
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    # A random token, not a counter: a rolled-back change can never be mistaken for another process's commit.
    version: Mapped[str] = mapped_column(String(32))
    booked: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[int] = mapped_column(Integer, default=0)


class RoutePlan(Base):
    """One planned version of a station's day: per route, the stops in order with their expected arrival."""

    __tablename__ = "route_plans"
    __table_args__ = (Index("ix_route_plans_station_day_version", "station_id", "day", "version", unique=True),)
    id: Mapped[uuid.UUID] = id_column()
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    # [[{"booking": id, "sequence": n, "arrival": iso UTC}, ...], ...], one list per vehicle used.
    routes: Mapped[list[Any]] = mapped_column(JSON)
    distance_km: Mapped[float] = mapped_column(Float)
    vehicles: Mapped[int] = mapped_column(Integer)
    objective: Mapped[str] = mapped_column(String(20))
    feasible: Mapped[bool] = mapped_column(default=True)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
