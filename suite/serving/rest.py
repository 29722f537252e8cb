"""TF Serving's REST API over the standard library's threaded HTTP server.

Routes (TF Serving's `http_rest_api_util.cc`, case-insensitive like its regular
expressions):

    GET  /v1/models/{name}[/versions/{v}]             status (GetModelStatusResponse JSON)
    GET  /v1/models/{name}[/versions/{v}]/metadata    signature defs (GetModelMetadataResponse)
    POST /v1/models/{name}[/versions/{v}]:predict     row ("instances") or columnar ("inputs")
    GET  /healthz                                     200 while serving, 503 while draining
    GET  /metrics                                     Prometheus text

Every error is `{"error": "..."}` with TF Serving's HTTP status for its code. Connections
are kept alive (HTTP/1.1) with one thread each, replies go out in one write with Nagle's
algorithm off: measured, that keeps a small predict within about a millisecond of the
in-process call (`benchmarks/serving.py`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from suite.serving import protos, tensors
from suite.serving.errors import ServingError, invalid
from suite.serving.model_manager import check_name, parse_version

log = logging.getLogger(__name__)

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE)
_MODEL = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/([^/:]+)|/labels/([^/:]+))?(/metadata)?",
    re.IGNORECASE)
_JSON = "application/json"


class RestServer(ThreadingHTTPServer):
    """The REST front end: a thread per connection, keep-alive, graceful draining.

    Args:
        address: `(host, port)`; port 0 picks a free one (see `server_address`).
        manager: the `ModelManager` whose models it serves.
        metrics: the `Metrics` it counts requests in.
        max_request_bytes: the largest request body accepted; larger ones get 413.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, manager, metrics, max_request_bytes: int):
        self.manager, self.metrics = manager, metrics
        self.max_request_bytes = max_request_bytes
        self.draining = False
        self._lock = threading.Condition()
        self._connections: set[_Handler] = set()
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def drain(self, timeout: float) -> bool:
        """Stops accepting, closes idle connections and waits for requests in flight.

        Must be called from a thread other than the one in `serve_forever`.

        Returns:
            True if every request in flight finished within `timeout` seconds.
        """
        self.shutdown()
        self.socket.close()
        deadline = time.monotonic() + timeout
        with self._lock:
            self.draining = True
            for handler in self._connections:
                if not handler.busy:
                    handler.hang_up()
            while any(h.busy for h in self._connections):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "suite-serve"
    busy = False

    def setup(self):
        super().setup()
        with self.server._lock:
            self.server._connections.add(self)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server._lock:
                self.server._connections.discard(self)
                self.server._lock.notify_all()

    def hang_up(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def handle_expect_100(self):
        if self._too_large(sent=False):
            return False
        return super().handle_expect_100()

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        server = self.server
        with server._lock:
            self.busy = True
        start = time.perf_counter()
        self.route = ("", None)
        status = 500
        try:
            if self._too_large():
                status = 413
                return
            path = self.path.split("?", 1)[0]
            try:
                body = self._body()
                if path == "/healthz" and method == "GET":
                    status, reply, kind = ((503, b"draining\n", "text/plain") if server.draining
                                           else (200, b"ok\n", "text/plain"))
                elif path == "/metrics" and method == "GET":
                    status, reply, kind = 200, server.metrics.render(), server.metrics.content_type
                elif not path.lower().startswith("/v1/"):
                    status, reply, kind = 404, _error(f"Not found: {method} {path}"), _JSON
                else:
                    status, reply, kind = 200, self._api(method, path, body), _JSON
            except ServingError as e:
                status, reply, kind = e.http_status, _error(e.message), _JSON
            self._reply(status, reply, kind)
        except Exception:
            log.exception("REST %s %s failed", method, self.path)
            status = 500
            self._reply(500, _error("internal error; the server log has the details"), _JSON)
        finally:
            model, api = self.route
            if api:
                known = server.manager.has(model)
                server.metrics.observe(model if known else "", api, "rest", str(status),
                                       time.perf_counter() - start)
            with server._lock:
                self.busy = False
                if server.draining:
                    self.close_connection = True
                server._lock.notify_all()

    def _api(self, method: str, path: str, body: bytes) -> bytes:
        manager = self.server.manager
        match = _PREDICT.fullmatch(path) if method == "POST" else None
        if match:
            name, version, label, verb = match.groups()
            name = unquote(name)
            self.route = (name, verb.lower())
            check_name(name)
            version = _version(version, label)
            if verb.lower() != "predict":
                raise ServingError("UNIMPLEMENTED",
                                   f"{verb} is not served (the exports have predict "
                                   f"signatures): POST .../{name}:predict")
            return self._predict(name, version, body)
        match = _MODEL.fullmatch(path) if method == "GET" else None
        if not match:
            raise invalid(f"Malformed request: {method} {path}")
        name, version, label, metadata = match.groups()
        if not name:
            raise invalid("Missing model name in request.")
        name = unquote(name)
        self.route = (name, "metadata" if metadata else "status")
        check_name(name)
        version = _version(version, label)
        if metadata:
            servable = manager.get(name, version)
            reply = protos.metadata_json(protos.metadata_response(servable))
        else:
            reply = protos.status_json(protos.status_response(manager.status(name, version)))
        return json.dumps(reply, indent=1).encode()

    def _predict(self, name: str, version: int | None, body: bytes) -> bytes:
        request = tensors.parse_request(body)
        servable = self.server.manager.get(name, version)
        signature_name = request.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise invalid("'signature_name' must be a string; got "
                          f"{json.dumps(signature_name)[:80]}")
        key = servable.signature(signature_name)
        feeds, format = tensors.feeds_from_json(request, servable.inputs[key])
        servable.check(key, feeds)
        return tensors.reply_json(servable.predict(key, feeds), format)

    def _length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        if not value.isdigit():
            raise invalid(f"Content-Length: got {value[:30]!r}, expected a number of bytes")
        return int(value)

    def _too_large(self, sent: bool = True) -> bool:
        """Answers 413 (and ends the connection) for a body over the limit; `sent`: the
        client sends the body without waiting for `100 Continue`."""
        try:
            length = self._length()
        except ServingError:
            return False  # _body() reports it
        limit = self.server.max_request_bytes
        if length is None or length <= limit:
            return False
        self.close_connection = True
        self._reply(413, _error(f"the request body has {length} bytes; this server takes at "
                                f"most {limit} (--max-request-mb)"), _JSON)
        if sent:
            self._discard(length)
        return True

    def _discard(self, length: int) -> None:
        """Reads what the client is still sending (up to a bound), so that closing the
        connection does not reset it before the client reads the reply."""
        self.connection.settimeout(2)
        left = min(length, 4 * self.server.max_request_bytes)
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _body(self) -> bytes:
        """The request body (empty without Content-Length), read whatever the route, so
        the connection stays in step for the next request."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise invalid("chunked request bodies are not supported: send Content-Length")
        try:
            length = self._length()
        except ServingError:
            self.close_connection = True
            raise
        if not length:
            return b""
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise invalid(f"the request body ended after {len(body)} of {length} bytes")
        return body

    def _reply(self, status: int, body: bytes, kind: str) -> None:
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                f"Content-Type: {kind}", f"Content-Length: {len(body)}",
                f"Date: {self.date_time_string()}", f"Server: {self.server_version}"]
        if self.close_connection or self.server.draining:
            head.append("Connection: close")
            self.close_connection = True
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _version(version: str | None, label: str | None) -> int | None:
    if label is not None:
        raise invalid(f"Unrecognized servable version label: {unquote(label)[:64]} (version "
                      "labels are not configured; use /versions/<number>)")
    return None if version is None else parse_version(version)


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
