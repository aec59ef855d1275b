"""Speech regions laid end to end, and the way back to the episode's clock.

Whisper is given only the speech that VAD found, joined into one stream (what faster-whisper
does with ``vad_filter``). Silence and music are never decoded, and each 30-second window is
full of speech instead of stopping at every pause, so the number of windows depends on how
much speech there is, not on how long the episode is. (Giving whisper each region as its own
clip instead costs an extra, mostly empty window at the end of every region.)

Public API:
    Timeline.of(regions)      # regions: sorted, disjoint (start, end) episode seconds
        .duration             # seconds of joined speech
        .start(t) / .end(t)   # a start / end time on the joined stream -> episode seconds
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeline:
    """Speech regions (seconds in the episode) joined into one stream for the ASR, and the
    mapping of times in that stream back to the episode."""

    regions: tuple[tuple[float, float], ...]
    offsets: tuple[float, ...]  # where each region begins in the joined stream

    @classmethod
    def of(cls, regions: Sequence[tuple[float, float]]) -> Timeline:
        """The timeline of ``regions``; ``ValueError`` unless sorted and disjoint."""
        offsets: list[float] = []
        at = 0.0
        for start, end in regions:
            if end < start or (offsets and start < regions[len(offsets) - 1][1]):
                raise ValueError(f"regions must be sorted and disjoint: {list(regions)}")
            offsets.append(at)
            at += end - start
        return cls(tuple(regions), tuple(offsets))

    @property
    def duration(self) -> float:
        """Seconds of the joined stream (the regions' total length)."""
        if not self.regions:
            return 0.0
        last_start, last_end = self.regions[-1]
        return self.offsets[-1] + last_end - last_start

    def start(self, t: float) -> float:
        """Where something that starts at ``t`` starts; a junction belongs to the region
        after it (a word that starts there was said after the pause)."""
        return self._at(bisect_right(self.offsets, t) - 1, t)

    def end(self, t: float) -> float:
        """Where something that ends at ``t`` ends; a junction belongs to the region before
        it (a word that ends there was said before the pause)."""
        return self._at(bisect_left(self.offsets, t) - 1, t)

    def _at(self, index: int, t: float) -> float:
        if not self.regions:
            return t
        index = max(0, index)  # before the first region: clamp to its start
        start, end = self.regions[index]
        return min(end, start + max(0.0, t - self.offsets[index]))
