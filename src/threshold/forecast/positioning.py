"""Pre-positioning: move stock to a zone's station tonight so that tomorrow's orders can be delivered next morning.

The policy: for each station (zone) and product, bring the forward stock up to the forecast's quantile at `level`
for the next period: move = max(0, ceil(quantile) - on hand). A unit that turns out not to be needed costs its
move, its holding, and, once it has waited `waste_periods` periods unused, a move back.

The simulation walks each series through the backtest's step-1 rows in date order, treating consecutive rows as
consecutive periods (origins one period apart, as a daily or weekly backtest makes them). Forward stock is kept as
batches with the period they arrived; demand is served from forward stock first, oldest batch first, and what it
cannot cover is delivered the usual (slower) way, which is neither a hit nor a cost here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from threshold.forecast.base import QUANTILES, Dataset, DatasetName, Model, qcol
from threshold.forecast.data import load, vn2_state
from threshold.forecast.inventory import Costs, default_start, next_orders

ROHLIK_PLAN = ("station", "product", "date", "forecast_mean", "level", "target", "on_hand", "move_units")
VN2_PLAN = ("station", "product", "week", "forecast_mean", "level", "on_hand", "in_transit", "order_units")


@dataclass(frozen=True, slots=True)
class PositionCosts:
    """Prices of pre-positioning, per unit: a move, a period held forward, and the value of a next-morning hit.

    Defaults are in units of the hit's value: a move costs a fifth of it, a period on the shelf a twentieth, and
    stock is moved for the next period only: what that period does not take goes back (`waste_periods` 1), as
    with short-lived goods such as groceries.
    """

    move_cost: float = 0.2
    holding: float = 0.05
    value_of_hit: float = 1.0
    waste_periods: int = 1

    @property
    def critical_ratio(self) -> float:
        """The service level where one more unit moved breaks even: (value - move) / (value + move + holding).

        One more unit costs a move; used, it earns `value_of_hit`; unused, it is held a period and moved back.
        So it pays while P(used) * value > move + (1 - P(used)) * (holding + move), and the last unit worth
        moving is the forecast quantile at this ratio. With `waste_periods` above 1 an unused unit usually serves
        a later period instead of going back, so the ratio is then a cautious lower bound.
        """
        v, m, h = self.value_of_hit, self.move_cost, self.holding
        return max(0.0, (v - m) / (v + m + h))


def default_level(costs: PositionCosts, levels: Sequence[int] = QUANTILES) -> int:
    """The forecast level nearest the critical ratio of `costs` (60 for the defaults, whose ratio is 0.64)."""
    target = 100.0 * costs.critical_ratio
    return min(levels, key=lambda q: (abs(q - target), q))


def move_units(quantile: float, on_hand: float) -> int:
    """Units to move so the forward stock reaches the quantile: max(0, ceil(quantile) - on hand)."""
    # A hair below an integer is that integer: float noise in a forecast must not move a whole extra unit.
    return max(0, math.ceil(quantile - 1e-9) - math.floor(on_hand + 1e-9))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a level of pre-positioning did over the backtest."""

    level: int
    demand: float
    hits: float
    moved: float
    wasted: float
    stock_days: float
    net_value: float

    @property
    def hit_rate(self) -> float:
        """Share of demand served from forward stock."""
        return self.hits / self.demand if self.demand else 1.0

    @property
    def waste_share(self) -> float:
        """Share of the units moved that went back unused."""
        return self.wasted / self.moved if self.moved else 0.0


def _walk(targets: Sequence[float], demand: Sequence[float], waste_periods: int) -> tuple[float, float, float, float]:
    """One series through its periods: (hits, moved, wasted, unit-periods held)."""
    stock: deque[list[float]] = deque()  # [arrival period, units], oldest first
    hits = moved = wasted = held = 0.0
    for t, (target, want) in enumerate(zip(targets, demand, strict=True)):
        move = move_units(target, sum(b[1] for b in stock))
        if move:
            stock.append([t, float(move)])
            moved += move
        need = max(0.0, float(want))
        while need > 0 and stock:
            take = min(need, stock[0][1])
            stock[0][1] -= take
            need -= take
            hits += take
            if stock[0][1] <= 0:
                stock.popleft()
        # What is left tonight was held this period; a batch that has now waited `waste_periods` goes back.
        held += sum(b[1] for b in stock)
        while stock and t - stock[0][0] + 1 >= waste_periods:
            wasted += stock.popleft()[1]
    return hits, moved, wasted, held


