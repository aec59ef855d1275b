"""Transcription with real weights (``tiny.en``) on interviews whose script and times we know.

Each interview is transcribed once per session by bare greedy ``whisper.transcribe`` (the
baseline a new user would try first) and by each podpost backend; the tests then check what a
real model makes checkable:
- no sentence lost: every sentence's first words are in the transcript within
  ``TOLERANCE`` seconds of the sentence's start (word times, not just words);
- word error rate no worse than the bare baseline's plus two points;
- no words in the music before the first sentence or in a tone before a turn; the language.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.models import Segment, Transcript, Word
from pipeline.transcribe.faster_whisper_backend import FasterWhisperBackend
from pipeline.transcribe.whisper_backend import WhisperBackend, load_model
from tests.fixtures.asr_truth import first_word_errors, lost_sentences, wer
from tests.fixtures.interview import Interview

pytestmark = pytest.mark.slow

TOLERANCE = 1.5  # seconds between a sentence's start and its first word in the transcript
WORD_START = 0.3  # seconds nine in ten sentences' first words may start off their true start
INTERVIEWS = ["interview3", "interview_flite", "interview_music", "interview_sting"]
# and interview_pause: the batched path
BACKENDS = ["whisper", "faster-whisper"]


class Transcripts:
    """Transcripts made at most once per session, by (interview fixture, backend)."""

    def __init__(self, request: pytest.FixtureRequest, checkpoint: Path, ct2: Path) -> None:
        self.request, self.checkpoint, self.ct2 = request, checkpoint, ct2
        self.done: dict[tuple[str, str], Transcript] = {}

    def interview(self, name: str) -> Interview:
        return self.request.getfixturevalue(name)

    def get(self, name: str, backend: str) -> Transcript:
        if (name, backend) not in self.done:
            self.done[name, backend] = self._make(self.interview(name), backend)
        return self.done[name, backend]

    def _make(self, interview: Interview, backend: str) -> Transcript:
        folder = interview.audio.parent
        if backend == "bare":
            return bare_greedy(load_model(str(self.checkpoint), "cpu"), interview.audio)
        if backend == "whisper":
            config = Config(data_dir=folder, asr={"model": str(self.checkpoint), "device": "cpu"})
            return WhisperBackend(config).transcribe(interview.episode, folder)
        config = Config(data_dir=folder, asr={"model": str(self.ct2), "device": "cpu"})
        return FasterWhisperBackend(config).transcribe(interview.episode, folder)


def bare_greedy(model, audio: Path) -> Transcript:
    """What ``whisper.transcribe(model, path)`` gives with its defaults (greedy, temperature
    fallback, conditioned on previous text), with word times."""
    import whisper

    raw = whisper.transcribe(model, str(audio), fp16=False, word_timestamps=True)
    segments = [
        Segment(
            start=s["start"],
            end=s["end"],
            text=s["text"].strip(),
            words=[
                Word(start=w["start"], end=w["end"], text=w["word"].strip())
                for w in s.get("words", [])
            ],
        )
        for s in raw["segments"]
        if s["text"].strip() and s["end"] > s["start"]
    ]
    return Transcript(language=raw["language"], backend="bare", segments=segments)


@pytest.fixture(scope="session")
def transcripts(request, real_whisper_checkpoint, ct2_whisper_dir) -> Transcripts:
    return Transcripts(request, real_whisper_checkpoint, ct2_whisper_dir)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", INTERVIEWS)
def test_no_sentence_is_lost(name, backend, transcripts) -> None:
    interview = transcripts.interview(name)
    transcript = transcripts.get(name, backend)
    assert transcript.backend == backend and transcript.language == "en"
    lost = lost_sentences(interview.sentences, transcript, TOLERANCE)
    assert [(round(s.start, 1), s.text) for s in lost] == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", INTERVIEWS)
def test_word_error_rate_is_no_worse_than_bare_greedy(name, backend, transcripts) -> None:
    interview = transcripts.interview(name)
    ours = wer(interview.sentences, transcripts.get(name, backend))
    bare = wer(interview.sentences, transcripts.get(name, "bare"))
    assert ours <= bare + 0.02, f"{backend} {ours:.3f} against bare greedy {bare:.3f}"
    assert ours < 0.35  # sensible English, not a random model's words


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", INTERVIEWS)
def test_first_words_start_where_their_voice_does(name, backend, transcripts) -> None:
    """Every sentence's first word against the synthesiser's exact start (BENCHMARKS.md,
    Word starts): whisper's own times put the median 0.16 s off and a tenth over 0.38 s
    (late after a pause, or early over it); checked on the audio, the median is within
    0.1 s and nine in ten within ``WORD_START`` s (faster-whisper, measured: 90th
    percentile 0.05 s on the backchannel interview, 0.23 s on the flite one, 0.28 s with
    the tone before a turn)."""
    interview = transcripts.interview(name)
    errors = sorted(abs(e) for e in first_word_errors(interview.sentences,
                                                      transcripts.get(name, backend)))  # fmt: skip
    assert len(errors) >= 0.9 * len(interview.sentences)
    assert errors[len(errors) // 2] <= 0.1
    assert errors[int(0.9 * len(errors))] <= WORD_START, errors


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["interview_music", "interview_sting"])
def test_no_words_in_music(name, backend, transcripts) -> None:
    """Nothing is heard in a jingle or in a tone straight before a turn: not by the first
    pass, and not by the rescue pass, which decodes the lead-in before a late first word."""
    interview = transcripts.interview(name)
    words = [w for s in transcripts.get(name, backend).segments for w in s.words]
    assert interview.music and words
    for start, end in interview.music:
        # a word ending inside: the first word after music often starts early inside it
        inside = [w for w in words if start + 0.3 <= w.end <= end - 0.3]
        assert inside == [], (start, end)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sentence_the_first_pass_missed_is_decoded_again(backend, transcripts, tmp_path):
    """A decoder that returns nothing for the first window: every stretch comes back through
    the greedy rescue pass, and the transcript says which stretches it re-decoded."""
    interview = transcripts.interview("interview_flite")
    folder = interview.audio.parent
    if backend == "whisper":
        config = Config(data_dir=tmp_path, asr={"model": str(transcripts.checkpoint)})
        decoder = WhisperBackend(config)
    else:
        config = Config(data_dir=tmp_path, asr={"model": str(transcripts.ct2), "device": "cpu"})
        decoder = FasterWhisperBackend(config)
    first_pass = decoder._decode

    def deaf(audio, timeline, language, prompt, *, rescue):
        if not rescue:
            return {"segments": [], "language": language}
        return first_pass(audio, timeline, language, prompt, rescue=rescue)

    decoder._decode = deaf  # type: ignore[method-assign]
    transcript = decoder.transcribe(interview.episode, folder)
    assert transcript.redecoded and transcript.redecoded == sorted(transcript.redecoded)
    lost = lost_sentences(interview.sentences, transcript, TOLERANCE)
    assert [(round(s.start, 1), s.text) for s in lost] == []
    # a normal run re-decodes nothing it does not need to
    assert len(transcripts.get("interview_flite", backend).redecoded) < len(transcript.redecoded)


def test_batched_decoding_on_cpu(transcripts, tmp_path) -> None:
    """``[asr] batched = true`` on CPU, on an interview with 20 s of silence in the middle:
    the window's clips are decoded together, as well as one after another (the sequential
    decode's WER, no sentence lost), and the times come back on the episode's clock."""
    interview = transcripts.interview("interview_pause")
    asr = {"model": str(transcripts.ct2), "device": "cpu", "batched": True}
    backend = FasterWhisperBackend(Config(data_dir=tmp_path, asr=asr))
    pipeline = backend._batched_pipeline()
    calls: list[tuple[list[tuple[float, float]], str | None]] = []
    transcribe = pipeline.transcribe

    def spy(audio, **options):
        calls.append(([(c["start"], c["end"]) for c in options["clip_timestamps"]],
                      options["initial_prompt"]))  # fmt: skip
        return transcribe(audio, **options)

    pipeline.transcribe = spy
    batched = backend.transcribe(interview.episode, interview.audio.parent)

    # the 64 s of joined speech as clips of at most 30 s, end to end, decoded in batches;
    # the show's name goes to the first clip only (as in sequential decoding)
    clips = [clip for group, _ in calls for clip in group]
    assert len(clips) >= 3 and len(calls[1][0]) >= 2
    assert all(0 < b - a <= 30.0 for a, b in clips)
    assert all(b == c for (_, b), (c, _) in pairwise(clips))
    assert [prompt for _, prompt in calls] == ["The Long Run, with Maya Lindqvist.", None]

    assert batched.backend == "faster-whisper" and batched.language == "en"
    # measured: 0.108 batched, 0.177 one clip after another (not decoded here: 25 s more);
    # the bound is the sequential decode's, rounded up
    assert wer(interview.sentences, batched) < 0.2, batched.text
    # every sentence's first words within TOLERANCE of its time in the episode: the
    # sentences after the silence would be 20 s early on the joined stream's clock; and the
    # batched pass found them, not the rescue pass (measured: one 1.1 s stretch re-decoded)
    lost = lost_sentences(interview.sentences, batched, TOLERANCE)
    assert [(round(s.start, 1), s.text) for s in lost] == []
    assert sum(end - start for start, end in batched.redecoded) < 3.0, batched.redecoded
    before, after = max(pairwise(interview.sentences),
                        key=lambda pair: pair[1].start - pair[0].end)  # fmt: skip
    assert after.start - before.end > 20.0
    words = [w for s in batched.segments for w in s.words]
    assert not [w for w in words if before.end + 0.5 < w.start < after.start - 0.5]
    # ordered, disjoint segments; every word inside its segment
    for previous, segment in pairwise(batched.segments):
        assert previous.end <= segment.start
    for segment in batched.segments:
        assert segment.start < segment.end
        assert all(segment.start <= w.start <= w.end <= segment.end for w in segment.words)
