"""The controller against real Open vSwitch bridges (userspace datapath, OpenFlow 1.3)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from tests.controller_util import (
    REPO,
    Controller,
    bridges,
    dump_flows,
    dump_meters,
    flow_durations,
    free_port,
    http,
    sh,
    wait_until,
    wanted_meters,
    write_token_file,
)
from throttlebed.directive.regions import CORE_DPID, region_dpid
from throttlebed.directive.schema import directive_from_data, load_directive
from throttlebed.measurements import read_measurements

pytestmark = pytest.mark.emulation

TOKEN = "bridge-test-token-42"
DIRECTIVE = {
    "platform": "ExamplePlatform",
    "platform_prefixes": ["203.0.113.0/24"],
    "stage": 50,
    "rows": [
        {"region": "KZ-75", "period": "00:00-07:00", "peak_kbps": 20000, "cap_kbps": 10000},
        {"region": "KZ-75", "period": "07:00-18:00", "peak_kbps": 40000, "cap_kbps": 20000},
        {"region": "KZ-75", "period": "18:00-24:00", "peak_kbps": 60000, "cap_kbps": 30000},
        {"region": "KZ-10", "period": "22:00-02:00", "peak_kbps": 8000, "cap_kbps": 4000},
    ],
}
@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps(DIRECTIVE))
    write_token_file(tmp_path / "token", TOKEN)
    return tmp_path


def test_meters_are_the_plan_of_the_current_period(ovs, workdir):
    ofp_port = free_port()
    d = load_directive(workdir / "d.json")
    dpids = [CORE_DPID, region_dpid("KZ-75"), region_dpid("KZ-10")]
    with bridges(dpids, ofp_port) as br:
        ctl = Controller(workdir, ofp_port, "--directive", str(workdir / "d.json"), "--clock-start", "12:00",
                         "--rate-scale", "0.1", "--stats-out", str(workdir / "stats.csv"),
                         "--poll-interval-s", "0.5")
        try:
            ctl.wait_connected(3)
            minute = 12 * 60
            assert dump_meters(br[0x1075]) == wanted_meters(d, 0x1075, "KZ-75", minute, 0.1) == {
                1: (2000, 2000), 2: (2000, 2000)}
            assert dump_meters(br[0x1010]) == wanted_meters(d, 0x1010, "KZ-10", minute, 0.1) == {}
            assert dump_meters(br[CORE_DPID]) == {}
            assert dump_flows(br[0x1075]) == [
                "cookie=0x0,priority=0 actions=NORMAL",
                "cookie=0x1,priority=100,ip,nw_src=203.0.113.0/24 actions=meter:1,NORMAL",
                "cookie=0x2,priority=100,ip,nw_dst=203.0.113.0/24 actions=meter:2,NORMAL",
            ]
            assert dump_flows(br[0x1010]) == [  # uncovered period: counted, not metered
                "cookie=0x0,priority=0 actions=NORMAL",
                "cookie=0x1,priority=100,ip,nw_src=203.0.113.0/24 actions=NORMAL",
                "cookie=0x2,priority=100,ip,nw_dst=203.0.113.0/24 actions=NORMAL",
            ]
            assert dump_flows(br[CORE_DPID]) == ["cookie=0x0,priority=0 actions=NORMAL"]
            plan = http(ctl.base, "GET", "/plan")[1]
            by_dpid = {s["dpid"]: s for s in plan["switches"]}
            assert [m["rate_kbps"] for m in by_dpid["0x1075"]["meters"]] == [2000, 2000]
            assert all(s["in_sync"] for s in plan["switches"])
            status, metrics = http(ctl.base, "GET", "/metrics")
            rate = 'throttlebed_meter_rate_kbps{region="KZ-75",direction="down",dpid="0x1075"} 2000'
            assert status == 200 and rate in metrics
            wait_until(lambda: len(http(ctl.base, "GET", "/stats")[1]["latest"]) >= 6, 10, "stats rows")
        finally:
            assert ctl.stop() == 0
    table = read_measurements(workdir / "stats.csv")  # flushed, and a valid measurement table
    assert set(table["region"]) == {"KZ-75", "KZ-10"} and set(table["source"]) == {"ovs-flow-counters"}
    assert (table["kbps"] == 0).all()  # no traffic was sent


def test_period_change_on_compressed_clock(ovs, workdir):
    ofp_port = free_port()
    with bridges([region_dpid("KZ-75")], ofp_port) as br:
        # 60 emulated s per real s: 06:50 -> 07:00 takes 10 s
        ctl = Controller(workdir, ofp_port, "--directive", str(workdir / "d.json"), "--clock-start", "06:50",
                         "--time-scale", "60", "--rate-scale", "0.1", "--burst-s", "0.5")
        try:
            ctl.wait_connected(1)
            b = br[0x1075]
            assert dump_meters(b) == {1: (1000, 500), 2: (1000, 500)}  # 00:00-07:00: 10000 kbps
            installed_at = time.monotonic()
            wait_until(lambda: dump_meters(b) == {1: (2000, 1000), 2: (2000, 1000)}, 15, "07:00 rates")
            # the flows were not re-created (their counters survive period changes)
            assert min(flow_durations(b)) >= time.monotonic() - installed_at - 0.5
            applied = http(ctl.base, "GET", "/plan")[1]["applied"]
            change = applied[-1]
            assert change["dpid"] == "0x1075" and change["meters_changed"] == 2
            assert change["period"] == "07:00-18:00"
            assert change["time"][11:16] == "07:00"
        finally:
            assert ctl.stop() == 0


def test_wrapping_period_ends_meters_go_flows_stay(ovs, workdir):
    ofp_port = free_port()
    with bridges([region_dpid("KZ-10")], ofp_port) as br:
        # KZ-10 is capped 22:00-02:00; 10 emulated s per real s: 01:59 -> 02:00 takes 6 s
        ctl = Controller(workdir, ofp_port, "--directive", str(workdir / "d.json"),
                         "--clock-start", "2026-03-01T01:59:00", "--time-scale", "10", "--rate-scale", "0.1")
        try:
            ctl.wait_connected(1)
            b = br[0x1010]
            assert dump_meters(b) == {1: (400, 400), 2: (400, 400)}
            wait_until(lambda: dump_meters(b) == {}, 12, "meters removed at 02:00")
            # the platform flows survive, unmetered (OVS would delete flows still using a deleted meter)
            assert dump_flows(b) == [
                "cookie=0x0,priority=0 actions=NORMAL",
                "cookie=0x1,priority=100,ip,nw_src=203.0.113.0/24 actions=NORMAL",
                "cookie=0x2,priority=100,ip,nw_dst=203.0.113.0/24 actions=NORMAL",
            ]
            change = http(ctl.base, "GET", "/plan")[1]["applied"][-1]
            assert change["time"].startswith("2026-03-01T02:00") and change["period"] is None
            assert change["changes"] == "meters +0 ~0 -2, flows +0 ~2 -0"
        finally:
            assert ctl.stop() == 0


def _add_stale(br: str) -> None:
    sh("ovs-ofctl", "-O", "OpenFlow13", "add-meter", br, "meter=7,kbps,band=type=drop,rate=777")
    sh("ovs-ofctl", "-O", "OpenFlow13", "add-flow", br, "priority=5,udp,actions=meter:7,NORMAL")
    sh("ovs-ofctl", "-O", "OpenFlow13", "add-flow", br, "table=3,priority=1,actions=drop")


def test_restart_and_reconnect_restore_the_plan(ovs, workdir):
    ofp_port = free_port()
    expected_flows = [
        "cookie=0x0,priority=0 actions=NORMAL",
        "cookie=0x1,priority=100,ip,nw_src=203.0.113.0/24 actions=meter:1,NORMAL",
        "cookie=0x2,priority=100,ip,nw_dst=203.0.113.0/24 actions=meter:2,NORMAL",
    ]
    args = ("--directive", str(workdir / "d.json"), "--clock-start", "12:00", "--rate-scale", "0.1")
    with bridges([region_dpid("KZ-75")], ofp_port) as br:
        b = br[0x1075]
        _add_stale(b)
        ctl = Controller(workdir, ofp_port, *args)
        try:
            ctl.wait_connected(1)
            wait_until(lambda: dump_meters(b) == {1: (2000, 2000), 2: (2000, 2000)}, 10, "the plan")
            assert dump_flows(b) == expected_flows
            # switch reconnect
            sh("ovs-vsctl", "del-controller", b)
            ctl.wait_connected(0)
            _add_stale(b)
            assert 7 in dump_meters(b)
            sh("ovs-vsctl", "set-controller", b, f"tcp:127.0.0.1:{ofp_port}")
            ctl.wait_connected(1)
            wait_until(lambda: dump_meters(b) == {1: (2000, 2000), 2: (2000, 2000)}, 10, "plan, reconnected")
            assert dump_flows(b) == expected_flows
        finally:
            assert ctl.stop() == 0
        # controller restart, meanwhile someone changed the switch
        _add_stale(b)
        ctl = Controller(workdir, ofp_port, *args)
        try:
            ctl.wait_connected(1)
            wait_until(lambda: dump_meters(b) == {1: (2000, 2000), 2: (2000, 2000)}, 10, "plan after restart")
            assert dump_flows(b) == expected_flows
        finally:
            assert ctl.stop() == 0


def test_api_changes_meters_only_with_token_and_valid_directive(ovs, workdir):
    ofp_port = free_port()
    audit = workdir / "audit.jsonl"
    with bridges([region_dpid("KZ-75"), region_dpid("KZ-10")], ofp_port) as br:
        ctl = Controller(workdir, ofp_port, "--directive", str(workdir / "d.json"), "--clock-start", "23:00",
                         "--rate-scale", "0.1", "--token-file", str(workdir / "token"),
                         "--audit-log", str(audit))
        try:
            ctl.wait_connected(2)
            before = {d: dump_meters(br[d]) for d in br}
            assert before == {0x1075: {1: (3000, 3000), 2: (3000, 3000)},
                              0x1010: {1: (400, 400), 2: (400, 400)}}
            assert len(audit.read_text().splitlines()) == 1  # the directive loaded at start
            stage90 = dict(DIRECTIVE, stage=90, rows=[
                {"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 60000, "cap_kbps": 6000}])
            assert http(ctl.base, "PUT", "/directive", stage90)[0] == 401
            assert http(ctl.base, "PUT", "/directive", stage90, token="not-the-token")[0] == 401
            bad = dict(stage90, rows=[dict(stage90["rows"][0], region="KZ-99")])
            status, body = http(ctl.base, "PUT", "/directive", bad, token=TOKEN)
            assert status == 400 and "rows[0].region" in body["error"]
            assert {d: dump_meters(br[d]) for d in br} == before
            assert len(audit.read_text().splitlines()) == 1
            status, body = http(ctl.base, "PUT", "/directive", stage90, token=TOKEN)
            assert status == 200, body
            # applied (with barriers) before the reply: KZ-75 re-rated, KZ-10 no longer capped
            assert dump_meters(br[0x1075]) == {1: (600, 600), 2: (600, 600)}
            assert dump_meters(br[0x1010]) == {}
            assert all("meter" not in f for f in dump_flows(br[0x1010]))
            lines = audit.read_text().splitlines()
            assert len(lines) == 3  # loaded at start; intent and result of the PUT
            intent, rec = json.loads(lines[1]), json.loads(lines[2])
            assert intent["phase"] == "intent" and (rec["phase"], rec["outcome"]) == ("result", "confirmed")
            assert rec["action"] == "put-directive"
            assert rec["digest"] == rec["in_force"] == directive_from_data(stage90).digest()
            assert rec["switches_confirmed"] == ["0x1010", "0x1075"]
            assert rec["who"]["client"] == "127.0.0.1" and len(rec["who"]["token_id"]) == 12
            assert http(ctl.base, "GET", "/directive")[1]["directive"]["stage"] == 90
        finally:
            assert ctl.stop() == 0


def test_delete_lifts_every_meter_and_keeps_counting(ovs, workdir):
    """Lifting (the platform complied): DELETE /directive removes every meter on every switch,
    the platform's flows stay unmetered, and the lift is audited and confirmed like a PUT."""
    ofp_port = free_port()
    audit = workdir / "audit.jsonl"
    store = workdir / "active.json"
    with bridges([region_dpid("KZ-75"), region_dpid("KZ-10")], ofp_port) as br:
        ctl = Controller(workdir, ofp_port, "--directive", str(workdir / "d.json"), "--clock-start", "23:00",
                         "--rate-scale", "0.1", "--token-file", str(workdir / "token"),
                         "--audit-log", str(audit), "--directive-store", str(store))
        try:
            ctl.wait_connected(2)
            assert dump_meters(br[0x1075]) and dump_meters(br[0x1010])
            assert http(ctl.base, "DELETE", "/directive")[0] == 401
            assert dump_meters(br[0x1075]) and dump_meters(br[0x1010])  # nothing changed
            status, body = http(ctl.base, "DELETE", "/directive", token=TOKEN)
            assert status == 200, body
            for d in br:  # confirmed before the reply: no meter left, platform flows still there
                assert dump_meters(br[d]) == {}
                platform = [f for f in dump_flows(br[d]) if "203.0.113.0/24" in f]
                assert len(platform) == 2 and all("meter" not in f for f in platform), platform
            assert http(ctl.base, "GET", "/directive")[1]["directive"] is None
            rec = json.loads(audit.read_text().splitlines()[-1])
            assert (rec["action"], rec["phase"], rec["outcome"]) == ("lift-directive", "result", "confirmed")
            assert not store.exists()  # a restart does not put the caps back
        finally:
            assert ctl.stop() == 0


