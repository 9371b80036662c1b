// run.js — #/runs/{id}: the run's DAG as a graph (SVG; dag.js lays it out),
// a Gantt-style timeline and a table of steps, all kept live by
// /api/runs/{id}/events. An update that changes no structure only touches
// the nodes whose state, attempt, worker or duration changed, so a
// 1,000-step run stays cheap. Also #/runs/{id}/logs/{step} (log with follow)
// and #/runs/{id}/report/{step} (evaluation report).
import { fill, add, h, s, badge, stateClass, fmtTime, fmtDur, stepDuration, table, announce, fmtNum, showError } from './util.js';
import * as api from './api.js';
import { layout, NODE_W, NODE_H } from './dag.js';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'rejected', 'skipped']);
window.__droverSeen = window.__droverSeen || {};

function stepLine(st) {
  const parts = [st.awaiting_approval ? 'awaiting approval' : st.state];
  if (st.attempt) parts.push(`try ${st.attempt}`);
  if (st.worker) parts.push(st.worker);
  const d = stepDuration(st);
  if (d !== null) parts.push(fmtDur(d));
  return parts.join(' · ');
}

function short(name, max) { return name.length > max ? name.slice(0, max - 1) + '…' : name; }

export async function render(main, ctx, id) {
  const first = await api.get(`/api/runs/${id}`);
  if (!ctx.alive()) return;
  let data = first;
  let selected = null;

  const head = h('div', { id: 'run-head' });
  const tabsEl = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Views of the run' });
  const panels = {
    graph: h('section', { id: 'tab-graph', role: 'tabpanel', 'aria-labelledby': 'tabbtn-graph' }),
    timeline: h('section', { id: 'tab-timeline', role: 'tabpanel', 'aria-labelledby': 'tabbtn-timeline', hidden: true }),
    steps: h('section', { id: 'tab-steps', role: 'tabpanel', 'aria-labelledby': 'tabbtn-steps', hidden: true }),
  };
  const detail = h('section', { id: 'step-detail', 'aria-label': 'Selected step', class: 'panel', hidden: true });
  let current = ctx.query.tab && panels[ctx.query.tab] ? ctx.query.tab : 'graph';
  const names = { graph: 'Graph', timeline: 'Timeline', steps: 'Steps' };
  const btns = {};
  for (const k of Object.keys(panels)) {
    btns[k] = h('button', { type: 'button', role: 'tab', id: 'tabbtn-' + k, 'aria-controls': 'tab-' + k,
      'aria-selected': String(k === current), tabindex: k === current ? '0' : '-1', onclick: () => select(k) }, names[k]);
    add(tabsEl, btns[k]);
  }
  tabsEl.addEventListener('keydown', ev => {
    const keys = Object.keys(panels);
    let i = keys.indexOf(current);
    if (ev.key === 'ArrowRight') i = (i + 1) % keys.length;
    else if (ev.key === 'ArrowLeft') i = (i + keys.length - 1) % keys.length;
    else return;
    ev.preventDefault();
    select(keys[i]);
    btns[keys[i]].focus();
  });
  function select(k) {
    current = k;
    for (const [n, p] of Object.entries(panels)) {
      p.hidden = n !== k;
      btns[n].setAttribute('aria-selected', String(n === k));
      btns[n].tabIndex = n === k ? 0 : -1;
    }
    drawSecondary();
  }
  add(main, head, tabsEl, ...Object.values(panels), detail);

  // ------------------------------------------------------------ header ---
  function drawHead() {
    const r = data.run;
    const params = Object.entries(r.params || {});
    fill(head, 
      h('h1', {}, `Run ${r.id} `, h('span', { class: 'muted' }, r.workflow), ' ', h('span', { id: 'run-state' }, badge(r.state, r.awaiting_approval))),
      h('p', { class: 'muted' },
        `submitted ${fmtTime(r.submitted_at)} by ${r.submitted_by || '?'}`,
        r.started_at ? ` · started ${fmtTime(r.started_at)}` : '',
        r.finished_at ? ` · finished ${fmtTime(r.finished_at)}` : '',
        r.schedule ? ` · schedule ${r.schedule}` : '',
        ` · ${r.steps_done ?? '?'}/${r.steps_total ?? data.steps.length} steps done`),
      params.length ? h('p', { class: 'muted' }, 'params: ' + params.map(([k, v]) => `${k}=${v}`).join(', ')) : null);
  }

  // ------------------------------------------------------------- graph ---
  let nodeEls = new Map();
  let shape = '';
  // The last state shown per step, across redraws: when the page showed
  // each transition (window.__droverSeen; bench/web.sh reads it).
  const shown = new Map();
  function noteShown(st) {
    if (shown.get(st.name) === st.state) return false;
    shown.set(st.name, st.state);
    window.__droverSeen[`${data.run.id}/${st.name}:${st.state}`] = Date.now();
    return true;
  }
  function structureKey() { return data.steps.map(s => s.name + '<' + (s.deps || []).join(',')).join(';'); }
  function nodeLabel(st) { return `Step ${st.name}: ${stepLine(st)}. Press Enter for details.`; }
  async function drawGraph() {
    const t0 = performance.now();
    const L = await layout(data.steps);
    const svg = s('svg', { class: 'dag', width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`, role: 'group', 'aria-label': `DAG of run ${data.run.id}, ${data.steps.length} steps` });
    // All edges are one path and all arrowheads another: two elements to
    // lay out and paint instead of one (with a marker) per edge.
    let lines = '', heads = '';
    const f = v => Math.round(v * 10) / 10;
    for (const e of L.edges) {
      const pts = e.points;
      if (pts.length < 2) continue;
      lines += 'M' + pts.map(p => f(p[0]) + ' ' + f(p[1])).join('L');
      const [x1, y1] = pts[pts.length - 2], [x2, y2] = pts[pts.length - 1];
      const n = Math.hypot(x2 - x1, y2 - y1) || 1, ux = (x2 - x1) / n, uy = (y2 - y1) / n;
      const bx = x2 - 7 * ux, by = y2 - 7 * uy;
      heads += `M${f(x2)} ${f(y2)}L${f(bx - 3.5 * uy)} ${f(by + 3.5 * ux)}L${f(bx + 3.5 * uy)} ${f(by - 3.5 * ux)}Z`;
    }
    add(svg, s('g', { 'aria-hidden': 'true' }, s('path', { class: 'edge', d: lines }), s('path', { class: 'arrowhead', d: heads })));
    nodeEls = new Map();
    const nodesG = s('g', {});
    for (const st of data.steps) {
      const p = L.nodes.get(st.name);
      if (!p) continue;
      const line = stepLine(st);
      const sub = s('text', { class: 'sub', x: 8, y: 36, text: short(line, 30) });
      const g = s('g', { class: 'node ' + stateClass(st.state, st.awaiting_approval), transform: `translate(${p.x},${p.y})`, tabindex: '0', role: 'button',
        'data-step': st.name, 'data-state': st.state, 'aria-label': nodeLabel(st) },
      s('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
      s('text', { x: 8, y: 18, text: short(st.name, 24) }), sub);
      nodeEls.set(st.name, { g, sub, last: line }); // drawn as it is: updateNodes skips it
      noteShown(st);
      add(nodesG, g);
    }
    add(svg, nodesG);
    // One pair of listeners for all nodes (not two per node).
    const nodeOf = ev => ev.target.closest && ev.target.closest('g.node');
    svg.addEventListener('click', ev => { const g = nodeOf(ev); if (g) openStep(g.dataset.step); });
    svg.addEventListener('keydown', ev => {
      const g = nodeOf(ev);
      if (g && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); openStep(g.dataset.step); }
    });
    fill(panels.graph, h('p', { class: 'muted' }, `${data.steps.length} steps, layout: ${L.engine}. Tab moves through the steps; Enter opens one.`),
      h('div', { class: 'dagwrap' }, svg));
    shape = structureKey();
    window.__droverDagRendered = { ms: performance.now() - t0, engine: L.engine, steps: data.steps.length };
    updateNodes(false);
  }
  function updateNodes(live) {
    const changes = [];
    for (const st of data.steps) {
      const n = nodeEls.get(st.name);
      if (!n) continue;
      const line = stepLine(st);
      if (line === n.last) continue;
      const was = n.g.getAttribute('data-state');
      n.last = line;
      n.sub.textContent = short(line, 30);
      n.g.setAttribute('class', 'node ' + stateClass(st.state, st.awaiting_approval));
      n.g.setAttribute('data-state', st.state);
      n.g.setAttribute('aria-label', nodeLabel(st));
      if (noteShown(st) && live && was !== st.state) changes.push(`${st.name} ${st.state}`);
    }
    if (changes.length) announce(changes.length > 3 ? `${changes.length} steps changed state.` : `Step ${changes.join(', ')}.`);
  }

  // ---------------------------------------------- timeline and table ---
  function drawTimeline() {
    const steps = data.steps.filter(s => s.started_at);
    if (!steps.length) { fill(panels.timeline, h('p', {}, 'No step has started yet.')); return; }
    steps.sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
    const t0 = Date.parse(steps[0].started_at);
    const now = Date.now();
    const t1 = Math.max(...steps.map(s => s.finished_at ? Date.parse(s.finished_at) : now), t0 + 1000);
    const labelW = 180, W = Math.max(600, Math.min(1200, window.innerWidth - 60)), rowH = 18;
    const plotW = W - labelW - 10;
    const x = t => labelW + ((t - t0) / (t1 - t0)) * plotW;
    const svg = s('svg', { width: W, height: steps.length * rowH + 30, role: 'img', 'aria-label': `Timeline of ${steps.length} started steps over ${fmtDur((t1 - t0) / 1000)}; the Steps tab has the same times as a table.` });
    add(svg, s('text', { x: labelW, y: 12, text: fmtTime(new Date(t0).toISOString()) }),
      s('text', { x: W - 10, y: 12, 'text-anchor': 'end', text: `+${fmtDur((t1 - t0) / 1000)}` }));
    steps.forEach((st, i) => {
      const y = 20 + i * rowH;
      const a = Date.parse(st.started_at), b = st.finished_at ? Date.parse(st.finished_at) : now;
      add(svg, s('text', { x: 4, y: y + 12, text: short(st.name, 26) }),
        s('rect', { class: 'bar ' + stateClass(st.state), x: x(a), y: y + 2, width: Math.max(2, x(b) - x(a)), height: rowH - 5 },
          s('title', { text: `${st.name}: ${stepLine(st)}` })));
    });
    fill(panels.timeline, h('div', { class: 'gantt' }, svg));
  }
  function drawSteps() {
    fill(panels.steps, table([
      { label: 'Step', cell: st => h('button', { type: 'button', class: 'linklike', onclick: () => openStep(st.name) }, st.name) },
      { label: 'Kind', cell: st => st.kind || '' },
      { label: 'State', cell: st => badge(st.state, st.awaiting_approval) },
      { label: 'Try', num: true, cell: st => String(st.attempt ?? '') },
      { label: 'Worker', cell: st => st.worker || '' },
      { label: 'Started', cls: 'hide-narrow', cell: st => fmtTime(st.started_at) },
      { label: 'Duration', num: true, cell: st => fmtDur(stepDuration(st)) },
      { label: 'After', cls: 'hide-narrow', cell: st => (st.deps || []).join(', ') },
    ], data.steps, 'Steps of the run'));
  }
  let lastSecondary = 0;
  function drawSecondary(throttle) {
    if (throttle && Date.now() - lastSecondary < 1000) return;
    lastSecondary = Date.now();
    if (current === 'timeline') drawTimeline();
    else if (current === 'steps') drawSteps();
  }

  // ---------------------------------------------------- step details ---
  async function openStep(name) {
    selected = name;
    drawDetail();
    detail.hidden = false;
    detail.focus();
  }
  // The selected step's state, try, exit and error: redrawn on every live
  // update (no request); its links and charts are made once per opening.
  let detailInfo = null;
  function detailLines(st) {
    return [h('h2', {}, `Step ${st.name} `, badge(st.state, st.awaiting_approval)),
      h('p', {}, stepLine(st), st.exit_code !== null && st.exit_code !== undefined ? ` · exit ${st.exit_code}` : '',
        st.outcome ? ` · ${st.outcome}` : ''),
      st.error ? h('p', { class: 'error' }, st.error) : null];
  }
  function updateDetail() {
    if (!selected || detail.hidden || !detailInfo) return;
    const st = data.steps.find(s => s.name === selected);
    if (st) fill(detailInfo, detailLines(st));
  }
  function drawDetail() {
    const st = data.steps.find(s => s.name === selected);
    if (!st) { detail.hidden = true; return; }
    const rid = data.run.id;
    const chartBox = h('div', { class: 'charts', id: 'step-charts' });
    detail.tabIndex = -1;
    detailInfo = h('div', { id: 'step-info' }, detailLines(st));
    fill(detail, detailInfo,
      h('p', { class: 'bar' },
        h('a', { href: `#/runs/${rid}/logs/${encodeURIComponent(st.name)}`, id: 'open-log' }, 'Log'),
        st.kind === 'evaluate' || st.kind === 'validate' ? h('a', { href: `#/runs/${rid}/report/${encodeURIComponent(st.name)}` }, 'Report') : null,
        h('button', { type: 'button', onclick: () => { detail.hidden = true; selected = null; } }, 'Close')),
      chartBox);
    if (st.kind === 'train' || st.kind === 'exec') {
      api.get(`/api/runs/${rid}/steps/${encodeURIComponent(st.name)}/metrics`).then(async m => {
        if (!ctx.alive() || selected !== st.name) return;
        // charts.js (and uPlot, 145 KB) is loaded on first use only.
        const { curveChart, groupMetrics } = await import('./charts.js');
        for (const [metric, pts] of groupMetrics(m.metrics)) {
          curveChart(metric, [{ label: st.name, points: pts }], 480).then(c => { if (selected === st.name) add(chartBox, c); });
        }
      }).catch(() => {});
    }
  }

  // -------------------------------------------------------------- live ---
  function apply(d, live) {
    if (!d || !d.run) return;
    data = d;
    drawHead();
    if (structureKey() !== shape) drawGraph().catch(e => showError(panels.graph, e)); else updateNodes(live);
    updateDetail();
    drawSecondary(true);
    if (live && FINISHED.has(d.run.state)) announce(`Run ${d.run.id} ${d.run.state}.`);
  }
  drawHead();
  await drawGraph();
  select(current);
  const es = api.events(`/api/runs/${id}/events`, {
    run: d => apply(d, true),
    // The run ended: no more events; one last fetch so the final state is
    // shown even when the stream's last document was an earlier one.
    end: () => { es.close(); api.get(`/api/runs/${id}`).then(d => { if (ctx.alive()) apply(d, true); }).catch(() => {}); },
  });
  // Running steps' durations tick once a second without a fetch.
  const tick = setInterval(() => {
    if (data.steps.some(st => st.started_at && !st.finished_at)) { updateNodes(false); updateDetail(); }
  }, 1000);
  ctx.onLeave(() => { es.close(); clearInterval(tick); });
}

