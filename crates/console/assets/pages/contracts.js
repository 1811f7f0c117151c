// Contracts of a chain: upload bytecode and ABI (the stated Keccak-256 must match), deploy with
// the constructor's arguments, and call any function through a form built from the ABI: view
// functions are queried, others sent as transactions the platform signs for the organization.
import { get, post, put, memberNames, permitted } from '../api.js';
import { h, clear, card, table, field, form, errorBox, empty, chip, link, short, fmtTime, action, toast } from '../ui.js';
import { t } from '../i18n.js';
import { actingFor, actingOrg } from '../app.js';
import { eventTable, shown, whereColumns } from '../events.js';
import { holderPages, HOLDERS_PAGE } from './services.js';

// What a chain's governance may do to a deployed contract, by its status.
const GOVERNANCE_ACTIONS = { active: ['freeze', 'revoke'], frozen: ['unfreeze', 'revoke'], revoked: [] };

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const listBox = h('div', {});
  const detail = h('div', {});
  clear(main, h('h1', {}, t('contracts_of', { chain: chain.name })), listBox, detail);
  if (chain.status !== 'running') {
    clear(listBox, card(null, empty(t('not_started'), t('not_started_hint'), link(`#/chains/${id}`, t('continue_wizard')))));
    return;
  }
  // Uploading is offered for the organizations that may (`contract:create` on this chain).
  const allowed = (org, action, area) => permitted(org, [action], `chains/${id}/${area}`).then((a) => a.has(action));
  const chainOrgs = (await get('/v1/orgs')).filter((o) => chain.orgs.includes(o.id));
  const mayCreate = await Promise.all(chainOrgs.map((o) => allowed(o.id, 'contract:create', 'contracts')));
  const orgs = chainOrgs.filter((_, i) => mayCreate[i]);
  let selected = null;

  const drawList = async () => {
    const contracts = await get(`/v1/chains/${id}/contracts`);
    clear(listBox, h('div', { class: 'grid' },
      card(t('contracts'), table([
        { label: t('name'), render: (c) => h('a', { href: `#/chains/${id}/contracts`, 'data-test': `contract-${c.name}`, onclick: (e) => { e.preventDefault(); selected = c.id; drawDetail(); } }, c.name) },
        { label: t('status'), render: (c) => chip(t(`contract_${c.status}`), c.status === 'deployed' ? 'ok' : 'warn') },
        { label: t('address'), render: (c) => (c.address ? link(`#/chains/${id}/explorer/address/${c.address}`, short(c.address, 12)) : '—') },
        { label: t('code_hash'), render: (c) => h('code', { title: c.code_hash }, short(c.code_hash, 12)) },
      ], contracts, t('no_contracts'))),
      card(t('upload_contract'), orgs.length ? form([
        field(t('owner_org'), h('select', { name: 'org_id', 'data-test': 'contract-org' }, orgs.map((o) => h('option', { value: o.id }, o.name)))),
        field(t('name'), h('input', { name: 'name', required: true, 'data-test': 'contract-name' })),
        field(t('abi_json'), h('textarea', { name: 'abi', required: true, placeholder: '[{"type":"function", …}]', 'data-test': 'contract-abi' })),
        field(t('bytecode_hex'), h('textarea', { name: 'bytecode', required: true, placeholder: '0x6080…', 'data-test': 'contract-bytecode' })),
        field(t('code_hash_hint'), h('input', { name: 'code_hash', required: true, placeholder: '0x…', 'data-test': 'contract-hash' })),
      ], t('upload'), async (v, f) => {
        const c = await post(`/v1/chains/${id}/contracts`, { org_id: v.org_id, name: v.name.trim(), abi: v.abi, bytecode: v.bytecode.trim(), code_hash: v.code_hash.trim() });
        selected = c.id;
        f.reset();
        await drawList();
        await drawDetail();
      }, { test: 'upload-contract', submitTest: 'upload-contract-submit' }) : empty(t('no_org_in_chain')))));
  };

  const drawDetail = async () => {
    if (!selected) return clear(detail);
    let events = null;
    let refreshHolders = null;
    try {
      const [c, orgName] = await Promise.all([get(`/v1/chains/${id}/contracts/${selected}`), memberNames(chain.consortium_id)]);
      const info = h('dl', { class: 'kv' },
        h('dt', {}, t('owner_org')), h('dd', { 'data-test': 'contract-org' }, orgName(c.org_id)),
        h('dt', {}, t('status')), h('dd', {}, chip(t(`contract_${c.status}`), c.status === 'deployed' ? 'ok' : 'warn')),
        h('dt', {}, t('address')), h('dd', { 'data-test': 'contract-address' }, c.address ? h('code', {}, c.address) : '—'),
        h('dt', {}, t('code_hash')), h('dd', {}, h('code', {}, c.code_hash)),
        h('dt', {}, t('bytecode_size')), h('dd', {}, `${c.bytecode_size} B`),
        h('dt', {}, t('deploy_tx')), h('dd', {}, c.deploy_tx ? link(`#/chains/${id}/explorer/tx/${c.deploy_tx}`, short(c.deploy_tx, 16)) : '—'),
        h('dt', {}, t('created_at')), h('dd', {}, fmtTime(c.created_ms)));
      const parts = [info];
      const acting = actingOrg();
      const mine = acting && chain.orgs.includes(acting) ? acting : null;
      const [mayDeploy, mayGovern] = await Promise.all([allowed(mine, 'contract:deploy', 'contracts'), allowed(mine, 'chain:govern', 'governance')]);
      if (c.status === 'uploaded' && !mayDeploy) {
        parts.push(h('p', { class: 'muted', 'data-test': 'may-not-deploy' }, t('may_not_deploy')));
      } else if (c.status === 'uploaded') {
        const result = h('div', {});
        parts.push(h('h3', {}, t('deploy')), form(c.constructor.map((p, i) => field(`${p.name || `arg${i}`} (${p.type})`, h('input', { name: `a${i}`, required: true, placeholder: p.type, 'data-test': `ctor-${p.name || i}` }))),
          t('deploy'), async (v) => {
            clear(result);
            const args = c.constructor.map((_, i) => v[`a${i}`]);
            try {
              const r = await post(`/v1/chains/${id}/contracts/${c.id}/deploy`, { args, ...actingFor() });
              clear(result, outcome(id, r.outcome));
            } catch (err) {
              // The chain's members approve deployments first: the platform proposed it.
              if (err.code !== 'approval_pending') throw err;
              clear(result, h('div', { class: 'notice', 'data-test': 'approval-pending' }, err.message, ' ',
                link(`#/chains/${id}/governance`, t('nav_governance'))));
              return;
            }
            await drawList();
            await drawDetail();
          }, { test: 'deploy', submitTest: 'deploy-submit' }), result);
      } else {
        const gov = await get(`/v1/chains/${id}/explorer/governance/contracts/${c.address}`).catch(() => null);
        if (gov) {
          info.append(h('dt', {}, t('governance_status')), h('dd', { 'data-test': 'governance-status' },
            chip(t(`contract_gov_${gov.status}`), gov.status === 'active' ? 'ok' : 'bad'),
            ` ${t('contract_version', { n: gov.upgrades.length + 1 })}`));
          const propose = (kind) => action(t(`propose_${kind}`), async () => {
            const p = await post(`/v1/chains/${id}/proposals`, { org_id: mine, change: { type: kind, contract: c.address } });
            toast(t('proposal_made', { id: p.id, status: t(`proposal_${p.status}`) }), 'ok');
            await drawDetail();
          }, { class: kind === 'revoke' ? 'danger' : 'secondary', 'data-test': `propose-${kind}`, confirm: kind === 'revoke' ? t('confirm_revoke_contract', { name: c.name }) : null });
          if (mayGovern) parts.push(h('div', { class: 'actions' }, GOVERNANCE_ACTIONS[gov.status].map(propose)));
        }
        // A token (any contract with an ERC-20 or ERC-721 Transfer event): who holds it.
        const holders = h('div', { 'data-test': 'contract-holders' });
        refreshHolders = async () => {
          const url = `/v1/chains/${id}/contracts/${c.id}/holders`;
          const ledger = await get(`${url}?limit=1&holders=${HOLDERS_PAGE}`).catch(() => null);
          clear(holders, ledger ? [h('h3', {}, t('holders_n', { n: ledger.holder_count, transfers: ledger.transfer_count })),
            holderPages(url, ledger, ledger.holders.every((x) => !x.tokens), orgName)] : null);
        };
        const sent = () => Promise.all([events?.refresh(), refreshHolders()]);
        parts.push(h('h3', {}, t('functions')), c.functions.map((f) => functionForm(id, c, f, sent)));
        const where = whereColumns(id);
        events = eventTable(id, c.name, { test: 'contract-events', columns: [
          where.height,
          { label: t('event'), render: (e) => h('code', {}, e.event || '—') },
          { label: t('event_args'), render: (e) => (e.args || []).map((a) => h('div', {}, h('code', {}, `${a.name} = ${shown(a.value)}`))) },
          where.tx_hash,
        ] });
        parts.push(h('h3', {}, t('events')), events.element, holders, displayEditor(id, c, drawDetail));
      }
      clear(detail, card(c.name, parts));
      if (events) await Promise.all([events.refresh(), refreshHolders()]);
    } catch (err) {
      clear(detail, errorBox(err));
    }
  };

  await drawList();
}

