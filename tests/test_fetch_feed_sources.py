"""`podpost fetch FEED` on feeds as hosts really serve them, from the loopback server only:
moved feeds with relative links, odd encodings, refused enclosures, passwords."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline import store
from pipeline.config import Config
from pipeline.errors import SourceError
from pipeline.fetch.core import fetch_episode
from pipeline.fetch.urls import CREDENTIALS, UrlPolicy
from pipeline.models import Episode
from tests.cli_helpers import cli
from tests.fixtures.media import VOICES

pytestmark = pytest.mark.slow

LINES = [(VOICES[0], "Welcome to the show."), (VOICES[1], "Thanks for having me.")]
VTT = "WEBVTT\n\n00:00.500 --> 00:03.500\nWelcome to the show.\n"


def feed_xml(items: str, *, title: str = "Relative Links Radio", decl: str = "UTF-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{decl}"?>\n'
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/DTDs/Podcast-1.0.dtd"'
        ' xmlns:podcast="https://podcastindex.org/namespace/1.0">\n'
        f"<channel><title>{title}</title><language>en</language>\n{items}\n</channel></rss>\n"
    )


def item(enclosure: str, transcript: str | None = None, guid: str = "rel-ep-1") -> str:
    text = (
        f'<item><title>Episode one</title><guid isPermaLink="false">{guid}</guid>'
        "<itunes:author>Dana Host</itunes:author><itunes:duration>00:07</itunes:duration>"
        "<pubDate>Mon, 02 Mar 2026 10:00:00 +0000</pubDate>"
        f'<enclosure url="{enclosure}" type="audio/mpeg" length="0"/>'
    )
    if transcript:
        text += f'<podcast:transcript url="{transcript}" type="text/vtt"/>'
    return text + "</item>"


def fetched(data: Path, out: str) -> Episode:
    path = Path(out.splitlines()[0].rsplit(": ", 1)[1])
    assert path.parent.parent == data / "episodes"
    return store.load(path, Episode)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_moved_feed_with_relative_enclosure_and_transcript(tmp_path, audio, media_server, capsys):
    mp3 = audio.speech(LINES, "mp3")
    media_server.put("c09/media/ep1.mp3", mp3)
    media_server.put("c09/media/ep1.vtt", VTT)
    body = feed_xml(item("/c09/media/ep1.mp3", "../media/ep1.vtt"))
    media_server.put("c09/v2/feed.xml", body)
    moved = media_server.route(
        "c09/old/deep/feed.xml", status=302, headers={"Location": "/c09/v2/feed.xml"}
    )
    data = tmp_path / "data"
    code, out, err = cli(["--data-dir", str(data), "fetch", moved], capsys)
    assert (code, err) == (0, "")
    episode = fetched(data, out)
    assert episode.id == f"feed-{sha(b'rel-ep-1')[:16]}" and episode.kind == "feed"
    assert episode.source == moved
    assert episode.url == media_server.url("c09/media/ep1.mp3")  # no <link>: the enclosure
    # against the final URL .../c09/v2/feed.xml, not the one asked for
    assert episode.transcript_url == media_server.url("c09/media/ep1.vtt")
    assert (episode.title, episode.show, episode.uploader) == (
        "Episode one",
        "Relative Links Radio",
        "Dana Host",
    )
    assert (episode.date, episode.duration, episode.language) == (dt.date(2026, 3, 2), 7.0, "en")
    audio_file = data / "episodes" / episode.id / str(episode.audio_file)
    assert sha(audio_file.read_bytes()) == sha(mp3.read_bytes())


@pytest.mark.parametrize("kind", ["whitespace", "utf-16"])
def test_whitespace_before_the_declaration_and_utf16(kind, tmp_path, audio, media_server, capsys):
    media_server.put(f"c10-{kind}/ep1.mp3", audio.speech(LINES, "mp3"))
    enclosure = media_server.url(f"c10-{kind}/ep1.mp3")
    if kind == "whitespace":
        body = b"\n  " + feed_xml(item(enclosure), title="Blank Line Broadcasts").encode()
    else:
        body = feed_xml(item(enclosure), title="Caf\u00e9 \u00fcber Alles", decl="UTF-16")
        body = body.encode("utf-16")  # with its BOM
    url = media_server.put(f"c10-{kind}/feed.xml", body)
    data = tmp_path / "data"
    code, out, err = cli(["--data-dir", str(data), "fetch", url], capsys)
    assert (code, err) == (0, "")
    episode = fetched(data, out)
    title = "Blank Line Broadcasts" if kind == "whitespace" else "Café über Alles"
    assert (episode.show, episode.title, episode.url) == (title, "Episode one", enclosure)


def test_refused_enclosures_are_one_line_without_a_connection(
    tmp_path, audio, media_server, capsys
):
    data = tmp_path / "data"
    cases = {
        "file:///etc/passwd": "refused the enclosure 'file:///etc/passwd': only http and https "
        "URLs are fetched; ask the publisher to fix the feed, or download the file yourself",
        "http://169.254.169.254/latest/meta-data/ep.mp3": "refused the enclosure "
        "http://169.254.169.254/latest/meta-data/ep.mp3: 169.254.169.254 is a link-local or "
        "cloud-metadata address; such addresses are never fetched",
        "http://[fe80::1]/ep.mp3": "fe80::1 is a link-local or cloud-metadata address",
    }
    for number, (enclosure, message) in enumerate(cases.items()):
        url = media_server.put(f"refuse/{number}.xml", feed_xml(item(enclosure)))
        code, out, err = cli(["--data-dir", str(data), "fetch", url], capsys)
        assert (code, out) == (3, "")
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not (data / "episodes").exists() or not any((data / "episodes").iterdir())

    # a resolver that says the feed's host name is a metadata address (nothing connects)
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        asked.append(host)
        return ["169.254.169.254"] if host == "metadata.internal" else []

    url = media_server.put("refuse/named.xml", feed_xml(item("http://metadata.internal/ep.mp3")))
    config = Config(data_dir=data)
    policy = UrlPolicy.for_source(url, config, resolver)
    with pytest.raises(SourceError, match=r"metadata\.internal is a link-local"):
        fetch_episode(url, config, policy=policy)
    assert asked == ["metadata.internal"]

    # a feed treated as public (as if its host were on the internet) naming a loopback file
    mp3 = media_server.put("refuse/private.mp3", audio.speech(LINES, "mp3"))
    url = media_server.put("refuse/public.xml", feed_xml(item(mp3, guid="private")))
    public = UrlPolicy(allow_private=False, resolver=resolver)
    with pytest.raises(SourceError, match=r"127\.0\.0\.1 is on a private or loopback network"):
        fetch_episode(url, config, policy=public)
    assert media_server.hits("refuse/private.mp3") == 0
    trusting = UrlPolicy.for_source(
        "https://feeds.example.com/f.xml",
        Config(data_dir=data, fetch={"allow_private_hosts": True}),
        resolver,
    )
    assert fetch_episode(url, config, policy=trusting).url == mp3


class AuthServer:
    """A loopback server that answers only requests with ``Basic user:password``."""

    def __init__(self, user: str, password: str, files: dict[str, tuple[str, bytes]]) -> None:
        self.token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.files = files
        self.seen: list[tuple[str, bool]] = []  # (path, authorised)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, head: bool) -> None:
                ok = self.headers.get("Authorization") == f"Basic {server.token}"
                server.seen.append((self.path, ok))
                if not ok:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="podpost"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path not in server.files:
                    self.send_error(404)
                    return
                kind, body = server.files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(False)

            def do_HEAD(self) -> None:
                self._answer(True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def auth_feed(audio):
    mp3 = audio.speech(LINES, "mp3").read_bytes()
    body = feed_xml(item("/private/ep1.mp3", "ep1.vtt", guid="private-1"), title="Members Only")
    files = {
        "/private/feed.xml": ("application/rss+xml", body.encode()),
        "/private/ep1.mp3": ("audio/mpeg", mp3),
        "/private/ep1.vtt": ("text/vtt", VTT.encode()),
    }
    server = AuthServer("ann", "pw-Zq81x", files)
    yield server, mp3
    server.close()
    CREDENTIALS.forget_all()


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_password_in_the_url_is_used_and_never_shown(tmp_path, auth_feed, capsys) -> None:
    server, mp3 = auth_feed
    data = tmp_path / "data"
    url = f"http://ann:pw-Zq81x@127.0.0.1:{server.port}/private/feed.xml"
    shown = f"http://ann:***@127.0.0.1:{server.port}/private/feed.xml"
    code, out, err = cli(["--data-dir", str(data), "fetch", url], capsys)
    assert (code, err) == (0, "")
    episode = fetched(data, out)
    assert episode.source == shown
    assert episode.transcript_url == f"http://127.0.0.1:{server.port}/private/ep1.vtt"
    folder = data / "episodes" / episode.id
    assert sha((folder / str(episode.audio_file)).read_bytes()) == sha(mp3)
    assert {path for path, ok in server.seen if ok} >= {"/private/feed.xml", "/private/ep1.mp3"}
    assert b"pw-Zq81x" not in all_bytes(data) and "pw-Zq81x" not in out
    assert b"ann:***@" in (folder / "episode.json").read_bytes()

    CREDENTIALS.forget_all()  # a wrong password: one line, without the password
    wrong = f"http://ann:nope-77@127.0.0.1:{server.port}/private/other.xml"
    code, out, err = cli(["--data-dir", str(data), "fetch", wrong], capsys)
    assert (code, out) == (3, "")
    assert err == (
        f"error: http://127.0.0.1:{server.port}/private/other.xml is private or needs sign-in "
        "(HTTP 401); use a public URL, put user:password@ in it, or download the file yourself "
        "and pass its path\n"
    )
