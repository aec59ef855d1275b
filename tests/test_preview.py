"""`podpost preview`: the save API validates with the post checker and writes atomically.

The browser test (headless Debian Chromium through Playwright) is in test_preview_browser.py;
these drive the same HTTP endpoints directly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.llm import OpenAIClient, Usage
from pipeline.models import Turns
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.edits import original_cuts
from pipeline.review.flags import review_state, sha256_text
from pipeline.review.preview import create_app
from pipeline.review.reask import Reasker
from tests.fixtures.review import Drafts, clean_post, preview_client, write_episode


@pytest.fixture
def draft(drafts: Drafts) -> Path:
    post = clean_post()
    write_episode(drafts.episodes_dir, post)
    return drafts.write("episode", post)


@pytest.fixture
def client(draft: Path, drafts: Drafts) -> TestClient:
    return preview_client(create_app(draft, episodes_dir=drafts.episodes_dir, db=drafts.db))


def _edits(draft: Path, **changes: Any) -> dict[str, Any]:
    """The page's request: its current state plus ``changes``."""
    post = parse_post(draft.read_text("utf-8"))
    body: dict[str, Any] = {
        "base_sha256": sha256_text(draft.read_text("utf-8")),
        "front": post.front.model_dump(),
        "speakers": {t.speaker: t.speaker for t in post.turns},
        "headings": [s.heading for s in post.sections],
        "translations": ["\n".join(t.translation) for t in post.turns],
    }
    body.update(changes)
    return body


def test_saving_an_edit_rewrites_the_draft(client: TestClient, draft: Path, drafts: Drafts) -> None:
    before = parse_post(draft.read_text("utf-8"))
    translations = ["\n".join(t.translation) for t in before.turns]
    translations[1] = "谢谢邀请。\n\n能来这里我很高兴。"  # two paragraphs
    body = _edits(
        draft,
        translations=translations,
        headings=["开场", "检索增强生成"],
        speakers={"Ada Brook": "Ada Brooke", "Leo Park": "Leo Park"},
        front={**before.front.model_dump(), "tags": ["rag", " search ", ""], "insight": " 好 "},
    )
    response = client.post("/api/save", json=body)
    assert response.status_code == 200, response.text
    text = draft.read_text("utf-8")
    assert response.json() == {"ok": True, "sha256": sha256_text(text)}
    assert check_post(text) == []
    after = parse_post(text)
    assert after.turns[1].translation == ["谢谢邀请。", "能来这里我很高兴。"]
    assert [s.heading for s in after.sections] == ["开场", "检索增强生成"]
    assert [t.speaker for t in after.turns] == ["Ada Brooke", "Leo Park"] * 3
    assert (after.front.tags, after.front.insight) == (["rag", "search"], "好")
    expected = before.model_copy(deep=True)
    expected.turns[1].translation = ["谢谢邀请。", "能来这里我很高兴。"]
    assert [t.original for t in after.turns] == [t.original for t in expected.turns]
    assert review_state(drafts.db, draft) == "edited"


@pytest.mark.parametrize(
    ("change", "reason", "problems"),
    [
        ({"speakers": {"Ada Brook": "", "Leo Park": "Leo Park"}},
         "turn 1 speaker name: must not be empty", []),
        ({"speakers": {"Ada Brook": "**Ada**", "Leo Park": "Leo Park"}},
         "turn 1 speaker name: a speaker name cannot contain '*' (it would break the bold label)",
         []),
        ({"headings": ["开场与嘉宾介绍", "  "]}, "section 2 heading: must not be empty", []),
        ({"front": {"date": "March 2nd"}},
         "front matter 'date': date 'March 2nd' must read YYYY-MM-DD", []),
        ({"front": {"tags": ["Vector DBs"]}},
         "front matter 'tags': tag 'Vector DBs' must be lowercase and hyphenated, like "
         "'ai-safety'", []),
        # NEL (U+0085) is a line break to YAML: the model refuses it before any rendering.
        ({"front": {"title": "a\x85b"}}, "front matter 'title': must be a single line", []),
        ({"front": {"title": "two\nlines"}}, "front matter 'title': must be a single line", []),
        ({"translations": ["只有一段"]}, "the page sent 1 translations for 6 turns",
         ["reload the page and edit again"]),
    ],
)  # fmt: skip
def test_an_invalid_edit_is_refused_and_nothing_is_written(
    client: TestClient, draft: Path, change: dict, reason: str, problems: list[str]
) -> None:
    before = draft.read_bytes()
    body = _edits(draft)
    for key, value in change.items():
        body[key] = {**body[key], **value} if key == "front" else value
    response = client.post("/api/save", json=body)
    assert response.status_code == 422
    assert response.json() == {"ok": False, "reason": reason, "problems": problems}
    assert draft.read_bytes() == before
    assert sorted(p.name for p in draft.parent.iterdir()) == ["episode.md"]  # no sidecar


