"""Exports of a reviewed post: its transcript and chapters in the formats podcast apps read.

``podpost export DRAFT --format vtt|srt|json|chapters`` writes, beside the approved post:

* ``vtt``: WebVTT, one cue per turn with its speaker as a ``<v Name>`` voice span (the
  Podcasting 2.0 transcripts spec's convention), written by webvtt-py;
* ``srt``: SubRip, written by pysubs2. SubRip has no speaker field; the Podcasting 2.0 spec
  suggests a ``Name:`` prefix, which no caption reader (podpost's included) can tell from
  text, so the speaker is the same ``<v Name>`` span, which pysubs2 and podpost read back;
* ``json``: the Podcasting 2.0 JSON transcript (``{"version": "1.0.0", "segments":
  [{"speaker", "startTime", "endTime", "body"}]}``);
* ``chapters``: Podcasting 2.0 JSON chapters 1.2 (``{"version": "1.2.0", "chapters":
  [{"startTime", "title"}]}``), one chapter per section heading, starting when the
  section's first turn does.

Each transcript comes twice: in the original (``<stem>.<source language>.<ext>``) and in
the translation (``<stem>.<target language>.<ext>``); chapters are ``<stem>.chapters.json``.
``<stem>`` is the published post's file name; in a Jekyll ``_posts`` folder without its
date, since Jekyll reads every dated file there as a post (and publishes nothing else from
it: ``--out`` puts the files into a folder the site publishes).

Times are the turns' own (turns.json, or the turns the preview recorded after a split or
merge), matched to the post's turns as the review does (:func:`turn_spans`), in seconds
rounded to the millisecond that SubRip and WebVTT can write. Text is the text readers see:
bold markers gone, a turn's paragraphs joined by one space, and in the caption formats
``&``, ``<`` and ``>`` written as entities (the WebVTT rule; podpost's SubRip reader decodes
them too), so every transcript reads back through podpost's own caption readers to the
same speakers, times and text.

Rendering is pure (``transcript_cues``, ``render_*``, ``export_texts``); ``export_draft``
reads the draft and its turns and writes the files atomically.

Specs: https://github.com/Podcastindex-org/podcast-namespace/blob/main/transcripts/transcripts.md
and https://github.com/Podcastindex-org/podcast-namespace/blob/main/chapters/jsonChapters.md
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.db import StateDB
from pipeline.errors import InputFileError, UsageError
from pipeline.fsutil import write_atomic

if TYPE_CHECKING:  # annotations only: `podpost --help` lists FORMATS without the review
    from pipeline.models import Post, PostTurn
    from pipeline.review.flags import Span

FORMATS = ("vtt", "srt", "json", "chapters")
TRANSCRIPT_VERSION = "1.0.0"  # Podcasting 2.0 JSON transcripts
CHAPTERS_VERSION = "1.2.0"  # Podcasting 2.0 JSON chapters


@dataclass(frozen=True)
class Cue:
    """One turn as a transcript cue: seconds (to the millisecond), speaker, plain text."""

    start: float
    end: float
    speaker: str
    text: str


def plain(text: str) -> str:
    """Text as readers see it: bold markers gone, whitespace runs single."""
    return " ".join(text.replace("**", "").split())


def turn_text(turn: PostTurn, *, translated: bool) -> str:
    """The turn's original, or its translation's paragraphs joined by one space."""
    return plain(" ".join(turn.translation) if translated else turn.original)


def _ms(seconds: float) -> float:
    return round(seconds, 3)


def _missing_times(spans: list[Span | None]) -> InputFileError:
    missing = [str(n) for n, span in enumerate(spans, 1) if span is None]
    listing = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return InputFileError(
        f"no times for turn{'s' if len(missing) > 1 else ''} {listing}: "
        "the episode's turns.json is missing or no longer matches the draft",
        hint="export needs the episode folder the draft was made from "
        "(`podpost review DRAFT --json` shows each turn's start)",
    )


def transcript_cues(post: Post, spans: list[Span | None], *, translated: bool) -> list[Cue]:
    """One cue per turn, in the original or the translation; a turn without text (a failed
    translation) has no cue. Raises ``InputFileError`` when a turn has no time."""
    if any(span is None for span in spans) or len(spans) != len(post.turns):
        raise _missing_times(spans)
    cues = []
    for turn, span in zip(post.turns, spans, strict=True):
        assert span is not None
        text = turn_text(turn, translated=translated)
        if text:
            cues.append(Cue(_ms(span[0]), _ms(span[1]), turn.speaker, text))
    return cues


def _cue_text(cue: Cue) -> str:
    # WebVTT's escapes (and HTML's, which podpost's SubRip reader decodes): text stays text.
    return f"<v {html.escape(cue.speaker, quote=False)}>{html.escape(cue.text, quote=False)}"


def _srt_text(cue: Cue) -> str:
    # pysubs2 keeps SubStation tags ({...}) as written with keep_ssa_tags, but still turns
    # a backslash's \N, \n and \h into white space: a backslash is a character reference.
    return _cue_text(cue).replace("\\", "&#92;")


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def render_vtt(cues: list[Cue]) -> str:
    """The cues as a WebVTT file (webvtt-py), each with its ``<v Speaker>`` voice span."""
    import webvtt

    captions = [webvtt.Caption(_vtt_time(c.start), _vtt_time(c.end), [_cue_text(c)]) for c in cues]
    return webvtt.WebVTT(captions=captions).content


def render_srt(cues: list[Cue]) -> str:
    """The cues as a SubRip file (pysubs2), each starting with its ``<v Speaker>`` span."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in cues:
        start, end = round(cue.start * 1000), round(cue.end * 1000)
        subs.events.append(pysubs2.SSAEvent(start=start, end=end, text=_srt_text(cue)))
    return subs.to_string("srt", keep_ssa_tags=True)


