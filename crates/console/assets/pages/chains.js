// Chains and the chain wizard (resumable at any time, as every step is saved): 1 create
// (consensus, crypto suite, block parameters) → 2 add nodes (per organization, on its hosts)
// → 3 invite member organizations (they add their own nodes) → 4 start.
import { get, post, del, permitted } from '../api.js';
import { h, clear, card, table, field, form, action, toast, errorBox, empty, chip, link, loading, copyButton, saveFile } from '../ui.js';
import { t } from '../i18n.js';
import { refreshChains, selectChain, go, actingOrg, user } from '../app.js';

export async function render(main, params) {
  if (params.create) return createPage(main);
  if (params.chain) return chainPage(main, params.chain);
  const chains = await refreshChains();
  const consortiums = await get('/v1/consortiums');
  const name = (id) => consortiums.find((c) => c.id === id)?.name || id;
  clear(main,
    h('div', { class: 'between' }, h('h1', {}, t('nav_chains')), link('#/chains/new', t('new_chain'), { 'data-test': 'new-chain', class: 'button' })),
    card(null, table([
      { label: t('name'), render: (c) => link(`#/chains/${c.id}`, c.name, { 'data-test': `chain-${c.name}` }) },
      { label: t('consortium'), render: (c) => name(c.consortium_id) },
      { label: t('status'), render: (c) => chip(t(`status_${c.status}`), c.status === 'running' ? 'ok' : 'warn') },
      { label: t('consensus'), render: (c) => c.consensus.toUpperCase() },
      { label: t('nodes'), render: (c) => String(c.nodes.length) },
      { label: t('chain_id'), render: (c) => String(c.chain_id) },
      { label: t('next_step'), render: (c) => t(`next_${c.next_step}`) },
    ], chains, t('no_chains_yet'))));
}

function steps(chain) {
  const current = !chain ? 1 : chain.status === 'running' ? 5 : chain.status === 'starting' ? 4 : chain.next_step === 'add_nodes' ? 2 : 3;
  const names = [t('step_create'), t('step_nodes'), t('step_invite'), t('step_start')];
  return h('div', { class: 'steps', 'data-test': 'steps' }, names.map((n, i) => {
    const k = i + 1;
    const cls = k < current ? 'step done' : k === current || (current === 3 && k === 4) ? 'step current' : 'step';
    return h('div', { class: cls }, h('span', { class: 'n' }, k < current ? '✓' : String(k)), n);
  }));
}

