"""A reply's frames of every kind: how they seal, what the store keeps of them, the
messages a stored reply becomes in a later prompt, and the Responses rendering's seq."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tickertape.chat.reply_log import (
    AWAITING_TOOLS,
    OTHER_PART,
    REASONING,
    TOOL_CALL,
    TOOL_RESULT,
    CallRef,
    PendingCall,
    ReplyLog,
)
from tickertape.chat.reply_parts import (
    PartsFold,
    as_messages,
    awaits_tools,
    client_calls,
    parts_of,
)
from tickertape.store.types import MessageRecord
from tickertape.transport.responses_book import stored_log


def a_reply_with_a_round_trip() -> ReplyLog:
    log = ReplyLog("r1", "u1", "c1")
    log.append("Let me ", REASONING)
    log.append("check.", REASONING)
    log.append("Checking.")
    log.append("", TOOL_CALL, CallRef(0, "call_a", "lookup"))
    log.append('{"x": ', TOOL_CALL, CallRef(0, "call_a"))
    log.append("1}", TOOL_CALL, CallRef(0, "call_a"))
    log.append_sealed(AWAITING_TOOLS, calls=(PendingCall(0, "call_a", "lookup", '{"x": 1}'),))
    log.append_sealed(TOOL_RESULT, "42", CallRef(0, "call_a"))
    log.append(" It is 42.")
    return log


def test_frames_never_mix_kinds_or_calls() -> None:
    log = a_reply_with_a_round_trip()
    log.seal()
    kinds = [(f.kind, f.text) for f in log.frames]
    assert kinds == [
        (REASONING, "Let me check."),
        ("text", "Checking."),
        (TOOL_CALL, '{"x": 1}'),
        (AWAITING_TOOLS, ""),
        (TOOL_RESULT, "42"),
        ("text", " It is 42."),
    ]
    assert log.frames[2].call == CallRef(0, "call_a", "lookup")  # the name: first frame
    assert log.text_through(6) == "Checking. It is 42."
    # What the store keeps: text offsets, and the other kinds described (stored_frames.py).
    assert log.frame_ends(6) == [
        [REASONING, 13],
        9,
        [TOOL_CALL, 0, "call_a", "lookup", '{"x": 1}'],
        9,
        9,
        19,
    ]


def test_what_the_store_keeps_and_the_prompt_it_makes() -> None:
    log = a_reply_with_a_round_trip()
    seq = log.seal()
    parts = parts_of(log.frames_through(seq), last_round_complete=False)
    assert (parts.text, parts.reasoning) == ("Checking. It is 42.", "Let me check.")
    assert parts.tool_calls == [
        {
            "index": 0,
            "id": "call_a",
            "name": "lookup",
            "arguments": '{"x": 1}',
            "result": "42",
            "round": 0,
            "content_end": 9,
            "reasoning_end": 13,
        }
    ]
    assert client_calls(parts.tool_calls)[0]["call_id"] == "call_a"
    messages = as_messages(parts.text, parts.reasoning, parts.tool_calls)
    assert [(m.role, m.content, m.reasoning) for m in messages] == [
        ("assistant", "Checking.", "Let me check."),
        ("tool", "42", None),
        ("assistant", " It is 42.", None),
    ]
    assert messages[0].tool_calls[0].arguments == '{"x": 1}'
    assert messages[1].tool_call_id == "call_a"


def test_a_call_being_written_is_not_kept_until_it_is_complete() -> None:
    log = ReplyLog("r1", "u1", "c1")
    log.append("", TOOL_CALL, CallRef(0, "call_a", "lookup"))
    log.append('{"x"', TOOL_CALL, CallRef(0, "call_a"))
    seq = log.seal()
    assert parts_of(log.frames_through(seq), last_round_complete=False).tool_calls == []
    assert not awaits_tools(log.frames)
    log.append_sealed(AWAITING_TOOLS)
    assert awaits_tools(log.frames)
    log.append_sealed(TOOL_RESULT, "r", CallRef(0, "call_a"))
    assert awaits_tools(log.frames)  # results in, no generation yet
    log.append("Done")
    log.seal()
    assert not awaits_tools(log.frames)


def test_a_stored_reply_keeps_its_frames_for_responses() -> None:
    """Text, reasoning and call frames come back as they streamed; a tool result and the
    wait keep their seq (the Responses rendering shows nothing of them)."""
    log = a_reply_with_a_round_trip()
    seq = log.seal()
    parts = parts_of(log.frames_through(seq), last_round_complete=False)
    record = MessageRecord(
        id="r1",
        conversation_id="c1",
        role="assistant",
        content=log.text_through(seq),
        status="complete",
        finish_reason="stop",
        seq=seq,
        created_at=datetime.now(UTC),
        usage=None,
        timing=None,
        user_id="u1",
        frame_ends=log.frame_ends(seq),
        reasoning=parts.reasoning,
    )
    rebuilt = stored_log(record)
    assert rebuilt.sealed_seq == seq
    kept = {REASONING, "text", TOOL_CALL}
    assert [f for f in rebuilt.frames if f.kind in kept] == [
        f for f in log.frames if f.kind in kept
    ]
    assert [f.kind for f in rebuilt.frames if f.kind not in kept] == [OTHER_PART, OTHER_PART]
    # Boundaries that do not fit the columns (a reasoning column lost): all the text in
    # one frame, as for rows stored before boundaries were kept.
    lost = stored_log(replace(record, reasoning=None))
    assert [(f.kind, f.text) for f in lost.frames] == [("text", "Checking. It is 42.")]


def test_a_fold_checkpointed_along_the_way_equals_the_parts_of_every_prefix() -> None:
    """A streaming reply's checkpoints fold in only new frames; at every point, and
    whichever frames a checkpoint took at once, the parts equal a fresh walk over all."""
    log = a_reply_with_a_round_trip()
    log.append("", TOOL_CALL, CallRef(1, "call_b", "lookup"))
    log.append('{"x": 2}', TOOL_CALL, CallRef(1, "call_b"))
    log.seal()
    frames = log.frames
    for step in (1, 2, 3):
        fold = PartsFold()
        for seq in range(step, len(frames) + step, step):
            for frame in frames[fold.seq : seq]:
                fold.add(frame)
            for complete in (False, True):
                assert fold.parts(complete) == parts_of(frames[:seq], complete), (step, seq)
    first = fold.parts(True).tool_calls[0]
    first["result"] = "changed"  # a copy: what was handed to the store never changes
    assert fold.parts(True).tool_calls[0]["result"] == "42"
