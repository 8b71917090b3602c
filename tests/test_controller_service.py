"""Directive changes as transactions, with fake switches answering the core (no os-ken, no OVS)."""

from __future__ import annotations

import json
from datetime import datetime

from tests.controller_util import API_TOKEN as TOKEN
from tests.controller_util import ONE_REGION, ONE_REGION_STAGE_90
from tests.core_util import FakeSwitch
from throttlebed.controller.audit import AuditLog
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.state import ControllerState, Settings
from throttlebed.directive.schema import directive_from_data, load_directive, save_directive

ALMATY, OTHER = 0x1075, 0x1011  # the directive caps KZ-75 only; KZ-11 gets forwarding and counting
AUTH = f"Bearer {TOKEN}"


def _controller(tmp_path, *switches, timeout_s=0.05):
    store = tmp_path / "active.json"
    start = directive_from_data(ONE_REGION)
    save_directive(start, store)
    st = ControllerState(Settings(rate_scale=0.1, barrier_timeout_s=timeout_s),
                         EmulatedClock(datetime(2026, 3, 2, 12), 0.0), RegionMap(), start, token=TOKEN,
                         audit=AuditLog(tmp_path / "audit.jsonl"), mono=lambda: 0.0, directive_store=store)
    by_dpid = {sw.dpid: sw for sw in switches}
    st.send = lambda msgs: [by_dpid[d].receive(st.core, m) for d, m in msgs.items()]
    for sw in switches:
        sw.receive(st.core, st.core.switch_up(sw.dpid))
    return st, store


def _audit(tmp_path):
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def _body(data) -> bytes:
    return json.dumps(data).encode()


def test_put_answers_200_once_every_switch_confirmed(tmp_path):
    a, b = FakeSwitch(ALMATY), FakeSwitch(OTHER)
    st, store = _controller(tmp_path, a, b)
    reply = st.put_directive(_body(ONE_REGION_STAGE_90), "127.0.0.1", AUTH)
    assert reply.status == 200, reply.body
    assert reply.body["switches_confirmed"] == ["0x1011", "0x1075"]
    assert a.meters[1].rate_kbps == 400  # 4000 x 0.1
    assert load_directive(store).rows[0].cap_kbps == 4000
    assert st.health()["last_change_confirm_s"] == reply.body["confirm_s"]
    assert "throttlebed_directive_confirm_seconds " in st.metrics()
    assert [(r["phase"], r.get("outcome")) for r in _audit(tmp_path)] == [("intent", None),
                                                                           ("result", "confirmed")]


def test_a_put_one_switch_rejects_is_undone_everywhere_with_502(tmp_path):
    a, b = FakeSwitch(ALMATY), FakeSwitch(OTHER)
    st, store = _controller(tmp_path, a, b)
    a.flow_limit = len(a.flows)  # it accepts the meter change but no new flow
    wider = dict(ONE_REGION_STAGE_90, platform_prefixes=["203.0.113.0/24", "198.51.100.0/24"])
    reply = st.put_directive(_body(wider), "127.0.0.1", AUTH)
    assert reply.status == 502
    assert list(reply.body["switches_failed"]) == ["0x1075"]
    assert "rejected" in reply.body["switches_failed"]["0x1075"]
    assert reply.body["rollback_unconfirmed"] == []
    assert a.meters[1].rate_kbps == 2000  # the old cap (20000 x 0.1) is enforced again
    assert len(a.table0()) == len(b.table0()) == 3  # the old prefix only
    assert st.directive.digest() == directive_from_data(ONE_REGION).digest()
    assert load_directive(store).digest() == st.directive.digest()  # the store says what is in force
    assert all(s["in_sync"] for s in st.plan_view()["switches"])
    result = _audit(tmp_path)[-1]
    assert (result["outcome"], result["in_force"]) == ("rolled-back", st.directive.digest())
    assert result["switches_failed"] == ["0x1075"]
    assert st.health()["changes_rolled_back"] == 1


def test_a_switch_that_does_not_answer_in_time_fails_the_put(tmp_path):
    a, b = FakeSwitch(ALMATY), FakeSwitch(OTHER)
    st, store = _controller(tmp_path, a, b)
    a.silent = True
    reply = st.put_directive(_body(ONE_REGION_STAGE_90), "127.0.0.1", AUTH)
    assert reply.status == 502
    assert reply.body["switches_failed"] == {"0x1075": "no confirmation within 0.05 s"}
    assert reply.body["rollback_unconfirmed"] == ["0x1075"]  # and it cannot confirm the way back either
    assert load_directive(store).digest() == directive_from_data(ONE_REGION).digest()


def test_lift_removes_every_meter_and_the_store(tmp_path):
    a = FakeSwitch(ALMATY)
    st, store = _controller(tmp_path, a)
    assert st.delete_directive("127.0.0.1", None).status == 401
    assert a.meters
    reply = st.delete_directive("127.0.0.1", AUTH)
    assert reply.status == 200 and reply.body["status"] == "lifted"
    assert a.meters == {} and st.directive is None and not store.exists()
    assert [f.meter_id for f in a.table0()] == [None, None, None]  # still forwarded and counted
    assert [(r["action"], r["phase"]) for r in _audit(tmp_path)] == [("lift-directive", "intent"),
                                                                      ("lift-directive", "result")]
