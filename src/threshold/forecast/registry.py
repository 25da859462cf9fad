"""Model names and how to build each; the statistical and LightGBM models are imported only when asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from threshold.forecast.base import DatasetName, Model
from threshold.forecast.baselines import TSB, Croston, MovingAverage, SeasonalMean, SeasonalNaive


class UnknownModel(ValueError):
    """A model name that is not registered."""


class ModelUnavailable(RuntimeError):
    """A registered model whose module cannot be imported here."""


@dataclass(frozen=True, slots=True)
class Options:
    """How the heavier models run: the statsforecast engine (local or dask) and its workers."""

    engine: str = "local"
    workers: int = 2


def lazy(module: str, cls: str, engine: bool) -> Callable[[Options], Model]:
    """A factory that imports `module` only when called (ModelUnavailable if it cannot be imported)."""

    def make(options: Options) -> Model:
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            raise ModelUnavailable(f"{module} cannot be imported: {exc}") from exc
        factory = getattr(mod, cls)
        made: Model = factory(engine=options.engine, workers=options.workers) if engine else factory()
        return made

    return make


FACTORIES: dict[str, Callable[[Options], Model]] = {
    "seasonal_naive": lambda _: SeasonalNaive(),
    "weekday_mean4": lambda _: SeasonalMean(4, name="weekday_mean4"),
    "seasonal_mean4": lambda _: SeasonalMean(4, name="seasonal_mean4"),
    "moving_average": lambda _: MovingAverage(),
    "croston": lambda _: Croston(),
    "tsb": lambda _: TSB(),
    "ets_theta": lazy("threshold.forecast.statistical", "StatEnsemble", engine=True),
    "lightgbm": lazy("threshold.forecast.gbm", "LightGBMModel", engine=False),
}
BASELINES: dict[str, tuple[str, ...]] = {
    "rohlik": ("seasonal_naive", "weekday_mean4", "moving_average"),
    # VN2 is 43% zeros: the intermittent-demand methods are its natural baselines.
    "vn2": ("seasonal_naive", "seasonal_mean4", "moving_average", "croston", "tsb"),
}
STRONG: tuple[str, ...] = ("ets_theta", "lightgbm")
# The plan's default: the model with the lowest backtest error on both datasets' own history (bench/forecast.py).
PLAN_MODEL: dict[str, str] = {"rohlik": "lightgbm", "vn2": "lightgbm"}


def names() -> list[str]:
    """Every registered model name."""
    return list(FACTORIES)


def check(name: str) -> str:
    """The name itself when registered; otherwise UnknownModel with a stable message."""
    if name not in FACTORIES:
        raise UnknownModel(f"unknown model {name!r}: choose from {', '.join(FACTORIES)}")
    return name


def create(name: str, options: Options = Options()) -> Model:
    """A fresh model by name (UnknownModel for a name not registered, ModelUnavailable if it cannot load)."""
    return FACTORIES[check(name)](options)


def baselines(dataset: DatasetName | str) -> tuple[str, ...]:
    """The baseline models run beside any other model on a dataset."""
    return BASELINES.get(dataset, ("seasonal_naive",))


def defaults(dataset: DatasetName | str) -> list[str]:
    """The full model set for a dataset: its baselines, then the statistical ensemble and LightGBM."""
    return [*baselines(dataset), *STRONG]
