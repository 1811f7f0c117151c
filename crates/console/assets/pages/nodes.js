// A chain's nodes: each node's process (from its host) and its own view (height, peers, last
// block), refreshed every few seconds; restart, stop and start; the log viewer of its nodes.
import { get, post } from '../api.js';
import { h, clear, card, table, action, toast, errorBox, chip, ago, empty } from '../ui.js';
import { t } from '../i18n.js';
import { logViewer } from '../logs.js';

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const list = h('div', {});
  const logs = h('div', {});
  clear(main, h('h1', {}, t('nodes_of', { chain: chain.name })), list, logs);
  if (chain.status === 'configuring') {
    clear(list, card(null, empty(t('not_started'), t('not_started_hint'), h('a', { href: `#/chains/${id}` }, t('continue_wizard')))));
    return;
  }
  let timer = null;
  let stopped = false;
  const viewer = logViewer({ base: `/v1/chains/${id}`, name: chain.name, nodes: chain.nodes });
  clear(logs, viewer.el);
  viewer.search();
  const control = (node, verb) => action(t(verb), async () => {
    const status = await post(`/v1/chains/${id}/nodes/${node.id}/${verb}`);
    toast(t('node_now', { node: node.name, state: t(`health_${status.health}`) }));
    await draw();
  }, { class: verb === 'stop' ? 'danger' : 'secondary', 'data-test': `${verb}-${node.name}`, confirm: verb === 'stop' ? t('confirm_stop_node', { node: node.name }) : null });
  const draw = async () => {
    try {
      const nodes = await get(`/v1/chains/${id}/nodes`);
      clear(list, card(null, table([
        { label: t('name'), render: (n) => n.name },
        { label: t('role'), render: (n) => t(`node_${n.role}`) },
        { label: t('process'), render: (n) => chip(t(`process_${n.process}`), n.process === 'running' ? 'ok' : n.process === 'restarting' ? 'bad' : 'warn') },
        { label: t('health'), render: (n) => chip(t(`health_${n.health}`), n.health === 'healthy' ? 'ok' : 'bad') },
        { label: t('height'), render: (n) => (n.height ?? '—').toString() },
        { label: t('peers'), render: (n) => (n.peers ?? '—').toString() },
        { label: t('last_block'), render: (n) => ago(n.latest_block_time_ms) },
        { label: t('restarts'), render: (n) => String(n.restarts) + (n.last_exit ? ` (${n.last_exit})` : '') },
        { label: t('endpoint'), render: (n) => (n.http_url ? h('code', {}, n.http_url) : '—') },
        { label: t('build'), render: (n) => h('code', { 'data-test': `build-${n.name}` }, n.version || '—') },
        // Only what the user may do to the node is offered.
        { label: '', render: (n) => h('div', { class: 'row' },
          action(t('logs'), () => viewer.show(n.name), { class: 'secondary', 'data-test': `logs-${n.name}` }),
          (n.process === 'stopped' ? ['start'] : ['restart', 'stop']).filter((verb) => n.allowed_actions.includes(verb)).map((verb) => control(n, verb))) },
      ], nodes)));
    } catch (err) {
      clear(list, errorBox(err));
    }
  };
  const tick = async () => {
    await draw();
    if (!stopped) timer = setTimeout(tick, 3000);
  };
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    viewer.stop();
  };
}
