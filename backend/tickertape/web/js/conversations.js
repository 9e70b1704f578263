// The sidebar list of the user's conversations: load (paged), date groups (Today,
// Yesterday, Previous 7 days, ...), a title filter, a mark on conversations whose reply is
// still being written, rename in place, and delete with Undo (the DELETE is sent only when
// the undo window closes, or at once if the page is going away).

import { conversationsApi } from './api.js';
import { el, icon } from './dom.js';

const PAGE_SIZE = 50;
const UNDO_WINDOW_MS = 6000;

export function displayTitle(conversation) {
  return conversation?.title?.trim() || 'Untitled conversation';
}

const DAY_MS = 86_400_000;

function dateGroup(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return 'Older';
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const time = date.getTime();
  if (time >= startOfToday) return 'Today';
  if (time >= startOfToday - DAY_MS) return 'Yesterday';
  if (time >= startOfToday - 7 * DAY_MS) return 'Previous 7 days';
  if (time >= startOfToday - 30 * DAY_MS) return 'Previous 30 days';
  return 'Older';
}

// The second line of a row: what tells two conversations with one title apart.
function rowDetail(conversation) {
  const date = new Date(conversation.updated_at);
  const today = new Date().toDateString() === date.toDateString();
  const when = Number.isNaN(date.getTime()) ? '' : today
    ? date.toLocaleTimeString(undefined, { timeStyle: 'short' })
    : date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  const count = conversation.message_count;
  return [when, typeof count === 'number' ? `${count} message${count === 1 ? '' : 's'}` : ''].filter(Boolean).join(' · ');
}

