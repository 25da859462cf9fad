"""A global LightGBM model over every series of a dataset, one direct model per forecast step.

For step s the row of a target period t is described only by what is known at its anchor a = t - s (the origin
when forecasting): lags y(t-s), y(t-s-1), ..., same-season lags y(t-k*season) with k*season >= s, rolling means and
spread of uncensored values up to a, the share of non-zero and of in-stock periods, the calendar of t and the
dataset's known flags around t (days to the next and since the last flagged day). Values and target are divided by
the series' mean over the last season (at least `SCALE_FLOOR` units) at the anchor, so large and small zones share
one model; the series id is a categorical feature.

Censored targets (`in_stock` False) are not trained on. Quantiles: the point model's scaled residuals on a held-out
window (the last `holdout` periods before the origin, forecast by a model fitted before that window) give per-step
empirical quantiles that are added to the final model's forecast. Defaults are general (LightGBM's usual settings,
modest rounds for speed), not tuned on the data files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threshold.forecast.base import QUANTILES, Dataset, monotone, qcol

SCALE_FLOOR = 1.0
HOLIDAY_CAP = 30  # periods beyond which "days to the next flagged day" carries no more information


@dataclass(frozen=True, slots=True)
class GBMParams:
    """LightGBM settings: general defaults, small enough for a few seconds per origin on two cores."""

    num_boost_round: int = 100
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.7
    max_bin: int = 63
    # One thread: OpenMP threads spin on a shared, loaded machine and run several times slower than one.
    num_threads: int = 1
    seed: int = 7

    def lgb(self) -> dict[str, object]:
        """The settings as a LightGBM parameter dict."""
        return {"objective": "regression", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_data_in_leaf, "feature_fraction": self.feature_fraction,
                "bagging_fraction": self.bagging_fraction, "bagging_freq": 1, "max_bin": self.max_bin,
                "num_threads": self.num_threads, "seed": self.seed, "deterministic": True,
                "force_col_wise": True, "verbose": -1}


def windows_for(season: int) -> tuple[int, ...]:
    """Rolling windows in periods: a fraction, one and several seasons for short seasons; 1-12 months for weekly."""
    if season <= 13:
        return (season, 2 * season, 4 * season, 13 * season)
    return (4, 8, 13, 26, 52)


def panel(data: Dataset, origin: pd.Timestamp) -> pd.DataFrame:
    """Every series on the regular grid up to the origin: y (NaN where absent) and y_obs (NaN where censored)."""
    known = data.until(origin)
    starts = known.groupby("unique_id")["ds"].min()
    grid = pd.date_range(starts.min(), origin, freq=data.freq)
    full = pd.MultiIndex.from_product([sorted(starts.index), grid], names=["unique_id", "ds"]).to_frame(index=False)
    full = full[full["ds"] >= full["unique_id"].map(starts)]
    cols = ["unique_id", "ds", "y", *(["in_stock"] if "in_stock" in known else [])]
    full = full.merge(known[cols].drop_duplicates(["unique_id", "ds"]), on=["unique_id", "ds"], how="left")
    stock = (full["in_stock"].astype("boolean").fillna(True).to_numpy(dtype=bool) if "in_stock" in full
             else np.ones(len(full), dtype=bool))
    full["y"] = full["y"].astype(float)
    full["y_obs"] = full["y"].where(stock)
    return full[["unique_id", "ds", "y", "y_obs"]].reset_index(drop=True)


def _positions(ids: pd.Series) -> np.ndarray:
    """Position of each row within its run of equal ids (rows sorted by id)."""
    codes: np.ndarray = np.asarray(pd.factorize(ids)[0])
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    lengths = np.diff(np.r_[starts, len(codes)])
    pos: np.ndarray = np.arange(len(codes)) - np.repeat(starts, lengths)
    return pos


def _rolling(values: np.ndarray, pos: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the non-missing values among each row's last w rows of its series."""
    ok = ~np.isnan(values)
    v = np.where(ok, values, 0.0)
    c1, c2, cn = (np.r_[0.0, np.cumsum(x)] for x in (v, v * v, ok.astype(float)))
    end = np.arange(len(values)) + 1
    start = end - np.minimum(pos + 1, w)
    n = cn[end] - cn[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[end] - c1[start]) / n
        var = (c2[end] - c2[start] - n * mean * mean) / (n - 1)
    return np.where(n > 0, mean, np.nan), np.sqrt(np.where(n > 1, np.maximum(var, 0.0), np.nan))


