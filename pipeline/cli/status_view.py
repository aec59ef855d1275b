"""How `podpost status` prints its rows: every episode id whole, so it can be copied.

A table when the table fits the console at its natural width. Otherwise (an 80-column
terminal with real paths, a narrow one) one block per episode, the id first on a line of
its own, then the title cut to the console's width with an ellipsis (the only value ever
cut), then the rest, label by label::

    youtube-abcDEF12345  done  review: drafted
      Vector databases and retrieval augmented gener…
      last step: render  tokens: 12345
      draft: /home/me/podpost-data/drafts/youtube-abcDEF12345.md

A line longer than the console (a long id, a path, an error) is left to the terminal to
wrap: podpost prints it as one line, so a copy gets it whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.run.status import StatusRow
from pipeline.terminal import printable

TABLE_TITLE_CELLS = 40  # titles in the table are cut to this many terminal cells
INDENT = "  "


def state_cell(row: StatusRow) -> str:
    """The state as shown: ``failed (step)``, ``rerun failed (step)`` when an earlier run's
    draft is still there, ``needs-review (N failed turns)``, or the state."""
    if row.state == "failed":
        return f"{'rerun failed' if row.draft else 'failed'} ({row.step or '?'})"
    if row.state == "needs-review":
        return f"needs-review ({row.failed_turns} failed turns)"
    return str(row.state)


def safe(text: str) -> Text:
    """``text`` as rich shows it literally: control characters escaped
    (:func:`pipeline.terminal.printable`), rich markup such as ``[bold]`` kept as text."""
    return Text(printable(text))


def cut(text: str, cells: int) -> Text:
    """``text`` cut to ``cells`` terminal cells (CJK counts two) with an ellipsis, its
    control characters escaped first."""
    out = Text(printable(text), no_wrap=True)
    out.truncate(max(cells, 1), overflow="ellipsis")
    return out


def _outcome(row: StatusRow) -> str:
    return (row.error or "-") if row.state == "failed" else (row.draft or "-")


def _details(row: StatusRow) -> list[tuple[str, str]]:
    """``(label, value)`` lines for a row: the draft, where it was published, a version
    proposed beside it, and the error of a failed run (after the draft it did not replace)."""
    lines = [("draft", row.draft)] if row.draft else []
    if row.published:
        lines.append(("published", row.published))
    if row.proposal:
        lines.append(("new version", f"{row.proposal} ({row.proposal_review or 'drafted'})"))
    if row.state == "failed" or not lines:
        lines.append(("error" if row.state == "failed" else "draft", _outcome(row)))
    return lines


def _outcome_cell(row: StatusRow) -> Text:
    details = _details(row)
    if len(details) == 1:
        return safe(details[0][1])
    return Text("\n").join(
        safe(value if n == 0 else f"{label}: {value}") for n, (label, value) in enumerate(details)
    )


def status_table(rows: Sequence[StatusRow]) -> Table:
    """The rows as a table; ids are never wrapped or cut, titles are cut to 40 cells."""
    table = Table("id", "title", "last step", "state", "review", "tokens", "draft / error")
    table.columns[0].no_wrap = True
    for row in rows:
        table.add_row(
            safe(row.id or "-"),
            cut(row.title, TABLE_TITLE_CELLS) if row.title else safe(row.source),
            safe(row.last_step or "-"),
            safe(state_cell(row)),
            safe(row.review or "-"),
            safe(str(row.tokens)),
            _outcome_cell(row),
        )
    return table


def status_blocks(rows: Sequence[StatusRow], width: int) -> list[Text]:
    """The rows as blocks of lines (see the module docstring) for a console ``width`` wide."""
    lines: list[Text] = []
    for number, row in enumerate(rows):
        if number:
            lines.append(Text(""))
        head = f"{row.id or '-'}  {state_cell(row)}"
        lines.append(safe(head + (f"  review: {row.review}" if row.review else "")))
        if row.title:
            lines.append(Text(INDENT) + cut(row.title, width - len(INDENT)))
        else:  # a fetch that failed before the episode had a title: the source to run again
            lines.append(safe(f"{INDENT}source: {row.source}"))
        lines.append(safe(f"{INDENT}last step: {row.last_step or '-'}  tokens: {row.tokens}"))
        lines += [safe(f"{INDENT}{label}: {value}") for label, value in _details(row)]
    return lines


def print_status(rows: Sequence[StatusRow], console: Console) -> None:
    """Print ``rows`` on ``console``: the table if it fits its width, else the blocks."""
    table = status_table(rows)
    natural = console.measure(table, options=console.options.update_width(1_000_000))
    if natural.maximum <= console.width:
        console.print(table)
        return
    for line in status_blocks(rows, console.width):
        console.print(line, soft_wrap=True, highlight=False)
