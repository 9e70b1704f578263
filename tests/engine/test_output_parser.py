"""The output parser over hand-fed streams: every split point (a tag cut across chunks,
a multi-byte character cut across tokens), the three call syntaxes, and the calls that
must never be emitted (cut short, off their schema, not JSON)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.engine import tool_model
from tickertape.engine.call_splitter import Validator
from tickertape.engine.detokenize import Detokenizer
from tickertape.engine.output_format import detect
from tickertape.engine.output_parser import ReplyParser
from tickertape.engine.types import OutputPiece, OutputRules, PieceKind, Tool

CALC = Tool(
    "calculator", None, {"type": "object", "properties": {"expression": {"type": "string"}}}
)
RULES = OutputRules(tools=(CALC,))
HERMES_REPLY = (
    "<think>\nLet me compute 2×3 — ünïcode 🙂.\n\n</think>\n\nSure, one moment.\n"
    '<tool_call>\n{"name": "calculator", "arguments": {"expression": "2*3 🙂"}}\n</tool_call>'
)
WANT = ("Let me compute 2×3 — ünïcode 🙂.", "Sure, one moment.", '{"expression": "2*3 🙂"}')


def accept_all(tool: Tool, arguments: str) -> str | None:
    return None


def parser(
    template_text: str,
    rules: OutputRules = RULES,
    prefix: str = "",
    constrained: bool = True,
    validate: Validator = accept_all,
) -> ReplyParser:
    fmt = detect(template_text)
    template = fmt.template if rules.calls_allowed else fmt.without_calls().template
    ids = itertools.count()
    return ReplyParser(
        template,
        rules,
        prefix,
        constrained_calls=constrained,
        new_id=lambda: f"call_{next(ids)}",
        validate=validate,
    )


def run(p: ReplyParser, chunks: list[str]) -> list[OutputPiece]:
    out: list[OutputPiece] = []
    for chunk in chunks:
        out += p.feed(chunk)
    return out + p.finish()


def joined(pieces: list[OutputPiece]) -> tuple[str, str, str]:
    def of(kind: PieceKind) -> str:
        return "".join(p.text for p in pieces if p.kind is kind)

    return of(PieceKind.REASONING), of(PieceKind.TEXT), of(PieceKind.TOOL_CALL)


def test_every_two_split_points_give_the_same_pieces() -> None:
    text = HERMES_REPLY
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            p = parser("<tool_call> <think>")
            assert joined(run(p, [text[:i], text[i:j], text[j:]])) == WANT, (i, j)
            assert p.problem is None
            assert [(c.name, c.arguments) for c in p.calls] == [("calculator", WANT[2])]


def test_the_pieces_of_real_tokens_through_the_detokenizer() -> None:
    """Token by token as the engine does it: multi-byte characters (`×`, `🙂`) span
    several byte-level tokens and come out whole; the markup tokens are single ids."""
    tok = tool_model.tokenizer()
    ids = tok.encode(HERMES_REPLY, add_special_tokens=False)
    assert tok.convert_tokens_to_ids("<tool_call>") in ids
    detok = Detokenizer(tok.backend_tokenizer)
    p = parser(tok.chat_template)
    pieces: list[OutputPiece] = []
    for token in ids:
        text = detok.push(token)
        assert "\ufffd" not in text
        pieces += p.feed(text)
    pieces += p.feed(detok.finish()) + p.finish()
    assert joined(pieces) == WANT
    starts = [x for x in pieces if x.name is not None]
    assert [(x.index, x.name, x.call_id) for x in starts] == [(0, "calculator", "call_0")]
    assert all(x.text for x in pieces if x.name is None), "no empty piece but a call's start"


def test_a_prompt_that_opens_the_thinking_starts_in_it() -> None:
    p = parser("<think> <tool_call>", prefix="<|im_start|>assistant\n<think>\n")
    assert joined(run(p, ["Hmm, 2", " and 2.\n</think>\n\n4"])) == ("Hmm, 2 and 2.", "4", "")
    closed = parser("<think>", prefix="<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert joined(run(closed, ["\n", "4"])) == ("", "4", "")


def test_with_calls_off_the_markup_is_answer_text() -> None:
    p = parser("<tool_call>", rules=OutputRules(tools=(CALC,), tool_choice="none"))
    text = '<tool_call>\n{"name": "calculator"}\n</tool_call>'
    assert joined(run(p, [text])) == ("", text, "")


@pytest.mark.parametrize(
    ("template", "text", "calls"),
    [
        (
            "[TOOL_CALLS]",
            '[TOOL_CALLS][{"name": "calculator", "arguments": {"expression": "1"}}, '
            '{"name": "calculator", "arguments": {"expression": "2"}}]',
            ['{"expression": "1"}', '{"expression": "2"}'],
        ),
        (
            "<|python_tag|>",
            '{"name": "calculator", "parameters": {"expression": "1"}}; '
            '{"name": "calculator", "parameters": {"expression": "[2]"}}',
            ['{"expression": "1"}', '{"expression": "[2]"}'],
        ),
    ],
    ids=["mistral", "llama3_json"],
)
def test_the_other_syntaxes(template: str, text: str, calls: list[str]) -> None:
    for cut in range(len(text) + 1):
        p = parser(template)
        pieces = run(p, [text[:cut], text[cut:]])
        assert p.problem is None, (cut, p.problem)
        assert [c.arguments for c in p.calls] == calls
        assert [x.index for x in pieces if x.name] == list(range(len(calls)))
        assert joined(pieces)[:2] == ("", "")


def test_a_llama3_answer_that_is_not_a_call_stays_text() -> None:
    p = parser("<|python_tag|>")
    assert joined(run(p, ["The answer is {1}."])) == ("", "The answer is {1}.", "")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('<tool_call>\n{"name": "calculator", "arguments": {"expr', "tool_call_incomplete"),
        ("<tool_call>\n", "tool_call_incomplete"),
        ('<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>', "invalid_tool_call"),
        (
            '<tool_call>\n{"name": "calculator", "arguments": [1]}\n</tool_call>',
            "invalid_tool_call",
        ),
        ("<tool_call>\nnot json\n</tool_call>", "invalid_tool_call"),
        ('<tool_call>\n{"arguments": {}}\n</tool_call>', "invalid_tool_call"),
    ],
)
def test_calls_that_are_never_emitted_whole(text: str, code: str) -> None:
    p = parser("<tool_call>", constrained=False)
    pieces = run(p, [text])
    assert p.problem is not None
    assert p.problem.code == code
    assert not [x for x in pieces if x.kind is PieceKind.TOOL_CALL], "unconstrained: held"


def test_unconstrained_calls_are_validated_then_emitted_whole() -> None:
    def only_digits(tool: Tool, arguments: str) -> str | None:
        value: Any = json.loads(arguments)
        return None if value["expression"].isdigit() else "expression: digits only"

    good = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "12"}}\n</tool_call>'
    p = parser("<tool_call>", constrained=False, validate=only_digits)
    pieces = [x for x in run(p, list(good)) if x.kind is PieceKind.TOOL_CALL]
    assert [(x.name, x.text) for x in pieces] == [("calculator", '{"expression": "12"}')]
    bad = parser("<tool_call>", constrained=False, validate=only_digits)
    run(bad, [good.replace("12", "1+2")])
    assert bad.problem is not None
    assert bad.problem.code == "invalid_tool_call"
    assert "digits only" in bad.problem.message
