"""Held-out evaluation of the demo model with plain transformers:
`python -m tickertape.engine.demo.evaluate [--model DIR] [--baseline OLD_DIR] [--json OUT]`.

A fixed set of questions (`CASES`), written by hand: arithmetic, weather and unit
conversions (with the three tools declared, with a subset, and with none), everyday
questions and off-topic ones, with thinking off and on. The corpus has few cities and
everyday questions, so most of those occur verbatim in it too (docs/demo_model.md counts
them); most arithmetic and conversion questions do not (other numbers, and a few phrasings
the corpus never uses).
Each is generated greedily through the chat template (`tools=`, `enable_thinking=`). When
the model calls tools, the calls are checked (a declared tool, valid JSON, arguments that
match the schema, the right values), run with `tools.run_tool`, and the conversation goes on
with the `tool` messages so the model's answer can be checked for the result. Everyday
questions are also asked of `--baseline` (the previous checkpoint), with the same checks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tickertape.engine.demo import DEMO_MODEL_DIR, tools
from tickertape.engine.demo.corpus import vocabulary, words_of
from tickertape.engine.demo.eval_cases import CASES, DECLINE_WORDS, WELCOME, Case

CALL_RE = re.compile(r"<tool_call>\n(.*?)\n</tool_call>", re.DOTALL)


@dataclass
class Outcome:
    case: Case
    first: str  # the first reply (raw text, markup included, <|im_end|> removed)
    ended: bool  # the first reply ended with <|im_end|>
    final: str = ""  # the answer after the tool results (when tools were called)
    final_ended: bool = True
    checks: dict[str, bool] = field(default_factory=dict)


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) < 1e-9


def _args_match(name: str, got: dict[str, Any], want: dict[str, Any]) -> bool:
    if name == "calculator":
        try:
            return _same_number(
                tools.calculate(got["expression"]), tools.calculate(want["expression"])
            )
        except tools.ToolError:
            return bool(got["expression"].replace(" ", "") == want["expression"].replace(" ", ""))
    if name == "get_weather":
        return str(got["city"]).casefold() == str(want["city"]).casefold()
    return (
        _same_number(got["value"], want["value"])
        and got["from"] == want["from"]
        and got["to"] == want["to"]
    )


def _expected_in_answer(name: str, result: str) -> list[str]:
    """Strings a good answer contains: the result's values, written as the tool wrote them."""
    payload = json.loads(result)
    if "error" in payload:
        return []
    if name == "get_weather":
        return [str(payload["temperature_c"]), payload["condition"]]
    return [json.dumps(payload["result"])]


