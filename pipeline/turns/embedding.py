"""Speaker embeddings: a short window of speech in, a unit vector out, backends by name.

Backends (``[diarize] embedding``):

- ``resemblyzer`` (default): Resemblyzer's GE2E encoder (:mod:`pipeline.turns.ge2e`),
  whose weights ship inside the ``resemblyzer`` wheel: nothing is downloaded.
- ``wespeaker-resnet34``, ``wespeaker-ecapa``... (:data:`ONNX_MODELS`) or the path of an
  ``.onnx`` file: a WeSpeaker-style ONNX model (80-band Kaldi filterbank frames in, one
  embedding out) run by onnxruntime; a named model is downloaded on first use into
  ``<data>/models/`` with a progress bar and checked against its pinned sha256
  (:mod:`pipeline.turns.model_download`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.errors import ConfigError, UnknownBackendError
from pipeline.registry import Registry

SAMPLE_RATE = 16000
TARGET_DBFS = -30.0  # GE2E was trained on speech normalised to this loudness


class Embedder(Protocol):
    """A ready speaker encoder: 16 kHz float32 windows in, ``[n, dim]`` unit rows out."""

    name: str

    def __call__(self, windows: list[np.ndarray]) -> np.ndarray:
        """One L2-normed embedding per window (windows may differ in length)."""
        ...


def normalize_loudness(samples: np.ndarray, dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``samples`` scaled to ``dbfs`` RMS: loudness says nothing about who speaks."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    if rms < 1e-6:
        return samples
    return (samples * (10 ** (dbfs / 20) / rms)).astype(np.float32)


@dataclass
class _Resemblyzer:
    name: str = "resemblyzer"

    def __call__(self, windows: list[np.ndarray]) -> np.ndarray:
        from pipeline.turns.ge2e import embed_frames, load_encoder, mel_frames

        model = load_encoder()
        return embed_frames(model, [mel_frames(normalize_loudness(w)) for w in windows])


EMBEDDERS: Registry[Embedder] = Registry("speaker embedding", "[diarize] embedding")


@EMBEDDERS.register("resemblyzer")
def _resemblyzer(models_dir: Path | None = None) -> Embedder:
    from pipeline.turns.ge2e import load_encoder

    load_encoder()  # fail now, with the fix, if the weights are missing
    return _Resemblyzer()


@dataclass(frozen=True)
class OnnxModel:
    """A downloadable ONNX speaker encoder: where it lives and what its bytes hash to."""

    url: str
    sha256: str
    size_mb: float


# WeSpeaker's VoxCeleb models exported to ONNX (CC BY 4.0), as the WeSpeaker project
# publishes them on Hugging Face. Not measured here (no network); see docs/diarization.md.
ONNX_MODELS: dict[str, OnnxModel] = {
    "wespeaker-resnet34": OnnxModel(
        url="https://huggingface.co/Wespeaker/wespeaker-voxceleb-resnet34-LM/resolve/main/"
        "voxceleb_resnet34_LM.onnx",
        sha256="7bb2f06e9df17cdf1ef14ee8a15ab08ed28e8d0ef5054ee135741560df2ec068",
        size_mb=26.5,
    ),
}


def kaldi_fbank(samples: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Kaldi-style log mel filterbank ``[T, n_mels]`` (25 ms Hamming window, 10 ms shift, DC
    removed, pre-emphasis 0.97, 512-point FFT, HTK mel scale 20 Hz-8 kHz, no dither),
    mean-normalised over time: what WeSpeaker's recipes compute (``kaldi.fbank(...,
    window_type="hamming")`` on int16-range samples) for its ONNX models."""
    frame, shift = 400, 160
    wave = samples.astype(np.float64) * 32768.0
    if len(wave) < frame:
        wave = np.pad(wave, (0, frame - len(wave)))
    count = 1 + (len(wave) - frame) // shift
    index = np.arange(frame)[None, :] + shift * np.arange(count)[:, None]
    frames = wave[index]
    frames = frames - frames.mean(1, keepdims=True)
    frames = np.concatenate([frames[:, :1], frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    frames = frames * np.hamming(frame)
    spectrum = np.abs(np.fft.rfft(frames, 512)) ** 2
    mel = lambda hz: 1127.0 * np.log1p(np.asarray(hz) / 700.0)  # noqa: E731
    edges = np.linspace(mel(20.0), mel(8000.0), n_mels + 2)
    bins = mel(np.linspace(0, SAMPLE_RATE / 2, 257))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    weights = np.maximum(
        0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre))
    )
    feats = np.log(np.maximum(spectrum @ weights.T, np.finfo(np.float64).eps))
    return (feats - feats.mean(0, keepdims=True)).astype(np.float32)


@dataclass
class _Onnx:
    name: str
    session: object

    def __call__(self, windows: list[np.ndarray]) -> np.ndarray:
        session = self.session
        feed = session.get_inputs()[0].name  # type: ignore[attr-defined]
        rows = []
        for window in windows:  # lengths differ; WeSpeaker models take one at a time fine
            feats = kaldi_fbank(window)[None]
            rows.append(np.asarray(session.run(None, {feed: feats})[0]).reshape(-1))  # type: ignore[attr-defined]
        out = np.array(rows, dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-8)


def onnx_embedder(path: Path, name: str) -> Embedder:
    """An :class:`Embedder` over the ONNX model at ``path`` (onnxruntime, CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors for bad files
        raise ConfigError(
            f"cannot load the ONNX speaker model {path}: {e}",
            hint="set [diarize] embedding to resemblyzer, a known model name or a valid .onnx",
        ) from e
    return _Onnx(name=name, session=session)


def default_models_dir() -> Path:
    """Where downloaded speaker models go unless ``[diarize] models_dir`` says otherwise."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("podpost")) / "models"


def get_embedder(
    name: str, models_dir: Path | None = None, fetch: Callable[[str, Path], None] | None = None
) -> Embedder:
    """The embedder ``[diarize] embedding`` names: a registered backend, a known ONNX model
    (downloaded into ``models_dir`` on first use, by ``fetch`` when given: tests inject
    one) or the path of an ``.onnx`` file. An unknown name lists the valid ones."""
    if name in EMBEDDERS.names():
        return EMBEDDERS.get(name)(models_dir)
    if name in ONNX_MODELS:
        from pipeline.turns.model_download import ensure_model

        folder = models_dir or default_models_dir()
        path = ensure_model(name, ONNX_MODELS[name], folder, fetch=fetch)
        return onnx_embedder(path, name)
    path = Path(name).expanduser()
    if path.suffix == ".onnx":
        if not path.is_file():
            raise ConfigError(
                f"speaker model {path} does not exist", hint="check [diarize] embedding"
            )
        return onnx_embedder(path, path.stem)
    valid = ", ".join([*EMBEDDERS.names(), *ONNX_MODELS])
    raise UnknownBackendError(
        f"unknown speaker embedding {name!r}",
        hint=f"set [diarize] embedding to one of: {valid}, or the path of an .onnx model",
    )
