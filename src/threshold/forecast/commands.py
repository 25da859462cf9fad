"""`threshold forecast`: rolling-origin backtests of the demand models, and the next move plan.

Only option parsing lives here; the work is imported when a command runs (see `runner`), so every other
`threshold` command starts without pandas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

forecast_app = typer.Typer(help="Forecast demand per zone: backtests and move plans.", no_args_is_help=True)
console = Console(stderr=True)

DatasetOpt = Annotated[str, typer.Option("--dataset", help="rohlik or vn2")]
DataOpt = Annotated[Path, typer.Option("--data", help="Folder with the dataset's CSV files (plain or .gz)")]
EngineOpt = Annotated[str, typer.Option("--engine", help="statsforecast engine of ets_theta: local or dask")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Dask workers when --engine dask")]


@forecast_app.command("backtest")
def backtest_command(
    dataset: DatasetOpt, data: DataOpt,
    origins: Annotated[int | None, typer.Option("--origins", min=1, help="Last K origins (28 Rohlik, 8 VN2)")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Model to run beside the baselines; "
                                                    "repeatable (default: ets_theta and lightgbm)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON report on stdout")] = False,
    plots: Annotated[Path | None, typer.Option("--plots", help="Folder for PNG plots")] = None,
    engine: EngineOpt = "local", workers: WorkersOpt = 2,
) -> None:
    """Rolling-origin backtest: each model against the baselines on the last K origins of the data."""
    from threshold.forecast import backtest, registry, runner

    name = runner.dataset_name(dataset)
    data_set = runner.load_data(name, data)
    models = runner.build_models(name, model, registry.Options(engine, workers))
    k = origins or backtest.DEFAULT_ORIGINS[name]
    bt, report = runner.run_backtest(data_set, models, k)
    if plots is not None:
        from threshold.forecast import plots as plotting

        band = next((m for m in reversed(list(bt.forecasts)) if m not in bt.baselines), None)
        for path in plotting.write_all(bt, data_set.zone, plots, band=band):
            console.print(f"wrote {path}")
    if as_json:
        print(json.dumps(report))
    else:
        Console().print(runner.table(report))


@forecast_app.command("plan")
def plan_command(
    dataset: DatasetOpt, data: DataOpt,
    date: Annotated[str, typer.Option("--date", help="Last day known (YYYY-MM-DD): plan the period after it")],
    model: Annotated[str | None, typer.Option("--model", help="Model (default: lightgbm)")] = None,
    quantile: Annotated[int | None, typer.Option("--quantile", min=1, max=99,
                                                 help="Service level in percent (Rohlik)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="CSV to write "
                                             "(default move-plan-<dataset>-<date>.csv)")] = None,
    stock: Annotated[Path | None, typer.Option("--stock", help="CSV station,product,units of forward "
                                               "stock on hand (Rohlik)")] = None,
    engine: EngineOpt = "local", workers: WorkersOpt = 2,
) -> None:
    """Write the next move plan (Rohlik) or order plan (VN2) as CSV from what is known at --date."""
    import pandas as pd

    from threshold.forecast import registry, runner

    name = runner.dataset_name(dataset)
    when = pd.to_datetime(date, errors="coerce")
    if pd.isna(when):
        raise runner.fail(f"--date {date!r} is not a date (YYYY-MM-DD)")
    runner.load_data(name, data)
    chosen = model or registry.PLAN_MODEL[name]
    try:
        m = registry.create(chosen, registry.Options(engine, workers))
    except (registry.UnknownModel, registry.ModelUnavailable, ValueError) as exc:
        raise runner.fail(str(exc)) from None
    try:
        from threshold.forecast import positioning
    except ImportError as exc:
        raise runner.fail(f"planning is not available: {exc}") from None
    target = out or Path(f"move-plan-{name}-{pd.Timestamp(when).date().isoformat()}.csv")
    try:
        plan = positioning.write_plan(name, data, pd.Timestamp(when), m, target, quantile, stock)
    except (OSError, ValueError) as exc:
        raise runner.fail(str(exc)) from None
    finally:
        runner.close([m])
    console.print(f"wrote {target}: {len(plan)} rows")
