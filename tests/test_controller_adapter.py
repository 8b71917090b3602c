"""The os-ken glue driven with a fake datapath that records what would go to the switch."""

from __future__ import annotations

import itertools
from datetime import datetime
from types import SimpleNamespace

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.core import XID_BASE
from throttlebed.controller.osken_app import ThrottlebedApp
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.state import ControllerState, Settings
from throttlebed.controller.stats import MeterReading
from throttlebed.directive.schema import directive_from_data

D = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50, "rows": [
    {"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 20000, "cap_kbps": 10000},
    {"region": "KZ-75", "period": "07:00-18:00", "peak_kbps": 40000, "cap_kbps": 20000}]})


class FakeDatapath:
    """Records messages; serialises each as os-ken would before sending."""

    def __init__(self, dpid: int, address=("127.0.0.1", 40000)):
        self.id = dpid
        self.ofproto = ofp
        self.ofproto_parser = parser
        self.sent: list = []
        self.address = address
        self.is_active = True
        self.closed = False
        self._xids = itertools.count(1)

    def set_xid(self, msg) -> None:
        msg.set_xid(next(self._xids))

    def send_msg(self, msg) -> bool:
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()  # fails if a field is malformed
        self.sent.append(msg)
        return True

    def close(self) -> None:
        self.closed = True


class Mono:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def app_and_clock():
    mono = Mono()
    st = ControllerState(Settings(rate_scale=0.1, barrier_timeout_s=0.05),
                         EmulatedClock(datetime(2026, 3, 1, 6, 59), 0.0, 60.0), RegionMap(), D, token=None,
                         mono=mono)
    ThrottlebedApp.state = st
    app = ThrottlebedApp()
    yield app, mono
    ThrottlebedApp.state = None


def _features(dp):
    return SimpleNamespace(msg=SimpleNamespace(datapath=dp))


def _kinds(msgs):
    out = []
    for m in msgs:
        if isinstance(m, parser.OFPMeterMod):
            out.append(({0: "meter-add", 1: "meter-modify", 2: "meter-delete"}[m.command], m.meter_id,
                        m.bands[0].rate if m.bands else None))
        elif isinstance(m, parser.OFPFlowMod):
            out.append(({0: "flow-add", 1: "flow-modify", 2: "flow-modify-strict", 3: "flow-delete",
                         4: "flow-delete-strict"}[m.command], m.priority, m.cookie))
        elif isinstance(m, parser.OFPBarrierRequest):
            out.append(("barrier",))
        elif isinstance(m, parser.OFPMeterStatsRequest):
            out.append(("meter-stats", m.meter_id))
        elif isinstance(m, parser.OFPMeterConfigStatsRequest):
            out.append(("meter-config", m.meter_id))
        elif isinstance(m, parser.OFPFlowStatsRequest):
            out.append(("flow-stats", m.table_id))
    return out


def _reply(dp, xid, body=()):
    return SimpleNamespace(msg=SimpleNamespace(datapath=dp, body=list(body), flags=0, xid=xid))


def _connect(app, dp, meters=(), flows=()):
    """Connect ``dp``, answer the reconcile read with ``meters`` and ``flows``; the messages that follow."""
    app.switch_features(_features(dp))
    config, stats = dp.sent[-2:]
    assert _kinds([config, stats]) == [("meter-config", ofp.OFPM_ALL), ("flow-stats", ofp.OFPTT_ALL)]
    dp.sent.clear()
    app.meter_config_reply(_reply(dp, config.xid, meters))
    app.flow_stats_reply(_reply(dp, stats.xid, flows))
    sent = list(dp.sent)
    if sent and isinstance(sent[-1], parser.OFPBarrierRequest):
        app.barrier_reply(SimpleNamespace(msg=SimpleNamespace(datapath=dp, xid=sent[-1].xid)))
    dp.sent.clear()
    return sent


