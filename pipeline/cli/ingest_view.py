"""How `podpost ingest` prints its summary: every draft path whole, so it can be copied.

One row per item this ingestion ran (items done before are only counted), as a table when
it fits the console at its natural width. Otherwise one block per item, the result and the
title (cut to the console's width with an ellipsis: the only value ever cut) on the first
line, then the draft or the error on a line of its own, whole::

    new  Vector databases and retrieval augmented generation with Leo P…
      draft: /home/me/podpost-data/drafts/feed-97b2c0f2c4236a1b-2026-03-02.md

A line longer than the console (a path, an error) is left to the terminal to wrap:
podpost prints it as one line, so a copy gets it whole. The same rule as ``podpost
status`` (:mod:`pipeline.cli.status_view`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.cli.status_view import INDENT, TABLE_TITLE_CELLS, cut, safe

Item = dict[str, Any]  # one entry of the summary's "items" (pipeline.run.ingest.Outcome)


def shown(summary: dict[str, Any]) -> list[Item]:
    """The items the summary lists: those this ingestion ran (not the ones done before)."""
    return [item for item in summary["items"] if item["state"] != "done-before"]


def _name(item: Item) -> str:
    return str(item["title"] or item["guid"])


def _outcome(item: Item) -> tuple[str, str]:
    """(label, value): the draft, else the error, else nothing to show."""
    if item.get("draft"):
        return "draft", str(item["draft"])
    if item.get("error"):
        return "error", str(item["error"])
    return "", ""


def summary_table(items: Sequence[Item]) -> Table:
    """The items as a table; titles cut to 40 cells, draft paths and errors never cut."""
    table = Table("item", "result", "draft / error")
    table.columns[2].no_wrap = True
    for item in items:
        table.add_row(
            cut(_name(item), TABLE_TITLE_CELLS), safe(item["state"]), safe(_outcome(item)[1])
        )
    return table


def summary_blocks(items: Sequence[Item], width: int) -> list[Text]:
    """The items as blocks of lines (see the module docstring), ``width`` cells wide."""
    lines: list[Text] = []
    for item in items:
        head = f"{item['state']}  "
        lines.append(safe(head) + cut(_name(item), width - len(head)))
        label, value = _outcome(item)
        if label:
            lines.append(safe(f"{INDENT}{label}: {value}"))
    return lines


def totals(summary: dict[str, Any]) -> str:
    """The closing line: how many items ended each way (items waiting for their speakers
    and items skipped for having no media only when there are some)."""
    speakers = summary.get("review_speakers") or 0
    waiting = f"{speakers} waiting for their speakers to be checked, " if speakers else ""
    skipped = summary.get("skipped") or 0
    return (
        f"{summary['new']} new drafts, {summary['needs_review']} needing review, {waiting}"
        f"{summary['failed']} failed, {summary['done_before']} done before"
        + (f", {skipped} skipped (no audio or video)" if skipped else "")
    )


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """Print ``summary`` (``pipeline.run.ingest.IngestSummary.as_dict``) on ``console``:
    the table if it fits, else the blocks; then the totals."""
    items = shown(summary)
    if items:
        table = summary_table(items)
        natural = console.measure(table, options=console.options.update_width(1_000_000))
        if natural.maximum <= console.width:
            console.print(table)
        else:
            for line in summary_blocks(items, console.width):
                console.print(line, soft_wrap=True, highlight=False)
    console.print(totals(summary), highlight=False)
