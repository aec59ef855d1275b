"""A cue's text, as a caption library hands it over raw -> the spoken lines, each with its
speaker (pure; no I/O).

Public API:
    Cue(start, end, lines)                       # seconds; raw text lines, tags and all
    clean_line(line, fmt) -> str                 # markup removed, entities decoded, one line
    cue_segments(cue, fmt) -> list[Segment]      # one segment per voice / dialogue line
    fix_times(cues) -> list[Cue]                 # zero-length and reversed cues clamped
    name_prefixes(cues, fmt) -> (cues, bool)     # "Dana Host: Hi" -> a voice span, when the
                                                 # file uses such prefixes as speakers
    carry_speakers(segments) -> list[Segment]    # a cue without a prefix continues the turn

The libraries find cues and their times; what a cue *says* is left to this module, because
neither library keeps who says it: pysubs2 and webvtt-py strip ``<v Name>`` spans (or report
only the first), and pysubs2 deletes anything between ``<`` and ``>``. Only markup of the
cue's own format is removed (``fmt`` is ``"vtt"`` or ``"srt"``); every other ``<`` and ``>``
is text, as in ``x < 5`` or ``List<String>``; in WebVTT, tags of HTML elements and end
tags of any name are dropped too, as WebVTT's rules drop every tag they do not know.

Podcast transcripts often name the speaker in the text (``Dana Host: Welcome``). Such a
prefix becomes the segment's speaker only where the file follows that convention: the
prefix looks like a name (capitalised words, not a label such as ``Note:`` or ``Warning:``,
not ``http:``) and such prefixes open several cues. A cue without one continues the turn
before it.
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
# Tags WebVTT does not know are dropped by its parsing rules ("any other start tag" and
# "any other end tag" are ignored). Only tags of HTML's elements count here, with end tags
# of any name, so the text `List<String>` or `Vec<u8>` written without escapes stays text.
_HTML_ELEMENTS = (
    "a|abbr|address|article|aside|audio|big|blockquote|body|br|button|caption|center|cite|"
    "code|col|dd|del|details|dfn|div|dl|dt|em|embed|figure|font|footer|form|h[1-6]|head|"
    "header|hr|html|iframe|img|input|ins|kbd|label|li|link|main|mark|meta|nav|ol|p|pre|q|"
    "rp|s|samp|script|section|small|source|span|strike|strong|style|sub|summary|sup|table|"
    "tbody|td|th|thead|time|title|tr|tt|ul|var|video|wbr"
)
_VTT_UNKNOWN_TAG = re.compile(
    rf"<(?:{_HTML_ELEMENTS})(?=[\s./>])[^<>]*>|</[A-Za-z][^\s<>]*\s*>", re.IGNORECASE
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
    if fmt == "vtt":
        line = _VTT_UNKNOWN_TAG.sub("", _VTT_TAG.sub("", line))
    else:
        line = _SRT_TAG.sub("", line)
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


# --- "Name: text" speaker prefixes ---------------------------------------------------------

# "Dana Host: Welcome" (a colon and a space), "李雷：你好" (a full-width colon), or
# "DANA HOST:" alone on the cue's line, its words on the lines after it.
_PREFIX = re.compile(r"([^\s:：<>&][^:：<>&]{0,39}?)\s*(?::\s+(?=\S)|：\s*(?=\S)|[:：]\s*$)")
# Words that label a line rather than name who speaks it ("Note: ...", "Warning: ...").
_LABELS = frozenset(
    {
        "note", "notes", "nb", "ps", "p.s.", "warning", "caution", "attention", "important",
        "update", "edit", "correction", "disclaimer", "tip", "hint", "example", "source",
        "sources", "reference", "summary", "chapter", "part", "section", "music", "sound",
        "audio", "applause", "laughter", "transcript", "caption", "captions", "subtitle",
        "subtitles", "translation", "translator", "sponsor", "ad", "advert", "advertisement",
        "title", "subject", "re", "fwd", "spoiler", "reminder", "question", "answer", "quote",
        "link", "url", "email", "phone", "time", "date", "location", "chorus", "verse",
        "intro", "outro", "bridge", "lyrics", "editor's note",
        "producer's note", "trigger warning", "content warning",
    }
)  # fmt: skip
_PARTICLES = frozenset(
    {"de", "da", "del", "della", "der", "den", "di", "du", "la", "le", "van", "von", "bin",
     "ibn", "al", "el", "y", "e"}
)  # fmt: skip
_NAME_PUNCT = set("'’.-")
_CHEVRONS = re.compile(r">>+\s*")
_MIN_SHARE = 0.05  # prefixed cues among all cues before prefixes count as speakers


def _looks_like_name(name: str) -> bool:
    """One to four words, each a capitalised word of letters (a lower-case particle such as
    ``van`` inside), not a label such as ``Note`` or ``Chapter 2``; scripts without case
    count as capitals. A number may end it after a word (``Speaker 2``, ``Guest 1``), as
    transcription services label unnamed voices."""
    words = name.split()
    if not 1 <= len(words) <= 4 or name.casefold() in _LABELS:
        return False
    if words[0].casefold() in _LABELS or sum(ch.isalpha() for ch in name) < 2:
        return False  # "Q", "A": an interview's marks, not names
    if len(words) > 1 and words[-1].isdigit():
        words = words[:-1]
    for index, word in enumerate(words):
        if not word[0].isalpha() or not all(ch.isalpha() or ch in _NAME_PUNCT for ch in word):
            return False
        inner = 0 < index < len(words) - 1
        if word[0].islower() and not (inner and word.casefold() in _PARTICLES):
            return False
    return True


def _prefix(line: str, fmt: str) -> tuple[str, str, str] | None:
    """(dash, name, rest) when the line opens with a name-like ``Name:`` prefix."""
    text = clean_line(line, fmt)
    dash = ""
    if match := _DIALOGUE_DASH.match(text):
        dash, text = "- ", text[match.end() :].lstrip()
    elif match := _CHEVRONS.match(text):  # ">> DANA: ..." in broadcast captions
        text = text[match.end() :]
    match = _PREFIX.match(text)
    if match is None or not _looks_like_name(" ".join(match.group(1).split())):
        return None
    return dash, " ".join(match.group(1).split()), text[match.end() :]


def name_prefixes(cues: list[Cue], fmt: str) -> tuple[list[Cue], bool]:
    """Cues whose lines open with ``Name:`` prefixes rewritten as voice spans, and whether
    any were: only when the file follows that convention, that is when name-like prefixes
    (not labels like ``Note:``, not ``http:``) open at least two cues and at least 5% of
    them. A line already inside a ``<v>`` span keeps its voice."""
    opening = sum(
        bool(cue.lines)
        and not _VOICE_OPEN.search(cue.lines[0])
        and bool(_prefix(cue.lines[0], fmt))
        for cue in cues
    )
    if opening < 2 or opening < _MIN_SHARE * len(cues):
        return cues, False
    rewritten = []
    for cue in cues:
        lines = []
        for line in cue.lines:
            found = None if _VOICE_OPEN.search(line) else _prefix(line, fmt)
            if found is None:
                lines.append(line)
                continue
            dash, name, rest = found
            # the rest is clean text: escaped, so cleaning it again changes nothing
            lines.append(f"{dash}<v {html.escape(name)}>{html.escape(rest, quote=False)}")
        rewritten.append(replace(cue, lines=lines))
    return rewritten, True


def carry_speakers(segments: list[Segment]) -> list[Segment]:
    """A segment without a speaker keeps the one before it (none before the first named):
    a cue without a prefix continues the turn of the cue before."""
    speaker = None
    carried = []
    for segment in segments:
        if segment.speaker is None and speaker is not None:
            segment = segment.model_copy(update={"speaker": speaker})
        speaker = segment.speaker
        carried.append(segment)
    return carried
