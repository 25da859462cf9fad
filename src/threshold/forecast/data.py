"""Read the Rohlik and VN2 files (plain or gzipped CSV) into a `Dataset`; a longer history of the same format works.

Rohlik: `train.csv` (orders per warehouse and day) and, when present, `train_calendar.csv` (the flags of every day,
including days beyond the history and days a warehouse was closed). A warehouse is a zone; its series is its
orders, so `product` is "*". Weather and user activity are in the file but are not known in advance, so they are
not offered to models.

VN2: `sales_weekly.csv` (wide: Store, Product, one column per week), `in_stock_weekly.csv` (same shape, booleans),
`master.csv` (hierarchy) and `initial_state.csv` (stock on hand and in transit after the last week). A store is a
zone; a series is one product in one store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from threshold.forecast.base import Dataset, DatasetName

ROHLIK_KNOWN = ("holiday", "shutdown", "mini_shutdown", "shops_closed", "winter_school_holidays",
                "school_holidays", "blackout", "mov_change", "frankfurt_shutdown")


class DataError(ValueError):
    """The folder does not hold the dataset's files in the expected format."""


def _file(folder: Path, stem: str, *, required: bool = True) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    if required:
        raise DataError(f"{folder} has no {stem}.csv or {stem}.csv.gz")
    return None


def _need(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name} lacks the columns {', '.join(missing)}")


def load(name: DatasetName, folder: Path) -> Dataset:
    """The named dataset read from folder."""
    if name == "rohlik":
        return load_rohlik(folder)
    if name == "vn2":
        return load_vn2(folder)
    raise DataError(f"unknown dataset {name!r}: use rohlik or vn2")


def _flags(frame: pd.DataFrame) -> pd.DataFrame:
    for col in ROHLIK_KNOWN:
        frame[col] = (pd.to_numeric(frame[col], errors="coerce").fillna(0.0).astype(float) if col in frame
                      else 0.0)
    if "holiday_name" in frame:
        # A named holiday is a holiday even where the flag column says 0.
        frame["holiday"] = frame["holiday"].where(frame["holiday_name"].isna(), 1.0)
    return frame


def load_rohlik(folder: Path) -> Dataset:
    """Rohlik daily orders per warehouse, with the calendar flags known in advance."""
    path = _file(folder, "train")
    assert path is not None
    raw = pd.read_csv(path)
    _need(raw, ("warehouse", "date", "orders"), path)
    raw["date"] = pd.to_datetime(raw["date"], errors="coerce")
    raw = raw.dropna(subset=["date", "orders"])
    hist = _flags(raw.rename(columns={"warehouse": "unique_id", "date": "ds", "orders": "y"}))
    hist["unique_id"] = hist["unique_id"].astype(str)
    hist["y"] = hist["y"].astype(float)
    hist = hist[["unique_id", "ds", "y", *ROHLIK_KNOWN]].sort_values(["unique_id", "ds"]).reset_index(drop=True)
    cal_path = _file(folder, "train_calendar", required=False)
    calendar = hist[["unique_id", "ds", *ROHLIK_KNOWN]]
    if cal_path is not None:
        cal = pd.read_csv(cal_path)
        _need(cal, ("warehouse", "date"), cal_path)
        cal["date"] = pd.to_datetime(cal["date"], errors="coerce")
        cal = _flags(cal.dropna(subset=["date"]).rename(columns={"warehouse": "unique_id", "date": "ds"}))
        cal["unique_id"] = cal["unique_id"].astype(str)
        # The history's own flags win where both speak of a day.
        calendar = (pd.concat([calendar, cal[["unique_id", "ds", *ROHLIK_KNOWN]]])
                    .drop_duplicates(["unique_id", "ds"], keep="first"))
    calendar = calendar.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    ids = sorted(hist["unique_id"].unique())
    return Dataset(name="rohlik", freq="D", season=7, history=hist, calendar=calendar, known=ROHLIK_KNOWN,
                   zone={i: i for i in ids}, product={i: "*" for i in ids})


def _wide(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    _need(frame, ("Store", "Product"), path)
    long = frame.melt(id_vars=["Store", "Product"], var_name="ds", value_name="value")
    long["ds"] = pd.to_datetime(long["ds"], errors="coerce")
    if long["ds"].isna().any():
        raise DataError(f"{path.name}: every column after Store and Product must be a week's date")
    long["unique_id"] = long["Store"].astype(str) + "/" + long["Product"].astype(str)
    return long


def load_vn2(folder: Path) -> Dataset:
    """VN2 weekly units per store and product; weeks out of stock are marked censored (`in_stock` False)."""
    sales_path = _file(folder, "sales_weekly")
    assert sales_path is not None
    sales = _wide(sales_path)
    sales["y"] = pd.to_numeric(sales["value"], errors="coerce").fillna(0.0).clip(lower=0.0).astype(float)
    stock_path = _file(folder, "in_stock_weekly", required=False)
    if stock_path is not None:
        stock = _wide(stock_path)[["unique_id", "ds", "value"]].rename(columns={"value": "in_stock"})
        stock["in_stock"] = stock["in_stock"].astype(str).str.lower().isin(["true", "1", "1.0"])
        sales = sales.merge(stock, on=["unique_id", "ds"], how="left")
        sales["in_stock"] = sales["in_stock"].fillna(True).astype(bool)
    else:
        sales["in_stock"] = True
    hist = sales[["unique_id", "ds", "y", "in_stock"]].sort_values(["unique_id", "ds"]).reset_index(drop=True)
    ids = sales.drop_duplicates("unique_id")
    calendar = hist[["unique_id", "ds"]].copy()
    return Dataset(name="vn2", freq="W-MON", season=52, history=hist, calendar=calendar, known=(),
                   zone=dict(zip(ids["unique_id"], ids["Store"].astype(str), strict=True)),
                   product=dict(zip(ids["unique_id"], ids["Product"].astype(str), strict=True)))


def vn2_state(folder: Path) -> pd.DataFrame:
    """VN2 stock after the last week: unique_id, on_hand, transit_1 (arrives next week), transit_2 (the week after)."""
    path = _file(folder, "initial_state")
    assert path is not None
    raw = pd.read_csv(path)
    cols = ("Store", "Product", "End Inventory", "In Transit W+1", "In Transit W+2")
    _need(raw, cols, path)
    return pd.DataFrame({
        "unique_id": raw["Store"].astype(str) + "/" + raw["Product"].astype(str),
        "on_hand": pd.to_numeric(raw["End Inventory"], errors="coerce").fillna(0).astype(float),
        "transit_1": pd.to_numeric(raw["In Transit W+1"], errors="coerce").fillna(0).astype(float),
        "transit_2": pd.to_numeric(raw["In Transit W+2"], errors="coerce").fillna(0).astype(float),
    })


def vn2_hierarchy(folder: Path) -> pd.DataFrame:
    """VN2's product hierarchy per series: unique_id and the master file's columns (empty when absent)."""
    path = _file(folder, "master", required=False)
    if path is None:
        return pd.DataFrame(columns=["unique_id"])
    raw = pd.read_csv(path)
    _need(raw, ("Store", "Product"), path)
    raw["unique_id"] = raw["Store"].astype(str) + "/" + raw["Product"].astype(str)
    return raw.drop(columns=["Store", "Product"])
