"""A tiny name -> factory registry for pluggable backends (ASR, diarization, LLM).

Backends register under a name; configuration names one; an unknown name fails with the
list of valid ones, so a typo in ``podpost.toml`` explains itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pipeline.errors import UnknownBackendError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories of ``T`` by name. ``kind`` ("diarization") and ``config_key``
    ("[diarize] backend") only word the error for an unknown name."""

    def __init__(self, kind: str, config_key: str) -> None:
        self.kind = kind
        self.config_key = config_key
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """A decorator that files a factory under ``name`` (a later one replaces it)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        """The factory for ``name``; :class:`UnknownBackendError` listing the valid names."""
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownBackendError(
                f"unknown {self.kind} backend {name!r}",
                hint=f"set {self.config_key} to one of: {', '.join(self.names())}",
            ) from None
