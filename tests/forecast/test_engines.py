"""Engines: local and a loopback dask cluster give the same statistical forecasts; unknown names are refused."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from tests.forecast.samples import DATA

from threshold.forecast.data import load_rohlik
from threshold.forecast.engines import EngineError, close_shared, open_engine, shared_client
from threshold.forecast.statistical import StatEnsemble


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(EngineError, match="unknown engine 'ray'"), open_engine("ray"):
        pass
    with pytest.raises(EngineError, match="unknown engine"):
        StatEnsemble(engine="spark")
    with pytest.raises(EngineError, match="at least one worker"):
        StatEnsemble(engine="dask", workers=0)


def test_local_engine_has_no_handle() -> None:
    with open_engine("local") as handle:
        assert handle is None


def test_dask_matches_local_on_two_workers() -> None:
    data = load_rohlik(DATA / "rohlik_orders")
    ids = ["Prague_1", "Brno_1", "Munich_1"]
    hist = data.history[data.history["unique_id"].isin(ids) & data.history["ds"].between("2023-06-01", "2023-09-30")]
    data = dataclasses.replace(data, history=hist.reset_index(drop=True))
    origin = pd.Timestamp("2023-09-20")
    local = StatEnsemble().forecast(data, origin, 3)
    model = StatEnsemble(engine="dask", workers=2)
    try:
        client = shared_client(2)
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        remote = model.forecast(data, origin, 3)
        assert shared_client(2) is client  # one cluster serves every origin
    finally:
        model.close()
    pd.testing.assert_frame_equal(local, remote, check_exact=False, rtol=1e-5)
    close_shared()
