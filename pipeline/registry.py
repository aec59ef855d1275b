"""A tiny name -> factory registry for pluggable backends (ASR, diarization, LLM)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pipeline.errors import UnknownBackendError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, config_key: str) -> None:
        self.kind = kind
        self.config_key = config_key
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownBackendError(
                f"unknown {self.kind} backend {name!r}",
                hint=f"set {self.config_key} to one of: {', '.join(self.names())}",
            ) from None