def test_bad_options_exit_2_with_one_line(ovs, workdir):
    (workdir / "bad.json").write_text(json.dumps(dict(DIRECTIVE, stage=40)))
    (workdir / "noprefix.json").write_text(json.dumps(dict(DIRECTIVE, platform_prefixes=[])))
    huge = [dict(DIRECTIVE["rows"][0], peak_kbps=2e10, cap_kbps=10_000_000_000)]
    (workdir / "huge.json").write_text(json.dumps(dict(DIRECTIVE, rows=huge)))
    for args, needle in (
        (["--directive", str(workdir / "bad.json")], "stage"),
        (["--directive", str(workdir / "noprefix.json")], "noprefix.json: platform_prefixes"),
        (["--region-map", str(workdir / "nope.json")], "nope.json"),
        (["--api", "localhost"], "--api"),
        (["--clock-start", "25:99"], "--clock-start"),
        (["--directive", str(workdir / "huge.json")], "huge.json: rows[0].cap_kbps"),
        (["--directive", str(workdir / "d.json"), "--rate-scale", "1e300"], "1e+304 kbit/s"),
        (["--rate-scale", "inf"], "--rate-scale"),
        (["--rate-scale", "nan"], "--rate-scale"),
        (["--burst-s", "0"], "--burst-s"),
        (["--burst-s", "-1"], "--burst-s"),
        (["--ofp-listen", "not-an-address"], "--ofp-listen"),
    ):
        r = subprocess.run([sys.executable, "-m", "throttlebed.controller.launcher", *args], cwd=REPO,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
    with socket.socket() as s:  # the OpenFlow port is taken
        s.bind(("0.0.0.0", 0))
        s.listen()
        r = subprocess.run([sys.executable, "-m", "throttlebed.controller.launcher", "--ofp-port",
                            str(s.getsockname()[1]), "--api", f"127.0.0.1:{free_port()}"], cwd=REPO,
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--ofp-port" in r.stderr
