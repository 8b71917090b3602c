"""The CMS-TN graph and its addressing plan (pure: no root needed)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import networkx as nx
import pytest

from throttlebed.directive.regions import region_codes
from throttlebed.errors import InputError
from throttlebed.topology import graph as tg
from throttlebed.topology.addressing import AddressPlan, region_number, user_network


def test_three_regions_shape_and_attributes() -> None:
    g = tg.build_graph(["KZ-75", "KZ-10", "KZ-71"], tg.TopologyOptions(hosts_per_region=3))
    assert nx.is_tree(g)
    assert tg.summary(g) == {"core": 1, "region": 3, "platform": 1, "service": 1, "user": 9, "links": 14}
    assert g.nodes["core"]["dpid"] == 1
    assert g.nodes["r75"] == {"kind": "region", "region": "KZ-75", "dpid": 0x1075, "ip": None,
                              "prefixlen": None}
    assert g.nodes["r10"]["dpid"] == 0x1010
    assert g.nodes["p1"]["ip"] == "203.0.113.1" and g.nodes["p1"]["kind"] == "platform"
    assert g.nodes["o1"]["ip"] == "198.51.100.1" and g.nodes["o1"]["kind"] == "service"
    assert g.nodes["u75h3"]["ip"] == "10.75.0.3" and g.nodes["u75h3"]["region"] == "KZ-75"
    assert tg.user_hosts(g, "KZ-71") == ["u71h1", "u71h2", "u71h3"]
    # users hang off their region's switch, servers and regions off the core
    assert set(g.neighbors("r71")) == {"core", "u71h1", "u71h2", "u71h3"}
    assert set(g.neighbors("core")) == {"p1", "o1", "r10", "r71", "r75"}


def test_controller_dpid_scheme_is_used() -> None:
    from throttlebed.controller.region_map import dpid_region

    g = tg.build_graph("all")
    for sw in tg.nodes_of_kind(g, "region"):
        assert dpid_region(g.nodes[sw]["dpid"]) == g.nodes[sw]["region"]
    assert len(tg.nodes_of_kind(g, "region")) == 20


def test_deterministic_and_sorted() -> None:
    a = tg.graph_to_data(tg.build_graph(["KZ-79", "KZ-11"], tg.TopologyOptions(hosts_per_region=2)))
    b = tg.graph_to_data(tg.build_graph(["KZ-11", "KZ-79"], tg.TopologyOptions(hosts_per_region=2)))
    assert a == b
    assert a["regions"] == ["KZ-11", "KZ-79"]
    assert [n["name"] for n in a["nodes"]][:4] == ["core", "p1", "o1", "r11"]
    assert {"a": "core", "b": "r11", "kind": "uplink", "bw_mbps": None} in a["links"]


def test_link_capacities_are_edge_attributes() -> None:
    opts = tg.TopologyOptions(hosts_per_region=1, access_mbps=50, uplink_mbps=200, server_mbps=1000)
    g = tg.build_graph(["KZ-75"], opts)
    assert g.edges["r75", "u75h1"] == {"kind": "access", "bw_mbps": 50}
    assert g.edges["core", "r75"] == {"kind": "uplink", "bw_mbps": 200}
    assert g.edges["core", "p1"] == {"kind": "server", "bw_mbps": 1000}


def test_regional_switch_uplink_is_its_first_link() -> None:
    """The emulation passes --uplink-port 1: the core link must come first for each region."""
    g = tg.build_graph(["KZ-10", "KZ-75"], tg.TopologyOptions(hosts_per_region=2))
    first = {}
    for a, b, _ in tg.links(g):
        for n, other in ((a, b), (b, a)):
            first.setdefault(n, other)
    assert first["r10"] == "core" and first["r75"] == "core"


def test_all_regions_names_fit_linux_interfaces() -> None:
    from throttlebed.emulation.mininet_net import interface_names

    g = tg.build_graph("all", tg.TopologyOptions(hosts_per_region=tg.MAX_HOSTS_PER_REGION))
    names = interface_names(g, "abc")
    assert max(len(n) for n in names) <= 15
    assert len(names) == len(set(names))
    assert tg.summary(g)["user"] == 20 * 99


@pytest.mark.parametrize("regions, where", [
    (["KZ-99"], "regions[0]"), (["KZ-75", "KZ-75"], "regions"), ([], "regions"), ("KZ-75,XX", "regions[1]"),
])
def test_bad_regions(regions: object, where: str) -> None:
    with pytest.raises(InputError) as e:
        tg.build_graph(regions)  # type: ignore[arg-type]
    assert e.value.where == where


@pytest.mark.parametrize("kwargs, where", [
    ({"hosts_per_region": 0}, "hosts_per_region"), ({"hosts_per_region": 100}, "hosts_per_region"),
    ({"access_mbps": 0}, "access_mbps"), ({"platform_hosts": 0}, "platform_hosts"),
])
def test_bad_options(kwargs: dict, where: str) -> None:
    with pytest.raises(InputError) as e:
        tg.TopologyOptions(**kwargs)
    assert e.value.where == where


def test_addressing_plan() -> None:
    plan = AddressPlan.make()
    assert plan.platform_ip(0) == IPv4Address("203.0.113.1")
    assert plan.other_ip(1) == IPv4Address("198.51.100.2")
    assert AddressPlan.user_ip("KZ-19", 299) == IPv4Address("10.19.1.44")
    assert user_network("KZ-75") == IPv4Network("10.75.0.0/16")
    assert region_number("KZ-10") == 10
    assert plan.traffic_of("203.0.113.7") == "platform"
    assert plan.traffic_of("198.51.100.9") == "other"
    assert AddressPlan.region_of("10.75.3.4") == "KZ-75"
    assert AddressPlan.region_of("10.12.0.1") is None  # KZ-12 is no region
    assert AddressPlan.region_of("203.0.113.1") is None
    with pytest.raises(InputError):
        plan.traffic_of("10.75.0.1")
    # every region's user range is distinct
    nets = [user_network(c) for c in region_codes()]
    assert len(set(nets)) == 20


@pytest.mark.parametrize("plat, other, where", [
    ("203.0.113.0/24", "203.0.113.128/25", "platform_prefix"),
    ("10.1.0.0/16", "198.51.100.0/24", "platform_prefix"),
    ("203.0.113.5/24", "198.51.100.0/24", "platform_prefix"),
    ("203.0.113.0/24", "nonsense", "other_prefix"),
])
def test_bad_prefixes(plat: str, other: str, where: str) -> None:
    with pytest.raises(InputError) as e:
        AddressPlan.make(plat, other)
    assert e.value.where == where


def test_custom_platform_prefix_moves_servers() -> None:
    g = tg.build_graph(["KZ-75"], tg.TopologyOptions(platform_prefix="192.0.2.0/24", platform_hosts=2))
    assert [g.nodes[n]["ip"] for n in tg.nodes_of_kind(g, "platform")] == ["192.0.2.1", "192.0.2.2"]
    assert g.graph["platform_prefix"] == "192.0.2.0/24"
