"""The ``whisper`` backend: openai-whisper with what long episodes need to come out clean.

Public API:
    WhisperBackend(config, model=None)    # ``model``: an already loaded whisper model
        .transcribe(episode, episode_dir) -> Transcript
        .model                            # loaded on first use, cached per process
        .decoded_clips                    # the (start, end) seconds given to whisper last run
    load_model(name_or_path, device=None) # cached; name ("turbo", "small"...) or .pt path
    initial_prompt(episode) -> str | None

How (the field's lessons for 1-3 hour audio):
- VAD first (silero-vad, offline): only speech regions are decoded, joined end to end
  (:mod:`pipeline.transcribe.timeline` maps times back), so silence and music cannot turn into
  invented text and decoding time follows the amount of speech.
- The episode is decoded once to 16 kHz PCM on disk and given to whisper in windows of at
  most ``[asr] window_seconds`` cut at silences: memory stays flat on 3-hour files.
- Language from config, else the episode metadata, else detected once (first window).
- ``condition_on_previous_text=False`` (no runaway repetition), an initial prompt with the
  show and people names carried into every window, beam search, temperature fallback,
  word timestamps, and ``hallucination_silence_threshold``.
- Afterwards, segments that are repetition loops (compression ratio), probably not speech
  (no-speech probability with low log-probability), or the same text three or more times
  in a row are dropped.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import Config
from pipeline.errors import ConfigError, TranscriptionError
from pipeline.langtags import language_base
from pipeline.models import Episode, Segment, Transcript, Word
from pipeline.transcribe.audio import PcmFile, decode_pcm
from pipeline.transcribe.timeline import Timeline
from pipeline.transcribe.vad import speech_regions

if TYPE_CHECKING:  # pipeline.transcribe.backends imports this module
    from pipeline.transcribe.backends import Progress

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
    except Exception as e:  # download failures, corrupt checkpoints, CUDA problems
        raise TranscriptionError(
            f"cannot load whisper model {name_or_path!r}: {str(e).splitlines()[0][:200]}",
            hint="pass --model with a local checkpoint path, or check the model cache",
        ) from e
    _MODELS[key] = model
    return model


def initial_prompt(episode: Episode) -> str | None:
    """Names spelled right from the start: the show, its host and guests."""
    names: list[str] = []
    for name in [episode.show, episode.uploader, *episode.guests]:
        name = " ".join(name.split())
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    if not names:
        return None
    if len(names) == 1:
        return f"{names[0]}."
    return f"{names[0]}, with {', '.join(names[1:])}."


@dataclass
class _Window:
    start: float
    end: float
    regions: list[tuple[float, float]]


def _windows(regions: list[tuple[float, float]], limit: float) -> list[_Window]:
    """Group speech regions into windows no longer than ``limit``, cut between regions.

    A region longer than ``limit`` (VAD off, or talk over music with no pause) is cut
    every ``limit`` seconds: one window's audio is what memory has to hold."""
    windows: list[_Window] = []
    pieces = []
    for start, end in regions:
        while end - start > limit:
            pieces.append((start, start + limit))
            start += limit
        pieces.append((start, end))
    for region in pieces:
        if windows and region[1] - windows[-1].start <= limit:
            windows[-1].regions.append(region)
            windows[-1].end = region[1]
        else:
            windows.append(_Window(region[0], region[1], [region]))
    return windows


def _loop(text: str) -> bool:
    """A phrase repeated over and over inside one segment."""
    words = text.casefold().split()
    if len(words) < 8:
        return False
    return len(set(words)) * 4 <= len(words)


