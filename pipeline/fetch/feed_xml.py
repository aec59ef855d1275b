"""The feed's own bytes: BOM and whitespace fixes, and a defusedxml reading of each item.

    normalise(data, charset) -> (bytes, charset)    # what an XML parser accepts
    too_deep(data) -> int | None                    # elements nested past MAX_DEPTH
    raw_items(data, url) -> list[RawItem] | None    # None when defusedxml cannot parse it

feedparser (see :mod:`pipeline.fetch.feeds`) keeps one ``<podcast:transcript>`` per namespace
prefix and leaves its URL unresolved, and it rewrites a "permalink" guid. This reading of the
same bytes keeps every enclosure and transcript of an item, with URLs resolved against the
feed's final URL and any ``xml:base``, and the guid as written. A document with a DTD that
declares entities is refused here (defusedxml), and feedparser's values are used alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml.ElementTree import DefusedXMLParser

from pipeline.fetch.urls import resolve

PODCAST_NAMESPACES = {
    "https://podcastindex.org/namespace/1.0",
    "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",  # legacy
}
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_BOMS = [
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16 LE, whose BOM it starts with
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
]


# --- the bytes ------------------------------------------------------------------------------


def normalise(data: bytes, charset: str | None, errors: str = "strict") -> tuple[bytes, str | None]:
    """Drop whitespace before ``<?xml`` (an XML parser refuses it, feed readers do not).
    A BOM-marked UTF-16/32 document is re-encoded as UTF-8 with its declaration fixed, and
    its ``charset`` comes back None (the bytes now say UTF-8); ``errors`` is the decoding's
    (``"replace"`` for a head cut off mid-character). Raises ``UnicodeDecodeError`` when a
    BOM-marked document does not decode under ``errors="strict"``."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = data.decode(codec, errors).lstrip()
            text = re.sub(r"^<\?xml[^>]*\?>", "", text).lstrip()
            return b'<?xml version="1.0" encoding="utf-8"?>\n' + text.encode("utf-8"), None
    return data.lstrip(b" \t\r\n"), charset


# --- how deep ---------------------------------------------------------------------------

#: Elements nested deeper than this are no podcast feed: real feeds nest about ten deep
#: (XHTML content a few more). feedparser's time grows with the square of the depth
#: (50,000 levels: 8 s, 200,000: 70 s; 30 s for 50,000 in its loose mode for feeds that are
#: not well-formed), so a deeper document is refused before it.
MAX_DEPTH = 256
#: For a document expat cannot read (an undefined ``&nbsp;``, a stray ``<br>``), tags are
#: only counted, so the bound is looser: unclosed HTML must not refuse a real feed.
MAX_LOOSE_DEPTH = 5000
_LOOSE_SKIP = re.compile(rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->", re.DOTALL)
_LOOSE_TAG = re.compile(rb"<(/?)([A-Za-z_][\w:.-]*)[^<>]*?(/?)>")
_VOID = frozenset(b"area base br col embed hr img input link meta param source track wbr".split())


class _TooDeep(Exception):
    pass


class _DepthCounter:
    """An XMLParser target that counts open elements and stops past ``MAX_DEPTH``."""

    def __init__(self) -> None:
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep

    def end(self, tag: str) -> None:
        self.depth -= 1

    def close(self) -> None:
        return None


def too_deep(data: bytes) -> int | None:
    """The bound passed, plus one, when elements in ``data`` nest deeper than
    :data:`MAX_DEPTH`, else None. Streams through the document once (expat, no tree kept);
    a document that is not well-formed is measured loosely (:data:`MAX_LOOSE_DEPTH`)."""
    parser = DefusedXMLParser(target=_DepthCounter())
    try:
        parser.feed(data)
        parser.close()
    except _TooDeep:
        return MAX_DEPTH + 1
    except Exception:  # not well-formed (feedparser reads it loosely), or a DTD
        return _loose_depth(data)
    return None


def _loose_depth(data: bytes) -> int | None:
    """Open tags counted against close tags, CDATA, comments and HTML's void elements
    left out: ``MAX_LOOSE_DEPTH + 1`` past that bound, else None."""
    depth = 0
    for match in _LOOSE_TAG.finditer(_LOOSE_SKIP.sub(b"", data)):
        closing, name, empty = match.groups()
        if empty or name.lower() in _VOID:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        if depth > MAX_LOOSE_DEPTH:
            return MAX_LOOSE_DEPTH + 1
    return None


# --- the items ------------------------------------------------------------------------------


def _local(tag: Any) -> tuple[str, str]:
    """``{namespace}name`` -> (namespace, name)."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


@dataclass
class RawItem:
    """One item as the raw XML writes it: its enclosures ``(url, type, length)`` and
    transcripts ``(url, mime type, language attribute)`` with URLs absolute, and its guid."""

    enclosures: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    # (url, mime type, the tag's ``language`` or None), in feed order
    transcripts: list[tuple[str, str, str | None]] = field(default_factory=list)
    guid: str | None = None  # as written: feedparser resolves a "permalink" guid


def _walk(root: Element, url: str) -> list[RawItem]:
    """Every item under ``root`` in document order. Iterative, with an explicit stack: a
    document nested thousands of elements deep is read, not a RecursionError."""
    items: list[RawItem] = []
    stack: list[tuple[Element, str, RawItem | None]] = [(root, url, None)]
    while stack:
        node, base, current = stack.pop()
        base = resolve(base, node.get(XML_BASE)) or base
        namespace, name = _local(node.tag)
        if name == "item" or (name == "entry" and namespace != ""):
            current = RawItem()
            items.append(current)
        elif current is not None:
            _read(node, namespace, name, base, current)
        stack.extend((child, base, current) for child in reversed(node))
    return items


def _read(node: Element, namespace: str, name: str, base: str, current: RawItem) -> None:
    """What ``node`` inside an item adds to it: an enclosure, the guid, a transcript."""
    if name == "enclosure" and namespace == "" and node.get("url"):
        url = resolve(base, node.get("url"))
        current.enclosures.append((str(url), node.get("type"), node.get("length")))
    elif name == "link" and node.get("rel") == "enclosure" and node.get("href"):
        url = resolve(base, node.get("href"))
        current.enclosures.append((str(url), node.get("type"), node.get("length")))
    elif (name == "guid" and namespace == "") or (name == "id" and "atom" in namespace.lower()):
        current.guid = current.guid or " ".join((node.text or "").split()) or None
    elif name == "transcript" and namespace in PODCAST_NAMESPACES and node.get("url"):
        url = resolve(base, node.get("url"))
        mime = (node.get("type") or "").lower()
        current.transcripts.append((str(url), mime, node.get("language") or None))


def raw_items(data: bytes, url: str) -> list[RawItem] | None:
    """Enclosures and transcripts per item from a defusedxml parse; None if it fails."""
    try:
        root = SafeET.fromstring(data)
    except Exception:  # not well-formed, or a DTD with entities: feedparser's values only
        return None
    return _walk(root, url)
