"""Turns from transcript + spans: exact splits, nothing lost, islands, long monologues."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import TurnsConfig
from pipeline.models import Segment, SpeakerSpan, Transcript, Word
from pipeline.turns.segment import absorb_islands, build_turn_list, same_text, tokenize


def _transcript(*segments: Segment) -> Transcript:
    return Transcript(language="en", backend="test", segments=list(segments))


def _span(start: float, end: float, speaker: str) -> SpeakerSpan:
    return SpeakerSpan(start=start, end=end, speaker=speaker)


def _shape(turns):
    return [(t.id, t.speaker, t.start, t.end, t.text) for t in turns]


def test_words_go_to_the_overlapping_speaker_and_keep_their_times():
    words = [
        Word(start=0.0, end=0.4, text=" Hello"),
        Word(start=0.5, end=0.9, text=" there."),
        Word(start=1.6, end=2.0, text=" Hi,"),
        Word(start=2.1, end=2.6, text=" thanks."),
    ]
    transcript = _transcript(
        Segment(start=0.0, end=2.6, text=" Hello there. Hi, thanks.", words=words)
    )
    spans = [_span(0.0, 1.0, "S0"), _span(1.5, 2.7, "S1")]
    turns = build_turn_list(transcript, spans, TurnsConfig(min_island_seconds=0.2))
    assert _shape(turns) == [
        (1, "S0", 0.0, 0.9, "Hello there."),
        (2, "S1", 1.6, 2.6, "Hi, thanks."),
    ]


def test_a_caption_cue_across_a_speaker_change_splits_at_the_sentence_end():
    # No word times: the cue's time is spread over its words, so the diarization change at
    # 3.4 s lands before "times."; the cut moves to the sentence end and the times to the spans.
    transcript = _transcript(
        Segment(start=0.0, end=2.0, text="We tried it twice."),
        Segment(start=2.2, end=6.0, text="It failed both times. Why do you think so?"),
        Segment(start=6.3, end=8.0, text="Mostly bad luck."),
    )
    spans = [_span(0.0, 3.3, "S0"), _span(3.5, 5.95, "S1"), _span(6.3, 8.0, "S0")]
    turns = build_turn_list(transcript, spans, TurnsConfig())
    assert _shape(turns) == [
        (1, "S0", 0.0, 3.3, "We tried it twice. It failed both times."),
        (2, "S1", 3.5, 6.0, "Why do you think so?"),
        (3, "S0", 6.3, 8.0, "Mostly bad luck."),
    ]


def test_a_short_reply_the_diarization_vouches_for_is_a_turn():
    # "Five." is half a second, all of it the other speaker's in the diarization, and a
    # whole sentence: a reply, not a glitch.
    transcript = _transcript(
        Segment(start=0.0, end=2.0, text="One two three four."),
        Segment(start=2.0, end=2.5, text="Five."),
        Segment(start=2.5, end=5.0, text="Six seven eight nine."),
    )
    spans = [_span(0.0, 2.0, "S0"), _span(2.0, 2.5, "S1"), _span(2.5, 5.0, "S0")]
    turns = build_turn_list(transcript, spans, TurnsConfig(min_island_seconds=1.0))
    assert _shape(turns) == [
        (1, "S0", 0.0, 2.0, "One two three four."),
        (2, "S1", 2.0, 2.5, "Five."),
        (3, "S0", 2.5, 5.0, "Six seven eight nine."),
    ]
    # A backend unsure of the label (confidence 0.3: 0.15 s of vouched speech) does not
    # make a turn of it.
    unsure = [spans[0], spans[1].model_copy(update={"confidence": 0.3}), spans[2]]
    turns = build_turn_list(transcript, unsure, TurnsConfig(min_island_seconds=1.0))
    assert _shape(turns) == [(1, "S0", 0.0, 5.0, "One two three four. Five. Six seven eight nine.")]


def test_words_cut_out_of_a_sentence_are_absorbed():
    words = [Word(start=0.5 * i, end=0.5 * i + 0.4, text=f" w{i}") for i in range(7)]
    words.append(Word(start=3.5, end=3.9, text=" w7."))
    text = " ".join(f"w{i}" for i in range(7)) + " w7."
    transcript = _transcript(Segment(start=0.0, end=3.9, text=text, words=words))
    # the diarization gives w3 and w4 (0.9 s of speech) to S1: mid-sentence, not a turn
    spans = [_span(0.0, 1.45, "S0"), _span(1.5, 2.4, "S1"), _span(2.45, 3.9, "S0")]
    turns = build_turn_list(transcript, spans, TurnsConfig())
    assert [(t.speaker, t.text) for t in turns] == [("S0", text)]


def test_islands_are_measured_by_speech_not_by_word_times():
    # "Right." is stretched over the pause before it (3.0-5.0 s) but the diarization
    # hears S1 for 0.15 s only: by its word times a two-second turn, by speech a click.
    words = [(0.0, 0.5, " We"), (0.6, 1.0, " tried"), (1.1, 1.5, " it"), (1.6, 3.0, " twice."),
             (3.0, 5.0, " Right.")]  # fmt: skip
    transcript = _transcript(
        Segment(
            start=0.0,
            end=5.0,
            text=" We tried it twice. Right.",
            words=[Word(start=a, end=b, text=t) for a, b, t in words],
        ),
        Segment(start=5.2, end=7.0, text=" It failed both times."),
    )
    spans = [_span(0.0, 2.2, "S0"), _span(4.85, 5.0, "S1"), _span(5.2, 7.0, "S0")]
    turns = build_turn_list(transcript, spans, TurnsConfig(min_island_seconds=1.0))
    assert _shape(turns) == [(1, "S0", 0.0, 7.0, "We tried it twice. Right. It failed both times.")]
    # with 0.6 s of S1's speech under it, the same word is a reply
    spans[1] = _span(4.4, 5.0, "S1")
    turns = build_turn_list(transcript, spans, TurnsConfig(min_island_seconds=1.0))
    assert [(t.speaker, t.text) for t in turns] == [
        ("S0", "We tried it twice."),
        ("S1", "Right."),
        ("S0", "It failed both times."),
    ]


def test_every_short_turn_of_the_backchannel_interview_with_its_own_spans(
    interview_backchannel,
):
    """Diarization that is right (one span per true sentence): all forty turns, the
    fifteen under a second included, come out as turns, in order."""
    interview = interview_backchannel
    spans = [_span(s.start, s.end, s.speaker) for s in interview.sentences]
    turns = build_turn_list(interview.transcript, spans, TurnsConfig())
    assert sum(t.end - t.start < 1.0 for t in interview.turns) == 15
    assert [(t.speaker, t.text) for t in turns] == [(t.speaker, t.text) for t in interview.turns]


def test_island_between_two_speakers_joins_the_closer_one():
    transcript = _transcript(
        Segment(start=0.0, end=3.0, text="First speaker talks here."),
        Segment(start=3.0, end=3.4, text="Uh."),
        Segment(start=4.4, end=7.0, text="Second speaker answers now."),
    )
    tokens = tokenize(transcript)
    labels = ["S0"] * 4 + ["S2"] + ["S1"] * 4
    assert absorb_islands(tokens, labels, 1.0) == ["S0"] * 5 + ["S1"] * 4


def test_no_spans_means_one_speaker():
    transcript = _transcript(
        Segment(start=0.0, end=1.0, text="Just me."), Segment(start=1.5, end=3.0, text="Still me.")
    )
    assert _shape(build_turn_list(transcript, [], TurnsConfig())) == [
        (1, "S0", 0.0, 3.0, "Just me. Still me.")
    ]


def test_a_long_monologue_splits_at_sentence_ends_into_same_speaker_turns():
    sentences = [f"Sentence number {i} has a few words in it." for i in range(12)]
    transcript = _transcript(
        *[Segment(start=2.0 * i, end=2.0 * i + 1.8, text=s) for i, s in enumerate(sentences)]
    )
    spans = [_span(0.0, 24.0, "S0")]
    assert len(build_turn_list(transcript, spans, TurnsConfig())) == 1
    turns = build_turn_list(transcript, spans, TurnsConfig(max_turn_chars=150))
    assert [t.speaker for t in turns] == ["S0"] * 4
    assert [t.text for t in turns] == [" ".join(sentences[i : i + 3]) for i in range(0, 12, 3)]
    assert [(t.start, t.end) for t in turns] == [(6.0 * i, 6.0 * i + 5.8) for i in range(4)]


def test_a_single_sentence_longer_than_the_limit_stays_whole():
    long = " ".join(["word"] * 60) + "."
    transcript = _transcript(Segment(start=0.0, end=20.0, text=long))
    turns = build_turn_list(transcript, [_span(0, 20, "S0")], TurnsConfig(max_turn_chars=100))
    assert [t.text for t in turns] == [long]


def test_words_without_spaces_are_joined_without_spaces():
    words = [Word(start=0.0, end=0.5, text="你好"), Word(start=0.5, end=1.0, text="世界。")]
    transcript = _transcript(Segment(start=0.0, end=1.0, text="你好世界。", words=words))
    turns = build_turn_list(transcript, [_span(0, 1, "S0")], TurnsConfig())
    assert [t.text for t in turns] == ["你好世界。"]


def test_abbreviations_are_not_sentence_ends():
    transcript = _transcript(Segment(start=0.0, end=4.0, text="Ask Dr. Smith. She knows."))
    ends = [t.text.strip() for t in tokenize(transcript) if t.sentence_end]
    assert ends == ["Smith.", "knows."]


_word = st.text(alphabet="abcdefgh.?,", min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    segments=st.lists(
        st.tuples(st.lists(_word, min_size=1, max_size=8), st.floats(0.2, 5.0), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    changes=st.lists(st.tuples(st.floats(0.0, 60.0), st.sampled_from(["S0", "S1", "S2"]))),
    island=st.floats(0.0, 2.0),
    max_chars=st.integers(20, 400),
)
def test_nothing_is_lost_or_invented(segments, changes, island, max_chars):
    built, clock = [], 0.0
    for words, duration, with_words in segments:
        text = " ".join(words)
        step = duration / len(words)
        timed = (
            [
                Word(start=clock + i * step, end=clock + (i + 1) * step, text=" " + w)
                for i, w in enumerate(words)
            ]
            if with_words
            else []
        )
        built.append(Segment(start=clock, end=clock + duration, text=text, words=timed))
        clock += duration + 0.1
    transcript = _transcript(*built)
    cuts = sorted(changes)
    spans = [
        _span(start, cuts[i + 1][0] if i + 1 < len(cuts) else clock, speaker)
        for i, (start, speaker) in enumerate(cuts)
    ]
    config = TurnsConfig(min_island_seconds=island, max_turn_chars=max_chars)
    turns = build_turn_list(transcript, spans, config)
    assert same_text(" ".join(t.text for t in turns), transcript.text)
    assert [t.id for t in turns] == list(range(1, len(turns) + 1))
    assert all(t.start <= t.end for t in turns)
    assert all(a.end <= b.start + 1e-6 for a, b in pairwise(turns))


CAPTIONED_VTT = """WEBVTT

