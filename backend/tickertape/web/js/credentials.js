// The credential state behind the auth seam (auth.js re-exports what other modules use).
//
// Three ways to be signed in:
//   cookie  a password login: POST /api/auth/login sets an HttpOnly, SameSite=Strict session
//           cookie the page never sees; we keep only its CSRF token, in memory (a reload
//           gets it back from GET /api/auth/me). The cookie authenticates fetch and /ws.
//   token   an access token typed into the panel: sessionStorage (per tab), sent as
//           `Authorization: Bearer` and as the first /ws frame.
//   none    the server runs with auth "none": /api/auth/me answers without credentials.
// Credentials never go in a URL.

const TOKEN_KEY = 'tickertape.token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

let csrfToken = null; // of the cookie session; memory only
let user = null; // {id, name, role} from the last login or /api/auth/me

export class LoginError extends Error {}

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function writeToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the user will be asked again after a reload */
  }
}

export function getToken() {
  return readToken();
}

export function currentUser() {
  return user;
}

// 'cookie' | 'token' | null (signed out, not known yet, or auth "none").
export function signedInWith() {
  if (readToken()) return 'token';
  if (csrfToken) return 'cookie';
  return null;
}

export function authHeaders(method = 'GET') {
  const headers = {};
  const token = readToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (csrfToken && !SAFE_METHODS.has(method.toUpperCase())) headers['X-CSRF-Token'] = csrfToken;
  return headers;
}

export function wsAuthFrame() {
  const token = readToken();
  return token ? { type: 'auth', token } : null; // a cookie session needs no frame
}

// Forget everything locally (after a 401, or a 1008 close). The server side is untouched.
export function forgetCredentials() {
  writeToken(null);
  csrfToken = null;
  user = null;
}

function send(path, { method = 'GET', headers = {}, body } = {}) {
  return fetch(path, {
    method,
    headers: {
      Accept: 'application/json',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
}

// Asks the server who we are. 'signed-in' (cookie, token or auth "none"), 'signed-out'
// (401), or 'unknown' (server unreachable, or too old to have /api/auth/me).
export async function restoreSession() {
  let res;
  try {
    res = await send('/api/auth/me', { headers: authHeaders('GET') });
  } catch {
    return 'unknown';
  }
  if (res.status === 401) {
    forgetCredentials();
    return 'signed-out';
  }
  if (!res.ok) return 'unknown';
  const body = await res.json().catch(() => ({}));
  user = body.user ?? null;
  if (!readToken()) csrfToken = body.csrf_token ?? null;
  return 'signed-in';
}

function retryAfterSeconds(res) {
  const value = res.headers.get('Retry-After');
  if (!value) return null;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : null;
}

function loginFailure(res) {
  switch (res.status) {
    case 401:
      return 'Wrong username or password.';
    case 400:
    case 422:
      return 'Enter a username and a password.';
    case 429: {
      const wait = retryAfterSeconds(res);
      const when = wait ? `in ${wait} second${wait === 1 ? '' : 's'}` : 'in a minute';
      return `Too many sign-in attempts. Try again ${when}.`;
    }
    case 503:
      return 'Password sign-in is not available on this server.';
    default:
      return `Sign-in failed (HTTP ${res.status}).`;
  }
}

export async function loginWithPassword(username, password) {
  let res;
  try {
    res = await send('/api/auth/login', { method: 'POST', body: { username, password } });
  } catch {
    throw new LoginError('Cannot reach the server. Check your connection.');
  }
  if (!res.ok) throw new LoginError(loginFailure(res));
  const body = await res.json().catch(() => ({}));
  writeToken(null); // the session cookie is now the credential
  csrfToken = body.csrf_token ?? null;
  user = body.user ?? null;
}

// A token is good if an authenticated, read-only endpoint accepts it.
export async function loginWithToken(token) {
  let res;
  try {
    res = await send('/api/conversations?limit=1', { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new LoginError('Cannot reach the server. Check your connection.');
  }
  if (res.status === 401) throw new LoginError('That token was not accepted.');
  writeToken(token);
  csrfToken = null;
  try {
    const me = await send('/api/auth/me', { headers: authHeaders('GET') });
    if (me.ok) user = (await me.json()).user ?? null; // only for showing the name
  } catch {
    /* the name is cosmetic */
  }
}

// Ends the session on the server (POST /api/auth/logout, which also clears the cookie) and
// forgets everything here. Throws if the server could not be told.
export async function signOut() {
  const attempt = () => send('/api/auth/logout', { method: 'POST', headers: authHeaders('POST') });
  let res;
  try {
    res = await attempt();
    if (res.status === 403 && signedInWith() === 'cookie') {
      await restoreSession(); // a stale CSRF token: fetch the current one, try once more
      res = await attempt();
    }
  } catch {
    throw new Error('Cannot reach the server, so you are still signed in. Try again.');
  }
  if (!res.ok && res.status !== 401) throw new Error(`Sign-out failed (HTTP ${res.status}).`);
  forgetCredentials();
}
