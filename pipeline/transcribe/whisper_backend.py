"""The ``whisper`` backend: openai-whisper with what long episodes need to come out clean.

Public API:
    WhisperBackend(config, model=None)    # ``model``: an already loaded whisper model
        .transcribe(episode, episode_dir) -> Transcript
        .model                            # loaded on first use, cached per process
        .decoded_clips                    # the first pass's (start, end) clips, last run
    load_model(name_or_path, device=None) # cached; name ("turbo", "small"...) or .pt path
    initial_prompt(episode) -> str | None

VAD, windows, joining, filters and the rescue pass are shared with the ``faster-whisper``
backend (:mod:`pipeline.transcribe.speech_decoder`). Decoding here:
``condition_on_previous_text`` off by default (no runaway repetition), an initial prompt with
the show and people names (carried into every window with ``[asr] carry_initial_prompt``:
on tiny.en that made whisper skip the first 20 s), beam search, temperature fallback,
word timestamps and ``hallucination_silence_threshold``.
"""

from __future__ import annotations

import base64
import gzip
import logging
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config
from pipeline.errors import ConfigError, TranscriptionError
from pipeline.transcribe.speech_decoder import (  # noqa: F401  (initial_prompt, _windows: API)
    Decoded,
    SpeechDecoder,
    _windows,
    initial_prompt,
)
from pipeline.transcribe.timeline import Timeline

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str], Any] = {}


def _device(requested: str | None) -> str:
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name_or_path: str, device: str | None = None) -> Any:
    """A whisper model by name or checkpoint path, loaded once per process."""
    import whisper

    device = _device(device)
    key = (name_or_path, device)
    if key in _MODELS:
        return _MODELS[key]
    path = Path(name_or_path).expanduser()
    is_path = path.suffix == ".pt" or "/" in name_or_path or path.exists()
    if is_path and not path.is_file():
        raise ConfigError(
            f"whisper checkpoint {path} does not exist", hint="pass an existing .pt file to --model"
        )
    if not is_path and name_or_path not in whisper.available_models():
        raise ConfigError(
            f"unknown whisper model {name_or_path!r}",
            hint=f"use one of {', '.join(whisper.available_models())} or a checkpoint path",
        )
    try:
        model = whisper.load_model(str(path) if is_path else name_or_path, device=device)
        if is_path:
            _set_alignment_heads(model, path)
    except Exception as e:  # download failures, corrupt checkpoints, CUDA problems
        raise TranscriptionError(
            f"cannot load whisper model {name_or_path!r}: {str(e).splitlines()[0][:200]}",
            hint="pass --model with a local checkpoint path, or check the model cache",
        ) from e
    _MODELS[key] = model
    return model


def alignment_heads_mask(value: Any, n_layers: int, n_heads: int) -> np.ndarray:
    """A checkpoint's ``alignment_heads`` as a ``[n_layers, n_heads]`` bool mask. Two forms
    are read: [layer, head] pairs (what a converted model stores), and whisper's own dump
    (base85 of a gzipped bool array, str or bytes: what ``model.set_alignment_heads`` takes
    and ``whisper._ALIGNMENT_HEADS`` lists). ``ValueError`` for anything else."""
    mask = np.zeros((n_layers, n_heads), dtype=bool)
    if isinstance(value, str | bytes):
        try:
            raw = gzip.decompress(base64.b85decode(value))
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"not whisper's base85 dump ({e})") from e
        if len(raw) != mask.size:
            raise ValueError(f"{len(raw)} heads, the model has {n_layers} x {n_heads}")
        return np.frombuffer(raw, dtype=bool).reshape(n_layers, n_heads).copy()
    try:
        pairs = [(int(layer), int(head)) for layer, head in value]
    except (TypeError, ValueError) as e:
        raise ValueError("neither [layer, head] pairs nor whisper's base85 dump") from e
    for layer, head in pairs:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise ValueError(f"head [{layer}, {head}] is outside {n_layers} x {n_heads}")
        mask[layer, head] = True
    return mask


def _set_alignment_heads(model: Any, path: Path) -> None:
    """Word timing heads from the checkpoint's ``alignment_heads`` when it has them (a
    converted model does; whisper reads them only for its named models). A field that
    cannot be read is a warning: the model keeps whisper's default (the last half of
    the decoder's layers) and word times are rougher, nothing fails."""
    import torch

    heads = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get(
        "alignment_heads"
    )
    if heads is None or (not isinstance(heads, str | bytes) and len(heads) == 0):
        return
    dims = model.dims
    try:
        mask = alignment_heads_mask(heads, dims.n_text_layer, dims.n_text_head)
    except ValueError as e:
        log.warning(
            "%s: alignment_heads unreadable (%s); word times use whisper's default heads",
            path.name,
            e,
        )
        return
    model.register_buffer("alignment_heads", torch.from_numpy(mask).to_sparse(), persistent=False)


class WhisperBackend(SpeechDecoder):
    """The ``whisper`` ASR backend: VAD, windowed decoding, loop filtering, word times.

    ``model`` replaces the checkpoint ``[asr] model`` names (tests pass a tiny one);
    ``decoded_clips`` holds the ``(start s, end s)`` clips of the last run's first pass."""

    name = "whisper"

    def __init__(self, config: Config, model: Any | None = None) -> None:
        super().__init__(config)
        self._model = model

    @property
    def model(self) -> Any:
        """The whisper model, loaded on first use (:class:`TranscriptionError` if it cannot)."""
        if self._model is None:
            self._model = load_model(self.asr.model, self.asr.device)
        return self._model

    @property
    def english_only(self) -> bool:
        """True for an English-only model (``*.en``); loads the model."""
        return not self.model.is_multilingual

    def _decode(
        self, audio: np.ndarray, timeline: Timeline, language: str | None, prompt: str | None,
        *, rescue: bool,
    ) -> Decoded:  # fmt: skip
        import whisper

        start = timeline.regions[0][0]
        beam = self.asr.beam_size if self.asr.beam_size > 1 and not rescue else None
        try:
            return whisper.transcribe(
                self.model,
                audio,
                verbose=None,
                language=language,
                task="transcribe",
                temperature=0.0 if rescue else (tuple(self.asr.temperatures) or 0.0),
                compression_ratio_threshold=self.asr.compression_ratio_threshold,
                logprob_threshold=self.asr.logprob_threshold,
                no_speech_threshold=self.asr.no_speech_threshold,
                condition_on_previous_text=self.asr.condition_on_previous_text,
                initial_prompt=None if rescue else prompt,
                carry_initial_prompt=prompt is not None and self.asr.carry_initial_prompt,
                word_timestamps=True,
                hallucination_silence_threshold=self.asr.hallucination_silence_threshold,
                beam_size=beam,
                best_of=self.asr.best_of if not rescue else None,
                fp16=str(self.model.device).startswith("cuda"),
            )
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(
                f"whisper failed at {start:.1f}s: {str(e).splitlines()[0][:200]}",
                hint="try another --model or report the episode",
            ) from e
