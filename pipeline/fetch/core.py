"""Fetch: any episode source -> an ``Episode`` and its audio in ``<data>/episodes/<id>/``.

Public API:
    fetch_episode(source, config, *, item=None, progress=None) -> Episode
        ``source`` is a URL yt-dlp supports, a direct media URL, a podcast RSS feed (``item``
        picks the entry by guid, 1-based index or title; default the newest), or a local file.
        Idempotent: when the episode folder already holds episode.json and its audio, nothing
        is downloaded again. ``progress`` receives yt-dlp's progress-hook dicts.
    episode_dir_for(config, episode) -> Path
    http_get(url, config, *, limit=None) -> HttpResponse        # retried, errors translated
    probe_media(path_or_url, timeout) -> MediaFacts              # ffprobe
    classify_ytdlp_error(message, url) -> PodpostError           # yt-dlp message -> our error

Every failure is a ``SourceError`` (permanent: 404, private, removed, no media, no audio,
no such feed item, over the configured limits), a ``NetworkError`` (retried with
exponential backoff, ``[fetch] retries`` times) or a ``UsageError`` (bad source string).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from pipeline import store
from pipeline.config import Config
from pipeline.errors import NetworkError, PodpostError, SourceError, UsageError
from pipeline.models import Chapter, Episode, SubtitleTrack
from pipeline.tools import run_tool

ProgressHook = Callable[[dict[str, Any]], None]
T = TypeVar("T")

USER_AGENT = "podpost/0.1 (+https://github.com/podpost)"
AUDIO_STEM = "audio"
CAPTION_EXTS = ("vtt", "srt", "json")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml")
_MEDIA_MAGIC = (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"RIFF", b"OggS", b"fLaC",
                b"\x1aE\xdf\xa3")  # fmt: skip


# --- retries and HTTP --------------------------------------------------------------------


def with_retries(config: Config, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``, retrying retryable errors with exponential backoff; others pass through."""
    retrying = Retrying(
        retry=retry_if_exception(lambda e: getattr(e, "retryable", False)),
        stop=stop_after_attempt(config.fetch.retries + 1),
        wait=wait_exponential(multiplier=config.fetch.retry_wait, max=60),
        reraise=True,
    )
    return retrying(fn, *args, **kwargs)


def _http_error(url: str, status: int, reason: str = "") -> PodpostError:
    if status in (404, 410):
        what = "not found" if status == 404 else "gone (removed)"
        return SourceError(f"{url} is {what} (HTTP {status})", hint="check the URL")
    if status in (401, 403):
        return SourceError(
            f"{url} is private or needs sign-in (HTTP {status})",
            hint="use a public URL or download the file yourself and pass its path",
        )
    if status == 429 or status >= 500:
        return NetworkError(
            f"{url} answered HTTP {status} {reason}".strip(), hint="try again later"
        )
    return SourceError(f"{url} answered HTTP {status} {reason}".strip(), hint="check the URL")


@dataclass
class HttpResponse:
    url: str  # after redirects
    content_type: str
    length: int | None
    filename: str | None  # from Content-Disposition
    head: bytes  # the first bytes (all of them when read whole)


