"""From a timed transcript and diarization spans to speaker turns (pure functions).

The transcript is cut into tokens: its words when it has word timestamps, otherwise each
segment's whitespace-separated words with times spread over the segment by length. Each
token goes to the speaker whose spans overlap it most (the nearest span when none does).
Then, in order:

1. islands are absorbed by a neighbour: runs with less than ``min_island_seconds`` of
   their own speech in the diarization (speech, not word times, which stretch over
   pauses) that the diarization does not vouch for as a short turn of their own (a
   backchannel, a one-word answer: see :func:`absorb_islands`);
2. every speaker change moves to the nearest sentence end (else segment end) within
   ``SNAP_SECONDS``, else it stays at the word boundary where the labels change;
3. consecutive tokens of one speaker become one turn; a turn longer than ``max_turn_chars``
   splits at sentence ends into consecutive turns of the same speaker.

Nothing is lost or invented: turn texts joined with spaces equal ``transcript.text``,
whitespace aside (`same_text` checks it). Turn labels are the diarization's cluster labels
(``S0``...); naming replaces them later.

The whole step (diarize, cut, name) is :func:`pipeline.turns.step.build_turns`.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.config import Config, TurnsConfig
from pipeline.models import Episode, Segment, SpeakerSpan, Transcript, Turn

SNAP_SECONDS = 1.5  # how far a speaker change may move to land on a sentence end
# A short run is a turn only with this much of its own speech in the diarization: the
# builtin diarizer's shortest speech is 0.1 s, a spoken "Yes." about 0.3 s.
MIN_TURN_SPEECH = 0.2
DEFAULT_LABEL = "S0"  # everybody, when diarization gave no spans (the `none` backend)

_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e.", "etc.", "jr."}
_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’»)\]]*$")


@dataclass(frozen=True)
class Token:
    """A word of the transcript with its times (seconds) and where it sits: the end of a
    sentence, the start or end of a caption segment."""

    start: float
    end: float
    text: str  # as it appears in the transcript, with its leading separator
    sentence_end: bool
    segment_end: bool
    segment_start: bool = False
    estimated: bool = False  # time spread over the segment, not measured


def _normal(text: str) -> str:
    return " ".join(text.split())


def same_text(a: str, b: str) -> bool:
    """Equal once runs of whitespace are ignored (what "nothing lost" promises)."""
    return "".join(a.split()) == "".join(b.split())


def is_sentence_end(word: str) -> bool:
    """Whether ``word`` ends a sentence (``.!?…`` and CJK stops, closing quotes allowed),
    abbreviations such as "Dr." excepted."""
    word = word.strip()
    return bool(_SENTENCE_END.search(word)) and word.lower() not in _ABBREVIATIONS


def _segment_tokens(segment: Segment) -> list[Token]:
    text = segment.text.strip()
    words = [w for w in segment.words if w.text.strip()]
    pieces: list[tuple[float, float, str]]
    estimated = False
    if words and _normal("".join(w.text for w in words)) == _normal(text):
        pieces = [(w.start, w.end, w.text) for w in words]
    elif words and _normal(" ".join(w.text.strip() for w in words)) == _normal(text):
        pieces = [(w.start, w.end, " " + w.text.strip()) for w in words]
    else:
        # No usable word times: spread the segment's time over its words by length.
        parts = text.split()
        total = sum(len(p) + 1 for p in parts) or 1
        duration = max(segment.end - segment.start, 0.0)
        clock, pieces, estimated = segment.start, [], True
        for part in parts:
            step = duration * (len(part) + 1) / total
            pieces.append((clock, clock + step, " " + part))
            clock += step
    tokens = []
    for i, (start, end, raw) in enumerate(pieces):
        # A segment always starts a new word: its first token carries the separator.
        raw = raw if i or raw[:1].isspace() else " " + raw
        tokens.append(
            Token(
                start,
                max(start, end),
                raw,
                sentence_end=is_sentence_end(raw),
                segment_end=i == len(pieces) - 1,
                segment_start=i == 0,
                estimated=estimated,
            )
        )
    return tokens


def tokenize(transcript: Transcript) -> list[Token]:
    """Every word of the non-empty segments, in order; words without their own times get
    times spread over their segment (``estimated``)."""
    return [t for s in transcript.segments if s.text.strip() for t in _segment_tokens(s)]


def label_tokens(tokens: Sequence[Token], spans: Sequence[SpeakerSpan]) -> list[str]:
    """Each token's speaker: most overlap with a span, else the nearest span in time."""
    if not spans:
        return [DEFAULT_LABEL] * len(tokens)
    spans = sorted(spans, key=lambda s: (s.start, s.end))
    starts = [s.start for s in spans]
    longest = max(s.end - s.start for s in spans)
    labels = []
    for token in tokens:
        hi = bisect.bisect_left(starts, token.end)
        lo = bisect.bisect_left(starts, token.start - longest)
        overlap: dict[str, float] = {}
        for span in spans[lo:hi]:
            amount = min(span.end, token.end) - max(span.start, token.start)
            if amount > 0:
                overlap[span.speaker] = overlap.get(span.speaker, 0.0) + amount
        if overlap:
            labels.append(max(overlap, key=lambda k: overlap[k]))
            continue
        nearby = spans[max(0, lo - 1) : min(len(spans), hi + 2)] or spans
        labels.append(
            min(nearby, key=lambda s: max(s.start - token.end, token.start - s.end)).speaker
        )
    return labels


