"""``podpost fetch`` on every kind of source, against the loopback media server only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from pipeline import store
from pipeline.config import Config
from pipeline.errors import NetworkError, SourceError
from pipeline.fetch.core import classify_ytdlp_error, fetch_episode
from pipeline.fetch.feeds import list_feed
from pipeline.models import Episode
from tests.cli_helpers import cli
from tests.fixtures.media import VOICES, html_page, rss_feed

pytestmark = pytest.mark.slow

TAGS = {"title": "Ep 7: On Tests", "artist": "Jane Host", "album": "The Test Show",
        "date": "2024-05-06", "comment": "We talk about tests."}  # fmt: skip
LINES = [(VOICES[0], "Welcome back to the show."), (VOICES[1], "Thanks, glad to be here.")]


def config_file(tmp_path: Path, **fetch: object) -> Path:
    lines = ["[fetch]", "retry_wait = 0.01", "progress = false"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in fetch.items()]
    path = tmp_path / "podpost.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fetched(tmp_path: Path, out: str) -> tuple[Episode, Path]:
    first = out.splitlines()[0]
    path = Path(first.rsplit(": ", 1)[1])
    assert path.name == "episode.json" and path.parent.parent == tmp_path / "data" / "episodes"
    return store.load(path, Episode), path.parent


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def streams(path: Path) -> list[str]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
         str(path)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.split()


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "wav"])
def test_direct_media_url(fmt, tmp_path, audio, media_server, capsys) -> None:
    source = audio.speech(LINES, fmt, metadata=TAGS)
    url = media_server.put(f"direct/episode.{fmt}", source)
    code, out, _ = cli(["--data-dir", str(tmp_path / "data"), "fetch", url], capsys)
    assert code == 0
    episode, folder = fetched(tmp_path, out)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    assert out == (f"Ep 7: On Tests: {folder / 'episode.json'}\n"
                   f"audio: {folder / f'audio.{fmt}'}\n")  # fmt: skip
    assert episode.id == f"url-{digest}" and episode.kind == "direct" and episode.url == url
    assert (episode.title, episode.uploader, episode.date) == (
        "Ep 7: On Tests",
        "Jane Host",
        dt.date(2024, 5, 6),
    )
    if fmt != "wav":  # RIFF INFO has no album or comment field
        assert episode.show == "The Test Show"
        assert episode.description == "We talk about tests."
    assert episode.duration == pytest.approx(audio.duration(source), abs=0.05)
    assert sha(folder / str(episode.audio_file)) == sha(source)  # the bytes, downloaded once


def test_html_page_embedding_media(tmp_path, audio, media_server, capsys) -> None:
    source = audio.speech(LINES, "m4a")
    media_url = media_server.put("page/talk.m4a", source)
    page_url = media_server.put(
        "page/talk.html", html_page("A Talk Page", media_url, description="Two people talk.")
    )
    stamp = dt.datetime(2023, 3, 4, 12, 0, tzinfo=dt.UTC).timestamp()
    os.utime(media_server.root / "page/talk.html", (stamp, stamp))  # its Last-Modified
    code, out, _ = cli(["--data-dir", str(tmp_path / "data"), "fetch", page_url], capsys)
    assert code == 0
    episode, folder = fetched(tmp_path, out)
    assert episode.kind == "ytdlp" and episode.url == page_url
    assert episode.id == f"url-{hashlib.sha256(page_url.encode()).hexdigest()[:16]}"
    assert (episode.title, episode.description) == ("A Talk Page", "Two people talk.")
    assert episode.date == dt.date(2023, 3, 4)
    assert episode.duration == pytest.approx(audio.duration(source), abs=0.05)
    assert episode.audio_file == "audio.m4a"
    assert sha(folder / "audio.m4a") == sha(source)


def _feed(media_server, audio) -> tuple[str, str]:
    enclosure = media_server.put("feed/ep.mp3", audio.speech(LINES, "mp3"))
    transcript = media_server.put("feed/ep2.vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHi\n")
    items = [
        {"title": "Episode 3: Newest", "guid": "urn:show:3", "link": "http://127.0.0.1/ep3",
         "description": "Third.", "date": dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC),
         "duration": "1:02:03", "enclosure": enclosure, "length": 1234},
        {"title": "Episode 2: Middle", "guid": "urn:show:2", "author": "Guest Host",
         "description": "Second.", "date": dt.datetime(2024, 2, 1, 8, tzinfo=dt.UTC),
         "duration": "125", "enclosure": enclosure, "transcripts": [(transcript, "text/vtt")]},
        {"title": "Episode 1: Oldest", "guid": "urn:show:1",
         "date": dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC), "enclosure": enclosure},
    ]  # fmt: skip
    feed = rss_feed("Feed Show", items, author="Show Author", language="en-US")
    return media_server.put("feed/feed.xml", feed), enclosure


@pytest.mark.parametrize(
    ("item", "title"),
    [(None, "Episode 3: Newest"), ("urn:show:2", "Episode 2: Middle"), ("3", "Episode 1: Oldest"),
     ("middle", "Episode 2: Middle")],
)  # fmt: skip
def test_rss_feed_item_by_guid_index_title(item, title, tmp_path, audio, media_server, capsys):
    feed_url, enclosure = _feed(media_server, audio)
    argv = ["--data-dir", str(tmp_path / "data"), "fetch", feed_url]
    code, out, _ = cli([*argv, "--item", item] if item else argv, capsys)
    assert code == 0
    episode, _ = fetched(tmp_path, out)
    assert episode.kind == "feed" and episode.title == title and episode.show == "Feed Show"
    assert episode.language == "en-US" and episode.source == feed_url  # BCP 47, region kept
    if title == "Episode 3: Newest":
        assert episode.duration == 3723 and episode.url == "http://127.0.0.1/ep3"
        assert (episode.uploader, episode.description) == ("Show Author", "Third.")
        assert episode.date == dt.date(2024, 3, 1)
    if title == "Episode 2: Middle":
        guid = hashlib.sha256(b"urn:show:2").hexdigest()[:16]
        assert episode.id == f"feed-{guid}" and episode.duration == 125
        assert episode.uploader == "Guest Host" and episode.url == enclosure
        assert episode.transcript_url == media_server.url("feed/ep2.vtt")
        assert episode.transcript_type == "text/vtt"


def test_local_audio_with_sidecar_and_local_video(tmp_path, audio, capsys) -> None:
    media = tmp_path / "talk.mp3"
    media.write_bytes(audio.speech(LINES, "mp3", metadata=TAGS).read_bytes())
    (tmp_path / "talk.en.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    code, out, _ = cli(["--data-dir", str(tmp_path / "data"), "fetch", str(media)], capsys)
    assert code == 0
    episode, folder = fetched(tmp_path, out)
    assert episode.id == f"local-{sha(media)[:16]}" and episode.kind == "local"
    assert episode.url == media.as_uri() and episode.title == "Ep 7: On Tests"
    assert episode.show == "The Test Show" and episode.date == dt.date(2024, 5, 6)
    assert [(t.language, t.ext, t.file) for t in episode.subtitles] == [
        ("en", "srt", "captions.en.srt")
    ]
    assert sha(folder / "audio.mp3") == sha(media)

    video = tmp_path / "clip.mp4"
    video.write_bytes(audio.speech(LINES, "mp4", video=True, duration=6).read_bytes())
    code, out, _ = cli(["--data-dir", str(tmp_path / "data"), "fetch", str(video)], capsys)
    assert code == 0
    episode, folder = fetched(tmp_path, out)
    assert episode.audio_file == "audio.mka" and streams(folder / "audio.mka") == ["audio"]
    assert [p.name for p in folder.iterdir() if p.name.startswith("audio")] == ["audio.mka"]
    assert episode.duration == pytest.approx(6.0, abs=0.1)


def test_second_fetch_downloads_nothing(tmp_path, audio, media_server) -> None:
    config = Config(data_dir=tmp_path / "data")
    direct = media_server.put("again/a.mp3", audio.speech(LINES, "mp3"))
    page = media_server.put("again/p.html", html_page("Again", media_server.url("again/a.mp3")))
    feed = media_server.put("again/f.xml", rss_feed("F", [{"guid": "g", "enclosure": direct}]))
    first = [fetch_episode(s, config) for s in (direct, page, feed)]
    media_hits, page_hits = media_server.hits("again/a.mp3"), media_server.hits("again/p.html")
    second = [fetch_episode(s, config) for s in (direct, page, feed)]
    assert second == first
    assert media_server.hits("again/a.mp3") == media_hits  # not one request for the audio
    assert media_server.hits("again/p.html") == page_hits
    # a YouTube URL whose folder is complete is answered from disk: no network at all
    (folder := tmp_path / "data" / "episodes" / "youtube-dQw4w9WgXcQ").mkdir(parents=True)
    (folder / "audio.webm").write_bytes(b"x")
    known = Episode(id="youtube-dQw4w9WgXcQ", source="s", kind="ytdlp", url="u",
                    audio_file="audio.webm")  # fmt: skip
    store.save(folder / "episode.json", known)
    assert fetch_episode("https://www.youtube.com/watch?v=dQw4w9WgXcQ", config) == known


def test_progress_hook_sees_the_download(tmp_path, audio, media_server) -> None:
    source = audio.speech(LINES, "wav")
    url = media_server.put("progress/p.wav", source)
    events: list[dict] = []
    fetch_episode(url, Config(data_dir=tmp_path), progress=events.append)
    assert events[-1]["status"] == "finished"
    assert events[-1]["downloaded_bytes"] == source.stat().st_size


def test_transient_errors_are_retried_permanent_ones_not(tmp_path, audio, media_server) -> None:
    config = Config(data_dir=tmp_path, fetch={"retry_wait": 0.01, "retries": 3})
    url = media_server.put("flaky/f.mp3", audio.speech(LINES, "mp3"))
    media_server.route("flaky/f.mp3", fail_first=2, fail_status=503)
    assert fetch_episode(url, config).kind == "direct"
    assert media_server.hits("flaky/f.mp3") >= 3  # two 503s, then the probe and the download
    gone = media_server.url("flaky/missing.mp3")
    with pytest.raises(SourceError):
        fetch_episode(gone, config)
    assert media_server.hits("flaky/missing.mp3") == 1
    down = media_server.route("flaky/down.mp3", fail_first=100, fail_status=502)
    with pytest.raises(NetworkError):
        fetch_episode(down, config)
    assert media_server.hits("flaky/down.mp3") == 4  # 1 + 3 retries


def _error_cases(media_server, audio, tmp_path) -> dict[str, tuple[list[str], int, str]]:
    media_server.put("err/silent.mp4", audio.video_without_audio())
    media_server.put("err/nomedia.html", "<html><head><title>Nothing</title></head>"
                     "<body><p>No media on this page.</p></body></html>")  # fmt: skip
    long_file = media_server.put("err/long.mp3", audio.speech(LINES, "mp3"))
    feed = media_server.put("err/feed.xml", rss_feed("F", [{"guid": "a", "enclosure": long_file}]))
    media_server.route("err/private.html", status=403)
    media_server.route("err/removed.mp3", status=410)
    media_server.route("err/down.mp3", status=503)
    noaudio_local = tmp_path / "noaudio.mp4"
    noaudio_local.write_bytes(audio.video_without_audio().read_bytes())
    u = media_server.url
    return {
        "scheme": (["ftp://127.0.0.1/x.mp3"], 2, "is neither an http(s) URL nor an existing file"),
        "missing path": (["/no/such/file.mp3"], 2, "is neither an http(s) URL nor an existing"),
        "404": ([u("err/nothing.mp3")], 3, "is not found (HTTP 404); check the URL"),
        "private": ([u("err/private.html")], 3, "is private or needs sign-in (HTTP 403)"),
        "removed": ([u("err/removed.mp3")], 3, "is gone (removed) (HTTP 410)"),
        "no media": ([u("err/nomedia.html")], 3, "holds no media yt-dlp can find"),
        "no audio url": ([u("err/silent.mp4")], 3, "has no audio stream"),
        "no audio file": ([str(noaudio_local)], 3, "has no audio stream"),
        "no item": ([feed, "--item", "zzz"], 3, "has no item 'zzz'; give a guid, an index"),
        "too long": ([long_file], 3, "over the limit of 0:00:01; raise [fetch] max_duration"),
        "too big": ([feed], 3, "MB, over the limit of 0.0 MB; raise [fetch] max_bytes"),
        "transient": ([u("err/down.mp3")], 4, "answered HTTP 503"),
    }


CASES = ["scheme", "missing path", "404", "private", "removed", "no media", "no audio url",
         "no audio file", "no item", "too long", "too big", "transient"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_error_cases_one_line_and_exit_code(case, tmp_path, audio, media_server, capsys):
    argv, code, message = _error_cases(media_server, audio, tmp_path)[case]
    limits = {"too long": {"max_duration": 1}, "too big": {"max_bytes": 10}}.get(case, {})
    config = config_file(tmp_path, retries=1, **limits)
    data = tmp_path / "data"
    got, out, err = cli(["--config", str(config), "--data-dir", str(data), "fetch", *argv], capsys)
    assert got == code
    assert out == ""
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1
    assert message in err
    episodes = data / "episodes"
    assert not episodes.exists() or not any(p.glob("audio*") for p in episodes.iterdir())


def test_ytdlp_messages_become_our_errors() -> None:
    url = "https://www.youtube.com/watch?v=x"
    cases = {
        "ERROR: [youtube] x: Private video. Sign in if you've been granted access to this video":
            (SourceError, "is private or needs sign-in"),
        "ERROR: [youtube] x: Video unavailable. This video has been removed by the uploader":
            (SourceError, "is removed or unavailable"),
        "ERROR: [youtube] x: Requested format is not available. Use --list-formats":
            (SourceError, "has no audio stream"),
        "ERROR: Unsupported URL: https://example.org/":
            (SourceError, "holds no media yt-dlp can find"),
        "ERROR: [youtube] x: HTTP Error 429: Too Many Requests":
            (NetworkError, "could not be reached"),
        "ERROR: unable to download video data: <urlopen error timed out>":
            (NetworkError, "could not be reached"),
        "ERROR: [youtube] x: Unable to download API page: HTTPSConnection(host='www.youtube.com',"
        " port=443): Failed to resolve 'www.youtube.com' ([Errno -2] Name or service not known)":
            (NetworkError, "could not be reached (its host name does not resolve)"),
    }  # fmt: skip
    for message, (cls, text) in cases.items():
        error = classify_ytdlp_error(message, url)
        assert type(error) is cls and error.one_line().startswith(f"{url} {text}")


def test_list_feed_rss_and_page_playlist(tmp_path, audio, media_server) -> None:
    config = Config(data_dir=tmp_path)
    feed_url, _ = _feed(media_server, audio)
    items = list_feed(feed_url, config)
    assert [(i.source, i.item, i.title, i.date, i.duration) for i in items] == [
        (feed_url, "urn:show:3", "Episode 3: Newest", dt.date(2024, 3, 1), 3723.0),
        (feed_url, "urn:show:2", "Episode 2: Middle", dt.date(2024, 2, 1), 125.0),
        (feed_url, "urn:show:1", "Episode 1: Oldest", dt.date(2024, 1, 1), None),
    ]
    one = media_server.put("list/one.mp3", audio.speech("One.", "mp3"))
    two = media_server.put("list/two.mp3", audio.speech("Two.", "mp3"))
    page = media_server.put(
        "list/page.html",
        f'<html><head><title>Two talks</title></head><body><audio src="{one}"></audio>'
        f'<audio src="{two}"></audio></body></html>',
    )
    assert [i.source for i in list_feed(page, config)] == [one, two]
    with pytest.raises(Exception, match="playlist or channel"):
        fetch_episode(page, config)
