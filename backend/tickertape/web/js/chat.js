// Entry point of the chat page (/). Wires the connection, the session (replies and
// pending chats), the conversation list, the transcript and the composer together.

import { AccountControls } from './account.js';
import { ApiError, conversationsApi } from './api.js';
import {
  forgetCredentials, requireLogin, restoreSession, signOut, wsAuthFrame,
} from './auth.js';
import { Connection } from './connection.js';
import { ConversationList, displayTitle } from './conversations.js';
import { byId, el, hydrateIcons, icon } from './dom.js';
import { Drawer } from './drawer.js';
import { describeError, frameBytes, frames, isRetryable } from './protocol.js';
import { ChatSession } from './session.js';
import { SettingsPanel } from './settings.js';
import { StatusIndicator } from './status.js';
import { TranscriptView } from './transcript.js';

const ui = {
  status: byId('connection-status'),
  model: byId('model-name'),
  errors: byId('errors'),
  title: byId('conversation-title'),
  transcript: byId('transcript'),
  composer: byId('composer'),
  input: byId('composer-input'),
  send: byId('send-button'),
  stop: byId('stop-button'),
  charCount: byId('char-count'),
  newConversation: byId('new-conversation'),
  accountName: byId('account-name'),
  signOut: byId('sign-out-button'),
};

hydrateIcons();

const connection = new Connection({ getAuthFrame: wsAuthFrame });
const session = new ChatSession(connection);
const status = new StatusIndicator(ui.status);
const transcript = new TranscriptView(ui.transcript);
const settings = new SettingsPanel({
  panel: byId('settings-panel'),
  toggle: byId('settings-toggle'),
  temperatureInput: byId('setting-temperature'),
  maxTokensInput: byId('setting-max-tokens'),
  resetButton: byId('settings-reset'),
  errorOutput: byId('settings-error'),
});

let currentId = null; // null: the "new conversation" view
let loadGeneration = 0; // discards history responses for a conversation no longer shown

// ---- errors -------------------------------------------------------------------------

function showError(text) {
  const item = el(
    'div', { class: 'error-item' },
    el('span', {}, text),
    el('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss error', onclick: () => item.remove() }, icon('close')),
  );
  ui.errors.append(item);
  while (ui.errors.children.length > 3) ui.errors.firstElementChild.remove();
}

function showApiError(err) {
  if (err instanceof ApiError) showError(describeError({ code: err.code, message: err.message }));
  else showError('Cannot reach the server. Check your connection.');
}

// ---- conversation list and navigation -----------------------------------------------

const list = new ConversationList({
  listElement: byId('conversation-list'),
  loadMoreButton: byId('load-more-conversations'),
  emptyElement: byId('conversation-list-empty'),
  onSelect: (id, { renamedOnly = false } = {}) => {
    if (renamedOnly) ui.title.textContent = displayTitle(list.get(id));
    else openConversation(id);
  },
  onDeleted: (id) => {
    if (id === currentId) openNew();
  },
  onError: showApiError,
});

const drawer = new Drawer({
  toggle: byId('drawer-toggle'),
  panel: byId('sidebar'),
  backdrop: byId('drawer-backdrop'),
  onOpen: () => list.focusActiveOrFirst(),
});

// The open conversation lives in the URL fragment (#c=ID) so a reload returns to it and
// resumes its reply. Only ids go there, never credentials.
function idFromHash() {
  const match = /^#c=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function setHash(id) {
  const url = id ? `#c=${encodeURIComponent(id)}` : `${location.pathname}${location.search}`;
  if (url !== location.hash) history.replaceState(null, '', url);
}

function renderPendingChats(conversationId) {
  for (const chat of session.pendingFor(conversationId)) {
    transcript.addUserMessage({ content: chat.content, clientMsgId: chat.clientMsgId, pending: true });
    transcript.addPendingReply(chat.clientMsgId);
  }
}

function openNew() {
  loadGeneration += 1;
  currentId = null;
  setHash(null);
  list.setActive(null);
  ui.title.textContent = 'New conversation';
  transcript.clear();
  renderPendingChats(null);
  drawer.close({ restoreFocus: false });
  updateComposer();
  ui.input.focus();
}

