"""The Mininet adapter on real Open vSwitch: it refuses taken names and removes exactly its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from throttlebed.topology.graph import TopologyOptions, build_graph
from throttlebed.topology.mininet_net import (
    NetworkError,
    add_normal_flows,
    existing_bridges,
    leftovers,
    running_network,
)

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
