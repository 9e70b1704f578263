// The elements of one message in the chat transcript: the bubble, its toolbar (branch
// switcher ‹ 2/3 ›, Copy, Edit or Regenerate), the reason of a failed reply with its
// Retry button, and a Details disclosure with tokens, timing and sampling (kept out of
// the way: most people never need them).
//
// Text goes in with textContent (user) or through markdown.js (assistant, sanitised).
// A reply's reasoning (collapsed, live while it streams) and its tool calls with their
// results are plain text too (textContent), arguments pretty-printed when they parse.
// Every handler comes from the caller in `actions`, so this module knows no protocol:
//   actions.onCopy is not needed (copy is local); onEdit(item, content),
//   onRegenerate(item), onRetry(item), onSwitchBranch(messageId).

import { copyButton, el, formatDateTime, icon } from './dom.js';
import { describeError } from './protocol.js';

// Labels of the finish reasons a person may need to know about (complete says nothing).
const FINISH_TEXT = {
  length: 'stopped at the token limit',
  stopped: 'stopped',
  error: 'failed',
  interrupted: 'interrupted',
};

export function userMessage({ content, clientMsgId = null, messageId = null, pending = false }) {
  const body = el('div', { class: 'message-body user-text' });
  body.textContent = content; // never HTML
  const dataset = { role: 'user' };
  if (clientMsgId) dataset.clientMsgId = clientMsgId;
  if (messageId) dataset.messageId = messageId;
  return el('li', { class: 'message user', dataset },
    el('div', { class: 'message-meta' },
      el('span', { class: 'message-role' }, 'You'),
      el('span', { class: 'message-state' }, pending ? 'sending…' : '')),
    body,
    el('div', { class: 'message-toolbar' }));
}

export function assistantMessage({ status, replyId = null }) {
  const busy = status === 'streaming' || status === 'waiting' || status === 'queued';
  const dataset = { role: 'assistant', status };
  if (replyId) {
    dataset.replyId = replyId;
    dataset.messageId = replyId;
  }
  return el('li', { class: 'message assistant', dataset, 'aria-busy': String(busy) },
    el('div', { class: 'message-meta' },
      el('span', { class: 'message-role' }, 'Assistant'),
      el('span', { class: 'message-state' }, status === 'waiting' ? 'thinking…' : '')),
    el('div', { class: 'message-body markdown' }),
    el('div', { class: 'message-toolbar' }));
}

// The short state line next to "Assistant": empty for a complete reply.
export function finishLabel(status, finishReason) {
  if (status === 'complete' && finishReason !== 'length') return '';
  return FINISH_TEXT[finishReason] ?? (status === 'complete' ? '' : status ?? '');
}

// Why a reply failed, in words, from end.error / the stored error / the finish reason.
export function failureText({ finishReason, error }) {
  if (error) {
    const reason = describeError(error);
    return `This reply failed: ${reason.replace(/\.$/, '')}.`;
  }
  if (finishReason === 'error') return 'This reply failed on the server.';
  if (finishReason === 'interrupted') return 'This reply was cut short: the server restarted while writing it.';
  return null;
}

function branchSwitcher(siblingIds, currentId, onSwitchBranch) {
  const index = siblingIds.indexOf(currentId);
  if (siblingIds.length < 2 || index < 0) return null;
  const go = (delta) => () => onSwitchBranch(siblingIds[index + delta], delta < 0 ? 'prev' : 'next');
  return el('div', { class: 'branch-switcher', role: 'group', 'aria-label': 'Versions of this message' },
    el('button', {
      type: 'button', class: 'icon-button branch-prev', 'aria-label': 'Previous version', title: 'Previous version',
      disabled: index === 0, onclick: go(-1),
    }, icon('chevron-left')),
    el('span', { class: 'branch-position' }, `${index + 1}/${siblingIds.length}`),
    el('button', {
      type: 'button', class: 'icon-button branch-next', 'aria-label': 'Next version', title: 'Next version',
      disabled: index === siblingIds.length - 1, onclick: go(1),
    }, icon('chevron-right')));
}

function toolButton(className, iconName, label, onclick) {
  return el('button', { type: 'button', class: `icon-button ${className}`, 'aria-label': label, title: label, onclick }, icon(iconName));
}

// Fill a message's toolbar. `info`: {role, messageId, siblingIds, text(), done, canEdit,
// canRegenerate}.
export function renderToolbar(item, info, actions) {
  const toolbar = item.querySelector('.message-toolbar');
  const parts = [];
  if (info.siblingIds && info.messageId) {
    const switcher = branchSwitcher(info.siblingIds, info.messageId, actions.onSwitchBranch);
    if (switcher) parts.push(switcher);
  }
  if (info.done !== false) {
    parts.push(copyButton({ getText: info.text, label: 'Copy message', className: 'copy-message' }));
    if (info.role === 'user' && info.canEdit) {
      parts.push(toolButton('edit-message', 'pencil', 'Edit message', () => actions.onEdit(item)));
    }
    if (info.role === 'assistant' && info.canRegenerate) {
      parts.push(toolButton('regenerate-reply', 'refresh', 'Regenerate reply', () => actions.onRegenerate(item)));
    }
  }
  toolbar.replaceChildren(...parts);
}

