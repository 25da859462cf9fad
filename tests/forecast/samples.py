"""Small slices of the real Rohlik and VN2 files, and the checks every model's forecast frame must pass."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from threshold.forecast.base import QUANTILES, Dataset, qcol
from threshold.forecast.data import load_rohlik, load_vn2

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "orders"
QCOLS = [qcol(q) for q in QUANTILES]


def subset(data: Dataset, ids: list[str], start: str | None, end: str) -> Dataset:
    """The dataset cut to some series and dates (the calendar keeps its future rows for those series)."""
    hist = data.history[data.history["unique_id"].isin(ids) & (data.history["ds"] <= end)]
    if start is not None:
        hist = hist[hist["ds"] >= start]
    cal = data.calendar[data.calendar["unique_id"].isin(ids)]
    return dataclasses.replace(data, history=hist.reset_index(drop=True), calendar=cal.reset_index(drop=True))


def rohlik_two() -> Dataset:
    """Two Rohlik warehouses over seven months."""
    return subset(load_rohlik(DATA / "rohlik_orders"), ["Prague_1", "Brno_1"], "2023-05-01", "2023-11-30")


def vn2_twenty() -> Dataset:
    """The first 20 VN2 series up to the end of 2023."""
    data = load_vn2(DATA / "vn2")
    return subset(data, sorted(data.history["unique_id"].unique())[:20], None, "2023-12-31")


def check_frame(frame: pd.DataFrame, ids: int, h: int) -> None:
    """A forecast frame's columns, size, and quantiles that are non-negative and non-decreasing."""
    assert list(frame.columns) == ["unique_id", "ds", "mean", *QCOLS]
    assert len(frame) == ids * h
    values = frame[QCOLS].to_numpy()
    assert np.all(values >= 0)
    assert np.all(np.diff(values, axis=1) >= 0)
