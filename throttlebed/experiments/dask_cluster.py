"""The Dask adapter: sweep points, or the regions of one run, in parallel on dask.distributed.
The only module importing Dask.

With no scheduler address a LocalCluster of worker *processes* (one thread each) is started and
stopped here; with an address, the workers of that cluster must have throttlebed installed.
Sweeps: a point that raises is returned by the task as a row with its error (see
:func:`throttlebed.experiments.runner.run_sweep_point`); a worker that dies is caught here and
recorded the same way, so one failure never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dask.distributed import Client, LocalCluster, as_completed

Row = dict[str, Any]


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers`` processes."""
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def cluster_map(scheduler: str | None = None, workers: int = 2) -> Iterator[Callable[..., list]]:
    """A ``map(fn, items)`` running each item as one task on the cluster (results in order).

    Used to spread the regions of one run; a task that fails raises here (a run needs every region).
    The cluster stays up for every map of the ``with`` block (baseline and enforced days).
    """
    with _client(scheduler, workers) as client:
        def run_all(fn: Callable[[Any], Any], items: Iterable[Any]) -> list:
            futures = client.map(fn, list(items), pure=False)
            return client.gather(futures)

        yield run_all


def map_points(fn: Callable[..., Row], points: Sequence[tuple[Any, ...]], *, scheduler: str | None = None,
               workers: int = 2, on_done: Callable[[Row], None] | None = None) -> list[Row]:
    """``fn(*point)`` for every point on a Dask cluster; rows in the order of ``points``."""
    with _client(scheduler, workers) as client:
        futures = [client.submit(fn, *p, pure=False, key=f"sweep-point-{i}") for i, p in enumerate(points)]
        index = {f.key: i for i, f in enumerate(futures)}
        rows: list[Row | None] = [None] * len(points)
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                row = fut.result()
            except Exception as e:  # the worker itself failed (killed, out of memory...)
                row = {"index": i, "error": f"{type(e).__name__}: {e}"}
            rows[i] = row
            if on_done is not None:
                on_done(row)
        return [r for r in rows if r is not None]
