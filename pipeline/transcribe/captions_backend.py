"""The ``captions`` and ``auto`` backends: use the transcript a source already has.

Public API:
    CaptionsBackend(config, http=None)
        .find(episode, episode_dir, automatic=None) -> CaptionSource | None
        .transcribe(episode, episode_dir) -> Transcript
    AutoBackend(config, whisper=None)    # captions when a human-made one exists, else whisper

Where captions come from, best first: a sidecar file saved with a local episode; the
source's human-made subtitle track (yt-dlp) in the preferred language; the feed's
Podcasting 2.0 ``<podcast:transcript>``; automatic captions only when
``[asr] automatic_captions`` is true. Downloaded captions are kept in the episode folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.errors import InputFileError, TranscriptionError
from pipeline.fsutil import write_atomic
from pipeline.langtags import language_base, normalize_language
from pipeline.models import Episode, SubtitleTrack, Transcript
from pipeline.textcodec import Decoded, decode_text
from pipeline.transcribe.captions import caption_format, parse_captions
from pipeline.transcribe.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class CaptionSource:
    """A transcript on offer for an episode: what kind, its format and language, and where
    it is (a ``file`` in the episode folder, or a ``url``)."""

    kind: str  # "sidecar" | "subtitles" | "automatic" | "feed"
    fmt: str  # "vtt" | "srt" | "json"
    language: str | None
    file: str | None = None  # inside the episode folder
    url: str | None = None
    name: str | None = None  # what messages call it: the user's own file name, or the URL

    @property
    def label(self) -> str:
        """``kind:language.fmt``, e.g. ``feed:en.vtt``; a transcript's ``model`` field."""
        return f"{self.kind}:{self.language or 'und'}.{self.fmt}"


def _size(count: int) -> str:
    """``20.0 MB`` (MiB) from one MiB up, else ``1500 bytes``."""
    return f"{count / 1024**2:.1f} MB" if count >= 1024**2 else f"{count} bytes"


def _base(language: str | None) -> str:
    return language_base(language) or ""


