// Your account: change the password (your other sessions end), the time zone times show in,
// API keys (create with an expiry, see, revoke) and sessions (see, end).
import { get, post, del } from '../api.js';
import { h, clear, card, table, field, form, action, toast, fmtTime, chip, chosenZone, chooseZone } from '../ui.js';
import { t } from '../i18n.js';

function keyState(k) {
  if (k.revoked_ms != null) return chip(t('key_revoked'), 'bad');
  if (k.expires_ms != null && k.expires_ms < Date.now()) return chip(t('key_expired'), 'bad');
  return chip(t('key_active'), 'ok');
}

export async function render(main) {
  const keysBox = h('div', {});
  const sessionsBox = h('div', {});
  const password = card(t('change_password'),
    h('p', { class: 'muted' }, t('change_password_hint')),
    form([
      field(t('current_password'), h('input', { name: 'current', type: 'password', autocomplete: 'current-password', required: true, 'data-test': 'current-password' })),
      field(t('new_password'), h('input', { name: 'next', type: 'password', autocomplete: 'new-password', required: true, minlength: 10, 'data-test': 'new-password' })),
    ], t('change_password'), async (v, f) => {
      await post('/v1/users/me/password', { current_password: v.current, new_password: v.next });
      f.reset();
      toast(t('password_changed'));
      await drawSessions();
    }, { test: 'password-form', submitTest: 'password-submit' }));
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC'];
  const zone = card(t('time_zone'), h('p', { class: 'muted' }, t('time_zone_hint')),
    field(t('time_zone'), h('select', {
      'data-test': 'time-zone',
      onchange: (e) => { chooseZone(e.target.value); toast(t('time_zone_saved', { zone: e.target.value || browserZone })); },
    }, h('option', { value: '' }, t('time_zone_browser', { zone: browserZone })),
    ['UTC', ...zones.filter((z) => z !== 'UTC')].map((z) => h('option', { value: z, selected: z === chosenZone() }, z)))));
  clear(main, h('h1', {}, t('nav_settings')), h('div', { class: 'grid' }, password, sessionsBox), zone, keysBox);

  const drawSessions = async () => {
    const sessions = await get('/v1/users/me/sessions');
    clear(sessionsBox, card(t('sessions'),
      h('p', { class: 'muted' }, t('sessions_hint')),
      table([
        { label: t('signed_in'), render: (s) => fmtTime(s.created_ms) },
        { label: t('last_refresh'), render: (s) => fmtTime(s.refreshed_ms) },
        { label: '', render: (s) => (s.current
          ? chip(t('this_session'), 'ok')
          : action(t('end_session'), async () => { await del(`/v1/users/me/sessions/${s.id}`); await drawSessions(); }, { class: 'danger', 'data-test': 'end-session' })) },
      ], sessions)));
  };

  const drawKeys = async (made) => {
    const keys = await get('/v1/users/me/api-keys');
    const once = made
      ? h('div', { class: 'notice', 'data-test': 'new-key' }, t('key_shown_once'), ' ', h('code', { 'data-test': 'new-key-secret' }, made.key))
      : null;
    clear(keysBox, card(t('api_keys'),
      h('p', { class: 'muted' }, t('api_keys_hint')),
      once,
      table([
        { label: t('name'), render: (k) => h('span', { 'data-test': `key-${k.name}` }, k.name) },
        { label: t('created_at'), render: (k) => fmtTime(k.created_ms) },
        { label: t('expires_at'), render: (k) => (k.expires_ms != null ? fmtTime(k.expires_ms) : t('never')) },
        { label: t('status'), render: (k) => h('span', { 'data-test': `key-state-${k.name}` }, keyState(k)) },
        { label: '', render: (k) => (k.revoked_ms != null ? '' : action(t('revoke'), async () => {
          await del(`/v1/users/me/api-keys/${k.id}`);
          toast(t('key_revoked'));
          await drawKeys();
        }, { class: 'danger', 'data-test': `revoke-key-${k.name}`, confirm: t('confirm_revoke_key', { name: k.name }) })) },
      ], keys, t('no_api_keys')),
      h('h3', {}, t('create_api_key')),
      form([
        field(t('name'), h('input', { name: 'name', required: true, 'data-test': 'key-name' })),
        field(t('expires_in_days'), h('input', { name: 'days', type: 'number', min: 0, max: 3650, value: 90, 'data-test': 'key-days' })),
      ], t('create'), async (v, f) => {
        const key = await post('/v1/users/me/api-keys', { name: v.name, expires_in_days: Number(v.days) });
        f.reset();
        await drawKeys(key);
      }, { inline: true, test: 'create-key', submitTest: 'create-key-submit' })));
  };

  await Promise.all([drawSessions(), drawKeys()]);
}
