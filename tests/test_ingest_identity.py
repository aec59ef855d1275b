"""A feed item keeps its episode when an older item with the same guid appears later.

A loopback feed is ingested, then served again with an older item added that carries the
already-used guid (a publisher re-posting, or a feed page growing backwards). Ingestion
goes through the calls ``podpost ingest`` makes for each item
(:func:`pipeline.run.ingest.plan_ingest`, :func:`pipeline.run.episode.run_episode`,
:func:`pipeline.run.ingest.record_outcome`), without the Prefect server around them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.run.episode import run_episode
from pipeline.run.ingest import IngestSummary, plan_ingest, record_outcome
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter
from tests.fixtures.flows import GAP, LINES, captions_vtt
from tests.fixtures.media import rss_feed

NEW = LINES[:2]
OLD = [LINES[2], LINES[3]]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _config(data: Path, base_url: str) -> Config:
    return Config(
        data_dir=data,
        fetch={"retries": 1, "retry_wait": 0.01},
        asr={"backend": "captions"},
        diarize={"backend": "none"},
        llm={"base_url": base_url, "api_key": "test-key", "model": "fake-model",
             "max_retries": 1, "retry_initial_wait": 0.01, "retry_max_wait": 0.05},
    )  # fmt: skip


def _ingest(feed: str, config: Config) -> IngestSummary:
    """What the ingest flow does, one item after another."""
    summary, todo = plan_ingest(feed, config)
    for entry in todo:
        quiet = Reporter(stream=io.StringIO(), terminal=False)
        try:
            result = run_episode(entry.source, config, item=entry.item, report=quiet)
        except Exception as e:
            summary.outcomes.append(record_outcome(config, feed, entry, error=e))
        else:
            summary.outcomes.append(record_outcome(config, feed, entry, result.as_dict()))
    return summary


def _publish(media_server, audio, name: str, items: list[tuple[str, list, int]]) -> str:
    """The feed ``<name>/feed.xml`` with ``(title, lines, day of March)`` items, each with
    its own mp3 and VTT, all with the guid ``copied-guid``."""
    entries = []
    for title, lines, day in items:
        stem = f"{name}/{title.lower().replace(' ', '-')}"
        mp3 = media_server.put(f"{stem}.mp3", audio.speech(lines, "mp3", gap=GAP))
        vtt = media_server.put(f"{stem}.vtt", captions_vtt(audio, lines))
        entries.append(
            {"title": title, "guid": "copied-guid", "enclosure": mp3,
             "date": dt.datetime(2026, 3, day, 10, tzinfo=dt.UTC),
             "transcripts": [(vtt, "text/vtt")]}
        )  # fmt: skip
    return media_server.put(f"{name}/feed.xml", rss_feed("Grows Backwards", entries))


def _rows(summary: IngestSummary) -> list[tuple[str, str, str, str | None]]:
    return [(o.guid, o.title, o.state, o.episode_id) for o in summary.outcomes]


@pytest.mark.slow  # synthesised speech (cached after the first test session)
def test_an_older_item_with_a_used_guid_does_not_take_the_done_items_episode(
    tmp_path: Path, media_server, audio, fake_llm
) -> None:
    config = _config(tmp_path / "data", fake_llm.base_url)
    name = "grows-backwards"
    feed = _publish(media_server, audio, name, [("Latest", NEW, 16)])
    bare = f"feed-{sha('copied-guid')[:16]}"

    first = _ingest(feed, config)
    assert _rows(first) == [("copied-guid", "Latest", "new", bare)]
    draft = config.drafts_path / f"{bare}.md"
    drafted = draft.read_bytes()
    asked = len(fake_llm.requests())
    hits = media_server.hits(f"{name}/latest.mp3")

    # the same feed served again, an older item with the same guid added below the first
    _publish(media_server, audio, name, [("Latest", NEW, 16), ("Earlier", OLD, 2)])
    older = f"copied-guid#{sha(media_server.url(f'{name}/earlier.mp3'))[:8]}"
    older_id = f"feed-{sha(older)[:16]}"
    second = _ingest(feed, config)
    assert _rows(second) == [
        ("copied-guid", "Latest", "done-before", bare),  # not redone, same episode
        (older, "Earlier", "new", older_id),
    ]
    assert media_server.hits(f"{name}/latest.mp3") == hits  # not downloaded again
    assert draft.read_bytes() == drafted
    for episode_id, title, lines in ((bare, "Latest", NEW), (older_id, "Earlier", OLD)):
        folder = config.episodes_dir / episode_id
        assert json.loads((folder / "episode.json").read_text())["title"] == title
        transcript = json.loads((folder / "transcript.json").read_text())
        assert " ".join(s["text"] for s in transcript["segments"]) == " ".join(t for _, t in lines)
    assert sorted(p.name for p in config.drafts_path.glob("*.md")) == sorted(
        [f"{bare}.md", f"{older_id}.md"]
    )
    asked_for_older = fake_llm.requests()[asked:]
    assert asked_for_older and all(
        "Welcome to Loopback Radio" not in json.dumps(r["messages"]) for r in asked_for_older
    )

    # and a third ingestion finds both done, each under its own key
    third = _ingest(feed, config)
    assert _rows(third) == [
        ("copied-guid", "Latest", "done-before", bare),
        (older, "Earlier", "done-before", older_id),
    ]
    assert Ledger.of(config).claims(feed) == {
        "copied-guid": media_server.url(f"{name}/latest.mp3"),
        older: media_server.url(f"{name}/earlier.mp3"),
    }


def test_a_ledger_from_before_claims_gains_them_without_losing_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"  # imported into the state database on first open
    with sqlite3.connect(path) as db:  # the items table as older podpost made it
        db.execute(
            "CREATE TABLE items (feed TEXT NOT NULL, item TEXT NOT NULL, source TEXT NOT NULL, "
            "title TEXT NOT NULL DEFAULT '', episode_id TEXT, state TEXT NOT NULL, error TEXT, "
            "attempts INTEGER NOT NULL DEFAULT 0, updated TEXT NOT NULL, "
            "PRIMARY KEY (feed, item))"
        )
        db.execute(
            "INSERT INTO items VALUES ('http://f', 'g', 'http://f', 'Latest', 'feed-1', 'done', "
            "NULL, 1, '2026-03-16T10:00:00+00:00')"
        )
    db.close()
    ledger = Ledger.of(Config(data_dir=tmp_path))
    Ledger.of(Config(data_dir=tmp_path))  # a second opening imports nothing again
    assert ledger.items("http://f")["g"].enclosure is None
    assert ledger.claims("http://f") == {}
    ledger.adopt_enclosure("http://f", "g", "http://cdn/a.mp3")
    ledger.adopt_enclosure("http://f", "g", "http://cdn/b.mp3")  # the first adoption stands
    assert ledger.claims("http://f") == {"g": "http://cdn/a.mp3"}
    row = ledger.items("http://f")["g"]
    assert (row.episode_id, row.state, row.attempts) == ("feed-1", "done", 1)
    ledger.record("http://f", "g", source="http://f", title="Latest", state="done")
    assert ledger.claims("http://f") == {"g": "http://cdn/a.mp3"}  # kept when none is given
