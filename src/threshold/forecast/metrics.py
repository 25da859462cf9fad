"""Accuracy of quantile forecasts: WAPE, MASE, bias and pinball loss, per zone and pooled.

Every function reads plain arrays or a frame with `y`, `mean` and the `qcol` columns; a zero denominator gives NaN,
never an error. Rows without an actual, or whose actual is censored (a VN2 week out of stock, where sales only
bound demand from below), are not scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from threshold.forecast.base import QUANTILES, qcol

Array = npt.NDArray[np.float64]
METRICS: tuple[str, ...] = ("wape", "mase", "bias", "pinball")


def _arr(values: object) -> Array:
    return np.asarray(values, dtype=np.float64)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 and np.isfinite(den) else float("nan")


def wape(y: object, f: object) -> float:
    """Weighted absolute percentage error: sum |y - f| / sum |y|."""
    ya, fa = _arr(y), _arr(f)
    return _ratio(float(np.abs(ya - fa).sum()), float(np.abs(ya).sum()))


def bias(y: object, f: object) -> float:
    """Signed error relative to the actuals: sum(f - y) / sum(y); positive means over-forecast."""
    ya, fa = _arr(y), _arr(f)
    return _ratio(float((fa - ya).sum()), float(ya.sum()))


def mase(y: object, f: object, scale: object) -> float:
    """Mean of |y - f| / scale over rows whose scale is finite and positive (NaN when there are none)."""
    ya, fa, sa = _arr(y), _arr(f), _arr(scale)
    ok = np.isfinite(sa) & (sa > 0)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(ya[ok] - fa[ok]) / sa[ok]))


def pinball_sum(y: object, q: object, level: int) -> float:
    """Summed pinball (quantile) loss of the forecasts `q` at `level` percent."""
    ya, qa = _arr(y), _arr(q)
    tau = level / 100.0
    diff = ya - qa
    return float(np.sum(np.maximum(tau * diff, (tau - 1.0) * diff)))


def pinball(y: object, quantiles: dict[int, object]) -> float:
    """Pinball loss averaged over the levels given and divided by sum |y|, so zones of any size compare."""
    if not quantiles:
        return float("nan")
    ya = _arr(y)
    mean_loss = float(np.mean([pinball_sum(ya, q, level) for level, q in quantiles.items()]))
    return _ratio(mean_loss, float(np.abs(ya).sum()))


def seasonal_scale(history: pd.DataFrame, season: int, freq: str) -> pd.Series:
    """MASE's scale per series: the mean |y(t) - y(t - season)| over the history given (pairs by date).

    A pair counts only when both periods have a value and neither is censored; series without a pair get NaN.
    """
    ids = sorted(history["unique_id"].unique())
    known = history
    if "in_stock" in known.columns:
        known = known[known["in_stock"].astype(bool)]
    now = known[["unique_id", "ds", "y"]]
    before = now.assign(ds=now["ds"] + pd.tseries.frequencies.to_offset(freq) * season)
    pairs = now.merge(before, on=["unique_id", "ds"], suffixes=("", "_before"))
    diffs = (pairs["y"] - pairs["y_before"]).abs()
    return diffs.groupby(pairs["unique_id"]).mean().reindex(ids).astype(float)


def scored(frame: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The rows of a backtest frame that can be scored: an actual is known and not censored."""
    out = frame[frame["y"].notna()]
    if "in_stock" in history.columns:
        censored = history.loc[~history["in_stock"].astype(bool), ["unique_id", "ds"]]
        if len(censored):
            keys = pd.MultiIndex.from_frame(censored)
            out = out[~pd.MultiIndex.from_frame(out[["unique_id", "ds"]]).isin(keys)]
    return out


def levels_in(frame: pd.DataFrame, levels: Sequence[int] = QUANTILES) -> list[int]:
    """The quantile levels whose column is in the frame."""
    return [q for q in levels if qcol(q) in frame.columns]


def summary(frame: pd.DataFrame, levels: Sequence[int] = QUANTILES) -> dict[str, float]:
    """WAPE, MASE (when the frame has a `scale` column), bias and scaled pinball of every row of the frame."""
    y = frame["y"].to_numpy(dtype=float)
    f = frame["mean"].to_numpy(dtype=float)
    scale = frame["scale"].to_numpy(dtype=float) if "scale" in frame.columns else np.full(len(frame), np.nan)
    qs: dict[int, object] = {q: frame[qcol(q)].to_numpy(dtype=float) for q in levels_in(frame, levels)}
    return {"wape": wape(y, f), "mase": mase(y, f, scale), "bias": bias(y, f), "pinball": pinball(y, qs),
            "n": float(len(frame))}


def by_zone(frame: pd.DataFrame, zone: dict[str, str], levels: Sequence[int] = QUANTILES,
            pooled: str = "*") -> pd.DataFrame:
    """One row of metrics per zone and one for all zones pooled (zone = `pooled`)."""
    zones = frame["unique_id"].map(lambda u: zone.get(str(u), str(u)))
    rows = [{"zone": str(z), **summary(part, levels)} for z, part in frame.groupby(zones, sort=True)]
    rows.append({"zone": pooled, **summary(frame, levels)})
    return pd.DataFrame(rows, columns=["zone", *METRICS, "n"])


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation, 10th and 90th percentile of per-origin values (NaNs left out)."""
    v = _arr(list(values))
    v = v[np.isfinite(v)]
    if not len(v):
        nan = float("nan")
        return {"mean": nan, "std": nan, "p10": nan, "p90": nan}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "p10": float(np.percentile(v, 10)), "p90": float(np.percentile(v, 90))}
