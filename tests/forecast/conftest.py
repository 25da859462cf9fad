"""Fixtures shared by the forecast tests: small slices of the real data, read once per session."""

from __future__ import annotations

import pytest
from tests.forecast.samples import rohlik_two, vn2_twenty

from threshold.forecast.base import Dataset


@pytest.fixture(scope="session")
def rohlik() -> Dataset:
    """Two Rohlik warehouses over seven months."""
    return rohlik_two()


@pytest.fixture(scope="session")
def vn2() -> Dataset:
    """The first 20 VN2 series up to the end of 2023."""
    return vn2_twenty()
