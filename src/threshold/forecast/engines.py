"""Where a backtest's statistical fits run: in this process ("local") or on a dask cluster on this machine ("dask").

A dask cluster takes seconds to start, so `shared_client` keeps one per worker count for the life of the process
(closed at exit) and every origin of a backtest reuses it. `open_engine` is the scoped form: it opens its own cluster
and closes it when the block ends. Clusters listen on 127.0.0.1 only and have no dashboard.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENGINES: tuple[str, ...] = ("local", "dask")


class EngineError(ValueError):
    """An engine name or worker count that cannot be used."""


def check_engine(name: str, workers: int) -> None:
    """Raise EngineError unless `name` is a known engine and `workers` is at least one."""
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r}: use {' or '.join(repr(e) for e in ENGINES)}")
    if workers < 1:
        raise EngineError(f"an engine needs at least one worker, not {workers}")


def _start_dask(workers: int) -> Any:
    # Imported here so the local engine never pays for importing distributed.
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, scheduler_port=0, worker_dashboard_address=None)  # type: ignore[no-untyped-call]
    return Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]


def _close(client: Any) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


@contextmanager
def open_engine(name: str, workers: int = 2) -> Iterator[Any]:
    """Yield None for "local", or a dask Client on a fresh loopback LocalCluster of `workers` processes for "dask"."""
    check_engine(name, workers)
    if name == "local":
        yield None
        return
    client = _start_dask(workers)
    try:
        yield client
    finally:
        _close(client)


_SHARED: dict[int, Any] = {}


def shared_client(workers: int = 2) -> Any:
    """A dask Client on a loopback LocalCluster of `workers` processes, started once and reused until exit."""
    check_engine("dask", workers)
    client = _SHARED.get(workers)
    if client is None or client.status != "running":
        client = _start_dask(workers)
        _SHARED[workers] = client
    return client


def close_shared() -> None:
    """Close every cluster `shared_client` started."""
    while _SHARED:
        _, client = _SHARED.popitem()
        _close(client)


atexit.register(close_shared)
