"""Real-world inputs, round 2 (issue 20): caption files, feeds, sidecar names and drafts as
tools and editors really write them. Every input is written here; values are exact.

Kinds: hour-less and CR-only SubRip, unreadable timing lines, unknown WebVTT tags,
``Name:`` speaker prefixes, several ``<podcast:transcript>`` in different languages, a
text-only newest item, deeply nested XML, sidecar names (case, flags, links), huge caption
files, and a draft saved by a Windows editor (BOM and CRLF).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from pipeline import store
from pipeline.cli.ingest_view import totals
from pipeline.config import Config
from pipeline.errors import InputFileError, SourceError, TranscriptionError
from pipeline.fetch.feed_xml import MAX_DEPTH
from pipeline.fetch.feeds import choose_transcript, parse_feed, select_item
from pipeline.fetch.local import sidecars
from pipeline.models import Episode, Segment, Transcript
from pipeline.post.parse import BOM_NOTE, CRLF_NOTE, Problem, check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.publish import approve
from pipeline.run.ingest import plan_ingest
from pipeline.transcribe.captions import parse_podcast_json, parse_srt, parse_vtt
from pipeline.transcribe.captions_backend import CaptionsBackend
from tests.cli_helpers import cli
from tests.fixtures.review import Drafts, clean_post


def S(start: float, end: float, text: str, speaker: str | None = None) -> Segment:
    return Segment(start=start, end=end, text=text, speaker=speaker)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- SubRip: short timestamps, old Mac line ends, unreadable timing lines ------------------

HOURLESS_SRT = (
    "1\n00:00,500 --> 00:03,250\nShort times work.\n\n"
    "2\n01:02,000 --> 01:04,5\nA minute in.\n\n"
    "3\n00:01:05 --> 00:01:07\nNo milliseconds.\n"
)
HOURLESS = [
    S(0.5, 3.25, "Short times work."),
    S(62.0, 64.5, "A minute in."),
    S(65.0, 67.0, "No milliseconds."),
]


def test_srt_times_without_hours_or_milliseconds_are_read(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_srt(HOURLESS_SRT) == HOURLESS
    assert _warnings(caplog) == []


def test_srt_with_old_mac_cr_line_ends_reads_as_lf() -> None:
    assert parse_srt(HOURLESS_SRT.replace("\n", "\r")) == HOURLESS
    assert parse_srt(HOURLESS_SRT.replace("\n", "\r\n")) == HOURLESS
    vtt = "WEBVTT\r\r00:00.500 --> 00:03.250\rShort times work.\r"
    assert parse_vtt(vtt) == HOURLESS[:1]


def test_an_unreadable_srt_timing_line_is_warned_and_its_cue_skipped(caplog) -> None:
    text = (
        "1\n00:00:00,500 --> 00:00:02,000\nKept, and x --> y is text.\n\n"
        "2\n00:00:02,000 --> later\nThis cue has no end time.\nTwo lines of it.\n\n"
        "3\n00:00:04,000 --> 00:00:05,000\nKept too.\n"
    )
    with caplog.at_level(logging.WARNING):
        segments = parse_srt(text)
    # the lost cue's text is not glued to the cue before it, nor its index number
    assert segments == [S(0.5, 2.0, "Kept, and x --> y is text."), S(4.0, 5.0, "Kept too.")]
    assert _warnings(caplog) == [
        "SubRip: line 6, timing line '00:00:02,000 --> later' is not readable; its cue is skipped"
    ]


def test_an_unreadable_vtt_timing_line_is_warned(caplog) -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nOne.\n\n00:02.000 --> never\nLost.\n"
    with caplog.at_level(logging.WARNING):
        assert parse_vtt(text) == [S(1.0, 2.0, "One.")]
    assert _warnings(caplog) == ["WebVTT: 1 cue(s) with unreadable timings skipped"]


# --- WebVTT: tags it does not know are dropped ---------------------------------------------


def test_vtt_drops_unknown_and_html_tags_and_keeps_bare_brackets() -> None:
    text = (
        "WEBVTT\n\n00:01.000 --> 00:03.000\n"
        '<details>Spoiler</details> alert <span class="x">now</span><br/>\n'
        "<p>a list</p><div>of things</DIV></detail>\n\n"
        "00:03.000 --> 00:04.000\nx < 5 and List<String> &lt;b&gt;\n"
    )
    assert parse_vtt(text) == [
        S(1.0, 3.0, "Spoiler alert now a listof things"),
        S(3.0, 4.0, "x < 5 and List<String> <b>"),
    ]


# --- "Name:" speaker prefixes ---------------------------------------------------------------

PREFIX_SRT = """1
00:00:00,500 --> 00:00:02,000
Nora Vance: Welcome back to the show.