def test_connect_reads_the_switch_then_installs_forwarding_before_meters(app_and_clock):
    app, _ = app_and_clock
    dp = FakeDatapath(0x1075)
    sent = _connect(app, dp)
    kinds = _kinds(sent)
    assert kinds[:3] == [("flow-add", 0, 0), ("meter-add", 1, 1000), ("meter-add", 2, 1000)]  # 06:59
    assert sorted(kinds[3:5]) == [("flow-add", 100, 1), ("flow-add", 100, 2)] and kinds[5] == ("barrier",)
    assert len(kinds) == 6
    assert all(m.xid >= XID_BASE for m in sent)  # the core's own xids
    meter = sent[1]
    assert meter.flags == ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS
    assert meter.bands[0].burst_size == 1000
    down = next(m for m in sent[3:5] if m.cookie == 1)
    assert down.match["ipv4_src"] == ("203.0.113.0", "255.255.255.0")
    assert [type(i).__name__ for i in down.instructions] == ["OFPInstructionMeter", "OFPInstructionActions"]
    assert down.instructions[0].meter_id == 1
    assert down.instructions[1].actions[0].port == ofp.OFPP_NORMAL
    assert app.st.plan_view()["switches"][0]["in_sync"]  # confirmed by the barrier reply


def _as_switch_holds(sent):
    """Meter config and flow stats entries of a switch that applied ``sent``."""
    meters = [SimpleNamespace(meter_id=m.meter_id, flags=m.flags, bands=[
        SimpleNamespace(type=ofp.OFPMBT_DROP, rate=b.rate, burst_size=b.burst_size) for b in m.bands])
        for m in sent if isinstance(m, parser.OFPMeterMod)]
    flows = [SimpleNamespace(table_id=0, priority=f.priority, match=f.match, cookie=f.cookie,
                             instructions=f.instructions, byte_count=0)
             for f in sent if isinstance(f, parser.OFPFlowMod)]
    return meters, flows


def test_a_restarted_controller_finds_the_plan_in_place_and_sends_nothing(app_and_clock):
    app, _ = app_and_clock
    meters, flows = _as_switch_holds(_connect(app, FakeDatapath(0x1075)))
    app.datapaths.clear()
    app.st.core.switch_down(0x1075)
    again = _connect(app, FakeDatapath(0x1075), meters, flows)
    assert again == []  # reconcile, not wipe: no meter refilled
    assert app.st.plan_view()["switches"][0]["in_sync"]
    meters[0].bands[0].rate = 777  # someone changed one meter meanwhile; a foreign flow in table 3
    flows.append(SimpleNamespace(table_id=3, priority=1, match=parser.OFPMatch(), cookie=0, instructions=[]))
    app.datapaths.clear()
    app.st.core.switch_down(0x1075)
    fixed = _connect(app, FakeDatapath(0x1075), meters, flows)
    assert (fixed[0].command, fixed[0].table_id) == (ofp.OFPFC_DELETE, 3)  # the whole foreign table
    assert _kinds(fixed[1:]) == [("meter-stats", ofp.OFPM_ALL), ("meter-modify", 1, 1000), ("barrier",)]


def test_a_second_connection_for_a_connected_dpid_is_refused(app_and_clock):
    app, _ = app_and_clock
    first = FakeDatapath(0x1075)
    _connect(app, first)
    intruder = FakeDatapath(0x1075, ("127.0.0.1", 50000))
    app.switch_features(_features(intruder))
    assert intruder.closed and intruder.sent == []
    assert app.datapaths[0x1075] is first
    assert "claims a connected dpid" in app.st.health()["recent_errors"][-1]
    first.is_active = False  # the first connection died: a reconnect is welcome
    again = FakeDatapath(0x1075)
    app.switch_features(_features(again))
    assert not again.closed and app.datapaths[0x1075] is again


def test_period_boundary_sends_only_meter_modifies(app_and_clock):
    app, mono = app_and_clock
    dp = FakeDatapath(0x1075)
    _connect(app, dp)
    mono.t = 1.0  # 06:59 + 60 s x 60 = 07:59
    app.tick()
    # the meters' closing reading is asked first, on the same connection
    assert _kinds(dp.sent) == [("meter-stats", ofp.OFPM_ALL), ("meter-modify", 1, 2000),
                               ("meter-modify", 2, 2000), ("barrier",)]
    app.barrier_reply(SimpleNamespace(msg=SimpleNamespace(datapath=dp, xid=dp.sent[-1].xid)))
    dp.sent.clear()
    app.tick()
    assert dp.sent == []
    assert app.st.applied_log[-1]["rates_kbps"] == {"1": 2000, "2": 2000}


