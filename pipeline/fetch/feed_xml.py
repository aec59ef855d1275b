"""The feed's own bytes: BOM and whitespace fixes, and a defusedxml reading of each item.

    normalise(data, charset) -> (bytes, charset)    # what an XML parser accepts
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