// The Details disclosure of an assistant message (tokens, timing, sampling, ids).
export function renderDetails(item, { usage, timing, finishReason, params, createdAt, id }) {
  item.querySelector('.message-details')?.remove();
  const rows = [];
  const add = (term, value) => {
    if (value !== undefined && value !== null && value !== '') rows.push(el('dt', {}, term), el('dd', {}, String(value)));
  };
  add('finish', finishReason);
  if (usage) add('tokens', `${usage.prompt_tokens ?? '?'} prompt → ${usage.completion_tokens ?? '?'} reply`);
  if (timing?.ttft_ms !== undefined) add('first token', `${timing.ttft_ms} ms`);
  if (timing?.total_ms !== undefined) add('total', `${(timing.total_ms / 1000).toFixed(1)} s`);
  const shown = (value) => {
    if (Array.isArray(value)) return value.map((v) => (v && typeof v === 'object' ? v.function?.name ?? JSON.stringify(v) : v)).join(', ');
    return value && typeof value === 'object' ? JSON.stringify(value) : value;
  };
  for (const [key, value] of Object.entries(params ?? {})) {
    if (!(Array.isArray(value) && value.length === 0)) add(key.replace(/_/g, ' '), shown(value));
  }
  add('created', createdAt ? formatDateTime(createdAt) : null);
  add('id', id);
  if (rows.length === 0) return;
  const details = el('details', { class: 'message-details' },
    el('summary', {}, 'Details'), el('dl', {}, ...rows));
  item.querySelector('.message-toolbar').append(details);
}

// Show (or clear, with text = null) the reason a reply failed, with a Retry button.
export function renderFailure(item, text, onRetry) {
  item.querySelector('.reply-failure')?.remove();
  if (!text) return;
  const box = el('div', { class: 'reply-failure' }, el('p', { class: 'message-error' }, text));
  if (onRetry) {
    box.append(el('button', { type: 'button', class: 'retry-reply', onclick: () => onRetry(item) }, 'Retry'));
  }
  item.querySelector('.message-body').after(box);
}

// Turn a user message into an editor; resolves with the new text, or null if cancelled.
export function editInPlace(item) {
  return new Promise((resolve) => {
    const body = item.querySelector('.message-body');
    const original = body.textContent;
    const area = el('textarea', { class: 'edit-input', 'aria-label': 'Edit your message', rows: 3 });
    area.value = original;
    const finish = (value) => {
      form.replaceWith(body);
      item.classList.remove('editing');
      // Keyboard users land back on Edit (the editor that had focus is gone).
      if (value === null) item.querySelector('.edit-message')?.focus();
      resolve(value);
    };
    const form = el('form', { class: 'edit-form' }, area,
      el('div', { class: 'edit-actions' },
        el('button', { type: 'button', class: 'edit-cancel', onclick: () => finish(null) }, 'Cancel'),
        el('button', { type: 'submit', class: 'primary edit-save' }, 'Save and send')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = area.value;
      finish(value.trim() && value !== original ? value : null);
    });
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') finish(null);
    });
    item.classList.add('editing');
    body.replaceWith(form);
    area.focus();
  });
}

// The reply's thinking: a collapsed disclosure above the answer, updated as it streams.
export function renderReasoning(item, text, { live = false } = {}) {
  let box = item.querySelector('.reasoning');
  if (!text) {
    box?.remove();
    return;
  }
  if (!box) {
    box = el('details', { class: 'reasoning' }, el('summary', {}), el('div', { class: 'reasoning-text' }));
    item.querySelector('.message-body').before(box);
  }
  box.querySelector('summary').textContent = live ? 'Thinking…' : 'Thoughts';
  box.classList.toggle('live', live);
  box.querySelector('.reasoning-text').textContent = text; // never HTML
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text; // a call whose arguments are still streaming
  }
}

// The reply's tool calls, each with its arguments and its result (or that it waits).
export function renderToolCalls(item, calls, { awaiting = false } = {}) {
  let box = item.querySelector('.tool-calls');
  if (!calls || calls.length === 0) {
    box?.remove();
    return;
  }
  if (!box) {
    box = el('div', { class: 'tool-calls' });
    item.querySelector('.message-body').before(box);
  }
  box.replaceChildren(...calls.map((call) => {
    const result = call.result === null || call.result === undefined
      ? el('p', { class: 'tool-result-pending' }, awaiting ? 'Waiting for the result…' : 'No result.')
      : el('div', { class: 'tool-result' },
        el('span', { class: 'tool-label' }, 'Result'),
        el('pre', { class: 'tool-result-content' }, pretty(call.result)));
    return el('div', { class: 'tool-call', dataset: { callId: call.callId ?? '' } },
      el('div', { class: 'tool-call-head' },
        el('span', { class: 'tool-label' }, 'Tool call'),
        el('code', { class: 'tool-call-name' }, call.name ?? '')),
      el('pre', { class: 'tool-call-arguments' }, pretty(call.arguments ?? '')),
      result);
  }));
}
