"""API shapes for partners' deliveries and drivers' stops."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from threshold.inputs import Instant, Line


class PackageIn(BaseModel):
    """A parcel as the partner describes it."""

    model_config = ConfigDict(extra="forbid")
    barcode: str = Field(min_length=4, max_length=100, pattern=r"^[A-Za-z0-9\-_.]+$")
    size: Literal["S", "M", "L", "XL"]
    weight_g: StrictInt = Field(gt=0, le=70_000)


class DeliveryIn(BaseModel):
    """A partner's new delivery."""

    model_config = ConfigDict(extra="forbid")
    home_id: uuid.UUID
    window_start: Instant
    window_end: Instant
    packages: list[PackageIn] = Field(min_length=1, max_length=20)
    entry_point_id: uuid.UUID | None = None
    external_ref: Line | None = Field(default=None, max_length=200)
    driver_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _check(self) -> DeliveryIn:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if (self.window_end - self.window_start).total_seconds() > 24 * 3600:
            raise ValueError("a window may not exceed 24 hours")
        barcodes = [p.barcode for p in self.packages]
        if len(set(barcodes)) != len(barcodes):
            raise ValueError("barcodes must be unique within a delivery")
        return self


class AssignIn(BaseModel):
    """Bind a delivery (and its grant) to a driver."""

    model_config = ConfigDict(extra="forbid")
    driver_id: uuid.UUID


class PackageOut(BaseModel):
    """A parcel in a delivery."""

    barcode: str
    size: str
    weight_g: int


class DeliveryOut(BaseModel):
    """A delivery's status as a partner, driver or household sees it."""

    id: uuid.UUID
    home_id: uuid.UUID
    status: str
    mode: str
    ineligible_reasons: list[str]
    entry_point_id: uuid.UUID | None
    driver_id: uuid.UUID | None
    window_start: datetime
    window_end: datetime
    external_ref: str | None
    approved: bool
    fallback: str | None = None
    packages: list[PackageOut]


class StopOut(BaseModel):
    """One of a driver's stops today."""

    delivery: DeliveryOut
    address: str
    lat: float
    lon: float
    entry_point: str | None
    driver_note: str
