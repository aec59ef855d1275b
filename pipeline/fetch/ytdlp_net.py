"""yt-dlp's networking, routed through podpost's guarded client.

    guarded_ydl(options, config, policy, user_url) -> YoutubeDL

yt-dlp sends every request through a ``RequestDirector`` of ``RequestHandler`` objects
(``yt_dlp.networking``). The ``YoutubeDL`` made here has exactly one handler,
:class:`PodpostRH`, which sends each request with :func:`pipeline.fetch.http.open_url`: the
URL policy checks every request and every redirect hop before a connection, the connection
goes to the address that was checked, and a password goes only to the origin it was given
for (yt-dlp's own ``Authorization`` headers are dropped: it never holds one). No other
handler (urllib, requests, curl_cffi, websockets) is registered, so no request can go around
it. yt-dlp is also told that ffmpeg does not exist (``ffmpeg_location`` points nowhere): its
ffmpeg downloader, which would open URLs itself, cannot run. A refusal reaches the caller
as the podpost error itself (:func:`podpost_error` finds it inside yt-dlp's wrappers).
"""

from __future__ import annotations

import contextlib
import email.message
import functools
import urllib.request
from collections.abc import Iterator
from typing import Any

from yt_dlp import YoutubeDL
from yt_dlp.networking.common import Request, RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, TransportError

from pipeline.config import Config
from pipeline.errors import PodpostError
from pipeline.fetch.http import Fetched, normalise_url, open_url
from pipeline.fetch.urls import UrlPolicy, strip_userinfo

NOWHERE = "/nonexistent/podpost-no-ffmpeg-for-yt-dlp"


class PolicyRefusal(TransportError):
    """A podpost error met inside yt-dlp's networking; ``error`` is the podpost error. A
    ``TransportError``, so extractors and downloaders report it as a failed request."""

    def __init__(self, error: PodpostError) -> None:
        self.error = error
        super().__init__(error.one_line(), cause=error)


class _Body:
    """A streaming response body as the file object yt-dlp's ``Response`` wraps."""

    def __init__(self, fetched: Fetched, stack: contextlib.ExitStack) -> None:
        self._chunks: Iterator[bytes] = fetched.chunks()
        self._buffer = b""
        self._stack = stack
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, amount: int | None = None) -> bytes:
        try:
            while not self.closed and (amount is None or amount < 0 or len(self._buffer) < amount):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer += chunk
        except PodpostError as e:
            raise PolicyRefusal(e) from e
        if amount is None or amount < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:amount], self._buffer[amount:]
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._stack.close()


class PodpostRH(RequestHandler):
    """A yt-dlp request handler that sends every request through podpost's guarded client.
    Proxies are not used (as by podpost's own client)."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = None
    _SUPPORTED_FEATURES = None

    def __init__(
        self,
        *,
        config: Config,
        policy: UrlPolicy,
        user_url: str | None,
        refusals: list[PodpostError],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.policy = policy
        self.user_url = user_url
        self.refusals = refusals  # every podpost error met, for the caller to report

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _send(self, request: Request) -> Response:
        url = normalise_url(request.url)
        headers = {k: v for k, v in self._merge_headers(request.headers).items()}
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        cookies = self._get_cookiejar(request).get_cookie_header(url)
        if cookies:
            headers["Cookie"] = cookies
        data = request.data
        if data is not None and not isinstance(data, bytes):
            data = data.read() if hasattr(data, "read") else bytes(data)
        stack = contextlib.ExitStack()
        try:
            fetched = stack.enter_context(
                open_url(
                    url,
                    self.config,
                    policy=self.policy,
                    user_url=url == self.user_url,
                    method=request.method,
                    headers=headers,
                    content=data,
                    accept_status=lambda status: True,
                )
            )
        except PodpostError as e:
            stack.close()
            self.refusals.append(e)
            raise PolicyRefusal(e) from e
        except BaseException:
            stack.close()
            raise
        self._keep_cookies(request, fetched)
        answer = {k: v for k, v in fetched.headers.multi_items()}
        if answer.pop("content-encoding", "identity") != "identity":  # decoded here
            answer.pop("content-length", None)
        response = Response(
            fp=_Body(fetched, stack),
            url=strip_userinfo(fetched.url),
            headers=answer,
            status=fetched.status,
            reason=fetched.response.reason_phrase,
        )
        if fetched.status >= 400:
            raise HTTPError(response)
        return response

    def _keep_cookies(self, request: Request, fetched: Fetched) -> None:
        """``Set-Cookie`` of the final answer into yt-dlp's cookie jar, as its own handlers do
        (the jar's standard rules decide which domains may set what)."""
        values = fetched.headers.get_list("set-cookie")
        if not values:
            return
        message = email.message.Message()
        for value in values:
            message["Set-Cookie"] = value

        class _Answer:
            def info(self) -> email.message.Message:
                return message

        final = strip_userinfo(fetched.url)
        self._get_cookiejar(request).extract_cookies(_Answer(), urllib.request.Request(final))


def guarded_ydl(
    options: dict[str, Any], config: Config, policy: UrlPolicy, user_url: str | None
) -> YoutubeDL:
    """A ``YoutubeDL`` whose only request handler is :class:`PodpostRH` (``user_url``: the
    URL the user typed, exempt from the policy on its first hop only), and without ffmpeg."""
    typed = normalise_url(strip_userinfo(user_url)) if user_url else None
    refusals: list[PodpostError] = []
    handler = functools.partial(
        PodpostRH, config=config, policy=policy, user_url=typed, refusals=refusals
    )

    class _Guarded(YoutubeDL):
        podpost_errors = refusals  # what podpost_error reports when yt-dlp loses the cause

        @functools.cached_property
        def _request_director(self) -> Any:
            return self.build_request_director([handler])

    return _Guarded({**options, "ffmpeg_location": NOWHERE})


def podpost_error(error: BaseException, ydl: Any = None) -> PodpostError | None:
    """The podpost error behind a yt-dlp error (a refused redirect, a cap), if any: found
    in its chain of causes, else the last one ``ydl``'s handler met (yt-dlp's downloader
    reports a failed request by its text only)."""
    found = _in_chain(error)
    if found is None and ydl is not None and getattr(ydl, "podpost_errors", None):
        return ydl.podpost_errors[-1]
    return found


def _in_chain(error: BaseException) -> PodpostError | None:
    seen: set[int] = set()
    todo: list[Any] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, PodpostError):
            return current
        if isinstance(current, PolicyRefusal):
            return current.error
        exc_info = getattr(current, "exc_info", None)
        todo += [getattr(current, "cause", None), current.__cause__, current.__context__]
        if isinstance(exc_info, tuple) and len(exc_info) > 1:
            todo.append(exc_info[1])
    return None
