"""The turns step as one call: diarize, cut the transcript into turns, name the speakers.

::

    turns = build_turns(episode, transcript, config, client=llm_client)

It sits above :mod:`pipeline.turns.segment` (pure cutting), :mod:`pipeline.turns.diarize`
and :mod:`pipeline.turns.naming`, so none of them imports another's caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.config import Config
from pipeline.errors import InputFileError
from pipeline.models import Episode, Transcript, Turns
from pipeline.turns.diarize import DIARIZERS, speaker_count
from pipeline.turns.naming import apply_names, name_speakers
from pipeline.turns.segment import build_turn_list, caption_speakers


def build_turns(
    episode: Episode,
    transcript: Transcript,
    config: Config,
    *,
    audio_path: Path | None = None,
    client: Any = None,
    diarizer: Any = None,
) -> Turns:
    """The turns step: diarize the audio, cut the transcript into turns, name the speakers.

    The edges are parameters: ``diarizer`` (default: ``[diarize] backend``), ``client`` (the
    LLM client for naming; None names by heuristic) and ``audio_path`` (default: the
    episode's audio file in its folder under ``data_dir``). Captions that name the speaker
    of every cue replace diarization (and naming, unless overridden).
    """
    captioned = caption_speakers(transcript)
    if captioned is not None:
        spans, names = captioned
    else:
        if audio_path is None:
            if not episode.audio_file:
                raise InputFileError(
                    f"episode {episode.id} has no audio file", hint="run `podpost fetch` first"
                )
            audio_path = store.episode_dir(config, episode.id) / episode.audio_file
        diarizer = diarizer or DIARIZERS.get(config.diarize.backend)(config.diarize)
        count = speaker_count(episode, config)
        spans = diarizer(audio_path, count.num, min_speakers=count.low, max_speakers=count.high)
        names = {}
    turns = build_turn_list(transcript, spans, config.turns, captioned=captioned is not None)
    speakers = name_speakers(turns, episode, config.turns, client, captioned=names)
    return Turns(
        language=transcript.language,
        speakers=speakers,
        turns=apply_names(turns, speakers, config.turns.max_turn_chars),
    )
