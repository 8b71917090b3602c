"""Audit log and token file: private files, intent and result records, keyed token ids."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tests.cli_util import run_cli
from tests.controller_util import API_TOKEN as TOKEN
from tests.controller_util import ONE_REGION as DATA
from tests.controller_util import ONE_REGION_STAGE_90, http_text, write_token_file
from throttlebed.controller.api import serve_api
from throttlebed.controller.audit import (
    AuditLog,
    audit_record,
    load_token_id_key,
    token_id,
    token_id_key_file,
    use_token_id_key,
)
from throttlebed.controller.launcher import LaunchOptions, build_state
from throttlebed.errors import InputError


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_file_is_created_private_and_keeps_intent_and_result(tmp_path):
    log = AuditLog(tmp_path / "logs" / "audit.jsonl")
    who = {"client": "10.0.0.1", "token_id": "abc"}
    intent = log.intent("put-directive", who, "new-digest", "old-digest", {"rows": 3})
    log.result(intent, "rolled-back", {"failed_switches": ["0x1075"]})
    log.append(audit_record("put-directive", who, "d", None, {"phase": "intent"}))  # the plain way
    assert (tmp_path / "logs" / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    first, second, third = _lines(tmp_path / "logs" / "audit.jsonl")
    assert first["phase"] == "intent" and first["rows"] == 3 and "outcome" not in first
    assert second["phase"] == "result" and second["outcome"] == "rolled-back"
    assert second["failed_switches"] == ["0x1075"]
    assert first["change"] == second["change"] and len(first["change"]) == 16
    for key in ("action", "who", "digest", "previous_digest"):
        assert first[key] == second[key]
    assert third["phase"] == "intent" and "change" not in third
    assert log.records == [first, second, third]


def test_token_id_is_keyed(tmp_path):
    key_file = tmp_path / "audit.jsonl.key"
    key = load_token_id_key(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key) == 32
    assert load_token_id_key(key_file) == key  # kept: a restart names tokens the same way
    use_token_id_key(key)
    assert token_id(TOKEN) == hmac.new(key, TOKEN.encode(), hashlib.sha256).hexdigest()[:12]
    assert token_id(TOKEN) != hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert token_id(None) is None and token_id(TOKEN) != token_id(TOKEN + "x")
    use_token_id_key(bytes(32))
    assert token_id(TOKEN) != hmac.new(key, TOKEN.encode(), hashlib.sha256).hexdigest()[:12]


def test_a_token_id_key_file_that_is_not_private_or_not_a_key_is_refused(tmp_path):
    key_file = tmp_path / "k"
    load_token_id_key(key_file)
    key_file.chmod(0o640)
    with pytest.raises(InputError, match=r"k: group or others may open it \(mode 0640\)"):
        load_token_id_key(key_file)
    key_file.write_text("not hex\n")
    key_file.chmod(0o600)
    with pytest.raises(InputError, match="not a token id key"):
        load_token_id_key(key_file)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_token_file_others_may_open_is_refused(tmp_path, mode):
    token = write_token_file(tmp_path / "token")
    token.chmod(mode)
    res = run_cli("controller", "--token-file", str(token), "--api", "127.0.0.1:1")
    assert res.code == 2
    assert res.err.strip().count("\n") == 0
    assert f"{token}: group or others may open it (mode {mode:04o})" in res.err
    assert f"chmod 600 {token}" in res.err


def test_started_controller_audits_with_the_kept_key(tmp_path):
    """Through the launcher: intent and result of a PUT as core writes them, ids from the kept key."""
    write_token_file(tmp_path / "token")
    (tmp_path / "d.json").write_text(json.dumps(DATA))
    audit = tmp_path / "audit.jsonl"
    opts = LaunchOptions(directive=str(tmp_path / "d.json"), token_file=str(tmp_path / "token"),
                         audit_log=str(audit), clock_start="2026-03-02T12:00")
    state = build_state(opts)
    key = bytes.fromhex(token_id_key_file(audit).read_text())
    server = serve_api(state, "127.0.0.1", 0)
    try:
        status, _ = http_text(f"http://127.0.0.1:{server.server_address[1]}", "PUT", "/directive",
                              ONE_REGION_STAGE_90, token=TOKEN)
        assert status == 200
    finally:
        server.shutdown()
    assert audit.stat().st_mode & 0o777 == 0o600
    assert token_id_key_file(audit).stat().st_mode & 0o777 == 0o600
    records = _lines(audit)
    assert records and all(r["who"]["token_id"] == hmac.new(key, TOKEN.encode(), hashlib.sha256)
                           .hexdigest()[:12] for r in records)
    assert TOKEN not in audit.read_text()
    state2 = build_state(opts)  # a restart keeps the key, so the same token has the same id
    assert state2 is not state and token_id(TOKEN) == records[0]["who"]["token_id"]


def test_no_key_file_without_a_token(tmp_path):
    audit = tmp_path / "audit.jsonl"
    build_state(LaunchOptions(audit_log=str(audit), clock_start="2026-03-02T12:00"))
    assert not token_id_key_file(audit).exists()
