"""The AutoETS + Theta ensemble: shapes, quantiles, gap filling, fallbacks and no look-ahead."""

from __future__ import annotations

import dataclasses

import pandas as pd
from tests.forecast.samples import QCOLS, check_frame

from threshold.forecast.base import Dataset
from threshold.forecast.statistical import StatEnsemble, interval_column, levels_for, regular_history


def _check(frame: pd.DataFrame, ids: int, h: int) -> None:
    check_frame(frame, ids, h)
    assert frame[["mean", *QCOLS]].notna().all().all()


def test_levels_map_quantiles_to_intervals() -> None:
    assert levels_for([5, 50, 83, 95]) == [66, 90]
    assert interval_column("ets", 5) == "ets-lo-90"
    assert interval_column("ets", 83) == "ets-hi-66"
    assert interval_column("ets", 50) == "ets"


def test_rohlik_next_day(rohlik: Dataset) -> None:
    origin = pd.Timestamp("2023-11-20")
    out = StatEnsemble().forecast(rohlik, origin, 1)
    _check(out, 2, 1)
    assert (out["ds"] == origin + pd.Timedelta(days=1)).all()
    actual = rohlik.history[rohlik.history["ds"] == origin + pd.Timedelta(days=1)].set_index("unique_id")["y"]
    err = (out.set_index("unique_id")["mean"] - actual).abs() / actual
    assert (err < 0.25).all()


def test_closed_days_take_the_same_weekday_a_week_before(rohlik: Dataset) -> None:
    hist = rohlik.history
    gap = pd.Timestamp("2023-11-08")
    data = dataclasses.replace(rohlik, history=hist[hist["ds"] != gap])
    filled = regular_history(data, pd.Timestamp("2023-11-20")).set_index(["unique_id", "ds"])["y"]
    week_before = hist.set_index(["unique_id", "ds"])["y"]
    for uid in ("Prague_1", "Brno_1"):
        assert filled[(uid, gap)] == week_before[(uid, gap - pd.Timedelta(days=7))]
    assert filled.index.get_level_values("ds").max() == pd.Timestamp("2023-11-20")


def test_vn2_three_weeks_and_flat_series(vn2: Dataset) -> None:
    hist = vn2.history.copy()
    dead = hist["unique_id"].iloc[0]
    hist.loc[hist["unique_id"] == dead, "y"] = 0.0
    data = dataclasses.replace(vn2, history=hist)
    origin = pd.Timestamp("2023-10-30")
    out = StatEnsemble().forecast(data, origin, 3)
    _check(out, 20, 3)
    assert sorted(out["ds"].unique()) == list(pd.date_range(origin, periods=4, freq="W-MON")[1:])
    assert (out.loc[out["unique_id"] == dead, ["mean", *QCOLS]].to_numpy() == 0).all()


def test_censored_weeks_are_raised_not_read_as_demand(vn2: Dataset) -> None:
    hist = vn2.history.copy()
    uid = hist.groupby("unique_id")["y"].mean().idxmax()
    rows = hist.index[(hist["unique_id"] == uid) & (hist["ds"] > "2023-09-01") & (hist["ds"] <= "2023-10-30")]
    hist.loc[rows, "y"] = 0.0
    hist.loc[rows, "in_stock"] = False
    filled = regular_history(dataclasses.replace(vn2, history=hist), pd.Timestamp("2023-10-30"))
    series = filled[filled["unique_id"] == uid].set_index("ds")["y"]
    window = (series.index > pd.Timestamp("2023-09-01")) & (series.index <= pd.Timestamp("2023-10-30"))
    assert (series[window] > 0).all()


def test_no_look_ahead(rohlik: Dataset) -> None:
    origin = pd.Timestamp("2023-11-10")
    hist = rohlik.history.copy()
    hist.loc[hist["ds"] > origin, "y"] *= 10.0
    before = StatEnsemble().forecast(rohlik, origin, 2)
    after = StatEnsemble().forecast(dataclasses.replace(rohlik, history=hist), origin, 2)
    pd.testing.assert_frame_equal(before, after)
