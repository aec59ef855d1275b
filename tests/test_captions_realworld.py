"""Caption files as podcasters and caption tools really publish them: glued cues, several
voices in a cue, bare angle brackets, legacy encodings, optional JSON fields, zero-length
cues, three-letter language tags. Each test's input is written here; values are exact."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline import store
from pipeline.config import Config
from pipeline.models import Episode, Segment, SubtitleTrack, Transcript
from pipeline.textcodec import decode_text
from pipeline.transcribe.captions import parse_captions, parse_srt, parse_vtt
from pipeline.transcribe.captions_backend import CaptionsBackend
from pipeline.turns.segment import build_turns
from tests.cli_helpers import cli


def S(start: float, end: float, text: str, speaker: str | None = None) -> Segment:
    return Segment(start=start, end=end, text=text, speaker=speaker)


# --- SubRip: a timing line starts a cue ---------------------------------------------------

GLUED_SRT = (
    "1\r\n00:00:01,000 --> 00:00:02,500\r\nWe start here.\r\n"
    "2\r\n00:00:02,500 --> 00:00:04,000\r\nNo blank line came before me.\r\n"
    "00:00:04,000 --> 00:00:06,250\r\nNor an index number.\r\n\r\n"
    "4\r\n0:00:06,5 --> 0:00:08,0\r\nShort fields, then a\r\nsecond line.\r\n"
)


def test_srt_cues_without_blank_lines_or_indexes_come_apart() -> None:
    assert parse_srt(GLUED_SRT) == [
        S(1.0, 2.5, "We start here."),
        S(2.5, 4.0, "No blank line came before me."),
        S(4.0, 6.25, "Nor an index number."),
        S(6.5, 8.0, "Short fields, then a second line."),
    ]


def test_vtt_cues_without_blank_lines_and_srt_style_commas_are_read() -> None:
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nOne.\n00:00:02.000 --> 00:00:03.000\nTwo.\n\n"
        "00:00:03,000 --> 00:00:04,500\nComma times.\n"
    )
    expected = [S(1.0, 2.0, "One."), S(2.0, 3.0, "Two."), S(3.0, 4.5, "Comma times.")]
    assert parse_vtt(text) == expected


# --- WebVTT: each voice span is a segment, dialogue dashes go -----------------------------

VOICES_VTT = """WEBVTT

NOTE two people share most cues here

q1
00:00:10.000 --> 00:00:14.000
<v Ada Brook>Where were you?</v> <v.loud Cy Diaz>Out.</v>

00:00:14.000 --> 00:00:16.000
<v Ada Brook>All night?

00:00:16.000 --> 00:00:19.000
- <v Cy Diaz>Mostly, yes.
– <v Ada Brook>Fine!

00:00:19.000 --> 00:00:20.000
- Who said that?
- Nobody did.
"""


def test_vtt_voice_spans_become_segments_with_their_speakers() -> None:
    # a cue's time is shared among its pieces by their length of text
    assert parse_vtt(VOICES_VTT) == [
        S(10.0, 13.158, "Where were you?", "Ada Brook"),
        S(13.158, 14.0, "Out.", "Cy Diaz"),
        S(14.0, 16.0, "All night?", "Ada Brook"),
        S(16.0, 18.118, "Mostly, yes.", "Cy Diaz"),
        S(18.118, 19.0, "Fine!", "Ada Brook"),
        S(19.0, 19.56, "Who said that?"),
        S(19.56, 20.0, "Nobody did."),
    ]


# --- bare angle brackets are text ----------------------------------------------------------

BRACKETS_SRT = """1
00:00:00,000 --> 00:00:02,000
Use a Map<K, V> <b>here</b>, {\\an8}not there.

2
00:00:02,000 --> 00:00:04,000
When n < 10 and m > 2, <u>stop</u> <s>now</s>.

