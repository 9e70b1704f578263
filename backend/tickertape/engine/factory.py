"""build_engine: the only way the app creates an engine; torch is imported lazily here."""

from __future__ import annotations

from tickertape.engine.config import EngineConfig
from tickertape.engine.types import Engine


def build_engine(config: EngineConfig) -> Engine:
    from tickertape.engine.local import LocalEngine

    return LocalEngine(config)
