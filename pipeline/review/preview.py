"""`podpost preview`: a local page showing a draft as the blog renders it, beside a review view.

The page is server-rendered (Jinja2 with autoescaping) plus a little vanilla JS
(``preview_assets/preview.js``) that posts the editor's changes as JSON to ``/api/save``.
Saving applies the edits to the parsed post, validates them with the post model, renders the
file and runs the same checker as ``podpost post check`` on it; only a clean result is written
(atomically). Anything else is refused with the reason and the file is left as it was. A save
against a file that changed on disk since the page loaded is refused too.

The blog view is rendered from the *re-rendered* post (so every transcript or model text is
escaped by the post renderer) with markdown-it-py's CommonMark preset and raw HTML on, as
Eleventy does; a strict Content-Security-Policy keeps any surprise from running script.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import EditError
from pipeline.fsutil import write_atomic
from pipeline.models import FrontMatter, Post
from pipeline.post.parse import LIST_KEYS, analyze, check_post
from pipeline.post.render import render_body, render_post
from pipeline.review.flags import (
    DraftReview,
    flags_by_turn,
    format_time,
    load_record,
    read_draft,
    review_text,
    sha256_text,
    source_link,
)

ASSETS = Path(__file__).parent / "preview_assets"
HOST = "127.0.0.1"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_BOLD_RE = re.compile(r"\*\*(.+?)\*\*")


class Edits(BaseModel):
    """What the page sends: the whole editable state, keyed by position."""

    model_config = ConfigDict(extra="forbid")

    base_sha256: str
    front: dict[str, str | bool | list[str]] = Field(default_factory=dict)
    speakers: dict[str, str] = Field(default_factory=dict)  # old name -> new name
    headings: list[str | None] = Field(default_factory=list)  # one per section
    translations: list[str] = Field(default_factory=list)  # one per turn; lines = paragraphs


# --- applying edits (pure) ------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    """A textarea's text -> translation paragraphs: each non-blank line is one paragraph."""
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def _where(loc: tuple[Any, ...], post: dict[str, Any]) -> str:
    if loc[:1] == ("front",) and len(loc) > 1:
        return f"front matter '{loc[1]}'"
    if loc[:1] == ("sections",) and len(loc) > 1 and isinstance(loc[1], int):
        section = loc[1]
        if len(loc) > 3 and loc[2] == "turns" and isinstance(loc[3], int):
            number = sum(len(s["turns"]) for s in post["sections"][:section]) + loc[3] + 1
            field = loc[4] if len(loc) > 4 else "turn"
            what = "speaker name" if field == "speaker" else field
            return f"turn {number} {what}"
        return f"section {section + 1} heading"
    return ".".join(str(part) for part in loc) or "post"


def apply_edits(post: Post, edits: Edits) -> tuple[Post, str]:
    """The edited post and its file text; raises EditError with the reason when invalid."""
    data = post.model_dump()
    for key, value in edits.front.items():
        if key not in FrontMatter.model_fields:
            raise EditError(f"unknown front matter key '{key}'")
        if key in LIST_KEYS:
            items = value if isinstance(value, list) else str(value).split("\n")
            value = [item.strip() for item in items if str(item).strip()]
        elif isinstance(value, str):
            value = value.strip()
        data["front"][key] = value
    turns = [turn for section in data["sections"] for turn in section["turns"]]
    if edits.translations and len(edits.translations) != len(turns):
        raise EditError(
            f"the page sent {len(edits.translations)} translations for {len(turns)} turns",
            ["reload the page and edit again"],
        )
    for turn, text in zip(turns, edits.translations, strict=False):
        turn["translation"] = paragraphs(text)
    for turn in turns:
        if turn["speaker"] in edits.speakers:
            turn["speaker"] = edits.speakers[turn["speaker"]].strip()
    if edits.headings and len(edits.headings) != len(data["sections"]):
        raise EditError(
            "the page sent headings for a different number of sections",
            ["reload the page and edit again"],
        )
    for index, (section, heading) in enumerate(zip(data["sections"], edits.headings, strict=False)):
        heading = (heading or "").strip()
        if not heading and index == 0 and section["heading"] is None:
            continue  # the opening section may stay without a heading
        section["heading"] = heading
    try:
        edited = Post.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] in ("string_too_short", "too_short"):
            message = "must not be empty"
        raise EditError(f"{_where(tuple(first['loc']), data)}: {message}") from e
    text = render_post(edited)
    problems = check_post(text)  # the same checker as `podpost post check`
    if problems:
        raise EditError(
            "the edited post does not pass the post check",
            [f"line {p.line}: {p.message}" for p in problems],
        )
    return edited, text


