"""Parse the transcripts a source already has into ``Segment`` lists (pure; no I/O).

Public API:
    parse_captions(text, fmt, *, duration=None) -> list[Segment]   # fmt: "vtt" | "srt" | "json"
    parse_vtt(text), parse_srt(text), parse_podcast_json(text, duration=None)
    caption_format(name_or_mime) -> str | None   # file extension or MIME type -> fmt

Which library reads what, and why:

- **WebVTT: webvtt-py.** It follows the WebVTT parsing rules: NOTE, STYLE and REGION
  blocks, cue identifiers, a timing line that starts a new cue even without a blank line
  before it, and cue text kept exactly as written (tags, inline timestamps, lines of a
  single space), which the voice spans and YouTube's rolling captions below need. pysubs2
  reads WebVTT with its SubRip reader, which takes a caption line holding two inline
  timestamps for a timing line and drops every ``<v>`` span.
- **SubRip: pysubs2** (``keep_html_tags``). Any line with two timestamps starts a cue, so
  cues glued together without blank lines or index numbers come apart, and short fields
  (``0:00:01,5``) read right; the ``srt`` package reads glued cues as one and ``,5`` as
  5 ms. With its tags kept, only SubRip's own markup is removed here (``cuetext``).
  pysubs2 needs all four fields of a time and splits lines on ``\\n`` only, so a small
  pre-pass (``_srt_prepared``) completes ``00:01,500`` and ``00:00:01`` and turns an old
  Mac's ``\\r`` line ends into ``\\n``; a timing line still unreadable after it is warned
  about with its line number, and its cue is skipped rather than glued to the one before.
- **Podcasting 2.0 JSON:** the standard ``json`` module (``podcast_json``).

A cue's text becomes one segment per ``<v Name>`` voice span or dialogue line, with its
speaker and without the dash (``cuetext``); a cue that ends before or when it starts keeps
its text and speaker, its end clamped, with a warning.

WebVTT includes YouTube's rolling-caption style, where each cue repeats the line before it
and new words carry inline ``<00:00:01.520>`` timestamps: each line of speech comes out once,
timed by the cue that introduced it, with word timings from the inline timestamps.
"""

from __future__ import annotations

import logging
import re

from pipeline.errors import InputFileError
from pipeline.models import Segment, Word
from pipeline.transcribe.cuetext import (
    Cue,
    carry_speakers,
    clean_line,
    cue_segments,
    fix_times,
    name_prefixes,
)
from pipeline.transcribe.podcast_json import parse_podcast_json

__all__ = ["caption_format", "parse_captions", "parse_podcast_json", "parse_srt", "parse_vtt"]

log = logging.getLogger(__name__)

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_INLINE_TS = re.compile(rf"<{_TIME}>")
# "00:00:01,000 --> ..." in a .vtt: SubRip's comma, which WebVTT readers skip as invalid.
_COMMA_TIME = re.compile(r"(\d{2}:\d{2}),(\d{3})")

_MIME_FORMATS = {
    "text/vtt": "vtt",
    "application/x-subrip": "srt",
    "application/srt": "srt",
    "text/srt": "srt",
    "application/x-srt": "srt",
    "application/json": "json",
    "text/json": "json",
}


def caption_format(name_or_mime: str | None) -> str | None:
    """``"vtt"``, ``"srt"`` or ``"json"`` for a file extension/name or a MIME type, else None."""
    if not name_or_mime:
        return None
    value = name_or_mime.lower().split(";")[0].strip()
    if value in _MIME_FORMATS:
        return _MIME_FORMATS[value]
    ext = value.rsplit(".", 1)[-1]
    return ext if ext in ("vtt", "srt", "json") else None


def _seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, fraction = groups
    millis = int(fraction.ljust(3, "0")) if fraction else 0
    total_ms = ((int(hours or 0) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)) * 1000
    return (total_ms + millis) / 1000


# --- reading cues with the libraries ---------------------------------------------------


def _vtt_cues(text: str) -> list[Cue]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    body = text.removeprefix("\ufeff")
    if not body.startswith("WEBVTT"):
        raise InputFileError("not a WebVTT file (no WEBVTT header)", hint="check the caption file")
    lines = [
        _COMMA_TIME.sub(r"\1.\2", line) if "-->" in line else line for line in body.splitlines()
    ]
    try:
        captions = webvtt.from_string("\n".join(lines)).captions
    except (MalformedFileError, MalformedCaptionError) as e:
        raise InputFileError(f"not a valid WebVTT file: {e}", hint="check the caption file") from e
    timings = sum("-->" in line for line in lines)
    if timings > len(captions):
        log.warning("WebVTT: %d cue(s) with unreadable timings skipped", timings - len(captions))
    return [
        Cue(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.lines)
        for c in captions
    ]


# SubRip timing lines pysubs2 does not read: no hours ("00:01,500") or no milliseconds
# ("00:00:01"). Its timestamp needs all four fields.
_NO_HOURS = re.compile(r"(?<![\d:.,])(\d{1,2}:\d{2}[.,]\d{1,3})(?![\d:])")
_NO_MILLIS = re.compile(r"(?<![\d:.,])(\d{1,2}:\d{2}:\d{2})(?![\d.,:])")
_SRT_STAMP = re.compile(r"\d{1,2}:\d{1,2}:\d{1,2}[.,]\d{1,3}")  # pysubs2's TIMESTAMP
# A line meant as a timing line: a time on either side of the arrow. "x --> y" in a cue's
# text is text.
_TIMING_LIKE = re.compile(r"^\s*[\d:.,]+\s*-->|-->\s*[\d:.,]+\s*$")


