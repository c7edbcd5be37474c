/// <reference lib="dom" />
// DOM types for the page.evaluate() callbacks, which run in Chromium. The service build (tsconfig.json) has none: a
// DOM name used by service code fails `npm run build` even though this test program sees them.
/**
 * The operator's console (/console) in a real browser: Debian's Chromium driven by puppeteer-core (no browser
 * download) against the real server process (node dist/gateway/server.js) on 127.0.0.1. Signs in as an operator,
 * watches a host's numbers change after an admission made through the API (live, through the event stream), reads a
 * rejection's reasons in words (the console's dry-run form), pages the admissions, edits the policy as the operator and
 * is refused as a client; a second process in open mode with 5,000 hosts and 10,000 admissions (seeded into its ledger
 * before it starts) checks that the heat-map stays one canvas and the lists stay paged. Screenshots go to
 * test-artifacts/console/ (gitignored).
 *
 * Without a Chromium the suite is skipped with a warning, except under CI=true, where that is a failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import request from 'supertest';
import { tokenHash } from '../gateway/auth';
import { openLedger } from '../ledger';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../model/types';
import { readManifest, testGateway } from './support/gateway';
import { manyComponentManifest } from './support/manifests';
import { ACTION, OpenNebulaStub } from './support/opennebula-stub';
import { startServerProcess, type ServerProcess } from './support/server-process';

const ARTIFACTS = path.join(__dirname, '..', 'test-artifacts', 'console');
const SM = readManifest('decision/SM_1c2.xml');
const BIG = readManifest('decision/BigSM_1c2.xml');
const TOKENS = { operator: 'eac_console-test-operator', client: 'eac_console-test-client' };

function findChromium(): { path?: string; why: string } {
  const named = [process.env.CHROMIUM_PATH, process.env.PUPPETEER_EXECUTABLE_PATH].filter((p): p is string => !!p);
  for (const p of named) if (fs.existsSync(p)) return { path: p, why: '' };
  if (named.length > 0) return { why: `CHROMIUM_PATH / PUPPETEER_EXECUTABLE_PATH name ${named.join(', ')}, which does not exist` };
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(p)) return { path: p, why: '' };
  return { why: 'no Chromium at /usr/bin/chromium or /usr/bin/chromium-browser (apt-get install chromium, or set CHROMIUM_PATH)' };
}

const chromium = findChromium();
const inCi = process.env.CI === 'true';
if (!chromium.path && !inCi) {
  console.warn(`\n*** console-browser.test.ts SKIPPED: ${chromium.why}. The console is NOT tested in a browser. ***\n`);
}

if (!chromium.path && inCi) {
  it('needs a Chromium under CI', () => {
    throw new Error(`console browser tests cannot run under CI: ${chromium.why}`);
  });
}

// Skipped only without a Chromium (warned about above; under CI=true the case above fails instead).
const suite = chromium.path ? describe : describe.skip;

// What holds without a browser (in process, so it runs even when Chromium is missing).
describe('the console assets (no browser)', () => {
  it('are public, sent with the CSP, free of inline script and markup from data; nothing but GET is served', async () => {
    const gw = await testGateway({ tokens: [{ name: 'ops', role: 'operator', sha256: tokenHash(TOKENS.operator) }] });
    try {
      const html = await request(gw.app).get('/console');
      expect(html.status).toBe(200);
      expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(html.headers['content-security-policy']).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(html.headers['x-content-type-options']).toBe('nosniff');
      expect(html.headers['x-frame-options']).toBe('DENY');
      // No inline script, no inline handlers or styles (the CSP would block them), no third-party URL.
      expect(html.text.match(/<script\b[^>]*>/g)).toEqual(['<script src="/console/console.js" defer>']);
      expect(html.text).not.toMatch(/\son[a-z]+\s*=|\sstyle\s*=|https?:\/\//);
      // The token field has no name: no form submission could carry it.
      expect(html.text).toMatch(/<input id="login-token" type="password"(?![^>]*\bname=)[^>]*>/);
      const js = await request(gw.app).get('/console/console.js');
      expect(js.status).toBe(200);
      expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(js.text).toContain("'Last-Event-ID'");
      expect(js.text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|localStorage|document\.cookie/);
      expect((await request(gw.app).get('/console/console.css')).headers['content-type']).toBe('text/css; charset=utf-8');
      // The data behind it is not public: the API still wants the token.
      expect((await request(gw.app).get('/api/v1/hosts')).status).toBe(401);
      expect((await request(gw.app).post('/console').send('x')).status).toBe(404);
      expect((await request(gw.app).get('/console/../package.json')).status).toBe(404);
    } finally {
      await gw.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

let scratch = '';
let server: ServerProcess;
let big: ServerProcess;
let browser: Browser;
let page: Page;
/** Every URL the browser asked for (the token must be in none). */
const requested: string[] = [];
/** Console errors and uncaught page errors (CSP violations land here). */
const pageErrors: string[] = [];

