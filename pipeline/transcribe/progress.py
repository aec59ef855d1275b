"""How a transcription backend reports how far it got (its own module so that the backends
and the registry that builds them can both name it without importing each other)."""

from __future__ import annotations

from collections.abc import Callable

# Called with (seconds of audio done, seconds in all) as decoding advances.
Progress = Callable[[float, float], None]
