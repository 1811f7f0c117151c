// Small DOM helpers: elements from data (text only, never HTML strings), tables, forms, loading
// and empty states, toasts, formatting.
import { t, has, lang } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function loading(text) {
  return h('div', { class: 'loading' }, h('span', { class: 'spin' }), text || t('loading'));
}

export function empty(title, hint, action) {
  return h('div', { class: 'empty', 'data-test': 'empty' }, h('div', { class: 'big' }, title), hint ? h('div', {}, hint) : null, action ? h('div', { class: 'row' }, action) : null);
}

// What went wrong, in the user's language: the kind of error (from the platform's error code)
// and the platform's own message, which says what to do next.
export function errorText(err) {
  const message = err?.message || String(err);
  const code = err?.code?.startsWith('bad_') ? 'bad_request' : err?.code;
  return code && has(`err_${code}`) ? `${t(`err_${code}`)} ${message}` : message;
}

export function errorBox(err) {
  return h('div', { class: 'error', 'data-test': 'error', role: 'alert' }, errorText(err));
}

export function toast(message, kind) {
  let box = document.querySelector('.toasts');
  if (!box) document.body.append((box = h('div', { class: 'toasts' })));
  const el = h('div', { class: `toast ${kind || ''}`, 'data-test': kind === 'error' ? 'toast-error' : 'toast' }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
}

export function table(columns, rows, emptyText) {
  if (!rows.length) return empty(emptyText || t('nothing_yet'));
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', {}, c.render(r))))))));
}

export function field(label, input) {
  return h('label', { class: 'field' }, label, input);
}

// A button that runs an async action: disabled with a spinner meanwhile, errors shown as a toast.
// `attrs.confirm`: a destructive action's question, saying what will happen; asked first.
export function action(label, run, attrs) {
  const { confirm: question, ...rest } = attrs || {};
  const b = h('button', { type: 'button', ...rest }, label);
  b.addEventListener('click', async (e) => {
    e.preventDefault();
    if (question && !window.confirm(question)) return;
    b.disabled = true;
    const old = [...b.childNodes];
    b.replaceChildren(h('span', { class: 'spin' }), ' ', ...old);
    try {
      await run();
    } catch (err) {
      toast(errorText(err), 'error');
    } finally {
      b.disabled = false;
      b.replaceChildren(...old);
    }
  });
  return b;
}

// A form whose submit runs `run(values)`; errors appear inside it.
export function form(fields, submitLabel, run, attrs) {
  const status = h('div', {});
  const submit = h('button', { type: 'submit', 'data-test': attrs?.submitTest }, submitLabel);
  const el = h('form', { class: attrs?.inline ? 'inline-form' : '', 'data-test': attrs?.test }, fields, submit, status);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(el).entries());
    submit.disabled = true;
    clear(status, loading(t('working')));
    try {
      await run(values, el);
      clear(status);
    } catch (err) {
      clear(status, errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

export function chip(text, kind) {
  return h('span', { class: `chip ${kind || ''}` }, text);
}

// The time zone chosen in the account settings (none: the browser's).
const ZONE_KEY = 'consortia.timezone';

export function chosenZone() {
  return localStorage.getItem(ZONE_KEY) || '';
}

export function chooseZone(zone) {
  if (zone) localStorage.setItem(ZONE_KEY, zone);
  else localStorage.removeItem(ZONE_KEY);
}

// A time in the chosen time zone, written the way the console's language writes dates.
export function fmtTime(ms) {
  if (!ms) return '—';
  const zone = chosenZone();
  return new Date(ms).toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en', zone ? { timeZone: zone } : undefined);
}

export function ago(ms) {
  if (!ms) return '—';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return t('seconds_ago', { n: s });
  if (s < 3600) return t('minutes_ago', { n: Math.round(s / 60) });
  return t('hours_ago', { n: Math.round(s / 3600) });
}

// How fast a chain commits under load: the median gap (ms) between consecutive `blocks`
// (oldest first) that both carried transactions; null if no two did. A BFT chain makes a
// block when transactions wait, so an idle chain's gaps (or a quiet one's) say nothing.
export function busyInterval(blocks) {
  const busy = blocks.slice(1)
    .map((b, i) => [blocks[i], b])
    .filter(([a, b]) => a.tx_count > 0 && b.tx_count > 0)
    .map(([a, b]) => b.time_ms - a.time_ms)
    .sort((a, b) => a - b);
  return busy.length ? busy[Math.floor(busy.length / 2)] : null;
}

export function short(hash, n = 10) {
  if (!hash || hash.length <= n + 6) return hash || '—';
  return `${hash.slice(0, n)}…${hash.slice(-4)}`;
}

// Saves `text` as a file named `name` (the browser's download).
export function saveFile(name, text, type = 'text/plain') {
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// A small button that copies `text` to the clipboard (hashes, addresses).
export function copyButton(text) {
  return h('button', { type: 'button', class: 'copy', title: t('copy'), 'aria-label': t('copy'), 'data-test': 'copy', onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast(t('copied'));
    } catch {
      toast(t('copy_failed'), 'error');
    }
  } }, t('copy'));
}

// The time zone the console shows times in: the one chosen, else the browser's.
export function timeZone() {
  return chosenZone() || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function link(href, text, attrs) {
  return h('a', { href, ...attrs }, text);
}