export class ConversationList {
  constructor({ container, loadMoreButton, emptyElement, filterInput, filterEmptyElement, undoBar, onSelect, onDeleted, onError, isRunning }) {
    Object.assign(this, { container, loadMoreButton, emptyElement, filterInput, filterEmptyElement, undoBar, onSelect, onDeleted, onError, isRunning });
    this.items = new Map(); // id -> conversation
    this.nextCursor = null;
    this.activeId = null;
    this.loading = null;
    this.loadedAt = 0;
    this.pendingDelete = null; // {conversation, timer}
    loadMoreButton.addEventListener('click', () => this.loadMore());
    filterInput.addEventListener('input', () => this.render());
    // A delete still waiting for its undo window must not be lost with the page.
    window.addEventListener('pagehide', () => this.#commitDelete({ keepalive: true }));
  }

  // Reload the first page (newest first). Concurrent calls share one request.
  refresh() {
    if (!this.loading) {
      this.loading = conversationsApi
        .list({ limit: PAGE_SIZE })
        .then((page) => {
          this.items.clear();
          this.#add(page.items ?? []);
          this.nextCursor = page.next_cursor ?? null;
          this.loadedAt = Date.now();
          this.render();
        })
        .catch((err) => this.onError(err))
        .finally(() => {
          this.loading = null;
        });
    }
    return this.loading;
  }

  clear() {
    this.items.clear();
    this.nextCursor = null;
    this.activeId = null;
    this.render();
  }

  async loadMore() {
    if (!this.nextCursor) return;
    try {
      const page = await conversationsApi.list({ limit: PAGE_SIZE, cursor: this.nextCursor });
      this.#add(page.items ?? []);
      this.nextCursor = page.next_cursor ?? null;
      this.render();
    } catch (err) {
      this.onError(err);
    }
  }

  get(id) {
    return this.items.get(id) ?? null;
  }

  // Local changes announced by the server (notices) or made here.
  upsert(conversation) {
    this.items.set(conversation.id, { ...(this.items.get(conversation.id) ?? {}), ...conversation });
    this.render();
  }

  removeLocal(id) {
    if (this.items.delete(id)) this.render();
  }

  setActive(id) {
    this.activeId = id;
    for (const button of this.container.querySelectorAll('.conversation-open')) {
      if (button.closest('li').dataset.id === id) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
  }

  focusActiveOrFirst() {
    const target =
      this.container.querySelector('.conversation-open[aria-current="true"]') ??
      this.container.querySelector('.conversation-open');
    target?.focus();
  }

  #add(items) {
    for (const item of items) this.items.set(item.id, item);
  }

  #visible() {
    const query = this.filterInput.value.trim().toLowerCase();
    const hidden = this.pendingDelete?.conversation.id;
    return [...this.items.values()]
      .filter((c) => c.id !== hidden && (!query || displayTitle(c).toLowerCase().includes(query)))
      .sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)));
  }

  render() {
    const groups = new Map();
    for (const conversation of this.#visible()) {
      const name = dateGroup(conversation.updated_at);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(this.#row(conversation));
    }
    const sections = [...groups].map(([name, rows], index) => el('section', { class: 'conversation-group', 'aria-labelledby': `group-${index}` },
      el('h3', { class: 'group-heading', id: `group-${index}` }, name),
      el('ul', { class: 'conversation-list' }, ...rows)));
    this.container.replaceChildren(...sections);
    const filtering = Boolean(this.filterInput.value.trim());
    this.emptyElement.hidden = this.items.size > 0 || filtering;
    this.filterEmptyElement.hidden = !filtering || sections.length > 0;
    const hadFocus = document.activeElement === this.loadMoreButton;
    this.loadMoreButton.hidden = !this.nextCursor;
    // The last page hides "Load more": focus goes on to the last conversation listed.
    if (hadFocus && this.loadMoreButton.hidden) {
      const opens = this.container.querySelectorAll('.conversation-open');
      opens[opens.length - 1]?.focus();
    }
  }

  // Re-mark the running conversations without rebuilding the list.
  updateRunning() {
    for (const li of this.container.querySelectorAll('.conversation-item')) {
      li.classList.toggle('running', this.isRunning(li.dataset.id));
    }
  }

  #row(conversation) {
    const title = displayTitle(conversation);
    const running = this.isRunning(conversation.id);
    const openButton = el('button', {
      type: 'button', class: 'conversation-open', title,
      'aria-current': conversation.id === this.activeId ? 'true' : null,
      onclick: () => this.onSelect(conversation.id),
    },
    el('span', { class: 'conversation-title-text' }, title),
    el('span', { class: 'conversation-date' },
      el('span', { class: 'running-mark', 'aria-label': 'reply in progress', title: 'A reply is being written' }),
      rowDetail(conversation)));
    const renameButton = el('button', { type: 'button', class: 'icon-button rename-conversation', 'aria-label': `Rename “${title}”`, title: 'Rename' }, icon('pencil'));
    const deleteButton = el('button', { type: 'button', class: 'icon-button delete-conversation', 'aria-label': `Delete “${title}”`, title: 'Delete' }, icon('trash'));
    const row = el('li', { class: `conversation-item${running ? ' running' : ''}`, dataset: { id: conversation.id } },
      openButton, el('div', { class: 'conversation-actions' }, renameButton, deleteButton));
    renameButton.addEventListener('click', () => this.#startRename(row, conversation));
    deleteButton.addEventListener('click', () => this.#delete(conversation));
    return row;
  }

  #startRename(row, conversation) {
    const input = el('input', { class: 'rename-input', value: conversation.title ?? '', maxlength: 200, 'aria-label': 'New conversation title' });
    const form = el('form', { class: 'rename-form' }, input,
      el('button', { type: 'submit', class: 'icon-button', 'aria-label': 'Save title', title: 'Save' }, icon('check')),
      el('button', { type: 'button', class: 'icon-button rename-cancel', 'aria-label': 'Cancel rename', title: 'Cancel' }, icon('close')));
    const cancel = () => {
      this.render();
      this.container.querySelector(`li[data-id="${CSS.escape(conversation.id)}"] .rename-conversation`)?.focus();
    };
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const title = input.value.trim();
      if (!title) {
        input.setAttribute('aria-invalid', 'true');
        return;
      }
      try {
        const updated = await conversationsApi.rename(conversation.id, title);
        this.items.set(conversation.id, { ...conversation, ...(updated ?? {}), title });
        cancel();
        if (conversation.id === this.activeId) this.onSelect(conversation.id, { renamedOnly: true });
      } catch (err) {
        this.onError(err);
      }
    });
    form.querySelector('.rename-cancel').addEventListener('click', cancel);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation(); // cancels the rename only: the phone's drawer stays open
        cancel();
      }
    });
    row.replaceChildren(form);
    input.focus();
    input.select();
  }

  // Hide now, delete when the undo window closes (or when another delete starts).
  #delete(conversation) {
    this.#commitDelete();
    const timer = setTimeout(() => this.#commitDelete(), UNDO_WINDOW_MS);
    this.pendingDelete = { conversation, timer };
    this.render();
    this.onDeleted(conversation.id);
    const undo = el('button', { type: 'button', class: 'undo-button' }, 'Undo');
    undo.addEventListener('click', () => {
      clearTimeout(timer);
      this.pendingDelete = null;
      this.undoBar.replaceChildren();
      this.render();
      this.onSelect(conversation.id);
    });
    this.undoBar.replaceChildren(el('span', {}, `Deleted “${displayTitle(conversation)}”.`), undo);
    undo.focus();
  }

  async #commitDelete({ keepalive = false } = {}) {
    const pending = this.pendingDelete;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pendingDelete = null;
    this.undoBar.replaceChildren();
    this.items.delete(pending.conversation.id);
    try {
      await conversationsApi.remove(pending.conversation.id, { keepalive });
    } catch (err) {
      this.items.set(pending.conversation.id, pending.conversation); // it is still there
      this.render();
      this.onError(err);
    }
  }
}
