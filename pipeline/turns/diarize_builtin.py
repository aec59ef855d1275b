"""The ``builtin`` diarization backend: no downloaded weights, CPU only.

Speech detection (``[diarize] vad``: Silero VAD, whose small model ships inside its
package, or an energy threshold) cuts the audio at pauses into chunks of at most 2 s.
MFCC statistics per chunk are over-clustered with Ward linkage (scikit-learn); clusters
are then merged in the order the Bayesian information criterion prefers (full-covariance
Gaussians of their frames) down to the known number of speakers, or, when it is unknown,
while some pair costs less log-likelihood per frame than ``[diarize] merge_threshold``.
Finally each chunk goes to the cluster whose Gaussian explains it best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import DiarizeConfig
from pipeline.models import SpeakerSpan
from pipeline.turns.diarize_common import SAMPLE_RATE, Diarizer, load_audio, merge_spans

HOP = 160  # 10 ms frames
N_FFT = 400  # 25 ms window
FRAMES_PER_SECOND = SAMPLE_RATE // HOP
N_MELS = 40
N_MFCC = 19  # c1..c19: c0 is loudness, which says little about who speaks
MAX_CHUNK_SECONDS = 2.0
MIN_PAUSE_SECONDS = 0.15  # shorter gaps are inside a word or a breath
MIN_SPEECH_SECONDS = 0.1
MIN_SPEAKER_SECONDS = 4.0  # less speech than this in a cluster is not a speaker of its own
SMALL_CLUSTER_SLACK = 5.0  # threshold slack, x 1/sqrt(frames of the smaller cluster)
BLOCK_SECONDS = 60  # features are computed block by block to bound memory on long episodes


# --- audio and features ------------------------------------------------------------------


def log_mel(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-mel ``[N_MELS, T]``, frame energy in dB ``[T]``) with 10 ms frames."""
    import torch
    from whisper.audio import mel_filters

    filters = mel_filters("cpu", 80)
    # Whisper ships 80- and 128-band filters; pool the 80 bands pairwise into 40.
    filters = filters.reshape(N_MELS, 2, -1).sum(1)
    padded = np.pad(
        audio, (N_FFT // 2, N_FFT // 2), mode="reflect" if len(audio) > N_FFT else "constant"
    )
    n_frames = len(audio) // HOP + 1
    window = torch.hann_window(N_FFT)
    mels, energies = [], []
    block = BLOCK_SECONDS * FRAMES_PER_SECOND
    for first in range(0, n_frames, block):
        count = min(block, n_frames - first)
        piece = torch.from_numpy(padded[first * HOP : (first + count - 1) * HOP + N_FFT].copy())
        spec = torch.stft(piece, N_FFT, HOP, window=window, center=False, return_complex=True)
        power = spec.abs() ** 2
        mels.append(torch.log(filters @ power + 1e-10).numpy())
        energies.append((10 * torch.log10(power.sum(0) + 1e-10)).numpy())
    return np.concatenate(mels, axis=1), np.concatenate(energies)


def mfcc(mel: np.ndarray) -> np.ndarray:
    """MFCCs ``[T, N_MFCC]`` (c1..c19, float64) from log-mel ``[N_MELS, T]``."""
    from scipy.fft import dct

    return dct(mel, axis=0, norm="ortho")[1 : N_MFCC + 1].T.astype(np.float64)  # [T, N_MFCC]


def speech_mask(energy_db: np.ndarray) -> np.ndarray:
    """Frames loud enough to be speech: well above the noise floor and within 45 dB of peaks."""
    from scipy.ndimage import binary_closing, binary_opening

    if len(energy_db) == 0:
        return np.zeros(0, bool)
    floor, peak = np.percentile(energy_db, 10), np.percentile(energy_db, 99)
    mask = energy_db > max(floor + 15, peak - 45)
    pause = round(MIN_PAUSE_SECONDS * FRAMES_PER_SECOND)
    mask = binary_closing(mask, np.ones(pause, bool)) | mask
    return binary_opening(mask, np.ones(round(MIN_SPEECH_SECONDS * FRAMES_PER_SECOND), bool))


@lru_cache(maxsize=1)
def _silero_model() -> Any:
    from silero_vad import load_silero_vad  # its weights ship inside the package

    return load_silero_vad()


def silero_mask(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Speech frames by Silero VAD: unlike an energy threshold it ignores music beds, noise
    and laughter; about 1-2% of the audio's duration on a 2-core CPU."""
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(
        torch.from_numpy(audio),
        _silero_model(),
        sampling_rate=SAMPLE_RATE,
        min_silence_duration_ms=round(MIN_PAUSE_SECONDS * 1000),
        min_speech_duration_ms=round(MIN_SPEECH_SECONDS * 1000),
        speech_pad_ms=0,
    )
    mask = np.zeros(n_frames, bool)
    for stamp in stamps:
        mask[stamp["start"] // HOP : stamp["end"] // HOP + 1] = True
    return mask


def speech_chunks(mask: np.ndarray) -> list[tuple[int, int]]:
    """Frame ranges of speech between pauses, long stretches cut into equal pieces <= 2 s."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    longest = round(MAX_CHUNK_SECONDS * FRAMES_PER_SECOND)
    chunks: list[tuple[int, int]] = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        pieces = max(1, -(-(end - start) // longest))  # ceil: no piece over the limit
        bounds = np.linspace(start, end, pieces + 1).round().astype(int)
        chunks += [(int(a), int(b)) for a, b in pairwise(bounds)]
    return chunks


# --- clustering ----------------------------------------------------------------------------


@dataclass
class _Stats:
    """Sufficient statistics of a set of frames: count, sum, sum of outer products."""

    n: float
    s: np.ndarray
    ss: np.ndarray

    @classmethod
    def of(cls, frames: np.ndarray) -> _Stats:
        return cls(float(len(frames)), frames.sum(0), frames.T @ frames)

    def __add__(self, other: _Stats) -> _Stats:
        return _Stats(self.n + other.n, self.s + other.s, self.ss + other.ss)

    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.s / self.n
        cov = self.ss / self.n - np.outer(mean, mean)
        # A little shrinkage keeps small clusters' covariances invertible.
        return mean, cov + np.eye(len(mean)) * (1e-3 * np.trace(cov) / len(mean) + 1e-6)

    def logdet(self) -> float:
        return float(np.linalg.slogdet(self.gaussian()[1])[1])


def _merge_cost(a: _Stats, b: _Stats) -> float:
    """Log-likelihood lost by modelling both clusters' frames with one Gaussian."""
    return 0.5 * ((a.n + b.n) * (a + b).logdet() - a.n * a.logdet() - b.n * b.logdet())


def _delta_bic(a: _Stats, b: _Stats) -> float:
    """> 0: two speakers explain the frames better than one (Chen & Gopalakrishnan, 1998)."""
    d = len(a.s)
    params = d + d * (d + 1) / 2
    return _merge_cost(a, b) - 0.5 * params * np.log(a.n + b.n)


def _frame_cost(a: _Stats, b: _Stats) -> float:
    return _merge_cost(a, b) / (a.n + b.n)


def _threshold(a: _Stats, b: _Stats, base: float) -> float:
    """The per-frame cost under which two clusters are one voice; more for small ones."""
    return base + SMALL_CLUSTER_SLACK / np.sqrt(min(a.n, b.n))


def _chunk_loglik(chunk: _Stats, cluster: _Stats) -> float:
    """Total log-likelihood of a chunk's frames under a cluster's Gaussian, from statistics."""
    mean, cov = cluster.gaussian()
    inv = np.linalg.inv(cov)
    scatter = (
        chunk.ss
        - np.outer(chunk.s, mean)
        - np.outer(mean, chunk.s)
        + chunk.n * np.outer(mean, mean)
    )
    return -0.5 * (float(np.sum(inv * scatter)) + chunk.n * float(np.linalg.slogdet(cov)[1]))


def cluster_chunks(
    stats: Sequence[_Stats],
    summaries: np.ndarray,
    *,
    num_speakers: int | None,
    min_speakers: int,
    max_speakers: int,
    merge_threshold: float = 0.65,
) -> np.ndarray:
    """One cluster index per chunk: Ward over-clustering, BIC merging, likelihood reassignment."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.preprocessing import StandardScaler

    n = len(stats)
    if n == 0:
        return np.zeros(0, int)
    target_max = num_speakers or max_speakers
    initial = min(n, max(target_max + 4, 8))
    if initial <= 1:
        return np.zeros(n, int)
    labels = AgglomerativeClustering(n_clusters=initial, linkage="ward").fit_predict(
        StandardScaler().fit_transform(summaries)
    )
    groups = {k: [int(i) for i in np.flatnonzero(labels == k)] for k in range(initial)}

    def pooled(members: list[int]) -> _Stats:
        total = stats[members[0]]
        for i in members[1:]:
            total = total + stats[i]
        return total

    merged = {k: pooled(v) for k, v in groups.items()}
    # Merge the pair BIC likes best until the count is right. When the count is unknown,
    # only pairs that are cheap to merge qualify: BIC alone over-splits as clusters grow
    # (a voice varies with what is said), while the cost per frame stays small within one
    # voice; small clusters' costs are noisier, so they get more slack. A cluster too
    # small to be anybody's voice is dissolved chunk by chunk into the others. No
    # qualifying pair left means every cluster is a different speaker.
    lower = num_speakers or max(1, min_speakers)
    while len(groups) > lower:
        keys = sorted(groups)
        pairs = [
            (_delta_bic(merged[a], merged[b]), _frame_cost(merged[a], merged[b]), a, b)
            for i, a in enumerate(keys)
            for b in keys[i + 1 :]
        ]
        if num_speakers is None and len(groups) <= max_speakers:
            pairs = [
                p
                for p in pairs
                if p[0] < 0 or p[1] < _threshold(merged[p[2]], merged[p[3]], merge_threshold)
            ]
            if not pairs:
                smallest = min(groups, key=lambda k: merged[k].n)
                if merged[smallest].n >= MIN_SPEAKER_SECONDS * FRAMES_PER_SECOND:
                    break
                for chunk in groups.pop(smallest):
                    merged.pop(smallest, None)
                    best = max(groups, key=lambda k: _chunk_loglik(stats[chunk], merged[k]))
                    groups[best].append(chunk)
                    merged[best] = merged[best] + stats[chunk]
                continue
        _, _, a, b = min(pairs)
        groups[a] += groups.pop(b)
        merged[a] = merged[a] + merged.pop(b)

    # Ward decided on chunk averages; let the Gaussians have the last word per chunk.
    keys = sorted(groups)
    assignment = np.empty(n, int)
    for k, members in groups.items():
        assignment[members] = keys.index(k)
    for _ in range(2):
        models = [pooled(list(np.flatnonzero(assignment == k))) for k in range(len(keys))]
        if any(m.n < 2 * N_MFCC for m in models):
            break
        scores = np.array([[_chunk_loglik(c, m) for m in models] for c in stats])
        new = scores.argmax(1)
        if len(set(new)) < len(keys) or (new == assignment).all():
            break
        assignment = new
    return assignment


def _first_appearance_labels(assignment: np.ndarray) -> list[str]:
    order: dict[int, str] = {}
    for k in assignment:
        order.setdefault(int(k), f"S{len(order)}")
    return [order[int(k)] for k in assignment]


def diarize_array(
    audio: np.ndarray,
    *,
    num_speakers: int | None = None,
    min_speakers: int = 1,
    max_speakers: int = 6,
    merge_threshold: float = 0.65,
    vad: str = "silero",
) -> list[SpeakerSpan]:
    """The builtin backend on 16 kHz mono float32 samples: spans in seconds, labelled
    ``S0``... in order of first appearance; no speech gives ``[]``. ``vad`` is ``silero``
    or ``energy``; the other arguments are ``[diarize]``'s."""
    mel, energy = log_mel(audio)
    features = mfcc(mel)
    mask = silero_mask(audio, len(energy)) if vad == "silero" else speech_mask(energy)
    chunks = speech_chunks(mask)
    if not chunks:
        return []
    stats = [_Stats.of(features[a:b]) for a, b in chunks]
    summaries = np.array(
        [np.concatenate([features[a:b].mean(0), features[a:b].std(0)]) for a, b in chunks]
    )
    assignment = cluster_chunks(
        stats,
        summaries,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        merge_threshold=merge_threshold,
    )
    labels = _first_appearance_labels(assignment)
    spans = [
        SpeakerSpan(start=a / FRAMES_PER_SECOND, end=b / FRAMES_PER_SECOND, speaker=label)
        for (a, b), label in zip(chunks, labels, strict=True)
    ]
    return merge_spans(spans)


# --- the backend -------------------------------------------------------------------------


def builtin_backend(config: DiarizeConfig) -> Diarizer:
    """The backend for ``config``: decode with ffmpeg, then :func:`diarize_array`."""

    def run(audio: Path, num_speakers: int | None = None) -> list[SpeakerSpan]:
        return diarize_array(
            load_audio(audio),
            num_speakers=num_speakers,
            min_speakers=config.min_speakers,
            max_speakers=config.max_speakers,
            merge_threshold=config.merge_threshold,
            vad=config.vad,
        )

    return run
