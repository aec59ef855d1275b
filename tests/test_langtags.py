"""Language tags to BCP 47 wherever they enter, and their English names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.fetch.episodes import language_tag as _language
from pipeline.fetch.local import sidecars as _sidecars
from pipeline.fetch.ytdlp import _subtitle_tracks
from pipeline.langtags import language_base, language_name, normalize_language


@pytest.mark.parametrize(
    ("value", "tag"),
    [("deu", "de"), ("ger", "de"), ("DE", "de"), ("en-us", "en-US"), ("en_US", "en-US"),
     ("eng", "en"), ("fre", "fr"), ("zh-hans", "zh-Hans"), ("iw", "he"), ("nob", "nb"),
     ("pt-br", "pt-BR"), ("en-orig", "en"), (" es-419 ", "es-419"), ("und", None), ("", None),
     (None, None), ("xx", None), ("english", None), ("live_chat", None)],
)  # fmt: skip
def test_normalize_language(value, tag) -> None:
    assert normalize_language(value) == tag


def test_language_base_and_names() -> None:
    assert [language_base(v) for v in ("en-US", "zh-Hant-TW", "deu", "??")] == [
        "en", "zh", "de", None,
    ]  # fmt: skip
    assert [language_name(v) for v in ("deu", "de-CH", "zh-TW", "zh", "pt-BR", "ger")] == [
        "German", "German", "Traditional Chinese", "Chinese", "Portuguese", "German",
    ]  # fmt: skip


def test_sidecar_names_media_tags_subtitles_and_config_are_normalised(tmp_path: Path) -> None:
    media = tmp_path / "gespraech.wav"
    for name in ("gespraech.wav", "gespraech.deu.srt", "gespraech.en_us.vtt", "gespraech.json",
                 "gespraech.forced.srt"):  # fmt: skip
        (tmp_path / name).write_text("x")
    assert sorted((s.language, s.path.name) for s in _sidecars(media)) == [
        ("de", "gespraech.deu.srt"),
        ("en-US", "gespraech.en_us.vtt"),
        ("und", "gespraech.forced.srt"),
        ("und", "gespraech.json"),
    ]
    assert [_language(v) for v in ("ger", "en-gb", "fra", "", None)] == [
        "de", "en-GB", "fr", None, None,
    ]  # fmt: skip
    info = {"subtitles": {"pt-br": [{"ext": "vtt", "url": "u1"}], "live_chat": [{"ext": "json"}]},
            "automatic_captions": {"de-orig": [{"ext": "vtt", "url": "u2"}],
                                   "fr": [{"ext": "vtt", "url": "u3"}]}}  # fmt: skip
    assert [(t.language, t.automatic) for t in _subtitle_tracks(info, "de")] == [
        ("pt-BR", False), ("de-orig", True),
    ]  # fmt: skip
    config = Config(
        asr={"language": "deu", "caption_languages": ["ger", "en_us"]},
        editorial={"target_language": "zh_cn"},
    )
    assert config.asr.language == "de"
    assert config.asr.caption_languages == ["de", "en-US"]
    assert config.editorial.target_language == "zh-CN"


def test_a_setting_that_names_no_language_fails_in_one_line(tmp_path: Path, capsys) -> None:
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from tests.cli_helpers import cli

    with pytest.raises(ConfigError, match="'klingon' is not a language tag"):
        load_config(None, env={}, overrides={"editorial": {"target_language": "klingon"}})
    code, _out, err = cli(
        ["--data-dir", str(tmp_path), "run", "x.mp3", "--lang", "xx-nonsense"], capsys
    )
    assert code == 2 and "is not a language tag" in err and "Traceback" not in err
    assert not (tmp_path / "episodes").exists()


def test_an_unknown_backend_fails_before_any_download(tmp_path: Path, capsys) -> None:
    from tests.cli_helpers import cli

    media = tmp_path / "talk.mp3"
    media.write_bytes(b"not reached")
    code, _out, err = cli(
        ["--data-dir", str(tmp_path / "data"), "run", str(media), "--backend", "whispr"], capsys
    )
    assert code == 2
    assert err.strip() == (
        "error: unknown ASR backend 'whispr'; set asr.backend to one of: auto, captions, "
        "faster-whisper, whisper"
    )
    assert not (tmp_path / "data" / "episodes").exists()
