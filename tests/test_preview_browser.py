"""`podpost preview` in a real browser: Debian's Chromium, headless, driven by Playwright.

The browser is the system's /usr/bin/chromium (never a Playwright download); the page is
served by the real CLI on 127.0.0.1. Skips only when Chromium or Playwright is missing.
``test_review_by_ear_in_the_browser`` starts from ``podpost run`` on a local file (captions
beside it, the fake LLM): it plays the audio turn by turn, fixes speakers and turn
boundaries, and asks the LLM again for one turn.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from tests.fixtures.review import Drafts, clean_post, write_episode

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


def chromium_page(extra_args: list[str], timeout_ms: int) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium; skips when either is missing."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


@pytest.fixture
def browser_page() -> Iterator[object]:
    yield from chromium_page([], 15_000)


@pytest.fixture
def served(drafts: Drafts) -> Iterator[tuple[str, Path]]:
    """`podpost preview DRAFT --port 0` running; yields its URL and the draft's path."""
    post = clean_post()
    write_episode(drafts.episodes_dir, post)
    draft = drafts.write("episode", post)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODPOST_", "OPENAI_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--config", str(drafts.config_toml()),
         "preview", "episode", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        url = line.split(": ", 1)[1].split()[0]
        yield url, draft
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_edit_and_save_in_the_browser(browser_page: object, served: tuple[str, Path]) -> None:
    page = browser_page  # a playwright.sync_api.Page
    url, draft = served
    page.goto(url)  # type: ignore[attr-defined]

    # The blog view: <details> closed, and it opens to show the original.
    details = page.locator("#blog details").nth(1)  # type: ignore[attr-defined]
    original = details.locator("p")
    assert details.get_attribute("open") is None
    assert not original.is_visible()
    details.locator("summary").click()
    assert details.get_attribute("open") == ""
    assert original.is_visible()
    assert original.inner_text() == "Leo Park: Thanks for having me, it is great to be here."

    # Edit a translation and save: the file changes and still passes the checker.
    before = draft.read_text("utf-8")
    page.fill("textarea[data-turn='2']", "非常感谢邀请！\n我很高兴能来。")  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_selector("#status.ok")  # type: ignore[attr-defined]
    assert page.inner_text("#status") == "Saved."  # type: ignore[attr-defined]
    after = draft.read_text("utf-8")
    assert after != before
    assert check_post(after) == []
    assert parse_post(after).turns[1].translation == ["非常感谢邀请！", "我很高兴能来。"]
    assert page.locator("#blog p", has_text="我很高兴能来。").count() == 1  # type: ignore[attr-defined]

    # Emptying a speaker name breaks the format: refused with the reason, file unchanged.
    page.fill("input[data-speaker='Leo Park']", "")  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_selector("#status.refused")  # type: ignore[attr-defined]
    assert page.inner_text("#status") == (  # type: ignore[attr-defined]
        "Not saved: turn 2 speaker name: must not be empty"
    )
    assert draft.read_text("utf-8") == after
    assert check_post(draft.read_text("utf-8")) == []


# --- review by ear: a draft made by `podpost run` from a local file ---------------------


@pytest.fixture
def ear_page() -> Iterator[object]:
    """Chromium that may start playback without a gesture (headless has no speakers)."""
    yield from chromium_page(["--autoplay-policy=no-user-gesture-required"], 20_000)


@pytest.fixture
def run_draft(tmp_path: Path, audio, fake_llm, prefect_api) -> tuple[Path, Path, Path]:
    """`podpost run talk.wav` (captions beside it, the fake LLM): config, data dir, draft."""
    from tests.fixtures.flows import GAP, LINES, captions_vtt, run_cli, write_config

    media = tmp_path / "media"
    media.mkdir()
    talk = media / "talk.wav"
    talk.write_bytes(audio.speech(LINES, fmt="wav", gap=GAP).read_bytes())
    # The captions name who speaks (<v>): this is about the preview, not the diarizer, which
    # hears these two espeak-ng voices as one (docs/diarization.md)
    names = {"en-us": "Ada Stone", "en-gb": "Ben Ruiz"}
    cues = iter(names[voice] for voice, _text in LINES)
    vtt = re.sub(
        r"(-->[^\n]*\n)", lambda m: f"{m.group(1)}<v {next(cues)}>", captions_vtt(audio, LINES)
    )
    (media / "talk.en.vtt").write_text(vtt, "utf-8")
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    data = tmp_path / "data"
    done = run_cli(["--config", str(config), "--data-dir", str(data), "run", str(talk)],
                   env=prefect_api.client_env())  # fmt: skip
    assert done.returncode == 0, done.stderr
    return config, data, Path(done.stdout.strip())


