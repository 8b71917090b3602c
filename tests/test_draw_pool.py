"""Plots drawn on forked processes come back in order, from other processes, and failures surface."""

from __future__ import annotations

import gc
import multiprocessing
import os
from functools import partial

import pytest

from throttlebed.experiments.draw_pool import Drawings, drawers_for


def _pid_and_index(i: int) -> bytes:
    return f"{os.getpid()}:{i}".encode()


def _fails(i: int) -> bytes:
    raise ValueError(f"job {i} failed")


def _jobs(n: int) -> list:
    return [partial(_pid_and_index, i) for i in range(n)]


def test_forked_drawers_return_every_result_in_order():
    with Drawings(_jobs(12), drawers=2) as d:
        out = [x.decode().split(":") for x in d.results()]
    assert [int(i) for _, i in out] == list(range(12))
    pids = {int(pid) for pid, _ in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert gc.get_freeze_count() == 0  # the parent's objects are back under the collector
    assert multiprocessing.active_children() == []


def test_one_drawer_runs_the_jobs_here():
    with Drawings(_jobs(4), drawers=1) as d:
        out = d.results()
    assert out == [f"{os.getpid()}:{i}".encode() for i in range(4)]


def test_a_failed_job_raises_its_error_and_leaves_no_drawer():
    with pytest.raises(ValueError, match="job 3 failed"), \
            Drawings([*_jobs(3), partial(_fails, 3), *_jobs(5)], drawers=2) as d:
        d.results()
    assert multiprocessing.active_children() == []


def test_drawers_follow_the_plots_and_the_cpus():
    cpus = len(os.sched_getaffinity(0))
    assert drawers_for(2) == 1  # too few plots to pay for a fork
    assert drawers_for(60) == min(4, cpus)
    assert drawers_for(6) == min(2, cpus)


def _draw_in_a_daemon(queue) -> None:
    with Drawings(_jobs(6), drawers=2) as d:
        queue.put((os.getpid(), d.results()))


def test_a_daemon_process_draws_its_plots_itself():
    # a Dask worker running a sweep point is a daemon, and a daemon may not have children
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_draw_in_a_daemon, args=(queue,), daemon=True)
    proc.start()
    pid, out = queue.get(timeout=30)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert out == [f"{pid}:{i}".encode() for i in range(6)]


def _dies_in_a_drawer(parent_pid: int, i: int) -> bytes:
    if os.getpid() != parent_pid:
        os._exit(3)  # a drawer killed (out of memory, a signal)
    return f"{os.getpid()}:{i}".encode()


def test_jobs_of_a_dead_drawer_are_drawn_here():
    jobs = [partial(_dies_in_a_drawer, os.getpid(), i) for i in range(6)]
    with Drawings(jobs, drawers=2) as d:
        out = d.results()
    assert out == [f"{os.getpid()}:{i}".encode() for i in range(6)]
    assert multiprocessing.active_children() == []
