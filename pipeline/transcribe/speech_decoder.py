"""What every whisper-family backend shares: VAD, windows, joining, filters, the rescue pass.

Public API:
    SpeechDecoder                     # base of the ``whisper`` and ``faster-whisper`` backends
        .transcribe(episode, episode_dir, progress=None) -> Transcript
        .decoded_clips                # the first pass's (start, end) clips, last run
        ._decode(audio, start, language, prompt, *, rescue) -> Decoded   # a subclass's job
        .english_only / .model_name   # a subclass's job
    Decoded                           # {"segments": [whisper-style segment dicts], "language"}
    initial_prompt(episode) -> str | None

How (the field's lessons for 1-3 hour audio):
- VAD first (:mod:`pipeline.audio.vad`): only speech is decoded, joined end to end
  (:mod:`pipeline.transcribe.timeline` maps times back), so silence and music cannot turn into
  invented text and decoding time follows the amount of speech.
- The episode is decoded once to 16 kHz PCM on disk and given to the model in windows of at
  most ``[asr] window_seconds`` cut at silences: memory stays flat on 3-hour files.
- Language from config, else the episode metadata, else detected once (first window).
- Segments that are repetition loops (compression ratio), probably not speech (no-speech
  probability with low log-probability), or the same text three or more times in a row are
  dropped.
- Nothing lost: beam search over a joined 30-second window sometimes ends the window early and
  the next one starts after a short sentence, which then vanishes. After the first pass every
  VAD speech stretch that got no words, or the part of one with no word for ``LATE_END``
  seconds, is decoded again, greedily (spans close together joined into one window, and any
  still lost then alone); ``Transcript.redecoded`` lists them.
- Word starts are the words' own (a segment widens to its first word, not the other way
  round), and every word after a pause is checked on the audio
  (:mod:`pipeline.transcribe.onsets`): whisper places a sentence's first word up to 0.9 s
  late, or early over the silence before it.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from pipeline.audio.pcm import PcmFile, decode_pcm
from pipeline.audio.vad import MIN_SILENCE, PAD, Stretch, merge, speech_spans
from pipeline.config import Config
from pipeline.errors import TranscriptionError
from pipeline.langtags import language_base
from pipeline.models import Episode, Segment, Transcript, Word
from pipeline.transcribe.onsets import recheck_onsets
from pipeline.transcribe.progress import Progress
from pipeline.transcribe.timeline import Timeline

log = logging.getLogger(__name__)

# This long inside a speech stretch without a word: speech was lost there.
LATE_END = 2.0
# A stretch's first word comes this late after the VAD's start: its opening words were
# lost. Tighter than LATE_END because a stretch starts where the VAD heard a voice (less
# its padding), while between words whisper's word times may stretch across a pause. On
# tiny.en, a window that ends on a lone timestamp makes whisper seek past the next
# sentence's first 1.4-1.9 s ("An experiment has failed" at 28.7 s of a flite interview).
LATE_START = 1.0
# Stretches shorter than this are breaths and clicks, not lost sentences.
MIN_RESCUE = 0.5
# Lost spans this close together are re-decoded as one joined clip: one whisper window.
RESCUE_CLIP = 30.0


class Decoded(TypedDict):
    """One decode in openai-whisper's result shape: segment dicts with ``text``, ``start``,
    ``end`` (seconds on the decoded clip), ``compression_ratio``, ``no_speech_prob``,
    ``avg_logprob`` and ``words`` ([{``word``, ``start``, ``end``, ``probability``}])."""

    segments: list[dict[str, Any]]
    language: str | None


def initial_prompt(episode: Episode) -> str | None:
    """Names spelled right from the start: the show, its host and guests."""
    names: list[str] = []
    for name in [episode.show, episode.uploader, *episode.guests]:
        name = " ".join(name.split())
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    if not names:
        return None
    if len(names) == 1:
        return f"{names[0]}."
    return f"{names[0]}, with {', '.join(names[1:])}."


@dataclass
class _Window:
    start: float
    end: float
    regions: list[tuple[float, float]]


def _windows(regions: list[tuple[float, float]], limit: float) -> list[_Window]:
    """Group speech regions into windows no longer than ``limit``, cut between regions.

    A region longer than ``limit`` (VAD off, or talk over music with no pause) is cut
    every ``limit`` seconds: one window's audio is what memory has to hold."""
    windows: list[_Window] = []
    pieces = []
    for start, end in regions:
        while end - start > limit:
            pieces.append((start, start + limit))
            start += limit
        pieces.append((start, end))
    for region in pieces:
        if windows and region[1] - windows[-1].start <= limit:
            windows[-1].regions.append(region)
            windows[-1].end = region[1]
        else:
            windows.append(_Window(region[0], region[1], [region]))
    return windows


