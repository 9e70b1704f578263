// JSON over HTTP with the caller's credentials. A 401 shows the sign-in panel and retries
// the request once after a successful sign-in; a 403 on a state-changing request of a
// cookie session refetches the CSRF token (GET /api/auth/me) and retries once.

import {
  authHeaders, forgetCredentials, requireLogin, restoreSession, signedInWith,
} from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, { method = 'GET', body, keepalive = false } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(method) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
    keepalive, // a DELETE sent as the page goes away still arrives
  });
}

async function toError(res) {
  const data = await res.json().catch(() => null);
  const err = data?.error ?? {};
  return new ApiError(res.status, err.code ?? `http_${res.status}`, err.message ?? res.statusText);
}

export async function apiFetch(path, options = {}, { raw = false } = {}) {
  let res = await request(path, options);
  const unsafe = !['GET', 'HEAD'].includes((options.method ?? 'GET').toUpperCase());
  if (res.status === 403 && unsafe && signedInWith() === 'cookie') {
    await restoreSession();
    res = await request(path, options);
  }
  if (res.status === 401) {
    forgetCredentials();
    await requireLogin('Your session is missing or has expired. Sign in to continue.');
    res = await request(path, options);
  }
  if (!res.ok) throw await toError(res);
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const enc = encodeURIComponent;

export const conversationsApi = {
  list: ({ limit = 50, cursor } = {}) => apiFetch(`/api/conversations${query({ limit, cursor })}`),
  get: (id) => apiFetch(`/api/conversations/${enc(id)}`),
  rename: (id, title) => apiFetch(`/api/conversations/${enc(id)}`, { method: 'PATCH', body: { title } }),
  remove: (id, { keepalive = false } = {}) => apiFetch(`/api/conversations/${enc(id)}`, { method: 'DELETE', keepalive }),
  // Tree protocol: make the branch through `messageId` the active one.
  switchBranch: (id, messageId) => apiFetch(`/api/conversations/${enc(id)}`, { method: 'PATCH', body: { active_message_id: messageId } }),
};

export const adminApi = {
  list: ({ q, user, status, limit, cursor, since, until } = {}) =>
    apiFetch(`/api/admin/conversations${query({ q, user, status, limit, cursor, since, until })}`),
  get: (id) => apiFetch(`/api/admin/conversations/${enc(id)}`),
  // format: jsonl | csv | markdown; the other fields narrow what is exported.
  exportBlob: async ({ format = 'jsonl', q, user, status, since, until, conversationId } = {}) => (await apiFetch(
    `/api/admin/export${query({ format, q, user, status, since, until, conversation_id: conversationId })}`, {}, { raw: true },
  )).blob(),
};
