"""One run's regions spread over threads and over dask.distributed: the same run as on one core,
on threads of this process, on a local cluster and on a separately started scheduler and worker
(loopback)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.cli_util import run_cli

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"
DASK = Path(sys.executable).parent / "dask"


def small_scenario(tmp_path: Path) -> Path:
    data = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    data.update(regions=["KZ-75", "KZ-62", "KZ-11"], name="three")
    data["load"]["users_scale"] = 0.005
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def outputs(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Measurements, cells (with each cell's user impact) and the verdict's whole-run figures."""
    v = json.loads((out / "verdict.json").read_text())
    whole = {"baseline_service": v["baseline_service"], "impact": v["impact"]}
    return pd.read_parquet(out / "measurements.parquet"), pd.read_parquet(out / "cells.parquet"), whole


@pytest.fixture(scope="module")
def one_core(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one-core")
    scenario = small_scenario(tmp)
    res = run_cli("run", scenario, "--quiet", "--threads", "1", "--out", tmp / "out")
    assert res.code == 0, res.err
    return scenario, outputs(tmp / "out")


@pytest.mark.parametrize("spread", [["--threads", "3"], ["--workers", "2"]], ids=["threads", "local-cluster"])
def test_regions_on_threads_or_a_local_cluster_give_the_same_run(one_core, tmp_path, spread):
    scenario, (meas, cells, whole) = one_core
    res = run_cli("run", scenario, "--quiet", *spread, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    meas2, cells2, whole2 = outputs(tmp_path / "out")
    assert meas["kbps"].sum() > 0 and len(cells) == 3 * 4
    assert whole["baseline_service"]["completed"] > 100 and whole["impact"]["platform"]["compared"] > 100
    pd.testing.assert_frame_equal(meas2, meas)
    pd.testing.assert_frame_equal(cells2, cells)
    assert whole2 == whole  # the figures over every session: from per-region parts on a cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_on_a_separately_started_scheduler_and_worker(one_core, tmp_path):
    from distributed import Client

    scenario, (meas, cells, whole) = one_core
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", port,
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard",
                               "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        res = run_cli("run", scenario, "--quiet", "--scheduler", address, "--out", tmp_path / "out")
        assert res.code == 0, res.err
        meas2, cells2, whole2 = outputs(tmp_path / "out")
        pd.testing.assert_frame_equal(meas2, meas)
        pd.testing.assert_frame_equal(cells2, cells)
        assert whole2 == whole
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_spreading_needs_the_sim_backend_and_one_kind_of_cluster(tmp_path):
    scenario = small_scenario(tmp_path)
    res = run_cli("run", scenario, "--backend", "mininet", "--workers", "2", "--out", tmp_path / "o")
    assert res.code == 2 and "sim backend" in res.err and len(res.err.strip().splitlines()) == 1
    res = run_cli("run", scenario, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
                  "--out", tmp_path / "o")
    assert res.code == 2 and "not both" in res.err
    res = run_cli("run", scenario, "--threads", "2", "--workers", "2", "--out", tmp_path / "o")
    assert res.code == 2 and "--threads" in res.err and "not both" in res.err
    res = run_cli("run", scenario, "--backend", "mininet", "--threads", "2", "--out", tmp_path / "o")
    assert res.code == 2 and "sim backend" in res.err and len(res.err.strip().splitlines()) == 1
    res = run_cli("run", scenario, "--threads", "0", "--out", tmp_path / "o")
    assert res.code == 2 and "--threads" in res.err
    assert not (tmp_path / "o").exists()


def test_a_scheduler_that_does_not_answer_is_an_error_of_the_argument(tmp_path):
    scenario = small_scenario(tmp_path)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    res = run_cli("run", scenario, "--scheduler", address, "--out", tmp_path / "o")
    assert res.code == 2, res.err
    assert "--scheduler" in res.err and address in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() and list(tmp_path.iterdir()) == [scenario]
