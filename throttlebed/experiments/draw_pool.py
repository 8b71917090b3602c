"""Draw many plots at once: matplotlib holds the GIL, so each drawer is a forked process.

A job is any function of no arguments returning a PNG's bytes (or None). The drawers are forked
after the jobs are listed, so they inherit the jobs with the parent's memory and receive only an
index; they send back bytes. The parent's objects are frozen out of the cyclic collector while it
forks, so a drawer does not touch, and so copy, the parent's tables. Where ``fork`` is not
offered, in a daemon process, or where one CPU is all there is, the jobs run here, in turn, when
their results are asked.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

Job = Callable[[], "bytes | None"]

MAX_DRAWERS = 4
MIN_JOBS_PER_DRAWER = 3  # a fork costs ~30-60 ms; below this the jobs run in turn

_inherited_jobs: Sequence[Job] = ()  # what the drawers forked from this process inherit


def can_fork_drawers() -> bool:
    """Whether this process may fork drawers: ``fork`` is offered and the process is not a daemon
    (a Dask worker running a sweep point is one, and a daemon may not have children)."""
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon


def drawers_for(jobs: int) -> int:
    """Drawing processes for ``jobs`` plots: the CPUs this process may use (at most 4), fewer when
    there are few plots; 1 means in this process."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_DRAWERS, cpus, jobs // MIN_JOBS_PER_DRAWER))


def _run_inherited(index: int) -> bytes | None:
    return _inherited_jobs[index]()


class Drawings:
    """``with Drawings(jobs) as d: ...; pngs = d.results()``: the jobs run on forked drawers from
    the ``with`` on, while the parent goes on with other work; leaving the block stops them."""

    def __init__(self, jobs: Sequence[Job], drawers: int | None = None) -> None:
        self._jobs = list(jobs)
        wanted = drawers_for(len(self._jobs)) if drawers is None else drawers
        self._drawers = wanted if can_fork_drawers() else 1
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[bytes | None]] = []

    def __enter__(self) -> Drawings:
        global _inherited_jobs
        if self._drawers <= 1:
            return self
        _inherited_jobs = self._jobs
        gc.freeze()
        try:
            self._pool = ProcessPoolExecutor(self._drawers, mp_context=multiprocessing.get_context("fork"))
            self._futures = [self._pool.submit(_run_inherited, i) for i in range(len(self._jobs))]
        except OSError:  # no fork (out of memory, process limit): the jobs run here
            self._close()
        except BaseException:
            self._close()
            raise
        finally:
            gc.unfreeze()
        return self

    def results(self) -> list[bytes | None]:
        """Every job's result, in order (raises what a job raised). A job whose drawer died (killed,
        out of memory) is run here instead."""
        if self._pool is None:
            return [job() for job in self._jobs]
        out = []
        for job, future in zip(self._jobs, self._futures, strict=True):
            try:
                out.append(future.result())
            except BrokenProcessPool:
                out.append(job())
        return out

    def _close(self) -> None:
        global _inherited_jobs
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _inherited_jobs = ()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()