class Runner:
    def __init__(self, model_dir: Path, max_new_tokens: int) -> None:
        self.tok: Any = AutoTokenizer.from_pretrained(model_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
        model.eval()
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.eos = self.tok.convert_tokens_to_ids("<|im_end|>")

    def generate(
        self, messages: list[dict[str, Any]], declared: tuple[str, ...], thinking: bool
    ) -> tuple[str, bool]:
        kwargs: dict[str, Any] = {"enable_thinking": thinking}
        if declared:
            kwargs["tools"] = [tools.TOOLS_BY_NAME[n] for n in declared]
        ids = self.tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True, **kwargs
        )["input_ids"]
        with torch.no_grad():
            out = self.model.generate(ids, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[0, ids.shape[1] :].tolist()
        ended = bool(new) and new[-1] == self.eos
        # skip_special_tokens=True, as the engine decodes: the markup comes through as text.
        return self.tok.decode(new, skip_special_tokens=True), ended


def split_reply(text: str, thinking: bool) -> tuple[str | None, str, list[str]]:
    """(reasoning or None, content before any call, raw JSON bodies of the tool calls)."""
    reasoning = None
    rest = text
    if thinking and rest.startswith("<think>\n") and "\n</think>\n\n" in rest:
        reasoning, rest = rest[len("<think>\n") :].split("\n</think>\n\n", 1)
    bodies = CALL_RE.findall(rest)
    content = rest.split("<tool_call>", 1)[0].strip("\n")
    return reasoning, content, bodies


def evaluate_case(runner: Runner, case: Case, known: set[str]) -> Outcome:
    messages: list[dict[str, Any]] = [{"role": "user", "content": case.prompt}]
    first, ended = runner.generate(messages, case.declared, case.thinking)
    outcome = Outcome(case, first, ended)
    c = outcome.checks
    reasoning, content, bodies = split_reply(first, case.thinking)
    if case.thinking:
        c["thinks_first"] = reasoning is not None and bool(reasoning.strip())
    c["ends_with_eos"] = ended
    if not case.expects_call:
        c["no_tool_call"] = "<tool_call>" not in first and "</tool_call>" not in first
        words = words_of(content)
        c["english"] = len(words) >= 3 and sum(w in known for w in words) / len(words) >= 0.8
        low = content.lower()
        if case.kind == "everyday" and case.keywords:
            c["on_topic"] = any(k in low for k in case.keywords)
        if case.kind == "offtopic":
            c["declines"] = any(k in low for k in DECLINE_WORDS)
        return outcome
    # A tool call is expected.
    calls: list[dict[str, Any]] = []
    valid_json = True
    for body in bodies:
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            valid_json = False
            continue
        if not isinstance(parsed, dict) or set(parsed) != {"name", "arguments"}:
            valid_json = False
            continue
        calls.append(parsed)
    c["called"] = bool(bodies)
    c["valid_json"] = bool(bodies) and valid_json
    c["schema_valid"] = c["valid_json"] and all(
        c_["name"] in case.declared and not tools.schema_errors(c_["name"], c_["arguments"])
        for c_ in calls
    )
    want = list(case.calls)
    c["right_tool"] = c["valid_json"] and [x["name"] for x in calls] == [n for n, _ in want]
    c["right_arguments"] = (
        c["right_tool"]
        and c["schema_valid"]
        and all(_args_match(n, x["arguments"], a) for x, (n, a) in zip(calls, want, strict=True))
    )
    if not (c["schema_valid"] and calls):
        return outcome
    # Run the tools and let the model answer with the results.
    tool_calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": x["name"], "arguments": json.dumps(x["arguments"])},
        }
        for i, x in enumerate(calls)
    ]
    step: dict[str, Any] = {
        "role": "assistant",
        "content": content or None,
        "tool_calls": tool_calls,
    }
    if reasoning:
        step["reasoning_content"] = reasoning
    messages.append(step)
    results = [tools.run_tool(x["name"], x["arguments"]) for x in calls]
    for call, result in zip(tool_calls, results, strict=True):
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    final, final_ended = runner.generate(messages, case.declared, case.thinking)
    outcome.final, outcome.final_ended = final, final_ended
    f_reasoning, f_content, f_bodies = split_reply(final, case.thinking)
    if case.thinking:
        c["thinks_before_answer"] = f_reasoning is not None and bool(f_reasoning.strip())
    c["answer_ends_with_eos"] = final_ended
    c["answer_without_call"] = not f_bodies and "<tool_call>" not in final
    expected = [
        s for x, r in zip(calls, results, strict=True) for s in _expected_in_answer(x["name"], r)
    ]
    if expected:
        c["uses_result"] = all(s in f_content for s in expected)
    else:  # the tool returned an error: the answer must not make a value up
        c["uses_result"] = not re.search(r"\d+ ?°C", f_content) and bool(f_content.strip())
    return outcome


def everyday_score(outcome: Outcome) -> bool:
    c = outcome.checks
    keys = ("ends_with_eos", "no_tool_call", "english", "on_topic", "declines", "thinks_first")
    return all(c[k] for k in keys if k in c)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    def rate(items: list[Outcome], key: str) -> str:
        have = [o for o in items if key in o.checks]
        return f"{sum(o.checks[key] for o in have)}/{len(have)}" if have else "-"

    calls = [o for o in outcomes if o.case.expects_call]
    plain = [o for o in outcomes if not o.case.expects_call]
    summary: dict[str, Any] = {"cases": len(outcomes)}
    for kind in ("arithmetic", "weather", "convert"):
        group = [o for o in calls if o.case.kind == kind]
        summary[kind] = {
            k: rate(group, k)
            for k in (
                "called",
                "valid_json",
                "schema_valid",
                "right_tool",
                "right_arguments",
                "uses_result",
            )
        }
    summary["tool_calls_all"] = {
        k: rate(calls, k)
        for k in (
            "called",
            "valid_json",
            "schema_valid",
            "right_tool",
            "right_arguments",
            "uses_result",
            "answer_ends_with_eos",
            "answer_without_call",
        )
    }
    summary["no_call_expected"] = {
        k: rate(plain, k)
        for k in ("no_tool_call", "ends_with_eos", "english", "on_topic", "declines")
    }
    thinking = [o for o in outcomes if o.case.thinking]
    summary["thinking"] = {k: rate(thinking, k) for k in ("thinks_first", "thinks_before_answer")}
    return summary


def run(model_dir: Path, cases: tuple[Case, ...], max_new_tokens: int) -> list[Outcome]:
    runner = Runner(model_dir, max_new_tokens)
    known = vocabulary()
    return [evaluate_case(runner, case, known) for case in cases]


