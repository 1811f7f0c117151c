// The first page after login: totals across the chains the user sees (blocks, transactions,
// accounts, contracts, organizations, nodes), every chain with its nodes' health, height, TPS
// over the last hour and block interval (under load, or idle), where
// each running chain's consensus stands (quorum, faults it tolerates, peers), the
// alerts that need someone (the platform's firing alerts, a node down or restarting, a failed
// start, a chain that still misses something), and the latest transactions as an activity
// feed.
import { get } from '../api.js';
import { h, clear, card, table, chip, empty, errorBox, link, ago, short, busyInterval } from '../ui.js';
import { t } from '../i18n.js';
import { refreshChains } from '../app.js';
import { sparkline } from '../chart.js';

export async function render(main) {
  const body = h('div', {});
  clear(main, h('h1', {}, t('nav_overview')), body);
  let stopped = false;
  // Addresses' names per chain, read once per visit (they change only with a deployment).
  const books = new Map();
  const tick = async () => {
    try {
      await draw(body, books);
    } catch (err) {
      clear(body, errorBox(err));
    }
    if (!stopped) timer = setTimeout(tick, 5000);
  };
  let timer = null;
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

async function chainFacts(chain, books) {
  if (chain.status !== 'running') return { chain, nodes: [], tps: null, trend: [], interval: null, totals: null, contracts: [], firing: [], recent: [], set: null, head: null };
  const base = `/v1/chains/${chain.id}`;
  if (!books.has(chain.id)) {
    const names = await get(`${base}/address-book`).catch(() => []);
    books.set(chain.id, new Map(names.map((n) => [n.address.toLowerCase(), n.name])));
  }
  const [nodes, volume, totals, contracts, alerts, recent, set, head] = await Promise.all([
    get(`${base}/nodes`).catch(() => []),
    get(`${base}/explorer/stats/volume?bucket=minute`).catch(() => null),
    get(`${base}/explorer/stats/totals`).catch(() => null),
    get(`${base}/contracts`).catch(() => []),
    get(`${base}/alerts`).catch(() => []),
    get(`${base}/explorer/transactions?limit=5`).catch(() => null),
    get(`${base}/explorer/validators`).catch(() => null),
    get(`${base}/explorer/blocks?order=desc&limit=20&tx_hashes=false`).catch(() => null),
  ]);
  // The complete minutes of the last hour; the current one is still counting.
  const minutes = (volume?.buckets || []).slice(0, -1);
  const last = minutes.length ? minutes[minutes.length - 1] : null;
  return {
    chain,
    nodes,
    tps: last ? last.txs / 60 : null,
    trend: minutes.map((b) => b.txs / 60),
    // As the Monitoring page says it: between the latest blocks that carried transactions.
    interval: busyInterval((head?.blocks || []).slice().reverse()),
    totals,
    contracts: contracts.filter((c) => c.address),
    firing: alerts.filter((a) => a.state === 'firing'),
    recent: (recent?.transactions || []).map((tx) => ({ chain, tx, names: books.get(chain.id) })),
    set: set?.validators || null,
    head: head?.blocks?.[0] || null,
  };
}

// Where a running chain's consensus stands: the validator set's voting power that answers
// against what a commit needs (BFT: more than two thirds; Raft: more than half; solo: its one
// validator), how much may fail before commits stop, and how connected the nodes are.
function consensusOf(f) {
  const { chain, nodes, set } = f;
  if (!set) return null;
  const healthy = new Set(nodes.filter((n) => n.health === 'healthy').map((n) => n.name));
  const total = set.reduce((s, v) => s + v.power, 0);
  const up = set.filter((v) => healthy.has(v.name)).reduce((s, v) => s + v.power, 0);
  const needs = chain.consensus === 'bft' ? Math.floor((2 * total) / 3) + 1 : chain.consensus === 'raft' ? Math.floor(total / 2) + 1 : total;
  const peers = nodes.filter((n) => n.health === 'healthy' && n.peers != null).map((n) => n.peers);
  return {
    up,
    total,
    needs,
    tolerates: total - needs,
    state: up < needs ? 'lost' : up === needs && total > needs ? 'at_risk' : 'held',
    peers: peers.length ? [Math.min(...peers), Math.max(...peers)] : null,
    expectedPeers: chain.nodes.length - 1,
    round: f.head?.certificate ? f.head.certificate.round : null,
  };
}

async function draw(body, books) {
  const chains = await refreshChains();
  if (!chains.length) {
    clear(body, card(null, empty(t('no_chains'), t('no_chains_hint'),
      h('div', { class: 'row' }, link('#/consortiums', t('go_consortiums')), ' · ', link('#/chains/new', t('new_chain'))))));
    return;
  }
  const [facts, orgs] = await Promise.all([Promise.all(chains.map((c) => chainFacts(c, books))), get('/v1/orgs').catch(() => [])]);
  const nodes = facts.flatMap((f) => f.nodes);
  const running = facts.filter((f) => f.chain.status === 'running');
  const healthy = nodes.filter((n) => n.health === 'healthy').length;
  const alerts = [];
  for (const f of facts) {
    const c = f.chain;
    for (const a of f.firing) alerts.push([c, a.severity === 'critical' ? 'bad' : 'warn', a.summary, `#/chains/${c.id}/alerts`]);
    if (c.failure) alerts.push([c, 'bad', t('alert_failed', { reason: c.failure })]);
    if (c.status === 'configuring' && c.problems.length) alerts.push([c, 'warn', t('alert_problems', { problems: c.problems.join('; ') })]);
    for (const n of f.nodes) {
      if (n.process === 'restarting') alerts.push([c, 'bad', t('alert_restarting', { node: n.name, exit: n.last_exit || '' })]);
      else if (n.health === 'unreachable') alerts.push([c, 'bad', t('alert_unreachable', { node: n.name })]);
      else if (n.health === 'stopped') alerts.push([c, 'warn', t('alert_stopped', { node: n.name })]);
    }
  }
  const stat = (label, value, test) => h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-test': test }, value));
  const tps = facts.reduce((s, f) => s + (f.tps || 0), 0);
  const sum = (key) => facts.reduce((s, f) => s + (f.totals ? f.totals[key] : 0), 0);
  const number = (n) => n.toLocaleString();
  const activity = facts.flatMap((f) => f.recent).sort((a, b) => b.tx.time_ms - a.tx.time_ms).slice(0, 8);
  const named = (names, address) => (address && names?.get(address.toLowerCase())) || short(address, 10);
  clear(body,
    h('div', { class: 'stats' },
      stat(t('chains'), `${chains.filter((c) => c.status === 'running').length} / ${chains.length}`, 'stat-chains'),
      stat(t('healthy_nodes'), `${healthy} / ${nodes.length}`, 'stat-nodes'),
      stat(t('tps_last_minute'), tps.toFixed(2), 'stat-tps'),
      stat(t('alerts'), String(alerts.length), 'stat-alerts')),
    h('div', { class: 'stats' },
      stat(t('total_blocks'), number(sum('blocks')), 'stat-blocks'),
      stat(t('total_transactions'), number(sum('transactions')), 'stat-transactions'),
      stat(t('total_accounts'), number(sum('accounts')), 'stat-accounts'),
      stat(t('total_contracts'), number(facts.reduce((s, f) => s + f.contracts.length, 0)), 'stat-contracts'),
      stat(t('total_orgs'), number(orgs.length), 'stat-orgs')),
    card(t('chains'), table([
      { label: t('name'), render: (f) => link(`#/chains/${f.chain.id}`, f.chain.name) },
      { label: t('status'), render: (f) => chip(t(`status_${f.chain.status}`), f.chain.status === 'running' ? 'ok' : f.chain.status === 'failed' ? 'bad' : 'warn') },
      { label: t('consensus'), render: (f) => f.chain.consensus.toUpperCase() },
      { label: t('nodes'), render: (f) => f.chain.status === 'running' ? `${f.nodes.filter((n) => n.health === 'healthy').length} / ${f.chain.nodes.length}` : String(f.chain.nodes.length) },
      { label: t('height'), render: (f) => { const hs = f.nodes.map((n) => n.height || 0); return hs.length ? String(Math.max(...hs)) : '—'; } },
      { label: t('last_block'), render: (f) => ago(Math.max(0, ...f.nodes.map((n) => n.latest_block_time_ms || 0))) },
      { label: 'TPS', render: (f) => (f.tps === null ? '—' : [f.tps.toFixed(2),
        f.trend.length > 1 ? sparkline(f.trend, t('tps_trend', { peak: Math.max(...f.trend).toFixed(2) }), `tps-trend-${f.chain.name}`) : null]) },
      { label: t('block_interval'), render: (f) => (f.chain.status !== 'running' ? '—'
        : h('span', { 'data-test': `interval-${f.chain.name}`, title: t('busy_interval_hint') },
          f.interval === null ? chip(t('idle_short')) : t('interval_under_load', { ms: Math.round(f.interval).toLocaleString() }))) },
      { label: '', render: (f) => f.chain.status === 'running'
        ? h('div', { class: 'row' }, link(`#/chains/${f.chain.id}/explorer`, t('nav_explorer')), link(`#/chains/${f.chain.id}/nodes`, t('nav_nodes')))
        : link(`#/chains/${f.chain.id}`, t('continue_wizard')) },
    ], facts)),
    card(t('consensus_and_peers'), table([
      { label: t('name'), render: (f) => f.chain.name },
      { label: t('consensus'), render: (f) => f.chain.consensus.toUpperCase() },
      { label: t('voting_power_up'), render: (f) => (f.c ? `${f.c.up} / ${f.c.total}` : '—') },
      { label: t('quorum'), render: (f) => (f.c ? h('span', { 'data-test': `quorum-${f.chain.name}` }, chip(t(`quorum_${f.c.state}`), f.c.state === 'held' ? 'ok' : f.c.state === 'lost' ? 'bad' : 'warn'), ' ', t('quorum_needs', { needs: f.c.needs, total: f.c.total })) : '—') },
      { label: t('tolerates'), render: (f) => (f.c ? t('tolerates_n', { n: f.c.tolerates }) : '—') },
      { label: t('peers'), render: (f) => (f.c?.peers ? h('span', { 'data-test': `peers-${f.chain.name}` }, t('peers_of', { min: f.c.peers[0], max: f.c.peers[1], expected: f.c.expectedPeers })) : '—') },
      { label: t('last_round'), render: (f) => (f.c?.round == null ? '—' : h('span', { title: t('last_round_hint') }, String(f.c.round))) },
    ], running.map((f) => ({ ...f, c: consensusOf(f) })), t('no_running_chains'))),
    card(t('alerts'), alerts.length
      ? h('ul', { 'data-test': 'alerts' }, alerts.map(([c, kind, text, href]) => h('li', {}, chip(kind === 'bad' ? t('alert') : t('warning'), kind), ' ', link(href || `#/chains/${c.id}`, c.name), ': ', text)))
      : empty(t('no_alerts'))),
    card(t('recent_activity'), activity.length
      ? h('ul', { class: 'feed', 'data-test': 'activity' }, activity.map(({ chain, tx, names }) => h('li', {},
        h('span', { class: 'muted' }, ago(tx.time_ms)), ' ', link(`#/chains/${chain.id}`, chain.name), ' · ',
        link(`#/chains/${chain.id}/explorer/tx/${tx.hash}`, t(`activity_${tx.kind}`, { from: named(names, tx.sender), to: named(names, tx.to) })),
        ' · ', t('activity_block', { height: tx.height }),
        tx.status === 'success' ? null : [' ', chip(t('tx_failed'), 'bad')])))
      : empty(t('no_activity'))));
}