00:00:00.000 --> 00:00:02.000
<v Maya Lindqvist>Welcome back. Who is with me today?

00:00:02.500 --> 00:00:04.000
<v Tomas Okafur>It is me, Tomas.

00:00:04.200 --> 00:00:06.000
<v Maya Lindqvist>Great to have you.
"""


def _never_called(audio, num_speakers=None):
    raise AssertionError("captions that name every speaker need no diarization")


def test_captions_that_name_speakers_replace_diarization():
    from pipeline.config import Config
    from pipeline.models import Episode
    from pipeline.transcribe.captions import parse_vtt
    from pipeline.turns.step import build_turns

    transcript = Transcript(language="en", backend="captions", segments=parse_vtt(CAPTIONED_VTT))
    episode = Episode(
        id="local-c", source="x", kind="local", url="file:///x", title="With Tomas Okafor"
    )
    result = build_turns(episode, transcript, Config(), diarizer=_never_called)
    # The captioner's misspelling yields to the metadata's spelling.
    assert [(s.label, s.name, s.known, s.source) for s in result.speakers] == [
        ("S0", "Maya Lindqvist", True, "caption"),
        ("S1", "Tomas Okafor", True, "caption"),
    ]
    assert [(t.speaker, t.text) for t in result.turns] == [
        ("Maya Lindqvist", "Welcome back. Who is with me today?"),
        ("Tomas Okafor", "It is me, Tomas."),
        ("Maya Lindqvist", "Great to have you."),
    ]
    override = Config(turns=TurnsConfig(speakers=["Host", "Guest"]))
    result = build_turns(episode, transcript, override, diarizer=_never_called)
    assert [(s.name, s.source) for s in result.speakers] == [
        ("Host", "override"),
        ("Guest", "override"),
    ]


def test_the_speaker_count_comes_from_config_override_or_guests():
    from pipeline.config import Config, DiarizeConfig
    from pipeline.models import Episode
    from pipeline.turns.segment import expected_speakers

    episode = Episode(id="local-g", source="x", kind="local", url="file:///x")
    with_guests = episode.model_copy(update={"guests": ["Ann Lee", "Bo Chen"]})
    assert expected_speakers(episode, Config()) is None
    assert expected_speakers(with_guests, Config()) == 3  # the host and two guests
    override = Config(turns=TurnsConfig(speakers=["A", "B"]))
    assert expected_speakers(with_guests, override) == 2
    pinned = Config(diarize=DiarizeConfig(num_speakers=4), turns=TurnsConfig(speakers=["A"]))
    assert expected_speakers(with_guests, pinned) == 4
