"""The preview's front door: only its own address, only its own page, bounded bodies.

The preview edits files on the editor's machine, so it must not answer a web page the editor
happens to visit. :class:`Guard` is plain ASGI middleware, checked before any route runs:

* **Host**: only ``127.0.0.1:PORT`` or ``localhost:PORT`` (PORT: the port the server is
  listening on, from the ASGI scope; the bare name when that is 80). A DNS-rebinding page
  reaches the preview with its own name in Host and is refused (403).
* **Origin**: a state-changing request (anything but GET, HEAD, OPTIONS) must carry an
  ``Origin`` that is the preview itself, ``http://`` + one of the hosts above. Browsers send
  it on every cross-site POST; a request without it is refused too (403).
* **Body size**: a declared ``Content-Length`` above ``max_body`` bytes is refused (413)
  before the body is read; a chunked body is read first and cut off the same way.

Nothing refused reaches a route, so nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 5 * 1024 * 1024  # bytes; a whole draft is well under 1 MB
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_NAMES = ("127.0.0.1", "localhost")


def own_hosts(port: int) -> set[str]:
    """Host header values that name the preview listening on ``port``."""
    hosts = {f"{name}:{port}" for name in LOCAL_NAMES}
    if port == 80:
        hosts |= set(LOCAL_NAMES)
    return hosts


async def _refuse(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"ok": False, "reason": reason, "problems": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware enforcing the module docstring's three rules around ``app``."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        server = scope.get("server") or ("", 0)
        allowed = own_hosts(int(server[1] or 0))
        if headers.get("host", "").lower() not in allowed:
            await _refuse(send, 403, "the preview answers only at its own address")
            return
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin", "").lower()
            if origin.removeprefix("http://") not in allowed or not origin.startswith("http://"):
                await _refuse(send, 403, "the preview accepts changes only from its own page")
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _refuse(send, 413, f"the request body is over {self.max_body} bytes")
            return
        # Read the whole body first (it is small), so an over-long chunked body is refused
        # before any route sees a byte of it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await _refuse(send, 413, f"the request body is over {self.max_body} bytes")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
