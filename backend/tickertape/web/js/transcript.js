// The message list of the open conversation. User text is only ever set with textContent;
// assistant text goes through markdown.js (sanitised). Streaming replies re-render at most
// once per animation frame.
//
// Every assistant element carries data-reply-id, data-status ("waiting", "queued",
// "streaming", or the final status) and data-last-seq, which the UI styles and the
// browser tests wait on.

import { el } from './dom.js';
import { createRenderScheduler, renderMarkdownInto } from './markdown.js';
import { FINISH_LABELS } from './protocol.js';

const STATUS_FROM_FINISH = { stop: 'complete', length: 'complete', stopped: 'stopped', error: 'error', interrupted: 'interrupted' };

function formatUsage(usage, timing) {
  const parts = [];
  if (usage) parts.push(`${usage.prompt_tokens ?? '?'} → ${usage.completion_tokens ?? '?'} tokens`);
  if (timing?.total_ms !== undefined) parts.push(`${(timing.total_ms / 1000).toFixed(1)} s`);
  return parts.join(' · ');
}

export class TranscriptView {
  constructor(listElement) {
    this.list = listElement;
    this.scheduler = createRenderScheduler();
    this.autoScroll = true;
    // Follow the stream only while the reader is at the bottom; don't yank them back up.
    this.list.addEventListener('scroll', () => {
      const { scrollTop, scrollHeight, clientHeight } = this.list;
      this.autoScroll = scrollHeight - scrollTop - clientHeight < 40;
    });
  }

  clear() {
    this.list.replaceChildren();
    this.autoScroll = true;
  }

  setBusy(busy) {
    this.list.setAttribute('aria-busy', String(busy));
  }

  showNotice(text) {
    this.list.append(el('li', { class: 'notice' }, text));
  }

  addUserMessage({ content, clientMsgId = null, messageId = null, pending = false }) {
    const body = el('div', { class: 'message-body user-text' });
    body.textContent = content; // never HTML
    const item = el(
      'li',
      { class: 'message user', dataset: { role: 'user', ...(clientMsgId ? { clientMsgId } : {}), ...(messageId ? { messageId } : {}) } },
      el('div', { class: 'message-meta' }, el('span', { class: 'message-role' }, 'You'), el('span', { class: 'message-state' }, pending ? 'sending…' : '')),
      body,
    );
    this.list.append(item);
    this.#scroll();
    return item;
  }

  markUserSent(clientMsgId) {
    const item = this.#userByClientId(clientMsgId);
    if (item) item.querySelector('.message-state').textContent = '';
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

  // Placeholder for the reply to a chat that is not accepted yet.
  addPendingReply(clientMsgId) {
    const item = this.#assistantShell({ status: 'waiting' });
    item.dataset.clientMsgId = clientMsgId;
    this.list.append(item);
    this.#scroll();
    return item;
  }

  // A finished assistant message from history.
  addFinishedReply(message) {
    const item = this.#assistantShell({ status: message.status ?? 'complete', replyId: message.id });
    renderMarkdownInto(item.querySelector('.message-body'), message.content ?? '');
    this.#setMeta(item, message.status, message.finish_reason, formatUsage(message.usage, message.timing));
    this.list.append(item);
    return item;
  }

  // Find or create the element for a live reply and show its current state.
  showReply(reply, { placeholderText = null } = {}) {
    let item = this.list.querySelector(`.message.assistant[data-reply-id="${CSS.escape(reply.id)}"]`);
    if (!item && reply.clientMsgId) {
      item = this.list.querySelector(`.message.assistant[data-client-msg-id="${CSS.escape(reply.clientMsgId)}"]`);
    }
    if (!item) {
      item = this.#assistantShell({ status: 'waiting', replyId: reply.id });
      this.list.append(item);
    }
    item.dataset.replyId = reply.id;
    this.markUserSent(reply.clientMsgId);
    const body = item.querySelector('.message-body');
    if (!reply.hasFrames && placeholderText) {
      // History text until the resumed stream delivers its first frame.
      renderMarkdownInto(body, placeholderText);
    }
    this.updateReply(reply, item);
    return item;
  }

  updateReply(reply, item = this.#assistantById(reply.id)) {
    if (!item) return; // the reply belongs to a conversation that is not on screen
    const body = item.querySelector('.message-body');
    item.dataset.lastSeq = String(reply.lastSeq);
    if (reply.done) {
      this.scheduler.now(body, reply.text);
      const status = STATUS_FROM_FINISH[reply.finishReason] ?? 'complete';
      this.#setMeta(item, status, reply.finishReason, formatUsage(reply.usage, reply.timing));
      item.setAttribute('aria-busy', 'false');
    } else {
      if (reply.hasFrames) this.scheduler.schedule(body, reply.text);
      item.dataset.status = reply.state;
      item.setAttribute('aria-busy', 'true');
      const label = reply.state === 'queued'
        ? `queued (position ${(reply.queuePosition ?? 0) + 1})`
        : reply.state === 'waiting' ? 'thinking…' : 'writing…';
      item.querySelector('.message-state').textContent = label;
    }
    this.#scroll();
  }

  markReplyError(replyId, text) {
    const item = this.#assistantById(replyId);
    if (!item) return;
    item.querySelector('.message-error')?.remove();
    item.append(el('p', { class: 'message-error', role: 'alert' }, text));
  }

  #assistantShell({ status, replyId = null }) {
    const item = el(
      'li',
      { class: 'message assistant', dataset: { role: 'assistant', status, ...(replyId ? { replyId } : {}) }, 'aria-busy': status === 'streaming' || status === 'waiting' ? 'true' : 'false' },
      el('div', { class: 'message-meta' }, el('span', { class: 'message-role' }, 'Assistant'), el('span', { class: 'message-state' }, status === 'waiting' ? 'thinking…' : '')),
      el('div', { class: 'message-body markdown' }),
    );
    return item;
  }

  #setMeta(item, status, finishReason, usageText) {
    item.dataset.status = status ?? 'complete';
    const label = status === 'streaming' ? 'writing…' : status === 'complete' && finishReason !== 'length' ? '' : FINISH_LABELS[finishReason] ?? status;
    const state = item.querySelector('.message-state');
    state.textContent = [label, usageText].filter(Boolean).join(' · ');
  }

  #assistantById(replyId) {
    return this.list.querySelector(`.message.assistant[data-reply-id="${CSS.escape(replyId)}"]`);
  }

  #userByClientId(clientMsgId) {
    if (!clientMsgId) return null;
    return this.list.querySelector(`.message.user[data-client-msg-id="${CSS.escape(clientMsgId)}"]`);
  }

  #scroll() {
    if (this.autoScroll) this.list.scrollTop = this.list.scrollHeight;
  }
}
