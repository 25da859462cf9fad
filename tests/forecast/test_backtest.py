"""The rolling-origin backtest: origins, no look-ahead, frames, metrics, and the JSON report."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from threshold.forecast import backtest
from threshold.forecast.base import BACKTEST_COLUMNS, QUANTILES, Dataset, Model, qcol
from threshold.forecast.baselines import SeasonalMean, SeasonalNaive
from threshold.forecast.data import load_rohlik

ROHLIK = Path(__file__).resolve().parents[3] / "shared" / "data" / "orders" / "rohlik_orders"


def weekly(n_weeks: int = 60, ids: Sequence[str] = ("s1/p1", "s2/p1")) -> Dataset:
    """A small VN2-shaped dataset: weekly sales per store and product, one censored week."""
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="W-MON")
    rows = [(u, w, float(rng.poisson(5)), True) for u in ids for w in weeks]
    hist = pd.DataFrame(rows, columns=["unique_id", "ds", "y", "in_stock"])
    hist.loc[len(hist) - 1, "in_stock"] = False
    return Dataset(name="vn2", freq="W-MON", season=52, history=hist, calendar=hist[["unique_id", "ds"]],
                   zone={u: u.split("/")[0] for u in ids}, product={u: u.split("/")[1] for u in ids})


def daily(days: int = 70, drop: tuple[str, ...] = ()) -> Dataset:
    """A small Rohlik-shaped dataset: two warehouses, a weekly pattern, some closed days."""
    rows = []
    for k, uid in enumerate(("A", "B")):
        for i, d in enumerate(pd.date_range("2024-01-01", periods=days, freq="D")):
            if d.date().isoformat() not in drop:
                rows.append((uid, d, float(100 * (k + 1) + 10 * (i % 7) + i)))
    hist = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    cal = pd.DataFrame([(u, d) for u in ("A", "B") for d in pd.date_range("2024-01-01", periods=days + 30)],
                       columns=["unique_id", "ds"])
    return Dataset(name="rohlik", freq="D", season=7, history=hist, calendar=cal, zone={"A": "A", "B": "B"},
                   product={"A": "*", "B": "*"})


class Recorder:
    """A model that remembers the latest history date and calendar date it was shown, and forecasts a constant."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]] = []

    def forecast(self, data: Dataset, origin: pd.Timestamp, h: int,
                 quantiles: Sequence[int] = QUANTILES) -> pd.DataFrame:
        """Record what was visible; forecast 100 for every series and step."""
        self.seen.append((origin, data.history["ds"].max(), data.calendar["ds"].max()))
        dates = pd.date_range(origin, periods=h + 1, freq=data.freq)[1:]
        ids = sorted(data.history["unique_id"].unique())
        frame = pd.DataFrame([(u, d) for u in ids for d in dates], columns=["unique_id", "ds"])
        frame["mean"] = 100.0
        for q in quantiles:
            frame[qcol(q)] = 100.0
        return frame


def test_daily_origins_need_an_actual_the_next_day() -> None:
    data = daily(drop=("2024-03-06",))
    got = backtest.origins(data, 3, 1)
    # 03-10 is the last day (nothing after it) and 03-05 is followed by a closed day.
    assert got == [pd.Timestamp("2024-03-07"), pd.Timestamp("2024-03-08"), pd.Timestamp("2024-03-09")]
    assert pd.Timestamp("2024-03-05") not in backtest.origins(data, 10, 1)


def test_weekly_origins_leave_three_weeks_of_actuals() -> None:
    data = weekly(10)
    got = backtest.origins(data, 2, 3)
    last = data.dates()[-1]
    assert got[-1] == last - pd.Timedelta(weeks=3)
    assert got[0] == last - pd.Timedelta(weeks=4)


def test_the_backtest_never_shows_a_model_data_after_its_origin() -> None:
    data = daily()
    rec = Recorder()
    when = backtest.origins(data, 4, 1)
    backtest.run(data, [rec], when, 1, progress=False)
    assert [s[0] for s in rec.seen] == when
    assert all(hist_max <= origin for origin, hist_max, _ in rec.seen)
    # The calendar is known in advance, so it is passed whole.
    assert all(cal_max > origin for origin, _, cal_max in rec.seen)


