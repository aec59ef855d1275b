"""Bytes from a file or a server -> text, with the encoding it was read in; never a guess
that silently swaps characters for U+FFFD.

Public API:
    decode_text(raw, name, *, language=None) -> Decoded   # Decoded(text, encoding, detected)
    LEGACY_ENCODINGS                                      # what detection may pick, in order

The order, as browsers and subtitle players read text:

1. a byte order mark: UTF-32 (checked before UTF-16, whose LE mark is its prefix), UTF-8,
   UTF-16; the mark is dropped from the text;
2. strict UTF-8 (ASCII included);
3. a legacy encoding detected by charset-normalizer, among :data:`LEGACY_ENCODINGS` only
   (left free it prefers rare Mac code pages, which decode any byte without complaint).
   Short texts often fit several code pages equally well; the tie goes to the one whose
   detected language matches ``language`` (the caption file's own tag, say), then to the
   more widely used encoding.

Text that fits no encoding well (binary data, mixed-up bytes) raises ``InputFileError``
naming the file (exit 2): asking for UTF-8 is better than inventing characters.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

from pipeline.errors import InputFileError

_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

#: Legacy encodings detection may choose, most used first (web usage surveys); ties go to
#: the earlier one. ISO-8859-1 is left out: cp1252 reads the same text, and its C1 control
#: range is never text.
LEGACY_ENCODINGS = (
    "cp1252", "cp1251", "shift_jis", "gb18030", "euc_kr", "euc_jp", "cp1250", "iso8859_2",
    "cp1256", "cp1254", "big5", "cp1253", "cp1255", "cp1257", "cp874", "cp1258", "koi8_r",
    "koi8_u", "iso8859_15", "iso8859_5", "iso8859_7", "iso8859_9", "mac_roman", "cp437",
    "cp850",
)  # fmt: skip

_MAX_CHAOS = 0.2  # charset-normalizer's "mess" ratio above which a reading is not text
_TIE = 0.01  # chaos this close to the best counts as a tie


@dataclass(frozen=True)
class Decoded:
    """Text read from bytes, and the codec that read it."""

    text: str
    encoding: str  # Python codec name: "utf-8", "utf-8-sig", "utf-16-le", "cp1252", ...
    detected: bool = False  # True: a legacy encoding chosen by detection (step 3), a guess


def _is_text(text: str) -> bool:
    """No control characters other than line and tab breaks, no U+FFFD stand-ins."""
    return "\ufffd" not in text and not any(
        unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v" for ch in text
    )


def _undecodable(name: str, why: str) -> InputFileError:
    return InputFileError(
        f"cannot read {name}: {why}", hint="save it as UTF-8 (or with a byte order mark)"
    )


def decode_text(raw: bytes, name: str, *, language: str | None = None) -> Decoded:
    """``raw`` as text, by BOM, then strict UTF-8, then a detected legacy encoding.

    ``name`` is what error messages call the input (a path or URL); ``language`` is a BCP 47
    hint used only to break a tie between legacy encodings. Raises ``InputFileError`` when
    no encoding reads it as text with confidence.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as e:
                why = f"it starts with a {encoding} byte order mark but is not {encoding}"
                raise _undecodable(name, why) from e
            return Decoded(text.removeprefix("\ufeff"), encoding)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _detect(raw, name, language)
    if "\x00" in text:  # valid UTF-8, but binary (or UTF-16 without its mark)
        raise _undecodable(name, "it holds NUL bytes, so it is not UTF-8 text")
    return Decoded(text, "utf-8")


def _detect(raw: bytes, name: str, language: str | None) -> Decoded:
    from charset_normalizer import from_bytes

    matches = [
        m
        for m in from_bytes(raw, cp_isolation=list(LEGACY_ENCODINGS))
        if m.chaos <= _MAX_CHAOS and _is_text(str(m))
    ]
    if not matches:
        raise _undecodable(name, "it is neither UTF-8 nor text in a known legacy encoding")
    best = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= best + _TIE]
    if language and len(tied) > 1:
        from pipeline.langtags import language_name

        wanted = language_name(language.split("-")[0])
        same = [m for m in tied if wanted in m.languages]
        tied = same or tied
    # charset-normalizer drops an encoding whose reading equals one already tried, so the
    # ranking asks which listed encoding gives one of the tied readings.
    readings = {str(m) for m in tied}
    for encoding in LEGACY_ENCODINGS:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text in readings:
            return Decoded(text, encoding, detected=True)
    return Decoded(str(tied[0]), codecs.lookup(tied[0].encoding).name, detected=True)
