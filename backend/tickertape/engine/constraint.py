"""Constrained decoding with llguidance: which tokens a reply may take next.

Why llguidance (docs/engine.md, "Tool calls and structured output", has the numbers): it
has no dependencies (a 3 MB wheel; xgrammar needs triton, a 286 MB wheel, and
apache-tvm-ffi), computes a mask in about 10 µs at the demo's vocabulary and at a 49k
one on this CPU, and takes JSON Schema inside a Lark grammar, which is how a call's
envelope and its arguments' schema become one grammar (outlines-core compiles a regex
per schema and has no grammar composition).

`Grammars` is per engine (the checkpoint's token trie, built once at load); a
`TokenConstraint` is per reply and lives on the generation thread: the sampler asks it for
the row's allowed tokens (`fill`), the reply tells it every token it took (`accept`).
Replies without one pay nothing.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from typing import Any

import llguidance
import llguidance.hf
import numpy as np
import torch
from torch import Tensor

from tickertape.engine.output_format import OutputFormat
from tickertape.engine.tool_grammar import (
    answer_grammar,
    call_grammar,
    format_schema,
    schema_grammar,
)
from tickertape.engine.types import InvalidOutputRules, OutputRules, Tool

# JSON characters of a request's schemas (tools together, or a response format).
MAX_SCHEMA_CHARS = 32_768


def single_token(tokenizer: Any, text: str | None) -> int | None:
    """The id of `text` when the tokenizer writes it as exactly one token."""
    if not text:
        return None
    ids = tokenizer.encode(text, add_special_tokens=False)
    return int(ids[0]) if len(ids) == 1 else None


class Grammars:
    """The checkpoint's side of constrained decoding."""

    def __init__(
        self, tokenizer: Any, vocab_size: int, fmt: OutputFormat, eos: frozenset[int]
    ) -> None:
        self.fmt = fmt
        self.vocab_size = vocab_size
        self.words = (vocab_size + 31) // 32
        self._lltok = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self._eos = sorted(eos)
        syntax = fmt.calls
        self.opener_id = single_token(tokenizer, syntax.opener if syntax else None)
        think = fmt.think or (None, None)
        self.think_open = single_token(tokenizer, think[0])
        self.think_close = single_token(tokenizer, think[1])
        # The format's markup that the tokenizer has as added tokens: grammars name them
        # by id (tool_grammar.seq).
        added = tokenizer.get_added_vocab()
        markup = [syntax.call_prefix, syntax.call_suffix, syntax.block_prefix] if syntax else []
        self.markers = {
            text: int(i) for text, i in added.items() if any(text and text in m for m in markup)
        }

    @property
    def can_force_calls(self) -> bool:
        return self.fmt.calls is not None

    @property
    def constrains_auto_calls(self) -> bool:
        """Calls the model opens itself are written under the grammar (one opener token)."""
        return self.fmt.calls is not None and self.opener_id is not None

    def calls_constrained(self, rules: OutputRules) -> bool:
        """Whether a reply's calls are written under a grammar (then they stream)."""
        if not rules.calls_allowed or self.fmt.calls is None:
            return False
        answer = rules.calls_forced or format_schema(rules) is not None
        return answer or self.opener_id is not None

    def check(self, rules: OutputRules) -> None:
        """Refuse what cannot be honoured, naming the field (before the turn starts)."""
        if rules.tool_choice == "function" and not rules.callable_tools:
            raise InvalidOutputRules(f"tool_choice: no tool named {rules.function_name!r}")
        if rules.calls_forced and not self.can_force_calls:
            raise InvalidOutputRules(
                "tool_choice: this model has no tool-call format tickertape knows, so a "
                "call cannot be required; use `auto`"
            )
        # The grammar of all of them is built on the generation thread, in the step that
        # starts the reply: a bound on its size bounds that step's stall for everyone.
        size = sum(len(json.dumps(t.parameters)) for t in rules.tools if t.parameters)
        if size > MAX_SCHEMA_CHARS:
            raise InvalidOutputRules(
                f"tools: the parameter schemas hold {size} characters of JSON; at most "
                f"{MAX_SCHEMA_CHARS}"
            )
        for k, tool in enumerate(rules.tools):
            if tool.parameters is not None:
                self._check_schema(tool.parameters, f"tools[{k}].function.parameters")
        schema = format_schema(rules)
        if schema is not None and len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
            raise InvalidOutputRules(
                f"response_format.json_schema.schema: at most {MAX_SCHEMA_CHARS} characters"
            )
        if schema is not None:
            self._check_schema(schema, "response_format.json_schema.schema")

    def _check_schema(self, schema: Mapping[str, Any], where: str) -> None:
        grammar = llguidance.LLMatcher.grammar_from_lark(schema_grammar(schema))
        failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
        if failed:
            raise InvalidOutputRules(f"{where}: {'; '.join(messages) or 'not a usable schema'}")

    def for_reply(
        self, rules: OutputRules, opens_reasoning: bool, prefix_thinks: bool
    ) -> TokenConstraint | None:
        """The reply's constraint, or None when its tokens are free."""
        answer = answer_grammar(rules, self.fmt.calls, self.markers)
        calls: str | None = None
        if answer is None and rules.calls_allowed and self.constrains_auto_calls:
            assert self.fmt.calls is not None
            calls = call_grammar(rules, self.fmt.calls, self.markers)
        # `none` with tools declared: the model knows them but may not open a call. A
        # request without tools is left alone (its greedy tokens stay generate's).
        refused = bool(rules.tools) and rules.tool_choice == "none"
        ban: tuple[int, ...] = (self.opener_id,) if refused and self.opener_id is not None else ()
        # Thinking off: the template closed an empty think section in the prompt. A model
        # that opens another one anyway (a small one sampled, say) would send reasoning
        # to a client that asked for none; the think opener is banned instead.
        if prefix_thinks and not opens_reasoning and self.think_open is not None:
            ban = (*ban, self.think_open)
        # A reply already steered may not write a think closer into its answer either
        # (a small model kept from its call falls back on one): the answer's text would
        # carry the markup. Inside a think section nothing is banned.
        if ban and self.think_close is not None:
            ban = (*ban, self.think_close)
        if answer is None and calls is None and not ban:
            return None
        return TokenConstraint(
            self,
            answer=answer,
            calls=calls,
            ban=ban,
            parallel=rules.parallel_tool_calls
            and (self.fmt.calls is None or self.fmt.calls.parallel),
            reasoning=opens_reasoning,
            may_think=not prefix_thinks and self.think_open is not None,
        )

    def matcher(self, grammar: str) -> llguidance.LLMatcher:
        matcher = llguidance.LLMatcher(self._lltok, llguidance.LLMatcher.grammar_from_lark(grammar))
        if matcher.is_error():
            raise RuntimeError(f"grammar refused: {matcher.get_error()}")
        return matcher

    def validator(self) -> Callable[[Tool, str], str | None]:
        """Checks unconstrained calls with the same JSON Schema semantics."""

        def validate(tool: Tool, arguments: str) -> str | None:
            schema = {
                **(tool.parameters or {"type": "object"}),
                "x-guidance": {"whitespace_flexible": True},
            }
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema)
            matcher = llguidance.LLMatcher(self._lltok, grammar)
            tokens = self._lltok.tokenize_str(arguments)
            if matcher.try_consume_tokens(tokens) != len(tokens) or not matcher.is_accepting():
                return matcher.get_error() or "does not match the tool's schema"
            return None

        return validate

    def allow_eos(self, row: Tensor) -> None:
        for token in self._eos:
            row[token // 32] |= _bit(token)

    def forbid_eos(self, row: Tensor) -> None:
        for token in self._eos:
            row[token // 32] &= ~_bit(token)


class _State(enum.Enum):
    REASONING = "reasoning"  # inside the model's thinking: free
    START = "start"  # the answer's first token
    FREE = "free"  # free text (tools on auto, nothing opened)
    ACTIVE = "active"  # under a grammar
    DONE = "done"  # the grammar is complete: only end of sequence


class TokenConstraint:
    def __init__(
        self,
        grammars: Grammars,
        *,
        answer: str | None,
        calls: str | None,
        ban: tuple[int, ...],
        parallel: bool,
        reasoning: bool,
        may_think: bool,
    ) -> None:
        self._g = grammars
        self._answer, self._calls, self._ban = answer, calls, ban
        self._parallel = parallel
        self._may_think = may_think
        self._state = _State.REASONING if reasoning else _State.START
        self._matcher: llguidance.LLMatcher | None = None

    @property
    def words(self) -> int:
        """Width of a mask row: 32 tokens per int32 word."""
        return self._g.words

    def fill(self, row: Tensor) -> bool:
        """Write the allowed next tokens into `row` (int32 bit words); False when any
        token may come next (the row is left untouched)."""
        state = self._state
        if state is _State.REASONING:
            if self._answer is None:
                return False
            # The answer's grammar is still to come (a required call, a JSON answer): the
            # reply may not end inside its thinking.
            row.fill_(-1)
            self._g.forbid_eos(row)
            return True
        if state is _State.DONE:
            row.zero_()
            self._g.allow_eos(row)
            return True
        if state is _State.START and self._answer is not None:
            self._matcher = self._matcher or self._g.matcher(self._answer)
            self._fill_from(self._matcher, row)
            if self._may_think and self._g.think_open is not None:
                row[self._g.think_open // 32] |= _bit(self._g.think_open)
            return True
        if state is _State.ACTIVE:
            assert self._matcher is not None
            self._fill_from(self._matcher, row)
            return True
        if self._ban:  # START or FREE: everything but the banned tokens
            row.fill_(-1)
            for token in self._ban:
                row[token // 32] &= ~_bit(token)
            return True
        return False

    def _fill_from(self, matcher: llguidance.LLMatcher, row: Tensor) -> None:
        matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())
        if matcher.is_accepting():
            self._g.allow_eos(row)

    def accept(self, token: int) -> None:
        """The reply took `token` (always one `fill` allowed)."""
        g, state = self._g, self._state
        if state is _State.REASONING:
            if token == g.think_close:
                self._state = _State.START
            return
        if state is _State.DONE:
            return
        if state in (_State.START, _State.FREE):
            if self._may_think and token == g.think_open:
                self._state, self._may_think = _State.REASONING, False
                return
            if self._answer is not None:
                self._state = _State.ACTIVE  # the answer grammar's first token
            elif self._calls is not None and token == g.opener_id:
                self._matcher = g.matcher(self._calls)
                self._state = _State.ACTIVE
                return
            else:
                self._state = _State.FREE
                return
        matcher = self._matcher
        assert matcher is not None
        if not matcher.consume_token(token):
            raise RuntimeError(f"the grammar refused token {token}: {matcher.get_error()}")
        if matcher.is_stopped():
            self._matcher = None
            if self._answer is None and self._parallel:
                self._state = _State.FREE  # another call may follow, or text, or the end
            else:
                self._state = _State.DONE


def _bit(token: int) -> int:
    """Bit `token % 32` of an int32 word (bit 31 is the sign bit)."""
    bit = 1 << (token % 32)
    return bit - (1 << 32) if bit >= 1 << 31 else bit


def apply_masks(logits: Tensor, rows: list[int], words: Tensor) -> None:
    """Disallowed tokens of the constrained `rows` to -inf; `words` [len(rows), W] int32.

    The bits are unpacked by numpy (`unpackbits`, little-endian words: token t is bit
    t % 32 of word t // 32), which is ~0.02 ms for 8 rows of a 49k vocabulary; the same
    unpack with torch shifts took ~13 ms on this CPU."""
    vocab = logits.shape[-1]
    bits = np.unpackbits(words.numpy().view(np.uint8), axis=-1, bitorder="little")
    allowed = torch.from_numpy(bits).view(torch.bool)[:, :vocab].to(logits.device)
    for k, row in enumerate(rows):
        logits[row].masked_fill_(~allowed[k], float("-inf"))
