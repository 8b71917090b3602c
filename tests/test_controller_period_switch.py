"""Period-switch latency: boundary -> last switch's barrier reply, kept by the controller's state."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.core_util import FakeSwitch
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.core import BarrierMsg
from throttlebed.controller.period_switch import PeriodSwitchLog
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.state import ControllerState, Settings
from throttlebed.directive.schema import directive_from_data

B = datetime(2026, 3, 1, 7, 0)


def test_latency_is_the_last_confirmation_after_the_boundary():
    log = PeriodSwitchLog()
    log.sent(B, 10.0, 10.002, {1: 100, 2: 200})
    log.confirmed(1, 100, 10.010)
    assert log.records[0].latency_s is None and log.records[0].pending == [2]
    log.confirmed(2, 250, 10.030)  # a later barrier confirms the earlier batch too
    assert log.records[0].latency_s == pytest.approx(0.030)
    assert log.summary()["complete"] == 1 and log.summary()["median_ms"] == pytest.approx(30.0)
    assert log.records[0].to_data()["send_ms"] == pytest.approx(2.0)


def test_an_earlier_barrier_or_a_rejection_does_not_confirm():
    log = PeriodSwitchLog()
    log.sent(B, 10.0, 10.0, {1: 100, 2: 200})
    log.confirmed(2, 199, 10.01)  # the reply to an older batch
    log.confirmed(1, 100, 10.02)
    log.failed(2)
    assert log.records[0].latency_s is None and log.records[0].failed == {2}
    s = log.summary()
    assert (s["complete"], s["failed"], s["pending"], s["median_ms"]) == (0, 1, 0, None)


def test_percentiles_over_many_switches():
    log = PeriodSwitchLog()
    for i in range(100):
        log.sent(B, float(i), float(i), {1: i})
        log.confirmed(1, i, i + (i + 1) / 1000)  # 1 .. 100 ms
    s = log.summary()
    assert s["median_ms"] == pytest.approx(50.5) and s["max_ms"] == pytest.approx(100.0)
    assert 99.0 <= s["p99_ms"] <= 100.0


def test_state_records_the_boundary_a_tick_crossed_and_its_batches():
    """06:59 at mono 0, one real second per emulated minute: 07:00 falls at mono 1.0."""
    rows = [{"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 20000, "cap_kbps": 10000},
            {"region": "KZ-75", "period": "07:00-24:00", "peak_kbps": 40000, "cap_kbps": 20000},
            {"region": "KZ-11", "period": "00:00-24:00", "peak_kbps": 40000, "cap_kbps": 8000}]
    d = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
                             "rows": rows})
    now = [0.0]
    clock = EmulatedClock(datetime(2026, 3, 1, 6, 59), 0.0, 60.0)
    st = ControllerState(Settings(rate_scale=0.1, time_scale=60.0), clock, RegionMap(), d,
                         mono=lambda: now[0])
    almaty, akmola = FakeSwitch(0x1075), FakeSwitch(0x1011)
    for sw in (almaty, akmola):
        sw.receive(st.core, st.core.switch_up(sw.dpid))

    def tick(at_s: float) -> dict:
        now[0] = at_s
        out = st.core.tick(at_s)
        st.record_tick(at_s, out, at_s + 0.001)
        return out

    assert tick(0.5) == {} and not st.period_switches.records  # first tick: nothing crossed
    out = tick(1.004)  # the scheduler woke 4 ms after the boundary
    assert list(out) == [0x1075]  # only Almaty's cap changes at 07:00
    rec = st.period_switches.records[0]
    assert rec.boundary == B and rec.boundary_mono_s == pytest.approx(1.0)
    barrier = out[0x1075][-1]
    assert isinstance(barrier, BarrierMsg) and rec.barriers == {0x1075: barrier.xid}
    st.period_switches.confirmed(0x1075, barrier.xid, 1.012)
    assert st.period_switches_view()["summary"]["median_ms"] == pytest.approx(12.0)
    assert tick(1.5) == {} and len(st.period_switches.records) == 1  # no boundary since
