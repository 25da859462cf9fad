"""Pre-positioning: the move rule, its simulation, the level curve and the written plan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from threshold.forecast.base import QUANTILES, Dataset, qcol
from threshold.forecast.data import ROHLIK_KNOWN
from threshold.forecast.positioning import (
    ROHLIK_PLAN,
    VN2_PLAN,
    PositionCosts,
    curve,
    default_level,
    move_units,
    plot_curve,
    simulate,
    write_plan,
)

DAYS = pd.date_range("2024-03-01", periods=30, freq="D")


def daily(ids: Sequence[str]) -> Dataset:
    hist = pd.DataFrame([{"unique_id": u, "ds": d, "y": 10.0} for u in ids for d in DAYS])
    return Dataset(name="rohlik", freq="D", season=7, history=hist, calendar=hist[["unique_id", "ds"]],
                   zone={u: u for u in ids}, product={u: "*" for u in ids})


def frame(uid: str, actual: list[float], quantile: list[float]) -> pd.DataFrame:
    """Step-1 backtest rows for one series whose every quantile is `quantile`."""
    f = pd.DataFrame({"origin": DAYS[: len(actual)], "unique_id": uid, "ds": DAYS[1: len(actual) + 1], "step": 1,
                      "mean": quantile, "y": actual})
    for q in QUANTILES:
        f[qcol(q)] = quantile
    return f


def test_move_tops_the_forward_stock_up_to_the_rounded_up_quantile() -> None:
    assert move_units(7.2, 3) == 5
    assert move_units(7.0, 3) == 4
    assert move_units(2.5, 9) == 0


def test_default_level_follows_the_break_even_ratio() -> None:
    costs = PositionCosts()
    assert costs.critical_ratio == pytest.approx(0.8 / 1.25)
    assert default_level(costs) == 60
    assert default_level(PositionCosts(move_cost=0.01, holding=0.01)) == 98


def test_perfect_forecast_serves_every_unit_forward_and_wastes_nothing() -> None:
    actual = [3.0, 0.0, 7.0, 2.0, 5.0]
    out = simulate(daily(["w"]), frame("w", actual, actual), 90, PositionCosts(waste_periods=2))
    assert out.hit_rate == 1.0
    assert out.wasted == 0.0 and out.stock_days == 0.0
    assert out.net_value == pytest.approx(17 * (1.0 - 0.2))


def test_over_forecast_is_wasted_once_it_has_waited_n_periods() -> None:
    data, fc = daily(["w"]), frame("w", [2.0, 0.0, 0.0], [5.0, 0.0, 0.0])
    two = simulate(data, fc, 50, PositionCosts(waste_periods=2))
    # Day 0: 5 moved, 2 used, 3 held. Day 1: nothing used, 3 held again; they have waited 2 days and go back.
    assert (two.moved, two.hits, two.wasted, two.stock_days) == (5.0, 2.0, 3.0, 6.0)
    assert two.net_value == pytest.approx(2 - 5 * 0.2 - 6 * 0.05 - 3 * 0.2)
    one = simulate(data, fc, 50, PositionCosts(waste_periods=1))
    assert (one.wasted, one.stock_days) == (3.0, 3.0)


def test_leftover_serves_the_next_day_first_and_saves_a_move() -> None:
    out = simulate(daily(["w"]), frame("w", [2.0, 3.0], [5.0, 3.0]), 50, PositionCosts(waste_periods=2))
    assert (out.moved, out.hits, out.wasted) == (5.0, 5.0, 0.0)


def noisy(seed: int = 7) -> tuple[Dataset, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    parts = []
    for uid in ("a", "b", "c"):
        actual = rng.poisson(20, 25).astype(float)
        f = frame(uid, actual.tolist(), [0.0] * 25)
        mu = actual + rng.normal(0, 4, 25)
        for q in QUANTILES:
            f[qcol(q)] = np.maximum(0.0, mu + 5 * (q - 50) / 25)
        parts.append(f)
    return daily(["a", "b", "c"]), pd.concat(parts, ignore_index=True)


def test_a_higher_level_never_lowers_the_hit_rate(tmp_path: Path) -> None:
    data, fc = noisy()
    table = curve(data, fc)
    assert list(table["level"]) == list(QUANTILES)
    assert (table["hit_rate"].diff().dropna() >= 0).all()
    assert table["hit_rate"].iloc[-1] > table["hit_rate"].iloc[0]
    assert (table["wasted_moves"].diff().dropna() >= 0).all()
    png = tmp_path / "curve.png"
    plot_curve(table, png, "synthetic")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class Flat:
    """A model that forecasts 12.3 with quantiles 8..16 for every series and period."""

    name = "flat"

    def forecast(self, data: Dataset, origin: pd.Timestamp, h: int,
                 quantiles: Sequence[int] = QUANTILES) -> pd.DataFrame:
        step = pd.tseries.frequencies.to_offset(data.freq)
        rows = []
        for uid in sorted(data.zone):
            for k in range(1, h + 1):
                row: dict[str, object] = {"unique_id": uid, "ds": pd.Timestamp(origin) + k * step, "mean": 12.3}
                row.update({qcol(q): 8 + 8 * q / 100 for q in quantiles})
                rows.append(row)
        return pd.DataFrame(rows)


def test_rohlik_plan_writes_moves_for_the_next_day(tmp_path: Path) -> None:
    folder = tmp_path / "rohlik"
    folder.mkdir()
    pd.DataFrame({"warehouse": ["P1"] * 5 + ["B1"] * 5, "date": [d.date() for d in DAYS[:5]] * 2,
                  "orders": [10, 11, 12, 13, 14] * 2, **{flag: 0 for flag in ROHLIK_KNOWN}}).to_csv(
        folder / "train.csv", index=False)
    stock = tmp_path / "stock.csv"
    pd.DataFrame({"station": ["P1"], "product": ["*"], "units": [5]}).to_csv(stock, index=False)
    out = tmp_path / "plan.csv"
    plan = write_plan("rohlik", folder, DAYS[4], Flat(), out, level=50, stock=stock)
    written = pd.read_csv(out)
    assert tuple(written.columns) == ROHLIK_PLAN
    by = plan.set_index("station")
    assert by.loc["P1", "date"] == DAYS[5].date().isoformat()
    assert (by.loc["P1", "target"], by.loc["P1", "on_hand"], by.loc["P1", "move_units"]) == (12, 5.0, 7)
    assert by.loc["B1", "move_units"] == 12
    with pytest.raises(ValueError, match="outside the data"):
        write_plan("rohlik", folder, DAYS[20], Flat(), out, level=50)


def test_vn2_plan_uses_the_recorded_state_on_the_last_week(tmp_path: Path) -> None:
    folder = tmp_path / "vn2"
    folder.mkdir()
    weeks = [d.date().isoformat() for d in pd.date_range("2024-01-01", periods=10, freq="W-MON")]
    pd.DataFrame([{"Store": 1, "Product": 7, **{w: 12 for w in weeks}}]).to_csv(folder / "sales_weekly.csv",
                                                                                 index=False)
    pd.DataFrame({"Store": [1], "Product": [7], "End Inventory": [3], "In Transit W+1": [4],
                  "In Transit W+2": [5]}).to_csv(folder / "initial_state.csv", index=False)
    out = tmp_path / "orders.csv"
    plan = write_plan("vn2", folder, pd.Timestamp(weeks[-1]), Flat(), out, level=None)
    assert tuple(pd.read_csv(out).columns) == VN2_PLAN
    row = plan.iloc[0]
    assert (row["station"], row["product"], row["on_hand"], row["in_transit"]) == ("1", "7", 3.0, 9.0)
    assert row["week"] == (pd.Timestamp(weeks[-1]) + pd.Timedelta(weeks=3)).date().isoformat()
    assert row["level"] == 83
    # Flat demand 8..16 a week: 3+4 and 5 more cannot outlast weeks 1-2, so the order covers most of week 3.
    assert 13 <= row["order_units"] <= 16
    with pytest.raises(ValueError, match="outside the data"):
        write_plan("vn2", folder, pd.Timestamp("2023-01-02"), Flat(), out)
