// app.js — the router: hash routes to page modules, the sign-in page, the
// header (who is signed in, sign out). Each page's render(main, ctx, args)
// registers what to stop when the page is left (event streams, timers) with
// ctx.onLeave, so nothing keeps running for a page no longer shown.
import { fill, add, h, showError, params } from './util.js';
import * as api from './api.js';
import * as runs from './runs.js';
import * as run from './run.js';
import * as models from './models.js';
import * as approvals from './approvals.js';
import * as workers from './workers.js';

const routes = [
  [/^\/runs$/, runs.render, 'Runs'],
  [/^\/runs\/(\d+)$/, run.render, 'Run'],
  [/^\/runs\/(\d+)\/logs\/([^/]+)$/, run.renderLogs, 'Step log'],
  [/^\/runs\/(\d+)\/report\/([^/]+)$/, run.renderReport, 'Evaluation report'],
  [/^\/models$/, models.renderList, 'Models'],
  [/^\/models\/([^/]+)$/, models.renderModel, 'Model'],
  [/^\/approvals$/, approvals.render, 'Approvals', true],
  [/^\/workers$/, workers.renderWorkers, 'Workers'],
  [/^\/queues$/, workers.renderQueues, 'Queues'],
  [/^\/schedules$/, workers.renderSchedules, 'Schedules'],
];

let leave = [];
let generation = 0;

function stopPage() {
  for (const fn of leave) { try { fn(); } catch { /* closing is best effort */ } }
  leave = [];
}

function header() {
  const who = document.getElementById('who');
  fill(who, );
  const me = api.session();
  document.getElementById('nav').hidden = !me;
  if (!me) return;
  add(who, h('span', {}, `${me.user} (${me.role}${me.approver && me.role !== 'admin' ? ', approver' : ''})`),
    h('button', { type: 'button', id: 'signout', onclick: async () => { await api.signOut(); location.hash = '#/signin'; } }, 'Sign out'));
}

function markNav(path) {
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    if (path === target || path.startsWith(target + '/')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function signinPage(main, query) {
  const next = params(query).next || '#/runs';
  const msg = h('p', { id: 'signin-error', class: 'error', role: 'alert' });
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help signin-error' });
  const form = h('form', { class: 'signin', id: 'signin-form' },
    h('h1', {}, 'Sign in to drover'),
    h('label', { for: 'token' }, 'Access token', input),
    h('p', { id: 'token-help', class: 'muted' }, 'An administrator creates a token for your key with ',
      h('code', {}, 'drover web-token create KEYNAME'), '. It acts with that key\'s role and grants.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'), msg);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    msg.textContent = '';
    try {
      await api.signIn(input.value.trim());
      input.value = '';
      location.hash = next.startsWith('#/') && !next.startsWith('#/signin') ? next : '#/runs';
    } catch (e) {
      msg.textContent = e.status === 401 || e.status === 403 ? 'That token is not valid (unknown, expired or revoked).' : e.message;
      input.focus();
    }
  });
  add(main, form);
  input.focus();
}

async function route() {
  const gen = ++generation;
  stopPage();
  const raw = location.hash.replace(/^#/, '') || '/runs';
  const [path, query] = raw.split('?');
  const main = document.getElementById('main');
  // data-page / data-ready tell tests and benchmarks which page is shown
  // and that it has rendered (each route sets them anew).
  delete document.body.dataset.ready;
  delete document.body.dataset.paintedAt;
  document.body.dataset.page = path.split('/')[1] || '';
  fill(main, );
  main.removeAttribute('aria-busy');
  // Who is signed in is asked alongside the page's own requests, not before
  // them (one round trip less on a full load); only a page that shows what
  // the person may do (needsMe) waits for it. Not signed in: the page's
  // requests answer 401 and api.js sends the browser to the sign-in page.
  const meP = !api.session() && path !== '/signin' ? api.loadMe().catch(() => null) : null;
  const signedIn = async () => {
    if (!meP) return true;
    await meP;
    if (gen !== generation) return false;
    if (!api.session()) { location.hash = '#/signin?next=' + encodeURIComponent('#' + raw); return false; }
    header();
    return true;
  };
  header();
  markNav(path);
  if (path === '/signin') {
    document.title = 'Sign in — drover';
    signinPage(main, query);
    document.body.dataset.ready = String(gen);
    return;
  }
  for (const [re, fn, title, needsMe] of routes) {
    const m = path.match(re);
    if (!m) continue;
    document.title = `${title} — drover`;
    const ctx = {
      query: params(query),
      onLeave: f => leave.push(f),
      alive: () => gen === generation,
    };
    main.setAttribute('aria-busy', 'true');
    if (needsMe && !(await signedIn())) return;
    try {
      await fn(main, ctx, ...m.slice(1).map(decodeURIComponent));
    } catch (e) {
      if (gen === generation && e.status !== 401) showError(main, e);
    }
    if (!(await signedIn())) return;
    if (gen === generation) {
      main.removeAttribute('aria-busy');
      // ms since the document's navigation began (bench/web.sh reads it).
      document.body.dataset.readyAt = performance.now().toFixed(1);
      requestAnimationFrame(() => requestAnimationFrame(() => {
        if (gen === generation) document.body.dataset.paintedAt = performance.now().toFixed(1);
      }));
      document.body.dataset.ready = String(gen);
    }
    return;
  }
  if (!(await signedIn())) return;
  add(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/runs' }, 'Back to the runs')));
  document.body.dataset.ready = String(gen);
}

window.addEventListener('hashchange', () => {
  route();
  // Move focus to the new content so keyboard and screen-reader users land on it.
  document.getElementById('main').focus({ preventScroll: true });
});
route();
