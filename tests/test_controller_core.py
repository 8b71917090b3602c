"""The enforcement core without os-ken and without a switch: events in, plain messages out."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from tests.core_util import FakeSwitch
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.core import (
    BarrierMsg,
    EnforcementCore,
    FlowMsg,
    FoundFlow,
    MeterMsg,
    ReadMetersMsg,
    ReadSwitchMsg,
)
from throttlebed.controller.plan import Flow, Meter, check_enforceable, check_scale
from throttlebed.controller.region_map import RegionMap
from throttlebed.directive.schema import directive_from_data
from throttlebed.errors import InputError

ROWS = [{"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 20000, "cap_kbps": 10000},
        {"region": "KZ-75", "period": "07:00-18:00", "peak_kbps": 40000, "cap_kbps": 20000},
        {"region": "KZ-11", "period": "00:00-24:00", "peak_kbps": 40000, "cap_kbps": 8000}]
D = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50, "rows": ROWS})
D90 = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 90,
                           "rows": [dict(r, cap_kbps=r["cap_kbps"] // 5) for r in ROWS]})
ALMATY, AKMOLA = 0x1075, 0x1011


def _core(directive=D):
    # 06:59 local; one real second = one emulated minute
    clock = EmulatedClock(datetime(2026, 3, 1, 6, 59), 0.0, 60.0)
    return EnforcementCore(RegionMap(), clock.local_at, rate_scale=0.1, directive=directive)


def _connect(core, *switches):
    for sw in switches:
        sw.receive(core, core.switch_up(sw.dpid))


def _kinds(msgs):
    out = []
    for m in msgs:
        if isinstance(m, MeterMsg):
            out.append((f"meter-{m.command}", m.meter_id, m.meter.rate_kbps if m.meter else None))
        elif isinstance(m, FlowMsg):
            out.append((f"flow-{m.command}", m.flow.priority if m.flow else m.table_id,
                        m.flow.meter_id if m.flow else None))
        elif isinstance(m, BarrierMsg):
            out.append(("barrier",))
        elif isinstance(m, ReadMetersMsg):
            out.append(("read-meters", m.closing))
        elif isinstance(m, ReadSwitchMsg):
            out.append(("read-switch",))
    return out


def test_a_new_switch_is_read_then_gets_forwarding_before_meters():
    core = _core()
    msgs = core.switch_up(ALMATY)
    assert _kinds(msgs) == [("read-switch",)]
    out = core.switch_contents(ALMATY, msgs[0].meters_xid, [], [], 0.0)
    kinds = _kinds(out)
    assert kinds[:3] == [("flow-add", 0, None),  # forwarding first: nothing ever drops other traffic
                         ("meter-add", 1, 1000), ("meter-add", 2, 1000)]  # 10000 x 0.1 at 06:59
    assert sorted(kinds[3:5]) == [("flow-add", 100, 1), ("flow-add", 100, 2)] and kinds[5] == ("barrier",)
    assert core.confirmed(ALMATY) is None  # sent is not confirmed
    assert core.barrier_reply(ALMATY, out[-1].xid)
    assert core.confirmed(ALMATY) == core.wanted(ALMATY, 0.0)
    assert len({m.xid for m in out}) == len(out)  # every message has its own xid


def test_reconnect_to_a_switch_holding_the_plan_sends_nothing():
    """Reconcile, do not wipe: a meter already right keeps its bucket (no second above the cap)."""
    core = _core()
    sw = FakeSwitch(ALMATY)
    _connect(core, sw)
    held_meters = dict(sw.meters)
    sw.log.clear()
    restarted = _core()
    _connect(restarted, sw)
    assert sw.log == []  # not one meter or flow message
    assert sw.meters == held_meters
    assert restarted.confirmed(ALMATY) == restarted.wanted(ALMATY, 0.0)
    assert restarted.outcome(restarted.version).confirmed == (ALMATY,)


def test_reconcile_sends_only_the_differences():
    core = _core()
    sw = FakeSwitch(ALMATY)
    _connect(core, sw)
    # someone changed the switch: a wrong rate, a foreign meter, a foreign flow in table 0 and one in table 3
    sw.meters[1] = Meter(1, 777, 777)
    sw.meters[7] = Meter(7, 5, 5)
    sw.flows[(0, (("ip_proto", 17),), 5)] = Flow(5, (("ip_proto", 17),), 7, 0x9)
    sw.flows[(3, (), 1)] = Flow(1, (), -1, 0)
    sw.log.clear()
    msgs = core.switch_up(ALMATY)
    found = [FoundFlow(t, f) for (t, _, _), f in sw.flows.items()]
    out = core.switch_contents(ALMATY, msgs[0].meters_xid, list(sw.meters.values()), found, 0.0)
    assert _kinds(out) == [("flow-delete-table", 3, None), ("read-meters", True), ("meter-modify", 1, 1000),
                           ("flow-delete", 5, 7), ("meter-delete", 7, None), ("barrier",)]
    sw.receive(core, out)
    assert sw.meters == {1: Meter(1, 1000, 1000), 2: Meter(2, 1000, 1000)}
    assert sw.table0() == sorted(core.wanted(ALMATY, 0.0).flows)
    assert core.confirmed(ALMATY) == core.wanted(ALMATY, 0.0)


def test_period_boundary_modifies_meters_after_reading_their_counters():
    core = _core()
    sw = FakeSwitch(ALMATY)
    _connect(core, sw)
    gens = core.generations_of(ALMATY)
    out = core.tick(1.0)[ALMATY]  # 06:59 + 60 s x 60 = 07:59
    assert _kinds(out) == [("read-meters", True), ("meter-modify", 1, 2000), ("meter-modify", 2, 2000),
                           ("barrier",)]
    assert dict(out[0].generations) == gens  # the closing reading belongs to the old counters
    assert all(core.generations_of(ALMATY)[m] == gens[m] + 1 for m in (1, 2))
    sw.receive(core, out)
    assert core.tick(1.0) == {}
    assert core.confirmed(ALMATY).meters == (Meter(1, 2000, 2000), Meter(2, 2000, 2000))


def test_put_is_confirmed_only_by_every_switch():
    core = _core()
    a, b = FakeSwitch(ALMATY), FakeSwitch(AKMOLA)
    _connect(core, a, b)
    version, msgs = core.put(D90, 0.0)
    a.receive(core, msgs[ALMATY])
    outcome = core.outcome(version)
    assert outcome.confirmed == (ALMATY,) and outcome.pending == (AKMOLA,) and not outcome.done
    b.receive(core, msgs[AKMOLA])
    assert core.outcome(version).confirmed == (AKMOLA, ALMATY) and core.outcome(version).done
    assert a.meters[1].rate_kbps == 200 and b.meters[1].rate_kbps == 160


def test_a_rejected_put_fails_that_switch_and_the_old_directive_is_reconciled_back():
    core = _core()
    a, b = FakeSwitch(ALMATY), FakeSwitch(AKMOLA)
    _connect(core, a, b)
    b.flow_limit = len(b.flows)  # it takes no new flow
    wider = directive_from_data({**D90.to_data(), "platform_prefixes": ["203.0.113.0/24", "198.51.100.0/24"]})
    version, msgs = core.put(wider, 0.0)
    a.receive(core, msgs[ALMATY])
    b.receive(core, msgs[AKMOLA])
    outcome = core.outcome(version)
    assert outcome.failed == (AKMOLA,) and outcome.confirmed == (ALMATY,)
    assert b.meters[1].rate_kbps == 160  # the meter changed before the flow was refused
    assert core.confirmed(AKMOLA) is None  # unknown until read again
    back, msgs = core.put(D, 0.0)
    assert _kinds(msgs[AKMOLA]) == [("read-switch",)]
    a.receive(core, msgs[ALMATY])
    b.receive(core, msgs[AKMOLA])
    assert core.outcome(back).confirmed == (AKMOLA, ALMATY)
    assert a.meters[1].rate_kbps == 1000 and b.meters[1].rate_kbps == 800  # the old caps, everywhere
    assert a.table0() == sorted(core.wanted(ALMATY, 0.0).flows)


def test_lift_unhooks_flows_before_deleting_meters():
    core = _core()
    sw = FakeSwitch(ALMATY)
    _connect(core, sw)
    version, msgs = core.put(None, 0.0)
    assert _kinds(msgs[ALMATY]) == [("read-meters", True), ("flow-modify", 100, None),
                                    ("flow-modify", 100, None), ("meter-delete", 1, None),
                                    ("meter-delete", 2, None), ("barrier",)]
    sw.receive(core, msgs[ALMATY])
    assert core.outcome(version).confirmed == (ALMATY,)
    assert sw.meters == {} and len(sw.table0()) == 3  # platform flows stay, unmetered, still counting


def test_a_switch_that_never_answers_stays_pending_and_is_forgotten_when_gone():
    core = _core()
    sw = FakeSwitch(ALMATY)
    _connect(core, sw)
    sw.silent = True
    version, msgs = core.put(D90, 0.0)
    sw.receive(core, msgs[ALMATY])
    assert core.outcome(version).pending == (ALMATY,)
    core.switch_down(ALMATY)
    assert core.outcome(version).done and core.connected() == []


def test_errors_for_messages_that_are_not_the_cores_are_ignored():
    core = _core()
    sw = FakeSwitch(ALMATY)
    _connect(core, sw)
    assert not core.error(ALMATY, 12345, "an echo's error")
    assert core.confirmed(ALMATY) == core.wanted(ALMATY, 0.0)


def test_a_read_of_an_earlier_connection_is_ignored():
    core = _core()
    first = core.switch_up(ALMATY)[0]
    core.switch_up(ALMATY)
    assert core.switch_contents(ALMATY, first.meters_xid, [], [], 0.0) == []


@pytest.mark.parametrize(("cap", "rate_scale", "burst_s", "message"), [
    (4_294_967_295, 2.0, 1.0, "above OpenFlow's limit 4294967295"),
    (3_000_000_000, 1.0, 2.0, "burst of 6000000000 kbit"),
    (0, 1.0, 1.0, "a cap of 0 kbit/s cannot be enforced"),
    (1, 0.1, 1.0, "rounds to 0"),
    (1000, 1e308, 10.0, "not a finite wire rate"),
])
def test_unenforceable_directives_are_refused_naming_the_row(cap, rate_scale, burst_s, message):
    d = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
                             "rows": [dict(ROWS[1], cap_kbps=cap, peak_kbps=max(cap, 40000))]})
    with pytest.raises(InputError, match=message) as e:
        check_enforceable(d, "d.json", rate_scale, burst_s)
    assert "rows[0].cap_kbps" in str(e.value) and "d.json" in str(e.value)


@pytest.mark.parametrize("value", [math.inf, math.nan, 0.0, -1.0])
def test_scales_must_be_finite_and_positive(value):
    with pytest.raises(InputError, match="--rate-scale"):
        check_scale(value, "--rate-scale")
    assert check_scale(0.25, "--rate-scale") == 0.25
