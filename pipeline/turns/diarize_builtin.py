"""The ``builtin`` diarization backend: speaker embeddings clustered, CPU only, nothing
downloaded with the default encoder.

1. Speech: Silero VAD (the ONNX model transcription uses, :mod:`pipeline.audio.vad`), or an
   energy threshold, over the episode's 16 kHz PCM read block by block.
2. Windows: every speech stretch is covered by windows of ``WINDOW`` s every ``STEP`` s (a
   shorter stretch is one window); each gets a speaker embedding (:mod:`pipeline.turns.
   embedding`, ``[diarize] embedding``); a window under ``WINDOW`` s gets the mean of its
   own embedding and its looped audio's (:func:`embed_clips`), so a sub-second reply
   lands near its speaker, not near every other short clip.
3. The count, when not given: the coarsest agglomerative cut (average linkage on cosine
   distance, scikit-learn) at ``[diarize] cluster_threshold`` (calibrated on real voices,
   docs/diarization.md), unless the affinity graph's eigengap (:func:`eigengap_count`)
   is decisive and says otherwise; then held inside ``[min_speakers, max_speakers]``.
4. Clustering: cut at that many speaker-sized clusters. Windows shorter than
   ``MIN_FIT_SECONDS`` (too little speech for a reliable embedding) and clusters with
   under ``MIN_SPEAKER_SECONDS`` of speech join the nearest cluster's centroid instead.
5. Each 10 ms of speech goes to the label most of the windows covering it carry (the
   window's middle counts most), so changes land between window hops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import DiarizeConfig
from pipeline.models import SpeakerSpan
from pipeline.turns.diarize_common import SAMPLE_RATE, Diarizer, merge_spans
from pipeline.turns.embedding import Embedder

WINDOW = 1.5  # seconds of speech per embedding
STEP = 0.75  # seconds between window starts
MIN_FIT_SECONDS = 0.4  # shorter windows are assigned to clusters, never found them
MIN_SPEAKER_SECONDS = 3.0  # an estimated cluster with less speech is not a speaker
MIN_SPEAKER_SHARE = 0.02  # ... nor one with less than this share of all the speech
MIN_STRETCH_SECONDS = 0.2  # shorter speech is a click or a breath
FRAME = 0.01  # the resolution of the output, seconds
BATCH_SECONDS = 120.0  # audio embedded per batch (bounds memory)
MAX_CLUSTERED = 1500  # windows clustered at most; the rest are assigned to centroids
DEFAULT_THRESHOLD = 0.3  # cosine distance; calibrated on real voices (docs/diarization.md)
EIGEN_SAMPLE = 400  # windows the eigengap count looks at, at most (an even sample)
EIGEN_NEIGHBOURS = 16  # neighbour counts the eigengap count tries, at most
# The eigengap's count overrides the threshold's only when its gap is this many times the
# next largest one (docs/diarization.md, "The speaker count")
DECISIVE_GAP = 4.0

Reader = Callable[[float, float], np.ndarray]


@dataclass(frozen=True)
class Window:
    """A stretch of speech to embed, seconds, and the stretch it belongs to."""

    start: float
    end: float
    stretch: int


def windows_of(stretches: list[tuple[float, float]]) -> list[Window]:
    """Windows of ``WINDOW`` s every ``STEP`` s over each stretch, the last one ending at the
    stretch's end; a stretch shorter than ``WINDOW`` is one window."""
    out: list[Window] = []
    for k, (a, b) in enumerate(stretches):
        if b - a <= WINDOW:
            out.append(Window(a, b, k))
            continue
        count = int(np.ceil((b - a - WINDOW) / STEP)) + 1
        starts = np.linspace(a, b - WINDOW, count)
        out += [Window(float(s), float(s) + WINDOW, k) for s in starts]
    return out