def render_transcript_json(cues: list[Cue]) -> str:
    """The cues as a Podcasting 2.0 JSON transcript (one segment per turn)."""
    segments = [
        {"speaker": c.speaker, "startTime": c.start, "endTime": c.end, "body": c.text} for c in cues
    ]
    data = {"version": TRANSCRIPT_VERSION, "segments": segments}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def chapters(post: Post, spans: list[Span | None]) -> list[tuple[float, str]]:
    """(start, title) per section heading: the start of the section's first turn. A first
    section without a heading has no chapter. Raises ``InputFileError`` when a section's
    first turn has no time."""
    out = []
    index = 0
    for section in post.sections:
        span = spans[index] if index < len(spans) else None
        if section.heading is not None:
            if span is None:
                raise _missing_times(spans)
            out.append((_ms(span[0]), plain(section.heading)))
        index += len(section.turns)
    return out


def render_chapters(post: Post, spans: list[Span | None]) -> str:
    """Podcasting 2.0 JSON chapters 1.2: the episode's title and show, then the chapters."""
    data = {
        "version": CHAPTERS_VERSION,
        "title": post.front.title,
        "podcastName": post.front.author,
        "chapters": [
            {"startTime": start, "title": title} for start, title in chapters(post, spans)
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


_RENDERERS = {"vtt": render_vtt, "srt": render_srt, "json": render_transcript_json}


def export_texts(
    post: Post, spans: list[Span | None], fmt: str, *, source_language: str, target_language: str
) -> dict[str, str]:
    """File suffix -> text for ``fmt``: ``.<lang>.<ext>`` for the original and the
    translation of a transcript, ``.chapters.json`` for chapters (pure)."""
    if fmt == "chapters":
        return {".chapters.json": render_chapters(post, spans)}
    if fmt not in _RENDERERS:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    render = _RENDERERS[fmt]
    texts = {f".{source_language}.{fmt}": render(transcript_cues(post, spans, translated=False))}
    if target_language != source_language:
        texts[f".{target_language}.{fmt}"] = render(transcript_cues(post, spans, translated=True))
    return texts


def check_formats(formats: list[str]) -> list[str]:
    """``formats`` without repeats; ``UsageError`` naming the first one that is none of
    :data:`FORMATS`."""
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise UsageError(
            f"unknown export format {unknown[0]!r}", hint=f"use one of: {', '.join(FORMATS)}"
        )
    return list(dict.fromkeys(formats))


def export_draft(
    draft_path: Path,
    formats: list[str],
    *,
    db: StateDB,
    target_language: str,
    out_dir: Path | None = None,
    episodes_dir: Path | None = None,
) -> list[Path]:
    """Write the ``formats`` of the draft at ``draft_path`` beside its approved post (or into
    ``out_dir``), named after the post's file; returns the paths written.

    Raises :class:`~pipeline.errors.UsageError` when the draft is not published and no
    ``out_dir`` is given, :class:`~pipeline.errors.InputFileError` when it does not parse
    or its turns have no times.
    """
    # Jinja2 (through the site generators' renderers) loads only for an export
    from pipeline.review.publish import published_at
    from pipeline.review.sites import DATED_NAME

    formats = check_formats(formats)
    draft_path = Path(draft_path)
    site_file = published_at(db, draft_path)
    if out_dir is None:
        if site_file is None:
            raise UsageError(
                f"{draft_path.name} is not approved, so there is no post to export beside",
                hint=f"approve it first (podpost approve {draft_path}), or pass --out DIR",
            )
        out_dir = site_file.parent
    if not Path(out_dir).is_dir():
        raise UsageError(f"export folder {out_dir} does not exist", hint="create it first")
    from pipeline.review.flags import review_draft

    review = review_draft(draft_path, db=db, episodes_dir=episodes_dir)
    if review.post is None:
        raise InputFileError(
            f"{draft_path.name} does not parse as a post",
            hint=f"fix it (`podpost post check {draft_path}` lists the problems)",
        )
    source_language = review.turns.language if review.turns else "und"
    stem = site_file.stem if site_file is not None else draft_path.stem
    if Path(out_dir).name == "_posts":  # Jekyll would read a dated name there as a post
        stem = DATED_NAME.sub("", stem)
    texts: dict[str, str] = {}
    for fmt in formats:
        texts.update(
            export_texts(
                review.post,
                review.spans,
                fmt,
                source_language=source_language,
                target_language=target_language,
            )
        )
    written = []
    for suffix, text in texts.items():
        written.append(write_atomic(Path(out_dir) / f"{stem}{suffix}", text))
    return written
