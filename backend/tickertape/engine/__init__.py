"""Generation engines. Importing this package (or .types/.config/.factory) never imports
torch; `build_engine` does, when it constructs a LocalEngine."""

from tickertape.engine.config import EngineConfig
from tickertape.engine.factory import build_engine

__all__ = ["EngineConfig", "build_engine"]
