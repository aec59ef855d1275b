"""Media files: ffprobe facts, the duration/size limits, the guarded download, and keeping the
audio stream only.

    probe_media(path, config) -> MediaFacts             # ffprobe of a local file
    probe_bytes(data, config, size=None) -> MediaFacts  # ffprobe of bytes piped to its stdin
    probe_remote(url, config, policy) -> MediaFacts     # the first bytes of a URL, piped
    download_media(url, folder, config, ...) -> (Path, MediaFacts)   # folder/audio.<ext>
    check_limits(source, config, duration, size)        # SourceError over the caps
    only_audio(path, facts, folder) -> str              # file name of the audio in folder
    tag_fields(facts) -> dict                           # Episode fields from media tags

Durations are seconds, sizes bytes. ffprobe never opens a URL: it reads a local file, or
bytes podpost fetched through :mod:`pipeline.fetch.http` (every hop checked) and streams
to its stdin, so no request leaves podpost that the URL policy did not see.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mimetypes
import os
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline import store
from pipeline.config import Config
from pipeline.errors import FetchTooLargeError, NetworkError, SourceError
from pipeline.fetch.episodes import language_tag, parse_date
from pipeline.fetch.http import disposition_filename, open_url, with_retries
from pipeline.fetch.urls import UrlPolicy, redact
from pipeline.fsutil import storage_error
from pipeline.models import Chapter
from pipeline.tools import run_tool

AUDIO_STEM = store.AUDIO_STEM  # the episode folder's names are the store's
_COVER_CODECS = {"mjpeg", "png", "bmp", "gif"}  # cover art is a "video" stream; not video
PROBE_BYTES = 1024 * 1024  # what ffprobe sees of a remote file before the download
PART = f".{AUDIO_STEM}.part"
ProgressHook = Callable[[dict[str, Any]], None]  # gets yt-dlp-style progress dicts


@dataclass
class MediaFacts:
    """What ffprobe says about a media file: streams, duration, tags, chapters, size."""

    duration: float | None = None  # seconds
    has_audio: bool = False
    has_video: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # lower-case keys
    chapters: list[Chapter] = field(default_factory=list)
    size: int | None = None  # bytes
    bit_rate: float | None = None  # bits per second


def _ffprobe(target: str, timeout: float, shown: str, data: bytes | None = None) -> MediaFacts:
    command = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format"]
    command += ["-show_streams", "-show_chapters", "-i", target]
    try:
        done = run_tool(command, input=data, capture_output=True, timeout=max(timeout * 2, 10))
    except subprocess.TimeoutExpired as e:
        raise SourceError(f"probing {shown} timed out", hint="check the file") from e
    if done.returncode != 0:
        stderr = redact(done.stderr.decode("utf-8", "replace").strip())
        error = stderr.splitlines()[-1] if stderr else "ffprobe failed"
        raise SourceError(f"{shown} is not a media file ({error})", hint="check the source")
    return _facts(json.loads(done.stdout or b"{}"))


def _facts(data: dict[str, Any]) -> MediaFacts:
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
    rate = str(fmt.get("bit_rate") or "")
    return MediaFacts(
        bit_rate=float(rate) if rate.isdigit() and int(rate) else None,
        duration=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        has_video=any(
            s.get("codec_type") == "video"
            and s.get("codec_name") not in _COVER_CODECS
            and not (s.get("disposition") or {}).get("attached_pic")
            for s in streams
        ),
        tags=tags,
        chapters=chapters,
        size=int(size) if size and str(size).isdigit() else None,
    )


def probe_media(path: str | Path, config: Config) -> MediaFacts:
    """ffprobe a local file. Errors: ``SourceError`` (not media). A URL is refused: remote
    bytes reach ffprobe only through :func:`probe_bytes`."""
    if "://" in str(path):
        raise SourceError(f"{redact(str(path))} is not a local file", hint="download it first")
    return _ffprobe(str(path), config.fetch.timeout, str(path))


def probe_bytes(data: bytes, config: Config, *, shown: str, size: int | None = None) -> MediaFacts:
    """ffprobe of ``data`` (the first bytes of a file) piped to its stdin; ``size`` (the
    whole file's, when known) and the bit rate estimate a duration ffprobe cannot see."""
    facts = _ffprobe("pipe:0", config.fetch.timeout, shown, data)
    if size is not None:
        facts.size = size
        if facts.bit_rate and (facts.duration is None or len(data) < size):
            estimate = size * 8 / facts.bit_rate
            facts.duration = max(facts.duration or 0.0, estimate)
    return facts


def _probe_remote_once(url: str, config: Config, policy: UrlPolicy | None) -> MediaFacts:
    with open_url(url, config, policy=policy, what="media URL") as fetched:
        head = fetched.read(PROBE_BYTES)
        encoded = fetched.headers.get("content-encoding", "identity") != "identity"
        return probe_bytes(
            head, config, shown=fetched.url, size=None if encoded else fetched.length
        )


def probe_remote(url: str, config: Config, policy: UrlPolicy | None = None) -> MediaFacts:
    """ffprobe of the first MiB of ``url``, fetched through the guarded client and piped
    (retried like any fetch). Errors: ``SourceError``, ``NetworkError``."""
    return with_retries(config, _probe_remote_once, url, config, policy)


def _hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def check_limits(source: str, config: Config, duration: float | None, size: int | None) -> None:
    """Refuse, before downloading, media longer or larger than the configured caps."""
    source = redact(source)
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


def probe_new(source: str, config: Config, size: int | None, hint: str) -> MediaFacts:
    """Probe media not fetched before; refuse it before any copy or download if it has no
    audio or breaks the duration/size limits."""
    facts = probe_media(source, config)
    if not facts.has_audio:
        raise SourceError(f"{redact(source)} has no audio stream", hint=hint)
    check_limits(source, config, facts.duration, size)
    return facts


def only_audio(path: Path, facts: MediaFacts, folder: Path) -> str:
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
        if "no space left on device" in done.stderr.lower():
            raise storage_error(target, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        raise SourceError(f"cannot extract the audio of {path}: {done.stderr.strip()[-200:]}")
    os.replace(tmp, target)
    if path != target:
        path.unlink(missing_ok=True)
    return target.name


def tag_fields(facts: MediaFacts) -> dict[str, Any]:
    """Episode fields from a media file's own tags (ID3, MP4, Matroska), the same for a
    local file and a direct URL."""
    tags = facts.tags
    return {
        "show": tags.get("album") or tags.get("show") or "",
        "uploader": tags.get("artist") or tags.get("album_artist") or "",
        "date": parse_date(tags.get("date") or tags.get("creation_time")),
        "description": tags.get("comment") or tags.get("description") or "",
        "duration": facts.duration,
        "language": language_tag(tags.get("language")),
        "chapters": facts.chapters,
    }


def _extension(url: str, content_type: str, disposition: str | None) -> str:
    name = disposition_filename(disposition)
    if not name:
        name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    ext = PurePosixPath(name).suffix.lower().lstrip(".")
    if ext.isalnum() and len(ext) <= 5:
        return ext
    guessed = mimetypes.guess_extension(content_type or "") or ".bin"
    return guessed.lstrip(".")


def _partial_facts(part: Path, config: Config) -> MediaFacts | None:
    """ffprobe of the bytes downloaded so far, or None where they do not probe yet (an MP4
    whose index comes last)."""
    try:
        return _ffprobe(str(part), config.fetch.timeout, str(part))
    except SourceError:
        return None


def _download_once(
    url: str,
    folder: Path,
    config: Config,
    policy: UrlPolicy | None,
    user_url: bool,
    what: str,
    duration: float | None,
    progress: ProgressHook | None,
) -> tuple[Path, MediaFacts]:
    part = folder / PART
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with open_url(
        url,
        config,
        policy=policy,
        user_url=user_url,
        what=what,
        headers=headers,
        accept_status=lambda status: status == 416,
    ) as fetched:
        if fetched.status == 416:  # the part is stale: start again on the next attempt
            part.unlink(missing_ok=True)
            raise NetworkError(f"{fetched.url} refused to resume the download", hint="try again")
        if fetched.status != 206:
            have = 0
        identity = fetched.headers.get("content-encoding", "identity") == "identity"
        total = have + fetched.length if fetched.length is not None and identity else None
        check_limits(fetched.url, config, duration, total)
        budget = config.fetch.max_bytes
        probed = have >= PROBE_BYTES
        done = have
        ext = _extension(url, fetched.content_type, fetched.headers.get("content-disposition"))
        try:
            out = open(part, "ab" if have else "wb")  # noqa: SIM115 (closed below)
        except OSError as e:
            raise storage_error(folder / f"{AUDIO_STEM}.{ext}", e) from e
        with _disk_errors(part, folder / f"{AUDIO_STEM}.{ext}"), out:
            for chunk in fetched.chunks():
                out.write(chunk)
                done += len(chunk)
                if done > budget:
                    _over(fetched.url, config, budget)
                if not probed and done >= PROBE_BYTES:
                    probed = True
                    out.flush()
                    early = _partial_facts(part, config)
                    if early is not None and not early.has_audio:
                        raise SourceError(
                            f"{fetched.url} has no audio stream", hint="pick a source with sound"
                        )
                    if early is not None and early.bit_rate and duration is None:
                        # media by duration while it streams: at most the cap's worth of bytes
                        budget = min(budget, int(config.fetch.max_duration * early.bit_rate / 8
                                                 * 1.1) + PROBE_BYTES)  # fmt: skip
                if progress is not None:
                    progress({"status": "downloading", "downloaded_bytes": done,
                              "total_bytes": total, "filename": str(part)})  # fmt: skip
        shown = fetched.url
    target = folder / f"{AUDIO_STEM}.{ext}"
    os.replace(part, target)
    try:
        facts = probe_media(target, config)
        if not facts.has_audio:
            raise SourceError(f"{shown} has no audio stream", hint="pick a source with sound")
        check_limits(shown, config, duration if duration is not None else facts.duration, done)
    except SourceError:
        target.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress({"status": "finished", "downloaded_bytes": done, "total_bytes": done,
                  "filename": str(target)})  # fmt: skip
    return target, facts


@contextlib.contextmanager
def _disk_errors(part: Path, target: Path) -> Iterator[None]:
    """A write that fails (a full disk) removes the part (no download to resume from a full
    disk) and is one line naming the disk and ``target``."""
    try:
        yield
    except OSError as e:
        part.unlink(missing_ok=True)
        raise storage_error(target, e) from e


def _over(url: str, config: Config, budget: int) -> None:
    if budget < config.fetch.max_bytes:
        raise SourceError(
            f"{url} is longer than the limit of {_hms(config.fetch.max_duration)} "
            f"(over {budget / 1e6:.1f} MB at its bit rate)",
            hint="raise [fetch] max_duration to allow it",
        )
    raise FetchTooLargeError(url, setting="fetch.max_bytes", limit=budget)


def download_media(
    url: str,
    folder: Path,
    config: Config,
    *,
    policy: UrlPolicy | None = None,
    user_url: bool = False,
    what: str = "enclosure",
    duration: float | None = None,
    progress: ProgressHook | None = None,
) -> tuple[Path, MediaFacts]:
    """Download ``url`` through the guarded client into ``folder/audio.<ext>`` and probe it.

    Caps while it streams: ``[fetch] max_bytes``, and ``max_duration`` at the bit rate the
    first MiB shows (``duration``, when the source states it, is checked first). A partial
    download is kept as ``.audio.part`` and resumed with a Range request; a refusal (no
    audio, over a limit) leaves nothing behind. ``progress`` gets yt-dlp-style dicts.
    Errors: ``SourceError``, ``NetworkError`` (after ``[fetch] retries``)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return with_retries(
            config, _download_once, url, folder, config, policy, user_url, what, duration,
            progress,
        )  # fmt: skip
    except SourceError:
        (folder / PART).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: an episode folder of an earlier step stays
        raise
