// The sidebar list of the user's conversations: load (paged), select, rename in place,
// delete with a second confirming click (no window.confirm: keeps dialogs for real use).

import { conversationsApi } from './api.js';
import { el, formatRelative, icon } from './dom.js';

const PAGE_SIZE = 50;
const CONFIRM_WINDOW_MS = 4000;

export function displayTitle(conversation) {
  return conversation?.title?.trim() || 'Untitled conversation';
}

export class ConversationList {
  constructor({ listElement, loadMoreButton, emptyElement, onSelect, onDeleted, onError }) {
    this.listElement = listElement;
    this.loadMoreButton = loadMoreButton;
    this.emptyElement = emptyElement;
    this.onSelect = onSelect;
    this.onDeleted = onDeleted;
    this.onError = onError;
    this.items = new Map(); // id -> conversation
    this.order = [];
    this.nextCursor = null;
    this.activeId = null;
    this.loading = null;
    loadMoreButton.addEventListener('click', () => this.loadMore());
  }

  // Reload the first page (newest first). Concurrent calls share one request.
  refresh() {
    if (!this.loading) {
      this.loading = conversationsApi
        .list({ limit: PAGE_SIZE })
        .then((page) => {
          this.items.clear();
          this.order = [];
          this.#add(page.items ?? []);
          this.nextCursor = page.next_cursor ?? null;
          this.render();
        })
        .catch((err) => this.onError(err))
        .finally(() => {
          this.loading = null;
        });
    }
    return this.loading;
  }

  // Empty the list (after sign-out).
  clear() {
    this.items.clear();
    this.order = [];
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

  setActive(id) {
    this.activeId = id;
    for (const li of this.listElement.children) {
      const button = li.querySelector('.conversation-open');
      if (li.dataset.id === id) button?.setAttribute('aria-current', 'true');
      else button?.removeAttribute('aria-current');
    }
  }

  focusActiveOrFirst() {
    const target =
      this.listElement.querySelector('.conversation-open[aria-current="true"]') ??
      this.listElement.querySelector('.conversation-open');
    target?.focus();
  }

  #add(items) {
    for (const item of items) {
      if (!this.items.has(item.id)) this.order.push(item.id);
      this.items.set(item.id, item);
    }
  }

  render() {
    const rows = this.order.map((id) => this.#row(this.items.get(id)));
    this.listElement.replaceChildren(...rows);
    this.emptyElement.hidden = rows.length > 0;
    this.loadMoreButton.hidden = !this.nextCursor;
  }

  #row(conversation) {
    const title = displayTitle(conversation);
    const openButton = el(
      'button',
      {
        type: 'button',
        class: 'conversation-open',
        'aria-current': conversation.id === this.activeId ? 'true' : null,
        onclick: () => this.onSelect(conversation.id),
      },
      el('span', { class: 'conversation-title-text' }, title),
      el('span', { class: 'conversation-date' }, formatRelative(conversation.updated_at)),
    );
    const renameButton = el(
      'button',
      { type: 'button', class: 'icon-button rename-conversation', 'aria-label': `Rename “${title}”`, title: 'Rename' },
      icon('pencil'),
    );
    const deleteButton = el(
      'button',
      { type: 'button', class: 'icon-button delete-conversation', 'aria-label': `Delete “${title}”`, title: 'Delete' },
      icon('trash'),
    );
    const row = el('li', { class: 'conversation-item', dataset: { id: conversation.id } }, openButton, renameButton, deleteButton);
    renameButton.addEventListener('click', () => this.#startRename(row, conversation));
    deleteButton.addEventListener('click', () => this.#deleteClicked(deleteButton, conversation));
    return row;
  }

  #startRename(row, conversation) {
    const input = el('input', {
      class: 'rename-input', value: conversation.title ?? '', maxlength: 200,
      'aria-label': 'New conversation title',
    });
    const form = el(
      'form', { class: 'rename-form' }, input,
      el('button', { type: 'submit', class: 'icon-button', 'aria-label': 'Save title', title: 'Save' }, icon('check')),
      el('button', { type: 'button', class: 'icon-button rename-cancel', 'aria-label': 'Cancel rename', title: 'Cancel' }, icon('close')),
    );
    const cancel = () => {
      this.render();
      this.listElement.querySelector(`li[data-id="${CSS.escape(conversation.id)}"] .rename-conversation`)?.focus();
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
        cancel();
      }
    });
    row.replaceChildren(form);
    input.focus();
    input.select();
  }

  async #deleteClicked(button, conversation) {
    if (button.dataset.confirming !== 'true') {
      // First click arms the button; a second click within a few seconds deletes.
      button.dataset.confirming = 'true';
      button.textContent = 'Delete?';
      button.setAttribute('aria-label', `Confirm deleting “${displayTitle(conversation)}”`);
      setTimeout(() => {
        if (button.isConnected && button.dataset.confirming === 'true') this.render();
      }, CONFIRM_WINDOW_MS);
      return;
    }
    try {
      await conversationsApi.remove(conversation.id);
      this.items.delete(conversation.id);
      this.order = this.order.filter((id) => id !== conversation.id);
      this.render();
      this.onDeleted(conversation.id);
    } catch (err) {
      this.onError(err);
    }
  }
}