// ------------------------------------------------------------------ logs ---
// Two streams with their own offsets (stdout, stderr), asked for again
// from next_offset / next_stderr_offset until done.
export async function renderLogs(main, ctx, id, step) {
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const out = h('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-labelledby': 'log-out-h' });
  const err = h('pre', { class: 'log', id: 'log-stderr', tabindex: '0', 'aria-labelledby': 'log-err-h' });
  const status = h('p', { class: 'muted', id: 'log-status', 'aria-live': 'polite' });
  add(main, h('h1', {}, `Log of ${step} `, h('a', { href: `#/runs/${id}` }, `(run ${id})`)),
    h('div', { class: 'bar' }, h('label', { class: 'inline', for: 'follow' }, follow, 'Follow')), status,
    h('h2', { id: 'log-err-h' }, 'stderr'), err, h('h2', { id: 'log-out-h' }, 'stdout'), out);
  let offset = 0, eoffset = 0, done = false, timer = null;
  async function poll() {
    timer = null;
    try {
      const r = await api.get(`/api/runs/${id}/steps/${encodeURIComponent(step)}/logs?offset=${offset}&stderr_offset=${eoffset}`);
      if (!ctx.alive()) return;
      const got = (r.data || '').length + (r.stderr || '').length;
      if (r.data) keep(out, r.data);
      if (r.stderr) keep(err, r.stderr);
      if (follow.checked) { out.scrollTop = out.scrollHeight; err.scrollTop = err.scrollHeight; }
      offset = r.next_offset ?? offset;
      eoffset = r.next_stderr_offset ?? eoffset;
      done = !!r.done;
      status.textContent = done ? `The step has ended${r.state ? ' (' + r.state + ')' : ''}; this is the whole log${r.attempt ? ' of try ' + r.attempt : ''}.`
        : (follow.checked ? 'Following…' : 'Paused.');
      // A full page means more is waiting: ask again at once.
      if (!done && follow.checked) timer = setTimeout(poll, got > 0 ? 100 : 1000);
    } catch (e) {
      if (ctx.alive()) { status.textContent = e.message; if (follow.checked) timer = setTimeout(poll, 2000); }
    }
  }
  follow.addEventListener('change', () => {
    if (follow.checked && !done && !timer) poll();
    else if (!follow.checked && !done) { clearTimeout(timer); timer = null; status.textContent = 'Paused.'; }
  });
  await poll();
  ctx.onLeave(() => clearTimeout(timer));
}

