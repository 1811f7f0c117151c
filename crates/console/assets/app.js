// The console's shell: the router (`#/…`), the layout (top bar with the chain selector, the
// organization the user acts for, and the language switch; side navigation), and the pages.
import { session, get, logout, sealStatus } from './api.js';
import { h, clear, loading, errorBox } from './ui.js';
import { t, lang, setLang } from './i18n.js';
import * as login from './pages/login.js';
import * as unseal from './pages/unseal.js';
import * as overview from './pages/overview.js';
import * as orgs from './pages/orgs.js';
import * as consortiums from './pages/consortiums.js';
import * as chains from './pages/chains.js';
import * as nodes from './pages/nodes.js';
import * as contracts from './pages/contracts.js';
import * as proposals from './pages/proposals.js';
import * as sql from './pages/sql.js';
import * as gateway from './pages/gateway.js';
import * as services from './pages/services.js';
import * as explorer from './pages/explorer.js';
import * as monitor from './pages/monitor.js';
import * as alerts from './pages/alerts.js';
import * as apps from './pages/apps.js';
import * as settings from './pages/settings.js';
import * as audit from './pages/audit.js';
import * as hosts from './pages/hosts.js';

const CHAIN_KEY = 'consortia.chain';
const ORG_KEY = 'consortia.org';
const THEME_KEY = 'consortia.theme';
const DARK = window.matchMedia('(prefers-color-scheme: dark)');

// The colour theme: `light`, `dark`, or `auto` (the system's), set on the root element.
function theme() {
  return localStorage.getItem(THEME_KEY) || 'auto';
}

function applyTheme() {
  const chosen = theme();
  document.documentElement.dataset.theme = chosen === 'auto' ? (DARK.matches ? 'dark' : 'light') : chosen;
}
DARK.addEventListener('change', applyTheme);
applyTheme();

// The page of a route: [module, params].
function route(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [first, id, sub, ...rest] = parts;
  switch (first) {
    case 'login': return [login, {}];
    case 'unseal': return [unseal, {}];
    case 'orgs': return [orgs, {}];
    case 'consortiums': return [consortiums, {}];
    case 'settings': return [settings, {}];
    case 'audit': return [audit, {}];
    case 'hosts': return [hosts, {}];
    case 'chains':
      if (!id) return [chains, {}];
      if (id === 'new') return [chains, { create: true }];
      if (sub === 'nodes') return [nodes, { chain: id }];
      if (sub === 'contracts') return [contracts, { chain: id }];
      if (sub === 'governance') return [proposals, { chain: id }];
      if (sub === 'sql') return [sql, { chain: id }];
      if (sub === 'gateway') return [gateway, { chain: id }];
      if (sub === 'services') return [services, { chain: id, asset: rest[0] && decodeURIComponent(rest[0]) }];
      if (sub === 'explorer') return [explorer, { chain: id, view: rest[0], arg: rest[1] }];
      if (sub === 'monitor') return [monitor, { chain: id }];
      if (sub === 'alerts') return [alerts, { chain: id }];
      if (sub === 'apps') return [apps, { chain: id, app: rest[0] }];
      return [chains, { chain: id }];
    default: return [overview, {}];
  }
}

let leave = null;
let me = null;
// Whether this page load has asked if the platform is sealed (later, a 503 `sealed` sends the
// console to the unseal screen).
let sealChecked = false;
let chainList = [];
let orgList = [];
let orgSelect = null;

// The chain the chain pages show: the one last chosen, if this user sees it.
export function currentChain() {
  const saved = localStorage.getItem(CHAIN_KEY);
  if (saved && chainList.some((c) => c.id === saved)) return saved;
  return chainList.find((c) => c.status === 'running')?.id || chainList[0]?.id || null;
}

export function selectChain(id) {
  localStorage.setItem(CHAIN_KEY, id);
}

export function user() {
  return me;
}

// Called by pages after they change the set of chains.
export async function refreshChains() {
  chainList = await get('/v1/chains').catch(() => chainList);
  // The top bar's picker names each chain with its status: say the new ones.
  for (const option of document.querySelectorAll('[data-test=chain-select] option')) {
    const c = chainList.find((x) => x.id === option.value);
    if (c) option.textContent = chainLabel(c);
  }
  return chainList;
}