def test_a_save_against_a_changed_file_is_refused(client: TestClient, draft: Path) -> None:
    body = _edits(draft)
    changed = draft.read_text("utf-8").replace("谢谢邀请", "多谢邀请")
    draft.write_text(changed, "utf-8")  # someone else saved meanwhile
    response = client.post("/api/save", json=body)
    assert response.status_code == 409
    assert response.json()["reason"] == (
        "the draft changed on disk since this page was loaded; nothing was saved"
    )
    assert draft.read_text("utf-8") == changed


def test_text_that_looks_like_html_stays_text(client: TestClient, draft: Path) -> None:
    evil = '<script>alert(1)</script> & </details> "q" <img src=x onerror=alert(2)>'
    translations = _edits(draft)["translations"]
    translations[0] = evil
    body = _edits(draft, translations=translations)
    body["front"]["title"] = '<b>标题</b> " onmouseover=x'
    assert client.post("/api/save", json=body).status_code == 200
    assert parse_post(draft.read_text("utf-8")).turns[0].translation == [evil]
    page = client.get("/").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>标题" not in page
    # The blog view and the textarea both show it escaped, exactly once.
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert 'value="&lt;b&gt;标题&lt;/b&gt; &#34; onmouseover=x"' in page
    assert page.count("<details>") == 6  # the stray </details> did not end one early
    csp = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]


def test_the_page_links_each_turn_to_its_moment_in_the_source(client: TestClient) -> None:
    page = client.get("/").text
    for start in (0, 37, 74, 111, 148, 185):
        assert f'href="https://www.youtube.com/watch?v=abcDEF12345&amp;t={start}s"' in page
    assert page.count('class="translation"') == 6


def test_without_the_episode_folder_the_page_still_works(drafts: Drafts) -> None:
    path = drafts.write("lonely", clean_post(source="https://www.youtube.com/watch?v=zzz"))
    client = preview_client(create_app(path, episodes_dir=drafts.episodes_dir, db=drafts.db))
    page = client.get("/")
    assert page.status_code == 200
    review = page.text.split('id="review"')[1]
    assert "&amp;t=" not in review and "▶" not in review  # no links, no start times
    assert page.text.count('class="translation"') == 6


def test_a_broken_draft_is_shown_with_its_problems_and_cannot_be_saved(drafts: Drafts) -> None:
    path = drafts.write("broken", clean_post())
    path.write_text(render_post(clean_post()) + "\n\n<script>x</script>", "utf-8")
    client = preview_client(create_app(path, db=drafts.db))
    page = client.get("/").text
    assert 'id="save"' not in page and "<script>x" not in page
    assert "text outside a turn" in page
    body = {"base_sha256": sha256_text(path.read_text("utf-8")), "translations": []}
    response = client.post("/api/save", json=body)
    assert response.status_code == 422
    assert response.json()["reason"] == (
        "the draft on disk does not pass the post check; fix it first"
    )


def test_only_the_two_assets_are_served(client: TestClient) -> None:
    assert client.get("/assets/preview.js").status_code == 200
    assert client.get("/assets/page.html.j2").status_code == 404
    assert client.get("/assets/..%2Fpreview.py").status_code == 404


