"""Who is each speaker cluster: overrides, then an LLM, then a heuristic, then placeholders.

``name_speakers(turns, episode, config, client)`` returns one ``Speaker`` per cluster label,
in order of first appearance:

1. Overrides win: ``[turns] speakers`` (``--speakers "A,B"``, in order of first appearance)
   or ``[turns] speaker_map`` (cluster label -> name). Clusters they leave out go on.
2. The LLM (task ``speaker_names``) sees compact evidence per cluster (talk share, first
   lines, self-introductions, names others use right before its turns, share of
   questions) and the candidate names from the metadata (host from the uploader or show,
   guests from the episode, title and description) plus names people introduce
   themselves with. Its mapping is rejected when it gives one name to two clusters, names
   a cluster that does not exist, leaves one out, or uses a name that is not a candidate;
   then it is asked again once, then the heuristic takes over. An endpoint that fails
   (server errors, bad JSON, no client) also means the heuristic.
3. The heuristic: self-introductions; the host speaks first and asks most questions;
   a guest is the one addressed by name, or the only guest left.
4. Anyone still unnamed is ``Speaker N`` (N = order of first appearance), ``known=False``.

Names are spelled as the metadata or the override spells them, even when the transcript
(or the model) misspells them.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, Field

from pipeline.config import TurnsConfig
from pipeline.errors import LLMError, UsageError
from pipeline.models import Episode, Speaker, Turn
from pipeline.turns.segment import is_sentence_end

log = logging.getLogger(__name__)

TASK = "speaker_names"
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


# --- what the model sees and answers -------------------------------------------------------


class ClusterName(BaseModel):
    cluster: str = Field(description="a cluster label from the request, e.g. S0")
    name: str = Field(description="a candidate name exactly as listed, or 'unknown'")


class SpeakerNames(BaseModel):
    speakers: list[ClusterName]


SYSTEM_PROMPT = (
    "You identify the speakers of a podcast or interview. Speaker diarization grouped the "
    "audio into clusters (S0, S1, ...). For each cluster you get evidence from the "
    "transcript; you also get the episode metadata and a list of candidate names. Map every "
    "cluster to one candidate name, or to 'unknown' when the evidence does not say. Never "
    "give the same name to two clusters and never invent a name that is not a candidate. "
    "The host usually speaks first, asks most questions and introduces the guests."
)


@dataclass
class Evidence:
    label: str
    talk_share: float
    turns: int
    question_share: float
    first_lines: list[str]
    self_introductions: list[str]
    addressed_as: Counter[str] = field(default_factory=Counter)  # names said just before
    mentions: Counter[str] = field(default_factory=Counter)  # names this cluster says

    def as_json(self) -> dict[str, Any]:
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
    hosts: list[str]
    guests: list[str]
    others: list[str]  # names people introduce themselves with in the transcript

    @property
    def all(self) -> list[str]:
        return _unique([*self.hosts, *self.guests, *self.others])


# --- candidates and evidence ---------------------------------------------------------------


def _unique(names: Iterable[str]) -> list[str]:
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
    return _unique(found)


def candidates_from(episode: Episode, turns: Sequence[Turn] = ()) -> Candidates:
    """Hosts from the uploader or the show ("... with Jane Doe"), guests from the episode."""
    hosts = [n for n in [episode.uploader] if _looks_like_person(n)]
    hosts += [m.group(1) for m in _SHOW_HOST_RE.finditer(episode.show)]
    hosts = _unique(hosts)
    host_keys = {h.casefold() for h in hosts}
    guests = [
        g
        for g in _unique(
            [*episode.guests, *names_in(episode.title), *names_in(episode.description)]
        )
        if g.casefold() not in host_keys
    ]
    known = [*hosts, *guests]
    intros = [
        name
        for turn in turns
        for name in _introduced(turn.text)
        if _match(name, known) is None and _looks_like_person(name)
    ]
    return Candidates(hosts, guests, _unique(intros))


def _introduced(text: str) -> list[str]:
    return [m.group(1) for m in _INTRO_RE.finditer(text)]


def _match(name: str, candidates: Sequence[str]) -> str | None:
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
    labels = _unique_labels(turns)
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


def _unique_labels(turns: Sequence[Turn]) -> list[str]:
    return list(dict.fromkeys(t.speaker for t in turns))


# --- the three ways to a name --------------------------------------------------------------


def _display_name(name: str) -> str:
    """One line, no ``*``: the post prints the name as a bold label."""
    return " ".join(name.replace("*", " ").split())


def overrides(labels: Sequence[str], config: TurnsConfig) -> dict[str, str]:
    """Names the user gave: ``speakers`` in order of first appearance, else ``speaker_map``."""
    given = (
        dict(zip(labels, config.speakers, strict=False))
        if config.speakers
        else {label: name for label, name in config.speaker_map.items() if label in labels}
    )
    for name in given.values():
        if _display_name(name) != name.strip() or not name.strip():
            raise UsageError(
                f"speaker name {name!r} is empty, spans lines or contains '*'",
                hint='give plain names, e.g. --speakers "Matt Turck,Pavel Izmailov"',
            )
    return {label: name.strip() for label, name in given.items()}


def check_mapping(
    answer: SpeakerNames, labels: Sequence[str], candidates: Sequence[str]
) -> tuple[dict[str, str | None], list[str]]:
    """The mapping in canonical spelling (None = unknown), and what is wrong with it."""
    problems: list[str] = []
    mapping: dict[str, str | None] = {}
    for item in answer.speakers:
        label = item.cluster.strip()
        if label not in labels:
            problems.append(f"cluster {label!r} does not exist (clusters: {', '.join(labels)})")
            continue
        if label in mapping:
            problems.append(f"cluster {label} is named twice")
            continue
        raw = item.name.strip()
        if raw.casefold() in (UNKNOWN, "", "none", "null"):
            mapping[label] = None
            continue
        name = _match(raw, candidates)
        if name is None:
            problems.append(f"{raw!r} is not one of the candidate names")
            continue
        mapping[label] = name
    named = [n for n in mapping.values() if n]
    for name, count in Counter(named).items():
        if count > 1:
            problems.append(f"{name!r} is given to {count} clusters")
    missing = [label for label in labels if label not in mapping]
    if missing and not problems:
        problems.append(f"clusters {', '.join(missing)} are missing")
    return mapping, problems


def ask_llm(
    client: Any,
    evidence: Sequence[Evidence],
    candidates: Candidates,
    episode: Episode,
    fixed: dict[str, str],
) -> dict[str, str | None] | None:
    """The model's mapping for the clusters not in ``fixed``, or None when it gave no
    usable one in two tries (or the endpoint failed)."""
    open_labels = [e.label for e in evidence if e.label not in fixed]
    taken = {n.casefold() for n in fixed.values()}
    names = [n for n in candidates.all if n.casefold() not in taken]
    header = {
        "task": TASK,
        "episode": {
            "title": episode.title,
            "show": episode.show,
            "uploader": episode.uploader,
            "description": episode.description[:600],
        },
        "candidates": {
            "hosts": [n for n in candidates.hosts if n in names],
            "guests": [n for n in candidates.guests if n in names],
            "introduced_in_transcript": [n for n in candidates.others if n in names],
        },
        "already_named": fixed,
        "clusters": [e.as_json() for e in evidence if e.label in open_labels],
        "answer_for": open_labels,
    }
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(header, ensure_ascii=False)},
    ]
    for attempt in range(2):
        try:
            reply = client.complete_json(messages, SpeakerNames, task=TASK, temperature=0.0)
        except LLMError as e:
            log.warning("speaker naming: the LLM failed (%s); using the heuristic", e.one_line())
            return None
        mapping, problems = check_mapping(reply.value, open_labels, names)
        if not problems:
            return mapping
        log.warning("speaker naming: attempt %d rejected: %s", attempt + 1, "; ".join(problems))
        messages = [
            *messages,
            {"role": "assistant", "content": reply.raw or reply.value.model_dump_json()},
            {
                "role": "user",
                "content": "That mapping cannot be used: "
                + "; ".join(problems)
                + f". Answer again for clusters {', '.join(open_labels)}, each with a "
                "different candidate name or 'unknown'.",
            },
        ]
    return None


def heuristic(
    evidence: Sequence[Evidence], candidates: Candidates, fixed: dict[str, str]
) -> dict[str, str]:
    """Names from self-introductions, then host by questions, then guests by address."""
    names = dict(fixed)
    used = {n.casefold() for n in names.values()}
    everyone = candidates.all

    def give(label: str, name: str | None) -> None:
        if name and label not in names and name.casefold() not in used:
            names[label] = name
            used.add(name.casefold())

    for e in evidence:
        intro = [_match(n, everyone) for s in e.self_introductions for n in _introduced(s)]
        if (found := [n for n in intro if n]) and len(set(found)) == 1:
            give(e.label, found[0])
    open_ = [e for e in evidence if e.label not in names]
    free_hosts = [h for h in candidates.hosts if h.casefold() not in used]
    if open_ and len(free_hosts) == 1 and len(evidence) > 1:
        first = evidence[0].label
        host = max(open_, key=lambda e: e.question_share + (0.1 if e.label == first else 0.0))
        give(host.label, free_hosts[0])
    free_guests = [g for g in candidates.guests if g.casefold() not in used]
    open_ = [e for e in evidence if e.label not in names]
    for e in sorted(open_, key=lambda e: -sum(e.addressed_as[g] for g in free_guests)):
        votes = [(e.addressed_as[g] - e.mentions[g], g) for g in free_guests]
        best = max(votes, default=(0, ""))
        if best[0] > 0 and sum(1 for v, _ in votes if v == best[0]) == 1:
            give(e.label, best[1])
    open_ = [e for e in evidence if e.label not in names]
    free_guests = [g for g in candidates.guests if g.casefold() not in used]
    if len(open_) == 1 and len(free_guests) == 1:
        give(open_[0].label, free_guests[0])
    return names


def name_speakers(
    turns: Sequence[Turn],
    episode: Episode,
    config: TurnsConfig,
    client: Any = None,
    captioned: dict[str, str] | None = None,
) -> list[Speaker]:
    """One Speaker per cluster label in ``turns``, in order of first appearance.

    ``captioned`` maps labels to the names the captions themselves gave (WebVTT voice
    tags); they stand unless the user overrides them."""
    labels = _unique_labels(turns)
    candidates = candidates_from(episode, turns)
    fixed = overrides(labels, config)
    sources: dict[str, str] = dict.fromkeys(fixed, "override")
    for label, name in (captioned or {}).items():
        if label in labels and label not in fixed:
            fixed[label] = _match(name, candidates.all) or _display_name(name) or label
            sources[label] = "caption"
    evidence = gather_evidence(turns, candidates.all)
    names: dict[str, str] = dict(fixed)
    if len(names) < len(labels):
        mapping = ask_llm(client, evidence, candidates, episode, fixed) if client else None
        if mapping is not None:
            for label, maybe in mapping.items():
                if maybe:
                    names[label], sources[label] = maybe, "llm"
        else:
            for label, name in heuristic(evidence, candidates, fixed).items():
                if label not in names:
                    names[label], sources[label] = name, "heuristic"
    speakers = []
    for index, label in enumerate(labels, start=1):
        if label in names:
            source = sources[label]
            speakers.append(Speaker(label=label, name=names[label], known=True, source=source))  # type: ignore[arg-type]
        else:
            speakers.append(Speaker(label=label, name=f"Speaker {index}", known=False))
    return speakers


def apply_names(turns: Sequence[Turn], speakers: Sequence[Speaker], max_chars: int) -> list[Turn]:
    """Turns under display names. Neighbouring turns of two clusters that got one name (the
    user said they are one person) merge while they stay under ``max_chars``; pieces of one
    cluster's long monologue stay apart, as the turns step cut them."""
    display = {s.label: s.name for s in speakers}
    out: list[Turn] = []
    previous_label = None
    for turn in turns:
        name = display.get(turn.speaker, turn.speaker)
        last = out[-1] if out else None
        if (
            last
            and last.speaker == name
            and turn.speaker != previous_label
            and len(last.text) + 1 + len(turn.text) <= max_chars
        ):
            out[-1] = last.model_copy(update={"end": turn.end, "text": f"{last.text} {turn.text}"})
        else:
            out.append(turn.model_copy(update={"speaker": name, "id": len(out) + 1}))
        previous_label = turn.speaker
    return out
