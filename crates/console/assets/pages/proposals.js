// Governance of a running chain: open proposals with who voted and your organization's vote
// buttons, past ones with how they ended, and a form for any kind of proposal. The platform
// signs proposals and votes with the key it keeps for the organization you act for (the top
// bar's choice); anyone may also vote with their own wallet through IGovernance's ABI.
import { get, post, permitted } from '../api.js';
import { h, clear, card, table, field, form, empty, chip, action, fmtTime, link, toast } from '../ui.js';
import { t } from '../i18n.js';
import { actingOrg } from '../app.js';

// The fields each kind of proposal asks for: [name in the request, input, label key].
const KINDS = {
  remove_node: [['name', 'text', 'field_node']],
  set_power: [['name', 'text', 'field_node'], ['power', 'number', 'field_power']],
  remove_member: [['org', 'org', 'field_org']],
  approve_code: [['code_hash', 'text', 'field_code_hash'], ['label', 'text', 'field_label']],
  upgrade: [['contract', 'text', 'field_contract'], ['implementation', 'text', 'field_implementation']],
  freeze: [['contract', 'text', 'field_contract']],
  unfreeze: [['contract', 'text', 'field_contract']],
  revoke: [['contract', 'text', 'field_contract']],
  set_parameter: [['name', 'param', 'field_parameter'], ['value', 'number', 'field_value']],
  set_policy: [['kind', 'kind', 'field_kind'], ['rule', 'rule', 'field_rule'], ['n', 'optional', 'field_n'], ['leader', 'org', 'field_leader']],
};

// The proposal kinds a policy decides, and the rules (IGovernance.sol numbers them).
const POLICY_KINDS = ['add_member', 'remove_member', 'add_node', 'remove_node', 'set_power', 'set_policy',
  'approve_code', 'upgrade', 'freeze', 'unfreeze', 'revoke', 'set_parameter', 'rotate_ca'];
const RULES = ['majority', 'two_thirds', 'unanimous', 'n_of_m', 'leader_only'];

const PARAMETERS = ['deploy_policy', 'block_gas_limit', 'max_block_txs', 'max_block_bytes', 'block_interval_ms',
  'empty_block_interval_ms', 'timeout_propose_ms', 'timeout_vote_ms', 'timeout_delta_ms', 'governance_voting_ms'];

const STATUS_KIND = { open: 'warn', executed: 'ok', failed: 'bad', rejected: 'bad', expired: '', cancelled: '' };