def _runs(labels: Sequence[str]) -> list[tuple[int, int]]:
    """[first, last+1) index ranges of equal consecutive labels."""
    runs, first = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[first]:
            runs.append((first, i))
            first = i
    return runs


@dataclass
class _Run:
    label: str
    first: int
    end: int  # one past the last token


class Speech:
    """Diarization speech per label in any stretch of time: what islands are measured by.

    Words' times stretch over pauses (whisper gives a lone word the whole silence before
    it); the diarization's spans cover only the audio a voice was heard in. A span's
    ``confidence`` (None: 1) weighs its seconds."""

    def __init__(self, spans: Sequence[SpeakerSpan]) -> None:
        self.spans = sorted(spans, key=lambda s: (s.start, s.end))
        self.starts = [s.start for s in self.spans]
        self.longest = max((s.end - s.start for s in self.spans), default=0.0)

    def between(self, start: float, end: float) -> dict[str, float]:
        """Seconds of each label's speech inside ``[start, end]``, confidence-weighted."""
        hi = bisect.bisect_left(self.starts, end)
        lo = bisect.bisect_left(self.starts, start - self.longest)
        seconds: dict[str, float] = {}
        for span in self.spans[lo:hi]:
            amount = min(span.end, end) - max(span.start, start)
            if amount > 0:
                weight = 1.0 if span.confidence is None else span.confidence
                seconds[span.speaker] = seconds.get(span.speaker, 0.0) + amount * weight
        return seconds


def _utterance(tokens: Sequence[Token], first: int, end: int) -> bool:
    """Whether tokens ``[first, end)`` are whole sentences: they begin a segment or follow
    a sentence end, and end one (a reply, a greeting, a backchannel), rather than a few
    words cut out of the middle of somebody's sentence."""
    starts = first == 0 or tokens[first].segment_start or tokens[first - 1].sentence_end
    last = tokens[end - 1]
    return starts and (last.sentence_end or last.segment_end)


