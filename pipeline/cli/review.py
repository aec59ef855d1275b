"""`podpost review | preview | approve | reject | export`: the editor's side of the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeline.cli.common import one_of, say, settings
from pipeline.config import SITE_GENERATORS, Config
from pipeline.errors import InputFileError
from pipeline.review.export import FORMATS as EXPORT_FORMATS
from pipeline.store import Store

if TYPE_CHECKING:
    from pipeline.review.flags import DraftReview, Flag
    from pipeline.review.reask import Reasker


def resolve_draft(draft: str, config: Config, *, audio: bool = False) -> Path:
    """A path as given, else a name inside the drafts folder (``.md`` optional). With
    storage at a URL the drafts and the episodes' small files are pulled
    first (``audio``: the draft's episode whole, for the preview's player)."""
    from pipeline.db import open_state
    from pipeline.review.drafts import find_draft
    from pipeline.review.record import load_record

    storage = Store.of(config)
    storage.pull_records()
    path = find_draft(config.drafts_path, draft)
    if audio and storage.remote:
        record = load_record(open_state(config), path)
        if record is not None and record.episode_id:
            storage.pull_episode(record.episode_id)
    return path


def _flag_line(flag: Flag, indent: str = "  ") -> str:
    return f"{indent}{flag.severity:<8}{flag.kind:<22}{flag.message}"


def _counts(review: DraftReview) -> str:
    counts = review.counts()
    parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items() if n]
    return ", ".join(parts) or "no flags"


def _print_all(reviews: list[DraftReview], folder: Path) -> None:
    if not reviews:
        say(f"no drafts in {folder}")
        return
    say(f"{len(reviews)} draft{'s' if len(reviews) != 1 else ''} in {folder}, most urgent first")
    for review in reviews:
        say(f"\n{review.path.name}  [{review.state}]  {_counts(review)}")
        if review.title:
            say(f"  {review.title}")
        for flag in review.flags:
            say(_flag_line(flag, "    "))


def _print_one(review: DraftReview) -> None:
    from pipeline.review.flags import flags_by_turn, format_time, source_link
    from pipeline.review.quality import LOW_QUALITY

    say(f"{review.path}  [{review.state}]  {_counts(review)}")
    if review.title:
        say(review.title)
    grouped = flags_by_turn(review.flags)
    for flag in grouped.get(None, []):
        say(_flag_line(flag))
    if review.post is None:
        return
    for number, turn in enumerate(review.post.turns, 1):
        flags = grouped.get(number, [])
        quality = review.quality[number - 1] if review.quality else None
        low = quality is not None and quality.score is not None and quality.score < LOW_QUALITY
        if not flags and not low:
            continue
        start = review.times[number - 1] if review.times else None
        link = source_link(review.post.front.source, start)
        where = f"  {format_time(start)}" if start is not None else ""
        signal = f"  {quality.describe()}" if quality is not None else ""
        say(f"turn {number}  {turn.speaker}{where}{'  ' + link if link else ''}{signal}")
        for flag in flags:
            say(_flag_line(flag))


def review_command(
    ctx: typer.Context,
    draft: str | None = typer.Argument(None, help="One draft (default: every draft)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List drafts with their review flags, most urgent first; or one draft turn by turn."""
    from pipeline.db import open_state
    from pipeline.review.flags import check_drafts_dir, review_draft, review_drafts, reviews_json

    config = settings(ctx).config()
    if draft is None:
        Store.of(config).pull_records()
        check_drafts_dir(config.drafts_path)
        reviews = review_drafts(
            config.drafts_path, db=open_state(config), episodes_dir=config.episodes_dir
        )
        if as_json:
            say(reviews_json(reviews))
        else:
            _print_all(reviews, config.drafts_path)
        return
    review = review_draft(
        resolve_draft(draft, config), db=open_state(config), episodes_dir=config.episodes_dir
    )
    if as_json:
        say(json.dumps(review.to_dict(turns=True), ensure_ascii=False, indent=2))
    else:
        _print_one(review)


