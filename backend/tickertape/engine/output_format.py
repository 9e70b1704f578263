"""How a checkpoint writes reasoning and tool calls, read from its tokenizer (no torch).

Two things follow from a checkpoint's format:

- the **regions** of a reply (reasoning, answer, tool calls): a response template in the
  form transformers' `ResponseParser` takes (`tokenizer.response_template`, transformers
  5's response-parsing support). A checkpoint that ships one is parsed with it (when its
  tool-call region holds JSON); otherwise the format is recognised from the chat template
  and one of the presets below is used;
- the **call syntax**, which the constrained decoder writes (engine/tool_grammar.py) and
  the call splitter reads (engine/call_splitter.py):

| syntax | recognised by (chat template) | one call | between calls | opened by |
| --- | --- | --- | --- | --- |
| `hermes` (Qwen 2.5/3, Hermes, SmolLM3, the demo) | `<tool_call>` | `<tool_call>\\n{"name": N, "arguments": A}\\n</tool_call>` | `\\n` | `<tool_call>` |
| `mistral` | `[TOOL_CALLS]` | `{"name": N, "arguments": A}` in `[TOOL_CALLS][...]` | `, ` | `[TOOL_CALLS]` |
| `llama3_json` (Llama 3.1-3.3) | `<|python_tag|>` or "Given the following functions" | `{"name": N, "parameters": A}` as the whole answer | `; ` | (the answer's first `{`) |

Reasoning is a `<think>...</think>` section (Qwen 3, DeepSeek-R1 distills, SmolLM3, the
demo) or `[THINK]...[/THINK]` (Magistral), recognised from the chat template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

REASONING_FIELDS = frozenset({"reasoning_content", "reasoning", "thinking"})
TOOL_FIELD = "tool_calls"
CONTENT_FIELD = "content"

THINK_TAGS = ("<think>", "</think>")
BRACKET_THINK_TAGS = ("[THINK]", "[/THINK]")

# The assistant header of the common template families: where the generation prompt's
# own text (an opened `<think>`, say) starts.
_ANCHORS = (
    "<|im_start|>assistant\n",
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "[/INST]",
    "<|assistant|>\n",
    "<|assistant|>",
    "<｜Assistant｜>",
)


@dataclass(frozen=True, slots=True)
class CallSyntax:
    name: str  # hermes, mistral, llama3_json
    opener: str | None  # text that opens a tool-call region; None: the answer's start
    call_prefix: str  # one call's text before `{"name": ...`
    call_suffix: str  # one call's text after the closing `}`
    separator: str  # between two calls
    block_prefix: str  # before the first call (after the opener)
    block_suffix: str  # after the last call
    arguments_key: str  # "arguments" or "parameters"
    # Several calls in one answer. Llama 3's templates raise on an assistant message with
    # more than one call, so a second call would break the reply's next round.
    parallel: bool = True


HERMES = CallSyntax(
    name="hermes",
    opener="<tool_call>",
    call_prefix="<tool_call>\n",
    call_suffix="\n</tool_call>",
    separator="\n",
    block_prefix="",
    block_suffix="",
    arguments_key="arguments",
)
MISTRAL = CallSyntax(
    name="mistral",
    opener="[TOOL_CALLS]",
    call_prefix="",
    call_suffix="",
    separator=", ",
    block_prefix="[TOOL_CALLS][",
    block_suffix="]",
    arguments_key="arguments",
)
LLAMA3_JSON = CallSyntax(
    name="llama3_json",
    opener=None,
    call_prefix="",
    call_suffix="",
    separator="; ",
    block_prefix="",
    block_suffix="",
    arguments_key="parameters",
    parallel=False,
)
SYNTAXES = {s.name: s for s in (HERMES, MISTRAL, LLAMA3_JSON)}


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """A checkpoint's reasoning tags and tool-call syntax, and its response template."""

    think: tuple[str, str] | None
    calls: CallSyntax | None
    # transformers' response_template for ResponseParser; None: the whole reply is answer.
    template: dict[str, Any] | None
    source: str  # "checkpoint" (its own response_template), "preset" or "none"

    def without_calls(self) -> OutputFormat:
        """The same format with tool-call regions read as plain answer text."""
        if self.template is None or TOOL_FIELD not in self.template["fields"]:
            return self
        fields = {k: v for k, v in self.template["fields"].items() if k != TOOL_FIELD}
        return replace(self, template={**self.template, "fields": fields} if fields else None)

    def opens_reasoning(self, generation_prefix: str) -> bool:
        """Whether the prompt leaves the model inside a reasoning section."""
        if self.think is None:
            return False
        opened = generation_prefix.rfind(self.think[0])
        return opened >= 0 and generation_prefix.rfind(self.think[1]) < opened


