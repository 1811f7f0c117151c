// Log in with a platform username and password.
import { login } from '../api.js';
import { h, field, form } from '../ui.js';
import { t, lang, setLang } from '../i18n.js';
import { forgetUser } from '../app.js';

export async function render(root) {
  const language = h('select', {
    'aria-label': 'Language / 语言',
    'data-test': 'lang',
    onchange: (e) => {
      setLang(e.target.value);
      render(root.replaceChildren() || root);
    },
  }, h('option', { value: 'en', selected: lang() === 'en' }, 'English'), h('option', { value: 'zh', selected: lang() === 'zh' }, '中文'));
  const f = form([
    field(t('username'), h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true, 'data-test': 'username' })),
    field(t('password'), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-test': 'password' })),
  ], t('login'), async (v) => {
    await login(v.username.trim(), v.password);
    forgetUser();
    location.hash = '#/overview';
  }, { test: 'login-form', submitTest: 'login-submit' });
  root.append(h('div', { class: 'login' }, h('div', { class: 'card' },
    h('div', { class: 'between' }, h('div', { class: 'brand' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'Consortia'), language),
    h('p', { class: 'muted' }, t('login_hint')),
    f)));
}
