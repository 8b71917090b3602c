"""The CMS-TN as a networkx graph: a core/gateway switch, one switch per regional object, users.

Shape (a tree, so ``OFPP_NORMAL`` forwarding never loops)::

    p1..pK (platform)   o1..oM (other services)
            \\              /
             +---- core ---+            core: international gateway, dpid 1
              /     |     \\
           r10    r75 ...  r79         regional objects, dpid 0x10NN (KZ-75 -> 0x1075)
           / \\     |
      u10h1 ..   u75h1 ..               user hosts, 10.NN.0.0/16

Node attributes: ``kind`` (core|region|platform|service|user), ``region`` (ISO code or None),
``dpid`` (switches, int, else None), ``ip`` (hosts, str, else None), ``prefixlen`` (hosts).
Edge attributes: ``kind`` (uplink|server|access) and ``bw_mbps`` (float, or None = unshaped).
Node names are short so that Mininet's interface names stay under 16 characters. Pure and
deterministic: the same regions and options give the same graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from throttlebed.directive.regions import CORE_DPID, region_codes, region_dpid
from throttlebed.errors import InputError
from throttlebed.topology.addressing import (
    DEFAULT_OTHER_PREFIX,
    DEFAULT_PLATFORM_PREFIX,
    AddressPlan,
    region_number,
)

CORE = "core"
KINDS = ("core", "region", "platform", "service", "user")
MAX_HOSTS_PER_REGION = 99


@dataclass(frozen=True)
class TopologyOptions:
    """How many hosts of each kind, the prefixes, and link capacities (Mbit/s, None = unshaped)."""

    hosts_per_region: int = 1
    platform_hosts: int = 1
    other_hosts: int = 1
    platform_prefix: str = DEFAULT_PLATFORM_PREFIX
    other_prefix: str = DEFAULT_OTHER_PREFIX
    access_mbps: float | None = None
    uplink_mbps: float | None = None
    server_mbps: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.hosts_per_region <= MAX_HOSTS_PER_REGION:
            raise InputError(f"hosts_per_region must be 1..{MAX_HOSTS_PER_REGION}, "
                             f"got {self.hosts_per_region!r}", where="hosts_per_region")
        for name in ("platform_hosts", "other_hosts"):
            n = getattr(self, name)
            if not 1 <= n <= 99:
                raise InputError(f"{name} must be 1..99, got {n!r}", where=name)
        for name in ("access_mbps", "uplink_mbps", "server_mbps"):
            v = getattr(self, name)
            if v is not None and not (0 < float(v) <= 10_000):
                raise InputError(f"{name} must be > 0 and <= 10000 Mbit/s, got {v!r}", where=name)

    def to_data(self) -> dict[str, Any]:
        """The options as plain data."""
        return asdict(self)


def resolve_regions(spec: str | Iterable[str]) -> list[str]:
    """``"all"`` or a list of ISO codes -> a sorted list of distinct known codes."""
    if isinstance(spec, str):
        if spec.strip().lower() == "all":
            return list(region_codes())
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    codes = list(spec)
    if not codes:
        raise InputError("no regions given", where="regions")
    known = set(region_codes())
    for i, c in enumerate(codes):
        if not isinstance(c, str) or c not in known:
            raise InputError(f"unknown region {c!r} (expected an ISO 3166-2 code such as KZ-75)",
                             where=f"regions[{i}]")
    if len(set(codes)) != len(codes):
        dup = next(c for c in codes if codes.count(c) > 1)
        raise InputError(f"region {dup} listed twice", where="regions")
    return sorted(codes)


def region_switch_name(code: str) -> str:
    """Switch name of a regional object: ``r75`` for KZ-75."""
    return f"r{region_number(code):02d}"


def user_host_name(code: str, index: int) -> str:
    """Name of user host ``index`` (0-based) of a region: ``u75h1``, ``u75h2`` ..."""
    return f"u{region_number(code):02d}h{index + 1}"


def build_graph(regions: str | Iterable[str], options: TopologyOptions | None = None) -> nx.Graph:
    """The CMS-TN graph for ``regions`` ("all" or ISO codes) under ``options``."""
    opts = options or TopologyOptions()
    codes = resolve_regions(regions)
    plan = AddressPlan.make(opts.platform_prefix, opts.other_prefix)
    g = nx.Graph(platform_prefix=str(plan.platform_prefix), other_prefix=str(plan.other_prefix),
                 regions=codes, options=opts.to_data())
    g.add_node(CORE, kind="core", region=None, dpid=CORE_DPID, ip=None, prefixlen=None)
    for i in range(opts.platform_hosts):
        name = f"p{i + 1}"
        g.add_node(name, kind="platform", region=None, dpid=None, ip=str(plan.platform_ip(i)),
                   prefixlen=plan.platform_prefix.prefixlen)
        g.add_edge(CORE, name, kind="server", bw_mbps=opts.server_mbps)
    for i in range(opts.other_hosts):
        name = f"o{i + 1}"
        g.add_node(name, kind="service", region=None, dpid=None, ip=str(plan.other_ip(i)),
                   prefixlen=plan.other_prefix.prefixlen)
        g.add_edge(CORE, name, kind="server", bw_mbps=opts.server_mbps)
    for code in codes:
        sw = region_switch_name(code)
        g.add_node(sw, kind="region", region=code, dpid=region_dpid(code), ip=None, prefixlen=None)
        g.add_edge(CORE, sw, kind="uplink", bw_mbps=opts.uplink_mbps)
        for h in range(opts.hosts_per_region):
            name = user_host_name(code, h)
            g.add_node(name, kind="user", region=code, dpid=None, ip=str(plan.user_ip(code, h)),
                       prefixlen=16)
            g.add_edge(sw, name, kind="access", bw_mbps=opts.access_mbps)
    return g


def nodes_of_kind(g: nx.Graph, kind: str) -> list[str]:
    """Names of the nodes of ``kind``, in insertion (deterministic) order."""
    if kind not in KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    return [n for n, d in g.nodes(data=True) if d["kind"] == kind]


def switches(g: nx.Graph) -> list[str]:
    """The core and regional switches."""
    return [n for n, d in g.nodes(data=True) if d["kind"] in ("core", "region")]


def hosts(g: nx.Graph) -> list[str]:
    """Every host (platform, other services, users)."""
    return [n for n, d in g.nodes(data=True) if d["kind"] in ("platform", "service", "user")]


def user_hosts(g: nx.Graph, region: str) -> list[str]:
    """The user hosts of ``region``, in order."""
    return [n for n, d in g.nodes(data=True) if d["kind"] == "user" and d["region"] == region]


def host_regions(g: nx.Graph) -> dict[str, str]:
    """User host name -> its region."""
    return {n: d["region"] for n, d in g.nodes(data=True) if d["kind"] == "user"}


def links(g: nx.Graph) -> list[tuple[str, str, dict[str, Any]]]:
    """Edges as (parent, child, attributes), the switch end first, in a deterministic order."""
    out = []
    for u, v, d in g.edges(data=True):
        a, b = (u, v) if _rank(g, u) <= _rank(g, v) else (v, u)
        out.append((a, b, dict(d)))
    return out


def _rank(g: nx.Graph, n: str) -> int:
    return {"core": 0, "region": 1}.get(g.nodes[n]["kind"], 2)


def graph_to_data(g: nx.Graph) -> dict[str, Any]:
    """The graph as JSON-able data (for ``throttlebed topology show --json``)."""
    return {
        "regions": list(g.graph["regions"]),
        "platform_prefix": g.graph["platform_prefix"],
        "other_prefix": g.graph["other_prefix"],
        "options": dict(g.graph["options"]),
        "nodes": [
            {"name": n, **{k: (f"{v:#x}" if k == "dpid" and v is not None else v) for k, v in d.items()}}
            for n, d in g.nodes(data=True)
        ],
        "links": [{"a": a, "b": b, **d} for a, b, d in links(g)],
    }


def validate_tree(g: nx.Graph) -> None:
    """Raise ValueError unless the graph is a tree (OFPP_NORMAL forwarding needs no loops)."""
    if not nx.is_tree(g):
        raise ValueError("the CMS-TN graph must be a tree")


def summary(g: nx.Graph) -> dict[str, int]:
    """Counts of nodes by kind and of links."""
    counts = {k: len(nodes_of_kind(g, k)) for k in KINDS}
    counts["links"] = g.number_of_edges()
    return counts


def region_hosts(g: nx.Graph, regions: Sequence[str]) -> dict[str, list[str]]:
    """Region -> its user hosts, for each of ``regions``."""
    return {r: user_hosts(g, r) for r in regions}