def _srt_prepared(text: str) -> str:
    """The SubRip text pysubs2 reads right: every line end ``\\n`` (pysubs2 splits lines on
    ``\\n`` only, so an old Mac file's ``\\r`` ends would make one line), short timestamps
    completed, and a timing line it still cannot read dropped with the text of its cue,
    with a warning naming the line (pysubs2 would glue that text to the cue before)."""
    lines = text.splitlines()
    kept: list[str] = []
    skipping = False
    for number, line in enumerate(lines, 1):
        if _TIMING_LIKE.search(line):
            line = _NO_MILLIS.sub(r"\1,000", _NO_HOURS.sub(r"00:\1", line))
            skipping = len(_SRT_STAMP.findall(line)) != 2
            if skipping:
                log.warning(
                    "SubRip: line %d, timing line %r is not readable; its cue is skipped",
                    number, line.strip()[:60],
                )  # fmt: skip
                if kept and kept[-1].strip().isdigit():
                    kept.pop()  # the skipped cue's index number
                continue
        elif skipping and not line.strip():
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _srt_cues(text: str) -> list[Cue]:
    import pysubs2

    try:
        events = pysubs2.SSAFile.from_string(
            _srt_prepared(text), format_="srt", keep_html_tags=True
        ).events
    except (pysubs2.Pysubs2Error, ValueError) as e:
        raise InputFileError(f"not a valid SubRip file: {e}", hint="check the caption file") from e
    if not events and text.strip():
        raise InputFileError(
            "not a SubRip file (no 00:00:00,000 --> 00:00:00,000 timing lines)",
            hint="check the caption file",
        )
    # pysubs2 joins a cue's lines with SubStation's \N line break
    return [Cue(e.start / 1000, e.end / 1000, e.text.split("\\N")) for e in events]


# --- YouTube's rolling captions ---------------------------------------------------------


def _is_rolling(cues: list[Cue]) -> bool:
    """YouTube's automatic style: inline word timestamps, or cues repeating the line before."""
    if any(_INLINE_TS.search(line) for cue in cues for line in cue.lines):
        return True
    multi = repeats = 0
    previous: list[str] = []
    for cue in cues:
        lines = [c for c in (clean_line(line, "vtt") for line in cue.lines) if c]
        if len(lines) > 1:
            multi += 1
            repeats += bool(previous) and lines[0] == previous[-1]
        previous = lines or previous
    return multi >= 2 and repeats * 2 >= multi


def _words(line: str, start: float, end: float) -> list[Word]:
    """Word timings from inline timestamps: each ``<t>`` starts the text after it."""
    pieces = _INLINE_TS.split(line)
    # split() interleaves text with the 4 captured groups of each timestamp
    texts = pieces[::5]
    times = [start] + [_seconds(tuple(pieces[i : i + 4])) for i in range(1, len(pieces), 5)]
    spans: list[tuple[float, str]] = [
        (t, clean_line(x, "vtt")) for t, x in zip(times, texts, strict=True) if clean_line(x, "vtt")
    ]
    words = []
    for index, (t, text) in enumerate(spans):
        t_end = spans[index + 1][0] if index + 1 < len(spans) else end
        for token in text.split():
            words.append(Word(start=t, end=max(t, t_end), text=token))
    return words


def _rolling_segments(cues: list[Cue]) -> list[Segment]:
    segments: list[Segment] = []
    recent: list[str] = []  # the lines on screen: a repeat of one of them is not new speech
    for cue in cues:
        on_screen = []
        for line in cue.lines:
            text = clean_line(line, "vtt")
            if not text:
                continue
            on_screen.append(text)
            if text in recent:
                continue
            words = _words(line, cue.start, cue.end) if _INLINE_TS.search(line) else []
            segments.append(Segment(start=cue.start, end=cue.end, text=text, words=words))
        if on_screen:
            recent = on_screen
    return segments


# --- the formats ------------------------------------------------------------------------


def parse_vtt(text: str) -> list[Segment]:
    """Segments of a WebVTT file; raises ``InputFileError`` without a ``WEBVTT`` header."""
    cues = fix_times(_vtt_cues(text), "WebVTT")
    if _is_rolling(cues):
        return _rolling_segments(cues)
    return _segments(cues, "vtt")


def _segments(cues: list[Cue], fmt: str) -> list[Segment]:
    cues, named = name_prefixes(cues, fmt)
    segments = [segment for cue in cues for segment in cue_segments(cue, fmt)]
    return carry_speakers(segments) if named else segments


def parse_srt(text: str) -> list[Segment]:
    """Segments of a SubRip file; raises ``InputFileError`` when it holds no cue at all."""
    cues = fix_times(_srt_cues(text), "SubRip")
    return _segments(cues, "srt")


def parse_captions(text: str, fmt: str, *, duration: float | None = None) -> list[Segment]:
    """Segments of a caption file in ``fmt``; ``duration`` (seconds) ends the last segment
    of a JSON transcript that gives no end. Raises ``InputFileError`` for unreadable input."""
    if fmt == "vtt":
        return parse_vtt(text)
    if fmt == "srt":
        return parse_srt(text)
    if fmt == "json":
        return parse_podcast_json(text, duration)
    raise InputFileError(
        f"unsupported caption format {fmt!r}", hint="use a .vtt, .srt or .json transcript"
    )
