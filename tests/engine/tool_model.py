"""A tiny random checkpoint that speaks the Hermes/Qwen 3 format: the demo tokenizer
with `<think>`, `</think>`, `<tool_call>`, `</tool_call>`, `<tool_response>`,
`</tool_response>` added as single (non-special) tokens, and a Qwen 3-style chat template
(tools in the system turn, `enable_thinking`, calls as `<tool_call>` JSON). A random
model never calls a tool on its own: tests force calls with `tool_choice` (the grammar
writes them) or feed token sequences by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MARKUP = (
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
)

TEMPLATE = (Path(__file__).parent / "tool_template.jinja").read_text(encoding="utf-8")

CALCULATOR: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "maxLength": 12}},
            "required": ["expression"],
            "additionalProperties": False,
        },
    },
}
GET_WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
CONVERT_UNITS: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "convert_units",
        "description": "Convert a value from one unit to another.",
        "parameters": {
            "type": "object",
            "properties": {
                "value": {"type": "integer", "minimum": 0, "maximum": 999},
                "from": {"type": "string", "enum": ["km", "miles"]},
                "to": {"type": "string", "enum": ["km", "miles"]},
            },
            "required": ["value", "from", "to"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [CALCULATOR, GET_WEATHER, CONVERT_UNITS]


def tokenizer() -> Any:
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    from tickertape.engine.demo import DEMO_MODEL_DIR

    tok: Any = AutoTokenizer.from_pretrained(DEMO_MODEL_DIR)
    missing = [m for m in MARKUP if m not in tok.get_vocab()]
    tok.add_tokens([AddedToken(m, special=False, normalized=False) for m in missing])
    tok.chat_template = TEMPLATE
    return tok


def build(out: Path, seed: int = 0) -> Path:
    """A random Llama (the tiny shape of tests/engine/tiny.py) with that tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    from tests.engine import tiny

    tok = tokenizer()
    config = tiny.build_config("llama")
    config.vocab_size = len(tok)
    config.max_position_embeddings = 2048  # the tool list alone is ~400 tokens
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out
