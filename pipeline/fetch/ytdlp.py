"""Everything that goes through yt-dlp: sites it knows, generic pages, media downloads.

    fetch_ytdlp(url, config, progress, ie, policy=None) -> Episode   # metadata, audio,
                                                         # subtitle tracks
    playlist_entries(url, config) -> list[dict]          # flat: source, guid, title, date,
                                                         # duration (seconds)
    specific_extractor(url) -> extractor class | None    # not the generic one
    classify_ytdlp_error(message, url) -> PodpostError   # yt-dlp message -> our error
    ytdlp_options(config, **extra) -> dict

yt-dlp's own retries are off: :func:`pipeline.fetch.http.with_retries` is the one retry
layer (``[fetch] retries``), and ``socket_timeout`` is ``[fetch] timeout``. Every request
yt-dlp makes goes through podpost's guarded client (:mod:`pipeline.fetch.ytdlp_net`): the URL
policy checks it and each redirect, and a URL's password is added there for its own origin
only, never in the URL or headers yt-dlp sees or reports. ffprobe reads only the downloaded
file, or bytes podpost fetched itself.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pipeline import store
from pipeline.config import Config
from pipeline.errors import NetworkError, PodpostError, SourceError, UsageError
from pipeline.faults import is_disk_full
from pipeline.fetch.episodes import digest, existing, language_tag, parse_date, safe_id, save
from pipeline.fetch.http import USER_AGENT, with_retries
from pipeline.fetch.media import (
    AUDIO_STEM,
    ProgressHook,
    check_limits,
    only_audio,
    probe_media,
    probe_remote,
)
from pipeline.fetch.urls import UrlPolicy, redact, strip_userinfo
from pipeline.fsutil import storage_error
from pipeline.models import Chapter, Episode, SubtitleTrack

T = TypeVar("T")

_GENERIC_EXTRACTORS = {"generic", "html5mediaembed"}


class _Logger:
    """yt-dlp talks a lot; podpost reports through its own errors instead."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


def ytdlp_options(config: Config, url: str | None = None, **extra: Any) -> dict[str, Any]:
    """yt-dlp's options for podpost (no password: the guarded client adds it per origin)."""
    headers = {"User-Agent": USER_AGENT}
    options: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Logger(),
        "socket_timeout": config.fetch.timeout,
        "retries": 0,  # with_retries retries whole calls, with backoff
        "extractor_retries": 0,
        "fragment_retries": 3,
        "noplaylist": True,
        "format": "bestaudio/best",
        "max_filesize": config.fetch.max_bytes,
        "hls_prefer_native": True,
        "cachedir": False,
        "http_headers": headers,
    }
    options.update(extra)
    return options


_YTDLP_PATTERNS: list[tuple[str, type[PodpostError], str, str]] = [
    (r"private video|sign in|members[- ]only|login required|http error 40[13]",
     SourceError, "is private or needs sign-in", "use a public URL"),
    (r"video unavailable|has been removed|no longer available|account .*terminated|"
     r"http error 410|this video is not available",
     SourceError, "is removed or unavailable", "check the URL"),
    (r"http error 404|not found", SourceError, "is not found (HTTP 404)", "check the URL"),
    (r"requested format is not available|no audio",
     SourceError, "has no audio stream", "pick a source with sound"),
    (r"unsupported url|no video formats found|no media|unable to extract",
     SourceError, "holds no media yt-dlp can find", "pass the page or file that has the audio"),
    (r"failed to resolve|name or service not known|nodename nor servname|getaddrinfo failed",
     NetworkError, "could not be reached (its host name does not resolve)",
     "check the network connection and the host name"),
    (r"http error (429|5\d\d)|timed out|connection (reset|refused|aborted)|temporary failure|"
     r"remote end closed|incomplete read|network is unreachable",
     NetworkError, "could not be reached", "try again later"),
]  # fmt: skip


def classify_ytdlp_error(message: str, url: str) -> PodpostError:
    """Turn a yt-dlp error message into our one-line error (first matching pattern wins)."""
    url = redact(url)
    text = redact(re.sub(r"^ERROR:\s*", "", message.strip()))
    lower = text.lower()
    for pattern, cls, what, hint in _YTDLP_PATTERNS:
        if re.search(pattern, lower):
            return cls(f"{url} {what}", hint=hint)
    return SourceError(f"{url}: {text.splitlines()[0][:200]}", hint="check the URL")


def ytdlp_call(url: str, fn: Callable[[], T], ydl: Any = None) -> T:
    """``fn()`` with yt-dlp's errors translated into ours (see classify_ytdlp_error); a
    podpost error met in yt-dlp's networking (a refused redirect) comes out as itself."""
    from yt_dlp.utils import DownloadError, ExtractorError

    from pipeline.fetch.ytdlp_net import podpost_error

    if ydl is not None and hasattr(ydl, "podpost_errors"):
        ydl.podpost_errors.clear()  # only this attempt's
    try:
        return fn()
    except PodpostError:
        raise
    except Exception as e:
        ours = podpost_error(e, ydl)
        if ours is not None:
            raise ours from e
        if isinstance(e, (DownloadError, ExtractorError)):
            raise classify_ytdlp_error(str(e), url) from e
        raise


