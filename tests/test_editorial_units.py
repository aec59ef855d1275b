"""Pure parts of the editorial step: units, chunks, validation, bold, language names."""

from __future__ import annotations

import pytest

from pipeline.editorial.assemble import bold_spans
from pipeline.editorial.units import (
    Unit,
    context_lines,
    language_name,
    make_units,
    plan_chunks,
)
from pipeline.editorial.validate import check_answer, check_unit
from pipeline.editorial.wire import GlossaryEntry, Line, TranslateOut, TurnOut, parse_user_message
from pipeline.editorial.wire import user_message as wire_message
from pipeline.models import Turn

ORIGINAL = "In 2025 we trained the model on 512 GPUs at Anthropic for about three weeks."
GOOD = "2025 年，我们在 Anthropic 用 512 块 GPU 训练了这个模型，大约三周。"
UNIT = Unit("4", 4, "Pavel", ORIGINAL)
GLOSSARY = [GlossaryEntry(term="Anthropic", translation="Anthropic")]


def answer(translation=GOOD, start="In 2025 we", terms=(), id="4"):
    return TurnOut(
        id=id,
        source_start=start,
        translation=translation,
        terms=[{"source": s, "target": t} for s, t in terms],
    )


def check(item, **kwargs):
    return check_unit(UNIT, item, target="zh-CN", glossary=GLOSSARY, **kwargs)


def test_a_good_translation_passes_with_its_terms():
    verdict = check(answer(terms=[("GPUs", "GPU"), ("Anthropic", "Anthropic")]))
    assert verdict.problems == []
    assert verdict.result.translation == GOOD
    assert verdict.result.terms == [("GPUs", "GPU"), ("Anthropic", "Anthropic")]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (answer(translation="  "), "the translation is empty"),
        (answer(translation=ORIGINAL), "not in the target language zh-CN"),
        (answer(start="Sure, it is"), "is not how line 4 begins"),
        (answer(translation="**2025 年" + GOOD), "unbalanced ** bold markers"),
    ],
)
def test_fatal_problems(item, problem):
    verdict = check(item)
    assert verdict.result is None and problem in " ".join(verdict.fatal)


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (answer(translation=GOOD.replace("512", "五百")), "numbers missing from the translation"),
        (answer(translation=GOOD * 4), "translation length is 2.42x"),
        (answer(translation=GOOD.replace("Anthropic", "安索")),
         "glossary term 'Anthropic' must be translated as 'Anthropic'"),
        (answer(terms=[("TPUs", "GPU")]), "term 'TPUs' is not an exact substring of the orig"),
        (answer(terms=[("GPUs", "显卡")]), "term '显卡' is not an exact substring of your trans"),
    ],
)  # fmt: skip
def test_minor_problems_keep_a_usable_result(item, problem):
    verdict = check(item)
    assert verdict.result is not None and verdict.fatal == []
    assert any(problem in p for p in verdict.minor), verdict.minor
    assert all(source != "TPUs" for source, _ in verdict.result.terms)  # bad terms dropped


def test_balanced_bold_from_the_model_is_removed_and_paragraphs_kept():
    verdict = check(answer(translation="**2025 年**，我们   训练了\n\n 模型 Anthropic 512 三周。"))
    assert verdict.result.translation == "2025 年，我们 训练了\n模型 Anthropic 512 三周。"


def test_ids_missing_extra_duplicated_and_the_lone_line_exception():
    units = [UNIT, Unit("5", 5, "Matt", "Sure, 2025 it is at Anthropic.")]
    second = TurnOut(id="5", source_start="Sure, 2025 it", translation="好的，2025 年，Anthropic。")
    verdicts, notes = check_answer(
        units, TranslateOut(turns=[answer(), answer(id="9")]), target="zh-CN", glossary=GLOSSARY
    )
    assert verdicts["4"].problems == [] and verdicts["5"].fatal == [
        "no translation was returned for id 5"
    ]
    assert notes == ["unexpected id '9' ignored"]
    verdicts, _ = check_answer(
        units, TranslateOut(turns=[answer(), second, second]), target="zh-CN", glossary=[]
    )
    assert verdicts["5"].fatal == ["id 5 was answered more than once"]
    # one line asked, one answered under another id and a sloppy source_start: it is that line
    verdicts, _ = check_answer(
        [UNIT], TranslateOut(turns=[answer(id="four", start="")]), target="zh-CN", glossary=[]
    )
    assert verdicts["4"].problems == []


