"""The editorial steps: analysis, chunked translation with validation and repair, the post.

Entry point: :func:`pipeline.editorial.build.build_post` (re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.editorial.build import EditorialResult, build_post

__all__ = ["EditorialResult", "build_post"]


def __getattr__(name: str) -> Any:
    """``build_post`` and ``EditorialResult`` load on first use, so a module that needs only
    the checks (``pipeline.editorial.validate``, as review does) does not load the step."""
    if name in __all__:
        from pipeline.editorial import build

        return getattr(build, name)
    raise AttributeError(f"module 'pipeline.editorial' has no attribute {name!r}")
