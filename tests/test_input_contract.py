"""Bad input the CLI used to answer with an internal error, a wrong reason, or by replacing what it
read: each is now exit 2, one line naming the file and row or field (or option), nothing replaced."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.cli_util import run_cli
from throttlebed.measurements import read_measurements

EXAMPLES = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios" / "examples"
SCENARIO = """name: small
regions: [KZ-75]
platform: {name: ExampleTube, prefixes: [203.0.113.0/24]}
periods: "00:00-12:00,12:00-24:00"
stage: 50
day: DAY
load: {users_scale: 0.001}
backend: {sampling_interval_s: INTERVAL}
seed: 1
"""


def _one_line_error(res, *names: str) -> None:
    assert res.code == 2, res.err
    assert res.err.strip().count("\n") == 0 and "internal error" not in res.err
    for name in names:
        assert name in res.err, (name, res.err)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scenario(tmp_path: Path, day: str = "2026-03-02", interval: str = "600", extra: str = "") -> Path:
    p = tmp_path / "sc.yaml"
    p.write_text(SCENARIO.replace("DAY", day).replace("INTERVAL", interval) + extra)
    return p


@pytest.mark.parametrize(("text", "line"), [("platform: ExampleTube\ndetected: 2025-02-30\n", "line 2"),
                                            ("x: 2026-13-01\n", "line 1")])
def test_impossible_unquoted_date_names_file_and_line(tmp_path: Path, text: str, line: str) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(text)
    _one_line_error(run_cli("case", "timeline", case), str(case), line, "is not a date")


def test_impossible_day_of_a_scenario_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = run_cli("run", _scenario(tmp_path, day="2026-02-30"), "--out", out)
    _one_line_error(res, "sc.yaml", "line 6", "2026-02-30")
    assert not out.exists()


def test_deeply_nested_file_is_bad_input(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 5000 + "]" * 5000)
    _one_line_error(run_cli("directive", "check", deep), str(deep), "nested too deeply")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 100_000 + "]" * 100_000)
    _one_line_error(run_cli("directive", "check", deep_json), str(deep_json))


def test_times_with_different_offsets_and_none_are_each_read_as_local_time(tmp_path: Path) -> None:
    stats = tmp_path / "s.csv"
    stats.write_text("time,region,kbps\n2026-03-02T00:00:00+06:00,KZ-75,1\n2026-03-02T00:00:00Z,KZ-75,2\n"
                     "2026-03-02 04:30,KZ-75,3\n2026-03-02T10:00:00.5-0300,KZ-75,4\n")
    times = read_measurements(stats)["time"].tolist()
    assert times == [pd.Timestamp("2026-03-01 23:00"), pd.Timestamp("2026-03-02 05:00"),
                     pd.Timestamp("2026-03-02 04:30"), pd.Timestamp("2026-03-02 18:00:00.5")]
    res = run_cli("directive", "derive", "--stats", stats, "--periods", "00:00-24:00", "--stage", "50",
                  "--json")
    assert res.code == 0, res.err
    assert '"peak_kbps": 4.0' in res.out


@pytest.mark.parametrize(("rows", "where", "reason"), [
    ("1677-01-01T00:00:00,KZ-75,100\n", "row 1.time", "out of range"),
    ("2026-03-02T00:00:00,KZ-75,100\n2300-03-02T00:01:00,KZ-75,200\n", "row 2.time", "out of range"),
    ("2026-03-02T00:00:00Z,KZ-75,1\n2026-03-02T00:10:00,KZ-75,2\nxx,KZ-75,3\n", "row 3.time", "'xx'"),
    ("2026-03-02T00:00:00,KZ-75,100\n2026-03-02T00:10:00,KZ-75,200\n2026-03-02T00:00:00,KZ-75,9\n",
     "row 3", "the first is row 1"),
])
def test_bad_statistics_rows_are_named(tmp_path: Path, rows: str, where: str, reason: str) -> None:
    stats = tmp_path / "s.csv"
    stats.write_text("time,region,kbps\n" + rows)
    res = run_cli("directive", "derive", "--stats", stats, "--periods", "00:00-24:00", "--stage", "50")
    _one_line_error(res, str(stats), where, reason)


def test_a_boolean_throughput_column_is_not_numbers(tmp_path: Path) -> None:
    stats = tmp_path / "s.parquet"
    pd.DataFrame({"time": ["2026-03-02T00:00:00", "2026-03-02T12:00:00"], "region": ["KZ-75"] * 2,
                  "kbps": [True, False]}).to_parquet(stats)
    res = run_cli("directive", "derive", "--stats", stats, "--periods", "00:00-24:00", "--stage", "50")
    _one_line_error(res, str(stats), "row 1.kbps", "got True")


def test_statistics_given_as_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "stats.csv"
    folder.mkdir()
    res = run_cli("directive", "derive", "--stats", folder, "--periods", "00:00-24:00", "--stage", "50")
    _one_line_error(res, "directory")


def test_a_cap_no_meter_carries_is_refused_by_check(tmp_path: Path) -> None:
    text = (EXAMPLES / "directive.yaml").read_text()
    first_cap = next(line for line in text.splitlines() if "cap_kbps:" in line)
    huge = tmp_path / "huge.yaml"
    huge.write_text(text.replace(first_cap, first_cap.split(":")[0] + ": 500000000000000", 1)
                    .replace("peak_kbps:", "peak_kbps: 1.0e+15 #", 1))
    _one_line_error(run_cli("directive", "check", huge), str(huge), "rows[0].cap_kbps", "4294967295")


def test_statistics_too_large_to_replay_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    stats = tmp_path / "huge.csv"
    stats.write_text("time,region,kbps\n2026-03-02T00:00:00,KZ-75,2000000000000\n"
                     "2026-03-02T12:00:00,KZ-75,3000000000000\n")
    directive = tmp_path / "d.yaml"
    directive.write_text("platform: ExampleTube\nplatform_prefixes: [203.0.113.0/24]\nstage: 50\nrows:\n"
                         "- {region: KZ-75, period: '00:00-12:00', peak_kbps: 2.0e+12, cap_kbps: 1000000}\n"
                         "- {region: KZ-75, period: '12:00-24:00', peak_kbps: 3.0e+12, cap_kbps: 1000000}\n")
    out = tmp_path / "out"
    res = run_cli("validate", directive, "--stats", stats, "--out", out, "--quiet")
    _one_line_error(res, str(stats), "kbps", "sessions", "3e+12 kbit/s in KZ-75")
    assert not out.exists()


@pytest.mark.parametrize(("extra", "day", "interval", "names"), [
    ("", "2026-03-02", "7", ["sc.yaml", "backend", "sampling_interval_s", "does not divide the day"]),
    ("", "9999-12-31", "600", ["sc.yaml", "day", "out of range"]),
    ("demand: {stats: stats.csv}\n", "2020-01-01", "600", ["sc.yaml", "day: not with `demand`"]),
])
def test_scenario_fields_the_run_could_not_use_are_named(tmp_path: Path, extra: str, day: str, interval: str,
                                                         names: list[str]) -> None:
    (tmp_path / "stats.csv").write_bytes((EXAMPLES / "stats.csv").read_bytes())
    out = tmp_path / "out"
    res = run_cli("run", _scenario(tmp_path, day=day, interval=interval, extra=extra), "--out", out)
    _one_line_error(res, *names)
    assert not out.exists()


@pytest.mark.parametrize("address", ["not an address", "foo://x:1", "tcp://127.0.0.1:notaport"])
def test_a_malformed_scheduler_address_is_an_error_of_the_option(tmp_path: Path, address: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker").write_text("kept")
    res = run_cli("run", _scenario(tmp_path), "--scheduler", address, "--out", out)
    _one_line_error(res, "--scheduler", "not a scheduler address")
    assert [p.name for p in out.iterdir()] == ["marker"]


def test_a_junit_file_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    if not Path("/proc/version").exists():
        pytest.skip("no /proc here")
    out = tmp_path / "out"
    out.mkdir()
    (out / "verdict.json").write_text("{}")
    res = run_cli("run", _scenario(tmp_path), "--out", out, "--junit", "/proc/version")
    _one_line_error(res, "--junit", "/proc")
    assert (out / "verdict.json").read_text() == "{}" and [p.name for p in out.iterdir()] == ["verdict.json"]


def test_output_that_is_the_input_is_refused(tmp_path: Path) -> None:
    stats, directive = tmp_path / "s.csv", tmp_path / "d.yaml"
    stats.write_bytes((EXAMPLES / "stats.csv").read_bytes())
    directive.write_bytes((EXAMPLES / "directive.yaml").read_bytes())
    before = _digest(stats), _digest(directive)
    res = run_cli("directive", "derive", "--stats", stats, "--periods", "00:00-24:00", "--stage", "50",
                  "-o", stats)
    _one_line_error(res, "-o", "is the command's input")
    res = run_cli("directive", "render", directive, "--lang", "en", "--format", "md", "-o", directive)
    _one_line_error(res, "-o", "is the command's input")
    assert (_digest(stats), _digest(directive)) == before


def test_a_named_pipe_is_not_replaced_by_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = run_cli("directive", "render", EXAMPLES / "directive.yaml", "--lang", "en", "--format", "md",
                  "-o", fifo)
    _one_line_error(res, str(fifo), "not a regular file")
    assert fifo.is_fifo()
    assert not [p for p in tmp_path.iterdir() if p.name != "fifo"]  # no probe or temporary file left


def test_periods_outside_the_window_are_named(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, extra="").read_text()
    scenario = (scenario.replace('periods: "00:00-12:00,12:00-24:00"', 'periods: "00:00-00:30"')
                .replace("backend: {sampling_interval_s: 600}",
                         "backend: {start_s: 3600, end_s: 7200, sampling_interval_s: 600}"))
    (tmp_path / "sc.yaml").write_text(scenario)
    res = run_cli("run", tmp_path / "sc.yaml", "--out", tmp_path / "out")
    _one_line_error(res, "sc.yaml", "periods", "window")


@pytest.mark.parametrize(("args", "option"), [
    (["run", "SCENARIO", "--seed", str(2**32)], "--seed"),
    (["controller", "--log-level", "BOGUS"], "--log-level"),
])
def test_options_out_of_their_range(tmp_path: Path, args: list[str], option: str) -> None:
    args = [str(_scenario(tmp_path)) if a == "SCENARIO" else a for a in args]
    _one_line_error(run_cli(*args), option)


def test_a_table_of_several_series_says_which_columns_tell_them_apart(tmp_path: Path) -> None:
    stats = tmp_path / "run.parquet"
    rows = {"time": ["2026-03-02T00:00:00", "2026-03-02T00:10:00"] * 2, "region": ["KZ-75"] * 4,
            "kbps": [5.0, 6.0, 2.0, 3.0], "phase": ["baseline"] * 2 + ["enforced"] * 2}
    pd.DataFrame(rows).to_parquet(stats)
    res = run_cli("directive", "derive", "--stats", stats, "--periods", "00:00-24:00", "--stage", "50")
    _one_line_error(res, str(stats), "row 3", "the first is row 1", "told apart by phase")


def _directive_text(peak: str = "1719.0", cap: str = "859") -> str:
    return ("platform: ExampleTube\nplatform_prefixes: [203.0.113.0/24]\nstage: 50\nrows:\n"
            f"- {{region: KZ-75, period: '00:00-12:00', peak_kbps: {peak}, cap_kbps: {cap}}}\n"
            "- {region: KZ-75, period: '12:00-24:00', peak_kbps: 1100.0, cap_kbps: 550}\n")


@pytest.mark.parametrize(("name", "text", "names"), [
    ("inf.yaml", _directive_text(peak=".inf"), ["rows[0].peak_kbps"]),
    ("digits.yaml", _directive_text(cap="9" * 5000), ["line 5", "cannot read the number"]),
    ("digits.json", '{"stage": ' + "9" * 5000 + "}", ["line 1", "cannot read the number"]),
])
def test_numbers_no_directive_can_hold(tmp_path: Path, name: str, text: str, names: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    _one_line_error(run_cli("directive", "check", path), str(path), *names)


@pytest.mark.parametrize(("text", "names"), [
    ("time,region,kbps\n2026-03-02T00:00:00,KZ-75,1" + "0" * 309 + "\n", ["row 1.kbps"]),
    ("time,region,kbps,kbps\n2026-03-02T00:00:00,KZ-75,1,0\n", ["header", "kbps is given twice"]),
])
def test_statistics_columns_that_cannot_be_read_as_one_number(tmp_path: Path, text: str,
                                                              names: list[str]) -> None:
    stats = tmp_path / "s.csv"
    stats.write_text(text)
    res = run_cli("directive", "derive", "--stats", stats, "--periods", "00:00-24:00", "--stage", "50")
    _one_line_error(res, str(stats), *names)


def _minutes(rows: list[tuple[int, int]]) -> str:
    """Statistics of KZ-75 at the given (minute of the day, second) times."""
    lines = [f"2026-03-02T{m // 60:02d}:{m % 60:02d}:{s:02d},KZ-75,{1000 + m % 7}\n" for m, s in rows]
    return "time,region,kbps\n" + "".join(lines)


@pytest.mark.parametrize(("times", "where", "reason"), [
    ([(m, 0) for m in range(720)] + [(m, 0) for m in range(720, 1440, 5)], "row 722",
     "no sample of KZ-75 between 12:00:00 (row 721) and 12:05:00"),
    ([(m, 7 if m == 300 else 0) for m in range(1440)], "row 301.time", "off the 60 s grid"),
])
def test_statistics_replayed_only_when_sampled_regularly(tmp_path: Path, times: list[tuple[int, int]],
                                                         where: str, reason: str) -> None:
    stats, directive, out = tmp_path / "s.csv", tmp_path / "d.yaml", tmp_path / "out"
    stats.write_text(_minutes(times))
    directive.write_text(_directive_text())
    res = run_cli("validate", directive, "--stats", stats, "--out", out, "--quiet")
    _one_line_error(res, str(stats), where, reason)
    assert not out.exists()


def test_a_replayed_run_needs_samples_of_its_regions(tmp_path: Path) -> None:
    stats = _minutes([(m, 0) for m in range(0, 1440, 10)]).replace("KZ-75", "KZ-11")
    (tmp_path / "stats.csv").write_text(stats)
    scenario = _scenario(tmp_path).read_text().replace("day: 2026-03-02\n", "demand: {stats: stats.csv}\n")
    (tmp_path / "sc.yaml").write_text(scenario)
    res = run_cli("run", tmp_path / "sc.yaml", "--out", tmp_path / "out", "--quiet")
    _one_line_error(res, "stats.csv", "region", "no platform downstream sample of KZ-75")


def test_validate_names_its_own_day_option(tmp_path: Path) -> None:
    res = run_cli("validate", EXAMPLES / "directive.yaml", "--stats", EXAMPLES / "stats.csv",
                  "--day", "2026-03-09", "--out", tmp_path / "out", "--quiet")
    _one_line_error(res, "--day", "2026-03-09 is not a day of the statistics")
    assert not (tmp_path / "out").exists()