def test_latin_target_only_rejects_an_unchanged_answer():
    unit = Unit("1", 1, "A", "We met in Paris in 2019 to discuss the results of the study.")
    same = TurnOut(id="1", source_start="We met in", translation=unit.text)
    french = TurnOut(
        id="1", source_start="We met in", translation="Nous étions à Paris en 2019 pour l'étude."
    )
    assert check_unit(unit, same, target="fr", glossary=[]).fatal
    assert check_unit(unit, french, target="fr", glossary=[]).problems == []


# --- units and chunks -----------------------------------------------------------------


def test_long_turns_split_at_sentences_and_join_back():
    text = " ".join(f"This is sentence number {i} of a long answer." for i in range(60))
    turns = [Turn(id=3, speaker="A", start=0, end=1, text=text),
             Turn(id=4, speaker="B", start=1, end=2, text="  Short\n answer. "),
             Turn(id=5, speaker="A", start=2, end=3, text="   ")]  # fmt: skip
    units = make_units(turns, max_unit_tokens=100)
    pieces = [u for u in units if u.turn_id == 3]
    assert [u.id for u in pieces] == [f"3.{n}" for n in range(1, len(pieces) + 1)]
    assert len(pieces) >= 4 and all(u.tokens <= 106 for u in pieces)
    assert " ".join(u.text for u in pieces) == text
    assert all(u.text.endswith(".") for u in pieces)
    assert units[-1] == Unit("4", 4, "B", "Short answer.")  # cleaned; the empty turn 5 skipped


def test_a_sentence_without_punctuation_is_cut_by_words():
    text = " ".join(["word"] * 400)
    units = make_units([Turn(id=0, speaker="A", start=0, end=1, text=text)], max_unit_tokens=50)
    assert " ".join(u.text for u in units) == text and len(units) >= 8


def test_chunks_are_balanced_bounded_and_rounded_to_the_concurrency():
    units = [Unit(str(i), i, "A", "x" * (40 + (i % 7) * 30)) for i in range(100)]
    total = sum(u.tokens for u in units)
    chunks = plan_chunks(units, 800)
    assert [u for c in chunks for u in c] == units
    assert len(chunks) == -(-total // 800) and all(sum(u.tokens for u in c) <= 800 for c in chunks)
    sizes = [sum(u.tokens for u in c) for c in chunks]
    assert max(sizes) - min(sizes) < 150
    assert len(plan_chunks(units, 800, min_tokens=100, parallel=4)) % 4 == 0
    assert len(plan_chunks(units, 800, min_tokens=700, parallel=4)) == len(chunks)  # too small
    assert plan_chunks([], 800) == []


def test_context_is_the_preceding_lines_clipped_at_the_front():
    units = [Unit(str(i), i, "A", f"start {i} " + "y " * 200 + f"end {i}") for i in range(5)]
    context = context_lines(units, 3, 2)
    assert [u.id for u in context] == ["1", "2"]
    assert context[0].text.startswith("…") and context[0].text.endswith("end 1")
    assert len(context[0].text) <= 161 and context_lines(units, 0, 3) == []


def test_wire_lines_round_trip():
    lines = [Line("1", "Dr. Who: Jr", "Hello:  world\nagain"), Line("2.1", "B", "[3] not an id")]
    header, parsed = parse_user_message(wire_message({"task": "translate"}, lines))
    assert header == {"task": "translate"}
    assert parsed == [Line("1", "Dr. Who Jr", "Hello: world again"),
                      Line("2.1", "B", "[3] not an id")]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "name"),
    [("en", "English"), ("EN", "English"), ("zh-CN", "Simplified Chinese"), ("zh_TW",
     "Traditional Chinese"), ("de-AT", "German"), ("xx", "xx")],
)  # fmt: skip
def test_language_names(code, name):
    assert language_name(code) == name


