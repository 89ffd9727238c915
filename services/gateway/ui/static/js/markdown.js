// A small Markdown renderer for agent output. It builds DOM nodes with h()
// and text nodes only, so HTML in the input stays text ("<script>" is shown,
// never parsed), and a link becomes an <a> only for http:, https: and
// mailto: (a "javascript:" link is shown as the text it was written as).
// It covers what agents write: headings, paragraphs, fenced code, lists
// (one nesting level), blockquotes, rules, tables, and inline code,
// emphasis, links and bare URLs. Anything else is a paragraph of text.

import {h} from './dom.js';

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w#+.-]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
// Quotes in quotes and emphasis in emphasis stop nesting here, so a
// pathological output cannot exhaust the stack.
const MAX_DEPTH = 6;

// render(text) → DocumentFragment of the rendered blocks.
export function render(text) {
  const frag = document.createDocumentFragment();
  frag.append(...blocks(String(text ?? '').replace(/\r\n?/g, '\n').split('\n')));
  return frag;
}

function blocks(lines, depth = 0) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i++;
    } else if ((m = FENCE.exec(line))) {
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) body.push(lines[i]);
      i++; // the closing fence (or the end of the text, for an unclosed one)
      out.push(codeBlock(body.join('\n'), m[2]));
    } else if ((m = HEADING.exec(line))) {
      out.push(h(`h${m[1].length}`, {}, inline(m[2])));
      i++;
    } else if (RULE.test(line)) {
      out.push(h('hr'));
      i++;
    } else if (depth < MAX_DEPTH && QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) body.push(m[1]);
      out.push(h('blockquote', {}, blocks(body, depth + 1)));
    } else if (ITEM.test(line)) {
      i = list(lines, i, out);
    } else if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      i = table(lines, i, out);
    } else {
      const body = [];
      do body.push(lines[i++].trim());
      while (i < lines.length && lines[i].trim() && !startsBlock(lines, i));
      out.push(h('p', {}, withBreaks(body)));
    }
  }
  return out;
}

function startsBlock(lines, i) {
  const l = lines[i];
  return FENCE.test(l) || HEADING.test(l) || RULE.test(l) || QUOTE.test(l) || ITEM.test(l);
}

function codeBlock(code, lang) {
  return h('div', {class: 'md-code'},
    lang ? h('span', {class: 'md-lang'}, lang) : null,
    h('pre', {}, h('code', {dataset: lang ? {lang} : undefined}, code)));
}

// list reads items from lines[i] on; an item indented deeper than the
// first one goes into a nested list under the item before it.
function list(lines, i, out) {
  const base = ITEM.exec(lines[i])[1].length;
  const ordered = /\d/.test(ITEM.exec(lines[i])[2]);
  const root = h(ordered ? 'ol' : 'ul');
  const start = parseInt(ITEM.exec(lines[i])[2], 10);
  if (ordered && start > 1) root.setAttribute('start', String(start));
  let item = null;
  let sub = null;
  for (; i < lines.length; i++) {
    const line = lines[i];
    const m = ITEM.exec(line);
    if (m && m[1].length <= base + 1) {
      item = h('li', {}, inline(m[3]));
      root.append(item);
      sub = null;
    } else if (m && item) {
      if (!sub) {
        sub = h(/\d/.test(m[2]) ? 'ol' : 'ul');
        item.append(sub);
      }
      sub.append(h('li', {}, inline(m[3])));
    } else if (line.trim() && /^\s+/.test(line) && item) {
      (sub ? sub.lastElementChild : item).append(h('br'), ...inline(line.trim()));
    } else {
      break;
    }
  }
  out.push(root);
  return i;
}

function table(lines, i, out) {
  const cells = (l) => l.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
  const head = cells(lines[i]);
  const rows = [];
  for (i += 2; i < lines.length && lines[i].includes('|') && lines[i].trim(); i++) rows.push(cells(lines[i]));
  out.push(h('div', {class: 'md-table'}, h('table', {},
    h('thead', {}, h('tr', {}, head.map((c) => h('th', {scope: 'col'}, inline(c))))),
    h('tbody', {}, rows.map((r) => h('tr', {}, head.map((_, j) => h('td', {}, inline(r[j] || '')))))))));
  return i;
}

function withBreaks(lines) {
  const out = [];
  lines.forEach((l, k) => {
    if (k) out.push(h('br'));
    out.push(...inline(l));
  });
  return out;
}

// One pass over the inline syntax; the earliest match wins and its inner
// text is parsed again (emphasis inside a link, code inside bold).
const INLINE = new RegExp([
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.source, // 1, 2: code
  /\*\*(?=\S)([\s\S]*?\S)\*\*/.source, // 3: bold
  /(?<![\w_])__(?=\S)([\s\S]*?\S)__(?![\w_])/.source, // 4: bold
  /\*(?=[^\s*])([^*]*?[^\s*]|[^\s*])\*/.source, // 5: italic
  /(?<![\w_])_(?=[^\s_])([^_]*?[^\s_]|[^\s_])_(?![\w_])/.source, // 6: italic
  /\[([^\]]+)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"]*")?\s*\)/.source, // 7, 8: link
  /\bhttps?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]]/.source, // bare URL
].join('|'), 'g');

export function inline(text, depth = 0) {
  const out = [];
  if (depth > MAX_DEPTH) return [String(text)];
  let last = 0;
  text = String(text);
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(inlineNode(m, depth + 1));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function inlineNode(m, depth) {
  if (m[2] !== undefined) return h('code', {}, m[2].replace(/^ (.*) $/, '$1'));
  if (m[3] !== undefined || m[4] !== undefined) return h('strong', {}, inline(m[3] ?? m[4], depth));
  if (m[5] !== undefined || m[6] !== undefined) return h('em', {}, inline(m[5] ?? m[6], depth));
  if (m[7] !== undefined) {
    const href = safeURL(m[8]);
    return href ? link(href, inline(m[7], depth)) : m[0];
  }
  const href = safeURL(m[0]);
  return href ? link(href, m[0]) : m[0];
}

function link(href, children) {
  return h('a', {href, target: '_blank', rel: 'noopener noreferrer nofollow'}, children);
}

// safeURL returns the URL as written when the browser's own parser finds
// an allowed protocol in it, else ''. A relative URL has no protocol of its
// own and is refused: it would resolve against the dashboard.
export function safeURL(raw) {
  try {
    return SAFE_PROTOCOLS.has(new URL(raw).protocol) ? String(raw).trim() : '';
  } catch {
    return '';
  }
}
