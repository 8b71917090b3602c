"""``throttlebed directive derive|check`` against an independent computation and bad inputs."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.directive.regions import region_codes

SPEC = "02:00-09:00,09:00-18:00,18:00-22:00,22:00-02:00"  # the last one wraps midnight


def period_of(hour: int) -> str:
    """Written out by hand, independently of the library's period code."""
    if 2 <= hour < 9:
        return "02:00-09:00"
    if 9 <= hour < 18:
        return "09:00-18:00"
    if 18 <= hour < 22:
        return "18:00-22:00"
    return "22:00-02:00"


@pytest.fixture(scope="module")
def stats_csv(tmp_path_factory):
    """Two days, 20 regions, one sample a minute, evening-peaked with noise."""
    rng = np.random.default_rng(267)
    times = pd.date_range("2025-03-20", periods=2 * 1440, freq="min")
    hours = times.hour.to_numpy() + times.minute.to_numpy() / 60
    shape = 0.55 + 0.45 * np.sin((hours - 14) / 24 * 2 * np.pi)
    frames = []
    for i, region in enumerate(region_codes()):
        kbps = (1000 + 150 * i) * shape * rng.lognormal(0, 0.2, len(times))
        frames.append(pd.DataFrame({
            "time": times.strftime("%Y-%m-%dT%H:%M:%S"), "region": region, "kbps": kbps.round(3),
        }))
    path = tmp_path_factory.mktemp("stats") / "stats.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def independent_caps(path, stage):
    peaks: dict[tuple[str, str], float] = {}
    for line in path.read_text().splitlines()[1:]:
        time, region, kbps = line.split(",")
        key = (region, period_of(int(time[11:13])))
        peaks[key] = max(peaks.get(key, 0.0), float(kbps))
    return {k: (v, math.floor(round(v * 1000) * (100 - stage) / 100_000)) for k, v in peaks.items()}


@pytest.mark.parametrize("stage", [10, 50, 90])
def test_derive_matches_independent_computation(stats_csv, stage):
    res = run_cli("directive", "derive", "--stats", stats_csv, "--periods", SPEC,
                  "--stage", str(stage), "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    expected = independent_caps(stats_csv, stage)
    got = {(r["region"], r["period"]): (r["peak_kbps"], r["cap_kbps"]) for r in doc["rows"]}
    assert len(got) == 20 * 4
    assert got.keys() == expected.keys()
    for key, (peak, cap) in expected.items():
        assert got[key][0] == pytest.approx(peak, abs=1e-9)
        assert got[key][1] == cap, key
    assert doc["stage"] == stage
    assert doc["method"]["sampling_interval_s"] == 60.0
    assert doc["method"]["statistic"] == "max"
    assert doc["method"]["days"] == 2
    assert doc["method"]["unassigned_samples"] == 0


def test_derive_writes_yaml_that_check_accepts(stats_csv, tmp_path):
    out = tmp_path / "directive.yaml"
    res = run_cli("directive", "derive", "--stats", stats_csv, "--periods", SPEC, "--stage", "50",
                  "--platform", "ExamplePlatform", "--prefix", "203.0.113.0/24", "-o", out)
    assert res.code == 0, res.err
    data = yaml.safe_load(out.read_text())
    assert data["platform_prefixes"] == ["203.0.113.0/24"]
    check = run_cli("directive", "check", out)
    assert check.code == 0
    assert "80 rows, 20 regions, stage 50%" in check.out


def test_samples_outside_every_period_are_reported(stats_csv):
    res = run_cli("directive", "derive", "--stats", stats_csv, "--periods", "18:00-22:00",
                  "--stage", "10", "--json")
    assert res.code == 0
    assert json.loads(res.out)["method"]["unassigned_samples"] == 20 * 2 * 20 * 60
    assert "KZ-75: 2400 samples fall in no period" in res.err
    assert "no period covers 22:00-18:00" in res.err


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("time,region,kbps\n2025-01-01T00:00:00,KZ-75,5\n2025-01-01T00:01:00,KZ-7,5\n",
         "stats.csv: row 2.region: unknown region 'KZ-7'"),
        ("time,region,kbps\n2025-01-01T00:00:00,KZ-75,5\nyesterday,KZ-75,5\n",
         "stats.csv: row 2.time: not an ISO date-time: 'yesterday'"),
        ("time,region,kbps\n2025-01-01T00:00:00,KZ-75,-1\n",
         "stats.csv: row 1.kbps: kbps must be a number >= 0"),
        ("time,region\n2025-01-01T00:00:00,KZ-75\n", "stats.csv: missing column(s) kbps"),
        ("time,region,kbps\n2025-01-01T00:00:00,KZ-75,5\n",
         "stats.csv: cannot infer the sampling interval"),
    ],
)
def test_bad_stats_file(tmp_path, csv_text, expected):
    path = tmp_path / "stats.csv"
    path.write_text(csv_text)
    out = tmp_path / "d.yaml"
    out.write_text("previous content\n")
    res = run_cli("directive", "derive", "--stats", path, "--periods", SPEC, "--stage", "50", "-o", out)
    assert res.code == 2
    location_and_reason = expected.split(": ", 1)[1]
    assert res.err.startswith(f"throttlebed: error: {path}: {location_and_reason}")
    assert res.err.count("\n") == 1
    assert out.read_text() == "previous content\n"  # nothing already written is lost


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--periods", "07:00-18:00,17:00-19:00"], "--periods: period 17:00-19:00 overlaps"),
        (["--periods", "7h-8h"], "--periods: period '7h-8h' is not of the form HH:MM-HH:MM"),
        (["--periods", SPEC, "--statistic", "median"], "unknown statistic 'median'"),
    ],
)
def test_bad_arguments(stats_csv, args, expected):
    base = ["directive", "derive", "--stats", stats_csv, "--stage", "50"]
    if "--periods" not in args:
        base += ["--periods", SPEC]
    res = run_cli(*base, *args)
    assert res.code == 2
    assert expected in res.err
    assert res.err.count("\n") == 1


def test_bad_stage_is_usage_error(stats_csv):
    res = run_cli("directive", "derive", "--stats", stats_csv, "--periods", SPEC, "--stage", "40")
    assert res.code == 2
    assert "--stage" in res.err


def test_check_reports_bad_row(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(
        "platform: P\nstage: 10\nrows:\n"
        "- {region: KZ-75, period: 00:00-12:00, peak_kbps: 100, cap_kbps: 90}\n"
        "- {region: KZ-75, period: 11:00-13:00, peak_kbps: 100, cap_kbps: 90}\n"
    )
    res = run_cli("directive", "check", path)
    assert res.code == 2
    assert res.err == (f"throttlebed: error: {path}: rows[1].period: 11:00-13:00 overlaps rows[0].period "
                       "00:00-12:00 in KZ-75\n")


def test_check_missing_file(tmp_path):
    res = run_cli("directive", "check", tmp_path / "none.yaml")
    assert res.code == 2
    assert "none.yaml: No such file or directory" in res.err


def test_written_directive_has_the_usual_file_mode(stats_csv, tmp_path):
    import os

    out = tmp_path / "directive.yaml"
    res = run_cli("directive", "derive", "--stats", stats_csv, "--periods", SPEC, "--stage", "10", "-o", out)
    assert res.code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