def _loop(text: str) -> bool:
    """A phrase repeated over and over inside one segment."""
    words = text.casefold().split()
    if len(words) < 8:
        return False
    return len(set(words)) * 4 <= len(words)


_PUNCTUATION = "\"'“¿([{-\"'.。,，!！?？:：”)]}、"


def anomaly(segment: Segment) -> bool:
    """Whisper's own test for a hallucinated segment (openai-whisper's ``transcribe``,
    ``is_segment_anomaly``): among its first 8 words, each word under 0.15 probability,
    shorter than 0.133 s or longer than 2 s adds to a score; 3, or every word, is too much.
    The rescue pass decodes stretches the first pass heard nothing in, often the lead-in
    after music, where tiny.en says "So" at probability 0.05: its finds must pass this."""
    words = [w for w in segment.words if w.text not in _PUNCTUATION][:8]
    score = 0.0
    for word in words:
        duration = word.end - word.start
        score += 1.0 if (word.probability or 0.0) < 0.15 else 0.0  # whisper's default: 0
        score += (0.133 - duration) * 15 if duration < 0.133 else 0.0
        score += duration - 2.0 if duration > 2.0 else 0.0
    return score >= 3 or score + 0.01 >= len(words)


def lost_stretches(
    stretches: list[tuple[float, float]],
    segments: list[Segment],
    onsets: list[float] | None = None,
) -> list[tuple[float, float]]:
    """The parts of VAD speech stretches the transcript has no words for: a whole stretch
    with no word in it, or a stretch of more than ``LATE_END`` seconds without a word
    between two words or at its end, or whose first word comes more than
    ``LATE_START - PAD`` seconds after its onset (``onsets``, where the VAD heard the voice
    begin; default: the stretch's start plus ``PAD``: a longer lead-in after music is
    padding, not lost speech). Episode seconds, sorted."""
    words = sorted((w.start, w.end) for s in segments for w in s.words)
    lost = []
    for index, (start, end) in enumerate(stretches):
        lead_in = (onsets[index] - start) if onsets is not None else PAD
        # a word belongs to the stretch its middle falls in: the last word of the stretch
        # before may run past the boundary, and must not hide a late start here
        inside = [(a, b) for a, b in words if start <= (a + b) / 2 < end]
        if not inside:
            if end - start >= MIN_RESCUE:
                lost.append((start, end))
            continue
        edges = [start, *[x for word in inside for x in word], end]
        for k, (gap_start, gap_end) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
            if gap_end - gap_start > (LATE_START + lead_in - PAD if k == 0 else LATE_END):
                lost.append((gap_start, gap_end))
    return lost