def looped(samples: np.ndarray, seconds: float = WINDOW) -> np.ndarray:
    """``samples`` repeated end to end until they last ``seconds`` (unchanged when longer)."""
    need = round(seconds * SAMPLE_RATE)
    if samples.size == 0 or samples.size >= need:
        return samples
    return np.tile(samples, -(-need // samples.size))[:need]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8)


def embed_clips(embedder: Embedder, pieces: list[np.ndarray]) -> np.ndarray:
    """One embedding per clip; a clip shorter than ``WINDOW`` gets the mean of its own
    embedding and that of the clip looped to ``WINDOW``, L2-normed.

    GE2E hears every clip under a second as a little like every other one (a sub-second
    reply of one speaker lands nearer the other's backchannels than its own long turns):
    alone, short clips form a "short clip" cluster. Looped to a window's length, a clip
    lands near its speaker but isolated words spread out (a studio voice's one-word
    clips: 0.37 apart looped, 0.19 as they are). The mean keeps both: measured in
    BENCHMARKS.md ("Short turns")."""
    if not pieces:
        return np.zeros((0, 1), np.float32)
    rows = _unit(np.asarray(embedder(pieces), dtype=np.float32))
    need = round(WINDOW * SAMPLE_RATE)
    short = [i for i, p in enumerate(pieces) if 0 < p.size < need]
    if short:
        again = _unit(np.asarray(embedder([looped(pieces[i]) for i in short]), np.float32))
        rows[short] = _unit(rows[short] + again)
    return rows


def embed_windows(read: Reader, windows: list[Window], embedder: Embedder) -> np.ndarray:
    """``[len(windows), dim]`` embeddings (:func:`embed_clips`), the audio read
    ``BATCH_SECONDS`` at a time."""
    rows: list[np.ndarray] = []
    first = 0
    while first < len(windows):
        last = first
        while last < len(windows) and windows[last].end - windows[first].start <= BATCH_SECONDS:
            last += 1
        last = max(last, first + 1)
        origin = windows[first].start
        block = read(origin, max(w.end for w in windows[first:last]))
        pieces = [
            block[round((w.start - origin) * SAMPLE_RATE) : round((w.end - origin) * SAMPLE_RATE)]
            for w in windows[first:last]
        ]
        rows.append(embed_clips(embedder, pieces))
        first = last
    return np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)


def _centroids(x: np.ndarray, labels: np.ndarray, keys: list[int]) -> np.ndarray:
    c = np.array([x[labels == k].mean(0) for k in keys])
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-8)


