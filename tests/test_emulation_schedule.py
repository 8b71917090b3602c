"""The real-time driver's pure parts: sessions -> transfers, agents' counts -> measurement table."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from throttlebed.emulation.backend import controller_measurements
from throttlebed.emulation.driver import ReplayConfig, choose_bundle_s, plan_transfers, receiver_measurements
from throttlebed.errors import InputError
from throttlebed.measurements import validate_measurements
from throttlebed.topology.graph import TopologyOptions, build_graph

DAY = date(2026, 3, 2)


def _sessions(rows: list[tuple]) -> pd.DataFrame:
    cols = ["start_s", "region", "size_kbit", "access_kbps", "transport", "traffic"]
    return pd.DataFrame(rows, columns=cols)


def _graph(hosts: int = 2):
    return build_graph(["KZ-75", "KZ-71"], TopologyOptions(hosts_per_region=hosts, other_hosts=2))


def test_mapping_scaling_and_window() -> None:
    cfg = ReplayConfig(start_s=3600, end_s=7200, time_scale=100, rate_scale=0.5, sampling_interval_s=60)
    s = _sessions([
        (3500, "KZ-75", 8000, 1000, "tcp", "platform"),  # before the window: left out
        (3600, "KZ-75", 8000, 1000, "tcp", "platform"),
        (3700, "KZ-75", 16000, 2000, "udp", "platform"),
        (3800, "KZ-75", 8000, 1000, "tcp", "other"),
        (3900, "KZ-71", 8000, 1000, "tcp", "other"),
        (4000, "KZ-75", 8000, 1000, "tcp", "other"),
        (7200, "KZ-75", 8000, 1000, "tcp", "platform"),  # at the end: left out (half-open)
    ])
    tr, bundle_s = plan_transfers(s, _graph(), cfg)
    assert bundle_s == 0.0
    assert tr["at_s"].tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])
    # round-robin over the region's hosts, and over the servers of each class
    assert tr["host"].tolist() == ["u75h1", "u75h2", "u75h1", "u71h1", "u75h2"]
    assert tr["server"].tolist() == ["203.0.113.1", "203.0.113.1", "198.51.100.1", "198.51.100.2",
                                     "198.51.100.1"]
    # wire size = size x rate_scale / time_scale, in bytes; wire rate = access x rate_scale
    assert tr["bytes"].tolist() == [5000, 10000, 5000, 5000, 5000]
    assert tr["rate_kbps"].tolist() == [500, 1000, 500, 500, 500]
    assert tr["proto"].tolist() == ["tcp", "udp", "tcp", "tcp", "tcp"]
    # the emulated duration size/access is kept: bytes*8/rate real s x time_scale
    dur_emul = tr["bytes"] * 8 / 1000 / tr["rate_kbps"] * cfg.time_scale
    assert dur_emul.tolist() == pytest.approx([8.0, 8.0, 8.0, 8.0, 8.0])


def test_bundling_keeps_bytes_and_bounds_the_start_rate() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    s = _sessions([(float(t), r, 4000.0, 2000.0, "tcp", "platform")
                   for t, r in zip(np.sort(rng.uniform(0, 1000, n)), rng.choice(["KZ-75", "KZ-71"], n),
                                   strict=True)])
    cfg = ReplayConfig(start_s=0, end_s=1000, time_scale=100, rate_scale=1, sampling_interval_s=100,
                       max_transfers_per_s=50)
    tr, bundle_s = plan_transfers(s, _graph(), cfg)
    assert bundle_s > 0
    assert len(tr) / cfg.window_real_s <= 50
    assert tr["sessions"].sum() == n
    assert tr["bytes"].sum() == pytest.approx(n * 4000 * 1000 / 8 / 100, rel=1e-3)
    assert choose_bundle_s(np.arange(10.0), np.zeros(10), 10.0, 5.0) == 0.0
    assert choose_bundle_s(np.arange(10.0), np.zeros(10), 10.0, 0.5) == 2.0


def test_unknown_region_is_an_input_error() -> None:
    cfg = ReplayConfig(start_s=0, end_s=100, time_scale=1, rate_scale=1, sampling_interval_s=10)
    with pytest.raises(InputError, match="KZ-10"):
        plan_transfers(_sessions([(1, "KZ-10", 1, 1, "tcp", "platform")]), _graph(), cfg)
    with pytest.raises(InputError, match="end_s"):
        ReplayConfig(start_s=10, end_s=10, time_scale=1, rate_scale=1, sampling_interval_s=1)


def test_receiver_counts_become_model_kbps() -> None:
    g = _graph(hosts=2)
    cfg = ReplayConfig(start_s=0, end_s=250, time_scale=10, rate_scale=2, sampling_interval_s=100)
    # bins are 10 real seconds; the last one (200-250) is half as long
    results = {
        "u75h1": {"rows": [[0, "203.0.113.1", "tcp", 1_000_000], [1, "198.51.100.1", "tcp", 250_000],
                           [2, "203.0.113.1", "udp", 500_000], [3, "203.0.113.1", "tcp", 99]]},
        "u75h2": {"rows": [[0, "203.0.113.1", "tcp", 1_000_000]]},
        "u71h1": {"rows": []},
    }
    df = receiver_measurements(results, g, cfg, DAY)
    validate_measurements(df)
    assert len(df) == 3 * 2 * 2  # bins x regions x classes, zeros included
    get = df.set_index(["time", "region", "traffic"])["kbps"]
    # 2 MB in 10 s = 1600 kbit/s on the wire = 800 model kbit/s
    assert get[(datetime(2026, 3, 2, 0, 0), "KZ-75", "platform")] == pytest.approx(800)
    assert get[(datetime(2026, 3, 2, 0, 1, 40), "KZ-75", "other")] == pytest.approx(100)
    assert get[(datetime(2026, 3, 2, 0, 3, 20), "KZ-75", "platform")] == pytest.approx(400)
    assert get[(datetime(2026, 3, 2, 0, 0), "KZ-71", "platform")] == 0
    assert set(df["source"]) == {"receiver"} and set(df["direction"]) == {"down"}


def test_controller_rows_are_resampled_time_weighted(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("time,region,direction,traffic,kbps,wire_kbps,source\n"
                   "2026-03-02T00:00:00,KZ-75,down,platform,100,100,ovs-flow-counters\n"
                   "2026-03-02T00:00:30,KZ-75,down,platform,400,400,ovs-flow-counters\n"
                   "2026-03-02T00:01:00,KZ-75,down,platform,1000,1000,ovs-flow-counters\n"
                   "2026-03-02T00:01:00,KZ-75,both,other,5,5,ovs-flow-counters\n"
                   "2026-03-01T23:59:00,KZ-75,down,platform,7,7,ovs-flow-counters\n")
    df = controller_measurements(csv, day=DAY, start_s=0, end_s=120, sampling_interval_s=60,
                                 poll_emulated_s=30)
    validate_measurements(df)
    assert df["kbps"].tolist() == pytest.approx([250, 1000])
    assert df["time"].tolist() == [pd.Timestamp("2026-03-02 00:00"), pd.Timestamp("2026-03-02 00:01")]
    assert set(df["direction"]) == {"down"}
    empty = controller_measurements(tmp_path / "none.csv", day=DAY, start_s=0, end_s=60,
                                    sampling_interval_s=60, poll_emulated_s=1)
    assert empty.empty


def test_directive_must_cover_the_emulated_platform(tmp_path: Path) -> None:
    """A directive whose prefixes miss the platform's servers would cap nothing: refused up front."""
    from throttlebed.directive.schema import directive_from_data
    from throttlebed.emulation.backend import run_emulation

    row = {"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 10, "cap_kbps": 5}
    d = directive_from_data({"platform": "P", "platform_prefixes": ["192.0.2.0/24"], "stage": 50,
                             "rows": [row]})
    with pytest.raises(InputError, match="outside the directive's prefixes"):
        run_emulation(["KZ-75"], _sessions([(1, "KZ-75", 1, 1, "tcp", "platform")]), d, day=DAY, start_s=0,
                      end_s=60, time_scale=1, rate_scale=1, hosts_per_region=1, sampling_interval_s=10,
                      burst_s=1, work_dir=tmp_path, quiet=True)
    assert list(tmp_path.iterdir()) == []  # nothing was started or written
