"""Baselines: exact point forecasts on small synthetic series, missing days, quantiles from past errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from threshold.forecast.base import QUANTILES, Dataset, qcol
from threshold.forecast.baselines import TSB, Croston, MovingAverage, SeasonalMean, SeasonalNaive, croston_path


def daily(values: dict[str, list[float]], start: str = "2024-01-01", drop: tuple[str, ...] = ()) -> Dataset:
    """A daily dataset of the given series; `drop` removes dates (a closed warehouse)."""
    rows = []
    for uid, ys in values.items():
        for d, y in zip(pd.date_range(start, periods=len(ys), freq="D"), ys, strict=True):
            if d.date().isoformat() not in drop:
                rows.append((uid, d, float(y)))
    hist = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    return Dataset(name="rohlik", freq="D", season=7, history=hist, calendar=hist[["unique_id", "ds"]],
                   zone={u: u for u in values}, product={u: "*" for u in values})


def at(frame: pd.DataFrame, uid: str, day: str, col: str = "mean") -> float:
    """One value of a forecast frame."""
    return float(frame.loc[(frame["unique_id"] == uid) & (frame["ds"] == pd.Timestamp(day)), col].iloc[0])


YS = [float(10 + i + (i % 7) * 5) for i in range(42)]  # 2024-01-01 .. 2024-02-11


def test_seasonal_naive_is_the_value_a_week_before() -> None:
    data = daily({"a": YS})
    f = SeasonalNaive().forecast(data, pd.Timestamp("2024-02-11"), 3)
    assert list(f["ds"]) == list(pd.date_range("2024-02-12", periods=3))
    assert at(f, "a", "2024-02-12") == YS[35]  # 2024-02-05
    assert at(f, "a", "2024-02-14") == YS[37]


def test_seasonal_naive_repeats_beyond_one_season() -> None:
    f = SeasonalNaive().forecast(daily({"a": YS}), pd.Timestamp("2024-02-11"), 9)
    # 2024-02-20 is 9 days ahead: a week back is still unknown, so two weeks back (2024-02-06).
    assert at(f, "a", "2024-02-20") == YS[36]


def test_seasonal_naive_skips_a_closed_day_by_date() -> None:
    data = daily({"a": YS}, drop=("2024-02-05",))
    f = SeasonalNaive().forecast(data, pd.Timestamp("2024-02-11"), 1)
    assert at(f, "a", "2024-02-12") == YS[28]  # 2024-01-29, two weeks back; not the neighbour of the gap


def test_weekday_mean_is_the_mean_of_the_last_four_same_weekdays() -> None:
    f = SeasonalMean(4, name="weekday_mean4").forecast(daily({"a": YS}), pd.Timestamp("2024-02-11"), 1)
    assert at(f, "a", "2024-02-12") == pytest.approx(np.mean([YS[35], YS[28], YS[21], YS[14]]))


def test_weekday_mean_leaves_out_a_closed_day() -> None:
    data = daily({"a": YS}, drop=("2024-01-29",))
    f = SeasonalMean(4).forecast(data, pd.Timestamp("2024-02-11"), 1)
    assert at(f, "a", "2024-02-12") == pytest.approx(np.mean([YS[35], YS[21], YS[14]]))


def test_moving_average_of_the_window() -> None:
    f = MovingAverage(window=5).forecast(daily({"a": YS}), pd.Timestamp("2024-02-11"), 2)
    assert at(f, "a", "2024-02-12") == pytest.approx(np.mean(YS[-5:]))
    assert at(f, "a", "2024-02-13") == pytest.approx(np.mean(YS[-5:]))


def test_series_are_forecast_independently() -> None:
    data = daily({"a": YS, "b": [2 * y for y in YS]})
    f = SeasonalNaive().forecast(data, pd.Timestamp("2024-02-11"), 1)
    assert at(f, "b", "2024-02-12") == 2 * at(f, "a", "2024-02-12")


def test_a_periodic_series_gets_no_spread_and_quantiles_equal_the_mean() -> None:
    weekly = [float(10 + (i % 7)) for i in range(70)]
    f = SeasonalNaive().forecast(daily({"a": weekly}), pd.Timestamp("2024-03-10"), 1)
    row = f.iloc[0]
    assert all(row[qcol(q)] == row["mean"] for q in QUANTILES)


def test_quantiles_come_from_past_errors_and_are_monotone_and_non_negative() -> None:
    rng = np.random.default_rng(3)
    noisy = list(np.maximum(0.0, 5 + rng.normal(0, 4, size=140)))
    f = SeasonalMean(4).forecast(daily({"a": noisy}), pd.Timestamp("2024-05-19"), 2, quantiles=(5, 50, 83, 95))
    qs = f[[qcol(q) for q in (5, 50, 83, 95)]].to_numpy()
    assert (qs >= 0).all()
    assert (np.diff(qs, axis=1) >= 0).all()
    assert (qs[:, -1] - qs[:, 0] > 1.0).all()  # real spread from real errors


def test_croston_sba_on_regular_demand_is_the_corrected_size() -> None:
    path = croston_path(np.array([[0.0, 4.0, 0.0, 4.0, 0.0, 4.0]]), alpha=0.1, sba=True)
    # Size 4 every 2 periods: 4 / 2 x (1 - 0.05).
    assert path[0, -1] == pytest.approx(0.95 * 4 / 2)
    f = Croston().forecast(daily({"a": [0.0, 4.0] * 10}), pd.Timestamp("2024-01-20"), 1)
    assert at(f, "a", "2024-01-21") == pytest.approx(0.95 * 2.0)


def test_tsb_decays_when_demand_stops_while_croston_does_not() -> None:
    ys = [3.0] * 20 + [0.0] * 20
    data = daily({"a": ys})
    tsb = TSB().forecast(data, pd.Timestamp("2024-02-09"), 1)
    cro = Croston().forecast(data, pd.Timestamp("2024-02-09"), 1)
    assert at(tsb, "a", "2024-02-10") == pytest.approx(3.0 * (0.9 ** 20), rel=1e-6)
    assert at(cro, "a", "2024-02-10") == pytest.approx(0.95 * 3.0)


def test_a_series_shorter_than_a_season_falls_back_to_its_last_value() -> None:
    f = SeasonalNaive().forecast(daily({"a": [1.0, 2.0, 3.0]}), pd.Timestamp("2024-01-03"), 1)
    assert at(f, "a", "2024-01-04") == 3.0
    assert not math.isnan(at(f, "a", "2024-01-04", qcol(90)))
