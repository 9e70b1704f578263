"""JSON views of conversations and messages for the HTTP API and the admin export.

A transcript's `messages` is the active path (root -> active leaf), so a client that knows
nothing of branches sees a plain conversation; `tree` lists every message so that a client
can draw siblings (< 2/3 >) and switch branches.
"""

from __future__ import annotations

from typing import Any

from tickertape.chat.reply_parts import client_calls
from tickertape.store.tree import Tree
from tickertape.store.types import ConversationSummary, MessageRecord, Transcript

FAILED = "the reply failed"


def summary_json(
    s: ConversationSummary, with_user: bool = False, with_leaf: bool = False
) -> dict[str, Any]:
    """A listing item: the contract's fields (the admin's adds `user` and `has_error`;
    the answer to PATCH adds `active_leaf_id`)."""
    out: dict[str, Any] = {
        "id": s.id,
        "title": s.title,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
        "message_count": s.message_count,
    }
    if with_leaf:
        out["active_leaf_id"] = s.active_leaf_id
    if with_user:
        out["user"] = {"id": s.user.id, "name": s.user.name, "role": s.user.role}
        out["has_error"] = s.has_error
    return out


def error_json(m: MessageRecord) -> dict[str, str] | None:
    """Why a failed reply failed: {code, message}; None unless its status is `error`."""
    if m.status != "error":
        return None
    return {"code": m.error_code or "internal", "message": m.error_message or FAILED}


def message_json(m: MessageRecord, tree: Tree[MessageRecord]) -> dict[str, Any]:
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "sibling_ids": tree.sibling_ids(m.id),
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "finish_reason": m.finish_reason,
        "created_at": m.created_at.isoformat(),
        "usage": m.usage,
        "timing": m.timing,
        "seq": m.seq,
        "error": error_json(m),
        "params": m.params if m.role == "assistant" else None,
        # A reply's thinking and its tool calls with their results (null / [] if none).
        "reasoning": m.reasoning,
        "tool_calls": client_calls(m.tool_calls),
    }


def node_json(m: MessageRecord) -> dict[str, Any]:
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role,
        "status": m.status,
        "created_at": m.created_at.isoformat(),
    }


def transcript_json(t: Transcript, admin: bool = False) -> dict[str, Any]:
    """A user's view; the admin's (`admin`) adds the owner and full messages in `tree`."""
    out = summary_json(t.summary, admin)
    del out["message_count"]
    if admin:
        out["has_error"] = _has_error(t)
    tree = Tree(t.messages)
    leaf = tree.active_leaf(t.summary.active_leaf_id)
    out["active_leaf_id"] = leaf
    out["messages"] = [message_json(m, tree) for m in tree.path_to(leaf)]
    out["tree"] = [message_json(m, tree) if admin else node_json(m) for m in t.messages]
    return out


def export_json(t: Transcript) -> dict[str, Any]:
    """One conversation of an export: every message (all branches) in creation order."""
    out = summary_json(t.summary, True)
    out["has_error"] = _has_error(t)
    tree = Tree(t.messages)
    out["active_leaf_id"] = tree.active_leaf(t.summary.active_leaf_id)
    out["messages"] = [message_json(m, tree) for m in t.messages]
    return out


def _has_error(t: Transcript) -> bool:
    return any(m.status == "error" for m in t.messages)
