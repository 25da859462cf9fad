"""PNG plots of a backtest: a metric per origin per model, and forecast against actual per zone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from threshold.forecast.backtest import Backtest
from threshold.forecast.base import qcol


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_origin(bt: Backtest, metric: str, path: Path, title: str | None = None) -> Path:
    """One line per model: its pooled `metric` at each origin."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 4.0))
    for name in bt.forecasts:
        rows = bt.pooled(name)
        ax.plot(pd.to_datetime(rows["origin"]), rows[metric], marker="o", markersize=3, linewidth=1.2, label=name)
    ax.set_ylabel(f"pooled {metric}")
    ax.set_xlabel("origin (last day known)")
    ax.set_title(title or f"{bt.dataset}: {metric} per origin, h={bt.h}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def zone_frame(bt: Backtest, zone: dict[str, str], model: str, step: int = 1) -> pd.DataFrame:
    """Forecast (mean, q10, q90) and actual summed per zone and date at one step ahead.

    Summed quantiles of several series are wider than the zone total's own quantiles: a band to read, not a score.
    """
    frame = bt.forecasts[model]
    frame = frame[frame["step"] == step]
    cols = ["mean", qcol(10), qcol(90), "y"]
    out = frame.assign(zone=frame["unique_id"].map(lambda u: zone.get(str(u), str(u))))
    # min_count=1 keeps a date without any actual as NaN rather than 0.
    return out.groupby(["zone", "ds"])[cols].sum(min_count=1).reset_index()


def zones(bt: Backtest, zone: dict[str, str], path: Path, models: Sequence[str] | None = None,
          step: int = 1, band: str | None = None) -> Path:
    """One panel per zone: the actuals and each model's forecast `step` ahead; the 10-90% band of `band`."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    names = list(models or bt.forecasts)
    frames = {m: zone_frame(bt, zone, m, step) for m in names}
    all_zones = sorted({str(z) for f in frames.values() for z in f["zone"].unique()}, key=_natural)
    cols = min(4, max(1, len(all_zones)))
    rows = max(1, math.ceil(len(all_zones) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.4 * rows), squeeze=False)
    for ax, z in zip(axes.flat, all_zones, strict=False):
        first = True
        for m, f in frames.items():
            part = f[f["zone"] == z].sort_values("ds")
            if first:
                ax.plot(part["ds"], part["y"], color="black", linewidth=1.6, label="actual")
                first = False
            if m == band:
                ax.fill_between(part["ds"], part[qcol(10)], part[qcol(90)], alpha=0.2, label=f"{m} 10-90%")
            ax.plot(part["ds"], part["mean"], linewidth=1.0, label=m)
        ax.set_title(z, fontsize=8)
        ax.tick_params(labelsize=6)
        locator = mdates.AutoDateLocator(minticks=2, maxticks=6)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    for ax in list(axes.flat)[len(all_zones):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    top = 1.0 - 0.5 / (2.4 * rows)
    fig.suptitle(f"{bt.dataset}: forecast {step} ahead against actual per zone", fontsize=9, y=0.995)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0 - 0.22 / (2.4 * rows)),
               ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _natural(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return head, int(tail) if tail else -1


def write_all(bt: Backtest, zone: dict[str, str], folder: Path, band: str | None = None) -> list[Path]:
    """The per-origin plot of the backtest's criterion and the per-zone plot, into `folder`."""
    return [per_origin(bt, bt.criterion, folder / f"forecast_{bt.dataset}_{bt.criterion}.png"),
            zones(bt, zone, folder / f"forecast_{bt.dataset}_zones.png", band=band)]