def test_frames_carry_the_backtest_columns_with_actuals_and_steps() -> None:
    data = weekly()
    when = backtest.origins(data, 2, 3)
    bt = backtest.run(data, [SeasonalNaive(), Recorder()], when, 3, progress=False)
    frame = bt.forecasts["recorder"]
    assert tuple(frame.columns) == BACKTEST_COLUMNS
    assert len(frame) == 2 * 2 * 3
    row = frame[(frame["origin"] == when[0]) & (frame["step"] == 2) & (frame["unique_id"] == "s1/p1")].iloc[0]
    assert row["ds"] == when[0] + pd.Timedelta(weeks=2)
    truth = data.history.set_index(["unique_id", "ds"]).loc[("s1/p1", row["ds"]), "y"]
    assert row["y"] == truth


def test_per_origin_wape_and_the_share_beating_seasonal_naive() -> None:
    data = daily()
    when = backtest.origins(data, 5, 1)
    bt = backtest.run(data, [SeasonalNaive(), Recorder()], when, 1, progress=False)
    per = bt.pooled("recorder")
    for _, r in per.iterrows():
        actual = data.history[data.history["ds"] == r["origin"] + pd.Timedelta(days=1)]["y"]
        assert r["wape"] == pytest.approx(np.abs(actual - 100.0).sum() / actual.sum())
    naive = bt.pooled("seasonal_naive")["wape"].to_numpy()
    expected = float(np.mean(per["wape"].to_numpy() < naive))
    assert bt.beats_naive_share("recorder") == expected
    assert bt.beats_naive_share("seasonal_naive") == 0.0


def test_censored_weeks_are_not_scored() -> None:
    data = weekly()
    when = backtest.origins(data, 1, 3)
    bt = backtest.run(data, [Recorder()], when, 3, progress=False)
    pooled = bt.totals[(bt.totals["model"] == "recorder") & (bt.totals["zone"] == "*")].iloc[0]
    assert pooled["n"] == 2 * 3 - 1


def test_json_report_shape_and_reference() -> None:
    data = daily()
    when = backtest.origins(data, 6, 1)
    models: list[Model] = [SeasonalNaive(), SeasonalMean(4, name="weekday_mean4"), Recorder()]
    bt = backtest.run(data, models, when, 1, progress=False, baselines=("seasonal_naive", "weekday_mean4"))
    report = backtest.to_json(bt)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text)["origins"] == [o.date().isoformat() for o in when]
    assert report["reference"] == "weekday_mean4"
    assert report["baselines"] == ["seasonal_naive", "weekday_mean4"]
    entry = report["models"]["recorder"]
    assert set(entry) >= {"wape", "mase", "bias", "pinball", "wape_spread", "beats_seasonal_naive_share",
                          "counts_as_better", "zones"}
    assert set(entry["zones"]) == {"A", "B"}
    ref = report["models"]["weekday_mean4"]["wape"]
    assert report["improvement_vs_reference"]["recorder"] == pytest.approx(1 - entry["wape"] / ref, abs=1e-5)
    assert "weekday_mean4" not in report["improvement_vs_reference"]
    assert entry["counts_as_better"] == (entry["beats_seasonal_naive_share"] >= 0.7)


def test_json_report_for_vn2_reads_total_costs() -> None:
    data = weekly()
    when = backtest.origins(data, 2, 3)
    bt = backtest.run(data, [SeasonalNaive(), Recorder()], when, 3, progress=False)
    report = backtest.to_json(bt, {"seasonal_naive": 80.0, "recorder": 60.0, "order_up_to_ma8": 100.0})
    assert report["reference"] == "order_up_to_ma8"
    assert report["reference_total_cost"] == 100.0
    assert report["models"]["recorder"]["total_cost"] == 60.0
    assert report["improvement_vs_reference"] == {"seasonal_naive": pytest.approx(0.2), "recorder": pytest.approx(0.4)}


@pytest.mark.skipif(not ROHLIK.is_dir(), reason="the shared Rohlik data is not here")
def test_baselines_on_three_real_rohlik_origins() -> None:
    data = load_rohlik(ROHLIK)
    when = backtest.origins(data, 3, 1)
    bt = backtest.run(data, [SeasonalNaive(), SeasonalMean(4, name="weekday_mean4")], when, 1, progress=False)
    report = backtest.to_json(bt)
    for name in ("seasonal_naive", "weekday_mean4"):
        wape = report["models"][name]["wape"]
        assert wape is not None and 0.0 < wape < 0.5
        assert len(report["models"][name]["zones"]) == len(data.zone)
    assert not math.isnan(bt.beats_naive_share("weekday_mean4"))
