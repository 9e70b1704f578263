// The open conversation: which one it is (kept in the URL fragment, #c=ID, so a reload
// returns to it), loading its history, and putting live replies in the right place.
//
// Ordering: while the history request is in flight, live updates for this conversation
// are not drawn (they would land above their own question); once the history is drawn,
// every reply the session follows in this conversation is attached after it, so nothing
// is lost either.

import { ApiError, conversationsApi } from './api.js';
import { displayTitle } from './conversations.js';

function idFromHash() {
  const match = /^#c=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

export class ConversationView {
  constructor({ session, transcript, list, titleElement, welcome, onOpened, showError, showApiError }) {
    Object.assign(this, { session, transcript, list, titleElement, welcome, onOpened, showError, showApiError });
    this.currentId = null; // null: the "new conversation" view
    this.loading = false;
    this.generation = 0; // discards history responses for a conversation no longer shown
    this.conversation = null; // the last history loaded (active path, tree)
  }

  get idFromUrl() {
    return idFromHash();
  }

  setHash(id) {
    const url = id ? `#c=${encodeURIComponent(id)}` : `${location.pathname}${location.search}`;
    if (url !== location.hash) history.replaceState(null, '', url);
  }

  refreshTitle() {
    const known = this.currentId ? this.list.get(this.currentId) : null;
    if (this.currentId === null) this.titleElement.textContent = 'New conversation';
    else if (known) this.titleElement.textContent = displayTitle(known);
  }

  updateWelcome() {
    this.welcome.setVisible(this.currentId === null && this.transcript.isEmpty);
  }

  openNew() {
    this.generation += 1;
    this.loading = false;
    this.currentId = null;
    this.conversation = null;
    this.setHash(null);
    this.list.setActive(null);
    this.titleElement.textContent = 'New conversation';
    this.transcript.clear();
    this.#renderPending(null);
    this.updateWelcome();
    this.onOpened();
  }

  // The first message of a new conversation was accepted: the server created it.
  adopt(id) {
    this.currentId = id;
    this.setHash(id);
    this.list.setActive(id);
  }

  // Open (or, with reload, re-read) a conversation. A reload keeps the reader's place
  // unless they were following the end.
  async open(id, { reload = false } = {}) {
    const generation = ++this.generation;
    const keepScroll = reload && id === this.currentId && !this.transcript.autoScroll;
    const scrollTop = this.transcript.scroller.scrollTop;
    this.currentId = id;
    this.loading = true;
    this.setHash(id);
    this.list.setActive(id);
    if (!reload) {
      this.titleElement.textContent = this.list.get(id) ? displayTitle(this.list.get(id)) : 'Loading…';
      this.transcript.clear();
      this.transcript.setBusy(true);
      this.welcome.setVisible(false);
    }
    this.onOpened();
    let conversation;
    try {
      conversation = await conversationsApi.get(id);
    } catch (err) {
      if (generation !== this.generation) return;
      this.loading = false;
      this.transcript.setBusy(false);
      if (err instanceof ApiError && err.status === 404) {
        this.showError('That conversation does not exist any more.');
        this.openNew();
      } else if (!reload) {
        this.showApiError(err);
        this.transcript.showNotice('Could not load this conversation.');
      }
      return;
    }
    if (generation !== this.generation) return;
    this.conversation = conversation;
    this.transcript.clear();
    this.#renderHistory(conversation);
    this.loading = false;
    this.transcript.setBusy(false);
    if (keepScroll) this.transcript.scroller.scrollTop = scrollTop;
    else this.transcript.scrollToEnd();
    this.onOpened();
  }

  // A live reply changed: draw it if it belongs here and the history is on screen.
  showReply(reply) {
    if (reply.conversationId !== this.currentId || this.loading) return;
    this.#ensureUserMessage(reply);
    this.transcript.showReply(reply);
  }

  #renderHistory(conversation) {
    this.titleElement.textContent = displayTitle(conversation);
    const messages = conversation.messages ?? [];
    // The tree protocol's fields tell whether the server supports regenerate and edit.
    const treeSupported = 'active_leaf_id' in conversation || messages.some((m) => 'parent_id' in m);
    this.session.treeSupported = treeSupported;
    this.transcript.setTreeSupported(treeSupported);
    const shown = new Set();
    for (const message of messages) {
      shown.add(message.id);
      if (message.role === 'user') {
        this.transcript.addUserMessage({ content: message.content, messageId: message.id, message });
      } else if (message.role === 'assistant') {
        const tracked = this.session.replies.get(message.id);
        if (tracked && !tracked.done) {
          this.transcript.showReply(tracked, { placeholderText: message.content, message });
        } else if (message.status === 'streaming') {
          // Started elsewhere or before a reload: attach to it; the server sends the text.
          const reply = this.session.follow(message.id, conversation.id, { userMessageId: message.parent_id ?? null });
          this.transcript.showReply(reply, { placeholderText: message.content, message });
        } else {
          this.transcript.addFinishedReply(message);
        }
      }
    }
    // Replies that started after the history was read (this tab or another device).
    for (const reply of this.session.replies.values()) {
      if (reply.conversationId !== conversation.id || shown.has(reply.id) || reply.done) continue;
      if (treeSupported && reply.userMessageId && !shown.has(reply.userMessageId) && !reply.userContent) continue;
      this.#ensureUserMessage(reply);
      this.transcript.showReply(reply);
    }
    this.#renderPending(conversation.id);
  }

  // A reply from a turn_started notice or an `accepted` arriving while the history was
  // loading: its question must be on screen above it.
  #ensureUserMessage(reply) {
    const list = this.transcript.list;
    if (!reply.userContent || !reply.userMessageId) return;
    if (list.querySelector(`.message.user[data-message-id="${CSS.escape(reply.userMessageId)}"]`)) return;
    if (reply.clientMsgId && list.querySelector(`.message.user[data-client-msg-id="${CSS.escape(reply.clientMsgId)}"]`)) return;
    if (list.querySelector(`.message.assistant[data-reply-id="${CSS.escape(reply.id)}"]`)) return;
    this.transcript.addUserMessage({ content: reply.userContent, messageId: reply.userMessageId, clientMsgId: reply.clientMsgId });
  }

  #renderPending(conversationId) {
    for (const turn of this.session.pendingFor(conversationId)) {
      if (turn.kind === 'chat' || turn.kind === 'edit') {
        this.transcript.addUserMessage({ content: turn.content, clientMsgId: turn.clientMsgId, pending: true });
      }
      this.transcript.addPendingReply(turn.clientMsgId);
    }
  }
}
