// The block explorer: one search box (height, hash or address), the latest blocks and
// transactions live, the transaction volume per minute or hour, blocks in a time range; a
// block, a transaction (decoded with the contract's ABI when the chain knows it) and an address.
import { get, memberNames } from '../api.js';
import { h, clear, card, table, field, form, errorBox, empty, chip, link, short, fmtTime, ago, loading, copyButton, timeZone } from '../ui.js';
import { t } from '../i18n.js';
import { barChart } from '../chart.js';
import { go } from '../app.js';

const read = (chain, path) => get(`/v1/chains/${chain}/explorer/${path}`);

// Rows per page of a "view all" list.
// Rows per page of a "view all" list: the reader's choice, kept for every list.
const SIZES = [10, 25, 50, 100];
const SIZE_KEY = 'consortia.page_size';
const pageSize = () => {
  const n = Number(localStorage.getItem(SIZE_KEY));
  return SIZES.includes(n) ? n : 25;
};

// The names the platform knows for this chain's addresses (contracts, organizations'
// accounts), by lower-case address; loaded with each page.
let book = new Map();

// An address as a link to its page: its name when known (the hex in the tooltip), else the
// hex (shortened to `n` digits if given).
function addressLink(base, address, n) {
  const known = book.get(address.toLowerCase());
  const text = known ? `${known.name} (${t(`address_${known.kind}`)})` : n ? short(address, n) : address;
  return link(`${base}/address/${address}`, text, { title: address, 'data-test': known ? 'named-address' : null });
}

// A hash or an address in full, with a copy button.
function copyable(text, attrs) {
  return h('span', { class: 'copyable' }, h('code', attrs || {}, text), copyButton(text));
}

export async function render(main, params) {
  const chain = await get(`/v1/chains/${params.chain}`);
  const base = `#/chains/${chain.id}/explorer`;
  if (chain.status === 'running') {
    const names = await get(`/v1/chains/${chain.id}/address-book`).catch(() => []);
    book = new Map(names.map((n) => [n.address, n]));
  }
  const view = h('div', {});
  clear(main, h('div', { class: 'between' }, h('h1', {}, t('explorer_of', { chain: chain.name })), link(base, t('explorer_home'))), searchBox(chain.id, base), view);
  if (chain.status !== 'running') {
    clear(view, card(null, empty(t('not_started'), t('not_started_hint'))));
    return;
  }
  try {
    switch (params.view) {
      case 'block': return await blockView(view, chain, base, params.arg);
      case 'tx': return await txView(view, chain.id, base, params.arg);
      case 'address': return await addressView(view, chain.id, base, params.arg);
      case 'blocks': return await allBlocks(view, chain.id, base);
      case 'txs': return await allTransactions(view, chain.id, base);
      default: return await home(view, chain.id, base);
    }
  } catch (err) {
    clear(view, errorBox(err));
  }
}

function searchBox(chain, base) {
  const status = h('div', {});
  const input = h('input', { name: 'q', placeholder: t('search_placeholder'), 'aria-label': t('search'), 'data-test': 'search' });
  const f = h('form', { class: 'search', 'data-test': 'search-form' }, input, h('button', { type: 'submit', 'data-test': 'search-submit' }, t('search')));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    const typed = input.value.trim();
    // Hex without its `0x` is taken too.
    const q = /^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$/.test(typed) ? `0x${typed}` : typed;
    clear(status);
    try {
      if (/^\d+$/.test(q)) return go(`${base}/block/${q}`);
      if (/^0x[0-9a-fA-F]{40}$/.test(q)) return go(`${base}/address/${q}`);
      if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
        const tx = await get(`/v1/chains/${chain}/transactions/${q}`).catch((err) => (err.status === 404 ? null : Promise.reject(err)));
        if (tx) return go(`${base}/tx/${q}`);
        const block = await read(chain, `blocks/${q}`).catch((err) => (err.status === 404 ? null : Promise.reject(err)));
        if (block) return go(`${base}/block/${block.height}`);
        throw new Error(t('not_found', { q }));
      }
      // A name: a contract's, or an organization's account.
      const named = [...book.values()].find((n) => n.name.toLowerCase() === q.toLowerCase());
      if (named) return go(`${base}/address/${named.address}`);
      throw new Error(t('search_help'));
    } catch (err) {
      clear(status, errorBox(err));
    }
  });
  return h('div', {}, f, status);
}

