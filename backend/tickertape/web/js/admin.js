// Entry point of the admin viewer (/admin): search every user's conversations, read a
// transcript with per-message status, usage and timing, and export everything as JSONL.
//
// Live transcripts are POLLED (GET every second while any message is "streaming"), not
// followed over the WebSocket: `resume` only works for the caller's own replies
// (another user's reply answers not_found), and an admin mostly reads other users'.

import { AccountControls } from './account.js';
import { ApiError, adminApi } from './api.js';
import { requireLogin, restoreSession, signOut } from './auth.js';
import { byId, el, formatDateTime, hydrateIcons } from './dom.js';
import { renderMarkdownInto } from './markdown.js';

const POLL_INTERVAL_MS = 1000;

const ui = {
  form: byId('filter-form'),
  q: byId('filter-q'),
  user: byId('filter-user'),
  since: byId('filter-since'),
  until: byId('filter-until'),
  limit: byId('filter-limit'),
  status: byId('list-status'),
  rows: byId('conversation-rows'),
  nextPage: byId('next-page'),
  exportButton: byId('export-button'),
  panel: byId('transcript-panel'),
  heading: byId('transcript-heading'),
  live: byId('live-indicator'),
  close: byId('close-transcript'),
  meta: byId('transcript-meta'),
  messages: byId('admin-messages'),
  accountName: byId('account-name'),
  signOut: byId('sign-out-button'),
};

let filters = {};
let nextCursor = null;
let shown = 0;
let openId = null;
let pollTimer = null;
let openGeneration = 0;
const messageElements = new Map(); // message id -> {item, signature}

function describeApiError(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return 'This page needs the admin role.';
    if (err.status === 404) return 'Not found.';
    return `${err.message || 'Request failed'} (HTTP ${err.status}).`;
  }
  return 'Cannot reach the server.';
}

function userLabel(user) {
  if (!user) return '';
  if (typeof user === 'string') return user;
  return user.name ?? user.id ?? '';
}

// ---- date filter ----------------------------------------------------------------------
// The dates are sent as `since`/`until` (ISO 8601, local midnight; `until` is exclusive,
// the day after the chosen date) AND applied here, so the filter works whether or not the
// server supports those parameters. A conversation matches when it was active on or after
// `since` (updated_at) and started before `until` (created_at).

function dayStart(value, addDays = 0) {
  if (!value) return null;
  const date = new Date(`${value}T00:00:00`);
  if (Number.isNaN(date.getTime())) return null;
  date.setDate(date.getDate() + addDays);
  return date;
}

function readFilters() {
  const since = dayStart(ui.since.value);
  const until = dayStart(ui.until.value, 1);
  return {
    q: ui.q.value.trim(),
    user: ui.user.value.trim(),
    limit: Number(ui.limit.value) || 50,
    since: since?.toISOString() ?? '',
    until: until?.toISOString() ?? '',
  };
}

function matchesDates(item) {
  const updated = new Date(item.updated_at ?? item.created_at).getTime();
  const created = new Date(item.created_at ?? item.updated_at).getTime();
  if (filters.since && updated < new Date(filters.since).getTime()) return false;
  if (filters.until && created >= new Date(filters.until).getTime()) return false;
  return true;
}

// ---- list ---------------------------------------------------------------------------

async function search({ append = false } = {}) {
  if (!append) {
    filters = readFilters();
    nextCursor = null;
    shown = 0;
  }
  ui.status.textContent = 'Searching…';
  try {
    const page = await adminApi.list({ ...filters, cursor: append ? nextCursor : undefined });
    const items = (page.items ?? []).filter(matchesDates);
    const rows = items.map(row);
    if (append) ui.rows.append(...rows);
    else ui.rows.replaceChildren(...rows);
    shown += items.length;
    nextCursor = page.next_cursor ?? null;
    ui.nextPage.hidden = !nextCursor;
    ui.status.textContent = shown === 0
      ? 'No conversations match.'
      : `${shown} conversation${shown === 1 ? '' : 's'}${nextCursor ? ' (more available)' : ''}.`;
  } catch (err) {
    ui.status.textContent = describeApiError(err);
  }
}

function row(item) {
  const open = el('button', { type: 'button', class: 'link-button', onclick: () => openTranscript(item.id) },
    item.title?.trim() || 'Untitled conversation');
  return el('tr', { dataset: { id: item.id } },
    el('td', { class: 'nowrap' }, formatDateTime(item.updated_at)),
    el('td', {}, userLabel(item.user)),
    el('td', {}, open),
    el('td', { class: 'num' }, String(item.message_count ?? '')),
  );
}

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  search();
});
ui.form.addEventListener('reset', () => {
  // After the browser has cleared the fields.
  setTimeout(() => search(), 0);
});
ui.nextPage.addEventListener('click', () => search({ append: true }));

// ---- transcript -----------------------------------------------------------------------

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
  ui.live.hidden = true;
}

