"""Errors the command line turns into exit codes: bad input is 2, everything else 1."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a file, a row or a field that cannot be used.

    The message is one line naming where the problem is, e.g.
    ``directive.yaml: rows[3].cap_kbps: must be an integer >= 0``.
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.reason = message
        parts = [p for p in (source, where) if p]
        text = ": ".join([*parts, message]) if parts else message
        super().__init__(" ".join(text.split("\n")).replace("\r", "\\r"))  # always one line

    def located(self, source: str) -> InputError:
        """The same error, attributed to ``source`` (a file name) if it has none yet."""
        if self.source:
            return self
        return InputError(self.reason, source=source, where=self.where)


class RunFailure(RuntimeError):
    """A run whose results cannot be trusted (the emulation broke): exit 1, one line, no verdict."""
