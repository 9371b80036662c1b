// charts.js — training curves with uPlot (vendored): one chart per metric
// (loss, accuracy, ...), one line per series (a model version, or a step),
// x = epoch. Each chart has a text alternative: a table of the same numbers
// in a <details>, for screen readers and for copying.
// uPlot is loaded on first use only.
let uPlot = null;
import { h, fmtNum, table } from './util.js';

const COLORS = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#0550ae', '#6e7781', '#bf3989'];

// lines: [{label, points: [[epoch, value], ...]}]
export async function curveChart(title, lines, width) {
  uPlot ||= (await import('../vendor/uplot/uPlot.esm.js')).default;
  const xs = [...new Set(lines.flatMap(l => l.points.map(p => Number(p[0]))))].sort((a, b) => a - b);
  const idx = new Map(xs.map((x, i) => [x, i]));
  const data = [xs];
  for (const l of lines) {
    const ys = new Array(xs.length).fill(null);
    for (const [x, y] of l.points) ys[idx.get(Number(x))] = y === null ? null : Number(y);
    data.push(ys);
  }
  const w = Math.max(260, Math.min(width || 560, window.innerWidth - 40));
  const box = h('figure', { class: 'chart', 'data-metric': title },
    h('figcaption', {}, h('strong', {}, title), ' per epoch'));
  const plotEl = h('div', { role: 'img', 'aria-label': `${title} per epoch: ${lines.map(l => l.label).join(', ')}` });
  box.append(plotEl);
  const opts = {
    width: w, height: 260,
    scales: { x: { time: false } },
    axes: [{ label: 'epoch' }, { label: title }],
    series: [{ label: 'epoch' }, ...lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: xs.length < 60 } }))],
  };
  box.plot = new uPlot(opts, data, plotEl);
  box.append(h('details', {}, h('summary', {}, `${title}: the numbers`),
    table([{ label: 'epoch', num: true, cell: r => String(r[0]) },
      ...lines.map((l, i) => ({ label: l.label, num: true, cell: r => fmtNum(r[i + 1]) }))],
    xs.map((x, i) => [x, ...data.slice(1).map(d => d[i])]), `${title} per epoch`)));
  return box;
}

// metricsToLines: /metrics rows [{name, epoch, value}] -> {name: points}
export function groupMetrics(rows) {
  const out = new Map();
  for (const r of rows || []) {
    if (!out.has(r.name)) out.set(r.name, []);
    out.get(r.name).push([r.epoch, r.value]);
  }
  return out;
}