def save_edits(draft_path: Path, edits: Edits) -> str:
    """Apply ``edits`` to the draft on disk and write it atomically; returns the new text."""
    current = read_draft(draft_path)
    if sha256_text(current) != edits.base_sha256:
        raise EditError(
            "the draft changed on disk since this page was loaded; nothing was saved",
            ["reload the page (your edits in it will be lost) and edit again"],
        )
    post, problems = _parse(current)
    if post is None:
        raise EditError("the draft on disk does not pass the post check; fix it first", problems)
    _, text = apply_edits(post, edits)
    if text != current:
        write_atomic(draft_path, text)
    return text


def _parse(text: str) -> tuple[Post | None, list[str]]:
    post, problems = analyze(text)
    return post, [f"line {p.line}: {p.message}" for p in problems]


# --- rendering the page -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True})  # Eleventy's markdown-it has html on


def blog_html(post: Post) -> Markup:
    """The body as the blog shows it. Text is escaped by the post renderer before this."""
    return Markup(_markdown().render(render_body(post)))


def bold_html(text: str) -> Markup:
    """Plain text with ``**bold**`` shown bold, everything else escaped."""
    return Markup(_BOLD_RE.sub(lambda m: f"<strong>{m.group(1)}</strong>", str(escape(text))))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ASSETS)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bold"] = bold_html
    env.filters["clock"] = format_time
    return env


def _front_fields(post: Post) -> list[dict[str, Any]]:
    fields = []
    for key, value in post.front.model_dump().items():
        kind = "list" if key in LIST_KEYS else "bool" if isinstance(value, bool) else "text"
        shown = "\n".join(value) if kind == "list" else value
        fields.append({"key": key, "kind": kind, "value": shown})
    return fields


def render_page(review: DraftReview, *, saved: bool = False) -> str:
    template = _environment().get_template("page.html.j2")
    post = review.post
    if post is None:
        return template.render(
            review=review,
            post=None,
            saved=saved,
            sha256=sha256_text(review.text),
            name=review.path.name,
        )
    by_turn = flags_by_turn(review.flags)
    sections, number = [], 0
    for section in post.sections:
        turns = []
        for turn in section.turns:
            number += 1
            start = review.times[number - 1] if review.times else None
            flags = by_turn.get(number, [])
            turns.append(
                {
                    "number": number,
                    "turn": turn,
                    "start": start,
                    "link": source_link(post.front.source, start),
                    "flags": flags,
                    "worst": flags[0].severity if flags else "",
                    "translation": "\n".join(turn.translation),
                }
            )
        sections.append({"heading": section.heading, "turns": turns})
    return template.render(
        review=review,
        post=post,
        saved=saved,
        name=review.path.name,
        sha256=sha256_text(review.text),
        blog=blog_html(post),
        sections=sections,
        speakers=list(dict.fromkeys(turn.speaker for turn in post.turns)),
        front_fields=_front_fields(post),
    )


# --- the app ----------------------------------------------------------------------------


def create_app(draft_path: Path, *, episodes_dir: Path | None = None) -> FastAPI:
    draft_path = Path(draft_path)
    app = FastAPI(title="podpost preview", docs_url=None, redoc_url=None, openapi_url=None)

    def current_review() -> DraftReview:
        return review_text(
            read_draft(draft_path),
            path=draft_path,
            record=load_record(draft_path),
            episodes_dir=episodes_dir,
        )

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/", response_class=HTMLResponse)
    def page(saved: int = 0) -> HTMLResponse:
        return HTMLResponse(render_page(current_review(), saved=bool(saved)))

    @app.get("/assets/{name}")
    def asset(name: str) -> Response:
        types = {"preview.js": "text/javascript", "preview.css": "text/css"}
        if name not in types:  # only these two files, never a path from the request
            return JSONResponse({"detail": "not found"}, status_code=404)
        return FileResponse(ASSETS / name, media_type=types[name])

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in the browser console

    @app.get("/api/review")
    def review_json() -> JSONResponse:
        return JSONResponse(current_review().to_dict(turns=True))

    @app.post("/api/save")
    def save(edits: Edits) -> JSONResponse:
        try:
            text = save_edits(draft_path, edits)
        except EditError as e:
            status = 409 if "changed on disk" in e.reason else 422
            return JSONResponse(
                {"ok": False, "reason": e.reason, "problems": e.problems}, status_code=status
            )
        return JSONResponse({"ok": True, "sha256": sha256_text(text)})

    return app


# --- serving ----------------------------------------------------------------------------


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(64)
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://{HOST}:{sock.getsockname()[1]}/"


def _server(app: FastAPI) -> Any:
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve until interrupted (Ctrl-C)."""
    _server(app).run(sockets=[sock])


@dataclass
class RunningServer:
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(app: FastAPI, port: int = 0, *, timeout: float = 10.0) -> RunningServer:
    """Serve in a background thread (for embedding and tests); ``stop()`` ends it."""
    sock = bind(port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    return RunningServer(url_of(sock), server, thread)