3
00:00:04,000 --> 00:00:06,000
<font face="Arial" color="#fff">Love you <3</font> -> bye <I>all</I>
"""


def test_srt_bare_angle_brackets_stay_and_only_srt_tags_go() -> None:
    assert parse_srt(BRACKETS_SRT) == [
        S(0.0, 2.0, "Use a Map<K, V> here, not there."),
        S(2.0, 4.0, "When n < 10 and m > 2, stop now."),
        S(4.0, 6.0, "Love you <3 -> bye all"),
    ]


def test_vtt_keeps_bare_brackets_and_removes_its_own_tags() -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\n<c.yellow>x < 5</c> and <lang de>Vec<u8></lang>\n"
    assert parse_vtt(text) == [S(1.0, 2.0, "x < 5 and Vec<u8>")]


# --- encodings ------------------------------------------------------------------------------

SPANISH_SRT = "1\r\n00:00:00,500 --> 00:00:03,000\r\n¿Qué pasó en el año 1998?\r\n\r\n" \
    "2\r\n00:00:03,000 --> 00:00:05,000\r\nEl niño dijo: “¡Adiós!”\r\n"  # fmt: skip
SPANISH = [S(0.5, 3.0, "¿Qué pasó en el año 1998?"), S(3.0, 5.0, "El niño dijo: “¡Adiós!”")]


def _sidecar_episode(folder: Path, raw: bytes, name: str, language: str, ext: str) -> Episode:
    """A local episode whose sidecar caption file was copied into its folder by fetch."""
    stored = f"captions.{language}.{ext}"
    (folder / stored).write_bytes(raw)
    track = SubtitleTrack(language=language, ext=ext, name=name, file=stored)
    return Episode(id="local-x", source=str(folder / "talk.wav"), kind="local",
                   url=(folder / "talk.wav").as_uri(), subtitles=[track], duration=9.0)  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "recorded"),
    [("cp1252", "cp1252"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
     ("utf-16", "utf-16-le"), ("utf-32", "utf-32-le")],
)  # fmt: skip
def test_caption_encodings_are_detected_and_recorded(tmp_path, encoding, recorded) -> None:
    episode = _sidecar_episode(tmp_path, SPANISH_SRT.encode(encoding), "talk.es.srt", "es", "srt")
    transcript = CaptionsBackend(Config(data_dir=tmp_path)).transcribe(episode, tmp_path)
    assert transcript.segments == SPANISH
    assert (transcript.language, transcript.encoding) == ("es", recorded)


def test_utf16_big_endian_webvtt_with_bom(tmp_path) -> None:
    text = "WEBVTT\n\n00:00.000 --> 00:01.500\n<v Zoë>Ça va, 東京?\n"
    raw = "\ufeff".encode("utf-16-be") + text.encode("utf-16-be")
    episode = _sidecar_episode(tmp_path, raw, "talk.fr.vtt", "fr", "vtt")
    transcript = CaptionsBackend(Config(data_dir=tmp_path)).transcribe(episode, tmp_path)
    assert transcript.segments == [S(0.0, 1.5, "Ça va, 東京?", "Zoë")]
    assert transcript.encoding == "utf-16-be"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("Zażółć gęślą jaźń, powiedział.", "iso8859_2"),
     ("Příliš žluťoučký kůň úpěl ďábelské ódy.", "cp1250"),
     ("Привет, как дела у тебя сегодня?", "cp1251"),
     ("Καλημέρα σας, τι κάνετε σήμερα;", "cp1253"),
     ("こんにちは、今日はいい天気ですね。", "shift_jis"),
     ("今天我们来谈谈人工智能的发展。", "gb18030")],
)  # fmt: skip
def test_legacy_encodings_decode_to_the_written_text(text, encoding) -> None:
    raw = f"1\n00:00:01,000 --> 00:00:02,000\n{text}\n".encode(encoding)
    decoded = decode_text(raw, "x.srt")
    assert (decoded.text.splitlines()[2], decoded.encoding) == (text, encoding)


def test_undecodable_bytes_are_one_error_naming_the_file() -> None:
    from pipeline.errors import InputFileError

    raw = b"1\n00:00:01,000 --> 00:00:02,000\n\x00\x01\x9d\xff\xfe\x80 \x02\x8f\n"
    with pytest.raises(InputFileError, match=r"^cannot read /x/talk\.srt: .*UTF-8") as info:
        decode_text(raw, "/x/talk.srt")
    assert "\n" not in str(info.value)
    with pytest.raises(InputFileError, match="utf-16-le byte order mark"):
        decode_text(b"\xff\xfeW\x00\x00\xd8", "odd.vtt")  # a lone surrogate after the mark


@pytest.mark.slow
def test_undecodable_sidecar_exits_2_with_one_line(tmp_path, audio, capsys) -> None:
    media = tmp_path / "talk.wav"
    media.write_bytes(audio.speech("Nothing readable here.").read_bytes())
    sidecar = tmp_path / "talk.srt"
    sidecar.write_bytes(b"1\n00:00:00,000 --> 00:00:01,000\n\x00\x13\x9d\xfe\x81\x00\x8d\n")
    code, out, err = cli(
        ["--data-dir", str(tmp_path / "d"), "transcribe", str(media), "--backend", "captions"],
        capsys,
    )
    assert code == 2
    assert err.startswith(f"error: cannot read {sidecar}: ") and err.count("\n") == 1
    assert "\ufffd" not in out + err


# --- Podcasting 2.0 JSON with optional fields left out --------------------------------------

NO_ENDS_JSON = {
    "version": "1.0.0",
    "segments": [
        {"speaker": "Ola", "startTime": 1.25, "body": "First, the news."},
        {"startTime": 3, "endTime": 4.5, "body": "Nobody is named here."},
        {"speaker": "Per", "startTime": "5.0", "body": "Then sport."},
        {"speaker": "Ola", "startTime": 7.5, "body": "And the weather."},
    ],
}


def test_json_without_end_times_uses_the_next_start_then_the_duration() -> None:
    text = json.dumps(NO_ENDS_JSON)
    head = [
        S(1.25, 3.0, "First, the news.", "Ola"),
        S(3.0, 4.5, "Nobody is named here."),
        S(5.0, 7.5, "Then sport.", "Per"),
    ]
    last = S(7.5, 9.75, "And the weather.", "Ola")
    assert parse_captions(text, "json", duration=9.75) == [*head, last]
    # no duration known: the last segment ends where it starts
    assert parse_captions(text, "json") == [*head, S(7.5, 7.5, "And the weather.", "Ola")]


# --- zero-length and backwards cues keep their text and speaker -----------------------------

ZERO_VTT = """WEBVTT

