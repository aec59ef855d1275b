"""What the transcript and the metadata say about who speaks: candidates and evidence.

- :func:`candidates_from`: the names that may be given (hosts from the uploader or the show,
  guests from the episode, names people introduce themselves with), as :class:`Candidates`;
- :func:`gather_evidence`: per speaker cluster, a compact :class:`Evidence` summary (talk
  share, first lines, self-introductions, names said to it and by it, share of questions);
- :func:`match_name`: a name as written by a transcript or a model, in a candidate's spelling.

Pure functions of ``Turn``/``Episode`` values; :mod:`pipeline.turns.naming` decides.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pipeline.models import Episode, Turn
from pipeline.turns.segment import is_sentence_end

UNKNOWN = "unknown"
FUZZY = 0.8  # spelling similarity that still counts as the same name

_WORD = r"[A-Z][a-zà-ÿ]+(?:[-'’][A-Z]?[a-zà-ÿ]+)*"
_NAME_RE = re.compile(rf"\b{_WORD}(?:\s+(?:[A-Z]\.\s+)?{_WORD}){{1,2}}\b")
_INTRO_RE = re.compile(
    rf"\b(?:I'm|I’m|I am|my name is|My name is|this is|This is)\s+({_WORD}(?:\s+{_WORD}){{0,2}})"
)
_SHOW_HOST_RE = re.compile(rf"\b(?:with|by|hosted by)\s+({_WORD}(?:\s+{_WORD}){{1,2}})")
# Capitalised pairs that are not people, common in podcast titles.
_NOT_NAMES = {
    "the", "a", "an", "how", "why", "what", "when", "where", "who", "episode", "podcast",
    "show", "part", "live", "open", "source", "machine", "learning", "deep", "artificial",
    "intelligence", "new", "york", "san", "francisco", "silicon", "valley", "united",
    "states", "today", "welcome", "with", "and", "on", "in", "of", "for", "to", "at",
}  # fmt: skip


@dataclass
class Evidence:
    """What one speaker cluster's turns say about who it is.

    ``talk_share`` and ``question_share`` are fractions (0-1) of talk time and of the
    cluster's sentences; ``first_lines`` its first two turns (<= 200 characters each);
    ``addressed_as`` counts candidate names said just before its turns, ``mentions`` names
    it says itself.
    """

    label: str
    talk_share: float
    turns: int
    question_share: float
    first_lines: list[str]
    self_introductions: list[str]
    addressed_as: Counter[str] = field(default_factory=Counter)  # names said just before
    mentions: Counter[str] = field(default_factory=Counter)  # names this cluster says

    def as_json(self) -> dict[str, Any]:
        """The compact JSON the model sees (shares rounded, the top five names)."""
        return {
            "cluster": self.label,
            "talk_share": round(self.talk_share, 2),
            "turns": self.turns,
            "question_share": round(self.question_share, 2),
            "first_lines": self.first_lines,
            "self_introductions": self.self_introductions,
            "addressed_as": dict(self.addressed_as.most_common(5)),
            "mentions": dict(self.mentions.most_common(5)),
        }


@dataclass(frozen=True)
class Candidates:
    """The names a cluster may get, by where they come from; ``all`` is them in order,
    each once (compared case-insensitively)."""

    hosts: list[str]
    guests: list[str]
    others: list[str]  # names people introduce themselves with in the transcript

    @property
    def all(self) -> list[str]:
        """Hosts, then guests, then others, each name once."""
        return unique_names([*self.hosts, *self.guests, *self.others])


# --- candidates and evidence ---------------------------------------------------------------


def unique_names(names: Iterable[str]) -> list[str]:
    """``names`` with whitespace collapsed, empty ones dropped, each once (first spelling
    wins, compared case-insensitively), in order."""
    seen: dict[str, str] = {}
    for name in names:
        name = " ".join(name.split())
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return list(seen.values())


def _looks_like_person(name: str) -> bool:
    words = name.split()
    return 2 <= len(words) <= 4 and not any(w.lower().strip(".") in _NOT_NAMES for w in words)


def names_in(text: str) -> list[str]:
    """Capitalised two- to four-word sequences that look like a person's name
    ("With Tomas Okafor" yields "Tomas Okafor")."""
    found = []
    for match in _NAME_RE.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in _NOT_NAMES:
            words.pop(0)
        while words and words[-1].lower() in _NOT_NAMES:  # "Lex Fridman Podcast"
            words.pop()
        if _looks_like_person(" ".join(words)):
            found.append(" ".join(words))
    return unique_names(found)


def candidates_from(episode: Episode, turns: Sequence[Turn] = ()) -> Candidates:
    """Hosts from the uploader or the show ("... with Jane Doe"), guests from the episode."""
    hosts = [n for n in [episode.uploader] if _looks_like_person(n)]
    hosts += [m.group(1) for m in _SHOW_HOST_RE.finditer(episode.show)]
    hosts = unique_names(hosts)
    host_keys = {h.casefold() for h in hosts}
    guests = [
        g
        for g in unique_names(
            [*episode.guests, *names_in(episode.title), *names_in(episode.description)]
        )
        if g.casefold() not in host_keys
    ]
    known = [*hosts, *guests]
    intros = [
        name
        for turn in turns
        for name in introduced_names(turn.text)
        if match_name(name, known) is None and _looks_like_person(name)
    ]
    return Candidates(hosts, guests, unique_names(intros))


def introduced_names(text: str) -> list[str]:
    """Names after "I'm", "my name is", "this is" in ``text`` (one to three words)."""
    return [m.group(1) for m in _INTRO_RE.finditer(text)]


def match_name(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate ``name`` means, in the candidate's spelling: exact (any case), full
    name close enough, or a unique first or last name."""
    key = " ".join(name.split()).casefold()
    if not key or key == UNKNOWN:
        return None
    for candidate in candidates:
        if candidate.casefold() == key:
            return candidate
    scored = [(difflib.SequenceMatcher(None, key, c.casefold()).ratio(), c) for c in candidates]
    best = max(scored, default=(0.0, ""))
    if best[0] >= FUZZY and sum(1 for s, _ in scored if s == best[0]) == 1:
        return best[1]
    parts = [c for c in candidates if key in (p.casefold() for p in c.split())]
    return parts[0] if len(parts) == 1 else None