function closeTranscript() {
  openGeneration += 1;
  stopPolling();
  const id = openId;
  openId = null;
  ui.panel.hidden = true;
  document.body.classList.remove('transcript-open');
  ui.rows.querySelector(`tr[data-id="${CSS.escape(id ?? '')}"] button`)?.focus();
}

async function openTranscript(id) {
  const generation = ++openGeneration;
  stopPolling();
  openId = id;
  messageElements.clear();
  ui.messages.replaceChildren();
  ui.meta.replaceChildren();
  ui.heading.textContent = 'Loading…';
  ui.panel.hidden = false;
  document.body.classList.add('transcript-open');
  for (const tr of ui.rows.children) tr.classList.toggle('selected', tr.dataset.id === id);
  await refreshTranscript(id, generation);
  ui.heading.focus();
}

async function refreshTranscript(id, generation) {
  let conversation;
  try {
    conversation = await adminApi.get(id);
  } catch (err) {
    if (generation !== openGeneration) return;
    ui.heading.textContent = 'Transcript';
    ui.meta.replaceChildren(el('dd', {}, describeApiError(err)));
    // A transient failure while following a live reply: keep trying.
    if (pollTimer !== null || ui.live.hidden === false) schedulePoll(id, generation);
    return;
  }
  if (generation !== openGeneration) return;
  renderTranscript(conversation);
  const live = (conversation.messages ?? []).some((m) => m.status === 'streaming');
  ui.live.hidden = !live;
  if (live) schedulePoll(id, generation);
  else stopPolling();
}

function schedulePoll(id, generation) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => refreshTranscript(id, generation), POLL_INTERVAL_MS);
}

function metaPair(term, value) {
  return [el('dt', {}, term), el('dd', {}, value)];
}

function renderTranscript(conversation) {
  ui.heading.textContent = conversation.title?.trim() || 'Untitled conversation';
  ui.meta.replaceChildren(
    ...metaPair('ID', conversation.id),
    ...metaPair('User', userLabel(conversation.user)),
    ...metaPair('Created', formatDateTime(conversation.created_at)),
    ...metaPair('Updated', formatDateTime(conversation.updated_at)),
  );
  // Keyed update: while polling, only messages that changed are re-rendered.
  const seen = new Set();
  let previous = null;
  for (const message of conversation.messages ?? []) {
    seen.add(message.id);
    const signature = JSON.stringify([message.content, message.status, message.finish_reason, message.usage, message.timing]);
    let entry = messageElements.get(message.id);
    if (!entry || entry.signature !== signature) {
      const item = messageItem(message);
      if (entry) entry.item.replaceWith(item);
      else if (previous) previous.after(item);
      else ui.messages.prepend(item);
      entry = { item, signature };
      messageElements.set(message.id, entry);
    }
    previous = entry.item;
  }
  for (const [id, entry] of messageElements) {
    if (!seen.has(id)) {
      entry.item.remove();
      messageElements.delete(id);
    }
  }
}

function formatMs(ms) {
  return typeof ms === 'number' ? `${ms} ms` : '—';
}

function messageItem(message) {
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
  return el(
    'li',
    { class: `admin-message role-${message.role}`, dataset: { messageId: message.id, status: message.status ?? '' } },
    el('div', { class: 'admin-message-head' },
      el('span', { class: 'role-badge' }, message.role),
      el('span', { class: `status-badge status-${message.status}` }, message.status ?? ''),
      el('time', { datetime: message.created_at ?? '' }, formatDateTime(message.created_at)),
    ),
    el('dl', { class: 'admin-message-details' },
      ...details.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, String(value))])),
    body,
  );
}

ui.close.addEventListener('click', closeTranscript);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && openId && !document.querySelector('dialog[open]')) closeTranscript();
});

// ---- export ---------------------------------------------------------------------------
// Fetched with the auth header (a plain link could not carry it), then saved from a blob.

ui.exportButton.addEventListener('click', async () => {
  ui.exportButton.disabled = true;
  const label = ui.exportButton.textContent;
  ui.exportButton.textContent = 'Exporting…';
  try {
    const blob = await adminApi.exportJsonl();
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const link = el('a', { href: url, download: `tickertape-export-${stamp}.jsonl`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    ui.status.textContent = `Export failed: ${describeApiError(err)}`;
  } finally {
    ui.exportButton.disabled = false;
    ui.exportButton.textContent = label;
  }
});

// ---- account and boot -------------------------------------------------------------------

const account = new AccountControls({
  nameElement: ui.accountName,
  button: ui.signOut,
  onSignOut: async () => {
    try {
      await signOut();
    } catch (err) {
      ui.status.textContent = err.message;
      return;
    }
    if (openId) closeTranscript();
    ui.rows.replaceChildren();
    ui.nextPage.hidden = true;
    ui.status.textContent = '';
    account.update();
    await requireLogin('You have signed out.');
    search();
  },
});

async function boot() {
  hydrateIcons();
  if ((await restoreSession()) === 'signed-out') await requireLogin('Sign in to continue.');
  account.update();
  await search();
  account.update();
}

boot();
