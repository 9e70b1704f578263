"""Everything a checkpoint's reasoning, tool-call and JSON-answer support needs, built once
at load: its format, its response templates (compiled), its grammars."""

from __future__ import annotations

from typing import Any

from transformers.utils.chat_parsing.response_templates import (
    ResponseTemplate,
    load_response_template,
)

from tickertape.engine.constraint import Grammars, TokenConstraint, single_token
from tickertape.engine.output_format import OutputFormat, detect
from tickertape.engine.output_parser import ReplyParser
from tickertape.engine.types import OutputRules, new_call_id


class OutputSetup:
    def __init__(self, tokenizer: Any, vocab_size: int, eos: frozenset[int]) -> None:
        template = tokenizer.chat_template
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()), None)
        self.format: OutputFormat = detect(template, getattr(tokenizer, "response_template", None))
        fmt = self.format
        self._with_calls = _compiled(fmt.template)
        self._without_calls = _compiled(fmt.without_calls().template)
        self.grammars = Grammars(tokenizer, vocab_size, fmt, eos)
        self._validate = self.grammars.validator()
        self.kept = _special_markup(tokenizer, fmt)

    def check(self, rules: OutputRules) -> None:
        """Raises InvalidOutputRules (before the turn starts)."""
        self.grammars.check(rules)

    def generation_prefix(self, tail: str) -> str:
        """What the generation prompt wrote after the last assistant header of `tail`."""
        template = self._with_calls
        return template.truncate_past_last_anchor(tail) if template is not None else ""

    def parser(self, rules: OutputRules, prefix: str) -> ReplyParser | None:
        template = self._with_calls if rules.calls_allowed else self._without_calls
        if template is None:
            return None
        return ReplyParser(
            template,
            rules,
            prefix,
            constrained_calls=self.grammars.calls_constrained(rules),
            new_id=new_call_id,
            validate=self._validate,
        )

    def constraint(self, rules: OutputRules, prefix: str) -> TokenConstraint | None:
        think = self.format.think
        thinks = think is not None and (think[0] in prefix or think[1] in prefix)
        return self.grammars.for_reply(rules, self.format.opens_reasoning(prefix), thinks)


def _special_markup(tokenizer: Any, fmt: OutputFormat) -> dict[int, str]:
    """The format's markup that the tokenizer has as special tokens (Mistral's
    `[TOOL_CALLS]`, Llama's `<|python_tag|>`): the detokenizer keeps their text."""
    texts = [*(fmt.think or ())]
    if fmt.calls is not None:
        texts += [fmt.calls.opener or "", "<|python_tag|>"]
    decoder = getattr(tokenizer, "added_tokens_decoder", {})
    kept: dict[int, str] = {}
    for text in filter(None, texts):
        token = single_token(tokenizer, text)
        added = decoder.get(token) if token is not None else None
        if token is not None and added is not None and getattr(added, "special", False):
            kept[token] = text
    return kept


def _compiled(template: dict[str, Any] | None) -> ResponseTemplate | None:
    return load_response_template(template) if template is not None else None
