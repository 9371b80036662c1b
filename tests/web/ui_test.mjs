// ui_test.mjs — the browser half of tests/integration/test_web_ui.sh: the
// shell script starts the cluster and drover-web, makes the runs and the
// tokens, and passes them here in the environment. Each check waits on a
// condition in the page with a deadline (liveness bounds, not speed claims)
// and saves a screenshot of the page it looked at into $SHOTS.
import { Browser } from './cdp.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through tests/integration/test_web_ui.sh)`);
  return v;
};
const URL0 = env('WEB_URL');
const SHOTS = env('SHOTS');
const R = { train: env('RUN_TRAIN'), cmp: env('RUN_CMP'), fail: env('RUN_FAIL'), hold: env('RUN_HOLD'), review: env('RUN_REVIEW'), review2: env('RUN_REVIEW2') };

const b = await Browser.launch({ width: 1280, height: 860 });
const p = b.page;
const step = msg => console.log(`[ui] ${msg}`);
const shot = async name => { await p.screenshot(join(SHOTS, name + '.png')); };
const ready = `document.body.dataset.ready && !document.getElementById('main').hasAttribute('aria-busy')`;
async function open(hash, what) {
  // The router sets data-ready when a page has rendered; clear it first so
  // a same-document (#hash) navigation is not taken for done too early.
  await p.eval('delete document.body.dataset.ready').catch(() => {});
  await p.goto(URL0 + '/' + hash);
  await p.waitFor(`${what} (${hash}) rendered`, ready);
}
const q = sel => `document.querySelector(${JSON.stringify(sel)})`;

async function signIn(token) {
  await p.goto(URL0 + '/#/signin');
  await p.waitFor('the sign-in form', q('#token'));
  await p.type('#token', token);
  await p.eval(`${q('#signin-form')}.requestSubmit()`);
  await p.waitFor('the runs page after sign-in', `document.body.dataset.page === 'runs' && ${ready}`);
}