def simulate(data: Dataset, forecasts: pd.DataFrame, level: int, costs: PositionCosts = PositionCosts()) -> Outcome:
    """Pre-position at `level` over the backtest origins of `forecasts` (step 1) and count hits, waste and value."""
    col = qcol(level)
    if col not in forecasts.columns:
        raise ValueError(f"the forecasts have no {col} column")
    if costs.waste_periods < 1:
        raise ValueError("waste_periods must be at least 1")
    rows = forecasts[forecasts["step"] == 1] if "step" in forecasts.columns else forecasts
    rows = rows.dropna(subset=["y"]).sort_values(["unique_id", "ds"])
    hits = moved = wasted = held = 0.0
    for _, part in rows.groupby("unique_id", sort=True):
        h, m, w, s = _walk(part[col].to_numpy(dtype=float).tolist(), part["y"].to_numpy(dtype=float).tolist(),
                           costs.waste_periods)
        hits, moved, wasted, held = hits + h, moved + m, wasted + w, held + s
    value = (hits * costs.value_of_hit - moved * costs.move_cost - held * costs.holding
             - wasted * costs.move_cost)
    return Outcome(level=level, demand=float(rows["y"].clip(lower=0).sum()), hits=hits, moved=moved,
                   wasted=wasted, stock_days=held, net_value=value)


def curve(data: Dataset, forecasts: pd.DataFrame, levels: Sequence[int] = QUANTILES,
          costs: PositionCosts = PositionCosts()) -> pd.DataFrame:
    """Hit rate, wasted share, stock-days and net value for each level: the trade-off to choose a level from."""
    rows = []
    for level in levels:
        out = simulate(data, forecasts, level, costs)
        rows.append({"level": level, "hit_rate": out.hit_rate, "wasted_moves": out.waste_share,
                     "stock_days": out.stock_days, "net_value": out.net_value, "moved": out.moved,
                     "wasted": out.wasted, "hits": out.hits})
    return pd.DataFrame(rows)


def plot_curve(frame: pd.DataFrame, path: Path, title: str) -> None:
    """Write the hit rate against the wasted-move share as a PNG, each point labelled with its level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot(frame["wasted_moves"], frame["hit_rate"], marker="o")
    for _, row in frame.iterrows():
        ax.annotate(f"q{int(row['level'])}", (row["wasted_moves"], row["hit_rate"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=8)
    ax.set_xlabel("wasted moves (share of units moved)")
    ax.set_ylabel("unit hit rate (share of demand served forward)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _origin(data: Dataset, date: pd.Timestamp) -> pd.Timestamp:
    dates = data.dates()
    first, last = pd.Timestamp(dates[0]), pd.Timestamp(dates[-1])
    date = pd.Timestamp(date)
    if not first <= date <= last:
        raise ValueError(f"date {date.date()} is outside the data, which runs from {first.date()} to {last.date()}")
    return pd.Timestamp(max(d for d in dates if pd.Timestamp(d) <= date))


def _stock(path: Path | None) -> dict[tuple[str, str], float]:
    if path is None:
        return {}
    raw = pd.read_csv(path, dtype={"station": str, "product": str})
    missing = {"station", "product", "units"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path.name} needs the columns station, product, units")
    return {(str(s), str(p)): float(u) for s, p, u in zip(raw["station"], raw["product"], raw["units"], strict=True)}


def rohlik_plan(data: Dataset, forecast: pd.DataFrame, level: int, stock: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Tonight's moves per station and product from a one-period forecast and the forward stock on hand."""
    rows = []
    for _, r in forecast.sort_values(["unique_id", "ds"]).groupby("unique_id").head(1).iterrows():
        uid = str(r["unique_id"])
        station, product = data.zone.get(uid, uid), data.product.get(uid, "*")
        on_hand = stock.get((station, product), 0.0)
        target = math.ceil(float(r[qcol(level)]) - 1e-9)
        rows.append({"station": station, "product": product, "date": pd.Timestamp(r["ds"]).date().isoformat(),
                     "forecast_mean": round(float(r["mean"]), 3), "level": level, "target": target,
                     "on_hand": on_hand, "move_units": move_units(target, on_hand)})
    return pd.DataFrame(rows, columns=list(ROHLIK_PLAN))


