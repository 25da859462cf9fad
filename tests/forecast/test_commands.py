"""`threshold forecast backtest` and `plan` through Typer's runner, on small synthetic folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from threshold.forecast import registry
from threshold.forecast.commands import forecast_app
from threshold.forecast.data import ROHLIK_KNOWN

runner = CliRunner()


def rohlik_folder(root: Path, days: int = 63) -> Path:
    """A Rohlik-format folder: train.csv for two warehouses with a weekly pattern."""
    folder = root / "rohlik"
    folder.mkdir()
    rows = []
    for k, wh in enumerate(("Prague_1", "Brno_1")):
        for i, d in enumerate(pd.date_range("2024-01-01", periods=days, freq="D")):
            rows.append({"warehouse": wh, "date": d.date().isoformat(), "orders": 1000 * (k + 1) + 50 * (i % 7) + i,
                         **dict.fromkeys(ROHLIK_KNOWN, 0), "holiday_name": None, "id": f"{wh}_{i}"})
    pd.DataFrame(rows).to_csv(folder / "train.csv", index=False)
    return folder


def vn2_folder(root: Path, weeks: int = 30) -> Path:
    """A VN2-format folder: wide weekly sales and in-stock flags for three series, and the start state."""
    folder = root / "vn2"
    folder.mkdir()
    rng = np.random.default_rng(1)
    cols = [d.date().isoformat() for d in pd.date_range("2023-01-02", periods=weeks, freq="W-MON")]
    keys = [(0, 1), (0, 2), (1, 1)]
    sales = pd.DataFrame([[s, p, *rng.poisson(4, size=weeks)] for s, p in keys], columns=["Store", "Product", *cols])
    stock = pd.DataFrame([[s, p, *([True] * weeks)] for s, p in keys], columns=["Store", "Product", *cols])
    sales.to_csv(folder / "sales_weekly.csv", index=False)
    stock.to_csv(folder / "in_stock_weekly.csv", index=False)
    pd.DataFrame([{"Store": s, "Product": p, "End Inventory": 3, "In Transit W+1": 2, "In Transit W+2": 1}
                  for s, p in keys]).to_csv(folder / "initial_state.csv", index=False)
    return folder


def test_backtest_json_is_the_only_thing_on_stdout(tmp_path: Path) -> None:
    folder = rohlik_folder(tmp_path)
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(folder), "--origins", "5",
                                          "--model", "seasonal_naive", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dataset"] == "rohlik"
    assert len(report["origins"]) == 5 and report["origins"][-1] == "2024-03-02"
    assert set(report["models"]) == {"seasonal_naive", "weekday_mean4", "moving_average"}
    assert report["reference"] == "weekday_mean4"
    assert "seasonal_naive" in report["improvement_vs_reference"]


def test_backtest_table_and_plots(tmp_path: Path) -> None:
    folder = rohlik_folder(tmp_path)
    plots = tmp_path / "plots"
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(folder), "--origins", "3",
                                          "--model", "weekday_mean4", "--plots", str(plots)])
    assert result.exit_code == 0, result.stderr
    assert "weekday_mean4" in result.stdout and "WAPE" in result.stdout
    assert (plots / "forecast_rohlik_wape.png").stat().st_size > 1000
    assert (plots / "forecast_rohlik_zones.png").stat().st_size > 1000


def test_vn2_backtest_reports_total_costs_beside_the_reference(tmp_path: Path) -> None:
    pytest.importorskip("threshold.forecast.inventory")
    folder = vn2_folder(tmp_path)
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "vn2", "--data", str(folder), "--origins", "2",
                                          "--model", "croston", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["h"] == 3 and len(report["origins"]) == 2
    assert report["reference"] == "order_up_to_ma8"
    assert report["reference_total_cost"] is not None
    assert all(m["total_cost"] is not None for m in report["models"].values())


def test_missing_folder_exits_2_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(tmp_path / "nope"),
                                          "--json"])
    assert result.exit_code == 2
    assert "no such folder" in result.stderr
    assert result.stdout == ""


def test_wrong_files_exit_2_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "lacks the columns" in result.stderr
    assert "Traceback" not in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "vn2", "--data", str(empty)])
    assert result.exit_code == 2
    assert "sales_weekly" in result.stderr


def test_unknown_model_or_dataset_exits_2(tmp_path: Path) -> None:
    folder = rohlik_folder(tmp_path)
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(folder),
                                          "--model", "prophet"])
    assert result.exit_code == 2
    assert "unknown model 'prophet'" in result.stderr
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "olist", "--data", str(folder)])
    assert result.exit_code == 2
    assert "rohlik or vn2" in result.stderr


def test_plan_writes_the_move_plan_csv(tmp_path: Path) -> None:
    pytest.importorskip("threshold.forecast.positioning")
    folder = rohlik_folder(tmp_path)
    out = tmp_path / "plan.csv"
    result = runner.invoke(forecast_app, ["plan", "--dataset", "rohlik", "--data", str(folder), "--date", "2024-03-01",
                                          "--model", "weekday_mean4", "--quantile", "90", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    plan = pd.read_csv(out)
    assert sorted(plan["station"]) == ["Brno_1", "Prague_1"]
    assert set(plan["date"]) == {"2024-03-02"}


def test_plan_rejects_a_bad_date(tmp_path: Path) -> None:
    folder = rohlik_folder(tmp_path)
    result = runner.invoke(forecast_app, ["plan", "--dataset", "rohlik", "--data", str(folder), "--date", "soon",
                                          "--model", "seasonal_naive"])
    assert result.exit_code == 2
    assert "not a date" in result.stderr


def test_a_model_whose_module_is_missing_is_reported_not_crashed() -> None:
    make = registry.lazy("threshold.forecast.not_there", "Nothing", engine=False)
    with pytest.raises(registry.ModelUnavailable, match="not_there"):
        make(registry.Options())
    with pytest.raises(registry.UnknownModel, match="unknown model 'prophet'"):
        registry.create("prophet")


def test_default_run_skips_strong_models_that_cannot_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in registry.STRONG:
        monkeypatch.setitem(registry.FACTORIES, name, registry.lazy("threshold.forecast.not_there", "X", False))
    folder = rohlik_folder(tmp_path)
    result = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(folder), "--origins", "2",
                                          "--json"])
    assert result.exit_code == 0, result.stderr
    assert "skipping ets_theta" in result.stderr
    assert set(json.loads(result.stdout)["models"]) == set(registry.baselines("rohlik"))
    asked = runner.invoke(forecast_app, ["backtest", "--dataset", "rohlik", "--data", str(folder), "--model",
                                         "lightgbm"])
    assert asked.exit_code == 2
    assert "model lightgbm" in asked.stderr
