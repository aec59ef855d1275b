"""Front matter in exactly the blog's YAML style (docs/post-format.md), through PyYAML.

Writing is strict: keys in model order, block lists indented by two spaces, ``[]`` for an
empty list, no line wrapping, unicode as is, and a string plain unless a plain scalar would
not read back as that same string, then single-quoted. "Read back" is decided by two real
resolvers, PyYAML's (YAML 1.1) and ruamel.yaml's (YAML 1.2, the schema js-yaml and so
Eleventy follow), not by a hand list: ``1e3`` and ``0o17`` are numbers only in 1.2, ``yes``
and ``12:30`` only in 1.1; both get quoted. Double quotes are never written.
"""

from __future__ import annotations

import re
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler
from ruamel.yaml.nodes import ScalarNode as RuamelScalarNode
from ruamel.yaml.resolver import VersionedResolver

from pipeline.models import YAML_UNWRITABLE_RE

STR_TAG = "tag:yaml.org,2002:str"
# Every c-indicator of the YAML spec: docs/post-format.md quotes a string that starts with one, even
# where a parser would take it as plain (``-x``, ``:x``, ``?x``), so no reader has to care.
INDICATORS = "-?:,[]{}#&*!|>'\"%@`"
_LINE_BREAKS_RE = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# PyYAML is what podpost reads with; ruamel.yaml's 1.1 resolver follows the spec more
# closely (``y`` and ``n`` are booleans there, not in PyYAML); its 1.2 resolver is the core
# schema that js-yaml, and so Eleventy, reads with.
_PYYAML = yaml.resolver.Resolver()
_SPEC_RESOLVERS = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))


def _spec_tag(value: str) -> str:
    """The first non-str tag a spec resolver gives the plain scalar ``value``, else str."""
    for resolver in _SPEC_RESOLVERS:
        tag = resolver.resolve(RuamelScalarNode, value, (True, False))
        if tag != STR_TAG:
            return str(tag)
    return STR_TAG


def plain_reads_as_string(value: str) -> bool:
    """True when ``value`` written as a plain scalar reads back as a string in YAML 1.1 and 1.2.

    ``"1e3"`` -> False (a float in 1.2), ``"yes"`` -> False (a bool in 1.1), ``""`` -> False
    (null), ``"Dana O'Neil"`` -> True. Says nothing about indicators or ``: ``; the emitter
    checks those.
    """
    plain = _PYYAML.resolve(yaml.ScalarNode, value, (True, False))
    return plain == STR_TAG and _spec_tag(value) == STR_TAG


def one_line(value: str) -> str:
    """``value`` as the writer stores it: unwritable characters and line breaks become spaces.

    The model already replaces the first and refuses the second; this keeps the writer's
    promise (one line, never double-quoted) even for a model built without validation.
    """
    return _LINE_BREAKS_RE.sub(" ", YAML_UNWRITABLE_RE.sub(" ", value))


class _BlogDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # PyYAML writes block sequences flush with their key; the blog indents them.
        super().increase_indent(flow, False)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # PyYAML's serializer writes a string plain only when this returns the str tag for
        # the plain form; answering "not a string" for what YAML 1.1 or 1.2 reads as a
        # number, a bool, a date or null makes the emitter quote it.
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and tag == STR_TAG:
            return _spec_tag(value)
        return tag

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        if style == '"':  # one_line() leaves nothing that needs double quotes
            value = getattr(self.event, "value", "")
            raise ValueError(f"front matter value {value!r} cannot be single-quoted")
        return style


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    value = one_line(value)
    style = "'" if value[:1] in INDICATORS and value else None
    return dumper.represent_scalar(STR_TAG, value, style=style)


_BlogDumper.add_representer(str, _represent_str)


class BlogYAMLHandler(YAMLHandler):
    """python-frontmatter handler that writes the blog's front matter and reads any YAML."""

    def export(self, metadata: dict[str, object], **kwargs: object) -> str:
        """``metadata`` (str, bool and list-of-str values) as YAML lines, no trailing newline."""
        return yaml.dump(
            metadata,
            Dumper=_BlogDumper,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            width=2**31 - 1,
        ).rstrip("\n")

    def format(self, post: frontmatter.Post, **kwargs: object) -> str:
        """The whole file: ``---``, the front matter, ``---``, then the body directly."""
        return f"---\n{self.export(post.metadata)}\n---\n{post.content}"


HANDLER = BlogYAMLHandler()


def dump(metadata: dict[str, Any], body: str) -> str:
    """The whole file: front matter, then the body with no blank line between.

    ``metadata`` maps keys (in the order to write) to str, bool or list-of-str values;
    ``body`` is the Markdown after the closing ``---``. Returns text with no final newline
    unless ``body`` has one. Raises ``ValueError`` only for a value no style could write.
    """
    return frontmatter.dumps(frontmatter.Post(body, handler=HANDLER, **metadata), handler=HANDLER)