// Organizations by name (the chain's governance knows them by id).
function namer(consortium) {
  const names = Object.fromEntries(consortium.members.map((m) => [m.org_id, m.org_name]));
  return (id) => names[id] || id;
}

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const openBox = h('div', {});
  const pastBox = h('div', {});
  const createBox = h('div', {});
  clear(main, h('h1', {}, t('governance_of', { chain: chain.name })), openBox, createBox, pastBox);
  if (chain.status !== 'running') {
    clear(openBox, card(null, empty(t('not_started'), t('not_started_hint'), link(`#/chains/${id}`, t('continue_wizard')))));
    return;
  }
  const acting = actingOrg();
  const chainOrg = acting && chain.orgs.includes(acting) ? acting : null;
  // Proposing and voting need `chain:govern` of the organization acted for.
  const governs = (await permitted(chainOrg, ['chain:govern'], `chains/${id}/governance`)).has('chain:govern');
  const mine = governs ? chainOrg : null;
  const name = namer(await get(`/v1/consortiums/${chain.consortium_id}`));
  const votes = (p) => (p.votes.length
    ? h('span', {}, p.votes.map((v) => h('span', { title: t('voted_by', { voter: v.voter, height: v.height }) },
      chip(`${name(v.org)} ${v.approve ? '✓' : '✗'}`, v.approve ? 'ok' : 'bad'))))
    : '—');

  const draw = async () => {
    const list = await get(`/v1/chains/${id}/proposals`);
    const open = list.proposals.filter((p) => p.status === 'open');
    const past = list.proposals.filter((p) => p.status !== 'open');
    const voteButtons = (p) => {
      if (!chainOrg) return t('act_for_chain_org');
      if (!mine) return t('may_not_govern');
      if (p.votes.some((v) => v.org === mine)) return t('already_voted');
      const cast = (approve) => async () => {
        const after = await post(`/v1/chains/${id}/proposals/${p.id}/votes`, { org_id: mine, approve });
        toast(t('vote_cast', { id: p.id, status: t(`proposal_${after.status}`) }), 'ok');
        await draw();
      };
      return h('span', {},
        action(t('approve'), cast(true), { 'data-test': `approve-${p.id}` }), ' ',
        action(t('reject'), cast(false), { class: 'danger', 'data-test': `reject-${p.id}` }));
    };
    clear(openBox, card(t('open_proposals'), table([
      { label: '#', render: (p) => String(p.id) },
      { label: t('change'), render: (p) => h('span', { 'data-test': `proposal-${p.id}` }, p.summary) },
      { label: t('proposed_by'), render: (p) => name(p.org) },
      { label: t('votes'), render: votes },
      { label: t('approvals'), render: (p) => `${p.votes.filter((v) => v.approve).length} / ${p.approvals_needed} (${p.policy.rule})` },
      { label: t('deadline'), render: (p) => fmtTime(p.deadline_ms) },
      { label: t('your_vote'), render: voteButtons },
    ], open, t('no_open_proposals'))));
    clear(pastBox, card(t('past_proposals'), table([
      { label: '#', render: (p) => String(p.id) },
      { label: t('change'), render: (p) => p.summary },
      { label: t('status'), render: (p) => h('span', { 'data-test': `status-${p.id}` }, chip(t(`proposal_${p.status}`), STATUS_KIND[p.status]), p.failure ? ` ${p.failure}` : '') },
      { label: t('proposed_by'), render: (p) => name(p.org) },
      { label: t('votes'), render: votes },
      { label: t('decided_at'), render: (p) => (p.decided_height ? link(`#/chains/${id}/explorer/block/${p.decided_height}`, `#${p.decided_height}`, { 'data-test': `decided-${p.id}` }) : '—') },
    ], past, t('nothing_yet'))));
  };

  const fieldsBox = h('div', {});
  const kindSelect = h('select', { name: 'type', 'data-test': 'proposal-type' },
    Object.keys(KINDS).map((k) => h('option', { value: k }, t(`kind_${k}`))));
  const input = (key, type) => {
    const attrs = { name: key, 'data-test': `proposal-${key}` };
    if (type === 'param') return h('select', attrs, PARAMETERS.map((p) => h('option', { value: p }, p)));
    if (type === 'kind') return h('select', attrs, POLICY_KINDS.map((k) => h('option', { value: k }, t(`kind_${k}`))));
    if (type === 'rule') return h('select', attrs, RULES.map((r) => h('option', { value: r }, t(`rule_${r}`))));
    if (type === 'optional') return h('input', { ...attrs, type: 'number', min: 0 });
    if (type === 'org') return h('select', attrs, chain.orgs.map((o) => h('option', { value: o }, name(o))));
    return h('input', { ...attrs, type, required: key !== 'label' });
  };
  const drawFields = () => clear(fieldsBox, KINDS[kindSelect.value].map(([key, type, label]) =>
    field(t(label), input(key, type))));
  kindSelect.addEventListener('change', drawFields);
  drawFields();
  clear(createBox, card(t('new_proposal'), mine
    ? form([field(t('kind'), kindSelect), fieldsBox], t('propose'), async (v, f) => {
      const change = { type: v.type };
      for (const [name, type] of KINDS[v.type]) change[name] = ['number', 'optional'].includes(type) ? Number(v[name] || 0) : (v[name] || '').trim();
      // A policy's `n` and `leader` only matter to the rules that use them.
      if (v.type === 'set_policy') {
        if (change.rule !== 'n_of_m') change.n = 0;
        if (change.rule !== 'leader_only') change.leader = '';
      }
      const p = await post(`/v1/chains/${id}/proposals`, { org_id: mine, change });
      toast(t('proposal_made', { id: p.id, status: t(`proposal_${p.status}`) }), 'ok');
      f.reset();
      drawFields();
      await draw();
    }, { test: 'new-proposal', submitTest: 'propose-submit' })
    : empty(t(chainOrg ? 'may_not_govern' : 'act_for_chain_org'))));
  await draw();
}
