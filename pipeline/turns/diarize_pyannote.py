"""The ``pyannote`` diarization backend: ``pip install 'podpost[pyannote]'``.

A pyannote.audio pipeline from a local folder or a Hugging Face id (``[diarize]
pyannote_pipeline``) with ``[diarize] hf_token``; on the GPU when torch sees one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import DiarizeConfig
from pipeline.errors import MissingDependencyError
from pipeline.models import SpeakerSpan
from pipeline.turns.diarize_common import SAMPLE_RATE, Diarizer, load_audio, relabel


def pyannote_backend(config: DiarizeConfig) -> Diarizer:
    """The pyannote pipeline for ``config``, loaded once, as a :class:`Diarizer`.

    Raises :class:`MissingDependencyError` when pyannote.audio is not installed, when a
    Hugging Face pipeline is named without ``hf_token``, or when loading it fails.
    """
    try:
        from pyannote.audio import Pipeline
    except ImportError as e:
        raise MissingDependencyError(
            "the pyannote diarization backend needs pyannote.audio, which is not installed",
            hint="run `pip install 'podpost[pyannote]'`, or set [diarize] backend = \"builtin\"",
        ) from e
    source = Path(config.pyannote_pipeline).expanduser()
    local = source.exists()
    if not local and not config.hf_token:
        raise MissingDependencyError(
            f"the pyannote pipeline {config.pyannote_pipeline!r} is downloaded from Hugging Face "
            "and needs an access token",
            hint="set [diarize] hf_token (or PODPOST_DIARIZE__HF_TOKEN) after accepting the "
            "model's conditions on huggingface.co, or set [diarize] pyannote_pipeline to a "
            "local folder",
        )
    pipeline = _load_pyannote(Pipeline.from_pretrained, source, local, config)
    import torch

    if torch.cuda.is_available() and hasattr(pipeline, "to"):
        pipeline.to(torch.device("cuda"))  # pyannote runs on CPU unless told otherwise

    def run(
        audio: Path,
        num_speakers: int | None = None,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[SpeakerSpan]:
        samples = torch.from_numpy(load_audio(audio)).unsqueeze(0)
        bounds = (
            {"num_speakers": num_speakers}
            if num_speakers
            else {
                "min_speakers": min_speakers or config.min_speakers,
                "max_speakers": max_speakers or config.max_speakers,
            }
        )
        output = pipeline({"waveform": samples, "sample_rate": SAMPLE_RATE}, **bounds)
        # pyannote.audio 4 wraps the annotation; 3.x returns it directly.
        annotation: Any = getattr(output, "speaker_diarization", output)
        raw = [
            (float(turn.start), float(turn.end), str(label))
            for turn, _, label in annotation.itertracks(yield_label=True)
        ]
        return relabel(raw)

    return run


def _load_pyannote(
    from_pretrained: Callable[..., object], source: Path, local: bool, config: DiarizeConfig
) -> Callable[..., object]:
    target = str(source / "config.yaml") if local and source.is_dir() else str(source)
    if local:
        target = target if Path(target).exists() else str(source)
    try:
        try:
            pipeline = from_pretrained(target, token=config.hf_token)
        except TypeError:  # pyannote.audio 3.x calls it use_auth_token
            pipeline = from_pretrained(target, use_auth_token=config.hf_token)
    except Exception as e:
        raise MissingDependencyError(
            f"cannot load the pyannote pipeline {config.pyannote_pipeline!r}: {e}",
            hint="check [diarize] pyannote_pipeline and hf_token, and that you accepted the "
            "model's conditions on huggingface.co",
        ) from e
    if pipeline is None:  # 3.x returns None when the token cannot access the model
        raise MissingDependencyError(
            f"Hugging Face refused access to {config.pyannote_pipeline!r}",
            hint="accept the model's conditions on huggingface.co and check [diarize] hf_token",
        )
    return pipeline  # type: ignore[return-value]
