"""The one guarded HTTP client: every hop checked, one address per host, passwords kept on
their origin, sizes capped while streaming, encodings decoded, file names per RFC 6266, URLs
normalised. Unit tests use ``httpx.MockTransport`` and injected resolvers; the few sockets
are on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pipeline.config import Config
from pipeline.errors import FetchTooLargeError, NetworkError, SourceError
from pipeline.fetch.http import disposition_filename, http_get, normalise_url
from pipeline.fetch.urls import CREDENTIALS, UrlPolicy

HOSTS = {
    "feeds.example.com": ["93.184.216.34"],
    "cdn.example.com": ["93.184.216.35"],
    "metadata.internal": ["169.254.169.254"],
    "xn--bcher-kva.example": ["93.184.216.36"],
}


def resolver(host: str) -> list[str]:
    return HOSTS.get(host, [])


class Recorder:
    """A MockTransport handler: fixed answers by URL, and every request it saw."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answers.get(str(request.url), httpx.Response(404))

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def public() -> UrlPolicy:
    return UrlPolicy(allow_private=False, resolver=resolver)


@pytest.fixture(autouse=True)
def no_passwords() -> Iterator[None]:
    CREDENTIALS.forget_all()
    yield
    CREDENTIALS.forget_all()


CONFIG = Config(fetch={"retries": 0})


def test_every_redirect_hop_is_checked_before_a_request() -> None:
    mock = Recorder({
        "http://feeds.example.com/ep.mp3": httpx.Response(
            302, headers={"Location": "http://cdn.example.com/ep.mp3"}),
        "http://cdn.example.com/ep.mp3": httpx.Response(
            307, headers={"Location": "//metadata.internal/latest/meta-data/"}),
    })  # fmt: skip
    with pytest.raises(SourceError) as info:
        http_get("http://feeds.example.com/ep.mp3", CONFIG, policy=public(),
                 transport=mock.transport)  # fmt: skip
    assert info.value.one_line() == (
        "refused the redirect http://metadata.internal/latest/meta-data/: metadata.internal is "
        "a link-local or cloud-metadata address; such addresses are never fetched"
    )
    assert [str(r.url) for r in mock.seen] == [
        "http://feeds.example.com/ep.mp3",
        "http://cdn.example.com/ep.mp3",
    ]


def test_redirect_loops_and_unresolvable_names_are_one_line() -> None:
    loop = Recorder({
        "http://feeds.example.com/a": httpx.Response(301, headers={"Location": "/b"}),
        "http://feeds.example.com/b": httpx.Response(301, headers={"Location": "/a"}),
    })  # fmt: skip
    config = Config(fetch={"retries": 0, "max_redirects": 3})
    with pytest.raises(SourceError) as info:
        http_get("http://feeds.example.com/a", config, policy=public(), transport=loop.transport)
    assert info.value.one_line() == (
        "http://feeds.example.com/a redirected more than 3 times; check the URL, or raise "
        "[fetch] max_redirects"
    )
    assert len(loop.seen) == 4
    with pytest.raises(NetworkError) as gone:  # today it passed the policy unresolved
        public().check("http://nowhere.example/ep.mp3", "enclosure")
    assert gone.value.one_line() == (
        "cannot reach http://nowhere.example/ep.mp3: nowhere.example does not resolve; "
        "check the host name and the connection"
    )


def test_a_password_goes_only_to_its_origin_and_never_after_leaving_it() -> None:
    mock = Recorder({
        "http://feeds.example.com/feed.xml": httpx.Response(
            302, headers={"Location": "http://cdn.example.com/feed.xml"}),
        "http://cdn.example.com/feed.xml": httpx.Response(
            302, headers={"Location": "http://feeds.example.com/final.xml"}),
        "http://feeds.example.com/final.xml": httpx.Response(200, content=b"<rss/>"),
    })  # fmt: skip
    url = "http://ann:pw-9@feeds.example.com/feed.xml"
    CREDENTIALS.remember(url)
    response = http_get(url, CONFIG, policy=public(), transport=mock.transport)
    assert response.head == b"<rss/>"
    token = "Basic " + base64.b64encode(b"ann:pw-9").decode()
    assert [(r.url.host, r.headers.get("authorization")) for r in mock.seen] == [
        ("feeds.example.com", token),  # the origin it was given for
        ("cdn.example.com", None),  # another origin
        ("feeds.example.com", None),  # back on the first origin, after leaving it: none
    ]
    assert all(b"pw-9" not in bytes(str(r.url), "utf-8") for r in mock.seen)


def test_content_encoding_is_decoded_even_unasked() -> None:
    feed = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Z</title></channel></rss>"
    for encoding, body in (("gzip", gzip.compress(feed)), ("identity", feed)):
        mock = Recorder({"http://feeds.example.com/f.xml": httpx.Response(
            200, headers={"Content-Encoding": encoding, "Content-Type": "application/rss+xml"},
            content=body)})  # fmt: skip
        got = http_get("http://feeds.example.com/f.xml", CONFIG, policy=public(),
                       transport=mock.transport, cap="fetch.max_feed_bytes")  # fmt: skip
        assert got.head == feed


