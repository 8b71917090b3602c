"""The Mininet adapter on real Open vSwitch: it refuses taken names and removes exactly its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from throttlebed.emulation.mininet_net import (
    NetworkError,
    add_normal_flows,
    existing_bridges,
    leftovers,
    running_network,
)
from throttlebed.topology.graph import TopologyOptions, build_graph

pytestmark = pytest.mark.emulation

NOTHING = {"bridges": [], "interfaces": [], "processes": []}


@pytest.fixture
def graph():
    return build_graph(["KZ-75", "KZ-10"], TopologyOptions(hosts_per_region=2))


def test_ping_and_tcp_across_the_tree_then_nothing_left(ovs, graph) -> None:
    with running_network(graph, controller_port=1, tag="tq", wait_s=None) as en:
        assert set(en.bridges()) <= existing_bridges()
        add_normal_flows(en)  # no controller here: a local NORMAL flow per bridge
        out = en.cmd("u75h1", "ping -c1 -W2 10.10.0.2")
        assert " 0% packet loss" in out, out
        offload = en.cmd("u75h1", f"ethtool -k {en.host('u75h1').defaultIntf().name}")
        assert "tx-checksumming: off" in offload
        dpids = subprocess.run(["ovs-vsctl", "get", "Bridge", "tqr75", "other_config:datapath-id"],
                               capture_output=True, text=True).stdout.strip().strip('"')
        assert int(dpids, 16) == 0x1075
        dp_type = subprocess.run(["ovs-vsctl", "get", "Bridge", "tqcore", "datapath_type"],
                                 capture_output=True, text=True).stdout.strip()
        assert dp_type == "netdev"
    assert leftovers(graph, "tq") == NOTHING


def test_refuses_names_that_exist_and_leaves_them_alone(ovs, graph) -> None:
    subprocess.run(["ovs-vsctl", "add-br", "txr75", "--", "set", "bridge", "txr75", "datapath_type=netdev"],
                   check=True)
    try:
        with pytest.raises(NetworkError, match="txr75"), running_network(graph, controller_port=1, tag="tx"):
            pass
        assert "txr75" in existing_bridges()  # not deleted by the refused run
        assert leftovers(graph, "tx") == {"bridges": ["txr75"], "interfaces": ["txr75"], "processes": []}
    finally:
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", "txr75"], check=True)
    assert leftovers(graph, "tx") == NOTHING


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_cleans_up_on_error_and_interrupt(ovs, graph, error) -> None:
    procs = []
    with pytest.raises(error), running_network(graph, controller_port=1, tag="ty", wait_s=None) as en:
        procs.append(en.popen("p1", [sys.executable, "-c", "import time; time.sleep(600)"]))
        assert leftovers(graph, "ty")["bridges"]
        raise error("stop here")
    assert procs[0].poll() is not None  # the process started in a host was ended by pid
    assert leftovers(graph, "ty") == NOTHING


def _htb_rate(tc_class_show: str) -> str | None:
    """The rate of the HTB class in ``tc class show`` output (``10Mbit``), or None."""
    words = tc_class_show.split()
    return words[words.index("rate") + 1] if "htb" in words and "rate" in words else None


def test_access_link_capacity_shapes_tcp(ovs, tmp_path) -> None:
    """An access link of 10 Mbit/s (Mininet TCLink, HTB on both ends; no netem here) holds TCP to it.

    The rate is checked where it is set (the HTB class of each end) and where it shows: no second
    of a TCP download above 10 Mbit/s, and the link carrying most of it. How close TCP comes to the
    rate (9.5 Mbit/s on a quiet machine) depends on how much CPU the two agents get; a loaded CI
    machine has measured 6-8, so the floor is half the rate: enough to tell 10 Mbit/s from a
    misread unit, far from an unshaped link (hundreds of Mbit/s).
    """
    import json
    import time

    from emulation_helpers import AGENT_START_LEAD_S

    from throttlebed.emulation.driver import AGENT, start_servers

    g = build_graph(["KZ-75"], TopologyOptions(hosts_per_region=1, access_mbps=10))
    with running_network(g, controller_port=1, tag="tw", wait_s=None) as en:
        add_normal_flows(en)
        host_intf = en.host("u75h1").defaultIntf()
        switch_intf = host_intf.link.intf2 if host_intf.link.intf1 is host_intf else host_intf.link.intf1
        assert _htb_rate(host_intf.node.cmd("tc class show dev", host_intf.name)) == "10Mbit"
        assert _htb_rate(subprocess.run(["tc", "class", "show", "dev", switch_intf.name], capture_output=True,
                                        text=True, check=True).stdout) == "10Mbit"
        start_servers(en, 5001)
        sched = tmp_path / "s.jsonl"
        sched.write_text(json.dumps({"at_s": 0, "server": "198.51.100.1", "port": 5001, "bytes": 0,
                                     "rate_kbps": 0, "duration_s": 6}) + "\n")
        out = tmp_path / "o.json"
        en.popen("u75h1", [*AGENT, "fetch", "--schedule", str(sched), "--out", str(out), "--epoch",
                           repr(time.time() + AGENT_START_LEAD_S), "--bin-s", "1", "--until-s", "6.5"]
                 ).wait(timeout=30)
    got = {b: n * 8 / 1e6 for b, _, _, n in json.loads(out.read_text())["rows"]}
    steady_mbps = [got.get(b, 0.0) for b in range(2, 6)]  # after slow start, before the end
    assert max(steady_mbps) <= 10.5, got  # no second above the link's 10 Mbit/s (plus framing slack)
    assert sum(steady_mbps) / len(steady_mbps) >= 5.0, got
    assert leftovers(g, "tw") == NOTHING