def baseline_everyday(model_dir: Path, cases: list[Case], max_new_tokens: int) -> list[Outcome]:
    """The previous checkpoint on the everyday questions (it knows no tools and no thinking)."""
    tok: Any = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    known = vocabulary()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    outcomes = []
    for case in cases:
        ids = tok.apply_chat_template(
            [{"role": "user", "content": case.prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[0, ids.shape[1] :].tolist()
        text = tok.decode(new, skip_special_tokens=True)
        outcome = Outcome(case, text, bool(new) and new[-1] == eos)
        words = words_of(text)
        low = text.lower()
        outcome.checks = {
            "ends_with_eos": outcome.ended,
            "no_tool_call": True,
            "english": len(words) >= 3 and sum(w in known for w in words) / len(words) >= 0.8,
        }
        if case.kind == "everyday" and case.keywords:
            outcome.checks["on_topic"] = any(k in low for k in case.keywords)
        if case.kind == "offtopic":
            outcome.checks["declines"] = any(k in low for k in DECLINE_WORDS)
        outcomes.append(outcome)
    return outcomes


def welcome_check(model_dir: Path, seeds: int, max_new_tokens: int) -> dict[str, Any]:
    """The welcome prompts, sampled with the checkpoint's defaults: how many read right."""
    tok: Any = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    known = vocabulary()
    right, wrong = 0, []
    for prompt, keys in WELCOME:
        ids = tok.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )["input_ids"]
        for seed in range(seeds):
            torch.manual_seed(seed)
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=max_new_tokens)  # generation_config
            new = out[0, ids.shape[1] :].tolist()
            text = tok.decode(new, skip_special_tokens=True)
            words = words_of(text)
            ok = (
                bool(new)
                and new[-1] == eos
                and any(k in text.lower() for k in keys)
                and "<" not in text.replace("<|", "")
                and len(words) >= 3
                and sum(w in known for w in words) / len(words) >= 0.8
            )
            right += ok
            if not ok:
                wrong.append({"prompt": prompt, "seed": seed, "reply": text})
    return {"right": f"{right}/{len(WELCOME) * seeds}", "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--model", default=str(DEMO_MODEL_DIR))
    p.add_argument(
        "--baseline", default=None, help="a previous checkpoint for the everyday questions"
    )
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write every reply and check here")
    p.add_argument("--verbose", action="store_true", help="print every reply")
    p.add_argument("--welcome-seeds", type=int, default=8, help="samples per welcome prompt")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    outcomes = run(Path(args.model), CASES, args.max_new_tokens)
    report: dict[str, Any] = {"model": summarize(outcomes)}
    # Old against new: the everyday and off-topic questions the old model was trained for.
    everyday = [
        o
        for o in outcomes
        if not o.case.declared and not o.case.thinking and o.case.kind in ("everyday", "offtopic")
    ]
    report["everyday_no_tools"] = f"{sum(everyday_score(o) for o in everyday)}/{len(everyday)}"
    if args.baseline:
        base = baseline_everyday(
            Path(args.baseline), [o.case for o in everyday], args.max_new_tokens
        )
        report["baseline_everyday_no_tools"] = f"{sum(everyday_score(o) for o in base)}/{len(base)}"
        report["baseline_vs_new"] = [
            {"prompt": o.case.prompt, "baseline": b.first, "new": split_reply(o.first, False)[1]}
            for o, b in zip(everyday, base, strict=True)
        ]
    failures = [
        {
            "prompt": o.case.prompt,
            "declared": o.case.declared,
            "thinking": o.case.thinking,
            "first": o.first,
            "final": o.final,
            "failed": [k for k, v in o.checks.items() if not v],
        }
        for o in outcomes
        if not all(o.checks.values())
    ]
    report["failures"] = failures
    report["welcome_sampled"] = welcome_check(
        Path(args.model), args.welcome_seeds, args.max_new_tokens
    )
    if args.baseline:
        base_welcome = welcome_check(Path(args.baseline), args.welcome_seeds, args.max_new_tokens)
        report["baseline_welcome_sampled"] = base_welcome
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.verbose:
        for o in outcomes:
            print(f"### {o.case.prompt} tools={list(o.case.declared)} thinking={o.case.thinking}")
            print(o.first + ("" if o.ended else " [no eos]"))
            if o.final:
                print("  -> " + o.final.replace("\n", "\n     "))
    print(json.dumps({k: v for k, v in report.items() if k not in ("baseline_vs_new",)}, indent=1))
    if args.json:
        full = {
            **report,
            "outcomes": [
                {"case": asdict(o.case), "first": o.first, "final": o.final, "checks": o.checks}
                for o in outcomes
            ],
        }
        Path(args.json).write_text(json.dumps(full, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
