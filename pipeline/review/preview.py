"""`podpost preview`: a local page showing a draft as the blog renders it, beside a review view.

The page (:mod:`pipeline.review.page`, plus a little vanilla JS in ``preview_assets/``)
lets an editor listen, fix and save. Routes:

* ``GET /``: the page; ``GET /audio``: the episode's own audio from its folder, with HTTP
  range requests (206 + Content-Range, Starlette's FileResponse), so seeking works.
* ``POST /api/save``: the page's form (front matter, speaker renames, headings,
  translations), see :func:`pipeline.review.saving.save_edits`.
* ``POST /api/edit``: one structural edit of one turn (``op``: ``speaker``, ``split``,
  ``merge``, ``translation``), see :mod:`pipeline.review.edits`.
* ``POST /api/reask``: a new translation of one turn from the LLM, returned and not written
  (:mod:`pipeline.review.reask`); the page accepts it through ``/api/edit``.

Every change is validated with the same checker as ``podpost post check`` and written
atomically; anything refused says why (422), a save against a file changed on disk since
the page loaded is refused (409), and the file is left as it was. Each change names the
version it was based on (``If-Match``: the draft's sha256, which ``GET /`` sends as its
``ETag``; the body's ``base_sha256`` without the header); read, compare and write run under
the draft's lock, so of two saves from the same page state one is written (200) and the
other gets 409 with both versions where they differ (:mod:`pipeline.review.saving`).
:class:`pipeline.review.guard.Guard` answers only the preview's own Host and Origin and
caps request bodies; a strict Content-Security-Policy keeps any surprise in the text from
running script.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Header, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import store
from pipeline.db import StateDB
from pipeline.errors import DraftConflictError, EditError, LLMError, StaleEditError
from pipeline.models import Episode, Post, Transcript
from pipeline.review import edits
from pipeline.review.flags import DraftReview, load_record, read_draft, review_text, sha256_text
from pipeline.review.guard import MAX_BODY, Guard
from pipeline.review.page import ASSETS, render_page
from pipeline.review.reask import Reasker
from pipeline.review.saving import (
    Edits,
    apply_edits,
    commit,
    conflict_hunks,
    save_edits,
    yours_text,
)

__all__ = ["Edits", "apply_edits", "create_app", "serve", "start"]

HOST = "127.0.0.1"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
AUDIO_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".mp4": "audio/mp4",
               ".aac": "audio/aac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
               ".opus": "audio/ogg", ".webm": "audio/webm", ".wav": "audio/wav",
               ".flac": "audio/flac"}  # fmt: skip


class TurnEdit(BaseModel):
    """One structural edit of turn ``turn`` (1-based), as the page sends it."""

    model_config = ConfigDict(extra="forbid")

    base_sha256: str
    op: Literal["speaker", "split", "merge", "translation"]
    turn: int
    speaker: str = ""  # speaker: the new name; split: the second part's speaker
    at: int | None = None  # split: one of edits.original_cuts
    translation_at: tuple[int, int] | None = None  # split: one of edits.translation_cuts
    paragraphs: list[str] = Field(default_factory=list)  # translation


class Reask(BaseModel):
    """What the page sends to ask the LLM again for turn ``turn`` (1-based)."""

    model_config = ConfigDict(extra="forbid")

    base_sha256: str
    turn: int
    note: str = ""


def audio_file(episode_dir: Path | None) -> Path | None:
    """The episode's audio in its folder, when there is one."""
    if episode_dir is None:
        return None
    try:
        episode = store.load(Path(episode_dir) / store.EPISODE_FILE, Episode)
    except Exception:  # no or unreadable episode.json: the page works without audio
        return None
    path = Path(episode_dir) / (episode.audio_file or "")
    return path if episode.audio_file and path.is_file() else None


def word_ends(episode_dir: Path | None) -> list[float]:
    """Ends of the transcript's words and segments (seconds): where a split may fall."""
    try:
        transcript = store.load(Path(episode_dir or "") / store.TRANSCRIPT_FILE, Transcript)
    except Exception:  # no transcript: a split falls in proportion to the text
        return []
    return sorted({s.end for s in transcript.segments} | {
        w.end for s in transcript.segments for w in s.words})  # fmt: skip


def apply_turn_edit(
    request: TurnEdit, review: DraftReview, boundaries: Callable[[], list[float]]
) -> Callable[[Post], edits.Edited]:
    """The :mod:`pipeline.review.edits` operation a request asks for, over ``review``'s
    spans (the review was made from the text ``request.base_sha256`` names)."""
    spans = review.spans or [None] * len(review.post.turns if review.post else [])
    number = request.turn
    if request.op == "speaker":
        return lambda post: edits.set_speaker(post, spans, number, request.speaker)
    if request.op == "merge":
        return lambda post: edits.merge_into_previous(post, spans, number)
    if request.op == "translation":
        return lambda post: edits.set_translation(post, spans, number, request.paragraphs)
    if request.at is None:
        raise EditError("a split needs the place to cut (at)")
    at = request.at
    return lambda post: edits.split_turn(
        post, spans, number, at, request.speaker, request.translation_at, boundaries()
    )


