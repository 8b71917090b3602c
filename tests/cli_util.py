"""Run the ``throttlebed`` command line in-process and capture exit code, stdout, stderr."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from throttlebed.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Result:
    """``throttlebed ARGS...`` as a user would type it; never raises SystemExit."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = int(e.code or 0)
    return Result(code, out.getvalue(), err.getvalue())
