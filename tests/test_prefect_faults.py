"""Transient Prefect API failures during an ingestion, through a fault-injecting proxy.

The proxy stands between podpost and the session's real Prefect server and answers chosen
requests itself: a 503, a 500, or a connection closed without an answer. Prefect's own
client is the one layer that retries them (``flows.prefect_setup``), so no item fails.
With retries turned off, the item the fault hits fails, keeps one readable line in the
ledger, and ``podpost status`` shows it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.fixtures.flows import LINES, publish_show, run_cli, status_rows, write_config


@dataclass
class Fault:
    """Answer the ``nth`` (1-based) request matching ``method`` and ``path`` with ``status``
    (0: close the connection without an answer)."""

    method: str
    path: str  # a regular expression on the path after /api
    nth: int
    status: int
    seen: int = 0
    fired: bool = False


@dataclass
class FaultProxy:
    """A loopback HTTP proxy in front of ``upstream`` that injects :class:`Fault` s."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def fault_for(self, method: str, path: str) -> Fault | None:
        with _LOCK:
            for fault in self.faults:
                if fault.method == method and re.fullmatch(fault.path, path):
                    fault.seen += 1
                    if fault.seen == fault.nth:
                        fault.fired = True
                        return fault
        return None


_LOCK = threading.Lock()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    client = httpx.Client(timeout=60)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _relay(self) -> None:
            """A WebSocket (Prefect's events): the bytes both ways, untouched."""
            host, port = proxy.upstream.split("//")[1].split("/")[0].split(":")
            upstream = socket.create_connection((host, int(port)))
            head = f"{self.command} {self.path} {self.request_version}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "\r\n"
            upstream.sendall(head.encode("latin-1"))

            def pump(src: socket.socket, dst: socket.socket) -> None:
                with contextlib.suppress(OSError):
                    while data := src.recv(65536):
                        dst.sendall(data)
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

            back = threading.Thread(target=pump, args=(upstream, self.connection), daemon=True)
            back.start()
            pump(self.connection, upstream)
            back.join()
            upstream.close()
            self.close_connection = True

        def _forward(self) -> None:
            if self.headers.get("Upgrade", "").lower() == "websocket":
                self._relay()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.removeprefix("/api")
            fault = proxy.fault_for(self.command, path.split("?")[0])
            if fault is not None and fault.status == 0:
                self.close_connection = True  # a reset: no answer at all
                self.connection.shutdown(2)
                return
            if fault is not None:
                payload = b'{"detail": "injected"}'
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            answer = client.request(
                self.command, proxy.upstream + path, content=body, headers=headers
            )
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "content-encoding",
                                        "connection"):  # fmt: skip
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

    return Handler


@pytest.fixture
def fault_proxy(prefect_api) -> Iterator[FaultProxy]:
    proxy = FaultProxy(prefect_api.api_url)
    proxy.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


def _ingest(tmp_path: Path, show, config: Path, env: dict[str, str]) -> tuple[int, dict, str]:
    done = run_cli(
        ["--config", str(config), "--data-dir", str(tmp_path / "data"), "ingest", show.feed_url,
         "--json", "--concurrency", "1"],
        env=env,
        timeout=600,
    )  # fmt: skip
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.mark.slow
def test_transient_prefect_api_errors_fail_no_item(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api, fault_proxy
) -> None:
    show = publish_show(media_server, audio, "prefect-faults", items=2, lines=LINES[:2])
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    fault_proxy.faults = [
        Fault("POST", "/flow_runs/", nth=2, status=503),  # the first item's child flow run
        Fault("POST", "/flow_runs/[^/]+/set_state", nth=3, status=500),
        Fault("POST", "/flow_runs/", nth=3, status=0),  # the second item's: a reset
    ]
    env = {**prefect_api.client_env(), "PREFECT_API_URL": fault_proxy.api_url}
    code, summary, stderr = _ingest(tmp_path, show, config, env)
    assert [f.fired for f in fault_proxy.faults] == [True, True, True]
    assert code == 0, stderr
    assert (summary["new"], summary["failed"]) == (2, 0)


@pytest.mark.slow
def test_an_item_failed_by_the_prefect_api_is_one_line_and_shown_by_status(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api, fault_proxy
) -> None:
    show = publish_show(media_server, audio, "prefect-fails", items=1, lines=LINES[:2])
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    fault_proxy.faults = [Fault("POST", "/flow_runs/", nth=2, status=503)]
    env = {
        **prefect_api.client_env(),
        "PREFECT_API_URL": fault_proxy.api_url,
        "PREFECT_CLIENT_MAX_RETRIES": "0",  # the one retry layer off: the 503 fails the item
    }
    code, summary, _stderr = _ingest(tmp_path, show, config, env)
    assert code == 1
    [item] = summary["items"]
    assert item["state"] == "failed"
    expected = (
        "a request to the Prefect API failed (HTTP 503 Service Unavailable for POST "
        f"{fault_proxy.api_url}/flow_runs/); check that the server answers (PREFECT_API_URL) "
        "and rerun: finished steps are kept"
    )
    assert item["error"] == expected
    with sqlite3.connect(tmp_path / "data" / "state.sqlite3") as db:
        assert db.execute("SELECT state, error FROM items").fetchall() == [("failed", expected)]
    [row] = status_rows(tmp_path / "data")
    assert (row["id"], row["state"], row["source"], row["error"]) == (
        None,
        "failed",
        show.feed_url,
        expected,
    )