2
00:00:02,000 --> 00:00:03,500
Today we talk about <i>caching</i>.

3
00:00:03,500 --> 00:00:05,000
Omar El Amin: Glad to be here: really.

4
00:00:05,000 --> 00:00:06,000
Nora Vance: Let's start.
"""


def test_recurring_name_prefixes_become_speakers_and_leave_the_text() -> None:
    assert parse_srt(PREFIX_SRT) == [
        S(0.5, 2.0, "Welcome back to the show.", "Nora Vance"),
        S(2.0, 3.5, "Today we talk about caching.", "Nora Vance"),  # continues her turn
        S(3.5, 5.0, "Glad to be here: really.", "Omar El Amin"),
        S(5.0, 6.0, "Let's start.", "Nora Vance"),
    ]


def test_prefixes_in_webvtt_and_in_dialogue_lines_and_before_the_first_name() -> None:
    text = (
        "WEBVTT\n\n00:00.000 --> 00:01.000\nMusic plays.\n\n"
        "00:01.000 --> 00:03.000\n- Li Wei: Hi.\n- Ana: Hello there.\n\n"
        "00:03.000 --> 00:04.000\n李雷：你好。\n\n00:04.000 --> 00:05.000\n李雷：再见。\n"
    )
    assert parse_vtt(text) == [
        S(0.0, 1.0, "Music plays."),  # before any prefix: no speaker
        S(1.0, 1.4, "Hi.", "Li Wei"),  # time shared by length of text
        S(1.4, 3.0, "Hello there.", "Ana"),
        S(3.0, 4.0, "你好。", "李雷"),
        S(4.0, 5.0, "再见。", "李雷"),
    ]


def test_labels_urls_one_offs_and_lowercase_words_are_not_speakers() -> None:
    text = (
        "1\n00:00:00,000 --> 00:00:01,000\nNote: this episode was recorded live.\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nWarning: loud noises ahead.\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\nSee http://example.org: it helps.\n\n"
        "4\n00:00:03,000 --> 00:00:04,000\nhttps://example.org/x is the link.\n\n"
        "5\n00:00:04,000 --> 00:00:05,000\nthe rule: keep it short.\n\n"
        "6\n00:00:05,000 --> 00:00:06,000\nDana Scott: just once in this file.\n\n"
        "7\n00:00:06,000 --> 00:00:07,000\nNote: the end.\n"
    )
    segments = parse_srt(text)
    assert [s.speaker for s in segments] == [None] * 7
    assert [s.text for s in segments][:2] == [
        "Note: this episode was recorded live.",
        "Warning: loud noises ahead.",
    ]
    assert segments[5].text == "Dana Scott: just once in this file."


def test_numbered_voices_broadcast_chevrons_and_numbered_labels() -> None:
    text = (
        "1\n00:00:00,000 --> 00:00:01,000\nSpeaker 1: So, shall we?\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\n>> JOHN SMITH: Yes.\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\nSpeaker 2: Fine.\n\n"
        "4\n00:00:03,000 --> 00:00:04,000\nChapter 2: the plan.\n\n"
        "5\n00:00:04,000 --> 00:00:05,000\nAt 10:30 we start.\n"
    )
    assert parse_srt(text) == [
        S(0.0, 1.0, "So, shall we?", "Speaker 1"),
        S(1.0, 2.0, "Yes.", "JOHN SMITH"),
        S(2.0, 3.0, "Fine.", "Speaker 2"),
        S(3.0, 4.0, "Chapter 2: the plan.", "Speaker 2"),  # a label: text, the turn goes on
        S(4.0, 5.0, "At 10:30 we start.", "Speaker 2"),
    ]


def test_a_name_alone_on_the_first_line_names_the_lines_after_it() -> None:
    text = (
        "1\n00:00:00,000 --> 00:00:02,000\nDANA HOST:\nWelcome to the show.\n\n"
        "2\n00:00:02,000 --> 00:00:04,000\nLEE GUEST:\nThanks.\n"
    )
    assert parse_srt(text) == [
        S(0.0, 2.0, "Welcome to the show.", "DANA HOST"),
        S(2.0, 4.0, "Thanks.", "LEE GUEST"),
    ]


def test_a_name_prefix_on_a_voice_span_keeps_the_voice() -> None:
    text = (
        "WEBVTT\n\n00:00.000 --> 00:01.000\n<v Sam>Ana: that is what she said.\n\n"
        "00:01.000 --> 00:02.000\n<v Sam>Ana: and again.\n"
    )
    assert parse_vtt(text) == [
        S(0.0, 1.0, "Ana: that is what she said.", "Sam"),
        S(1.0, 2.0, "Ana: and again.", "Sam"),
    ]


# --- feeds: which transcript, which item ------------------------------------------------------

FEED_URL = "http://127.0.0.1:9/feed.xml"


def _rss(items: str, language: str | None = "en") -> bytes:
    lang = f"<language>{language}</language>" if language else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>Two Tongues</title>{lang}{items}</channel></rss>"
    ).encode()


def _item(guid: str, date: str, transcripts: str = "", media: bool = True) -> str:
    enclosure = (
        f'<enclosure url="http://127.0.0.1:9/{guid}.mp3" type="audio/mpeg" length="100"/>'
        if media
        else ""
    )
    return (
        f"<item><title>Item {guid}</title><guid>{guid}</guid><pubDate>{date}</pubDate>"
        f"{enclosure}{transcripts}</item>"
    )


THREE = (
    '<podcast:transcript url="ep.es.vtt" type="text/vtt" language="es"/>'
    '<podcast:transcript url="ep.html" type="text/html"/>'
    '<podcast:transcript url="ep.en.srt" type="application/x-subrip" language="en-US"/>'
)


@pytest.mark.parametrize(
    ("language", "transcripts", "chosen"),
    [
        # the episode's language first (a tag's own language, en-US being en), then type
        ("en", THREE, ("http://127.0.0.1:9/ep.en.srt", "application/x-subrip", "en-US")),
        ("es", THREE, ("http://127.0.0.1:9/ep.es.vtt", "text/vtt", "es")),
        # no language attribute anywhere: the feed's; SRT before HTML before plain text
        (
            "en",
            '<podcast:transcript url="a.txt" type="text/plain"/>'
            '<podcast:transcript url="a.html" type="text/html"/>'
            '<podcast:transcript url="a.srt" type="application/srt"/>',
            ("http://127.0.0.1:9/a.srt", "application/srt", None),
        ),
        # only HTML is in the episode's language: it is the transcript, not the Spanish VTT
        (
            "en",
            '<podcast:transcript url="b.vtt" type="text/vtt" language="es"/>'
            '<podcast:transcript url="b.html" type="text/html"/>',
            ("http://127.0.0.1:9/b.html", "text/html", None),
        ),
        # a type with parameters, or none at all: the URL's extension tells
        (
            "en",
            '<podcast:transcript url="d.html" type="text/html"/>'
            '<podcast:transcript url="d.txt"/>'
            '<podcast:transcript url="d.SRT?v=2"/>'
            '<podcast:transcript url="d.vtt" type="text/vtt; charset=utf-8" language="de"/>',
            ("http://127.0.0.1:9/d.SRT?v=2", None, None),
        ),
        # a feed without a language: by type alone
        (
            None,
            '<podcast:transcript url="c.html" type="text/html" language="de"/>'
            '<podcast:transcript url="c.vtt" type="text/vtt" language="fr"/>',
            ("http://127.0.0.1:9/c.vtt", "text/vtt", "fr"),
        ),
    ],
)
def test_the_transcript_in_the_episodes_language_then_by_type(language, transcripts, chosen):
    feed = parse_feed(_rss(_item("g1", "Mon, 02 Mar 2026 10:00:00 +0000", transcripts), language),
                      FEED_URL)  # fmt: skip
    (entry,) = feed.entries
    assert (entry.transcript_url, entry.transcript_type, entry.transcript_language) == chosen


def test_choose_transcript_with_none_offered() -> None:
    assert choose_transcript([], "en") == (None, None, None)


def test_the_newest_item_with_media_is_the_default_and_text_only_items_are_marked() -> None:
    feed = parse_feed(
        _rss(
            _item("notice", "Tue, 10 Mar 2026 09:00:00 +0000", media=False)
            + _item("ep2", "Mon, 09 Mar 2026 09:00:00 +0000")
            + _item("ep1", "Mon, 02 Mar 2026 09:00:00 +0000")
        ),
        FEED_URL,
    )
    assert select_item(feed, None, FEED_URL).guid == "ep2"
    cover_only = _item("art", "Wed, 11 Mar 2026 09:00:00 +0000", media=False).replace(
        "</guid>", '</guid><enclosure url="http://127.0.0.1:9/art.jpg" type="image/jpeg"/>'
    )
    with_art = parse_feed(_rss(cover_only + _item("ep2", "Mon, 09 Mar 2026 09:00:00 +0000")),
                          FEED_URL)  # fmt: skip
    assert [e.enclosure_url for e in with_art.entries] == [None, "http://127.0.0.1:9/ep2.mp3"]
    assert select_item(with_art, None, FEED_URL).guid == "ep2"
    assert select_item(feed, "notice", FEED_URL).enclosure_url is None  # asked for: given
    only_text = parse_feed(_rss(_item("n", "Tue, 10 Mar 2026 09:00:00 +0000", media=False)),
                           FEED_URL)  # fmt: skip
    with pytest.raises(SourceError) as caught:
        select_item(only_text, None, FEED_URL)
    assert str(caught.value) == (
        f"no item of the feed {FEED_URL} has an enclosure (audio or video); check the feed URL"
    )


def _nested(depth: int, extra: str = "") -> bytes:
    inner = "<a>" * depth + "</a>" * depth
    return _rss(_item("deep", "Mon, 02 Mar 2026 09:00:00 +0000", extra + inner))


def test_deeply_nested_xml_is_one_line_and_modest_nesting_is_read() -> None:
    assert parse_feed(_nested(MAX_DEPTH - 10), FEED_URL).entries[0].guid == "deep"
    for data in (_nested(1500), _nested(200_000)):
        with pytest.raises(SourceError) as caught:
            parse_feed(data, FEED_URL)
        assert str(caught.value) == (
            f"{FEED_URL} is not a podcast feed: its elements nest more than 256 deep; "
            "check the URL; a real feed nests about ten elements deep"
        )
    # not well-formed (feedparser would read it loosely, slowly): tags are counted instead
    with pytest.raises(SourceError, match="nest more than 5000 deep"):
        parse_feed(_nested(20_000, "&nbsp;<br>"), FEED_URL)
    # unclosed HTML in a feed that is not well-formed is no reason to refuse it
    loose = _rss(_item("x", "Mon, 02 Mar 2026 09:00:00 +0000", "&nbsp;" + "<br><p>" * 3000))
    assert parse_feed(loose, FEED_URL).entries[0].title == "Item x"


def test_deeply_nested_json_transcripts_and_front_matter_are_one_line() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InputFileError) as caught:
        parse_podcast_json(deep)
    assert str(caught.value) == (
        "not a Podcasting 2.0 JSON transcript: its arrays or objects nest too deep; "
        "expected {'segments': [{'startTime', 'body'}, ...]}"
    )
    post = render_post(clean_post()).replace("\nauthor:", f"\nextra: {deep}\nauthor:", 1)
    assert check_post(post) == [
        Problem(2, "front matter nests too deep to be a post's", unreadable=True)
    ]


# --- a feed item through the captions backend, and through ingest ----------------------------

EN_SRT = (
    "1\n00:00:00,500 --> 00:00:03,500\nMara Quinn: Welcome to the show.\n\n"
    "2\n00:00:03,500 --> 00:00:07,000\nJoel Park: Thanks for having me.\n"
)
ES_VTT = "WEBVTT\n\n00:00.500 --> 00:03.500\nBienvenidos.\n"


def test_captions_backend_reads_the_chosen_transcript_in_its_language(tmp_path) -> None:
    served = {"http://h/ep.en.srt": EN_SRT.encode(), "http://h/ep.es.vtt": ES_VTT.encode()}
    feed = parse_feed(
        _rss(
            _item("g", "Mon, 02 Mar 2026 10:00:00 +0000", THREE.replace("ep.", "http://h/ep.")),
            language="en",
        ),
        FEED_URL,
    )
    (entry,) = feed.entries
    episode = Episode(
        id="feed-x", source=FEED_URL, kind="feed", url=FEED_URL, language="en",
        transcript_url=entry.transcript_url, transcript_type=entry.transcript_type,
        transcript_language=entry.transcript_language,
    )  # fmt: skip
    transcript = CaptionsBackend(Config(data_dir=tmp_path), http=served.__getitem__).transcribe(
        episode, tmp_path
    )
    assert (transcript.language, transcript.model) == ("en-US", "feed:en-US.srt")
    assert transcript.segments == [
        S(0.5, 3.5, "Welcome to the show.", "Mara Quinn"),
        S(3.5, 7.0, "Thanks for having me.", "Joel Park"),
    ]
    assert (tmp_path / "captions.feed.en-US.srt").read_text() == EN_SRT


def test_an_html_transcript_chosen_for_its_language_says_so(tmp_path) -> None:
    episode = Episode(id="feed-h", source=FEED_URL, kind="feed", url=FEED_URL, language="en",
                      transcript_url="http://h/ep.html", transcript_type="text/html")  # fmt: skip
    with pytest.raises(TranscriptionError) as caught:
        CaptionsBackend(Config(data_dir=tmp_path)).transcribe(episode, tmp_path)
    assert str(caught.value) == (
        "episode feed-h's transcript is text/html, not captions with times (SRT, WebVTT or "
        "Podcasting 2.0 JSON); use --backend whisper (or auto)"
    )


def test_a_feed_transcript_over_the_cap_is_refused_in_one_line(tmp_path) -> None:
    episode = Episode(id="feed-y", source=FEED_URL, kind="feed", url=FEED_URL, language="en",
                      transcript_url="http://h/big.vtt", transcript_type="text/vtt")  # fmt: skip
    config = Config(data_dir=tmp_path, asr={"max_caption_bytes": 1000})
    big = ("WEBVTT\n\n" + "00:01.000 --> 00:02.000\nwords words words\n\n" * 100).encode()
    with pytest.raises(InputFileError) as caught:
        CaptionsBackend(config, http=lambda url: big).transcribe(episode, tmp_path)
    assert str(caught.value) == (
        f"caption file http://h/big.vtt is {len(big)} bytes, over the 1000 bytes limit for "
        "captions; raise [asr] max_caption_bytes if it really is one transcript, or use "
        "--backend whisper"
    )
    assert list(tmp_path.iterdir()) == []  # nothing of it kept


def _served_feed(media_server, audio) -> str:
    enclosure = media_server.put("kinds/ep1.wav", audio.speech("Welcome to the show."))
    srt = media_server.put("kinds/ep1.en.srt", EN_SRT)
    vtt = media_server.put("kinds/ep1.es.vtt", ES_VTT)
    items = (
        "<item><title>We are on a break</title><guid>notice</guid>"
        "<pubDate>Tue, 10 Mar 2026 09:00:00 +0000</pubDate>"
        "<description>Back in April.</description></item>"
        "<item><title>Episode one</title><guid>ep1</guid>"
        "<pubDate>Mon, 02 Mar 2026 09:00:00 +0000</pubDate>"
        f'<enclosure url="{enclosure}" type="audio/wav" length="100"/>'
        f'<podcast:transcript url="{vtt}" type="text/vtt" language="es"/>'
        f'<podcast:transcript url="{srt}" type="application/x-subrip" language="en"/>'
        "</item>"
    )
    return media_server.put("kinds/feed.xml", _rss(items, "en"))


@pytest.mark.slow  # a real fetch: ffprobe, the enclosure's download
def test_transcribe_feed_takes_the_newest_item_with_media_and_the_english_srt(
    tmp_path, audio, media_server, capsys
) -> None:
    feed = _served_feed(media_server, audio)
    data = tmp_path / "data"
    code, _, err = cli(
        ["--data-dir", str(data), "transcribe", feed, "--backend", "captions"], capsys
    )
    assert code == 0, err
    (folder,) = (data / "episodes").iterdir()
    episode = store.load(folder / "episode.json", Episode)
    assert (episode.title, episode.language) == ("Episode one", "en")
    assert (episode.transcript_url, episode.transcript_type, episode.transcript_language) == (
        media_server.url("kinds/ep1.en.srt"), "application/x-subrip", "en",
    )  # fmt: skip
    transcript = store.load(folder / "transcript.json", Transcript)
    assert (transcript.language, transcript.model) == ("en", "feed:en.srt")
    assert transcript.segments == [
        S(0.5, 3.5, "Welcome to the show.", "Mara Quinn"),
        S(3.5, 7.0, "Thanks for having me.", "Joel Park"),
    ]


def test_ingest_counts_an_item_without_media_as_skipped(tmp_path, audio, media_server) -> None:
    feed = _served_feed(media_server, audio)
    config = Config(data_dir=tmp_path / "data", fetch={"retries": 0})
    summary, todo = plan_ingest(feed, config)
    assert [(i.guid, i.media) for i in todo] == [("ep1", True)]
    assert [(o.guid, o.state) for o in summary.outcomes] == [("notice", "skipped")]
    counts = summary.as_dict()
    assert (counts["skipped"], counts["failed"]) == (1, 0)
    assert totals(counts) == (
        "0 new drafts, 0 needing review, 0 failed, 0 done before, 1 skipped (no audio or video)"
    )


# --- sidecars next to a local file ----------------------------------------------------------


def test_sidecar_names_any_case_with_flags_and_no_links_outside(tmp_path, caplog) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    outside = tmp_path / "secret.srt"
    outside.write_text("1\n00:00:00,000 --> 00:00:01,000\nsecret\n")
    media = folder / "Talk.wav"
    names = ["Talk.wav", "talk.SRT", "Talk.es.SDH.srt", "Talk.en.forced.vtt", "TALK.EN.cc.Vtt",
             "Talk.json", "Talk.txt", "Talkshow.srt", "other.srt", "Talk.fr.srt.bak",
             "Talk.hi.srt", "Talk.pt.HI.srt"]  # fmt: skip
    for name in names:
        (folder / name).write_text("x")
    (folder / "Talk.de.srt").symlink_to(outside)
    (folder / "Talk.it.srt").symlink_to(folder / "Talk.json")  # inside the folder: fine
    with caplog.at_level(logging.WARNING):
        found = sidecars(media)
    assert [(s.language, s.flags, s.path.name, s.stored_name) for s in found] == [
        ("en", ("cc",), "TALK.EN.cc.Vtt", "captions.en.cc.vtt"),
        ("es", ("sdh",), "Talk.es.SDH.srt", "captions.es.sdh.srt"),
        ("hi", (), "Talk.hi.srt", "captions.hi.srt"),  # Hindi
        ("it", (), "Talk.it.srt", "captions.it.srt"),
        ("und", (), "Talk.json", "captions.und.json"),
        ("pt", ("hi",), "Talk.pt.HI.srt", "captions.pt.hi.srt"),  # hearing impaired
        ("und", (), "talk.SRT", "captions.und.srt"),
        ("en", ("forced",), "Talk.en.forced.vtt", "captions.en.forced.vtt"),  # forced last
    ]
    assert _warnings(caplog) == [f"{folder / 'Talk.de.srt'} links outside its folder: not used "
                                 "as captions"]  # fmt: skip


SIDECAR_SRT = (
    "1\r\n00:00,200 --> 00:01,800\r\nLena Ortiz: Hola a todos.\r\n\r\n"
    "2\r\n00:01,800 --> 00:03,000\r\nY bienvenidos.\r\n\r\n"
    "3\r\n00:03,000 --> 00:04,500\r\nPablo Ruiz: Gracias, Lena.\r\n"
)


@pytest.mark.slow  # a real fetch of a local file: ffprobe, ffmpeg
def test_flagged_uppercase_sidecar_is_used_and_a_link_outside_is_not_copied(
    tmp_path, audio, capsys
) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    media = folder / "talk.wav"
    media.write_bytes(audio.speech("Hola a todos.").read_bytes())
    (folder / "talk.es.sdh.SRT").write_bytes(SIDECAR_SRT.encode())
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "talk.en.srt").symlink_to(secret)
    data = tmp_path / "data"
    code, _, err = cli(
        ["--data-dir", str(data), "transcribe", str(media), "--backend", "captions"], capsys
    )
    assert code == 0, err
    (episode_dir,) = (data / "episodes").iterdir()
    assert sorted(p.name for p in episode_dir.glob("captions.*")) == ["captions.es.sdh.srt"]
    assert not any(b"root:x" in p.read_bytes() for p in episode_dir.iterdir() if p.is_file())
    transcript = store.load(episode_dir / "transcript.json", Transcript)
    assert (transcript.language, transcript.model) == ("es", "sidecar:es.srt")
    assert transcript.segments == [
        S(0.2, 1.8, "Hola a todos.", "Lena Ortiz"),
        S(1.8, 3.0, "Y bienvenidos.", "Lena Ortiz"),
        S(3.0, 4.5, "Gracias, Lena.", "Pablo Ruiz"),
    ]


def test_a_sidecar_over_the_cap_is_refused_before_it_is_read(tmp_path) -> None:
    (tmp_path / "captions.und.srt").write_bytes(SIDECAR_SRT.encode() * 20)
    episode = Episode(id="local-z", source=str(tmp_path / "talk.wav"), kind="local",
                      url="file:///talk.wav",
                      subtitles=[{"language": "und", "ext": "srt", "name": "talk.srt",
                                  "file": "captions.und.srt"}])  # fmt: skip
    config = Config(data_dir=tmp_path, asr={"max_caption_bytes": 2048})
    with pytest.raises(InputFileError) as caught:
        CaptionsBackend(config).transcribe(episode, tmp_path)
    size = len(SIDECAR_SRT.encode()) * 20
    assert str(caught.value) == (
        f"caption file {tmp_path / 'talk.srt'} is {size} bytes, over the 2048 bytes limit "
        "for captions; raise [asr] max_caption_bytes if it really is one transcript, or use "
        "--backend whisper"
    )


# --- a draft saved by a Windows editor --------------------------------------------------------


def _windows(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")


def test_a_bom_and_crlf_draft_parses_as_the_lf_original(tmp_path, capsys) -> None:
    original = render_post(clean_post())
    windows = _windows(original).decode("utf-8")
    assert parse_post(windows) == parse_post(original)
    assert check_post(windows) == [Problem(1, CRLF_NOTE, style=True),
                                   Problem(1, BOM_NOTE, style=True)]  # fmt: skip
    lf, crlf = tmp_path / "lf.md", tmp_path / "crlf.md"
    lf.write_text(original, encoding="utf-8")
    crlf.write_bytes(_windows(original))
    outputs = []
    for path in (lf, crlf):
        code, out, err = cli(["post", "parse", str(path)], capsys)
        assert code == 0, err
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]


def test_approving_a_bom_and_crlf_draft_publishes_lf_without_bom(drafts: Drafts) -> None:
    post = clean_post()
    draft = drafts.write("episode", post)
    draft.write_bytes(_windows(draft.read_text("utf-8")))  # opened and saved on Windows
    site = drafts.root / "site"
    site.mkdir()
    result = approve(draft, site, db=drafts.db, now=dt.datetime(2026, 3, 3, tzinfo=dt.UTC))
    published = result.target.read_bytes()
    assert published == render_post(
        post.model_copy(update={"front": post.front.model_copy(update={"draft": False})})
    ).encode("utf-8")
    assert not published.startswith(b"\xef\xbb\xbf") and b"\r" not in published
