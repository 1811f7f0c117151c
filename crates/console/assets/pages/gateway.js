// A chain's contract gateway: the managed signing keys of the organization you act for
// (make, rotate, disable, enable), webhook subscriptions to the chain's events (make, pause,
// resume, delete; their cursor, deliveries and last failure), and your recent gateway calls.
import { get, post, del, permitted } from '../api.js';
import { h, clear, card, table, field, form, empty, chip, link, short, action, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { actingOrg, actingFor, user } from '../app.js';

const STATUS_KIND = { success: 'ok', pending: '', reverted: 'bad', failed: 'bad' };

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const keysBox = h('div', {});
  const hooksBox = h('div', {});
  const callsBox = h('div', {});
  clear(main, h('h1', {}, t('gateway_of', { chain: chain.name })), keysBox, hooksBox, callsBox);
  if (chain.status !== 'running') {
    clear(keysBox, card(null, empty(t('not_started'), t('not_started_hint'), link(`#/chains/${id}`, t('continue_wizard')))));
    return;
  }
  const org = actingOrg() || chain.orgs[0];
  const contracts = (await get(`/v1/chains/${id}/contracts`)).filter((c) => c.address);

  // Every member makes and manages their own keys; someone else's, and enabling a key again
  // (an administrator may have disabled it for a reason), need `key:update`.
  const manages = (await permitted(org, ['key:update'], 'keys')).has('key:update');
  const me = user()?.id;
  const drawKeys = async () => {
    const keys = await get(`/v1/orgs/${org}/signing-keys`);
    const keyAction = (k, verb) => action(t(`key_${verb}`), async () => {
      await post(`/v1/orgs/${org}/signing-keys/${k.id}/${verb}`);
      await drawKeys();
    }, { 'data-test': `key-${verb}-${k.name}` });
    clear(keysBox, card(t('signing_keys'),
      keys.length ? table([
        { label: t('name'), render: (k) => h('span', { 'data-test': `key-${k.name}` }, k.name) },
        { label: t('account'), render: (k) => h('code', { title: k.address }, short(k.address, 12)) },
        { label: t('key_version'), render: (k) => String(k.version) },
        { label: t('status'), render: (k) => (k.enabled ? chip(t('key_enabled'), 'ok') : chip(t('key_disabled'), 'bad')) },
        { label: '', render: (k) => (manages || (k.owner_id === me && k.enabled)
          ? h('div', { class: 'row' }, keyAction(k, 'rotate'), k.enabled ? keyAction(k, 'disable') : keyAction(k, 'enable'))
          : null) },
      ], keys) : empty(t('no_signing_keys'), t('signing_keys_hint')),
      form([field(t('key_name'), h('input', { name: 'name', required: true, 'data-test': 'key-name' }))], t('create_key'), async (v) => {
        await post(`/v1/orgs/${org}/signing-keys`, { name: v.name });
        await drawKeys();
      }, { inline: true, test: 'key-form', submitTest: 'key-create' })));
  };

  // A subscription is managed by who may `chain:subscribe` in its organization.
  const subscribers = new Map();
  const maySubscribe = (o) => {
    if (!subscribers.has(o)) subscribers.set(o, permitted(o, ['chain:subscribe'], `chains/${id}/webhooks`).then((a) => a.has('chain:subscribe')));
    return subscribers.get(o);
  };
  const drawHooks = async () => {
    const hooks = await get(`/v1/chains/${id}/webhooks`);
    const orgs = [...new Set([org, ...hooks.map((w) => w.org_id)])];
    const allowed = new Map(await Promise.all(orgs.map(async (o) => [o, await maySubscribe(o)])));
    const contractName = (address) => contracts.find((c) => c.address.toLowerCase() === address)?.name || short(address, 12);
    const events = h('select', { name: 'event', 'data-test': 'webhook-event' });
    const pick = h('select', { name: 'contract', 'data-test': 'webhook-contract', onchange: () => fillEvents() },
      h('option', { value: '' }, t('any_contract')), contracts.map((c) => h('option', { value: c.name }, c.name)));
    const fillEvents = () => {
      const c = contracts.find((x) => x.name === pick.value);
      const sigs = (c ? c.abi : []).filter((e) => e.type === 'event')
        .map((e) => `${e.name}(${e.inputs.map((i) => i.type).join(',')})`);
      clear(events, h('option', { value: '' }, t('any_event')), sigs.map((s) => h('option', { value: s }, s)));
    };
    fillEvents();
    const hookAction = (w, label, run, test) => action(label, async () => { await run(); await drawHooks(); }, { 'data-test': `${test}-${w.id}` });
    clear(hooksBox, card(t('webhooks'),
      hooks.length ? table([
        { label: t('webhook_url'), render: (w) => h('code', { 'data-test': 'webhook-url' }, w.url) },
        { label: t('webhook_filter'), render: (w) => [w.address ? contractName(w.address) : t('any_contract'), ' · ', w.event || t('any_event')] },
        { label: t('webhook_cursor'), render: (w) => `#${w.cursor_height}:${w.cursor_index}` },
        { label: t('webhook_delivered'), render: (w) => String(w.delivered) },
        { label: t('status'), render: (w) => [
          !w.enabled ? chip(t('webhook_paused')) : w.attempts ? chip(t('webhook_retrying', { n: w.attempts }), 'bad') : chip(t('webhook_ok'), 'ok'),
          w.last_error ? h('div', { class: 'muted' }, w.last_error) : null] },
        { label: '', render: (w) => (!allowed.get(w.org_id) ? null : h('div', { class: 'row' },
          w.enabled
            ? hookAction(w, t('pause'), () => post(`/v1/chains/${id}/webhooks/${w.id}/disable`), 'webhook-pause')
            : hookAction(w, t('resume'), () => post(`/v1/chains/${id}/webhooks/${w.id}/enable`), 'webhook-resume'),
          hookAction(w, t('delete'), () => del(`/v1/chains/${id}/webhooks/${w.id}`), 'webhook-delete'))) },
      ], hooks) : empty(t('no_webhooks'), t('webhooks_hint')),
      !allowed.get(org) ? null : form([
        field(t('webhook_url'), h('input', { name: 'url', required: true, type: 'url', placeholder: 'https://example.internal/hooks', 'data-test': 'webhook-url-input' })),
        field(t('contract'), pick),
        field(t('event'), events),
      ], t('create_webhook'), async (v, el) => {
        const made = await post(`/v1/chains/${id}/webhooks`, { url: v.url, contract: v.contract || undefined, event: v.event || undefined, ...actingFor() });
        await drawHooks();
        hooksBox.querySelector('.card').append(h('p', { 'data-test': 'webhook-secret' }, t('webhook_secret_once'), ' ', h('code', {}, made.secret)));
        el.reset();
      }, { test: 'webhook-form', submitTest: 'webhook-create' })));
  };

  const drawCalls = async () => {
    const calls = await get(`/v1/chains/${id}/calls?limit=20`);
    clear(callsBox, card(t('recent_calls'), table([
      { label: t('time'), render: (c) => fmtTime(c.created_ms) },
      { label: t('function'), render: (c) => h('code', {}, c.function || '') },
      { label: t('account'), render: (c) => h('code', { title: c.from }, short(c.from, 10)) },
      { label: 'nonce', render: (c) => (c.nonce ?? '—').toString() },
      { label: t('status'), render: (c) => [chip(c.status, STATUS_KIND[c.status]), c.error ? h('div', { class: 'muted' }, c.error) : null] },
      { label: t('transaction'), render: (c) => link(`#/chains/${id}/explorer/tx/${c.tx_hash}`, short(c.tx_hash, 12)) },
    ], calls, t('no_calls')), h('p', { class: 'muted' }, t('calls_hint'))));
  };

  await Promise.all([drawKeys(), drawHooks(), drawCalls()]);
}
