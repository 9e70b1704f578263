// The client side of the tickertape wire contract (shared/protocol.md, version 1):
// frame builders, ids, close codes and human-readable error text. No DOM, no state.

export const PROTOCOL_VERSION = 1;

export const CLOSE_CODES = Object.freeze({
  NORMAL: 1000,
  BINARY_FRAME: 1003,
  POLICY: 1008, // authentication required / failed
  TOO_BIG: 1009,
  SERVER_ERROR: 1011,
  RESTARTING: 1012, // graceful shutdown: reconnect and resume
});

// client_msg_id: 1–64 chars of [A-Za-z0-9_-]. crypto.randomUUID() only exists in secure
// contexts, so build the id from getRandomValues(), which works on plain http too.
export function newClientMsgId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `m-${Date.now().toString(36)}-${hex}`;
}

function withParams(frame, params) {
  if (params && Object.keys(params).length > 0) frame.params = params;
  return frame;
}

export const frames = {
  auth: (token) => ({ type: 'auth', token }),
  chat: ({ clientMsgId, content, conversationId, params, parentId }) => {
    const frame = { type: 'chat', client_msg_id: clientMsgId, content };
    if (conversationId) frame.conversation_id = conversationId;
    if (parentId) frame.parent_id = parentId;
    return withParams(frame, params);
  },
  // Tree protocol: a new reply to an existing user message (a sibling of its replies).
  regenerate: ({ clientMsgId, conversationId, userMessageId, params }) => withParams(
    { type: 'regenerate', client_msg_id: clientMsgId, conversation_id: conversationId, user_message_id: userMessageId },
    params,
  ),
  // Tree protocol: a new user message beside `messageId` (its sibling), then its reply.
  edit: ({ clientMsgId, conversationId, messageId, content, params }) => withParams(
    { type: 'edit', client_msg_id: clientMsgId, conversation_id: conversationId, message_id: messageId, content },
    params,
  ),
  // The frame of a pending turn, whatever its kind.
  turn: (turn) => (frames[turn.kind] ?? frames.chat)(turn),
  stop: (replyId) => ({ type: 'stop', reply_id: replyId }),
  resume: (replyId, lastSeq) => ({ type: 'resume', reply_id: replyId, last_seq: lastSeq }),
  ping: (data) => ({ type: 'ping', data }),
};

// A stored or snapshot call ({index, call_id, name, arguments, result}) as the client's.
export function callFromServer(call) {
  return {
    index: call.index, callId: call.call_id, name: call.name, arguments: call.arguments ?? '', result: call.result ?? null,
  };
}

// Byte length of a frame as the server measures it (UTF-8 of the JSON text).
export function frameBytes(frame) {
  return new TextEncoder().encode(JSON.stringify(frame)).length;
}

function seconds(ms) {
  const s = Math.max(1, Math.ceil((ms ?? 0) / 1000));
  return s === 1 ? '1 second' : `${s} seconds`;
}

// Turns an `error` frame (or an HTTP error body) into a sentence a person can act on.
export function describeError({ code, message, retry_after_ms: retryAfterMs }) {
  switch (code) {
    case 'rate_limited':
      return `You are sending messages too quickly. Try again in ${seconds(retryAfterMs)}.`;
    case 'overloaded':
      return `The server is busy right now. Try again in ${seconds(retryAfterMs)}.`;
    case 'too_long':
      return 'This conversation is now too long for the model. Start a new conversation or send a shorter message.';
    case 'conflict':
      return 'A reply is still being written in this conversation. Wait for it to finish or stop it first.';
    case 'not_found':
      return 'That conversation or reply no longer exists (or is not yours).';
    case 'bad_request':
      return `The server rejected the request${message ? `: ${message}` : '.'}`;
    case 'internal':
      return 'Something went wrong on the server. Please try again.';
    case 'interrupted':
      return 'The server restarted while writing this reply.';
    default:
      return message || `Unexpected error (${code ?? 'unknown'}).`;
  }
}

// Codes after which the same message may simply be tried again later.
export function isRetryable(code) {
  return code === 'rate_limited' || code === 'overloaded' || code === 'internal';
}

export const FINISH_LABELS = Object.freeze({
  stop: 'complete',
  length: 'stopped at the token limit',
  stopped: 'stopped',
  error: 'failed',
  interrupted: 'interrupted (the server went down)',
});
