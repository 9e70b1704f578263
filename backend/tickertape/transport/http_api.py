"""HTTP routes of the contract: a user's conversations, and the admin's view of all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from tickertape.auth.schemas import error_responses
from tickertape.store.errors import BadRequest
from tickertape.store.types import ConversationSummary, MessageRecord, NotFound, Page, Transcript
from tickertape.transport.deps import AdminDep, ChatServiceDep, StoreDep, UserDep
from tickertape.transport.strict_json import StrictJsonRoute

# Every route can answer these (validation is 400, not FastAPI's 422; see http_errors.py).
router = APIRouter(
    prefix="/api", responses=error_responses(400, 401, 403, 404), route_class=StrictJsonRoute
)

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]


class TitleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)


def summary_json(s: ConversationSummary, with_user: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "title": s.title,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
        "message_count": s.message_count,
    }
    if with_user:
        out["user"] = {"id": s.user.id, "name": s.user.name, "role": s.user.role}
    return out


def message_json(m: MessageRecord) -> dict[str, Any]:
    return {
        "id": m.id,
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "finish_reason": m.finish_reason,
        "created_at": m.created_at.isoformat(),
        "usage": m.usage,
        "timing": m.timing,
        "seq": m.seq,
    }


def transcript_json(t: Transcript, with_user: bool = False) -> dict[str, Any]:
    out = summary_json(t.summary, with_user)
    del out["message_count"]
    out["messages"] = [message_json(m) for m in t.messages]
    return out


async def _page(listing: Awaitable[Page]) -> Page:
    """An undecodable cursor is the client's mistake: 400, not a 500."""
    try:
        return await listing
    except BadRequest as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def _not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="conversation not found")


@router.get("/conversations")
async def list_conversations(
    user: UserDep, store: StoreDep, limit: Limit = 20, cursor: Cursor = None
) -> dict[str, Any]:
    page = await _page(store.list_conversations(user.id, limit, cursor))
    return {"items": [summary_json(s) for s in page.items], "next_cursor": page.next_cursor}


@router.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, user: UserDep, store: StoreDep) -> dict[str, Any]:
    try:
        return transcript_json(await store.get_transcript(conversation_id, user.id))
    except NotFound:
        raise _not_found() from None


@router.patch("/conversations/{conversation_id}")
async def rename_conversation(
    conversation_id: str, body: TitleIn, user: UserDep, chat: ChatServiceDep
) -> dict[str, Any]:
    try:
        title = body.title.strip() or body.title
        return summary_json(await chat.rename_conversation(user, conversation_id, title))
    except NotFound:
        raise _not_found() from None


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: str, user: UserDep, chat: ChatServiceDep
) -> Response:
    try:
        await chat.delete_conversation(user, conversation_id)
    except NotFound:
        raise _not_found() from None
    return Response(status_code=204)


@router.get("/admin/conversations")
async def admin_list(
    admin: AdminDep,
    store: StoreDep,
    q: Annotated[str | None, Query(max_length=500)] = None,
    user: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page = await _page(
        store.list_conversations(None, limit, cursor, query=q or None, user_name=user or None)
    )
    return {"items": [summary_json(s, True) for s in page.items], "next_cursor": page.next_cursor}


@router.get("/admin/conversations/{conversation_id}")
async def admin_transcript(
    conversation_id: str, admin: AdminDep, store: StoreDep
) -> dict[str, Any]:
    try:
        transcript = await store.get_transcript(conversation_id, None)
    except NotFound:
        raise _not_found() from None
    audit = getattr(store, "add_audit", None)
    if audit is not None:
        await audit(admin.id, "read_transcript", conversation_id)
    return transcript_json(transcript, True)


@router.get(
    "/admin/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines"}},
)
async def admin_export(
    admin: AdminDep,
    store: StoreDep,
    format: Annotated[str, Query(pattern="^jsonl$")] = "jsonl",
) -> StreamingResponse:
    export = getattr(store, "export_conversations", None)
    if export is None:
        raise HTTPException(status_code=503, detail="export is not available")

    async def lines() -> AsyncIterator[str]:
        async for transcript in export():
            yield json.dumps(transcript_json(transcript, True), ensure_ascii=False) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="tickertape-export.jsonl"'},
    )
