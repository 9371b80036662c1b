// runs.js — #/runs: one page of runs (limit 50, keyset pagination with
// before=<id>), filtered by workflow, state and schedule, kept live by
// /api/runs/events: a change to a run refetches the page shown (debounced),
// never the whole history.
import { fill, add, h, table, badge, fmtTime, announce } from './util.js';
import * as api from './api.js';

const STATES = ['', 'running', 'succeeded', 'failed', 'cancelled', 'rejected'];
const LIMIT = 50;

export async function render(main, ctx) {
  const q = ctx.query;
  const before = q.before || '';
  const f = { workflow: q.workflow || '', state: q.state || '', schedule: q.schedule || '' };

  const wf = h('input', { id: 'f-workflow', name: 'workflow', value: f.workflow, placeholder: 'any' });
  const st = h('select', { id: 'f-state', name: 'state' },
    STATES.map(s => h('option', { value: s, selected: s === f.state }, s || 'any')));
  const sc = h('input', { id: 'f-schedule', name: 'schedule', value: f.schedule, placeholder: 'any' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    h('label', { for: 'f-workflow' }, 'Workflow', wf),
    h('label', { for: 'f-state' }, 'State', st),
    h('label', { for: 'f-schedule' }, 'Schedule', sc),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (wf.value.trim()) p.set('workflow', wf.value.trim());
    if (st.value) p.set('state', st.value);
    if (sc.value.trim()) p.set('schedule', sc.value.trim());
    location.hash = '#/runs' + (p.toString() ? '?' + p : '');
  });
  const status = h('p', { class: 'muted', id: 'runs-status' });
  const holder = h('div', { id: 'runs-table' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of runs' });
  add(main, h('h1', {}, 'Runs'), form, status, holder, pager);

  const link = extra => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
    for (const [k, v] of Object.entries(extra)) if (v) p.set(k, v);
    return '#/runs' + (p.toString() ? '?' + p : '');
  };

  let shown = new Set();
  // Every filter is the API's (GET /api/runs?workflow=&state=&schedule=):
  // one request of one page, whatever the history's size.
  function fetchPage() {
    const p = new URLSearchParams({ limit: String(LIMIT) });
    for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
    if (before) p.set('before', before);
    return api.get('/api/runs?' + p);
  }
  async function load(live) {
    const t0 = performance.now();
    const data = await fetchPage();
    if (!ctx.alive()) return;
    const rows = data.runs || [];
    shown = new Set(rows.map(r => r.id));
    fill(holder, table([
      { label: 'Run', cell: r => h('a', { href: `#/runs/${r.id}` }, String(r.id)) },
      { label: 'Workflow', cell: r => r.workflow },
      { label: 'State', cell: r => badge(r.state, r.awaiting_approval) },
      { label: 'Steps', num: true, cell: r => `${r.steps_done ?? ''}/${r.steps_total ?? ''}` },
      { label: 'Submitted by', cls: 'hide-narrow', cell: r => r.submitted_by || '' },
      { label: 'Submitted', cls: 'hide-narrow', cell: r => fmtTime(r.submitted_at) },
      { label: 'Finished', cls: 'hide-narrow', cell: r => fmtTime(r.finished_at) },
      { label: 'Schedule', cls: 'hide-narrow', cell: r => r.schedule || '' },
    ], rows, 'Runs, newest first'));
    status.textContent = rows.length ? `${rows.length} runs shown${before ? ` before run ${before}` : ''}.` : 'No runs match.';
    fill(pager, 
      before ? h('a', { href: link({}) }, 'Newest') : null,
      data.next_before ? h('a', { href: link({ before: String(data.next_before) }), rel: 'next' }, 'Older runs') : null);
    window.__droverRunsRendered = performance.now() - t0;
    if (live) announce('Runs updated.');
  }
  await load(false);

  // Live: refetch this page when a run on it (or, on the first page, any
  // newer run) changed. At most one fetch in flight, one queued.
  let timer = null, busy = false, again = false;
  const refresh = () => {
    if (busy) { again = true; return; }
    busy = true;
    load(true).catch(() => {}).finally(() => {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  };
  const es = api.events('/api/runs/events', {
    runs: d => {
      const ids = (d && d.changed) || [];
      const first = !before;
      if (!ids.some(id => shown.has(id) || first)) return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    },
  });
  ctx.onLeave(() => { es.close(); clearTimeout(timer); });
}
