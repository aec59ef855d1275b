"""Episodes behind one HTTP URL: a direct media file, or an item of a podcast feed.

    fetch_direct(url, response, config, progress) -> Episode
    fetch_feed_item(url, response, item, config, progress, policy, claimed) -> Episode

``url`` is the user's source, already redacted (see :mod:`pipeline.fetch.urls`);
``response`` is what ``http_get`` answered for it (its ``url`` is the final one, after
redirects). A feed item's enclosure and transcript URLs are named by the feed, so they
must pass ``policy`` before any connection to them. Media is downloaded once, through the
guarded client (:func:`pipeline.fetch.media.download_media`), and probed from the local
file: neither ffprobe nor yt-dlp opens these URLs. Errors: ``SourceError`` (no such
item, no enclosure, no audio, over the limits, a refused URL), ``NetworkError``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.errors import SourceError
from pipeline.fetch.episodes import digest, existing, language_tag, save
from pipeline.fetch.feeds import parse_feed, select_item
from pipeline.fetch.http import HttpResponse, normalise_url
from pipeline.fetch.media import ProgressHook, check_limits, download_media, only_audio, tag_fields
from pipeline.fetch.urls import CREDENTIALS, UrlPolicy, redact
from pipeline.models import Episode

_MEDIA_MAGIC = (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"RIFF", b"OggS", b"fLaC",
                b"\x1aE\xdf\xa3")  # fmt: skip


def looks_like_media(response: HttpResponse) -> bool:
    """Audio or video, by Content-Type or by the file's first bytes."""
    kind = response.content_type
    if kind.startswith(("audio/", "video/")) or kind == "application/ogg":
        return True
    head = response.head
    return head.startswith(_MEDIA_MAGIC) or head[4:8] == b"ftyp"


def _url_title(url: str, filename: str | None) -> str:
    name = filename or urllib.parse.unquote(Path(urllib.parse.urlparse(url).path).name)
    return Path(name).stem or url


def fetch_direct(
    url: str,
    response: HttpResponse,
    config: Config,
    progress: ProgressHook | None,
    policy: UrlPolicy | None = None,
) -> Episode:
    """A media file at ``url``: downloaded (size capped while it streams), then probed for
    audio and limits; a refusal leaves no episode folder."""
    episode_id = f"url-{digest(url)}"
    if (known := existing(config, episode_id)) is not None:
        return known
    check_limits(url, config, None, response.length)
    folder = store.episode_dir(config, episode_id)
    path, facts = download_media(
        url, folder, config, policy=policy, user_url=True, what="URL", progress=progress
    )
    episode = Episode(
        id=episode_id,
        source=url,
        kind="direct",
        url=url,
        title=facts.tags.get("title") or _url_title(url, response.filename),
        **tag_fields(facts),
        audio_file=only_audio(path, facts, folder),
    )
    return save(episode, config)


def fetch_feed_item(
    url: str,
    response: HttpResponse,
    item: str | None,
    config: Config,
    progress: ProgressHook | None,
    policy: UrlPolicy,
    claimed: Mapping[str, str] | None = None,
) -> Episode:
    """The feed item ``item`` (key, guid, index or title; None: the newest) of the feed
    whose whole body is ``response.head``; ``claimed`` says which items sharing a guid
    were taken before (see :func:`pipeline.fetch.feeds.parse_feed`)."""
    feed = parse_feed(response.head, response.url, charset=response.charset, claimed=claimed)
    entry = select_item(feed, item, url)
    episode_id = f"feed-{digest(entry.key)}"
    if (known := existing(config, episode_id)) is not None:
        return known
    if not entry.enclosure_url:
        raise SourceError(f"feed item {entry.title!r} has no enclosure", hint="pick another item")
    enclosure = CREDENTIALS.remember(policy.check(normalise_url(entry.enclosure_url), "enclosure"))
    transcript = None
    if entry.transcript_url:
        transcript = CREDENTIALS.remember(
            policy.check(normalise_url(entry.transcript_url), "transcript URL")
        )
    check_limits(enclosure, config, entry.duration, None)  # feeds' length attributes lie
    folder = store.episode_dir(config, episode_id)
    try:
        path, facts = download_media(
            enclosure, folder, config, policy=policy, duration=entry.duration, progress=progress
        )
    except SourceError as e:
        if e.message.endswith("has no audio stream"):
            raise SourceError(
                f"the enclosure of {entry.title!r} has no audio stream", hint="pick another item"
            ) from e
        raise
    episode = Episode(
        id=episode_id,
        source=url,
        kind="feed",
        url=redact(entry.link or enclosure),
        title=entry.title,
        show=feed.title,
        uploader=entry.author or feed.author,
        date=entry.date,
        description=entry.description,
        duration=entry.duration if entry.duration is not None else facts.duration,
        language=language_tag(feed.language),
        chapters=facts.chapters,
        transcript_url=transcript,
        transcript_type=entry.transcript_type,
        transcript_language=entry.transcript_language,
        audio_file=only_audio(path, facts, folder),
    )
    return save(episode, config)