def absorb_islands(
    tokens: Sequence[Token],
    labels: Sequence[str],
    min_seconds: float,
    spans: Sequence[SpeakerSpan] = (),
) -> list[str]:
    """Give islands to a neighbour, shortest first; a short turn the diarization vouches
    for stays.

    A run is measured by its own label's speech in the diarization (``spans``), not by
    its words' times. A run with ``min_seconds`` of it is a turn. A shorter one is a turn
    too (a backchannel, "Yes.", a greeting) when the diarization vouches for it: at least
    ``MIN_TURN_SPEECH`` seconds of its label's speech, more than every other label's
    in its time, and whole sentences (see :func:`_utterance`). Otherwise (a word or two of
    a sentence labelled apart, a word whose label came from the nearest span because no
    span covers it) it is an island, absorbed by a neighbour. Without ``spans`` nothing
    vouches and runs are measured by their words' times."""
    # Work on runs, not tokens: an hour has ~10^4 words but ~10^3 runs.
    runs = [_Run(labels[a], a, b) for a, b in _runs(labels)]
    speech = Speech(spans)
    heard_in: dict[tuple[int, int], dict[str, float]] = {}

    def heard(run: _Run) -> dict[str, float]:
        if (run.first, run.end) not in heard_in:
            window = (tokens[run.first].start, tokens[run.end - 1].end)
            heard_in[run.first, run.end] = speech.between(*window)
        return heard_in[run.first, run.end]

    def seconds(run: _Run) -> float:
        if not spans:  # labels from elsewhere, no speech to measure: the words' times
            return tokens[run.end - 1].end - tokens[run.first].start
        return heard(run).get(run.label, 0.0)

    def vouched(run: _Run) -> bool:
        own = heard(run).get(run.label, 0.0)
        return (
            bool(spans)
            and own >= MIN_TURN_SPEECH
            and all(own > other for label, other in heard(run).items() if label != run.label)
            and _utterance(tokens, run.first, run.end)
        )

    kept: set[tuple[str, int, int]] = set()  # short runs found to be turns
    while len(runs) > 1:
        islands = [
            (seconds(run), i)
            for i, run in enumerate(runs)
            if (run.label, run.first, run.end) not in kept
        ]
        islands = [(s, i) for s, i in islands if s < min_seconds]
        if not islands:
            break
        _, index = min(islands)
        run = runs[index]
        if vouched(run):
            kept.add((run.label, run.first, run.end))
            continue
        before = runs[index - 1] if index else None
        after = runs[index + 1] if index + 1 < len(runs) else None
        donor = before or after
        if before and after and before.label != after.label:
            # Between two different speakers: join whichever is closer in time.
            gap_before = tokens[run.first].start - tokens[before.end - 1].end
            gap_after = tokens[after.first].start - tokens[run.end - 1].end
            donor = before if gap_before <= gap_after else after
        assert donor is not None
        # The island and every neighbour with the donor's label become one run.
        first = last = index
        while first > 0 and runs[first - 1].label == donor.label:
            first -= 1
        while last + 1 < len(runs) and runs[last + 1].label == donor.label:
            last += 1
        runs[first : last + 1] = [_Run(donor.label, runs[first].first, runs[last].end)]
    return [run.label for run in runs for _ in range(run.end - run.first)]


def _cut_time(tokens: Sequence[Token], p: int) -> float:
    return (tokens[p - 1].end + tokens[p].start) / 2


def snap_changes(tokens: Sequence[Token], labels: Sequence[str]) -> list[str]:
    """Move each speaker change to the nearest sentence end (else segment end) nearby."""
    labels = list(labels)
    runs = _runs(labels)
    for k in range(1, len(runs)):
        lo, change, hi = runs[k - 1][0] + 1, runs[k][0], runs[k][1] - 1
        # Each run keeps at least one token, so changes never cross each other.
        when = _cut_time(tokens, change)
        best = change
        for kind in ("sentence_end", "segment_end"):
            near = [
                p
                for p in range(lo, hi + 1)
                if getattr(tokens[p - 1], kind) and abs(_cut_time(tokens, p) - when) <= SNAP_SECONDS
            ]
            if near:
                best = min(near, key=lambda p: (abs(_cut_time(tokens, p) - when), abs(p - change)))
                break
        if best < change:
            labels[best:change] = [labels[change]] * (change - best)
        elif best > change:
            labels[change:best] = [labels[change - 1]] * (best - change)
        runs[k] = (best, runs[k][1])
    return labels


def _text(tokens: Sequence[Token]) -> str:
    return _normal("".join(t.text for t in tokens))


def split_long(tokens: Sequence[Token], max_chars: int) -> list[list[Token]]:
    """One speaker's tokens in pieces of at most ``max_chars``, cut at sentence ends only."""
    total = len(_text(tokens))
    if total <= max_chars:
        return [list(tokens)]
    target = total / math.ceil(total / max_chars)  # even pieces rather than a short tail
    pieces: list[list[Token]] = []
    current: list[Token] = []
    size = 0
    last_end = -1  # index in `current` just after the latest sentence end
    for token in tokens:
        current.append(token)
        size += len(token.text.strip()) + 1
        if token.sentence_end:
            last_end = len(current)
            if size >= target:
                pieces.append(current)
                current, size, last_end = [], 0, -1
        elif size > max_chars and last_end > 0:
            pieces.append(current[:last_end])
            current = current[last_end:]
            size = sum(len(t.text.strip()) + 1 for t in current)
            last_end = -1
    if current:
        pieces.append(current)
    return pieces


