"""Give the process's freed heap memory back to the operating system.

glibc's ``malloc`` keeps freed blocks for reuse, and once a large block has been freed it serves
blocks up to that size (up to 32 MB) from its heap instead of separate mappings: a national day
frees thousands of arrays of a few MB (one region's sessions), and the process's resident set
stays hundreds of MB above what it holds. :func:`release_free_memory` asks glibc to return that
memory (``malloc_trim``); elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return freed heap memory to the system; whether the C library could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
