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
``initial_prompt`` reaches only the first). With a GPU, windows are cut into clips of at
most 30 s at stretch joins and decoded ``[asr] batch_size`` at a time
(``BatchedInferencePipeline``).

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

from pipeline.config import Config
from pipeline.errors import ConfigError, TranscriptionError
from pipeline.transcribe.audio import SAMPLE_RATE
from pipeline.transcribe.speech_decoder import Decoded, SpeechDecoder, _windows
from pipeline.transcribe.timeline import Timeline

_MODELS: dict[tuple[str, str, str], Any] = {}
CLIP = 30.0  # seconds: one whisper window, the unit of batched decoding


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
        options = self._options(language, prompt, rescue)
        try:
            if self.model.model.device == "cuda" and not rescue and len(audio) > CLIP * SAMPLE_RATE:
                segments, info = self._batched_pipeline().transcribe(
                    audio, batch_size=self.asr.batch_size, clip_timestamps=_clips(timeline),
                    without_timestamps=False, **options,
                )  # fmt: skip
            else:
                segments, info = self.model.transcribe(audio, **options)
            return {"segments": [_as_dict(s) for s in segments], "language": info.language}
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(
                f"faster-whisper failed at {start:.1f}s: {str(e).splitlines()[0][:200]}",
                hint="try another --model or asr.compute_type, or report the episode",
            ) from e

    def _batched_pipeline(self) -> Any:
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self.model)
        return self._batched


def _clips(timeline: Timeline) -> list[dict[str, float]]:
    """The joined stream as clips of at most ``CLIP`` s, cut where one stretch of speech
    joins the next (seconds on the joined stream)."""
    joined = [
        (at, at + b - a) for at, (a, b) in zip(timeline.offsets, timeline.regions, strict=True)
    ]
    return [{"start": w.start, "end": w.end} for w in _windows(joined, CLIP)]
