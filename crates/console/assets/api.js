// The platform's REST API from the browser: the session (tokens in localStorage), one retry
// after refreshing an expired access token, and errors carrying the platform's code and message.

const KEY = 'consortia.session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

function save(s) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
}

async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'The platform does not answer. Is `consortia up` (or `consortia platform`) running?');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  return { status: response.status, ok: response.ok, data };
}

// A sealed platform answers 503 `sealed` to everything but its unseal screen's calls.
function sealedGoesToUnseal(r) {
  if (r.status === 503 && r.data?.code === 'sealed') location.hash = '#/unseal';
}

export async function sealStatus() {
  const r = await send('GET', '/v1/sys/seal-status');
  if (!r.ok) throw new ApiError(r.status, r.data?.code || 'error', r.data?.message || `HTTP ${r.status}`);
  return r.data;
}

// One key holder's share; answers the seal status after it.
export async function unseal(share) {
  const r = await send('POST', '/v1/sys/unseal', { share });
  if (!r.ok) throw new ApiError(r.status, r.data?.code || 'error', r.data?.message || `HTTP ${r.status}`);
  return r.data;
}

export async function login(username, password) {
  const r = await send('POST', '/v1/auth/login', { username, password });
  sealedGoesToUnseal(r);
  if (!r.ok) throw new ApiError(r.status, r.data?.code, r.data?.message || 'login failed');
  save({ access: r.data.access_token, refresh: r.data.refresh_token, username });
}

export async function logout() {
  const s = session();
  save(null);
  if (s) await send('POST', '/v1/auth/logout', { refresh_token: s.refresh }, s.access).catch(() => {});
}

let refreshing = null;

async function refresh(s) {
  // Several requests may find the token expired at once: one refresh serves them all.
  refreshing ||= send('POST', '/v1/auth/refresh', { refresh_token: s.refresh }).finally(() => {
    setTimeout(() => (refreshing = null), 0);
  });
  const r = await refreshing;
  if (!r.ok) return false;
  save({ ...s, access: r.data.access_token, refresh: r.data.refresh_token });
  return true;
}

export async function api(method, path, body) {
  let s = session();
  let r = await send(method, path, body, s?.access);
  if (r.status === 401 && s?.refresh && (await refresh(s))) {
    s = session();
    r = await send(method, path, body, s.access);
  }
  sealedGoesToUnseal(r);
  if (r.status === 401) {
    save(null);
    location.hash = '#/login';
    throw new ApiError(401, 'unauthorized', 'Your session ended; log in again.');
  }
  if (!r.ok) throw new ApiError(r.status, r.data?.code || 'error', r.data?.message || `HTTP ${r.status}`);
  return r.data;
}

export const get = (path) => api('GET', path);

// Organizations' names as the consortium lists its members: `name(orgId)` (the id if unknown).
export async function memberNames(consortiumId) {
  const consortium = await get(`/v1/consortiums/${consortiumId}`).catch(() => null);
  const names = Object.fromEntries((consortium?.members || []).map((m) => [m.org_id, m.org_name]));
  return (id) => names[id] || id;
}

// The asked actions the user may do in organization `org` on `resource` (a path under it,
// `chains/{id}/contracts`), decided by the platform as the actions themselves would be, so a
// page offers only what will be allowed; none when `org` is none or the platform cannot say.
export async function permitted(org, actions, resource) {
  if (!org) return new Set();
  const q = new URLSearchParams({ actions: actions.join(',') });
  if (resource) q.set('resource', resource);
  const r = await get(`/v1/orgs/${org}/permissions?${q}`).catch(() => null);
  return new Set(r ? r.allowed : []);
}

export const post = (path, body) => api('POST', path, body ?? {});
export const put = (path, body) => api('PUT', path, body ?? {});
export const del = (path) => api('DELETE', path);

// Server-Sent Events from `path` through fetch (EventSource cannot send the session's token):
// calls `onEvent(data)` with each event's parsed data until `signal` aborts. Resolves when
// the stream ends; throws like `api` if it cannot open.
export async function stream(path, onEvent, signal) {
  const open = (s) => fetch(path, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${s?.access}` }, signal });
  let s = session();
  let response = await open(s);
  if (response.status === 401 && s?.refresh && (await refresh(s))) {
    s = session();
    response = await open(s);
  }
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(response.status, data.code || 'error', data.message || `HTTP ${response.status}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) onEvent(JSON.parse(data));
    }
  }
}