const txColumns = (base) => [
  { label: t('hash'), render: (x) => link(`${base}/tx/${x.hash}`, short(x.hash, 14), { 'data-test': 'tx-row' }) },
  { label: t('block'), render: (x) => link(`${base}/block/${x.height}`, String(x.height)) },
  { label: t('age'), render: (x) => ago(x.time_ms) },
  { label: t('kind'), render: (x) => t(`kind_${x.kind}`) },
  { label: t('from'), render: (x) => addressLink(base, x.sender, 10) },
  { label: t('to'), render: (x) => (x.to ? addressLink(base, x.to, 10) : '—') },
  { label: t('status'), render: (x) => chip(t(`tx_${x.status}`), x.status === 'success' ? 'ok' : 'bad') },
];

async function home(view, chain, base) {
  const blocksBox = h('div', {}, loading());
  const txsBox = h('div', {}, loading());
  const canvas = h('canvas', { class: 'chart', 'data-test': 'volume-chart', role: 'img', 'aria-label': t('volume') });
  const bucket = h('select', { 'aria-label': t('bucket'), 'data-test': 'bucket' }, h('option', { value: 'minute' }, t('per_minute')), h('option', { value: 'hour' }, t('per_hour')));
  const volumeNote = h('div', { class: 'muted small', 'data-test': 'volume-total' });
  const rangeBox = h('div', {});
  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  clear(view,
    card(null, h('div', { class: 'between' }, h('h2', {}, t('volume')), bucket), canvas, volumeNote),
    h('div', { class: 'grid' },
      card(t('latest_blocks'), blocksBox, h('div', { class: 'row end' }, link(`${base}/blocks`, t('view_all'), { 'data-test': 'all-blocks' }))),
      card(t('latest_transactions'), txsBox, h('div', { class: 'row end' }, link(`${base}/txs`, t('view_all'), { 'data-test': 'all-txs' })))),
    card(t('time_range'), form([
      field(t('from_time'), h('input', { type: 'datetime-local', name: 'from', required: true, value: local(new Date(now - 3600e3)), 'data-test': 'range-from' })),
      field(t('to_time'), h('input', { type: 'datetime-local', name: 'to', required: true, value: local(new Date(now.getTime() + 60e3)), 'data-test': 'range-to' })),
    ], t('find_blocks'), async (v) => {
      const from = new Date(v.from).getTime();
      const to = new Date(v.to).getTime();
      if (!(from < to)) throw new Error(t('range_order'));
      const r = await read(chain, `blocks?from_time=${from}&to_time=${to}&limit=100&order=desc&tx_hashes=false`);
      clear(rangeBox, blockTable(base, r.blocks, t('no_blocks_in_range')), r.blocks.length === 100 ? h('p', { class: 'muted' }, t('first_100')) : null);
    }, { inline: true, test: 'range' }), rangeBox));
  const drawVolume = async () => {
    const v = await read(chain, `stats/volume?bucket=${bucket.value}`);
    const fmt = (ms) => {
      const d = new Date(ms);
      return bucket.value === 'hour' ? `${d.getHours()}:00` : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    };
    const values = v.buckets.map((b) => b.txs);
    barChart(canvas, v.buckets.map((b) => fmt(b.start_ms)), values);
    volumeNote.textContent = t('volume_total', { txs: values.reduce((a, b) => a + b, 0), blocks: v.buckets.reduce((a, b) => a + b.blocks, 0), n: v.buckets.length, unit: t(bucket.value === 'hour' ? 'hours' : 'minutes') });
  };
  bucket.addEventListener('change', drawVolume);
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      const [blocks, txs] = await Promise.all([read(chain, 'blocks?order=desc&limit=10&tx_hashes=false'), read(chain, 'transactions?limit=10')]);
      clear(blocksBox, blockTable(base, blocks.blocks));
      // Half a page wide: what tells the transactions apart; the rest is a click away.
      clear(txsBox, table(txColumns(base).filter((c) => c.label !== t('to') && c.label !== t('kind')), txs.transactions, t('no_transactions')));
      await drawVolume();
    } catch (err) {
      clear(txsBox, errorBox(err));
    }
    if (!stopped) timer = setTimeout(tick, 3000);
  };
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// A list that grows a page at a time: `load(cursor, size)` answers `{ rows, next }` (`next`:
// the cursor of the page after, none at the end; the first page's cursor is none). Answers
// the list and its footer: the rows per page (a new choice starts the list over) and "Older".
async function paged(load, render) {
  const list = h('div', {});
  const more = h('div', { class: 'row end' });
  const show = async (cursor) => {
    const page = await load(cursor, pageSize());
    list.append(render(page.rows));
    clear(more, page.next == null ? null : h('button', {
      class: 'secondary',
      'data-test': 'older',
      onclick: () => show(page.next).catch((err) => clear(more, errorBox(err))),
    }, t('older')));
  };
  const size = h('select', { 'aria-label': t('rows_per_page'), 'data-test': 'page-size', onchange: () => {
    localStorage.setItem(SIZE_KEY, size.value);
    list.replaceChildren();
    show(null).catch((err) => clear(more, errorBox(err)));
  } }, SIZES.map((n) => h('option', { value: String(n), selected: n === pageSize() }, String(n))));
  await show(null);
  return [list, h('div', { class: 'between' }, h('label', { class: 'muted small' }, t('rows_per_page'), ' ', size), more)];
}

