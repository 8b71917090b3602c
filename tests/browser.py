"""Headless Chromium for tests: render an HTML file to PNG, or read the DOM it builds.

    from tests.browser import CHROMIUM, available, dump_dom, screenshot
    png = screenshot("out/report.html", "test-artifacts/report.png")
    dom = dump_dom("out/report.html")

Each call starts a fresh browser with its own throw-away profile, no network services, no sync.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
]


def available() -> bool:
    """Whether the Chromium binary is installed."""
    return CHROMIUM.exists()


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="throttlebed-chromium-")
    try:
        return subprocess.run([str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = 1280, height: int = 1600,
               timeout_s: float = 90) -> Path:
    """Render ``html_path`` in headless Chromium and save a PNG of the window at ``png_path``."""
    src = Path(html_path).resolve()
    out = Path(png_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    res = _run([f"--screenshot={out}", f"--window-size={width},{height}", src.as_uri()], timeout_s)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium made no screenshot of {src} (exit {res.returncode}): "
                           f"{res.stderr[-500:]}")
    return out


def dump_dom(html_path: str | Path, *, timeout_s: float = 90) -> str:
    """The DOM of ``html_path`` after Chromium has loaded it (scripts run), serialised as HTML."""
    src = Path(html_path).resolve()
    res = _run(["--dump-dom", src.as_uri()], timeout_s)
    if res.returncode != 0 or "<html" not in res.stdout.lower():
        raise RuntimeError(f"chromium could not load {src} (exit {res.returncode}): {res.stderr[-500:]}")
    return res.stdout
