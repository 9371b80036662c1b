// cdp.mjs — a small driver of headless Chromium over the DevTools protocol,
// for the browser tests (tests/integration/test_web_ui.sh) and bench/web.sh.
// Plain node (Debian's nodejs), nothing to install. Every wait polls a
// condition in the page with a deadline; on a timeout it throws with what it
// waited for (no sleep-and-hope).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
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
  // The DevTools protocol over a pipe (--remote-debugging-pipe: we write
  // NUL-terminated JSON to the browser's fd 3 and read its fd 4): no port,
  // no WebSocket, so any node from Debian 12's 18 on will do.
  static async launch({ width = 1280, height = 900, bin = process.env.CHROMIUM || '/usr/bin/chromium' } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'drover-chromium-'));
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--no-default-browser-check', '--disable-extensions', '--disable-background-networking', '--mute-audio',
      '--remote-debugging-pipe', `--user-data-dir=${dir}`, `--window-size=${width},${height}`, 'about:blank'];
    const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', d => { stderr += d; if (stderr.length > 20000) stderr = stderr.slice(-10000); });
    const b = new Browser(proc, dir);
    b.conn = new Conn(proc.stdio[3], proc.stdio[4]);
    proc.on('exit', code => b.conn.closed(`chromium exited ${code}: ${stderr.slice(-2000)}`));
    try {
      const page = await until('chromium to show its page', 30000, async () => {
        const { targetInfos } = await b.conn.send('Target.getTargets');
        return targetInfos.find(t => t.type === 'page');
      }, 100);
      const { sessionId } = await b.conn.send('Target.attachToTarget', { targetId: page.targetId, flatten: true });
      b.page = await Page.attach(b.conn, sessionId);
      await b.page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    } catch (e) { proc.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); throw e; }
    return b;
  }
  constructor(proc, dir) { this.proc = proc; this.dir = dir; }
  async close() {
    this.proc.kill('SIGTERM');
    await until('chromium to exit', 10000, () => this.proc.exitCode !== null || this.proc.signalCode !== null).catch(() => this.proc.kill('SIGKILL'));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

class Conn {
  constructor(out, inp) {
    this.out = out;
    this.next = 1;
    this.pending = new Map();
    this.sessions = new Map();
    this.dead = null;
    let buf = '';
    inp.setEncoding('utf8');
    inp.on('data', d => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\0')) >= 0) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        this.dispatch(m);
      }
    });
  }
  dispatch(m) {
    if (m.id && this.pending.has(m.id)) {
      const { res, rej } = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) rej(new Error(`${m.error.message} ${m.error.data || ''}`)); else res(m.result);
    } else if (m.method && m.sessionId && this.sessions.has(m.sessionId)) {
      this.sessions.get(m.sessionId).event(m);
    }
  }
  closed(why) {
    this.dead = why;
    for (const { rej } of this.pending.values()) rej(new Error(why));
    this.pending.clear();
  }
  send(method, params = {}, sessionId) {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const id = this.next++;
    this.out.write(JSON.stringify(sessionId ? { id, method, params, sessionId } : { id, method, params }) + '\0');
    return new Promise((res, rej) => {
      this.pending.set(id, { res, rej });
      setTimeout(() => { if (this.pending.delete(id)) rej(new Error(`DevTools ${method} got no answer in 30 s`)); }, 30000);
    });
  }
}

export class Page {
  static async attach(conn, sessionId) {
    const p = new Page();
    p.conn = conn;
    p.sessionId = sessionId;
    p.errors = [];
    p.console = [];
    p.listeners = [];
    conn.sessions.set(sessionId, p);
    await p.send('Page.enable');
    await p.send('Runtime.enable');
    await p.send('Log.enable');
    return p;
  }
  event(m) {
    if (m.method === 'Runtime.exceptionThrown') this.errors.push(m.params.exceptionDetails.exception?.description || m.params.exceptionDetails.text);
    if (m.method === 'Runtime.consoleAPICalled') this.console.push(`${m.params.type}: ${m.params.args.map(a => a.value ?? a.description).join(' ')}`);
    if (m.method === 'Log.entryAdded') this.console.push(`${m.params.entry.level}: ${m.params.entry.text}`);
    for (const l of this.listeners) l(m);
  }
  send(method, params = {}) { return this.conn.send(method, params, this.sessionId); }
  async eval(expr) {
    const r = await this.send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
    return r.result.value;
  }
  async goto(url, ms = 30000) {
    let l = null, timer = null;
    const loaded = new Promise((res, rej) => {
      l = m => { if (m.method === 'Page.loadEventFired') res(); };
      this.listeners.push(l);
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for the load event of ${url}`)), ms);
    });
    try {
      const r = await this.send('Page.navigate', { url });
      if (r.errorText) throw new Error(`navigating to ${url}: ${r.errorText}`);
      // A change of the #fragment only is a same-document navigation: no
      // loaderId and no load event (the router reacts to hashchange).
      if (r.loaderId) await loaded;
    } finally {
      clearTimeout(timer);
      this.listeners = this.listeners.filter(x => x !== l);
      loaded.catch(() => {});
    }
  }
  // waitFor(what, expr, ms): polls a page expression until it is truthy; returns its value.
  waitFor(what, expr, ms = 20000, every = 50) {
    return until(what, ms, () => this.eval(expr).catch(() => null), every);
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