def eigengap_count(x: np.ndarray, most: int) -> tuple[int, float]:
    """The number of speakers the affinity graph of the unit rows ``x`` suggests, and how
    decisive that is (the largest eigengap over the next largest one).

    NME-SC's estimate (Park et al., 2019, "Auto-tuning spectral clustering for speaker
    diarization using normalized maximum eigengap"): each row keeps its ``p`` most similar
    rows (binarised, symmetrised), the graph Laplacian's eigenvalues are sorted, and the
    count is where the gap between consecutive eigenvalues is largest; ``p`` is the one
    with the smallest ``(p / n) / gap``. It needs no threshold; ``most`` caps the count."""
    n = len(x)
    if n < 4 or most < 2:
        return 1, 0.0
    if n > EIGEN_SAMPLE:
        x = x[np.linspace(0, n - 1, EIGEN_SAMPLE).round().astype(int)]
        n = EIGEN_SAMPLE
    similar = x @ x.T
    order = np.argsort(-similar, axis=1)
    best: tuple[float, int, float] | None = None
    for p in sorted({int(v) for v in np.linspace(2, max(2, n // 4), EIGEN_NEIGHBOURS)}):
        graph = np.zeros((n, n))
        np.put_along_axis(graph, order[:, :p], 1.0, axis=1)
        graph = (graph + graph.T) / 2
        laplacian = np.diag(graph.sum(1)) - graph
        values = np.linalg.eigvalsh(laplacian)[: min(most, n - 1) + 1]
        gaps = np.diff(values)
        k = int(gaps.argmax())
        ratio = (p / n) / max(float(gaps[k]), 1e-10)
        others = np.delete(gaps, k)
        decisive = float(gaps[k] / max(float(others.max()), 1e-10)) if others.size else 0.0
        if best is None or ratio < best[0]:
            best = (ratio, k + 1, decisive)
    assert best is not None
    return best[1], best[2]


def cluster_embeddings(
    embeddings: np.ndarray,
    seconds: np.ndarray,
    *,
    num_speakers: int | None,
    min_speakers: int = 1,
    max_speakers: int = 6,
    threshold: float = DEFAULT_THRESHOLD,
) -> np.ndarray:
    """One cluster index (0, 1, ...) per embedding row; ``seconds`` is each row's speech.

    Agglomerative clustering (scikit-learn), average linkage on cosine distance: cut at
    ``num_speakers`` clusters when given, else at ``threshold``, or at the eigengap's
    count where that is decisive (``DECISIVE_GAP``, :func:`eigengap_count`), with the
    count then held inside ``[min_speakers, max_speakers]``. Windows under
    ``MIN_FIT_SECONDS`` and (count estimated) clusters with under ``MIN_SPEAKER_SECONDS``
    of speech (or under ``MIN_SPEAKER_SHARE`` of it all) go to the nearest centroid, and
    every window is then moved to its nearest centroid (twice); beyond ``MAX_CLUSTERED``
    windows an even sample is clustered and the rest assigned the same way, which bounds
    time and memory on long episodes."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-8)
    fit = seconds >= MIN_FIT_SECONDS
    if fit.sum() < 2:
        fit = np.ones(n, bool)
    chosen = np.flatnonzero(fit)
    if len(chosen) > MAX_CLUSTERED:
        chosen = chosen[np.linspace(0, len(chosen) - 1, MAX_CLUSTERED).round().astype(int)]
    core = x[chosen]
    upper = min(num_speakers or max_speakers, len(core))
    lower = min(num_speakers or max(1, min_speakers), upper)
    if upper <= 1:
        return np.zeros(n, int)

    def cut(count: int | None) -> np.ndarray:
        model = AgglomerativeClustering(
            n_clusters=count,
            distance_threshold=None if count else threshold,
            metric="cosine",
            linkage="average",
        )
        return np.asarray(model.fit_predict(core))

    scale = fit.sum() / len(chosen)

    def talk(labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels, weights=seconds[chosen] * scale)

    least = max(MIN_SPEAKER_SECONDS, MIN_SPEAKER_SHARE * float(seconds[fit].sum()))

    def voices(labels: np.ndarray) -> int:
        return int((talk(labels) >= least).sum())

    labels = cut(None)
    found = voices(labels)
    estimate, decisive = eigengap_count(core, upper) if num_speakers is None else (found, 0.0)
    if decisive >= DECISIVE_GAP and found != estimate:
        # The graph's count is clear where the threshold's is not (two voices closer than
        # the threshold, in a recording whose own spread is smaller): cut at it.
        target = max(lower, estimate)
        for count in range(target, len(core) + 1):
            labels = cut(count)
            if voices(labels) >= target:
                break
        upper = target
    elif not lower <= max(found, 1) <= upper:
        # The threshold heard too few or too many voices for the bounds: the coarsest cut
        # with enough clusters of speaker size (outliers make clusters of their own).
        target = lower if found < lower else upper
        for count in range(target, len(core) + 1):
            labels = cut(count)
            if voices(labels) >= target:
                break
    # A cluster with too little speech is nobody's voice of its own, and no more than
    # ``upper`` voices are wanted: the smallest clusters are dissolved (their windows go
    # to the nearest centroid below).
    amounts = talk(labels)
    keys = sorted(range(len(amounts)), key=lambda k: -amounts[k])
    keep = [k for i, k in enumerate(keys) if i < lower or amounts[k] >= least]
    keys = sorted(keep[:upper])
    full = np.full(n, -1)
    full[chosen] = np.where(np.isin(labels, keys), labels, -1)
    for _ in range(2):  # every window to its nearest centroid
        centroids = _centroids(x, full, keys)
        full = np.array(keys)[(x @ centroids.T).argmax(1)]
        keys = sorted(set(full.tolist()))
    return np.searchsorted(np.array(keys), full)


def frame_labels(
    stretches: list[tuple[float, float]], windows: list[Window], labels: np.ndarray, count: int
) -> list[tuple[float, float, int]]:
    """(start, end, cluster) runs: each 10 ms of a stretch goes to the cluster with the most
    weight among the windows covering it (a Hann weight: a window's middle counts most)."""
    runs: list[tuple[float, float, int]] = []
    by_stretch: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        by_stretch.setdefault(w.stretch, []).append(i)
    for k, (a, b) in enumerate(stretches):
        members = by_stretch.get(k, [])
        if not members:
            continue
        frames = max(1, round((b - a) / FRAME))
        votes = np.zeros((frames, count))
        for i in members:
            w = windows[i]
            first = int(np.clip(round((w.start - a) / FRAME), 0, frames - 1))
            last = int(np.clip(round((w.end - a) / FRAME), first + 1, frames))
            votes[first:last, labels[i]] += np.hanning(last - first + 2)[1:-1]
        best = votes.argmax(1)
        edges = np.flatnonzero(np.diff(best)) + 1
        for s, e in zip(
            np.concatenate([[0], edges]), np.concatenate([edges, [frames]]), strict=True
        ):
            runs.append((a + s * FRAME, min(b, a + e * FRAME), int(best[s])))
    return runs


def _first_appearance(runs: list[tuple[float, float, int]]) -> list[SpeakerSpan]:
    order: dict[int, str] = {}
    spans = []
    for start, end, k in runs:
        label = order.setdefault(k, f"S{len(order)}")
        spans.append(SpeakerSpan(start=round(start, 3), end=round(end, 3), speaker=label))
    return merge_spans(spans)


def diarize_stretches(
    read: Reader,
    stretches: list[tuple[float, float]],
    embedder: Embedder,
    *,
    num_speakers: int | None = None,
    min_speakers: int = 1,
    max_speakers: int = 6,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[SpeakerSpan]:
    """Who speaks when, given the speech ``stretches`` (seconds) and ``read(start, end)``
    giving 16 kHz float32 samples: spans labelled ``S0``... in order of first appearance."""
    stretches = [(a, b) for a, b in stretches if b - a >= MIN_STRETCH_SECONDS]
    windows = windows_of(stretches)
    if not windows:
        return []
    embeddings = embed_windows(read, windows, embedder)
    seconds = np.array([w.end - w.start for w in windows])
    labels = cluster_embeddings(
        embeddings,
        seconds,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        threshold=threshold,
    )
    return _first_appearance(frame_labels(stretches, windows, labels, int(labels.max()) + 1))


def builtin_backend(config: DiarizeConfig, embedder: Embedder | None = None) -> Diarizer:
    """The backend for ``config``: the episode decoded once to PCM on disk, speech found by
    ``[diarize] vad``, then :func:`diarize_stretches` with ``[diarize] embedding``."""
    from pipeline.audio.pcm import decoded_pcm
    from pipeline.audio.vad import voice_stretches
    from pipeline.turns.embedding import get_embedder

    chosen = embedder or get_embedder(config.embedding, config.models_dir)

    def run(
        audio: Path,
        num_speakers: int | None = None,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[SpeakerSpan]:
        with decoded_pcm(audio) as pcm:
            stretches = voice_stretches(pcm, engine=config.vad)
            return diarize_stretches(
                pcm.read,
                stretches,
                chosen,
                num_speakers=num_speakers,
                min_speakers=min_speakers or config.min_speakers,
                max_speakers=max_speakers or config.max_speakers,
                threshold=config.cluster_threshold,
            )

    return run
