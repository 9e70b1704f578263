// Turns sent but not yet `accepted` survive a reload (sessionStorage is per tab), so a
// message typed just before the page went away is still delivered exactly once: the
// session re-sends each one with its client_msg_id after the next `hello`.

const STORAGE_KEY = 'tickertape.pendingChats';
const SAVED_FIELDS = ['kind', 'clientMsgId', 'content', 'conversationId', 'params', 'parentId', 'userMessageId', 'messageId'];

export function savePendingTurns(pending) {
  try {
    const list = [...pending.values()].map((turn) => Object.fromEntries(
      SAVED_FIELDS.filter((key) => turn[key] !== undefined).map((key) => [key, turn[key]]),
    ));
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(list));
  } catch {
    /* storage full or disabled: the in-memory copy still works */
  }
}

export function loadPendingTurns() {
  try {
    const list = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? '[]');
    return list.map((turn) => ({ kind: 'chat', ...turn, resent: true, stopRequested: false }));
  } catch {
    return []; // a corrupt entry is dropped
  }
}
