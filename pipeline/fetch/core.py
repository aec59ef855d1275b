"""Fetch: any episode source -> an ``Episode`` and its audio in ``<data>/episodes/<id>/``.

    fetch_episode(source, config, *, item=None, progress=None, policy=None, claimed=None)

``source`` is a URL yt-dlp supports, a direct media URL, a podcast RSS/Atom feed (``item``
picks the entry by key or guid, 1-based index or title; default the newest), or a local
file. Idempotent: when the episode folder already holds episode.json and its audio, nothing
is downloaded again. ``progress`` receives yt-dlp's progress-hook dicts. ``policy`` decides
which URLs named by a feed or page may be fetched (default:
``UrlPolicy.for_source(source, config)``; see :mod:`pipeline.fetch.urls`). ``claimed``
(``{item key: redacted enclosure URL}``, from the caller's ledger) keeps a feed item's key,
and so its episode id, when items sharing its guid come and go
(see :mod:`pipeline.fetch.feeds`).

A password in ``source`` (``https://user:pass@host/...``) is used for the download and
never stored: the episode, its id and every message carry ``user:***@``.

Where the work is done: :mod:`.http` (the one guarded client: every hop checked, sizes
capped, retries), :mod:`.urls` (URL safety, passwords),
:mod:`.media` (ffprobe, limits), :mod:`.local`, :mod:`.direct` (media URLs, feed items),
:mod:`.feeds` (feedparser), :mod:`.ytdlp`. Every failure is a ``SourceError`` (permanent:
404, private, removed, no media, no audio, no such feed item, over the configured limits, a
refused URL), a ``NetworkError`` (retried with exponential backoff, ``[fetch] retries``
times) or a ``UsageError`` (bad source string).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from pipeline.config import Config
from pipeline.errors import UsageError
from pipeline.fetch.direct import fetch_direct, fetch_feed_item, looks_like_media
from pipeline.fetch.episodes import digest, episode_dir_for, existing
from pipeline.fetch.feeds import looks_like_feed
from pipeline.fetch.http import HttpResponse, http_get, with_retries
from pipeline.fetch.local import fetch_local, local_source
from pipeline.fetch.media import MediaFacts, check_limits, probe_media
from pipeline.fetch.urls import UrlPolicy, remember
from pipeline.fetch.ytdlp import ProgressHook, classify_ytdlp_error, fetch_ytdlp, specific_extractor
from pipeline.models import Episode

__all__ = [
    "HttpResponse",
    "MediaFacts",
    "ProgressHook",
    "check_limits",
    "classify_ytdlp_error",
    "episode_dir_for",
    "fetch_episode",
    "http_get",
    "probe_media",
    "with_retries",
]


def fetch_episode(
    source: str,
    config: Config,
    *,
    item: str | None = None,
    progress: ProgressHook | None = None,
    policy: UrlPolicy | None = None,
    claimed: Mapping[str, str] | None = None,
) -> Episode:
    """Fetch one episode's metadata and audio into its folder; see the module docstring."""
    path = local_source(source)
    if path is not None:
        if item is not None:
            raise UsageError("--item only applies to RSS feeds", hint="drop --item")
        if not path.is_file():
            raise UsageError(f"{source} is a folder, not a media file", hint="pass a file")
        return fetch_local(path, config)
    source = remember(source)  # from here on only the redacted form exists
    scheme = urllib.parse.urlparse(source).scheme.lower()
    if scheme not in ("http", "https"):
        raise UsageError(
            f"{source!r} is neither an http(s) URL nor an existing file",
            hint="pass an http:// or https:// URL, or the path of a local audio/video file",
        )
    policy = policy or UrlPolicy.for_source(source, config)
    ie = specific_extractor(source)
    if ie is not None:
        if item is not None:
            raise UsageError("--item only applies to RSS feeds", hint="drop --item")
        return fetch_ytdlp(source, config, progress, ie, policy)
    known = existing(config, f"url-{digest(source)}")  # direct media and generic pages
    if known is not None:
        return known
    response = http_get(source, config, limit=4096, policy=policy, user_url=True)
    if looks_like_feed(response):
        whole = http_get(source, config, policy=policy, user_url=True, cap="fetch.max_feed_bytes")
        return fetch_feed_item(source, whole, item, config, progress, policy, claimed)
    if item is not None:
        raise UsageError(f"{source} is not an RSS feed; --item needs one", hint="drop --item")
    if looks_like_media(response):
        return fetch_direct(source, response, config, progress, policy)
    return fetch_ytdlp(source, config, progress, None, policy)