def test_an_openflow_error_makes_the_switch_unconfirmed_and_read_again(app_and_clock):
    app, mono = app_and_clock
    dp = FakeDatapath(0x1075)
    _connect(app, dp)
    mono.t = 1.0
    app.tick()
    modify = dp.sent[1]
    app.error_msg(SimpleNamespace(msg=SimpleNamespace(datapath=dp, type=ofp.OFPET_METER_MOD_FAILED,
                                                      code=ofp.OFPMMFC_UNKNOWN_METER, xid=modify.xid)))
    assert not app.st.plan_view()["switches"][0]["in_sync"]
    dp.sent.clear()
    app.tick()  # the next tick reads what the switch holds, to reconcile
    assert _kinds(dp.sent) == [("meter-config", ofp.OFPM_ALL), ("flow-stats", ofp.OFPTT_ALL)]


def test_core_switch_gets_only_normal(app_and_clock):
    app, _ = app_and_clock
    assert _kinds(_connect(app, FakeDatapath(1))) == [("flow-add", 0, 0), ("barrier",)]


def test_flow_stats_reply_makes_rows(app_and_clock):
    app, mono = app_and_clock
    dp = FakeDatapath(0x1075)
    _connect(app, dp)

    def reply(bytes_down, more=False):
        body = [SimpleNamespace(cookie=1, byte_count=bytes_down, table_id=0),
                SimpleNamespace(cookie=0, byte_count=0, table_id=0)]
        return SimpleNamespace(msg=SimpleNamespace(datapath=dp, body=body, xid=7,
                                                   flags=ofp.OFPMPF_REPLY_MORE if more else 0))

    app.flow_stats_reply(reply(0))
    mono.t = 1.0
    app.flow_stats_reply(reply(125_000))
    row = app.st.latest[("KZ-75", "platform", "down")]
    assert row.wire_kbps == pytest.approx(1000.0)
    assert row.kbps == pytest.approx(10_000.0)
    assert row.time == datetime(2026, 3, 1, 6, 59)
    app.flow_stats_reply(reply(10**9, more=True))  # first part of a split reply: nothing yet
    assert app.st.latest[("KZ-75", "platform", "down")] is row


