// The log viewer of a chain's nodes (the lines the platform reads from each node's host) or of
// the platform itself (its own last lines): JSON logs (time, level, target, message, fields),
// searched across the chain's nodes or one node by level, text and time range, followed live
// (Server-Sent Events), and downloaded as shown.
import { get, stream } from './api.js';
import { h, clear, card, chip, errorBox, empty, saveFile } from './ui.js';
import { t } from './i18n.js';

// The most lines kept on screen while following (the oldest go first).
const KEEP = 2000;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const LEVEL_KIND = { error: 'bad', warn: 'warn', info: 'ok' };

// `ms` as local date and time with milliseconds.
function when(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.toLocaleString()}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function fieldsText(fields) {
  return Object.entries(fields || {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

// One line as text, as tracing's text format writes it (for the download).
function lineText(e) {
  return [e.node, e.time || '', (e.level || '').toUpperCase(), e.target ? `${e.target}:` : '', e.message, fieldsText(e.fields)].filter(Boolean).join(' ');
}

function row(e) {
  return h('div', { class: `log-line level-${e.level || 'none'}`, 'data-test': 'log-line' },
    h('span', { class: 'log-time' }, when(e.time_ms)),
    h('span', { class: 'log-node' }, e.node),
    e.level ? chip(e.level.toUpperCase(), LEVEL_KIND[e.level]) : h('span', { class: 'chip' }, '·'),
    e.target ? h('span', { class: 'log-target' }, e.target) : null,
    h('span', { class: 'log-message' }, e.message),
    Object.keys(e.fields || {}).length ? h('span', { class: 'log-fields' }, fieldsText(e.fields)) : null);
}

// `datetime-local` text (local time) as milliseconds since the epoch, or undefined.
function localMs(text) {
  const ms = text ? new Date(text).getTime() : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

// The viewer of the logs under `base` (`/v1/chains/{id}` or `/v1/platform`: its `/logs` and
// `/logs/stream`), of `nodes` (none: one log, no node to pick), downloaded as `name`, under
// `title`; `show(node)` picks one node's log. `stop()` ends a follow (call it when the page
// goes).
export function logViewer({ base, name, nodes = [], title = t('logs') }) {
  let entries = [];
  let following = null;
  const out = h('div', { class: 'logs', 'data-test': 'logs' });
  const status = h('div', { class: 'muted' });
  const node = h('select', { 'data-test': 'log-node', hidden: nodes.length === 0 },
    h('option', { value: '' }, t('log_all_nodes')), nodes.map((n) => h('option', { value: n.name }, n.name)));
  const level = h('select', { 'data-test': 'log-level' },
    h('option', { value: '' }, t('log_level_any')), LEVELS.map((l) => h('option', { value: l }, t('log_level_at_least', { level: l.toUpperCase() }))));
  const text = h('input', { type: 'search', placeholder: t('log_search'), 'data-test': 'log-text' });
  const since = h('input', { type: 'datetime-local', step: '1', 'data-test': 'log-since' });
  const until = h('input', { type: 'datetime-local', step: '1', 'data-test': 'log-until' });
  const followButton = h('button', { type: 'button', class: 'secondary', 'data-test': 'log-follow' }, t('log_follow'));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  const query = (extra) => {
    const q = new URLSearchParams();
    if (node.value) q.set('node', node.value);
    if (level.value) q.set('level', level.value);
    if (text.value.trim()) q.set('q', text.value.trim());
    const from = localMs(since.value);
    const to = localMs(until.value);
    if (from !== undefined) q.set('since_ms', from);
    if (to !== undefined) q.set('until_ms', to);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  };
  const draw = () => {
    clear(out, entries.length ? entries.map(row) : empty(t('no_log_lines')));
    out.scrollTop = out.scrollHeight;
  };
  const stop = () => {
    following?.abort();
    following = null;
    followButton.textContent = t('log_follow');
    followButton.classList.remove('on');
  };
  const search = async () => {
    stop();
    clear(status, t('loading'));
    try {
      entries = await get(`${base}/logs?${query({ lines: 500 })}`);
      clear(status, t('log_count', { n: entries.length, zone }));
      draw();
    } catch (err) {
      clear(status, errorBox(err));
    }
  };
  const follow = () => {
    if (following) return stop();
    const controller = new AbortController();
    following = controller;
    followButton.textContent = t('log_unfollow');
    followButton.classList.add('on');
    clear(status, t('log_following', { zone }));
    const last = entries.length ? entries[entries.length - 1].time_ms : undefined;
    const extra = last ? { since_ms: last + 1 } : {};
    stream(`${base}/logs/stream?${query(extra)}`, (e) => {
      entries.push(e);
      if (entries.length > KEEP) entries = entries.slice(-KEEP);
      if (entries.length === 1) draw();
      else {
        out.querySelector('.empty')?.remove();
        out.append(row(e));
        if (out.childElementCount > KEEP) out.firstElementChild.remove();
        out.scrollTop = out.scrollHeight;
      }
    }, controller.signal).catch((err) => {
      if (following === controller && err.name !== 'AbortError') {
        stop();
        clear(status, errorBox(err));
      }
    });
  };
  const download = () => saveFile(`${name}-logs-${new Date().toISOString().replace(/[:.]/g, '-')}.log`, entries.map(lineText).join('\n') + '\n');
  followButton.addEventListener('click', follow);
  const form = h('form', { class: 'log-filters', 'data-test': 'log-filters', onsubmit: (ev) => { ev.preventDefault(); search(); } },
    node, level, text,
    h('label', { class: 'inline' }, t('log_since'), since),
    h('label', { class: 'inline' }, t('log_until'), until),
    h('button', { type: 'submit', 'data-test': 'log-apply' }, t('log_apply')),
    followButton,
    h('button', { type: 'button', class: 'secondary', 'data-test': 'log-download', onclick: download }, t('log_download')));
  const el = card(title, form, status, out);
  return {
    el,
    stop,
    show: (name) => {
      node.value = name;
      search();
      el.scrollIntoView({ block: 'start' });
    },
    search,
  };
}
