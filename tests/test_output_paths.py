"""Output-path mistakes and absurd terms are bad input: exit 2, one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_util import run_cli

SCENARIO = Path(__file__).resolve().parent.parent / "throttlebed/experiments/scenarios/ci-emulated.yaml"


@pytest.fixture
def place(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "stats.csv").write_text("time,region,kbps\n2026-03-02T10:00:00,KZ-75,1000\n"
                                        "2026-03-02T10:01:00,KZ-75,1200\n")
    return tmp_path


def assert_bad_input(res, *words: str) -> None:
    assert res.code == 2, (res.code, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("throttlebed: error:"), res.err
    for w in words:
        assert w in lines[0], res.err


DERIVE_MISTAKES = [("adir", ["folder"]), ("afile/d.yaml", ["afile", "not a folder"]),
                   ("/proc/nope/d.yaml", ["/proc/nope/d.yaml"])]
PNG_MISTAKES = [("x.txt", ["--png", ".png or .svg"]), ("/sys/x.png", ["/sys/x.png"]),
                ("afile/x.png", ["afile"]), ("adir", ["directory"])]


@pytest.mark.parametrize(("target", "words"), DERIVE_MISTAKES)
def test_derive_output_into_a_file_onto_a_folder_or_nowhere(place: Path, target: str,
                                                            words: list[str]) -> None:
    out = target if target.startswith("/") else place / target
    res = run_cli("directive", "derive", "--stats", place / "stats.csv", "--periods", "00:00-24:00",
                  "--stage", "50", "-o", out)
    assert_bad_input(res, *words)
    assert (place / "afile").read_text() == "keep me\n" and list((place / "adir").iterdir()) == []


def test_derive_output_to_a_good_place_still_works(place: Path) -> None:
    res = run_cli("directive", "derive", "--stats", place / "stats.csv", "--periods", "00:00-24:00",
                  "--stage", "50", "-o", place / "new" / "d.yaml")
    assert res.code == 0, res.err
    assert "cap_kbps: 600" in (place / "new" / "d.yaml").read_text()


@pytest.mark.parametrize(("png", "words"), PNG_MISTAKES)
def test_topology_png_that_cannot_be_written(place: Path, png: str, words: list[str]) -> None:
    target = png if png.startswith("/") else str(place / png)
    assert_bad_input(run_cli("topology", "show", SCENARIO, "--png", target), *words)
    assert not (place / "x.txt").exists()


def test_run_out_under_a_file_is_bad_input_before_anything_runs(place: Path) -> None:
    assert_bad_input(run_cli("run", SCENARIO, "--backend", "sim", "--out", place / "afile" / "o"), "afile")
    assert sorted(p.name for p in place.iterdir()) == ["adir", "afile", "stats.csv"]


@pytest.mark.parametrize("args", [["--months", "100000"], ["--calendar-days", "99999999"],
                                  ["--months", "1200", "--unconfirmed-years"]])
def test_deadline_beyond_any_calendar_is_bad_input(args: list[str]) -> None:
    start = "9990-01-01" if "--unconfirmed-years" in args else "2025-01-01"
    assert_bad_input(run_cli("deadline", start, *args))
