"""XSS payloads. Each one, if it ever runs, sets window.__xss (or opens a dialog)."""

PAYLOADS: list[str] = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    '<svg onload="alert(3)"></svg>',
    '<iframe src="javascript:parent.__xss = 4"></iframe>',
    "[click me](javascript:window.__xss=5)",
    '<a href="javascript:window.__xss = 6">link</a>',
    '<body onload="window.__xss = 7">',
    '<details open ontoggle="window.__xss = 8"><summary>x</summary></details>',
    '<input autofocus onfocus="window.__xss = 9">',
    '<video><source onerror="window.__xss = 10"></video>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss = 11">',
    '<noscript><p title="</noscript><img src=x onerror=window.__xss=12>">',
    '![pic](x" onerror="window.__xss=13)',
    '<a href="jav&#x09;ascript:window.__xss=14">tab</a>',
    "[mixed case](JaVaScRiPt:window.__xss=15)",
    '<object data="javascript:window.__xss=16"></object>',
    '<embed src="javascript:window.__xss=17">',
    '<form action="javascript:window.__xss=18"><button>go</button></form>',
    '<div style="background:url(javascript:window.__xss=19)">styled</div>',
    "<style>@import 'javascript:window.__xss=20';</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=21">',
    '<base href="javascript:window.__xss=22//">',
    '<img src="data:image/svg+xml,<svg onload=window.__xss=23>">',
    '"><script>alert(24)</script>',
    "`<script>window.__xss=25</script>` and ```\n<script>window.__xss=25</script>\n```",
    '<a href="data:text/html,<script>window.__xss=26</script>">data link</a>',
    '<svg><animate onbegin="window.__xss=27" attributeName=x dur=1s></svg>',
    '<marquee onstart="window.__xss=28">m</marquee>',
    '<template><img src=x onerror="window.__xss=29"></template>',
    "[ref link][x]\n\n[x]: javascript:window.__xss=30",
]

assert len(PAYLOADS) == 30

# Returns a list of what is dangerous in the rendered markdown under `selector`.
FIND_DANGER_JS = """
(selector) => {
  const bad = [];
  const forbiddenTags = new Set(['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'STYLE', 'META',
    'BASE', 'LINK', 'IMG', 'VIDEO', 'AUDIO', 'SOURCE', 'TEMPLATE', 'MATH', 'SVG', 'INPUT',
    'SELECT', 'TEXTAREA', 'MARQUEE', 'DETAILS', 'NOSCRIPT', 'ANIMATE']);
  for (const root of document.querySelectorAll(selector)) {
    for (const el of root.querySelectorAll('*')) {
      if (forbiddenTags.has(el.tagName.toUpperCase())) bad.push(`<${el.tagName}>`);
      for (const attr of el.attributes) {
        if (/^on/i.test(attr.name)) bad.push(`${el.tagName} ${attr.name}`);
        if (attr.name === 'style') bad.push(`${el.tagName} style=`);
        if (['href', 'src', 'action', 'formaction', 'data', 'xlink:href'].includes(attr.name)
            && !/^(https?:|mailto:)/i.test(attr.value.trim())) {
          bad.push(`${el.tagName} ${attr.name}=${attr.value}`);
        }
      }
      if (el.tagName === 'A' && el.getAttribute('href')) {
        const rel = (el.getAttribute('rel') || '').split(/\\s+/);
        if (!rel.includes('noopener') || !rel.includes('noreferrer')) bad.push(`A without rel=noopener noreferrer`);
      }
    }
  }
  return bad;
}
"""

# Waits long enough for asynchronous handlers (image errors, autofocus, animations) that
# a leaked payload would schedule: two frames plus a short grace period. This is not
# synchronisation with the app; it bounds how long we watch for something that must not
# happen.
SETTLE_JS = """
() => new Promise((resolve) =>
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(resolve, 300))))
"""

RENDER_AS_MODEL_OUTPUT_JS = """
async ({payloads, containerSelector}) => {
  // The same function the chat and the admin page use for assistant messages.
  const { renderMarkdownInto } = await import('/static/js/markdown.js');
  const container = document.querySelector(containerSelector);
  for (const payload of payloads) {
    const item = document.createElement('li');
    item.className = 'message assistant xss-probe';
    const body = document.createElement('div');
    body.className = 'message-body markdown';
    item.append(body);
    container.append(item);
    renderMarkdownInto(body, payload);
  }
}
"""
