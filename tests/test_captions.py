"""Captions parsing (pure) and the captions backend reading sidecars and feed transcripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import store
from pipeline.cli import main
from pipeline.errors import InputFileError
from pipeline.models import Segment, Transcript, Word
from pipeline.transcribe.captions import caption_format, parse_captions, parse_srt, parse_vtt

VTT = """WEBVTT
Kind: captions
Language: en

NOTE this block is a comment
and spans lines

intro
00:00:01.000 --> 00:00:04.250 align:start position:10%
<v Jane Host>Welcome to the show &amp; thanks
for listening.

00:00:04.500 --> 00:00:07.000
<v Sam Guest><i>Glad</i> to be here &lt;3</v>

01:02:03.004 --> 01:02:05.600
Late in the episode.
"""

SRT = """1
00:00:00,500 --> 00:00:02,000
First line,
second line.

2
00:00:02,250 --> 00:00:05,125
<i>Italic</i> and {\\an8}positioned.

3
01:00:00,000 --> 01:00:01,999
An hour in.
"""

# What yt-dlp downloads as YouTube's automatic (rolling) captions: each cue shows the
# previous line again, new words carry inline timestamps, and 10 ms cues repeat text.
ROLLING_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.350 align:start position:0%
{SP}
so<00:00:00.480><c> today</c><00:00:00.960><c> we</c><00:00:01.200><c> talk</c>

00:00:02.350 --> 00:00:02.360 align:start position:0%
so today we talk
{SP}

00:00:02.360 --> 00:00:04.800 align:start position:0%
so today we talk
about<00:00:02.900><c> models</c><00:00:03.500><c> and</c>

00:00:04.800 --> 00:00:04.810 align:start position:0%
about models and
{SP}

00:00:04.810 --> 00:00:06.000 align:start position:0%
about models and
data<00:00:05.400><c> centers</c>
""".replace("{SP}", " ")


def test_vtt_text_timings_speakers_and_entities() -> None:
    assert parse_vtt(VTT) == [
        Segment(start=1.0, end=4.25, text="Welcome to the show & thanks for listening.",
                speaker="Jane Host"),
        Segment(start=4.5, end=7.0, text="Glad to be here <3", speaker="Sam Guest"),
        Segment(start=3723.004, end=3725.6, text="Late in the episode."),
    ]  # fmt: skip


def test_srt_text_and_timings() -> None:
    assert parse_srt(SRT) == [
        Segment(start=0.5, end=2.0, text="First line, second line."),
        Segment(start=2.25, end=5.125, text="Italic and positioned."),
        Segment(start=3600.0, end=3601.999, text="An hour in."),
    ]


def test_youtube_rolling_vtt_has_each_line_once_with_word_timings() -> None:
    segments = parse_vtt(ROLLING_VTT)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 2.35, "so today we talk"),
        (2.36, 4.8, "about models and"),
        (4.81, 6.0, "data centers"),
    ]
    assert segments[0].words == [
        Word(start=0.0, end=0.48, text="so"),
        Word(start=0.48, end=0.96, text="today"),
        Word(start=0.96, end=1.2, text="we"),
        Word(start=1.2, end=2.35, text="talk"),
    ]
    assert [(w.start, w.end, w.text) for w in segments[2].words] == [
        (4.81, 5.4, "data"),
        (5.4, 6.0, "centers"),
    ]
    assert Transcript(language="en", backend="captions", segments=segments).text == (
        "so today we talk about models and data centers"
    )


def test_rolling_style_without_inline_timestamps_is_deduplicated() -> None:
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nfirst line here\n\n"
        "00:00:03.000 --> 00:00:05.000\nfirst line here\nsecond line now\n\n"
        "00:00:05.000 --> 00:00:07.000\nsecond line now\nthird and last\n"
    )
    assert [(s.start, s.end, s.text) for s in parse_vtt(text)] == [
        (1.0, 3.0, "first line here"),
        (3.0, 5.0, "second line now"),
        (5.0, 7.0, "third and last"),
    ]


def test_podcast_json_segments_and_word_level_merge() -> None:
    segment_level = {
        "version": "1.0.0",
        "segments": [
            {"speaker": "Ana", "startTime": 0.25, "endTime": 3.5, "body": "Hello there, all."},
            {"speaker": "Bo", "startTime": 3.75, "endTime": 6.0, "body": "Hi  Ana."},
        ],
    }
    assert parse_captions(json.dumps(segment_level), "json") == [
        Segment(start=0.25, end=3.5, text="Hello there, all.", speaker="Ana"),
        Segment(start=3.75, end=6.0, text="Hi Ana.", speaker="Bo"),
    ]
    words = [("Ana", 0.0, 0.4, "We"), ("Ana", 0.4, 0.8, "begin."), ("Ana", 1.0, 1.3, "Now"),
             ("Bo", 1.5, 1.9, "Yes"), ("Bo", 1.9, 2.2, "indeed.")]  # fmt: skip
    word_level = {
        "segments": [
            {"speaker": s, "startTime": a, "endTime": b, "body": t} for s, a, b, t in words
        ]
    }
    merged = parse_captions(json.dumps(word_level), "json")
    assert [(s.start, s.end, s.text, s.speaker) for s in merged] == [
        (0.0, 0.8, "We begin.", "Ana"),
        (1.0, 1.3, "Now", "Ana"),
        (1.5, 2.2, "Yes indeed.", "Bo"),
    ]
    assert [w.text for w in merged[2].words] == ["Yes", "indeed."]


def test_bad_caption_files_raise_input_errors() -> None:
    with pytest.raises(InputFileError, match="WEBVTT"):
        parse_vtt("00:00:01.000 --> 00:00:02.000\nno header")
    with pytest.raises(InputFileError, match=r"Podcasting 2\.0"):
        parse_captions('{"items": []}', "json")
    with pytest.raises(InputFileError, match="unsupported caption format"):
        parse_captions("x", "ttml")


