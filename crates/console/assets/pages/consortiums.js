// Consortiums, the Baidu way: create one led by your organization, invite users, and decide
// join requests by the consortium's approval policy; an invited user accepts, then asks to
// join with one of their organizations.
import { get, post, del } from '../api.js';
import { h, clear, card, table, field, form, action, toast, errorBox, empty, chip, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { actingFor } from '../app.js';

export async function render(main) {
  const body = h('div', {});
  clear(main, h('h1', {}, t('nav_consortiums')), body);
  const draw = async () => {
    try {
      await drawAll(body, draw);
    } catch (err) {
      clear(body, errorBox(err));
    }
  };
  await draw();
}

async function drawAll(body, redraw) {
  const [orgs, consortiums, invitations] = await Promise.all([get('/v1/orgs'), get('/v1/consortiums'), get('/v1/invitations')]);
  const adminOrgs = orgs.filter((o) => o.role === 'admin' || o.role === null);
  const orgOptions = (name) => h('select', { name, required: true, 'data-test': `select-${name}` }, adminOrgs.map((o) => h('option', { value: o.id }, o.name)));
  const memberOf = new Set(consortiums.map((c) => c.id));

  const invitationRows = invitations.filter((i) => i.status === 'pending' || (i.status === 'accepted' && !memberOf.has(i.consortium_id)));
  const invitationsCard = card(t('invitations_to_you'), invitationRows.length ? table([
    { label: t('consortium'), render: (i) => i.consortium_name },
    { label: t('invited_by'), render: (i) => i.invited_by },
    { label: t('status'), render: (i) => chip(t(`inv_${i.status}`), i.status === 'pending' ? 'warn' : 'ok') },
    { label: '', render: (i) => i.join_request === 'pending'
      ? chip(t('join_pending'), 'warn')
      : i.status === 'pending'
      ? h('div', { class: 'row' },
        action(t('accept'), async () => { await post(`/v1/invitations/${i.id}/accept`); toast(t('accepted')); redraw(); }, { 'data-test': `accept-${i.consortium_name}` }),
        action(t('decline'), async () => { await post(`/v1/invitations/${i.id}/decline`); redraw(); }, { class: 'danger' }))
      : adminOrgs.length
        ? form([field(t('join_with'), orgOptions('org_id'))], t('request_join'), async (v) => {
          await post(`/v1/consortiums/${i.consortium_id}/join-requests`, { org_id: v.org_id, invitation_id: i.id });
          toast(t('join_requested'));
          redraw();
        }, { inline: true, test: `join-${i.consortium_name}`, submitTest: `join-submit-${i.consortium_name}` })
        : h('span', { class: 'muted' }, t('create_org_first')) },
  ], invitationRows) : empty(t('no_invitations')));

  const createCard = card(t('create_consortium'), adminOrgs.length
    ? form([
      field(t('name'), h('input', { name: 'name', required: true, 'data-test': 'consortium-name' })),
      field(t('leader_org'), orgOptions('org_id')),
      field(t('approval_policy'), h('select', { name: 'approval_policy' },
        h('option', { value: 'leader' }, t('policy_leader')), h('option', { value: 'majority' }, t('policy_majority')))),
    ], t('create'), async (v, f) => {
      const c = await post('/v1/consortiums', { name: v.name, org_id: v.org_id, approval_policy: v.approval_policy });
      toast(t('created', { what: c.name }));
      f.reset();
      redraw();
    }, { test: 'create-consortium', submitTest: 'create-consortium-submit' })
    : empty(t('create_org_first'), null, h('a', { href: '#/orgs' }, t('nav_orgs'))));

  const cards = await Promise.all(consortiums.map(async (c) => {
    const [requests, sent] = await Promise.all([
      get(`/v1/consortiums/${c.id}/join-requests`).catch(() => []),
      get(`/v1/consortiums/${c.id}/invitations`).catch(() => []),
    ]);
    const leader = c.members.find((m) => m.org_id === c.leader_org_id);
    const live = !c.dissolved_ms;
    // Once its chains are archived, its leader's admins dissolve it, or (majority policy) its
    // members' admins vote to; what follows is said first.
    const majority = c.approval_policy === 'majority';
    const votes = c.dissolution_votes || [];
    const dissolvers = majority ? c.members.map((m) => m.org_id) : [c.leader_org_id];
    const dissolve = live && adminOrgs.some((o) => dissolvers.includes(o.id))
      ? [h('h3', {}, t('dissolve_consortium')), h('p', { class: 'muted' }, t('dissolve_consortium_hint')),
        majority ? h('p', { 'data-test': `dissolution-votes-${c.name}` }, t('dissolution_votes', { n: votes.length, members: c.members.length })) : null,
        action(majority ? t('vote_to_dissolve') : t('dissolve_consortium'), async () => {
          const as = actingFor().org_id;
          const after = await post(`/v1/consortiums/${c.id}/dissolve${as ? `?org_id=${encodeURIComponent(as)}` : ''}`);
          toast(after.dissolved_ms ? t('consortium_dissolved', { name: c.name }) : t('dissolution_vote_counted', { n: after.dissolution_votes.length, members: after.members.length }), 'ok');
          redraw();
        }, { class: 'danger', 'data-test': `dissolve-${c.name}`, confirm: t(majority ? 'confirm_vote_dissolve' : 'confirm_dissolve_consortium', { name: c.name }) })]
      : [];
    return card(c.name,
      h('dl', { class: 'kv' },
        h('dt', {}, t('leader_org')), h('dd', {}, leader ? leader.org_name : c.leader_org_id),
        h('dt', {}, t('approval_policy')), h('dd', {}, t(`policy_${c.approval_policy}`)),
        h('dt', {}, t('created_at')), h('dd', {}, fmtTime(c.created_ms)),
        ...(live ? [] : [h('dt', {}, t('status')), h('dd', { 'data-test': `dissolved-${c.name}` }, chip(t('dissolved_at', { time: fmtTime(c.dissolved_ms) }), 'bad'))])),
      h('h3', {}, t('members')),
      table([
        { label: t('org'), render: (m) => m.org_name },
        { label: t('joined'), render: (m) => fmtTime(m.joined_ms) },
        // A member's admins take it out, once it takes part in none of the chains in service.
        { label: '', render: (m) => (live && m.org_id !== c.leader_org_id && adminOrgs.some((o) => o.id === m.org_id)
          ? action(t('leave_consortium'), async () => {
            await del(`/v1/consortiums/${c.id}/members/${m.org_id}`);
            toast(t('left_consortium', { org: m.org_name, name: c.name }), 'ok');
            redraw();
          }, { class: 'danger', 'data-test': `leave-${c.name}-${m.org_name}`, confirm: t('confirm_leave_consortium', { org: m.org_name, name: c.name }) })
          : null) },
      ], c.members),
      h('h3', {}, t('join_requests')),
      table([
        { label: t('org'), render: (r) => r.org_name },
        { label: t('status'), render: (r) => chip(t(`req_${r.status}`), r.status === 'approved' ? 'ok' : r.status === 'rejected' ? 'bad' : 'warn') },
        { label: t('votes'), render: (r) => `${r.approvals.length} ✓ / ${r.rejections.length} ✗` },
        { label: '', render: (r) => live && r.status === 'pending' ? h('div', { class: 'row' },
          action(t('approve'), async () => { await post(`/v1/consortiums/${c.id}/join-requests/${r.id}/votes`, { decision: 'approve', ...actingFor() }); toast(t('approved')); redraw(); }, { 'data-test': `approve-${r.org_name}` }),
          action(t('reject'), async () => { await post(`/v1/consortiums/${c.id}/join-requests/${r.id}/votes`, { decision: 'reject', ...actingFor() }); redraw(); }, { class: 'danger' })) : '' },
      ], requests, t('no_requests')),
      h('h3', {}, t('invitations_sent')),
      h('div', { 'data-test': `sent-${c.name}` }, table([
        { label: t('username'), render: (i) => i.invitee },
        { label: t('invited_by'), render: (i) => i.invited_by },
        { label: t('status'), render: (i) => chip(t(`inv_${i.status}`), i.status === 'declined' || i.status === 'withdrawn' ? 'bad' : i.status === 'pending' ? 'warn' : 'ok') },
        { label: t('join_requests'), render: (i) => (i.join_request ? chip(t(`req_${i.join_request}`), i.join_request === 'approved' ? 'ok' : i.join_request === 'rejected' ? 'bad' : 'warn') : '—') },
        { label: t('created_at'), render: (i) => fmtTime(i.created_ms) },
      ], sent, t('no_invitations_sent'))),
      ...(live ? [h('h3', {}, t('invite_user')),
        form([field(t('username'), h('input', { name: 'username', required: true, 'data-test': `invite-user-${c.name}` }))], t('invite'), async (v, f) => {
          await post(`/v1/consortiums/${c.id}/invitations`, { username: v.username.trim() });
          toast(t('invited', { who: v.username }));
          f.reset();
          redraw();
        }, { inline: true, test: `invite-${c.name}`, submitTest: `invite-submit-${c.name}` })] : []),
      ...dissolve);
  }));

  clear(body, h('div', { class: 'grid' }, invitationsCard, createCard), cards.length ? cards : card(null, empty(t('no_consortiums'), t('no_consortiums_hint'))));
}
