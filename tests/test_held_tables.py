"""Tables kept where they were made: in this process, and per region on the workers of a real Dask
cluster (what the workers keep does not come back; what is computed on it does, in order)."""

from __future__ import annotations

import os
import sys
import time

import pandas as pd
import pytest

from throttlebed.held import LocalTable, held


def _part(name: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"region": [name] * n, "x": range(n)})


def _total(t: pd.DataFrame, scale: int = 1) -> int:
    return int(t["x"].sum()) * scale


def _pair_rows(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, int]:
    return len(a), len(b)


def _first_rows(t: pd.DataFrame, n: int) -> pd.DataFrame:
    return t.head(n)


def test_a_local_table_is_one_part():
    t = held(_part("KZ-75", 4))
    assert isinstance(t, LocalTable) and held(None) is None and held(t) is t
    assert t.apply(_total, 10) == [60]
    assert t.apply_with(LocalTable(_part("KZ-11", 2)), _pair_rows) == [(4, 2)]
    head = t.transform(_first_rows, 2)
    assert head.apply(_total) == [1]
    with pytest.raises(RuntimeError, match="released"):
        t.apply(_total)  # transform lets the table it came from go


def _region_task(name: str) -> dict:
    return {"name": name, "table": _part(name, {"KZ-75": 5, "KZ-11": 3, "KZ-62": 1}[name])}


def _keep(result: dict) -> pd.DataFrame:
    return result["table"]


def _strip(result: dict) -> dict:
    return {"name": result["name"], "rows": len(result["table"])}


def test_tables_stay_on_the_workers_and_results_come_back_in_order(monkeypatch):
    from throttlebed.experiments.dask_cluster import WorkerTables, cluster_map

    # what a cluster started earlier in this process leaves in its environment (Dask's nanny puts it there)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with cluster_map(workers=2) as cmap:
        client = cmap.client
        client.wait_for_workers(2)
        # the workers run as the region tasks need: no Dask malloc trim threshold, the sim imported
        assert list(client.run(_worker_setup).values()) == [(None, True), (None, True)]
        regions = ["KZ-75", "KZ-11", "KZ-62"]
        light, tables = cmap.held_map(_region_task, regions, keep=_keep, strip=_strip,
                                      submit_order=["KZ-62", "KZ-11", "KZ-75"])
        assert light == [{"name": "KZ-75", "rows": 5}, {"name": "KZ-11", "rows": 3},
                         {"name": "KZ-62", "rows": 1}]
        assert isinstance(tables, WorkerTables) and len(tables.futures) == 3
        assert all(client.who_has(f)[f.key] for f in tables.futures)  # each part is on a worker
        assert tables.apply(_total, 2) == [20, 6, 0]
        _, again = cmap.held_map(_region_task, regions, keep=_keep, strip=_strip)
        assert tables.apply_with(again, _pair_rows) == [(5, 5), (3, 3), (1, 1)]
        heads = tables.transform(_first_rows, 2)
        assert tables.futures == [] and heads.apply(len) == [2, 2, 1]
        with pytest.raises(TypeError):
            heads.apply_with(LocalTable(_part("KZ-75", 1)), _pair_rows)
        keys = [f.key for f in heads.futures]
        heads.release()
        assert heads.futures == []
        for _ in range(200):  # the scheduler forgets a released part (the client tells it asynchronously)
            left = client.run_on_scheduler(_known, keys=keys)
            if not left:
                break
            time.sleep(0.05)
        assert left == []
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # this process's environment as it was


def _worker_setup() -> tuple[str | None, bool]:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), "throttlebed.sim.backend" in sys.modules


def _known(dask_scheduler, keys: list) -> list:
    return [k for k in keys if k in dask_scheduler.tasks]
