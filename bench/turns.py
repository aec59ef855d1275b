"""How fast is the turns step (decode + builtin diarization + turns + naming) per audio second?

Target: under a tenth of the audio's duration on a 2-core CPU. The interview is synthesised
with espeak-ng (tests/fixtures/interview.py), then repeated end to end to reach the wanted
length, so long episodes cost seconds to build rather than minutes.

    .venv/bin/python bench/turns.py                    # 2 and 3 voices, 5 and 30 minutes
    .venv/bin/python bench/turns.py --minutes 60 --voices 3
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Config
from pipeline.models import Segment, Transcript
from pipeline.turns.diarize import DIARIZERS, load_audio
from pipeline.turns.segment import build_turn_list, same_text
from pipeline.turns.step import build_turns
from tests.fixtures.interview import (
    GUEST,
    GUEST2,
    HOST,
    SAMPLE_RATE,
    synthesize_interview,
)


def _repeat(folder: Path, minutes: float, voices: int) -> tuple[Path, Transcript, object]:
    interview = synthesize_interview(
        folder / "one", [HOST, GUEST, GUEST2][:voices], n_turns=14, seed=voices
    )
    audio = load_audio(interview.audio)
    copies = max(1, round(minutes * 60 / interview.duration))
    long_audio = np.tile(audio, copies)
    segments = [
        Segment(
            start=s.start + k * interview.duration, end=s.end + k * interview.duration, text=s.text
        )
        for k in range(copies)
        for s in interview.transcript.segments
    ]
    path = folder / f"long{voices}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(long_audio, -1, 1) * 32767).astype(np.int16).tobytes())
    transcript = Transcript(language="en", backend="captions", segments=segments)
    return path, transcript, interview.episode


def _warm_up(diarizer) -> None:
    """Import torch and scikit-learn and load the speaker encoder outside the timings."""
    from tests.fixtures.real_voices import SAMPLE_AUDIO

    diarizer(SAMPLE_AUDIO, None)


def run(minutes: float, voices: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, transcript, episode = _repeat(Path(tmp), minutes, voices)
        duration = transcript.segments[-1].end
        config = Config(data_dir=Path(tmp))
        diarizer = DIARIZERS.get("builtin")(config.diarize)

        _warm_up(diarizer)
        t0 = time.perf_counter()
        audio = load_audio(path)
        t_decode = time.perf_counter() - t0
        del audio
        t0 = time.perf_counter()
        spans = diarizer(path, None)  # estimate the count: the slow path
        t_diarize = time.perf_counter() - t0
        t0 = time.perf_counter()
        turns = build_turn_list(transcript, spans, config.turns)
        t_turns = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = build_turns(episode, transcript, config, audio_path=path)  # the whole step
        t_step = time.perf_counter() - t0

        assert same_text(" ".join(t.text for t in result.turns), transcript.text)
        speakers = len({s.speaker for s in spans})
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{voices} voices, {duration / 60:5.1f} min audio: decode {t_decode:5.2f}s, "
            f"diarize {t_diarize:5.2f}s (incl. decode), turns {t_turns:5.2f}s, "
            f"whole step {t_step:5.2f}s = {t_step / duration:.4f} x audio "
            f"(target < 0.1); {speakers} speakers found, {len(turns)} turns, "
            f"peak RSS {rss:.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, action="append")
    parser.add_argument("--voices", type=int, action="append", choices=[1, 2, 3])
    args = parser.parse_args()
    for minutes in args.minutes or [5, 30]:
        for voices in args.voices or [2, 3]:
            run(minutes, voices)


if __name__ == "__main__":
    main()
