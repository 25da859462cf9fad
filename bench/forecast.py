"""Forecast accuracy on real order histories: every model on the same rolling origins, against the targets.

Rohlik (daily orders per warehouse): next-day WAPE at least 15% below the same-weekday mean of the last 4 weeks.
VN2 (weekly units per store and product): total cost of the quantile ordering policy at least 15% below
order-up-to on an 8-week moving average. A model counts as better only if it beats seasonal naive on at least
70% of the origins.

    .venv/bin/python bench/forecast.py                                   # both datasets, every model
    .venv/bin/python bench/forecast.py --datasets rohlik --models ets_theta --rohlik-origins 7   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from threshold.forecast import backtest, plots, positioning, registry, runner
from threshold.forecast.base import Dataset, DatasetName

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT.parent / "shared" / "data" / "orders"
FOLDERS: dict[DatasetName, str] = {"rohlik": "rohlik_orders", "vn2": "vn2"}


def bench(dataset: DatasetName, folder: Path, k: int, wanted: list[str] | None, options: registry.Options,
          out: Path) -> dict[str, Any]:
    """Backtest one dataset, write its plots, and return its report."""
    data = runner.load_data(dataset, folder)
    bt, report = runner.run_backtest(data, runner.build_models(dataset, wanted, options), k)
    strong = [n for n in bt.forecasts if n not in bt.baselines]
    band = min(strong or list(bt.forecasts), key=lambda n: report["models"][n][bt.criterion] or float("inf"))
    paths = plots.write_all(bt, data.zone, out, band=band)
    curve_png, report["position_curve"] = position_curve(data, bt.forecasts[band], band, out)
    paths.append(curve_png)
    report["plots"] = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths]
    return report


def position_curve(data: Dataset, forecasts: pd.DataFrame, model: str, out: Path) -> tuple[Path, list[Any]]:
    """Pre-position with `model`'s forecasts at every level: hit rate against wasted moves, as a table and a PNG."""
    frame = positioning.curve(data, forecasts)
    path = out / f"positioning_{data.name}_curve.png"
    positioning.plot_curve(frame, path, f"{data.name}: pre-positioning with {model}, {frame.shape[0]} levels")
    table_ = Table(title=f"{data.name}: pre-positioning with {model} (default costs)")
    for col in frame.columns:
        table_.add_column(col, justify="right")
    for row in frame.itertuples(index=False):
        table_.add_row(*[f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row])
    Console(width=140).print(table_)
    return path, frame.to_dict("records")


def verdict(report: dict[str, Any]) -> str:
    """One line: the best model against the reference and whether it meets the target."""
    gains = {n: g for n, g in report["improvement_vs_reference"].items() if g is not None}
    # The forecasting models are judged; a baseline stands in only when no other model ran.
    models = {n: g for n, g in gains.items() if n not in report["baselines"]}
    gains = models or gains
    if not gains:
        return f"{report['dataset']}: no model to compare with {report['reference']}"
    best = max(gains, key=lambda n: gains[n])
    m = report["models"][best]
    what = "total cost" if report["dataset"] == "vn2" else "WAPE"
    ok = "MET" if m.get("meets_target") else "NOT met"
    share = m["beats_seasonal_naive_share"]
    return (f"{report['dataset']}: best {best}: {what} {gains[best]:.1%} below {report['reference']} (target "
            f"{report['target']:.0%}), beats seasonal naive on {share or 0:.0%} of origins (needs "
            f"{report['better_share']:.0%}) -> target {ok}")


def main() -> None:
    """Parse options, run both datasets, print the tables, the verdicts and the command that reproduces them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder with rohlik_orders/ and vn2/")
    parser.add_argument("--datasets", default="rohlik,vn2")
    parser.add_argument("--rohlik-origins", type=int, default=backtest.DEFAULT_ORIGINS["rohlik"])
    parser.add_argument("--vn2-origins", type=int, default=backtest.DEFAULT_ORIGINS["vn2"])
    parser.add_argument("--models", default="", help="models beside the baselines (default: ets_theta,lightgbm)")
    parser.add_argument("--engine", default="local", help="statsforecast engine of ets_theta: local or dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plots", type=Path, default=ROOT / "docs" / "bench")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "forecast.json")
    args = parser.parse_args()
    wanted = [m for m in args.models.split(",") if m] or None
    for name in wanted or []:
        if name not in registry.names():
            parser.error(f"unknown model {name!r}: choose from {', '.join(registry.names())}")
    options = registry.Options(args.engine, args.workers)
    began = time.perf_counter()
    reports: dict[str, Any] = {}
    for name in [d for d in args.datasets.split(",") if d]:
        if name not in FOLDERS:
            parser.error(f"unknown dataset {name!r}: use rohlik or vn2")
        dataset: DatasetName = "rohlik" if name == "rohlik" else "vn2"
        k = args.rohlik_origins if dataset == "rohlik" else args.vn2_origins
        reports[dataset] = bench(dataset, args.data_root / FOLDERS[dataset], k, wanted, options, args.plots)
    out = Console(width=140)
    for report in reports.values():
        out.print(runner.table(report))
    for report in reports.values():
        print(verdict(report))
    command = " ".join([".venv/bin/python bench/forecast.py", *(shlex.quote(a) for a in sys.argv[1:])])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"reports": reports, "wall_s": round(time.perf_counter() - began, 1),
                                     "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                                                 "python": platform.python_version()},
                                     "reproduce": command}, indent=1))
    for report in reports.values():
        print(f"plots: {', '.join(report['plots'])}")
    print(f"json: {args.json}")
    print(f"reproduce: {command}")


if __name__ == "__main__":
    main()
