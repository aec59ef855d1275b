"""The editorial steps: analysis, chunked translation with validation and repair, the post."""
