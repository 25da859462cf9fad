"""Baseline models: seasonal naive, seasonal mean, moving average, Croston (SBA) and TSB.

Each works on a matrix of series x periods on the dataset's own grid (missing days, such as days a warehouse was
closed, are NaN and skipped by date, never shifted into place), vectorised over series. Quantiles come from the
model's own past errors: the same rule is replayed at the recent origins known at the forecast origin, and the
empirical quantiles of its errors at each step are added to the point forecast (clipped at 0, non-decreasing).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from threshold.forecast.base import QUANTILES, Dataset, qcol

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]
# Same-phase values looked back over when the nearest ones are missing (closed days): a few seasons.
SEARCH_SEASONS = 8
# Past errors at one step below this count give no spread: the quantiles then equal the point forecast.
MIN_ERRORS = 2


def error_origins(season: int) -> int:
    """How many past origins feed the error quantiles: a quarter of daily data (13 weeks), a year of weekly."""
    return 13 * season if season <= 13 else season


@dataclass(frozen=True, slots=True)
class Grid:
    """A dataset's history known at an origin as a dense matrix: series x periods ending at the origin."""

    ids: list[str]
    dates: pd.DatetimeIndex
    values: Array  # NaN where a period has no value
    censored: npt.NDArray[np.bool_]  # True where the value is a stock-out's lower bound


def grid(data: Dataset, origin: pd.Timestamp) -> Grid:
    """The history known at `origin` on the dataset's period grid, one row per series seen so far."""
    known = data.until(origin)
    origin = pd.Timestamp(origin)
    if known.empty:
        return Grid([], pd.DatetimeIndex([origin]), np.zeros((0, 1)), np.zeros((0, 1), dtype=bool))
    periods = len(pd.date_range(known["ds"].min(), origin, freq=data.freq))
    dates = pd.date_range(end=origin, periods=max(periods, 1), freq=data.freq)
    codes, uniques = pd.factorize(known["unique_id"].astype(str), sort=True)
    col = dates.get_indexer(pd.DatetimeIndex(known["ds"]))
    on = col >= 0  # dates off the dataset's grid are not used
    values = np.full((len(uniques), len(dates)), np.nan)
    # Duplicate rows of one series and date add up, as a pivot with sum would.
    y = known["y"].to_numpy(dtype=np.float64)[on]
    seen = np.zeros(values.shape, dtype=bool)
    seen[codes[on], col[on]] = True
    values[seen] = 0.0
    np.add.at(values, (codes[on], col[on]), y)
    censored = np.zeros(values.shape, dtype=bool)
    if "in_stock" in known.columns:
        out = ~known["in_stock"].to_numpy(dtype=bool)[on]
        censored[codes[on][out], col[on][out]] = True
    return Grid([str(u) for u in uniques], dates, values, censored)


def _ffill(values: Array) -> Array:
    out: Array = pd.DataFrame(values).ffill(axis=1).to_numpy(dtype=np.float64)
    return out


def same_phase(values: Array, origins: Index, step: int, season: int, first: int, count: int) -> Array:
    """Values `season * m` periods before each target origin+step, m = first..first+count-1.

    Shape (count, series, origins); NaN before the start of the history.
    """
    series = values.shape[0]
    out = np.full((count, series, len(origins)), np.nan)
    for k in range(count):
        idx = origins + step - season * (first + k)
        ok = idx >= 0
        out[k][:, ok] = values[:, idx[ok]]
    return out


def row_quantiles(values: Array, probs: Array) -> Array:
    """Quantiles (linear interpolation, NaNs left out) of every row: (probs, rows); rows need one value."""
    ordered = np.sort(values, axis=1)  # NaNs sort last
    count = np.isfinite(values).sum(axis=1)
    pos = probs[:, None] * (count - 1)[None, :]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0)[None, :])
    rows = np.arange(values.shape[0])[None, :]
    low, high = ordered[rows, lo], ordered[rows, hi]
    out: Array = low + (pos - lo) * (high - low)
    return out


def _first_present(stack: Array) -> Array:
    present = np.isfinite(stack)
    pick = present.argmax(axis=0)
    got = np.take_along_axis(stack, pick[None], axis=0)[0]
    return np.where(present.any(axis=0), got, np.nan)


