"""Media files: ffprobe facts, the duration/size limits, and keeping the audio stream only.

    probe_media(path_or_url, config) -> MediaFacts     # ffprobe, retried like HTTP
    check_limits(source, config, duration, size)       # SourceError over the caps
    only_audio(path, facts, folder) -> str              # file name of the audio in folder
    tag_fields(facts) -> dict                           # Episode fields from media tags

Durations are seconds, sizes bytes. ffprobe gets a URL without its password (the password
goes in an ``Authorization`` header), so its messages never show it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import NetworkError, SourceError
from pipeline.fetch.episodes import language_tag, parse_date
from pipeline.fetch.http import USER_AGENT, auth_header, http_error, with_retries
from pipeline.fetch.urls import redact, strip_userinfo
from pipeline.fsutil import storage_error
from pipeline.models import Chapter
from pipeline.tools import run_tool

AUDIO_STEM = "audio"
_COVER_CODECS = {"mjpeg", "png", "bmp", "gif"}  # cover art is a "video" stream; not video


@dataclass
class MediaFacts:
    """What ffprobe says about a media file or URL: streams, duration, tags, chapters, size."""

    duration: float | None = None  # seconds
    has_audio: bool = False
    has_video: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # lower-case keys
    chapters: list[Chapter] = field(default_factory=list)
    size: int | None = None  # bytes


def _ffprobe_command(target: str, timeout: float) -> list[str]:
    command = ["ffprobe", "-v", "error", "-print_format", "json"]
    if "://" in target:
        command += ["-rw_timeout", str(int(timeout * 1_000_000)), "-user_agent", USER_AGENT]
        if (auth := auth_header(target)) is not None:
            command += ["-headers", f"Authorization: {auth}\r\n"]
        target = strip_userinfo(target)
    return [*command, "-show_format", "-show_streams", "-show_chapters", target]


def _ffprobe_once(target: str, timeout: float) -> MediaFacts:
    shown = redact(target)
    try:
        # one read timeout for the probe's requests, and a bound on the whole probe
        done = run_tool(
            _ffprobe_command(target, timeout), capture_output=True, text=True, timeout=timeout * 2
        )
    except subprocess.TimeoutExpired as e:
        raise NetworkError(f"probing {shown} timed out", hint="try again") from e
    if done.returncode != 0:
        stderr = redact(done.stderr.strip())
        error = stderr.splitlines()[-1] if stderr else "ffprobe failed"
        status = re.search(r"(?:HTTP error|Server returned) (\d{3})", stderr)
        if status:
            raise http_error(target, int(status.group(1)))
        if re.search(r"\b5\d\d\b|Connection refused|timed out|reset by peer", stderr):
            raise NetworkError(f"cannot reach {shown}: {error}", hint="try again later")
        raise SourceError(f"{shown} is not a media file ({error})", hint="check the source")
    return _facts(json.loads(done.stdout or "{}"))


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
    return MediaFacts(
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


def probe_media(target: str | Path, config: Config) -> MediaFacts:
    """ffprobe a local path or an http(s) URL. Errors: ``SourceError`` (not media, 4xx),
    ``NetworkError`` (unreachable, timed out; retried ``[fetch] retries`` times)."""
    return with_retries(config, _ffprobe_once, str(target), config.fetch.timeout)


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
