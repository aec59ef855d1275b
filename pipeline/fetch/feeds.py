"""Podcast feeds and playlists: parse RSS/Atom, pick one item, list what a source holds.

Public API:
    FeedItem                                   # one entry batch ingestion can fetch
    list_feed(url, config) -> list[FeedItem]   # RSS/Atom feed, or a yt-dlp playlist/channel
        (flat extraction: no per-video requests). Pass ``item.source`` and ``item.item`` to
        ``pipeline.fetch.core.fetch_episode(source, config, item=...)``.
    parse_feed(xml_bytes, url) -> Feed         # pure
    select_item(feed, item, url) -> Entry      # by guid, 1-based index or title; None: newest

Parsed with the standard library (``xml.etree``, which refuses external entities), with the
iTunes and Podcasting 2.0 namespaces (``<podcast:transcript>``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pydantic import BaseModel

from pipeline.config import Config
from pipeline.errors import SourceError

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "atom": "http://www.w3.org/2005/Atom",
    "dc": "http://purl.org/dc/elements/1.1/",
}
# what the captions backend can read, best first
TRANSCRIPT_TYPES = ["text/vtt", "application/x-subrip", "application/srt", "text/srt",
                    "application/json"]  # fmt: skip


class FeedItem(BaseModel):
    """One episode a feed or playlist offers."""

    source: str  # what to pass to fetch_episode
    item: str | None = None  # its ``item=`` argument (the guid for RSS feeds)
    guid: str
    title: str = ""
    url: str | None = None  # the item's own page, when known
    date: dt.date | None = None
    duration: float | None = None


@dataclass
class Entry:
    guid: str
    title: str = ""
    link: str | None = None
    author: str = ""
    description: str = ""
    date: dt.date | None = None
    duration: float | None = None
    enclosure_url: str | None = None
    enclosure_type: str | None = None
    enclosure_length: int | None = None
    transcript_url: str | None = None
    transcript_type: str | None = None


@dataclass
class Feed:
    title: str = ""
    author: str = ""
    language: str | None = None
    link: str | None = None
    entries: list[Entry] = field(default_factory=list)


def _text(node: ET.Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path, NS)
    return " ".join((found.text or "").split()) if found is not None else ""


def _duration(value: str) -> float | None:
    """itunes:duration is seconds, ``MM:SS`` or ``HH:MM:SS``."""
    value = value.strip()
    if not value:
        return None
    try:
        parts = [float(p) for p in value.split(":")]
    except ValueError:
        return None
    total = 0.0
    for part in parts:
        total = total * 60 + part
    return total


def _rfc822_date(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError):
        pass
    match = re.match(r"\d{4}-\d{2}-\d{2}", value)  # Atom and sloppy feeds use ISO dates
    return dt.date.fromisoformat(match.group(0)) if match else None


def _transcript(item: ET.Element) -> tuple[str | None, str | None]:
    offers = [
        (t.get("url"), (t.get("type") or "").lower())
        for t in item.findall("podcast:transcript", NS)
        if t.get("url")
    ]
    ranked = sorted(
        offers,
        key=lambda o: TRANSCRIPT_TYPES.index(o[1]) if o[1] in TRANSCRIPT_TYPES else 99,
    )
    return ranked[0] if ranked else (None, None)


def _rss_entry(item: ET.Element) -> Entry:
    enclosure = item.find("enclosure")
    length = enclosure.get("length") if enclosure is not None else None
    transcript_url, transcript_type = _transcript(item)
    title = _text(item, "title")
    enclosure_url = enclosure.get("url") if enclosure is not None else None
    description = (
        _text(item, "description")
        or _text(item, "itunes:summary")
        or _text(item, "content:encoded")
    )
    return Entry(
        guid=_text(item, "guid") or enclosure_url or _text(item, "link") or title,
        title=title,
        link=_text(item, "link") or None,
        author=_text(item, "itunes:author") or _text(item, "dc:creator") or _text(item, "author"),
        description=description,
        date=_rfc822_date(_text(item, "pubDate") or _text(item, "dc:date")),
        duration=_duration(_text(item, "itunes:duration")),
        enclosure_url=enclosure_url,
        enclosure_type=enclosure.get("type") if enclosure is not None else None,
        enclosure_length=int(length) if length and length.isdigit() and int(length) else None,
        transcript_url=transcript_url,
        transcript_type=transcript_type,
    )


def _atom_entry(entry: ET.Element) -> Entry:
    enclosure = next(
        (
            link
            for link in entry.findall("atom:link", NS)
            if link.get("rel") == "enclosure" and link.get("href")
        ),
        None,
    )
    page = next(
        (
            link.get("href")
            for link in entry.findall("atom:link", NS)
            if link.get("rel") in (None, "alternate")
        ),
        None,
    )
    length = enclosure.get("length") if enclosure is not None else None
    transcript_url, transcript_type = _transcript(entry)
    return Entry(
        guid=_text(entry, "atom:id")
        or (enclosure.get("href", "") if enclosure is not None else ""),
        title=_text(entry, "atom:title"),
        link=page,
        author=_text(entry, "atom:author/atom:name"),
        description=_text(entry, "atom:summary") or _text(entry, "atom:content"),
        date=_rfc822_date(_text(entry, "atom:published") or _text(entry, "atom:updated")),
        duration=_duration(_text(entry, "itunes:duration")),
        enclosure_url=enclosure.get("href") if enclosure is not None else None,
        enclosure_type=enclosure.get("type") if enclosure is not None else None,
        enclosure_length=int(length) if length and length.isdigit() and int(length) else None,
        transcript_url=transcript_url,
        transcript_type=transcript_type,
    )


def parse_feed(data: bytes, url: str) -> Feed:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise SourceError(f"{url} is not a valid RSS/Atom feed ({e})", hint="check the URL") from e
    if root.tag == f"{{{NS['atom']}}}feed":
        return Feed(
            title=_text(root, "atom:title"),
            author=_text(root, "atom:author/atom:name"),
            language=root.get("{http://www.w3.org/XML/1998/namespace}lang"),
            entries=[_atom_entry(e) for e in root.findall("atom:entry", NS)],
        )
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise SourceError(f"{url} is XML but not an RSS or Atom feed", hint="check the URL")
    return Feed(
        title=_text(channel, "title"),
        author=_text(channel, "itunes:author") or _text(channel, "managingEditor"),
        language=_text(channel, "language") or None,
        link=_text(channel, "link") or None,
        entries=[_rss_entry(i) for i in channel.findall("item")],
    )


def select_item(feed: Feed, item: str | None, url: str) -> Entry:
    """By exact guid, then 1-based index, then title (exact, then unique substring)."""
    if not feed.entries:
        raise SourceError(f"the feed {url} has no items", hint="check the feed URL")
    if item is None:
        dated = [e for e in feed.entries if e.date]
        return max(dated, key=lambda e: e.date or dt.date.min) if dated else feed.entries[0]
    for entry in feed.entries:
        if entry.guid == item:
            return entry
    if item.strip().isdigit():
        index = int(item)
        if 1 <= index <= len(feed.entries):
            return feed.entries[index - 1]
    wanted = item.strip().casefold()
    exact = [e for e in feed.entries if e.title.casefold() == wanted]
    partial = [e for e in feed.entries if wanted and wanted in e.title.casefold()]
    if exact:
        return exact[0]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise SourceError(
            f"{len(partial)} items of {url} match {item!r}",
            hint="give the guid, the index or the full title",
        )
    raise SourceError(
        f"the feed {url} has no item {item!r}",
        hint=f"give a guid, an index from 1 to {len(feed.entries)}, or a title",
    )


def list_feed(url: str, config: Config) -> list[FeedItem]:
    """Every episode an RSS/Atom feed or a yt-dlp playlist/channel offers, newest first
    as the source orders them. A single video gives a one-item list."""
    from pipeline.fetch import core as fetch

    response = fetch.http_get(url, config)
    if fetch.looks_like_feed(response):
        feed = parse_feed(response.head, url)
        return [
            FeedItem(
                source=url,
                item=e.guid,
                guid=e.guid,
                title=e.title,
                url=e.link or e.enclosure_url,
                date=e.date,
                duration=e.duration,
            )
            for e in feed.entries
        ]
    return _list_playlist(url, config)


def _list_playlist(url: str, config: Config) -> list[FeedItem]:
    from yt_dlp import YoutubeDL

    from pipeline.fetch import core as fetch

    options = fetch.ytdlp_options(config, extract_flat="in_playlist", noplaylist=False)
    with YoutubeDL(options) as ydl:
        info = fetch.with_retries(
            config, fetch.ytdlp_call, url, lambda: ydl.extract_info(url, download=False)
        )
    entries = info.get("entries") if info.get("_type") in ("playlist", "multi_video") else [info]
    items = []
    for entry in entries or []:
        if not entry:
            continue
        if entry.get("_type") in ("url", "url_transparent"):  # flat: a page per video
            source = entry.get("url") or url
        elif entry.get("webpage_url") not in (None, url):
            source = entry["webpage_url"]
        else:  # media embedded in the listed page itself: its own URL
            source = entry.get("url") or url
        items.append(
            FeedItem(
                source=source,
                guid=str(entry.get("id") or source),
                title=entry.get("title") or "",
                url=source,
                date=fetch.info_date(entry),
                duration=entry.get("duration"),
            )
        )
    return items
