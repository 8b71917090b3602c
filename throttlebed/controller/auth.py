"""Who may change the directive: the bearer token of ``--token-file``, compared in constant time."""

from __future__ import annotations

import hmac

NO_TOKEN_FILE = "changes are disabled: the controller has no --token-file"
WRONG_TOKEN = "missing or wrong bearer token"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (None if there is none)."""
    if authorization and authorization.startswith("Bearer "):
        return authorization[len("Bearer "):].strip() or None
    return None


def bearer_refusal(expected: str | None, authorization: str | None) -> tuple[int, str] | None:
    """None when ``authorization`` carries ``expected``; else the HTTP status and reason to refuse with.

    403 when the controller has no token at all (changes disabled), 401 for a missing or wrong one.
    """
    if expected is None:
        return 403, NO_TOKEN_FILE
    given = bearer_token(authorization)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        return 401, WRONG_TOKEN
    return None
