"""Parse the transcripts a source already has into ``Segment`` lists (pure; no I/O).

Public API:
    parse_captions(text, fmt) -> list[Segment]   # fmt: "vtt" | "srt" | "json"
    parse_vtt(text), parse_srt(text), parse_podcast_json(text)
    caption_format(name_or_mime) -> str | None   # file extension or MIME type -> fmt

WebVTT includes YouTube's rolling-caption style, where each cue repeats the line before it
and new words carry inline ``<00:00:01.520>`` timestamps: each line of speech comes out once,
timed by the cue that introduced it, with word timings from the inline timestamps.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from pipeline.errors import InputFileError
from pipeline.models import Segment, Word

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_CUE_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_INLINE_TS = re.compile(rf"<{_TIME}>")
_TAG = re.compile(r"<[^>]*>")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>")
_ASS_TAG = re.compile(r"\{\\[^}]*\}")

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
    total_ms += millis
    return total_ms / 1000


@dataclass
class _Cue:
    start: float
    end: float
    lines: list[str] = field(default_factory=list)


def _blocks(text: str) -> list[list[str]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    # only an empty line ends a cue: YouTube's cues hold lines of a single space
    return [block.split("\n") for block in re.split(r"\n{2,}", text)]


def _cues(text: str) -> list[_Cue]:
    cues = []
    for lines in _blocks(text):
        for index, line in enumerate(lines):
            match = _CUE_TIMING.match(line)
            if match:
                groups = match.groups()
                cue = _Cue(_seconds(groups[:4]), _seconds(groups[4:]), lines[index + 1 :])
                cues.append(cue)
                break
    return cues


def _clean(line: str) -> str:
    line = _ASS_TAG.sub("", _TAG.sub("", line))
    return " ".join(html.unescape(line).replace("\u200e", "").replace("\u200f", "").split())


def _speaker(lines: list[str]) -> str | None:
    for line in lines:
        match = _VOICE.search(line)
        if match:
            return html.unescape(match.group(1)).strip()
    return None


def _segment(start: float, end: float, lines: list[str]) -> Segment | None:
    text = " ".join(filter(None, (_clean(line) for line in lines)))
    if not text:
        return None
    return Segment(start=start, end=end, text=text, speaker=_speaker(lines))


def _is_rolling(cues: list[_Cue]) -> bool:
    """YouTube's automatic style: inline word timestamps, or cues repeating the line before."""
    if any(_INLINE_TS.search(line) for cue in cues for line in cue.lines):
        return True
    multi = repeats = 0
    previous: list[str] = []
    for cue in cues:
        lines = [c for c in (_clean(line) for line in cue.lines) if c]
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
        (t, _clean(x)) for t, x in zip(times, texts, strict=True) if _clean(x)
    ]
    words = []
    for index, (t, text) in enumerate(spans):
        t_end = spans[index + 1][0] if index + 1 < len(spans) else end
        for token in text.split():
            words.append(Word(start=t, end=max(t, t_end), text=token))
    return words


def _rolling_segments(cues: list[_Cue]) -> list[Segment]:
    segments: list[Segment] = []
    recent: list[str] = []  # the lines on screen: a repeat of one of them is not new speech
    for cue in cues:
        on_screen = []
        for line in cue.lines:
            text = _clean(line)
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


def parse_vtt(text: str) -> list[Segment]:
    if not text.lstrip("\ufeff").startswith("WEBVTT"):
        raise InputFileError("not a WebVTT file (no WEBVTT header)", hint="check the caption file")
    cues = _cues(text)
    if _is_rolling(cues):
        return _rolling_segments(cues)
    return [s for cue in cues if (s := _segment(cue.start, cue.end, cue.lines))]


def parse_srt(text: str) -> list[Segment]:
    return [s for cue in _cues(text) if (s := _segment(cue.start, cue.end, cue.lines))]


def _merge_words(items: list[dict]) -> list[Segment]:
    """Word-level JSON transcripts become sentence segments (same speaker, up to . ? !)."""
    segments: list[Segment] = []
    words: list[Word] = []
    speaker: str | None = None

    def flush() -> None:
        if words:
            text = " ".join(w.text for w in words)
            segments.append(
                Segment(
                    start=words[0].start,
                    end=words[-1].end,
                    text=text,
                    words=list(words),
                    speaker=speaker,
                )
            )
            words.clear()

    for item in items:
        body = " ".join(str(item.get("body", "")).split())
        if not body:
            continue
        if item.get("speaker") != speaker:
            flush()
            speaker = item.get("speaker")
        words.append(Word(start=float(item["startTime"]), end=float(item["endTime"]), text=body))
        if body[-1] in ".?!":
            flush()
    flush()
    return segments


def parse_podcast_json(text: str) -> list[Segment]:
    """Podcasting 2.0 JSON: ``{"segments": [{"startTime", "endTime", "body", "speaker"}]}``."""
    try:
        data = json.loads(text)
        items = data["segments"]
        if not isinstance(items, list):
            raise TypeError("segments is not a list")
        bodies = [str(item.get("body", "")).strip() for item in items]
        word_level = bool(bodies) and sum(" " not in b for b in bodies) * 2 > len(bodies) > 3
        if word_level:
            return _merge_words(items)
        segments = []
        for item, body in zip(items, bodies, strict=True):
            if body:
                segments.append(
                    Segment(
                        start=float(item["startTime"]),
                        end=float(item["endTime"]),
                        text=" ".join(body.split()),
                        speaker=item.get("speaker") or None,
                    )
                )
        return segments
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputFileError(
            f"not a Podcasting 2.0 JSON transcript: {e}",
            hint="expected {'segments': [{'startTime', 'endTime', 'body'}]}",
        ) from e


def parse_captions(text: str, fmt: str) -> list[Segment]:
    parsers = {"vtt": parse_vtt, "srt": parse_srt, "json": parse_podcast_json}
    if fmt not in parsers:
        raise InputFileError(
            f"unsupported caption format {fmt!r}", hint="use a .vtt, .srt or .json transcript"
        )
    return parsers[fmt](text)