def preview_command(
    ctx: typer.Context,
    draft: str = typer.Argument(..., help="The draft to preview and edit."),
    port: int = typer.Option(
        8765, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."
    ),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in a browser."),
) -> None:
    """Serve a local page: the post as the blog shows it, beside an editable review view."""
    from pipeline.db import open_state
    from pipeline.review import preview  # FastAPI and uvicorn load only for this command

    config = settings(ctx).config()
    path = resolve_draft(draft, config, audio=True)
    app = preview.create_app(
        path,
        db=open_state(config),
        episodes_dir=config.episodes_dir,
        reasker=_reasker(config),
        storage=Store.of(config),
    )
    try:
        sock = preview.bind(port)
    except OSError as e:
        raise InputFileError(
            f"cannot listen on 127.0.0.1:{port}: {e.strerror}", hint="pick another --port, or 0"
        ) from e
    url = preview.url_of(sock)
    say(f"preview of {path}: {url}  (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    preview.serve(app, sock)


def _reasker(config: Config) -> Reasker:
    """Asking the LLM again from the preview: the run's client settings, made on first use,
    and the tokens counted in the episode's run record like a run's."""
    from pipeline.db import open_state
    from pipeline.llm import LLMClient, Usage, make_client  # the SDK loads only here
    from pipeline.review.reask import Reasker
    from pipeline.run.state import add_tokens

    made: list[LLMClient] = []

    def client() -> LLMClient:
        if not made:
            made.append(make_client(config.llm))
        return made[0]

    def on_usage(episode_dir: Path | None, usage: Usage) -> None:
        if episode_dir is not None:
            tokens = usage.prompt_tokens + usage.completion_tokens
            add_tokens(open_state(config), episode_dir.name, tokens)

    return Reasker(
        client,
        target=config.editorial.target_language,
        context_turns=config.editorial.context_turns,
        on_usage=on_usage,
    )


def approve_command(
    ctx: typer.Context,
    draft: str = typer.Argument(..., help="The draft to publish."),
    to: Path | None = typer.Option(
        None, "--to", help="The site's content folder (default: site_dir from the config)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace a different version of this post at the target (never another "
        "episode's post).",
    ),
    slug: str | None = typer.Option(
        None,
        "--slug",
        help="The file name in the site folder, without .md (default: DATE-TITLE), e.g. "
        "when another episode's post has the same date and title.",
    ),
    override: bool = typer.Option(
        False, "--override", help="Approve despite error flags or an earlier rejection."
    ),
    site: str | None = typer.Option(
        None,
        "--site",
        help=f"The site generator whose file names and front matter to follow: "
        f"{one_of(list(SITE_GENERATORS))} (default: the config's site generator, "
        "eleventy). For jekyll, hugo and astro --to may also be the site's root.",
    ),
) -> None:
    """Set draft: false, check the post and write it into the site's content folder.

    A rejected draft, or one with error flags, is refused unless --override."""
    from pipeline.db import open_state
    from pipeline.review.publish import approve

    config = settings(ctx).config()
    path = resolve_draft(draft, config)
    result = approve(
        path,
        to or config.site_dir,
        db=open_state(config),
        force=force,
        override=override,
        slug=slug,
        episodes_dir=config.episodes_dir,
        site=site or config.site.generator,
    )
    for flag in result.flags:  # the editor overrode them; still say what readers will see
        say(f"warning: approved with: {flag.message}", err=True)
    verb = "wrote" if result.written else "already up to date:"
    say(f"approved {path.name}; {verb} {result.target}")


def export_command(
    ctx: typer.Context,
    draft: str = typer.Argument(..., help="The approved draft to export."),
    formats: list[str] = typer.Option(
        ...,
        "--format",
        help=f"{one_of(list(EXPORT_FORMATS))}. vtt, srt, json: the transcript in the original "
        "and the translation; chapters: Podcasting 2.0 chapters from the headings. Repeat "
        "for several.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write here instead of beside the approved post."
    ),
) -> None:
    """Write the transcript (WebVTT, SubRip, Podcasting 2.0 JSON) or chapters beside the post."""
    from pipeline.db import open_state
    from pipeline.review.export import check_formats, export_draft

    formats = check_formats(formats)
    config = settings(ctx).config()
    path = resolve_draft(draft, config)
    written = export_draft(
        path,
        formats,
        db=open_state(config),
        target_language=config.editorial.target_language,
        out_dir=out,
        episodes_dir=config.episodes_dir,
    )
    for file in written:
        say(f"wrote {file}")


def reject_command(
    ctx: typer.Context,
    draft: str = typer.Argument(..., help="The draft to reject."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the draft's record)."),
) -> None:
    """Record that a draft is rejected, and why."""
    from pipeline.db import open_state
    from pipeline.review.publish import reject

    config = settings(ctx).config()
    path = resolve_draft(draft, config)
    reject(path, reason, db=open_state(config))
    say(f"rejected {path.name}: {reason.strip()}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("review")(review_command)
    app.command("preview")(preview_command)
    app.command("approve")(approve_command)
    app.command("reject")(reject_command)
    app.command("export")(export_command)