async function createPage(main) {
  const [consortiums, orgs] = await Promise.all([get('/v1/consortiums'), get('/v1/orgs')]);
  if (!consortiums.length) {
    clear(main, h('h1', {}, t('new_chain')), steps(null), card(null, empty(t('no_consortiums'), t('chain_needs_consortium'), link('#/consortiums', t('go_consortiums')))));
    return;
  }
  const mine = new Set(orgs.map((o) => o.id));
  const orgSelect = h('select', { name: 'org_id', required: true, 'data-test': 'chain-org' });
  const consortiumSelect = h('select', { name: 'consortium_id', required: true, 'data-test': 'chain-consortium' }, consortiums.map((c) => h('option', { value: c.id }, c.name)));
  const fillOrgs = () => {
    const c = consortiums.find((x) => x.id === consortiumSelect.value);
    clear(orgSelect, (c?.members || []).filter((m) => mine.has(m.org_id)).map((m) => h('option', { value: m.org_id }, m.org_name)));
  };
  consortiumSelect.addEventListener('change', fillOrgs);
  fillOrgs();
  clear(main, h('h1', {}, t('new_chain')), steps(null), card(t('step_create'),
    form([
      h('div', { class: 'grid' },
        field(t('name'), h('input', { name: 'name', required: true, 'data-test': 'chain-name' })),
        field(t('consortium'), consortiumSelect),
        field(t('creating_org'), orgSelect),
        field(t('consensus'), h('select', { name: 'consensus', 'data-test': 'chain-consensus' },
          h('option', { value: 'bft' }, t('consensus_bft')), h('option', { value: 'raft' }, t('consensus_raft')), h('option', { value: 'solo' }, t('consensus_solo')))),
        field(t('suite'), h('select', { name: 'suite' }, h('option', { value: 'standard' }, t('suite_standard')), h('option', { value: 'sm' }, t('suite_sm')))),
        field(t('max_block_txs'), h('input', { name: 'max_block_txs', type: 'number', min: 1, max: 100000, value: 2000 })),
        field(t('block_interval_ms'), h('input', { name: 'block_interval_ms', type: 'number', min: 1, max: 10000, value: 20 })),
        field(t('deploy_policy'), h('select', { name: 'deploy_policy', 'data-test': 'chain-deploy-policy' },
          h('option', { value: 'approved' }, t('deploy_policy_approved')), h('option', { value: 'open' }, t('deploy_policy_open')))),
        field(t('base_fee'), h('input', { name: 'base_fee_per_gas', type: 'number', min: 0, value: 1, 'data-test': 'chain-base-fee' }))),
      field(t('allocations'), h('textarea', { name: 'allocations', rows: 3, placeholder: '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf=1000000000000000000', 'data-test': 'chain-allocations' })),
      field(t('cors_origins'), h('input', { name: 'cors_origins', value: 'http://localhost:* http://127.0.0.1:*', 'data-test': 'chain-cors' })),
      field(t('node_access'), h('select', { name: 'node_access', 'data-test': 'chain-node-access' },
        ['members', 'public-reads', 'open'].map((a) => h('option', { value: a }, t(`node_access_${a}`))))),
      field(t('node_https'), h('select', { name: 'node_https', 'data-test': 'chain-node-https' },
        h('option', { value: 'false' }, t('node_https_off')), h('option', { value: 'true' }, t('node_https_on')))),
    ], t('create_chain'), async (v) => {
      // One `0xADDRESS=WEI` per line (or separated by spaces).
      const allocations = v.allocations.split(/\s+/).filter(Boolean).map((line) => {
        const [address, balance] = line.split('=');
        return { address, balance: balance || '' };
      });
      const chain = await post('/v1/chains', {
        consortium_id: v.consortium_id, org_id: v.org_id, name: v.name.trim(), consensus: v.consensus, suite: v.suite,
        max_block_txs: Number(v.max_block_txs), block_interval_ms: Number(v.block_interval_ms), deploy_policy: v.deploy_policy,
        base_fee_per_gas: Number(v.base_fee_per_gas), allocations, cors_origins: v.cors_origins.split(/\s+/).filter(Boolean),
        node_access: v.node_access, node_https: v.node_https === 'true',
      });
      await refreshChains();
      selectChain(chain.id);
      go(`#/chains/${chain.id}`);
    }, { test: 'create-chain', submitTest: 'create-chain-submit' })));
}

