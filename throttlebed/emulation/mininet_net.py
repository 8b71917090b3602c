"""The one module that imports Mininet: the CMS-TN graph made real, started and cleaned up.

Switches are userspace Open vSwitch bridges (``datapath='user'``, OpenFlow 1.3) with the dpids of
the graph, connected to a remote controller on loopback. Every Mininet name carries a short run
``tag`` (``tb`` + graph name, e.g. ``tbr75``, ``tbu75h1``) so that two runs with different tags do
not collide; a run refuses to start when any of its bridge or interface names already exists
(Mininet would otherwise delete them). On exit - normal, exception or Ctrl-C - the network stops
and exactly its own processes (by pid), bridges and veths (by name) are removed.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from throttlebed.emulation.ovs_service import OvsCommandError, run_command, vsctl
from throttlebed.topology import graph as tg

_TAG_RE = re.compile(r"^[a-z][a-z0-9]{0,2}$")
RUN_TAG_ENV = "THROTTLEBED_RUN_TAG"  # in the environment of a run's processes: what cleanup looks for
IFNAMSIZ = 15  # longest Linux interface name


class NetworkError(RuntimeError):
    """The emulated network cannot start here (names taken, switches not connecting...)."""


def _prefer_stdlib_distutils() -> None:
    """Let Mininet's ``distutils`` import find the standard library's module where there is one.

    Mininet imports ``distutils.version``; setuptools' stand-in for ``distutils`` (installed in every
    venv) imports setuptools and pkg_resources first, 0.5 s of a 20-region network's ~3 s set-up.
    Python 3.11 still ships ``distutils``; from 3.12 on the stand-in is the only one and stays.
    """
    if sys.version_info >= (3, 12) or "distutils" in sys.modules:
        return
    try:
        import _distutils_hack
    except ImportError:
        return
    _distutils_hack.remove_shim()


def _mininet() -> Any:
    """Import Mininet lazily: importing it costs time and needs distutils."""
    if "mininet.node" not in sys.modules:
        _prefer_stdlib_distutils()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The distutils package is deprecated", DeprecationWarning)
        import mininet.link
        import mininet.log
        import mininet.net
        import mininet.node
        import mininet.topo

    return mininet


def check_tag(tag: str) -> str:
    """A run tag is 1-3 characters ``[a-z][a-z0-9]*`` (keeps interface names under 16)."""
    if not _TAG_RE.match(tag):
        raise ValueError(f"run tag {tag!r} must be 1-3 characters [a-z][a-z0-9]*")
    return tag


def mn_name(tag: str, node: str) -> str:
    """Mininet name of graph node ``node`` in run ``tag``."""
    return f"{tag}{node}"


def interface_names(g: nx.Graph, tag: str) -> list[str]:
    """Every interface name the run will create (``<node>-eth<port>``), plus the bridges' own."""
    counts: dict[str, int] = {}
    names: list[str] = []
    for a, b, _ in tg.links(g):
        for n in (a, b):
            port = counts.get(n, 1 if g.nodes[n]["kind"] in ("core", "region") else 0)
            counts[n] = port + 1
            names.append(f"{mn_name(tag, n)}-eth{port}")
    names += [mn_name(tag, s) for s in tg.switches(g)]
    too_long = [n for n in names if len(n) > IFNAMSIZ]
    if too_long:
        raise NetworkError(f"interface names too long for Linux: {', '.join(too_long[:3])}")
    return names


def bridge_names(g: nx.Graph, tag: str) -> list[str]:
    """The OVS bridges the run will create."""
    return [mn_name(tag, s) for s in tg.switches(g)]


def existing_bridges() -> set[str]:
    """Bridges Open vSwitch knows now (OvsCommandError when ``ovs-vsctl`` fails)."""
    return set(vsctl("list-br").split())


def existing_links() -> set[str]:
    """Interface names in the root network namespace now (OvsCommandError when ``ip`` fails)."""
    names = set()
    for line in run_command(["ip", "-o", "link", "show"]).splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.add(parts[1].strip().split("@")[0])
    return names


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (read from /proc; used to check leftovers)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(d))
    return pids


