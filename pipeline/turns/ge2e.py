"""Resemblyzer's GE2E speaker encoder, run by our own small torch code.

The weights (``pretrained.pt``, 17 MB, Apache-2.0) ship inside the ``resemblyzer`` wheel;
only the file is read, the package is never imported (it would import librosa and
webrtcvad, ~1.5 s, for nothing). The network (Wan et al., 2018, "Generalized end-to-end
loss for speaker verification"): 40-channel mel power frames (25 ms Hann window, 10 ms
hop, 16 kHz, librosa's Slaney filters, centred with zero padding), a 3-layer LSTM of 256
units, the last layer's final hidden state through a linear layer to 256, ReLU, L2 norm.
:func:`mel_frames` reproduces ``resemblyzer.audio.wav_to_mel_spectrogram``.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import MissingDependencyError

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
HIDDEN = 256
LAYERS = 3
EMBEDDING = 256


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log = hz >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), hz)


def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``[n_mels, n_fft // 2 + 1]``, as
    ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` makes them."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    low, high = _hz_to_mel(np.array([0.0, sr / 2]))
    edges = _mel_to_hz(np.linspace(low, high, n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """Mel power frames ``[T, 40]`` (float32) of 16 kHz samples, one per 10 ms."""
    import torch

    audio = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if audio.numel() < 2:
        return np.zeros((0, N_MELS), np.float32)
    spec = torch.stft(
        audio,
        N_FFT,
        HOP,
        window=torch.hann_window(N_FFT),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spec.abs() ** 2
    filters = torch.from_numpy(_filters())
    return (filters @ power).T.contiguous().numpy()


@lru_cache(maxsize=1)
def _filters() -> np.ndarray:
    return mel_filters()


def weights_path() -> Path:
    """Where the installed ``resemblyzer`` package keeps ``pretrained.pt``;
    :class:`MissingDependencyError` when it is not installed."""
    spec = importlib.util.find_spec("resemblyzer")  # finds it without running it
    if spec is None or not spec.origin:
        raise MissingDependencyError(
            "the builtin diarizer's speaker encoder needs the resemblyzer package "
            "(its weights ship inside it)",
            hint="run `pip install --no-deps resemblyzer==0.1.4` (scripts/setup.sh does), or "
            "set [diarize] embedding to an ONNX model",
        )
    path = Path(spec.origin).parent / "pretrained.pt"
    if not path.is_file():
        raise MissingDependencyError(
            f"resemblyzer is installed but {path} is missing",
            hint="reinstall it: `pip install --force-reinstall --no-deps resemblyzer==0.1.4`",
        )
    return path


def _network() -> Any:
    from torch import nn

    class GE2E(nn.Module):
        """The encoder: LSTM, linear, ReLU, L2 norm (parameter names as in the checkpoint)."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
            self.linear = nn.Linear(HIDDEN, EMBEDDING)
            self.relu = nn.ReLU()

        def forward(self, mels: Any, lengths: Any) -> Any:
            from torch.nn.utils.rnn import pack_padded_sequence

            packed = pack_padded_sequence(mels, lengths, batch_first=True, enforce_sorted=False)
            _, (hidden, _) = self.lstm(packed)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-8)

    return GE2E()


@lru_cache(maxsize=2)
def load_encoder(path: Path | None = None) -> Any:
    """The GE2E network with the checkpoint's weights, in eval mode (cached per path)."""
    import torch

    source = path or weights_path()
    try:
        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
        model = _network()
        model.load_state_dict(checkpoint["model_state"], strict=False)
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        raise MissingDependencyError(
            f"cannot load the speaker encoder weights {source}: {e}",
            hint="reinstall it: `pip install --force-reinstall --no-deps resemblyzer==0.1.4`",
        ) from e
    return model.eval()


def embed_frames(model: Any, pieces: list[np.ndarray], batch: int = 64) -> np.ndarray:
    """One L2-normed embedding ``[len(pieces), 256]`` per mel piece ``[T_i, 40]``, in
    batches of up to ``batch`` pieces of any length (packed, so padding does not count)."""
    import torch

    out = np.zeros((len(pieces), EMBEDDING), np.float32)
    order = np.argsort([len(p) for p in pieces])  # similar lengths share a batch: less padding
    threads = torch.get_num_threads()
    # One thread: an LSTM's small matrix products gain little from a second core, and
    # lose 10x when the cores are busy with other work (measured in BENCHMARKS.md).
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for first in range(0, len(order), batch):
                index = order[first : first + batch]
                lengths = torch.tensor([max(1, len(pieces[i])) for i in index])
                padded = torch.zeros(len(index), int(lengths.max()), N_MELS)
                for row, i in enumerate(index):
                    padded[row, : len(pieces[i])] = torch.from_numpy(pieces[i])
                out[index] = model(padded, lengths).numpy()
    finally:
        torch.set_num_threads(threads)
    return out