class WhisperBackend:
    """The ``whisper`` ASR backend: VAD, windowed decoding, loop filtering, word times.

    ``model`` replaces the checkpoint ``[asr] model`` names (tests pass a tiny one);
    ``decoded_clips`` holds the ``(start s, end s)`` clips given to whisper in the last run."""

    name = "whisper"

    def __init__(self, config: Config, model: Any | None = None) -> None:
        self.asr = config.asr
        self._model = model
        self.decoded_clips: list[tuple[float, float]] = []

    @property
    def model(self) -> Any:
        """The whisper model, loaded on first use (:class:`TranscriptionError` if it cannot)."""
        if self._model is None:
            self._model = load_model(self.asr.model, self.asr.device)
        return self._model

    @property
    def model_name(self) -> str:
        """``[asr] model``, as recorded in the transcript."""
        return self.asr.model

    def transcribe(
        self, episode: Episode, episode_dir: Path, progress: Progress | None = None
    ) -> Transcript:
        """The episode's audio transcribed; :class:`TranscriptionError` when there is no
        audio or decoding fails."""
        if not episode.audio_file or not (episode_dir / episode.audio_file).is_file():
            raise TranscriptionError(
                f"episode {episode.id} has no audio in {episode_dir}",
                hint="run `podpost fetch` for it first",
            )
        language = self.asr.language or episode.language
        language = language_base(language) or language  # whisper takes "en", not "en-US"
        model = self.model
        if not model.is_multilingual:
            language = "en"
        with tempfile.TemporaryDirectory(prefix=".asr-", dir=episode_dir) as tmp:
            pcm = decode_pcm(episode_dir / episode.audio_file, Path(tmp) / "audio.s16le")
            total = pcm.seconds
            if self.asr.vad:
                regions = speech_regions(pcm, self.asr.vad_engine, self.asr.vad_threshold)
            else:
                regions = [(0.0, total)] if total > 0 else []
            self.decoded_clips = []
            segments: list[Segment] = []
            for window in _windows(regions, self.asr.window_seconds):
                timeline, audio = self._speech(pcm, window)
                if timeline.duration > 0:
                    result = self._decode(audio, window, language, initial_prompt(episode))
                    language = language or result.get("language")
                    segments += self._segments(result["segments"], timeline)
                if progress is not None:
                    progress(window.end, total)
        segments = _drop_repeats(segments)
        if not segments:
            log.warning("no speech found in %s", episode.audio_file)
        return Transcript(
            language=language or "en", backend=self.name, model=self.model_name, segments=segments
        )

    def _speech(self, pcm: PcmFile, window: _Window) -> tuple[Timeline, np.ndarray]:
        """The window's speech regions read and joined end to end (see
        :mod:`pipeline.transcribe.timeline`), cut on whole 10 ms frames."""
        regions: list[tuple[float, float]] = []
        pieces = []
        seconds = pcm.seconds  # a stat() of the PCM file: once per window, not per region
        for start, end in window.regions:
            first = math.floor(start * 100) / 100
            last = math.floor(min(end, seconds) * 100) / 100
            if last > first:
                regions.append((first, last))
                pieces.append(pcm.read(first, last))
        self.decoded_clips += regions
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return Timeline.of(regions), audio

    def _decode(
        self, audio: np.ndarray, window: _Window, language: str | None, prompt: str | None
    ) -> dict[str, Any]:
        import whisper

        beam = self.asr.beam_size if self.asr.beam_size > 1 else None
        try:
            return whisper.transcribe(
                self.model,
                audio,
                verbose=None,
                language=language,
                task="transcribe",
                temperature=tuple(self.asr.temperatures) or 0.0,
                compression_ratio_threshold=self.asr.compression_ratio_threshold,
                logprob_threshold=self.asr.logprob_threshold,
                no_speech_threshold=self.asr.no_speech_threshold,
                condition_on_previous_text=False,
                initial_prompt=prompt,
                carry_initial_prompt=prompt is not None,
                word_timestamps=True,
                hallucination_silence_threshold=self.asr.hallucination_silence_threshold,
                beam_size=beam,
                best_of=self.asr.beam_size if beam else None,
                fp16=str(self.model.device).startswith("cuda"),
            )
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(
                f"whisper failed at {window.start:.1f}s: {str(e).splitlines()[0][:200]}",
                hint="try another --model or report the episode",
            ) from e

    def _segments(self, raw: list[dict[str, Any]], timeline: Timeline) -> list[Segment]:
        kept = []
        for item in raw:
            text = " ".join(str(item.get("text", "")).split())
            if not text:
                continue
            if item.get("compression_ratio", 0) > self.asr.compression_ratio_threshold:
                continue  # a loop that survived the temperature fallback
            if (
                item.get("no_speech_prob", 0) > self.asr.no_speech_threshold
                and item.get("avg_logprob", 0) < self.asr.logprob_threshold
            ):
                continue
            if _loop(text):
                continue
            start = timeline.start(float(item["start"]))
            end = timeline.end(float(item["end"]))
            if end <= start:
                continue
            words = []
            for word in item.get("words") or []:
                token = str(word.get("word", "")).strip()
                if not token:
                    continue
                w_start = min(max(timeline.start(float(word["start"])), start), end)
                w_end = min(max(timeline.end(float(word["end"])), w_start), end)
                words.append(
                    Word(
                        start=round(w_start, 3),
                        end=round(w_end, 3),
                        text=token,
                        probability=round(float(word.get("probability", 0.0)), 4),
                    )
                )
            kept.append(Segment(start=round(start, 3), end=round(end, 3), text=text, words=words))
        return kept


def _normal(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def _drop_repeats(segments: list[Segment]) -> list[Segment]:
    """Keep one of a run of three or more segments with the same text (a decoding loop)."""
    kept: list[Segment] = []
    index = 0
    while index < len(segments):
        run = index + 1
        while run < len(segments) and _normal(segments[run].text) == _normal(segments[index].text):
            run += 1
        kept += segments[index:run] if run - index < 3 else [segments[index]]
        index = run
    return kept
