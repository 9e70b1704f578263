// Admin export: GET /api/admin/export with the caller's auth header (a plain link could
// not carry it), saved from a blob: URL. format: jsonl | csv | markdown; the filters narrow
// it to the current search or one conversation.

import { adminApi } from './api.js';
import { el } from './dom.js';

const EXTENSIONS = { jsonl: 'jsonl', csv: 'csv', markdown: 'md' };

export async function downloadExport({ format, q, user, status, conversationId }) {
  const blob = await adminApi.exportBlob({ format, q, user, status, conversationId });
  const url = URL.createObjectURL(blob);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const scope = conversationId ? `conversation-${conversationId}` : 'export';
  const link = el('a', { href: url, download: `tickertape-${scope}-${stamp}.${EXTENSIONS[format] ?? 'txt'}`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Run an export from a button: disabled and relabelled while it downloads.
export async function exportFromButton(button, options, onError) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = 'Exporting…';
  try {
    await downloadExport(options);
  } catch (err) {
    onError(err);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}
