"""Hypothesis strategies for client frames: arbitrary JSON, near-valid frames, raw text."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

TYPES = ["auth", "chat", "stop", "resume", "ping", "pong", "hello", "error", "Chat", ""]
FIELDS = [
    "type",
    "client_msg_id",
    "content",
    "conversation_id",
    "params",
    "reply_id",
    "last_seq",
    "data",
    "token",
]
PARAM_FIELDS = [
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "on_disconnect",
    "ignore_eos",
    "extra",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=10,
)
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
# Mostly well-formed ids (so the frame gets past them), sometimes not; from_regex is slow.
ids = st.text(ID_ALPHABET, min_size=1, max_size=64) | st.text(max_size=70)
params = st.dictionaries(st.sampled_from(PARAM_FIELDS), json_values, max_size=4) | json_values


@st.composite
def typed_frames(draw: st.DrawFn) -> dict[str, Any]:
    """Objects that look like frames, with each field sometimes right and sometimes not."""
    frame: dict[str, Any] = {"type": draw(st.sampled_from(TYPES) | st.text(max_size=10))}
    for name in draw(st.lists(st.sampled_from(FIELDS[1:]), unique=True, max_size=4)):
        if name in ("client_msg_id", "reply_id", "conversation_id"):
            frame[name] = draw(ids | json_values)
        elif name == "params":
            frame[name] = draw(params)
        elif name == "last_seq":
            frame[name] = draw(st.integers(min_value=-5, max_value=2**60) | json_values)
        else:
            frame[name] = draw(json_values)
    return frame


# Weighted by repetition: chats start (one-token) generations and auth frames end the
# session, so both are rarer than the cheap kinds.
VALID_KINDS = ["ping"] * 6 + ["stop"] * 4 + ["resume"] * 4 + ["chat"] * 2 + ["auth"]
good_ids = st.text(ID_ALPHABET, min_size=1, max_size=64)


@st.composite
def valid_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed frame of each kind, then maybe one field replaced by anything."""
    kind = draw(st.sampled_from(VALID_KINDS))
    frame: dict[str, Any] = {"type": kind}
    if kind == "ping":
        frame["data"] = draw(json_values)
    elif kind == "stop":
        frame["reply_id"] = draw(good_ids)
    elif kind == "resume":
        frame["reply_id"] = draw(good_ids)
        frame["last_seq"] = draw(st.integers(min_value=0, max_value=2**53))
    elif kind == "chat":
        frame["client_msg_id"] = draw(good_ids)
        frame["content"] = draw(st.text(min_size=1, max_size=40))
    else:
        frame["token"] = "tt_" + draw(st.text(ID_ALPHABET, min_size=43, max_size=43))
    if draw(st.booleans()):
        frame[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return frame


def bounded_chat(frame: Any) -> Any:
    """A valid `chat` starts a generation: make any such frame ask for one token."""
    if isinstance(frame, dict) and frame.get("type") == "chat":
        extra = frame.get("params")
        if extra is None or isinstance(extra, dict):
            frame = {**frame, "params": {**(extra or {}), "max_tokens": 1}}
    return frame


def encode(frame: Any) -> str:
    return json.dumps(bounded_chat(frame), ensure_ascii=False)


json_frames = json_values.map(encode)
near_valid_frames = (typed_frames() | valid_frames()).map(encode)
raw_texts = (
    st.text(max_size=200)
    | json_frames.map(lambda s: s[: max(0, len(s) // 2)])  # truncated JSON
    | st.builds(lambda a, b: a + b, json_frames, st.text(max_size=5))  # trailing junk
)
