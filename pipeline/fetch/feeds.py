"""Podcast feeds: parse RSS/Atom with feedparser, name each item, pick one, list a source.

    parse_feed(data, url, *, charset=None, claimed=None) -> Feed   # pure; ``url``: final URL
    select_item(feed, item, url) -> Entry            # by key, guid, 1-based index or title
    choose_transcript(transcripts, language) -> (url, type, language)
    list_feed(url, config, *, claimed=None) -> list[FeedItem]  # RSS/Atom, or yt-dlp
    looks_like_feed(response) -> bool

feedparser reads RSS 0.9x/1.0/2.0 and Atom in any declared or BOM-marked encoding, treats
namespace spellings feed readers treat as one as one (``http://www.itunes.com/DTDs/
Podcast-1.0.dtd`` is the iTunes namespace) and decodes entities. podpost adds what it does
not do: leading whitespace before ``<?xml`` is dropped; text whose type is HTML becomes plain
text (entities decoded once, by the HTML parser); ``<podcast:transcript>`` (both the current
and the legacy Podcasting 2.0 namespace URI) and relative enclosure and transcript URLs,
resolved against the feed's final URL and any ``xml:base``, come from a defusedxml parse of
the same bytes (:mod:`pipeline.fetch.feed_xml`). Of several transcripts the one in the
episode's language is taken, then by type (:func:`choose_transcript`); an item without an
enclosure has no media (``FeedItem.media``) and is never the default item. A document
nesting elements past :data:`~pipeline.fetch.feed_xml.MAX_DEPTH` is refused first.

Item identity: an item's ``key`` is its guid when no other item of the feed has that guid.
Items sharing a guid are told apart by their enclosure URL, else by title and date: one
of them keeps the bare guid, the others get ``<guid>#<8 hex digits>``. Which one must not
change between fetches of the feed (the key makes the episode id, ``feed-<sha of the key>``),
so the caller passes ``claimed``, ``{key: enclosure URL (redacted)}`` of the items it has
already taken (podpost's ledger): the item with the claimed enclosure keeps the bare guid,
even when an older item with the same guid shows up later. With no claim that matches,
the oldest keeps it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import re
import urllib.parse
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar

import feedparser
from pydantic import BaseModel

from pipeline.config import Config
from pipeline.errors import SourceError
from pipeline.fetch.episodes import digest, language_tag
from pipeline.fetch.feed_xml import RawItem, normalise, raw_items, too_deep
from pipeline.fetch.http import HttpResponse, http_get
from pipeline.fetch.urls import redact, remember, resolve
from pipeline.langtags import language_base

# what the captions backend can read, best first
TRANSCRIPT_TYPES = ["text/vtt", "application/x-subrip", "application/srt", "text/srt",
                    "application/json"]  # fmt: skip
# after those: an HTML transcript, then plain text (timed captions beat untimed text)
_LATER_TYPES = ["text/html", "text/plain"]
# a transcript without a type (or one no list names) is ranked by its URL's extension
_EXTENSION_TYPES = {"vtt": "text/vtt", "srt": "application/srt", "json": "application/json",
                    "html": "text/html", "htm": "text/html", "txt": "text/plain"}  # fmt: skip
_NOT_MEDIA = ("image/", "text/", "application/pdf")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml")


class FeedItem(BaseModel):
    """One episode a feed or playlist offers."""

    source: str  # what to pass to fetch_episode (redacted: never a password)
    item: str | None = None  # its ``item=`` argument (the item key for RSS/Atom feeds)
    guid: str  # its identity in the source: the item key, or the video id
    enclosure: str | None = None  # an RSS/Atom item's enclosure URL (redacted)
    title: str = ""
    url: str | None = None  # the item's own page, when known
    date: dt.date | None = None
    duration: float | None = None  # seconds
    media: bool = True  # False: a feed item without an enclosure (a text-only notice)


@dataclass
class Entry:
    """One feed item as podpost uses it: text fields plain (markup stripped), URLs absolute."""

    guid: str
    title: str = ""
    link: str | None = None
    author: str = ""
    description: str = ""
    date: dt.date | None = None
    duration: float | None = None  # seconds
    enclosure_url: str | None = None  # absolute
    enclosure_type: str | None = None
    enclosure_length: int | None = None  # bytes, as the feed claims
    transcript_url: str | None = None  # absolute
    transcript_type: str | None = None
    transcript_language: str | None = None  # BCP 47, the tag's own ``language`` if given
    key: str = ""  # unique within the feed (see the module docstring)


@dataclass
class Feed:
    """A parsed feed: the channel's own fields and its items in feed order."""

    title: str = ""
    author: str = ""
    language: str | None = None
    link: str | None = None
    entries: list[Entry] = field(default_factory=list)


