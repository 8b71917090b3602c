"""The controller's HTTP API: GET /directive, /plan, /stats, /metrics, /health; PUT and DELETE /directive.

PUT and DELETE need ``Authorization: Bearer``; they answer 200 once every switch confirmed, 502
when a switch did not and the previous directive is back in force.

Built to stay answerable when clients are slow or hostile (stdlib only):

- one thread accepts connections and gathers each request head without blocking; a head not complete
  within ``timeout_s`` of the connection is answered 408 and closed, so half-sent requests hold no worker;
  past ``max_connections`` the connection waited for longest is closed (503) to make room;
- complete requests are answered by a bounded pool of ``workers`` threads (at most ``max_queued`` more
  wait their turn, beyond that 503); the same per-connection timeout bounds every read and write there;
- on PUT and DELETE the ``Authorization`` header is checked before a byte of the body is read
  (401/403 at once, ``Expect: 100-continue`` answered only to an authorized client), then the
  declared length (411, 400, 413 above ``max_body_bytes``);
- one request per connection (``Connection: close``); after the answer the connection is half-closed
  and whatever the client still sends is discarded for a moment by the accepting thread, so an error
  answer reaches the client instead of a reset.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from throttlebed.controller.auth import bearer_refusal
from throttlebed.controller.state import ApiReply, ControllerState
from throttlebed.errors import InputError

LOG = logging.getLogger("throttlebed.controller.api")
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ApiLimits:
    """How much the API gives any client."""

    timeout_s: float = 10.0  # to send a request head; and for each read or write after it
    workers: int = 4  # threads answering complete requests
    max_queued: int = 32  # complete requests waiting for a worker; beyond: 503
    max_connections: int = 256  # connections sending their head (or lingering); beyond: oldest closed
    max_head_bytes: int = 32 * 1024  # request line and headers; beyond: 431
    max_body_bytes: int = MAX_BODY_BYTES  # beyond: 413
    linger_s: float = 2.0  # after an answer, how long what the client still sends is discarded


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port)."""
    s = str(text).strip()
    host, sep, port = s.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)", where="--api")
    return host.strip("[]"), int(port)


class _HeadThenSocket(io.RawIOBase):
    """Reads the bytes already gathered, then the socket (whose timeout bounds each read)."""

    def __init__(self, head: bytes, sock: socket.socket):
        self._head = memoryview(head)
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._sock.recv_into(buf)


