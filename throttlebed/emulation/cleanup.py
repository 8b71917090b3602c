"""What a killed emulated run left behind, found by its run tag, and removed: that run's only.

A run tagged ``TAG`` names its bridges ``TAG<switch>`` and its interfaces ``TAG<node>-eth<n>``
(nodes: ``core``, ``rNN``, ``uNNhK``, ``pK``, ``oK``); its Mininet shells carry
``mininet:TAG<node>``; every process inside its hosts shares a host shell's network namespace;
its controller and every process it started in a host carry ``THROTTLEBED_RUN_TAG=TAG`` in
their environment. Names of another tag
never match (a node name cannot start with what would be the rest of a longer tag).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass, field

from throttlebed.emulation.mininet_net import (
    RUN_TAG_ENV,
    check_tag,
    existing_bridges,
    existing_links,
    remove_names,
)

NODE_RE = r"(?:core|r\d{2}|u\d{2}h\d+|p\d+|o\d+)"
SWITCH_RE = r"(?:core|r\d{2})"


@dataclass
class Leftovers:
    """What of one run tag exists now."""

    tag: str
    bridges: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    namespaces: list[int] = field(default_factory=list)  # network-namespace inodes of its hosts
    processes: list[int] = field(default_factory=list)

    def empty(self) -> bool:
        """Nothing of the run is left."""
        return not (self.bridges or self.interfaces or self.namespaces or self.processes)

    def to_data(self) -> dict[str, object]:
        """A JSON-able summary."""
        return {"tag": self.tag, "bridges": self.bridges, "interfaces": self.interfaces,
                "namespaces": len(self.namespaces), "processes": self.processes}


def _read(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _netns(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    return None


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and int(d) != os.getpid()]


def find_leftovers(tag: str) -> Leftovers:
    """Bridges, interfaces, host namespaces and processes of run ``tag`` that exist now."""
    check_tag(tag)
    shell_re = re.compile(rf"^mininet:{re.escape(tag)}{NODE_RE}$".encode())
    left = Leftovers(tag)
    left.bridges = sorted(b for b in existing_bridges() if re.fullmatch(rf"{re.escape(tag)}{SWITCH_RE}", b))
    left.interfaces = sorted(i for i in existing_links()
                             if re.fullmatch(rf"{re.escape(tag)}{NODE_RE}-eth\d+", i))
    root_ns = _netns(os.getpid())
    env_marker = f"{RUN_TAG_ENV}={tag}".encode()
    pids = _pids()
    shells = [p for p in pids if any(shell_re.match(a) for a in _read(p, "cmdline").split(b"\0"))]
    namespaces = {ns for ns in (_netns(p) for p in shells) if ns is not None and ns != root_ns}
    procs = set(shells)
    for p in pids:
        if (namespaces and _netns(p) in namespaces) or env_marker in _read(p, "environ").split(b"\0"):
            procs.add(p)
    left.namespaces = sorted(namespaces)
    left.processes = sorted(procs)
    return left


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    stat = _read(pid, "stat")
    return bool(stat) and b") Z " not in stat  # a zombie is gone but for its parent's wait


def cleanup(tag: str, grace_s: float = 3.0) -> Leftovers:
    """Remove everything of run ``tag`` (processes: SIGTERM, then SIGKILL); return what was there."""
    found = find_leftovers(tag)
    _signal_all(found.processes, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_alive(p) for p in found.processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_all([p for p in found.processes if _alive(p)], signal.SIGKILL)
    remove_names(set(found.bridges), set(found.interfaces))
    # interfaces whose namespaces only just went away (their peers vanish with them)
    remove_names(set(), set(find_leftovers(tag).interfaces))
    return found