def vn2_plan(data: Dataset, folder: Path, origin: pd.Timestamp, forecast: pd.DataFrame, costs: Costs) -> pd.DataFrame:
    """This week's orders per store and product: the quantile policy on the known (or default) state."""
    # Mid-history there is no recorded stock: start from the simulation's default state known at the origin.
    last = origin == pd.Timestamp(data.dates()[-1])
    state = vn2_state(folder) if last else default_start(data, origin)
    orders = next_orders(data, state, forecast, costs).set_index("unique_id")
    horizon = costs.lead_weeks + 1
    frame = forecast.sort_values(["unique_id", "ds"])
    arrival = frame.groupby("unique_id").nth(horizon - 1).set_index("unique_id")
    st = state.set_index("unique_id").reindex(orders.index).fillna(0.0)
    level = round(100 * costs.critical_ratio)
    return pd.DataFrame({
        "station": orders["store"].to_numpy(), "product": orders["product"].to_numpy(),
        "week": [pd.Timestamp(d).date().isoformat() for d in arrival["ds"].reindex(orders.index)],
        "forecast_mean": arrival["mean"].reindex(orders.index).round(3).to_numpy(), "level": level,
        "on_hand": st["on_hand"].to_numpy(), "in_transit": (st["transit_1"] + st["transit_2"]).to_numpy(),
        "order_units": orders["order"].to_numpy(),
    }, columns=list(VN2_PLAN))


def write_plan(dataset: str, folder: Path, date: pd.Timestamp, model: Model, out: Path,
               level: int | None = None, stock: Path | None = None,
               costs: PositionCosts = PositionCosts()) -> pd.DataFrame:
    """Forecast from what is known at `date` and write the next move plan (Rohlik) or order plan (VN2) as CSV.

    Rohlik: moves for the day after `date` at `level` (default: `default_level(costs)`); forward stock on hand from
    `stock` (CSV station, product, units), else 0. VN2: the orders placed at the end of the week `date` falls in,
    arriving three weeks later (the `week` column); the state is the recorded one when that is the last week of
    the data, else the simulation's default state. `level` is ignored for VN2, whose level is the critical ratio.
    """
    if dataset not in ("rohlik", "vn2"):
        raise ValueError(f"unknown dataset {dataset!r}: use rohlik or vn2")
    name: DatasetName = "vn2" if dataset == "vn2" else "rohlik"
    data = load(name, folder)
    origin = _origin(data, date)
    if dataset == "vn2":
        costs_vn2 = Costs()
        forecast = model.forecast(data, origin, costs_vn2.lead_weeks + 1)
        plan = vn2_plan(data, folder, origin, forecast, costs_vn2)
    else:
        chosen = default_level(costs) if level is None else level
        forecast = model.forecast(data, origin, 1, sorted(set(QUANTILES) | {chosen}))
        # A warehouse whose history ended before `date` has nothing to plan.
        live = data.history.groupby("unique_id")["ds"].max()
        forecast = forecast[forecast["unique_id"].map(live) >= origin]
        plan = rohlik_plan(data, forecast, chosen, _stock(stock))
    out.parent.mkdir(parents=True, exist_ok=True)
    plan.to_csv(out, index=False)
    return plan