def _error_bytes(status: int, message: str) -> bytes:
    """A whole small error answer, for the accepting thread to send without a handler."""
    body = (json.dumps({"error": message}) + "\n").encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class _Handler(BaseHTTPRequestHandler):
    server_version = "throttlebed-controller"
    protocol_version = "HTTP/1.1"
    state: ControllerState  # set on the subclass made by serve_api
    limits: ApiLimits

    def setup(self) -> None:
        sock, head = self.request  # the accepting thread already read the head (and maybe more)
        self.connection = sock
        self.rfile = io.BufferedReader(_HeadThenSocket(head, sock))
        self.wfile = sock.makefile("wb")

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()  # one request per connection

    def handle_expect_100(self) -> bool:
        return True  # "100 Continue" only once the request is authorized (see _read_body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: str | bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, reply: ApiReply, headers: dict[str, str] | None = None) -> None:
        self._send(reply.status, json.dumps(reply.body, indent=2) + "\n", "application/json", headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a bad request line, an unknown method) as JSON like ours."""
        self.close_connection = True
        self.request_version = self.protocol_version  # a status line even before the version was read
        self._json(ApiReply(code, {"error": message or HTTPStatus(code).phrase}))

    def _method_not_allowed(self) -> None:
        self._json(ApiReply(405, {"error": f"{self.command} is not a method of this API: GET, and PUT or "
                                           "DELETE on /directive"}), {"Allow": "GET, PUT, DELETE"})

    do_POST = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = _method_not_allowed

    def _error(self, status: int, message: str) -> None:
        self._json(ApiReply(status, {"error": message}),
                   {"WWW-Authenticate": 'Bearer realm="throttlebed"'} if status == 401 else None)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        views = {"/directive": self.state.directive_view, "/plan": self.state.plan_view,
                 "/stats": self.state.stats_view, "/health": self.state.health,
                 "/period-switches": self.state.period_switches_view}
        try:
            if path == "/metrics":
                self._send(200, self.state.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif path in views:
                self._json(ApiReply(200, views[path]()))
            else:
                self._json(ApiReply(404, {"error": f"no such resource {path}",
                                          "resources": sorted([*views, "/metrics"])}))
        except Exception as e:  # a broken view must not kill the worker
            self._json(ApiReply(500, {"error": f"{type(e).__name__}: {e}"}))

    def _authorized(self) -> bool:
        """Check the bearer token (headers only, nothing of the body read); answer if refused."""
        refusal = bearer_refusal(self.state.token, self.headers.get("Authorization"))
        if refusal is not None:
            self._error(*refusal)
            return False
        return True

    def _read_body(self) -> bytes | None:
        """The body of an authorized request, within the limits; None once answered (or gone)."""
        if self.headers.get("Transfer-Encoding"):
            self._error(411, "send the body with a Content-Length (no Transfer-Encoding)")
            return None
        text = self.headers.get("Content-Length")
        if text is None:
            self._error(411, "a Content-Length is required")
            return None
        if not (text.strip().isascii() and text.strip().isdigit()):  # "²" is a digit to Python
            self._error(400, f"Content-Length {text!r} is not a byte count")
            return None
        length = int(text)
        if length > self.limits.max_body_bytes:
            self._error(413, f"the body may have at most {self.limits.max_body_bytes} bytes, "
                             f"{length} were announced")
            return None
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
            self.wfile.flush()
        deadline = time.monotonic() + self.limits.timeout_s
        body = bytearray()
        try:
            while len(body) < length:
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    raise TimeoutError
                self.connection.settimeout(left_s)
                chunk = self.rfile.read1(min(length - len(body), 64 * 1024))
                if not chunk:
                    return None  # the client gave up: nobody to answer
                body += chunk
        except TimeoutError:
            self._error(408, f"the body did not arrive within {self.limits.timeout_s:g} s")
            return None
        finally:
            self.connection.settimeout(self.limits.timeout_s)
        return bytes(body)

    def _not_directive(self) -> bool:
        """Answer 405/404 unless the request is for /directive (the only resource that changes)."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/directive":
            return False
        readable = ("/plan", "/stats", "/metrics", "/health", "/period-switches")
        self._json(ApiReply(405 if path in readable else 404,
                            {"error": f"{self.command} is only for /directive, not {path}"}))
        return True

    def do_PUT(self) -> None:  # noqa: N802 - stdlib name
        if self._not_directive():
            return
        if not self._authorized():
            return
        body = self._read_body()
        if body is None:
            return
        client = self.client_address[0] if self.client_address else "?"
        try:
            reply = self.state.put_directive(body, client, self.headers.get("Authorization"))
        except Exception as e:
            reply = ApiReply(500, {"error": f"{type(e).__name__}: {e}"})
        self._json(reply)

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib name
        if self._not_directive():
            return
        if not self._authorized():
            return
        client = self.client_address[0] if self.client_address else "?"
        try:
            reply = self.state.delete_directive(client, self.headers.get("Authorization"))
        except Exception as e:
            reply = ApiReply(500, {"error": f"{type(e).__name__}: {e}"})
        self._json(reply)


@dataclass
class _Connection:
    """A connection the accepting thread watches: gathering its head, or lingering after the answer."""

    sock: socket.socket
    address: Any
    deadline: float
    lingering: bool = False
    head: bytearray = field(default_factory=bytearray)
    discarded: int = 0