class Baseline(ABC):
    """The shared shell: point forecasts at many origins from a rule, quantiles from the rule's own errors."""

    name = "baseline"

    def __init__(self, season: int | None = None, errors: int | None = None) -> None:
        self.season = season
        self.errors = errors

    @abstractmethod
    def points(self, values: Array, origins: Index, h: int, season: int) -> Array:
        """Point forecasts (h, series, origins) made at each origin column from columns up to it only."""

    def forecast(self, data: Dataset, origin: pd.Timestamp, h: int,
                 quantiles: Sequence[int] = QUANTILES) -> pd.DataFrame:
        """Forecast periods origin+1..origin+h of every series known at the origin."""
        origin = pd.Timestamp(origin)
        g = grid(data, origin)
        season = self.season or data.season
        n_err = self.errors or error_origins(season)
        periods = g.values.shape[1]
        origins = np.arange(max(0, periods - h - n_err), periods, dtype=np.int64)
        raw = self.points(g.values, origins, h, season)
        last = _ffill(g.values)[:, origins] if g.values.size else np.zeros((0, len(origins)))
        # A rule with nothing to go on (too short a history) falls back to the last value, then to zero.
        pts = np.where(np.isfinite(raw), raw, np.nan_to_num(last[None], nan=0.0))
        levels = sorted(set(quantiles))
        probs = np.asarray(levels, dtype=float) / 100.0
        dates = pd.date_range(origin, periods=h + 1, freq=data.freq)[1:]
        frames = []
        for s in range(1, h + 1):
            point = np.maximum(pts[s - 1][:, -1], 0.0)
            past = np.flatnonzero(origins + s <= periods - 1)[-n_err:]
            target = origins[past] + s
            # Errors are those of the rule itself; of the fallback only for a series the rule cannot forecast yet.
            ruled = np.isfinite(raw[s - 1][:, -1])[:, None]
            err = g.values[:, target] - np.where(ruled, raw[s - 1][:, past], pts[s - 1][:, past])
            err[g.censored[:, target]] = np.nan
            frames.append(self._frame(g.ids, dates[s - 1], point, err, levels, probs))
        if not frames or not g.ids:
            return pd.DataFrame(columns=["unique_id", "ds", "mean", *(qcol(q) for q in quantiles)])
        return pd.concat(frames, ignore_index=True).sort_values(["unique_id", "ds"]).reset_index(drop=True)

    @staticmethod
    def _frame(ids: list[str], ds: pd.Timestamp, point: Array, err: Array, levels: list[int],
               probs: Array) -> pd.DataFrame:
        enough = np.isfinite(err).sum(axis=1) >= MIN_ERRORS
        offsets = np.zeros((len(probs), len(ids)))
        if enough.any():
            offsets[:, enough] = row_quantiles(err[enough], probs)
        qs = np.maximum.accumulate(np.maximum(point[None] + offsets, 0.0), axis=0)
        frame = pd.DataFrame({"unique_id": ids, "ds": ds, "mean": point})
        for k, level in enumerate(levels):
            frame[qcol(level)] = qs[k]
        return frame


class SeasonalNaive(Baseline):
    """The value one season before the target date (further seasons back when that day has no value)."""

    name = "seasonal_naive"

    def points(self, values: Array, origins: Index, h: int, season: int) -> Array:
        """The nearest known same-phase value for each step."""
        out = np.full((h, values.shape[0], len(origins)), np.nan)
        for s in range(1, h + 1):
            first = math.ceil(s / season)
            out[s - 1] = _first_present(same_phase(values, origins, s, season, first, SEARCH_SEASONS))
        return out


class SeasonalMean(Baseline):
    """The mean of the target's same-phase values over the last k seasons (same weekday for daily data)."""

    def __init__(self, k: int = 4, name: str | None = None, season: int | None = None,
                 errors: int | None = None) -> None:
        super().__init__(season, errors)
        self.k = k
        self.name = name or f"seasonal_mean{k}"

    def points(self, values: Array, origins: Index, h: int, season: int) -> Array:
        """Mean of the k nearest known seasons' values at the target's phase (missing days left out)."""
        out = np.full((h, values.shape[0], len(origins)), np.nan)
        for s in range(1, h + 1):
            first = math.ceil(s / season)
            stack = same_phase(values, origins, s, season, first, self.k)
            present = np.isfinite(stack).sum(axis=0)
            mean = np.where(present > 0, np.nansum(stack, axis=0) / np.maximum(present, 1), np.nan)
            nearest = _first_present(same_phase(values, origins, s, season, first, SEARCH_SEASONS))
            out[s - 1] = np.where(np.isfinite(mean), mean, nearest)
        return out


