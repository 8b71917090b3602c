"""A Ctrl-C whose exception is swallowed (inside a ctypes callback) still stops publishing."""

import ctypes
import os
import signal

import pytest

from throttlebed import interrupts
from throttlebed.fileio import publish_dir


@pytest.fixture
def latched():
    old = signal.getsignal(signal.SIGINT)
    interrupts.latch_interrupts()
    yield
    signal.signal(signal.SIGINT, old)
    interrupts._received.clear()


def _sigint_inside_c_callback() -> None:
    """Deliver SIGINT while C (libc's qsort) calls back into Python: its exception is dropped."""
    compare_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def compare(a, b) -> int:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between these bytecodes
            pass
        return 0

    items = (ctypes.c_int * 4)(4, 3, 2, 1)
    ctypes.CDLL(None).qsort(items, 4, ctypes.sizeof(ctypes.c_int), compare_type(compare))


def _finished_output(tmp_path):
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    (tmp / "report.html").write_text("x")
    return tmp, out


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_swallowed_interrupt_blocks_publishing(tmp_path, latched):
    _sigint_inside_c_callback()  # returns normally: the KeyboardInterrupt did not reach us
    assert interrupts.was_interrupted()
    tmp, out = _finished_output(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        publish_dir(tmp, out)
    assert not out.exists()


def test_without_an_interrupt_publishing_goes_ahead(tmp_path, latched):
    tmp, out = _finished_output(tmp_path)
    publish_dir(tmp, out)
    assert (out / "report.html").read_text() == "x"
