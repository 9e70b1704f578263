"""The admin export as JSON lines, CSV or Markdown: one chunk per conversation, so memory
stays bounded by the largest conversation, whatever the size of the export.

What comes out is someone else's text, opened in spreadsheets and Markdown viewers:
- CSV (the `csv` module, RFC 4180 quoting) prefixes every text cell that a spreadsheet
  would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return)
  with `'`.
- Markdown puts message text in fenced code blocks (longer fences than any backtick run
  inside, so nothing in it is markup or HTML) and backslash-escapes every other value.
"""

from __future__ import annotations

import csv
import io
import json
import re
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from tickertape.store.tree import Tree
from tickertape.store.types import MessageRecord, Transcript
from tickertape.transport.views import error_json, export_json


@dataclass(frozen=True, slots=True)
class Format:
    media_type: str
    extension: str


FORMATS = {
    "jsonl": Format("application/x-ndjson", "jsonl"),
    "csv": Format("text/csv; charset=utf-8", "csv"),
    "markdown": Format("text/markdown; charset=utf-8", "md"),
}

CSV_COLUMNS = (
    "conversation_id",
    "conversation_title",
    "user",
    "message_id",
    "parent_id",
    "active_path",
    "role",
    "status",
    "finish_reason",
    "error_code",
    "error_message",
    "created_at",
    "prompt_tokens",
    "completion_tokens",
    "params",
    "content",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")


async def render(name: str, transcripts: AsyncIterator[Transcript]) -> AsyncIterator[str]:
    if name == "csv":
        yield _csv_rows([CSV_COLUMNS])
    async for t in transcripts:
        if name == "jsonl":
            yield json.dumps(export_json(t), ensure_ascii=False, allow_nan=False) + "\n"
        elif name == "csv":
            yield _csv_rows(_csv_conversation(t))
        else:
            yield _markdown(t)


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_rows(rows: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def _csv_conversation(t: Transcript) -> list[tuple[object, ...]]:
    tree = Tree(t.messages)
    active = {m.id for m in tree.active_path(t.summary.active_leaf_id)}
    s = t.summary
    rows: list[tuple[object, ...]] = []
    for m in t.messages:
        usage = m.usage or {}
        error = error_json(m) or {}
        rows.append(
            (
                s.id,
                s.title,
                s.user.name,
                m.id,
                m.parent_id or "",
                "yes" if m.id in active else "no",
                m.role,
                m.status,
                m.finish_reason or "",
                error.get("code", ""),
                error.get("message", ""),
                m.created_at.isoformat(),
                usage.get("prompt_tokens", ""),
                usage.get("completion_tokens", ""),
                json.dumps(m.params, ensure_ascii=False) if m.params else "",
                m.content,
            )
        )
    return rows


def escape_markdown(text: str) -> str:
    """Inline text that renders as itself: one line, every ASCII punctuation escaped."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def fenced(text: str) -> str:
    """A code block whose fence is longer than any run of backticks in `text`."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}{'' if text.endswith(chr(10)) else chr(10)}{fence}\n"


def _markdown(t: Transcript) -> str:
    s = t.summary
    tree = Tree(t.messages)
    active = {m.id for m in tree.active_path(s.active_leaf_id)}
    parts = [
        f"# {escape_markdown(s.title)}\n\n",
        f"Conversation `{s.id}` of {escape_markdown(s.user.name)}, "
        f"created {s.created_at.isoformat()}, {len(t.messages)} messages.\n\n",
    ]
    for number, m in enumerate(t.messages, 1):
        parts.append(_markdown_message(number, m, m.id in active))
    return "".join(parts) + "\n"


def _markdown_message(number: int, m: MessageRecord, on_active_path: bool) -> str:
    head = f"## {number}. {m.role}"
    if m.role == "assistant":
        head += f" ({m.status})"
    if not on_active_path:
        head += " (another branch)"
    lines = [head, "", f"Message `{m.id}`" + (f", answers `{m.parent_id}`" if m.parent_id else "")]
    lines[-1] += f", {m.created_at.isoformat()}."
    error = error_json(m)
    if error is not None:
        lines.append("")
        code, message = escape_markdown(error["code"]), escape_markdown(error["message"])
        lines.append(f"**Error** {code}: {message}")
    if m.role == "assistant" and m.params:
        settings = ", ".join(f"{k} {json.dumps(v)}" for k, v in m.params.items())
        lines.append("")
        lines.append(f"Sampling: {escape_markdown(settings)}")
    return "\n".join(lines) + "\n\n" + fenced(m.content) + "\n"
