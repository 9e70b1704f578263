// The admin viewer's transcript panel: every message with its status, finish reason,
// the reason of a failure, sampling settings, usage and timing, a reply's thinking
// (collapsed) and its tool calls with their results; the search words marked. Every
// branch is shown (the API's `tree`, in creation order): messages off the branch the
// user sees now are marked "other branch", so a failed reply that was regenerated, or a
// question that was edited, is still there for the admin.
//
// Live transcripts are POLLED (GET every second while any message is "streaming"), not
// followed over the WebSocket: `resume` only works for the caller's own replies
// (another user's reply answers not_found), and an admin mostly reads other users'.

import { adminApi } from './api.js';
import { userLabel } from './admin-list.js';
import { el, formatDateTime } from './dom.js';
import { renderMarkdownInto } from './markdown.js';
import { renderReasoning, renderToolCalls } from './message-view.js';
import { callFromServer, describeError } from './protocol.js';

const POLL_INTERVAL_MS = 1000;

// Wrap every case-insensitive occurrence of `query` in the text of `root` in <mark>.
// Works on text nodes only, so markup (and the sanitiser's work) is left alone.
export function markMatches(root, query) {
  const needle = query?.trim().toLowerCase();
  if (!needle) return 0;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  let count = 0;
  for (const node of nodes) {
    const text = node.nodeValue;
    const lower = text.toLowerCase();
    let at = lower.indexOf(needle);
    if (at < 0) continue;
    const parts = [];
    let from = 0;
    while (at >= 0) {
      parts.push(text.slice(from, at), el('mark', {}, text.slice(at, at + needle.length)));
      from = at + needle.length;
      count += 1;
      at = lower.indexOf(needle, from);
    }
    parts.push(text.slice(from));
    node.replaceWith(...parts.filter((p) => p !== ''));
  }
  return count;
}

function formatMs(ms) {
  return typeof ms === 'number' ? `${ms} ms` : '—';
}

function messageItem(message, query, otherBranch) {
  const details = [
    ['status', message.status ?? '—'],
    ['finish', message.finish_reason ?? '—'],
    ['prompt tokens', message.usage?.prompt_tokens ?? '—'],
    ['completion tokens', message.usage?.completion_tokens ?? '—'],
    ['queued', formatMs(message.timing?.queued_ms)],
    ['first token', formatMs(message.timing?.ttft_ms)],
    ['total', formatMs(message.timing?.total_ms)],
  ];
  const body = el('div', { class: `message-body ${message.role === 'assistant' ? 'markdown' : 'user-text'}` });
  if (message.role === 'assistant') renderMarkdownInto(body, message.content ?? '');
  else body.textContent = message.content ?? ''; // user and system text: never HTML
  markMatches(body, query);
  // A holder for message-view's renderers, which put their parts before the body.
  const parts = el('div', { class: 'admin-reply-parts' }, body);
  if (message.role === 'assistant') {
    renderReasoning(parts, message.reasoning ?? '');
    renderToolCalls(parts, (message.tool_calls ?? []).map(callFromServer));
  }
  // Unset sampling fields (null, []) mean "the server's default": not worth a column.
  const params = Object.entries(message.params ?? {})
    .filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0));
  return el(
    'li',
    {
      class: `admin-message role-${message.role}${otherBranch ? ' other-branch' : ''}`,
      dataset: { messageId: message.id, status: message.status ?? '' },
    },
    el('div', { class: 'admin-message-head' },
      el('span', { class: 'role-badge' }, message.role),
      el('span', { class: `status-badge status-${message.status}` }, message.status ?? ''),
      otherBranch ? el('span', { class: 'branch-badge' }, 'other branch') : null,
      el('time', { datetime: message.created_at ?? '' }, formatDateTime(message.created_at))),
    message.error
      ? el('p', { class: 'message-failure' }, `${message.error.code}: ${message.error.message || describeError(message.error)}`)
      : null,
    el('dl', { class: 'admin-message-details' },
      ...details.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, String(value))])),
    params.length
      ? el('p', { class: 'admin-params' }, `sampling: ${params.map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')}`)
      : null,
    parts,
  );
}

export class AdminTranscript {
  constructor({ panel, heading, live, meta, messages, describeApiError, onClosed }) {
    Object.assign(this, { panel, heading, live, meta, messages, describeApiError, onClosed });
    this.openId = null;
    this.generation = 0;
    this.pollTimer = null;
    this.query = '';
    this.elements = new Map(); // message id -> {item, signature}
  }

  async open(id, { query = '' } = {}) {
    const generation = ++this.generation;
    this.#stopPolling();
    this.openId = id;
    this.query = query;
    this.elements.clear();
    this.messages.replaceChildren();
    this.meta.replaceChildren();
    this.heading.textContent = 'Loading…';
    this.panel.hidden = false;
    document.body.classList.add('transcript-open');
    await this.#refresh(id, generation);
    this.heading.focus();
  }

  close() {
    this.generation += 1;
    this.#stopPolling();
    const id = this.openId;
    this.openId = null;
    this.panel.hidden = true;
    document.body.classList.remove('transcript-open');
    this.onClosed(id);
  }

  #stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.live.hidden = true;
  }

  async #refresh(id, generation) {
    let conversation;
    try {
      conversation = await adminApi.get(id);
    } catch (err) {
      if (generation !== this.generation) return;
      this.heading.textContent = 'Transcript';
      this.meta.replaceChildren(el('dd', {}, this.describeApiError(err)));
      // A transient failure while following a live reply: keep trying.
      if (this.pollTimer !== null || this.live.hidden === false) this.#schedule(id, generation);
      return;
    }
    if (generation !== this.generation) return;
    this.#render(conversation);
    const live = (conversation.tree ?? conversation.messages ?? []).some((m) => m.status === 'streaming');
    this.live.hidden = !live;
    if (live) this.#schedule(id, generation);
    else this.#stopPolling();
  }

  #schedule(id, generation) {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.#refresh(id, generation), POLL_INTERVAL_MS);
  }

  #render(conversation) {
    this.heading.textContent = conversation.title?.trim() || 'Untitled conversation';
    const pair = (term, value) => [el('dt', {}, term), el('dd', {}, value)];
    this.meta.replaceChildren(
      ...pair('ID', conversation.id),
      ...pair('User', userLabel(conversation.user)),
      ...pair('Created', formatDateTime(conversation.created_at)),
      ...pair('Updated', formatDateTime(conversation.updated_at)),
    );
    // Keyed update: while polling, only messages that changed are re-rendered.
    const seen = new Set();
    let previous = null;
    const onPath = new Set((conversation.messages ?? []).map((m) => m.id));
    for (const message of conversation.tree ?? conversation.messages ?? []) {
      seen.add(message.id);
      const otherBranch = !onPath.has(message.id);
      const signature = JSON.stringify([
        message.content, message.status, message.finish_reason, message.usage, message.timing, message.error, message.params,
        message.reasoning, message.tool_calls, otherBranch,
      ]);
      let entry = this.elements.get(message.id);
      if (!entry || entry.signature !== signature) {
        const item = messageItem(message, this.query, otherBranch);
        if (entry) entry.item.replaceWith(item);
        else if (previous) previous.after(item);
        else this.messages.prepend(item);
        entry = { item, signature };
        this.elements.set(message.id, entry);
      }
      previous = entry.item;
    }
    for (const [id, entry] of this.elements) {
      if (!seen.has(id)) {
        entry.item.remove();
        this.elements.delete(id);
      }
    }
  }
}
