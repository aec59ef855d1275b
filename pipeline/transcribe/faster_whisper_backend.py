"""The ``faster-whisper`` backend: the same pipeline on CTranslate2, several times faster on CPU.

Public API:
    FasterWhisperBackend(config, model=None)   # ``model``: an already loaded WhisperModel
        .transcribe(episode, episode_dir) -> Transcript   (same shape as ``whisper``'s)
    load_model(name_or_path, device=None, compute_type=None) -> faster_whisper.WhisperModel
    auto_device(device) -> (device, compute_type)

VAD, windows, joining, the loop and no-speech filters and the rescue pass are podpost's own
(:mod:`pipeline.transcribe.speech_decoder`), so the transcripts match the ``whisper``
backend's; faster-whisper's own VAD is off. With ``[asr] carry_initial_prompt`` the prompt
also goes in as ``hotwords``, which faster-whisper puts before every window (its
``initial_prompt`` reaches only the first). Batched decoding (``[asr] batched``; by
default on a GPU only): windows are cut into clips of at most 30 s at stretch joins and
decoded ``[asr] batch_size`` at a time (``BatchedInferencePipeline``), each clip once,
greedy or beam, without temperature fallback (see ``_decode_batched``).

Models: a faster-whisper name (``tiny.en``, ``small``, ``turbo``...; downloaded from the
Hugging Face hub on first use) or the path of a CTranslate2 whisper folder (``model.bin``,
``config.json``, ``tokenizer.json``). Compute type: ``float16`` on CUDA; ``float32`` on
CPU, measured faster than ``int8`` for small models (BENCHMARKS.md); set
``[asr] compute_type = "int8"`` for large models on CPU to halve their memory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.audio.pcm import SAMPLE_RATE
from pipeline.config import Config
from pipeline.errors import ConfigError, TranscriptionError
from pipeline.transcribe.speech_decoder import Decoded, SpeechDecoder
from pipeline.transcribe.timeline import Timeline

_MODELS: dict[tuple[str, str, str], Any] = {}
CLIP = 30.0  # seconds: one whisper window, the unit of batched decoding
CUT_SEARCH = 10.0  # seconds: a clip ends at the quietest moment of its last ten seconds


def auto_device(device: str | None, compute_type: str | None = None) -> tuple[str, str]:
    """The device (``cuda`` when CTranslate2 sees a GPU, else ``cpu``) and compute type."""
    if device is None:
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device, compute_type or ("float16" if device.startswith("cuda") else "float32")


def load_model(
    name_or_path: str, device: str | None = None, compute_type: str | None = None
) -> Any:
    """A faster-whisper model by name or CTranslate2 folder, loaded once per process."""
    from faster_whisper import WhisperModel
    from faster_whisper.utils import available_models

    device, compute_type = auto_device(device, compute_type)
    key = (name_or_path, device, compute_type)
    if key in _MODELS:
        return _MODELS[key]
    path = Path(name_or_path).expanduser()
    if path.exists() or "/" in name_or_path:
        if not (path / "model.bin").is_file():
            raise ConfigError(
                f"{path} is not a CTranslate2 whisper folder (no model.bin)",
                hint="pass a folder made by ct2-transformers-converter, or a model name",
            )
        source = str(path)
    elif name_or_path in available_models():
        source = name_or_path
    else:
        raise ConfigError(
            f"unknown faster-whisper model {name_or_path!r}",
            hint=f"use one of {', '.join(available_models())} or a CTranslate2 folder",
        )
    try:
        model = WhisperModel(source, device=device, compute_type=compute_type)
    except Exception as e:  # download failures, unsupported compute types, CUDA problems
        raise TranscriptionError(
            f"cannot load faster-whisper model {name_or_path!r}: {str(e).splitlines()[0][:200]}",
            hint="pass --model with a local CTranslate2 folder, or set asr.compute_type",
        ) from e
    _MODELS[key] = model
    return model


def _as_dict(segment: Any) -> dict[str, Any]:
    item = dataclasses.asdict(segment)
    item["words"] = [dataclasses.asdict(w) if not isinstance(w, dict) else w
                     for w in (segment.words or [])]  # fmt: skip
    return item


class FasterWhisperBackend(SpeechDecoder):
    """The ``faster-whisper`` ASR backend (CTranslate2): the :class:`SpeechDecoder` pipeline
    with ``[asr] compute_type``. ``model`` replaces the one ``[asr] model`` names (tests)."""

    name = "faster-whisper"

    def __init__(self, config: Config, model: Any | None = None) -> None:
        super().__init__(config)
        self._model = model
        self._batched: Any = None

    @property
    def model(self) -> Any:
        """The model, loaded on first use (:class:`~pipeline.errors.ConfigError` for an unknown
        name, :class:`~pipeline.errors.TranscriptionError` if it cannot load)."""
        if self._model is None:
            self._model = load_model(self.asr.model, self.asr.device, self.asr.compute_type)
        return self._model

    @property
    def english_only(self) -> bool:
        """True for an English-only model (``*.en``); loads the model."""
        return not self.model.model.is_multilingual

    def _options(self, language: str | None, prompt: str | None, rescue: bool) -> dict[str, Any]:
        return {
            "language": language,
            "task": "transcribe",
            "beam_size": 1 if rescue else max(1, self.asr.beam_size),
            "best_of": self.asr.best_of,
            "temperature": [0.0] if rescue else (list(self.asr.temperatures) or [0.0]),
            "compression_ratio_threshold": self.asr.compression_ratio_threshold,
            "log_prob_threshold": self.asr.logprob_threshold,
            "no_speech_threshold": self.asr.no_speech_threshold,
            "condition_on_previous_text": self.asr.condition_on_previous_text,
            # hotwords reach every window, initial_prompt only the first
            "hotwords": prompt if self.asr.carry_initial_prompt and not rescue else None,
            "initial_prompt": None if rescue else prompt,
            "word_timestamps": True,
            "hallucination_silence_threshold": self.asr.hallucination_silence_threshold,
            "vad_filter": False,
        }

    def _decode(
        self, audio: np.ndarray, timeline: Timeline, language: str | None, prompt: str | None,
        *, rescue: bool,
    ) -> Decoded:  # fmt: skip
        start = timeline.regions[0][0]
        try:
            if self._batches(audio, rescue):
                return self._decode_batched(audio, language, prompt)
            segments, info = self.model.transcribe(audio, **self._options(language, prompt, rescue))
            return {"segments": [_as_dict(s) for s in segments], "language": info.language}
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(
                f"faster-whisper failed at {start:.1f}s: {str(e).splitlines()[0][:200]}",
                hint="try another --model or asr.compute_type, or report the episode",
            ) from e

    def _batches(self, audio: np.ndarray, rescue: bool) -> bool:
        """Batched decoding for this audio: ``[asr] batched``, else on CUDA only; never for
        a rescue decode or a single clip (nothing to batch)."""
        if rescue or len(audio) <= CLIP * SAMPLE_RATE:
            return False
        if self.asr.batched is None:
            return bool(self.model.model.device == "cuda")
        return self.asr.batched

    def _decode_batched(
        self, audio: np.ndarray, language: str | None, prompt: str | None
    ) -> Decoded:
        """The joined stream as clips (:func:`_clips`) decoded ``[asr] batch_size`` at a time.

        faster-whisper's batched pipeline decodes each clip once, at the first temperature,
        ignores the thresholds, ``condition_on_previous_text`` and the hallucination skip, and
        gives ``initial_prompt`` to every clip: so the prompt goes to the first clip only
        (unless ``carry_initial_prompt``), and a loop or no-speech segment is dropped by the
        shared filters, its stretch then decoded again by the rescue pass."""
        clips = _clips(audio)
        options = self._options(language, prompt, rescue=False)
        kept = {k: options[k] for k in ("task", "beam_size", "best_of", "word_timestamps")}
        kept["temperature"] = options["temperature"][0]
        if prompt is not None and not self.asr.carry_initial_prompt:
            groups = [(clips[:1], prompt), (clips[1:], None)]
        else:
            groups = [(clips, prompt)]
        segments: list[dict[str, Any]] = []
        for group, group_prompt in groups:
            if not group:
                continue
            found, info = self._batched_pipeline().transcribe(
                audio, language=language, clip_timestamps=group, without_timestamps=False,
                initial_prompt=group_prompt, batch_size=self.asr.batch_size, **kept,
            )  # fmt: skip
            language = language or info.language  # one language for the whole window
            segments += [_inside(_as_dict(s), group) for s in found]
        return {"segments": segments, "language": language}

    def _batched_pipeline(self) -> Any:
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self.model)
        return self._batched


def _inside(segment: dict[str, Any], clips: list[dict[str, float]]) -> dict[str, Any]:
    """``segment`` with its times and its words' kept inside the clip it was decoded from:
    the model may put a timestamp in the padding after a short clip, which on the joined
    stream would be the next clip's audio."""
    start = float(segment["start"])
    clip = next((c for c in reversed(clips) if c["start"] <= start + 0.01), clips[0])
    low, high = clip["start"], clip["end"]

    def inside(t: float) -> float:
        return min(max(float(t), low), high)

    segment["start"], segment["end"] = inside(segment["start"]), inside(segment["end"])
    for word in segment.get("words") or []:
        word["start"], word["end"] = inside(word["start"]), inside(word["end"])
    return segment


