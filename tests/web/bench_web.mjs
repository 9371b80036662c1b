// bench_web.mjs — the browser half of bench/web_ui.sh: signs in, loads the
// runs page and the 1,000-step DAG page LOADS times each (full loads),
// prints medians, then keeps the DAG page open while the SAMPLES waiting
// steps are released one by one and writes when the page showed each one
// turn succeeded (seen.json in the folder given as argv[2]).
import { Browser, until } from './cdp.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const URL0 = process.env.WEB_URL;
const BIG = process.env.BIG;
const LOADS = Number(process.env.LOADS || 7);
const SAMPLES = Number(process.env.SAMPLES || 5);
const dir = process.argv[2];
const med = xs => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

const b = await Browser.launch({ width: 1280, height: 900 });
const p = b.page;
try {
  await p.goto(URL0 + '/#/signin');
  await p.waitFor('the sign-in form', `document.querySelector('#token')`);
  await p.type('#token', process.env.TOKEN);
  await p.eval(`document.querySelector('#signin-form').requestSubmit()`);
  await p.waitFor('signed in', `document.body.dataset.page === 'runs' && document.body.dataset.ready`);

  await p.send('Performance.enable');
  async function measure(hash, what, extra) {
    const ready = [], painted = [], more = [], busy = [];
    for (let i = 0; i < LOADS; i++) {
      if (process.env.BENCH_DEBUG) console.error(`${what}: load ${i + 1}`);
      // Leave the page through the router first (it closes its event
      // streams), then a new query string: a full load, not a #fragment change.
      await p.eval(`location.hash = '#/none'`);
      await p.waitFor('the router left the page', `document.body.dataset.ready && document.body.dataset.page === 'none'`);
      await p.goto(`${URL0}/?load=${what.length}${i}${hash}`);
      await p.waitFor(what, `document.body.dataset.paintedAt`, 60000);
      ready.push(Number(await p.eval('document.body.dataset.readyAt')));
      painted.push(Number(await p.eval('document.body.dataset.paintedAt')));
      // The renderer's main-thread work for this document so far (seconds;
      // Performance.getMetrics starts anew with each document): less noisy
      // than wall time on a shared machine.
      const m = Object.fromEntries((await p.send('Performance.getMetrics')).metrics.map(x => [x.name, x.value]));
      busy.push({ task: m.TaskDuration * 1000, script: m.ScriptDuration * 1000, style: (m.RecalcStyleDuration + m.LayoutDuration) * 1000 });
      if (extra) more.push(await p.eval(extra));
    }
    // Where the last load's time went (Resource Timing, ms from navigation start).
    const tl = await p.eval(`(() => {
      const n = performance.getEntriesByType('navigation')[0], f = x => Math.round(x);
      const rs = performance.getEntriesByType('resource');
      const js = rs.filter(r => r.name.includes('/js/') || r.name.includes('/vendor/'));
      const api = rs.filter(r => r.name.includes('/api/')).map(r => r.name.slice(r.name.indexOf('/api/'), r.name.indexOf('/api/') + 24) + ' ' + f(r.startTime) + '-' + f(r.responseEnd));
      return 'html ' + f(n.responseEnd) + ', ' + js.length + ' modules by ' + f(Math.max(...js.map(r => r.responseEnd))) +
        ', DOMContentLoaded ' + f(n.domContentLoadedEventEnd) + ', ' + api.join(', ') +
        (${!!process.env.BENCH_DEBUG} ? ' | ' + js.map(r => r.name.split('/').pop() + ' ' + f(r.startTime) + '-' + f(r.responseEnd)).join(', ') : '');
    })()`);
    console.log(`  ${what}, last load: ${tl}`);
    console.log(`  ${what}, main thread busy (median of ${LOADS}): all tasks ${med(busy.map(b => b.task)).toFixed(0)} ms, script ${med(busy.map(b => b.script)).toFixed(0)} ms, style + layout ${med(busy.map(b => b.style)).toFixed(0)} ms`);
    return { ready, painted, more };
  }
  const runs = await measure('#/runs', 'the runs page');
  const rows = await p.eval(`document.querySelectorAll('#runs-table tbody tr').length`);
  console.log(`runs page (${rows} rows of 10,000+ runs): DOM built median ${med(runs.ready).toFixed(0)} ms, painted median ${med(runs.painted).toFixed(0)} ms (${LOADS} loads: ${runs.painted.map(x => x.toFixed(0)).join(', ')})`);
  const dag = await measure(`#/runs/${BIG}`, 'the DAG page', 'window.__droverDagRendered');
  const nodes = await p.eval(`document.querySelectorAll('svg.dag g.node').length`);
  console.log(`DAG page (${nodes} steps, layout ${dag.more[0].engine}): DOM built median ${med(dag.ready).toFixed(0)} ms, painted median ${med(dag.painted).toFixed(0)} ms, of which layout + SVG median ${med(dag.more.map(m => m.ms)).toFixed(0)} ms (${LOADS} loads: ${dag.painted.map(x => x.toFixed(0)).join(', ')})`);

  // Live: release each waiting step and note when the page shows it done.
  for (let k = 1; k <= SAMPLES; k++) {
    writeFileSync(`${process.env.GO_PREFIX}${k}`, 'go\n');
    await p.waitFor(`wait${k} shown succeeded`, `window.__droverSeen['${BIG}/wait${k}:succeeded']`, 30000, 20).catch(async e => {
      console.error(await p.eval(`JSON.stringify([location.hash, document.querySelector('#run-state')?.textContent, [...document.querySelectorAll('svg.dag [data-step^="wait"]')].map(n => n.dataset.step + '=' + n.dataset.state), Object.keys(window.__droverSeen).filter(k => k.includes('wait'))])`));
      throw e;
    });
  }
  const seen = {};
  for (let k = 1; k <= SAMPLES; k++) seen[`wait${k}`] = await p.eval(`window.__droverSeen['${BIG}/wait${k}:succeeded']`);
  writeFileSync(join(dir, 'seen.json'), JSON.stringify(seen));
  await until('the run to end', 10000, () => p.eval(`document.querySelector('#run-state').textContent.includes('succeeded')`));
  // Last (it takes long): dagre itself on the same graph, in node (in a browser on a loaded
  // machine it can take longer than a DevTools call may wait).
  const d = JSON.parse((await p.fetch(`/api/runs/${BIG}`)).body);
  const { default: dagre } = await import('../../web/ui/vendor/dagre/dagre.esm.js');
  const g = new dagre.graphlib.Graph(); g.setGraph({ rankdir: 'LR' }); g.setDefaultEdgeLabel(() => ({}));
  for (const st of d.steps) g.setNode(st.name, { width: 170, height: 46 });
  for (const st of d.steps) for (const x of st.deps || []) g.setEdge(x, st.name);
  const t = performance.now(); dagre.layout(g);
  console.log(`dagre alone on the same ${d.steps.length} steps (node): ${(performance.now() - t).toFixed(0)} ms; the page uses its layered layout above ${await p.eval(`import('/js/dag.js').then(m => m.DAGRE_MAX)`)} steps`);

} finally {
  await b.close();
}