def test_caption_format_from_names_and_mime_types() -> None:
    assert caption_format("text/vtt; charset=utf-8") == "vtt"
    assert caption_format("application/x-subrip") == "srt"
    assert caption_format("talk.en.SRT") == "srt"
    assert caption_format("application/json") == "json"
    assert caption_format("text/html") is None


# --- the captions backend, through the CLI ------------------------------------------


def _run(argv: list[str]) -> None:
    """Run the CLI in-process; a failure exits non-zero and the test sees SystemExit."""
    try:
        main(argv)
    except SystemExit as e:
        if e.code:
            raise


@pytest.mark.slow
def test_sidecar_vtt_next_to_a_local_file(tmp_path: Path, audio, capsys) -> None:
    media = tmp_path / "talk.mp3"
    media.write_bytes(audio.speech("Welcome to the show.", "mp3").read_bytes())
    (tmp_path / "talk.en.vtt").write_text(VTT, encoding="utf-8")
    data = tmp_path / "data"
    _run(["--data-dir", str(data), "transcribe", str(media), "--backend", "captions"])
    out = capsys.readouterr().out
    (folder,) = (data / "episodes").iterdir()
    assert f"3 segments (captions, en): {folder / 'transcript.json'}" in out
    transcript = store.load(folder / "transcript.json", Transcript)
    assert transcript.model == "sidecar:en.vtt"
    assert transcript.segments == parse_vtt(VTT)


@pytest.mark.slow
def test_feed_transcript_srt_and_json(tmp_path: Path, audio, media_server, capsys) -> None:
    from tests.fixtures.media import rss_feed

    enclosure = media_server.put("capfeed/ep.mp3", audio.speech("Hello.", "mp3"))
    srt_url = media_server.put("capfeed/ep.srt", SRT)
    json_url = media_server.put(
        "capfeed/ep.json",
        json.dumps({"segments": [{"startTime": 1.5, "endTime": 2.5, "body": "Only this."}]}),
    )
    feed = rss_feed(
        "Caption Show",
        [
            {"title": "SRT one", "guid": "srt-1", "enclosure": enclosure,
             "transcripts": [(srt_url, "application/x-subrip")]},
            {"title": "JSON one", "guid": "json-1", "enclosure": enclosure,
             "transcripts": [(json_url, "application/json"),
                             (media_server.url("capfeed/ep.html"), "text/html")]},
        ],
    )  # fmt: skip
    feed_url = media_server.put("capfeed/feed.xml", feed)
    data = tmp_path / "data"
    only = [Segment(start=1.5, end=2.5, text="Only this.")]
    for guid, expected in (("srt-1", parse_srt(SRT)), ("json-1", only)):
        _run(["--data-dir", str(data), "transcribe", feed_url, "--item", guid,
              "--backend", "captions"])  # fmt: skip
        path = capsys.readouterr().out.strip().rsplit(": ", 1)[-1]
        transcript = store.load(Path(path), Transcript)
        assert transcript.segments == expected
        assert transcript.language == "en"  # the feed's <language>
        assert transcript.model.startswith("feed:")


@pytest.mark.slow
def test_captions_backend_without_any_transcript_fails_clearly(
    tmp_path: Path, audio, capsys
) -> None:
    media = tmp_path / "bare.wav"
    media.write_bytes(audio.speech("No captions here.").read_bytes())
    with pytest.raises(SystemExit) as exit_info:
        _run(["--data-dir", str(tmp_path / "d"), "transcribe", str(media), "--backend", "captions"])
    assert exit_info.value.code == 5
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: episode local-") and "no human-made transcript" in err
    assert "\n" not in err


def test_subtitle_tracks_human_first_automatic_only_when_asked(tmp_path: Path, media_server):
    from pipeline.config import Config
    from pipeline.models import Episode, SubtitleTrack
    from pipeline.transcribe.captions_backend import CaptionsBackend

    human = media_server.put("subs/human.en.vtt", VTT)
    machine = media_server.put("subs/auto.en.vtt", ROLLING_VTT)
    french = media_server.put("subs/human.fr.srt", SRT)
    tracks = [
        SubtitleTrack(language="fr", ext="srt", url=french),
        SubtitleTrack(language="en", ext="vtt", url=human),
        SubtitleTrack(language="en-orig", ext="vtt", url=machine, automatic=True),
    ]
    episode = Episode(id="youtube-x", source="s", kind="ytdlp", url="u", language="en",
                      subtitles=tracks)  # fmt: skip
    config = Config(data_dir=tmp_path)
    transcript = CaptionsBackend(config).transcribe(episode, tmp_path)
    assert (transcript.model, transcript.language) == ("subtitles:en.vtt", "en")
    assert transcript.segments == parse_vtt(VTT)
    assert (tmp_path / "captions.subtitles.en.vtt").read_text() == VTT  # kept for review
    asked = Config(data_dir=tmp_path, asr={"caption_languages": ["fr"]})
    assert CaptionsBackend(asked).transcribe(episode, tmp_path).segments == parse_srt(SRT)
    only_auto = episode.model_copy(update={"subtitles": tracks[2:]})
    assert CaptionsBackend(config).find(only_auto, tmp_path) is None
    automatic = Config(data_dir=tmp_path, asr={"automatic_captions": True})
    transcript = CaptionsBackend(automatic).transcribe(only_auto, tmp_path)
    assert transcript.model == "automatic:en-orig.vtt" and transcript.language == "en"
    assert transcript.segments == parse_vtt(ROLLING_VTT)