async function openConversation(id) {
  const generation = ++loadGeneration;
  currentId = id;
  setHash(id);
  list.setActive(id);
  drawer.close({ restoreFocus: false });
  ui.title.textContent = list.get(id) ? displayTitle(list.get(id)) : 'Loading…';
  transcript.clear();
  transcript.setBusy(true);
  updateComposer();
  let conversation;
  try {
    conversation = await conversationsApi.get(id);
  } catch (err) {
    if (generation !== loadGeneration) return;
    transcript.setBusy(false);
    if (err instanceof ApiError && err.status === 404) {
      showError('That conversation does not exist any more.');
      openNew();
    } else {
      showApiError(err);
      transcript.showNotice('Could not load this conversation.');
    }
    return;
  }
  if (generation !== loadGeneration) return;
  ui.title.textContent = displayTitle(conversation);
  for (const message of conversation.messages ?? []) {
    if (message.role === 'user') {
      transcript.addUserMessage({ content: message.content, messageId: message.id });
    } else if (message.role === 'assistant') {
      const tracked = session.replies.get(message.id);
      if (tracked && !tracked.done) {
        transcript.showReply(tracked, { placeholderText: message.content });
      } else if (message.status === 'streaming') {
        // Started elsewhere or before a reload: attach to it; the server sends the text.
        transcript.showReply(session.follow(message.id, id), { placeholderText: message.content });
      } else {
        transcript.addFinishedReply(message);
      }
    }
  }
  renderPendingChats(id);
  transcript.setBusy(false);
  updateComposer();
}

// ---- composer -----------------------------------------------------------------------

function busyInCurrent() {
  return Boolean(session.activeReplyFor(currentId)) || session.pendingFor(currentId).length > 0;
}

function updateComposer() {
  const busy = busyInCurrent();
  // One reply in flight per conversation (the server answers `conflict` otherwise).
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  if (!busy) ui.stop.disabled = false;
  const max = session.limits?.max_content_chars;
  const length = ui.input.value.length;
  ui.charCount.textContent = max && length > max * 0.8 ? `${length} / ${max}` : '';
  ui.charCount.classList.toggle('over', Boolean(max && length > max));
  const reply = session.activeReplyFor(currentId);
  status.setQueued(reply?.state === 'queued' ? reply.queuePosition ?? 0 : null);
}

function send() {
  const content = ui.input.value;
  if (!content.trim() || busyInCurrent()) return;
  const limits = session.limits;
  if (limits?.max_content_chars && content.length > limits.max_content_chars) {
    showError(`Your message is ${content.length} characters; the limit is ${limits.max_content_chars}.`);
    return;
  }
  const params = settings.params();
  const probe = frames.chat({ clientMsgId: 'x'.repeat(64), content, conversationId: currentId, params });
  if (limits?.max_frame_bytes && frameBytes(probe) > limits.max_frame_bytes) {
    showError('Your message is too large to send.');
    return;
  }
  const chat = session.sendChat({ content, conversationId: currentId, params });
  transcript.addUserMessage({ content, clientMsgId: chat.clientMsgId, pending: true });
  transcript.addPendingReply(chat.clientMsgId);
  ui.input.value = '';
  updateComposer();
}

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});

ui.input.addEventListener('keydown', (e) => {
  // Enter sends, Shift+Enter is a newline; never send mid-IME-composition.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    send();
  }
});
ui.input.addEventListener('input', updateComposer);

ui.stop.addEventListener('click', () => {
  const reply = session.activeReplyFor(currentId);
  if (reply) session.stop(reply);
  else session.pendingFor(currentId).forEach((chat) => session.stop(chat));
  ui.stop.disabled = true;
});

ui.newConversation.addEventListener('click', openNew);
window.addEventListener('hashchange', () => {
  const id = idFromHash();
  if (id && id !== currentId) openConversation(id);
});

// ---- session events -----------------------------------------------------------------

connection.addEventListener('state', (e) => {
  status.setConnection(e.detail);
});