class SpeechDecoder:
    """The shared pipeline; subclasses load a model and implement ``_decode``."""

    name = "whisper"

    def __init__(self, config: Config) -> None:
        self.asr = config.asr
        self.decoded_clips: list[tuple[float, float]] = []

    @property
    def model_name(self) -> str:
        """The model name or path recorded in the transcript (``[asr] model``)."""
        return self.asr.model

    @property
    def english_only(self) -> bool:
        """True when the model knows English only (the language is then ``en``, whatever
        was asked)."""
        raise NotImplementedError

    def _decode(
        self, audio: np.ndarray, timeline: Timeline, language: str | None, prompt: str | None,
        *, rescue: bool,
    ) -> Decoded:  # fmt: skip
        """Decode ``audio`` (float32, 16 kHz: ``timeline``'s regions joined end to end);
        ``rescue``: one short stretch, greedily, no temperature fallback."""
        raise NotImplementedError

    def transcribe(
        self, episode: Episode, episode_dir: Path, progress: Progress | None = None
    ) -> Transcript:
        """The episode's audio transcribed; :class:`TranscriptionError` when there is no
        audio or decoding fails."""
        if not episode.audio_file or not (episode_dir / episode.audio_file).is_file():
            raise TranscriptionError(
                f"episode {episode.id} has no audio in {episode_dir}",
                hint="run `podpost fetch` for it first",
            )
        language = self.asr.language or episode.language
        language = language_base(language) or language  # whisper takes "en", not "en-US"
        if self.english_only:
            language = "en"
        prompt = initial_prompt(episode) if self.asr.prompt_names else None
        with tempfile.TemporaryDirectory(prefix=".asr-", dir=episode_dir) as tmp:
            pcm = decode_pcm(episode_dir / episode.audio_file, Path(tmp) / "audio.s16le")
            total = pcm.seconds
            if self.asr.vad:
                spans = speech_spans(pcm, self.asr.vad_engine, self.asr.vad_threshold)
            else:
                spans = [Stretch(0.0, total, 0.0)] if total > 0 else []
            stretches = [(s.start, s.end) for s in spans]
            self.decoded_clips = []
            segments: list[Segment] = []
            for window in _windows(merge(stretches, MIN_SILENCE), self.asr.window_seconds):
                timeline, audio = self._speech(pcm, window.regions)
                self.decoded_clips += timeline.regions  # the rescue pass's are in `redecoded`
                if timeline.duration > 0:
                    result = self._decode(audio, timeline, language, prompt, rescue=False)
                    language = language or result.get("language")
                    segments += self._segments(result["segments"], timeline)
                if progress is not None:
                    progress(window.end, total)
            redecoded: list[tuple[float, float]] = []
            # Word starts are checked on the audio after the rescue pass only: checked
            # before it too, they changed which gaps it decoded again, and WER on the flite
            # interview rose from 0.034 to 0.047 (tests/test_transcribe_real.py)
            bounds = [(s.start, s.end, s.onset) for s in spans]
            if self.asr.vad:
                segments = self._rescue(pcm, spans, segments, language, redecoded)
            segments = recheck_onsets(segments, pcm.read, bounds)
        segments = _drop_repeats(segments)  # none left: transcribe_episode warns
        return Transcript(
            language=language or "en",
            backend=self.name,
            model=self.model_name,
            segments=segments,
            redecoded=redecoded,
        )

    def _rescue(
        self, pcm: PcmFile, spans: list[Stretch], segments: list[Segment],
        language: str | None, redecoded: list[tuple[float, float]],
    ) -> list[Segment]:  # fmt: skip
        """``segments`` with the lost parts of ``stretches`` decoded again, greedily and
        without the prompt (given the prompt, tiny.en echoed it); each span re-decoded is
        appended to ``redecoded``.

        Lost spans within ``RESCUE_CLIP`` seconds of each other are decoded together, joined:
        one whisper window instead of one per span (a prompt that made the first window skip
        20 s left four spans, 2.7 s of decoding one by one, 0.8 s joined). A span that joined
        decoding still leaves lost is decoded once more on its own."""
        stretches = [(s.start, s.end) for s in spans]
        lost = lost_stretches(stretches, segments, [s.onset for s in spans])
        for window in _windows(lost, RESCUE_CLIP):
            found = self._redecode(pcm, window.regions, language)
            segments = insert_segments(segments, found)
            if len(window.regions) > 1:
                for span in lost_stretches(window.regions, found):
                    segments = insert_segments(segments, self._redecode(pcm, [span], language))
        redecoded += sorted({(round(a, 3), round(b, 3)) for a, b in lost})
        return segments

    def _redecode(
        self, pcm: PcmFile, spans: list[tuple[float, float]], language: str | None
    ) -> list[Segment]:
        timeline, audio = self._speech(pcm, spans)
        if timeline.duration <= 0:
            return []
        result = self._decode(audio, timeline, language, None, rescue=True)
        found = [s for s in self._segments(result["segments"], timeline) if not anomaly(s)]
        if found:
            log.info("re-decoded %.1f-%.1f s: %s", spans[0][0], spans[-1][1], found[0].text[:60])
        return found

    def _speech(
        self, pcm: PcmFile, spans: list[tuple[float, float]]
    ) -> tuple[Timeline, np.ndarray]:
        """The spans read and joined end to end (see :mod:`pipeline.transcribe.timeline`),
        cut on whole 10 ms frames."""
        regions: list[tuple[float, float]] = []
        pieces = []
        seconds = pcm.seconds  # a stat() of the PCM file: once per window, not per region
        for start, end in spans:
            first = math.floor(start * 100) / 100
            last = math.floor(min(end, seconds) * 100) / 100
            if last > first:
                regions.append((first, last))
                pieces.append(pcm.read(first, last))
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return Timeline.of(regions), audio

    def _segments(self, raw: list[dict[str, Any]], timeline: Timeline) -> list[Segment]:
        kept: list[Segment] = []
        for item in raw:
            text = " ".join(str(item.get("text", "")).split())
            if not text:
                continue
            if item.get("compression_ratio", 0) > self.asr.compression_ratio_threshold:
                continue  # a loop that survived the temperature fallback
            if (
                item.get("no_speech_prob", 0) > self.asr.no_speech_threshold
                and item.get("avg_logprob", 0) < self.asr.logprob_threshold
            ):
                continue
            if _loop(text):
                continue
            start = timeline.start(float(item["start"]))
            end = timeline.end(float(item["end"]))
            if end <= start:
                continue
            # A word's start is its own: the segment's timestamp token often comes later
            # than its first word (whisper places both; they disagree after a pause), so
            # the segment widens to its words, never past the segment before.
            low = kept[-1].end if kept else 0.0
            words = []
            for word in item.get("words") or []:
                token = str(word.get("word", "")).strip()
                if not token:
                    continue
                w_start = min(max(timeline.start(float(word["start"])), low), end)
                w_end = min(max(timeline.end(float(word["end"])), w_start), end)
                words.append(
                    Word(
                        start=round(w_start, 3),
                        end=round(w_end, 3),
                        text=token,
                        probability=round(float(word.get("probability", 0.0)), 4),
                    )
                )
            start = min([start, *(w.start for w in words[:1])])
            kept.append(Segment(start=round(start, 3), end=round(end, 3), text=text, words=words))
        return kept


