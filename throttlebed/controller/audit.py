"""The audit log of directive changes: one JSON line per record (time, who, what, digest).

A change is written twice: an intent record before anything is stored or sent (``"phase": "intent"``)
and a result record once it is known what happened (``"phase": "result"``, ``"outcome"``); both carry
the same ``"change"`` id. The file is created mode 0600, each line synced to disk.

A token is named by ``token_id``: the first 12 hex digits of HMAC-SHA256(key, token). Without the key
the id tells nothing about the token (a bare hash could be checked against guesses offline). The key
is random per process unless ``use_token_id_key`` installs a kept one (the launcher, given a token
file and an audit log, keeps it in ``<audit-log>.key``, mode 0600): ids are comparable across
restarts exactly as long as that key file is kept; a new key names the same token differently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from throttlebed.errors import InputError
from throttlebed.fileio import create_private_text, fsync_path, read_private_text

_token_id_key = secrets.token_bytes(32)  # until use_token_id_key installs a kept one


def token_id(token: str | None) -> str | None:
    """A short, non-secret name for a token: the first 12 hex digits of its HMAC-SHA256 (see module)."""
    if not token:
        return None
    return hmac.new(_token_id_key, token.encode(), hashlib.sha256).hexdigest()[:12]


def use_token_id_key(key: bytes) -> None:
    """Name tokens with ``key`` from now on (process-wide)."""
    global _token_id_key
    if len(key) < 16:
        raise ValueError("a token id key needs at least 16 bytes")
    _token_id_key = key


def token_id_key_file(audit_log: str | Path) -> Path:
    """Where the key of an audit log's token ids is kept: beside it, ``<audit-log>.key``."""
    p = Path(audit_log)
    return p.with_name(p.name + ".key")


def load_token_id_key(path: str | Path) -> bytes:
    """The key kept in ``path`` (64 hex digits, a private file), made there first if there is none."""
    p = Path(path)
    if not p.exists():
        create_private_text(p, secrets.token_hex(32) + "\n")  # loses a race harmlessly: read below
    text = read_private_text(p).strip()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise InputError("not a token id key (64 hex digits); remove it to make a new one", source=str(p))
    return bytes.fromhex(text)


def audit_record(action: str, who: dict[str, Any], digest: str | None,
                 previous_digest: str | None = None, detail: dict[str, Any] | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """One audit entry as plain data."""
    rec: dict[str, Any] = {
        "time": (now or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "who": who,
        "action": action,
        "digest": digest,
        "previous_digest": previous_digest,
    }
    if detail:
        rec.update(detail)
    return rec


class AuditLog:
    """Appends JSON lines to a file (mode 0600, synced each time); keeps them in memory too."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        """Write one entry."""
        line = json.dumps(record, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self.records.append(record)
            if self.path is None:
                return
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            if created:
                fsync_path(self.path.parent)

    def intent(self, action: str, who: dict[str, Any], digest: str | None,
               previous_digest: str | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the intent record of a change before making it; returns it, for ``result``."""
        record = audit_record(action, who, digest, previous_digest,
                              {**(detail or {}), "phase": "intent", "change": uuid.uuid4().hex[:16]})
        self.append(record)
        return record

    def result(self, intent: dict[str, Any], outcome: str,
               detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write what became of the change ``intent`` announced (e.g. ``applied``, ``rolled-back``)."""
        record = audit_record(intent["action"], intent["who"], intent["digest"], intent["previous_digest"],
                              {**(detail or {}), "phase": "result", "change": intent.get("change"),
                               "outcome": outcome})
        self.append(record)
        return record
