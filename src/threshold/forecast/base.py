"""The shapes every forecasting part shares: a dataset of series, a model, and a quantile forecast.

Frames are long pandas frames in statsforecast's convention: `unique_id` (str), `ds` (Timestamp), `y` (float).
A dataset's `history` may carry more columns:
- `in_stock` (bool): False where sales were capped by a stock-out, so `y` is censored (a lower bound of demand);
- the names in `Dataset.known`: features known in advance for any date (calendar, holidays, shutdowns), which a
  model may read for the dates it forecasts. Nothing else about the future may be read.

A forecast frame has `unique_id`, `ds`, `mean`, and one column per level of `QUANTILES`, named by `qcol`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd

DatasetName = Literal["rohlik", "vn2"]

# Levels in percent. 83 sits beside the VN2 newsvendor ratio (1 / (1 + 0.2) = 0.833); the policy interpolates.
QUANTILES: tuple[int, ...] = (5, 10, 20, 30, 40, 50, 60, 70, 80, 83, 85, 90, 95, 98, 99)


def qcol(level: int) -> str:
    """The forecast column holding the quantile at `level` percent, e.g. 90 -> "q90"."""
    return f"q{level}"


def monotone(frame: pd.DataFrame, quantiles: Sequence[int]) -> pd.DataFrame:
    """Clip the mean and the quantile columns at zero and make the quantiles non-decreasing in level."""
    cols = [qcol(q) for q in sorted(quantiles)]
    values = np.maximum(frame[cols].to_numpy(dtype=float), 0.0)
    frame[cols] = np.maximum.accumulate(values, axis=1)
    frame["mean"] = frame["mean"].clip(lower=0.0)
    return frame


@dataclass(frozen=True)
class Dataset:
    """Series of one dataset, with what is known about their future and which zone and product each one is."""

    name: DatasetName
    freq: str  # pandas frequency of `ds`: "D" (Rohlik) or "W-MON" (VN2)
    season: int  # one seasonal cycle in periods: 7 (days in a week) or 52 (weeks in a year)
    history: pd.DataFrame  # unique_id, ds, y, [in_stock], [known...]
    calendar: pd.DataFrame  # unique_id, ds, known...: rows for every date in and beyond `history` that is known
    known: tuple[str, ...] = ()
    zone: dict[str, str] = field(default_factory=dict)  # unique_id -> zone (a station)
    product: dict[str, str] = field(default_factory=dict)  # unique_id -> product or category ("*" for all)

    def dates(self) -> list[pd.Timestamp]:
        """Every date of the history, in order."""
        return sorted(self.history["ds"].unique())

    def until(self, origin: pd.Timestamp) -> pd.DataFrame:
        """The history known at the end of `origin`: every row with ds <= origin."""
        return self.history[self.history["ds"] <= origin]


class Model(Protocol):
    """A forecasting model: fit on what is known at the origin, forecast the next h periods with quantiles."""

    name: str

    def forecast(self, data: Dataset, origin: pd.Timestamp, h: int,
                 quantiles: Sequence[int] = QUANTILES) -> pd.DataFrame:
        """Forecast periods origin+1..origin+h of every series from `data.until(origin)` and the known calendar.

        Returns unique_id, ds, mean, and qcol(level) for each level; quantiles are non-decreasing in level and
        never negative.
        """
        ...


# A backtest's forecasts for one model, every origin stacked: what the policies and the metrics read.
# origin: the last date known; step: 1..h periods after it; y: the actual value (NaN where not yet known).
BACKTEST_COLUMNS: tuple[str, ...] = ("origin", "unique_id", "ds", "step", "mean", *(qcol(q) for q in QUANTILES), "y")
