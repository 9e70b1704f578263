"""HTTP routes of the contract: a user's conversations, and the admin's view of all."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from tickertape.auth.schemas import error_responses
from tickertape.store.errors import BadRequest
from tickertape.store.types import ConversationFilter, MessageStatus, NotFound, Page
from tickertape.transport import export
from tickertape.transport.deps import AdminDep, ChatServiceDep, StoreDep, UserDep
from tickertape.transport.strict_json import StrictJsonRoute
from tickertape.transport.views import summary_json, transcript_json

# Every route can answer these (validation is 400, not FastAPI's 422; see http_errors.py).
router = APIRouter(
    prefix="/api", responses=error_responses(400, 401, 403, 404), route_class=StrictJsonRoute
)

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]
Search = Annotated[str | None, Query(max_length=500)]
UserName = Annotated[str | None, Query(max_length=200)]
Status = Annotated[MessageStatus | None, Query()]
# ISO 8601 instants (without an offset: UTC). A string checked here, not pydantic's
# datetime, which would also take a number as a Unix time.
_INSTANT = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
Since = Annotated[
    str | None,
    Query(pattern=_INSTANT, description="ISO 8601: active since (updated at or after)"),
]
Until = Annotated[
    str | None, Query(pattern=_INSTANT, description="ISO 8601: started before (exclusive)")
]
ExportFormat = Literal["jsonl", "csv", "markdown"]


class ConversationPatch(BaseModel):
    """A new title, a branch to show (any message of the conversation: the newest leaf
    under it becomes active), or both."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=200)
    active_message_id: str | None = Field(None, min_length=1, max_length=64)


def _aware(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"not an ISO 8601 instant: {text}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


async def _page(listing: Awaitable[Page]) -> Page:
    """An undecodable cursor is the client's mistake: 400, not a 500."""
    try:
        return await listing
    except BadRequest as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def _not_found(message: str = "conversation not found") -> HTTPException:
    return HTTPException(status_code=404, detail=message)


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
async def update_conversation(
    conversation_id: str,
    body: ConversationPatch,
    user: UserDep,
    chat: ChatServiceDep,
    store: StoreDep,
) -> dict[str, Any]:
    if body.title is None and body.active_message_id is None:
        raise HTTPException(status_code=400, detail="give a title or an active_message_id")
    try:
        if body.active_message_id is not None:
            await chat.switch_branch(user, conversation_id, body.active_message_id)
        if body.title is None:
            summary = (await store.get_transcript(conversation_id, user.id)).summary
        else:
            title = body.title.strip() or body.title
            summary = await chat.rename_conversation(user, conversation_id, title)
        return summary_json(summary, with_leaf=True)
    except NotFound as exc:
        raise _not_found(str(exc) or "conversation not found") from None


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
    q: Search = None,
    user: UserName = None,
    status: Status = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """`user`: a part of the owner's name (any case); `status`: only conversations with a
    message in it (`error`: a failed reply); `since` / `until`: active since, started
    before."""
    page = await _page(
        store.list_conversations(
            None,
            limit,
            cursor,
            query=q or None,
            user_name=user or None,
            status=status,
            since=_aware(since),
            until=_aware(until),
        )
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
    return transcript_json(transcript, admin=True)


@router.get(
    "/admin/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {f.media_type.split(";")[0]: {} for f in export.FORMATS.values()},
            "description": "JSON lines, CSV (one row a message) or Markdown",
        }
    },
)
async def admin_export(
    admin: AdminDep,
    store: StoreDep,
    format: Annotated[ExportFormat, Query()] = "jsonl",
    q: Search = None,
    user: UserName = None,
    status: Status = None,
    since: Since = None,
    until: Until = None,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
) -> StreamingResponse:
    """The conversations the admin listing's filters select (every one by default), or
    one conversation, streamed."""
    export_conversations = getattr(store, "export_conversations", None)
    if export_conversations is None:
        raise HTTPException(status_code=503, detail="export is not available")
    if conversation_id:
        try:
            await store.get_transcript(conversation_id, None)
        except NotFound:
            raise _not_found() from None
    where = ConversationFilter(
        q or None, user or None, status, conversation_id or None, _aware(since), _aware(until)
    )
    audit = getattr(store, "add_audit", None)
    if audit is not None:
        await audit(admin.id, f"export_{format}", conversation_id or None)
    chosen = export.FORMATS[format]
    name = f"tickertape-{conversation_id or 'export'}.{chosen.extension}"
    return StreamingResponse(
        export.render(format, export_conversations(where=where)),
        media_type=chosen.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
