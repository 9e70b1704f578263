// Chat state that must survive reconnects: chats sent but not yet `accepted`, and replies
// being streamed. On every `hello` it re-sends the unacknowledged chats with the SAME
// client_msg_id (the server treats a repeat as the same message) and resumes every
// unfinished reply from the last seq it has. Token frames are deduplicated by seq, so
// overlapping deliveries (live frames plus a resume) never repeat text.
//
// Events (CustomEvent.detail):
//   hello        {frame, first}  first: the first `hello` of this page's life
//   accepted     {chat, reply}   `chat` is the pending turn (chat, regenerate or edit)
//   reply        {reply}           any change to a reply's text or state
//   reply-end    {reply}
//   chat-error   {chat, error}     an `error` about a chat we sent (it was not accepted)
//   reply-error  {reply, error}    an `error` about a reply (e.g. resume of a gone reply)
//   error        {error}           an `error` we cannot attribute
//   pending      {}                the set of unacknowledged chats changed
//   notice       {frame}           turn_started, conversation_renamed, conversation_deleted,
//                                  branch_changed (about this user's other connections)

import { loadPendingTurns, savePendingTurns } from './pending-store.js';
import { callFromServer, frames, newClientMsgId } from './protocol.js';

const NOTICE_TYPES = new Set(['turn_started', 'conversation_renamed', 'conversation_deleted', 'branch_changed']);

// A reply as the client knows it. `text` is always the concatenation of token texts for
// seq 1..lastSeq (or a snapshot's text up to its seq); `reasoning` likewise for reasoning
// frames; `toolCalls` the calls in index order: {index, callId, name, arguments, result}.
export class Reply {
  constructor({ id, conversationId, clientMsgId = null, userMessageId = null, parentId = null }) {
    this.id = id;
    this.conversationId = conversationId;
    this.clientMsgId = clientMsgId;
    this.userMessageId = userMessageId;
    this.parentId = parentId; // the reply's parent: its user message (tree protocol)
    this.error = null; // {code, message[, retry_after_ms]} of a failed reply
    this.text = '';
    this.reasoning = '';
    this.toolCalls = [];
    this.awaitingTools = false; // the reply waits for tool results
    this.lastSeq = 0;
    this.state = 'waiting'; // waiting | queued | streaming | done
    this.queuePosition = null;
    this.finishReason = null;
    this.usage = null;
    this.timing = null;
    this.stopRequested = false;
    this.resuming = false; // a resume is outstanding: don't ask again on every gap
    this.endRetry = false; // we already asked once for frames missing before `end`
    this.hasFrames = false; // false until the first token/snapshot of this page's life
  }

  get done() {
    return this.state === 'done';
  }
}

// One frame of the reply's seq space applied to what the client knows of it.
function applyFrame(reply, frame) {
  switch (frame.type) {
    case 'token':
      reply.text += frame.text;
      reply.awaitingTools = false;
      break;
    case 'reasoning':
      reply.reasoning += frame.text;
      reply.awaitingTools = false;
      break;
    case 'tool_call': {
      reply.awaitingTools = false;
      let call = reply.toolCalls.find((c) => c.index === frame.index);
      if (!call) {
        call = { index: frame.index, callId: frame.call_id, name: frame.name ?? '', arguments: '', result: null };
        reply.toolCalls.push(call);
      }
      call.arguments += frame.arguments ?? '';
      break;
    }
    case 'tool_result': {
      const call = reply.toolCalls.find((c) => c.callId === frame.call_id);
      if (call) call.result = frame.content;
      break;
    }
    case 'awaiting_tools':
      reply.awaitingTools = true;
      break;
    default:
      break;
  }
}

