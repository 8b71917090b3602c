"""The HTTP API over a real socket (no switch needed): auth, validation, audit, views."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.controller_util import API_TOKEN as TOKEN
from tests.controller_util import ONE_REGION as DATA
from tests.controller_util import ONE_REGION_STAGE_90, http_text
from throttlebed.controller.api import parse_listen, serve_api
from throttlebed.controller.audit import AuditLog, token_id
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.state import ControllerState, Settings
from throttlebed.directive.schema import directive_from_data
from throttlebed.errors import InputError


@pytest.fixture
def api(tmp_path):
    def make(token):
        st = ControllerState(Settings(rate_scale=0.5), EmulatedClock(datetime(2026, 3, 1, 12), 0.0),
                             RegionMap(), directive_from_data(DATA), token=token,
                             audit=AuditLog(tmp_path / "audit.jsonl"))
        server = serve_api(st, "127.0.0.1", 0)
        servers.append(server)
        return st, f"http://127.0.0.1:{server.server_address[1]}"
    servers: list = []
    yield make
    for s in servers:
        s.shutdown()


def test_put_needs_the_right_token_and_nothing_changes_otherwise(api, tmp_path):
    st, base = api(TOKEN)
    before = st.directive.digest()
    new = ONE_REGION_STAGE_90
    assert http_text(base, "PUT", "/directive", new)[0] == 401
    assert http_text(base, "PUT", "/directive", new, token="wrong-token-xyz")[0] == 401
    assert st.directive.digest() == before
    assert not (tmp_path / "audit.jsonl").exists()
    bad = dict(DATA, rows=[dict(DATA["rows"][0], cap_kbps=50000)])
    status, text = http_text(base, "PUT", "/directive", bad, token=TOKEN)
    assert status == 400
    assert json.loads(text)["error"] == "request body: rows[0]: cap_kbps 50000 is above peak_kbps 40000"
    assert http_text(base, "PUT", "/directive", ["x"], token=TOKEN)[0] == 400
    status, text = http_text(base, "PUT", "/directive", dict(DATA, platform_prefixes=[]), token=TOKEN)
    assert status == 400 and "platform_prefixes" in json.loads(text)["error"]
    assert st.directive.digest() == before
    status, text = http_text(base, "PUT", "/directive", new, token=TOKEN)
    assert status == 200
    digest = directive_from_data(new).digest()
    assert json.loads(text)["digest"] == digest == st.directive.digest()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2  # intent before the change, result after it
    intent, result = (json.loads(line) for line in lines)
    for rec in (intent, result):
        assert (rec["action"], rec["digest"], rec["previous_digest"]) == ("put-directive", digest, before)
        assert rec["who"] == {"client": "127.0.0.1", "token_id": token_id(TOKEN)}
    assert intent["phase"] == "intent"
    assert (result["phase"], result["outcome"], result["in_force"]) == ("result", "confirmed", digest)
    assert TOKEN not in "".join(lines)


def test_put_refused_without_token_file(api):
    st, base = api(None)
    assert http_text(base, "PUT", "/directive", DATA, token="anything-at-all")[0] == 403
    assert http_text(base, "DELETE", "/directive", token="anything-at-all")[0] == 403


def test_delete_lifts_the_directive_with_the_token_only(api, tmp_path):
    st, base = api(TOKEN)
    before = st.directive.digest()
    assert http_text(base, "DELETE", "/directive")[0] == 401
    assert http_text(base, "DELETE", "/directive", token="wrong-token-xyz")[0] == 401
    assert st.directive.digest() == before and not (tmp_path / "audit.jsonl").exists()
    status, text = http_text(base, "DELETE", "/directive", token=TOKEN)
    assert status == 200 and json.loads(text)["status"] == "lifted"
    assert st.directive is None
    assert json.loads(http_text(base, "GET", "/directive")[1])["directive"] is None
    recs = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["action"], r["phase"], r["digest"], r["previous_digest"]) for r in recs] == [
        ("lift-directive", "intent", None, before), ("lift-directive", "result", None, before)]
    assert recs[1]["outcome"] == "confirmed" and recs[1]["in_force"] is None
    assert http_text(base, "DELETE", "/plan", token=TOKEN)[0] == 405

def test_get_views(api):
    st, base = api(TOKEN)
    status, text = http_text(base, "GET", "/directive")
    assert status == 200 and json.loads(text)["directive"]["stage"] == 50
    plan = json.loads(http_text(base, "GET", "/plan")[1])
    assert plan["rate_scale"] == 0.5 and "round(cap_kbps * rate_scale)" in plan["rate_formula"]
    assert plan["switches"] == [] and plan["regions_without_switch"] == ["KZ-75"]
    health = json.loads(http_text(base, "GET", "/health")[1])
    assert health["status"] == "ok" and health["switches_connected"] == 0
    status, text = http_text(base, "GET", "/metrics")
    assert status == 200 and "throttlebed_switches_connected 0" in text
    assert json.loads(http_text(base, "GET", "/stats")[1])["latest"] == []
    assert http_text(base, "GET", "/nope")[0] == 404
    assert http_text(base, "PUT", "/plan", {})[0] == 405


def test_parse_listen():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8080", "host:", "h:70000", ":80"):
        with pytest.raises(InputError, match="--api"):
            parse_listen(bad)
