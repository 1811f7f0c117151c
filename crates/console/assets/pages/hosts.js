// Hosts: where the organizations' nodes run (local processes, a Docker Engine here or on
// another machine over mutual TLS, a Kubernetes cluster), how each is networked, the nodes on
// it, and a check that it can run nodes now (its engine or API answers, the image is known).
import { get, post } from '../api.js';
import { h, clear, card, table, field, form, action, chip } from '../ui.js';
import { t } from '../i18n.js';
import { actingOrg } from '../app.js';

export async function render(main) {
  const [hosts, chains, orgs] = await Promise.all([get('/v1/hosts'), get('/v1/chains'), get('/v1/orgs')]);
  const orgName = (id) => orgs.find((o) => o.id === id)?.name || id;
  // The nodes on each host, as `chain/node`.
  const placed = {};
  for (const c of chains) {
    for (const n of c.nodes) (placed[n.host_id] ||= []).push(`${c.name}/${n.name}`);
  }
  const checkCell = (host) => {
    const out = h('span', { class: 'muted', 'data-test': `check-${host.name}` });
    return h('div', { class: 'row' }, action(t('check_host'), async () => {
      clear(out, t('working'));
      try {
        const ready = await post(`/v1/hosts/${host.id}/check`);
        clear(out, chip(t('host_ready'), 'ok'), ' ', ready.ready);
      } catch (err) {
        clear(out, chip(t('host_not_ready'), 'bad'), ' ', err.message);
      }
    }, { class: 'secondary', 'data-test': `check-host-${host.name}` }), out);
  };
  const network = (x) => {
    if (x.network === 'bridge') return t('host_network_bridge');
    if (x.network === 'cluster') return h('span', {}, t('host_network_cluster'), ', ', h('code', {}, x.kubernetes?.image_repository || ''));
    return `${t('host_network_host')}, ${x.address}`;
  };
  const where = (x) => (x.kind === 'local' ? h('span', { class: 'muted' }, t('host_kind_local')) : h('code', {}, x.endpoint || ''));
  const list = card(t('nav_hosts'), table([
    { label: t('name'), render: (x) => h('strong', { 'data-test': `host-${x.name}` }, x.name) },
    { label: t('org'), render: (x) => orgName(x.org_id) },
    { label: t('host_kind'), render: (x) => x.kind },
    { label: t('host_endpoint'), render: (x) => h('span', {}, where(x), x.tls ? [' ', chip('TLS', 'ok')] : null) },
    { label: t('host_network'), render: network },
    { label: t('host_nodes'), render: (x) => h('span', { 'data-test': `host-nodes-${x.name}` }, (placed[x.id] || []).join(', ') || '—') },
    { label: '', render: checkCell },
  ], hosts, t('no_hosts')));
  const mine = orgs.filter((o) => o.role);
  const tlsBox = h('div', { hidden: true },
    h('p', { class: 'muted' }, t('host_tls_hint')),
    field('ca.pem', h('textarea', { name: 'ca', rows: 3, 'data-test': 'host-tls-ca' })),
    field('cert.pem', h('textarea', { name: 'cert', rows: 3, 'data-test': 'host-tls-cert' })),
    field('key.pem', h('textarea', { name: 'key', rows: 3, 'data-test': 'host-tls-key' })));
  const endpoint = h('input', { name: 'endpoint', placeholder: 'unix:///var/run/docker.sock', 'data-test': 'host-endpoint' });
  endpoint.addEventListener('input', () => { tlsBox.hidden = !endpoint.value.startsWith('tcp://'); });
  const kubeBox = h('div', { hidden: true },
    h('p', { class: 'muted' }, t('host_kube_hint')),
    field(t('host_image_repository'), h('input', { name: 'image_repository', placeholder: 'registry.example/consortia-node', 'data-test': 'host-image-repository' })),
    field(t('host_storage_class'), h('input', { name: 'storage_class', placeholder: t('host_network_default') })),
    field('kubeconfig', h('textarea', { name: 'kubeconfig', rows: 4, 'data-test': 'host-kubeconfig' })));
  const kind = h('select', { name: 'kind', 'data-test': 'new-host-kind' },
    h('option', { value: 'local' }, t('host_kind_local')), h('option', { value: 'docker' }, t('host_kind_docker')),
    h('option', { value: 'kubernetes' }, t('host_kind_kubernetes')));
  kind.addEventListener('change', () => { kubeBox.hidden = kind.value !== 'kubernetes'; });
  const add = card(t('add_host'), form([
    h('div', { class: 'grid' },
      field(t('org'), h('select', { name: 'org_id' }, mine.map((o) => h('option', { value: o.id, selected: o.id === actingOrg() }, o.name)))),
      field(t('host_name'), h('input', { name: 'name', required: true, 'data-test': 'new-host-name' })),
      field(t('host_kind'), kind),
      field(t('host_endpoint'), endpoint),
      field(t('host_network'), h('select', { name: 'network' },
        h('option', { value: '' }, t('host_network_default')),
        h('option', { value: 'bridge' }, t('host_network_bridge')),
        h('option', { value: 'host' }, t('host_network_host')))),
      field(t('host_address'), h('input', { name: 'address', placeholder: '127.0.0.1' }))),
    tlsBox,
    kubeBox,
  ], t('add_host'), async (v) => {
    const body = { org_id: v.org_id, name: v.name.trim(), kind: v.kind };
    if (v.kind === 'docker' && v.endpoint.trim()) body.endpoint = v.endpoint.trim();
    if (v.network) body.network = v.network;
    if (v.address.trim()) body.address = v.address.trim();
    if (body.endpoint?.startsWith('tcp://')) body.tls = { ca_cert_pem: v.ca, cert_pem: v.cert, key_pem: v.key };
    if (v.kind === 'kubernetes') {
      body.kubernetes = { image_repository: v.image_repository.trim() };
      if (v.kubeconfig.trim()) body.kubernetes.kubeconfig = v.kubeconfig;
      if (v.storage_class.trim()) body.kubernetes.storage_class = v.storage_class.trim();
    }
    await post('/v1/hosts', body);
    await render(main);
  }, { test: 'add-host', submitTest: 'add-host-submit' }));
  clear(main, h('h1', {}, t('nav_hosts')), list, mine.length ? add : null);
}
