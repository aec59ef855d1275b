"""`podpost preview` in a real browser: Debian's Chromium, headless, driven by Playwright.

The browser is the system's /usr/bin/chromium (never a Playwright download); the page is
served by the real CLI on 127.0.0.1. Skips only when Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.post.parse import check_post, parse_post
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


@pytest.fixture
def browser_page() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


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