def test_caps_hold_while_streaming_on_decoded_bytes() -> None:
    config = Config(fetch={"retries": 0}, asr={"max_caption_bytes": 1000})
    bomb = gzip.compress(b"WEBVTT\n\n" + b"x" * 200_000)  # 200 kB decoded from ~250 bytes
    for headers, body in (({"Content-Encoding": "gzip"}, bomb), ({}, b"y" * 5000)):
        mock = Recorder({"http://cdn.example.com/t.vtt": httpx.Response(
            200, headers=headers, content=body)})  # fmt: skip
        with pytest.raises(FetchTooLargeError) as info:
            http_get("http://cdn.example.com/t.vtt", config, policy=public(),
                     transport=mock.transport, cap="asr.max_caption_bytes")  # fmt: skip
        assert info.value.one_line() == (
            "http://cdn.example.com/t.vtt is over the limit of 0.0 MB; raise [asr] "
            "max_caption_bytes to allow it"
        )
        assert info.value.exit_code == 3


def test_content_disposition_prefers_filename_star() -> None:
    cases = {
        "attachment; filename=\"fallback.mp3\"; filename*=utf-8''%E2%82%AC%20caf%C3%A9.mp3":
            "€ café.mp3",
        "attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.mp3; filename=\"Grusse.mp3\"": "Grüße.mp3",
        "attachment; filename*=iso-8859-1'en'%A3%20rates.mp3": "£ rates.mp3",
        'inline; filename="semi;colon.mp3"': "semi;colon.mp3",
        'attachment; filename="../../etc/passwd"': "passwd",
        "attachment": None,
        "": None,
    }  # fmt: skip
    assert {value: disposition_filename(value) for value in cases} == cases
    mock = Recorder({"http://cdn.example.com/dl?id=7": httpx.Response(200, headers={
        "Content-Type": "audio/mpeg",
        "Content-Disposition": "attachment; filename=\"ep.mp3\"; filename*=utf-8''%C3%A9p.mp3",
    }, content=b"ID3")})  # fmt: skip
    got = http_get("http://cdn.example.com/dl?id=7", CONFIG, policy=public(),
                   transport=mock.transport)  # fmt: skip
    assert got.filename == "ép.mp3"


def test_urls_are_normalised_before_use() -> None:
    assert normalise_url("http://cdn.example.com/my show/épisode 1.mp3?t=a b&q=ü") == (
        "http://cdn.example.com/my%20show/%C3%A9pisode%201.mp3?t=a%20b&q=%C3%BC"
    )
    assert normalise_url("http://cdn.example.com/a%20b.mp3") == "http://cdn.example.com/a%20b.mp3"
    assert normalise_url("http://bücher.example/x") == "http://xn--bcher-kva.example/x"
    mock = Recorder({"http://xn--bcher-kva.example/%C3%A9%20t.vtt": httpx.Response(
        200, content=b"WEBVTT\n")})  # fmt: skip
    got = http_get("http://bücher.example/é t.vtt", CONFIG, policy=public(),
                   transport=mock.transport)  # fmt: skip
    assert (got.head, got.url) == (b"WEBVTT\n", "http://xn--bcher-kva.example/%C3%A9%20t.vtt")


class _Logged(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def host_echo() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A loopback server that answers 200 with the Host header it got."""
    log: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            log.append(dict(self.headers))
            body = str(self.headers.get("Host")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Logged(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], log
    server.shutdown()
    server.server_close()


def test_the_checked_address_is_the_one_connected_to(host_echo) -> None:
    port, log = host_echo
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["169.254.169.254"]])
    asked: list[str] = []

    def rebinding(host: str) -> list[str]:  # a DNS answer that changes after the check
        asked.append(host)
        return next(answers)

    policy = UrlPolicy(allow_private=True, resolver=rebinding)
    for path in ("a", "b"):
        got = http_get(f"http://podcast.test:{port}/{path}", CONFIG, policy=policy)
        assert got.head == f"podcast.test:{port}".encode()  # the name, sent to the address
    assert asked == ["podcast.test"] and len(log) == 2


@pytest.fixture
def cookie_site() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A loopback server: ``/set`` sets a cookie, ``/away`` redirects to a metadata name,
    anything else answers 200; every request is logged with its headers."""
    log: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            log.append((self.path, dict(self.headers)))
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://metadata.internal/latest/")
            else:
                self.send_response(200)
            if self.path == "/set":
                self.send_header("Set-Cookie", "visitor=abc; Path=/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = _Logged(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", log
    server.shutdown()
    server.server_close()


def test_yt_dlp_requests_go_through_podpost_only(cookie_site) -> None:
    from yt_dlp.networking.common import Request

    from pipeline.fetch.ytdlp import ytdlp_options
    from pipeline.fetch.ytdlp_net import PolicyRefusal, guarded_ydl, podpost_error

    base, log = cookie_site
    policy = UrlPolicy(allow_private=True, resolver=resolver)
    options = ytdlp_options(CONFIG)
    with guarded_ydl(options, CONFIG, policy, base + "set") as ydl:
        assert list(ydl._request_director.handlers) == ["Podpost"]  # no urllib, no requests
        assert ydl.urlopen(Request(base + "set")).read() == b"ok"
        forged = {"Authorization": "Basic c3RvbGVuOnB3"}  # yt-dlp never sends one
        assert ydl.urlopen(Request(base + "again", headers=forged)).read() == b"ok"
        with pytest.raises(PolicyRefusal) as info:
            ydl.urlopen(Request(base + "away"))
        error = podpost_error(info.value, ydl)
        assert error is not None and error.one_line() == (
            "refused the redirect http://metadata.internal/latest/: metadata.internal is a "
            "link-local or cloud-metadata address; such addresses are never fetched"
        )
    assert [path for path, _ in log] == ["/set", "/again", "/away"]
    assert log[1][1].get("Cookie") == "visitor=abc"  # kept from the answer to /set
    assert [headers.get("Authorization") for _, headers in log] == [None, None, None]