def _ydl(options: dict[str, Any], config: Config, policy: UrlPolicy | None, url: str) -> Any:
    from pipeline.fetch.ytdlp_net import guarded_ydl

    return guarded_ydl(options, config, policy or UrlPolicy.for_source(url, config), url)


def specific_extractor(url: str) -> Any | None:
    """The yt-dlp extractor class for ``url`` other than the generic one, if any."""
    from yt_dlp.extractor import gen_extractor_classes

    for ie in gen_extractor_classes():
        if ie.ie_key() != "Generic" and ie.suitable(url) and ie.working():
            return ie
    return None


def _track(lang: str, formats: list[dict[str, Any]], automatic: bool) -> SubtitleTrack | None:
    if not formats:
        return None
    by_ext = {f.get("ext"): f for f in formats}
    chosen = next((by_ext[e] for e in ("vtt", "srt", "json") if e in by_ext), formats[0])
    return SubtitleTrack(
        language=lang if lang.lower().endswith("-orig") else language_tag(lang) or lang,
        ext=str(chosen.get("ext") or "vtt"),
        url=chosen.get("url"),
        name=chosen.get("name"),
        automatic=automatic,
    )


def _subtitle_tracks(info: dict[str, Any], language: str | None) -> list[SubtitleTrack]:
    tracks = []
    for lang, formats in sorted((info.get("subtitles") or {}).items()):
        if lang != "live_chat" and (track := _track(lang, formats, automatic=False)):
            tracks.append(track)
    # automatic captions come machine-translated into ~100 languages: keep the original only
    for lang, formats in sorted((info.get("automatic_captions") or {}).items()):
        if (lang.endswith("-orig") or lang == language) and (
            track := _track(lang, formats, automatic=True)
        ):
            tracks.append(track)
    return tracks


def info_date(info: dict[str, Any]) -> dt.date | None:
    """The release (else upload) date of a yt-dlp info dict."""
    for key in ("release_date", "upload_date"):
        if parsed := parse_date(info.get(key)):
            return parsed
    for key in ("release_timestamp", "timestamp"):
        if info.get(key):
            return dt.datetime.fromtimestamp(info[key], tz=dt.UTC).date()
    return None


def _title(info: dict[str, Any]) -> str:
    title = str(info.get("title") or "")
    # yt-dlp numbers the media elements of a page: "Page title (1)"
    if info.get("extractor_key") == "HTML5MediaEmbed":
        title = re.sub(r" \(\d+\)$", "", title)
    return title


