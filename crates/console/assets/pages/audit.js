// The audit log: every call that changed something, who made it, when, and how it ended;
// filtered by user, method, path and time. Administrators see everyone's, others their own;
// administrators also read the platform's own log here.
import { get } from '../api.js';
import { h, clear, card, table, field, form, fmtTime, chip } from '../ui.js';
import { t } from '../i18n.js';
import { user } from '../app.js';
import { logViewer } from '../logs.js';

const METHODS = ['', 'POST', 'PUT', 'PATCH', 'DELETE', 'JOB'];

// `datetime-local` values are local times without a zone.
function ms(local) {
  return local ? new Date(local).getTime() : undefined;
}

export async function render(main) {
  const results = h('div', {});
  const admin = user()?.admin;
  const search = async (v) => {
    const q = new URLSearchParams();
    if (v.actor) q.set('actor', v.actor.trim());
    if (v.method) q.set('method', v.method);
    if (v.path) q.set('path_prefix', v.path.trim());
    if (ms(v.from)) q.set('since_ms', ms(v.from));
    if (ms(v.to)) q.set('until_ms', ms(v.to));
    q.set('limit', '200');
    const entries = await get(`/v1/audit?${q}`);
    clear(results, table([
      { label: t('when'), render: (e) => fmtTime(e.at_ms) },
      { label: t('user'), render: (e) => e.actor || '—' },
      { label: t('method'), render: (e) => h('code', {}, e.method) },
      { label: t('path'), render: (e) => h('code', {}, e.path) },
      { label: t('result'), render: (e) => chip(String(e.status), e.status < 400 ? 'ok' : 'bad') },
    ], entries, t('no_audit_entries')));
    results.setAttribute('data-test', 'audit-results');
  };
  const filters = form([
    field(t('user'), h('input', { name: 'actor', value: admin ? '' : user()?.username || '', readonly: !admin, 'data-test': 'audit-actor' })),
    field(t('method'), h('select', { name: 'method', 'data-test': 'audit-method' }, METHODS.map((m) => h('option', { value: m }, m || t('any'))))),
    field(t('path_prefix'), h('input', { name: 'path', placeholder: '/v1/chains', 'data-test': 'audit-path' })),
    field(t('from'), h('input', { name: 'from', type: 'datetime-local' })),
    field(t('to'), h('input', { name: 'to', type: 'datetime-local' })),
  ], t('search'), search, { inline: true, test: 'audit-filters', submitTest: 'audit-search' });
  const viewer = admin ? logViewer({ base: '/v1/platform', name: 'platform', title: t('platform_log') }) : null;
  clear(main, h('h1', {}, t('nav_audit')), card(null, h('p', { class: 'muted' }, admin ? t('audit_hint_admin') : t('audit_hint')), filters), results,
    viewer ? h('div', { 'data-test': 'platform-log' }, viewer.el) : null);
  await search({});
  viewer?.search();
  return () => viewer?.stop();
}