# --- the guard: only the preview's own address and page; bounded bodies ------------------

FOREIGN_HOST = "the preview answers only at its own address"
FOREIGN_ORIGIN = "the preview accepts changes only from its own page"


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"Host": "evil.example:8765"}, 403, FOREIGN_HOST),
        ({"Host": "127.0.0.1:9999"}, 403, FOREIGN_HOST),
        ({"Origin": "http://evil.example"}, 403, FOREIGN_ORIGIN),
        ({"Origin": "http://127.0.0.1:8765.evil.example"}, 403, FOREIGN_ORIGIN),
        ({"Origin": ""}, 403, FOREIGN_ORIGIN),
    ],
)  # fmt: skip
def test_a_foreign_host_or_origin_is_refused_and_nothing_is_written(
    client: TestClient, draft: Path, headers: dict[str, str], status: int, reason: str
) -> None:
    before = sorted((p.name, p.read_bytes()) for p in draft.parent.iterdir())
    translations = _edits(draft)["translations"]
    translations[0] = "被改写了"
    body = _edits(draft, translations=translations)
    response = client.post("/api/save", json=body, headers=headers)
    assert (response.status_code, response.json()["reason"]) == (status, reason)
    edit = {"base_sha256": body["base_sha256"], "op": "speaker", "turn": 1, "speaker": "X"}
    assert client.post("/api/edit", json=edit, headers=headers).status_code == status
    assert sorted((p.name, p.read_bytes()) for p in draft.parent.iterdir()) == before
    if "Host" in headers:  # reading is refused too (DNS rebinding reads the draft)
        assert client.get("/api/review", headers=headers).status_code == 403
        assert client.get("/", headers=headers).status_code == 403


def test_localhost_is_the_preview_too(client: TestClient, draft: Path) -> None:
    headers = {"Host": "localhost:8765", "Origin": "http://localhost:8765"}
    assert client.get("/", headers=headers).status_code == 200
    assert client.post("/api/save", json=_edits(draft), headers=headers).status_code == 200


