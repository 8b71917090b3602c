"""One emulated sweep point in a process of its own, so that an interrupted sweep leaves nothing behind.

A point run in a Dask worker thread cannot handle signals (only a main thread can), so Ctrl-C or
SIGTERM would skip the emulation's cleanup. Here the point runs as
``python -m throttlebed.experiments.point_process`` (arguments as JSON on stdin, its result row as
JSON on stdout) in that process's main thread: SIGTERM and SIGINT clean up as in a single run. The
child gets SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); when the parent is interrupted it
sends SIGTERM, waits for the child's own cleanup, and removes with ``emulation cleanup`` whatever
a child killed harder left (found by the run tags in the point's partial output directory).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CHILD = [sys.executable, "-m", "throttlebed.experiments.point_process"]
STOP_GRACE_S = 60.0  # the child's own cleanup (network stop, controller) takes a few seconds


def point_tags(out_dir: Path) -> list[str]:
    """Run tags of the emulations a point's partial output directories hold."""
    tags = []
    for info in out_dir.parent.glob(f".{out_dir.name}.partial-*/work/*/emulation.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            tags.append(str(json.loads(info.read_text())["tag"]))
    return tags


def run_in_child(index: int, values: dict[str, Any], base: dict[str, Any], fixed: dict[str, Any],
                 out_dir: str, backend: str | None) -> dict[str, Any]:
    """``run_sweep_point`` in a child process; the row it returns (an error row if it died)."""
    from throttlebed.emulation.backend import die_with_parent

    args = json.dumps({"index": index, "values": values, "base": base, "fixed": fixed,
                       "out_dir": out_dir, "backend": backend}, default=str)
    proc = subprocess.Popen(CHILD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=die_with_parent)
    try:
        out, err = proc.communicate(args)
    except BaseException:
        stop_child(proc, Path(out_dir))
        raise
    if proc.returncode == 0:
        with contextlib.suppress(ValueError):
            return json.loads(out.strip().splitlines()[-1])
    _remove_leftovers(Path(out_dir))
    last = (err.strip().splitlines() or ["no output"])[-1]
    return {"index": index, "pass": False, "error": f"the point's process exited {proc.returncode}: {last}"}


def stop_child(proc: subprocess.Popen, out_dir: Path) -> None:
    """SIGTERM the child and wait for its cleanup; SIGKILL it after the grace; remove what it left."""
    from throttlebed.emulation.backend import stop_process

    stop_process(proc, grace_s=STOP_GRACE_S)
    _remove_leftovers(out_dir)


def _remove_leftovers(out_dir: Path) -> None:
    from throttlebed.emulation.cleanup import cleanup

    for tag in point_tags(out_dir):
        cleanup(tag)


def main() -> None:
    """The child: read the point from stdin, run it here, print its row as one JSON line."""
    from throttlebed.experiments.runner import run_point_here

    p = json.loads(sys.stdin.read())
    row = run_point_here(p["index"], p["values"], p["base"], p["fixed"], p["out_dir"], p["backend"])
    print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    main()