def _clips(audio: np.ndarray, limit: float = CLIP) -> list[dict[str, float]]:
    """The joined stream (``audio``, float32 at 16 kHz) as clips of at most ``limit`` s
    (seconds on the stream), each cut at the quietest 50 ms of its last ``CUT_SEARCH`` s:
    a pause between sentences, or a join between two stretches of speech (VAD padding is
    quiet). Cutting every ``limit`` s instead splits words, and leaves a last sliver of a
    fraction of a second that tiny.en turns into an invented "You"."""
    total = len(audio) / SAMPLE_RATE
    hop = SAMPLE_RATE // 100  # 10 ms
    frame = 5  # hops: 50 ms
    energy = np.concatenate([[0.0], np.cumsum(np.square(audio, dtype=np.float64))])
    clips: list[dict[str, float]] = []
    start = 0.0
    while total - start > limit:
        first = round((start + max(0.0, limit - CUT_SEARCH)) * 100)
        last = round((start + limit) * 100) - frame
        hops = np.arange(first, last + 1)
        loudness = energy[(hops + frame) * hop] - energy[hops * hop]
        quietest = hops[np.argmin(loudness)] + frame // 2  # the middle of the quietest 50 ms
        cut = float(quietest) / 100
        clips.append({"start": start, "end": cut})
        start = cut
    if total > start:
        clips.append({"start": start, "end": total})
    return clips
