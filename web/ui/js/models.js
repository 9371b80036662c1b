// models.js — #/models (the registry: every model's versions and stages)
// and #/models/{name}?compare=1,2 (versions with lineage to datasets and
// runs, stage history with who and why, and the training curves of the
// chosen versions overlaid).
import { fill, add, h, table, fmtTime, fmtNum } from './util.js';
import * as api from './api.js';

function stageBadge(stage) {
  const cls = { production: 'st-succeeded', staging: 'st-running', archived: 'st-skipped' }[stage] || 'st-pending';
  return h('span', { class: 'state ' + cls, 'data-stage': stage || 'none' }, stage || 'none');
}

function metricsText(m) {
  return Object.entries(m || {}).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ');
}

export async function renderList(main, ctx) {
  const d = await api.get('/api/models');
  if (!ctx.alive()) return;
  const rows = d.models || [];
  add(main, h('h1', {}, 'Model registry'),
    rows.length ? table([
      { label: 'Model', cell: m => h('a', { href: `#/models/${encodeURIComponent(m.name)}` }, m.name) },
      { label: 'Version', num: true, cell: m => String(m.version) },
      { label: 'Stage', cell: m => stageBadge(m.stage) },
      { label: 'Created', cls: 'hide-narrow', cell: m => fmtTime(m.created_at) },
      { label: 'Run', cell: m => m.run_id ? h('a', { href: `#/runs/${m.run_id}` }, `${m.run_id}${m.step ? ' / ' + m.step : ''}`) : '' },
      { label: 'Metrics', cls: 'hide-narrow', cell: m => metricsText(m.metrics) },
    ], rows, 'Model versions') : h('p', {}, 'No model is registered yet.'));
}

export async function renderModel(main, ctx, name) {
  const d = await api.get(`/api/models/${encodeURIComponent(name)}`);
  if (!ctx.alive()) return;
  const versions = d.versions || [];
  const compare = new Set((ctx.query.compare || '').split(',').filter(Boolean).map(Number));
  if (!compare.size && versions.length) compare.add(Number(versions[versions.length - 1].version));

  add(main, h('h1', {}, `Model ${d.name || name}`));
  add(main, table([
    { label: 'Version', num: true, cell: v => String(v.version) },
    { label: 'Stage', cell: v => h('span', { id: `stage-${v.version}` }, stageBadge(v.stage)) },
    { label: 'Created', cls: 'hide-narrow', cell: v => fmtTime(v.created_at) },
    { label: 'Run (lineage)', cell: v => v.run_id ? h('a', { href: `#/runs/${v.run_id}` }, `run ${v.run_id}${v.step ? ' / ' + v.step : ''}`) : '' },
    { label: 'Datasets', cell: v => (v.datasets || []).map(x => typeof x === 'object' ? (x.path || x.name || '') + (x.sha256 || x.hash ? ` (sha256 ${String(x.sha256 || x.hash).slice(0, 12)}…${x.rows ? ', ' + x.rows + ' rows' : ''})` : '') : String(x)).join(', ') },
    { label: 'Metrics', cls: 'hide-narrow', cell: v => metricsText(v.metrics) },
  ], versions, 'Versions'));

  // Compare form: checkboxes change ?compare= (a shareable link).
  const boxes = versions.map(v => h('label', { class: 'inline', for: `cmp-${v.version}` },
    h('input', { type: 'checkbox', id: `cmp-${v.version}`, value: String(v.version), checked: compare.has(Number(v.version)) }), `v${v.version}`));
  const form = h('form', { class: 'bar', 'aria-label': 'Versions to compare' },
    h('fieldset', {}, h('legend', {}, 'Training curves of versions'), h('div', { class: 'bar' }, boxes)),
    h('button', { type: 'submit' }, 'Show curves'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const sel = [...form.querySelectorAll('input:checked')].map(i => i.value);
    location.hash = `#/models/${encodeURIComponent(name)}` + (sel.length ? `?compare=${sel.join(',')}` : '');
  });
  const charts = h('div', { class: 'charts', id: 'curves' });
  add(main, h('h2', {}, 'Training curves'), form, charts);

  const hist = h('div', { id: 'history' });
  add(main, h('h2', {}, 'Stage history'), hist);
  for (const v of [...versions].reverse()) {
    const rows = v.history || [];
    add(hist, h('details', { open: rows.length > 0 && rows.length < 6 },
      h('summary', {}, `v${v.version}: ${rows.length} change${rows.length === 1 ? '' : 's'}`),
      rows.length ? table([
        { label: 'When', cell: x => fmtTime(x.at) },
        { label: 'From', cell: x => x.from || 'none' },
        { label: 'To', cell: x => x.to || '' },
        { label: 'By', cell: x => x.by || '' },
        { label: 'Why', cell: x => x.reason || '' },
      ], rows, `Stage history of version ${v.version}`) : h('p', { class: 'muted' }, 'No stage change.')));
  }

  const chosen = versions.filter(v => compare.has(Number(v.version)));
  const curves = await Promise.all(chosen.map(v =>
    api.get(`/api/models/${encodeURIComponent(name)}/${v.version}/curve`).then(c => [v.version, c.series || []]).catch(() => [v.version, []])));
  if (!ctx.alive()) return;
  const byMetric = new Map();
  for (const [ver, series] of curves) for (const sr of series) {
    if (!byMetric.has(sr.name)) byMetric.set(sr.name, []);
    byMetric.get(sr.name).push({ label: `v${ver}`, points: sr.points || [] });
  }
  if (!byMetric.size) add(charts, h('p', { class: 'muted' }, 'No training metrics recorded for the chosen versions.'));
  const { curveChart } = await import('./charts.js'); // uPlot: loaded on first use only
  for (const [metric, lines] of byMetric) add(charts, await curveChart(metric, lines, 560));
}
