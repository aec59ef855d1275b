"""Site generators: where ``approve`` puts a post, and how its front matter reads, for each.

The draft is always in the blog format of FORMAT.md (an Eleventy site). Publishing into
another generator keeps every front matter value and the body, and follows that
generator's own conventions where they differ:

============  =====================================  =================  ===================
generator     file                                   ``date``           ``layout``
============  =====================================  =================  ===================
eleventy      ``<folder>/YYYY-MM-DD-slug.md``        ``'YYYY-MM-DD'``   as the draft's
jekyll        ``_posts/YYYY-MM-DD-slug.md``          YAML date          the draft's, without
                                                                        its extension
hugo          ``content/posts/slug.md``              YAML date          none
astro         ``src/content/posts/slug.md``          YAML date          none
============  =====================================  =================  ===================

* Jekyll reads a post only from a ``_posts`` folder and only with the date in its name;
  ``layout`` names a file in ``_layouts`` without its extension (``post.njk`` -> ``post``).
  Its Markdown (kramdown) leaves the inside of an HTML block raw, so each ``<details>``
  is written ``<details markdown="1">``, kramdown's own switch (it drops the attribute),
  and the original's bold label renders as it does on the other sites.
* Hugo and Astro pick templates by section or collection, so ``layout`` is left out (a
  ``layout: post.njk`` would name a template those sites do not have). Hugo's ``draft``,
  ``date``, ``title``, ``summary`` and ``tags`` are its own page variables, with the same
  meaning; an Astro collection schema reads ``date`` with ``z.date()`` or
  ``z.coerce.date()``.
* An unquoted YAML date is what Jekyll, Hugo and Astro document (and ``z.date()``
  requires); the blog format keeps the quoted string Eleventy reads.

The folder: the site's posts folder itself, or the site's root (recognised by the
generator's config file: ``_config.yml``, ``hugo.toml``/``config.toml``,
``astro.config.mjs``, ...), which means the conventional folder above inside it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import UsageError
from pipeline.models import FrontMatter, Post
from pipeline.post import yaml_style
from pipeline.post.render import render_body, render_post

DATED_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-")
_DETAILS_LINE = re.compile(r"^<details>$", re.MULTILINE)


@dataclass(frozen=True)
class SiteGenerator:
    """One generator's conventions (see the module docstring)."""

    name: str
    folder: str | None  # the posts folder under the site root (None: none is conventional)
    markers: tuple[str, ...]  # files in a site root that name this generator
    dated_names: bool  # YYYY-MM-DD-slug.md by default
    date_in_name: bool  # ... and a name without the date is no post (Jekyll)
    layout: Literal["keep", "name", "drop"]
    yaml_date: bool  # date as a YAML date, not a quoted string
    details: str = "<details>"  # how the body opens each original

    def posts_folder(self, given: Path) -> Path:
        """The folder posts go into: ``given``, or its conventional subfolder when
        ``given`` is the site's root. Raises ``UsageError`` for a Jekyll folder that is
        not ``_posts``."""
        folder = Path(given)
        if self.folder and any((folder / marker).is_file() for marker in self.markers):
            folder = folder / self.folder
            folder.mkdir(parents=True, exist_ok=True)
        if self.name == "jekyll" and folder.name != "_posts":
            raise UsageError(
                f"{given} is not a Jekyll _posts folder; Jekyll publishes posts only from _posts",
                hint="pass --to SITE/_posts, or the site's root (the folder with _config.yml)",
            )
        return folder

    def required_date(self, front: FrontMatter, name: str) -> str:
        """``name`` (an editor's ``--slug``) with the post's date in front where the
        generator needs one there (Jekyll) and it has none."""
        if self.date_in_name and not DATED_NAME.match(name):
            return f"{front.date}-{name}"
        return name

    def metadata(self, front: FrontMatter) -> dict[str, Any]:
        """The front matter values as this generator expects them, in the blog's key order."""
        data: dict[str, Any] = front.model_dump()
        if self.layout == "drop":
            del data["layout"]
        elif self.layout == "name":
            data["layout"] = Path(front.layout).stem
        if self.yaml_date:
            data["date"] = dt.date.fromisoformat(front.date)
        return data

    def render(self, post: Post) -> str:
        """The whole file for this generator; Eleventy's is the blog format byte for byte."""
        if self.name == "eleventy":
            return render_post(post)
        body = render_body(post)
        if self.details != "<details>":  # the template's own line; text cannot hold a "<"
            body = _DETAILS_LINE.sub(self.details, body)
        return yaml_style.dump(self.metadata(post.front), body)


SITES: dict[str, SiteGenerator] = {
    "eleventy": SiteGenerator(
        "eleventy",
        None,
        (),
        dated_names=True,
        date_in_name=False,
        layout="keep",
        yaml_date=False,
    ),
    "jekyll": SiteGenerator(
        "jekyll",
        "_posts",
        ("_config.yml", "_config.yaml", "_config.toml"),
        dated_names=True,
        date_in_name=True,
        layout="name",
        yaml_date=True,
        details='<details markdown="1">',
    ),
    "hugo": SiteGenerator(
        "hugo",
        "content/posts",
        ("hugo.toml", "hugo.yaml", "hugo.json", "config.toml", "config.yaml", "config.json"),
        dated_names=False,
        date_in_name=False,
        layout="drop",
        yaml_date=True,
    ),
    "astro": SiteGenerator(
        "astro",
        "src/content/posts",
        tuple(f"astro.config.{ext}" for ext in ("mjs", "js", "ts", "mts", "cjs", "cts")),
        dated_names=False,
        date_in_name=False,
        layout="drop",
        yaml_date=True,
    ),
}


def site_generator(name: str) -> SiteGenerator:
    """The generator called ``name``; ``UsageError`` naming the valid ones otherwise."""
    try:
        return SITES[name]
    except KeyError:
        raise UsageError(
            f"unknown site generator {name!r}", hint=f"use one of: {', '.join(SITES)}"
        ) from None


def front_source(text: str) -> str | None:
    """The ``source`` in the front matter of a published post of any generator's style;
    None when the file has no readable front matter or no ``source``."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") != "---":
        return None
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.rstrip("\r") == "---")
        data = yaml.safe_load("\n".join(lines[1:end]))
    except (StopIteration, yaml.YAMLError, ValueError):
        return None
    source = data.get("source") if isinstance(data, dict) else None
    return source if isinstance(source, str) and source else None
