"""Language tags: whatever a source writes, as one BCP 47 tag; and their English names.

Public API:
    normalize_language(value) -> str | None   # "deu" -> "de", "en_us" -> "en-US"; None if no tag
    language_base(value) -> str | None        # "en-US" -> "en" (what whisper takes)
    language_name(value) -> str               # "de" -> "German", "zh-CN" -> "Simplified Chinese"

Tags enter podpost from caption file names (``talk.deu.srt``), feed ``<language>``, media
tags (ID3/MP4/Matroska write ISO 639-2 such as ``eng``, ``ger``), yt-dlp's subtitle keys
(``en-orig``) and the config. Every one of them goes through :func:`normalize_language`, so
the rest of the pipeline compares and shows one spelling. The work is langcodes' (IANA
registry data: ISO 639-2/3 to 639-1, deprecated codes like ``iw``, case and separators);
names come from CLDR through language_data, langcodes' own data package. Both load on the
first tag, not at import: the config imports this module, and commands that read no tag
(``podpost --help``) should not pay for langcodes.
"""

from __future__ import annotations

import re

# yt-dlp marks YouTube's untranslated automatic captions "<lang>-orig"; not a BCP 47 subtag.
_YTDLP_SUFFIX = re.compile(r"[-_]orig$", re.IGNORECASE)


def normalize_language(value: str | None) -> str | None:
    """The BCP 47 tag for a language code as sources write it, or None.

    ``deu``/``ger`` -> ``de``, ``en_us`` -> ``en-US``, ``iw`` -> ``he``, ``zh-hans`` ->
    ``zh-Hans``, ``en-orig`` -> ``en``. None for no value, ``und``, or anything that is not
    a known language code (``xx``, ``english``, ``live_chat``): an unknown language is
    better said as unknown than passed on as if it were one.
    """
    if not value or not value.strip():
        return None
    import langcodes

    text = _YTDLP_SUFFIX.sub("", value.strip()).replace("_", "-")
    try:
        tag = langcodes.standardize_tag(text, macro=True)
        language = langcodes.Language.get(tag)
    except (langcodes.LanguageTagError, ValueError):
        return None
    if not language.language or language.language == "und" or not language.is_valid():
        return None
    return tag


def language_base(value: str | None) -> str | None:
    """The language subtag alone of a normalised tag (``en-US`` -> ``en``), or None."""
    import langcodes

    tag = normalize_language(value)
    return langcodes.Language.get(tag).language if tag else None


def language_name(value: str) -> str:
    """The English name of a language tag, for prompts and ``<summary>Original NAME``.

    ``en`` and ``de-AT`` -> ``English``/``German`` (a region does not change the language a
    reader sees), but a region or script that implies a script with its own CLDR name keeps
    it: ``zh-CN``/``zh-Hans`` -> ``Simplified Chinese``, ``zh-TW`` -> ``Traditional
    Chinese``. A value that is not a language tag comes back as given, so the label never
    claims a language it does not know.
    """
    import langcodes
    from language_data.names import code_to_names

    tag = normalize_language(value)
    if tag is None:
        return value.strip()
    language = langcodes.Language.get(tag)
    base = str(language.language)  # normalize_language returns only tags with a language
    if language.script or language.territory:
        script = language.maximize().script
        scripted = code_to_names(f"{base}-{script}").get("en") if script else None
        if scripted:
            return str(scripted)
    return str(langcodes.Language.get(base).display_name("en"))
