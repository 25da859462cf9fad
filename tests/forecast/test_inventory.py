"""The VN2 ordering game: arithmetic of the simulation, the reference policy and the quantile policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from threshold.forecast.base import QUANTILES, Dataset, qcol
from threshold.forecast.inventory import (
    BASELINE,
    Costs,
    default_start,
    evaluate_vn2,
    next_orders,
    order_quantities,
    order_up_to_ma,
    quantile_policy,
    simulate,
)

WEEKS = pd.date_range("2024-01-01", periods=16, freq="W-MON")


def weekly(sales: dict[str, list[int]] | dict[str, list[float]]) -> Dataset:
    """A VN2-shaped dataset: one weekly series per id, store/product split on '/'."""
    rows = [{"unique_id": uid, "ds": WEEKS[i], "y": float(v), "in_stock": True}
            for uid, values in sales.items() for i, v in enumerate(values)]
    hist = pd.DataFrame(rows)
    return Dataset(name="vn2", freq="W-MON", season=52, history=hist, calendar=hist[["unique_id", "ds"]],
                   zone={u: u.split("/")[0] for u in sales}, product={u: u.split("/")[1] for u in sales})


def state(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["unique_id", "on_hand", "transit_1", "transit_2"])


def exact(data: Dataset, origins: list[pd.Timestamp]) -> pd.DataFrame:
    """Backtest frame whose every quantile is the actual value: a perfect forecast."""
    hist = data.history.set_index(["unique_id", "ds"])["y"]
    parts = []
    for o in origins:
        for step in (1, 2, 3):
            ds = o + step * pd.offsets.Week(weekday=0)
            f = pd.DataFrame({"origin": o, "unique_id": sorted(data.zone), "ds": ds, "step": step})
            f["y"] = [hist[(u, ds)] for u in f["unique_id"]]
            f["mean"] = f["y"]
            for q in QUANTILES:
                f[qcol(q)] = f["y"]
            parts.append(f)
    return pd.concat(parts, ignore_index=True)


def test_order_arrives_three_weeks_later_sales_are_lost_and_only_the_shelf_is_charged() -> None:
    data = weekly({"s/p": [1] * 9 + [4, 6, 3] + [0] * 4})
    start = state([("s/p", 5, 2, 0)])
    result = simulate(data, [WEEKS[8]], lambda o, s: pd.Series(10.0, index=s["unique_id"]), Costs(), start)
    # Week 9: shelf 5+2, sells 4, keeps 3 (0.6). Week 10: shelf 3, demand 6, 3 lost (3.0); the order of 10 is
    # still in transit and costs nothing. Week 11: it lands, sells 3, keeps 7 (1.4). Lost sales are not owed later.
    assert list(result.weekly["ds"]) == list(WEEKS[9:12])
    assert result.weekly["holding"].round(6).tolist() == [0.6, 0.0, 1.4]
    assert result.weekly["shortage"].tolist() == [0.0, 3.0, 0.0]
    assert result.total == pytest.approx(5.0)
    assert result.per_series.set_index("unique_id").loc["s/p", "lost"] == 3.0


def test_default_start_is_the_rounded_eight_week_mean_everywhere() -> None:
    data = weekly({"s/p": [100, 100, 1, 2, 3, 4, 5, 6, 7, 8] + [0] * 6})
    got = default_start(data, WEEKS[9]).iloc[0]
    assert (got["on_hand"], got["transit_1"], got["transit_2"]) == (5.0, 5.0, 5.0)  # mean of 1..8 = 4.5 -> 5


def test_reference_orders_four_weeks_of_the_moving_average_less_the_position() -> None:
    data = weekly({"a/1": [2, 4] * 4 + [0] * 8, "b/1": [10] * 16})
    rule = order_up_to_ma(8, 4.0, data=data)
    got = rule(WEEKS[7], state([("a/1", 3, 1, 2), ("b/1", 50, 0, 0)]))
    assert got["a/1"] == 4 * 3 - (3 + 1 + 2)
    assert got["b/1"] == 0  # already above 4 weeks of cover: never a negative order


def test_simulate_binds_the_reference_to_its_dataset() -> None:
    data = weekly({"a/1": [3] * 16})
    origins = list(WEEKS[8:12])
    result = simulate(data, origins, order_up_to_ma())
    assert result.total == pytest.approx(simulate(data, origins, order_up_to_ma(data=data)).total)
    assert result.shortage == 0.0 and result.holding > 0.0


def test_perfect_forecast_leaves_nothing_short_and_nothing_on_the_shelf() -> None:
    rng = np.random.default_rng(3)
    sales = {f"s{i}/p": rng.poisson(4 + 3 * i, 16).astype(float).tolist() for i in range(4)}
    data = weekly(sales)
    origins = list(WEEKS[8:13])
    start = state([(u, 0.0, v[9], v[10]) for u, v in sales.items()])
    result = simulate(data, origins, quantile_policy(exact(data, origins), Costs()), Costs(), start)
    assert result.shortage == 0.0
    assert result.holding == 0.0
    assert result.weekly["demand"].sum() > 0


def test_quantile_policy_knows_sales_before_arrival_are_lost_not_owed() -> None:
    frame = pd.DataFrame({"unique_id": ["x"], "mean": [5.0], **{qcol(q): [5.0] for q in QUANTILES}})
    steps = [frame.assign(step=s) for s in (1, 2, 3)]
    # An empty shelf stays empty through weeks 1-2; only week 3's demand can still be served.
    assert order_quantities(state([("x", 0, 0, 0)]), steps)["x"] == 5
    # Stock that weeks 1-2 will not use is counted against the order.
    assert order_quantities(state([("x", 12, 0, 0)]), steps)["x"] == 3


def test_quantile_policy_orders_near_the_critical_ratio_of_uncertain_demand() -> None:
    levels = np.array(QUANTILES) / 100.0
    frame = pd.DataFrame({"unique_id": ["x"], "mean": [50.0], **{qcol(q): [100.0 * p] for q, p in
                                                                 zip(QUANTILES, levels, strict=True)}})
    steps = [frame.assign(step=1), frame.assign(step=2), frame.assign(step=3)]
    big = state([("x", 1000, 0, 0)])
    assert order_quantities(big, steps)["x"] == 0
    empty = order_quantities(state([("x", 0, 0, 0)]), steps)["x"]
    # Demand uniform on 0..100: the ratio 1/1.2 puts the order near 83.
    assert 80 <= empty <= 86


def test_evaluate_names_every_model_and_the_reference_and_next_orders_has_plan_columns() -> None:
    data = weekly({"s/p": [4, 5, 6, 5] * 4, "t/q": [0, 1, 0, 2] * 4})
    origins = list(WEEKS[8:12])
    costs = evaluate_vn2(data, {"perfect": exact(data, origins)}, origins)
    assert set(costs) == {"perfect", BASELINE}
    assert costs["perfect"] < costs[BASELINE]
    fc = exact(data, [WEEKS[10]]).drop(columns=["origin", "step", "y"])
    plan = next_orders(data, state([("s/p", 0, 0, 0), ("t/q", 0, 0, 0)]), fc)
    assert list(plan.columns) == ["unique_id", "store", "product", "order"]
    assert plan.set_index("unique_id").loc["s/p", "order"] == data.history.set_index(["unique_id", "ds"]).loc[
        ("s/p", WEEKS[13]), "y"]


def test_simulate_refuses_origins_without_three_recorded_weeks_after() -> None:
    data = weekly({"s/p": [1.0] * 16})
    with pytest.raises(ValueError, match="weeks after"):
        simulate(data, [WEEKS[13]], order_up_to_ma())
