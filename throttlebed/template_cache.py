"""Compiled Jinja templates kept between processes: a run compiles its report's and documents'
templates (~0.3 s of one core) only the first time.

Jinja's own file cache, in its own per-user directory under the temporary directory (it refuses
a directory another user owns or can read). Stale entries are never used (each is keyed by the
template's source checksum and Jinja's bytecode version). Where no such directory can be made or
written, templates are compiled as before: the cache never stops a run.
"""

from __future__ import annotations

import contextlib
from functools import cache

import jinja2
from jinja2.bccache import Bucket


class _QuietFileCache(jinja2.FileSystemBytecodeCache):
    """A file cache whose failures to write are not errors (a full or vanished directory)."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


@cache
def template_cache() -> jinja2.BytecodeCache | None:
    """The process's cache of compiled templates, or None where none can be kept."""
    try:
        return _QuietFileCache()
    except (OSError, RuntimeError):  # RuntimeError: Jinja found the directory unsafe
        return None
