"""Diarization on real voices: DER, speech on the right speaker, speed and memory.

Quality (pyannote.metrics' DiarizationErrorRate, overlap scored, ``skip_overlap=False``),
at collar 0.25 s each side of a reference boundary (md-eval's ``-c 0.25``; pyannote's
``collar`` is the total width, so it is given 0.5) and at collar 0, and the share of
reference speech time on the right speaker, on:

- the pyannote.audio sample: a real 30 s two-person phone call, human reference;
- two joined interviews of three real people (tests/fixtures/real_voices.py);
- the synthetic espeak-ng and flite interviews of the test suite (2 and 3 voices).

Speed: the builtin diarizer on a 30-minute episode made by repeating the joined
interview, as a real-time factor (target <= 0.1). Memory: the diarizer on a 3-hour one in
a child process, peak RSS (``ru_maxrss``) above the RSS after the models are loaded
(target <= 1 GB).

    .venv/bin/python bench/diarization.py                       # quality, default encoder
    .venv/bin/python bench/diarization.py --embedding my.onnx   # another encoder
    .venv/bin/python bench/diarization.py --speed --memory      # also 30 min and 3 hours
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import DiarizeConfig
from pipeline.turns.diarize import DIARIZERS
from tests.fixtures import real_voices as rv


def _hypothesis(spans: list) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.speaker) for s in spans]


def _row(name: str, recording: rv.Recording, diarizer, num: int | None) -> str:
    t0 = time.perf_counter()
    spans = diarizer(recording.audio, num)
    took = time.perf_counter() - t0
    hyp = _hypothesis(spans)
    found = len({s for _, _, s in hyp})
    return (
        f"| {name} | {len(recording.speakers)} | {'given' if num else 'estimated'} | {found} | "
        f"{rv.der(recording.reference, hyp, 0.25):.3f} | {rv.der(recording.reference, hyp, 0):.3f} "
        f"| {100 * rv.right_share(recording.reference, hyp):.1f}% | {took:.1f} s |"
    )


def _synthetic(folder: Path) -> list[tuple[str, rv.Recording]]:
    from tests.fixtures.interview import (
        FLITE_GUEST,
        FLITE_GUEST2,
        FLITE_HOST,
        GUEST,
        GUEST2,
        HOST,
        synthesize_interview,
    )

    sets = [
        ("espeak 2 voices", [HOST, GUEST], 2),
        ("espeak 3 voices", [HOST, GUEST, GUEST2], 3),
        ("flite 3 voices", [FLITE_HOST, FLITE_GUEST, FLITE_GUEST2], 3),
    ]
    out = []
    for name, voices, seed in sets:
        interview = synthesize_interview(folder / name.replace(" ", "_"), voices, seed=seed)
        reference = [(s.start, s.end, s.speaker) for s in interview.sentences]
        out.append((name, rv.Recording(interview.audio, reference)))
    return out


def quality(config: DiarizeConfig, synthetic: bool) -> None:
    diarizer = DIARIZERS.get(config.backend)(config)
    print(f"\nembedding: {config.embedding}, cluster_threshold {config.cluster_threshold}")
    print("| recording | speakers | count | found | DER c0.25 | DER c0 | right speaker | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("pyannote sample (phone)", rv.pyannote_sample())]
        if rv.alsa_available():
            sets += [(f"joined interview {k}", rv.joined_interview(Path(tmp), k)) for k in (0, 1)]
        if synthetic:
            sets += _synthetic(Path(tmp))
        for name, recording in sets:
            for num in (None, len(recording.speakers)):
                print(_row(name, recording, diarizer, num), flush=True)


def _long_audio(folder: Path, minutes: float) -> Path:
    one = rv.decode(rv.joined_interview(folder, 0).audio)
    copies = max(1, round(minutes * 60 / (len(one) / rv.SAMPLE_RATE)))
    path = folder / f"long{minutes:g}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rv.SAMPLE_RATE)
        block = (np.clip(one, -1, 1) * 32767).astype("<i2").tobytes()
        for _ in range(copies):  # written copy by copy: the bench itself stays small
            w.writeframes(block)
    return path


def _child(path: str, embedding: str) -> None:
    """In a fresh process: load the models, then diarize ``path``; print JSON."""
    from pipeline.audio.vad import voice_stretches  # noqa: F401
    from pipeline.turns.embedding import get_embedder

    config = DiarizeConfig(embedding=embedding)
    embedder = get_embedder(embedding)
    diarizer = DIARIZERS.get("builtin")(config)
    warm = rv.write_wav(Path(tempfile.mkdtemp()) / "warm.wav", rv.decode(rv.SAMPLE_AUDIO))
    diarizer(warm, None)  # models loaded and run once: their memory is "the models"
    del embedder
    with open("/proc/self/status") as f:
        base = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    t0 = time.perf_counter()
    spans = diarizer(Path(path), None)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": took,
                "base_mib": base,
                "peak_mib": peak,
                "speakers": len({s.speaker for s in spans}),
            }
        )
    )


def long_run(minutes: float, embedding: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _long_audio(Path(tmp), minutes)
        command = [sys.executable, __file__, "--child", str(path), "--embedding", embedding]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    audio = minutes * 60
    print(
        f"{minutes:g} min of real voices ({embedding}): diarization {result['seconds']:.1f} s = "
        f"{result['seconds'] / audio:.4f} x real time; peak RSS {result['peak_mib']:.0f} MiB, "
        f"{result['peak_mib'] - result['base_mib']:.0f} MiB above the loaded models "
        f"({result['base_mib']:.0f} MiB); {result['speakers']} speakers found"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", default="resemblyzer")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--speed", action="store_true", help="the 30-minute real-time factor")
    parser.add_argument("--memory", action="store_true", help="the 3-hour peak memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.embedding)
        return
    config = DiarizeConfig(embedding=args.embedding)
    if args.threshold is not None:
        config = config.model_copy(update={"cluster_threshold": args.threshold})
    quality(config, not args.no_synthetic)
    if args.speed:
        long_run(30, args.embedding)
    if args.memory:
        long_run(180, args.embedding)


if __name__ == "__main__":
    main()