# --- text -------------------------------------------------------------------------------


class _PlainText(HTMLParser):
    _BREAKS: ClassVar[set[str]] = {"br", "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4",
                                   "h5", "h6", "tr"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Markup removed, entities decoded once, whitespace collapsed."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _text(detail: Any, fallback: Any = "") -> str:
    """A feedparser text construct (``title_detail`` ...) as plain text."""
    if not detail:
        return " ".join(str(fallback or "").split())
    value = str(detail.get("value") or "")
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return html_to_text(value)
    return " ".join(value.split())


def _duration(value: str | None) -> float | None:
    """itunes:duration is seconds, ``MM:SS`` or ``HH:MM:SS``."""
    value = (value or "").strip()
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


def _date(entry: Any) -> dt.date | None:
    """The calendar date as the publisher wrote it (not moved to UTC)."""
    for key in ("published", "updated"):
        raw = str(entry.get(key) or "").strip()
        if not raw:
            continue
        try:
            return email.utils.parsedate_to_datetime(raw).date()
        except (TypeError, ValueError):
            pass
        match = re.match(r"\d{4}-\d{2}-\d{2}", raw)
        if match:
            try:
                return dt.date.fromisoformat(match.group(0))
            except ValueError:
                pass
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            return dt.date(*parsed[:3])
    return None


# --- the feed -------------------------------------------------------------------------------


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _transcript_type(url: str, mime: str) -> str:
    """The MIME type without parameters (``text/vtt; charset=utf-8``); for a missing or
    unknown one, the type its URL's extension names, else as given."""
    mime = mime.split(";")[0].strip().lower()
    if mime in TRANSCRIPT_TYPES or mime in _LATER_TYPES:
        return mime
    path = urllib.parse.urlsplit(url).path.lower()
    extension = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return _EXTENSION_TYPES.get(extension, mime)


def _type_rank(mime: str) -> int:
    """0 for SRT, VTT and JSON (timed, readable by the captions backend), then HTML, then
    plain text, then anything else."""
    if mime in TRANSCRIPT_TYPES:
        return 0
    return 1 + _LATER_TYPES.index(mime) if mime in _LATER_TYPES else 1 + len(_LATER_TYPES)


def choose_transcript(
    transcripts: list[tuple[str, str, str | None]], language: str | None
) -> tuple[str | None, str | None, str | None]:
    """The transcript ``(url, mime type, language)`` to use among an item's
    ``<podcast:transcript>`` elements: one in the episode's ``language`` first (a
    transcript's own ``language`` attribute, else the feed's), then by type (SRT, VTT and
    JSON before HTML before plain text), then the first listed. The language comes back
    normalised (BCP 47), None when the tag has none."""
    wanted = language_base(language)

    def rank(index: int) -> tuple[bool, int, int, int]:
        url, given, tagged = transcripts[index]
        mime = _transcript_type(url, given)
        other = wanted is not None and language_base(language_tag(tagged) or language) != wanted
        within = TRANSCRIPT_TYPES.index(mime) if mime in TRANSCRIPT_TYPES else 0
        return (other, _type_rank(mime), within, index)

    if not transcripts:
        return None, None, None
    url, mime, tagged = transcripts[min(range(len(transcripts)), key=rank)]
    return url, mime or None, language_tag(tagged)


def _entry(parsed: Any, raw: RawItem | None, url: str, language: str | None = None) -> Entry:
    base = (parsed.get("title_detail") or {}).get("base") or url
    enclosures = raw.enclosures if raw is not None else []
    if not enclosures:
        enclosures = [
            (str(resolve(base, e.get("href"))), e.get("type"), e.get("length"))
            for e in parsed.get("enclosures", [])
            if e.get("href")
        ]
    media = [e for e in enclosures if str(e[1] or "").startswith(("audio/", "video/"))]
    # an item whose only enclosures say they are no media (cover art, show notes as a PDF)
    # is a text-only item: nothing to transcribe
    found = media or [e for e in enclosures if not str(e[1] or "").startswith(_NOT_MEDIA)]
    enclosure_url, enclosure_type, length = found[0] if found else (None, None, None)
    transcripts = raw.transcripts if raw is not None else []
    if raw is None:  # feedparser keeps one transcript per prefix, unresolved
        transcripts = [
            (
                str(resolve(base, value.get("url"))),
                str(value.get("type") or "").lower(),
                value.get("language") or None,
            )
            for key, value in parsed.items()
            if key.endswith("_transcript") and isinstance(value, dict) and value.get("url")
        ]
    transcript = choose_transcript(transcripts, language)
    author = parsed.get("author_detail", {}).get("name") or parsed.get("author") or ""
    description = _text(parsed.get("summary_detail"))
    if not description and parsed.get("content"):
        description = _text(parsed["content"][0])
    title = _text(parsed.get("title_detail"), parsed.get("title"))
    guid = (raw.guid if raw is not None else None) or parsed.get("id")
    link = str(parsed.get("link") or "")
    if parsed.get("guidislink") and link == parsed.get("id") and not _is_web(str(guid)):
        link = ""  # feedparser made the link of a "permalink" guid that is no URL
    length = str(length or "")
    return Entry(
        guid=str(guid or enclosure_url or link or title),
        title=title,
        link=link if _is_web(link) else None,
        author=" ".join(str(author).split()),
        description=description,
        date=_date(parsed),
        duration=_duration(parsed.get("itunes_duration")),
        enclosure_url=enclosure_url,
        enclosure_type=enclosure_type,
        enclosure_length=int(length) if length.isdigit() and int(length) else None,
        transcript_url=transcript[0],
        transcript_type=transcript[1],
        transcript_language=transcript[2],
    )


def _assign_keys(entries: list[Entry], claimed: Mapping[str, str]) -> None:
    """Unique keys: the guid, or guid#<hash> for all but one item sharing it: the one whose
    enclosure ``claimed`` names for the guid, else the oldest."""
    by_guid: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_guid[entry.guid].append(entry)
    for guid, group in by_guid.items():
        if len(group) == 1:
            group[0].key = guid
            continue
        # the oldest (ties: the last in the feed, which lists newest first) keeps the guid
        order = sorted(
            range(len(group)),
            key=lambda i: (group[i].date or dt.date.min, -i),
        )
        holder = claimed.get(guid)
        owners = [i for i in order if holder and redact(group[i].enclosure_url or "") == holder]
        if owners:  # the item taken before keeps its key, whatever was added since
            order.remove(owners[0])
            order.insert(0, owners[0])
        group[order[0]].key = guid
        taken = {guid}
        enclosures = [e.enclosure_url for e in group]
        for index in order[1:]:
            entry = group[index]
            if entry.enclosure_url and enclosures.count(entry.enclosure_url) == 1:
                tell = redact(entry.enclosure_url)
            else:
                tell = f"{entry.title}\n{entry.date}"
            key = f"{guid}#{digest(tell)[:8]}"
            number = 2
            while key in taken:  # the same title and date too: the place in the feed
                key = f"{guid}#{digest(tell + chr(10) + str(number))[:8]}"
                number += 1
            taken.add(key)
            entry.key = key


def parse_feed(
    data: bytes,
    url: str,
    *,
    charset: str | None = None,
    claimed: Mapping[str, str] | None = None,
) -> Feed:
    """Parse RSS or Atom bytes. ``url`` is where they came from after redirects (relative
    URLs resolve against it); ``charset`` is the HTTP Content-Type's, if any; ``claimed``:
    ``{item key: redacted enclosure URL}`` of items taken before (see the module docstring).
    Errors: ``SourceError`` when the bytes are no RSS or Atom feed."""
    try:
        data, charset = normalise(data, charset)
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{redact(url)} is not a valid RSS/Atom feed: its byte order mark says "
            f"{e.encoding}, but byte {e.start} does not decode",
            hint="ask the publisher to fix the feed's encoding",
        ) from e
    if (depth := too_deep(data)) is not None:
        raise SourceError(
            f"{redact(url)} is not a podcast feed: its elements nest more than {depth - 1} deep",
            hint="check the URL; a real feed nests about ten elements deep",
        )
    content_type = "application/xml" + (f"; charset={charset}" if charset else "")
    result = feedparser.parse(
        io.BytesIO(data),
        response_headers={"content-location": url, "content-type": content_type},
        resolve_relative_uris=True,
        sanitize_html=True,
    )
    if not result.get("version") and not result.entries:
        reason = result.get("bozo_exception")
        raise SourceError(
            f"{redact(url)} is not a valid RSS/Atom feed" + (f" ({reason})" if reason else ""),
            hint="check the URL",
        )
    raw = raw_items(data, url)
    if raw is not None and len(raw) != len(result.entries):
        raw = None  # the two parsers disagree on what an item is: trust feedparser alone
    channel = result.feed
    language = language_tag(channel.get("language"))
    entries = [
        _entry(parsed, raw[index] if raw is not None else None, url, language)
        for index, parsed in enumerate(result.entries)
    ]
    _assign_keys(entries, claimed or {})
    author = channel.get("author_detail", {}).get("name") or channel.get("author") or ""
    return Feed(
        title=_text(channel.get("title_detail"), channel.get("title")),
        author=" ".join(str(author).split()),
        language=language,
        link=channel.get("link") or None,
        entries=entries,
    )


