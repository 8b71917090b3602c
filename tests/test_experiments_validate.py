"""``throttlebed validate`` on sim, ``directive check --stats/--case`` on the command line, scenario
fields ``directive:`` and ``demand:``, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_util import run_cli
from replay_util import diurnal_stats

from throttlebed.experiments.validate import default_scenario

PERIODS = "00:00-07:00,07:00-18:00,18:00-20:00,20:00-24:00"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Two days of statistics, the directive derived from them at stage 50, a lax copy (caps at 60% of
    the peak), and a short-window sim scenario (the evening, 19:00-22:00)."""
    d = tmp_path_factory.mktemp("validate")
    stats = d / "stats.csv"
    diurnal_stats(days=2).to_csv(stats, index=False)
    directive = d / "directive.yaml"
    r = run_cli("directive", "derive", "--stats", stats, "--periods", PERIODS, "--stage", "50",
                "--platform", "ExampleTube", "--prefix", "203.0.113.0/24", "-o", directive)
    assert r.code == 0, r.err
    data = yaml.safe_load(directive.read_text())
    data.update({"directive_number": "12-T", "directive_date": "2026-03-10",
                 "notification_number": "04-12/2025",
                 "notification_date": "2025-03-02"})  # the case data Appendix 3 prints
    directive.write_text(yaml.safe_dump(data, sort_keys=False))
    for row in data["rows"]:
        row["cap_kbps"] = int(row["peak_kbps"] * 0.6)
    lax = d / "lax.yaml"
    lax.write_text(yaml.safe_dump(data, sort_keys=False))
    sc = yaml.safe_load(default_scenario("sim").read_text())
    sc["backend"].update({"start_s": 19 * 3600, "end_s": 22 * 3600})
    scenario = d / "evening.yaml"
    scenario.write_text(yaml.safe_dump(sc, sort_keys=False))
    return {"dir": d, "stats": stats, "directive": directive, "lax": lax, "scenario": scenario}


@pytest.fixture(scope="module")
def conforming(files) -> tuple:
    out = files["dir"] / "out-conforming"
    r = run_cli("validate", files["directive"], "--stats", files["stats"], "--scenario", files["scenario"],
                "--out", out, "--json", "--check")
    return r, out


