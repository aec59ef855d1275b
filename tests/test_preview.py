"""`podpost preview`: the save API validates with the post checker and writes atomically.

The browser test (headless Debian Chromium through Playwright) is in test_preview_browser.py;
these drive the same HTTP endpoints directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.flags import review_state, sha256_text
from pipeline.review.preview import create_app
from tests.fixtures.review import Drafts, clean_post, preview_client, write_episode


@pytest.fixture
def draft(drafts: Drafts) -> Path:
    post = clean_post()
    write_episode(drafts.episodes_dir, post)
    return drafts.write("episode", post)


@pytest.fixture
def client(draft: Path, drafts: Drafts) -> TestClient:
    return preview_client(create_app(draft, episodes_dir=drafts.episodes_dir))


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


def test_saving_an_edit_rewrites_the_draft(client: TestClient, draft: Path) -> None:
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
    assert review_state(draft) == "edited"


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
    assert sorted(p.name for p in draft.parent.iterdir()) == ["episode.md", "episode.meta.json"]


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
    client = preview_client(create_app(path, episodes_dir=drafts.episodes_dir))
    page = client.get("/")
    assert page.status_code == 200
    review = page.text.split('id="review"')[1]
    assert "&amp;t=" not in review and "▶" not in review  # no links, no start times
    assert page.text.count('class="translation"') == 6


def test_a_broken_draft_is_shown_with_its_problems_and_cannot_be_saved(drafts: Drafts) -> None:
    path = drafts.write("broken", clean_post())
    path.write_text(render_post(clean_post()) + "\n\n<script>x</script>", "utf-8")
    client = preview_client(create_app(path))
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
