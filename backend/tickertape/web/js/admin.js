// Entry point of the admin viewer (/admin): search every user's conversations, read a
// transcript (its URL is /admin#c=ID, so it can be shared and Back closes it), export.
// A signed-in user without the admin role gets a plain "Admins only" page: none of the
// admin controls are shown (they stay hidden until the role is known to be admin).

import { AccountControls } from './account.js';
import { AdminList } from './admin-list.js';
import { AdminTranscript } from './admin-transcript.js';
import { exportFromButton } from './admin-export.js';
import { ApiError } from './api.js';
import { currentUser, requireLogin, restoreSession, signOut } from './auth.js';
import { byId, hydrateIcons } from './dom.js';
import { ThemeToggle } from './theme.js';

function describeApiError(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return 'This page needs the admin role.';
    if (err.status === 404) return 'Not found.';
    return `${err.message || 'Request failed'} (HTTP ${err.status}).`;
  }
  return 'Cannot reach the server.';
}

const statusLine = byId('list-status');
const exportFormat = byId('export-format');
const conversationFormat = byId('export-conversation-format');
// One choice of format, shown in the list and in the transcript (a phone shows only one).
exportFormat.addEventListener('change', () => { conversationFormat.value = exportFormat.value; });
conversationFormat.addEventListener('change', () => { exportFormat.value = conversationFormat.value; });

function idFromHash() {
  const match = /^#c=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

const transcript = new AdminTranscript({
  panel: byId('transcript-panel'),
  heading: byId('transcript-heading'),
  live: byId('live-indicator'),
  meta: byId('transcript-meta'),
  messages: byId('admin-messages'),
  describeApiError,
  onClosed: (id) => {
    list.select(null);
    if (idFromHash()) history.pushState(null, '', `${location.pathname}${location.search}`);
    list.focusRow(id);
  },
});

const list = new AdminList({
  form: byId('filter-form'),
  fields: {
    q: byId('filter-q'), user: byId('filter-user'), since: byId('filter-since'),
    until: byId('filter-until'), limit: byId('filter-limit'), failed: byId('filter-failed'),
  },
  statusLine,
  rows: byId('conversation-rows'),
  nextPage: byId('next-page'),
  describeError: describeApiError,
  onOpen: (id) => openTranscript(id, { push: true }),
});

function openTranscript(id, { push = false } = {}) {
  const url = `#c=${encodeURIComponent(id)}`;
  if (push && location.hash !== url) history.pushState(null, '', url);
  list.select(id);
  transcript.open(id, { query: list.filters.q ?? '' });
}

// Back/forward, or a pasted URL: the fragment says which transcript is open.
window.addEventListener('popstate', () => {
  const id = idFromHash();
  if (id && id !== transcript.openId) openTranscript(id);
  else if (!id && transcript.openId) transcript.close();
});
byId('close-transcript').addEventListener('click', () => transcript.close());
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && transcript.openId && !document.querySelector('dialog[open]')) transcript.close();
});

const exportError = (err) => {
  statusLine.textContent = `Export failed: ${describeApiError(err)}`;
};
byId('export-button').addEventListener('click', (e) => {
  const { q, user, status, since, until } = list.filters;
  exportFromButton(e.currentTarget, { format: exportFormat.value, q, user, status, since, until }, exportError);
});
byId('export-conversation').addEventListener('click', (e) => {
  exportFromButton(e.currentTarget, { format: conversationFormat.value, conversationId: transcript.openId }, exportError);
});

// ---- access ----------------------------------------------------------------------------

function setAccess(access) {
  document.body.dataset.access = access;
  byId('admins-only').hidden = access !== 'denied';
  if (access === 'denied') {
    const name = currentUser()?.name;
    byId('admins-only-text').textContent = name
      ? `This page is for administrators, and ${name} is not one. Ask an administrator if you need access.`
      : 'This page is for administrators. Ask an administrator if you need access.';
  }
}

// The role from /api/auth/me when known; otherwise the first admin request decides (403).
async function loadAsAdmin() {
  const role = currentUser()?.role;
  if (role && role !== 'admin') {
    setAccess('denied');
    return;
  }
  const error = await list.search();
  if (error instanceof ApiError && error.status === 403) {
    setAccess('denied');
    return;
  }
  setAccess('admin');
  const id = idFromHash();
  if (id) openTranscript(id);
}

const account = new AccountControls({
  nameElement: byId('account-name'),
  button: byId('sign-out-button'),
  onSignOut: async () => {
    try {
      await signOut();
    } catch (err) {
      statusLine.textContent = err.message;
      return;
    }
    if (transcript.openId) transcript.close();
    list.clear();
    setAccess('checking');
    account.update();
    await requireLogin('You have signed out.');
    account.update();
    await loadAsAdmin();
  },
});

async function boot() {
  hydrateIcons();
  new ThemeToggle(byId('theme-toggle'));
  if ((await restoreSession()) === 'signed-out') await requireLogin('Sign in to continue.');
  account.update();
  await loadAsAdmin();
  account.update();
}

boot();
