// Entry point of the chat page (/): builds the pieces and wires them together.
//   connection.js  the socket;            session.js       turns and replies across reconnects
//   conversations.js  the sidebar;         conversation-view.js  the open conversation
//   transcript.js  its messages;           composer.js      the message box
//   chat-events.js what session events and notices do, and the message actions

import { AccountControls } from './account.js';
import { ApiError } from './api.js';
import {
  forgetCredentials, requireLogin, restoreSession, signOut, wsAuthFrame,
} from './auth.js';
import { messageActions, wireSessionEvents } from './chat-events.js';
import { Composer } from './composer.js';
import { Connection } from './connection.js';
import { ConversationList } from './conversations.js';
import { ConversationView } from './conversation-view.js';
import { byId, el, hydrateIcons, icon } from './dom.js';
import { Drawer } from './drawer.js';
import { describeError, frameBytes, frames } from './protocol.js';
import { ChatSession } from './session.js';
import { SettingsPanel } from './settings.js';
import { StatusIndicator } from './status.js';
import { ThemeToggle } from './theme.js';
import { TranscriptView } from './transcript.js';
import { WelcomeScreen } from './welcome.js';

hydrateIcons();

const errors = byId('errors');

function showError(text) {
  const item = el('div', { class: 'error-item' },
    el('span', {}, text),
    el('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss error', onclick: () => item.remove() }, icon('close')));
  errors.append(item);
  while (errors.children.length > 3) errors.firstElementChild.remove();
}

function showApiError(err) {
  if (err instanceof ApiError) showError(describeError({ code: err.code, message: err.message }));
  else showError('Cannot reach the server. Check your connection.');
}

const connection = new Connection({ getAuthFrame: wsAuthFrame });
const session = new ChatSession(connection);
const status = new StatusIndicator(byId('connection-status'));
new ThemeToggle(byId('theme-toggle'));
const settings = new SettingsPanel({
  panel: byId('settings-panel'),
  toggle: byId('settings-toggle'),
  temperatureInput: byId('setting-temperature'),
  maxTokensInput: byId('setting-max-tokens'),
  thinkingInput: byId('setting-thinking'),
  resetButton: byId('settings-reset'),
  errorOutput: byId('settings-error'),
});

const actions = {}; // filled below: the transcript's buttons need the view and the session
const transcript = new TranscriptView({
  listElement: byId('transcript'),
  scroller: byId('transcript-scroll'),
  jumpButton: byId('jump-to-latest'),
  actions,
});

let view; // assigned below; the list's callbacks only run after that
const list = new ConversationList({
  container: byId('conversation-groups'),
  loadMoreButton: byId('load-more-conversations'),
  emptyElement: byId('conversation-list-empty'),
  filterInput: byId('conversation-filter'),
  filterEmptyElement: byId('conversation-filter-empty'),
  undoBar: byId('undo-bar'),
  isRunning: (id) => Boolean(session.activeReplyFor(id)),
  onSelect: (id, { renamedOnly = false } = {}) => {
    if (renamedOnly) view.refreshTitle();
    else view.open(id);
  },
  onDeleted: (id) => {
    if (id === view.currentId) view.openNew();
  },
  onError: showApiError,
});

const drawer = new Drawer({
  toggle: byId('drawer-toggle'),
  panel: byId('sidebar'),
  backdrop: byId('drawer-backdrop'),
  onOpen: () => list.focusActiveOrFirst(),
});

const busyInCurrent = () => Boolean(session.activeReplyFor(view.currentId)) || session.pendingFor(view.currentId).length > 0;

function send(content) {
  const limits = session.limits;
  if (limits?.max_content_chars && content.length > limits.max_content_chars) {
    showError(`Your message is ${content.length} characters; the limit is ${limits.max_content_chars}.`);
    return false;
  }
  const params = settings.params();
  const probe = frames.chat({ clientMsgId: 'x'.repeat(64), content, conversationId: view.currentId, params });
  if (limits?.max_frame_bytes && frameBytes(probe) > limits.max_frame_bytes) {
    showError('Your message is too large to send.');
    return false;
  }
  const chat = session.sendChat({ content, conversationId: view.currentId, params });
  welcome.setVisible(false);
  transcript.addUserMessage({ content, clientMsgId: chat.clientMsgId, pending: true });
  transcript.addPendingReply(chat.clientMsgId);
  transcript.scrollToEnd();
  return true;
}

const composer = new Composer({
  form: byId('composer'),
  input: byId('composer-input'),
  send: byId('send-button'),
  stop: byId('stop-button'),
  charCount: byId('char-count'),
  onSend: send,
  onStop: () => {
    const reply = session.activeReplyFor(view.currentId);
    if (reply) session.stop(reply);
    else session.pendingFor(view.currentId).forEach((turn) => session.stop(turn));
  },
  isBusy: busyInCurrent,
  limits: () => session.limits,
});

const welcome = new WelcomeScreen({
  section: byId('welcome'),
  list: byId('example-prompts'),
  hint: byId('welcome-hint'),
  onPick: (text) => {
    composer.fill(text, { replace: true });
    composer.submit();
  },
});

view = new ConversationView({
  session, transcript, list, welcome, showError, showApiError,
  titleElement: byId('conversation-title'),
  onOpened: () => {
    drawer.close({ restoreFocus: false });
    composer.update();
    list.updateRunning();
  },
});

const { refreshComposer } = wireSessionEvents({ session, view, list, transcript, composer, settings, welcome, status, showError });
Object.assign(actions, messageActions({ session, view, transcript, settings, showError, showApiError, refresh: refreshComposer }));

byId('new-conversation').addEventListener('click', () => {
  view.openNew();
  composer.focus();
});
window.addEventListener('hashchange', () => {
  const id = view.idFromUrl;
  if (id && id !== view.currentId) view.open(id);
});
connection.addEventListener('state', (e) => status.setConnection(e.detail));
session.addEventListener('hello', (e) => {
  byId('model-name').textContent = e.detail.frame.model ? `model: ${e.detail.frame.model}` : '';
});
connection.addEventListener('auth-required', async () => {
  forgetCredentials();
  account.update();
  await requireLogin('Sign in to connect to the chat server.');
  account.update();
  connection.start();
  list.refresh();
});

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
  view.openNew();
  account.update();
  await requireLogin('You have signed out.');
  account.update();
  connection.start();
  await list.refresh();
  composer.focus();
}

const account = new AccountControls({ nameElement: byId('account-name'), button: byId('sign-out-button'), onSignOut: signOutAndAskAgain });

async function boot() {
  // Who am I? A session cookie (and its CSRF token), a stored token, or auth "none". When
  // signed out, the panel shows before the socket opens instead of after the server's
  // first-frame timeout; if /api/auth/me is unavailable, the list's 401 does the same.
  if ((await restoreSession()) === 'signed-out') await requireLogin('Sign in to continue.');
  account.update();
  await list.refresh(); // the one list request of a page load (the first hello skips it)
  account.update();
  connection.start();
  const id = view.idFromUrl;
  if (id) view.open(id);
  else {
    view.openNew();
    composer.focus();
  }
}

boot();
