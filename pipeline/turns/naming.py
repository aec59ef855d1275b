"""Who is each speaker cluster: overrides, then an LLM, then a heuristic, then placeholders.

``name_speakers(turns, episode, config, client)`` returns one ``Speaker`` per cluster label,
in order of first appearance:

1. Overrides win: ``[turns] speakers`` (``--speakers "A,B"``, in order of first appearance)
   or ``[turns] speaker_map`` (cluster label -> name). Clusters they leave out go on.
2. The LLM (task ``speaker_names``) sees compact evidence per cluster (talk share, first
   lines, self-introductions, names others use right before its turns, share of
   questions; see :mod:`pipeline.turns.evidence`) and the candidate names from the
   metadata plus names people introduce themselves with. Its mapping is rejected when it
   gives one name to two clusters, names a cluster that does not exist, leaves one out,
   or uses a name that is not a candidate; then it is asked again once. The request's JSON
   schema (:func:`naming_schema`) already allows only the clusters sent, once each, and
   the candidates or ``unknown``: a model held to it by a grammar (the local one) cannot
   answer otherwise; the checks are for endpoints that do not hold to it.
3. The heuristic: self-introductions; the host speaks first and asks most questions;
   a guest is the one addressed by name, or the only guest left.
4. Anyone still unnamed is ``Speaker N`` (N = order of first appearance), ``known=False``.

Two kinds of LLM failure are kept apart. "The LLM could not name them" (a mapping rejected
twice, JSON that does not validate, a truncated answer or a refusal: an
:class:`~pipeline.errors.LLMOutputError`) falls back to the heuristic, and the result is a
fine result to keep: asking again gives the same. "The LLM is unusable" (a rejected key,
an unknown model, an endpoint that cannot be reached, 429/5xx after every retry: any other
:class:`~pipeline.errors.LLMError`) propagates, so no step records heuristic names that a
fixed key would have improved; callers that want names anyway pass no client.

Names are spelled as the metadata or the override spells them, even when the transcript
(or the model) misspells them.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from pipeline.config import TurnsConfig
from pipeline.errors import LLMOutputError, UsageError
from pipeline.llm import LLMClient
from pipeline.llm.types import one_item_each
from pipeline.models import Episode, Speaker, Turn
from pipeline.turns.evidence import (
    UNKNOWN,
    Candidates,
    Evidence,
    candidates_from,
    gather_evidence,
    introduced_names,
    labels_in_order,
    match_name,
)

log = logging.getLogger(__name__)

TASK = "speaker_names"

# --- what the model sees and answers -------------------------------------------------------


class ClusterName(BaseModel):
    """One line of the model's answer: a cluster label and the name it gives it."""

    cluster: str = Field(description="a cluster label from the request, e.g. S0")
    name: str = Field(description="a candidate name exactly as listed, or 'unknown'")


class SpeakerNames(BaseModel):
    """The model's whole answer (task ``speaker_names``)."""

    # maxItems in the schema only: a grammar-held local model must close the list
    speakers: list[ClusterName] = Field(json_schema_extra={"maxItems": 20})


@functools.lru_cache(maxsize=64)
def naming_schema(labels: tuple[str, ...], names: tuple[str, ...]) -> type[SpeakerNames]:
    """:class:`SpeakerNames` whose JSON schema asks for exactly the clusters sent: item *i*
    names cluster ``labels[i]`` (a ``const``) with one of ``names`` (the candidates in the
    prompt) or ``unknown`` (an ``enum``), one item per cluster and no more. A grammar-held
    model (the local one) so answers each cluster once, with a name the checks accept, and
    stops. Schema only: validation is :class:`SpeakerNames`'s, and :func:`check_mapping`
    judges what an endpoint that ignores the schema answers, as before."""
    if not labels:
        return SpeakerNames
    choices = list(dict.fromkeys([*names, UNKNOWN]))
    item = ClusterName.model_json_schema()

    def one(label: str) -> JsonDict:
        schema = json.loads(json.dumps(item))
        schema["properties"]["cluster"] = {"type": "string", "const": label}
        schema["properties"]["name"] = {
            "type": "string",
            "description": "a candidate name exactly as listed, or 'unknown'",
            "enum": choices,
        }
        return schema

    return one_item_each(SpeakerNames, "speakers", ClusterName, [one(label) for label in labels])


SYSTEM_PROMPT = (
    "You identify the speakers of a podcast or interview. Speaker diarization grouped the "
    "audio into clusters (S0, S1, ...). For each cluster you get evidence from the "
    "transcript; you also get the episode metadata and a list of candidate names. Map every "
    "cluster to one candidate name, or to 'unknown' when the evidence does not say. Never "
    "give the same name to two clusters and never invent a name that is not a candidate. "
    "The host usually speaks first, asks most questions and introduces the guests."
)


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
        name = match_name(raw, candidates)
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
    client: LLMClient,
    evidence: Sequence[Evidence],
    candidates: Candidates,
    episode: Episode,
    fixed: dict[str, str],
) -> dict[str, str | None] | None:
    """The model's mapping (label -> canonical name, None = unknown) for the clusters not
    in ``fixed``, or None when it gave no usable one in two tries.

    Raises :class:`~pipeline.errors.LLMError` (not an output error) when the endpoint
    cannot be used: the caller must not keep a heuristic result in its place.
    """
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
    schema = naming_schema(tuple(open_labels), tuple(names))
    for attempt in range(2):
        try:
            reply = client.complete_json(messages, schema, task=TASK, temperature=0.0)
        except LLMOutputError as e:
            # It answered, unusably; any other LLMError means it cannot be used and goes up.
            log.warning("speaker naming: no usable answer (%s); using the heuristic", e.one_line())
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
        intro = [match_name(n, everyone) for s in e.self_introductions for n in introduced_names(s)]
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
    client: LLMClient | None = None,
    captioned: dict[str, str] | None = None,
) -> list[Speaker]:
    """One Speaker per cluster label in ``turns``, in order of first appearance.

    ``captioned`` maps labels to the names the captions themselves gave (WebVTT voice
    tags); they stand unless the user overrides them. ``client`` None names by the
    heuristic alone. Raises :class:`~pipeline.errors.UsageError` for an override name that
    is empty, spans lines or contains ``*``, and lets an :class:`~pipeline.errors.LLMError`
    that says the LLM is unusable (auth, model, unreachable, retries spent) propagate.
    """
    labels = labels_in_order(turns)
    candidates = candidates_from(episode, turns)
    fixed = overrides(labels, config)
    sources: dict[str, str] = dict.fromkeys(fixed, "override")
    for label, name in (captioned or {}).items():
        if label in labels and label not in fixed:
            fixed[label] = match_name(name, candidates.all) or _display_name(name) or label
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