// A starting display spec from the ABI: a table of the first event, a form for the first
// function that sends, a lookup of the first view function that takes arguments.
function starterSpec(c) {
  const ev = c.abi.find((x) => x.type === 'event');
  const send = c.functions.find((f) => !f.read_only);
  const look = c.functions.find((f) => f.read_only && f.inputs.length);
  const fields = (ps) => ps.map((p, i) => ({ name: p.name || String(i), label: p.name || String(i) }));
  const views = [];
  if (ev) views.push({ kind: 'table', title: ev.name, event: ev.name, columns: [...fields(ev.inputs), { name: 'height', label: 'Block' }] });
  if (send) views.push({ kind: 'form', title: send.name, function: send.signature, fields: fields(send.inputs) });
  if (look) views.push({ kind: 'lookup', title: look.name, function: look.signature, fields: fields(look.inputs), outputs: fields(look.outputs) });
  return { title: c.name, views };
}

// The contract's business views as JSON, checked by the platform against the ABI on save.
function displayEditor(chain, c, redraw) {
  const text = h('textarea', { name: 'spec', class: 'code', rows: 14, 'data-test': 'display-spec' });
  text.value = JSON.stringify(c.display || starterSpec(c), null, 2);
  return h('div', {},
    h('h3', {}, t('display_spec')),
    h('p', { class: 'muted' }, t('display_spec_hint')),
    form([field(t('display_spec_json'), text)], t('display_save'), async (v) => {
      await put(`/v1/chains/${chain}/contracts/${c.id}/display`, JSON.parse(v.spec));
      toast(t('display_saved'), 'ok');
      await redraw();
    }, { test: 'display-form', submitTest: 'display-save' }),
    c.display ? link(`#/chains/${chain}/apps/${encodeURIComponent(c.name)}`, t('open_app'), { 'data-test': 'open-app' }) : null);
}

