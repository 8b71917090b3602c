"""The API under slow and hostile clients, over real loopback sockets: timeouts, bounded threads, limits."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from datetime import datetime

import pytest

from tests.controller_util import API_TOKEN as TOKEN
from tests.controller_util import ONE_REGION as DATA
from tests.controller_util import ONE_REGION_STAGE_90, http_text, wait_until
from throttlebed.controller.api import ApiLimits, serve_api
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.state import ControllerState, Settings
from throttlebed.directive.schema import directive_from_data

AUTH = f"Authorization: Bearer {TOKEN}\r\n"


@pytest.fixture
def api():
    servers: list = []

    def make(**limits):
        st = ControllerState(Settings(), EmulatedClock(datetime(2026, 3, 1, 12), 0.0), RegionMap(),
                             directive_from_data(DATA), token=TOKEN)
        server = serve_api(st, "127.0.0.1", 0, ApiLimits(**limits))
        servers.append(server)
        return st, server, server.server_address[1]

    yield make
    for s in servers:
        s.shutdown()


def _connect(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(data)
    return s


def _answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    s.close()
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)  # a byte or an EOF: the server answered or closed
        return False
    except BlockingIOError:
        return True
    finally:
        s.settimeout(30)


def test_half_sent_requests_neither_block_a_get_nor_stay_open(api):
    _, server, port = api(timeout_s=5, workers=2)
    half = [_connect(port, b"GET /health HTTP/1.1\r\nHost: x\r\n") for _ in range(40)]
    wait_until(lambda: server.counters["accepted"] == 40, 10, "40 connections accepted")
    status, text = http_text(f"http://127.0.0.1:{port}", "GET", "/health")
    assert status == 200 and json.loads(text)["status"] == "ok"
    assert all(_still_open(s) for s in half)  # answered while all 40 were still being waited for
    answers = [_answer(s) for s in half]  # each closed by the server after its timeout
    assert {_status(a) for a in answers} == {408}
    assert server.counters["head_timeouts"] == 40


def test_forty_slow_bodies_use_a_bounded_number_of_threads(api):
    before = threading.active_count()
    _, server, port = api(timeout_s=2, workers=4, max_queued=4)
    head = f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 100\r\n\r\n".encode()
    slow = [_connect(port, head + b'{"platform"') for _ in range(40)]
    wait_until(lambda: server.counters["refused_busy"] == 40 - 4 - 4, 10, "32 refused as busy")
    assert threading.active_count() <= before + 1 + 4  # the accepting thread and the pool, not 40
    statuses = sorted(_status(_answer(s)) for s in slow)
    assert statuses == [408] * 8 + [503] * 32
    assert threading.active_count() <= before + 1 + 4
    status, _ = http_text(f"http://127.0.0.1:{port}", "GET", "/plan")
    assert status == 200


def test_unauthorized_put_is_refused_before_its_body_is_read(api):
    st, _, port = api(timeout_s=60)  # a server waiting for the body would answer after a minute
    before = st.directive.digest()
    for auth in ("", "Authorization: Bearer not-the-token\r\n"):
        s = _connect(port, f"PUT /directive HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
                           "Content-Length: 1000000000\r\n\r\n".encode())
        s.settimeout(20)
        answer = _answer(s)  # the answer, then the connection closed
        assert _status(answer) == 401 and b"WWW-Authenticate: Bearer" in answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "missing or wrong bearer token"
    # a client that sends its body anyway gets the answer, not a reset
    s = _connect(port, b"PUT /directive HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n"
                       + b"x" * 300000)
    assert _status(_answer(s)) == 401
    # Expect: 100-continue is not confirmed to an unauthorized client
    s = _connect(port, b"PUT /directive HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 500\r\n\r\n")
    assert _answer(s).startswith(b"HTTP/1.1 401 ")
    assert st.directive.digest() == before


def test_authorized_put_limits(api):
    st, _, port = api(timeout_s=60, max_body_bytes=1000)
    s = _connect(port, f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 1001\r\n\r\n".encode())
    answer = _answer(s)
    assert _status(answer) == 413 and b"at most 1000 bytes, 1001 were announced" in answer
    s = _connect(port, f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
    assert _status(_answer(s)) == 411
    s = _connect(port, f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n0\r\n\r\n".encode())
    assert _status(_answer(s)) == 411
    s = _connect(port, f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: -5\r\n\r\n".encode())
    assert _status(_answer(s)) == 400
    # an authorized client is told to continue, and its directive is taken
    body = json.dumps(ONE_REGION_STAGE_90).encode()
    s = _connect(port, f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}Expect: 100-continue\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode())
    assert s.recv(25).startswith(b"HTTP/1.1 100 Continue\r\n")
    s.sendall(body)
    answer = _answer(s)
    assert b"HTTP/1.1 200 OK\r\n" in answer and b"Connection: close\r\n" in answer
    assert st.directive.digest() == directive_from_data(ONE_REGION_STAGE_90).digest()


def test_past_the_connection_limit_the_longest_waiting_make_room(api):
    _, server, port = api(timeout_s=60, max_connections=10)
    half = [_connect(port, b"GET /health HTTP/1.1\r\n") for _ in range(10)]
    wait_until(lambda: server.counters["accepted"] == 10, 10, "10 connections accepted")
    more = [_connect(port, b"GET /health HTTP/1.1\r\n") for _ in range(5)]
    wait_until(lambda: server.counters["evicted"] == 5, 10, "5 evicted")
    assert [_status(_answer(s)) for s in half[:5]] == [503] * 5  # the oldest five
    status, _ = http_text(f"http://127.0.0.1:{port}", "GET", "/health")
    assert status == 200 and server.counters["evicted"] == 6
    assert all(_still_open(s) for s in half[6:] + more)


def test_oversized_head_and_errors_close_the_connection(api):
    _, _, port = api(max_head_bytes=2048)
    s = _connect(port, b"GET /health HTTP/1.1\r\nX-Padding: " + b"a" * 4096)
    assert _status(_answer(s)) == 431
    s = _connect(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = _answer(s)  # returns only because the server closed the connection
    assert _status(answer) == 404 and b"Connection: close\r\n" in answer
    s = _connect(port, b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(_answer(s)) == 501


def test_shutdown_ends_waiting_and_answering_connections(api):
    before = threading.active_count()
    _, server, port = api(timeout_s=60, workers=2)
    head = f"PUT /directive HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 100\r\n\r\n".encode()
    slow = [_connect(port, head) for _ in range(2)]
    half = [_connect(port, b"GET /") for _ in range(3)]
    wait_until(lambda: server.counters["accepted"] == 5, 10, "5 connections accepted")
    server.shutdown()
    for s in slow + half:
        s.settimeout(20)
        with contextlib.suppress(ConnectionResetError):  # a reset counts too: nothing is left waiting
            _answer(s)  # closed by the server
    assert threading.active_count() <= before


def _put(port: int, body: bytes, length: bytes | None = None) -> tuple[int, dict]:
    head = (b"PUT /directive HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() + b"Content-Length: "
            + (length if length is not None else str(len(body)).encode()) + b"\r\n\r\n")
    answer = _answer(_connect(port, head + body))
    return _status(answer), json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}")


@pytest.mark.parametrize(("body", "words"), [
    (json.dumps(DATA).replace('"peak_kbps": ', '"peak_kbps": Infinity, "_": ', 1), "rows[0]"),
    (json.dumps(dict(DATA, rows=[dict(DATA["rows"][0], peak_kbps=1e400)])), "rows[0].peak_kbps"),
    (json.dumps(dict(DATA, rows=[dict(DATA["rows"][0], cap_kbps=0)])).replace(
        '"cap_kbps": 0', '"cap_kbps": ' + "9" * 5000), "not valid JSON"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
])
def test_put_bodies_that_cannot_be_a_directive_are_400_and_change_nothing(api, body, words):
    st, _, port = api(max_body_bytes=1 << 20)
    before = st.directive
    status, reply = _put(port, body.encode())
    assert status == 400 and words in reply["error"], reply
    assert st.directive == before


def test_a_content_length_of_unicode_digits_is_refused(api):
    _, _, port = api()
    status, reply = _put(port, b"{}", length="\u00b2".encode())
    assert status == 400 and "byte count" in reply["error"]


@pytest.mark.parametrize("method", ["POST", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_405_in_json(api, method):
    _, _, port = api()
    answer = _answer(_connect(port, f"{method} /directive HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
    assert _status(answer) == 405 and b"Allow: GET, PUT, DELETE" in answer
    assert "not a method of this API" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


def test_a_garbled_request_line_is_answered_in_json(api):
    _, _, port = api()
    answer = _answer(_connect(port, b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"))
    assert _status(answer) == 505 and b"application/json" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
