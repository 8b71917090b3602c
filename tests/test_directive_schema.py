"""Directive validation: each rule gives one line naming the row and field."""

import copy

import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.directive.regions import all_regions, get_region
from throttlebed.directive.schema import directive_from_data, parse_directive_text
from throttlebed.errors import InputError

GOOD = {
    "platform": "ExamplePlatform",
    "platform_prefixes": ["203.0.113.0/24"],
    "stage": 50,
    "rows": [
        {"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 1000.0, "cap_kbps": 500},
        {"region": "KZ-75", "period": "22:00-00:00", "peak_kbps": 2000.0, "cap_kbps": 1000},
        {"region": "KZ-71", "period": "22:00-02:00", "peak_kbps": 800.0, "cap_kbps": 400},
    ],
}


def with_row(i, **changes):
    data = copy.deepcopy(GOOD)
    data["rows"][i].update(changes)
    return data


def test_regions_table_has_the_twenty_units():
    regions = all_regions()
    assert len(regions) == 20
    assert sum(r.kind == "city" for r in regions) == 3
    assert get_region("KZ-75").name("ru") == "город Алматы"
    with pytest.raises(InputError, match="unknown region 'KZ-00'"):
        get_region("KZ-00")


def test_good_directive_and_its_views():
    d = directive_from_data(GOOD)
    assert d.regions() == ["KZ-75", "KZ-71"]
    assert d.cap_at("KZ-75", 23 * 60) == 1000
    assert d.cap_at("KZ-75", 12 * 60) is None
    assert d.cap_at("KZ-71", 60) == 400
    assert d.uncovered() == {"KZ-75": ["07:00-22:00"], "KZ-71": ["02:00-22:00"]}


BAD_DIRECTIVES = pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_row(0, region="KZ-99"), "d.yaml: rows[0].region: unknown region 'KZ-99'"),
        (with_row(1, period="25:00-01:00"), "d.yaml: rows[1].period: period '25:00-01:00'"),
        (with_row(1, period="06:00-08:00"), "d.yaml: rows[1].period: 06:00-08:00 overlaps rows[0]"),
        (with_row(0, cap_kbps=-5), "d.yaml: rows[0].cap_kbps: Input should be greater than or equal to 0"),
        (with_row(0, cap_kbps=500.5), "d.yaml: rows[0].cap_kbps: must be a whole number"),
        (with_row(0, cap_kbps="500"), "d.yaml: rows[0].cap_kbps: must be a whole number"),
        (with_row(0, cap_kbps=1500), "d.yaml: rows[0]: cap_kbps 1500 is above peak_kbps 1000"),
        (with_row(1, period="00:00-07:00"), "d.yaml: rows[1]: duplicate of rows[0]"),
        ({k: v for k, v in GOOD.items() if k != "stage"}, "d.yaml: stage: missing field"),
        ({**GOOD, "stage": 40}, "d.yaml: stage: must be 10, 50 or 90"),
        ({**GOOD, "colour": "red"}, "d.yaml: colour: unknown field"),
        ({**GOOD, "rows": []}, "d.yaml: rows: List should have at least 1 item"),
        ({**GOOD, "platform_prefixes": ["300.1.1.0/24"]}, "d.yaml: platform_prefixes[0]:"),
    ],
)


@BAD_DIRECTIVES
def test_each_rule_names_row_and_field(data, expected):
    with pytest.raises(InputError) as err:
        directive_from_data(data, source="d.yaml")
    msg = str(err.value)
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_missing_row_field_is_named():
    data = copy.deepcopy(GOOD)
    del data["rows"][2]["peak_kbps"]
    with pytest.raises(InputError, match=r"^d.yaml: rows\[2\].peak_kbps: missing field$"):
        directive_from_data(data, source="d.yaml")


def test_yaml_syntax_error_names_line():
    with pytest.raises(InputError, match=r"^d.yaml: line 3: "):
        parse_directive_text("platform: x\nrows: [\n", source="d.yaml")


def test_not_a_mapping():
    with pytest.raises(InputError, match="must be a mapping"):
        parse_directive_text("- 1\n- 2\n", source="d.yaml")


@BAD_DIRECTIVES
def test_check_command_exits_2_with_one_line(tmp_path, data, expected):
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    res = run_cli("directive", "check", path)
    assert res.code == 2
    assert res.out == ""
    assert res.err.startswith(f"throttlebed: error: {tmp_path}/{expected}")
    assert res.err.count("\n") == 1


def test_check_command_accepts_good_directive(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(yaml.safe_dump(GOOD))
    res = run_cli("directive", "check", path, "--json")
    assert res.code == 0
    assert '"rows": 3' in res.out
