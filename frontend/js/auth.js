// Credentials for the HTTP API and the WebSocket, and the sign-in panel.
//
// THE SEAM: everything else asks this module for credentials and never stores them itself:
//   authHeaders(method)  headers for fetch (Bearer token, X-CSRF-Token on unsafe methods)
//   wsAuthFrame()        first frame for /ws, or null when a cookie (or auth "none") does it
//   requireLogin(why)    shows the panel; resolves once the user is signed in
//   signOut()
// Today the panel takes an access token (kept in sessionStorage, per tab, never in a URL).
// A username/password login slots in by setting PASSWORD_LOGIN_ENABLED: the server's
// POST /api/auth/login sets an HttpOnly session cookie and returns {csrf_token}; we keep
// only the CSRF token, the cookie carries the session for both fetch and /ws.

import { el } from './dom.js';

export const PASSWORD_LOGIN_ENABLED = false;

const TOKEN_KEY = 'tickertape.token';
const CSRF_KEY = 'tickertape.csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function read(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch {
    /* storage disabled: the user will be asked again after a reload */
  }
}

export function getToken() {
  return read(TOKEN_KEY);
}

export function authHeaders(method = 'GET') {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const csrf = read(CSRF_KEY);
  if (csrf && !SAFE_METHODS.has(method.toUpperCase())) headers['X-CSRF-Token'] = csrf;
  return headers;
}

export function wsAuthFrame() {
  const token = getToken();
  return token ? { type: 'auth', token } : null;
}

export function signOut() {
  write(TOKEN_KEY, null);
  write(CSRF_KEY, null);
}

// A credential is good if an authenticated, read-only endpoint accepts it.
async function probe(headers) {
  const res = await fetch('/api/conversations?limit=1', {
    headers: { Accept: 'application/json', ...headers },
    credentials: 'same-origin',
    cache: 'no-store',
  });
  return res.status !== 401;
}

async function loginWithToken(token) {
  if (!(await probe({ Authorization: `Bearer ${token}` }))) {
    throw new Error('That token was not accepted.');
  }
  write(TOKEN_KEY, token);
}

async function loginWithPassword(username, password) {
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw new Error(res.status === 401 ? 'Wrong username or password.' : `Sign-in failed (HTTP ${res.status}).`);
  const body = await res.json().catch(() => ({}));
  write(TOKEN_KEY, null); // the session cookie is now the credential
  write(CSRF_KEY, body.csrf_token ?? null);
}

let pendingLogin = null;

// Shows the sign-in panel (once, however many callers ask) and resolves when signed in.
export function requireLogin(reason = 'Sign in to continue.') {
  if (!pendingLogin) {
    pendingLogin = showPanel(reason).finally(() => {
      pendingLogin = null;
    });
  }
  return pendingLogin;
}

function showPanel(reason) {
  return new Promise((resolve) => {
    const previousFocus = document.activeElement;
    const message = el('p', { class: 'login-message', id: 'login-message' }, reason);
    const errorLine = el('p', { class: 'login-error', role: 'alert' });

    const tokenInput = el('input', {
      id: 'login-token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false',
    });
    const tokenForm = el(
      'form', { class: 'login-form', id: 'token-login-form' },
      el('label', { for: 'login-token' }, 'Access token'),
      tokenInput,
      el('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    );

    const userInput = el('input', { id: 'login-username', autocomplete: 'username', required: true });
    const passInput = el('input', { id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
    const passwordForm = el(
      'form', { class: 'login-form', id: 'password-login-form', hidden: !PASSWORD_LOGIN_ENABLED },
      el('label', { for: 'login-username' }, 'Username'), userInput,
      el('label', { for: 'login-password' }, 'Password'), passInput,
      el('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    );

    const dialog = el(
      'dialog', { class: 'login-dialog', 'aria-labelledby': 'login-heading', 'aria-describedby': 'login-message' },
      el('h2', { id: 'login-heading' }, 'Sign in to tickertape'),
      message, errorLine, passwordForm, tokenForm,
    );
    // Escape must not leave the app in a state with no way to sign in.
    dialog.addEventListener('cancel', (e) => e.preventDefault());

    const attempt = async (form, action) => {
      errorLine.textContent = '';
      const buttons = form.querySelectorAll('button');
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await action();
        dialog.close();
        dialog.remove();
        if (previousFocus instanceof HTMLElement) previousFocus.focus();
        resolve();
      } catch (err) {
        errorLine.textContent = err.message || 'Sign-in failed.';
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    };
    tokenForm.addEventListener('submit', (e) => {
      e.preventDefault();
      attempt(tokenForm, () => loginWithToken(tokenInput.value.trim()));
    });
    passwordForm.addEventListener('submit', (e) => {
      e.preventDefault();
      attempt(passwordForm, () => loginWithPassword(userInput.value, passInput.value));
    });

    document.body.append(dialog);
    dialog.showModal();
    (PASSWORD_LOGIN_ENABLED ? userInput : tokenInput).focus();
  });
}
