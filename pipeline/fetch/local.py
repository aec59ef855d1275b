"""A local audio or video file as an episode, with its caption sidecars.

    local_source(source) -> Path | None   # the file a source string names, if it is one
    fetch_local(path, config) -> Episode

The id is ``local-<sha of the file>``: its contents, not its path, so a different recording
exported to the same path is a different episode; the audio is copied into the episode
folder (a file overwritten in place must not change an episode's audio), a video keeps its
audio stream only, and sidecars
``talk.vtt``, ``talk.en.srt``, ``talk.es.sdh.SRT``, ``talk.json`` next to ``talk.mp3`` are
copied beside it as ``captions.<language>[.<flags>].<ext>`` (see :func:`sidecars`); a
sidecar that is a link to a file outside the media file's folder is not copied.
Errors: ``SourceError`` (no audio, over the limits).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.fetch.episodes import existing, file_digest, save
from pipeline.fetch.media import AUDIO_STEM, only_audio, probe_new, tag_fields
from pipeline.fsutil import copy_atomic
from pipeline.langtags import normalize_language
from pipeline.models import Episode, SubtitleTrack

CAPTION_EXTS = ("vtt", "srt", "json")

log = logging.getLogger(__name__)


def local_source(source: str) -> Path | None:
    """The path ``source`` names when it is an existing local file or folder (no ``://``,
    ``~`` expanded), else None (a URL, or nothing there)."""
    path = Path(source).expanduser()
    return path if "://" not in source and path.exists() else None


# Flags caption tools write between the language and the extension (talk.es.sdh.srt):
# subtitles for the deaf and hard of hearing, closed captions, forced (foreign lines only).
_FLAGS = frozenset({"sdh", "cc", "hi", "forced", "default", "full", "hoh", "sub", "subs"})
_WORSE_FLAGS = frozenset({"forced"})  # only the lines in another language: a poor transcript
_ALSO_LANGUAGE = frozenset({"hi"})  # first after the stem, "hi" is Hindi (talk.hi.srt)


@dataclass(frozen=True)
class Sidecar:
    """A caption file saved beside a local media file: its BCP 47 language (``und`` when
    the name carries none), the flags its name carries (``sdh``, ``forced``, ...), and
    where it is."""

    language: str
    flags: tuple[str, ...]
    path: Path
    target: Path  # the file it is, links followed: what is copied

    @property
    def ext(self) -> str:
        """``vtt``, ``srt`` or ``json``, lower case."""
        return self.path.suffix.lstrip(".").lower()

    @property
    def stored_name(self) -> str:
        """Its name in the episode folder: ``captions.<language>[.<flags>].<ext>``."""
        return store.caption_name(self.language, *self.flags, self.ext)


def _inside(candidate: Path, folder: Path) -> Path | None:
    """The file ``candidate`` is, links followed, when it is a regular file in ``folder``
    (or below it); else None."""
    target = Path(os.path.realpath(candidate))
    inside = target.is_file() and target.is_relative_to(Path(os.path.realpath(folder)))
    return target if inside else None


def sidecars(path: Path) -> list[Sidecar]:
    """Caption files next to ``path`` (``talk.mp3``): ``talk.vtt``, ``talk.en.srt``,
    ``talk.SRT``, ``talk.es.sdh.srt``, ``talk.en.forced.vtt``, ``talk.json``. Names match
    case-insensitively; the first part after the stem that names a language is the
    language, known flags are kept, forced subtitles come last. A link to a file outside
    the folder is not used (it would copy that file into the episode), with a warning."""
    stem = path.stem.casefold()
    found = []
    for candidate in sorted(path.parent.iterdir()):
        name = candidate.name
        ext = candidate.suffix.lstrip(".").lower()
        if candidate == path or ext not in CAPTION_EXTS:
            continue
        head, dot = name[: len(path.stem)], name[len(path.stem) : len(path.stem) + 1]
        if head.casefold() != stem or dot != ".":
            continue
        target = _inside(candidate, path.parent)
        if target is None:
            if candidate.is_symlink():
                log.warning("%s links outside its folder: not used as captions", candidate)
            continue
        middle = name[len(path.stem) + 1 : -len(candidate.suffix)]
        parts = [p.casefold() for p in middle.split(".") if p]
        is_flag = [
            p in _FLAGS and not (i == 0 and p in _ALSO_LANGUAGE) for i, p in enumerate(parts)
        ]
        flags = tuple(p for p, flag in zip(parts, is_flag, strict=True) if flag)
        languages = [
            normalize_language(p) for p, flag in zip(parts, is_flag, strict=True) if not flag
        ]
        language = next((tag for tag in languages if tag), None) or "und"
        found.append(Sidecar(language, flags, candidate, target))
    return sorted(found, key=lambda s: bool(_WORSE_FLAGS & set(s.flags)))


def local_episode_id(path: Path) -> str:
    """The episode id of the local file at ``path``: ``local-<sha of its contents>``."""
    return f"local-{file_digest(path.resolve())}"


def fetch_local(path: Path, config: Config) -> Episode:
    """The episode for the local audio or video file at ``path`` (see the module docstring);
    the stored one when the same file was fetched before. Raises
    :class:`~pipeline.errors.SourceError` when it has no audio or breaks the duration or size
    limits (and what probing with ffprobe raises)."""
    path = path.resolve()
    episode_id = local_episode_id(path)
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
    subtitles: list[SubtitleTrack] = []
    for sidecar in sidecars(path):
        name = sidecar.stored_name
        if any(track.file == name for track in subtitles):
            continue  # talk.srt and talk.SRT both there: the first one
        # the file the link check saw, not the name, which could be made a link since
        shutil.copyfile(sidecar.target, folder / name)
        subtitles.append(
            SubtitleTrack(
                language=sidecar.language, ext=sidecar.ext, name=sidecar.path.name, file=name
            )
        )
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
