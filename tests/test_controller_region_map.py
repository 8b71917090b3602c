"""Which dpid is which region: the 0x10NN scheme and JSON map files."""

from __future__ import annotations

import json

import pytest

from throttlebed.controller.region_map import (
    CORE_DPID,
    RegionMap,
    dpid_region,
    load_region_map,
    parse_dpid,
    region_dpid,
)
from throttlebed.directive.regions import region_codes
from throttlebed.errors import InputError


def test_scheme():
    assert region_dpid("KZ-75") == 0x1075 == 4213
    assert region_dpid("KZ-10") == 0x1010
    assert dpid_region(0x1075) == "KZ-75"
    assert dpid_region(CORE_DPID) is None
    assert dpid_region(0x1012) is None  # not a region code
    assert all(dpid_region(region_dpid(c)) == c for c in region_codes())
    assert len({region_dpid(c) for c in region_codes()}) == 20
    with pytest.raises(InputError):
        region_dpid("KZ-99")


def test_map_file_overrides(tmp_path):
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"0x2a": "KZ-75", "7": "KZ-10"}))
    m = load_region_map(p)
    assert m.overridden
    assert m.region_of(42) == "KZ-75" and m.region_of(7) == "KZ-10"
    assert m.region_of(0x1075) is None  # the scheme no longer applies
    assert m.dpid_of("KZ-10") == 7 and m.dpid_of("KZ-11") is None
    assert m.to_data() == {"0x7": "KZ-10", "0x2a": "KZ-75"}
    assert RegionMap().region_of(0x1075) == "KZ-75"


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON"),
    ("[]", "non-empty JSON object"),
    ('{"x12": "KZ-75"}', "'x12': dpid 'x12' is not a decimal or 0x hex number"),
    ('{"0x10": "KZ-00"}', "'0x10': unknown region 'KZ-00'"),
    ('{"1": "KZ-75"}', "core switch"),
    ('{"16": "KZ-75", "0x10": "KZ-10"}', "given twice"),
    ('{"16": "KZ-75", "17": "KZ-75"}', "region KZ-75 given twice"),
    ('{"0": "KZ-75"}', "out of range"),
])
def test_map_file_errors_name_file_and_key(tmp_path, content, message):
    p = tmp_path / "map.json"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        load_region_map(p)
    assert str(p) in str(e.value) and message in str(e.value)


def test_missing_map_file(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        load_region_map(tmp_path / "nope.json")
    assert parse_dpid("0x1075") == parse_dpid("4213")