export class ChatSession extends EventTarget {
  constructor(connection) {
    super();
    this.connection = connection;
    this.hello = null;
    this.pending = new Map(); // client_msg_id -> chat
    this.replies = new Map(); // reply_id -> Reply
    this.hellos = 0;
    this.treeSupported = false; // set from `accepted` or the history (conversation-view.js)
    for (const turn of loadPendingTurns()) this.pending.set(turn.clientMsgId, turn);
    connection.addEventListener('hello', (e) => this.#onHello(e.detail.frame));
    connection.addEventListener('frame', (e) => this.#onFrame(e.detail.frame));
  }

  get limits() {
    return this.hello?.limits ?? null;
  }

  // Queue a turn; it goes out now if connected, else after the next `hello`. kind:
  // `chat` (content, optional parentId), `regenerate` (userMessageId) or `edit`
  // (messageId, content). All three are idempotent by client_msg_id.
  sendTurn({ kind = 'chat', clientMsgId = newClientMsgId(), ...fields }) {
    const turn = {
      kind, clientMsgId, content: '', conversationId: null, params: {}, ...fields, resent: false, stopRequested: false,
    };
    this.pending.set(clientMsgId, turn);
    savePendingTurns(this.pending);
    this.connection.send(frames.turn(turn));
    this.#emit('pending');
    return turn;
  }

  sendChat(fields) {
    return this.sendTurn({ ...fields, kind: 'chat' });
  }

  // Send a refused turn again with the same id (the server never stored it, or will
  // answer with the original `accepted` if it did).
  retryChat(turn) {
    return this.sendTurn({ ...turn });
  }

  // Forget every chat and reply (after sign-out: they belong to the previous user).
  reset() {
    this.pending.clear();
    this.replies.clear();
    savePendingTurns(this.pending);
    this.#emit('pending');
  }

  discardChat(clientMsgId) {
    if (this.pending.delete(clientMsgId)) {
      savePendingTurns(this.pending);
      this.#emit('pending');
    }
  }

  pendingFor(conversationId) {
    return [...this.pending.values()].filter((c) => (c.conversationId ?? null) === (conversationId ?? null));
  }

  activeReplyFor(conversationId) {
    for (const reply of this.replies.values()) {
      if (reply.conversationId === conversationId && !reply.done) return reply;
    }
    return null;
  }

  // Follow a reply we learnt about from history (status "streaming", e.g. after a
  // reload) or from a `turn_started` notice (a turn sent from another tab or device).
  follow(replyId, conversationId, { userMessageId = null, parentId = null } = {}) {
    let reply = this.replies.get(replyId);
    if (reply) return reply;
    reply = new Reply({ id: replyId, conversationId, userMessageId, parentId });
    reply.state = 'streaming';
    this.replies.set(replyId, reply);
    this.#resume(reply);
    return reply;
  }

  stop(target) {
    if (target instanceof Reply) {
      if (target.done) return;
      target.stopRequested = true;
      this.connection.send(frames.stop(target.id)); // if offline: sent after resume
    } else if (target && this.pending.has(target.clientMsgId)) {
      target.stopRequested = true; // sent as soon as the reply id is known
    }
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #onHello(frame) {
    this.hello = frame;
    this.hellos += 1;
    this.#emit('hello', { frame, first: this.hellos === 1 });
    for (const turn of this.pending.values()) {
      turn.resent = true;
      this.connection.send(frames.turn(turn));
    }
    for (const reply of this.replies.values()) {
      if (reply.done) continue;
      reply.resuming = false;
      this.#resume(reply);
      if (reply.stopRequested) this.connection.send(frames.stop(reply.id));
    }
  }

  #resume(reply) {
    if (reply.resuming) return;
    if (this.connection.send(frames.resume(reply.id, reply.lastSeq))) reply.resuming = true;
  }

  #onFrame(frame) {
    switch (frame.type) {
      case 'accepted':
        return this.#onAccepted(frame);
      case 'queued':
        return this.#withReply(frame, (reply) => {
          reply.state = 'queued';
          reply.queuePosition = frame.position;
          this.#emit('reply', { reply });
        });
      case 'token':
        return this.#withReply(frame, (reply) => this.#onToken(reply, frame));
      case 'reasoning':
      case 'tool_call':
      case 'tool_result':
      case 'awaiting_tools':
        return this.#withReply(frame, (reply) => this.#onToken(reply, frame));
      case 'snapshot':
        return this.#withReply(frame, (reply) => this.#onSnapshot(reply, frame));
      case 'end':
        return this.#withReply(frame, (reply) => this.#onEnd(reply, frame));
      case 'error':
        return this.#onError(frame);
      default:
        if (NOTICE_TYPES.has(frame.type)) return this.#emit('notice', { frame });
        return undefined; // unknown frame types are ignored (forward compatibility)
    }
  }

  #withReply(frame, fn) {
    const reply = this.replies.get(frame.reply_id);
    if (reply) fn(reply);
  }

  #onAccepted(frame) {
    // Servers with the message tree (regenerate, edit, branches) say so in `accepted`.
    if ('parent_id' in frame) this.treeSupported = true;
    const chat = this.pending.get(frame.client_msg_id);
    let reply = this.replies.get(frame.reply_id);
    if (!reply) {
      reply = new Reply({
        id: frame.reply_id,
        conversationId: frame.conversation_id,
        clientMsgId: frame.client_msg_id,
        userMessageId: frame.user_message_id,
        parentId: frame.user_message_id,
      });
      this.replies.set(reply.id, reply);
    }
    if (chat) {
      this.pending.delete(chat.clientMsgId);
      savePendingTurns(this.pending);
      // A re-sent chat's reply may already be under way: fetch what we missed.
      if (chat.resent) this.#resume(reply);
      if (chat.stopRequested) this.stop(reply);
    }
    this.#emit('accepted', { chat: chat ?? null, reply });
    this.#emit('pending');
  }

  #onToken(reply, frame) {
    if (reply.done) return;
    if (frame.seq <= reply.lastSeq) return; // duplicate from an overlapping delivery
    if (frame.seq !== reply.lastSeq + 1) {
      // A gap should not happen on one connection; ask for the rest and drop this frame.
      this.#resume(reply);
      return;
    }
    reply.resuming = false;
    if (!reply.hasFrames) {
      reply.hasFrames = true;
    }
    applyFrame(reply, frame);
    reply.lastSeq = frame.seq;
    reply.state = 'streaming';
    reply.queuePosition = null;
    this.#emit('reply', { reply });
  }

  #onSnapshot(reply, frame) {
    if (reply.done) return;
    reply.resuming = false;
    if (frame.seq >= reply.lastSeq) {
      // The snapshot is the whole reply up to its seq: replace, never append.
      reply.text = frame.text;
      reply.reasoning = frame.reasoning ?? '';
      reply.toolCalls = (frame.tool_calls ?? []).map(callFromServer);
      reply.awaitingTools = Boolean(frame.awaiting_tools);
      reply.lastSeq = frame.seq;
      reply.hasFrames = true;
    }
    reply.queuePosition = null;
    if (frame.status && frame.status !== 'streaming') {
      // Already final (e.g. "interrupted"); an `end` may or may not follow.
      reply.finishReason = { complete: 'stop', stopped: 'stopped', interrupted: 'interrupted', error: 'error' }[frame.status] ?? frame.status;
      reply.state = 'done';
      this.#emit('reply-end', { reply });
      return;
    }
    reply.state = 'streaming';
    this.#emit('reply', { reply });
  }

  #onEnd(reply, frame) {
    if (frame.seq > reply.lastSeq && !reply.endRetry) {
      // Frames are missing before the end: ask once for them; the next `end` finalises.
      reply.endRetry = true;
      reply.resuming = false;
      this.#resume(reply);
      return;
    }
    const wasDone = reply.done;
    reply.state = 'done';
    reply.finishReason = frame.finish_reason ?? reply.finishReason;
    reply.usage = frame.usage ?? null;
    reply.timing = frame.timing ?? null;
    reply.error = frame.error ?? (reply.finishReason === 'error' ? reply.error : null);
    reply.incomplete = frame.seq > reply.lastSeq; // caller reloads from history
    reply.queuePosition = null;
    if (!wasDone || reply.usage) this.#emit('reply-end', { reply });
  }

  #onError(frame) {
    const ref = frame.ref ?? null;
    const chat = ref ? this.pending.get(ref) : null;
    if (chat) {
      this.pending.delete(ref);
      savePendingTurns(this.pending);
      this.#emit('chat-error', { chat, error: frame });
      this.#emit('pending');
      return;
    }
    const reply = ref ? this.replies.get(ref) : null;
    if (reply) {
      reply.resuming = false;
      if (frame.code === 'not_found') {
        reply.state = 'done';
        reply.finishReason = reply.finishReason ?? 'error';
      }
      this.#emit('reply-error', { reply, error: frame });
      return;
    }
    this.#emit('error', { error: frame });
  }
}