def anchor_features(p: pd.DataFrame, season: int) -> pd.DataFrame:
    """Features of each row as an anchor: what is known at the end of its period, divided by the series' scale."""
    g = p.groupby("unique_id", sort=False)
    pos = _positions(p["unique_id"])
    y_obs = p["y_obs"].to_numpy(dtype=float)
    scale_window = min(season, 13) if season > 13 else 4 * season
    level = pd.Series(_rolling(y_obs, pos, scale_window)[0]).groupby(p["unique_id"].to_numpy()).ffill()
    scale = np.fmax(level.fillna(SCALE_FLOOR).to_numpy(), SCALE_FLOOR)
    out = pd.DataFrame({"unique_id": p["unique_id"], "ds": p["ds"], "scale": scale,
                        "log_scale": np.log1p(scale)})
    for i in range(min(season, 13)):
        out[f"lag_{i}"] = g["y"].shift(i).to_numpy() / scale
    windows = windows_for(season)
    for w in windows:
        mean, std = _rolling(y_obs, pos, w)
        out[f"mean_{w}"] = mean / scale
        if w == windows[1]:
            out[f"std_{w}"] = std / scale
    y = p["y"].to_numpy(dtype=float)
    out["nonzero_share"] = _rolling(np.where(np.isnan(y), np.nan, (y > 0).astype(float)), pos, windows[1])[0]
    seen = np.where(np.isnan(y), np.nan, (~np.isnan(y_obs)).astype(float))
    out["stock_share"] = _rolling(seen, pos, windows[1])[0]
    return out


