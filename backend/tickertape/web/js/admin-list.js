// The admin viewer's conversation list: filters (text, user, failed only, dates, page
// size), paging with "Load more", and the rows.
//
// Date filter: "Active from" and "Started until" are sent as `since` and `until` (ISO 8601,
// local midnight; `until` is exclusive, the day after the chosen date): the server pages
// and exports by them. A conversation matches when it was active on or after `since`
// (updated_at) and started before `until` (created_at); rows are checked here too, so a
// row that changed since the page was read does not slip in.
// "Failed replies only" is sent as `status=error`, and applied here too when the rows say
// their status.

import { adminApi } from './api.js';
import { el, formatDateTime } from './dom.js';

export function userLabel(user) {
  if (!user) return '';
  if (typeof user === 'string') return user;
  return user.name ?? user.id ?? '';
}

function dayStart(value, addDays = 0) {
  if (!value) return null;
  const date = new Date(`${value}T00:00:00`);
  if (Number.isNaN(date.getTime())) return null;
  date.setDate(date.getDate() + addDays);
  return date;
}

// A conversation's status for the list: the server's own field if it sends one.
function rowStatus(item) {
  return item.status ?? item.last_status ?? (item.has_error ? 'error' : '');
}

export class AdminList {
  constructor({ form, fields, statusLine, rows, nextPage, onOpen, describeError }) {
    Object.assign(this, { form, fields, statusLine, rows, nextPage, onOpen, describeError });
    this.filters = {};
    this.nextCursor = null;
    this.shown = 0;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.search();
    });
    // After the browser has cleared the fields.
    form.addEventListener('reset', () => setTimeout(() => this.search(), 0));
    nextPage.addEventListener('click', () => this.search({ append: true }));
  }

  readFilters() {
    const { q, user, since, until, limit, failed } = this.fields;
    const sinceDate = dayStart(since.value);
    const untilDate = dayStart(until.value, 1);
    return {
      q: q.value.trim(),
      user: user.value.trim(),
      status: failed.checked ? 'error' : '',
      limit: Number(limit.value) || 50,
      since: sinceDate?.toISOString() ?? '',
      until: untilDate?.toISOString() ?? '',
    };
  }

  #matches(item) {
    const { since, until, status } = this.filters;
    const updated = new Date(item.updated_at ?? item.created_at).getTime();
    const created = new Date(item.created_at ?? item.updated_at).getTime();
    if (since && updated < new Date(since).getTime()) return false;
    if (until && created >= new Date(until).getTime()) return false;
    if (status && rowStatus(item) && rowStatus(item) !== status) return false;
    return true;
  }

  // Resolves with null, or the error that stopped the search.
  async search({ append = false } = {}) {
    if (!append) {
      this.filters = this.readFilters();
      this.nextCursor = null;
      this.shown = 0;
    }
    this.statusLine.textContent = 'Searching…';
    try {
      const page = await adminApi.list({ ...this.filters, cursor: append ? this.nextCursor : undefined });
      const items = (page.items ?? []).filter((item) => this.#matches(item));
      const rows = items.map((item) => this.#row(item));
      if (append) this.rows.append(...rows);
      else this.rows.replaceChildren(...rows);
      this.shown += items.length;
      this.nextCursor = page.next_cursor ?? null;
      const hadFocus = document.activeElement === this.nextPage;
      this.nextPage.hidden = !this.nextCursor;
      // The last page hides "Load more": focus goes on to the first row it added.
      if (hadFocus && this.nextPage.hidden) rows[0]?.querySelector('button')?.focus();
      this.statusLine.textContent = this.shown === 0
        ? 'No conversations match.'
        : `${this.shown} conversation${this.shown === 1 ? '' : 's'}${this.nextCursor ? ' (more available)' : ''}.`;
      return null;
    } catch (err) {
      this.statusLine.textContent = this.describeError(err);
      return err; // the caller may need to know it was a 403
    }
  }

  select(id) {
    for (const tr of this.rows.children) tr.classList.toggle('selected', tr.dataset.id === id);
  }

  focusRow(id) {
    this.rows.querySelector(`tr[data-id="${CSS.escape(id ?? '')}"] button`)?.focus();
  }

  clear() {
    this.rows.replaceChildren();
    this.nextPage.hidden = true;
    this.statusLine.textContent = '';
  }

  #row(item) {
    const open = el('button', { type: 'button', class: 'link-button', onclick: () => this.onOpen(item.id) },
      item.title?.trim() || 'Untitled conversation');
    const status = rowStatus(item);
    return el('tr', { dataset: { id: item.id } },
      el('td', { class: 'nowrap' }, formatDateTime(item.updated_at)),
      el('td', {}, userLabel(item.user)),
      el('td', {}, open),
      el('td', {}, status ? el('span', { class: `status-badge status-${status}` }, status) : ''),
      el('td', { class: 'num' }, String(item.message_count ?? '')));
  }
}