def test_validate_sim_conforming_directive_passes_and_replays_the_statistics(conforming):
    r, out = conforming
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["pass"] is True
    assert doc["conformance"] == {"conforms": True, "findings": []}
    enf = doc["enforcement"]
    assert enf["backend"] == "sim" and enf["pass"] is True and enf["stage"] == 50
    judged = {(c["region"], c["period"]) for c in enf["cells"]}  # the window meets two periods
    assert judged == {(r, p) for r in ("KZ-71", "KZ-75") for p in ("18:00-20:00", "20:00-24:00")}
    assert all(c["held"] for c in enf["cells"])
    dem = doc["demand"]
    assert dem["days"] == ["2026-03-02", "2026-03-03"]  # every day on sim
    assert dem["intervals"] == 2 * 2 * 180  # 2 days x 2 regions x 3 h of 60-s samples
    assert dem["replay_error_median"] <= 0.03 and dem["replay_error_p95"] <= 0.10
    saved = json.loads((out / "validation.json").read_text())
    assert saved["pass"] is True and saved["demand"] == dem
    for name in ("report.html", "measurements.parquet", "directive.yaml", "verdict.json", "appendix3.en.md"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert html.index("Conformance to the Rules") < html.index("<h2>Verdict</h2>")
    m = pd.read_parquet(out / "measurements.parquet")
    assert sorted(m["phase"].unique()) == ["baseline", "enforced"]
    assert m["time"].dt.date.nunique() == 2


def test_validate_sim_lax_directive_fails_conformance_exit_3(files):
    out = files["dir"] / "out-lax"
    r = run_cli("validate", files["lax"], "--stats", files["stats"], "--scenario", files["scenario"],
                "--out", out, "--check")
    assert r.code == 3, r.err
    doc = json.loads((out / "validation.json").read_text())
    assert doc["pass"] is False and doc["conformance"]["conforms"] is False
    assert {f["code"] for f in doc["conformance"]["findings"]} == {"cap_mismatch"}
    assert len(doc["conformance"]["findings"]) == 8
    # the lax caps (40% below the peak) do not reach the stage's 50% where demand is sustained
    assert doc["enforcement"]["pass"] is False
    assert "FAIL" in r.err


def test_directive_check_with_stats_cli(files):
    ok = run_cli("directive", "check", files["directive"], "--stats", files["stats"], "--json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out) == {"conforms": True, "findings": []}
    lax = run_cli("directive", "check", files["lax"], "--stats", files["stats"], "--json")
    assert lax.code == 3
    findings = json.loads(lax.out)["findings"]
    assert findings[0]["code"] == "cap_mismatch" and findings[0]["row"] == 0
    plain = run_cli("directive", "check", files["directive"])  # as before: validity only
    assert plain.code == 0 and "valid directive" in plain.out


def test_directive_check_with_case_stage_not_due(files, tmp_path):
    case = tmp_path / "case.yaml"  # statistics reply due in December 2025, stage 50 from March 2026
    case.write_text("platform: ExampleTube\ndetected: 2025-03-19\n")
    data = yaml.safe_load(files["directive"].read_text())
    data["directive_date"] = "2025-12-01"
    early = tmp_path / "early.yaml"
    early.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run_cli("directive", "check", early, "--stats", files["stats"], "--case", case, "--json")
    assert r.code == 3, r.err
    findings = json.loads(r.out)["findings"]
    assert [f["code"] for f in findings] == ["stage_not_due", "before_stats_reply"]
    assert findings[0]["actual"] == findings[1]["actual"] == "2025-12-01"
    timeline = json.loads(run_cli("timeline", "--detected", "2025-03-19", "--json").out)
    assert findings[1]["expected"] == timeline["stats_reply_due"]
    assert findings[0]["expected"] == next(s["from"] for s in timeline["stages"] if s["stage_pct"] == 50)
    on_time = run_cli("directive", "check", files["directive"], "--stats", files["stats"], "--case", case,
                      "--on", findings[0]["expected"])  # dated after the reply, checked when stage 50 starts
    assert on_time.code == 0, on_time.out
    due = run_cli("directive", "check", early, "--stats", files["stats"], "--case", case,
                  "--on", findings[0]["expected"], "--json")  # on the day stage 50 starts: only the reply
    assert [f["code"] for f in json.loads(due.out)["findings"]] == ["before_stats_reply"]


def test_run_scenario_with_directive_and_demand_fields(files, tmp_path):
    sc = yaml.safe_load(files["scenario"].read_text())
    sc["directive"] = str(files["directive"])
    sc["demand"] = {"stats": "stats.csv", "day": "2026-03-03"}  # relative to the scenario file
    path = files["dir"] / "run-given.yaml"
    path.write_text(yaml.safe_dump(sc, sort_keys=False))
    r = run_cli("run", path, "--out", tmp_path / "o", "--quiet", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["demand"]["days"] == ["2026-03-03"]
    assert doc["directive_digest"] and doc["stage"] == 50 and doc["stages"] == [50]
    assert doc["pass"] is True


def test_scenario_directive_with_stage_is_bad_input(files, tmp_path):
    sc = yaml.safe_load(files["scenario"].read_text())
    sc["stage"] = 50
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump(sc))
    r = run_cli("run", path, "--out", tmp_path / "o")
    assert r.code == 2
    assert "both.yaml" in r.err and "stage: not with `directive`" in r.err
    assert not (tmp_path / "o").exists()


BAD_STATS = {
    "empty": ("time,region,kbps\n", "no rows"),
    "negative": ("time,region,kbps\n2026-03-02T00:00,KZ-75,5\n2026-03-02T00:01,KZ-75,-3\n", "row 2.kbps"),
    "nan": ("time,region,kbps\n2026-03-02T00:00,KZ-75,5\n2026-03-02T00:01,KZ-75,inf\n", "row 2.kbps"),
    "time": ("time,region,kbps\n2026-03-02T00:00,KZ-75,5\nyesterday,KZ-75,3\n", "row 2.time"),
    "region": ("time,region,kbps\n2026-03-02T00:00,KZ-75,5\n2026-03-02T00:01,KZ-99,3\n", "row 2.region"),
    "one-sample": ("time,region,kbps\n2026-03-02T00:00,KZ-75,5\n2026-03-02T00:00,KZ-71,3\n"
                   "2026-03-02T00:01,KZ-71,3\n", "row 1.region"),
}


@pytest.mark.parametrize("kind", sorted(BAD_STATS))
def test_bad_statistics_exit_2_naming_file_and_row(files, tmp_path, kind):
    text, where = BAD_STATS[kind]
    stats = tmp_path / f"{kind}.csv"
    stats.write_text(text)
    out = tmp_path / "o"
    for args in (("validate", files["directive"], "--stats", stats, "--out", out),
                 ("directive", "check", files["directive"], "--stats", stats)):
        r = run_cli(*args)
        assert r.code == 2, (args, r.err)
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and f"{kind}.csv" in lines[0] and where in lines[0], lines
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))


def test_case_for_another_platform_exit_2(files, tmp_path):
    case = tmp_path / "other.yaml"
    case.write_text("platform: OtherTube\ndetected: 2025-03-19\n")
    out = tmp_path / "o"
    r = run_cli("validate", files["directive"], "--stats", files["stats"], "--case", case,
                "--on", "2026-03-02",
                "--out", out)
    assert r.code == 2
    assert r.err.strip() == (f"throttlebed: error: {case}: platform: the case is for 'OtherTube', "
                             "the directive for 'ExampleTube'")
    assert not out.exists()


def test_existing_output_is_kept_on_bad_input(conforming, files, tmp_path):
    _, out = conforming
    before = (out / "validation.json").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("time,region,kbps\n2026-03-02T00:00,KZ-75,-1\n")
    r = run_cli("validate", files["directive"], "--stats", bad, "--out", out)
    assert r.code == 2
    assert (out / "validation.json").read_text() == before
