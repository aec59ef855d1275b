"""Front matter in exactly the blog's YAML style, through python-frontmatter.

The style (FORMAT.md): keys in model order, block lists indented by two spaces, ``[]`` for
an empty list, no line wrapping, unicode as is, single quotes only where YAML needs them or
the string holds a quote, and no blank line between the closing ``---`` and the body.
"""

from __future__ import annotations

from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler


class _BlogDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # PyYAML writes block sequences flush with their key; the blog indents them.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A quote anywhere means single quotes (with '' inside); otherwise PyYAML already
    # quotes exactly the strings that would read back as something else.
    style = "'" if ("'" in value or '"' in value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlogDumper.add_representer(str, _represent_str)


class BlogYAMLHandler(YAMLHandler):
    """python-frontmatter handler that writes and reads the blog's front matter."""

    def export(self, metadata: dict[str, object], **kwargs: object) -> str:
        return yaml.dump(
            metadata,
            Dumper=_BlogDumper,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            width=2**31 - 1,
        ).rstrip("\n")

    def format(self, post: frontmatter.Post, **kwargs: object) -> str:
        return f"---\n{self.export(post.metadata)}\n---\n{post.content}"


HANDLER = BlogYAMLHandler()


def dump(metadata: dict[str, Any], body: str) -> str:
    """The whole file: front matter, then the body with no blank line between."""
    return frontmatter.dumps(frontmatter.Post(body, handler=HANDLER, **metadata), handler=HANDLER)


def load_metadata(text: str) -> Any:
    """Parse front matter YAML; dates stay strings only where they were quoted."""
    return HANDLER.load(text)
