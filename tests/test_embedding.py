"""Speaker embeddings: the GE2E encoder's features, the backend registry, and the first-use
download of an ONNX model (served from 127.0.0.1: no test needs the network)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ConfigError, NetworkError, UnknownBackendError
from pipeline.turns.embedding import OnnxModel, get_embedder, kaldi_fbank
from pipeline.turns.ge2e import mel_filters, mel_frames
from pipeline.turns.model_download import ensure_model, http_fetch, sha256_of


def test_mel_filters_are_librosas():
    # whisper ships librosa.filters.mel(sr=16000, n_fft=400, n_mels=80): the same recipe
    from whisper.audio import mel_filters as whisper_filters

    ours = mel_filters(n_mels=80)
    theirs = whisper_filters("cpu", 80).numpy()
    assert ours.shape == theirs.shape == (80, 201)
    assert np.abs(ours - theirs).max() < 1e-6


def test_mel_frames_one_per_ten_milliseconds():
    frames = mel_frames(np.zeros(16000, np.float32))
    assert frames.shape == (101, 40)  # centred frames: 1 + samples // hop


def test_embeddings_are_unit_vectors_and_know_a_voice():
    from tests.fixtures import real_voices as rv

    sample = rv.decode(rv.SAMPLE_AUDIO)
    cut = lambda a, b: sample[round(a * 16000) : round(b * 16000)]  # noqa: E731
    diane1, diane2 = cut(*rv.DIANE[1]), cut(*rv.DIANE[2])
    sheila = cut(*rv.SHEILA[1])
    e = get_embedder("resemblyzer")([diane1, diane2, sheila])
    assert e.shape == (3, 256)
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] and e[0] @ e[1] > e[1] @ e[2]


def test_unknown_embedding_lists_the_valid_ones():
    with pytest.raises(UnknownBackendError, match="unknown speaker embedding 'ecapa'") as info:
        get_embedder("ecapa")
    assert "resemblyzer, wespeaker-resnet34" in str(info.value)


def test_missing_onnx_file_says_so(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        get_embedder(str(tmp_path / "nope.onnx"))


def test_broken_onnx_file_says_what_to_do(tmp_path: Path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load the ONNX speaker model") as info:
        get_embedder(str(bad))
    assert "set [diarize] embedding" in str(info.value)


def test_kaldi_fbank_shape_and_mean_normalised():
    feats = kaldi_fbank(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))
    assert feats.shape == (98, 80)  # 1 + (16000 - 400) // 160
    assert np.abs(feats.mean(0)).max() < 1e-4


BODY = b"pretend these are model weights" * 1000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "model.onnx").write_bytes(BODY)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_first_use_downloads_checks_and_keeps_the_model(server: str, tmp_path: Path, capsys):
    good = OnnxModel(f"{server}/model.onnx", hashlib.sha256(BODY).hexdigest(), 0.03)
    models = tmp_path / "models"
    path = ensure_model("tiny", good, models)
    assert path == models / "tiny.onnx" and path.read_bytes() == BODY
    assert sha256_of(path) == good.sha256
    bar = capsys.readouterr().err  # the progress bar: the file, its size, 100%
    assert "model.onnx: 100%" in bar and "31.0k/31.0k" in bar
    calls = []
    assert ensure_model("tiny", good, models, fetch=lambda u, t: calls.append(u)) == path
    assert calls == []  # the second use downloads nothing
    assert [p.name for p in models.iterdir()] == ["tiny.onnx"]


def test_a_corrupt_download_is_refused_and_removed(server: str, tmp_path: Path):
    bad = OnnxModel(f"{server}/model.onnx", "0" * 64, 0.03)
    with pytest.raises(NetworkError, match="corrupt or changed") as info:
        ensure_model("tiny", bad, tmp_path / "models")
    assert "set [diarize] embedding to its path" in str(info.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_an_unreachable_server_is_a_network_error(server: str, tmp_path: Path):
    with pytest.raises(NetworkError, match="cannot download"):
        http_fetch(f"{server}/missing.onnx", tmp_path / "x")
