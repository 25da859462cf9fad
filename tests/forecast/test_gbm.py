"""The global LightGBM model: shapes, quantiles, rolling features, censored targets and no look-ahead."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tests.forecast.samples import QCOLS, check_frame

from threshold.forecast.base import Dataset
from threshold.forecast.gbm import GBMParams, LightGBMModel, _positions, _rolling, anchor_features, panel, step_rows

FAST = GBMParams(num_boost_round=30)


def _check(frame: pd.DataFrame, ids: int, h: int) -> None:
    check_frame(frame, ids, h)
    values = frame[QCOLS].to_numpy()
    assert values[:, 0].max() > 0 and np.all(values[:, -1] > values[:, 0])


def test_rolling_matches_pandas_within_each_series() -> None:
    ids = pd.Series(["a"] * 6 + ["b"] * 4)
    values = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, np.nan, 40.0])
    mean, std = _rolling(values, _positions(ids), 3)
    frame = pd.DataFrame({"id": ids, "v": values})
    roll = frame.groupby("id")["v"].rolling(3, min_periods=1)
    np.testing.assert_allclose(mean, roll.mean().to_numpy())
    np.testing.assert_allclose(std, frame.groupby("id")["v"].rolling(3, min_periods=2).std().to_numpy())


def test_rohlik_next_day(rohlik: Dataset) -> None:
    origin = pd.Timestamp("2023-11-20")
    out = LightGBMModel(FAST).forecast(rohlik, origin, 1)
    _check(out, 2, 1)
    actual = rohlik.history[rohlik.history["ds"] == origin + pd.Timedelta(days=1)].set_index("unique_id")["y"]
    err = (out.set_index("unique_id")["mean"] - actual).abs() / actual
    assert (err < 0.25).all()


def test_vn2_three_weeks(vn2: Dataset) -> None:
    origin = pd.Timestamp("2023-10-30")
    out = LightGBMModel(FAST).forecast(vn2, origin, 3)
    _check(out, 20, 3)
    assert sorted(out["ds"].unique()) == list(pd.date_range(origin, periods=4, freq="W-MON")[1:])


def test_censored_weeks_are_not_targets_and_lags_stay_before_the_anchor(vn2: Dataset) -> None:
    origin = pd.Timestamp("2023-10-30")
    p = panel(vn2, origin)
    feats = step_rows(p, anchor_features(p, vn2.season), vn2.season, 2)
    censored = ~vn2.until(origin)["in_stock"].to_numpy()
    assert censored.any()
    merged = p[["unique_id", "ds"]].merge(vn2.until(origin)[["unique_id", "ds", "in_stock"]], how="left")
    assert feats.loc[~merged["in_stock"].fillna(True).to_numpy(dtype=bool), "target"].isna().all()
    row = feats[(feats["unique_id"] == p["unique_id"].iloc[0]) & (feats["ds"] == origin)].iloc[0]
    y = p.set_index(["unique_id", "ds"])["y"]
    uid = p["unique_id"].iloc[0]
    assert row["lag_0"] * row["scale"] == pytest.approx(y[(uid, origin - pd.Timedelta(weeks=2))])


def test_no_look_ahead(rohlik: Dataset, vn2: Dataset) -> None:
    for data, origin, h in ((rohlik, pd.Timestamp("2023-11-10"), 1), (vn2, pd.Timestamp("2023-10-02"), 3)):
        hist = data.history.copy()
        hist.loc[hist["ds"] > origin, "y"] *= 10.0
        before = LightGBMModel(FAST).forecast(data, origin, h)
        after = LightGBMModel(FAST).forecast(dataclasses.replace(data, history=hist), origin, h)
        pd.testing.assert_frame_equal(before, after)
