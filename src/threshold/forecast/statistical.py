"""An AutoETS + Dynamic Optimized Theta ensemble per series, run locally or on a dask cluster through statsforecast.

How the history is prepared before fitting (general rules, no per-dataset constants):
- Every series is put on the dataset's regular grid up to the origin. A missing period (a closed day) takes the
  value of the same period one season earlier, else the last value before it: a closed Sunday is not a zero-demand
  Sunday, and the same weekday keeps the weekly shape intact.
- A censored period (`in_stock` False) is raised to at least the mean of the series' uncensored periods over the
  last season (capped at 8 periods), because its sales are only a lower bound of demand.
- Periods before a series' first non-zero value are dropped (not yet listed), and only the last `MAX_POINTS`
  periods are kept (two years of days; every week of a weekly series): older days only slow the ETS search.
- Seasonality: Theta uses `data.season` when a series has at least two full seasons, ETS only when also
  season <= 24 (the ETS state space caps its seasonal states there); otherwise both are non-seasonal.
- A series with fewer than `MIN_POINTS` values, or only zeros over its last season, gets a simple forecast instead
  (recent mean, empirical quantiles of recent values): the state-space fits are unstable or degenerate there.
Member quantiles come from statsforecast's prediction intervals; the ensemble averages the members' mean and each
quantile, clips at zero and makes the quantiles non-decreasing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from threshold.forecast.base import QUANTILES, Dataset, monotone, qcol
from threshold.forecast.engines import check_engine, close_shared, shared_client

MIN_POINTS = 16
MAX_POINTS = 730
ETS_MAX_SEASON = 24
RECENT = 8  # periods a censored value and the simple fallback look back over (at most one season)


def levels_for(quantiles: Sequence[int]) -> list[int]:
    """statsforecast interval levels that give every quantile in `quantiles` (50 needs none)."""
    return sorted({abs(2 * q - 100) for q in quantiles if q != 50})


def interval_column(model: str, q: int) -> str:
    """The statsforecast column that holds quantile `q` of `model` (its mean for q = 50)."""
    if q == 50:
        return model
    side = "lo" if q < 50 else "hi"
    return f"{model}-{side}-{abs(2 * q - 100)}"


def regular_history(data: Dataset, origin: pd.Timestamp) -> pd.DataFrame:
    """Each series on the dataset's grid from its first non-zero value to the origin, gaps and censoring filled."""
    known = data.until(origin)
    parts: list[pd.DataFrame] = []
    grid_end = pd.Timestamp(origin)
    for uid, g in known.groupby("unique_id", sort=True):
        g = g.sort_values("ds")
        nonzero = g.loc[g["y"] > 0, "ds"]
        start = nonzero.iloc[0] if len(nonzero) else g["ds"].iloc[0]
        grid = pd.date_range(start, grid_end, freq=data.freq)[-MAX_POINTS:]
        if len(grid) == 0:
            continue
        s = g.set_index("ds")["y"].reindex(grid)
        if "in_stock" in g:
            censored = (~g.set_index("ds")["in_stock"].astype(bool)).reindex(grid, fill_value=False).to_numpy()
            s = _uncensor(s, censored, min(data.season, RECENT))
        for _ in range(4):  # a closure longer than a season needs more than one look back
            s = s.fillna(s.shift(data.season))
        s = s.ffill().bfill().fillna(0.0)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": grid, "y": s.to_numpy(dtype=float)}))
    if not parts:
        return pd.DataFrame({"unique_id": pd.Series(dtype=str), "ds": pd.Series(dtype="datetime64[ns]"),
                             "y": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def _uncensor(s: pd.Series, censored: np.ndarray, window: int) -> pd.Series:
    clean = s.where(~censored)
    recent = clean.rolling(window, min_periods=1).mean().shift(1).ffill()
    raised = np.where(censored & s.notna().to_numpy(), np.fmax(s.to_numpy(), recent.to_numpy()), s.to_numpy())
    return pd.Series(raised, index=s.index)


def simple_forecast(history: pd.DataFrame, dates: pd.DatetimeIndex, season: int,
                    quantiles: Sequence[int]) -> pd.DataFrame:
    """Recent mean and empirical quantiles of the last values of each series, flat over `dates`."""
    rows: list[dict[str, object]] = []
    for uid, g in history.groupby("unique_id", sort=True):
        recent = g["y"].to_numpy(dtype=float)[-max(season, RECENT):]
        if len(recent) == 0:
            recent = np.zeros(1)
        row: dict[str, object] = {"unique_id": uid, "mean": float(recent.mean())}
        for q in quantiles:
            row[qcol(q)] = float(np.quantile(recent, q / 100))
        rows.extend({**row, "ds": d} for d in dates)
    return pd.DataFrame(rows)


def _models(season: int, n: int) -> list[object]:
    from statsforecast.models import AutoETS, DynamicOptimizedTheta

    seasonal = season > 1 and n >= 2 * season
    theta_m = season if seasonal else 1
    ets_m = season if seasonal and season <= ETS_MAX_SEASON else 1
    return [AutoETS(season_length=ets_m, alias="ets"), DynamicOptimizedTheta(season_length=theta_m, alias="theta")]


class StatEnsemble:
    """Mean of AutoETS and Dynamic Optimized Theta per series, with their averaged interval quantiles."""

    name = "ets_theta"

    def __init__(self, engine: str = "local", workers: int = 2) -> None:
        check_engine(engine, workers)
        self.engine = engine
        self.workers = workers

    def close(self) -> None:
        """Close the dask cluster this process shares between models (a no-op for the local engine)."""
        if self.engine == "dask":
            close_shared()

    def forecast(self, data: Dataset, origin: pd.Timestamp, h: int,
                 quantiles: Sequence[int] = QUANTILES) -> pd.DataFrame:
        """Forecast origin+1..origin+h of every series known at the origin."""
        origin = pd.Timestamp(origin)
        hist = regular_history(data, origin)
        dates = pd.date_range(origin, periods=h + 1, freq=data.freq)[1:]
        sizes = hist.groupby("unique_id")["y"].agg(
            n="size", recent=lambda y: float(np.abs(y.to_numpy()[-max(data.season, RECENT):]).sum()))
        simple_ids = sizes.index[(sizes["n"] < MIN_POINTS) | (sizes["recent"] == 0)]
        fitted_ids = sizes.index.difference(simple_ids)
        seasonal = sizes.loc[fitted_ids, "n"] >= 2 * data.season
        out = [simple_forecast(hist[hist["unique_id"].isin(simple_ids)], dates, data.season, quantiles)]
        for ids, n in ((seasonal.index[seasonal], 2 * data.season), (seasonal.index[~seasonal], 0)):
            if len(ids):
                sub = hist[hist["unique_id"].isin(ids)]
                out.append(self._fit(sub, data.freq, data.season, n, h, quantiles))
        frame = pd.concat([o for o in out if len(o)], ignore_index=True)
        cols = ["unique_id", "ds", "mean", *(qcol(q) for q in quantiles)]
        frame = frame[cols].sort_values(["unique_id", "ds"]).reset_index(drop=True)
        frame["ds"] = pd.to_datetime(frame["ds"])
        # The dask engine hands ids back as pandas strings; both engines return plain object ids.
        frame["unique_id"] = frame["unique_id"].astype(str).astype(object)
        return monotone(frame, quantiles)

    def _fit(self, hist: pd.DataFrame, freq: str, season: int, n: int, h: int,
             quantiles: Sequence[int]) -> pd.DataFrame:
        from statsforecast import StatsForecast
        from statsforecast.models import SeasonalNaive

        models = _models(season, n)
        fallback = SeasonalNaive(season_length=min(season, n) or 1, alias="naive")
        sf = StatsForecast(models=models, freq=freq, n_jobs=1, fallback_model=fallback)
        levels = levels_for(quantiles)
        with warnings.catch_warnings():
            # Optimisers warn on flat or short series; the fallback and the simple model cover those.
            warnings.simplefilter("ignore")
            raw = self._run(sf, hist, h, levels)
        raw = raw.reset_index() if "unique_id" not in raw.columns else raw
        out = raw[["unique_id", "ds"]].copy()
        names = ["ets", "theta"]
        out["mean"] = raw[names].mean(axis=1)
        for q in quantiles:
            out[qcol(q)] = raw[[interval_column(m, q) for m in names]].mean(axis=1)
        return out

    def _run(self, sf: object, hist: pd.DataFrame, h: int, levels: list[int]) -> pd.DataFrame:
        if self.engine == "local":
            return sf.forecast(df=hist, h=h, level=levels)  # type: ignore[attr-defined]
        import dask.dataframe as dd

        client = shared_client(self.workers)
        ddf = dd.from_pandas(hist, npartitions=self.workers)  # type: ignore[no-untyped-call]
        with client.as_current():
            res = sf.forecast(df=ddf, h=h, level=levels)  # type: ignore[attr-defined]
            res = res.compute() if hasattr(res, "compute") else res
        res = pd.DataFrame(res)
        # The fugue backend returns nullable float32 columns; the local engine returns float64.
        values = [c for c in res.columns if c not in ("unique_id", "ds")]
        res[values] = res[values].astype("float64")
        return res