00:00:00.000 --> 00:00:02.500
<v Mia Park>Can we talk about the budget?

00:00:02.500 --> 00:00:04.000
<v Tom Reyes>Of course, go on.

00:00:04.000 --> 00:00:04.000
<v Mia Park>It is late.

00:00:06.000 --> 00:00:05.000
<v Tom Reyes>I know, I know.
"""
ZERO_CONTROL = ZERO_VTT.replace("04.000\n<v Mia", "06.000\n<v Mia").replace(
    "00:00:06.000 --> 00:00:05.000", "00:00:06.000 --> 00:00:07.500"
)


def test_zero_length_and_backwards_cues_keep_text_and_speaker(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        segments = parse_vtt(ZERO_VTT)
    assert segments == [
        S(0.0, 2.5, "Can we talk about the budget?", "Mia Park"),
        S(2.5, 4.0, "Of course, go on.", "Tom Reyes"),
        S(4.0, 6.0, "It is late.", "Mia Park"),
        S(6.0, 6.0, "I know, I know.", "Tom Reyes"),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "WebVTT: cue at 4.000 s ends at 4.000 s; keeping its text, ending it at 6.000 s",
        "WebVTT: cue at 6.000 s ends at 5.000 s; keeping its text, ending it at 6.000 s",
    ]


def test_zero_length_cue_gives_the_same_four_turns_as_the_control(tmp_path) -> None:
    episode = Episode(id="local-z", source="z.wav", kind="local", url="file:///z.wav")
    config = Config(data_dir=tmp_path)

    def turns(text: str) -> list[tuple[str, str]]:
        transcript = Transcript(language="en", backend="captions", segments=parse_vtt(text))
        built = build_turns(episode, transcript, config)
        return [(turn.speaker, turn.text) for turn in built.turns]

    expected = [
        ("Mia Park", "Can we talk about the budget?"),
        ("Tom Reyes", "Of course, go on."),
        ("Mia Park", "It is late."),
        ("Tom Reyes", "I know, I know."),
    ]
    assert turns(ZERO_VTT) == turns(ZERO_CONTROL) == expected
    # a short line inside a dialogue keeps its speaker too (captions name it; no guessing)
    assert turns(VOICES_VTT.split("\n00:00:19.000")[0]) == [
        ("Ada Brook", "Where were you?"), ("Cy Diaz", "Out."), ("Ada Brook", "All night?"),
        ("Cy Diaz", "Mostly, yes."), ("Ada Brook", "Fine!"),
    ]  # fmt: skip


# --- a three-letter language in the sidecar's name, through to the draft --------------------


@pytest.mark.slow
def test_three_letter_sidecar_language_is_de_and_the_draft_says_german(
    tmp_path, audio, fake_llm, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("PODPOST_CONFIG", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    monkeypatch.setenv("PODPOST_DIARIZE__BACKEND", "none")
    media = tmp_path / "interview.wav"
    media.write_bytes(audio.speech("Guten Morgen und willkommen.").read_bytes())
    (tmp_path / "interview.ger.srt").write_text(
        "1\n00:00:00,200 --> 00:00:01,800\nGuten Morgen und willkommen.\n\n"
        "2\n00:00:01,800 --> 00:00:03,000\nSchön, dass Sie da sind.\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    code, out, err = cli(
        ["--data-dir", str(data), "transcribe", str(media), "--backend", "captions"], capsys
    )
    assert code == 0, err
    (folder,) = (data / "episodes").iterdir()
    assert f"2 segments (captions, de): {folder / 'transcript.json'}" in out
    transcript = store.load(folder / "transcript.json", Transcript)
    assert (transcript.language, transcript.model) == ("de", "sidecar:de.srt")
    assert (folder / "captions.de.srt").is_file()
    for step in (["turns", str(folder)], ["translate", str(folder)]):
        code, _, err = cli(["--data-dir", str(data), *step], capsys)
        assert code == 0, err
    draft = (folder / "draft.md").read_text(encoding="utf-8")
    summaries = [line for line in draft.splitlines() if line.startswith("<summary>")]
    assert summaries and set(summaries) == {"<summary>Original German</summary>"}
