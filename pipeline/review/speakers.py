"""Speakers first: an episode's turns reviewed before anything is translated. Pure.

``podpost run SOURCE --until turns`` stops after the turns step and writes the turns as a
*speakers draft*: a post in the blog's format whose turns have their originals and no
translation yet (:func:`speakers_post`). The editor fixes it in the preview with the usual
tools (another speaker, a split, a merge); ``podpost resume`` then reads it back as the
episode's turns (:func:`confirmed_turns`) and translates once, with the corrected speakers
and names in every prompt.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pipeline.errors import InputFileError
from pipeline.models import Episode, FrontMatter, Post, PostTurn, Section, Speaker, Turn, Turns
from pipeline.review.edits import plain
from pipeline.review.flags import DraftReview

STAGE: Literal["turns"] = "turns"  # the draft record's stage of a speakers draft


def speakers_post(episode: Episode, turns: Turns, source_language: str) -> Post:
    """The ``turns`` as a post with empty translations: one section without a heading,
    each turn's text as its original (``source_language`` is its language *name*, as in
    "Original English"). Front matter holds what the episode's metadata knows; the rest
    is left empty for the editorial step."""
    show = " ".join((episode.show or episode.uploader or "").split())
    front = FrontMatter(
        author=show,
        date=(episode.date or dt.date.today()).isoformat(),  # as the editorial step dates it
        source=episode.url,
        speaker=show,
        title=" ".join(episode.title.split()),
        summary="",
        category="",
        area="",
        people=[s.name for s in turns.speakers if s.known],
    )
    post_turns = [
        PostTurn(speaker=turn.speaker, original=" ".join(turn.text.split()),
                 source_language=source_language)
        for turn in turns.turns
        if turn.text.strip()
    ]  # fmt: skip
    return Post(front=front, sections=[Section(turns=post_turns)] if post_turns else [])


def confirmed_turns(review: DraftReview) -> Turns:
    """The episode's turns as the editor left them in the speakers draft under ``review``:
    speakers, splits and merges from the draft, times from its record (or from
    ``turns.json`` where a turn kept its text). A name that was not a known speaker before
    is one the editor gave, so it is known now. Raises InputFileError when the draft
    cannot be read or a turn's time is lost."""
    if review.post is None or review.turns is None:
        raise InputFileError(
            f"{review.path} cannot be read back as the episode's turns",
            hint="fix it (`podpost post check` names the line) or delete it to keep the "
            "turns as they were",
        )
    before = review.turns
    known = {s.name: s for s in before.speakers}
    turns: list[Turn] = []
    for number, (turn, span) in enumerate(zip(review.post.turns, review.spans, strict=True), 1):
        if span is None:
            raise InputFileError(
                f"{review.path}: turn {number} no longer matches the transcript, so its "
                "time is unknown",
                hint="undo the change to its original text; speakers, splits and merges are kept",
            )
        turns.append(Turn(id=number, speaker=turn.speaker, start=span[0], end=span[1],
                          text=plain(turn.original)))  # fmt: skip
    speakers: list[Speaker] = []
    for name in dict.fromkeys(t.speaker for t in turns):
        was = known.get(name)
        if was is not None:
            speakers.append(was)
        else:
            speakers.append(Speaker(label=name, name=name, known=True, source="override"))
    return before.model_copy(update={"turns": turns, "speakers": speakers})