// A transaction list read `path` answers (`{ transactions, next }`), a page at a time.
const txPages = (chain, base, path) => paged(async (before, size) => {
  const page = await read(chain, `${path}?limit=${size}${before == null ? '' : `&before=${before}`}`);
  return { rows: page.transactions, next: page.next };
}, (txs) => table(txColumns(base), txs, t('no_transactions')));

async function allBlocks(view, chain, base) {
  const [list, more] = await paged(async (before, size) => {
    const { blocks } = await read(chain, before == null ? `blocks?order=desc&limit=${size}&tx_hashes=false` : `blocks?before_height=${before}&limit=${size}&tx_hashes=false`);
    const lowest = blocks.length ? blocks[blocks.length - 1].height : 0;
    return { rows: blocks, next: blocks.length === size && lowest > 0 ? lowest : null };
  }, (blocks) => blockTable(base, blocks));
  clear(view, card(t('all_blocks'), list, more));
}

async function allTransactions(view, chain, base) {
  const [list, more] = await txPages(chain, base, 'transactions');
  clear(view, card(t('all_transactions'), list, more));
}

function blockTable(base, blocks, emptyText) {
  return table([
    { label: t('height'), render: (b) => link(`${base}/block/${b.height}`, String(b.height), { 'data-test': 'block-row' }) },
    { label: t('age'), render: (b) => ago(b.time_ms) },
    { label: t('txs'), render: (b) => String(b.tx_count) },
    { label: t('hash'), render: (b) => h('code', {}, short(b.hash, 12)) },
  ], blocks, emptyText);
}

// A validator as people know it: its node's name and organization.
function validatorName(chain, orgName, v) {
  const node = chain.nodes.find((n) => n.name === v.name);
  return node ? t('validator_of', { node: v.name, org: orgName(node.org_id) }) : v.name;
}

