/**
 * host-info: the JSON inventory (validation messages, reload on change, the bundled fleet), the PhysicalHosts XML provider
 * and the OpenNebula XML-RPC provider against stub servers on 127.0.0.1 (healthy, slow, down, garbage, stale cache).
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import { AdmissionError } from '../model/errors';
import { childElements, firstChild, parseXml, textOf } from '../xml/safe-xml';
import {
  createHostInfoProvider,
  defaultInventoryPath,
  InventoryProvider,
  OpenNebulaProvider,
  parseHostPool,
  parseInventory,
  parsePhysicalHosts,
  PhysicalHostsProvider,
  type HostCapacity,
} from '../host-info';
import { makeDefaultInventory, renderInventory } from '../host-info/make-default-inventory';
import { closedPort } from './support/stubs';

const FIXTURES = path.join(__dirname, 'fixtures', 'hosts');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<AdmissionError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    if (error instanceof AdmissionError) return error;
    throw error;
  }
  throw new Error('expected an AdmissionError, but nothing was thrown');
}

const servers: Server[] = [];
async function listen(app: express.Express): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let scratch = '';
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'host-info-test-'));
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

// =============================================================================================
// Inventory

describe('inventory file', () => {
  let n = 0;
  const write = (content: unknown): string => {
    const file = path.join(scratch, `inventory-${++n}.json`);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  };
  const host = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id, cpus: 16, usedCpus: 2, ...extra });

  it('reads a valid file: memory, eco and risk optional', async () => {
    const file = write({
      comment: 'test fleet',
      hosts: [
        { id: 'h1', cpus: 16, usedCpus: 2, memoryMb: 65536, usedMemoryMb: 1024, eco: 4.5, risk: 0.01 },
        { id: 'h2', cpus: 8, usedCpus: 8 },
        { id: 'h3.dc1', cpus: 64, usedCpus: 0, memoryMb: 524288, usedMemoryMb: 0 },
      ],
    });
    const provider = createHostInfoProvider({ kind: 'inventory', path: file });
    expect(provider.name).toBe('inventory');
    const hosts = await provider.listHosts();
    expect(hosts).toEqual([
      { id: 'h1', cpus: 16, usedCpus: 2, memoryMb: 65536, usedMemoryMb: 1024, eco: 4.5, risk: 0.01 },
      { id: 'h2', cpus: 8, usedCpus: 8 },
      { id: 'h3.dc1', cpus: 64, usedCpus: 0, memoryMb: 524288, usedMemoryMb: 0 },
    ]);
    // One frozen snapshot, shared by every caller until the file changes: nobody can change it for the others.
    expect(Object.isFrozen(hosts) && hosts.every((h) => Object.isFrozen(h))).toBe(true);
    expect(() => {
      (hosts[0] as { usedCpus: number }).usedCpus = 99;
    }).toThrow(TypeError);
    expect(await provider.listHosts()).toBe(hosts);
    expect(provider.status!()).toMatchObject({ provider: 'inventory', source: file, ok: true, stale: false, hosts: 3 });
  });

  // One case per kind of bad file, with the exact message. `F` stands for the file path.
  const badFiles: [string, unknown, string][] = [
    ['used > total', { hosts: [host('h1'), host('h2'), host('h3'), host('h4', { usedCpus: 17 })] }, 'F: hosts[3].usedCpus: must be ≤ cpus (16)'],
    ['duplicate id', { hosts: [host('h1'), host('h2'), host('h1')] }, 'F: hosts[2].id: duplicate id "h1" (also hosts[0])'],
    ['missing field', { hosts: [host('h1'), { id: 'h2', usedCpus: 0 }] }, 'F: hosts[1].cpus: is required'],
    ['wrong type', { hosts: [host('h1', { cpus: '16' })] }, 'F: hosts[0].cpus: must be a number (got "16")'],
    ['negative', { hosts: [host('h1', { usedCpus: -1 })] }, 'F: hosts[0].usedCpus: must be ≥ 0'],
    ['fraction', { hosts: [host('h1', { cpus: 7.5 })] }, 'F: hosts[0].cpus: must be a whole number'],
    ['empty id', { hosts: [host('')] }, 'F: hosts[0].id: must not be empty'],
    ['risk out of range', { hosts: [host('h1', { risk: 1.5 })] }, 'F: hosts[0].risk: must be between 0 and 1'],
    ['memory without used', { hosts: [host('h1', { memoryMb: 1024 })] }, 'F: hosts[0].usedMemoryMb: is required when memoryMb is given'],
    ['used memory > total', { hosts: [host('h1', { memoryMb: 1024, usedMemoryMb: 2048 })] }, 'F: hosts[0].usedMemoryMb: must be ≤ memoryMb (1024)'],
    [
      'misspelt field',
      { hosts: [{ id: 'h1', cpus: 16, usedCPUs: 2 }] },
      'F: hosts[0].usedCpus: is required (and 1 more problem)',
    ],
    ['host not an object', { hosts: [host('h1'), 'h2'] }, 'F: hosts[1]: must be an object (got "h2")'],
    ['no hosts', { hosts: [] }, 'F: hosts: must list at least one host'],
    ['hosts missing', { host: [] }, 'F: host: is not a known field (hosts, comment) (and 1 more problem)'],
    ['hosts not an array', { hosts: { h1: {} } }, 'F: hosts: must be an array (got an object)'],
    ['top level is an array', [host('h1')], 'F: must be a JSON object {"hosts": [...]} (got an array)'],
  ];
  it.each(badFiles)('rejects a bad file (%s) with AC_ERR_CONFIG and the exact message', async (_name, content, message) => {
    const file = write(content);
    const error = await errorOf(new InventoryProvider(file).listHosts());
    expect(error.code).toBe('AC_ERR_CONFIG');
    expect(error.message).toBe(message.replace(/^F/, file));
  });

  it('lists every problem in the details, and names the misspelt field', () => {
    const error = (() => {
      try {
        parseInventory(JSON.stringify({ hosts: [{ id: 'h1', cpus: 16, usedCPUs: 2 }, host('h2', { cpus: -4, usedCpus: 0 }), host('h1')] }), 'inv.json');
      } catch (e) {
        return e as AdmissionError;
      }
      throw new Error('no error');
    })();
    expect(error.message).toBe('inv.json: hosts[0].usedCpus: is required (and 3 more problems)');
    expect(error.details).toEqual([
      { field: 'inv.json: hosts[0].usedCpus', reason: 'is required' },
      { field: 'inv.json: hosts[0].usedCPUs', reason: 'is not a known field (id, cpus, usedCpus, memoryMb, usedMemoryMb, eco, risk, capabilities)' },
      { field: 'inv.json: hosts[1].cpus', reason: 'must be ≥ 0' },
      { field: 'inv.json: hosts[2].id', reason: 'duplicate id "h1" (also hosts[0])' },
    ]);
  });

  it('reports invalid JSON with its position, and a missing file', async () => {
    const file = write('{"hosts": [\n  {"id": "h1", "cpus": 16, "usedCpus": 2},\n]}');
    const error = await errorOf(new InventoryProvider(file).listHosts());
    expect(error.code).toBe('AC_ERR_CONFIG');
    expect(error.message).toBe(`${file}: not valid JSON at line 3, column 1: unexpected "]", expected a value`);
    const cases: [string, string][] = [
      ['{"hosts": [}', 'at line 1, column 12: unexpected "}", expected a value'],
      ['{"hosts": [{"id": "a\nb"}]}', 'at line 1, column 21: control character (such as a line break) inside a string'],
      ["{'hosts': []}", `at line 1, column 2: unexpected "'", expected a property name in double quotes`],
      ['{"hosts": []} x', 'at line 1, column 15: unexpected "x", expected the end of the file'],
      ['{"hosts": [', 'at line 1, column 12: unexpected end of file, expected a value'],
    ];
    for (const [text, where] of cases) {
      expect(() => parseInventory(text, 'inv.json')).toThrow(`inv.json: not valid JSON ${where}`);
    }

    const missing = path.join(scratch, 'nope.json');
    const e2 = await errorOf(new InventoryProvider(missing).listHosts());
    expect(e2.code).toBe('AC_ERR_CONFIG');
    expect(e2.message).toBe(`${missing}: the inventory file does not exist`);
  });

  it('reads the file once, and again when it changes on disk (mtime)', async () => {
    const file = write({ hosts: [host('h1', { usedCpus: 2 })] });
    // Whole-millisecond times, so that setting the same time again gives the same mtime (the file system keeps ns).
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    fs.utimesSync(file, mtime, mtime);
    const provider = new InventoryProvider(file, 0); // check the file on every call
    expect((await provider.listHosts())[0]!.usedCpus).toBe(2);

    // Same size, same mtime: the cached copy is served (proves the file is not re-read on every call).
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"usedCpus": 2', '"usedCpus": 3'));
    fs.utimesSync(file, mtime, mtime);
    expect((await provider.listHosts())[0]!.usedCpus).toBe(2);

    // An operator's edit (new mtime): read again.
    const later = new Date(mtime.getTime() + 5000);
    fs.utimesSync(file, later, later);
    expect((await provider.listHosts())[0]!.usedCpus).toBe(3);

    // Broken by an edit: the error is reported (not the old contents), and status() says so.
    fs.writeFileSync(file, JSON.stringify({ hosts: [host('h1', { usedCpus: 40 })] }));
    fs.utimesSync(file, new Date(later.getTime() + 5000), new Date(later.getTime() + 5000));
    const error = await errorOf(provider.listHosts());
    expect(error.message).toBe(`${file}: hosts[0].usedCpus: must be ≤ cpus (16)`);
    expect(provider.status()).toMatchObject({ ok: false, lastError: { code: 'AC_ERR_CONFIG', message: error.message } });

    // Fixed again.
    fs.writeFileSync(file, JSON.stringify({ hosts: [host('h1', { usedCpus: 4 }), host('h2')] }));
    fs.utimesSync(file, new Date(later.getTime() + 10000), new Date(later.getTime() + 10000));
    expect((await provider.listHosts()).map((h) => [h.id, h.usedCpus])).toEqual([
      ['h1', 4],
      ['h2', 2],
    ]);
    expect(provider.status()).toMatchObject({ ok: true, hosts: 2 });
  });

  it('bundles a default mixed fleet of ≥ 200 hosts that loads, and is exactly the generator output', async () => {
    const file = defaultInventoryPath();
    expect(fs.existsSync(file)).toBe(true);
    const hosts = await createHostInfoProvider({ kind: 'inventory', path: file }).listHosts();
    expect(hosts.length).toBeGreaterThanOrEqual(200);
    expect(new Set(hosts.map((h) => h.cpus))).toEqual(new Set([16, 24, 32, 48, 64]));
    const memGb = hosts.map((h) => h.memoryMb! / 1024);
    expect(Math.min(...memGb)).toBe(64);
    expect(Math.max(...memGb)).toBe(512);
    const full = hosts.filter((h) => h.usedCpus === h.cpus).length;
    const idle = hosts.filter((h) => h.usedCpus === 0).length;
    const busy = hosts.filter((h) => h.usedCpus / h.cpus > 0.85 && h.usedCpus < h.cpus).length;
    expect(full).toBeGreaterThanOrEqual(5);
    expect(idle).toBeGreaterThanOrEqual(10);
    expect(busy).toBeGreaterThanOrEqual(10);
    for (const h of hosts) {
      expect(h.eco).toEqual(expect.any(Number));
      expect(h.risk).toBeGreaterThan(0);
      expect(h.risk).toBeLessThan(0.1);
      expect(h.usedMemoryMb).toBeLessThanOrEqual(h.memoryMb!);
    }
    // Committed output = generator output (deterministic, seeded).
    expect(fs.readFileSync(file, 'utf8')).toBe(renderInventory(makeDefaultInventory()));
    expect(makeDefaultInventory(7)).not.toEqual(makeDefaultInventory());
  });
});

// =============================================================================================
// PhysicalHosts XML over HTTP

describe('PhysicalHosts provider', () => {
  const SAMPLE = fixture('PhysicalHostsInfo-example.xml');
  const AC_ONE =
    '<PhysicalHosts><PhysicalHost id="node01" maxCores="8" availableCores="5"></PhysicalHost>' +
    '<PhysicalHost id="node02" maxCores="16" availableCores="16"></PhysicalHost>' +
    '<PhysicalHost id="node03" maxCores="4" availableCores="0"></PhysicalHost>' +
    // Overcommitted: AC_ONE computes (MAX_CPU − CPU_USAGE)/100, negative here.
    '<PhysicalHost id="node04" maxCores="4" availableCores="-2"></PhysicalHost></PhysicalHosts>';
  let base = '';
  let downUrl = '';
  const hits: Record<string, number> = {};
  let flaky: 'ok' | 'fail' | 'html' = 'ok';

  beforeAll(async () => {
    const app = express();
    app.use((req, _res, next) => {
      hits[req.path] = (hits[req.path] ?? 0) + 1;
      next();
    });
    const xml = (body: string) => (_req: express.Request, res: express.Response) => {
      // AC_PhHostsInfo_aaS answers text/plain.
      res.type('text/plain').send(body);
    };
    app.get('/PhysicalHostsInfo/getXML/co/8080', xml(SAMPLE));
    app.get('/acone', xml(AC_ONE));
    app.get('/mixed', xml(
      '<PhysicalHosts IP_Id="umu">\n' +
      '  <PhysicalHost id="a" maxCores="8" usedCores="10" maxMemoryInGigabytes="16" freeMemoryInGigabytes="-2"/>\n' +
      '  <PhysicalHost id="b" maxCores="8" usedCores="2.5" maxMemoryInGigabytes="15.5" freeMemoryInGigabytes="3.25"/>\n' +
      '</PhysicalHosts>',
    ));
    app.get('/html', (_req, res) => {
      res.type('text/html').send('<!DOCTYPE html>\n<html><head><title>Squid: Access Denied</title></head><body><h1>Access denied</h1></body></html>');
    });
    app.get('/truncated', xml(SAMPLE.slice(0, 150)));
    app.get('/negative', xml(SAMPLE.replace('usedCores="0"', 'usedCores="-2"')));
    app.get('/missing', xml('<PhysicalHosts IP_Id="atos"><PhysicalHost id="x" usedCores="0"/></PhysicalHosts>'));
    app.get('/wrong-root', xml('<listStrings><list>optimis1</list></listStrings>'));
    app.get('/duplicate', xml(SAMPLE.replace('id="optimis2"', 'id="optimis1"')));
    app.get('/error', (_req, res) => {
      res.status(500).type('text/plain').send('java.lang.RuntimeException: Failed : HTTP error code : 404');
    });
    app.get('/slow', (_req, res) => {
      const t = setTimeout(() => res.type('text/plain').send(SAMPLE), 3000);
      res.on('close', () => clearTimeout(t));
    });
    app.get('/counted', (_req, res) => {
      setTimeout(() => res.type('text/plain').send(SAMPLE), 100);
    });
    app.get('/flaky', (_req, res) => {
      if (flaky === 'ok') res.type('text/plain').send(SAMPLE);
      else if (flaky === 'html') res.type('text/html').send('<html><body>maintenance</body></html>');
      else res.status(503).send('Service Unavailable');
    });
    base = await listen(app);

    downUrl = `http://127.0.0.1:${await closedPort()}/PhysicalHostsInfo/getXML/co/8080`;
  });

  const provider = (url: string, extra: { timeoutMs?: number; cacheTtlMs?: number; maxStaleMs?: number } = {}, clock?: () => number) =>
    new PhysicalHostsProvider(
      { kind: 'physical-hosts', url, timeoutMs: extra.timeoutMs ?? 2000, cacheTtlMs: extra.cacheTtlMs ?? 0, ...(extra.maxStaleMs !== undefined ? { maxStaleMs: extra.maxStaleMs } : {}) },
      clock ? { clock } : {},
    );

  it('reads the OPTIMIS sample (memoryMb = 1024 × GB)', async () => {
    const p = createHostInfoProvider({ kind: 'physical-hosts', url: `${base}/PhysicalHostsInfo/getXML/co/8080`, timeoutMs: 2000, cacheTtlMs: 30000 });
    expect(p.name).toBe('physical-hosts');
    expect(await p.listHosts()).toEqual([
      { id: 'optimis1', cpus: 8, usedCpus: 0, memoryMb: 16384, usedMemoryMb: 0 },
      { id: 'optimis2', cpus: 8, usedCpus: 0, memoryMb: 16384, usedMemoryMb: 0 },
    ]);
    expect(p.status!()).toMatchObject({ provider: 'physical-hosts', ok: true, stale: false, hosts: 2 });
  });

  it("reads AC_ONE's variant (availableCores, no memory): used = max − available", async () => {
    expect(await provider(`${base}/acone`).listHosts()).toEqual([
      { id: 'node01', cpus: 8, usedCpus: 3 },
      { id: 'node02', cpus: 16, usedCpus: 0 },
      { id: 'node03', cpus: 4, usedCpus: 4 },
      { id: 'node04', cpus: 4, usedCpus: 4 },
    ]);
  });

  it('clamps used figures to the total (negative free memory, as OPTIMIS emits when overcommitted) and rounds against us', async () => {
    expect(await provider(`${base}/mixed`).listHosts()).toEqual([
      { id: 'a', cpus: 8, usedCpus: 8, memoryMb: 16384, usedMemoryMb: 16384 },
      { id: 'b', cpus: 8, usedCpus: 3, memoryMb: 15872, usedMemoryMb: 12544 },
    ]);
  });

  it('shares one in-flight request between concurrent callers, and caches for cacheTtlMs', async () => {
    const p = provider(`${base}/counted`, { cacheTtlMs: 60_000 });
    const before = hits['/counted'] ?? 0;
    const answers = await Promise.all([p.listHosts(), p.listHosts(), p.listHosts(), p.listHosts(), p.listHosts()]);
    expect(answers.every((a) => a.length === 2)).toBe(true);
    // One frozen snapshot for every caller while it is cached (the gateway memoises its host model on it).
    const again = await p.listHosts();
    expect(answers.every((a) => a === again) && Object.isFrozen(again) && again.every((h) => Object.isFrozen(h))).toBe(true);
    expect(hits['/counted']! - before).toBe(1);
  });

  it('slow source: AC_ERR_TIMEOUT at about the timeout, naming the URL', async () => {
    const started = Date.now();
    const error = await errorOf(provider(`${base}/slow`, { timeoutMs: 300 }).listHosts());
    const elapsed = Date.now() - started;
    expect(error.code).toBe('AC_ERR_TIMEOUT');
    expect(error.message).toBe(`PhysicalHosts service ${base}/slow: no complete answer within 300 ms`);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1300);
  });

  it("a caller's own signal stops its wait", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const error = await errorOf(provider(`${base}/slow`, { timeoutMs: 5000 }).listHosts(controller.signal));
    expect(error.code).toBe('AC_ERR_TIMEOUT');
    expect(error.message).toMatch(/the caller cancelled the request$/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('source down: AC_ERR_UPSTREAM "connection refused"', async () => {
    const error = await errorOf(provider(downUrl).listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message).toBe(`PhysicalHosts service ${downUrl}: connection refused (ECONNREFUSED)`);
  });

  it('HTTP error status: AC_ERR_UPSTREAM with the status and the first words of the body', async () => {
    const error = await errorOf(provider(`${base}/error`).listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message).toBe(
      `PhysicalHosts service ${base}/error: answered HTTP 500 Internal Server Error (java.lang.RuntimeException: Failed : HTTP error code : 404)`,
    );
  });

  const garbage: [string, string][] = [
    ['/html', 'the answer is an HTML page, not XML ("Squid: Access Denied")'],
    ['/truncated', 'the answer is not well-formed XML ('],
    ['/negative', 'invalid answer: PhysicalHost[1]@usedCores: is negative (-2)'],
    ['/missing', 'invalid answer: PhysicalHost[1]@maxCores: is missing'],
    ['/wrong-root', 'the answer is not a PhysicalHosts document (root element <listStrings>)'],
    ['/duplicate', 'invalid answer: PhysicalHost[2]@id: duplicate id "optimis1" (also PhysicalHost[1])'],
  ];
  it.each(garbage)('garbage (%s): AC_ERR_UPSTREAM naming the URL and the problem', async (route, problem) => {
    const error = await errorOf(provider(`${base}${route}`).listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message.startsWith(`PhysicalHosts service ${base}${route}: ${problem}`)).toBe(true);
  });

  it('parses documents directly too (unit level): both memory attributes or none', () => {
    const e = (xml: string): string => {
      try {
        parsePhysicalHosts(xml);
      } catch (error) {
        return (error as AdmissionError).message;
      }
      return 'no error';
    };
    expect(e('<PhysicalHosts><PhysicalHost id="a" maxCores="4" usedCores="1" maxMemoryInGigabytes="8"/></PhysicalHosts>')).toBe(
      'PhysicalHosts document: invalid answer: PhysicalHost[1]@freeMemoryInGigabytes: is missing (maxMemoryInGigabytes is given)',
    );
    expect(e('<PhysicalHosts><PhysicalHost id="a" maxCores="four" usedCores="1"/><PhysicalHost maxCores="1" usedCores="1"/></PhysicalHosts>')).toBe(
      'PhysicalHosts document: invalid answer: PhysicalHost[1]@maxCores: is not a number ("four") (and 1 more problem)',
    );
    expect(e('<!DOCTYPE x [<!ENTITY a "b">]><PhysicalHosts/>')).toMatch(/^PhysicalHosts document: the answer uses refused XML constructs/);
    expect(e('')).toBe('PhysicalHosts document: the answer is empty');
    expect(parsePhysicalHosts('<PhysicalHosts IP_Id="x"/>')).toEqual([]);
  });

  it('serves the previous answer for a bounded time when a refresh fails, and reports it in status()', async () => {
    let now = 1_000_000;
    const p = provider(`${base}/flaky`, { cacheTtlMs: 1000, maxStaleMs: 5000 }, () => now);
    const count = (): number => hits['/flaky'] ?? 0;
    flaky = 'ok';
    const good = await p.listHosts();
    expect(good).toHaveLength(2);
    const c0 = count();

    now += 500; // fresh
    expect(await p.listHosts()).toEqual(good);
    expect(count()).toBe(c0);

    flaky = 'fail';
    now += 1000; // expired; the refresh fails → stale answer
    expect(await p.listHosts()).toEqual(good);
    expect(count()).toBe(c0 + 1);
    const st = p.status();
    expect(st).toMatchObject({ ok: false, stale: true, hosts: 2, ageMs: 1500 });
    expect(st.lastError).toMatchObject({ code: 'AC_ERR_UPSTREAM' });
    expect(st.lastError!.message).toBe(`PhysicalHosts service ${base}/flaky: answered HTTP 503 Service Unavailable (Service Unavailable)`);

    now += 300; // a failure less than cacheTtlMs ago: answer at once, without asking the dead source again
    expect(await p.listHosts()).toEqual(good);
    expect(count()).toBe(c0 + 1);

    flaky = 'html';
    now += 1000; // asked again, garbage this time, still within the stale bound
    expect(await p.listHosts()).toEqual(good);
    expect(count()).toBe(c0 + 2);
    expect(p.status().lastError!.message).toMatch(/HTML page/);

    now = 1_000_000 + 6001; // older than cacheTtlMs + maxStaleMs: the error surfaces
    const error = await errorOf(p.listHosts());
    expect(error.code).toBe('AC_ERR_HOST_INFO_STALE');
    expect(p.status()).toMatchObject({ ok: false });

    flaky = 'ok';
    now += 100;
    expect(await p.listHosts()).toEqual(good);
    expect(p.status()).toMatchObject({ ok: true, stale: false, ageMs: 0 });
    expect(p.status().lastError).toBeUndefined();
  });

  it('maxStaleMs 0 never serves stale answers', async () => {
    let now = 0;
    const p = provider(`${base}/flaky`, { cacheTtlMs: 1000, maxStaleMs: 0 }, () => now);
    flaky = 'ok';
    await p.listHosts();
    flaky = 'fail';
    now = 1001;
    expect((await errorOf(p.listHosts())).code).toBe('AC_ERR_HOST_INFO_STALE');
    flaky = 'ok';
  });

  it('rejects bad configuration with AC_ERR_CONFIG', async () => {
    expect((await errorOf(() => createHostInfoProvider({ kind: 'physical-hosts', url: 'ftp://x/y', timeoutMs: 1, cacheTtlMs: 0 }))).message).toBe(
      'physical-hosts: url must be http or https (got ftp:)',
    );
    expect((await errorOf(() => createHostInfoProvider({ kind: 'physical-hosts', url: base, timeoutMs: 0, cacheTtlMs: 0 }))).code).toBe('AC_ERR_CONFIG');
    expect((await errorOf(() => createHostInfoProvider({ kind: 'nfs' } as never))).message).toBe(
      'host-info: unknown provider kind "nfs" (inventory, physical-hosts, opennebula)',
    );
  });
});

// =============================================================================================
// OpenNebula XML-RPC

describe('OpenNebula provider', () => {
  const AUTH = 'oneadmin:s3cr3t-Pa55';
  const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const success = (hostPool: string): string =>
    '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n<param><value><array><data>\r\n' +
    '<value><boolean>1</boolean></value>\r\n' +
    `<value><string>${escape(hostPool)}</string></value>\r\n` +
    '<value><i4>0</i4></value>\r\n<value><i4>-1</i4></value>\r\n' +
    '</data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n';
  const failure = (message: string, code: number): string =>
    '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n<param><value><array><data>\r\n' +
    '<value><boolean>0</boolean></value>\r\n' +
    `<value><string>${escape(message)}</string></value>\r\n` +
    `<value><i4>${code}</i4></value>\r\n` +
    '</data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n';
  const FAULT =
    '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<fault>\r\n<value><struct>\r\n' +
    '<member><name>faultCode</name>\r\n<value><i4>-506</i4></value></member>\r\n' +
    "<member><name>faultString</name>\r\n<value><string>Method 'one.hostpool.info' not defined</string></value></member>\r\n" +
    '</struct></value>\r\n</fault>\r\n</methodResponse>\r\n';

  let base = '';
  let answer = '';
  const received: { path: string; contentType: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    const app = express();
    app.use(express.text({ type: () => true }));
    app.post('/RPC2', (req, res) => {
      received.push({ path: req.path, contentType: req.headers['content-type'], body: String(req.body) });
      res.type('text/xml').send(answer);
    });
    app.post('/slow', (_req, res) => {
      const t = setTimeout(() => res.type('text/xml').send(answer), 3000);
      res.on('close', () => clearTimeout(t));
    });
    base = await listen(app);
  });

  const provider = (route = '/RPC2', timeoutMs = 2000) =>
    new OpenNebulaProvider({ kind: 'opennebula', url: `${base}${route}`, auth: AUTH, timeoutMs, cacheTtlMs: 0 });

  it('sends one.hostpool.info with the session string as its only parameter', async () => {
    answer = success(fixture('one-hostpool-6.x.xml'));
    received.length = 0;
    await provider().listHosts();
    expect(received).toHaveLength(1);
    const call = received[0]!;
    expect(call.contentType).toMatch(/^text\/xml/);
    const root = parseXml(call.body).root;
    expect(root.local).toBe('methodCall');
    expect(textOf(firstChild(root, '', 'methodName')!)).toBe('one.hostpool.info');
    const params = childElements(firstChild(root, '', 'params')!, '', 'param');
    expect(params).toHaveLength(1);
    const str = firstChild(firstChild(params[0]!, '', 'value')!, '', 'string')!;
    expect(textOf(str)).toBe(AUTH);
  });

  it('reads an older release (MAX_CPU, CPU_USAGE, FREE_CPU…): skips ERROR/DISABLED/MONITORING_ERROR, clamps overcommitment', async () => {
    answer = success(fixture('one-hostpool-4.x.xml'));
    const p = createHostInfoProvider({ kind: 'opennebula', url: `${base}/RPC2`, auth: AUTH, timeoutMs: 2000, cacheTtlMs: 0 });
    expect(p.name).toBe('opennebula');
    expect(await p.listHosts()).toEqual([
      // 800 → 8 CPUs, usage 250 → 3 (rounded up), 16330240 KB → 15947 MB (down), 4194304 KB → 4096 MB
      { id: 'node01', cpus: 8, usedCpus: 3, memoryMb: 15947, usedMemoryMb: 4096 },
      { id: 'node02', cpus: 16, usedCpus: 0, memoryMb: 32212, usedMemoryMb: 0 },
      { id: 'node05', cpus: 0, usedCpus: 0, memoryMb: 0, usedMemoryMb: 0 },
      // CPU_USAGE 1000 on MAX_CPU 800 and MEM_USAGE above MAX_MEM: clamped to "nothing free"
      { id: 'node07', cpus: 8, usedCpus: 8, memoryMb: 15947, usedMemoryMb: 15947 },
    ]);
    expect(p.status!()).toMatchObject({
      ok: true,
      hosts: 4,
      notes: ['skipped 3 hosts not usable in their state: node03 (ERROR), node04 (DISABLED), node06 (MONITORING_ERROR)'],
    });
  });

  it('reads a newer release (TOTAL_CPU, MAX_CPU net of reservations, NUMA, PCI…): skips MONITORING_DISABLED/OFFLINE/ERROR', async () => {
    answer = success(fixture('one-hostpool-6.x.xml'));
    const p = provider();
    expect(await p.listHosts()).toEqual([
      // MAX_CPU 4600 (TOTAL 4800 minus 200 reserved) → 46; 259661820 KB → 253575 MB
      { id: 'kvm-node-01.dc1', cpus: 46, usedCpus: 4, memoryMb: 253575, usedMemoryMb: 8192 },
      // MONITORING_INIT is usable; CPU_USAGE 150 → 2, MEM_USAGE 3145729 KB → 3073 MB (rounded up)
      { id: 'kvm-node-02.dc1', cpus: 64, usedCpus: 2, memoryMb: 515898, usedMemoryMb: 3073 },
    ]);
    expect(p.status().notes).toEqual([
      'skipped 3 hosts not usable in their state: kvm-node-03.dc1 (MONITORING_DISABLED), kvm-node-04.dc1 (OFFLINE), kvm-node-05.dc1 (ERROR)',
    ]);
  });

  it('an XML-RPC fault becomes AC_ERR_UPSTREAM with the fault message', async () => {
    answer = FAULT;
    const error = await errorOf(provider().listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message).toBe(`OpenNebula ${base}/RPC2: XML-RPC fault -506: Method 'one.hostpool.info' not defined`);
  });

  it('a [false, message, code] answer becomes AC_ERR_UPSTREAM with OpenNebula\'s message and code', async () => {
    answer = failure("[one.hostpool.info] User couldn't be authenticated, aborting call.", 256);
    const error = await errorOf(provider().listHosts());
    expect(error.code).toBe('AC_ERR_UPSTREAM');
    expect(error.message).toBe(
      `OpenNebula ${base}/RPC2: one.hostpool.info failed: [one.hostpool.info] User couldn't be authenticated, aborting call. (error code 256 AUTHENTICATION)`,
    );
  });

  it('never lets the session string into a message, even when the server echoes it', async () => {
    answer = failure(`bad session "${AUTH}" (password s3cr3t-Pa55)`, 256);
    const p = provider();
    const error = await errorOf(p.listHosts());
    const everything = JSON.stringify([error.message, error.details, p.status()]);
    expect(everything).not.toContain('s3cr3t');
    expect(error.message).toContain('bad session "***" (password ***)');
  });

  it('garbage and slowness: AC_ERR_UPSTREAM / AC_ERR_TIMEOUT', async () => {
    answer = '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>';
    expect((await errorOf(provider().listHosts())).message).toBe(`OpenNebula ${base}/RPC2: the answer is an HTML page, not XML ("502 Bad Gateway")`);

    answer = success('<HOST_POOL><HOST><ID>0</ID><NAME>n1</NAME><STATE>2</STATE><HOST_SHARE><MAX_CPU>-800</MAX_CPU></HOST_SHARE></HOST></HOST_POOL>');
    expect((await errorOf(provider().listHosts())).message).toBe(
      `OpenNebula ${base}/RPC2: invalid HOST_POOL: HOST[1] "n1"/HOST_SHARE/MAX_CPU: is negative (-800) (and 3 more problems)`,
    );

    answer = success('<HOST_POOL><HOST><ID>0</ID><NAME>n1</NAME>');
    expect((await errorOf(provider().listHosts())).message).toMatch(
      new RegExp(`^OpenNebula ${escapeRe(base)}/RPC2: the HOST_POOL body is not well-formed XML \\(`),
    );

    answer = success('<VM_POOL/>');
    expect((await errorOf(provider().listHosts())).message).toBe(`OpenNebula ${base}/RPC2: the body is not a HOST_POOL document (root element <VM_POOL>)`);

    const started = Date.now();
    const slow = await errorOf(provider('/slow', 300).listHosts());
    expect(slow.code).toBe('AC_ERR_TIMEOUT');
    expect(slow.message).toBe(`OpenNebula ${base}/slow: no complete answer within 300 ms`);
    expect(Date.now() - started).toBeLessThan(1300);
  });

  it('HOST_POOL details: TOTAL_* when MAX_* is missing, unknown states skipped, duplicate names rejected', () => {
    const hostXml = (name: string, state: number, share: string): string =>
      `<HOST><ID>1</ID><NAME>${name}</NAME><STATE>${state}</STATE><HOST_SHARE>${share}</HOST_SHARE></HOST>`;
    const r = parseHostPool(
      `<HOST_POOL>${hostXml('a', 2, '<CPU_USAGE>0</CPU_USAGE><TOTAL_CPU>399</TOTAL_CPU><MEM_USAGE>1</MEM_USAGE><TOTAL_MEM>2048</TOTAL_MEM>')}${hostXml('b', 42, '')}</HOST_POOL>`,
    );
    expect(r.hosts).toEqual<HostCapacity[]>([{ id: 'a', cpus: 3, usedCpus: 0, memoryMb: 2, usedMemoryMb: 1 }]);
    expect(r.notes).toEqual(['skipped 1 host not usable in their state: b (unknown state 42)']);
    const share = '<CPU_USAGE>0</CPU_USAGE><MAX_CPU>100</MAX_CPU><MEM_USAGE>0</MEM_USAGE><MAX_MEM>1024</MAX_MEM>';
    expect(() => parseHostPool(`<HOST_POOL>${hostXml('a', 2, share)}${hostXml('a', 1, share)}</HOST_POOL>`)).toThrow(
      'HOST_POOL document: invalid HOST_POOL: HOST[2] "a"/NAME: duplicate NAME "a" (also HOST[1])',
    );
  });

  it('rejects a malformed auth setting without repeating it', async () => {
    const error = await errorOf(() => createHostInfoProvider({ kind: 'opennebula', url: `${base}/RPC2`, auth: 'justapassword', timeoutMs: 100, cacheTtlMs: 0 }));
    expect(error.code).toBe('AC_ERR_CONFIG');
    expect(error.message).toBe('opennebula: auth must have the form user:password');
    expect(JSON.stringify(error.details)).not.toContain('justapassword');
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
