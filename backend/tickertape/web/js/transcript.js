// The message list of the open conversation, and its scrolling. User text is only ever set
// with textContent; assistant text goes through markdown.js (sanitised). Streaming replies
// re-render at most once per animation frame.
//
// Every assistant element carries data-reply-id, data-status ("waiting", "queued",
// "streaming", or the final status) and data-last-seq, which the UI styles and the
// browser tests wait on. The list follows new text only while the reader is at the
// bottom; otherwise a "Jump to latest" button appears.

import { el } from './dom.js';
import { createRenderScheduler, renderMarkdownInto } from './markdown.js';
import {
  assistantMessage, failureText, finishLabel, renderDetails, renderFailure, renderReasoning, renderToolbar,
  renderToolCalls, userMessage,
} from './message-view.js';
import { callFromServer } from './protocol.js';

const STATUS_FROM_FINISH = {
  stop: 'complete', length: 'complete', tool_calls: 'complete', stopped: 'stopped', error: 'error', interrupted: 'interrupted',
};
const AT_BOTTOM_PX = 40;

export class TranscriptView {
  // actions: {onEdit, onRegenerate, onRetry, onSwitchBranch} (see message-view.js).
  constructor({ listElement, scroller, jumpButton, actions }) {
    this.list = listElement;
    this.scroller = scroller;
    this.jumpButton = jumpButton;
    this.actions = actions;
    this.treeSupported = false; // regenerate / edit / branches need the server's tree
    this.scheduler = createRenderScheduler(() => this.#scroll());
    this.autoScroll = true;
    this.texts = new WeakMap(); // item -> its source text (what Copy copies)
    scroller.addEventListener('scroll', () => {
      this.autoScroll = this.#distanceFromBottom() < AT_BOTTOM_PX;
      this.jumpButton.hidden = this.autoScroll;
    }, { passive: true });
    jumpButton.addEventListener('click', () => this.scrollToEnd({ smooth: true }));
  }

  clear() {
    this.list.replaceChildren();
    this.autoScroll = true;
    this.jumpButton.hidden = true;
  }

  get isEmpty() {
    return this.list.children.length === 0;
  }

  setBusy(busy) {
    this.list.setAttribute('aria-busy', String(busy));
  }

  setTreeSupported(supported) {
    this.treeSupported = supported;
  }

  scrollToEnd({ smooth = false } = {}) {
    this.autoScroll = true;
    this.jumpButton.hidden = true;
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? 'smooth' : 'instant' });
  }

  showNotice(text) {
    this.list.append(el('li', { class: 'notice' }, text));
  }

  // A user message; `message` is the history object when there is one (sibling_ids...).
  addUserMessage({ content, clientMsgId = null, messageId = null, pending = false, message = null }) {
    const item = userMessage({ content, clientMsgId, messageId, pending });
    this.texts.set(item, content);
    this.list.append(item);
    this.#userToolbar(item, message?.sibling_ids ?? null);
    this.#scroll();
    return item;
  }

  markUserSent(clientMsgId, messageId = null) {
    const item = this.#userByClientId(clientMsgId);
    if (!item) return;
    item.querySelector('.message-state').textContent = '';
    if (messageId && !item.dataset.messageId) {
      item.dataset.messageId = messageId;
      this.#userToolbar(item, null);
    }
  }

  // Show why a chat was not accepted, with a retry button enabled after retry_after_ms.
  markUserFailed(clientMsgId, text, { retryAfterMs = 0, onRetry = null, onDiscard = null } = {}) {
    const item = this.#userByClientId(clientMsgId);
    if (!item) return;
    item.classList.add('failed');
    item.querySelector('.message-state').textContent = 'not sent';
    this.list.querySelector(`.message.assistant[data-client-msg-id="${CSS.escape(clientMsgId)}"]`)?.remove();
    const actions = el('div', { class: 'message-actions' }, el('p', { class: 'message-error', role: 'alert' }, text));
    if (onRetry) {
      const retry = el('button', { type: 'button', class: 'retry-button', disabled: retryAfterMs > 0 }, 'Retry');
      if (retryAfterMs > 0) setTimeout(() => { retry.disabled = false; }, retryAfterMs);
      retry.addEventListener('click', () => {
        item.classList.remove('failed');
        item.querySelector('.message-state').textContent = 'sending…';
        actions.remove();
        onRetry();
      });
      actions.append(retry);
    }
    if (onDiscard) {
      actions.append(el('button', { type: 'button', onclick: () => { item.remove(); onDiscard(); } }, 'Discard'));
    }
    item.append(actions);
  }

  // Placeholder for the reply to a turn that is not accepted yet.
  addPendingReply(clientMsgId) {
    const item = assistantMessage({ status: 'waiting' });
    item.dataset.clientMsgId = clientMsgId;
    this.list.append(item);
    this.#scroll();
    return item;
  }

  // A finished assistant message from history.
  addFinishedReply(message) {
    const item = assistantMessage({ status: message.status ?? 'complete', replyId: message.id });
    if (message.parent_id) item.dataset.parentId = message.parent_id;
    this.list.append(item);
    this.#finish(item, {
      text: message.content ?? '', status: message.status ?? 'complete', finishReason: message.finish_reason,
      error: message.error ?? null, usage: message.usage, timing: message.timing, params: message.params,
      createdAt: message.created_at, siblingIds: message.sibling_ids ?? null,
      reasoning: message.reasoning ?? '', toolCalls: (message.tool_calls ?? []).map(callFromServer),
    });
    return item;
  }

  // Find or create the element for a live reply and show its current state.
  showReply(reply, { placeholderText = null, message = null } = {}) {
    let item = this.#assistantById(reply.id);
    if (!item && reply.clientMsgId) {
      item = this.list.querySelector(`.message.assistant[data-client-msg-id="${CSS.escape(reply.clientMsgId)}"]`);
    }
    if (!item) {
      item = assistantMessage({ status: 'waiting', replyId: reply.id });
      this.list.append(item);
    }
    item.dataset.replyId = reply.id;
    item.dataset.messageId = reply.id;
    const parentId = reply.userMessageId ?? message?.parent_id;
    if (parentId) item.dataset.parentId = parentId;
    if (message?.sibling_ids) item.siblingIds = message.sibling_ids;
    this.markUserSent(reply.clientMsgId, reply.userMessageId);
    if (!reply.hasFrames && placeholderText) {
      // History text until the resumed stream delivers its first frame.
      renderMarkdownInto(item.querySelector('.message-body'), placeholderText);
      renderReasoning(item, message?.reasoning ?? '', { live: true });
      renderToolCalls(item, (message?.tool_calls ?? []).map(callFromServer));
    }
    this.updateReply(reply, item);
    return item;
  }

  updateReply(reply, item = this.#assistantById(reply.id)) {
    if (!item) return; // the reply belongs to a conversation that is not on screen
    item.dataset.lastSeq = String(reply.lastSeq);
    if (reply.done) {
      this.#finish(item, {
        text: reply.text, status: STATUS_FROM_FINISH[reply.finishReason] ?? 'complete',
        finishReason: reply.finishReason, error: reply.error, usage: reply.usage, timing: reply.timing,
        params: reply.params ?? null, siblingIds: item.siblingIds ?? null,
        reasoning: reply.reasoning, toolCalls: reply.toolCalls,
      });
    } else {
      if (reply.hasFrames) {
        this.scheduler.schedule(item.querySelector('.message-body'), reply.text);
        renderReasoning(item, reply.reasoning, { live: !reply.text && reply.toolCalls.length === 0 });
        renderToolCalls(item, reply.toolCalls, { awaiting: reply.awaitingTools });
      }
      item.dataset.status = reply.awaitingTools ? 'awaiting_tools' : reply.state;
      item.setAttribute('aria-busy', 'true');
      const label = reply.state === 'queued'
        ? `queued (position ${(reply.queuePosition ?? 0) + 1})`
        : reply.state === 'waiting' ? 'thinking…' : reply.awaitingTools ? 'waiting for tool results…' : 'writing…';
      item.querySelector('.message-state').textContent = label;
      renderToolbar(item, { role: 'assistant', done: false }, this.actions);
    }
    this.#scroll();
  }

  markReplyError(replyId, text) {
    const item = this.#assistantById(replyId);
    if (!item) return;
    item.querySelector('.message-error')?.remove();
    item.querySelector('.message-body').after(el('p', { class: 'message-error', role: 'alert' }, text));
  }

  // The text of the user message just before `item` (for a retry without the tree).
  userTextBefore(item) {
    let node = item.previousElementSibling;
    while (node && !node.classList.contains('user')) node = node.previousElementSibling;
    return node ? this.texts.get(node) ?? node.querySelector('.message-body').textContent : null;
  }

  #finish(item, {
    text, status, finishReason, error, usage, timing, params, createdAt, siblingIds, reasoning = '', toolCalls = [],
  }) {
    this.scheduler.now(item.querySelector('.message-body'), text);
    renderReasoning(item, reasoning);
    renderToolCalls(item, toolCalls);
    this.texts.set(item, text);
    item.dataset.status = status;
    item.setAttribute('aria-busy', 'false');
    item.querySelector('.message-state').textContent = finishLabel(status, finishReason);
    const failure = status === 'error' || status === 'interrupted' ? failureText({ finishReason: finishReason ?? status, error }) : null;
    renderFailure(item, failure, failure ? this.actions.onRetry : null);
    item.classList.toggle('failed', Boolean(failure));
    renderToolbar(item, {
      role: 'assistant', messageId: item.dataset.messageId, siblingIds, done: true, text: () => this.texts.get(item) ?? '',
      canRegenerate: this.treeSupported && Boolean(item.dataset.parentId),
    }, this.actions);
    renderDetails(item, { usage, timing, finishReason, params, createdAt, id: item.dataset.messageId });
  }

  #userToolbar(item, siblingIds) {
    renderToolbar(item, {
      role: 'user', messageId: item.dataset.messageId, siblingIds, done: true, text: () => this.texts.get(item) ?? '',
      canEdit: this.treeSupported && Boolean(item.dataset.messageId),
    }, this.actions);
  }

  #assistantById(replyId) {
    return this.list.querySelector(`.message.assistant[data-reply-id="${CSS.escape(replyId)}"]`);
  }

  #userByClientId(clientMsgId) {
    if (!clientMsgId) return null;
    return this.list.querySelector(`.message.user[data-client-msg-id="${CSS.escape(clientMsgId)}"]`);
  }

  #distanceFromBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight;
  }

  #scroll() {
    if (this.autoScroll) this.scroller.scrollTop = this.scroller.scrollHeight;
    else this.jumpButton.hidden = this.#distanceFromBottom() < AT_BOTTOM_PX;
  }
}