def _refused(e: EditError, edits: Edits | None = None) -> JSONResponse:
    """422 with the reason; 409 for a change based on an old version, with the version on
    disk now (its ETag) and, for a save, both versions where they differ."""
    body: dict[str, Any] = {"ok": False, "reason": e.reason, "problems": e.problems}
    if not isinstance(e, StaleEditError):
        status = 409 if "changed on disk" in e.reason else 422
        return JSONResponse(body, status)
    version = sha256_text(e.current)
    body["conflict"] = {"sha256": version}
    yours = yours_text(e.current, edits) if edits is not None else None
    if yours is not None:
        body["conflict"]["hunks"] = conflict_hunks(e.current, yours)
    return JSONResponse(body, 409, headers={"ETag": etag(version)})


def etag(sha256: str) -> str:
    """A draft version as an HTTP entity tag."""
    return f'"{sha256}"'


def if_match(header: str | None, fallback: str) -> str:
    """The version an ``If-Match`` header names (its first tag, quotes and ``W/`` off);
    ``fallback`` (the body's ``base_sha256``) without one."""
    if not header or not header.strip() or header.strip() == "*":
        return fallback
    first = header.split(",")[0].strip().removeprefix("W/")
    return first.strip('"')


def create_app(
    draft_path: Path,
    *,
    db: StateDB,
    episodes_dir: Path | None = None,
    reasker: Reasker | None = None,
    max_body: int = MAX_BODY,
    storage: store.Store | None = None,
) -> FastAPI:
    """The preview of ``draft_path``; ``reasker`` enables asking the LLM again;
    ``storage``: where the draft is kept (saves are conditional writes there); ``db``: the
    state database that holds the draft's record (its writes are conditional too)."""
    draft_path = Path(draft_path)
    app = FastAPI(title="podpost preview", docs_url=None, redoc_url=None, openapi_url=None)

    def current_review() -> DraftReview:
        if storage is not None:
            storage.refresh(draft_path)  # another editor may have saved on the storage
        return review_text(
            read_draft(draft_path),
            path=draft_path,
            record=load_record(db, draft_path),
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
        review = current_review()
        return HTMLResponse(
            render_page(
                review,
                saved=bool(saved),
                record=load_record(db, draft_path),
                audio=audio_file(review.episode_dir) is not None,
                can_reask=reasker is not None,
            ),
            headers={"ETag": etag(sha256_text(review.text))},
        )

    @app.get("/assets/{name}")
    def asset(name: str) -> Response:
        types = {"preview.js": "text/javascript", "preview.css": "text/css"}
        if name not in types:  # only these two files, never a path from the request
            return JSONResponse({"detail": "not found"}, status_code=404)
        return FileResponse(ASSETS / name, media_type=types[name])

    @app.get("/audio")
    def audio() -> Response:
        path = audio_file(current_review().episode_dir)
        if path is None:
            return JSONResponse({"detail": "this episode has no audio here"}, status_code=404)
        kind = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=kind)  # answers Range with 206

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in the browser console

    @app.get("/api/review")
    def review_json() -> JSONResponse:
        return JSONResponse(current_review().to_dict(turns=True))

    @app.post("/api/save")
    def save(
        request: Edits, if_match_header: str | None = Header(None, alias="If-Match")
    ) -> JSONResponse:
        request.base_sha256 = if_match(if_match_header, request.base_sha256)
        try:
            text = save_edits(draft_path, request, storage)
        except EditError as e:
            return _refused(e, request)
        version = sha256_text(text)
        return JSONResponse({"ok": True, "sha256": version}, headers={"ETag": etag(version)})

    @app.post("/api/edit")
    def edit(
        request: TurnEdit, if_match_header: str | None = Header(None, alias="If-Match")
    ) -> JSONResponse:
        request.base_sha256 = if_match(if_match_header, request.base_sha256)
        try:
            review = current_review()
            change = apply_turn_edit(request, review, lambda: word_ends(review.episode_dir))
            text = commit(draft_path, request.base_sha256, change, storage, db=db)
        except EditError as e:
            return _refused(e)
        except DraftConflictError as e:  # the record was saved by another editor meanwhile
            return JSONResponse({"ok": False, "reason": e.one_line(), "problems": []}, 409)
        except ValidationError as e:  # a model check the edit functions did not map
            return _refused(EditError(str(e.errors()[0]["msg"])))
        version = sha256_text(text)
        return JSONResponse({"ok": True, "sha256": version}, headers={"ETag": etag(version)})

    @app.post("/api/reask")
    def reask(request: Reask) -> JSONResponse:
        if reasker is None:
            return _refused(EditError("asking the LLM again is off in this preview"))
        review = current_review()
        try:
            if review.post is None or sha256_text(review.text) != request.base_sha256:
                raise EditError(
                    "the draft changed on disk since this page was loaded; nothing was asked",
                    ["reload the page and ask again"],
                )
            proposal = reasker.ask(review.post, request.turn, request.note, review.episode_dir)
        except EditError as e:
            return _refused(e)
        except LLMError as e:
            return JSONResponse({"ok": False, "reason": e.one_line(), "problems": []}, 502)
        return JSONResponse({"ok": not proposal.problems, **proposal.to_dict()})

    app.add_middleware(Guard, max_body=max_body)  # outermost: checked before anything else
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
    """The page's address for a socket from :func:`bind`."""
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
    """A preview served in a background thread by :func:`start`."""

    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        """Ask the server to finish, and wait (up to 10 s) for its thread."""
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
