"""Accuracy metrics against hand-computed values, zero denominators, censoring and per-zone pooling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from threshold.forecast import metrics
from threshold.forecast.base import qcol


def test_wape_and_bias_match_hand_values() -> None:
    y, f = [10.0, 0.0, 30.0], [12.0, 1.0, 24.0]
    assert metrics.wape(y, f) == (2 + 1 + 6) / 40
    assert metrics.bias(y, f) == (2 + 1 - 6) / 40


def test_zero_denominators_give_nan_not_errors() -> None:
    assert math.isnan(metrics.wape([0.0, 0.0], [1.0, 2.0]))
    assert math.isnan(metrics.bias([0.0], [1.0]))
    assert math.isnan(metrics.mase([1.0], [2.0], [0.0]))
    assert math.isnan(metrics.pinball([0.0], {50: [1.0]}))
    assert math.isnan(metrics.wape([], []))


def test_mase_skips_rows_without_a_usable_scale() -> None:
    got = metrics.mase([10.0, 10.0, 10.0], [12.0, 4.0, 0.0], [2.0, 3.0, np.nan])
    assert got == (1.0 + 2.0) / 2


def test_pinball_averages_levels_and_divides_by_actuals() -> None:
    y = [10.0, 20.0]
    # q10 = (8, 25): 0.1*2 + 0.9*5 = 4.7; q90 = (12, 18): 0.1*2 + 0.9*2 = 2.0 -> mean 3.35 over sum 30
    got = metrics.pinball(y, {10: [8.0, 25.0], 90: [12.0, 18.0]})
    assert math.isclose(got, 3.35 / 30)
    # At the median the pinball loss is half the absolute error.
    assert math.isclose(metrics.pinball(y, {50: [12.0, 17.0]}), 0.5 * metrics.wape(y, [12.0, 17.0]))


def test_seasonal_scale_pairs_by_date_and_skips_censored_weeks() -> None:
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-08", "2024-01-09", "2024-01-16"])
    hist = pd.DataFrame({"unique_id": "a", "ds": days, "y": [10.0, 5.0, 13.0, 9.0, 100.0],
                         "in_stock": [True, True, True, True, True]})
    # Pairs 7 days apart: (01-08, 01-01) -> 3, (01-09, 01-02) -> 4, (01-16, 01-09) -> 91.
    assert math.isclose(metrics.seasonal_scale(hist, 7, "D")["a"], (3 + 4 + 91) / 3)
    hist.loc[4, "in_stock"] = False
    assert math.isclose(metrics.seasonal_scale(hist, 7, "D")["a"], 3.5)


def test_scored_drops_unknown_and_censored_actuals() -> None:
    ds = pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15"])
    frame = pd.DataFrame({"unique_id": "a", "ds": ds, "mean": 1.0, "y": [1.0, 2.0, np.nan]})
    hist = pd.DataFrame({"unique_id": "a", "ds": ds[:2], "y": [1.0, 2.0], "in_stock": [True, False]})
    kept = metrics.scored(frame, hist)
    assert list(kept["ds"]) == [ds[0]]


def test_by_zone_reports_each_zone_and_the_pool() -> None:
    frame = pd.DataFrame({"unique_id": ["a", "b", "c"], "y": [10.0, 10.0, 20.0], "mean": [11.0, 8.0, 20.0],
                          qcol(50): [10.0, 10.0, 20.0], "scale": [1.0, 2.0, 4.0]})
    out = metrics.by_zone(frame, {"a": "north", "b": "north", "c": "south"}).set_index("zone")
    assert math.isclose(out.loc["north", "wape"], 3 / 20)
    assert out.loc["south", "wape"] == 0.0
    assert math.isclose(out.loc["*", "wape"], 3 / 40)
    assert math.isclose(out.loc["*", "mase"], (1 / 1 + 2 / 2 + 0) / 3)
    assert out.loc["*", "pinball"] == 0.0


def test_spread_of_per_origin_values() -> None:
    got = metrics.spread([0.1, 0.2, 0.3, float("nan")])
    assert math.isclose(got["mean"], 0.2)
    assert math.isclose(got["std"], 0.1)
    assert math.isclose(got["p10"], 0.12)
    assert math.isnan(metrics.spread([])["mean"])