async function blockView(view, chainView, base, arg) {
  const chain = chainView.id;
  const b = await read(chain, `blocks/${arg}`);
  // The set that signed this height, and who proposed it.
  const [set, orgName, proposals] = await Promise.all([
    read(chain, `validators?height=${b.height}`).catch(() => null),
    memberNames(chainView.consortium_id),
    read(chain, `governance/proposals?height=${b.height}&limit=200`).catch(() => null),
  ]);
  const governance = governanceAt(b.height, proposals?.proposals || [], orgName);
  const proposer = set?.validators.find((v) => v.address.toLowerCase() === b.proposer.toLowerCase());
  const nav = h('div', { class: 'row' },
    b.height > 0 ? link(`${base}/block/${b.height - 1}`, `← ${b.height - 1}`) : null,
    link(`${base}/block/${b.height + 1}`, `${b.height + 1} →`));
  clear(view, card(t('block_n', { n: b.height }), nav, h('dl', { class: 'kv', 'data-test': 'block' },
    h('dt', {}, t('hash')), h('dd', {}, copyable(b.hash)),
    h('dt', {}, t('parent')), h('dd', {}, b.height > 0 ? link(`${base}/block/${b.height - 1}`, b.parent_hash) : h('code', {}, b.parent_hash)),
    h('dt', {}, t('time')), h('dd', {}, `${fmtTime(b.time_ms)} (${ago(b.time_ms)}, ${timeZone()})`),
    h('dt', {}, t('proposer')), h('dd', { 'data-test': 'block-proposer' },
      proposer ? [validatorName(chainView, orgName, proposer), ' '] : null, h('code', { class: proposer ? 'muted' : '' }, b.proposer)),
    h('dt', {}, t('txs')), h('dd', {}, String(b.tx_count)),
    h('dt', {}, t('state_root')), h('dd', {}, h('code', {}, b.state_root)),
    h('dt', {}, t('receipts_root')), h('dd', {}, h('code', {}, b.receipts_root)),
    h('dt', {}, t('next_validators_hash')), h('dd', {}, h('code', {}, b.next_validators_hash)),
    h('dt', {}, t('signatures')), h('dd', {}, b.certificate ? t('n_signatures', { n: b.certificate.signatures.length, round: b.certificate.round }) : '—'))),
  card(t('transactions'), b.tx_hashes.length ? h('ul', {}, b.tx_hashes.map((x) => h('li', {}, link(`${base}/tx/${x}`, x)))) : empty(t('no_transactions'))),
  governance.length ? card(t('governance_in_block'), h('ul', { 'data-test': 'block-governance' }, governance.map(([id, text]) =>
    h('li', {}, link(`#/chains/${chain}/governance`, `#${id}`), ' ', text)))) : null,
  set ? card(t('validator_set_at', { n: b.height }), h('p', { class: 'muted' }, t('validator_set_hint')), table([
    { label: t('validator'), render: (v) => h('span', { 'data-test': 'validator' }, validatorName(chainView, orgName, v)) },
    { label: t('address'), render: (v) => h('code', {}, v.address) },
    { label: t('voting_power'), render: (v) => String(v.power) },
  ], set.validators)) : null);
}

// What governance did at `height`, as `[proposal id, words]`: proposals made, votes cast,
// proposals decided (`proposals`: those the block's governance events name).
function governanceAt(height, proposals, orgName) {
  const out = [];
  for (const p of [...proposals].reverse()) {
    if (p.created_height === height) out.push([p.id, t('gov_proposed', { org: orgName(p.org), summary: p.summary })]);
    for (const v of p.votes.filter((x) => x.height === height)) {
      out.push([p.id, t(v.approve ? 'gov_voted_for' : 'gov_voted_against', { org: orgName(v.org) })]);
    }
    if (p.decided_height === height) out.push([p.id, t('gov_decided', { status: t(`proposal_${p.status}`), summary: p.summary })]);
  }
  return out;
}

function value(v) {
  return h('code', {}, typeof v === 'string' ? v : JSON.stringify(v));
}