def insert_segments(segments: list[Segment], found: list[Segment]) -> list[Segment]:
    """``segments`` with the rescue pass's ``found`` put in time order. A found segment that
    overlaps one already there (its words fill a gap inside it, or it starts before the
    last word of the segment before ends) is merged into it, words in time order, so the
    transcript's segments stay ordered and disjoint as every later step expects."""
    merged: list[Segment] = []
    for segment in sorted([*segments, *found], key=lambda s: (s.start, s.end)):
        if merged and segment.start < merged[-1].end:
            before = merged[-1]
            words = sorted([*before.words, *segment.words], key=lambda w: (w.start, w.end))
            merged[-1] = before.model_copy(
                update={
                    "end": max(before.end, segment.end),
                    "words": words,
                    "text": " ".join(w.text for w in words),
                }
            )
        else:
            merged.append(segment)
    return merged


def _normal(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def _drop_repeats(segments: list[Segment]) -> list[Segment]:
    """Keep one of a run of three or more segments with the same text (a decoding loop)."""
    kept: list[Segment] = []
    index = 0
    while index < len(segments):
        run = index + 1
        while run < len(segments) and _normal(segments[run].text) == _normal(segments[index].text):
            run += 1
        kept += segments[index:run] if run - index < 3 else [segments[index]]
        index = run
    return kept
