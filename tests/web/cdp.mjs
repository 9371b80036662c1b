// cdp.mjs — a small driver of headless Chromium over the DevTools protocol,
// for the browser tests (tests/integration/test_web_ui.sh) and bench/web.sh.
// Node 20 with --experimental-websocket (a global WebSocket); nothing to
// install. Every wait polls a condition in the page with a deadline; on a
// timeout it throws with what it waited for (no sleep-and-hope).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pause = ms => new Promise(r => setTimeout(r, ms));

async function until(what, ms, fn, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await pause(every);
  }
}

export class Browser {
  static async launch({ width = 1280, height = 900, bin = process.env.CHROMIUM || '/usr/bin/chromium' } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'drover-chromium-'));
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--no-default-browser-check', '--disable-extensions', '--disable-background-networking', '--mute-audio',
      '--remote-debugging-port=0', `--user-data-dir=${dir}`, `--window-size=${width},${height}`, 'about:blank'];
    const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', d => { stderr += d; if (stderr.length > 20000) stderr = stderr.slice(-10000); });
    const portFile = join(dir, 'DevToolsActivePort');
    let port;
    try {
      port = await until('chromium to open its DevTools port', 30000, () => {
        if (proc.exitCode !== null) throw new Error(`chromium exited ${proc.exitCode}: ${stderr.slice(-2000)}`);
        return existsSync(portFile) && readFileSync(portFile, 'utf8').split('\n')[0];
      });
    } catch (e) { proc.kill('SIGKILL'); throw e; }
    const b = new Browser(proc, dir, Number(port));
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const page = list.find(t => t.type === 'page');
    if (!page) throw new Error('chromium shows no page');
    b.page = await Page.connect(page.webSocketDebuggerUrl);
    await b.page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    return b;
  }
  constructor(proc, dir, port) { this.proc = proc; this.dir = dir; this.port = port; }
  async close() {
    try { this.page.ws.close(); } catch { /* already closed */ }
    this.proc.kill('SIGTERM');
    await until('chromium to exit', 10000, () => this.proc.exitCode !== null || this.proc.signalCode !== null).catch(() => this.proc.kill('SIGKILL'));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Page {
  static async connect(url) {
    const p = new Page();
    p.ws = new WebSocket(url);
    p.next = 1;
    p.pending = new Map();
    p.errors = [];
    p.console = [];
    p.listeners = [];
    await new Promise((res, rej) => { p.ws.onopen = res; p.ws.onerror = () => rej(new Error('DevTools websocket failed')); });
    p.ws.onmessage = ev => {
      const m = JSON.parse(ev.data);
      if (m.id && p.pending.has(m.id)) {
        const { res, rej } = p.pending.get(m.id);
        p.pending.delete(m.id);
        if (m.error) rej(new Error(`${m.error.message} ${m.error.data || ''}`)); else res(m.result);
      } else if (m.method) {
        if (m.method === 'Runtime.exceptionThrown') p.errors.push(m.params.exceptionDetails.exception?.description || m.params.exceptionDetails.text);
        if (m.method === 'Runtime.consoleAPICalled') p.console.push(`${m.params.type}: ${m.params.args.map(a => a.value ?? a.description).join(' ')}`);
        if (m.method === 'Log.entryAdded') p.console.push(`${m.params.entry.level}: ${m.params.entry.text}`);
        for (const l of p.listeners) l(m);
      }
    };
    await p.send('Page.enable');
    await p.send('Runtime.enable');
    await p.send('Log.enable');
    return p;
  }
  send(method, params = {}) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((res, rej) => {
      this.pending.set(id, { res, rej });
      setTimeout(() => { if (this.pending.delete(id)) rej(new Error(`DevTools ${method} got no answer in 30 s`)); }, 30000);
    });
  }
  async eval(expr) {
    const r = await this.send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
    return r.result.value;
  }
  async goto(url) {
    const loaded = new Promise(res => {
      const l = m => { if (m.method === 'Page.loadEventFired') { this.listeners = this.listeners.filter(x => x !== l); res(); } };
      this.listeners.push(l);
    });
    const r = await this.send('Page.navigate', { url });
    if (r.errorText) throw new Error(`navigating to ${url}: ${r.errorText}`);
    // A change of the #fragment only is a same-document navigation: no
    // loaderId and no load event (the router reacts to hashchange).
    if (r.loaderId) await loaded;
  }
  // waitFor(what, expr, ms): polls a page expression until it is truthy; returns its value.
  waitFor(what, expr, ms = 20000) {
    return until(what, ms, () => this.eval(expr).catch(() => null));
  }
  async click(sel) {
    const ok = await this.eval(`(() => { const e = document.querySelector(${JSON.stringify(sel)}); if (!e) return false; e.scrollIntoView({block:'center'}); e.dispatchEvent(new MouseEvent('click', {bubbles: true})); return true; })()`);
    if (!ok) throw new Error(`nothing to click at ${sel}`);
  }
  async type(sel, text) {
    const ok = await this.eval(`(() => { const e = document.querySelector(${JSON.stringify(sel)}); if (!e) return false; e.focus(); e.value = ''; return true; })()`);
    if (!ok) throw new Error(`no field ${sel}`);
    await this.send('Input.insertText', { text });
  }
  async key(key, code = key, keyCode = 0) {
    await this.send('Input.dispatchKeyEvent', { type: 'keyDown', key, code, windowsVirtualKeyCode: keyCode });
    await this.send('Input.dispatchKeyEvent', { type: 'keyUp', key, code, windowsVirtualKeyCode: keyCode });
  }
  async viewport(width, height, mobile = false) {
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile });
  }
  async screenshot(path, full = true) {
    let clip;
    if (full) {
      const m = await this.send('Page.getLayoutMetrics');
      const c = m.cssContentSize || m.contentSize;
      clip = { x: 0, y: 0, width: Math.min(c.width, 1600), height: Math.min(c.height, 2400), scale: 1 };
    }
    const r = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: full, clip });
    writeFileSync(path, Buffer.from(r.data, 'base64'));
  }
  // fetch from inside the page (same origin, its cookie): {status, body}
  fetch(path, init = {}) {
    return this.eval(`fetch(${JSON.stringify(path)}, ${JSON.stringify(init)}).then(async r => ({status: r.status, body: await r.text()}))`);
  }
}

export { until, pause };
