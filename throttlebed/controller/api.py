"""The controller's HTTP API (stdlib ``http.server`` in a thread; os-ken's native hub is threads).

GET /directive, /plan, /stats, /metrics, /health; PUT /directive with ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from throttlebed.controller.state import ApiReply, ControllerState
from throttlebed.errors import InputError

MAX_BODY_BYTES = 4 * 1024 * 1024


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port)."""
    s = str(text).strip()
    host, sep, port = s.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)", where="--api")
    return host.strip("[]"), int(port)


class _Handler(BaseHTTPRequestHandler):
    server_version = "throttlebed-controller"
    protocol_version = "HTTP/1.1"
    state: ControllerState  # set on the subclass made by serve_api

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: str | bytes, ctype: str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, reply: ApiReply) -> None:
        self._send(reply.status, json.dumps(reply.body, indent=2) + "\n", "application/json")

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        views = {"/directive": self.state.directive_view, "/plan": self.state.plan_view,
                 "/stats": self.state.stats_view, "/health": self.state.health}
        try:
            if path == "/metrics":
                self._send(200, self.state.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif path in views:
                self._json(ApiReply(200, views[path]()))
            else:
                self._json(ApiReply(404, {"error": f"no such resource {path}",
                                          "resources": sorted([*views, "/metrics"])}))
        except Exception as e:  # a broken view must not kill the server thread
            self._json(ApiReply(500, {"error": f"{type(e).__name__}: {e}"}))

    def do_PUT(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/directive":
            self._json(ApiReply(405 if path in ("/plan", "/stats", "/metrics", "/health") else 404,
                                {"error": f"PUT is only for /directive, not {path}"}))
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._json(ApiReply(400, {"error": "a Content-Length of at most 4 MiB is required"}))
            return
        body = self.rfile.read(length)
        client = self.client_address[0] if self.client_address else "?"
        try:
            reply = self.state.put_directive(body, client, self.headers.get("Authorization"))
        except Exception as e:
            reply = ApiReply(500, {"error": f"{type(e).__name__}: {e}"})
        self._json(reply)



def serve_api(state: ControllerState, host: str, port: int) -> ThreadingHTTPServer:
    """Start the API in a daemon thread; raises OSError if the address cannot be bound."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="throttlebed-api", daemon=True).start()
    return server
