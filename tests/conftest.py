"""Shared fixtures. Emulation tests need root and Open vSwitch; as root they always run."""

from __future__ import annotations

from pathlib import Path

import pytest

from throttlebed.emulation import ovs_service

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def ovs() -> None:
    """Open vSwitch running (started here if needed). Skips with the reason only without root."""
    st = ovs_service.status()
    if not ovs_service.is_root():
        pytest.skip(f"emulation test: {st.reason}")
    if not st.usable:  # root but no OVS: that is a broken set-up, not a reason to skip
        pytest.fail(f"emulation test cannot run as root: {st.reason}")
    started = ovs_service.ensure_running()
    yield
    if started:
        ovs_service.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and other artifacts for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
