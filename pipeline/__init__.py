"""podpost: turn podcast and video interviews into bilingual draft blog posts."""

__version__ = "0.1.0"
