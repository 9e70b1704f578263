"""The reconnect/resume bookkeeping in /static/js/session.js, driven with scripted frames.

The live-server tests cannot choose whether the server answers a resume with tokens or a
snapshot, or make it send duplicates and gaps; here a fake connection object feeds the
real ChatSession exactly those cases, inside the real page.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

SCENARIO_JS = """
async () => {
  const { ChatSession } = await import('/static/js/session.js');
  const { backoffDelay } = await import('/static/js/backoff.js');
  sessionStorage.removeItem('tickertape.pendingChats');

  class FakeConnection extends EventTarget {
    constructor() { super(); this.sent = []; this.up = true; }
    send(frame) { if (!this.up) return false; this.sent.push(frame); return true; }
  }
  const conn = new FakeConnection();
  const session = new ChatSession(conn);
  const hello = () => conn.dispatchEvent(new CustomEvent('hello', { detail: { frame: { type: 'hello', limits: {} } } }));
  const feed = (frame) => conn.dispatchEvent(new CustomEvent('frame', { detail: { frame } }));
  const out = {};

  hello();
  const chat = session.sendChat({ content: 'hi', params: { max_tokens: 5 } });
  out.firstChat = conn.sent.at(-1);
  feed({ type: 'accepted', client_msg_id: chat.clientMsgId, conversation_id: 'c1', user_message_id: 'u1', reply_id: 'r1' });
  const reply = session.replies.get('r1');
  feed({ type: 'queued', reply_id: 'r1', position: 2 });
  out.queued = [reply.state, reply.queuePosition];
  feed({ type: 'token', reply_id: 'r1', seq: 1, text: 'Hel' });
  feed({ type: 'token', reply_id: 'r1', seq: 1, text: 'Hel' });        // duplicate
  feed({ type: 'token', reply_id: 'r1', seq: 2, text: 'lo' });
  out.afterDuplicate = reply.text;
  feed({ type: 'token', reply_id: 'r1', seq: 4, text: '??' });         // gap: ask again
  out.gapResume = conn.sent.at(-1);
  feed({ type: 'snapshot', reply_id: 'r1', seq: 3, text: 'Hello, w', status: 'streaming' });
  feed({ type: 'token', reply_id: 'r1', seq: 3, text: 'XX' });         // covered by snapshot
  feed({ type: 'token', reply_id: 'r1', seq: 4, text: 'orld' });
  feed({ type: 'end', reply_id: 'r1', seq: 4, finish_reason: 'stop',
         usage: { prompt_tokens: 1, completion_tokens: 4 }, timing: { total_ms: 5 } });
  out.final = [reply.text, reply.state, reply.finishReason, reply.lastSeq];
  feed({ type: 'token', reply_id: 'r1', seq: 5, text: 'late' });       // after end: ignored
  out.afterEnd = reply.text;

  // Connection lost: a chat typed while down, and a reply in flight.
  const chat2 = session.sendChat({ content: 'second', conversationId: 'c1' });
  feed({ type: 'accepted', client_msg_id: chat2.clientMsgId, conversation_id: 'c1', user_message_id: 'u2', reply_id: 'r2' });
  feed({ type: 'token', reply_id: 'r2', seq: 1, text: 'A' });
  conn.up = false;
  const chat3 = session.sendChat({ content: 'third', conversationId: 'c2' });
  out.pendingSaved = JSON.parse(sessionStorage.getItem('tickertape.pendingChats')).map((c) => c.clientMsgId);
  conn.up = true;
  conn.sent = [];
  hello();
  out.onReconnect = [...conn.sent];
  out.chat3Id = chat3.clientMsgId;
  // The re-sent chat's `accepted` makes the client fetch what it missed of that reply.
  feed({ type: 'accepted', client_msg_id: chat3.clientMsgId, conversation_id: 'c2', user_message_id: 'u3', reply_id: 'r3' });
  out.resumeAfterResentAccept = conn.sent.at(-1);

  // `end` arrives with frames missing: ask once, finish when they come.
  const r2 = session.replies.get('r2');
  feed({ type: 'end', reply_id: 'r2', seq: 3, finish_reason: 'length', usage: null, timing: null });
  out.r2AfterEarlyEnd = [r2.state, conn.sent.at(-1)];
  feed({ type: 'token', reply_id: 'r2', seq: 2, text: 'B' });
  feed({ type: 'token', reply_id: 'r2', seq: 3, text: 'C' });
  feed({ type: 'end', reply_id: 'r2', seq: 3, finish_reason: 'length', usage: null, timing: null });
  out.r2Final = [r2.text, r2.state, r2.finishReason];

  // An error about a pending chat removes it and reports it.
  const errors = [];
  session.addEventListener('chat-error', (e) => errors.push([e.detail.chat.clientMsgId, e.detail.error.code]));
  const chat4 = session.sendChat({ content: 'too fast', conversationId: 'c1' });
  feed({ type: 'error', code: 'rate_limited', message: 'slow down', ref: chat4.clientMsgId, retry_after_ms: 1500 });
  out.errors = errors;
  out.chat4Id = chat4.clientMsgId;
  out.pendingAfterError = session.pending.size;

  out.backoff = [1, 2, 3, 4, 10, 30].map((n) => [backoffDelay(n, undefined, () => 0), backoffDelay(n, undefined, () => 0.999)]);
  sessionStorage.removeItem('tickertape.pendingChats');
  return out;
}
"""


def test_session_dedupes_resumes_and_resends(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.base_url}/")
    out = page.evaluate(SCENARIO_JS)

    assert out["firstChat"]["type"] == "chat"
    assert out["firstChat"]["params"] == {"max_tokens": 5}
    assert out["queued"] == ["queued", 2]
    assert out["afterDuplicate"] == "Hello"
    assert out["gapResume"] == {"type": "resume", "reply_id": "r1", "last_seq": 2}
    assert out["final"] == ["Hello, world", "done", "stop", 4]
    assert out["afterEnd"] == "Hello, world"

    assert out["pendingSaved"] == [out["chat3Id"]]
    resent = [f for f in out["onReconnect"] if f["type"] == "chat"]
    assert [f["client_msg_id"] for f in resent] == [out["chat3Id"]]  # same id, once
    assert resent[0]["conversation_id"] == "c2"
    resumes = [f for f in out["onReconnect"] if f["type"] == "resume"]
    assert resumes == [{"type": "resume", "reply_id": "r2", "last_seq": 1}]  # r1 had ended
    assert out["resumeAfterResentAccept"] == {"type": "resume", "reply_id": "r3", "last_seq": 0}

    assert out["r2AfterEarlyEnd"] == [
        "streaming",
        {"type": "resume", "reply_id": "r2", "last_seq": 1},
    ]
    assert out["r2Final"] == ["ABC", "done", "length"]

    assert out["errors"] == [[out["chat4Id"], "rate_limited"]]

    for attempt, (low, high) in zip([1, 2, 3, 4, 10, 30], out["backoff"], strict=True):
        window = min(15000, 500 * 2 ** (attempt - 1))
        assert window / 2 - 1 <= low <= high <= window + 1