def leftovers(g: nx.Graph, tag: str) -> dict[str, list[str]]:
    """What of run ``tag`` still exists: bridges, interfaces, host/switch shell processes."""
    bridges = sorted(set(bridge_names(g, tag)) & existing_bridges())
    intfs = sorted(set(interface_names(g, tag)) & existing_links())
    shells = []
    for n in g.nodes:
        shells += [str(p) for p in processes_with(f"mininet:{mn_name(tag, n)} ")]
        shells += [str(p) for p in _exact_shells(f"mininet:{mn_name(tag, n)}")]
    return {"bridges": bridges, "interfaces": intfs, "processes": sorted(set(shells))}


def _exact_shells(marker: str) -> list[int]:
    """Pids whose command line ends exactly with ``marker`` (Mininet's node shells)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                parts = f.read().split(b"\0")
        except OSError:
            continue
        if any(p.decode(errors="replace") == marker for p in parts):
            pids.append(int(d))
    return pids


NODE_START_THREADS = 8  # shells started at once: each waits ~50 ms for its bash prompt


def add_graph(net: Any, g: nx.Graph, tag: str) -> None:
    """Add the graph's switches, hosts and links to Mininet network ``net`` (not yet built).

    Each node starts a shell and waits for its prompt, which is most of a network's set-up time;
    nodes are independent, so they start on a few threads at once. Links are added afterwards in
    the graph's order, which fixes every interface name (:func:`interface_names`).
    """
    mn = _mininet()

    def add(item: tuple[str, dict[str, Any]]) -> None:
        n, d = item
        if d["kind"] in ("core", "region"):
            net.addSwitch(mn_name(tag, n), dpid=f"{d['dpid']:016x}", batch=True)  # one ovs-vsctl for all
        else:
            net.addHost(mn_name(tag, n), ip=f"{d['ip']}/{d['prefixlen']}")

    with ThreadPoolExecutor(NODE_START_THREADS) as pool:
        list(pool.map(add, g.nodes(data=True)))  # list(): raise the first failure here
    for a, b, d in tg.links(g):
        opts: dict[str, Any] = {}
        if d.get("bw_mbps"):
            opts = {"cls": mn.link.TCLink, "bw": float(d["bw_mbps"])}
        net.addLink(mn_name(tag, a), mn_name(tag, b), **opts)


@dataclass
class EmulatedNetwork:
    """A running network: Mininet's object, the graph, and the processes started in hosts."""

    net: Any
    graph: nx.Graph
    tag: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def host(self, node: str) -> Any:
        """The Mininet host of graph node ``node``."""
        return self.net.get(mn_name(self.tag, node))

    def ip(self, node: str) -> str:
        """IPv4 address of a host node."""
        return str(self.graph.nodes[node]["ip"])

    def popen(self, node: str, args: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a process inside host ``node``; it is ended by pid when the network stops.

        It carries the run tag in its environment (``THROTTLEBED_RUN_TAG``) for ``emulation cleanup``.
        """
        kwargs["env"] = {**(kwargs.get("env") or os.environ), RUN_TAG_ENV: self.tag}
        proc = self.host(node).popen(list(args), **kwargs)
        self.procs.append(proc)
        return proc

    def cmd(self, node: str, *args: str) -> str:
        """Run a short command in host ``node`` and return its output."""
        return self.host(node).cmd(*args)

    def bridges(self) -> list[str]:
        """This run's bridge names."""
        return bridge_names(self.graph, self.tag)

    def stop_processes(self, grace_s: float = 2.0) -> None:
        """End every process started through ``popen``: SIGTERM, then SIGKILL after ``grace_s``."""
        terminate_all(self.procs, grace_s)


def terminate_all(procs: Sequence[subprocess.Popen], grace_s: float = 2.0) -> None:
    """SIGTERM each still-running process, wait up to ``grace_s``, then SIGKILL the rest."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in alive:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    for p in alive:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=2.0)


def connected_bridges() -> set[str]:
    """Bridges with at least one connected controller (``ovs-vsctl`` is_connected)."""
    def table(args: list[str]) -> list[list[str]]:
        out = vsctl("--bare", "--format=csv", "--no-headings", *args)
        return [line.split(",", 1) for line in out.splitlines() if "," in line]

    up = {u.strip() for u, c in table(["--columns=_uuid,is_connected", "list", "Controller"])
          if c.strip() == "true"}
    return {name.strip() for name, ctls in table(["--columns=name,controller", "list", "Bridge"])
            if up & set(ctls.replace('"', "").split())}


def _json_rows(table: str, columns: str) -> list[dict[str, Any]]:
    """Rows of an OVSDB table as {column: value} (maps as dicts, sets as lists, uuids as text)."""
    doc = json.loads(vsctl("--format=json", f"--columns={columns}", "list", table))

    def value(v: Any) -> Any:
        if isinstance(v, list) and len(v) == 2 and v[0] in ("uuid", "map", "set"):
            kind, inner = v
            if kind == "uuid":
                return inner
            if kind == "map":
                return {k: value(x) for k, x in inner}
            return [value(x) for x in inner]
        return v

    return [dict(zip(doc["headings"], (value(v) for v in row), strict=True)) for row in doc["data"]]


@dataclass(frozen=True)
class ControllerLink:
    """A bridge's connection to its controller, as Open vSwitch reports it."""

    bridge: str
    connected: bool
    connected_for_s: float | None  # seconds since this connection came up (None: not connected)


def controller_links(bridges: Sequence[str]) -> dict[str, ControllerLink]:
    """The controller connection of each of ``bridges`` (OvsCommandError when OVS does not answer).

    A bridge with no controller, or whose controller is not connected, has ``connected`` False.
    """
    ctls = {r["_uuid"]: r for r in _json_rows("Controller", "_uuid,is_connected,status")}
    by_bridge = {r["name"]: r for r in _json_rows("Bridge", "name,controller")}
    links = {}
    for br in bridges:
        row = by_bridge.get(br)
        refs = row["controller"] if row else []
        refs = refs if isinstance(refs, list) else [refs]
        up = [ctls[u] for u in refs if u in ctls and ctls[u].get("is_connected") is True]
        since = [float(c["status"]["sec_since_connect"]) for c in up
                 if isinstance(c.get("status"), dict) and "sec_since_connect" in c["status"]]
        links[br] = ControllerLink(br, bool(up), max(since) if since else None)
    return links


def wait_connected(bridges: Sequence[str], timeout_s: float = 20.0) -> float:
    """Wait until every bridge has a connected controller; return the seconds it took."""
    t0 = time.monotonic()
    pending = list(bridges)
    while pending:
        up = connected_bridges()
        pending = [b for b in pending if b not in up]
        if not pending:
            break
        if time.monotonic() - t0 > timeout_s:
            raise NetworkError(f"switches not connected to the controller after {timeout_s:g} s: "
                               f"{', '.join(pending)}")
        time.sleep(0.2)
    return time.monotonic() - t0


def disable_tx_offload(en: EmulatedNetwork) -> None:
    """``ethtool -K IFACE tx off`` on every host interface (TCP stalls in userspace OVS otherwise)."""
    for n in tg.hosts(en.graph):
        h = en.host(n)
        for intf in h.intfList():
            if intf.name == "lo":
                continue
            out = h.cmd(f"ethtool -K {intf.name} tx off 2>&1; echo rc=$?")
            if "rc=0" not in out:
                raise NetworkError(f"ethtool -K {intf.name} tx off failed in {h.name}: {out.strip()}")


def _remove_own(g: nx.Graph, tag: str) -> None:
    """Remove whatever of this run's bridges, interfaces and shells is still there, by name/pid."""
    for n in g.nodes:
        for pid in _exact_shells(f"mininet:{mn_name(tag, n)}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    remove_names(set(bridge_names(g, tag)), set(interface_names(g, tag)))


def remove_names(bridges: set[str], interfaces: set[str]) -> None:
    """Delete these bridges and interfaces where they exist; try all, then raise the first failure."""
    failures: list[OvsCommandError] = []
    for br in sorted(bridges & existing_bridges()):
        try:
            vsctl("--if-exists", "del-br", br)
        except OvsCommandError as e:
            failures.append(e)
    for intf in sorted(interfaces & existing_links()):
        try:
            run_command(["ip", "link", "del", intf])
        except OvsCommandError as e:
            if intf in existing_links():  # not gone with its peer meanwhile
                failures.append(e)
    if failures:
        raise failures[0]


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while cleaning up (main thread only), then raise KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {s: signal.signal(s, lambda n, f: got.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if got:
            raise KeyboardInterrupt(f"signal {got[0]} during cleanup")


def _set_log_level(quiet: bool) -> None:
    _mininet().log.setLogLevel("error" if quiet else "warning")


@contextlib.contextmanager
def running_network(g: nx.Graph, *, controller_port: int, controller_ip: str = "127.0.0.1",
                    tag: str = "tb", quiet: bool = True, wait_s: float | None = 20.0,
                    before_start: Callable[[], None] | None = None) -> Iterator[EmulatedNetwork]:
    """Build and start the network of ``g``; on exit stop it and remove exactly what it made.

    ``wait_s``: wait that long for every switch to connect to the controller (None: do not wait).
    ``before_start``: called once hosts and links exist, before the switches start and dial the
    controller (a switch that finds no listener retries only after seconds of back-off).
    """
    tg.validate_tree(g)
    check_tag(tag)
    mn = _mininet()
    _set_log_level(quiet)
    taken = sorted(set(bridge_names(g, tag)) & existing_bridges())
    taken += sorted(set(interface_names(g, tag)) & existing_links())
    if taken:
        raise NetworkError(f"names of run tag {tag!r} already exist ({', '.join(taken[:5])}); "
                           "another run is using them, or one left them behind")
    net = None
    en: EmulatedNetwork | None = None
    try:
        controller = mn.node.RemoteController(f"{tag}ctl", ip=controller_ip, port=controller_port)
        switch_cls = _ovs_switch_class(mn)
        net = mn.net.Mininet(topo=None, switch=switch_cls, host=_host_class(mn), controller=None,
                             link=mn.link.Link, autoSetMacs=False, build=False, waitConnected=False)
        en = EmulatedNetwork(net=net, graph=g, tag=tag)
        net.addController(controller)
        add_graph(net, g, tag)
        net.build()
        for n in tg.hosts(g):
            h = en.host(n)
            h.cmd(f"ip route add default dev {h.defaultIntf().name}")
        disable_tx_offload(en)
        if before_start is not None:
            before_start()
        net.start()
        if wait_s is not None:
            wait_connected(en.bridges(), wait_s)
        yield en
    finally:
        with signals_deferred():
            if en is not None:
                en.stop_processes()
            if net is not None:
                with contextlib.suppress(Exception):
                    net.stop()
            _remove_own(g, tag)


def _ovs_switch_class(mn: Any) -> Any:
    """OVSSwitch on the userspace datapath, OpenFlow 1.3, secure fail mode."""

    class UserOVSSwitch(mn.node.OVSSwitch):
        def __init__(self, name: str, **params: Any) -> None:
            params.setdefault("datapath", "user")
            params.setdefault("protocols", "OpenFlow13")
            params.setdefault("failMode", "secure")
            super().__init__(name, **params)

        def startShell(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - Mininet's name
            self.decoder = _tolerant_decoder()
            super().startShell(*args, **kwargs)

    return UserOVSSwitch


def _tolerant_decoder() -> Any:
    """A UTF-8 decoder that replaces stray bytes (Mininet's own one raises on them)."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


def _host_class(mn: Any) -> Any:
    """Mininet's Host, reading its shell with a tolerant decoder."""

    class TolerantHost(mn.node.Host):
        def startShell(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - Mininet's name
            self.decoder = _tolerant_decoder()
            super().startShell(*args, **kwargs)

    return TolerantHost


def add_normal_flows(en: EmulatedNetwork) -> None:
    """Without a controller: one ``actions=NORMAL`` flow per bridge (a local check only)."""
    for br in en.bridges():
        run_command(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", br, "priority=0,actions=NORMAL"])
