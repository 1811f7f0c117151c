// Organizations and users: create organizations, add members with roles, write policies and
// attach them; platform administrators create users (others create sub-users).
import { get, post, put, del, permitted } from '../api.js';
import { h, clear, card, table, field, form, action, toast, errorBox, errorText, loading, chip } from '../ui.js';
import { t } from '../i18n.js';
import { user, refreshOrgs } from '../app.js';

const ROLES = ['admin', 'operator', 'viewer'];
const EXAMPLE_POLICY = JSON.stringify({ statements: [{ effect: 'deny', actions: ['node:stop'], resources: ['*'] }] }, null, 1);

export async function render(main, params) {
  const selected = { org: null };
  const orgsBox = h('div', {});
  const detail = h('div', {});
  const usersBox = h('div', {});
  clear(main, h('h1', {}, t('nav_orgs')), h('div', { class: 'grid' }, orgsBox, usersBox), detail);

  const drawOrgs = async () => {
    const orgs = await get('/v1/orgs');
    if (!selected.org && orgs.length) selected.org = orgs[0].id;
    clear(orgsBox, card(t('your_orgs'),
      table([
        { label: t('name'), render: (o) => h('a', { href: '#/orgs', 'data-test': `org-${o.name}`, onclick: (e) => { e.preventDefault(); selected.org = o.id; drawDetail(); } }, o.name) },
        { label: t('your_role'), render: (o) => (o.role ? chip(t(`role_${o.role}`)) : chip(t('platform_admin'))) },
      ], orgs, t('no_orgs')),
      h('h3', {}, t('create_org')),
      form([field(t('name'), h('input', { name: 'name', required: true, 'data-test': 'org-name' }))], t('create'), async (v, f) => {
        const org = await post('/v1/orgs', { name: v.name });
        await refreshOrgs();
        selected.org = org.id;
        f.reset();
        toast(t('created', { what: org.name }));
        await drawOrgs();
        await drawDetail();
      }, { inline: true, test: 'create-org', submitTest: 'create-org-submit' })));
  };

  const drawDetail = async () => {
    if (!selected.org) return clear(detail);
    clear(detail, loading());
    try {
      const org = await get(`/v1/orgs/${selected.org}`);
      const [members, policies, may] = await Promise.all([
        get(`/v1/orgs/${org.id}/members`),
        get(`/v1/orgs/${org.id}/policies`).catch(() => []),
        permitted(org.id, ['member:add', 'member:update', 'member:remove', 'policy:create', 'policy:attach', 'policy:detach', 'org:delete']),
      ]);
      const roleSelect = (m) => (!may.has('member:update') ? t(`role_${m.role}`) : h('select', {
        'aria-label': t('role'),
        onchange: async (e) => {
          try {
            await put(`/v1/orgs/${org.id}/members/${m.user_id}`, { role: e.target.value });
            toast(t('saved'));
          } catch (err) {
            toast(errorText(err), 'error');
            drawDetail();
          }
        },
      }, ROLES.map((r) => h('option', { value: r, selected: r === m.role }, t(`role_${r}`)))));
      clear(detail,
        card(t('members_of', { org: org.name }),
          table([
            { label: t('user'), render: (m) => m.username },
            { label: t('role'), render: roleSelect },
            { label: '', render: (m) => (may.has('member:remove') ? action(t('remove'), async () => { await del(`/v1/orgs/${org.id}/members/${m.user_id}`); drawDetail(); }, { class: 'danger', 'data-test': `remove-member-${m.username}`, confirm: t('confirm_remove_member', { user: m.username, org: org.name }) }) : null) },
          ], members),
          may.has('member:add') ? [h('h3', {}, t('add_member')),
            form([
              field(t('username'), h('input', { name: 'username', required: true, 'data-test': 'member-username' })),
              field(t('role'), h('select', { name: 'role', 'data-test': 'member-role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'operator' }, t(`role_${r}`))))),
            ], t('add'), async (v) => {
              await post(`/v1/orgs/${org.id}/members`, { username: v.username.trim(), role: v.role });
              drawDetail();
            }, { inline: true, test: 'add-member', submitTest: 'add-member-submit' })] : null),
        card(t('policies'),
          h('p', { class: 'muted' }, t('policies_hint')),
          table([
            { label: t('name'), render: (p) => p.name },
            { label: t('statements'), render: (p) => h('code', {}, JSON.stringify(p.document.statements)) },
            { label: t('attach_to'), render: (p) => (!may.has('policy:attach') ? null : h('div', { class: 'row' },
              h('select', { 'aria-label': t('user'), id: `attach-${p.id}` }, members.map((m) => h('option', { value: m.user_id }, m.username))),
              action(t('attach'), async () => {
                const userId = document.getElementById(`attach-${p.id}`).value;
                await post(`/v1/orgs/${org.id}/policies/${p.id}/attachments`, { user_id: userId });
                toast(t('saved'));
              }, { class: 'secondary' }),
              action(t('detach'), async () => {
                const userId = document.getElementById(`attach-${p.id}`).value;
                await del(`/v1/orgs/${org.id}/policies/${p.id}/attachments/${userId}`);
                toast(t('saved'));
              }, { class: 'danger' }))) },
          ], policies, t('no_policies')),
          may.has('policy:create') ? [h('h3', {}, t('create_policy')),
          form([
            field(t('name'), h('input', { name: 'name', required: true })),
            field(t('policy_document'), h('textarea', { name: 'document', required: true }, EXAMPLE_POLICY)),
          ], t('create'), async (v, f) => {
            let document;
            try {
              document = JSON.parse(v.document);
            } catch (e) {
              throw new Error(t('bad_json', { error: e.message }));
            }
            await post(`/v1/orgs/${org.id}/policies`, { name: v.name, document });
            f.reset();
            drawDetail();
          })] : null),
        // Its admins (and platform administrators) delete it, with what follows said first.
        may.has('org:delete') ? card(t('delete_org'), h('p', { class: 'muted' }, t('delete_org_hint')),
          action(t('delete_org'), async () => {
            await del(`/v1/orgs/${org.id}`);
            selected.org = null;
            await refreshOrgs();
            toast(t('org_deleted', { org: org.name }), 'ok');
            await drawOrgs();
            await drawDetail();
          }, { class: 'danger', 'data-test': `delete-org-${org.name}`, confirm: t('confirm_delete_org', { org: org.name }) })) : null);
    } catch (err) {
      clear(detail, errorBox(err));
    }
  };

  const drawUsers = async () => {
    const users = await get('/v1/users');
    const me = user();
    clear(usersBox, card(me?.admin ? t('users') : t('sub_users'),
      table([
        { label: t('user'), render: (u) => u.username },
        { label: '', render: (u) => (u.admin ? chip(t('platform_admin')) : u.parent_id ? chip(t('sub_user')) : '') },
        // An administrator deletes anyone but themself; a parent its sub-users.
        { label: '', render: (u) => (u.id !== me?.id && (me?.admin || u.parent_id === me?.id)
          ? action(t('delete_user'), async () => { await del(`/v1/users/${u.id}`); toast(t('user_deleted', { user: u.username }), 'ok'); await drawUsers(); },
            { class: 'danger', 'data-test': `delete-user-${u.username}`, confirm: t('confirm_delete_user', { user: u.username }) })
          : '') },
      ], users, t('no_users')),
      h('h3', {}, me?.admin ? t('create_user') : t('create_sub_user')),
      form([
        field(t('username'), h('input', { name: 'username', required: true, 'data-test': 'new-username' })),
        field(t('password_min'), h('input', { name: 'password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password', 'data-test': 'new-password' })),
      ], t('create'), async (v, f) => {
        await post('/v1/users', { username: v.username.trim(), password: v.password });
        toast(t('created', { what: v.username }));
        f.reset();
        drawUsers();
      }, { test: 'create-user', submitTest: 'create-user-submit' })));
  };

  await Promise.all([drawOrgs(), drawUsers()]);
  await drawDetail();
}
