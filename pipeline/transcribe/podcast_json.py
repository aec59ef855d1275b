"""Podcasting 2.0 JSON transcripts -> ``Segment`` lists (pure; no I/O).

Public API:
    parse_podcast_json(text, duration=None) -> list[Segment]

The format (podcast-namespace ``transcripts.md``): ``{"version", "segments": [{"startTime",
"endTime", "body", "speaker"}]}`` where only ``startTime`` and ``body`` are required. A
missing ``endTime`` is the next segment's ``startTime``; the last one's is ``duration`` (the
episode's length in seconds) when known, else its own start. A missing ``speaker`` is None.
Word-level files (one word per segment, as several hosts publish) become sentences; a
body without spaces in Chinese or Japanese is a word only when it is short and has no
punctuation inside it, since those languages write whole sentences without spaces.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pipeline.errors import InputFileError
from pipeline.models import Segment, Word

log = logging.getLogger(__name__)


def _seconds(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    seconds = float(value)
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValueError(f"{key} {value!r} is not a time in seconds")
    return seconds


def _timed(items: list[Any], duration: float | None) -> list[tuple[float, float, str, Any]]:
    """(start, end, body, speaker) for every item, with the optional ends filled in."""
    starts = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"segment {index + 1} is not an object")
        start = _seconds(item, "startTime")
        if start is None:
            raise ValueError(f"segment {index + 1} has no startTime")
        starts.append(start)
    timed = []
    for index, (item, start) in enumerate(zip(items, starts, strict=True)):
        end = _seconds(item, "endTime")
        if end is None:
            later = starts[index + 1] if index + 1 < len(items) else duration
            end = later if later is not None and later >= start else start
        if end < start:
            log.warning("JSON transcript: segment at %.3f s ends at %.3f s; clamped", start, end)
            end = start
        body = " ".join(str(item.get("body") or "").split())
        speaker = " ".join(str(item.get("speaker") or "").split()) or None
        timed.append((start, end, body, speaker))
    return timed


# Chinese and Japanese (and Korean in some files) write sentences without spaces.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# CJK punctuation or a full-width form (，？！) with more text after it: inside a sentence.
_CJK_PUNCTUATION_INSIDE = re.compile(r"[\u3000-\u303f\uff00-\uffef].")
CJK_WORD_MAX = 8  # characters; a longer body without a space is a sentence


def _word_like(body: str) -> bool:
    """Whether ``body`` reads as one word: no space, and in CJK text also short and with
    no punctuation inside it (a sentence of Chinese has no spaces either)."""
    if any(ch.isspace() for ch in body):
        return False
    if _CJK.search(body):
        return len(body) <= CJK_WORD_MAX and not _CJK_PUNCTUATION_INSIDE.search(body)
    return True


def _merge_words(timed: list[tuple[float, float, str, Any]]) -> list[Segment]:
    """Word-level transcripts become sentence segments (same speaker, up to . ? !)."""
    segments: list[Segment] = []
    words: list[Word] = []
    speaker: str | None = None

    def flush() -> None:
        if words:
            text = " ".join(w.text for w in words)
            segments.append(
                Segment(start=words[0].start, end=words[-1].end, text=text,
                        words=list(words), speaker=speaker)
            )  # fmt: skip
            words.clear()

    for start, end, body, who in timed:
        if not body:
            continue
        if who != speaker:
            flush()
            speaker = who
        words.append(Word(start=start, end=end, text=body))
        if body[-1] in ".?!":
            flush()
    flush()
    return segments


def parse_podcast_json(text: str, duration: float | None = None) -> list[Segment]:
    """Segments of a Podcasting 2.0 JSON transcript; ``duration`` in seconds ends the last
    one when it has no ``endTime``. Raises ``InputFileError`` for anything else."""
    try:
        data = json.loads(text)
        items = data["segments"]
        if not isinstance(items, list):
            raise TypeError("segments is not a list")
        timed = _timed(items, duration)
        bodies = [body for _, _, body, _ in timed]
        word_level = bool(bodies) and sum(map(_word_like, bodies)) * 2 > len(bodies) > 3
        if word_level:
            return _merge_words(timed)
        return [
            Segment(start=start, end=end, text=body, speaker=speaker)
            for start, end, body, speaker in timed
            if body
        ]
    except RecursionError as e:  # json's decoder recurses once per level of nesting
        raise InputFileError(
            "not a Podcasting 2.0 JSON transcript: its arrays or objects nest too deep",
            hint="expected {'segments': [{'startTime', 'body'}, ...]}",
        ) from e
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputFileError(
            f"not a Podcasting 2.0 JSON transcript: {e}",
            hint="expected {'segments': [{'startTime', 'body'}, ...]}",
        ) from e