def _open(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise _http_error(url, e.code, str(e.reason)) from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise NetworkError(
            f"cannot reach {url}: {reason}", hint="check the connection and try again"
        ) from e


def _get_once(url: str, timeout: float, limit: int | None) -> HttpResponse:
    with _open(url, timeout) as response:
        headers = response.headers
        length = headers.get("Content-Length")
        disposition = headers.get("Content-Disposition") or ""
        match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
        try:
            head = response.read(limit) if limit is not None else response.read()
        except (TimeoutError, ConnectionError) as e:
            raise NetworkError(f"reading {url} failed: {e}", hint="try again") from e
        return HttpResponse(
            url=response.geturl(),
            content_type=(headers.get("Content-Type") or "").split(";")[0].strip().lower(),
            length=int(length) if length and length.isdigit() else None,
            filename=urllib.parse.unquote(match.group(1)) if match else None,
            head=head,
        )


def http_get(url: str, config: Config, *, limit: int | None = None) -> HttpResponse:
    """GET ``url`` (only its first ``limit`` bytes when given), retrying transient failures."""
    return with_retries(config, _get_once, url, config.fetch.timeout, limit)


# --- ffprobe --------------------------------------------------------------------------


@dataclass
class MediaFacts:
    duration: float | None = None
    has_audio: bool = False
    has_video: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # lower-case keys
    chapters: list[Chapter] = field(default_factory=list)
    size: int | None = None


def _ffprobe_once(target: str, timeout: float) -> MediaFacts:
    command = ["ffprobe", "-v", "error", "-print_format", "json"]
    if "://" in target:
        command += ["-rw_timeout", str(int(timeout * 1_000_000)), "-user_agent", USER_AGENT]
    command += ["-show_format", "-show_streams", "-show_chapters", target]
    try:
        done = run_tool(command, capture_output=True, text=True, timeout=timeout * 4)
    except subprocess.TimeoutExpired as e:
        raise NetworkError(f"probing {target} timed out", hint="try again") from e
    if done.returncode != 0:
        error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "ffprobe failed"
        status = re.search(r"(?:HTTP error|Server returned) (\d{3})", done.stderr)
        if status:
            raise _http_error(target, int(status.group(1)))
        if re.search(r"\b5\d\d\b|Connection refused|timed out|reset by peer", done.stderr):
            raise NetworkError(f"cannot reach {target}: {error}", hint="try again later")
        raise SourceError(f"{target} is not a media file ({error})", hint="check the source")
    data = json.loads(done.stdout or "{}")
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    tags = {k.lower(): str(v) for k, v in (fmt.get("tags") or {}).items()}
    for stream in streams:  # some containers keep title/language on the stream
        for key, value in (stream.get("tags") or {}).items():
            tags.setdefault(key.lower(), str(value))
    durations = [fmt.get("duration")] + [s.get("duration") for s in streams]
    duration = next((float(d) for d in durations if d not in (None, "N/A")), None)
    chapters = [
        Chapter(
            start=float(c["start_time"]),
            end=float(c["end_time"]) if c.get("end_time") else None,
            title=str((c.get("tags") or {}).get("title", "")).strip() or f"Chapter {i + 1}",
        )
        for i, c in enumerate(data.get("chapters", []))
    ]
    size = fmt.get("size")
    video_codecs = {"mjpeg", "png", "bmp", "gif"}  # cover art is a "video" stream; not video
    return MediaFacts(
        duration=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        has_video=any(
            s.get("codec_type") == "video"
            and s.get("codec_name") not in video_codecs
            and not (s.get("disposition") or {}).get("attached_pic")
            for s in streams
        ),
        tags=tags,
        chapters=chapters,
        size=int(size) if size and str(size).isdigit() else None,
    )


def probe_media(target: str | Path, config: Config) -> MediaFacts:
    return with_retries(config, _ffprobe_once, str(target), config.fetch.timeout)


# --- limits and ids -------------------------------------------------------------------


def _hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def check_limits(source: str, config: Config, duration: float | None, size: int | None) -> None:
    """Refuse, before downloading, media longer or larger than the configured caps."""
    if duration is not None and duration > config.fetch.max_duration:
        raise SourceError(
            f"{source} is {_hms(duration)} long, over the limit of "
            f"{_hms(config.fetch.max_duration)}",
            hint="raise [fetch] max_duration to allow it",
        )
    if size is not None and size > config.fetch.max_bytes:
        raise SourceError(
            f"{source} is {size / 1e6:.1f} MB, over the limit of "
            f"{config.fetch.max_bytes / 1e6:.1f} MB",
            hint="raise [fetch] max_bytes to allow it",
        )


def _digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or _digest(text)


def episode_dir_for(config: Config, episode: Episode) -> Path:
    return store.episode_dir(config, episode.id)


def _existing(config: Config, episode_id: str) -> Episode | None:
    """The stored episode when its folder is complete: this is what makes fetch idempotent."""
    folder = store.episode_dir(config, episode_id)
    path = folder / store.EPISODE_FILE
    if not path.is_file():
        return None
    episode = store.load(path, Episode)
    if episode.audio_file and (folder / episode.audio_file).is_file():
        return episode
    return None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    value = value.strip()
    for pattern, fmt in ((r"\d{8}", "%Y%m%d"), (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d")):
        match = re.match(pattern, value)
        if match:
            with contextlib.suppress(ValueError):
                return dt.datetime.strptime(match.group(0), fmt).date()
    return None


# --- audio into the episode folder ----------------------------------------------------


def _only_audio(path: Path, facts: MediaFacts, folder: Path) -> str:
    """Keep the audio stream only: a muxed file becomes ``audio.mka`` (stream copy, no loss)."""
    if not facts.has_video:
        return path.name
    target = folder / f"{AUDIO_STEM}.mka"
    tmp = folder / f".{AUDIO_STEM}.tmp.mka"
    command = ["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map", "0:a:0", "-vn"]
    command += ["-c:a", "copy", str(tmp)]
    done = run_tool(command, capture_output=True, text=True)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"cannot extract the audio of {path}: {done.stderr.strip()[-200:]}")
    os.replace(tmp, target)
    if path != target:
        path.unlink(missing_ok=True)
    return target.name


def _save(episode: Episode, config: Config) -> Episode:
    store.save(store.episode_dir(config, episode.id) / store.EPISODE_FILE, episode)
    return episode


# --- local files ----------------------------------------------------------------------


def _sidecars(path: Path) -> list[tuple[str, Path]]:
    """``talk.vtt``, ``talk.en.srt``, ``talk.json`` next to ``talk.mp3`` -> (language, path)."""
    found = []
    for candidate in sorted(path.parent.iterdir()):
        if candidate == path or not candidate.is_file():
            continue
        name = candidate.name
        if not name.startswith(path.stem + ".") or candidate.suffix.lstrip(".") not in CAPTION_EXTS:
            continue
        middle = name[len(path.stem) + 1 : -len(candidate.suffix)]
        language = middle if re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?", middle) else ""
        found.append((language or "und", candidate))
    return found


def _probe_new(source: str, config: Config, size: int | None, hint: str) -> MediaFacts:
    """Probe media not fetched before; refuse it before any copy or download if it has no
    audio or breaks the duration/size limits."""
    facts = probe_media(source, config)
    if not facts.has_audio:
        raise SourceError(f"{source} has no audio stream", hint=hint)
    check_limits(source, config, facts.duration, size)
    return facts


def _tag_fields(facts: MediaFacts) -> dict[str, Any]:
    """Episode fields from a media file's own tags (ID3, MP4, Matroska), the same for a
    local file and a direct URL."""
    tags = facts.tags
    return {
        "show": tags.get("album") or tags.get("show") or "",
        "uploader": tags.get("artist") or tags.get("album_artist") or "",
        "date": _date(tags.get("date") or tags.get("creation_time")),
        "description": tags.get("comment") or tags.get("description") or "",
        "duration": facts.duration,
        "language": _language(tags.get("language")),
        "chapters": facts.chapters,
    }


def _fetch_local(path: Path, config: Config) -> Episode:
    path = path.resolve()
    episode_id = f"local-{_file_digest(path)}"
    existing = _existing(config, episode_id)
    if existing:
        return existing
    facts = _probe_new(str(path), config, None, hint="pass an audio or video file")
    folder = store.episode_dir(config, episode_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{AUDIO_STEM}{path.suffix.lower()}"
    if not target.exists():
        tmp = folder / f".{target.name}.tmp"
        try:
            os.link(path, tmp)  # a hard link costs no space; copy across file systems
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    audio = _only_audio(target, facts, folder)
    subtitles = []
    for language, sidecar in _sidecars(path):
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
        **_tag_fields(facts),
        subtitles=subtitles,
        audio_file=audio,
    )
    return _save(episode, config)


def _language(value: str | None) -> str | None:
    """ISO 639-1 from what containers and sites write (``en``, ``en-US``, ``eng``)."""
    if not value:
        return None
    value = value.strip().lower().replace("_", "-")
    three = {"eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es",
             "ita": "it", "por": "pt", "jpn": "ja", "zho": "zh", "chi": "zh", "rus": "ru",
             "kor": "ko", "nld": "nl", "dut": "nl"}  # fmt: skip
    base = value.split("-")[0]
    if base in three:
        return three[base]
    return base if re.fullmatch(r"[a-z]{2}", base) else None


# --- yt-dlp ---------------------------------------------------------------------------


class _Logger:
    """yt-dlp talks a lot; podpost reports through its own errors instead."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


def ytdlp_options(config: Config, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Logger(),
        "socket_timeout": config.fetch.timeout,
        "retries": 0,  # tenacity retries whole calls, with backoff
        "extractor_retries": 0,
        "fragment_retries": 3,
        "noplaylist": True,
        "format": "bestaudio/best",
        "cachedir": False,
        "http_headers": {"User-Agent": USER_AGENT},
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
    text = re.sub(r"^ERROR:\s*", "", message.strip())
    lower = text.lower()
    for pattern, cls, what, hint in _YTDLP_PATTERNS:
        if re.search(pattern, lower):
            return cls(f"{url} {what}", hint=hint)
    return SourceError(f"{url}: {text.splitlines()[0][:200]}", hint="check the URL")


def ytdlp_call(url: str, fn: Callable[[], T]) -> T:
    from yt_dlp.utils import DownloadError, ExtractorError

    try:
        return fn()
    except (DownloadError, ExtractorError) as e:
        raise classify_ytdlp_error(str(e), url) from e


_GENERIC_EXTRACTORS = {"generic", "html5mediaembed"}


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
        language=lang,
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
    for key in ("release_date", "upload_date"):
        if parsed := _date(info.get(key)):
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


def _selected_formats(info: dict[str, Any]) -> list[dict[str, Any]]:
    return list(info.get("requested_formats") or [info])


def _fetch_ytdlp(
    url: str, config: Config, progress: ProgressHook | None, ie: Any | None
) -> Episode:
    from yt_dlp import YoutubeDL

    if ie is not None:
        temp_id = ie.get_temp_id(url)
        if temp_id:
            existing = _existing(config, f"{ie.ie_key().lower()}-{_safe_id(temp_id)}")
            if existing:
                return existing
    with YoutubeDL(ytdlp_options(config)) as ydl:
        info = with_retries(config, ytdlp_call, url, lambda: ydl.extract_info(url, download=False))
    if info.get("_type") in ("playlist", "multi_video"):
        raise UsageError(
            f"{url} is a playlist or channel, not one episode",
            hint="use `podpost ingest` (or pipeline.fetch.feeds.list_feed) to take its episodes",
        )
    extractor = str(info.get("extractor_key") or "generic").lower()
    if extractor in _GENERIC_EXTRACTORS:  # their ids are file names, not unique
        episode_id = f"url-{_digest(url)}"
    else:
        episode_id = f"{extractor}-{_safe_id(str(info['id']))}"
    existing = _existing(config, episode_id)
    if existing:
        return existing

    formats = _selected_formats(info)
    if all(f.get("acodec") == "none" for f in formats):
        raise SourceError(f"{url} has no audio stream", hint="pick a source with sound")
    duration = info.get("duration")
    sizes = [int(f.get("filesize") or f.get("filesize_approx") or 0) for f in formats]
    size = sum(sizes) if all(sizes) else None
    media_url = formats[0].get("url")
    remote_http = str(formats[0].get("protocol", "http")) in ("http", "https")
    if (duration is None or size is None) and media_url and remote_http:
        facts = probe_media(media_url, config)  # generic pages: sizes come from the file itself
        if not facts.has_audio:
            raise SourceError(f"{url} has no audio stream", hint="pick a source with sound")
        duration = duration if duration is not None else facts.duration
        size = size if size is not None else facts.size
    check_limits(url, config, duration, size)

    folder = store.episode_dir(config, episode_id)
    folder.mkdir(parents=True, exist_ok=True)
    options = ytdlp_options(
        config,
        outtmpl={"default": str(folder / f"{AUDIO_STEM}.%(ext)s")},
        progress_hooks=[progress] if progress else [],
    )
    with YoutubeDL(options) as ydl:
        done = with_retries(
            config, ytdlp_call, url, lambda: ydl.process_ie_result(dict(info), download=True)
        )
    downloads = done.get("requested_downloads") or [{}]
    path = Path(downloads[0].get("filepath") or downloads[0].get("_filename") or "")
    if not path.is_file():
        raise SourceError(f"yt-dlp reported no file for {url}", hint="try again or report it")
    audio = _only_audio(path, probe_media(path, config), folder)

    language = _language(info.get("language"))
    episode = Episode(
        id=episode_id,
        source=url,
        kind="ytdlp",
        url=info.get("webpage_url") or url,
        title=_title(info),
        show=info.get("series") or info.get("channel") or info.get("uploader") or "",
        uploader=info.get("uploader") or info.get("channel") or "",
        date=info_date(info),
        description=info.get("description") or "",
        duration=duration,
        language=language,
        chapters=[
            Chapter(start=c["start_time"], end=c.get("end_time"), title=c.get("title") or "")
            for c in info.get("chapters") or []
        ],
        subtitles=_subtitle_tracks(info, info.get("language")),
        audio_file=audio,
    )
    return _save(episode, config)


def download_media(
    url: str, folder: Path, config: Config, progress: ProgressHook | None = None
) -> Path:
    """Download one media URL with yt-dlp into ``folder/audio.<ext>`` (resumes a .part)."""
    from yt_dlp import YoutubeDL

    folder.mkdir(parents=True, exist_ok=True)
    options = ytdlp_options(
        config,
        outtmpl={"default": str(folder / f"{AUDIO_STEM}.%(ext)s")},
        progress_hooks=[progress] if progress else [],
        force_generic_extractor=True,
    )
    with YoutubeDL(options) as ydl:
        info = with_retries(config, ytdlp_call, url, lambda: ydl.extract_info(url))
    downloads = info.get("requested_downloads") or [{}]
    path = Path(downloads[0].get("filepath") or "")
    if not path.is_file():
        raise SourceError(f"yt-dlp reported no file for {url}", hint="try again or report it")
    return path


# --- direct media and feeds -----------------------------------------------------------


def looks_like_feed(response: HttpResponse) -> bool:
    if response.content_type in _FEED_TYPES:
        return True
    start = response.head.lstrip()[:512].lower()
    return (start.startswith(b"<?xml") and (b"<rss" in start or b"<feed" in start)) or (
        start.startswith((b"<rss", b"<feed"))
    )


def _looks_like_media(response: HttpResponse) -> bool:
    kind = response.content_type
    if kind.startswith(("audio/", "video/")) or kind == "application/ogg":
        return True
    head = response.head
    return head.startswith(_MEDIA_MAGIC) or head[4:8] == b"ftyp"


def _url_title(url: str, filename: str | None) -> str:
    name = filename or urllib.parse.unquote(Path(urllib.parse.urlparse(url).path).name)
    return Path(name).stem or url


def _fetch_direct(url: str, response: HttpResponse, config: Config, progress: Any) -> Episode:
    episode_id = f"url-{_digest(url)}"
    existing = _existing(config, episode_id)
    if existing:
        return existing
    facts = _probe_new(url, config, response.length, hint="pick a source with sound")
    folder = store.episode_dir(config, episode_id)
    path = download_media(url, folder, config, progress)
    episode = Episode(
        id=episode_id,
        source=url,
        kind="direct",
        url=url,
        title=facts.tags.get("title") or _url_title(url, response.filename),
        **_tag_fields(facts),
        audio_file=_only_audio(path, facts, folder),
    )
    return _save(episode, config)


def _fetch_feed(
    url: str, body: bytes, item: str | None, config: Config, progress: ProgressHook | None
) -> Episode:
    from pipeline.fetch.feeds import parse_feed, select_item

    feed = parse_feed(body, url)
    entry = select_item(feed, item, url)
    episode_id = f"feed-{_digest(entry.guid)}"
    existing = _existing(config, episode_id)
    if existing:
        return existing
    if not entry.enclosure_url:
        raise SourceError(f"feed item {entry.title!r} has no enclosure", hint="pick another item")
    media = http_get(entry.enclosure_url, config, limit=16)  # 404 before anything heavy
    facts = probe_media(media.url, config)
    if not facts.has_audio:
        raise SourceError(
            f"the enclosure of {entry.title!r} has no audio stream", hint="pick another item"
        )
    check_limits(
        entry.enclosure_url,
        config,
        entry.duration if entry.duration is not None else facts.duration,
        media.length or entry.enclosure_length,
    )
    folder = store.episode_dir(config, episode_id)
    path = download_media(entry.enclosure_url, folder, config, progress)
    episode = Episode(
        id=episode_id,
        source=url,
        kind="feed",
        url=entry.link or entry.enclosure_url,
        title=entry.title,
        show=feed.title,
        uploader=entry.author or feed.author,
        date=entry.date,
        description=entry.description,
        duration=entry.duration if entry.duration is not None else facts.duration,
        language=_language(feed.language),
        chapters=facts.chapters,
        transcript_url=entry.transcript_url,
        transcript_type=entry.transcript_type,
        audio_file=_only_audio(path, facts, folder),
    )
    return _save(episode, config)


# --- the entry point ------------------------------------------------------------------


def fetch_episode(
    source: str,
    config: Config,
    *,
    item: str | None = None,
    progress: ProgressHook | None = None,
) -> Episode:
    """Fetch one episode's metadata and audio into its folder; see the module docstring."""
    path = Path(source).expanduser()
    if "://" not in source and path.exists():
        if item is not None:
            raise UsageError("--item only applies to RSS feeds", hint="drop --item")
        if not path.is_file():
            raise UsageError(f"{source} is a folder, not a media file", hint="pass a file")
        return _fetch_local(path, config)
    scheme = urllib.parse.urlparse(source).scheme.lower()
    if scheme not in ("http", "https"):
        raise UsageError(
            f"{source!r} is neither an http(s) URL nor an existing file",
            hint="pass an http:// or https:// URL, or the path of a local audio/video file",
        )
    ie = specific_extractor(source)
    if ie is not None:
        if item is not None:
            raise UsageError("--item only applies to RSS feeds", hint="drop --item")
        return _fetch_ytdlp(source, config, progress, ie)
    existing = _existing(config, f"url-{_digest(source)}")  # direct media and generic pages
    if existing:
        return existing
    response = http_get(source, config, limit=4096)
    if looks_like_feed(response):
        body = http_get(source, config).head
        return _fetch_feed(source, body, item, config, progress)
    if item is not None:
        raise UsageError(f"{source} is not an RSS feed; --item needs one", hint="drop --item")
    if _looks_like_media(response):
        return _fetch_direct(source, response, config, progress)
    return _fetch_ytdlp(source, config, progress, None)
