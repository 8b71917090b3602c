"""The audit log of directive changes: one JSON line per change (time, who, what, digest)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def token_id(token: str | None) -> str | None:
    """A short, non-secret name for a token: the first 12 hex digits of its SHA-256."""
    if not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:12]


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
    """Appends JSON lines to a file (flushed and synced each time); keeps them in memory too."""

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
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