def test_an_oversized_body_is_refused(draft: Path, drafts: Drafts) -> None:
    client = preview_client(
        create_app(draft, episodes_dir=drafts.episodes_dir, max_body=4000, db=drafts.db)
    )
    before = draft.read_bytes()
    body = _edits(draft, translations=["长" * 2000, *_edits(draft)["translations"][1:]])
    response = client.post("/api/save", json=body)
    assert response.status_code == 413
    assert response.json()["reason"] == "the request body is over 4000 bytes"

    def chunks() -> Any:  # no Content-Length: the guard counts what arrives
        yield b'{"base_sha256": "'
        yield b"x" * 5000
        yield b'"}'

    response = client.post(
        "/api/save", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert draft.read_bytes() == before
    assert client.post("/api/save", json=_edits(draft)).status_code == 200  # small: fine


# --- listening ---------------------------------------------------------------------------


def _give_audio(drafts: Drafts, content: bytes) -> Path:
    folder = drafts.episodes_dir / "youtube-abcDEF12345"
    episode = json.loads((folder / "episode.json").read_text("utf-8"))
    episode["audio_file"] = "audio.wav"
    (folder / "episode.json").write_text(json.dumps(episode), "utf-8")
    (folder / "audio.wav").write_bytes(content)
    return folder / "audio.wav"


def test_the_audio_is_served_with_range_requests(client: TestClient, drafts: Drafts) -> None:
    assert client.get("/audio").status_code == 404  # no audio in the folder yet
    assert "<audio" not in client.get("/").text
    content = bytes(range(256)) * 40
    _give_audio(drafts, content)
    whole = client.get("/audio")
    assert (whole.status_code, whole.content) == (200, content)
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get("/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(content)}"
    assert part.content == content[100:200]
    tail = client.get("/audio", headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, content[-10:])
    page = client.get("/")
    assert '<audio id="audio" src="/audio"' in page.text
    assert "media-src 'self'" in page.headers["content-security-policy"]
    for number, start in enumerate((0, 37, 74, 111, 148, 185), 1):
        assert (f'data-turn="{number}" data-start="{float(start)}" '
                f'data-end="{float(start + 36)}"') in page.text  # fmt: skip
        assert f'data-seek="{number}"' in page.text


# --- fixing who said it ------------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").split())


def _transcript_text(drafts: Drafts) -> str:
    turns = Turns.model_validate_json(
        (drafts.episodes_dir / "youtube-abcDEF12345" / "turns.json").read_text("utf-8")
    )
    return " ".join(t.text for t in turns.turns)


def _edit(client: TestClient, draft: Path, **body: Any) -> Any:
    return client.post(
        "/api/edit", json={"base_sha256": sha256_text(draft.read_text("utf-8")), **body}
    )


def _assert_sound(text: str, drafts: Drafts) -> None:
    """Passes the checker; originals read in order are the transcript; each label is the
    same in the translation and in the original."""
    assert check_post(text) == []
    post = parse_post(text)
    assert _plain(" ".join(t.original for t in post.turns)) == _plain(_transcript_text(drafts))
    labels = re.findall(r"^\*\*(.+?)\*\*:", text, re.MULTILINE)
    assert labels == [name for t in post.turns for name in (t.speaker, t.speaker)]


def test_changing_one_turn_s_speaker(client: TestClient, draft: Path, drafts: Drafts) -> None:
    response = _edit(client, draft, op="speaker", turn=2, speaker="Mia Chen")
    assert response.status_code == 200, response.text
    text = draft.read_text("utf-8")
    assert response.json() == {"ok": True, "sha256": sha256_text(text)}
    _assert_sound(text, drafts)
    assert [t.speaker for t in parse_post(text).turns][:3] == ["Ada Brook", "Mia Chen", "Ada Brook"]
    assert (
        "Mia Chen" in client.get("/").text.split('id="speaker-choices"')[1].split("</datalist>")[0]
    )


def test_splitting_and_merging_keep_the_times(
    client: TestClient, draft: Path, drafts: Drafts
) -> None:
    original = parse_post(draft.read_text("utf-8")).turns[3].original
    [at] = original_cuts(original)
    response = _edit(client, draft, op="split", turn=4, at=at, speaker="Ada Brook",
                     translation_at=[1, 0])  # fmt: skip
    assert response.status_code == 200, response.text
    text = draft.read_text("utf-8")
    _assert_sound(text, drafts)
    post = parse_post(text)
    assert [t.speaker for t in post.turns][3:5] == ["Leo Park", "Ada Brook"]
    review = client.get("/api/review").json()
    starts = [t["start"] for t in review["turns"]]
    assert len(starts) == 7 and starts[:4] == [0, 37, 74, 111] and starts[5:] == [148, 185]
    assert 111 < starts[4] < 147
    page = client.get("/").text
    assert f'data-turn="5" data-start="{starts[4]}" data-end="147.0"' in page

    response = _edit(client, draft, op="merge", turn=5)  # back together
    assert response.status_code == 200, response.text
    text = draft.read_text("utf-8")
    _assert_sound(text, drafts)
    merged = parse_post(text)
    assert [t.original for t in merged.turns] == [t.original for t in clean_post().turns]
    assert [t["start"] for t in client.get("/api/review").json()["turns"]] == [
        0, 37, 74, 111, 148, 185]  # fmt: skip
    assert 'data-turn="4" data-start="111.0" data-end="147.0"' in client.get("/").text


def test_merging_two_turns(client: TestClient, draft: Path, drafts: Drafts) -> None:
    response = _edit(client, draft, op="merge", turn=6)
    assert response.status_code == 200, response.text
    text = draft.read_text("utf-8")
    _assert_sound(text, drafts)
    post = parse_post(text)
    assert len(post.turns) == 5 and post.turns[4].speaker == "Ada Brook"
    assert client.get("/api/review").json()["turns"][4]["start"] == 148


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"op": "merge", "turn": 1}, "turn 1 has no turn before it to merge into"),
        ({"op": "speaker", "turn": 9, "speaker": "X"}, "there is no turn 9 (the post has 6)"),
        ({"op": "speaker", "turn": 2, "speaker": "A*B"},
         "turn 2 speaker name: a speaker name cannot contain '*' (it would break the bold label)"),
        ({"op": "split", "turn": 4, "at": 3, "speaker": "X"},
         "turn 4 cannot be split there: pick the end of a sentence"),
    ],
)  # fmt: skip
def test_a_bad_turn_edit_is_refused(
    client: TestClient, draft: Path, body: dict[str, Any], reason: str
) -> None:
    before = sorted((p.name, p.read_bytes()) for p in draft.parent.iterdir())
    response = _edit(client, draft, **body)
    assert (response.status_code, response.json()["reason"]) == (422, reason)
    assert sorted((p.name, p.read_bytes()) for p in draft.parent.iterdir()) == before