/**
 * 10,000 held admissions of owner `bulk` (one CPU each, spread over the first hosts), written straight into the
 * ledger of `dataDir` before the server opens it: what 10,000 admissions through the API would leave, in a second.
 */
async function seedAdmissions(dataDir: string, inventoryFile: string, n: number): Promise<void> {
  const hosts = (JSON.parse(fs.readFileSync(inventoryFile, 'utf8')) as { hosts: { id: string; cpus: number; usedCpus: number; memoryMb: number; usedMemoryMb: number }[] }).hosts;
  const ledger = await openLedger({ dataDir, defaultWeights: DEFAULT_WEIGHTS, defaultConstraints: DEFAULT_CONSTRAINTS });
  try {
    await ledger.syncHosts(hosts, 'test');
    const now = Date.now();
    for (let from = 0; from < n; from += 1000) {
      const bookings = Array.from({ length: Math.min(1000, n - from) }, (_, k) => {
        const i = from + k;
        return {
          id: `adm-bulk-${String(i).padStart(5, '0')}`,
          owner: 'bulk',
          serviceId: `Bulk${String(i).padStart(5, '0')}`,
          decision: 'accepted' as const,
          window: { start: now, end: now + (1 + (i % 48)) * 3600_000 },
          holdExpiresAt: now + 86_400_000,
          hosts: [{ hostId: hosts[i % hosts.length]!.id, cpus: 1, memoryMb: 512 }],
          response: { summary: 'accepted: seeded', components: [] },
        };
      });
      await ledger.book({ bookings, actor: 'test' });
    }
  } finally {
    await ledger.close();
  }
}

function inventory(name: string, n: number, cpus: number, memoryMb: number): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, JSON.stringify({ hosts: Array.from({ length: n }, (_, j) => ({ id: `node-${j + 1}`, cpus, usedCpus: j === 1 ? 2 : 0, memoryMb, usedMemoryMb: 0 })) }));
  return file;
}

