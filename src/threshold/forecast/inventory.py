"""VN2's weekly ordering game: simulate a policy's cost, the moving-average baseline, and a quantile policy.

The game (the VN2 Inventory Planning Challenge rules): at the end of week t a policy sees stock on hand and the two
shipments in transit and orders units that arrive at the start of week t+3. Each week, arrivals join the shelf,
sales = min(shelf, demand), unmet demand is lost (cost `shortage` per unit, no backorders), and what is left on
the shelf at the end of the week costs `holding` per unit; goods in transit cost nothing.

Demand is the recorded sales. In weeks flagged out of stock those understate demand (the shelf ran empty), which
the competition's own scoring also accepted, so a simulation over history is slightly kind to lean policies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from threshold.forecast.base import QUANTILES, Dataset, qcol

Array = npt.NDArray[np.float64]
Orders = Callable[[pd.Timestamp, pd.DataFrame], pd.Series]
STATE_COLUMNS = ("unique_id", "on_hand", "transit_1", "transit_2")
BASELINE = "order_up_to_ma8"


@dataclass(frozen=True, slots=True)
class Costs:
    """The game's prices: holding per unit left at the end of a week, shortage per lost unit, weeks in transit."""

    holding: float = 0.2
    shortage: float = 1.0
    lead_weeks: int = 2

    @property
    def critical_ratio(self) -> float:
        """The service level at which one more unit costs as much in holding as it saves in shortage."""
        return self.shortage / (self.shortage + self.holding)


@dataclass(frozen=True, slots=True)
class SimResult:
    """A policy's cost over the simulated weeks, in total, per week and per series."""

    total: float
    holding: float
    shortage: float
    weekly: pd.DataFrame  # ds, demand, sales, lost, end_stock, holding, shortage, total
    per_series: pd.DataFrame  # unique_id, demand, sales, lost, holding, shortage, total


def _weeks(data: Dataset) -> list[pd.Timestamp]:
    return [pd.Timestamp(d) for d in data.dates()]


def _matrix(data: Dataset, ids: Sequence[str], weeks: Sequence[pd.Timestamp]) -> Array:
    wide = data.history.pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum")
    wide = wide.reindex(index=list(ids), columns=list(weeks)).fillna(0.0)
    return np.asarray(wide.to_numpy(dtype=float), dtype=np.float64)


def moving_average(data: Dataset, origin: pd.Timestamp, weeks: int = 8) -> pd.Series:
    """Mean recorded sales per series over the `weeks` weeks ending at `origin` (censored weeks included)."""
    known = data.until(origin)
    last = known.sort_values("ds").groupby("unique_id").tail(weeks)
    return last.groupby("unique_id")["y"].mean().reindex(sorted(data.history["unique_id"].unique())).fillna(0.0)


def default_start(data: Dataset, origin: pd.Timestamp) -> pd.DataFrame:
    """The state every policy starts from: on hand and each shipment in transit = the rounded 8-week mean.

    It uses only what is known at `origin`, and is the same for every policy so that costs compare.
    """
    ma = np.floor(moving_average(data, origin, 8) + 0.5)
    return pd.DataFrame({"unique_id": ma.index, "on_hand": ma.to_numpy(), "transit_1": ma.to_numpy(),
                         "transit_2": ma.to_numpy()}).reset_index(drop=True)


