"""The embedded demo model: a tiny Llama trained on our own synthetic chat corpus.

Only the path lives here so importing the package stays cheap (no torch); the corpus
generator and the training script are separate modules run on demand.
"""

from __future__ import annotations

from pathlib import Path

DEMO_MODEL_DIR: Path = Path(__file__).parent / "model"

__all__ = ["DEMO_MODEL_DIR"]