// keep(pre, text): appends one text node per answer and drops the oldest
// ones beyond LOG_KEEP characters, so a page left following a chatty step
// all night holds the newest few MB, not the whole log (drover logs has it).
const LOG_KEEP = 4 << 20;
function keep(pre, text) {
  pre.append(text);
  pre.kept = (pre.kept || 0) + text.length;
  while (pre.kept > LOG_KEEP && pre.childNodes.length > 1) {
    const first = pre.firstChild;
    if (first.nodeType === Node.TEXT_NODE) pre.kept -= first.length;
    first.remove();
    if (!pre.trimmed) { pre.trimmed = true; pre.before(h('p', { class: 'muted' }, 'The start of this log is no longer shown here (only the newest 4 MB are kept); drover logs RUN STEP prints all of it.')); }
  }
}

// ---------------------------------------------------------------- report ---
export async function renderReport(main, ctx, id, step) {
  add(main, h('h1', {}, `Evaluation report: ${step} `, h('a', { href: `#/runs/${id}` }, `(run ${id})`)));
  let r;
  try { r = await api.get(`/api/runs/${id}/steps/${encodeURIComponent(step)}/report`); } catch (e) {
    if (e.status === 404) { add(main, h('p', {}, 'This step has no report.')); return; }
    throw e;
  }
  if (!ctx.alive()) return;
  add(main, reportView(r));
}

