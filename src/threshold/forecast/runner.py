"""What `threshold forecast` runs: read a dataset, build its models, backtest them and tabulate the report.

Kept apart from the command definitions so that `threshold` itself starts without importing pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from threshold.forecast import backtest, registry
from threshold.forecast.base import Dataset, DatasetName, Model
from threshold.forecast.data import load

console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True)
    return typer.Exit(2)


def dataset_name(name: str) -> DatasetName:
    if name == "rohlik":
        return "rohlik"
    if name == "vn2":
        return "vn2"
    raise fail(f"--dataset must be rohlik or vn2, not {name!r}")


def load_data(name: DatasetName, folder: Path) -> Dataset:
    """The dataset from `folder`, or exit 2 with the reason (no folder, missing files, wrong format)."""
    if not folder.is_dir():
        raise fail(f"--data {folder}: no such folder")
    try:
        data = load(name, folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Whatever breaks while reading is the files' fault here: report it, never a traceback.
        raise fail(f"--data {folder}: cannot read the {name} files: {exc}") from None
    if data.history.empty:
        raise fail(f"--data {folder}: the {name} files hold no rows")
    return data


def build_models(dataset: DatasetName, wanted: list[str] | None, options: registry.Options) -> list[Model]:
    """The dataset's baselines plus the models asked for (all defaults when none); unknown names exit 2."""
    names = list(registry.baselines(dataset))
    extra = wanted if wanted else list(registry.STRONG)
    for name in extra:
        try:
            registry.check(name)
        except registry.UnknownModel as exc:
            raise fail(str(exc)) from None
        if name not in names:
            names.append(name)
    models = []
    for name in names:
        try:
            models.append(registry.create(name, options))
        except registry.ModelUnavailable as exc:
            if wanted and name in wanted:
                raise fail(f"model {name}: {exc}") from None
            console.print(f"[yellow]skipping {name}: {exc}[/yellow]")
        except ValueError as exc:
            raise fail(f"model {name}: {exc}") from None
    return models


def vn2_costs(data: Dataset, bt: backtest.Backtest) -> dict[str, float] | None:
    """Total cost of each model's ordering policy and of the reference policy over the backtest's origins."""
    try:
        from threshold.forecast import inventory
    except ImportError as exc:
        console.print(f"[yellow]no VN2 costs: {exc}[/yellow]")
        return None
    costs: dict[str, float] = inventory.evaluate_vn2(data, bt.forecasts, bt.origins)
    return costs


def close(models: list[Model]) -> None:
    for m in models:
        close = getattr(m, "close", None)
        if callable(close):
            close()


def run_backtest(data: Dataset, models: list[Model], k: int, *, progress: bool = True) -> tuple[
        backtest.Backtest, dict[str, Any]]:
    """Backtest the models over the last k origins and build the JSON report (with VN2 costs)."""
    h = backtest.HORIZON[data.name]
    when = backtest.origins(data, k, h)
    if not when:
        raise fail(f"the data has no origin with {h} periods of actuals after it")
    try:
        bt = backtest.run(data, models, when, h, progress=progress, baselines=registry.baselines(data.name))
    finally:
        close(models)
    costs = vn2_costs(data, bt) if data.name == "vn2" else None
    return bt, backtest.to_json(bt, costs)


def table(report: dict[str, Any]) -> Table:
    """A Rich table of the report: pooled metrics, spread, share of origins beating seasonal naive, target."""
    vn2 = report["dataset"] == "vn2"
    t = Table(title=f"{report['dataset']}: {len(report['origins'])} origins "
                    f"{report['origins'][0]}..{report['origins'][-1]}, h={report['h']}, "
                    f"reference {report['reference']}",
              caption=f"baselines: {', '.join(report['baselines'])}; * beats seasonal naive on at least "
                      f"{report['better_share']:.0%} of origins; gain = how far the model's "
                      f"{'total cost' if vn2 else 'WAPE'} is below the reference's")
    for col in ("model", "WAPE", "WAPE p10-p90", "MASE", "bias", "pinball", "beats naive", "gain vs ref",
                *(("total cost",) if vn2 else ())):
        t.add_column(col, justify="left" if col == "model" else "right")

    def f(v: Any, fmt: str = "{:.4f}") -> str:
        return "-" if v is None else fmt.format(v)

    for name, m in report["models"].items():
        spread = m["wape_spread"]
        gain = report["improvement_vs_reference"].get(name)
        mark = " *" if m["counts_as_better"] else ""
        row = [name, f(m["wape"]),
               f"{f(spread['p10'])}-{f(spread['p90'])}", f(m["mase"]), f(m["bias"], "{:+.4f}"), f(m["pinball"]),
               f(m["beats_seasonal_naive_share"], "{:.0%}") + mark, f(gain, "{:+.1%}")]
        if vn2:
            row.append(f(m.get("total_cost"), "{:,.0f}"))
        t.add_row(*row)
    if vn2:
        t.add_row(report["reference"] + " (policy)", *["-"] * 7, f(report.get("reference_total_cost"), "{:,.0f}"))
    return t