def calendar_features(data: Dataset, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Calendar of each date and, per known flag, periods to the next and since the last flagged date."""
    ids = sorted(data.history["unique_id"].unique())
    cal = data.calendar
    step = pd.tseries.frequencies.to_offset(data.freq)
    start = min(dates.min(), cal["ds"].min()) if len(cal) else dates.min()
    grid = pd.date_range(start, dates.max() + step * HOLIDAY_CAP, freq=data.freq)
    f = pd.MultiIndex.from_product([ids, grid], names=["unique_id", "ds"]).to_frame(index=False)
    flags = [k for k in data.known if k in cal]
    f = f.merge(cal[["unique_id", "ds", *flags]].drop_duplicates(["unique_id", "ds"]), on=["unique_id", "ds"],
                how="left")
    idx = pd.Series(np.tile(np.arange(len(grid), dtype=float), len(ids)))
    for flag in data.known:
        on = f[flag].fillna(0.0).to_numpy() > 0 if flag in f else np.zeros(len(f), dtype=bool)
        f[flag] = on.astype(float)
        marks = idx.where(on)
        last = marks.groupby(f["unique_id"]).ffill().to_numpy()
        nxt = marks.groupby(f["unique_id"]).bfill().to_numpy()
        f[f"since_{flag}"] = np.fmin(np.nan_to_num(idx.to_numpy() - last, nan=HOLIDAY_CAP), HOLIDAY_CAP)
        f[f"to_{flag}"] = np.fmin(np.nan_to_num(nxt - idx.to_numpy(), nan=HOLIDAY_CAP), HOLIDAY_CAP)
    out = f[f["ds"].isin(dates)].reset_index(drop=True)
    ds = out["ds"].dt
    out["dow"], out["dom"], out["month"] = ds.dayofweek, ds.day, ds.month
    out["woy"], out["doy"] = ds.isocalendar().week.astype(int).to_numpy(), ds.dayofyear
    return out


def step_rows(p: pd.DataFrame, anchors: pd.DataFrame, season: int, step: int) -> pd.DataFrame:
    """Rows (target t, features of anchor t - step, same-season lags of t known at the anchor)."""
    g = anchors.groupby("unique_id", sort=False)
    feat = g.shift(step).drop(columns=["ds"])
    feat.insert(0, "unique_id", anchors["unique_id"])
    feat.insert(1, "ds", anchors["ds"])
    y = p.groupby("unique_id", sort=False)["y"]
    k = 1
    while k * season < step:
        k += 1
    for j in range(k, k + 4):
        if j * season > 4 * max(season, 13):
            break
        feat[f"slag_{j}"] = y.shift(j * season).to_numpy() / feat["scale"].to_numpy()
    slags = [c for c in feat.columns if c.startswith("slag_")]
    feat["slag_mean"] = feat[slags].mean(axis=1)
    feat["target"] = p["y_obs"].to_numpy() / feat["scale"].to_numpy()
    return feat


class LightGBMModel:
    """Global LightGBM over all series, one direct model per step, residual quantiles from a held-out window."""

    name = "lightgbm"

    def __init__(self, params: GBMParams | None = None, holdout: int | None = None,
                 max_history: int | None = None) -> None:
        self.params = params or GBMParams()
        self.holdout = holdout
        self.max_history = max_history

    def forecast(self, data: Dataset, origin: pd.Timestamp, h: int,
                 quantiles: Sequence[int] = QUANTILES) -> pd.DataFrame:
        """Forecast origin+1..origin+h of every series known at the origin."""
        import lightgbm as lgb

        origin = pd.Timestamp(origin)
        offset = pd.tseries.frequencies.to_offset(data.freq)
        season = data.season
        holdout = self.holdout or (4 * season if season <= 13 else 8)
        max_hist = self.max_history or (104 * season if season <= 13 else 4 * season)
        p = panel(data, origin)
        p = p[p["ds"] > origin - offset * max_hist].reset_index(drop=True)
        dates = pd.date_range(origin, periods=h + 1, freq=data.freq)[1:]
        # Future rows carry no values; they exist so shifts reach them.
        future = pd.DataFrame([(u, d) for u in p["unique_id"].unique() for d in dates], columns=["unique_id", "ds"])
        full = pd.concat([p, future], ignore_index=True).sort_values(["unique_id", "ds"], kind="stable")
        full = full.reset_index(drop=True)
        anchors = anchor_features(full, season)
        cal = calendar_features(data, pd.DatetimeIndex(full["ds"].unique()))
        cats = pd.CategoricalDtype(sorted(data.history["unique_id"].unique()))
        rows = []
        for step in range(1, h + 1):
            feat = step_rows(full, anchors, season, step).merge(cal, on=["unique_id", "ds"], how="left")
            feat["unique_id"] = feat["unique_id"].astype(cats)
            train = feat[(feat["ds"] <= origin) & feat["target"].notna() & feat["lag_0"].notna()]
            target_rows = feat[feat["ds"] == origin + offset * step]
            cols = [c for c in feat.columns if c not in ("ds", "target", "scale")]
            early = train[train["ds"] <= origin - offset * holdout]
            late = train[train["ds"] > origin - offset * holdout]
            resid = np.zeros(1)
            if len(early) >= 50 and len(late):
                m0 = lgb.train(self.params.lgb(), lgb.Dataset(early[cols], early["target"]),
                               num_boost_round=self.params.num_boost_round)
                resid = late["target"].to_numpy() - np.asarray(m0.predict(late[cols]), dtype=float)
            m1 = lgb.train(self.params.lgb(), lgb.Dataset(train[cols], train["target"]),
                           num_boost_round=self.params.num_boost_round)
            pred = np.asarray(m1.predict(target_rows[cols]), dtype=float)
            scale = target_rows["scale"].to_numpy()
            out = pd.DataFrame({"unique_id": target_rows["unique_id"].astype(str).to_numpy(),
                                "ds": target_rows["ds"].to_numpy(), "mean": pred * scale})
            for q in quantiles:
                out[qcol(q)] = (pred + float(np.quantile(resid, q / 100))) * scale
            rows.append(out)
        frame = pd.concat(rows, ignore_index=True).sort_values(["unique_id", "ds"]).reset_index(drop=True)
        return monotone(frame, quantiles)