function chainLabel(c) {
  return `${c.name} (${t(`status_${c.status}`)})`;
}

// The organization the user acts for: the one chosen in the top bar, else their first own one.
// Never another tenant's by default (an administrator sees every organization but acts for one
// only by choosing it).
export function actingOrg() {
  const saved = localStorage.getItem(ORG_KEY);
  if (saved && orgList.some((o) => o.id === saved)) return saved;
  return orgList.find((o) => o.role)?.id || null;
}

// What a request that acts for an organization sends: the chosen one when the user has a
// choice to make (several organizations, or an administrator's), else nothing (the platform
// takes their only one).
export function actingFor() {
  const own = orgList.filter((o) => o.role);
  const acting = actingOrg();
  if (!acting || (own.length === 1 && own[0].id === acting)) return {};
  return { org_id: acting };
}

// Called by pages after they change the user's organizations.
export async function refreshOrgs() {
  orgList = await get('/v1/orgs').catch(() => orgList);
  fillOrgSelect();
}

function fillOrgSelect() {
  if (!orgSelect) return;
  const acting = actingOrg();
  clear(orgSelect, orgList.length
    ? orgList.map((o) => h('option', { value: o.id, selected: o.id === acting }, o.role ? o.name : t('acting_as_admin', { name: o.name })))
    : h('option', { value: '' }, t('no_acting_org')));
  if (!acting) orgSelect.value = '';
}

function nav(active, chain) {
  const item = (href, label, key) => h('a', { href, class: active === key ? 'active' : '', 'data-test': `nav-${key}` }, label);
  const links = [
    item('#/overview', t('nav_overview'), 'overview'),
    item('#/orgs', t('nav_orgs'), 'orgs'),
    item('#/consortiums', t('nav_consortiums'), 'consortiums'),
    item('#/chains', t('nav_chains'), 'chains'),
    item('#/hosts', t('nav_hosts'), 'hosts'),
    item('#/audit', t('nav_audit'), 'audit'),
    item('#/settings', t('nav_settings'), 'settings'),
  ];
  if (chain) {
    const c = chainList.find((x) => x.id === chain);
    links.push(h('div', { class: 'group' }, c ? c.name : t('chain')));
    links.push(item(`#/chains/${chain}/nodes`, t('nav_nodes'), 'nodes'));
    links.push(item(`#/chains/${chain}/contracts`, t('nav_contracts'), 'contracts'));
    links.push(item(`#/chains/${chain}/apps`, t('nav_apps'), 'apps'));
    links.push(item(`#/chains/${chain}/governance`, t('nav_governance'), 'governance'));
    links.push(item(`#/chains/${chain}/sql`, t('nav_sql'), 'sql'));
    links.push(item(`#/chains/${chain}/gateway`, t('nav_gateway'), 'gateway'));
    links.push(item(`#/chains/${chain}/services`, t('nav_services'), 'services'));
    links.push(item(`#/chains/${chain}/explorer`, t('nav_explorer'), 'explorer'));
    links.push(item(`#/chains/${chain}/monitor`, t('nav_monitor'), 'monitor'));
    links.push(item(`#/chains/${chain}/alerts`, t('nav_alerts'), 'alerts'));
  }
  // The REST API's reference (Swagger UI over the platform's OpenAPI document).
  links.push(h('a', { href: '/docs/', target: '_blank', rel: 'noopener', class: 'external', 'data-test': 'nav-api-docs' }, t('api_docs')));
  return h('nav', { class: 'side' }, links);
}