def _preview(config: Path, data: Path, draft: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODPOST_", "OPENAI_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--config", str(config), "--data-dir", str(data),
         "preview", str(draft), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").split())


def _assert_sound(draft: Path, data: Path) -> None:
    """`podpost post check` passes; originals joined are the transcript text; each turn's
    label is the same in its translation and its original."""
    from pipeline.models import Transcript

    text = draft.read_text("utf-8")
    assert check_post(text) == []
    check = subprocess.run(
        [sys.executable, "-m", "pipeline", "post", "check", str(draft)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    post = parse_post(text)
    folder = data / "episodes" / draft.stem
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text("utf-8"))
    assert _plain(" ".join(t.original for t in post.turns)) == _plain(transcript.text)
    labels = re.findall(r"^\*\*(.+?)\*\*:", text, re.MULTILINE)
    assert labels == [name for t in post.turns for name in (t.speaker, t.speaker)]


def test_review_by_ear_in_the_browser(ear_page: object, run_draft, fake_llm) -> None:
    from tests.fixtures.flows import status_rows

    page: Any = ear_page  # a playwright.sync_api.Page
    config, data, draft = run_draft
    process = _preview(config, data, draft)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        url = line.split(": ", 1)[1].split()[0]
        page.goto(url)
        turns = parse_post(draft.read_text("utf-8")).turns
        assert len(turns) >= 4

        # (1) Listen: the <audio>'s source answers a range request with 206.
        answer = page.evaluate(
            """async () => {
                const audio = document.querySelector("audio");
                const r = await fetch(audio.src, {headers: {Range: "bytes=0-99"}});
                const body = await r.arrayBuffer();
                return [r.status, r.headers.get("content-range"), body.byteLength];
            }"""
        )
        assert answer[0] == 206 and answer[1].startswith("bytes 0-99/") and answer[2] == 100
        page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        third = page.locator(".turn[data-turn='3']")
        start3 = float(third.get_attribute("data-start"))
        third.locator("button.seek").click()
        at = page.evaluate("document.querySelector('audio').currentTime")
        assert abs(at - start3) <= 0.3
        # Functions, not expressions: polling an expression needs eval, which the CSP forbids.
        page.wait_for_function(  # playback starts: time moves on from turn 3's start
            f"() => !document.querySelector('audio').paused && "
            f"document.querySelector('audio').currentTime > {start3} + 0.05"
        )
        assert page.locator(".turn.current").get_attribute("data-turn") == "3"
        page.keyboard.press("k")  # pause, so the clock stands still
        page.wait_for_function("() => document.querySelector('audio').paused")
        page.keyboard.press("n")
        start4 = float(page.get_attribute(".turn[data-turn='4']", "data-start"))
        assert page.locator(".turn.current").get_attribute("data-turn") == "4"
        at = page.evaluate("document.querySelector('audio').currentTime")
        assert abs(at - start4) <= 0.3
        page.keyboard.press("p")
        assert page.locator(".turn.current").get_attribute("data-turn") == "3"
        assert "n next turn" in page.inner_text("#keys")

        # (2) Fix who said it: one turn's speaker, a split, a merge; each a sound draft.
        fix = page.locator(".fix[data-fix='2']")
        fix.locator("summary").click()
        fix.locator(".fix-speaker").fill("Mia Chen")
        fix.locator("button[data-op='speaker']").click()
        page.wait_for_selector("#status.ok")
        assert parse_post(draft.read_text("utf-8")).turns[1].speaker == "Mia Chen"
        _assert_sound(draft, data)

        count = len(parse_post(draft.read_text("utf-8")).turns)
        splittable = page.locator(".fix:has(select.split-at)").first
        number = int(splittable.get_attribute("data-fix"))
        before = parse_post(draft.read_text("utf-8")).turns[number - 1]
        splittable.locator("summary").click()
        splittable.locator(".split-speaker").fill("Noor Ali")
        splittable.locator("button[data-op='split']").click()
        page.wait_for_selector("#status.ok")
        after = parse_post(draft.read_text("utf-8")).turns
        assert len(after) == count + 1
        assert (after[number - 1].speaker, after[number].speaker) == (before.speaker, "Noor Ali")
        assert after[number - 1].translation and after[number].translation
        _assert_sound(draft, data)
        new_start = float(page.get_attribute(f".turn[data-turn='{number + 1}']", "data-start"))
        old_start = float(page.get_attribute(f".turn[data-turn='{number}']", "data-start"))
        assert new_start > old_start

        merge = page.locator(".fix[data-fix='3']")
        merge.locator("summary").click()
        merge.locator("button[data-op='merge']").click()
        page.wait_for_selector("#status.ok")
        assert len(parse_post(draft.read_text("utf-8")).turns) == count
        _assert_sound(draft, data)
        assert "Changed since generation" in page.inner_text("#changes summary")

        # (3) Ask again with a note: one request, the note in its prompt; accepting it
        # changes that turn only.
        def retranslate(request: Any) -> Any:
            answer = request.default()
            for item in answer["turns"]:
                item["translation"] = item["translation"].replace("【译】", "【重译】")
            return answer

        fake_llm.handle("translate", retranslate)
        served_before = len(fake_llm.requests())
        tokens_before = status_rows(data)[0]["tokens"]
        post_before = parse_post(draft.read_text("utf-8"))
        ask = page.locator(".fix[data-fix='2']")
        ask.locator("summary").click()
        ask.locator(".reask-note").fill("keep the term Loopback Radio")
        ask.locator("button[data-reask]").click()
        ask.locator(".proposal").wait_for(state="visible")
        assert "【重译】" in ask.locator(".proposal-text").inner_text()
        requests = fake_llm.requests()[served_before:]
        assert len(requests) == 1
        assert "keep the term Loopback Radio" in requests[0]["messages"][1]["content"]
        assert draft.read_text("utf-8") == render_post(post_before)  # shown, not written
        ask.locator(".proposal .accept").click()
        page.wait_for_selector("#status.ok")
        post_after = parse_post(draft.read_text("utf-8"))
        changed = [
            i
            for i, (a, b) in enumerate(zip(post_before.turns, post_after.turns, strict=True))
            if a != b
        ]
        assert changed == [1]
        assert post_after.turns[1].translation[0].startswith("【重译】")
        assert post_after.front == post_before.front
        _assert_sound(draft, data)
        spent = requests[0]["prompt_tokens"] + requests[0]["completion_tokens"]
        assert status_rows(data)[0]["tokens"] == tokens_before + spent
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- no lost update: two saves from the same page state ---------------------------------

SAVE_TWICE = """async ([first, second]) => {
  // Two saves from this page's one state, at once: each edits another turn.
  const state = collect();
  const send = (turn, text) => {
    const body = structuredClone(state);
    body.translations[turn - 1] = text;
    return fetch("/api/save", { method: "POST", headers: versionHeaders(),
                                body: JSON.stringify(body) })
      .then(async (r) => ({ turn, status: r.status, data: await r.json() }));
  };
  return Promise.all([send(2, first), send(3, second)]);
}"""


def test_two_saves_from_one_page_state_one_wins_nothing_lost(
    browser_page: object, served: tuple[str, Path]
) -> None:
    page: Any = browser_page  # a playwright.sync_api.Page
    url, draft = served
    page.goto(url)
    results = page.evaluate(SAVE_TWICE, ["甲的译文。", "乙的译文。"])
    assert sorted(r["status"] for r in results) == [200, 409]
    [won] = [r for r in results if r["status"] == 200]
    [lost] = [r for r in results if r["status"] == 409]
    text = draft.read_text("utf-8")
    assert check_post(text) == []
    edits = {2: "甲的译文。", 3: "乙的译文。"}
    assert parse_post(text).turns[won["turn"] - 1].translation == [edits[won["turn"]]]
    # the refused edit is not lost: the answer carries it, beside the saved version
    hunks = lost["data"]["conflict"]["hunks"]
    assert any(edits[lost["turn"]] in line for h in hunks for line in h["yours"])
    assert any(edits[won["turn"]] in line for h in hunks for line in h["saved"])

    # In the page (a second tab loaded before the first tab's save): the 409 shows both
    # versions where they differ; the editor keeps theirs, and the other tab's edit stays.
    page.goto(url)
    other = page.context.browser.new_page()  # another window, same server
    other.goto(url)
    page.fill("textarea[data-turn='5']", "第一个标签页的译文。")
    page.click("#save")
    page.wait_for_selector("#status.ok")
    other.fill("textarea[data-turn='6']", "第二个标签页的译文。")
    other.click("#save")
    other.wait_for_selector("#conflict:not([hidden])")
    assert other.inner_text("#status").startswith("Not saved: the draft changed on disk")
    yours, saved = other.inner_text("#conflict-yours"), other.inner_text("#conflict-saved")
    assert "第二个标签页的译文。" in yours and "通常只多几十毫秒" in saved
    assert "第一个标签页" not in yours + saved  # only where they differ: the first tab's
    # edit is in both (this tab's save keeps it)
    assert parse_post(draft.read_text("utf-8")).turns[4].translation == ["第一个标签页的译文。"]
    other.click("#keep-mine")
    other.wait_for_selector("#status.ok")
    both = parse_post(draft.read_text("utf-8"))
    assert both.turns[4].translation == ["第一个标签页的译文。"]  # nothing lost
    assert both.turns[5].translation == ["第二个标签页的译文。"]
    assert check_post(draft.read_text("utf-8")) == []
