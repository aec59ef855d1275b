"""A cue's text, as a caption library hands it over raw -> the spoken lines, each with its
speaker (pure; no I/O).

Public API:
    Cue(start, end, lines)                       # seconds; raw text lines, tags and all
    clean_line(line, fmt) -> str                 # markup removed, entities decoded, one line
    cue_segments(cue, fmt) -> list[Segment]      # one segment per voice / dialogue line
    fix_times(cues) -> list[Cue]                 # zero-length and reversed cues clamped

The libraries find cues and their times; what a cue *says* is left to this module, because
neither library keeps who says it: pysubs2 and webvtt-py strip ``<v Name>`` spans (or report
only the first), and pysubs2 deletes anything between ``<`` and ``>``. Only markup of the
cue's own format is removed (``fmt`` is ``"vtt"`` or ``"srt"``); every other ``<`` and ``>``
is text, as in ``x < 5`` or ``List<String>``.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field, replace

from pipeline.models import Segment

log = logging.getLogger(__name__)

# WebVTT's cue tags (class and annotation allowed) and inline timestamps; nothing else.
_VTT_TAG = re.compile(
    r"</?(?:c|i|b|u|v|ruby|rt|lang)(?:\.[^\s<>]*)?(?:\s[^<>]*)?>"
    r"|<(?:\d+:)?\d{1,2}:\d{2}\.\d{1,3}>",
    re.IGNORECASE,
)
# SubRip's formatting tags (i b u s font) and SubStation override blocks such as {\an8}.
_SRT_TAG = re.compile(r"</?\s*(?:i|b|u|s|font)(?:\s[^<>]*)?\s*>|\{\\[^{}]*\}", re.IGNORECASE)
_VOICE_OPEN = re.compile(r"<v(?:\.[^\s<>]*)?\s+([^<>]*)>", re.IGNORECASE)
_VOICE_CLOSE = re.compile(r"</v\s*>", re.IGNORECASE)
# A dialogue dash starts a line ("- Hi", "– <v A>Hi"); "-5 degrees" is not one.
_DIALOGUE_DASH = re.compile(r"^\s*[-‐–—](?=\s|<v[\s.]|$)", re.IGNORECASE)
_BIDI_MARKS = str.maketrans("", "", "\u200e\u200f")


@dataclass
class Cue:
    """One caption cue: its time span in seconds and its text lines as written."""

    start: float  # seconds
    end: float
    lines: list[str] = field(default_factory=list)  # as written, markup included


def clean_line(line: str, fmt: str) -> str:
    """One line of cue text as spoken: the format's markup gone, entities decoded once,
    runs of whitespace single."""
    line = (_VTT_TAG if fmt == "vtt" else _SRT_TAG).sub("", line)
    return " ".join(html.unescape(line).translate(_BIDI_MARKS).split())


def _speaker(name: str) -> str | None:
    return " ".join(html.unescape(name).split()) or None


def _pieces(lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """(speaker, raw lines) for each voice span or dialogue line of a cue, in order.

    A ``<v Name>`` starts a piece with that speaker; so does a line opening with a dialogue
    dash when the cue has two or more such lines (the dash itself is dropped). Text after
    a ``</v>`` stays with the voice before it.
    """
    dashed = sum(bool(_DIALOGUE_DASH.match(line)) for line in lines) >= 2
    pieces: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in lines:
        if dashed and _DIALOGUE_DASH.match(line):
            pieces.append((None, []))
            line = _DIALOGUE_DASH.sub("", line, count=1)
        position = 0
        for match in _VOICE_OPEN.finditer(line):
            pieces[-1][1].append(line[position : match.start()])
            pieces.append((_speaker(match.group(1)), []))
            position = match.end()
        pieces[-1][1].append(_VOICE_CLOSE.sub("", line[position:]))
    return pieces


def cue_segments(cue: Cue, fmt: str) -> list[Segment]:
    """The cue's segments: one per voice span (with its speaker) or dialogue line.

    A cue with several pieces shares its time among them by length of text, since the
    file says only when the whole cue is on screen; a lone piece keeps the cue's times.
    """
    spoken: list[tuple[str | None, str]] = []
    for speaker, raw in _pieces(cue.lines):
        text = " ".join(filter(None, (clean_line(line, fmt) for line in raw)))
        text = _DIALOGUE_DASH.sub("", text, count=1).strip()
        if not text:
            continue
        if spoken and not any(ch.isalnum() for ch in text):
            # punctuation between two spans belongs to the one before
            spoken[-1] = (spoken[-1][0], f"{spoken[-1][1]} {text}")
            continue
        spoken.append((speaker, text))
    total = sum(len(text) for _, text in spoken) or 1
    segments = []
    clock = cue.start
    for index, (speaker, text) in enumerate(spoken):
        last = index == len(spoken) - 1
        end = cue.end if last else round(clock + (cue.end - cue.start) * len(text) / total, 3)
        segments.append(Segment(start=clock, end=end, text=text, speaker=speaker))
        clock = end
    return segments


def fix_times(cues: list[Cue], label: str = "captions") -> list[Cue]:
    """Cues in file order with ``end >= start``: a cue that ends before (or when) it starts
    keeps its text and speaker and ends when the next cue starts (else at its own start),
    with a warning, so nothing the file says is lost or merged into another speaker."""
    fixed = []
    for index, cue in enumerate(cues):
        if cue.end <= cue.start:
            later = [c.start for c in cues[index + 1 :] if c.start > cue.start]
            end = min(later) if later else cue.start
            log.warning(
                "%s: cue at %.3f s ends at %.3f s; keeping its text, ending it at %.3f s",
                label, cue.start, cue.end, end,
            )  # fmt: skip
            cue = replace(cue, end=end)
        fixed.append(cue)
    return fixed