def _download(
    url: str,
    folder: Path,
    config: Config,
    progress: ProgressHook | None,
    run: Callable,
    policy: UrlPolicy | None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    options = ytdlp_options(
        config,
        url,
        outtmpl={"default": str(folder / f"{AUDIO_STEM}.%(ext)s")},
        progress_hooks=[progress] if progress else [],
    )
    try:
        with _ydl(options, config, policy, url) as ydl:
            done = with_retries(config, ytdlp_call, url, lambda: run(ydl), ydl)
    except PodpostError as e:
        if not _disk_full(e):
            raise
        # a part downloaded onto a full disk is no download to resume: nothing stays
        parts = [p for p in folder.glob(f"{AUDIO_STEM}.*") if p.suffix in (".part", ".ytdl")]
        for part in parts:
            part.unlink(missing_ok=True)
        target = parts[0].with_suffix("") if parts else folder / AUDIO_STEM
        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise storage_error(target, full) from e
    downloads = done.get("requested_downloads") or [{}]
    path = Path(downloads[0].get("filepath") or downloads[0].get("_filename") or "")
    if not path.is_file():
        raise SourceError(
            f"yt-dlp reported no file for {redact(url)}", hint="try again or report it"
        )
    return path


def fetch_ytdlp(
    url: str,
    config: Config,
    progress: ProgressHook | None,
    ie: Any | None,
    policy: UrlPolicy | None = None,
) -> Episode:
    """A page or site yt-dlp reads (``ie``: its specific extractor, None for generic pages);
    ``policy`` checks every URL the page names. Errors: ``SourceError``, ``NetworkError``,
    ``UsageError`` (a playlist or channel)."""
    policy = policy or UrlPolicy.for_source(url, config)
    return _fetch_ytdlp(url, config, progress, ie, policy)


def _disk_full(e: PodpostError) -> bool:
    """Whether the yt-dlp error behind ``e`` is a full disk: yt-dlp keeps the ``OSError``
    in its ``DownloadError.exc_info``, its message says "No space left on device"."""
    cause = e.__cause__
    inner = getattr(cause, "exc_info", None)
    original = inner[1] if inner and inner[1] is not None else cause
    return (original is not None and is_disk_full(original)) or (
        "no space left on device" in str(cause).lower()
    )


def _fetch_ytdlp(
    url: str, config: Config, progress: ProgressHook | None, ie: Any | None, policy: UrlPolicy
) -> Episode:
    shown = redact(url)
    if ie is not None:
        temp_id = ie.get_temp_id(url)
        if temp_id and (known := existing(config, f"{ie.ie_key().lower()}-{safe_id(temp_id)}")):
            return known
    clean = strip_userinfo(url)
    with _ydl(ytdlp_options(config, url), config, policy, url) as ydl:
        info = with_retries(
            config, ytdlp_call, url, lambda: ydl.extract_info(clean, download=False), ydl
        )
    if info.get("_type") in ("playlist", "multi_video"):
        raise UsageError(
            f"{shown} is a playlist or channel, not one episode",
            hint="use `podpost ingest` (or pipeline.fetch.feeds.list_feed) to take its episodes",
        )
    extractor = str(info.get("extractor_key") or "generic").lower()
    if extractor in _GENERIC_EXTRACTORS:  # their ids are file names, not unique
        episode_id = f"url-{digest(shown)}"
    else:
        episode_id = f"{extractor}-{safe_id(str(info['id']))}"
    if (known := existing(config, episode_id)) is not None:
        return known

    formats = list(info.get("requested_formats") or [info])
    if all(f.get("acodec") == "none" for f in formats):
        raise SourceError(f"{shown} has no audio stream", hint="pick a source with sound")
    duration = info.get("duration")
    sizes = [int(f.get("filesize") or f.get("filesize_approx") or 0) for f in formats]
    size = sum(sizes) if all(sizes) else None
    media_url = formats[0].get("url")
    remote_http = str(formats[0].get("protocol", "http")) in ("http", "https")
    if (duration is None or size is None) and media_url and remote_http:
        # generic pages: sizes come from the file itself, its first MiB piped to ffprobe
        try:
            facts = probe_remote(media_url, config, policy)
        except SourceError as e:
            if "is not a media file" not in e.message:
                raise
            facts = None  # an MP4 with its index at the end: checked once downloaded
        if facts is not None and not facts.has_audio:
            raise SourceError(f"{shown} has no audio stream", hint="pick a source with sound")
        if facts is not None:
            duration = duration if duration is not None else facts.duration
            size = size if size is not None else facts.size
    check_limits(url, config, duration, size)

    folder = store.episode_dir(config, episode_id)
    path = _download(
        url,
        folder,
        config,
        progress,
        lambda ydl: ydl.process_ie_result(dict(info), download=True),
        policy,
    )
    local = probe_media(path, config)
    if duration is None or not local.has_audio:  # what the first MiB could not tell
        try:
            if not local.has_audio:
                raise SourceError(f"{shown} has no audio stream", hint="pick a source with sound")
            check_limits(url, config, local.duration, path.stat().st_size)
        except SourceError:
            path.unlink(missing_ok=True)
            raise
        duration = local.duration
    episode = Episode(
        id=episode_id,
        source=shown,
        kind="ytdlp",
        url=redact(info.get("webpage_url") or url),
        title=_title(info),
        show=info.get("series") or info.get("channel") or info.get("uploader") or "",
        uploader=info.get("uploader") or info.get("channel") or "",
        date=info_date(info),
        description=info.get("description") or "",
        duration=duration,
        language=language_tag(info.get("language")),
        chapters=[
            Chapter(start=c["start_time"], end=c.get("end_time"), title=c.get("title") or "")
            for c in info.get("chapters") or []
        ],
        subtitles=_subtitle_tracks(info, info.get("language")),
        audio_file=only_audio(path, local, folder),
    )
    return save(episode, config)


def playlist_entries(url: str, config: Config) -> list[dict[str, Any]]:
    """Every episode of a yt-dlp playlist, channel or page with several media, flat (no
    request per video): dicts with ``source``, ``guid``, ``title``, ``date``, ``duration``.
    A single video gives one entry."""
    options = ytdlp_options(config, url, extract_flat="in_playlist", noplaylist=False)
    clean = strip_userinfo(url)
    with _ydl(options, config, None, url) as ydl:
        info = with_retries(
            config, ytdlp_call, url, lambda: ydl.extract_info(clean, download=False), ydl
        )
    entries = info.get("entries") if info.get("_type") in ("playlist", "multi_video") else [info]
    items = []
    for entry in entries or []:
        if not entry:
            continue
        if entry.get("_type") in ("url", "url_transparent"):  # flat: a page per video
            source = entry.get("url") or url
        elif entry.get("webpage_url") not in (None, url, clean):
            source = entry["webpage_url"]
        else:  # media embedded in the listed page itself: its own URL
            source = entry.get("url") or url
        source = redact(source)
        items.append(
            {
                "source": source,
                "guid": str(entry.get("id") or source),
                "title": entry.get("title") or "",
                "date": info_date(entry),
                "duration": entry.get("duration"),
            }
        )
    return items
