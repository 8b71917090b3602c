"""Ctrl-C that cannot be lost.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a ctypes
callback (numba compiling through LLVM, for one) the exception is printed and dropped, and the run
would go on to publish its outputs as if nothing had happened. The command line therefore latches
the signal: the handler records it before raising, and every place that publishes results asks
:func:`raise_if_interrupted` first.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_received: list[int] = []


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def latch_interrupts() -> None:
    """Make SIGINT both raise ``KeyboardInterrupt`` and leave a mark (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_interrupt)


def was_interrupted() -> bool:
    """True once a latched SIGINT arrived, even if its exception was swallowed on the way."""
    return bool(_received)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a latched SIGINT arrived: call before publishing anything."""
    if _received:
        raise KeyboardInterrupt(f"signal {_received[0]}")
