"""Fakes at podpost's external boundaries, for tests and offline runs."""