def test_the_page_shows_what_changed_since_generation(client: TestClient, draft: Path) -> None:
    assert "Unchanged since the pipeline generated it" in client.get("/").text
    _edit(client, draft, op="speaker", turn=2, speaker="Mia Chen")
    page = client.get("/").text
    assert "Changed since generation: 4 lines" in page
    assert '<span class="del">-**Leo Park**: 谢谢邀请，很高兴来到这里。</span>' in page
    assert '<span class="add">+**Mia Chen**: 谢谢邀请，很高兴来到这里。</span>' in page


# --- asking again ------------------------------------------------------------------------


def test_asking_again_with_a_note(draft: Path, drafts: Drafts, fake_llm, llm_config) -> None:
    spent: list[Usage] = []
    reasker = Reasker(lambda: OpenAIClient(llm_config), on_usage=lambda _d, u: spent.append(u))
    client = preview_client(
        create_app(draft, episodes_dir=drafts.episodes_dir, reasker=reasker, db=drafts.db)
    )
    before = parse_post(draft.read_text("utf-8"))
    base = sha256_text(draft.read_text("utf-8"))
    note = "keep the term vector database in English"
    response = client.post("/api/reask", json={"base_sha256": base, "turn": 4, "note": note})
    assert response.status_code == 200, response.text
    proposal = response.json()
    [request] = fake_llm.requests()
    assert request["task"] == "translate"
    header = json.loads(request["messages"][1]["content"].split("\n", 1)[0])
    assert header["editor_note"] == note
    assert "editor_note" in request["messages"][0]["content"]
    assert "[4] Leo Park: Because a model's knowledge" in request["messages"][1]["content"]
    assert proposal["ok"] is True and proposal["cached"] is False
    # the fake translates as 【译】 + the original, with the post's glossary term replaced
    assert proposal["paragraphs"] == [
        "【译】Because a model's knowledge goes stale, and a **向量数据库** lets it look up "
        "fresh documents before it answers. It is also cheaper, since you do not retrain "
        "every time."
    ]
    assert spent == [Usage(request["prompt_tokens"], request["completion_tokens"], 1)]
    assert draft.read_text("utf-8") == render_post(before)  # nothing written yet

    accept = _edit(client, draft, op="translation", turn=4, paragraphs=proposal["paragraphs"])
    assert accept.status_code == 200, accept.text
    after = parse_post(draft.read_text("utf-8"))
    assert after.turns[3].translation == proposal["paragraphs"]
    assert [t for i, t in enumerate(after.turns) if i != 3] == [
        t for i, t in enumerate(before.turns) if i != 3
    ]
    assert after.front == before.front
    assert [s.heading for s in after.sections] == [s.heading for s in before.sections]

    # the answer was cached in the episode's editorial folder, like the run's chunks
    cached = list((drafts.episodes_dir / "youtube-abcDEF12345" / "editorial").glob("translate-*"))
    assert len(cached) == 1


def test_asking_again_is_off_without_an_llm(client: TestClient, draft: Path) -> None:
    assert "Ask again" not in client.get("/").text
    base = sha256_text(draft.read_text("utf-8"))
    response = client.post("/api/reask", json={"base_sha256": base, "turn": 1})
    assert response.json()["reason"] == "asking the LLM again is off in this preview"
