// The dashboard in a real browser against a live kapsel: Debian's chromium driven by
// playwright-core (no browser download). One daemon on a temporary data root, a tenant made
// through the admin API on the unix socket, the test image imported with the tenant's token,
// then, in the page: sign in, run a container from the form, see it running, read its live log
// and its stats charts, stop it, filter, remove it. Screenshots land in target/ui-artifacts/.
//
// Run: (cd tests/ui && npm ci && node --test) as root, after `cargo build` and
// scripts/make-test-image.sh. KAPSEL_TEST_BIN, KAPSEL_TEST_IMAGE and KAPSEL_CHROMIUM override the
// binary, the image tarball and the browser; KAPSEL_UI_DEV_DIR=ui serves the page's files from
// that folder instead of the binary, to try a change to ui/ without rebuilding.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BINARY = process.env.KAPSEL_TEST_BIN || path.join(REPO, 'target/debug/kapsel');
const IMAGE = process.env.KAPSEL_TEST_IMAGE || path.join(REPO, 'target/test-image/busybox.tar');
const CHROMIUM = process.env.KAPSEL_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'target/ui-artifacts');
const COMMAND = "sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done'";
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// ------------------------------------------------------------------ HTTP to the daemon

/** One HTTP request over the unix socket (`socketPath`) or TCP (`port`); the whole reply. */
function request({ socketPath, port, method = 'GET', path: urlPath, token, json, body, contentType }) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload = null;
    if (json !== undefined) {
      payload = Buffer.from(JSON.stringify(json));
      headers['Content-Type'] = 'application/json';
    } else if (contentType) {
      headers['Content-Type'] = contentType;
    }
    const target = socketPath ? { socketPath } : { host: '127.0.0.1', port };
    const req = http.request({ ...target, method, path: urlPath, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 120 s`)));
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end(payload);
  });
}

/** A request that must answer `expected`; its JSON body (or text). */
async function call(options, expected) {
  const res = await request(options);
  assert.equal(res.status, expected, `${options.method || 'GET'} ${options.path}: ${res.status} ${res.text}`);
  try {
    return res.text ? JSON.parse(res.text) : null;
  } catch {
    return res.text;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the daemon

class Daemon {
  async start() {
    this.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kapsel-ui-')));
    this.socket = path.join(this.root, 'kapsel.sock');
    this.port = await freePort();
    this.logPath = path.join(this.root, 'kapsel-test.log');
    const log = fs.openSync(this.logPath, 'a');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KAPSEL_')));
    // No --insecure-no-auth: over TCP the page must sign in with a token.
    this.proc = spawn(BINARY, [
      'serve', '--data-root', this.root,
      '-H', `unix://${this.socket}`, '-H', `tcp://127.0.0.1:${this.port}`,
      // A bridge of its own, clear of any other kapsel on this host.
      '--bridge-name', `kui${(process.pid % 0xffffff).toString(16).padStart(6, '0')}`,
    ], { stdio: ['ignore', log, log], env });
    fs.closeSync(log);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`kapsel exited with ${this.proc.exitCode}\n${this.log()}`);
      try {
        const res = await request({ port: this.port, path: '/_ping' });
        if (res.status === 200) return;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`kapsel did not answer /_ping in 20 s\n${this.log()}`);
      await sleep(100);
    }
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGTERM by PID, SIGKILL after 15 s; the exit status. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  cleanup() {
    if (this.root) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the test

test('the dashboard runs, follows and stops a container for a tenant', { timeout: 240_000 }, async (t) => {
  assert.ok(fs.existsSync(BINARY), `${BINARY} is missing: run cargo build first`);
  assert.ok(fs.existsSync(IMAGE), `${IMAGE} is missing: run scripts/make-test-image.sh first`);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-test-deps.sh`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  const daemon = new Daemon();
  let context = null;
  let page = null;
  let token = null;
  const started = Date.now();
  const ui = () => `http://127.0.0.1:${daemon.port}/ui`;
  const problems = []; // errors the page itself logged
  let failed = false;
  // The steps run in order; once one fails the rest are skipped (they build on it).
  const step = (name, fn) =>
    t.test(name, failed ? { skip: 'an earlier step failed' } : {}, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    });

  t.after(async () => {
    if (page && failed) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
    }
    if (context) await context.close().catch(() => {});
    // Remove what the tenant still has, then stop the daemon by its PID.
    if (token && daemon.port) {
      try {
        const list = await call({ port: daemon.port, path: '/containers/json?all=1', token }, 200);
        for (const c of list) {
          await request({ port: daemon.port, method: 'DELETE', path: `/containers/${c.Id}?force=1&v=1`, token });
        }
      } catch (e) {
        console.error('cleanup:', e.message);
      }
    }
    const status = await daemon.stop();
    if (status && status.code !== 0) console.error(`kapsel exited with ${JSON.stringify(status)}\n${daemon.log()}`);
    daemon.cleanup();
    console.log(`ui test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  await step('a live kapsel with a tenant, its token and the test image', async () => {
    await daemon.start();
    const admin = { socketPath: daemon.socket };
    await call({
      ...admin, method: 'POST', path: '/kapsel/v1/tenants',
      json: { name: 'demo', quotas: { max_containers: 10, max_running: 5, memory_bytes: 1024 ** 3, nano_cpus: 2e9 } },
    }, 201);
    ({ token } = await call({ ...admin, method: 'POST', path: '/kapsel/v1/tenants/demo/tokens' }, 201));
    assert.match(token, /\S{16,}/);
    // Without a token, TCP refuses the API but serves the page.
    assert.equal((await request({ port: daemon.port, path: '/containers/json' })).status, 401);
    const pageRes = await request({ port: daemon.port, path: '/ui' });
    assert.equal(pageRes.status, 200);
    assert.match(pageRes.text, /data-testid="run-form"/);
    const imported = await call({
      port: daemon.port, method: 'POST', path: '/images/create?fromSrc=-&repo=busybox&tag=latest', token,
      body: fs.createReadStream(IMAGE), contentType: 'application/x-tar',
    }, 200);
    assert.doesNotMatch(String(JSON.stringify(imported)), /"error/i, 'the import reported an error');
  });

  await step('chromium opens /ui and asks for a token', async () => {
    const profile = fs.mkdtempSync(path.join(daemon.root, 'chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 1000 },
      colorScheme: 'light',
    });
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(20_000);
    if (process.env.KAPSEL_UI_DEV_DIR) {
      const dir = path.resolve(REPO, process.env.KAPSEL_UI_DEV_DIR);
      const types = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' };
      await page.route(/\/ui(\/[^/?]*)?(\?.*)?$/, (route) => {
        const name = new URL(route.request().url()).pathname.replace(/^\/ui\/?/, '') || 'index.html';
        route.fulfill({ path: path.join(dir, name), contentType: types[name.split('.').pop()] });
      });
    }
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    await page.goto(ui());
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.getByTestId('run-form').isVisible(), false);
  });

  await step('a wrong token is refused with the API message, the right one signs in', async () => {
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor();
    assert.match(await page.getByTestId('login-error').textContent(), /refused/);
    await page.getByLabel('Token').fill(token);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('run-form').waitFor();
    assert.match(await page.getByTestId('who').textContent(), /demo/);
    // The quota of the tenant, and the image it imported.
    await page.locator('[data-testid=quota-item][data-quota=Containers]').waitFor();
    assert.match(await page.locator('[data-testid=quota-item][data-quota=Containers]').textContent(), /0\s*\/\s*10/);
    await page.locator('[data-testid=image-row][data-tag="busybox:latest"]').waitFor();
    // A reload keeps the session (sessionStorage).
    await page.reload();
    await page.getByTestId('run-form').waitFor();
  });

  const row = () => page.locator('[data-testid=container-row][data-name=ticker]');

  await step('the form runs a container and the list shows it running', async () => {
    await page.getByTestId('run-form').getByLabel('Image', { exact: true }).fill('busybox');
    await page.getByTestId('run-name').fill('ticker');
    await page.getByTestId('run-command').fill(COMMAND);
    await page.getByTestId('run-env').fill('GREETING=hello');
    await page.getByTestId('run-memory').fill('64m');
    await page.getByTestId('run-cpus').fill('0.5');
    await page.getByTestId('run-submit').click();
    await page.getByTestId('run-result').waitFor();
    assert.match(await page.getByTestId('run-result').textContent(), /Started ticker/);
    await page.locator('[data-testid=container-row][data-name=ticker][data-state=running]').waitFor();
    assert.match(await row().getByTestId('container-state').textContent(), /running/);
    // What the form sent, as the API has it.
    const inspect = await call({ port: daemon.port, path: '/containers/ticker/json', token }, 200);
    assert.deepEqual(inspect.Config.Cmd, ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done']);
    assert.ok(inspect.Config.Env.includes('GREETING=hello'));
    assert.equal(inspect.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(inspect.HostConfig.NanoCpus, 5e8);
  });

  await step('its log arrives live and the stats charts fill', async () => {
    // The run opened the detail panel; the button does too.
    await row().getByTestId('container-detail').click();
    const logs = page.getByTestId('logs');
    await page.waitForFunction(() => /tick 0\n/.test(document.querySelector('[data-testid=logs]').textContent));
    const ticks = async () => ((await logs.textContent()).match(/tick \d+/g) || []).length;
    const first = await ticks();
    await page.waitForFunction((n) => (document.querySelector('[data-testid=logs]').textContent.match(/tick \d+/g) || []).length >= n + 3, first);
    assert.equal(await page.getByTestId('logs-status').getAttribute('data-state'), 'following');
    for (const chart of ['cpu-chart', 'mem-chart']) {
      await page.waitForFunction((id) => Number(document.querySelector(`[data-testid=${id}]`).dataset.samples) >= 4, chart, { timeout: 30_000 });
    }
    assert.match(await page.getByTestId('mem-value').textContent(), /\d+(\.\d)? (B|KiB|MiB)/);
    assert.match(await page.getByTestId('cpu-value').textContent(), /\d+\.\d %/);
    await page.locator('[data-testid=quota-item][data-quota=Running]').filter({ hasText: /1\s*\/\s*5/ }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  await step('stop: the list shows it exited and the log stream ends', async () => {
    await row().getByTestId('container-stop').click();
    await page.locator('[data-testid=container-row][data-name=ticker][data-state=exited]').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=logs-status][data-state=ended]').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-stopped.png'), fullPage: true });
  });

  await step('filters ask the API: running hides it, exited shows it', async () => {
    await page.getByTestId('filter-state').selectOption('running');
    await page.getByTestId('containers-empty').waitFor();
    assert.equal(await row().count(), 0);
    await page.getByTestId('filter-state').selectOption('exited');
    await row().waitFor();
    await page.getByTestId('filter-state').selectOption('');
  });

  await step('remove asks once more, then the container is gone', async () => {
    await row().getByTestId('container-remove').click();
    assert.equal(await row().getByTestId('container-remove').textContent(), 'Confirm remove');
    await row().getByTestId('container-remove').click();
    await row().waitFor({ state: 'detached' });
    assert.equal((await request({ port: daemon.port, path: '/containers/ticker/json', token })).status, 404);
  });

  await step('an API error is shown as the API words it', async () => {
    await page.getByTestId('run-form').getByLabel('Image', { exact: true }).fill('no-such-image');
    await page.getByTestId('run-name').fill('');
    await page.getByTestId('run-command').fill('true');
    await page.getByTestId('run-submit').click();
    await page.getByTestId('run-error').waitFor();
    assert.match(await page.getByTestId('run-error').textContent(), /no-such-image/);
  });

  await step('the page logged no errors of its own', async () => {
    // The browser logs the refused calls (401, and the 404 of the missing image) itself.
    assert.deepEqual(problems.filter((p) => !/status of (401|404)/.test(p)), []);
  });
});