try {
  // ------------------------------------------------------------- sign in ---
  await p.goto(URL0 + '/');
  await p.waitFor('a visitor is sent to the sign-in page', `location.hash.startsWith('#/signin') && ${q('#token')}`);
  await shot('signin');
  await p.type('#token', 'not-a-token');
  await p.eval(`${q('#signin-form')}.requestSubmit()`);
  await p.waitFor('a wrong token is refused with a message', `${q('#signin-error')}.textContent.length > 0`);
  await signIn(env('TOK_REV'));
  await p.waitFor('the header names the signed-in key', `${q('#who')}.textContent.includes('rev')`);
  await p.waitFor('the runs table lists the runs', `${q('#runs-table')}.textContent.includes('claims-train')`);
  await shot('runs');
  step('signed in; runs page');

  // Filter by workflow and state (the URL carries the filter).
  await open(`#/runs?workflow=fails&state=failed`, 'filtered runs');
  await p.waitFor('the filter keeps the failed run only',
    `(() => { const t = ${q('#runs-table')}.textContent; return t.includes('fails') && !t.includes('claims-train'); })()`);
  // The schedule filter is the API's: one request carrying it, no scan of pages.
  await open(`#/runs?schedule=no-such-schedule`, 'runs of a schedule');
  await p.waitFor('the schedule filter asks the API once and matches nothing',
    `(() => { const asked = performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/api/runs?'));
      return ${q('#runs-status')}.textContent === 'No runs match.' &&
        asked.filter(n => n.includes('schedule=no-such-schedule')).length === 1 &&
        asked.filter(n => n.includes('limit=200')).length === 0; })()`);

  // --------------------------------------- live DAG: running -> succeeded ---
  await open(`#/runs/${R.hold}`, 'the held run');
  await p.waitFor('the hold step shows running on the DAG', `${q('svg.dag [data-step="hold"]')}?.getAttribute('data-state') === 'running'`);
  // Empty the live region first: an earlier page's announcement must not
  // pass for this one.
  await p.eval(`window.__sameDocument = 1; document.getElementById('live').textContent = ''`);
  await shot('run-dag-running');
  // Keyboard: a node takes focus and Enter opens the step's details.
  await p.eval(`${q('svg.dag [data-step="hold"]')}.focus()`);
  await p.key('Enter', 'Enter', 13);
  await p.waitFor('Enter on a node opens its details',
    `!${q('#step-detail')}.hidden && ${q('#step-info')}.textContent.includes('hold') && ${q('#step-info')}.textContent.includes('running')`);
  writeFileSync(env('GO_FILE'), 'go\n');
  await p.waitFor('the hold step turns succeeded without a reload',
    `window.__sameDocument === 1 && ${q('svg.dag [data-step="hold"]')}.getAttribute('data-state') === 'succeeded'`, 30000);
  await p.waitFor('the run turns succeeded without a reload',
    `window.__sameDocument === 1 && ${q('#run-state')}.textContent.includes('succeeded') && ${q('svg.dag [data-step="after"]')}.getAttribute('data-state') === 'succeeded'`, 30000);
  await p.waitFor('the live region announced the change', `/succeeded/.test(document.getElementById('live').textContent)`);
  await p.waitFor('the open step details follow the step to succeeded',
    `${q('#step-info')}.textContent.includes('succeeded') && !${q('#step-info')}.textContent.includes('running')`);
  await shot('run-dag');
  await p.click('#tabbtn-timeline');
  await p.waitFor('the timeline draws a bar per started step', `document.querySelectorAll('#tab-timeline rect.bar').length === 3`);
  await shot('run-timeline');
  step('live DAG and timeline');

  // ---------------------------------------------------- failed step's log ---
  await open(`#/runs/${R.fail}`, 'the failed run');
  await p.waitFor('the broken step shows failed', `${q('svg.dag [data-step="broken"]')}?.getAttribute('data-state') === 'failed'`);
  await p.eval(`${q('svg.dag [data-step="broken"]')}.dispatchEvent(new MouseEvent('click', {bubbles: true}))`);
  await p.waitFor('the step details offer the log', q('#open-log'));
  await p.click('#open-log');
  await p.waitFor("the failed step's log shows its stderr and stdout", `${q('#log-stderr')}?.textContent.includes('boom-marker') && ${q('#log')}.textContent.includes('loading')`);
  await shot('step-log');
  step('failed step log');

  // ------------------------------------------- training curve and report ---
  await open(`#/runs/${R.train}`, 'the train run');
  await p.eval(`${q('svg.dag [data-step="train"]')}.dispatchEvent(new MouseEvent('click', {bubbles: true}))`);
  await p.waitFor("the train step's curve is drawn", `document.querySelector('#step-charts figure.chart canvas')`);
  await open('#/models/claims?compare=1', 'the model page');
  await p.waitFor('the training curve of claims v1', `document.querySelectorAll('#curves figure.chart canvas').length >= 1`);
  await shot('model-curves');
  await open(`#/runs/${R.train}/report/evaluate`, 'the evaluation report');
  await p.waitFor('the report has a confusion matrix with class names',
    `(() => { const t = document.querySelector('#report table.cm'); return t && ['minor', 'moderate', 'severe'].every(c => t.textContent.includes(c)); })()`);
  // Every cell where the API puts it: row = true class, column = predicted.
  const rep = JSON.parse((await p.fetch(`/api/runs/${R.train}/steps/evaluate/report`)).body);
  const cells = await p.eval(`[...document.querySelectorAll('#report table.cm tr')].map(tr => [...tr.children].map(c => c.textContent))`);
  const want = [['true \\ predicted', ...rep.confusion.classes], ...rep.confusion.matrix.map((row, i) => [rep.confusion.classes[i], ...row.map(String)])];
  if (JSON.stringify(cells) !== JSON.stringify(want)) throw new Error(`confusion matrix shown ${JSON.stringify(cells)}, the API's ${JSON.stringify(want)}`);
  await p.waitFor('the first model has no production to compare with',
    `${q('#report')}.textContent.includes('No model in production') && !${q('#report')}.textContent.includes('Candidate vs production')`);
  await shot('report');
  // rival:2 against rival:1 in production: each figure beside the API's.
  await open(`#/runs/${R.cmp}/report/evaluate`, 'a report with production');
  const rv = JSON.parse((await p.fetch(`/api/runs/${R.cmp}/steps/evaluate/report`)).body);
  if (!rv.production || rv.production.version !== 1 || !rv.candidate) throw new Error(`rival report: ${JSON.stringify(rv).slice(0, 500)}`);
  await p.waitFor('the candidate vs production table', `${q('#report')}.textContent.includes('Candidate vs production')`);
  const cmpRows = await p.eval(`(() => { const t = [...document.querySelectorAll('#report table')].find(t => t.querySelector('caption')?.textContent === 'Candidate against production');
    return t ? [...t.querySelectorAll('tr')].map(tr => [...tr.children].map(c => c.textContent)) : null; })()`);
  const fmt = v => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 || Math.abs(v) < 0.001 ? v.toPrecision(4) : v.toFixed(4));
  const wantCmp = [['Metric', rv.candidate.version ? `Candidate v${rv.candidate.version}` : 'Candidate', 'Production v1'],
    ...Object.keys(rv.candidate.metrics).filter(k => typeof rv.candidate.metrics[k] === 'number')
      .map(k => [k, fmt(rv.candidate.metrics[k]), fmt(rv.production.metrics[k])])];
  if (wantCmp.length < 3 || JSON.stringify(cmpRows) !== JSON.stringify(wantCmp)) throw new Error(`candidate vs production shown ${JSON.stringify(cmpRows)}, the API's ${JSON.stringify(wantCmp)}`);
  await shot('report-production');
  // A validate step's report shows its checks, not an evaluation's sections.
  await open(`#/runs/${R.train}/report/check`, 'the validation report');
  await p.waitFor('the validation report lists its checks',
    `(() => { const t = ${q('#report')}.textContent; return t.includes('min_rows') && t.includes('max_missing') && t.includes('passed') &&
      !t.includes('production') && !t.includes('Confusion'); })()`);
  step('curve and report');

  // ------------------------------------------------------------ approve ---
  await open('#/approvals', 'approvals');
  const item = `[data-run="${R.review}"][data-step="review"]`;
  await p.waitFor('the waiting approval has an approve button', q(`${item} button.approve`));
  await shot('approvals');
  await p.type(`${item} textarea`, 'browser approval: accuracy checked');
  await p.click(`${item} button.approve`);
  await p.waitFor('the approval is acknowledged', `${q(item)}.dataset.done === 'approved'`);
  // The registry page is not live: look again until the promote ran.
  await open('#/models/claims', 'the registry');
  await p.waitFor('claims v1 is in production in the registry',
    `(() => { const e = document.querySelector('#stage-1 [data-stage]'); if (e && e.dataset.stage === 'production') return true;
       window.dispatchEvent(new HashChangeEvent('hashchange')); return false; })()`, 30000, 500);
  await p.waitFor('the stage history names who and why', `${q('#history')}.textContent.includes('browser approval')`);
  await shot('registry');
  await open('#/models', 'the model list');
  await shot('models');
  step('approved; stage changed');

  // ------------------------------------------- workers, queues, schedules ---
  await open('#/workers', 'workers');
  await p.waitFor('the worker w1 is listed', `${q('#workers')}.textContent.includes('w1')`);
  await shot('workers');
  await open('#/queues', 'queues');
  await shot('queues');
  await open('#/schedules', 'schedules');
  await shot('schedules');

  // ------------------------------------------------------- phone width ---
  await p.viewport(390, 844, true);
  await open(`#/runs/${R.hold}`, 'the run on a phone');
  await p.waitFor('the DAG on a phone', q('svg.dag [data-step="hold"]'));
  await shot('phone-run');
  await open('#/runs', 'the runs on a phone');
  await p.waitFor('nothing is wider than the phone but the scrolling tables',
    `document.documentElement.scrollWidth <= window.innerWidth + 1`);
  await shot('phone-runs');
  await p.viewport(1280, 860, false);

  // ------------------------------------------------------------ a reader ---
  await p.click('#signout');
  await p.waitFor('signed out', `location.hash.startsWith('#/signin')`);
  await signIn(env('TOK_NOG'));
  await open('#/approvals', 'approvals as a reader');
  const item2 = `[data-run="${R.review2}"][data-step="review"]`;
  await p.waitFor('the reader sees the waiting approval', q(item2));
  if (await p.eval(`!!document.querySelector('button.approve, button.reject')`)) throw new Error('a reader sees an approve or reject button');
  await p.waitFor('the reader is told why', q('#no-approve'));
  await shot('approvals-reader');
  const me = JSON.parse((await p.fetch('/api/me')).body);
  if (me.approver !== false || me.role !== 'reader') throw new Error(`/api/me of the reader: ${JSON.stringify(me)}`);
  const r = await p.fetch(`/api/approvals/${R.review2}/review`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf },
    body: JSON.stringify({ approve: true, reason: 'a reader tries' }),
  });
  if (r.status !== 403) throw new Error(`a reader's approve got ${r.status}: ${r.body}`);
  const noCsrf = await p.fetch(`/api/approvals/${R.review2}/review`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ approve: true, reason: 'x' }),
  });
  if (noCsrf.status !== 403) throw new Error(`a POST without the CSRF header got ${noCsrf.status}: ${noCsrf.body}`);
  step('reader: no buttons, 403 from the API; CSRF-less POST refused');

  // No script error and no CSP violation on any page.
  const bad = p.console.filter(l => /Content Security Policy|Uncaught|TypeError|ReferenceError/.test(l));
  if (p.errors.length || bad.length) throw new Error(`page errors: ${JSON.stringify([...p.errors, ...bad])}`);
  step('PASS');
} catch (e) {
  console.error(`[ui] FAIL: ${e.message}`);
  console.error(`[ui] page errors: ${JSON.stringify(p.errors)}; console: ${JSON.stringify(p.console.slice(-20))}`);
  try {
    await shot('failure');
    console.error(`[ui] page text: ${(await p.eval('document.body.innerText')).slice(0, 2000)}`);
  } catch { /* the page may be gone */ }
  process.exitCode = 1;
} finally {
  await b.close();
}
