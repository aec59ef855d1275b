"""No lost update: the conditional write under the draft's lock, and the 409 with both
versions (the browser test is in test_preview_browser.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import StaleEditError
from pipeline.post.parse import parse_post
from pipeline.review.flags import sha256_text
from pipeline.review.preview import create_app, if_match
from pipeline.review.saving import (
    Edits,
    apply_edits,
    conflict_hunks,
    save_edits,
    write_if_match,
)
from tests.fixtures.review import Drafts, clean_post, preview_client, write_episode


@pytest.fixture
def draft(drafts: Drafts) -> Path:
    post = clean_post()
    write_episode(drafts.episodes_dir, post)
    return drafts.write("episode", post)


def _edits(draft: Path, turn: int, text: str) -> dict[str, Any]:
    """The page's state as loaded, with turn ``turn``'s (1-based) translation changed."""
    current = draft.read_text("utf-8")
    post = parse_post(current)
    translations = ["\n".join(t.translation) for t in post.turns]
    translations[turn - 1] = text
    return {
        "base_sha256": sha256_text(current),
        "front": post.front.model_dump(),
        "speakers": {t.speaker: t.speaker for t in post.turns},
        "headings": [s.heading for s in post.sections],
        "translations": translations,
    }


def test_the_second_of_two_writes_from_one_version_is_refused(draft: Path) -> None:
    first = Edits.model_validate(_edits(draft, 2, "第一位编辑的译文。"))
    second = Edits.model_validate(_edits(draft, 3, "第二位编辑的译文。"))
    outcome: dict[str, object] = {}

    def other_writer() -> None:
        try:
            outcome["second"] = save_edits(draft, second)
        except StaleEditError as e:
            outcome["second"] = e

    def change(text: str, post: Any) -> str:
        # while this write holds the lock, a second one from the same version must wait
        thread.start()
        thread.join(timeout=0.2)
        outcome["waited"] = thread.is_alive()
        return apply_edits(post, first)[1]

    thread = threading.Thread(target=other_writer)
    written = write_if_match(draft, first.base_sha256, change)
    thread.join(timeout=10)
    assert outcome["waited"] is True
    refused = outcome["second"]
    assert isinstance(refused, StaleEditError)
    assert refused.current == written == draft.read_text("utf-8")
    assert parse_post(written).turns[1].translation == ["第一位编辑的译文。"]


def test_a_stale_save_gets_409_with_both_versions(draft: Path, drafts: Drafts) -> None:
    client = preview_client(create_app(draft, episodes_dir=drafts.episodes_dir, db=drafts.db))
    loaded = client.get("/")
    version = loaded.headers["ETag"]
    mine, theirs = _edits(draft, 2, "我的译文。"), _edits(draft, 2, "他们的译文。")
    ok = client.post("/api/save", json=theirs, headers={"If-Match": version})
    assert ok.status_code == 200
    saved = draft.read_text("utf-8")
    assert ok.headers["ETag"] == f'"{sha256_text(saved)}"' == f'"{ok.json()["sha256"]}"'

    stale = client.post("/api/save", json=mine, headers={"If-Match": version})
    assert stale.status_code == 409
    body = stale.json()
    assert (
        body["reason"] == "the draft changed on disk since this page was loaded; nothing was saved"
    )
    assert body["conflict"] == {
        "sha256": sha256_text(saved),
        "hunks": [{"saved": ["**Leo Park**: 他们的译文。"], "yours": ["**Leo Park**: 我的译文。"]}],
    }
    assert stale.headers["ETag"] == f'"{sha256_text(saved)}"'
    assert draft.read_text("utf-8") == saved  # nothing written

    # the editor keeps theirs... or chooses their own: a save based on the saved version
    again = client.post("/api/save", json=mine, headers={"If-Match": stale.headers["ETag"]})
    assert again.status_code == 200
    assert parse_post(draft.read_text("utf-8")).turns[1].translation == ["我的译文。"]


def test_if_match_overrides_the_body_version(draft: Path, drafts: Drafts) -> None:
    client = preview_client(create_app(draft, episodes_dir=drafts.episodes_dir, db=drafts.db))
    body = _edits(draft, 2, "新的译文。")
    refused = client.post("/api/save", json=body, headers={"If-Match": '"0000"'})
    assert refused.status_code == 409
    assert client.post("/api/save", json=body).status_code == 200  # the body's version


def test_if_match_and_hunks() -> None:
    assert if_match('W/"abc", "def"', "body") == "abc"
    assert if_match(None, "body") == if_match("*", "body") == "body"
    assert conflict_hunks("a\nb\nc", "a\nB\nc\nd") == [
        {"saved": ["b"], "yours": ["B"]},
        {"saved": [], "yours": ["d"]},
    ]
