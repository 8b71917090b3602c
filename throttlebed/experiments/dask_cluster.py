"""The Dask adapter: sweep points, or the regions of one run, in parallel on dask.distributed.
The only module importing Dask.

With no scheduler address a LocalCluster of worker *processes* (one thread each) is started and
stopped here; with an address, the workers of that cluster must have throttlebed installed.
Sweeps: a point that raises is returned by the task as a row with its error (see
:func:`throttlebed.experiments.runner.run_sweep_point`); a worker that dies is caught here and
recorded the same way, so one failure never stops the others.
One run: each region's session outcomes stay on its worker (:class:`WorkerTables`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dask
from dask.distributed import Client, Future, LocalCluster, as_completed

from throttlebed.errors import InputError
from throttlebed.held import HeldTable

Row = dict[str, Any]


CONNECT_TIMEOUT_S = 10  # an address where no scheduler answers within this is an error of --scheduler
WORKER_PRELOAD = ["throttlebed.sim.backend"]  # what a region's task imports, loaded as a worker starts
# Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap
# threshold: every large numpy array is then a fresh mmap, and a region's day took 1.4-1.6x as long
# in a worker as in this process (national day at users_scale 0.3: 3.9 s against 2.4-2.6 s). The
# region tasks give their memory back themselves (throttlebed.memory.release_free_memory).
# A nanny also copies that variable into its own process's os.environ, where every worker spawned
# later inherits it: a cluster started earlier in this process (by a user, a test) leaves it behind,
# so it is hidden while the local cluster's workers start.
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
LOCAL_WORKER_CONFIG = {f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM}": None}


@contextmanager
def _environ_without(name: str) -> Iterator[None]:
    """``name`` out of this process's environment for the ``with`` block (children started in it do
    not inherit it), then back as it was."""
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _start(scheduler: str | None, workers: int) -> tuple[Client, LocalCluster | None]:
    """A client of the cluster at ``scheduler``, or of a new LocalCluster of ``workers`` processes."""
    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S), None
        except OSError as e:
            raise InputError(f"no Dask scheduler answered at {scheduler} within {CONNECT_TIMEOUT_S} s ({e})",
                             where="--scheduler") from None
        except (ValueError, TypeError) as e:  # Dask's reading of the address: no port, unknown protocol
            raise InputError(f"not a scheduler address: {scheduler!r} ({e}; e.g. tcp://HOST:8786)",
                             where="--scheduler") from None
    with dask.config.set(LOCAL_WORKER_CONFIG), _environ_without(MALLOC_TRIM):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR, preload=WORKER_PRELOAD)
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers`` processes."""
    client, cluster = _start(scheduler, workers)
    try:
        yield client
    finally:
        _stop(client, cluster)


def _stop(client: Client, cluster: LocalCluster | None) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


class WorkerTables:
    """A table in parts, one per region, each on the worker that made it (a :class:`HeldTable`)."""

    def __init__(self, client: Client, futures: list[Future]):
        self.client = client
        self.futures = futures

    def apply(self, fn: Callable[..., Any], *args: Any) -> list:
        """``fn(part, *args)`` on the worker of each part; the results gathered in the parts' order."""
        return self.client.gather([self.client.submit(fn, f, *args, pure=False) for f in self.futures])

    def apply_with(self, other: HeldTable, fn: Callable[..., Any], *args: Any) -> list:
        """``fn(part, other's part, *args)`` per region (Dask moves the smaller part if they are apart)."""
        if not isinstance(other, WorkerTables) or len(other.futures) != len(self.futures):
            raise TypeError("parts on a cluster pair only with as many parts on the same cluster")
        return self.client.gather([self.client.submit(fn, a, b, *args, pure=False)
                                   for a, b in zip(self.futures, other.futures, strict=True)])

    def transform(self, fn: Callable[..., Any], *args: Any) -> WorkerTables:
        """The parts ``fn(part, *args)``, computed and kept on the parts' workers; these are let go."""
        out = WorkerTables(self.client, [self.client.submit(fn, f, *args, pure=False) for f in self.futures])
        self.release()
        return out

    def release(self) -> None:
        """Let the workers drop the parts."""
        for f in self.futures:
            f.release()
        self.futures = []


class ClusterMap:
    """``map(fn, items)`` with each item a task on the cluster, results in order; a task that fails
    raises here (a run needs every region).

    The cluster is started (or reached) on a thread of its own, so that this process goes on (a run
    imports its libraries meanwhile, on one core, while the workers start and import theirs on the
    others); the first map waits for it.
    """

    def __init__(self, starting: concurrent.futures.Future):
        self._starting = starting

    @property
    def client(self) -> Client:
        """The cluster's client, once it is up (a failure to start raises here)."""
        return self._starting.result()[0]

    def __call__(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list:
        return self.client.gather(self.client.map(fn, list(items), pure=False))

    def held_map(self, fn: Callable[[Any], Any], items: Sequence[Any], *, keep: Callable[[Any], Any],
                 strip: Callable[[Any], Any], submit_order: Sequence[Any] | None = None
                 ) -> tuple[list, WorkerTables]:
        """``[strip(fn(item))]`` gathered, and ``keep(fn(item))`` left on each item's worker.

        ``strip`` must not change its argument (``keep`` may run after it). ``submit_order``: the
        items in the order to start them (the longest first); both results follow ``items``.
        """
        client = self.client
        order = list(submit_order) if submit_order is not None else list(items)
        futures = dict(zip(order, client.map(fn, order, pure=False), strict=True))
        done = [futures[i] for i in items]
        kept = [client.submit(keep, f, pure=False) for f in done]
        light = client.gather([client.submit(strip, f, pure=False) for f in done])
        for f in done:
            f.release()
        return light, WorkerTables(client, kept)


@contextmanager
def cluster_map(scheduler: str | None = None, workers: int = 2) -> Iterator[ClusterMap]:
    """A :class:`ClusterMap` of the cluster at ``scheduler`` (or of a LocalCluster of ``workers``).

    Used to spread the regions of one run; the cluster stays up for every map of the ``with`` block
    (baseline and enforced days), and with it the tables kept on its workers. It is started here in
    the background: a scheduler that does not answer is reported by the first map (an
    :class:`InputError` naming ``--scheduler``).
    """
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="throttlebed-dask-start")
    starting = pool.submit(_start, scheduler, workers)
    pool.shutdown(wait=False)
    try:
        yield ClusterMap(starting)
    finally:
        if starting.exception() is None:  # waits for the start to end; a failed start has nothing up
            _stop(*starting.result())


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
