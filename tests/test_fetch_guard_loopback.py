"""Issue 20's attacks and inputs, end to end against loopback servers that log every request:
a second request redirected to a metadata address, a password redirected to another origin,
a 50 MB transcript, a gzip feed, Content-Disposition with ``filename*``, URLs with raw spaces
and non-ASCII. Every socket connect and every child process is recorded (a Python audit
hook), so "no process opened a connection to it" is checked, not assumed."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config
from pipeline.errors import SourceError
from pipeline.fetch.core import fetch_episode
from pipeline.fetch.urls import CREDENTIALS, UrlPolicy
from tests.cli_helpers import cli
from tests.fixtures.media import VOICES, html_page, rss_feed

pytestmark = pytest.mark.slow

LINES = [(VOICES[0], "Welcome back to the show."), (VOICES[1], "Thanks, glad to be here.")]
VTT = (
    "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n<v Ann>Welcome back to the show.\n\n"
    "00:00:02.500 --> 00:00:05.000\n<v Bob>Thanks, glad to be here.\n"
)
METADATA = "169.254.169.254"


# --- what every process does: socket connects and child processes ---------------------------

_EVENTS: list[tuple[str, Any]] = []
_RECORDING = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _RECORDING.is_set():
        return
    if event == "socket.connect":
        _EVENTS.append(("connect", args[1]))
    elif event == "subprocess.Popen":
        _EVENTS.append(("spawn", [str(a) for a in (args[1] or [])]))


sys.addaudithook(_audit)  # cannot be removed; it records only while a test asks


@pytest.fixture
def recorded() -> Iterator[list[tuple[str, Any]]]:
    _EVENTS.clear()
    _RECORDING.set()
    yield _EVENTS
    _RECORDING.clear()


def connects(events: list[tuple[str, Any]]) -> list[str]:
    return [str(a[0]) for kind, a in events if kind == "connect" and isinstance(a, tuple)]


def url_in_a_child(events: list[tuple[str, Any]]) -> list[list[str]]:
    return [argv for kind, argv in events if kind == "spawn" and any("://" in a for a in argv)]


# --- a loopback server with a request log ---------------------------------------------------


@dataclass
class Logged:
    """Files by path, redirects from the Nth request of a path on, and every request seen."""

    files: dict[str, tuple[str, bytes, dict[str, str]]] = field(default_factory=dict)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)  # path: (n, Location)
    password: tuple[str, str] | None = None
    streams: dict[str, int] = field(default_factory=dict)  # path: bytes, sent without length
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base: str = ""

    def put(self, path: str, kind: str, body: bytes | str, **headers: str) -> str:
        raw = body.encode() if isinstance(body, str) else body
        self.files[path] = (kind, raw, headers)
        return self.base + urllib.parse.quote(path.lstrip("/"))

    def requests(self, path: str) -> list[dict[str, str]]:
        return [headers for seen, headers in self.log if seen == path]


@pytest.fixture
def servers() -> Iterator[tuple[Logged, Logged]]:
    """Two loopback origins (two ports)."""
    made = []
    for _ in range(2):
        state = Logged()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            site = state

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site = self.site
                path = urllib.parse.unquote(self.path.split("?", 1)[0])
                site.log.append((path, dict(self.headers)))
                if site.password is not None:
                    token = base64.b64encode(":".join(site.password).encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {token}":
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                number = len(site.requests(path))
                if path in site.redirects and number >= site.redirects[path][0]:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[path][1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path in site.streams:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/vtt")
                    self.end_headers()  # no Content-Length: the cap must hold while reading
                    block = b"00:00:00.000 --> 00:00:01.000\nla la la la la la la la la\n\n" * 1000
                    try:
                        self.wfile.write(b"WEBVTT\n\n")
                        for _ in range(site.streams[path] // len(block)):
                            self.wfile.write(block)
                    except OSError:
                        pass  # the client stopped reading at its cap
                    return
                if path not in site.files:
                    self.send_error(404)
                    return
                kind, body, headers = site.files[path]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        state.base = f"http://127.0.0.1:{httpd.server_address[1]}/"
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        made.append((httpd, state))
    yield made[0][1], made[1][1]
    for httpd, _ in made:
        httpd.shutdown()
        httpd.server_close()
    CREDENTIALS.forget_all()


def metadata_resolver(host: str) -> list[str]:
    return [METADATA] if host == "metadata.internal" else []


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "podpost.toml"
    path.write_text("[fetch]\nretries = 0\nprogress = false\n", encoding="utf-8")
    return path


def episode_of(out: str) -> tuple[dict[str, Any], Path]:
    path = Path(out.splitlines()[0].rsplit(": ", 1)[1])
    return json.loads(path.read_text(encoding="utf-8")), path.parent


# --- 1: the second request redirected to a metadata address ---------------------------------


def test_a_second_request_redirected_to_metadata_is_refused_by_every_process(
    tmp_path, audio, servers, recorded, capsys
) -> None:
    site, _ = servers
    mp3 = audio.speech(LINES, "mp3").read_bytes()
    config = Config(data_dir=tmp_path / "data", fetch={"retries": 0})
    refused = (
        "refused the redirect http://metadata.internal/latest/meta-data/: metadata.internal "
        "is a link-local or cloud-metadata address; such addresses are never fetched"
    )
    to_metadata = "http://metadata.internal/latest/meta-data/"
    direct = site.put("/direct.mp3", "audio/mpeg", mp3)  # podpost's own download
    site.redirects["/direct.mp3"] = (2, to_metadata)
    page = site.put("/page.html", "text/html", html_page("Talk", site.base + "media.mp3"))
    site.put("/media.mp3", "audio/mpeg", mp3)
    site.redirects["/page.html"] = (2, to_metadata)  # yt-dlp's request for the page
    page2 = site.put("/page2.html", "text/html", html_page("Talk", site.base + "media2.mp3"))
    site.put("/media2.mp3", "audio/mpeg", mp3)
    site.redirects["/media2.mp3"] = (2, to_metadata)  # yt-dlp's download of the media
    for source in (direct, page, page2):
        policy = UrlPolicy.for_source(source, config, metadata_resolver)
        with pytest.raises(SourceError) as info:
            fetch_episode(source, config, policy=policy)
        assert (info.value.one_line(), info.value.exit_code) == (refused, 3)
    assert [len(site.requests(p)) for p in ("/direct.mp3", "/page.html", "/media2.mp3")] == [
        2, 2, 2,
    ]  # fmt: skip
    assert METADATA not in connects(recorded) and "127.0.0.1" in connects(recorded)
    assert url_in_a_child(recorded) == []  # ffprobe (and anything else) got no URL
    assert not any((tmp_path / "data").rglob("audio*"))

    # the CLI, with a feed whose enclosure redirects to the literal address
    feed = site.put("/feed.xml", "application/rss+xml", rss_feed("Show", [
        {"guid": "one", "title": "One", "enclosure": site.base + "ep.mp3"}]))  # fmt: skip
    site.put("/ep.mp3", "audio/mpeg", mp3)
    site.redirects["/ep.mp3"] = (1, f"http://{METADATA}/latest/meta-data/")
    data = tmp_path / "cli"
    code, out, err = cli(
        ["--config", str(config_file(tmp_path)), "--data-dir", str(data), "fetch", feed],
        capsys,
    )
    assert (code, out) == (3, "")
    assert err == (
        f"error: refused the redirect http://{METADATA}/latest/meta-data/: {METADATA} is a "
        "link-local or cloud-metadata address; such addresses are never fetched\n"
    )
    assert METADATA not in connects(recorded) and url_in_a_child(recorded) == []


# --- 2: a password never reaches another origin ---------------------------------------------


def test_a_password_never_reaches_the_origin_a_redirect_leads_to(
    tmp_path, audio, servers, recorded, capsys
) -> None:
    private, other = servers
    private.password = ("ann", "pw-Zq81x")
    mp3 = audio.speech(LINES, "mp3").read_bytes()
    for name in ("ep.mp3", "talk.mp3", "media.mp3"):
        other.put(f"/{name}", "audio/mpeg", mp3)
    other.put("/ep.vtt", "text/vtt", VTT)
    other.put("/page.html", "text/html", html_page("Talk", other.base + "media.mp3"))
    private.put("/feed.xml", "application/rss+xml", rss_feed("Members", [
        {"guid": "m1", "title": "Members one", "enclosure": "/ep.mp3",
         "transcripts": [("/ep.vtt", "text/vtt")]}]))  # fmt: skip
    private.redirects.update({
        "/ep.mp3": (1, other.base + "ep.mp3"),  # the enclosure's only request
        "/ep.vtt": (1, other.base + "ep.vtt"),  # the transcript's
        "/talk.mp3": (2, other.base + "talk.mp3"),  # a direct URL's download
        "/page.html": (2, other.base + "page.html"),  # yt-dlp's request for the page
    })  # fmt: skip
    private.put("/talk.mp3", "audio/mpeg", mp3)
    private.put("/page.html", "text/html", "<html><title>x</title></html>")
    secret = private.base.replace("http://", "http://ann:pw-Zq81x@")
    data = tmp_path / "data"
    options = ["--config", str(config_file(tmp_path)), "--data-dir", str(data)]
    folders = []
    for path in ("feed.xml", "talk.mp3", "page.html"):
        code, out, err = cli([*options, "fetch", secret + path], capsys)
        assert (code, err) == (0, "")
        episode, folder = episode_of(out)
        folders.append(folder)
        assert "pw-Zq81x" not in json.dumps(episode)
    code, out, err = cli([*options, "transcribe", str(folders[0]), "--backend", "captions"], capsys)
    assert (code, err) == (0, "")
    assert {path for path, _ in other.log} == {"/ep.mp3", "/ep.vtt", "/talk.mp3", "/page.html",
                                               "/media.mp3"}  # fmt: skip
    assert [headers.get("Authorization") for _, headers in other.log] == [None] * len(other.log)
    token = "Basic " + base64.b64encode(b"ann:pw-Zq81x").decode()
    assert all(headers.get("Authorization") == token for _, headers in private.log)
    assert url_in_a_child(recorded) == []


# --- 3: a 50 MB transcript --------------------------------------------------------------------


def test_a_50_mb_transcript_is_refused_in_one_line(tmp_path, audio, servers, capsys) -> None:
    site, _ = servers
    site.put("/ep.mp3", "audio/mpeg", audio.speech(LINES, "mp3").read_bytes())
    site.streams["/huge.vtt"] = 50 * 1000 * 1000
    feed = site.put("/feed.xml", "application/rss+xml", rss_feed("Show", [
        {"guid": "big", "title": "Big", "enclosure": site.base + "ep.mp3",
         "transcripts": [(site.base + "huge.vtt", "text/vtt")]}]))  # fmt: skip
    data = tmp_path / "data"
    options = ["--config", str(config_file(tmp_path)), "--data-dir", str(data)]
    code, _out, err = cli([*options, "transcribe", feed, "--backend", "captions"], capsys)
    assert code == 3
    assert err == (
        f"error: {site.base}huge.vtt is over the limit of 5.2 MB; raise [asr] "
        "max_caption_bytes to allow it\n"
    )
    assert not list(data.rglob("captions.*"))


# --- 4: real-world inputs -----------------------------------------------------------------------


def test_a_feed_gzip_encoded_unasked_is_read(tmp_path, audio, servers, capsys) -> None:
    site, _ = servers
    site.put("/ep1.mp3", "audio/mpeg", audio.speech(LINES, "mp3").read_bytes())
    site.put("/ep1.vtt", "text/vtt", VTT)
    body = rss_feed("Compressed Hour", [
        {"guid": "compressed-hour-1", "title": "Episode one: squeezed",
         "enclosure": site.base + "ep1.mp3", "transcripts": [(site.base + "ep1.vtt", "text/vtt")]},
    ], author="Ann Lee")  # fmt: skip
    feed = site.put("/feed.xml", "application/rss+xml", gzip.compress(body.encode()),
                    Content_Encoding="gzip")  # fmt: skip
    data = tmp_path / "data"
    options = ["--config", str(config_file(tmp_path)), "--data-dir", str(data)]
    code, _out, err = cli([*options, "transcribe", feed, "--backend", "captions"], capsys)
    assert (code, err) == (0, "")
    [folder] = list((data / "episodes").iterdir())
    episode = json.loads((folder / "episode.json").read_text(encoding="utf-8"))
    assert (episode["show"], episode["title"]) == ("Compressed Hour", "Episode one: squeezed")
    transcript = json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
    assert [(s["speaker"], s["text"]) for s in transcript["segments"]] == [
        ("Ann", "Welcome back to the show."), ("Bob", "Thanks, glad to be here.")]  # fmt: skip


def test_content_disposition_filename_star_names_the_episode(
    tmp_path, audio, servers, capsys
) -> None:
    site, _ = servers
    url = site.put("/download", "audio/mpeg", audio.speech(LINES, "mp3").read_bytes(),
                   Content_Disposition="attachment; filename=\"fallback.mp3\"; "
                   "filename*=utf-8''%E2%82%AC%20Caf%C3%A9%20talk.mp3")  # fmt: skip
    data = tmp_path / "data"
    options = ["--config", str(config_file(tmp_path)), "--data-dir", str(data)]
    code, out, err = cli([*options, "fetch", url], capsys)
    assert (code, err) == (0, "")
    episode, _folder = episode_of(out)
    assert (episode["title"], episode["audio_file"]) == ("€ Café talk", "audio.mp3")


def test_urls_with_raw_spaces_and_non_ascii(tmp_path, audio, servers, capsys) -> None:
    site, _ = servers
    site.put("/media/my episode ü.mp3", "audio/mpeg", audio.speech(LINES, "mp3").read_bytes())
    site.put("/media/my episode ü.vtt", "text/vtt", VTT)
    raw = site.base + "media/my episode ü"
    feed = site.put("/feed.xml", "application/rss+xml", rss_feed("Spaces", [
        {"guid": "s1", "title": "Spaced", "enclosure": raw + ".mp3",
         "transcripts": [(raw + ".vtt", "text/vtt")]}]))  # fmt: skip
    data = tmp_path / "data"
    options = ["--config", str(config_file(tmp_path)), "--data-dir", str(data)]
    code, _out, err = cli([*options, "transcribe", feed, "--backend", "captions"], capsys)
    assert (code, err) == (0, "")
    [folder] = list((data / "episodes").iterdir())
    episode = json.loads((folder / "episode.json").read_text(encoding="utf-8"))
    wire = site.base + "media/my%20episode%20%C3%BC"
    assert (episode["url"], episode["transcript_url"]) == (wire + ".mp3", wire + ".vtt")
    transcript = json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
    assert len(transcript["segments"]) == 2
    assert [p for p, _ in site.log if p.startswith("/media/")] == [
        "/media/my episode ü.mp3", "/media/my episode ü.vtt"]  # fmt: skip


def test_a_page_whose_mp4_keeps_its_index_at_the_end(tmp_path, audio, servers, capsys) -> None:
    """ffprobe cannot read such a file from its first MiB (piped): it is checked once
    downloaded, through yt-dlp and podpost's handler."""
    site, _ = servers
    mp4 = tmp_path / "late-index.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(audio.speech(LINES, "wav")), "-f", "lavfi",
         "-t", "150", "-i", "anoisesrc=a=0.05:r=22050", "-filter_complex",
         "amix=inputs=2:duration=longest", "-c:a", "aac", "-b:a", "256k", str(mp4)],
        check=True,
    )  # fmt: skip
    body = mp4.read_bytes()  # over the MiB that is piped to ffprobe, its index after it
    assert body[4:8] == b"ftyp" and body.rfind(b"moov") > len(body) - 100_000 > 1024 * 1024
    site.put("/late.mp4", "video/mp4", mp4.read_bytes())
    page = site.put("/late.html", "text/html", html_page("Late index", site.base + "late.mp4"))
    data = tmp_path / "data"
    options = ["--config", str(config_file(tmp_path)), "--data-dir", str(data)]
    code, out, err = cli([*options, "fetch", page], capsys)
    assert (code, err) == (0, "")
    episode, _folder = episode_of(out)
    assert (episode["kind"], episode["title"]) == ("ytdlp", "Late index")
    assert episode["duration"] == pytest.approx(audio.duration(mp4), abs=0.05)
    assert audio.duration(mp4) > 149
