// The app browser: business views of the chain's contracts for people who are not developers,
// rendered from each contract's display spec (kept with its ABI): tables of its events with
// named columns, forms that send a transaction, lookups of a view function with named results.
import { get, post } from '../api.js';
import { h, clear, card, field, form, empty, link, chip } from '../ui.js';
import { t } from '../i18n.js';
import { actingFor } from '../app.js';
import { eventTable, shown, whereColumns } from '../events.js';

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const tabs = h('div', { class: 'row tabs' });
  const body = h('div', {});
  clear(main, h('h1', {}, t('apps_of', { chain: chain.name })), tabs, body);
  if (chain.status !== 'running') {
    clear(body, card(null, empty(t('not_started'), t('not_started_hint'))));
    return;
  }
  const apps = (await get(`/v1/chains/${id}/contracts`)).filter((c) => c.display && c.address);
  if (!apps.length) {
    clear(body, card(null, empty(t('no_apps'), t('no_apps_hint'), link(`#/chains/${id}/contracts`, t('nav_contracts')))));
    return;
  }
  const chosen = apps.find((c) => c.name === params.app || c.id === params.app) || apps[0];
  clear(tabs, apps.map((c) => h('a', {
    href: `#/chains/${id}/apps/${encodeURIComponent(c.name)}`,
    class: c.id === chosen.id ? 'tab active' : 'tab',
    'data-test': `app-${c.name}`,
  }, c.display.title)));
  // Tables refresh after a form's transaction lands.
  const tables = [];
  const refreshTables = () => Promise.all(tables.map((x) => x.refresh()));
  const views = chosen.display.views.map((v, i) => {
    if (v.kind === 'table') return tableView(id, chosen, v, i, tables);
    if (v.kind === 'form') return formView(id, chosen, v, i, refreshTables);
    return lookupView(id, chosen, v, i);
  });
  clear(body,
    chosen.display.description ? h('p', { class: 'muted' }, chosen.display.description) : null,
    h('div', { class: 'grid' }, views.filter((v) => v.side).map((v) => v.element)),
    views.filter((v) => !v.side).map((v) => v.element));
  await refreshTables();
}

// A parameter's name as views name it: an unnamed one by its position.
const pname = (p, i) => p.name || String(i);

function byName(fields, list) {
  return fields.map((f) => ({ ...f, param: list.find((p, i) => pname(p, i) === f.name) }));
}

function tableView(chainId, contract, v, i, tables) {
  const where = whereColumns(chainId);
  const columns = v.columns.map((c) => where[c.name] ? { ...where[c.name], label: c.label } : {
    label: c.label,
    render: (e) => h('span', {}, shown((e.args || []).find((a) => a.name === c.name)?.value)),
  });
  const pager = eventTable(chainId, contract.name, { event: v.event, columns, test: `app-table-${i}` });
  tables.push(pager);
  return { element: card(v.title, pager.element) };
}

function inputs(fields, f, test) {
  return byName(fields, f.inputs).map((x) => field(x.label, h('input', {
    name: x.name, required: true, placeholder: x.param?.type || '', 'data-test': `${test}-${x.name}`,
  })));
}

function functionOf(contract, name) {
  return contract.functions.find((f) => f.signature === name) || contract.functions.find((f) => f.name === name);
}

function formView(chainId, contract, v, i, refreshTables) {
  const f = functionOf(contract, v.function);
  const result = h('div', { 'data-test': `app-form-${i}-result` });
  const el = form(inputs(v.fields, f, `app-form-${i}`), v.submit || v.title, async (values, formEl) => {
    clear(result);
    const args = f.inputs.map((p, k) => values[pname(p, k)]);
    const r = await post(`/v1/chains/${chainId}/contracts/${contract.id}/call`, { function: f.signature, args, ...actingFor() });
    const ok = r.outcome.status === 'success';
    clear(result, h('div', { class: 'notice' }, chip(t(`tx_${r.outcome.status}`), ok ? 'ok' : 'bad'), ' ',
      r.outcome.revert_reason || '', ' ', link(`#/chains/${chainId}/explorer/tx/${r.outcome.tx_hash}`, t('app_see_transaction'))));
    if (ok) {
      formEl.reset();
      await refreshTables();
    }
  }, { test: `app-form-${i}`, submitTest: `app-form-${i}-submit` });
  return { element: card(v.title, el, result), side: true };
}

function lookupView(chainId, contract, v, i) {
  const f = functionOf(contract, v.function);
  const result = h('div', { 'data-test': `app-lookup-${i}-result` });
  const el = form(inputs(v.fields, f, `app-lookup-${i}`), t('app_look_up'), async (values) => {
    clear(result);
    const args = f.inputs.map((p, k) => values[pname(p, k)]);
    const r = await post(`/v1/chains/${chainId}/contracts/${contract.id}/call`, { function: f.signature, args, ...actingFor() });
    clear(result, h('dl', { class: 'kv' }, v.outputs.map((out) => {
      const k = r.outputs.findIndex((o, idx) => pname(o, idx) === out.name);
      return [h('dt', {}, out.label), h('dd', { 'data-test': `app-output-${out.name}` }, k < 0 ? '—' : shown(r.outputs[k].value))];
    })));
  }, { test: `app-lookup-${i}`, submitTest: `app-lookup-${i}-submit` });
  return { element: card(v.title, el, result), side: true };
}
