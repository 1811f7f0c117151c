// A chain's business services: digital assets (issue one; pick it to see its holders and
// latest transfers and to issue, transfer, burn, freeze or unfreeze) and the shared ledger
// between member organizations (post an entry, confirm or dispute the ones waiting on you,
// balances and your reconciliation).
import { get, post, memberNames, permitted } from '../api.js';
import { h, clear, card, table, field, form, empty, chip, link, short, action, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { actingOrg, actingFor } from '../app.js';

const ENTRY_KIND = { confirmed: 'ok', pending: '', disputed: 'bad' };
const ACTIONS = ['issue', 'transfer', 'burn', 'freeze', 'unfreeze'];

const input = (name, attrs) => h('input', { name, 'data-test': `${attrs?.test || name}`, ...attrs });
const account = (address, label) => h('code', { title: address }, label || short(address, 12));

// Holders a ledger page lists; "More holders" asks for the next page.
export const HOLDERS_PAGE = 25;

// A token's holders, largest first, from the ledger `first` that `url` (its holders route)
// answered: organizations' accounts by name, and whether each is frozen (also on a
// contract's page, for any ERC-20 or ERC-721 token). "More holders" appends the next page.
export function holderPages(url, first, fungible, orgName) {
  const rows = [...first.holders];
  const box = h('div', { 'data-test': 'holders' });
  const draw = (next) => clear(box, table([
    { label: t('account'), render: (x) => account(x.address, x.label && orgName(x.label)) },
    { label: fungible ? t('asset_balance') : t('asset_tokens'), render: (x) => (fungible ? x.balance : x.tokens.join(', ')) },
    { label: t('status'), render: (x) => (x.frozen ? chip(t('account_frozen'), 'bad') : chip(t('account_active'), 'ok')) },
  ], rows, t('no_holders')), next ? action(t('more_holders'), async () => {
    const page = await get(`${url}?limit=1&holders=${HOLDERS_PAGE}&holders_after=${encodeURIComponent(next)}`);
    rows.push(...page.holders);
    draw(page.holders_next);
  }, { class: 'secondary', 'data-test': 'holders-more' }) : null);
  draw(first.holders_next);
  return box;
}

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const assetsBox = h('div', {});
  const holdersBox = h('div', {});
  const ledgerBox = h('div', {});
  clear(main, h('h1', {}, t('services_of', { chain: chain.name })), assetsBox, holdersBox, ledgerBox);
  if (chain.status !== 'running') {
    clear(assetsBox, card(null, empty(t('not_started'), t('not_started_hint'), link(`#/chains/${id}`, t('continue_wizard')))));
    return;
  }
  const org = actingOrg() || chain.orgs[0];
  const orgName = await memberNames(chain.consortium_id);
  // Issuing an asset deploys a contract; operating one, and the shared ledger, invoke one.
  const may = await permitted(chain.orgs.includes(org) ? org : null, ['contract:deploy', 'contract:invoke'], `chains/${id}/contracts`);

  const drawHolders = async (asset) => {
    const url = `/v1/chains/${id}/assets/${asset.name}/holders`;
    const ledger = await get(`${url}?limit=20&holders=${HOLDERS_PAGE}`);
    const fungible = asset.kind === 'fungible';
    const pick = h('select', { name: 'action', 'data-test': 'asset-action' }, ACTIONS.map((a) => h('option', { value: a }, t(`asset_${a}`))));
    clear(holdersBox, card(t('asset_holders', { name: asset.name }),
      holderPages(url, ledger, fungible, orgName),
      h('h3', { 'data-test': 'asset-transfers' }, t('asset_transfers', { n: ledger.transfer_count })),
      table([
        { label: t('block'), render: (x) => String(x.height) },
        { label: t('from'), render: (x) => account(x.from) },
        { label: t('to'), render: (x) => account(x.to) },
        { label: fungible ? t('amount') : t('token'), render: (x) => (fungible ? x.amount : `#${x.token_id}`) },
        { label: t('transaction'), render: (x) => link(`#/chains/${id}/explorer/tx/${x.tx_hash}`, short(x.tx_hash, 12)) },
      ], ledger.transfers, t('no_transfers')),
      !may.has('contract:invoke') ? null : form([
        field(t('asset_operation'), pick),
        field(t('asset_to_or_account'), input('who', { placeholder: '0x…', test: 'asset-who' })),
        field(fungible ? t('amount') : t('token_id'), input('value', { test: 'asset-value' })),
      ], t('send'), async (v) => {
        const body = { ...actingFor() };
        if (['issue', 'transfer'].includes(v.action)) body.to = v.who;
        if (['freeze', 'unfreeze'].includes(v.action)) body.account = v.who;
        if (fungible) body.amount = v.value || undefined; else body.token_id = v.value || undefined;
        await post(`/v1/chains/${id}/assets/${asset.name}/${v.action}`, body);
        await Promise.all([drawAssets(), drawHolders(asset)]);
      }, { test: 'asset-form', submitTest: 'asset-submit' })));
  };

  const drawAssets = async () => {
    const assets = await get(`/v1/chains/${id}/assets`);
    const kind = h('select', { name: 'kind', 'data-test': 'asset-kind' },
      h('option', { value: 'fungible' }, t('fungible')), h('option', { value: 'non-fungible' }, t('non_fungible')));
    clear(assetsBox, card(t('assets'),
      assets.length ? table([
        { label: t('name'), render: (a) => action(a.name, () => drawHolders(a), { 'data-test': `asset-${a.name}`, class: 'link' }) },
        { label: t('kind'), render: (a) => (a.kind === 'fungible' ? t('fungible') : t('non_fungible')) },
        { label: t('symbol'), render: (a) => a.symbol },
        { label: t('supply'), render: (a) => h('span', { 'data-test': `supply-${a.name}` }, a.total_supply) },
        { label: t('issuer'), render: (a) => orgName(a.org_id) },
        { label: t('contract'), render: (a) => account(a.address) },
      ], assets) : empty(t('no_assets'), t('assets_hint')),
      !may.has('contract:deploy') ? null : form([
        field(t('name'), input('name', { required: true, test: 'asset-name' })),
        field(t('symbol'), input('symbol', { required: true, test: 'asset-symbol' })),
        field(t('kind'), kind),
        field(t('decimals'), input('decimals', { type: 'number', min: 0, max: 18, placeholder: '2', test: 'asset-decimals' })),
      ], t('issue_asset'), async (v, el) => {
        const fungible = v.kind === 'fungible';
        await post(`/v1/chains/${id}/assets`, {
          name: v.name, symbol: v.symbol, kind: v.kind,
          decimals: fungible && v.decimals !== '' ? Number(v.decimals) : undefined, ...actingFor(),
        });
        el.reset();
        await drawAssets();
      }, { test: 'issue-asset-form', submitTest: 'issue-asset-submit' })));
  };

  const drawLedger = async () => {
    const [entries, balances, report] = await Promise.all([
      get(`/v1/chains/${id}/shared-ledger/entries`),
      get(`/v1/chains/${id}/shared-ledger/balances`),
      get(`/v1/chains/${id}/shared-ledger/reconciliation?org=${encodeURIComponent(org)}`),
    ]);
    const waiting = new Set(report.awaiting_us.map((e) => e.id));
    const answer = (e, verb) => action(t(`entry_${verb}`), async () => {
      const reason = verb === 'dispute' ? window.prompt(t('dispute_reason')) : undefined;
      if (verb === 'dispute' && !reason) return;
      await post(`/v1/chains/${id}/shared-ledger/entries/${e.id}/${verb}`, { reason, ...actingFor() });
      await drawLedger();
    }, { 'data-test': `entry-${verb}-${e.id}` });
    const counterparties = chain.orgs.filter((o) => o !== org);
    const side = h('select', { name: 'side', 'data-test': 'entry-side' },
      h('option', { value: 'creditor' }, t('entry_owed_to_us')), h('option', { value: 'debtor' }, t('entry_we_owe')));
    const other = h('select', { name: 'other', 'data-test': 'entry-other' }, counterparties.map((o) => h('option', { value: o }, orgName(o))));
    clear(ledgerBox, card(t('shared_ledger'),
      entries.length ? table([
        { label: '#', render: (e) => String(e.id) },
        { label: t('debtor'), render: (e) => orgName(e.debtor) },
        { label: t('creditor'), render: (e) => orgName(e.creditor) },
        { label: t('amount'), render: (e) => `${e.amount} ${e.currency}` },
        { label: t('reference'), render: (e) => e.reference },
        { label: t('time'), render: (e) => fmtTime(e.posted_ms) },
        { label: t('status'), render: (e) => [chip(t(`entry_${e.status}`), ENTRY_KIND[e.status]), e.note ? h('div', { class: 'muted' }, e.note) : null] },
        { label: '', render: (e) => (waiting.has(e.id) && may.has('contract:invoke') ? h('div', { class: 'row' }, answer(e, 'confirm'), answer(e, 'dispute')) : null) },
      ], entries) : empty(t('no_entries'), t('shared_ledger_hint')),
      !may.has('contract:invoke') ? null : counterparties.length ? form([
        field(t('entry_side'), side),
        field(t('counterparty'), other),
        field(t('amount'), input('amount', { required: true, inputmode: 'numeric', test: 'entry-amount' })),
        field(t('currency'), input('currency', { required: true, value: 'CNY', test: 'entry-currency' })),
        field(t('reference'), input('reference', { test: 'entry-reference' })),
      ], t('post_entry'), async (v, el) => {
        const [debtor, creditor] = v.side === 'creditor' ? [v.other, org] : [org, v.other];
        await post(`/v1/chains/${id}/shared-ledger/entries`, { debtor, creditor, amount: v.amount, currency: v.currency, reference: v.reference, ...actingFor() });
        el.reset();
        await drawLedger();
      }, { test: 'entry-form', submitTest: 'entry-submit' }) : h('p', { class: 'muted' }, t('shared_ledger_alone'))),
    card(t('reconciliation_of', { org: orgName(org) }),
      table([
        { label: t('counterparty'), render: (l) => orgName(l.counterparty) },
        { label: t('currency'), render: (l) => l.currency },
        { label: t('confirmed_net'), render: (l) => l.confirmed_net },
        { label: t('pending'), render: (l) => `${l.pending} (${l.pending_net})` },
        { label: t('disputed'), render: (l) => String(l.disputed) },
      ], report.lines, t('no_entries')),
      h('h3', {}, t('balances')),
      table([
        { label: t('organization'), render: (b) => orgName(b.org_id) },
        { label: t('currency'), render: (b) => b.currency },
        { label: t('asset_balance'), render: (b) => h('span', { 'data-test': `balance-${b.org_id}-${b.currency}` }, b.balance) },
      ], balances, t('no_entries'))));
  };

  await Promise.all([drawAssets(), drawLedger()]);
  // Opened for one asset (the explorer links here): its holders and transfers.
  if (params.asset) {
    const asset = (await get(`/v1/chains/${id}/assets`)).find((a) => a.name === params.asset);
    if (asset) await drawHolders(asset);
  }
}
