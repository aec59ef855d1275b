"""Whole runs over feeds that used to lose episodes or leak passwords (loopback only)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tests.fixtures.flows import captions_vtt, run_cli, status_rows, write_config
from tests.fixtures.media import VOICES, rss_feed
from tests.test_fetch_feed_sources import LINES, AuthServer, all_bytes, feed_xml, item

pytestmark = pytest.mark.slow

SECOND = [(VOICES[0], "This is the second episode."), (VOICES[2], "A different guest today.")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_two_items_with_one_guid_give_two_drafts_once(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    import datetime as dt

    entries = []
    for number, lines in ((2, SECOND), (1, LINES)):  # newest first, as feeds list them
        mp3 = media_server.put(f"dup/ep{number}.mp3", audio.speech(lines, "mp3"))
        vtt = media_server.put(f"dup/ep{number}.vtt", captions_vtt(audio, lines))
        entries.append(
            {"title": f"Episode {number}", "guid": "episode-guid", "enclosure": mp3,
             "date": dt.datetime(2026, 3, 2 + 7 * (number - 1), 10, tzinfo=dt.UTC),
             "transcripts": [(vtt, "text/vtt")]}
        )  # fmt: skip
    feed = media_server.put("dup/feed.xml", rss_feed("Copy Paste Podcast", entries))
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    data = tmp_path / "data"
    args = ["--config", str(config), "--data-dir", str(data), "ingest", feed, "--json"]

    done = run_cli(args, env=prefect_api.client_env(), timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    two = f"episode-guid#{sha(media_server.url('dup/ep2.mp3').encode())[:8]}"
    assert (summary["new"], summary["failed"], summary["done_before"]) == (2, 0, 0)
    assert [(o["guid"], o["title"], o["state"]) for o in summary["items"]] == [
        (two, "Episode 2", "new"),
        ("episode-guid", "Episode 1", "new"),  # the oldest keeps the bare guid
    ]
    ids = [o["episode_id"] for o in summary["items"]]
    assert ids == [f"feed-{sha(two.encode())[:16]}", f"feed-{sha(b'episode-guid')[:16]}"]
    for episode_id, number, lines in zip(ids, (2, 1), (SECOND, LINES), strict=True):
        folder = data / "episodes" / episode_id
        episode = json.loads((folder / "episode.json").read_text())
        assert episode["title"] == f"Episode {number}"
        audio_path = folder / episode["audio_file"]
        assert sha(audio_path.read_bytes()) == sha(audio.speech(lines, "mp3").read_bytes())
        transcript = json.loads((folder / "transcript.json").read_text())
        spoken = " ".join(s["text"] for s in transcript["segments"])
        assert spoken == " ".join(text for _, text in lines)
    drafts = sorted(p.name for p in (data / "drafts").glob("*.md"))
    assert drafts == sorted(f"{i}.md" for i in ids)
    assert {r["id"]: r["state"] for r in status_rows(data)} == dict.fromkeys(ids, "done")

    hits = [media_server.hits(f"dup/ep{n}.mp3") for n in (1, 2)]
    again = run_cli(args, env=prefect_api.client_env(), timeout=600)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["new"], second["failed"], second["done_before"]) == (0, 0, 2)
    assert [media_server.hits(f"dup/ep{n}.mp3") for n in (1, 2)] == hits
    assert sorted(p.name for p in (data / "drafts").glob("*.md")) == drafts


def test_password_reaches_no_file_output_or_prefect_record(
    tmp_path: Path, audio, fake_llm, prefect_api
) -> None:
    mp3 = audio.speech(LINES, "mp3").read_bytes()
    vtt = captions_vtt(audio, LINES).encode()
    body = feed_xml(item("/private/ep1.mp3", "ep1.vtt", guid="members-1"), title="Members Only")
    files = {
        "/private/feed.xml": ("application/rss+xml", body.encode()),
        "/private/ep1.mp3": ("audio/mpeg", mp3),
        "/private/ep1.vtt": ("text/vtt", vtt),
    }
    secret = "pw-Prefect-9Qk"
    server = AuthServer("ann", secret, files)
    try:
        config = write_config(tmp_path / "podpost.toml", fake_llm.base_url)
        data = tmp_path / "data"
        url = f"http://ann:{secret}@127.0.0.1:{server.port}/private/feed.xml"
        base = ["--config", str(config), "--data-dir", str(data)]
        done = run_cli([*base, "run", url], env=prefect_api.client_env(), timeout=600)
        assert done.returncode == 0, done.stderr
        status = run_cli([*base, "status", "--json"], env=prefect_api.client_env())
    finally:
        server.close()
    assert {path for path, ok in server.seen if ok} == {
        "/private/feed.xml",
        "/private/ep1.mp3",
        "/private/ep1.vtt",
    }
    draft = Path(done.stdout.strip())
    assert f"source: http://127.0.0.1:{server.port}/private/ep1.mp3" in draft.read_text()
    for text in (done.stdout, done.stderr, status.stdout, status.stderr):
        assert secret not in text
    assert f"http://ann:***@127.0.0.1:{server.port}/private/feed.xml" in status.stdout
    assert secret.encode() not in all_bytes(data)  # episodes, run.json, ledger, drafts

    api = prefect_api.api_url
    runs = httpx.post(f"{api}/flow_runs/filter", json={"limit": 200}, timeout=30).json()
    ours = [r for r in runs if "ann:***@" in json.dumps(r["parameters"])]
    assert ours and all(secret not in json.dumps(r) for r in runs)
    artifacts = httpx.post(f"{api}/artifacts/filter", json={"limit": 200}, timeout=30).text
    assert secret not in artifacts
    assert secret.encode() not in all_bytes(prefect_api.home)  # the server's database too