async function chainPage(main, id) {
  const body = h('div', {});
  clear(main, body);
  // While the chain starts, the page follows it: redrawn every half second until it runs or
  // the start fails (then the wizard shows why).
  let stopped = false;
  let timer = null;
  let was = null;
  const draw = async () => {
    clearTimeout(timer);
    try {
      const chain = await drawChain(body, id, draw);
      if (was && was !== chain.status) await refreshChains();
      if (was === 'starting' && chain.status === 'running') toast(t('chain_started'));
      was = chain.status;
      if (chain.status === 'starting' && !stopped) timer = setTimeout(draw, 500);
    } catch (err) {
      clear(body, errorBox(err));
    }
  };
  await draw();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// How far a start has come, as a bar and a line: preparing, then each node started, then each
// node with block 1.
function startProgress(progress) {
  const p = progress || { step: 'preparing', done: 0, total: 1 };
  const part = p.total ? p.done / p.total : 0;
  const value = p.step === 'first_block' ? 0.5 + 0.5 * part : p.step === 'starting_nodes' ? 0.1 + 0.4 * part : 0.05;
  return h('div', { 'data-test': 'start-progress', 'data-step': p.step },
    h('progress', { max: 100, value: Math.round(value * 100) }),
    h('p', { class: 'muted' }, t(`start_step_${p.step}`, { done: p.done, total: p.total })));
}

async function drawChain(body, id, redraw) {
  const [chain, orgs, hosts] = await Promise.all([get(`/v1/chains/${id}`), get('/v1/orgs'), get('/v1/hosts')]);
  const consortium = await get(`/v1/consortiums/${chain.consortium_id}`).catch(() => null);
  const orgName = (oid) => consortium?.members.find((m) => m.org_id === oid)?.org_name || orgs.find((o) => o.id === oid)?.name || oid;
  const mine = orgs.filter((o) => chain.orgs.includes(o.id));
  const configuring = chain.status === 'configuring';
  const running = chain.status === 'running';
  // On a running chain nodes and organizations change by proposal (see the governance page).
  const changeable = configuring || running;
  const head = h('div', { class: 'between' },
    h('h1', {}, chain.name, ' ', chip(t(`status_${chain.status}`), chain.status === 'running' ? 'ok' : 'warn')),
    h('span', { class: 'muted' }, `${t('chain_id')} ${chain.chain_id} · ${chain.consensus.toUpperCase()} · ${t(`suite_${chain.suite}`)}`));

  const nodesTable = table([
    { label: t('name'), render: (n) => n.name },
    { label: t('org'), render: (n) => orgName(n.org_id) },
    { label: t('role'), render: (n) => t(`node_${n.role}`) },
    { label: t('host'), render: (n) => hosts.find((x) => x.id === n.host_id)?.name || n.host_id },
    { label: t('endpoint'), render: (n) => n.http_url ? h('code', {}, n.http_url) : h('span', { class: 'muted' }, t('assigned_at_start')) },
    { label: '', render: (n) => changeable && mine.some((o) => o.id === n.org_id) ? action(running ? t('propose_removal') : t('remove'), async () => {
      await del(`/v1/chains/${id}/nodes/${n.id}`);
      if (running) toast(t('proposed_see_governance'));
      redraw();
    }, { class: 'danger', 'data-test': `remove-node-${n.name}`, confirm: t(running ? 'confirm_propose_node_removal' : 'confirm_remove_node', { node: n.name }) }) : '' },
  ], chain.nodes, t('no_nodes_yet'));

  const sections = [head, steps(chain)];
  if (chain.failure) sections.push(h('div', { class: 'error' }, t('last_start_failed'), ' ', chain.failure));
  if (chain.status === 'running') {
    sections.push(card(null, h('p', {}, t('chain_running')), h('div', { class: 'row' },
      link(`#/chains/${id}/nodes`, t('nav_nodes')), ' · ', link(`#/chains/${id}/contracts`, t('nav_contracts')), ' · ',
      link(`#/chains/${id}/explorer`, t('nav_explorer')), ' · ', link(`#/chains/${id}/monitor`, t('nav_monitor')), ' · ',
      link(`#/chains/${id}/governance`, t('nav_governance')))));
  }
  if (running) sections.push(connectCard(chain, await get('/v1/sql/gateway').catch(() => null)));
  if (chain.status === 'starting') sections.push(card(t('step_start'), startProgress(chain.progress)));
  sections.push(card(running ? t('nodes') : t('step_nodes'), nodesTable, changeable && mine.length ? addNodeForm(id, chain, mine, hosts, redraw) : null));
  if (changeable) {
    const invitable = (consortium?.members || []).filter((m) => !chain.orgs.includes(m.org_id));
    const acting = actingOrg();
    sections.push(card(t('step_invite'),
      h('p', {}, t('participating'), ' ', chain.orgs.map(orgName).join(', ')),
      running ? h('p', { class: 'muted' }, t('invite_running_hint')) : null,
      invitable.length
        ? form([field(t('org'), h('select', { name: 'org_id', 'data-test': 'invite-org' }, invitable.map((m) => h('option', { value: m.org_id }, m.org_name))))], t('invite'), async (v) => {
          const body = { org_id: v.org_id };
          if (running && chain.orgs.includes(acting)) body.as_org_id = acting;
          await post(`/v1/chains/${id}/orgs`, body);
          toast(t('invited', { who: orgName(v.org_id) }));
          redraw();
        }, { inline: true, test: 'invite-chain-org', submitTest: 'invite-chain-org-submit' })
        : h('p', { class: 'muted' }, t('all_members_take_part'))));
  }
  if (configuring) {
    const status = h('div', {});
    const start = h('button', { type: 'button', disabled: chain.problems.length > 0, 'data-test': 'start-chain' }, t('start_chain'));
    start.addEventListener('click', async () => {
      start.disabled = true;
      clear(status, loading(t('starting_hint')));
      try {
        await post(`/v1/chains/${id}/start?wait=false`);
        await redraw();
      } catch (err) {
        clear(status, errorBox(err));
        start.disabled = false;
      }
    });
    sections.push(card(t('step_start'),
      chain.problems.length ? h('div', { class: 'notice', 'data-test': 'problems' }, t('not_ready'), h('ul', {}, chain.problems.map((p) => h('li', {}, p)))) : h('p', {}, t('ready_to_start')),
      start, status));
  }
  // Archiving stops every organization's nodes: each of them decides (the first one when
  // there are none), so it is offered only to who may decide for all of them.
  const deciding = [...new Set(chain.nodes.map((n) => n.org_id))];
  if (!deciding.length && chain.orgs.length) deciding.push(chain.orgs[0]);
  const mayArchive = changeable && deciding.length > 0 && (await Promise.all(deciding.map((o) => permitted(o, ['chain:delete'], `chains/${id}/nodes`))))
    .every((allowed) => allowed.has('chain:delete'));
  if (mayArchive) {
    // Taking the chain out of service, with what follows spelled out first.
    sections.push(card(t('archive_chain'), h('p', { class: 'muted' }, t('archive_chain_hint')),
      action(t('archive_chain'), async () => {
        await post(`/v1/chains/${id}/archive`);
        await refreshChains();
        toast(t('chain_archived', { chain: chain.name }), 'ok');
        await redraw();
      }, { class: 'danger', 'data-test': 'archive-chain', confirm: t('confirm_archive_chain', { chain: chain.name, n: chain.nodes.length }) })));
  }
  if (chain.status === 'archived') sections.push(card(null, empty(t('chain_is_archived'), t('archive_chain_hint'))));
  clear(body, sections);
  return chain;
}

// How applications reach the chain's nodes: its access setting, and a credential issued here
// (shown once) with snippets for wallets, web3.py, ethers and curl that carry it; and the
// platform's MySQL gateway, when it serves one (`gateway`), with the chain as its database.
function connectCard(chain, gateway) {
  const shown = h('div', { 'data-test': 'credential' });
  const issue = form([
    h('div', { class: 'grid' },
      field(t('credential_role'), h('select', { name: 'role', 'data-test': 'credential-role' },
        h('option', { value: 'read' }, t('credential_read')), h('option', { value: 'write' }, t('credential_write')))),
      field(t('credential_name'), h('input', { name: 'name', placeholder: t('credential_name_hint') })),
      field(t('expires_in_days'), h('input', { name: 'days', type: 'number', min: 1, max: 365, value: 30 }))),
  ], t('issue_credential'), async (v) => {
    const body = { role: v.role, expires_in_days: Number(v.days) };
    if (v.name.trim()) body.name = v.name.trim();
    const acting = actingOrg();
    if (chain.orgs.includes(acting)) body.org_id = acting;
    clear(shown, snippets(await post(`/v1/chains/${chain.id}/credentials`, body)));
  }, { inline: true, test: 'issue-credential', submitTest: 'issue-credential-submit' });
  // Where the chain answers, and what a client needs to trust it, before any credential.
  const urls = chain.nodes.filter((n) => n.http_url);
  const endpoint = (text, test) => h('div', {}, h('span', { class: 'copyable' }, h('code', { 'data-test': test }, text), copyButton(text)));
  const where = h('dl', { class: 'kv', 'data-test': 'connection' },
    h('dt', {}, t('chain_id')), h('dd', { 'data-test': 'connection-chain-id' }, `${chain.chain_id} (0x${Number(chain.chain_id).toString(16)})`),
    h('dt', {}, t('json_rpc_urls')), h('dd', {}, urls.map((n) => endpoint(`${n.http_url}/`, `rpc-${n.name}`))),
    h('dt', {}, t('websocket_urls')), h('dd', {}, urls.map((n) => endpoint(`${n.http_url.replace(/^http/, 'ws')}/ws`, `ws-${n.name}`))),
    h('dt', {}, t('downloads')), h('dd', { class: 'row' },
      action(t('download_genesis'), async () => saveFile(`${chain.name}-genesis.json`, JSON.stringify(await get(`/v1/chains/${chain.id}/genesis`), null, 2), 'application/json'), { class: 'secondary', 'data-test': 'download-genesis' }),
      action(t('download_ca'), async () => saveFile(`${chain.name}-consortium-ca.pem`, (await get(`/v1/consortiums/${chain.consortium_id}`)).ca_cert_pem), { class: 'secondary', 'data-test': 'download-ca' })));
  if (gateway) {
    // Bound to every address: the one the console was reached at is one of them.
    const host = ['0.0.0.0', '::'].includes(gateway.host) ? location.hostname : gateway.host;
    const me = user()?.username || 'USER';
    const cli = `mysql -h ${host} -P ${gateway.port} -u ${me} -p${gateway.tls ? ' --ssl' : ''} ${chain.id}`;
    const py = `import pymysql\ndb = pymysql.connect(host="${host}", port=${gateway.port}, user="${me}",\n                     password=API_KEY, database="${chain.id}"${gateway.tls ? ', ssl={}' : ''})`;
    where.append(h('dt', {}, t('mysql_gateway')), h('dd', {},
      endpoint(cli, 'mysql-cli'), h('pre', { class: 'snippet', 'data-test': 'mysql-pymysql' }, py),
      h('div', { class: 'muted' }, t('mysql_gateway_hint'))));
  }
  return card(t('connect'),
    where,
    h('p', {}, t(`node_access_${chain.node_access}`), ' ', h('span', { class: 'muted' }, t('node_access_hint'))),
    chain.node_https ? h('p', { class: 'muted' }, t('node_https_hint')) : null,
    issue, shown);
}

function snippets(c) {
  const base = c.rpc_url ? c.rpc_url.replace(/\/\/[^@]*@/, '//').replace(/\/$/, '') : '';
  const code = (label, text, test) => h('div', {}, h('p', { class: 'muted' }, label), h('pre', { class: 'snippet', 'data-test': test }, text));
  return h('div', {},
    h('div', { class: 'notice' }, t('credential_shown_once')),
    code(t('snippet_wallet'), c.rpc_url || '', 'snippet-url'),
    code('web3.py', `from web3 import Web3\nw3 = Web3(Web3.HTTPProvider("${c.rpc_url}"))\nprint(w3.eth.block_number)`, 'snippet-web3py'),
    code('ethers v6', `const req = new ethers.FetchRequest("${base}/");\nreq.setHeader("Authorization", "Bearer ${c.token}");\nconst provider = new ethers.JsonRpcProvider(req);`, 'snippet-ethers'),
    code('curl', `curl -H "Authorization: Bearer ${c.token}" ${base}/v1/status`, 'snippet-curl'),
    code(t('snippet_rust'), `// consortia-api = { git = "…" }: the SDK the CLI uses\nlet node = consortia_api::NodeClient::new("${base}").with_token("${c.token}");\nlet status = node.status().await?;\nprintln!("height {}", status.height);`, 'snippet-rust'),
    c.ws_url ? code(t('snippet_ws'), c.ws_url, 'snippet-ws') : null);
}

function addNodeForm(id, chain, mine, hosts, redraw) {
  const orgSelect = h('select', { name: 'org_id', 'data-test': 'node-org' }, mine.map((o) => h('option', { value: o.id }, o.name)));
  const hostSelect = h('select', { name: 'host_id', 'data-test': 'node-host' });
  const hostBox = h('div', {});
  const fill = () => {
    const own = hosts.filter((x) => x.org_id === orgSelect.value);
    // A bridge-networked host gives each node an address of its own: its `address` is moot.
    const where = (x) => (x.network === 'bridge' ? t('host_network_bridge') : x.address);
    clear(hostSelect, own.map((x) => h('option', { value: x.id }, `${x.name} (${x.kind}, ${where(x)})`)));
    clear(hostBox, own.length ? null : h('div', { class: 'notice' }, t('org_has_no_host'), ' ',
      form([
        field(t('host_name'), h('input', { name: 'name', required: true, value: 'local', 'data-test': 'host-name' })),
        field(t('host_kind'), h('select', { name: 'kind', 'data-test': 'host-kind' },
          h('option', { value: 'local' }, t('host_kind_local')), h('option', { value: 'docker' }, t('host_kind_docker')))),
      ], t('add_host'), async (v) => {
        await post('/v1/hosts', { org_id: orgSelect.value, name: v.name.trim(), kind: v.kind });
        redraw();
      }, { inline: true, test: 'create-host', submitTest: 'create-host-submit' })));
  };
  orgSelect.addEventListener('change', fill);
  fill();
  return h('div', {}, h('h3', {}, t('add_node')), hostBox, form([
    h('div', { class: 'inline-form' },
      field(t('org'), orgSelect),
      field(t('host'), hostSelect),
      field(t('node_name_optional'), h('input', { name: 'name', placeholder: `node-${chain.nodes.length}`, 'data-test': 'node-name' })),
      field(t('role'), h('select', { name: 'role' }, h('option', { value: 'validator' }, t('node_validator')), h('option', { value: 'observer' }, t('node_observer')))),
      field(t('http_port_optional'), h('input', { name: 'http_port', type: 'number', min: 1, max: 65535 })),
      field(t('p2p_port_optional'), h('input', { name: 'p2p_port', type: 'number', min: 1, max: 65535 }))),
  ], t('add_node'), async (v, f) => {
    if (!v.host_id) throw new Error(t('org_has_no_host'));
    const body = { org_id: v.org_id, host_id: v.host_id, role: v.role };
    if (v.name.trim()) body.name = v.name.trim();
    if (v.http_port) body.http_port = Number(v.http_port);
    if (v.p2p_port) body.p2p_port = Number(v.p2p_port);
    await post(`/v1/chains/${id}/nodes`, body);
    if (chain.status === 'running') toast(t('proposed_see_governance'));
    f.reset();
    redraw();
  }, { test: 'add-node', submitTest: 'add-node-submit' }));
}
