// api.js — the JSON API (docs/http-api.md) as the pages use it: same-origin
// fetches with the session cookie, the CSRF token on every POST/DELETE, and
// server-sent events. A 401 sends the user to the sign-in page.

let csrf = null;
let me = null;

export function session() { return me; }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function call(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrf) opts.headers['X-CSRF-Token'] = csrf;
  const r = await fetch(path, opts);
  let data = null;
  const text = await r.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) {
    const msg = (data && data.error) || `${r.status} ${r.statusText}`;
    if (r.status === 401 && path !== '/api/session') {
      me = null; csrf = null;
      if (!location.hash.startsWith('#/signin')) location.hash = '#/signin?next=' + encodeURIComponent(location.hash);
    }
    throw new ApiError(r.status, msg);
  }
  return data;
}

export const get = path => call('GET', path);
export const post = (path, body) => call('POST', path, body);

export async function loadMe() {
  try {
    me = await call('GET', '/api/me');
    csrf = me.csrf;
  } catch (e) {
    me = null; csrf = null;
    if (e.status !== 401) throw e;
  }
  return me;
}

export async function signIn(token) {
  me = await call('POST', '/api/session', { token });
  csrf = me.csrf;
  return me;
}

export async function signOut() {
  try { await call('DELETE', '/api/session'); } finally { me = null; csrf = null; }
}

export function canApprove() {
  return !!me && (me.approver === true || me.role === 'admin');
}

// events(path, handlers): an EventSource; the caller closes it when the page
// changes (the router does, through the cleanup list).
export function events(path, handlers) {
  const es = new EventSource(path);
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, ev => {
      let data = null;
      try { data = ev.data ? JSON.parse(ev.data) : null; } catch { return; }
      fn(data);
    });
  }
  // The server ends a stream with `event: error` when the session ended or
  // the coordinator refused; the browser gives up by itself on a non-200
  // reconnect (readyState CLOSED). Either way say so: the page is no
  // longer live.
  es.addEventListener('error', ev => {
    let msg = null;
    if (ev.data) { try { msg = JSON.parse(ev.data).error; } catch { msg = null; } }
    if (msg || es.readyState === EventSource.CLOSED) {
      es.close();
      stale(msg || 'the connection was lost');
    }
  });
  return es;
}

function stale(why) {
  const main = document.getElementById('main');
  if (!main || main.querySelector('.stale')) return;
  const p = document.createElement('p');
  p.className = 'stale error';
  p.setAttribute('role', 'alert');
  p.textContent = `Live updates stopped (${why}). Reload the page to resume.`;
  main.prepend(p);
}

export const enc = encodeURIComponent;
