"""Open vSwitch as a service on a machine without systemd: check, start, and stop what we started.

The package does not start ovsdb-server/ovs-vswitchd itself (no systemd here); ``ovs-ctl start``
does, and notices there is no kernel module (bridges then use the userspace datapath).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"


class OvsUnavailable(RuntimeError):
    """Open vSwitch cannot be used here (not root, not installed, or it would not start)."""


class OvsCommandError(RuntimeError):
    """An ``ovs-vsctl`` / ``ovs-ofctl`` / ``ip`` command failed: never read as "nothing there"."""


def run_command(args: list[str], timeout_s: float = 15.0) -> str:
    """Run a system command and return its stdout; OvsCommandError (one line) when it fails."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OvsCommandError(f"{' '.join(args[:4])}: {e}") from None
    if proc.returncode != 0:
        why = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise OvsCommandError(f"{' '.join(args[:4])} failed (exit {proc.returncode}): {why}")
    return proc.stdout


def vsctl(*args: str) -> str:
    """``ovs-vsctl --timeout=5 ARGS``; raises OvsCommandError when it fails."""
    return run_command(["ovs-vsctl", "--timeout=5", *args])


@dataclass(frozen=True)
class OvsStatus:
    """Whether the emulation can run here, and why not."""

    usable: bool
    reason: str


def is_root() -> bool:
    """Whether this process runs as root."""
    return os.geteuid() == 0


def ovs_running() -> bool:
    """Whether ovsdb-server and ovs-vswitchd both answer."""
    if not shutil.which("ovs-vsctl"):
        return False
    try:
        subprocess.run(["ovs-vsctl", "--timeout=3", "show"], check=True, capture_output=True)
        subprocess.run(["ovs-appctl", "-t", "ovs-vswitchd", "version"], check=True,
                       capture_output=True, timeout=5)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return False
    return True


def status() -> OvsStatus:
    """Can we use (or start) Open vSwitch here?"""
    if not is_root():
        return OvsStatus(False, "needs root (network namespaces and Open vSwitch)")
    if not os.path.exists(OVS_CTL) or not shutil.which("ovs-vsctl"):
        return OvsStatus(False, "Open vSwitch is not installed (Debian package openvswitch-switch)")
    return OvsStatus(True, "root and Open vSwitch present")


def ensure_running() -> bool:
    """Start Open vSwitch if it is not running. Returns True when this call started it."""
    st = status()
    if not st.usable:
        raise OvsUnavailable(st.reason)
    if ovs_running():
        return False
    proc = subprocess.run([OVS_CTL, "start", "--system-id=random"], capture_output=True, text=True)
    if not ovs_running():
        raise OvsUnavailable(f"ovs-ctl start failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return True


def stop() -> None:
    """Stop the Open vSwitch daemons (only call this when ``ensure_running`` started them)."""
    subprocess.run([OVS_CTL, "stop"], capture_output=True)
