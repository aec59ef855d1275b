"""A local audio or video file as an episode, with its caption sidecars.

    local_source(source) -> Path | None   # the file a source string names, if it is one
    fetch_local(path, config) -> Episode

The id is ``local-<sha of the file>``: its contents, not its path, so a different recording
exported to the same path is a different episode; the audio is copied into the episode
folder (a file overwritten in place must not change an episode's audio), a video keeps its
audio stream only, and sidecars
``talk.vtt``, ``talk.en.srt``, ``talk.json`` next to ``talk.mp3`` are copied beside it as
``captions.<language>.<ext>``. Errors: ``SourceError`` (no audio, over the limits).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.fetch.episodes import existing, file_digest, save
from pipeline.fetch.media import AUDIO_STEM, only_audio, probe_new, tag_fields
from pipeline.fsutil import copy_atomic
from pipeline.langtags import normalize_language
from pipeline.models import Episode, SubtitleTrack

CAPTION_EXTS = ("vtt", "srt", "json")


def local_source(source: str) -> Path | None:
    """The path ``source`` names when it is an existing local file or folder (no ``://``,
    ``~`` expanded), else None (a URL, or nothing there)."""
    path = Path(source).expanduser()
    return path if "://" not in source and path.exists() else None


def sidecars(path: Path) -> list[tuple[str, Path]]:
    """``talk.vtt``, ``talk.en.srt``, ``talk.json`` next to ``talk.mp3`` -> (language, path);
    the language is ``und`` when the name carries none."""
    found = []
    for candidate in sorted(path.parent.iterdir()):
        if candidate == path or not candidate.is_file():
            continue
        name = candidate.name
        if not name.startswith(path.stem + ".") or candidate.suffix.lstrip(".") not in CAPTION_EXTS:
            continue
        middle = name[len(path.stem) + 1 : -len(candidate.suffix)]
        found.append((normalize_language(middle) or "und", candidate))
    return found


def fetch_local(path: Path, config: Config) -> Episode:
    """The episode for the local audio or video file at ``path`` (see the module docstring);
    the stored one when the same file was fetched before. Raises
    :class:`~pipeline.errors.SourceError` when it has no audio or breaks the duration or size
    limits (and what probing with ffprobe raises)."""
    path = path.resolve()
    episode_id = f"local-{file_digest(path)}"
    if (known := existing(config, episode_id)) is not None:
        return known
    facts = probe_new(str(path), config, None, hint="pass an audio or video file")
    folder = store.episode_dir(config, episode_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{AUDIO_STEM}{path.suffix.lower()}"
    if not target.exists():
        # a copy, not a hard link: a file overwritten in place (``ffmpeg -y``, an editor's
        # export) would otherwise change this episode's audio under its transcript; atomic,
        # so a full disk leaves no part of it behind
        copy_atomic(path, target)
    audio = only_audio(target, facts, folder)
    subtitles = []
    for language, sidecar in sidecars(path):
        ext = sidecar.suffix.lstrip(".")
        name = f"captions.{language}.{ext}"
        shutil.copyfile(sidecar, folder / name)
        subtitles.append(SubtitleTrack(language=language, ext=ext, name=sidecar.name, file=name))
    episode = Episode(
        id=episode_id,
        source=str(path),
        kind="local",
        url=path.as_uri(),
        title=facts.tags.get("title") or path.stem,
        **tag_fields(facts),
        subtitles=subtitles,
        audio_file=audio,
    )
    return save(episode, config)