def select_item(feed: Feed, item: str | None, url: str) -> Entry:
    """By exact key (the guid for most items), then 1-based index, then title (exact, then
    unique substring); None: the newest item that has media (an enclosure), so a text-only
    notice on top of the feed is passed over. Errors: ``SourceError`` (no such item, several
    match, or no item with media)."""
    url = redact(url)
    if not feed.entries:
        raise SourceError(f"the feed {url} has no items", hint="check the feed URL")
    if item is None:
        playable = [e for e in feed.entries if e.enclosure_url]
        if not playable:
            raise SourceError(
                f"no item of the feed {url} has an enclosure (audio or video)",
                hint="check the feed URL",
            )
        dated = [e for e in playable if e.date]
        return max(dated, key=lambda e: e.date or dt.date.min) if dated else playable[0]
    for entry in feed.entries:
        if entry.key == item:
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


def looks_like_feed(response: HttpResponse) -> bool:
    """Whether an HTTP response is an RSS/Atom document (by type, else by its first bytes)."""
    if response.content_type in _FEED_TYPES:
        return True
    head, _ = normalise(response.head, None, errors="replace")  # a cut-off head
    start = head[:512].lower()
    return (start.startswith(b"<?xml") and (b"<rss" in start or b"<feed" in start)) or (
        start.startswith((b"<rss", b"<feed", b"<rdf:rdf"))
    )


def list_feed(
    url: str, config: Config, *, claimed: Mapping[str, str] | None = None
) -> list[FeedItem]:
    """Every episode an RSS/Atom feed or a yt-dlp playlist/channel offers, newest first
    as the source orders them. A single video gives a one-item list. Pass ``item.source``
    and ``item.item`` to ``fetch_episode``, with the same ``claimed`` (see
    :func:`parse_feed`)."""
    from pipeline.fetch.ytdlp import playlist_entries

    url = remember(url)
    response = http_get(url, config, user_url=True, cap="fetch.max_feed_bytes")
    if looks_like_feed(response):
        feed = parse_feed(response.head, response.url, charset=response.charset, claimed=claimed)
        return [
            FeedItem(
                source=url,
                item=e.key,
                guid=e.key,
                enclosure=redact(e.enclosure_url) if e.enclosure_url else None,
                title=e.title,
                url=redact(e.link or e.enclosure_url or "") or None,
                date=e.date,
                duration=e.duration,
                media=e.enclosure_url is not None,
            )
            for e in feed.entries
        ]
    return [FeedItem(**entry) for entry in playlist_entries(url, config)]