connection.addEventListener('auth-required', async () => {
  forgetCredentials();
  account.update();
  await requireLogin('Sign in to connect to the chat server.');
  account.update();
  connection.start();
  list.refresh();
});

session.addEventListener('hello', (e) => {
  const { frame } = e.detail;
  settings.setLimits(frame.limits);
  ui.model.textContent = frame.model ? `model: ${frame.model}` : '';
  list.refresh(); // catches up after an outage
  updateComposer();
});

session.addEventListener('accepted', async (e) => {
  const { chat, reply } = e.detail;
  const adoptNew = chat && !chat.conversationId && currentId === null;
  if (adoptNew) {
    // The first message of a new conversation: the server has just created it.
    currentId = reply.conversationId;
    setHash(currentId);
  }
  if (reply.conversationId === currentId) transcript.showReply(reply);
  updateComposer();
  if (adoptNew) {
    await list.refresh();
    if (currentId === reply.conversationId) {
      list.setActive(currentId);
      ui.title.textContent = displayTitle(list.get(currentId));
    }
  }
});

session.addEventListener('reply', (e) => {
  const { reply } = e.detail;
  if (reply.conversationId === currentId) transcript.showReply(reply);
  updateComposer();
});

session.addEventListener('reply-end', async (e) => {
  const { reply } = e.detail;
  const stopHadFocus = document.activeElement === ui.stop;
  if (reply.conversationId === currentId) {
    transcript.showReply(reply);
    if (reply.incomplete) openConversation(currentId); // the stored text is authoritative
  }
  updateComposer();
  if (stopHadFocus) ui.input.focus();
  await list.refresh();
  if (currentId) {
    list.setActive(currentId);
    if (list.get(currentId)) ui.title.textContent = displayTitle(list.get(currentId));
  }
});

session.addEventListener('chat-error', (e) => {
  const { chat, error } = e.detail;
  const text = describeError(error);
  if ((chat.conversationId ?? null) === currentId) {
    transcript.markUserFailed(chat.clientMsgId, text, {
      retryAfterMs: error.retry_after_ms ?? 0,
      onRetry: isRetryable(error.code) || error.code === 'conflict'
        ? () => {
          session.retryChat(chat);
          transcript.addPendingReply(chat.clientMsgId);
          updateComposer();
        }
        : null,
      onDiscard: () => {
        if (!ui.input.value) ui.input.value = chat.content; // give the text back
        updateComposer();
      },
    });
  } else {
    showError(text);
  }
  updateComposer();
});

session.addEventListener('reply-error', (e) => {
  const { reply, error } = e.detail;
  if (error.code === 'not_found' && reply.conversationId === currentId) {
    transcript.markReplyError(reply.id, 'This reply can no longer be followed live.');
    transcript.updateReply(reply);
  } else if (reply.conversationId === currentId) {
    transcript.markReplyError(reply.id, describeError(error));
  }
  updateComposer();
});

session.addEventListener('error', (e) => showError(describeError(e.detail.error)));
session.addEventListener('pending', updateComposer);

// ---- account ------------------------------------------------------------------------

// Sign-out forgets this tab's state too: another user may sign in next.
async function signOutAndAskAgain() {
  connection.stop();
  try {
    await signOut();
  } catch (err) {
    showError(err.message);
    connection.start();
    return;
  }
  session.reset();
  list.clear();
  openNew();
  account.update();
  await requireLogin('You have signed out.');
  account.update();
  connection.start();
  await list.refresh();
  ui.input.focus();
}

const account = new AccountControls({
  nameElement: ui.accountName,
  button: ui.signOut,
  onSignOut: signOutAndAskAgain,
});

// ---- boot ---------------------------------------------------------------------------

async function boot() {
  // Who am I? A session cookie (and its CSRF token), a stored token, or auth "none". When
  // signed out, the panel shows before the socket opens instead of after the server's
  // first-frame timeout; if /api/auth/me is unavailable, the list's 401 does the same.
  if ((await restoreSession()) === 'signed-out') await requireLogin('Sign in to continue.');
  account.update();
  await list.refresh();
  account.update();
  connection.start();
  const id = idFromHash();
  if (id) openConversation(id);
  else openNew();
}

boot();