NO_FORMAT = OutputFormat(think=None, calls=None, template=None, source="none")


def detect(chat_template: str | None, own: Any = None) -> OutputFormat:
    """The format of a checkpoint from its chat template (what it renders is what the
    model was trained to write) and its own `response_template`, if it has one."""
    template = chat_template or ""
    think: tuple[str, str] | None = None
    for tags in (THINK_TAGS, BRACKET_THINK_TAGS):
        if tags[0] in template:
            think = tags
            break
    calls: CallSyntax | None = None
    if "<tool_call>" in template:
        calls = HERMES
    elif "[TOOL_CALLS]" in template:
        calls = MISTRAL
    elif "<|python_tag|>" in template or "Given the following functions" in template:
        calls = LLAMA3_JSON
    if isinstance(own, dict) and _usable(own):
        return OutputFormat(think=think, calls=calls, template=_own(own), source="checkpoint")
    preset = preset_template(think, calls)
    return OutputFormat(think, calls, preset, "preset" if preset is not None else "none")


def preset_template(
    think: tuple[str, str] | None, calls: CallSyntax | None
) -> dict[str, Any] | None:
    """A response template for ResponseParser; every region's content is kept as text
    (the call splitter reads tool calls itself, as they stream)."""
    fields: dict[str, Any] = {}
    if think is not None:
        fields["reasoning_content"] = {"open": think[0], "close": think[1], "content": "text"}
    if calls is HERMES:
        # \s* swallows the newline between an answer (or a previous call) and the call.
        fields[TOOL_FIELD] = {
            "open_pattern": r"\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "text",
        }
    elif calls is MISTRAL:
        fields[TOOL_FIELD] = {"open_pattern": r"\s*\[TOOL_CALLS\]", "content": "text"}
    elif calls is LLAMA3_JSON:
        # A Llama 3 call is the whole answer: a JSON object from its first character on
        # (after `<|python_tag|>` when the model writes it as text).
        fields[TOOL_FIELD] = {
            "open_pattern": r"\A\s*(?:<\|python_tag\|>)?(?=\{)",
            "content": "text",
        }
    if not fields:
        return None
    fields[CONTENT_FIELD] = {"content": "text"}
    return {
        "defaults": {"role": "assistant"},
        "start_anchor_pattern": "|".join(re.escape(a) for a in _ANCHORS),
        "fields": fields,
    }


def _usable(own: dict[str, Any]) -> bool:
    """A checkpoint's template is used when its tool calls (if any) are JSON: the call
    splitter streams those; other call markups (XML, Python calls) fall back to presets."""
    fields = own.get("fields")
    if not isinstance(fields, dict):
        return False
    tool = fields.get(TOOL_FIELD)
    return tool is None or (
        isinstance(tool, dict) and tool.get("content", "text") in ("json", "text")
    )


def _own(own: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's template with its tool region read as text (we parse it)."""
    fields = dict(own["fields"])
    tool = fields.get(TOOL_FIELD)
    if isinstance(tool, dict):
        fields[TOOL_FIELD] = {
            k: v
            for k, v in tool.items()
            if k not in ("content", "content_args", "transform", "transform_each")
        } | {"content": "text"}
    return {**own, "fields": fields}
