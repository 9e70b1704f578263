// Code blocks in rendered markdown: a header with the language label and a Copy button,
// and syntax highlighting by highlight.js (vendored, pinned; only the grammars imported
// below). highlight.js returns an HTML string; it escapes the code itself, but its output
// still goes through a DOMPurify instance of its own that keeps nothing except
// <span class="hljs-...">, so model text can never become markup on this path either.

import hljs from '../vendor/highlight/core.min.js';
import bash from '../vendor/highlight/languages/bash.min.js';
import c from '../vendor/highlight/languages/c.min.js';
import cpp from '../vendor/highlight/languages/cpp.min.js';
import css from '../vendor/highlight/languages/css.min.js';
import diff from '../vendor/highlight/languages/diff.min.js';
import go from '../vendor/highlight/languages/go.min.js';
import java from '../vendor/highlight/languages/java.min.js';
import javascript from '../vendor/highlight/languages/javascript.min.js';
import json from '../vendor/highlight/languages/json.min.js';
import markdown from '../vendor/highlight/languages/markdown.min.js';
import plaintext from '../vendor/highlight/languages/plaintext.min.js';
import python from '../vendor/highlight/languages/python.min.js';
import rust from '../vendor/highlight/languages/rust.min.js';
import sql from '../vendor/highlight/languages/sql.min.js';
import typescript from '../vendor/highlight/languages/typescript.min.js';
import xml from '../vendor/highlight/languages/xml.min.js';
import yaml from '../vendor/highlight/languages/yaml.min.js';
import createDOMPurify from '../vendor/dompurify/purify.es.mjs';
import { copyButton, el } from './dom.js';

const GRAMMARS = {
  bash, c, cpp, css, diff, go, java, javascript, json, markdown, plaintext, python, rust, sql, typescript, xml, yaml,
};
for (const [name, grammar] of Object.entries(GRAMMARS)) hljs.registerLanguage(name, grammar);
hljs.configure({ ignoreUnescapedHTML: true, throwUnescapedHTML: false });

// Only highlight.js's own token spans survive; their classes are reduced to hljs-*.
const purify = createDOMPurify(window);
const HIGHLIGHT_CONFIG = Object.freeze({
  ALLOWED_TAGS: ['span'], ALLOWED_ATTR: ['class'], ALLOW_DATA_ATTR: false, ALLOW_ARIA_ATTR: false,
  KEEP_CONTENT: true, RETURN_DOM_FRAGMENT: true,
});
purify.addHook('afterSanitizeAttributes', (node) => {
  if (!node.hasAttribute?.('class')) return;
  const keep = node.getAttribute('class').split(/\s+/).filter((name) => /^hljs-[\w-]{1,40}$/.test(name));
  if (keep.length > 0) node.setAttribute('class', keep.join(' '));
  else node.removeAttribute('class');
});

// The language a fence names (```py -> "python" via highlight.js's aliases), or null.
function fenceLanguage(code) {
  const name = [...code.classList].find((cls) => cls.startsWith('language-'))?.slice('language-'.length);
  return name ? name.toLowerCase() : null;
}

export function highlightInto(code, language) {
  const grammar = language ? hljs.getLanguage(language) : null;
  if (!grammar) return false;
  const text = code.textContent;
  let html;
  try {
    html = hljs.highlight(text, { language, ignoreIllegals: true }).value;
  } catch {
    return false; // leave the plain text
  }
  code.replaceChildren(purify.sanitize(html, HIGHLIGHT_CONFIG));
  code.classList.add('hljs');
  return true;
}

// Wrap each <pre><code> of `container` in a block with a header (language, Copy) and
// highlight it. Built with DOM calls and listeners (CSP-safe).
export function decorateCodeBlocks(container) {
  for (const pre of container.querySelectorAll('pre')) {
    const code = pre.querySelector('code');
    if (!code) continue;
    const language = fenceLanguage(code);
    const source = code.textContent;
    highlightInto(code, language);
    const label = language ? (hljs.getLanguage(language)?.name ?? language) : 'text';
    pre.setAttribute('tabindex', '0'); // a scrollable region must be reachable by keyboard
    const header = el('div', { class: 'code-header' },
      el('span', { class: 'code-language' }, label),
      copyButton({ getText: () => source, label: 'Copy', className: 'copy-code', iconOnly: false }));
    const block = el('div', { class: 'code-block', dataset: { language: language ?? '' } }, header);
    pre.replaceWith(block);
    block.append(pre);
  }
}
