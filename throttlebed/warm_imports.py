"""Import heavy modules on a background thread while a run computes.

scipy.stats (~1.1 s) and matplotlib (~0.5 s) are needed only at the verdict and the report, and
the simulation's step loop runs without the GIL: importing them beside it hides most of their
cost. The modules that need them import them where they are used, so the foreground import
waits for a warm-up in flight and raises any import error itself (the warm-up keeps quiet).
Call :func:`finish` before forking: a fork must not copy a lock held by an import in flight.
"""

from __future__ import annotations

import importlib
import sys
import threading

_threads: list[threading.Thread] = []


def _import_quietly(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001,S112 - the foreground import reports it
            continue


def start(*modules: str) -> None:
    """Begin importing ``modules`` (those not imported yet) on a daemon thread."""
    missing = tuple(m for m in modules if m not in sys.modules)
    if missing:
        t = threading.Thread(target=_import_quietly, args=(missing,), name="throttlebed-warm-imports",
                             daemon=True)
        t.start()
        _threads.append(t)


def finish() -> None:
    """Wait for every warm-up begun so far."""
    while _threads:
        _threads.pop().join()
