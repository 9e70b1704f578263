"""Tools, tool choice, thinking and JSON format of a request, as the engine's OutputRules.

Shared by the WebSocket frames and `/v1/chat/completions`, which take the same OpenAI
shapes (`tools: [{"type": "function", "function": {...}}]`, `tool_choice`, ...). The
schemas themselves are checked by the engine (it compiles them) before the turn starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tickertape.chat.types import NO_RULES, OutputRules, Tool, ToolChoice


class RulesError(ValueError):
    """A field that cannot be honoured: `param` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


def tool_of(
    name: str, description: str | None, parameters: Mapping[str, Any] | None, k: int
) -> Tool:
    if parameters is not None and parameters.get("type", "object") != "object":
        raise RulesError(f"tools[{k}].function.parameters", "must be a JSON Schema of an object")
    return Tool(name, description, dict(parameters) if parameters is not None else None)


def output_rules(
    tools: Sequence[Tool],
    tool_choice: str | None,
    function_name: str | None,
    parallel_tool_calls: bool,
    enable_thinking: bool | None,
    response_format: Mapping[str, Any] | None,
) -> OutputRules:
    """`tool_choice`: "auto", "none", "required", "function" (with `function_name`) or
    None (OpenAI's default: auto with tools). `response_format`: OpenAI's object."""
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise RulesError("tools", "two tools have the same name")
    choice: ToolChoice = "auto"
    if tool_choice in ("none", "required"):
        choice = "none" if tool_choice == "none" else "required"
    elif tool_choice == "function":
        choice = "function"
        if function_name not in names:
            raise RulesError("tool_choice", f"no tool named {function_name!r} in tools")
    if choice in ("required", "function") and not tools:
        raise RulesError("tool_choice", "a call is required but no tools are declared")
    rules = OutputRules(
        tools=tuple(tools),
        tool_choice=choice,
        function_name=function_name if choice == "function" else None,
        parallel_tool_calls=parallel_tool_calls,
        enable_thinking=enable_thinking,
        response_format=_format(response_format),
    )
    return NO_RULES if rules == NO_RULES else rules


def _format(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise RulesError("response_format.json_schema.schema", "a JSON Schema is required")
        return {"type": "json_schema", "schema": dict(schema)}
    raise RulesError("response_format.type", "one of text, json_object, json_schema")
