"""What every command shares: building the one Config from the global options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from pipeline.config import Config, load_config


@dataclass(frozen=True)
class Settings:
    config_path: str | None = None
    data_dir: str | None = None

    def config(self, **overrides: Any) -> Config:
        """The entry point is the one place that reads ``os.environ``."""
        base: dict[str, Any] = {"data_dir": self.data_dir}
        return load_config(
            Path(self.config_path) if self.config_path else None,
            env=os.environ,
            overrides=_merge(base, overrides),
        )


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()
