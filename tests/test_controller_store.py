"""``--directive-store``: an accepted PUT survives a restart; a PUT that cannot be kept changes nothing."""

from __future__ import annotations

import json

from tests.cli_util import run_cli
from tests.controller_util import API_TOKEN as TOKEN
from tests.controller_util import ONE_REGION as DATA
from tests.controller_util import ONE_REGION_STAGE_90 as STAGE_90
from tests.controller_util import http_text, write_token_file
from throttlebed.controller.api import serve_api
from throttlebed.controller.launcher import LaunchOptions, build_state, record_start
from throttlebed.directive.schema import directive_from_data, load_directive


def _start(tmp_path, **options):
    write_token_file(tmp_path / "token", TOKEN)
    opts = LaunchOptions(token_file=str(tmp_path / "token"), audit_log=str(tmp_path / "audit.jsonl"),
                         clock_start="2026-03-02T12:00", **options)
    state = build_state(opts)
    server = serve_api(state, "127.0.0.1", 0)
    record_start(state, options.get("directive"))
    return state, server, f"http://127.0.0.1:{server.server_address[1]}"


def _audit(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_put_is_kept_and_a_restart_starts_from_it(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps(DATA))
    store = tmp_path / "kept" / "active.json"
    state, server, base = _start(tmp_path, directive=str(tmp_path / "d.json"), directive_store=str(store))
    try:
        start_digest = directive_from_data(DATA).digest()
        assert load_directive(store).digest() == start_digest  # the store holds the starting directive
        status, _ = http_text(base, "PUT", "/directive", STAGE_90, token=TOKEN)
        assert status == 200
    finally:
        server.shutdown()
    new_digest = directive_from_data(STAGE_90).digest()
    assert load_directive(store).digest() == new_digest
    assert [(r["action"], r.get("phase"), r.get("stored")) for r in _audit(tmp_path)] == [
        ("load-directive", None, None), ("put-directive", "intent", None),
        ("put-directive", "result", str(store))]

    restarted, server, _ = _start(tmp_path, directive_store=str(store))
    server.shutdown()
    assert restarted.directive.digest() == new_digest
    assert restarted.directive.rows[0].cap_kbps == 4000
    assert _audit(tmp_path)[-1]["file"] == str(store)


def test_put_that_cannot_be_kept_changes_nothing(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps(DATA))
    store = tmp_path / "kept" / "active.json"
    state, server, base = _start(tmp_path, directive=str(tmp_path / "d.json"), directive_store=str(store))
    try:
        store.unlink()
        store.parent.rmdir()
        store.parent.write_text("a file where the store's folder was\n")
        status, text = http_text(base, "PUT", "/directive", STAGE_90, token=TOKEN)
    finally:
        server.shutdown()
    assert status == 500
    assert json.loads(text)["error"].startswith(f"{store}: cannot keep the directive")
    assert state.directive.digest() == directive_from_data(DATA).digest()
    assert [(r["action"], r.get("phase"), r.get("outcome")) for r in _audit(tmp_path)] == [
        ("load-directive", None, None), ("put-directive", "intent", None),
        ("put-directive", "result", "not-stored")]


def test_without_a_directive_and_an_empty_store_the_controller_only_counts(tmp_path):
    state, server, _ = _start(tmp_path, directive_store=str(tmp_path / "active.json"))
    server.shutdown()
    assert state.directive is None
    assert not (tmp_path / "active.json").exists()


def test_a_store_path_that_cannot_be_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x\n")
    not_a_folder = f"{tmp_path / 'plain'} is not a folder"
    for option, path, message in (("--directive-store", tmp_path, "is a directory"),
                                  ("--directive-store", tmp_path / "plain" / "active.json", not_a_folder),
                                  ("--audit-log", tmp_path / "plain" / "audit.jsonl", not_a_folder),
                                  ("--stats-out", tmp_path / "plain" / "x" / "stats.csv", not_a_folder)):
        # the missing token file is checked after these: were a path let through, this still stops
        missing_token = str(tmp_path / "none")
        result = run_cli("controller", option, str(path), "--token-file", missing_token)
        assert result.code == 2, result
        assert len(result.err.strip().splitlines()) == 1 and option in result.err, result.err
        assert message in result.err, result.err
