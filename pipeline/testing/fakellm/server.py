"""The fake endpoint over HTTP: a threaded server on 127.0.0.1 that the real client calls.

Routes: ``POST .../chat/completions`` (answered by :meth:`FakeLLM.chat`), ``GET /v1/models``,
``GET /_requests`` (the log as JSON) and ``DELETE /_requests`` (clear it).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.testing.fakellm.core import FakeLLM, err_body


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/") == "/_requests":
            self._send(200, fake.requests())
        elif self.path.rstrip("/") in ("/v1/models", "/models"):
            names = sorted(fake.models) if fake.models else ["fake"]
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": n, "object": "model", "owned_by": "podpost"} for n in names],
                },
            )
        else:
            self._send(404, err_body(f"no route {self.path}", None))

    def do_DELETE(self) -> None:
        if self.path.rstrip("/") == "/_requests":
            self.server.fake.clear_log()
            self._send(200, {"ok": True})
        else:
            self._send(404, err_body(f"no route {self.path}", None))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, err_body(f"no route {self.path}", None))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, err_body("request body is not JSON", None))
            return
        fake = self.server.fake
        with fake._lock:
            fake._in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
        try:
            status, headers, payload, delay = fake.chat(body, dict(self.headers))
            if delay:
                time.sleep(delay)
            if status == 0:  # FakeReply.dropped(): hang up without an answer
                self.close_connection = True
                return
            self._send(status, payload, headers)
        finally:
            with fake._lock:
                fake._in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeLLM) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class FakeServer:
    """The fake on a port (0: any free one), in a background thread or this one.

    ``fake`` is the :class:`FakeLLM` that answers (a new one by default); use as a context
    manager in tests: ``with FakeServer() as server: ... server.base_url``.
    """

    def __init__(self, fake: FakeLLM | None = None, host: str = "127.0.0.1", port: int = 0):
        self.fake = fake or FakeLLM()
        self._server = _Server((host, port), self.fake)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the free one it was given)."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, what ``[llm] base_url`` should be."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeServer:
        """Serve in a daemon thread; returns self."""
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, then close the socket."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket (waits up to 5 s for the thread)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
