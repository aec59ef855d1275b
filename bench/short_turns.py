"""Short turns on synthetic interviews: how many true turns come out as turns, and the share
of speech time on the right speaker (builtin diarization, captions' transcript).

The interviews are tests/fixtures/interview.py's: the backchannel one (forty turns, half
of them under a second) and the suite's two- and three-voice sets (espeak-ng, flite).

    .venv/bin/python bench/short_turns.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import DiarizeConfig, TurnsConfig
from pipeline.turns.diarize import diarize
from pipeline.turns.segment import build_turn_list
from tests.fixtures.interview import (
    FLITE_GUEST,
    FLITE_GUEST2,
    FLITE_HOST,
    GUEST,
    GUEST2,
    HOST,
    backchannel_script,
    synthesize_interview,
)
from tests.fixtures.turn_truth import kept_turns, right_share

SETS = {
    "backchannel (2 espeak-ng, 40 turns)": lambda d: synthesize_interview(
        d, [HOST, GUEST], seed=17, script=backchannel_script(HOST, GUEST), turn_gap=(0.2, 0.7)
    ),
    "backchannel (2 flite, 40 turns)": lambda d: synthesize_interview(
        d,
        [FLITE_HOST, FLITE_GUEST],
        seed=17,
        script=backchannel_script(FLITE_HOST, FLITE_GUEST),
        turn_gap=(0.2, 0.7),
    ),
    "backchannel (2 other espeak-ng, 40 turns)": lambda d: synthesize_interview(
        d, [GUEST2, GUEST], seed=19, script=backchannel_script(GUEST2, GUEST), turn_gap=(0.2, 0.7)
    ),
    "interview2 (2 espeak-ng)": lambda d: synthesize_interview(d, [HOST, GUEST], seed=2),
    "interview3 (3 espeak-ng)": lambda d: synthesize_interview(
        d, [HOST, GUEST, GUEST2], n_turns=12, seed=3
    ),
    "flite (3 flite)": lambda d: synthesize_interview(
        d, [FLITE_HOST, FLITE_GUEST, FLITE_GUEST2], n_turns=10, seed=7
    ),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in SETS.items():
            interview = make(Path(tmp) / str(len(name)))
            spans = diarize(interview.audio, DiarizeConfig())
            turns = build_turn_list(interview.transcript, spans, TurnsConfig())
            kept = len(kept_turns(interview, turns))
            share = right_share(interview, turns)
            print(
                f"{name}: {kept} of {len(interview.turns)} true turns kept, "
                f"{len(turns)} turns out, {share:.1%} of speech on the right speaker"
            )


if __name__ == "__main__":
    main()