def _nearest(target: float, times: Iterable[float]) -> float:
    near = [t for t in times if abs(t - target) <= SNAP_SECONDS]
    return min(near, key=lambda t: abs(t - target), default=target)


def _turn_times(
    pieces: Sequence[tuple[str, Sequence[Token]]], spans: Sequence[SpeakerSpan]
) -> list[tuple[float, float]]:
    """Each turn's start and end. Where the speaker changes inside a segment whose word
    times were estimated, the edges move to the nearest edge of each speaker's own spans,
    which the audio measured; turns never overlap and never end before they start."""
    times = [[piece[0].start, piece[-1].end] for _, piece in pieces]
    for i in range(1, len(pieces)):
        (before, _), (after, right) = pieces[i - 1], pieces[i]
        if before == after or not right[0].estimated or right[0].segment_start:
            continue
        times[i - 1][1] = _nearest(times[i - 1][1], (s.end for s in spans if s.speaker == before))
        times[i][0] = _nearest(times[i][0], (s.start for s in spans if s.speaker == after))
    previous_end = -math.inf
    for pair in times:
        pair[0] = max(pair[0], previous_end)
        pair[1] = max(pair[1], pair[0])
        previous_end = pair[1]
    return [(start, end) for start, end in times]


def build_turn_list(
    transcript: Transcript,
    spans: Sequence[SpeakerSpan],
    config: TurnsConfig,
    *,
    captioned: bool = False,
) -> list[Turn]:
    """The turns of a transcript, labelled with the diarization's cluster labels.

    ``captioned``: ``spans`` are :func:`caption_speakers`' (one per spoken segment, in
    order), so each segment's words take its own caption's speaker as they are. Time overlap,
    island absorbing and snapping to sentence ends are guesses for acoustic spans; applied
    to a caption's named speaker they would hand a short or zero-length line to a neighbour.
    """
    tokens = tokenize(transcript)
    if not tokens:
        return []
    if captioned:
        spoken = [s for s in transcript.segments if s.text.strip()]
        labels = [
            span.speaker
            for span, segment in zip(spans, spoken, strict=True)
            for _ in _segment_tokens(segment)
        ]
    else:
        labels = label_tokens(tokens, spans)
        labels = absorb_islands(tokens, labels, config.min_island_seconds, spans)
        labels = snap_changes(tokens, labels)
    pieces = [
        (labels[a], piece)
        for a, b in _runs(labels)
        for piece in split_long(tokens[a:b], config.max_turn_chars)
    ]
    times = _turn_times(pieces, spans)
    return [
        Turn(id=i + 1, speaker=speaker, start=round(start, 3), end=round(end, 3), text=_text(piece))
        for i, ((speaker, piece), (start, end)) in enumerate(zip(pieces, times, strict=True))
    ]


# --- the stage -------------------------------------------------------------------------------


def expected_speakers(episode: Episode, config: Config) -> int | None:
    """How many speakers to ask diarization for: the config, the override's names, or the
    metadata's guests plus the host; None lets the backend estimate."""
    if config.diarize.num_speakers:
        return config.diarize.num_speakers
    if config.turns.speakers:
        return len(config.turns.speakers)
    return 1 + len(episode.guests) if episode.guests else None


def caption_speakers(transcript: Transcript) -> tuple[list[SpeakerSpan], dict[str, str]] | None:
    """Spans and label -> name from the captions' own speaker names (WebVTT ``<v Name>``),
    when every segment has one; those beat any acoustic guess."""
    spoken = [s for s in transcript.segments if s.text.strip()]
    if not spoken or any(not (s.speaker or "").strip() for s in spoken):
        return None
    labels: dict[str, str] = {}
    for segment in spoken:
        labels.setdefault(str(segment.speaker).strip(), f"S{len(labels)}")
    spans = [
        SpeakerSpan(start=s.start, end=s.end, speaker=labels[str(s.speaker).strip()])
        for s in spoken
    ]
    return spans, {label: name for name, label in labels.items()}