def _meter_reply(dp, xid, in_bytes, drop_bytes, meter_id=1):
    band = SimpleNamespace(packet_band_count=drop_bytes // 1200, byte_band_count=drop_bytes)
    body = [SimpleNamespace(meter_id=meter_id, byte_in_count=in_bytes, band_stats=[band])]
    return SimpleNamespace(msg=SimpleNamespace(datapath=dp, body=body, flags=0, xid=xid))


def _flow_reply(dp, bytes_down):
    body = [SimpleNamespace(cookie=1, byte_count=bytes_down, table_id=0)]
    return SimpleNamespace(msg=SimpleNamespace(datapath=dp, body=body, flags=0, xid=0))


def _ask(app, dp) -> int:
    """What the poller sends: a meter stats request; its xid."""
    app.send_all({dp.id: [app.st.core.read_meters(dp.id)]})
    return dp.sent[-1].xid


def test_period_change_asks_each_switch_for_meter_stats_before_the_modify(app_and_clock):
    app, mono = app_and_clock
    rows = [dict(r, region=region) for r in D.to_data()["rows"] for region in ("KZ-75", "KZ-71")]
    app.st.core.directive = directive_from_data(dict(D.to_data(), rows=rows))
    dps = [FakeDatapath(0x1075), FakeDatapath(0x1071)]
    for dp in dps:
        _connect(app, dp)
    mono.t = 1.0
    app.tick()
    for dp in dps:
        assert _kinds(dp.sent) == [("meter-stats", ofp.OFPM_ALL), ("meter-modify", 1, 2000),
                                   ("meter-modify", 2, 2000), ("barrier",)], hex(dp.id)
        gens, closing = app._meter_req[(dp.id, dp.sent[0].xid)][1:]
        assert closing and gens == {1: 1, 2: 1}  # asked while the first generation was in force
        assert app.st.core.generations_of(dp.id)[1] == 2


def test_interval_spanning_a_modify_is_exact_from_the_closing_reading(app_and_clock):
    app, mono = app_and_clock
    dp = FakeDatapath(0x1075)
    _connect(app, dp)
    app.meter_stats_reply(_meter_reply(dp, _ask(app, dp), 1_000_000, 400_000))
    app.flow_stats_reply(_flow_reply(dp, 1_000_000))
    mono.t = 1.0  # 07:59: the meters are modified; the switch answers the closing request first
    app.tick()
    closing_xid = [m for m in dp.sent if isinstance(m, parser.OFPMeterStatsRequest)][-1].xid
    app.meter_stats_reply(_meter_reply(dp, closing_xid, 1_100_000, 450_000))
    assert app.st.drops.totals[(0x1075, 1)][1] == 450_000
    mono.t = 2.0
    app.meter_stats_reply(_meter_reply(dp, _ask(app, dp), 150_000, 0))  # new meter: from zero
    app.flow_stats_reply(_flow_reply(dp, 1_250_000))
    row = app.st.latest[("KZ-75", "platform", "down")]
    assert row.offered_wire_kbps == pytest.approx((100_000 + 150_000) * 8 / 1000 / 2.0)  # over 2 s
    assert row.wire_kbps == pytest.approx((100_000 - 50_000 + 150_000) * 8 / 1000 / 2.0)
    assert app.st.health()["meter_interval_fallbacks"] == 0


def test_meter_reply_asked_before_a_modify_keeps_its_generation(app_and_clock):
    app, mono = app_and_clock
    dp = FakeDatapath(0x1075)
    _connect(app, dp)
    app.meter_stats_reply(_meter_reply(dp, _ask(app, dp), 120_000, 12_000))
    assert app.st.drops.totals[(0x1075, 1)] == (10, 12_000)
    early = _ask(app, dp)
    mono.t = 1.0  # 07:59: the meters are modified, their counters restart on the switch
    app.tick()
    closing_xid = dp.sent[-4].xid
    app.meter_stats_reply(_meter_reply(dp, early, 180_000, 18_000))  # counted before the modify
    assert app.st.meter_readings[0x1075][1].generation == 1
    app.meter_stats_reply(_meter_reply(dp, closing_xid, 190_000, 19_200))
    assert app.st.drops.totals[(0x1075, 1)] == (16, 19_200)
    app.meter_stats_reply(_meter_reply(dp, _ask(app, dp), 24_000, 2_400))  # after the modify: from zero
    assert app.st.drops.totals[(0x1075, 1)] == (18, 21_600)
    assert app.st.meter_readings[0x1075][1] == MeterReading(24_000, 2_400, 2)


def test_meter_reply_of_an_earlier_connection_is_ignored(app_and_clock):
    app, _ = app_and_clock
    old = FakeDatapath(0x1075)
    _connect(app, old)
    stale = _ask(app, old)
    old.is_active = False
    new = FakeDatapath(0x1075)  # the switch reconnected before answering
    app.switch_features(_features(new))
    app.meter_stats_reply(_meter_reply(old, stale, 99_000, 9_000))
    assert app.st.meter_readings == {} and app.st.drops.totals == {}
    unknown = _meter_reply(new, 424242, 99_000, 9_000)
    app.meter_stats_reply(unknown)
    assert app.st.meter_readings == {}


def test_a_dead_switch_is_forgotten_and_a_waiting_change_gives_up_on_it(app_and_clock):
    from os_ken.controller.handler import DEAD_DISPATCHER

    app, mono = app_and_clock
    dp = FakeDatapath(0x1075)
    _connect(app, dp)
    version, msgs = app.st.core.put(None, mono())
    assert app.st.core.outcome(version).pending == (0x1075,)
    app.state_change(SimpleNamespace(datapath=dp, state=DEAD_DISPATCHER))
    assert app.st.connected() == [] and app.st.core.outcome(version).done