// `sent`: what to do after a transaction went through (the events list gets its events).
function functionForm(chain, c, f, sent) {
  const result = h('div', { 'data-test': `result-${f.name}` });
  return h('div', { class: 'card' },
    h('div', { class: 'between' }, h('code', {}, f.signature), chip(f.read_only ? t('query') : t('transaction'), f.read_only ? '' : 'warn')),
    form(h('div', { class: 'inline-form' }, f.inputs.map((p, i) => field(`${p.name || `arg${i}`} (${p.type})`, h('input', { name: `a${i}`, required: true, placeholder: p.type, 'data-test': `arg-${f.name}-${p.name || i}` })))),
      f.read_only ? t('query') : t('send_transaction'), async (v) => {
        // A new call's error must not stand under the last call's result.
        clear(result);
        const args = f.inputs.map((_, i) => v[`a${i}`]);
        const r = await post(`/v1/chains/${chain}/contracts/${c.id}/call`, { function: f.signature, args, ...actingFor() });
        clear(result, r.kind === 'query'
          ? h('dl', { class: 'kv' }, r.outputs.map((o, i) => [h('dt', {}, `${o.name || `out${i}`} (${o.type})`), h('dd', { 'data-test': 'output' }, h('code', {}, JSON.stringify(o.value)))]))
          : outcome(chain, r.outcome));
        if (r.kind !== 'query') await sent();
      }, { inline: true, test: `call-${f.name}`, submitTest: `call-submit-${f.name}` }),
    result);
}

function outcome(chain, o) {
  return h('div', { class: 'notice' }, h('dl', { class: 'kv' },
    h('dt', {}, t('transaction')), h('dd', {}, link(`#/chains/${chain}/explorer/tx/${o.tx_hash}`, o.tx_hash, { 'data-test': 'tx-link' })),
    h('dt', {}, t('status')), h('dd', {}, chip(t(`tx_${o.status}`), o.status === 'success' ? 'ok' : 'bad')),
    h('dt', {}, t('block')), h('dd', {}, link(`#/chains/${chain}/explorer/block/${o.height}`, String(o.height))),
    h('dt', {}, t('gas_used')), h('dd', {}, String(o.gas_used)),
    h('dt', {}, t('events')), h('dd', {}, o.events.length ? o.events.map((e) => h('div', {}, h('code', {}, `${e.event}(${e.args.map((a) => `${a.name}=${JSON.stringify(a.value)}`).join(', ')})`))) : '—')));
}