class MovingAverage(Baseline):
    """The mean of the last `window` periods, flat over the horizon.

    The default window is four seasons for daily data (28 days: whole weeks, so every weekday weighs the same) and
    8 periods otherwise (the window of VN2's reference ordering policy).
    """

    name = "moving_average"

    def __init__(self, window: int | None = None, season: int | None = None, errors: int | None = None) -> None:
        super().__init__(season, errors)
        self.window = window

    def points(self, values: Array, origins: Index, h: int, season: int) -> Array:
        """The windowed mean at each origin, repeated for every step."""
        window = self.window or (4 * season if season <= 13 else 8)
        present = np.isfinite(values)
        sums = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(np.where(present, values, 0.0), 1)], 1)
        counts = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(present, 1)], 1)
        lo = np.maximum(origins + 1 - window, 0)
        total, n = sums[:, origins + 1] - sums[:, lo], counts[:, origins + 1] - counts[:, lo]
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        return np.repeat(mean[None], h, axis=0)


def croston_path(values: Array, alpha: float = 0.1, sba: bool = True) -> Array:
    """Croston's forecast after each period (series x periods); SBA's bias correction when `sba`."""
    series, periods = values.shape
    size, interval = np.full(series, np.nan), np.full(series, np.nan)
    since = np.ones(series)
    seen = np.zeros(series, dtype=bool)
    out = np.full((series, periods), np.nan)
    factor = 1.0 - alpha / 2.0 if sba else 1.0
    for t in range(periods):
        y = values[:, t]
        obs = np.isfinite(y)
        demand = obs & (np.nan_to_num(y) > 0)
        first = demand & np.isnan(size)
        update = demand & ~first
        size[first], interval[first] = y[first], since[first]
        size[update] += alpha * (y[update] - size[update])
        interval[update] += alpha * (since[update] - interval[update])
        since = np.where(demand, 1.0, np.where(obs, since + 1.0, since))
        seen |= obs
        out[:, t] = np.where(np.isnan(size), np.where(seen, 0.0, np.nan), factor * size / interval)
    return out


def tsb_path(values: Array, alpha: float = 0.1, beta: float = 0.1) -> Array:
    """TSB's forecast (demand probability x size) after each period: series x periods."""
    series, periods = values.shape
    size, prob = np.full(series, np.nan), np.full(series, np.nan)
    out = np.full((series, periods), np.nan)
    for t in range(periods):
        y = values[:, t]
        obs = np.isfinite(y)
        demand = (obs & (np.nan_to_num(y) > 0)).astype(float)
        start = obs & np.isnan(prob)
        prob[start] = demand[start]
        later = obs & ~start
        prob[later] += beta * (demand[later] - prob[later])
        first = (demand > 0) & np.isnan(size)
        update = (demand > 0) & ~first
        size[first] = y[first]
        size[update] += alpha * (y[update] - size[update])
        out[:, t] = np.where(np.isnan(prob), np.nan, prob * np.nan_to_num(size))
    return out


class Croston(Baseline):
    """Croston's method for intermittent demand with the Syntetos-Boylan correction, flat over the horizon."""

    name = "croston"

    def __init__(self, alpha: float = 0.1, season: int | None = None, errors: int | None = None) -> None:
        super().__init__(season, errors)
        self.alpha = alpha

    def points(self, values: Array, origins: Index, h: int, season: int) -> Array:
        """Croston-SBA's level at each origin, repeated for every step."""
        path = croston_path(values, self.alpha)[:, origins]
        return np.repeat(path[None], h, axis=0)


class TSB(Baseline):
    """Teunter-Syntetos-Babai: smoothed demand probability times smoothed size; decays when demand stops."""

    name = "tsb"

    def __init__(self, alpha: float = 0.1, beta: float = 0.1, season: int | None = None,
                 errors: int | None = None) -> None:
        super().__init__(season, errors)
        self.alpha = alpha
        self.beta = beta

    def points(self, values: Array, origins: Index, h: int, season: int) -> Array:
        """TSB's forecast at each origin, repeated for every step."""
        path = tsb_path(values, self.alpha, self.beta)[:, origins]
        return np.repeat(path[None], h, axis=0)