async function txView(view, chain, base, hash) {
  const x = await get(`/v1/chains/${chain}/transactions/${hash}`);
  if (x.status === 'pending') {
    clear(view, card(t('transaction'), h('p', {}, chip(t('tx_pending'), 'warn'), ' ', t('pending_hint'))));
    return;
  }
  const tx = x.transaction;
  const p = tx.payload;
  const r = x.receipt;
  const d = x.decoded || {};
  const rows = [
    [t('hash'), copyable(x.hash, { 'data-test': 'tx-hash' })],
    [t('status'), chip(t(`tx_${r.status}`), r.status === 'success' ? 'ok' : 'bad')],
    [t('block'), link(`${base}/block/${x.height}`, `${x.height} (#${x.position})`)],
    [t('time'), h('span', { 'data-test': 'tx-time' }, x.block_time_ms ? `${fmtTime(x.block_time_ms)} (${ago(x.block_time_ms)}, ${timeZone()})` : '—')],
    [t('tx_type'), h('span', { 'data-test': 'tx-kind' }, t(`tx_kind_${x.kind || 'native'}`))],
    [t('from'), h('span', {}, addressLink(base, tx.sender), ' ', copyButton(tx.sender))],
    [t('tx_nonce'), String(tx.nonce)],
  ];
  if (p.type === 'evm') {
    rows.push([t('to'), p.to ? h('span', {}, addressLink(base, p.to), ' ', copyButton(p.to)) : t('contract_creation')]);
    if (d.contract) rows.push([t('contract'), h('span', { 'data-test': 'decoded-contract' }, `${d.contract.name} (${d.contract.address})`)]);
    rows.push([t('value'), `${p.value} wei`]);
    if (x.fee) {
      rows.push([t('gas'), h('span', { 'data-test': 'tx-gas' }, t('gas_of', { used: x.fee.gas_used, limit: x.fee.gas_limit }))]);
      rows.push([t('fee'), h('span', { 'data-test': 'tx-fee' }, t('fee_of', { fee: x.fee.fee, price: x.fee.gas_price }))]);
    }
  } else {
    rows.push([t('notarization'), h('code', {}, `${p.id} → ${p.content_hash}`)]);
  }
  if (r.error) rows.push([t('error'), `${r.error.code}: ${r.error.message}`]);
  const parts = [card(t('transaction'), h('dl', { class: 'kv', 'data-test': 'tx' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])))];
  if (d.call) {
    parts.push(card(t('decoded_input'), h('p', {}, h('code', { 'data-test': 'decoded-function' }, d.call.signature)),
      table([{ label: t('name'), render: (a) => a.name }, { label: t('type'), render: (a) => a.type }, { label: t('value'), render: (a) => value(a.value) }], d.call.args)));
  } else if (p.type === 'evm' && p.input && p.input !== '0x') {
    parts.push(card(t('input'), h('p', { class: 'muted' }, t('abi_unknown')), h('pre', { class: 'logs' }, p.input)));
  }
  // The bytes as signed, for whoever wants to check them.
  const raw = [p.type === 'evm' && d.call ? [t('raw_input'), p.input] : null, tx.raw ? [t('raw_tx'), tx.raw] : null].filter(Boolean);
  if (raw.length) {
    parts.push(card(null, raw.map(([label, bytes]) => h('details', { 'data-test': 'raw' },
      h('summary', {}, label, ' ', h('span', { class: 'muted' }, t('n_bytes', { n: (bytes.length - 2) / 2 }))),
      h('div', { class: 'row end' }, copyButton(bytes)), h('pre', { class: 'logs' }, bytes)))));
  }
  parts.push(card(t('events'), r.events.length ? r.events.map((e, i) => {
    const known = d.events?.[i];
    return h('div', { class: 'card', 'data-test': 'event' },
      known ? h('div', {}, h('strong', {}, known.event), ' ', h('span', { class: 'muted' }, `${known.contract} · ${e.contract}`),
        table([{ label: t('name'), render: (a) => a.name }, { label: t('type'), render: (a) => a.type }, { label: t('value'), render: (a) => value(a.value) }], known.args))
        : h('dl', { class: 'kv' }, h('dt', {}, t('contract')), h('dd', {}, h('code', {}, e.contract)), h('dt', {}, t('topics')), h('dd', {}, e.topics.map((x) => h('div', {}, h('code', {}, x)))), h('dt', {}, t('data')), h('dd', {}, h('code', {}, e.data))));
  }) : empty(t('no_events'))));
  clear(view, parts);
}

async function addressView(view, chain, base, address) {
  const [account, [list, more]] = await Promise.all([read(chain, `accounts/${address}`), txPages(chain, base, `addresses/${address}/transactions`)]);
  // A digital asset's contract: what it is, and where its holders and transfers are.
  const asset = account.contract
    ? (await get(`/v1/chains/${chain}/assets`)).find((a) => a.address.toLowerCase() === address.toLowerCase())
    : null;
  clear(view, card(t('address'), h('dl', { class: 'kv', 'data-test': 'address' },
    h('dt', {}, t('address')), h('dd', {}, copyable(account.address)),
    book.has(address.toLowerCase()) ? [h('dt', {}, t('name')), h('dd', { 'data-test': 'address-name' }, addressLink(base, address))] : null,
    h('dt', {}, t('kind')), h('dd', {}, account.contract ? t('contract') : t('account')),
    asset ? [h('dt', {}, t('assets')), h('dd', { 'data-test': 'address-asset' },
      `${asset.name} (${asset.symbol}) · ${t('supply')} ${asset.total_supply} · `,
      link(`#/chains/${chain}/services/${encodeURIComponent(asset.name)}`, t('asset_holders', { name: asset.name })))] : null,
    h('dt', {}, t('balance')), h('dd', {}, account.balance),
    h('dt', {}, t('nonce')), h('dd', {}, String(account.nonce)))),
  card(t('transactions'), list, more));
}
