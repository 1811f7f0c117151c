// A contract's events as a table, newest first, a page at a time ("Older" asks for the page
// before): the contract page lists all of them, an app's table view one event with chosen
// columns.
import { get } from './api.js';
import { h, clear, table, action, link, short } from './ui.js';
import { t } from './i18n.js';

// An argument's value as text (numbers come as decimal strings, addresses as hex).
export function shown(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// The element, and `refresh()` to start again from the newest. `columns`: [{label, render}]
// over an event (`{height, tx_hash, event, args: [{name, value}]}`); `event`: one event only.
export function eventTable(chainId, contract, { event, columns, limit = 20, test }) {
  const box = h('div', { 'data-test': test });
  const rows = [];
  let next = null;
  const load = async (more) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (event) query.set('event', event);
    if (more && next) query.set('before_height', String(next));
    const page = await get(`/v1/chains/${chainId}/contracts/${encodeURIComponent(contract)}/events?${query}`);
    if (!more) rows.length = 0;
    rows.push(...page.events);
    next = page.next_before;
    clear(box, table(columns, rows, t('no_events')),
      next ? action(t('older'), () => load(true), { class: 'secondary', 'data-test': `${test}-older` }) : null);
  };
  return { element: box, refresh: () => load(false) };
}

// The columns every event has: its block and transaction.
export function whereColumns(chainId) {
  return {
    height: { label: t('block'), render: (e) => link(`#/chains/${chainId}/explorer/block/${e.height}`, String(e.height)) },
    tx_hash: { label: t('transaction'), render: (e) => link(`#/chains/${chainId}/explorer/tx/${e.tx_hash}`, short(e.tx_hash, 12)) },
  };
}
