"""The meter plan (Rules item 10) as pure data: caps, rate scale, periods, diffs."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Network

import pytest

from throttlebed.controller.plan import (
    COOKIE_PLATFORM,
    METER_IDS,
    Flow,
    Meter,
    burst_kbits,
    meter_plan,
    plan_diff,
    switch_plan,
    wire_rate_kbps,
)
from throttlebed.directive.regions import CORE_DPID, region_dpid
from throttlebed.directive.schema import directive_from_data


def _directive(stage: int = 50, rows=None, prefixes=("203.0.113.0/24",)):
    rows = rows or [
        {"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 20000, "cap_kbps": 10000},
        {"region": "KZ-75", "period": "07:00-18:00", "peak_kbps": 40000, "cap_kbps": 20000},
        {"region": "KZ-75", "period": "18:00-24:00", "peak_kbps": 60000, "cap_kbps": 30000},
        {"region": "KZ-10", "period": "22:00-02:00", "peak_kbps": 8000, "cap_kbps": 4000},
    ]
    return directive_from_data({"platform": "P", "platform_prefixes": list(prefixes), "stage": stage,
                                "rows": rows})


SWITCHES = {CORE_DPID: None, region_dpid("KZ-75"): "KZ-75", region_dpid("KZ-10"): "KZ-10",
            region_dpid("KZ-11"): "KZ-11"}


def test_rates_follow_cap_and_rate_scale():
    plans = meter_plan(_directive(), SWITCHES, datetime(2026, 1, 5, 9, 30), rate_scale=0.1, burst_s=1.0)
    kz75 = plans[0x1075]
    assert kz75.meters == (Meter(1, 2000, 2000), Meter(2, 2000, 2000))
    assert kz75.caps_kbps == {"down": 20000, "up": 20000}
    assert kz75.period == "07:00-18:00"
    flows = {f.cookie: f for f in kz75.flows}
    assert flows[COOKIE_PLATFORM["down"]].match == (("eth_type", 0x0800), ("ipv4_src", "203.0.113.0/24"))
    assert flows[COOKIE_PLATFORM["down"]].meter_id == METER_IDS["down"] == 1
    assert flows[COOKIE_PLATFORM["up"]].match == (("eth_type", 0x0800), ("ipv4_dst", "203.0.113.0/24"))
    assert flows[COOKIE_PLATFORM["up"]].meter_id == 2
    assert flows[0].match == () and flows[0].meter_id is None and flows[0].priority == 0


def test_burst_and_rounding():
    assert wire_rate_kbps(12345, 0.01) == 123
    assert wire_rate_kbps(0, 0.5) == 1  # a cap of 0 still needs a positive meter rate
    assert wire_rate_kbps(1, 0.001) == 1
    assert burst_kbits(2000, 0.1) == 200
    plan = switch_plan(0x1075, "KZ-75", _directive(), 6 * 60, rate_scale=1.0, burst_s=0.25)
    assert plan.meters == (Meter(1, 10000, 2500), Meter(2, 10000, 2500))


def test_core_gets_only_normal():
    plans = meter_plan(_directive(), SWITCHES, 600)
    assert plans[CORE_DPID].meters == ()
    assert [f.describe() for f in plans[CORE_DPID].flows] == ["priority=0 actions=NORMAL"]


def test_region_without_rows_counts_but_is_not_metered():
    plan = meter_plan(_directive(), SWITCHES, 600)[region_dpid("KZ-11")]
    assert plan.meters == ()
    assert sorted(f.describe() for f in plan.flows) == [
        "priority=0 actions=NORMAL",
        "priority=100,dl_type=0x0800,nw_dst=203.0.113.0/24 actions=NORMAL",
        "priority=100,dl_type=0x0800,nw_src=203.0.113.0/24 actions=NORMAL",
    ]


@pytest.mark.parametrize(("minute", "cap"), [(21 * 60 + 59, None), (22 * 60, 4000), (23 * 60 + 59, 4000),
                                            (0, 4000), (60 + 59, 4000), (120, None), (12 * 60, None)])
def test_wrap_midnight_period(minute, cap):
    plan = switch_plan(0x1010, "KZ-10", _directive(), minute)
    if cap is None:
        assert plan.meters == () and plan.period is None
        assert all(f.meter_id is None for f in plan.flows)
        assert len(plan.flows) == 3  # platform flows stay for counting
    else:
        assert plan.meters == (Meter(1, cap, cap), Meter(2, cap, cap))
        assert plan.period == "22:00-02:00"


def test_stage_caps_give_rates():
    for stage, cap in ((10, 36000), (50, 20000), (90, 4000)):
        d = _directive(stage, [{"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 40000,
                                "cap_kbps": cap}])
        plan = switch_plan(0x1075, "KZ-75", d, 0, rate_scale=0.5)
        assert [m.rate_kbps for m in plan.meters] == [cap // 2, cap // 2]


def test_no_directive_is_baseline_counting_with_given_prefixes():
    prefixes = [IPv4Network("198.51.100.0/24")]
    plan = switch_plan(0x1075, "KZ-75", None, 600, platform_prefixes=prefixes)
    assert plan.meters == ()
    assert sorted(f.cookie for f in plan.flows) == [0, 1, 2]
    assert switch_plan(0x1075, "KZ-75", None, 600).flows == (Flow(0, (), None, 0),)


def test_several_prefixes_and_uplink_port():
    d = _directive(prefixes=("203.0.113.0/24", "192.0.2.0/25"))
    plan = switch_plan(0x1075, "KZ-75", d, 600, uplink_port=1)
    platform = [f for f in plan.flows if f.priority == 100]
    assert len(platform) == 4 and all(f.meter_id in (1, 2) for f in platform)
    assert sorted(f.cookie for f in platform) == [1, 1, 2, 2]
    other_down = [f for f in plan.flows if f.priority == 10]
    assert other_down == [Flow(10, (("in_port", 1),), None, 3)]


def test_diff_from_empty_installs_everything():
    want = switch_plan(0x1075, "KZ-75", _directive(), 600)
    diff = plan_diff(None, want)
    assert diff.meters_add == want.meters and diff.flows_add == want.flows
    assert not (diff.meters_modify or diff.flows_modify or diff.flows_delete or diff.meters_delete)


def test_diff_period_change_only_modifies_meters():
    d = _directive()
    a = switch_plan(0x1075, "KZ-75", d, 6 * 60 + 59)
    b = switch_plan(0x1075, "KZ-75", d, 7 * 60)
    diff = plan_diff(a, b)
    assert diff.meters_modify == (Meter(1, 20000, 20000), Meter(2, 20000, 20000))
    assert diff.meters_changed == 2
    assert not (diff.meters_add or diff.flows_add or diff.flows_modify or diff.flows_delete
                or diff.meters_delete)
    assert plan_diff(b, b).empty


def test_diff_uncovered_period_unhooks_flows_then_deletes_meters():
    d = _directive()
    capped = switch_plan(0x1010, "KZ-10", d, 23 * 60)
    free = switch_plan(0x1010, "KZ-10", d, 12 * 60)
    off = plan_diff(capped, free)
    assert off.meters_delete == (1, 2)
    assert [f.meter_id for f in off.flows_modify] == [None, None]
    assert not off.flows_add and not off.flows_delete and not off.meters_add
    on = plan_diff(free, capped)
    assert [m.meter_id for m in on.meters_add] == [1, 2]
    assert sorted(f.meter_id for f in on.flows_modify) == [1, 2]


def test_diff_prefix_change_adds_and_deletes_flows():
    a = switch_plan(0x1075, "KZ-75", _directive(), 600)
    b = switch_plan(0x1075, "KZ-75", _directive(prefixes=("192.0.2.0/24",)), 600)
    diff = plan_diff(a, b)
    assert len(diff.flows_add) == 2 and len(diff.flows_delete) == 2
    assert all("192.0.2.0/24" in f.describe() for f in diff.flows_add)
    assert all("203.0.113.0/24" in f.describe() for f in diff.flows_delete)
    assert not diff.meters_modify and not diff.meters_add


def test_plan_to_data_states_rates():
    data = switch_plan(0x1075, "KZ-75", _directive(), 600, rate_scale=0.1).to_data()
    assert data["dpid"] == "0x1075"
    assert data["meters"][0] == {"meter_id": 1, "direction": "down", "rate_kbps": 2000, "burst_kbits": 2000,
                                 "band": "drop", "flags": ["KBPS", "BURST", "STATS"]}
    assert "meter:1,NORMAL" in {f["ofctl"].split(" actions=")[1] for f in data["flows"]}


def test_directive_without_prefixes_is_not_enforceable():
    from throttlebed.controller.plan import check_enforceable
    from throttlebed.errors import InputError

    assert check_enforceable(_directive()) is not None
    with pytest.raises(InputError, match="d.yaml: platform_prefixes: the directive names no"):
        check_enforceable(_directive(prefixes=()), source="d.yaml")
