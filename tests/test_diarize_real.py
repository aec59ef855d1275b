"""The builtin diarizer on real human voices, with the embedded speaker encoder (nothing
downloaded): a real two-person phone call with its human reference, and interviews of
three real people joined from recordings (tests/fixtures/real_voices.py). DER by
pyannote.metrics at collar 0.25 s each side of a boundary, overlap scored."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import Config, DiarizeConfig, TurnsConfig
from pipeline.models import Episode
from pipeline.turns.diarize import DIARIZERS, SpeakerCount, speaker_count
from tests.fixtures import real_voices as rv


@pytest.fixture(scope="module")
def builtin():
    return DIARIZERS.get("builtin")(DiarizeConfig())


def _hyp(spans) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.speaker) for s in spans]


@pytest.fixture(scope="module")
def joined(tmp_path_factory) -> list[rv.Recording]:
    if not rv.alsa_available():
        pytest.skip("needs Debian's alsa-utils (scripts/setup.sh --test)")
    folder = tmp_path_factory.mktemp("joined")
    return [rv.joined_interview(folder, k) for k in (0, 1)]


def test_phone_call_count_unknown_finds_both_speakers(builtin):
    sample = rv.pyannote_sample()
    hyp = _hyp(builtin(sample.audio, None))
    assert len({s for _, _, s in hyp}) == 2
    assert rv.der(sample.reference, hyp, collar=0.25) <= 0.15


def test_phone_call_count_given(builtin):
    sample = rv.pyannote_sample()
    hyp = _hyp(builtin(sample.audio, 2))
    assert len({s for _, _, s in hyp}) == 2
    assert rv.der(sample.reference, hyp, collar=0.25) <= 0.08


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("given", [False, True])
def test_joined_real_voices_one_label_per_person(builtin, joined, order, given):
    interview = joined[order]
    hyp = _hyp(builtin(interview.audio, 3 if given else None))
    labels = {s for _, _, s in hyp}
    assert len(labels) == 3
    # one label per person: each label is mostly a different person's
    assert sorted(rv.label_map(interview.reference, hyp).values()) == sorted(interview.speakers)
    assert rv.der(interview.reference, hyp, collar=0.25) <= 0.20


def test_bounds_are_kept(builtin):
    sample = rv.pyannote_sample()
    assert {s.speaker for s in builtin(sample.audio, None, max_speakers=1)} == {"S0"}
    assert len({s.speaker for s in builtin(sample.audio, None, min_speakers=3)}) == 3


def _episode(guests: list[str]) -> Episode:
    return Episode(id="e", source="s", kind="local", url="file:///s", guests=guests)


def test_guests_bound_the_count_they_do_not_fix_it():
    config = Config()
    assert speaker_count(_episode([]), config) == SpeakerCount(None, 1, 6)
    assert speaker_count(_episode(["A", "B"]), config) == SpeakerCount(None, 3, 6)
    many = [f"G{i}" for i in range(7)]  # more guests than max_speakers: room for all, and one
    assert speaker_count(_episode(many), config) == SpeakerCount(None, 8, 9)
    fixed = Config(diarize=DiarizeConfig(num_speakers=3))
    assert speaker_count(_episode(["A"]), fixed) == SpeakerCount(3, 3, 3)
    named = Config(turns=TurnsConfig(speakers=["Ann", "Bob"]))
    assert speaker_count(_episode([]), named) == SpeakerCount(2, 2, 2)


@pytest.mark.parametrize("cuts", [rv.DIANE, rv.SHEILA], ids=["Diane", "Sheila"])
def test_one_real_voice_is_one_speaker(builtin, cuts, tmp_path):
    # a threshold-free count (the eigengap) must not split one real person either
    audio = rv.decode(rv.SAMPLE_AUDIO)
    pause = np.zeros(rv.SAMPLE_RATE // 2, np.float32)
    clips = [audio[round(a * rv.SAMPLE_RATE) : round(b * rv.SAMPLE_RATE)] for a, b in cuts]
    one = np.concatenate([x for clip in clips * 2 for x in (clip, pause)])
    spans = builtin(rv.write_wav(tmp_path / "one.wav", one), None)
    assert {s.speaker for s in spans} == {"S0"}
