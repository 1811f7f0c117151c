// A chain's alerts: the active ones (pending, firing; acknowledge, silence for an hour), the
// rules as the chain has them (on/off, `for`, threshold), where alerts are sent (signed
// webhooks, e-mail), the silences running, and the history page by page. Refreshed every few
// seconds.
import { get, post, put, del, permitted } from '../api.js';
import { h, clear, card, table, field, form, empty, chip, action, ago, fmtTime, errorBox } from '../ui.js';
import { t } from '../i18n.js';
import { actingFor, actingOrg } from '../app.js';

const SEVERITY_KIND = { critical: 'bad', warning: 'warn' };
const HOUR = 3600000;

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const status = h('div', {});
  const activeBox = h('div', { 'data-test': 'alerts-active' });
  const rulesBox = h('div', {});
  const receiversBox = h('div', {});
  const silencesBox = h('div', {});
  const historyBox = h('div', { 'data-test': 'alerts-history' });
  clear(main, h('h1', {}, t('alerts_of', { chain: chain.name })), status, activeBox, rulesBox, receiversBox, silencesBox, historyBox);
  const nodeName = (nodeId) => chain.nodes.find((n) => n.id === nodeId)?.name || nodeId || t('alert_whole_chain');
  const ruleName = (rule) => t(`rule_${rule}`);
  const severity = (s) => chip(t(`severity_${s}`), SEVERITY_KIND[s]);
  // Managing alerts (rules, receivers, silences, acknowledging) takes `chain:alerts` of the
  // organization acted for; without it the page only reads.
  const acting = actingOrg();
  const may = (await permitted(chain.orgs.includes(acting) ? acting : null, ['chain:alerts'], `chains/${id}/alerts`)).has('chain:alerts');

  const drawActive = async () => {
    const alerts = await get(`/v1/chains/${id}/alerts`);
    clear(activeBox, card(t('alerts_active'), alerts.length ? table([
      { label: t('alert_severity'), render: (a) => severity(a.severity) },
      { label: t('alert_rule'), render: (a) => h('span', { title: a.rule }, ruleName(a.rule)) },
      { label: t('alert_node'), render: (a) => nodeName(a.node_id) },
      { label: t('alert_summary'), render: (a) => [h('div', { 'data-test': `alert-${a.rule}` }, a.summary), h('div', { class: 'muted' }, a.description)] },
      { label: t('status'), render: (a) => [
        chip(t(`alert_${a.state}`), a.state === 'firing' ? 'bad' : ''),
        a.silenced_by ? [' ', chip(t('alert_silenced'))] : null,
        a.acknowledged_by ? [' ', chip(t('alert_acknowledged'), 'ok')] : null] },
      { label: t('alert_since'), render: (a) => h('span', { title: fmtTime(a.started_ms) }, ago(a.fired_ms || a.started_ms)) },
      { label: '', render: (a) => (!may ? null : h('div', { class: 'row' },
        a.state === 'firing' && !a.acknowledged_by
          ? action(t('alert_acknowledge'), async () => { await post(`/v1/chains/${id}/alerts/${a.id}/acknowledge`, actingFor()); await drawActive(); }, { 'data-test': `ack-${a.rule}` })
          : null,
        a.silenced_by ? null : action(t('alert_silence_hour'), async () => {
          await post(`/v1/chains/${id}/alert-silences`, { rule: a.rule, node_id: a.node_id || undefined, duration_ms: HOUR, comment: '', ...actingFor() });
          await Promise.all([drawActive(), drawSilences()]);
        }, { 'data-test': `silence-${a.rule}` }))) },
    ], alerts) : empty(t('no_active_alerts'), t('no_alerts_hint'))));
  };

  const drawRules = async () => {
    const rules = await get(`/v1/chains/${id}/alert-rules`);
    const edit = (r) => form([
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'enabled', checked: r.enabled, 'data-test': `rule-enabled-${r.rule}` }), t('rule_on')),
      field(t('rule_for_s'), h('input', { name: 'for_s', type: 'number', min: 0, max: 86400, value: r.for_ms / 1000, 'data-test': `rule-for-${r.rule}` })),
      r.unit ? field(t('rule_threshold', { unit: r.unit }), h('input', { name: 'threshold', type: 'number', min: 0, value: r.threshold })) : null,
    ], t('rule_save'), async (v) => {
      await put(`/v1/chains/${id}/alert-rules/${r.rule}`, {
        enabled: v.enabled === 'on',
        for_ms: Math.round(Number(v.for_s) * 1000),
        threshold: r.unit ? Number(v.threshold) : undefined,
        ...actingFor(),
      });
      await drawRules();
    }, { inline: true, test: `rule-form-${r.rule}`, submitTest: `rule-save-${r.rule}` });
    clear(rulesBox, card(t('alert_rules'), table([
      { label: t('alert_rule'), render: (r) => [h('div', {}, ruleName(r.rule)), h('div', { class: 'muted' }, t(`rule_${r.rule}_hint`))] },
      { label: t('alert_severity'), render: (r) => severity(r.severity) },
      { label: t('rule_settings'), render: may ? edit : (r) => [chip(t(r.enabled ? 'rule_enabled' : 'rule_disabled'), r.enabled ? 'ok' : ''), ' ',
        t('rule_for_n_s', { n: r.for_ms / 1000 }), r.unit ? ` · ${r.threshold} ${r.unit}` : ''] },
    ], rules)));
  };

  const drawReceivers = async () => {
    const receivers = await get(`/v1/chains/${id}/alert-receivers`);
    clear(receiversBox, card(t('alert_receivers'),
      receivers.length ? table([
        { label: t('receiver_kind'), render: (r) => t(`receiver_${r.kind}`) },
        { label: t('receiver_target'), render: (r) => h('code', { 'data-test': 'receiver-target' }, r.target) },
        { label: t('receiver_min_severity'), render: (r) => severity(r.min_severity) },
        { label: t('receiver_sent'), render: (r) => [
          t('receiver_counts', { delivered: r.delivered, waiting: r.waiting, failed: r.failed }),
          r.last_error ? h('div', { class: 'muted' }, r.last_error) : null] },
        { label: '', render: (r) => (!may ? null : action(t('delete'), async () => { await del(`/v1/chains/${id}/alert-receivers/${r.id}`); await drawReceivers(); },
          { 'data-test': `receiver-delete-${r.id}`, confirm: t('confirm_delete_receiver', { target: r.target }) })) },
      ], receivers) : empty(t('no_receivers'), t('receivers_hint')),
      !may ? null : form([
        field(t('receiver_kind'), h('select', { name: 'kind', 'data-test': 'receiver-kind' },
          h('option', { value: 'webhook' }, t('receiver_webhook')), h('option', { value: 'email' }, t('receiver_email')))),
        field(t('receiver_target'), h('input', { name: 'target', required: true, placeholder: 'https://… / ops@example.com', 'data-test': 'receiver-target-input' })),
        field(t('receiver_min_severity'), h('select', { name: 'min_severity' },
          h('option', { value: 'warning' }, t('severity_warning')), h('option', { value: 'critical' }, t('severity_critical')))),
      ], t('add_receiver'), async (v, el) => {
        const made = await post(`/v1/chains/${id}/alert-receivers`, { kind: v.kind, target: v.target, min_severity: v.min_severity, ...actingFor() });
        await drawReceivers();
        if (made.secret) receiversBox.querySelector('.card').append(h('p', { 'data-test': 'receiver-secret' }, t('webhook_secret_once'), ' ', h('code', {}, made.secret)));
        el.reset();
      }, { test: 'receiver-form', submitTest: 'receiver-create' })));
  };

  const drawSilences = async () => {
    const silences = await get(`/v1/chains/${id}/alert-silences`);
    const rules = (await get(`/v1/chains/${id}/alert-rules`)).map((r) => r.rule);
    clear(silencesBox, card(t('alert_silences'),
      silences.length ? table([
        { label: t('alert_rule'), render: (s) => (s.rule ? ruleName(s.rule) : t('any_rule')) },
        { label: t('alert_node'), render: (s) => (s.node_id ? nodeName(s.node_id) : t('any_node')) },
        { label: t('silence_comment'), render: (s) => s.comment || '—' },
        { label: t('silence_ends'), render: (s) => fmtTime(s.ends_ms) },
        { label: '', render: (s) => (!may ? null : action(t('silence_end'), async () => {
          await del(`/v1/chains/${id}/alert-silences/${s.id}`);
          await Promise.all([drawSilences(), drawActive()]);
        }, { 'data-test': `silence-end-${s.id}` })) },
      ], silences) : empty(t('no_silences'), t('silences_hint')),
      !may ? null : form([
        field(t('alert_rule'), h('select', { name: 'rule' }, h('option', { value: '' }, t('any_rule')), rules.map((r) => h('option', { value: r }, ruleName(r))))),
        field(t('alert_node'), h('select', { name: 'node' }, h('option', { value: '' }, t('any_node')), chain.nodes.map((n) => h('option', { value: n.id }, n.name)))),
        field(t('hours'), h('input', { name: 'hours', type: 'number', min: 0.1, max: 720, step: 0.1, value: 1 })),
        field(t('silence_comment'), h('input', { name: 'comment', placeholder: t('silence_comment_hint') })),
      ], t('add_silence'), async (v, el) => {
        await post(`/v1/chains/${id}/alert-silences`, {
          rule: v.rule || undefined, node_id: v.node || undefined, duration_ms: Math.round(Number(v.hours) * HOUR), comment: v.comment, ...actingFor(),
        });
        await Promise.all([drawSilences(), drawActive()]);
        el.reset();
      }, { inline: true, test: 'silence-form', submitTest: 'silence-create' })));
  };

  // The history, newest first: one page at a time, "older" asks for the page before.
  const history = [];
  const drawHistory = async (more) => {
    const before = more && history.length ? `&before_ms=${history[history.length - 1].started_ms}` : '';
    const page = await get(`/v1/chains/${id}/alerts?state=all&limit=20${before}`);
    if (!more) history.length = 0;
    history.push(...page);
    clear(historyBox, card(t('alert_history'), table([
      { label: t('alert_severity'), render: (a) => severity(a.severity) },
      { label: t('alert_rule'), render: (a) => ruleName(a.rule) },
      { label: t('alert_node'), render: (a) => nodeName(a.node_id) },
      { label: t('alert_summary'), render: (a) => a.summary },
      { label: t('status'), render: (a) => chip(t(`alert_${a.state}`), a.state === 'resolved' ? 'ok' : 'bad') },
      { label: t('alert_fired'), render: (a) => fmtTime(a.fired_ms) },
      { label: t('alert_resolved_at'), render: (a) => fmtTime(a.resolved_ms) },
      { label: t('alert_acknowledged'), render: (a) => a.acknowledged_by ? fmtTime(a.acknowledged_ms) : '—' },
    ], history, t('no_alert_history')),
    page.length === 20 ? action(t('older'), () => drawHistory(true), { 'data-test': 'history-older' }) : null));
  };

  if (chain.status !== 'running') {
    clear(activeBox, card(null, empty(t('not_started'), t('not_started_hint'))));
    return;
  }
  await Promise.all([drawRules(), drawReceivers(), drawSilences(), drawHistory(false)]);
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await drawActive();
      clear(status);
    } catch (err) {
      clear(status, errorBox(err));
    }
    if (!stopped) timer = setTimeout(tick, 3000);
  };
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