export function reportView(r) {
  const box = h('div', { id: 'report' });
  const raw = r.raw || {};
  const metrics = Object.entries(r.metrics || {}).filter(([, v]) => typeof v !== 'object');
  if (metrics.length) add(box, h('h2', {}, 'Metrics'), table([
    { label: 'Metric', cell: m => m[0] }, { label: 'Value', num: true, cell: m => fmtNum(m[1]) }], metrics, 'Metrics'));
  if (r.gates && r.gates.length) add(box, h('h2', {}, 'Gates'), table([
    { label: 'Gate', cell: g => g.expr },
    { label: 'Value', num: true, cell: g => fmtNum(g.value) },
    { label: 'Result', cell: g => passBadge(g.passed) },
  ], r.gates, 'Gates'));
  // A validate step's report: its checks (kind_validate.c).
  if (Array.isArray(raw.checks) && raw.checks.length) add(box, h('h2', {}, 'Checks'), table([
    { label: 'Check', cell: c => c.name || '' },
    { label: 'Figure', num: true, cell: c => fmtNum(c.figure) },
    { label: 'Threshold', num: true, cell: c => (typeof c.threshold === 'object' && c.threshold !== null ? JSON.stringify(c.threshold) : fmtNum(c.threshold)) },
    { label: 'Result', cell: c => passBadge(c.passed) },
    { label: 'Detail', cell: c => c.detail || '' },
  ], raw.checks, 'Checks'));
  const cm = r.confusion;
  if (cm && (cm.classes || cm.matrix)) {
    add(box, h('h2', {}, 'Confusion matrix'));
    // Cells are placed by position: draw it only when it is k x k for the
    // k class names, never with a class name beside another class's row.
    const k = Array.isArray(cm.classes) ? cm.classes.length : -1;
    const square = k > 0 && Array.isArray(cm.matrix) && cm.matrix.length === k &&
      cm.matrix.every(row => Array.isArray(row) && row.length === k && row.every(Number.isFinite));
    if (!square) add(box, h('p', { class: 'error', id: 'cm-bad' }, 'The stored confusion matrix does not match its class names; it is not shown.'));
    else add(box, h('p', { class: 'muted' }, 'Rows: true class; columns: predicted class.'),
      h('div', { class: 'scroll' }, h('table', { class: 'cm' },
        h('caption', { class: 'sr-only' }, 'Confusion matrix, rows true class, columns predicted class'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'true \\ predicted'), cm.classes.map(c => h('th', { scope: 'col', class: 'num' }, c)))),
        h('tbody', {}, cm.matrix.map((row, i) => h('tr', {}, h('th', { scope: 'row' }, cm.classes[i]),
          row.map((v, j) => h('td', { class: 'num' + (i === j ? ' hit' : '') }, String(v)))))))));
  }
  if (r.production) {
    // With classes production does not know, production was scored on the
    // shared classes' rows only: beside it put the candidate's figures on
    // those same rows (comparison.candidate_metrics), as `drover report` does.
    const cmp = raw.comparison || {};
    const shared = cmp.candidate_metrics && typeof cmp.candidate_metrics === 'object' && Number(cmp.rows) < Number(cmp.of);
    const cand = (shared ? cmp.candidate_metrics : r.candidate && r.candidate.metrics) || {};
    const pm = r.production.metrics || {};
    const keys = Object.keys(cand).filter(k => typeof cand[k] === 'number');
    const cv = r.candidate && r.candidate.version;
    add(box, h('h2', {}, 'Candidate vs production'),
      shared ? h('p', { class: 'muted', id: 'cmp-rows' }, `On the ${cmp.rows} of ${cmp.of} rows whose class production knows.`) : null,
      table([{ label: 'Metric', cell: k => k },
        { label: `Candidate${cv ? ' v' + cv : ''}`, num: true, cell: k => fmtNum(cand[k]) },
        { label: `Production${r.production.version ? ' v' + r.production.version : ''}`, num: true, cell: k => fmtNum(pm[k]) }], keys, 'Candidate against production'));
  } else if (r.kind === 'evaluate') {
    add(box, h('p', {}, 'No model in production to compare with.'));
  }
  const notes = (Array.isArray(r.notes) ? r.notes : []).filter(n => typeof n === 'string');
  if (notes.length) add(box, h('h2', {}, 'Notes'), h('ul', {}, notes.map(n => h('li', {}, n))));
  if (!box.children.length) add(box, h('pre', {}, JSON.stringify(raw, null, 2)));
  return box;
}

function passBadge(ok) {
  return h('span', { class: 'state ' + (ok ? 'st-succeeded' : 'st-failed') }, ok ? 'passed' : 'failed');
}
export { showError };
