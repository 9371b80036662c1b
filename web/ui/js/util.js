// util.js — DOM helpers shared by the pages: element builder (text only,
// never innerHTML, so nothing the API returns is parsed as markup), time and
// duration formatting, state badges, the aria-live announcer.

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) if (kid) el.append(kid);
  return el;
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtDur(sec) {
  if (sec === null || sec === undefined || sec === '') return '';
  sec = Number(sec);
  if (!isFinite(sec)) return '';
  if (sec < 60) return sec.toFixed(sec < 10 ? 1 : 0) + ' s';
  const m = Math.floor(sec / 60), r = Math.round(sec % 60);
  if (m < 60) return `${m} min ${r} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// stepDuration: the API's duration_s, or the time since started_at while running.
export function stepDuration(st) {
  if (st.duration_s !== null && st.duration_s !== undefined) return st.duration_s;
  if (st.started_at && !st.finished_at) return (Date.now() - Date.parse(st.started_at)) / 1000;
  return null;
}

export function stateClass(state, awaiting) {
  if (awaiting) return 'st-awaiting';
  return 'st-' + String(state || '').replace(/[^a-z_]/gi, '');
}

export function badge(state, awaiting) {
  return h('span', { class: 'state ' + stateClass(state, awaiting) },
    awaiting ? 'awaiting approval' : String(state || ''));
}

export function announce(msg) {
  const el = document.getElementById('live');
  el.textContent = '';
  // A fresh text node after a clear is what screen readers notice.
  setTimeout(() => { el.textContent = msg; }, 30);
}

export function showError(container, err) {
  const msg = err && err.message ? err.message : String(err);
  container.append(h('p', { class: 'error', role: 'alert' }, msg));
}

export function fmtNum(v) {
  if (typeof v !== 'number') return v === null || v === undefined ? '' : String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 || Math.abs(v) < 0.001 ? v.toPrecision(4) : v.toFixed(4);
}

// table(cols, rows, caption): cols = [{label, cell(row) -> node|string, num}]
export function table(cols, rows, caption) {
  return h('div', { class: 'scroll' },
    h('table', {},
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h('thead', {}, h('tr', {}, cols.map(c => h('th', { scope: 'col', class: c.num ? 'num' : c.cls }, c.label)))),
      h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', { class: c.num ? 'num' : c.cls }, c.cell(r))))))));
}

// genericTable: for lists whose fields the API may extend (queues, schedules).
export function genericTable(rows, caption) {
  const keys = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return table(keys.map(k => ({
    label: k.replace(/_/g, ' '),
    cell: r => {
      const v = r[k];
      if (Array.isArray(v)) return v.map(x => (typeof x === 'object' ? JSON.stringify(x) : (/_at$|next_due|due/.test(k) ? fmtTime(x) : String(x)))).join(', ');
      if (v && typeof v === 'object') return JSON.stringify(v);
      if (/_at$|^next/.test(k)) return fmtTime(v);
      return v === null || v === undefined ? '' : String(v);
    },
  })), rows, caption);
}

export function params(query) {
  const out = {};
  for (const [k, v] of new URLSearchParams(query || '')) out[k] = v;
  return out;
}

// fill / add: replaceChildren / append that skip null, undefined and false
// (the DOM methods would show them as the text "null").
const real = k => k !== null && k !== undefined && k !== false;
export function fill(el, ...kids) { el.replaceChildren(...kids.flat().filter(real)); return el; }
export function add(el, ...kids) { el.append(...kids.flat().filter(real)); return el; }