class CaptionsBackend:
    """The ``captions`` backend: a transcript from captions the episode already has (sidecar
    files, subtitles, the feed's transcript, automatic captions when allowed), no ASR.

    ``http`` replaces the download of a caption URL (``url -> bytes``), for tests.
    """

    name = "captions"

    def __init__(self, config: Config, http: Callable[[str], bytes] | None = None) -> None:
        self.config = config
        self._http = http

    def _get(self, url: str, episode: Episode) -> bytes:
        if self._http is not None:
            return self._http(url)
        from pipeline.fetch.core import http_get
        from pipeline.fetch.urls import UrlPolicy

        # The transcript URL was named by a feed, not typed by the user: the same policy as
        # the enclosure's applies to it and to every redirect on the way; the caption cap
        # holds while it streams.
        policy = UrlPolicy.for_source(episode.source, self.config)
        return http_get(
            url, self.config, policy=policy, cap="asr.max_caption_bytes", what="transcript URL"
        ).head

    def _preferred(self, episode: Episode) -> list[str]:
        wanted = [*self.config.asr.caption_languages, self.config.asr.language, episode.language]
        return [_base(w) for w in wanted if w]

    def _pick(self, tracks: list[SubtitleTrack], episode: Episode) -> SubtitleTrack | None:
        usable = [t for t in tracks if caption_format(t.ext)]
        if not usable:
            return None
        for language in self._preferred(episode):
            for track in usable:
                if _base(track.language) == language:
                    return track
        if len(usable) == 1:
            return usable[0]
        english = [t for t in usable if _base(t.language) == "en"]
        return english[0] if english else usable[0]

    def find(
        self, episode: Episode, episode_dir: Path, automatic: bool | None = None
    ) -> CaptionSource | None:
        """The best transcript on offer; ``automatic`` defaults to ``[asr] automatic_captions``."""
        automatic = self.config.asr.automatic_captions if automatic is None else automatic
        sidecars = [t for t in episode.subtitles if t.file and not t.automatic]
        human = [t for t in episode.subtitles if t.url and not t.file and not t.automatic]
        machine = [t for t in episode.subtitles if t.automatic]
        if (track := self._pick(sidecars, episode)) and (episode_dir / str(track.file)).is_file():
            name = self._sidecar_name(episode, track)
            return CaptionSource("sidecar", str(caption_format(track.ext)), track.language,
                                 file=track.file, name=name)  # fmt: skip
        if track := self._pick(human, episode):
            return CaptionSource("subtitles", str(caption_format(track.ext)), track.language,
                                 url=track.url)  # fmt: skip
        fmt = caption_format(episode.transcript_type) or caption_format(episode.transcript_url)
        if episode.transcript_url and fmt:
            language = episode.transcript_language or episode.language
            return CaptionSource("feed", fmt, language, url=episode.transcript_url)
        if automatic and (track := self._pick(machine, episode)):
            return CaptionSource("automatic", str(caption_format(track.ext)), track.language,
                                 file=track.file, url=track.url)  # fmt: skip
        return None

    @staticmethod
    def _sidecar_name(episode: Episode, track: SubtitleTrack) -> str | None:
        if episode.kind == "local" and track.name:
            return str(Path(episode.source).with_name(track.name))
        return track.name

    def _check_size(self, size: int, name: str) -> None:
        """Refuse a caption file over ``[asr] max_caption_bytes`` before parsing it."""
        cap = self.config.asr.max_caption_bytes
        if size > cap:
            raise InputFileError(
                f"caption file {name} is {_size(size)}, over the {_size(cap)} limit for captions",
                hint="raise [asr] max_caption_bytes if it really is one transcript, "
                "or use --backend whisper",
            )

    def _read(self, source: CaptionSource, episode_dir: Path, episode: Episode) -> Decoded:
        from pipeline.fetch.urls import redact  # a password in the URL stays out of messages

        name = source.name or redact(source.url or "") or str(episode_dir / str(source.file))
        if source.file and (episode_dir / source.file).is_file():
            self._check_size((episode_dir / source.file).stat().st_size, name)
            raw = (episode_dir / source.file).read_bytes()
        elif source.url:
            raw = self._get(source.url, episode)
            self._check_size(len(raw), name)
            stored = store.caption_name(source.kind, source.language or "und", source.fmt)
            write_atomic(episode_dir / stored, raw)  # keep what was used, for review
        else:
            raise TranscriptionError(f"caption file {source.file} is missing from {episode_dir}")
        decoded = decode_text(raw, name, language=normalize_language(source.language))
        if decoded.detected:  # a guess among code pages: say which, so a wrong one is seen
            log.warning(
                "%s is not UTF-8: read as %s (detected); if characters look wrong, save it "
                "as UTF-8", name, decoded.encoding,
            )  # fmt: skip
        return decoded

    def transcribe(
        self, episode: Episode, episode_dir: Path, progress: Progress | None = None
    ) -> Transcript:
        """The episode's transcript from the best captions :meth:`find` sees (seconds, as the
        captions give them); ``progress`` is not used. Raises
        :class:`~pipeline.errors.TranscriptionError` when there are none, ``InputFileError`` when
        they cannot be read, and the fetch errors of a caption URL."""
        source = self.find(episode, episode_dir)
        if source is None and episode.transcript_url:  # the feed's, in a form without times
            kind = episode.transcript_type or "of an unknown type"
            raise TranscriptionError(
                f"episode {episode.id}'s transcript is {kind}, not captions with "
                "times (SRT, WebVTT or Podcasting 2.0 JSON)",
                hint="use --backend whisper (or auto)",
            )
        if source is None:
            raise TranscriptionError(
                f"episode {episode.id} has no human-made transcript or subtitles",
                hint="use --backend whisper (or auto), or set asr.automatic_captions = true",
            )
        decoded = self._read(source, episode_dir, episode)
        segments = parse_captions(decoded.text, source.fmt, duration=episode.duration)
        language = (
            normalize_language(source.language)
            or normalize_language(episode.language)
            or normalize_language(self.config.asr.language)
            or "en"
        )
        return Transcript(
            language=language,
            backend=self.name,
            model=source.label,
            segments=segments,
            encoding=decoded.encoding,
        )


class AutoBackend:
    """Captions when a human-made transcript exists (cheap, exact), else whisper."""

    name = "auto"

    def __init__(self, config: Config, whisper: object | None = None) -> None:
        self.config = config
        self.captions = CaptionsBackend(config)
        self._whisper = whisper

    def transcribe(
        self, episode: Episode, episode_dir: Path, progress: Progress | None = None
    ) -> Transcript:
        """The captions backend's transcript when a human-made one exists (automatic captions
        are not used), else the whisper backend's; raises what the chosen backend raises."""
        if self.captions.find(episode, episode_dir, automatic=False) is not None:
            return self.captions.transcribe(episode, episode_dir)
        if self._whisper is None:
            from pipeline.transcribe.whisper_backend import WhisperBackend

            self._whisper = WhisperBackend(self.config)
        return self._whisper.transcribe(episode, episode_dir, progress)  # type: ignore[attr-defined]
