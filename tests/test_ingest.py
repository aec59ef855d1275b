"""`podpost ingest FEED`: a 20-item feed, 5 done before, 1 broken; then a second ingestion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.flows import LINES, publish_show, run_cli, status_rows, write_config


def _drafts(drafts: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in drafts.glob("*.md")}


@pytest.mark.slow
def test_ingest_takes_only_new_items_and_retries_the_failure(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "ingest", items=20, lines=LINES[:2])
    broken = show.audio_names[17]  # ep3: older than the five newest
    media_server.route(broken, status=404, body="gone")
    # diarization is not under test here: one speaker keeps 20 episodes quick
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    data = tmp_path / "data"
    env = prefect_api.client_env()

    def ingest(*args: str) -> tuple[int, dict]:
        done = run_cli(
            ["--config", str(config), "--data-dir", str(data), "ingest", show.feed_url, "--json",
             "--concurrency", "2", *args],
            env=env,
            timeout=900,
        )  # fmt: skip
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout)

    # the five newest, before: 5 drafts
    code, first = ingest("--limit", "5")
    assert code == 0
    assert (first["new"], first["failed"], first["done_before"]) == (5, 0, 0)
    assert [o["guid"] for o in first["items"] if o["state"] == "new"] == show.guids[:5]
    before = _drafts(data / "drafts")
    assert len(before) == 5
    hits_before = {name: media_server.hits(name) for name in show.audio_names}
    fake_llm.reset()

    # the full ingestion: 14 new drafts, 1 failure, the 5 untouched
    code, second = ingest()
    assert code == 1  # a failure is reported in the exit code too
    assert (second["new"], second["failed"], second["done_before"]) == (14, 1, 5)
    drafted = {o["guid"]: o["draft"] for o in first["items"] if o["state"] == "new"}
    done_before = [o for o in second["items"] if o["state"] == "done-before"]
    assert {o["guid"]: o["draft"] for o in done_before} == drafted  # their drafts, not null
    assert all(Path(o["draft"]).is_file() for o in done_before)
    [failure] = [o for o in second["items"] if o["state"] == "failed"]
    assert failure["guid"] == show.guids[17]
    assert failure["error"] == f"{media_server.url(broken)} is not found (HTTP 404); check the URL"
    after = _drafts(data / "drafts")
    assert len(after) == 19
    assert {name: after[name] for name in before} == before  # not rewritten
    for name in show.audio_names[:5]:
        assert media_server.hits(name) == hits_before[name]  # not fetched again
    assert fake_llm.requests() != []

    # the next ingestion does nothing but retry the failure
    fake_llm.reset()
    hits_before = {name: media_server.hits(name) for name in show.audio_names}
    code, third = ingest()
    assert code == 1
    assert (third["new"], third["failed"], third["done_before"]) == (0, 1, 19)
    changed = [n for n in show.audio_names if media_server.hits(n) != hits_before[n]]
    assert changed == [broken]
    assert fake_llm.requests() == []
    assert _drafts(data / "drafts") == after

    # once the media is back, the retry succeeds; the table (80 columns) shows its draft whole
    media_server.routes.pop("/" + broken)
    done = run_cli(
        ["--config", str(config), "--data-dir", str(data), "ingest", show.feed_url],
        env={**env, "COLUMNS": "80"},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    [new] = [p for p in _drafts(data / "drafts") if p not in after]
    assert f"  draft: {data / 'drafts' / new}\n" in done.stdout
    assert done.stdout.endswith("1 new drafts, 0 needing review, 0 failed, 19 done before\n")

    rows = status_rows(data)
    assert len(rows) == 20 and {r["state"] for r in rows} == {"done"}
