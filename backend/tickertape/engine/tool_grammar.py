"""Grammars (llguidance's Lark dialect) that make a reply's tool calls and JSON answers
valid by construction. Plain strings; engine/constraint.py runs them.

- `answer_grammar`: the whole answer, from its first token: forced tool calls
  (`tool_choice` `required` or a named function), a JSON answer (`response_format`), or
  either one (tools on `auto` with a response format).
- `call_grammar`: the rest of a call block once the model has written the token that
  opens it (`<tool_call>`, `[TOOL_CALLS]`) on its own (`tool_choice: auto`).

A call is `{"name": "<a declared tool>", "<arguments key>": <its schema>}` in the
syntax of engine/output_format.py. JSON is compact with `", "` and `": "` separators and
properties in schema order: the way chat templates render calls (`tojson`), so the model
writes what it was trained on and the streamed text is stable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tickertape.engine.output_format import CallSyntax
from tickertape.engine.types import OutputRules, Tool

JSON_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
ANY_OBJECT: dict[str, Any] = {"type": "object"}
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
# Blank lines before the answer (after `</think>`, say): bounded, so a weak model cannot
# spend its whole budget on them.
LEADING_BLANK = "BLANK: /[ \\t\\n]{1,4}/"


def lit(text: str) -> str:
    """A Lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def seq(text: str, markers: Mapping[str, int]) -> str:
    """`text` as grammar: literals, with each markup token (`<tool_call>`...) named by
    its id. llguidance treats a tokenizer's added tokens as special: only a token
    reference matches them, and it matches exactly that token."""
    if not markers or not text:
        return lit(text) if text else ""
    pattern = re.compile("|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True)))
    parts: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if match.start() > start:
            parts.append(lit(text[start : match.start()]))
        parts.append(f"<[{markers[match.group()]}]>")
        start = match.end()
    if start < len(text):
        parts.append(lit(text[start:]))
    return " ".join(parts)


def json_rule(schema: Mapping[str, Any]) -> str:
    """A `%json` reference: that schema, written compactly."""
    return "%json " + json.dumps({**schema, "x-guidance": JSON_STYLE}, ensure_ascii=False)


def format_schema(rules: OutputRules) -> Mapping[str, Any] | None:
    """The JSON Schema a `response_format` asks for (json_object: any object)."""
    fmt = rules.response_format
    if fmt is None:
        return None
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return schema if isinstance(schema, Mapping) else ANY_OBJECT
    return ANY_OBJECT


def _tool_rules(syntax: CallSyntax, tools: Sequence[Tool]) -> list[str]:
    """Rule `call` (one call object of any callable tool), and `call_k`/`args_k` per tool."""
    rules: list[str] = []
    names = []
    for k, tool in enumerate(tools):
        name = json.dumps(tool.name, ensure_ascii=False)
        head = f'{{"name": {name}, "{syntax.arguments_key}": '
        rules.append(f"call_{k}: {lit(head)} args_{k} {lit('}')}")
        rules.append(f"args_{k}: {json_rule(tool.parameters or EMPTY_PARAMETERS)}")
        names.append(f"call_{k}")
    rules.append(f"call: {' | '.join(names)}")
    return rules


def _block(syntax: CallSyntax, markers: Mapping[str, int], parallel: bool, opened: bool) -> str:
    """A call block; `opened`: its opener is already written (the model chose to call)."""

    def after_opener(text: str) -> str:
        if opened and syntax.opener:
            text = text.removeprefix(syntax.opener)
        return seq(text, markers)

    if syntax.block_prefix:  # Mistral: the opener once, then a JSON list of calls
        more = f"({lit(syntax.separator)} call)*" if parallel else ""
        return (
            f"{after_opener(syntax.block_prefix)} call {more} {seq(syntax.block_suffix, markers)}"
        )
    suffix = seq(syntax.call_suffix, markers)
    first = f"({after_opener(syntax.call_prefix)} call {suffix})"
    if not parallel:
        return first
    return f"{first} ({lit(syntax.separator)} ({seq(syntax.call_prefix, markers)} call {suffix}))*"


def answer_grammar(
    rules: OutputRules, syntax: CallSyntax | None, markers: Mapping[str, int]
) -> str | None:
    """The grammar of the whole answer, or None when the answer is free."""
    schema = format_schema(rules)
    forced = rules.calls_forced and syntax is not None
    with_calls = rules.calls_allowed and syntax is not None and (forced or schema is not None)
    if schema is None and not forced:
        return None
    lines: list[str] = []
    choices = []
    if with_calls:
        assert syntax is not None
        lines += _tool_rules(syntax, rules.callable_tools)
        parallel = rules.parallel_tool_calls and syntax.parallel
        lines.append(f"calls: {_block(syntax, markers, parallel, opened=False)}")
        choices.append("calls")
    if schema is not None and not forced:
        lines.append(f"answer: {json_rule(schema)}")
        choices.append("answer")
    head = [f"start: BLANK? ({' | '.join(choices)})", LEADING_BLANK]
    return "\n".join(head + lines)


def call_grammar(rules: OutputRules, syntax: CallSyntax, markers: Mapping[str, int]) -> str:
    """The rest of ONE call block after its opener token (tools on `auto`): the model
    opens each call of a Hermes reply itself, a Mistral block holds all of them."""
    parallel = rules.parallel_tool_calls and syntax.parallel and bool(syntax.block_prefix)
    start = f"start: {_block(syntax, markers, parallel, opened=True)}"
    return "\n".join([start, *_tool_rules(syntax, rules.callable_tools)])


def schema_grammar(schema: Mapping[str, Any]) -> str:
    """One schema alone: how a request's schemas are checked before it starts."""
    return f"start: {json_rule(schema)}"
