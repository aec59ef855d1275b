"""Decoding settings on real tiny.en weights: wall time, WER and lost sentences per setting.

Prints one line per (backend, setting) over the three synthetic interviews that
``bench/transcribe.py --compare`` uses (same seeds, same work folder, so the audio and the
converted checkpoint are reused). Asserts nothing; the choices are in BENCHMARKS.md.

Usage: .venv/bin/python bench/decoding.py [whisper|faster-whisper] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS: dict[str, dict[str, object]] = {
    "defaults": {},
    "hallucination skip off": {"hallucination_silence_threshold": None},
    "beam 1": {"beam_size": 1},
    "beam 1, hallucination skip off": {"beam_size": 1, "hallucination_silence_threshold": None},
    "temperature 0 only": {"temperatures": [0.0]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backend", choices=["whisper", "faster-whisper"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-asr"))
    args = parser.parse_args()

    from pipeline.config import Config
    from pipeline.transcribe.faster_whisper_backend import FasterWhisperBackend
    from pipeline.transcribe.whisper_backend import WhisperBackend, load_model
    from tests.fixtures.asr_truth import lost_sentences, wer
    from tests.fixtures.real_whisper import ct2_folder

    sys.path.insert(0, str(ROOT / "bench"))
    from transcribe import real_weights_setup

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    checkpoint, interviews = real_weights_setup(work)
    model = load_model(str(checkpoint), "cpu") if args.backend == "whisper" else None
    for label, overrides in SETTINGS.items():
        total, cells = 0.0, []
        for name, interview in interviews.items():
            source = checkpoint if args.backend == "whisper" else ct2_folder()
            config = Config(data_dir=work, asr={"model": str(source), "device": "cpu", **overrides})
            backend = (
                WhisperBackend(config, model=model)
                if args.backend == "whisper"
                else FasterWhisperBackend(config)
            )
            start = time.perf_counter()
            transcript = backend.transcribe(interview.episode, interview.audio.parent)
            wall = time.perf_counter() - start
            total += wall
            lost = len(lost_sentences(interview.sentences, transcript, 1.5))
            cells.append(
                f"{name} {wall:.1f} s WER {wer(interview.sentences, transcript):.3f} lost {lost}"
                f" re-decoded {len(transcript.redecoded)}"
            )
        print(f"{args.backend} | {label} | {total:.1f} s | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
