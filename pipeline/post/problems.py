"""What the post checker reports: a line number, a one-line message, and whether it is style."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    """One departure from docs/post-format.md.

    ``line`` is 1-based in the post file; ``message`` is one line saying what is wrong and
    what the format wants. ``style`` is True for a front matter departure that changes no
    value (double quotes, a flow list, key order, ...): the post still parses, and podpost
    rewrites it in the blog's style the next time it writes the file. Every other problem
    stops the post from parsing. ``unreadable`` marks front matter that is not YAML at all:
    bad input, which ``podpost post check`` reports like a file it cannot read (exit 2).
    """

    line: int
    message: str
    style: bool = False
    unreadable: bool = False


@dataclass
class Problems:
    """Collects problems while a post is read."""

    found: list[Problem] = field(default_factory=list)

    def add(
        self, line: int, message: str, *, style: bool = False, unreadable: bool = False
    ) -> None:
        """Record a problem at 1-based ``line`` (see :class:`Problem` for the flags)."""
        self.found.append(Problem(line, message, style, unreadable))

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop the post from parsing (everything but style)."""
        return [p for p in self.found if not p.style]

    def sorted(self) -> list[Problem]:
        """Every problem, by line, then message."""
        return sorted(self.found)
