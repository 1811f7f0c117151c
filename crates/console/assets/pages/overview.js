// The first page after login: every chain the user sees, its nodes' health, height and TPS,
// and the alerts that need someone (a node down or restarting, a failed start, a chain that
// still misses something).
import { get } from '../api.js';
import { h, clear, card, table, chip, empty, errorBox, link, ago } from '../ui.js';
import { t } from '../i18n.js';
import { refreshChains } from '../app.js';

export async function render(main) {
  const body = h('div', {});
  clear(main, h('h1', {}, t('nav_overview')), body);
  let stopped = false;
  const tick = async () => {
    try {
      await draw(body);
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

async function chainFacts(chain) {
  if (chain.status !== 'running') return { chain, nodes: [], tps: null };
  const [nodes, volume] = await Promise.all([
    get(`/v1/chains/${chain.id}/nodes`).catch(() => []),
    get(`/v1/chains/${chain.id}/explorer/stats/volume?bucket=minute`).catch(() => null),
  ]);
  // The last complete minute.
  const buckets = volume?.buckets || [];
  const last = buckets.length > 1 ? buckets[buckets.length - 2] : null;
  return { chain, nodes, tps: last ? last.txs / 60 : null };
}

async function draw(body) {
  const chains = await refreshChains();
  if (!chains.length) {
    clear(body, card(null, empty(t('no_chains'), t('no_chains_hint'),
      h('div', { class: 'row' }, link('#/consortiums', t('go_consortiums')), ' · ', link('#/chains/new', t('new_chain'))))));
    return;
  }
  const facts = await Promise.all(chains.map(chainFacts));
  const nodes = facts.flatMap((f) => f.nodes);
  const healthy = nodes.filter((n) => n.health === 'healthy').length;
  const alerts = [];
  for (const f of facts) {
    const c = f.chain;
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
  clear(body,
    h('div', { class: 'stats' },
      stat(t('chains'), `${chains.filter((c) => c.status === 'running').length} / ${chains.length}`, 'stat-chains'),
      stat(t('healthy_nodes'), `${healthy} / ${nodes.length}`, 'stat-nodes'),
      stat(t('tps_last_minute'), tps.toFixed(2), 'stat-tps'),
      stat(t('alerts'), String(alerts.length), 'stat-alerts')),
    card(t('chains'), table([
      { label: t('name'), render: (f) => link(`#/chains/${f.chain.id}`, f.chain.name) },
      { label: t('status'), render: (f) => chip(t(`status_${f.chain.status}`), f.chain.status === 'running' ? 'ok' : f.chain.status === 'failed' ? 'bad' : 'warn') },
      { label: t('consensus'), render: (f) => f.chain.consensus.toUpperCase() },
      { label: t('nodes'), render: (f) => f.chain.status === 'running' ? `${f.nodes.filter((n) => n.health === 'healthy').length} / ${f.chain.nodes.length}` : String(f.chain.nodes.length) },
      { label: t('height'), render: (f) => { const hs = f.nodes.map((n) => n.height || 0); return hs.length ? String(Math.max(...hs)) : '—'; } },
      { label: t('last_block'), render: (f) => ago(Math.max(0, ...f.nodes.map((n) => n.latest_block_time_ms || 0))) },
      { label: 'TPS', render: (f) => (f.tps === null ? '—' : f.tps.toFixed(2)) },
      { label: '', render: (f) => f.chain.status === 'running'
        ? h('div', { class: 'row' }, link(`#/chains/${f.chain.id}/explorer`, t('nav_explorer')), link(`#/chains/${f.chain.id}/nodes`, t('nav_nodes')))
        : link(`#/chains/${f.chain.id}`, t('continue_wizard')) },
    ], facts)),
    card(t('alerts'), alerts.length
      ? h('ul', { 'data-test': 'alerts' }, alerts.map(([c, kind, text]) => h('li', {}, chip(kind === 'bad' ? t('alert') : t('warning'), kind), ' ', link(`#/chains/${c.id}`, c.name), ': ', text)))
      : empty(t('no_alerts'))));
}