class ApiServer:
    """The API on ``host:port``: one accepting thread and a bounded pool of workers (see the module)."""

    def __init__(self, handler: type[_Handler], host: str, port: int, limits: ApiLimits):
        self.limits = limits
        self._handler = handler
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=128)
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()[:2]
        self.counters = {"accepted": 0, "head_timeouts": 0, "refused_busy": 0, "evicted": 0}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self.socket, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._returned: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight = 0  # handed to the pool, waiting or answering
        self._answering: set[socket.socket] = set()
        self._closing = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="throttlebed-api")
        self._thread = threading.Thread(target=self._run, name="throttlebed-api", daemon=True)
        self._thread.start()

    # ---- the accepting thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                self._round()
            except Exception:  # the API must outlive any one connection's surprise
                LOG.exception("API: accepting thread")

    def _round(self) -> None:
        now = time.monotonic()
        watched = [k.data for k in self._selector.get_map().values() if k.data is not None]
        wait_s = min((c.deadline for c in watched), default=now + 1.0) - now
        for key, _ in self._selector.select(max(0.0, min(wait_s, 1.0))):
            if key.fileobj is self.socket:
                self._accept()
            elif key.fileobj is self._wake_r:
                self._take_returned()
            elif key.data.sock.fileno() >= 0:  # not closed (evicted) earlier in this round
                self._receive(key.data)
        self._expire(time.monotonic())

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. out of file descriptors: pause rather than spin, then retry
                LOG.warning("API: cannot accept a connection: %s", e)
                self._closing.wait(0.1)
                return
            self.counters["accepted"] += 1
            if len(self._selector.get_map()) - 2 >= self.limits.max_connections:
                self._evict_oldest()
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ,
                                    _Connection(sock, address, time.monotonic() + self.limits.timeout_s))

    def _evict_oldest(self) -> None:
        """Make room for a new connection: close the one that has been waited for longest."""
        conns = [k.data for k in self._selector.get_map().values() if k.data is not None]
        oldest = min(conns, key=lambda c: (not c.lingering, c.deadline))  # lingering ones go first
        if oldest.lingering:
            self._close(oldest)
        else:
            self.counters["evicted"] += 1
            self._refuse(oldest, 503, "too many connections are sending their request; try again")

    def _receive(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(64 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
        elif conn.lingering:
            conn.discarded += len(data)
            if conn.discarded > self.limits.max_body_bytes:
                self._close(conn)
        else:
            conn.head += data
            if b"\r\n\r\n" in conn.head or b"\n\n" in conn.head:
                self._dispatch(conn)
            elif len(conn.head) > self.limits.max_head_bytes:
                self._refuse(conn, 431, f"the request head may have at most "
                                        f"{self.limits.max_head_bytes} bytes")

    def _dispatch(self, conn: _Connection) -> None:
        with self._lock:
            busy = self._in_flight >= self.limits.workers + self.limits.max_queued
            if not busy:
                self._in_flight += 1
        if busy:
            self.counters["refused_busy"] += 1
            self._refuse(conn, 503, "the API is busy; try again")
            return
        self._selector.unregister(conn.sock)
        conn.sock.settimeout(self.limits.timeout_s)
        try:
            self._pool.submit(self._answer, conn.sock, conn.address, bytes(conn.head))
        except RuntimeError:  # shutting down
            conn.sock.close()

    def _refuse(self, conn: _Connection, status: int, message: str) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(_error_bytes(status, message))
        self._close(conn)

    def _expire(self, now: float) -> None:
        for key in list(self._selector.get_map().values()):
            conn = key.data
            if conn is None or conn.deadline > now:
                continue
            if conn.lingering:
                self._close(conn)
            else:
                self.counters["head_timeouts"] += 1
                self._refuse(conn, 408, f"the request head did not arrive within {self.limits.timeout_s:g} s")

    def _close(self, conn: _Connection) -> None:
        self._selector.unregister(conn.sock)
        conn.sock.close()

    def _take_returned(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_r.recv(4096)
        while True:
            try:
                sock = self._returned.get_nowait()
            except queue.Empty:
                return
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ,
                                    _Connection(sock, None, time.monotonic() + self.limits.linger_s,
                                                lingering=True))

    # ---- the workers ----------------------------------------------------------------------

    def _answer(self, sock: socket.socket, address: Any, head: bytes) -> None:
        with self._lock:
            self._answering.add(sock)
        try:
            self._handler((sock, head), address, self)
        except OSError:
            pass  # the client went away or was too slow to read the answer
        except Exception:
            LOG.exception("API: answering %s failed", address)
        finally:
            with self._lock:
                self._answering.discard(sock)
                self._in_flight -= 1
            self._linger(sock)

    def _linger(self, sock: socket.socket) -> None:
        """Half-close and let the accepting thread discard what the client still sends, then close."""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        if self._closing.is_set():
            sock.close()
            return
        self._returned.put(sock)
        try:
            self._wake_w.send(b"x")
        except OSError:
            sock.close()

    # ---- stopping -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop accepting, close every connection, let the workers end (once; later calls do nothing)."""
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        with self._lock:
            for sock in self._answering:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # a worker blocked on it returns at once
        self._pool.shutdown(wait=True, cancel_futures=True)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        while not self._returned.empty():
            self._returned.get_nowait().close()
        self._selector.close()
        self._wake_w.close()


def serve_api(state: ControllerState, host: str, port: int, limits: ApiLimits | None = None) -> ApiServer:
    """Start the API (it runs in its own threads); raises OSError if the address cannot be bound."""
    handler = type("Handler", (_Handler,), {"state": state, "limits": limits or ApiLimits()})
    return ApiServer(handler, host, port, limits or ApiLimits())