def simulate(data: Dataset, origins: list[pd.Timestamp], orders: Orders, costs: Costs = Costs(),
             start: pd.DataFrame | None = None) -> SimResult:
    """Play the game from the first origin to three weeks after the last, ordering at every origin.

    Weeks between origins place no order. The costs of weeks first+1 and first+2 come from the starting state
    alone (nothing ordered can arrive sooner), so they are the same for every policy.
    """
    if not origins:
        raise ValueError("no origins to simulate")
    if costs.lead_weeks != 2:
        raise ValueError("the state carries two shipments in transit, so lead_weeks must be 2")
    weeks = _weeks(data)
    index = {w: i for i, w in enumerate(weeks)}
    origins = sorted(pd.Timestamp(o) for o in origins)
    missing = [o for o in origins if o not in index]
    if missing:
        raise ValueError(f"origin {missing[0].date()} is not a week of the data")
    first, last = index[origins[0]], index[origins[-1]]
    if last + costs.lead_weeks + 1 >= len(weeks):
        raise ValueError(f"origin {origins[-1].date()} needs {costs.lead_weeks + 1} recorded weeks after it")
    if isinstance(orders, OrderUpTo) and orders.data is None:
        orders = replace(orders, data=data)
    ids = sorted(data.history["unique_id"].unique())
    state = (default_start(data, origins[0]) if start is None else start).set_index("unique_id")
    state = state.reindex(ids).fillna(0.0)
    on_hand = state["on_hand"].to_numpy(dtype=float).copy()
    transit = [state["transit_1"].to_numpy(dtype=float).copy(), state["transit_2"].to_numpy(dtype=float).copy()]
    span = weeks[first + 1: last + costs.lead_weeks + 2]
    demand = _matrix(data, ids, span)
    order_weeks = set(origins)
    rows: list[dict[str, object]] = []
    sold = np.zeros((len(ids), len(span)))
    left = np.zeros((len(ids), len(span)))
    week = weeks[first]
    for j, ds in enumerate(span):
        # The order is placed at the end of `week`, after that week's sales are known, and arrives in week+3.
        placed = np.zeros(len(ids))
        if week in order_weeks:
            view = pd.DataFrame({"unique_id": ids, "on_hand": on_hand, "transit_1": transit[0],
                                 "transit_2": transit[1]})
            got = orders(week, view).reindex(ids).fillna(0.0).to_numpy(dtype=float)
            placed = np.maximum(0.0, np.round(got))
        shelf = on_hand + transit[0]
        transit = [transit[1], placed]
        sold[:, j] = np.minimum(shelf, demand[:, j])
        on_hand = shelf - sold[:, j]
        left[:, j] = on_hand
        lost = demand[:, j] - sold[:, j]
        rows.append({"ds": ds, "demand": demand[:, j].sum(), "sales": sold[:, j].sum(), "lost": lost.sum(),
                     "end_stock": on_hand.sum(), "holding": costs.holding * on_hand.sum(),
                     "shortage": costs.shortage * lost.sum()})
        week = ds
    weekly = pd.DataFrame(rows)
    weekly["total"] = weekly["holding"] + weekly["shortage"]
    lost_all = demand - sold
    per_series = pd.DataFrame({"unique_id": ids, "demand": demand.sum(axis=1), "sales": sold.sum(axis=1),
                               "lost": lost_all.sum(axis=1), "holding": costs.holding * left.sum(axis=1),
                               "shortage": costs.shortage * lost_all.sum(axis=1)})
    per_series["total"] = per_series["holding"] + per_series["shortage"]
    return SimResult(total=float(weekly["total"].sum()), holding=float(weekly["holding"].sum()),
                     shortage=float(weekly["shortage"].sum()), weekly=weekly, per_series=per_series)


@dataclass(frozen=True, slots=True)
class OrderUpTo:
    """VN2's reference policy: order up to `coverage` weeks of the `weeks`-week mean, less on hand and in transit.

    `simulate` binds the dataset it plays on when `data` is None; the order is rounded to the nearest unit.
    """

    weeks: int = 8
    coverage: float = 4.0
    data: Dataset | None = None

    def __call__(self, origin: pd.Timestamp, state: pd.DataFrame) -> pd.Series:
        """The orders at `origin` for the given state."""
        if self.data is None:
            raise ValueError("the order-up-to policy needs a dataset: pass data= or let simulate bind it")
        ma = moving_average(self.data, origin, self.weeks)
        st = state.set_index("unique_id")
        position = st["on_hand"] + st["transit_1"] + st["transit_2"]
        target = self.coverage * ma.reindex(st.index).fillna(0.0)
        return np.maximum(0.0, np.floor(target - position + 0.5)).rename("order")


def order_up_to_ma(weeks: int = 8, coverage: float = 4.0, data: Dataset | None = None) -> OrderUpTo:
    """The reference benchmark: 4 weeks of cover of the 8-week moving average by default."""
    return OrderUpTo(weeks, coverage, data)


def _sample(quantiles: Array, levels: Sequence[int], n: int, rng: np.random.Generator) -> Array:
    """Draws per series from its quantile function: (series, n), linear between levels, flat beyond the ends."""
    probs = np.asarray(levels, dtype=float) / 100.0
    # Latin-hypercube draws: one per stratum of (0, 1), shuffled, so few samples cover the distribution evenly.
    u = (rng.permutation(n) + rng.uniform(size=n)) / n
    pos = np.clip(np.searchsorted(probs, u), 1, len(probs) - 1)
    lo, hi = probs[pos - 1], probs[pos]
    w = np.clip((u - lo) / (hi - lo), 0.0, 1.0)
    out = quantiles[:, pos - 1] * (1.0 - w) + quantiles[:, pos] * w
    return np.asarray(np.maximum(out, 0.0), dtype=np.float64)


