// THE SEAM: everything else asks this module for credentials and never stores them itself:
//   authHeaders(method)  headers for fetch (Bearer token, or X-CSRF-Token on unsafe methods)
//   wsAuthFrame()        first frame for /ws, or null when the cookie (or auth "none") does it
//   restoreSession()     GET /api/auth/me at start-up: 'signed-in' | 'signed-out' | 'unknown'
//   requireLogin(why)    shows the sign-in dialog; resolves once the user is signed in
//   forgetCredentials()  after a 401 or a 1008 close
//   signOut()            POST /api/auth/logout, then forget
// The state itself is in credentials.js; this file adds the sign-in dialog: a username and
// password form (cookie session) and, below it, an access-token form.

import {
  LoginError, loginWithPassword, loginWithToken,
} from './credentials.js';
import { el } from './dom.js';

export {
  authHeaders, currentUser, forgetCredentials, getToken, restoreSession, signedInWith, signOut,
  wsAuthFrame,
} from './credentials.js';

let pendingLogin = null;

// Shows the sign-in dialog (once, however many callers ask) and resolves when signed in.
export function requireLogin(reason = 'Sign in to continue.') {
  if (!pendingLogin) {
    pendingLogin = showDialog(reason).finally(() => {
      pendingLogin = null;
    });
  }
  return pendingLogin;
}

function passwordForm() {
  const username = el('input', {
    id: 'login-username', name: 'username', autocomplete: 'username', required: true,
    autocapitalize: 'none', spellcheck: 'false',
  });
  const password = el('input', {
    id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const form = el(
    'form', { class: 'login-form', id: 'password-login-form', 'aria-label': 'Sign in with a password' },
    el('label', { for: 'login-username' }, 'Username'), username,
    el('label', { for: 'login-password' }, 'Password'), password,
    el('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  return { form, username, password, action: () => loginWithPassword(username.value.trim(), password.value) };
}

function tokenForm() {
  const token = el('input', {
    id: 'login-token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false',
  });
  const form = el(
    'form', { class: 'login-form', id: 'token-login-form', 'aria-label': 'Sign in with an access token' },
    el('label', { for: 'login-token' }, 'Access token'), token,
    el('button', { type: 'submit' }, 'Sign in with token'),
  );
  return { form, token, action: () => loginWithToken(token.value.trim()) };
}

function showDialog(reason) {
  return new Promise((resolve) => {
    const previousFocus = document.activeElement;
    const message = el('p', { class: 'login-message', id: 'login-message' }, reason);
    const errorLine = el('p', { class: 'login-error', id: 'login-error', role: 'alert' });
    const byPassword = passwordForm();
    const byToken = tokenForm();

    const dialog = el(
      'dialog', { class: 'login-dialog', 'aria-labelledby': 'login-heading', 'aria-describedby': 'login-message' },
      el('h2', { id: 'login-heading' }, 'Sign in to tickertape'),
      message, errorLine, byPassword.form,
      el('p', { class: 'login-or' }, 'or use an access token'),
      byToken.form,
    );
    // Escape must not leave the app in a state with no way to sign in.
    dialog.addEventListener('cancel', (e) => e.preventDefault());

    const attempt = async ({ form, action }, onFailure) => {
      errorLine.textContent = '';
      const buttons = dialog.querySelectorAll('button');
      buttons.forEach((b) => { b.disabled = true; });
      form.setAttribute('aria-busy', 'true');
      try {
        await action();
        dialog.close();
        dialog.remove();
        if (previousFocus instanceof HTMLElement && previousFocus.isConnected && !previousFocus.hidden) {
          previousFocus.focus();
        }
        resolve();
      } catch (err) {
        errorLine.textContent = err instanceof LoginError ? err.message : 'Sign-in failed.';
        onFailure();
      } finally {
        form.removeAttribute('aria-busy');
        buttons.forEach((b) => { b.disabled = false; });
      }
    };
    byPassword.form.addEventListener('submit', (e) => {
      e.preventDefault();
      attempt(byPassword, () => {
        byPassword.password.focus();
        byPassword.password.select();
      });
    });
    byToken.form.addEventListener('submit', (e) => {
      e.preventDefault();
      attempt(byToken, () => byToken.token.focus());
    });

    document.body.append(dialog);
    dialog.showModal();
    byPassword.username.focus();
  });
}
