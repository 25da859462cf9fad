"""API shapes of planning: orders asking for windows, offers, reservations, and a station's forward stock."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from threshold.inputs import Day, Instant, Trimmed
from threshold.planning import service, stock
from threshold.planning.models import WindowBooking

# A partner's SKU: printable, no surrounding spaces (Trimmed).
Product = Field(min_length=1, max_length=stock.PRODUCT_CHARS)


class ProductIn(BaseModel):
    """A product the order contains, and how many units."""

    model_config = ConfigDict(extra="forbid")
    product: Trimmed = Product
    quantity: StrictInt = Field(ge=1, le=10_000)


class OrderIn(BaseModel):
    """A new order: the day, where, its packages (sizes) or demand in size units, and optionally its products."""

    model_config = ConfigDict(extra="forbid")
    date: Day
    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)
    packages: list[Literal["S", "M", "L", "XL"]] | None = Field(default=None, min_length=1, max_length=50)
    demand: StrictInt | None = Field(default=None, ge=1, le=10_000)
    service_minutes: StrictFloat | None = Field(default=None, ge=0, le=240)
    products: list[ProductIn] | None = Field(
        default=None, min_length=1, max_length=100,
        description="Next-morning windows are promised only when the station has every product forward")

    @model_validator(mode="after")
    def _one_size(self) -> OrderIn:
        if self.packages is not None and self.demand is not None:
            raise ValueError("give packages or demand, not both")
        return self

    def order(self) -> service.Order:
        """The order in size units."""
        demand = self.demand or sum(service.SIZE_UNITS[p] for p in self.packages or ["S"])
        products = tuple((p.product, p.quantity) for p in self.products or ())
        return service.Order(self.lat, self.lon, demand, self.service_minutes, products)


class ReserveIn(OrderIn):
    """An order and one window from its offer."""

    start: Instant
    end: Instant


class BookIn(BaseModel):
    """Optionally, the delivery the booking is for."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: uuid.UUID | None = None


class WindowOut(BaseModel):
    """One window of the day for the order."""

    start: datetime
    end: datetime
    kind: str
    feasible: bool
    marginal_cost: float | None = Field(description="Cheapest detour in km, when feasible")
    reason: str | None = Field(description="capacity | shift | window | past | not_stocked_forward, when not "
                                           "feasible")
    expected_arrival: datetime | None


class OfferOut(BaseModel):
    """The day's windows for one order."""

    station_id: uuid.UUID
    date: date
    windows: list[WindowOut]


class ProductOut(BaseModel):
    """Units of a product a reservation holds at the station."""

    product: str
    quantity: int


class ReservationOut(BaseModel):
    """A window held (reserved), booked, released or lapsed (expired), and the forward stock it holds."""

    id: uuid.UUID
    station_id: uuid.UUID
    date: str
    status: str
    kind: str
    window_start: datetime
    window_end: datetime
    expires_at: datetime | None
    delivery_id: uuid.UUID | None
    stock: list[ProductOut] = Field(default_factory=list, description="Units held forward (next-morning windows)")
    stock_status: str | None = Field(default=None, description="held | returned | shipped, when it holds stock")

    @classmethod
    def of(cls, b: WindowBooking) -> ReservationOut:
        """A booking row as the API shows it."""
        return cls(id=b.id, station_id=b.station_id, date=b.day, status=b.status, kind=b.kind,
                   window_start=b.window_start, window_end=b.window_end, expires_at=b.expires_at,
                   delivery_id=b.delivery_id, stock_status=b.stock_status,
                   stock=[ProductOut(product=p, quantity=q) for p, q in sorted((b.stock_units or {}).items())])


class StockIn(BaseModel):
    """Units of a product on hand at the station, replacing the previous count."""

    model_config = ConfigDict(extra="forbid")
    product: Trimmed = Product
    units: StrictInt = Field(ge=0, le=stock.MAX_UNITS)


class StockLineOut(BaseModel):
    """One product's forward stock: on hand, held by orders, free to promise."""

    product: str
    units: int
    reserved: int
    available: int


class StockOut(BaseModel):
    """A station's forward stock, by product."""

    station_id: uuid.UUID
    products: list[StockLineOut]

    @classmethod
    def of(cls, station_id: uuid.UUID, levels: list[stock.StockLevel]) -> StockOut:
        """Stock levels as the API shows them."""
        return cls(station_id=station_id, products=[StockLineOut(product=s.product, units=s.units,
                                                                 reserved=s.reserved, available=s.available)
                                                    for s in levels])