def order_quantities(state: pd.DataFrame, steps: Sequence[pd.DataFrame], costs: Costs = Costs(),
                     samples: int = 1000, seed: int = 0) -> pd.Series:
    """Units to order now per series, from its state and the quantile forecasts of the next three weeks.

    Demand paths are drawn from the forecasts (weeks independent); the shelf is rolled forward through the two
    weeks before the order lands, with lost sales, to the stock left when it arrives. The order is then the
    newsvendor answer for the arrival week: one more unit pays `shortage` if demand reaches it and `holding` for a
    week if not (it then serves the following weeks, which the next order accounts for), so the shelf after arrival
    should cover the critical-ratio quantile of the demand still unmet. The integer order is the one with the lower
    cost over the draws.
    """
    st = state.set_index("unique_id")
    levels = [q for q in QUANTILES if all(qcol(q) in s.columns for s in steps)]
    if len(levels) < 2:
        raise ValueError("the forecasts need at least two quantile columns")
    cols = [qcol(q) for q in levels]
    rng = np.random.default_rng(seed)
    ids = st.index
    draws = []
    for frame in steps:
        qs = frame.set_index("unique_id")[cols].reindex(ids)
        known = qs.notna().all(axis=1).to_numpy()
        # Quantiles are sorted per row so that a model's crossing levels cannot make the draws non-monotone.
        values = np.sort(qs.fillna(0.0).to_numpy(dtype=float), axis=1)
        draws.append((_sample(values, levels, samples, rng), known))
    shelf = np.repeat(st["on_hand"].to_numpy(dtype=float)[:, None], samples, axis=1)
    arrivals = [st["transit_1"].to_numpy(dtype=float), st["transit_2"].to_numpy(dtype=float)]
    for arrive, (demand, _) in zip(arrivals, draws[:-1], strict=True):
        shelf = np.maximum(0.0, shelf + arrive[:, None] - demand)
    unmet = draws[-1][0] - shelf
    cr = costs.critical_ratio
    raw = np.quantile(unmet, cr, axis=1)
    options = np.stack([np.maximum(0.0, np.floor(raw)), np.maximum(0.0, np.ceil(raw))])
    cost = np.stack([(costs.holding * np.maximum(0.0, o[:, None] - unmet)
                      + costs.shortage * np.maximum(0.0, unmet - o[:, None])).mean(axis=1) for o in options])
    order = options[np.argmin(cost, axis=0), np.arange(len(ids))]
    known_all = np.logical_and.reduce([k for _, k in draws])
    return pd.Series(np.where(known_all, order, 0.0), index=ids, name="order")


def _steps(forecast: pd.DataFrame, horizon: int) -> list[pd.DataFrame]:
    frame = forecast.sort_values(["unique_id", "ds"])
    if "step" not in frame.columns:
        frame = frame.assign(step=frame.groupby("unique_id").cumcount() + 1)
    return [frame[frame["step"] == s] for s in range(1, horizon + 1)]


def quantile_policy(forecasts: pd.DataFrame, costs: Costs = Costs(), samples: int = 1000,
                    seed: int = 0) -> Orders:
    """The lost-sales-aware quantile policy reading each origin's steps 1..3 from a backtest frame."""
    by_origin = {pd.Timestamp(o): f for o, f in forecasts.groupby("origin")}
    horizon = costs.lead_weeks + 1

    def rule(origin: pd.Timestamp, state: pd.DataFrame) -> pd.Series:
        frame = by_origin.get(pd.Timestamp(origin))
        if frame is None:
            raise ValueError(f"no forecasts made at {pd.Timestamp(origin).date()}")
        return order_quantities(state, _steps(frame, horizon), costs, samples, seed)

    return rule


def evaluate_vn2(data: Dataset, forecasts: dict[str, pd.DataFrame], origins: list[pd.Timestamp],
                 costs: Costs = Costs()) -> dict[str, float]:
    """Total cost of the quantile policy on each model's forecasts, and of the reference under `order_up_to_ma8`."""
    result = {BASELINE: simulate(data, origins, order_up_to_ma(8, 4.0), costs).total}
    for name, frame in forecasts.items():
        result[name] = simulate(data, origins, quantile_policy(frame, costs), costs).total
    return result


def next_orders(data: Dataset, state: pd.DataFrame, forecast: pd.DataFrame, costs: Costs = Costs()) -> pd.DataFrame:
    """The orders to place now: unique_id, store, product, order, from the state and a forecast of weeks 1..3."""
    got = order_quantities(state, _steps(forecast, costs.lead_weeks + 1), costs)
    ids = list(got.index)
    return pd.DataFrame({"unique_id": ids, "store": [data.zone.get(i, "") for i in ids],
                         "product": [data.product.get(i, "") for i in ids],
                         "order": got.to_numpy().astype(int)})


def share_below(baseline: float, cost: float) -> float:
    """How far `cost` is below `baseline`, as a share of it (negative when above)."""
    return math.nan if baseline == 0 else 1.0 - cost / baseline
