"""Feeds as podcast hosts publish them, parsed by ``pipeline.fetch.feeds`` (no network)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from pipeline.errors import SourceError
from pipeline.fetch.feeds import Entry, parse_feed, select_item

FINAL = "http://127.0.0.1:8000/shows/v2/feed.xml"  # where the feed came from after redirects
PODCAST = "https://podcastindex.org/namespace/1.0"
PODCAST_LEGACY = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"


def rss(items: str, *, itunes: str = "http://www.itunes.com/dtds/podcast-1.0.dtd",
        podcast: str = PODCAST, channel: str = "", decl: str = "UTF-8") -> str:  # fmt: skip
    return (
        f'<?xml version="1.0" encoding="{decl}"?>\n'
        f'<rss version="2.0" xmlns:itunes="{itunes}" xmlns:podcast="{podcast}">\n'
        f"<channel><title>Caf\u00e9 Cast</title><language>en-GB</language>"
        f"<itunes:author>Morgan Presenter</itunes:author>{channel}\n{items}\n</channel></rss>\n"
    )


ITEM = """<item>
  <title>Episode one</title>
  <itunes:author>Dana Host</itunes:author>
  <itunes:duration>01:02:03</itunes:duration>
  <itunes:summary>Dana talks captions.</itunes:summary>
  <guid isPermaLink="false">ep-1</guid>
  <pubDate>Mon, 02 Mar 2026 23:30:00 -0500</pubDate>
  <enclosure url="http://cdn.test/ep1.mp3" type="audio/mpeg" length="30529"/>
  <podcast:transcript url="http://cdn.test/ep1.srt" type="application/x-subrip"/>
  <podcast:transcript url="http://cdn.test/ep1.vtt" type="text/vtt"/>
</item>"""

EXPECTED = Entry(
    guid="ep-1",
    key="ep-1",
    title="Episode one",
    author="Dana Host",
    description="Dana talks captions.",
    date=dt.date(2026, 3, 2),  # the publisher's calendar date, not UTC's
    duration=3723.0,
    enclosure_url="http://cdn.test/ep1.mp3",
    enclosure_type="audio/mpeg",
    enclosure_length=30529,
    transcript_url="http://cdn.test/ep1.vtt",  # VTT is preferred over SRT
    transcript_type="text/vtt",
)


def test_itunes_namespace_spellings_are_one() -> None:
    control = parse_feed(rss(ITEM).encode(), FINAL)
    apple = parse_feed(
        rss(ITEM, itunes="http://www.itunes.com/DTDs/Podcast-1.0.dtd").encode(), FINAL
    )
    legacy = parse_feed(rss(ITEM, podcast=PODCAST_LEGACY).encode(), FINAL)
    assert control.entries == [EXPECTED]
    assert (control.title, control.author, control.language) == (
        "Café Cast",
        "Morgan Presenter",
        "en-GB",
    )
    assert apple == control
    assert legacy == control  # <podcast:transcript> in the legacy namespace


def test_whitespace_before_the_declaration_and_utf16_with_bom() -> None:
    text = rss(ITEM)
    assert parse_feed(b"\n   \t" + text.encode(), FINAL).entries == [EXPECTED]
    utf16 = rss(ITEM, decl="UTF-16")
    for data in (utf16.encode("utf-16"), b"\xfe\xff" + ("\n  " + utf16).encode("utf-16-be")):
        feed = parse_feed(data, FINAL)
        assert feed.title == "Café Cast" and feed.entries == [EXPECTED]
    latin = rss(ITEM, decl="ISO-8859-1").encode("latin-1")
    assert parse_feed(latin, FINAL).title == "Café Cast"


def test_relative_urls_resolve_against_the_final_url_and_xml_base() -> None:
    items = """<item><title>Rel</title><guid isPermaLink="false">rel</guid>
      <link>../episodes/rel.html</link>
      <enclosure url="/media/ep1.mp3" type="audio/mpeg" length="0"/>
      <podcast:transcript url="../media/ep1.vtt" type="text/vtt"/></item>
    <item xml:base="http://other.test/base/"><title>Based</title><guid>based</guid>
      <enclosure url="ep2.mp3" type="audio/mpeg"/>
      <podcast:transcript url="t/ep2.vtt" type="text/vtt"/></item>"""
    feed = parse_feed(rss(items).encode(), FINAL)
    rel, based = feed.entries
    assert rel.enclosure_url == "http://127.0.0.1:8000/media/ep1.mp3"
    assert rel.transcript_url == "http://127.0.0.1:8000/shows/media/ep1.vtt"
    assert rel.link == "http://127.0.0.1:8000/shows/episodes/rel.html"
    assert (rel.enclosure_length, rel.date, rel.duration) == (None, None, None)
    assert based.enclosure_url == "http://other.test/base/ep2.mp3"
    assert based.transcript_url == "http://other.test/base/t/ep2.vtt"
    assert based.guid == "based"  # as written, though RSS calls an unmarked guid a permalink
    assert based.link is None


def test_atom_feed_with_enclosure_link_and_html_summary() -> None:
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://127.0.0.1:8000/atom/">
  <title type="html">Tom &amp;amp; Jerry &lt;i&gt;Talk&lt;/i&gt;</title>
  <author><name>Ann Author</name></author>
  <entry>
    <id>urn:uuid:1</id><title type="text">A &amp;lt;b&amp;gt; tag</title>
    <updated>2025-11-05T08:00:00Z</updated>
    <link rel="alternate" href="posts/1"/>
    <link rel="enclosure" href="audio/1.m4a" type="audio/mp4" length="99"/>
    <summary type="html">&lt;p&gt;Caf&amp;eacute; &amp;amp;amp; more&lt;/p&gt;
      &lt;p&gt;Second&lt;/p&gt;</summary>
  </entry>
</feed>"""
    feed = parse_feed(atom.encode(), "http://127.0.0.1:8000/feed.atom")
    assert (feed.title, feed.author) == ("Tom & Jerry Talk", "Ann Author")
    [entry] = feed.entries
    assert entry.title == "A &lt;b&gt; tag"  # type="text": the characters as written
    assert entry.description == "Café &amp; more Second"  # html: markup gone, decoded once
    assert entry.link == "http://127.0.0.1:8000/atom/posts/1"
    assert entry.enclosure_url == "http://127.0.0.1:8000/atom/audio/1.m4a"
    assert (entry.guid, entry.date, entry.enclosure_length) == (
        "urn:uuid:1",
        dt.date(2025, 11, 5),
        99,
    )