async function api(base: string, method: string, urlPath: string, options: { token?: string; json?: unknown; xml?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['Content-Type'] = 'application/json';
  if (options.xml !== undefined) headers['Content-Type'] = 'application/xml';
  const res = await fetch(`${base}${urlPath}`, {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : options.xml !== undefined ? { body: options.xml } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function newPage(): Promise<Page> {
  const p = await browser.newPage();
  await p.setViewport({ width: 1280, height: 900 });
  p.on('request', (r) => requested.push(r.url()));
  p.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  p.on('pageerror', (e) => pageErrors.push(String(e)));
  p.on('response', (r) => {
    if (r.status() >= 400 && r.status() !== 401 && r.status() !== 403) pageErrors.push(`${r.status()} ${r.url()}`);
  });
  return p;
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const text = (p: Page, selector: string): Promise<string> => p.$eval(selector, (e) => (e.textContent ?? '').trim());

/** Waits until the element's text satisfies `ok`; fails with what it last read. */
async function waitText(p: Page, selector: string, ok: (t: string) => boolean, what: string, timeoutMs = 8000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = '(no element)';
  for (;;) {
    last = await p.$eval(selector, (e) => (e.textContent ?? '').trim()).catch(() => '(no element)');
    if (ok(last)) return last;
    if (Date.now() > until) throw new Error(`${what}: ${selector} reads ${JSON.stringify(last.slice(0, 500))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function signIn(p: Page, token: string): Promise<void> {
  await p.waitForSelector('#login-token', { visible: true });
  await p.type('#login-token', token);
  await p.click('#login-form button[type=submit]');
  await p.waitForSelector('#nav', { visible: true });
}

async function go(p: Page, view: string): Promise<void> {
  await p.click(`#nav a[data-view=${view}]`);
  await p.waitForSelector(`#view-${view}`, { visible: true });
}

suite('the operator console in Chromium', () => {
  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-console-'));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const config = path.join(scratch, 'config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        tokens: [
          { name: 'ops', role: 'operator', sha256: tokenHash(TOKENS.operator) },
          { name: 'acme', role: 'client', sha256: tokenHash(TOKENS.client) },
        ],
      }),
    );
    const launch = puppeteer.launch({
      executablePath: chromium.path!,
      headless: true,
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    const bigInventory = inventory('five-thousand.json', 5000, 8, 16384);
    const bigData = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-console-big-'));
    [server, big, browser] = await Promise.all([
      startServerProcess({ AC_SOLVER: 'greedy', AC_CONFIG: config, AC_INVENTORY: inventory('six.json', 6, 8, 16384) }),
      seedAdmissions(bigData, bigInventory, 10_000).then(() => startServerProcess({ AC_SOLVER: 'greedy', AC_INVENTORY: bigInventory, AC_DATA_DIR: bigData })),
      launch,
    ]);
    page = await newPage();
  }, 45_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await Promise.all([server, big].filter(Boolean).map((s) => s.stop()));
    for (const s of [server, big]) if (s) fs.rmSync(s.dataDir, { recursive: true, force: true });
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('serves the page with a strict CSP, asks for a token, and shows the fleet to the operator', async () => {
    const res = await page.goto(`${server.url}/console`, { waitUntil: 'domcontentloaded' });
    expect(res!.status()).toBe(200);
    const csp = res!.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(await page.$$eval('script', (s) => s.map((x) => ({ src: x.getAttribute('src'), inline: (x.textContent ?? '').trim().length })))).toEqual([{ src: '/console/console.js', inline: 0 }]);

    // A wrong token is refused with the service's words; the right one opens the console.
    await page.waitForSelector('#login-token', { visible: true });
    await page.type('#login-token', 'eac_not-a-token');
    await page.click('#login-form button[type=submit]');
    await waitText(page, '#login-error', (t) => t.includes('the bearer token is not valid'), 'a wrong token');
    await signIn(page, TOKENS.operator);
    expect(await page.evaluate(() => sessionStorage.getItem('eac.console.token'))).toBe(TOKENS.operator);

    await waitText(page, '#hosts-totals [data-field=total-cpus]', (t) => t === '48', 'total CPUs of 6 × 8');
    expect(await text(page, '#hosts-totals [data-field=total-usedCpus]')).toBe('2'); // node-2 runs 2 CPUs outside the ledger
    expect(await text(page, '#hosts-totals [data-field=total-reservedCpus]')).toBe('0');
    expect(await text(page, '#hosts-totals [data-field=total-freeCpus]')).toBe('46');
    expect(await text(page, '#hosts-totals [data-field=total-hosts]')).toBe('6');
    // One group (node-1 … node-6 → "node") with the same sums.
    expect(await page.$$eval('#groups-table tbody tr', (rows) => rows.map((r) => Array.from(r.cells).map((c) => c.textContent)))).toEqual([
      ['node', '6', '48', '2', '0', '0', '46', '98,304', '0', '0', '0', '98,304'],
    ]);

    // Clicking the first cell of the heat-map shows that host's numbers.
    const box = (await (await page.$('#hosts-canvas'))!.boundingBox())!;
    await page.mouse.click(box.x + 10, box.y + 10);
    await waitText(page, '#host-detail [data-field=host-id]', (t) => t === 'node-1', 'the clicked host');
    expect(await text(page, '#host-detail [data-field=reservedCpus]')).toBe('0');
    expect(await text(page, '#host-detail [data-field=freeCpus]')).toBe('8');
    await shot(page, '01-hosts-operator');
  });

  let admissionId = '';
  let placedHost = '';
  let placedCpus = 0;

  it("shows a host's usage change after an admission made through the API, without a reload", async () => {
    const answer = await api(server.url, 'POST', '/api/v1/admissions', { token: TOKENS.operator, xml: SM });
    expect(answer.status).toBe(201);
    admissionId = answer.body.services[0].admissionId;
    const record = await api(server.url, 'GET', `/api/v1/admissions/${admissionId}`, { token: TOKENS.operator });
    const first = record.body.hosts[0] as { hostId: string; cpus: number };
    placedHost = first.hostId;
    placedCpus = first.cpus;
    const reserved = (record.body.hosts as { cpus: number }[]).reduce((s, x) => s + x.cpus, 0);
    expect(reserved).toBeGreaterThan(0);

    // The event stream tells the page; it reloads the hosts by itself.
    await waitText(page, '#hosts-totals [data-field=total-reservedCpus]', (t) => t === String(reserved), 'reserved CPUs after the admission');
    expect(await text(page, '#hosts-totals [data-field=total-freeCpus]')).toBe(String(46 - reserved));
    await page.$eval('#hosts-find', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#hosts-find', placedHost);
    await page.keyboard.press('Enter');
    await waitText(page, '#host-detail [data-field=host-id]', (t) => t === placedHost, 'the placed host');
    expect(await text(page, '#host-detail [data-field=reservedCpus]')).toBe(String(placedCpus));
    const used = placedHost === 'node-2' ? 2 : 0;
    expect(await text(page, '#host-detail [data-field=freeCpus]')).toBe(String(8 - used - placedCpus));
    await shot(page, '02-hosts-after-admission');
  });

  it('lists the admission with status, owner, window and decision; its details; the event and the timeline bar', async () => {
    await go(page, 'admissions');
    const row = `#adm-table tbody tr[data-id="${admissionId}"]`;
    await page.waitForSelector(row);
    const cells = await page.$eval(row, (r) => Array.from((r as HTMLTableRowElement).cells).map((c) => c.textContent ?? ''));
    expect(cells.slice(0, 5)).toEqual([admissionId, 'ACTestsDecisionAccepted', 'ops', 'held', 'accepted']);
    expect(cells[5]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\dZ → open$/);
    await page.click(row);
    await waitText(page, '#adm-detail [data-field=id]', (t) => t === admissionId, 'the admission details');
    expect(await text(page, '#adm-detail [data-field=hosts]')).toContain(`${placedHost} (${placedCpus} CPUs`);
    expect(await text(page, '#adm-detail')).toContain('accepted locally');
    // Confirming the offer from the console: it starts now, so it is active at once.
    await page.$eval('#adm-confirm', (b) => (b as HTMLButtonElement).click());
    await waitText(page, `${row} td:nth-child(4)`, (t) => t === 'active', 'the confirmed admission’s status');
    expect((await api(server.url, 'GET', `/api/v1/admissions/${admissionId}`, { token: TOKENS.operator })).body.status).toBe('active');
    await waitText(page, '#adm-detail [data-field=confirmedAt]', (t) => /^\d{4}-/.test(t), 'the confirmation time');

    await go(page, 'events');
    await waitText(page, '#events-state', (t) => t.startsWith('connected'), 'the event stream');
    await waitText(page, '#events-table tbody', (t) => t.includes('admission.held') && t.includes(admissionId), 'the admission.held event');

    await go(page, 'timeline');
    await waitText(page, '#tl-chart', (t) => t.includes('ACTestsDecisionAccepted · ops'), 'the reservation on the timeline');
    expect(await page.$$eval('#tl-chart svg rect', (r) => r.length)).toBe(1);

    // Maintenance: a capacity window taking a whole host for two hours shows on the timeline and in the heat-map.
    const drained = placedHost === 'node-6' ? 'node-5' : 'node-6';
    const now = Date.now();
    const win = await api(server.url, 'POST', '/api/v1/capacity/windows', {
      token: TOKENS.operator,
      json: { hosts: [drained], start: new Date(now).toISOString(), end: new Date(now + 2 * 3600_000).toISOString(), cpusDelta: -8, memoryMbDelta: -16384, reason: 'disk swap' },
    });
    expect(win.status).toBe(201);
    await page.click('#tl-refresh');
    await waitText(page, '#tl-chart', (t) => t.includes('capacity windows') && t.includes('disk swap · 1 hosts · -8 CPUs'), 'the window on the timeline');
    expect(await page.$$eval('#tl-chart svg rect', (r) => r.length)).toBe(2);
    await shot(page, '03-timeline');
    await go(page, 'hosts');
    await page.click('#hosts-refresh');
    await waitText(page, '#hosts-totals [data-field=total-maintenanceCpus]', (t) => t === '8', 'CPUs in maintenance');
    expect(await text(page, '#hosts-totals [data-field=total-hostsInMaintenance]')).toBe('1');
    expect(await text(page, '#hosts-totals [data-field=total-maintenanceMemoryMb]')).toBe('16,384');
    await page.$eval('#hosts-find', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#hosts-find', drained);
    await page.keyboard.press('Enter');
    await waitText(page, '#host-detail [data-field=host-id]', (t) => t === drained, 'the drained host');
    expect(await text(page, '#host-detail [data-field=maintenanceCpus]')).toBe('8');
    expect(await text(page, '#host-detail [data-field=freeCpus]')).toBe('0');
    expect(await text(page, '#host-detail [data-field=freeMemoryMb]')).toBe('0');
    await shot(page, '03-hosts-maintenance');

    await go(page, 'health');
    await waitText(page, '#health-body [data-field=database]', (t) => t.includes('answers'), 'the database line');
    expect(await text(page, '#health-body [data-field=hostInfo]')).toMatch(/: 6 hosts/);
    await shot(page, '03-health');
  });

  it("shows a rejection's every reason in words: the dry-run form, and the decision log for a real one", async () => {
    const expected = await api(server.url, 'POST', '/api/v1/admissions?dryRun=true', { token: TOKENS.operator, xml: BIG });
    expect(expected.status).toBe(200);
    const messages: string[] = expected.body.services[0].components.flatMap((c: { reasons: { message: string }[] }) => c.reasons.map((r) => r.message));
    expect(messages.length).toBeGreaterThan(0);

    await go(page, 'admit');
    await page.$eval('#admit-xml', (e, xml) => ((e as HTMLTextAreaElement).value = xml), BIG);
    await page.click('#admit-form button[type=submit]');
    await waitText(page, '#admit-answer [data-field=decision]', (t) => t === 'rejected', 'the decision');
    const shown = await text(page, '#admit-answer');
    expect(shown).toContain('Dry run: nothing was recorded.');
    for (const m of messages) expect(shown).toContain(m);
    expect(shown).toContain('VM_LARGER_THAN_ANY_HOST');
    const list = await api(server.url, 'GET', '/api/v1/admissions', { token: TOKENS.operator });
    expect(list.body.admissions.map((a: { serviceId: string }) => a.serviceId)).toEqual(['ACTestsDecisionAccepted']);
    await shot(page, '04-rejection-reasons');

    // A real (not dry-run) rejection holds nothing, so it is no admission — but the decision log has it, with its reasons.
    const real = await api(server.url, 'POST', '/api/v1/admissions', { token: TOKENS.operator, xml: BIG });
    expect(real.body.services[0]).toMatchObject({ decision: 'rejected', admissionId: null });
    await go(page, 'decisions');
    await page.select('#dec-decision', 'rejected');
    await page.click('#dec-filter button[type=submit]');
    // The test's own dry run, the console's, and the real one.
    await waitText(page, '#dec-status-line', (t) => t === 'decisions 1–3', 'the three rejections');
    const rows = await page.$$eval('#dec-table tbody tr', (r) => r.map((x) => Array.from((x as HTMLTableRowElement).cells).map((c) => c.textContent ?? '')));
    for (const r of rows) expect([r[1], r[2], r[3], r[7]]).toEqual(['ACTestsDecisionRejected', 'ops', 'rejected', '–']);
    expect(rows.map((r) => r[4]).sort()).toEqual(['no', 'yes', 'yes']);
    for (const r of rows) expect(r[5]).toContain('VM_LARGER_THAN_ANY_HOST');
    const realRow = rows.findIndex((r) => r[4] === 'no');
    await page.click(`#dec-table tbody tr:nth-child(${realRow + 1})`);
    await waitText(page, '#dec-detail [data-field=admissionId]', (t) => t === 'none recorded', 'the rejection’s details');
    const detail = await text(page, '#dec-detail');
    for (const c of real.body.services[0].components as { reasons: { message: string }[] }[]) for (const r of c.reasons) expect(detail).toContain(r.message);
    await shot(page, '04-decisions-rejected');
  });

  it('lets the operator edit the policy; a client is refused with the 403 message and sees only its own admissions', async () => {
    await go(page, 'settings');
    await waitText(page, '#policy-status', (t) => t.startsWith('generation'), 'the policy');
    const weights = { trust: '0.4', eco: '0.2', risk: '0.1', cost: '0.3' };
    for (const [k, v] of Object.entries(weights)) {
      await page.$eval(`#policy-${k}`, (e) => ((e as HTMLInputElement).value = ''));
      await page.type(`#policy-${k}`, v);
    }
    await waitText(page, '#policy-sum', (t) => t.includes('sum to 1 '), 'the weights’ sum');
    await page.click('#policy-save');
    await waitText(page, '#policy-result', (t) => t.startsWith('saved: generation'), 'the operator’s save');
    const saved = await api(server.url, 'GET', '/api/v1/policy', { token: TOKENS.operator });
    expect(saved.body.weights).toEqual({ trust: 0.4, eco: 0.2, risk: 0.1, cost: 0.3 });
    await shot(page, '05-policy-operator');

    // The client's own admission, made through the API.
    const own = await api(server.url, 'POST', '/api/v1/admissions', { token: TOKENS.client, xml: SM.replace('ACTestsDecisionAccepted', 'AcmeService') });
    expect(own.status).toBe(201);

    await page.click('#signout');
    await waitText(page, '#login-error', (t) => t === 'signed out', 'signing out');
    expect(await page.evaluate(() => sessionStorage.getItem('eac.console.token'))).toBeNull();
    await signIn(page, TOKENS.client);

    await go(page, 'settings');
    await waitText(page, '#policy-status', (t) => t.includes('403'), 'the client reading the policy');
    expect(await text(page, '#policy-status')).toContain("principal 'acme' (role client) may not read this view");
    for (const k of Object.keys(weights)) await page.type(`#policy-${k}`, '0.25');
    await page.click('#policy-save');
    const refused = await waitText(page, '#policy-result', (t) => t.startsWith('refused'), 'the client’s save');
    expect(refused).toContain("403 AC_ERR_FORBIDDEN: principal 'acme' (role client) may not change the provider’s settings");
    expect(await page.$eval('#policy-trust', (e) => (e as HTMLInputElement).readOnly)).toBe(true);
    expect(await page.$eval('#policy-save', (e) => (e as HTMLButtonElement).disabled)).toBe(true);
    expect((await api(server.url, 'GET', '/api/v1/policy', { token: TOKENS.operator })).body.weights).toEqual({ trust: 0.4, eco: 0.2, risk: 0.1, cost: 0.3 });
    await shot(page, '06-policy-refused-client');

    // The client's views: its own admission only; the fleet views are the API's refusal in words.
    await go(page, 'admissions');
    await waitText(page, '#adm-table tbody', (t) => t.includes('AcmeService'), 'the client’s admission');
    expect(await text(page, '#adm-status-line')).toBe('admissions 1–1');
    expect(await page.$$eval('#adm-table tbody tr', (rows) => rows.map((r) => (r as HTMLTableRowElement).cells[1]!.textContent))).toEqual(['AcmeService']);
    // The client releases its own admission (the console asks first).
    const ownId = own.body.services[0].admissionId as string;
    await page.click(`#adm-table tbody tr[data-id="${ownId}"]`);
    await page.waitForSelector('#adm-release');
    page.once('dialog', (d) => void d.accept());
    // Clicked inside the page in one step: the details pane re-renders when events arrive, and a button found first and
    // clicked after may be the one it just replaced.
    await page.$eval('#adm-release', (b) => (b as HTMLButtonElement).click());
    await waitText(page, `#adm-table tbody tr[data-id="${ownId}"] td:nth-child(4)`, (t) => t === 'released', 'the released admission');
    expect((await api(server.url, 'GET', `/api/v1/admissions/${ownId}`, { token: TOKENS.operator })).body.status).toBe('released');
    await go(page, 'hosts');
    await waitText(page, '#hosts-status', (t) => t.includes("principal 'acme' (role client) may not read this view"), 'the client on the hosts view');
    await shot(page, '07-client-admissions');
  });

  it('stays light with 5,000 hosts and 10,000 admissions: one canvas, paged lists, the cursor (open mode)', async () => {
    const p = await newPage();
    try {
      const batch = (from: number): string[] => Array.from({ length: 30 }, (_, i) => SM.replace('ACTestsDecisionAccepted', `Svc${String(from + i).padStart(3, '0')}`));
      for (const from of [0, 30]) expect((await api(big.url, 'POST', '/api/v1/admissions', { json: { manifests: batch(from) } })).status).toBe(201);

      const t0 = Date.now();
      await p.goto(`${big.url}/console`, { waitUntil: 'domcontentloaded' });
      await waitText(p, '#hosts-totals [data-field=total-hosts]', (t) => t === '5,000', 'the 5,000 hosts', 15_000);
      const ms = Date.now() - t0;
      expect(await text(p, '#banner')).toContain('Open mode');
      expect(await p.$eval('#login', (e) => (e as HTMLElement).hidden)).toBe(true);
      expect(await text(p, '#hosts-totals [data-field=total-cpus]')).toBe('40,000');
      expect(await text(p, '#hosts-totals [data-field=total-reservedCpus]')).toBe('10,120'); // 10,000 seeded + 60 × 2 one-CPU VMs
      // One canvas, no per-host DOM: the whole page stays small.
      expect(await p.$$eval('canvas', (c) => c.length)).toBe(1);
      expect(await p.evaluate(() => document.querySelectorAll('*').length)).toBeLessThan(1500);
      expect(await p.$eval('#hosts-canvas', (c) => (c as HTMLCanvasElement).height)).toBeGreaterThan(100);
      expect(ms).toBeLessThan(10_000);
      await shot(p, '08-heatmap-5000-hosts');

      // All 10,068 … admissions: the first page of 200, fast, and more behind the cursor.
      const t1 = Date.now();
      await go(p, 'admissions');
      await waitText(p, '#adm-status-line', (t) => t === 'admissions 1–50 (more on the next page)', 'the first page of everything', 10_000);
      await p.select('#adm-limit', '200');
      await p.click('#adm-filter button[type=submit]');
      await waitText(p, '#adm-status-line', (t) => t === 'admissions 1–200 (more on the next page)', 'a page of 200', 10_000);
      await p.click('#adm-next');
      await waitText(p, '#adm-status-line', (t) => t === 'admissions 201–400 (more on the next page)', 'the second page of 200', 10_000);
      expect(Date.now() - t1).toBeLessThan(10_000);
      expect(await p.$$eval('#adm-table tbody tr', (r) => r.length)).toBe(200);
      await go(p, 'timeline');
      await waitText(p, '#tl-status', (t) => t.includes('showing the first 200 reservations'), 'the capped timeline', 10_000);
      expect(await p.$$eval('#tl-chart svg rect', (r) => r.length)).toBe(200);
      await shot(p, '09-timeline-capped');

      // The 60 of owner anonymous, 25 a page.
      await go(p, 'admissions');
      await p.$eval('#adm-owner', (e) => ((e as HTMLInputElement).value = 'anonymous'));
      await p.select('#adm-limit', '25');
      await p.click('#adm-filter button[type=submit]');
      const pageIds = async (): Promise<string[]> => p.$$eval('#adm-table tbody tr', (rows) => rows.map((r) => (r as HTMLTableRowElement).cells[1]!.textContent ?? ''));
      const seen: string[] = [];
      for (const [n, line] of [[25, 'admissions 1–25 (more on the next page)'], [25, 'admissions 26–50 (more on the next page)'], [10, 'admissions 51–60']] as const) {
        await waitText(p, '#adm-status-line', (t) => t === line, `page ${seen.length / 25 + 1}`);
        const ids = await pageIds();
        expect(ids).toHaveLength(n);
        seen.push(...ids);
        if (n === 25) await p.click('#adm-next');
      }
      expect(await p.$eval('#adm-next', (e) => (e as HTMLButtonElement).disabled)).toBe(true);
      expect(new Set(seen).size).toBe(60);
      expect([...seen].sort()).toEqual(Array.from({ length: 60 }, (_, i) => `Svc${String(i).padStart(3, '0')}`));
      await p.click('#adm-prev');
      await waitText(p, '#adm-status-line', (t) => t === 'admissions 26–50 (more on the next page)', 'back one page');
      await shot(p, '10-admissions-paged');
    } finally {
      await p.close();
    }
  });

  it("shows an admission's deployment into OpenNebula with its VM ids, and retries a failed one (open mode)", async () => {
    const stub = await OpenNebulaStub.start(
      [
        { id: 3, name: 'one-1', cpus: 4, memoryMb: 8192 },
        { id: 7, name: 'one-2', cpus: 4, memoryMb: 8192 },
      ],
      [{ id: 20, name: 'web', attributes: { CPU: '1', MEMORY: '512', EAC_COMPONENT: 'c1' } }],
    );
    let one: ServerProcess | undefined;
    const p = await newPage();
    try {
      one = await startServerProcess({ AC_SOLVER: 'greedy', AC_HOST_INFO: 'opennebula', AC_OPENNEBULA_URL: stub.url, AC_OPENNEBULA_AUTH: 'oneadmin:opennebula', AC_DEPLOY: 'opennebula', AC_DEPLOY_POLL_MS: '200' });
      const base = one.url;
      const shop = manyComponentManifest({ serviceId: 'shop', components: 1, vcpus: 1, memoryMb: 512, initial: 2, upperBound: 2 });
      const admitConfirm = async (xml: string): Promise<string> => {
        const answer = await api(base, 'POST', '/api/v1/admissions', { xml });
        expect(answer.status).toBe(201);
        const id = answer.body.services[0].admissionId as string;
        const confirmed = await api(base, 'POST', `/api/v1/admissions/${id}/confirm`);
        expect(confirmed.status).toBe(200);
        expect(confirmed.body.deployment).toMatchObject({ target: 'opennebula', progress: { vms: 2 } });
        return id;
      };
      /** The deployment runs after confirm: polls until it reaches `status`. */
      const until = async (id: string, status: string): Promise<{ status: string; attempts: number; error?: string; vms: { slot: string; componentId: string; hostId: string; state: string; vmId?: number }[] }> => {
        let last: any;
        for (let k = 0; k < 100; k++) {
          last = (await api(base, 'GET', `/api/v1/admissions/${id}/deployment`)).body;
          if (last?.status === status) return last;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`deployment of ${id} never reached ${status}: ${JSON.stringify(last)}`);
      };
      const vmTable = (): Promise<string[][]> => p.$$eval('#adm-detail [data-section=deployment] table tbody tr', (rows) => rows.map((r) => Array.from((r as HTMLTableRowElement).cells).slice(0, 5).map((c) => c.textContent ?? '')));
      const rowsOf = (vms: { slot: string; componentId: string; hostId: string; state: string; vmId?: number }[]): string[][] => vms.map((v) => [v.slot, v.componentId, v.hostId, v.state, v.vmId === undefined ? '–' : String(v.vmId)]);

      const good = await admitConfirm(shop);
      const deployed = await until(good, 'deployed');
      expect(deployed.vms.map((v) => v.vmId).sort()).toEqual(stub.live().map((v) => v.id).sort());
      stub.failOn('one.vm.deploy', { message: '[one.vm.deploy] Host capacity exceeded.', code: ACTION });
      const bad = await admitConfirm(manyComponentManifest({ serviceId: 'shop-b', components: 1, vcpus: 1, memoryMb: 512, initial: 2, upperBound: 2 }));
      const failed = await until(bad, 'deploy_failed');

      await p.goto(`${base}/console#admissions`, { waitUntil: 'domcontentloaded' });
      await p.waitForSelector(`#adm-table tbody tr[data-id="${good}"]`);
      await p.click(`#adm-table tbody tr[data-id="${good}"]`);
      const section = '#adm-detail [data-section=deployment]';
      await waitText(p, `${section} [data-field=deployment-status]`, (t) => t === 'deployed', 'the deployed admission’s deployment');
      expect(await text(p, `${section} h3`)).toBe('Deployment');
      expect(await text(p, `${section} [data-field=deployment-attempts]`)).toBe('1');
      expect(await text(p, `${section} [data-field=deployment-progress]`)).toBe('2 of 2 VMs deployed, 0 pending, 0 lost, 0 removed, 0 terminated');
      expect(await p.$(`${section} [data-field=deployment-error]`)).toBeNull();
      expect(await p.$$eval(`${section} table thead th`, (th) => th.map((x) => x.textContent))).toEqual(['Slot', 'Component', 'Host', 'State', 'OpenNebula VM id', 'Error']);
      expect(await vmTable()).toEqual(rowsOf(deployed.vms));
      expect(await p.$('#adm-deploy')).toBeNull(); // nothing to retry
      await shot(p, '11-deployment-deployed');

      await p.click(`#adm-table tbody tr[data-id="${bad}"]`);
      await waitText(p, `${section} [data-field=deployment-status]`, (t) => t === 'deploy_failed', 'the failed deployment');
      expect(await text(p, `${section} [data-field=deployment-error]`)).toBe(failed.error);
      expect(failed.error).toContain('Host capacity exceeded.');
      expect(await vmTable()).toEqual(rowsOf(failed.vms));
      await p.waitForSelector(`${section} #adm-deploy`);
      expect(await text(p, '#adm-deploy')).toBe('Retry deployment');
      await shot(p, '12-deployment-failed');
      await p.$eval('#adm-deploy', (b) => (b as HTMLButtonElement).click());
      // The retry, then the deployment's events: the details follow by themselves.
      await waitText(p, `${section} [data-field=deployment-status]`, (t) => t === 'deployed', 'the retried deployment', 15_000);
      const retried = await until(bad, 'deployed');
      expect(retried.attempts).toBe(2);
      await waitText(p, `${section} [data-field=deployment-attempts]`, (t) => t === '2', 'the second attempt');
      expect(await vmTable()).toEqual(rowsOf(retried.vms));
      expect(retried.vms.every((v) => v.vmId !== undefined && stub.vms.get(v.vmId)?.state === 3)).toBe(true);
      expect(await p.$('#adm-deploy')).toBeNull();
      await shot(p, '13-deployment-retried');
    } finally {
      await p.close();
      await one?.stop();
      if (one) fs.rmSync(one.dataDir, { recursive: true, force: true });
      await stub.close();
    }
  });

  it('never put the token in a URL and met no script or CSP error', () => {
    expect(requested.length).toBeGreaterThan(10);
    for (const url of requested) {
      expect(url).not.toContain(TOKENS.operator);
      expect(url).not.toContain(TOKENS.client);
      expect(new URL(url).hostname).toBe('127.0.0.1');
    }
    // The refusals the test provoked (401 wrong token, 403 for the client) are the only console errors.
    expect(pageErrors.filter((e) => !/status of (401|403)/.test(e))).toEqual([]);
  });
});
