// workers.js — #/workers (slots, GPUs, memory, labels, running tasks),
// #/queues and #/schedules (with their next due times). Refreshed every
// 5 s while shown.
import { fill, add, h, table, genericTable, announce } from './util.js';
import * as api from './api.js';

// every: fn again ms after the last call ended (not on a fixed clock), so a
// slow drover-web gets one request per page at a time, never a pile of them.
function every(ctx, ms, fn) {
  let t = null;
  const again = () => { t = setTimeout(() => fn().catch(() => {}).finally(() => { if (ctx.alive()) again(); }), ms); };
  again();
  ctx.onLeave(() => clearTimeout(t));
}

export async function renderWorkers(main, ctx) {
  const holder = h('div', { id: 'workers' });
  add(main, h('h1', {}, 'Workers'), holder);
  async function load() {
    const d = await api.get('/api/workers');
    if (!ctx.alive()) return;
    const rows = d.workers || [];
    fill(holder, rows.length ? table([
      { label: 'Worker', cell: w => w.name },
      { label: 'State', cell: w => w.state || '' },
      { label: 'Slots used', num: true, cell: w => `${w.slots_used ?? 0}/${w.slots ?? ''}` },
      { label: 'GPUs', num: true, cell: w => Array.isArray(w.gpus) ? String(w.gpus.length) : String(w.gpus ?? 0) },
      { label: 'Memory', num: true, cell: w => w.memory_mb ? `${(w.memory_mb / 1024).toFixed(1)} GiB` : '' },
      { label: 'Labels', cell: w => (w.labels || []).join(', ') },
      { label: 'Running', cell: w => (w.tasks || []).length ? (w.tasks || []).map(t => h('a', { href: `#/runs/${t.run_id}` }, `${t.run_id}/${t.step}`)).flatMap((a, i) => i ? [', ', a] : [a]) : 'idle' },
    ], rows, 'Workers') : h('p', {}, 'No worker is registered.'));
  }
  await load();
  every(ctx, 5000, load);
}

function simple(title, path, field, empty) {
  return async (main, ctx) => {
    const holder = h('div', { id: field });
    add(main, h('h1', {}, title), holder);
    async function load() {
      const d = await api.get(path);
      if (!ctx.alive()) return;
      const rows = (d && d[field]) || [];
      fill(holder, rows.length ? genericTable(rows, title) : h('p', {}, empty));
    }
    await load();
    every(ctx, 5000, load);
  };
}

export const renderQueues = simple('Queues', '/api/queues', 'queues', 'No queue is defined.');
export const renderSchedules = simple('Schedules', '/api/schedules', 'schedules', 'No schedule is defined.');
export { announce };