def _dup_feed() -> str:
    def item(title: str, guid: str, date: str, enclosure: str) -> str:
        return (f"<item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid>"
                f"<pubDate>{date}</pubDate><enclosure url=\"{enclosure}\" type=\"audio/mpeg\"/>"
                "</item>")  # fmt: skip

    return rss(
        item("Episode three", "same", "Mon, 16 Mar 2026 10:00:00 +0000", "/m/ep3.mp3")
        + item("Episode two", "same", "Mon, 09 Mar 2026 10:00:00 +0000", "/m/ep2.mp3")
        + item("Episode one", "same", "Mon, 02 Mar 2026 10:00:00 +0000", "/m/ep1.mp3")
        + item("Other", "other", "Mon, 02 Mar 2026 10:00:00 +0000", "/m/ep1.mp3")
        + item("Copy", "twice", "Mon, 02 Mar 2026 10:00:00 +0000", "/m/x.mp3")
        + item("Copy", "twice", "Mon, 02 Mar 2026 10:00:00 +0000", "/m/x.mp3")
    )


def test_items_sharing_a_guid_get_their_own_keys() -> None:
    feed = parse_feed(_dup_feed().encode(), FINAL)

    def tag(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    ep3, ep2 = "http://127.0.0.1:8000/m/ep3.mp3", "http://127.0.0.1:8000/m/ep2.mp3"
    assert [e.key for e in feed.entries] == [
        f"same#{tag(ep3)}",  # told apart by enclosure
        f"same#{tag(ep2)}",
        "same",  # the oldest keeps the bare guid: an item done before keeps its id
        "other",
        f"twice#{tag('Copy' + chr(10) + '2026-03-02')}",  # same enclosure: title and date
        "twice",
    ]
    assert len({e.key for e in feed.entries}) == 6
    for entry in feed.entries:
        assert select_item(feed, entry.key, FINAL) is entry
    assert select_item(feed, "same", FINAL).title == "Episode one"
    assert select_item(feed, None, FINAL).title == "Episode three"


def test_the_item_taken_before_keeps_the_bare_guid_when_an_older_one_appears() -> None:
    def item(title: str, date: str, enclosure: str) -> str:
        return (f"<item><title>{title}</title><guid>same</guid><pubDate>{date}</pubDate>"
                f"<enclosure url=\"{enclosure}\" type=\"audio/mpeg\"/></item>")  # fmt: skip

    new = item("New", "Mon, 16 Mar 2026 10:00:00 +0000", "http://u:pw@cdn.test/new.mp3")
    old = item("Old", "Mon, 02 Mar 2026 10:00:00 +0000", "http://cdn.test/old.mp3")
    tag = hashlib.sha256(b"http://cdn.test/old.mp3").hexdigest()[:8]
    tag_new = hashlib.sha256(b"http://u:***@cdn.test/new.mp3").hexdigest()[:8]
    claims = {"same": "http://u:***@cdn.test/new.mp3"}  # claims are redacted, as the ledger keeps

    assert [e.key for e in parse_feed(rss(new).encode(), FINAL).entries] == ["same"]
    grown = rss(new + old).encode()
    assert [e.key for e in parse_feed(grown, FINAL, claimed=claims).entries] == [
        "same",  # taken before: still the bare guid, still its episode
        f"same#{tag}",  # the older item that appeared since gets its own key
    ]
    # with nothing taken, or a claim no item matches (an enclosure that moved): the oldest
    for claimed in (None, {}, {"same": "http://cdn.test/elsewhere.mp3"}, {"other": "x"}):
        keys = [e.key for e in parse_feed(grown, FINAL, claimed=claimed).entries]
        assert keys == [f"same#{tag_new}", "same"]


def test_not_a_feed_is_one_line() -> None:
    with pytest.raises(SourceError, match=r"^http://127\.0\.0\.1:8000/x is not a valid RSS/Atom"):
        parse_feed(b"<html><body>hello</body></html>", "http://127.0.0.1:8000/x")


def test_a_feed_whose_bytes_break_its_byte_order_mark_is_one_line() -> None:
    body = "\ufeff<rss version='2.0'><channel><title>T</title></channel></rss>".encode("utf-16-le")
    with pytest.raises(SourceError, match=r"not a valid RSS/Atom feed: its byte order mark says"):
        parse_feed(body[:-1] + b"\x00\xd8", "http://127.0.0.1:1/feed.xml")