def _mentioned(text: str, candidates: Sequence[str]) -> list[str]:
    """Candidates whose full, first or last name appears in ``text``, capitalised (so
    "I will" does not mention Will Smith)."""
    words = {w.strip(".,!?;:'\"’”()") for w in text.split()}
    found = []
    for candidate in candidates:
        if candidate.casefold() in text.casefold() or any(p in words for p in candidate.split()):
            found.append(candidate)
    return found


def _sentences(text: str) -> list[str]:
    out, current = [], []
    for word in text.split():
        current.append(word)
        if is_sentence_end(word):
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


def gather_evidence(turns: Sequence[Turn], candidates: Sequence[str]) -> list[Evidence]:
    """One compact summary per cluster, in order of first appearance."""
    labels = labels_in_order(turns)
    total = sum(t.end - t.start for t in turns) or 1.0
    evidence = {}
    for label in labels:
        own = [t for t in turns if t.speaker == label]
        sentences = [s for t in own for s in _sentences(t.text)]
        evidence[label] = Evidence(
            label=label,
            talk_share=sum(t.end - t.start for t in own) / total,
            turns=len(own),
            question_share=sum(s.endswith("?") for s in sentences) / max(1, len(sentences)),
            first_lines=[t.text[:200] for t in own[:2]],
            self_introductions=[s[:160] for s in sentences if _INTRO_RE.search(s)][:2],
        )
    for previous, turn in pairwise(turns):
        if previous.speaker != turn.speaker:
            # Names said at the end of the other person's turn are usually the next speaker's.
            tail = " ".join(_sentences(previous.text)[-2:])
            evidence[turn.speaker].addressed_as.update(_mentioned(tail, candidates))
    for turn in turns:
        evidence[turn.speaker].mentions.update(_mentioned(turn.text, candidates))
    return [evidence[label] for label in labels]


def labels_in_order(turns: Sequence[Turn]) -> list[str]:
    """The distinct speaker labels of ``turns`` in order of first appearance."""
    return list(dict.fromkeys(t.speaker for t in turns))