function topBar(chain) {
  const chooser = chainList.length
    ? h('select', {
        'aria-label': t('chain'),
        'data-test': 'chain-select',
        onchange: (e) => {
          selectChain(e.target.value);
          const m = location.hash.match(/^#\/chains\/[^/]+\/(\w+)/);
          location.hash = m ? `#/chains/${e.target.value}/${m[1]}` : `#/chains/${e.target.value}/explorer`;
        },
      }, chainList.map((c) => h('option', { value: c.id, selected: c.id === chain }, chainLabel(c))))
    : null;
  const language = h('select', {
    'aria-label': 'Language / 语言',
    'data-test': 'lang',
    onchange: (e) => {
      setLang(e.target.value);
      render();
    },
  }, h('option', { value: 'en', selected: lang() === 'en' }, 'English'), h('option', { value: 'zh', selected: lang() === 'zh' }, '中文'));
  const themeSelect = h('select', {
    'aria-label': t('theme'),
    title: t('theme'),
    'data-test': 'theme',
    onchange: (e) => {
      localStorage.setItem(THEME_KEY, e.target.value);
      applyTheme();
    },
  }, ['auto', 'light', 'dark'].map((v) => h('option', { value: v, selected: theme() === v }, t(`theme_${v}`))));
  orgSelect = h('select', {
    'aria-label': t('acting_as'),
    title: t('acting_as'),
    'data-test': 'acting-org',
    onchange: (e) => {
      localStorage.setItem(ORG_KEY, e.target.value);
      render();
    },
  });
  fillOrgSelect();
  return h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/overview' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'Consortia'),
    chooser,
    h('div', { class: 'spacer' }),
    h('label', { class: 'acting' }, h('span', {}, t('acting_as')), orgSelect),
    language,
    themeSelect,
    h('a', { class: 'who', href: '#/settings', title: t('nav_settings'), 'data-test': 'who' }, me ? me.username : ''),
    h('button', { class: 'secondary', 'data-test': 'logout', onclick: async () => { await logout(); forgetUser(); location.hash = '#/login'; } }, t('logout')));
}

async function render() {
  if (leave) {
    leave();
    leave = null;
  }
  const root = document.getElementById('app');
  root.classList.remove('booting');
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  const [page, params] = route(location.hash);
  if (!sealChecked && page !== unseal) {
    sealChecked = true;
    const status = await sealStatus().catch(() => null);
    if (status?.sealed) {
      location.hash = '#/unseal';
      return;
    }
  }
  if (page === unseal) {
    clear(root);
    try {
      leave = (await unseal.render(root, params)) || null;
    } catch (err) {
      clear(root, errorBox(err));
    }
    return;
  }
  if (page === login || !session()) {
    if (page !== login) {
      location.hash = '#/login';
      return;
    }
    clear(root);
    leave = (await login.render(root, params)) || null;
    return;
  }
  if (!me) {
    clear(root, loading());
    try {
      me = await get('/v1/users/me');
      await refreshChains();
      orgList = await get('/v1/orgs').catch(() => []);
    } catch (err) {
      clear(root, errorBox(err));
      return;
    }
  }
  // A chain being configured or started changes status: the top bar's picker shows the new one.
  if (chainList.some((c) => c.status !== 'running')) await refreshChains();
  const chain = params.chain || currentChain();
  if (params.chain) selectChain(params.chain);
  const main = h('main', { 'data-test': 'main' }, loading());
  const active = page === overview ? 'overview' : page === orgs ? 'orgs' : page === consortiums ? 'consortiums'
    : page === nodes ? 'nodes' : page === contracts ? 'contracts' : page === explorer ? 'explorer' : page === monitor ? 'monitor' : page === alerts ? 'alerts' : page === apps ? 'apps'
    : page === proposals ? 'governance' : page === sql ? 'sql' : page === gateway ? 'gateway' : page === services ? 'services'
    : page === settings ? 'settings' : page === audit ? 'audit' : page === hosts ? 'hosts' : 'chains';
  clear(root, h('div', { class: 'shell' }, topBar(chain), nav(active, chain), main));
  try {
    const cleanup = await page.render(main, params);
    leave = cleanup || null;
  } catch (err) {
    clear(main, errorBox(err));
  }
}

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

// After a logout or a login: the next user sees their own chains.
export function forgetUser() {
  me = null;
  chainList = [];
  orgList = [];
  localStorage.removeItem(CHAIN_KEY);
  localStorage.removeItem(ORG_KEY);
}

window.addEventListener('hashchange', render);
render();
