"""What a turn is made of, as the chat service's callers see it.

The values are the engine's plain dataclasses (engine/types.py: no torch, nothing that
runs): a turn's messages, sampling, tools and output rules reach the engine unchanged, so
there is one definition of each. Transport imports them from here, never from the engine
package, so that everything it touches belongs to the chat layer it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickertape.engine.types import (
    NO_RULES,
    ChatMessage,
    OutputRules,
    SamplingParams,
    Tool,
    ToolCall,
    ToolChoice,
)

__all__ = [
    "NO_RULES",
    "ChatMessage",
    "ModelInfo",
    "OutputRules",
    "SamplingParams",
    "Tool",
    "ToolCall",
    "ToolChoice",
]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str  # the id clients send as `model`
    context_length: int  # prompt + reply tokens
    created: int  # Unix time the service started serving it (OpenAI's model `created`)
