// Monitoring: TPS per minute over the last hour, and, over the latest 100 blocks, the block
// interval and the transactions per block; every node's resources and faults from its
// Prometheus metrics (CPU as the rate between two readings). Refreshed every few seconds.
import { get } from '../api.js';
import { h, clear, card, errorBox, empty, table, chip, ago, busyInterval } from '../ui.js';
import { t } from '../i18n.js';
import { barChart, lineChart, themeColor } from '../chart.js';

export async function render(main, params) {
  const chain = await get(`/v1/chains/${params.chain}`);
  const stats = h('div', { class: 'stats' });
  const tps = h('canvas', { class: 'chart', 'data-test': 'tps-chart', role: 'img', 'aria-label': t('tps') });
  const interval = h('canvas', { class: 'chart', 'data-test': 'interval-chart', role: 'img', 'aria-label': t('block_interval') });
  const perBlock = h('canvas', { class: 'chart', 'data-test': 'txs-per-block-chart', role: 'img', 'aria-label': t('txs_per_block') });
  const status = h('div', {});
  const nodes = h('div', { 'data-test': 'node-metrics' });
  clear(main, h('h1', {}, t('monitor_of', { chain: chain.name })), status, stats,
    card(t('tps_per_minute'), tps),
    h('div', { class: 'grid' }, card(t('block_interval_ms'), interval), card(t('txs_per_block'), perBlock)),
    card(t('node_resources'), nodes));
  if (chain.status !== 'running') {
    clear(main, h('h1', {}, t('monitor_of', { chain: chain.name })), card(null, empty(t('not_started'), t('not_started_hint'))));
    return;
  }
  // The previous reading of each node's CPU time, for a rate.
  const cpuBefore = new Map();
  const num = (v, digits = 0) => (v == null ? '—' : v.toFixed(digits));
  const mib = (v) => (v == null ? '—' : `${(v / 1048576).toFixed(1)} MiB`);
  const drawNodes = (readings) => {
    const now = performance.now();
    const cpu = (n) => {
      const before = cpuBefore.get(n.node_id);
      if (n.cpu_seconds != null) cpuBefore.set(n.node_id, { at: now, seconds: n.cpu_seconds });
      if (!before || n.cpu_seconds == null || now <= before.at) return '—';
      return `${((100 * (n.cpu_seconds - before.seconds)) / ((now - before.at) / 1000)).toFixed(1)} %`;
    };
    const faults = (n) => (n.equivocations || 0) + (n.invalid_messages || 0);
    clear(nodes, table([
      { label: t('name'), render: (n) => n.name },
      { label: t('health'), render: (n) => (n.error ? chip(t('health_unreachable'), 'bad') : chip(t('health_healthy'), 'ok')) },
      { label: t('height'), render: (n) => num(n.height) },
      { label: t('peers'), render: (n) => num(n.peers) },
      { label: t('memory'), render: (n) => mib(n.resident_memory_bytes) },
      { label: t('cpu'), render: cpu },
      { label: t('pool'), render: (n) => num(n.mempool_transactions) },
      { label: t('commit_ms'), render: (n) => (n.commit_seconds_mean == null ? '—' : (n.commit_seconds_mean * 1000).toFixed(1)) },
      { label: t('round'), render: (n) => num(n.consensus_round) },
      { label: t('faults'), render: (n) => (n.error ? h('span', { title: n.error }, '—') : faults(n) ? chip(String(faults(n)), 'bad') : '0') },
      { label: t('refused'), render: (n) => num(n.refused_transactions) },
    ], readings));
  };
  const stat = (label, value) => h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
  const draw = async () => {
    const [volume, recent, readings] = await Promise.all([
      get(`/v1/chains/${chain.id}/explorer/stats/volume?bucket=minute`),
      get(`/v1/chains/${chain.id}/explorer/blocks?order=desc&limit=100&tx_hashes=false`),
      get(`/v1/chains/${chain.id}/metrics`),
    ]);
    drawNodes(readings);
    const hm = (ms) => { const d = new Date(ms); return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`; };
    lineChart(tps, volume.buckets.map((b) => hm(b.start_ms)), [{ values: volume.buckets.map((b) => b.txs / 60) }]);
    const blocks = recent.blocks.slice().reverse();
    const gaps = blocks.slice(1).map((b, i) => b.time_ms - blocks[i].time_ms);
    lineChart(interval, blocks.slice(1).map((b) => String(b.height)), [{ values: gaps, color: themeColor('--ok') }]);
    barChart(perBlock, blocks.map((b) => String(b.height)), blocks.map((b) => b.tx_count), themeColor('--warn'));
    const avg = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const last = volume.buckets.length > 1 ? volume.buckets[volume.buckets.length - 2].txs / 60 : 0;
    const busy = busyInterval(blocks);
    const newest = blocks.length ? blocks[blocks.length - 1] : null;
    clear(stats,
      stat(t('tps_last_minute'), last.toFixed(2)),
      h('div', { class: 'stat', 'data-test': 'busy-interval', title: t('busy_interval_hint') },
        h('div', { class: 'label' }, t('busy_block_interval')),
        h('div', { class: 'value' }, busy === null ? t('idle') : `${busy.toFixed(0)} ms`),
        h('div', { class: 'label' }, newest ? t('last_block_ago', { ago: ago(newest.time_ms) }) : '')),
      stat(t('avg_txs_per_block'), avg(blocks.map((b) => b.tx_count)).toFixed(2)),
      stat(t('height'), String(blocks.length ? blocks[blocks.length - 1].height : 0)));
  };
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await draw();
      clear(status);
    } catch (err) {
      clear(status, errorBox(err));
    }
    if (!stopped) timer = setTimeout(tick, 5000);
  };
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
