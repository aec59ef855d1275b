"""Benchmark the transcribe step. Prints numbers; asserts nothing.

0. ``--compare``: real tiny.en weights (tests/fixtures/real_whisper.py) on synthetic
   interviews with known scripts; for the same audio in one run: bare ``whisper.transcribe``
   (greedy defaults, and beam 5), podpost ``whisper`` and podpost ``faster-whisper``: wall
   time, word error rate, lost sentences (first words not within 1.5 s of the start).

1. Time: the step (``WhisperBackend.transcribe``: ffmpeg decode, VAD, joined speech,
   filters) on a 10-minute file, divided by a bare ``whisper.transcribe`` call on the same
   audio with the same decoding options. Target <= 1.1 (VAD should make it lower).
2. Memory: the step's peak RSS on a 3-hour file (made with ffmpeg), in a child process,
   minus the RSS after torch and the model are loaded. Target <= 1.5 GB.

Usage: .venv/bin/python bench/transcribe.py [--model PATH | --dims test|tiny|base]
       [--asr KEY=JSON] [--skip-ratio] [--skip-long] [--budget S] [--workdir DIR]
Without --model a random checkpoint (seed 0, tests/fixtures/whisper_model.py) is used, of
the test suite's size or of a real model's size (``--dims tiny``: a window then costs what
it costs whisper-tiny). Its words are noise, which trips two of whisper's safety nets on
every window, identically in both timed calls: the log-probability check (a decode at each
of six temperatures; ``--asr 'temperatures=[0]'`` turns it off) and the hallucination
skip (every segment looks like one, so whisper advances about a second per decode;
``--asr hallucination_silence_threshold=null``). With real weights both are rare.
The audio is espeak-ng conversation with pauses and an 8 s break every minute or so.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = [
    "Welcome back to the show, today we talk about models that run on small machines.",
    "Thanks for having me. I have been working on this problem for about six years.",
    "What surprised you most when you started measuring real workloads?",
    "Mostly that memory, not compute, decided what we could ship to customers.",
    "That matches what other guests told us. How did you change the design?",
    "We split the work into windows and kept only one window in memory at a time.",
    "And the quality held up on long recordings, like three hour interviews?",
    "It did, once we stopped decoding silence and music between the segments.",
]

# whisper's released shapes (whisper/__init__.py _MODELS; n_mels 80, n_vocab 51865 as the
# test checkpoint): random weights of these sizes cost per window what the real ones do
REAL_DIMS = {
    "tiny": {"n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4, "n_text_ctx": 448,
             "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4},
    "base": {"n_audio_state": 512, "n_audio_head": 8, "n_audio_layer": 6, "n_text_ctx": 448,
             "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6},
}  # fmt: skip


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def make_block(work: Path) -> Path:
    """About a minute of two-voice conversation followed by an 8-second break."""
    from tests.fixtures.media import VOICES, AudioFactory

    factory = AudioFactory(work)
    lines = [(VOICES[i % 2], text) for i, text in enumerate(SENTENCES * 2)]
    speech = factory.speech(lines, "wav", gap=0.6, tail=8.0)
    return speech


def make_long(block: Path, seconds: float, target: Path) -> Path:
    if not target.exists():
        loop = ["-stream_loop", "-1", "-i", str(block), "-t", str(seconds), "-ac", "1"]
        _run(
            ["ffmpeg", "-v", "error", "-y", *loop, "-c:a", "libmp3lame", "-b:a", "48k", str(target)]
        )
    return target


def _episode_folder(audio: Path, work: Path, name: str) -> tuple[object, Path]:
    from pipeline.models import Episode

    folder = work / name
    folder.mkdir(exist_ok=True)
    link = folder / f"audio{audio.suffix}"
    if not link.exists():
        link.symlink_to(audio)
    episode = Episode(id=name, source=str(audio), kind="local", url=audio.as_uri(),
                      language="en", audio_file=link.name)  # fmt: skip
    return episode, folder


def time_ratio(model_path: Path, work: Path, minutes: float, asr: dict) -> dict[str, float]:
    import whisper

    from pipeline.config import Config
    from pipeline.transcribe.whisper_backend import WhisperBackend, load_model

    ten = make_long(make_block(work), minutes * 60, work / f"{minutes:g}-minutes.mp3")
    config = Config(data_dir=work / "data", asr={"model": str(model_path), **asr})
    asr = config.asr
    model = load_model(str(model_path), "cpu")
    episode, folder = _episode_folder(ten, work, "ten")
    # Pay one-time costs before either clock starts: numba compiles whisper's DTW (word
    # timestamps) on first use, about 2 s, which would otherwise land on whichever runs first.
    whisper.transcribe(model, str(ten), clip_timestamps=[0.0, 5.0], word_timestamps=True,
                       language="en", fp16=False)  # fmt: skip

    start = time.perf_counter()
    WhisperBackend(config, model=model).transcribe(episode, folder)  # type: ignore[arg-type]
    step = time.perf_counter() - start
    print(f"  step: {step:.1f} s", flush=True)

    same = dict(
        language="en", temperature=tuple(asr.temperatures), condition_on_previous_text=False,
        word_timestamps=True, beam_size=asr.beam_size, best_of=asr.beam_size,
        compression_ratio_threshold=asr.compression_ratio_threshold,
        logprob_threshold=asr.logprob_threshold, no_speech_threshold=asr.no_speech_threshold,
        hallucination_silence_threshold=asr.hallucination_silence_threshold, fp16=False,
    )  # fmt: skip
    start = time.perf_counter()
    whisper.transcribe(model, str(ten), **same)
    bare = time.perf_counter() - start
    print(f"  bare whisper.transcribe: {bare:.1f} s", flush=True)

    return {"step_s": step, "bare_s": bare, "ratio": step / bare}


def real_weights_setup(work: Path) -> tuple[Path, dict[str, Any]]:
    """The converted tiny.en checkpoint and the three interviews with known scripts (made
    once per ``work`` folder; the same seeds in every bench that compares decoders)."""
    from tests.fixtures import interview as iv
    from tests.fixtures.real_whisper import convert_ct2_whisper, ct2_folder

    checkpoint = work / "tiny.en.pt"
    if not checkpoint.exists():
        convert_ct2_whisper(ct2_folder(), checkpoint)
    interviews = {
        "espeak x3": iv.synthesize_interview(work / "e3", [iv.HOST, iv.GUEST, iv.GUEST2],
                                             n_turns=12, seed=3),
        "flite x3": iv.synthesize_interview(work / "fl", [iv.FLITE_HOST, iv.FLITE_GUEST,
                                            iv.FLITE_GUEST2], n_turns=10, seed=7),
        "music+espeak": iv.synthesize_interview(work / "mu", [iv.HOST, iv.GUEST], n_turns=8,
                                                seed=11, music=12.0),
    }  # fmt: skip
    return checkpoint, interviews


def compare(work: Path) -> None:
    """Bare whisper against both podpost backends on the same interviews (real weights)."""
    import whisper

    from pipeline.config import Config
    from pipeline.transcribe.faster_whisper_backend import FasterWhisperBackend
    from pipeline.transcribe.whisper_backend import WhisperBackend, load_model
    from tests.fixtures.asr_truth import lost_sentences, wer
    from tests.fixtures.real_whisper import ct2_folder
    from tests.test_transcribe_real import bare_greedy

    checkpoint, interviews = real_weights_setup(work)
    model = load_model(str(checkpoint), "cpu")
    whisper.transcribe(
        model,
        str(interviews["espeak x3"].audio),
        clip_timestamps=[0.0, 5.0],
        word_timestamps=True,
        fp16=False,
    )  # fmt: skip  (numba warm-up)

    def bare_beam(audio: Path):
        from pipeline.models import Transcript

        raw = whisper.transcribe(model, str(audio), fp16=False, word_timestamps=True,
                                 beam_size=5, best_of=5)  # fmt: skip
        from pipeline.models import Segment, Word

        return Transcript(language="en", backend="bare", segments=[
            Segment(start=x["start"], end=x["end"], text=x["text"].strip(), words=[
                Word(start=w["start"], end=w["end"], text=w["word"].strip())
                for w in x.get("words", [])])
            for x in raw["segments"] if x["text"].strip() and x["end"] > x["start"]])  # fmt: skip

    runs = {
        "bare whisper.transcribe, greedy": lambda i: bare_greedy(model, i.audio),
        "bare whisper.transcribe, beam 5": lambda i: bare_beam(i.audio),
        "podpost whisper": lambda i: WhisperBackend(
            Config(data_dir=work, asr={"model": str(checkpoint), "device": "cpu"}), model=model
        ).transcribe(i.episode, i.audio.parent),
        "podpost faster-whisper": lambda i: FasterWhisperBackend(
            Config(data_dir=work, asr={"model": str(ct2_folder()), "device": "cpu"})
        ).transcribe(i.episode, i.audio.parent),
        "podpost faster-whisper, batched": lambda i: FasterWhisperBackend(
            Config(data_dir=work, asr={"model": str(ct2_folder()), "device": "cpu",
                                       "batched": True})
        ).transcribe(i.episode, i.audio.parent),
        "podpost faster-whisper, int8": lambda i: FasterWhisperBackend(
            Config(data_dir=work, asr={"model": str(ct2_folder()), "device": "cpu",
                                       "compute_type": "int8"})
        ).transcribe(i.episode, i.audio.parent),
    }  # fmt: skip
    print("| run | audio | wall s | CPU s | WER | lost sentences |")
    print("| --- | --- | --- | --- | --- | --- |")
    totals: dict[str, float] = {}
    for name, run in runs.items():
        if name.startswith("podpost faster-whisper"):  # its model and VAD load off the clock
            run(interviews["flite x3"])
        for label, interview in interviews.items():
            start, cpu = time.perf_counter(), time.process_time()
            transcript = run(interview)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            totals[name] = totals.get(name, 0.0) + wall
            lost = lost_sentences(interview.sentences, transcript)
            score = wer(interview.sentences, transcript)
            print(f"| {name} | {label} ({interview.duration:.0f} s) | {wall:.1f} | {cpu:.1f} | "
                  f"{score:.3f} | {len(lost)} |", flush=True)  # fmt: skip
    beam = totals["bare whisper.transcribe, beam 5"]
    for name, total in totals.items():
        print(f"{name}: {total:.1f} s over the three, {total / beam:.2f}x bare beam 5")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_memory(model_path: str, audio: str, work: str, asr: str) -> None:
    """Runs in a child process: load everything, note RSS, run the step, report the peak."""
    from pipeline.config import Config
    from pipeline.transcribe.backends import make_backend

    config = Config(data_dir=Path(work) / "data", asr={"model": model_path, **json.loads(asr)})
    episode, folder = _episode_folder(Path(audio), Path(work), "long")
    backend = make_backend(config.asr.backend, config)
    _ = backend.model  # type: ignore[attr-defined]  # loaded before the baseline
    baseline = _rss_mb()
    print(json.dumps({"baseline_rss_mb": baseline}), flush=True)
    start = time.perf_counter()
    transcript = backend.transcribe(episode, folder)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"baseline_rss_mb": baseline, "peak_rss_mb": peak,
                      "step_peak_mb": peak - baseline, "step_s": seconds,
                      "clips": len(backend.decoded_clips),
                      "segments": len(transcript.segments)}))  # fmt: skip


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory(
    model_path: Path, work: Path, hours: float, budget: float | None, asr: dict[str, Any]
) -> dict[str, float]:
    """Run the step in a child; past ``budget`` seconds stop it and report the peak so far
    (the VAD pass over the whole file comes first, then window after window alike)."""
    long = make_long(make_block(work), hours * 3600, work / f"{hours:g}-hours.mp3")
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(model_path), str(long), str(work),
         json.dumps(asr)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    baseline = json.loads(child.stdout.readline())["baseline_rss_mb"]
    start = time.perf_counter()
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _peak_mb(child.pid))
        if budget is not None and time.perf_counter() - start > budget:
            child.terminate()
            child.wait()
            return {"baseline_rss_mb": baseline, "peak_rss_mb": peak,
                    "step_peak_mb": peak - baseline, "step_s": time.perf_counter() - start,
                    "clips": -1, "segments": -1, "complete": False}  # fmt: skip
        time.sleep(0.5)
    result = json.loads(child.stdout.read().strip().splitlines()[-1])
    return {**result, "complete": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="a whisper .pt checkpoint")
    parser.add_argument(
        "--dims",
        choices=["test", *REAL_DIMS],
        default="test",
        help="without --model: the shape of the random checkpoint (test: the suite's 3.5 M "
        "parameters; tiny/base: whisper's real sizes, so a window costs what it does for real)",
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--budget", type=float, help="stop the long run after this many s")
    parser.add_argument("--skip-ratio", action="store_true")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--asr",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="an [asr] setting for both runs, e.g. temperatures=[0] or "
        "hallucination_silence_threshold=null (repeatable)",
    )
    parser.add_argument("--compare", action="store_true", help="real weights: bare vs podpost")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_memory(*args.child)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-transcribe-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.compare:
        compare(work)
        return
    model = args.model
    if model is None:
        from tests.fixtures.whisper_model import build_checkpoint

        dims = REAL_DIMS.get(args.dims, {})
        model = build_checkpoint(work / f"{args.dims}-random.pt", seed=0, **dims)
    print(f"checkpoint: {model}")
    asr = {key: json.loads(value) for key, value in (a.split("=", 1) for a in args.asr)}
    print(f"[asr] overrides: {asr or 'none'}")
    if not args.skip_ratio:
        r = time_ratio(model, work, args.minutes, asr)
        print(
            f"{args.minutes:g}-minute file: step {r['step_s']:.1f} s, bare whisper.transcribe "
            f"with the same options {r['bare_s']:.1f} s: ratio {r['ratio']:.2f}",
            flush=True,
        )
    if not args.skip_long:
        m = memory(model, work, args.hours, args.budget, asr)
        done = (f"{m['step_s']:.0f} s, {m['clips']} speech clips, {m['segments']} segments"
                if m["complete"] else f"stopped after {m['step_s']:.0f} s (--budget)")  # fmt: skip
        print(f"{args.hours:g}-hour file: step peak {m['step_peak_mb']:.0f} MB above the "
              f"{m['baseline_rss_mb']:.0f} MB of torch + model (process peak "
              f"{m['peak_rss_mb']:.0f} MB); {done}")  # fmt: skip


if __name__ == "__main__":
    main()
