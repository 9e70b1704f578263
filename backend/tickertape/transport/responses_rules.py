"""A Responses request's `tools`, `tool_choice`, `parallel_tool_calls`, `reasoning` and
`text.format` as the engine's OutputRules (the same ones `/v1/chat/completions` builds),
and what the Response object echoes of them.

- `tools`: function tools in the Responses form, flat (`{"type": "function", "name",
  "description"?, "parameters"?, "strict"?}`); other tool types (web_search, file_search,
  mcp, ...) are 400 naming `tools[k].type`.
- `tool_choice`: "auto", "none", "required" or `{"type": "function", "name"}`.
- `reasoning.effort` switches the chat template's thinking (`enable_thinking`, as
  `chat_template_kwargs` does on chat completions): "none" turns it off, any other
  effort on, none given leaves the template's default. There is no budget: effort levels
  do not differ. `summary` has no effect (the reasoning comes whole, as `reasoning_text`).
- `text.format`: "text", "json_object", or "json_schema" (`{"name", "schema", "strict"?}`,
  flat): the answer is constrained to JSON that parses (and validates), as
  `response_format` does. `text.verbosity` has no effect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tickertape.chat.types import OutputRules, Tool
from tickertape.transport.openai_errors import OpenAIError
from tickertape.transport.output_rules import RulesError, output_rules
from tickertape.transport.responses_inputs import unsupported

MAX_TOOLS = 64
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
SUMMARIES = frozenset({"auto", "concise", "detailed"})
FORMATS = "text, json_object or json_schema"


@dataclass(frozen=True, slots=True)
class Echo:
    """What the Response object shows of these fields (kept with the response)."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    parallel_tool_calls: bool = True
    reasoning: dict[str, Any] = field(default_factory=lambda: {"effort": None, "summary": None})
    text_format: dict[str, Any] = field(default_factory=lambda: {"type": "text"})

    def record(self) -> dict[str, Any]:
        return {
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls,
            "reasoning": self.reasoning,
            "text_format": self.text_format,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Echo:
        echo = cls()
        return cls(
            list(record.get("tools") or echo.tools),
            record.get("tool_choice") or echo.tool_choice,
            record.get("parallel_tool_calls", True) is not False,
            dict(record.get("reasoning") or echo.reasoning),
            dict(record.get("text_format") or echo.text_format),
        )


# Chat completions' names of the fields the rules check, as the Responses API names them.
_RESPONSES_NAMES = (
    (re.compile(r"^tools\[(\d+)\]\.function\.parameters"), r"tools[\1].parameters"),
    (re.compile(r"^response_format\.json_schema\.schema"), "text.format.schema"),
    (re.compile(r"^response_format\.type"), "text.format.type"),
    (re.compile(r"^response_format"), "text.format"),
)


def responses_name(text: str) -> str:
    """`text` (a field's name, or a message that starts with one) in the Responses API's
    names: `tools[0].parameters`, not `tools[0].function.parameters`."""
    for pattern, name in _RESPONSES_NAMES:
        text, found = pattern.subn(name, text, count=1)
        if found:
            break
    return text


def rules_of(
    tools: list[Any] | None,
    tool_choice: Any,
    parallel_tool_calls: bool | None,
    reasoning: Any,
    text: Any,
) -> tuple[OutputRules, Echo]:
    """The rules and the echo; an OpenAIError (400) naming the field at fault."""
    declared = [_tool(t, k) for k, t in enumerate(tools or ())]
    if len(declared) > MAX_TOOLS:
        raise OpenAIError(400, f"tools: at most {MAX_TOOLS}", param="tools")
    choice, name = _choice(tool_choice)
    effort, summary = _reasoning(reasoning)
    response_format, shown_format = _format(text)
    try:
        rules = output_rules(
            [tool for tool, _ in declared],
            choice,
            name,
            parallel_tool_calls is not False,
            None if effort is None else effort != "none",
            response_format,
        )
    except RulesError as exc:
        param = responses_name(exc.param)
        raise OpenAIError(
            400, f"{param}: {exc.message}", code="invalid_value", param=param
        ) from exc
    echo = Echo(
        [shown for _, shown in declared],
        tool_choice if tool_choice is not None else "auto",
        parallel_tool_calls is not False,
        {"effort": effort, "summary": summary},
        shown_format,
    )
    return rules, echo


def _tool(value: Any, k: int) -> tuple[Tool, dict[str, Any]]:
    where = f"tools[{k}]"
    if not isinstance(value, dict):
        raise OpenAIError(400, f"{where}: a tool object is required", param=where)
    kind = value.get("type")
    if kind != "function":
        raise unsupported(f"{where}.type", kind, "only function tools")
    name = value.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        message = f"{where}.name: 1 to 64 letters, digits, '_' or '-'"
        raise OpenAIError(400, message, param=f"{where}.name")
    description = value.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 4096):
        message = f"{where}.description: a string of at most 4096 characters"
        raise OpenAIError(400, message, param=f"{where}.description")
    parameters = value.get("parameters")
    if parameters is not None and (
        not isinstance(parameters, dict) or parameters.get("type", "object") != "object"
    ):
        message = f"{where}.parameters: must be a JSON Schema of an object"
        raise OpenAIError(400, message, param=f"{where}.parameters")
    strict = value.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise OpenAIError(400, f"{where}.strict: a boolean", param=f"{where}.strict")
    shown = {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": parameters,
        "strict": strict,
    }
    return Tool(name, description, parameters), shown


def _choice(value: Any) -> tuple[str | None, str | None]:
    if value is None or value in ("auto", "none", "required"):
        return value, None
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name")
        if not isinstance(name, str) or not name:
            message = "tool_choice.name: the name of a declared function"
            raise OpenAIError(400, message, param="tool_choice.name")
        return "function", name
    shown = value.get("type") if isinstance(value, dict) else value
    hint = 'auto, none, required or {"type": "function", "name"}'
    raise unsupported("tool_choice", shown, hint)


def _reasoning(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise OpenAIError(400, "reasoning: an object", param="reasoning")
    effort = value.get("effort")
    if effort is not None and not (isinstance(effort, str) and effort in EFFORTS):
        raise unsupported("reasoning.effort", effort, ", ".join(sorted(EFFORTS)))
    summary = value.get("summary", value.get("generate_summary"))
    if summary is not None and not (isinstance(summary, str) and summary in SUMMARIES):
        raise unsupported("reasoning.summary", summary, ", ".join(sorted(SUMMARIES)))
    return effort, summary


def _format(value: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The chat completions' `response_format` for `text`, and the format echoed."""
    text_format: dict[str, Any] = {"type": "text"}
    if value is None:
        return None, text_format
    if not isinstance(value, dict) or set(value) - {"format", "verbosity"}:
        raise OpenAIError(400, "text: only format and verbosity", param="text")
    fmt = value.get("format")
    if fmt is None:
        return None, text_format
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None, text_format
    if kind == "json_object":
        return {"type": "json_object"}, {"type": "json_object"}
    if kind != "json_schema":
        raise unsupported("text.format.type", kind, FORMATS)
    assert isinstance(fmt, dict)
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        message = "text.format.schema: a JSON Schema is required"
        raise OpenAIError(400, message, param="text.format.schema")
    name = fmt.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        message = "text.format.name: 1 to 64 letters, digits, '_' or '-'"
        raise OpenAIError(400, message, param="text.format.name")
    shown = {
        "type": "json_schema",
        "name": name,
        "schema": schema,
        "strict": fmt.get("strict"),
        "description": fmt.get("description"),
    }
    return {"type": "json_schema", "json_schema": {"schema": schema}}, shown
