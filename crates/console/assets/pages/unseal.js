// The unseal screen: while the platform is sealed it answers nothing but this, and each key
// holder gives their share here, one at a time, until the threshold opens it.
import { sealStatus, unseal } from '../api.js';
import { h, field, form } from '../ui.js';
import { t } from '../i18n.js';

export async function render(root) {
  const status = await sealStatus();
  if (!status.sealed) {
    location.hash = '#/login';
    return;
  }
  const progress = h('p', { 'data-test': 'unseal-progress' },
    t('unseal_progress', { given: status.progress, threshold: status.threshold }));
  const f = form([
    field(t('key_share'), h('input', { name: 'share', type: 'password', autocomplete: 'off', required: true, autofocus: true, 'data-test': 'share' })),
  ], t('unseal'), async (v, el) => {
    const next = await unseal(v.share.trim());
    el.reset();
    if (!next.sealed) {
      location.hash = '#/login';
      return;
    }
    progress.textContent = t('unseal_progress', { given: next.progress, threshold: next.threshold });
  }, { test: 'unseal-form', submitTest: 'unseal-submit' });
  root.append(h('div', { class: 'login' }, h('div', { class: 'card' },
    h('div', { class: 'brand' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'Consortia'),
    h('h2', {}, t('sealed_title')),
    h('p', { class: 'muted' }, t('sealed_hint', { threshold: status.threshold, shares: status.shares })),
    progress,
    f)));
}