# --- bold -----------------------------------------------------------------------------


def test_bold_first_occurrence_longest_first_never_overlapping():
    text = "superalignment at OpenAI: the OpenAI superalignment team"
    assert bold_spans(text, ["OpenAI", "OpenAI superalignment", "superalignment"]) == (
        "**superalignment** at **OpenAI**: the **OpenAI superalignment** team"
    )


def test_bold_prefers_whole_words_in_originals_and_skips_adjacent_spans():
    assert bold_spans("he said AI is here", ["AI"], words=True) == "he said **AI** is here"
    assert bold_spans("ab", ["a", "b"]) == "**a**b"  # "**a****b**" would not pair up
    assert bold_spans("a * b", ["*"]) == "a * b"


def test_source_start_tolerates_a_skipped_filler_and_numbers_may_change_form():
    unit = Unit("1", 1, "A", "Um, so we raised 1 million dollars in 2021, which was a lot.")
    item = TurnOut(
        id="1", source_start="so we raised", translation="我们在 2021 年筹集了 100万美元，很多。"
    )
    assert check_unit(unit, item, target="zh-CN", glossary=[]).problems == []


def test_assembly_bolds_terms_and_glosses_only_the_first_mention():
    from pipeline.editorial.assemble import assemble_turns
    from pipeline.editorial.validate import UnitResult

    turns = [
        Turn(id=0, speaker="Matt", start=0, end=1, text="Superalignment at OpenAI, and sabotage."),
        Turn(id=1, speaker="Pavel", start=1, end=2, text="Yes, superalignment and sabotage."),
        Turn(id=2, speaker="Matt", start=2, end=3, text="And OpenAI again."),
    ]
    units = make_units(turns, 700)
    glossary = [GlossaryEntry(term="superalignment", translation="超对齐"),
                GlossaryEntry(term="OpenAI", translation="OpenAI")]  # fmt: skip
    results = {
        "0": UnitResult("0", "OpenAI 的超对齐，以及破坏。", [("sabotage", "破坏")]),
        "1": UnitResult("1", "是的，超对齐和破坏。", [("sabotage", "破坏")]),
    }
    post_turns, failures = assemble_turns(turns, units, results, {"2": "refused"}, glossary,
                                          "English")  # fmt: skip
    rendered = [(t.translation, t.original) for _, t in post_turns]
    assert rendered == [
        (["**OpenAI** 的**超对齐**（superalignment），以及**破坏**（sabotage）。"],
         "**Superalignment** at **OpenAI**, and **sabotage**."),
        (["是的，**超对齐**和**破坏**。"], "Yes, **superalignment** and **sabotage**."),
        ([], "And **OpenAI** again."),
    ]  # fmt: skip
    assert [(f.turn_id, f.reason) for f in failures] == [(2, "refused")]


def test_a_bare_list_answer_is_read_as_the_turns():
    value = TranslateOut.model_validate([{"id": 3, "source_start": "a", "translation": "b"}])
    assert value.turns == [TurnOut(id="3", source_start="a", translation="b")]


def test_placeholder_speakers_are_neither_people_nor_the_guest():
    from pipeline.config import Config
    from pipeline.editorial.build import front_matter
    from pipeline.editorial.wire import AnalysisOut
    from pipeline.models import Episode

    episode = Episode(id="e", source="s", kind="local", url="file:///s.mp3", show="Show")
    analysis = AnalysisOut(
        title="t", summary="s", guest="Speaker 2", people=["Ana Ruiz", "Speaker 2"],
        category="ai-ml", area="tech-engineering",
    )  # fmt: skip
    front = front_matter(episode, analysis, Config(), {"Speaker 2"})
    assert (front.guest, front.people) == ("", ["Ana Ruiz"])
