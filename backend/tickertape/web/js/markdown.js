// Model output is markdown from an untrusted source. It becomes DOM only through
//   marked (markdown -> HTML string) -> DOMPurify (strict allow-list) -> DocumentFragment,
// never through innerHTML of unsanitised text. Three walls, each enough on its own for the
// common cases:
//   1. raw HTML written by the model is escaped by marked's renderer: it shows as text,
//      exactly as the model wrote it, and never reaches an HTML parser as markup;
//   2. DOMPurify removes anything outside a small allow-list from what marked generates
//      (e.g. javascript: links, images);
//   3. the CSP forbids inline script anyway.

import { Marked } from '../vendor/marked/marked.esm.js';
import createDOMPurify from '../vendor/dompurify/purify.es.mjs';
import { decorateCodeBlocks } from './code-blocks.js';

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Block and inline HTML in the markdown source: render the source text, not markup.
    html: ({ text, block }) => (block ? `<p>${escapeHtml(text.trim())}</p>` : escapeHtml(text)),
  },
});

// Our own DOMPurify instance, so the hooks below don't leak into anyone else's use.
const purify = createDOMPurify(window);

export const SANITIZE_CONFIG = Object.freeze({
  ALLOWED_TAGS: [
    'a', 'p', 'br', 'hr', 'strong', 'em', 'del', 's', 'code', 'pre', 'blockquote', 'kbd',
    'sub', 'sup', 'ul', 'ol', 'li', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
    'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span',
  ],
  // No style, no event handlers, no id/name (DOM clobbering), no src (no images/iframes).
  ALLOWED_ATTR: ['href', 'title', 'start', 'align', 'class', 'colspan', 'rowspan'],
  // Only absolute http(s) and mailto links; javascript:, data:, vbscript: and relative
  // URLs are removed.
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  KEEP_CONTENT: true, // a removed tag keeps its text, so nothing the model said disappears
  RETURN_DOM_FRAGMENT: true,
});

purify.addHook('afterSanitizeAttributes', (node) => {
  // Runs after the allow-list check, so these two attributes are ours, not the model's.
  if (node.nodeName === 'A') {
    node.removeAttribute('target');
    if (node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  }
  // `class` is only kept for code highlighting hints (language-xyz), so model output
  // cannot borrow the app's own classes to imitate its UI.
  if (node.hasAttribute && node.hasAttribute('class')) {
    const keep = (node.getAttribute('class') || '')
      .split(/\s+/)
      .filter((c) => /^language-[\w+#.-]{1,40}$/.test(c));
    if (keep.length > 0) node.setAttribute('class', keep.join(' '));
    else node.removeAttribute('class');
  }
});

export function markdownToFragment(markdown) {
  let html;
  try {
    html = marked.parse(markdown ?? '');
  } catch {
    // Never fall back to raw HTML: show the source as text instead.
    const fragment = document.createDocumentFragment();
    const pre = document.createElement('pre');
    pre.textContent = markdown ?? '';
    fragment.append(pre);
    return fragment;
  }
  return purify.sanitize(html, SANITIZE_CONFIG);
}

// Replace the children of `container` with the rendered markdown.
export function renderMarkdownInto(container, markdown) {
  container.replaceChildren(markdownToFragment(markdown));
  decorateCodeBlocks(container);
}

// Re-rendering markdown on every token is wasteful: coalesce updates so each element is
// re-rendered at most once per animation frame, with its latest text.
export function createRenderScheduler(onRendered = () => {}) {
  const dirty = new Map(); // element -> markdown
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    for (const [element, markdown] of dirty) renderMarkdownInto(element, markdown);
    dirty.clear();
    onRendered(); // e.g. keep the newest text in view
  };
  return {
    schedule(element, markdown) {
      dirty.set(element, markdown);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    },
    // Render now (e.g. on `end`), dropping any pending frame for this element.
    now(element, markdown) {
      dirty.delete(element);
      renderMarkdownInto(element, markdown);
      onRendered();
    },
  };
}
