"""The editorial steps: analysis, chunked translation with validation and repair, the post.

Entry point: :func:`pipeline.editorial.build.build_post` (re-exported here).
"""

from pipeline.editorial.build import EditorialResult, build_post

__all__ = ["EditorialResult", "build_post"]
