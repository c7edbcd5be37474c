/**
 * Integration: the real server process (node dist/gateway/server.js, as `npm start` runs it) against stub TREC and
 * host-info services on 127.0.0.1, over real HTTP. Covers the OPTIMIS decision manifests on a JSON inventory, state
 * surviving a restart, degraded TREC answers (slow, down, garbage), the PhysicalHosts and OpenNebula sources (and a
 * source that is down), every request bounded in time, graceful shutdown with a request in flight, and performACTest.
 * Few processes: each describe block starts one (the inventory block restarts its own once).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAllocationOffer } from '../formats/optimis-manifest/offer';
import { readManifest } from './support/gateway';
import { startServerProcess, type ServerProcess } from './support/server-process';
import {
  answer,
  hang,
  hostPoolXml,
  hostValues,
  htmlPage,
  openNebulaHandler,
  physicalHostsXml,
  slow,
  startStub,
  TrecStubs,
  xmlRpcResponse,
  type OneHostSpec,
  type PhysicalHostSpec,
  type StubServer,
} from './support/stubs';

const SM = readManifest('decision/SM_1c2.xml');
const BIG = readManifest('decision/BigSM_1c2.xml');
const PARTIAL = readManifest('decision/PartialSM_1c2.xml');
const SM_ID = 'ACTestsDecisionAccepted';

// ---------------------------------------------------------------------------------------------
// Shared plumbing: processes, stubs and temp dirs are all released in afterAll, whatever failed.

const processes: ServerProcess[] = [];
const stubs: StubServer[] = [];
const trecSets: TrecStubs[] = [];
let scratch = '';

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-integration-'));
});

afterAll(async () => {
  await Promise.all(
    processes.map(async (p) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      const exited = p.stop();
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }),
  );
  await Promise.all([...stubs.map((s) => s.close()), ...trecSets.map((t) => t.close())]);
  for (const p of processes) fs.rmSync(p.dataDir, { recursive: true, force: true });
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** Starts the server process with the greedy solver (HiGHS is not in this build) and records it for cleanup. */
async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const p = await startServerProcess({ AC_SOLVER: 'greedy', ...env });
  processes.push(p);
  return p;
}

async function stub(handler: Parameters<typeof startStub>[0]): Promise<StubServer> {
  const s = await startStub(handler);
  stubs.push(s);
  return s;
}

async function trecStubs(): Promise<TrecStubs> {
  const t = await TrecStubs.start();
  trecSets.push(t);
  return t;
}

/** A JSON inventory of `n` hosts × `cpus` CPUs, all free. */
function inventoryFile(name: string, n = 4, cpus = 8): { file: string; ids: string[] } {
  const ids = Array.from({ length: n }, (_, j) => `node-${j + 1}`);
  const file = path.join(scratch, name);
  fs.writeFileSync(file, JSON.stringify({ hosts: ids.map((id) => ({ id, cpus, usedCpus: 0, memoryMb: 32768, usedMemoryMb: 0 })) }));
  return { file, ids };
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: any;
  /** Wall-clock time from sending to the last byte, ms. */
  readonly ms: number;
}

/** One request over real HTTP (Node's fetch); never waits more than `timeoutMs`. */
async function call(
  base: string,
  method: string,
  urlPath: string,
  options: { body?: string; contentType?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  const t0 = performance.now();
  const res = await fetch(`${base}${urlPath}`, {
    method,
    ...(options.body !== undefined ? { body: options.body } : {}),
    headers: options.contentType ? { 'Content-Type': options.contentType } : {},
    signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let body: unknown = undefined;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, body, ms };
}

const postXml = (p: ServerProcess, xml: string, query = ''): Promise<Reply> =>
  call(p.url, 'POST', `/api/v1/admissions${query}`, { body: xml, contentType: 'application/xml' });

interface Placement {
  hostId: string;
  vms: number;
}
interface ComponentAnswer {
  id: string;
  placements: Placement[];
  reasons: { code: string; message: string; data: Record<string, unknown> }[];
}

function placedHosts(service: { components: ComponentAnswer[] }): string[] {
  return service.components.flatMap((c) => c.placements.filter((p) => p.vms > 0).map((p) => p.hostId));
}

function reasonCodes(service: { components: ComponentAnswer[] }): string[] {
  return service.components.flatMap((c) => c.reasons.map((r) => r.code));
}

const sum = (xs: number[]): number => xs.reduce((t, x) => t + x, 0);

// =============================================================================================

describe('inventory source with healthy TREC services', () => {
  let trec: TrecStubs;
  let server: ServerProcess;
  let env: Record<string, string>;
  let ids: string[];
  let admissionId = '';

  beforeAll(async () => {
    trec = await trecStubs();
    const inv = inventoryFile('inventory-4x8.json');
    ids = inv.ids;
    env = { ...trec.env(), AC_INVENTORY: inv.file, AC_TREC_TIMEOUT_MS: '400', AC_TREC_RETRIES: '1', AC_TREC_BACKOFF_MS: '50' };
    server = await startServer(env);
  });

  it('SM_1c2 is accepted with the TREC values, placed on the inventory, recorded; Big and Partial are rejected with reasons', async () => {
    const res = await postXml(server, SM);
    expect(res.status).toBe(201);
    expect(res.body.degraded).toEqual([]);
    expect(res.body.recorded).toBe(true);
    const s = res.body.services[0];
    expect(s).toMatchObject({ serviceId: SM_ID, decision: 'accepted', localVms: 2, federatedVms: 0 });
    // Trust, risk and eco are the stubs' answers (trust 5 meets MinimumTrustLevel 5; fallback trust would be 3).
    expect(s.trec).toMatchObject({ trust: 5, risk: 1, eco: 6.5 });
    for (const h of placedHosts(s)) expect(ids).toContain(h);
    expect(sum(s.components.flatMap((c: ComponentAnswer) => c.placements.map((p) => p.vms)))).toBe(2);

    // The offer's manifest comes back: the input manifest with an accepted AllocationOffer naming the same hosts.
    expect(s.manifest).toContain(`opt:serviceId="${SM_ID}"`);
    const offer = readAllocationOffer(s.manifest)!;
    expect(offer.decision).toBe('accepted');
    expect(offer.components.flatMap((c) => c.placements.map((p) => p.hostId)).sort()).toEqual(placedHosts(s).sort());

    // Recorded and retrievable.
    admissionId = s.admissionId;
    expect(admissionId).toMatch(/^adm-/);
    expect(res.headers.get('location')).toBe(`/api/v1/admissions/${admissionId}`);
    const got = await call(server.url, 'GET', `/api/v1/admissions/${admissionId}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: admissionId, serviceId: SM_ID, status: 'held', owner: 'anonymous' });

    // The TREC services were asked over the documented wire protocol.
    const trustCall = JSON.parse(trec.requests('trust').at(-1)!.body);
    expect(trustCall).toMatchObject({ serviceId: SM_ID, serviceProviderId: 'OPTIMUMWEB' });
    expect(trustCall.manifest).toBe(SM);
    for (const name of ['risk', 'eco', 'cost'] as const) expect(trec.requests(name).length).toBeGreaterThan(0);
    expect(JSON.parse(trec.requests('hostRisk').at(-1)!.body)).toEqual({ hostIds: expect.arrayContaining(ids) });
    expect(JSON.parse(trec.requests('hostEco').at(-1)!.body).hostIds.sort()).toEqual([...ids].sort());

    const big = await postXml(server, BIG);
    expect(big.status).toBe(200); // nothing held
    expect(big.body.degraded).toEqual([]);
    const b = big.body.services[0];
    expect(b.decision).toBe('rejected');
    expect(b.admissionId).toBeNull();
    // compA's 10-vCPU VMs fit no 8-CPU host; compB's 1,000 one-CPU VMs exceed the fleet itself (32 CPUs, SM_1c2's 2 aside).
    const reasonOf = (component: string, code: string) => b.components.find((c: ComponentAnswer) => c.id === component).reasons.find((r: { code: string }) => r.code === code);
    expect(reasonOf('compA', 'VM_LARGER_THAN_ANY_HOST').data).toEqual({ vcpus: 10, largestHostCpus: 8 });
    expect(reasonOf('compB', 'INSUFFICIENT_CAPACITY').data).toMatchObject({ vmsNeeded: 1000, vmsThatFit: 32, neededCpus: 1000, freeCpus: 32 });
    expect(readAllocationOffer(b.manifest)!.decision).toBe('rejected');

    const partial = await postXml(server, PARTIAL);
    expect(partial.status).toBe(200);
    expect(partial.body.degraded).toEqual([]);
    const p = partial.body.services[0];
    expect(p.decision).toBe('rejected');
    expect(p.summary).toMatch(/^rejected: .+/);
    expect(reasonCodes(p)).toEqual(expect.arrayContaining(['INSUFFICIENT_CAPACITY', 'ALL_OR_NOTHING']));
  });

  it('performACTest (OPTIMIS form) with two manifests answers serviceManifest × 2 and AllocationDetails, form-encoded', async () => {
    const form = new URLSearchParams();
    form.append('serviceManifest', SM);
    form.append('serviceManifest', BIG);
    const res = await call(server.url, 'POST', '/ACGateway/model/performACTest', { body: form.toString(), contentType: 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    const out = new URLSearchParams(res.text);
    expect([...new Set(out.keys())].sort()).toEqual(['AllocationDetails', 'serviceManifest']);
    const manifests = out.getAll('serviceManifest');
    expect(manifests).toHaveLength(2);
    expect(readAllocationOffer(manifests[0]!)!.decision).toBe('accepted');
    expect(readAllocationOffer(manifests[1]!)!.decision).toBe('rejected');
    const details = out.getAll('AllocationDetails');
    expect(details).toHaveLength(1);
    const xml = details[0]!;
    expect(xml).toMatch(/^<allocation_details>.*<\/allocation_details>$/);
    expect(xml).toContain(`<service id="${SM_ID}">`);
    expect(xml).toContain('<service id="ACTestsDecisionRejected">');
    const assigned = [...xml.matchAll(/<physical_host id="([^"]+)"><assigned_VMs>(\d+)<\/assigned_VMs>/g)];
    expect(sum(assigned.map((m) => Number(m[2])))).toBe(2); // SM's two VMs; BigSM has none
    for (const m of assigned) expect(ids).toContain(m[1]);
  });

  it('the SQLite state (admissions, capacity held, policy) survives a restart of the process', async () => {
    const weights = { trust: 0.4, eco: 0.2, risk: 0.1, cost: 0.3 };
    const put = await call(server.url, 'PUT', '/api/v1/policy', { body: JSON.stringify({ weights }), contentType: 'application/json' });
    expect(put.status).toBe(200);
    const policyBefore = put.body;
    expect(policyBefore.weights).toEqual(weights);
    const held = (await call(server.url, 'GET', '/api/v1/hosts')).body.hosts.map((h: { id: string; reservedCpus: number }) => [h.id, h.reservedCpus]);
    // SM_1c2 twice by the same principal (API, then performACTest): the second replaced the first's held offer.
    expect(sum(held.map((h: [string, number]) => h[1]))).toBe(2);
    const before = (await call(server.url, 'GET', '/api/v1/admissions')).body.admissions.map((a: { id: string; status: string }) => [a.id, a.status]);
    expect(before).toContainEqual([admissionId, 'released']);
    expect(before.filter((a: [string, string]) => a[1] === 'held')).toHaveLength(1);

    expect(await server.stop()).toBe(0);
    server = await startServer({ ...env, AC_DATA_DIR: server.dataDir });

    const got = await call(server.url, 'GET', `/api/v1/admissions/${admissionId}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: admissionId, serviceId: SM_ID, status: 'released' });
    const after = (await call(server.url, 'GET', '/api/v1/admissions')).body.admissions.map((a: { id: string; status: string }) => [a.id, a.status]);
    expect(after).toEqual(before);
    const policy = await call(server.url, 'GET', '/api/v1/policy');
    expect(policy.body).toEqual(policyBefore);
    const heldAfter = (await call(server.url, 'GET', '/api/v1/hosts')).body.hosts.map((h: { id: string; reservedCpus: number }) => [h.id, h.reservedCpus]);
    expect(heldAfter).toEqual(held);
  });

  it('TREC services slow, down and answering garbage: still answered in time, with fallbacks and a degraded note per source', async () => {
    trec.set({
      trust: slow(1500, answer({ trust: 5 })), // beyond AC_TREC_TIMEOUT_MS (400), on both attempts
      eco: htmlPage(),
      cost: answer('NaN'),
      hostRisk: hostValues(() => 'NaN'),
      hostEco: htmlPage('503 Service Unavailable'),
    });
    await trec.servers.risk.down(); // a closed port
    const before = trec.requests('trust').length;

    const res = await postXml(server, SM);
    expect([200, 201]).toContain(res.status);
    expect(res.ms).toBeLessThan(4000); // the request deadline is 10 s; 2 × 400 ms of TREC timeouts + backoff is the floor
    expect(trec.requests('trust').length - before).toBe(2); // first attempt + one retry (AC_TREC_RETRIES=1)

    const notes: { source: string; target: string; reason: string; fallback: unknown }[] = res.body.degraded;
    const note = (source: string, target: string) => notes.find((n) => n.source === source && n.target === target);
    expect(note('trust', SM_ID)).toMatchObject({ reason: expect.stringMatching(/^timeout after 400 ms \(2 attempts\)/), fallback: 3 });
    expect(note('risk', SM_ID)).toMatchObject({ reason: expect.stringMatching(/connection refused/), fallback: 2 });
    expect(note('eco', SM_ID)).toMatchObject({ reason: expect.stringMatching(/^invalid answer: markup/), fallback: 8 });
    expect(note('cost', SM_ID)).toMatchObject({ reason: expect.stringMatching(/^invalid answer: .*NaN/), fallback: 'no price plan' });
    for (const id of ids) expect(note('hostRisk', id)).toMatchObject({ reason: expect.stringMatching(/^invalid answer: .*NaN/), fallback: 0.01 });
    expect(note('hostEco', 'hosts')).toMatchObject({ reason: expect.stringMatching(/^invalid answer: not JSON/), fallback: '3 + host index' });
    expect(notes).toHaveLength(4 + ids.length + 1);

    // The fallbacks are what the model used. SM_1c2's MinimumTrustLevel 5 met an unmeasured trust (the fallback 3):
    // by default (trec.unknownValues = satisfy) the bound is not decisive, and the answer says it was not checked.
    const s = res.body.services[0];
    expect(s.trec).toMatchObject({ trust: 3, risk: 2, eco: 8 });
    expect(s.decision).toBe('accepted');
    expect(s.uncheckedBounds).toEqual([
      expect.objectContaining({ metric: 'trust', bound: 5, value: 3, valueSource: 'fallback', treatedAs: 'satisfied' }),
      expect.objectContaining({ metric: 'risk', bound: 1, value: 2, valueSource: 'fallback', treatedAs: 'satisfied' }), // the risk service is down too
    ]);
    // The process is still healthy.
    expect((await call(server.url, 'GET', '/health')).status).toBe(200);

    // With AC_TREC_UNKNOWN=violate the same unmeasured trust rejects, and the reason says the value was a fallback.
    expect(await server.stop()).toBe(0);
    server = await startServer({ ...env, AC_DATA_DIR: server.dataDir, AC_TREC_UNKNOWN: 'violate' });
    const strict = (await postXml(server, SM, '?dryRun=true')).body.services[0];
    expect(strict.decision).toBe('rejected');
    expect(strict.uncheckedBounds).toEqual([
      expect.objectContaining({ metric: 'trust', bound: 5, value: 3, valueSource: 'fallback', treatedAs: 'violated' }),
      expect.objectContaining({ metric: 'risk', bound: 1, value: 2, valueSource: 'fallback', treatedAs: 'violated' }),
    ]);
    const bound = strict.components.flatMap((c: ComponentAnswer) => c.reasons).find((r: { code: string }) => r.code === 'TREC_BOUND');
    expect(bound.data).toMatchObject({ metric: 'trust', valueSource: 'fallback', boundSource: 'manifest' });
    expect(bound.message).toMatch(/not checked: the TREC service failed, and the fallback 3 is no measurement; treated as violated/);
  });
});

// =============================================================================================

describe('several worker processes (AC_WORKERS=2) share one state store', () => {
  let server: ServerProcess;
  const CAPACITY = { hosts: 4, cpus: 8 };

  beforeAll(async () => {
    const trec = await trecStubs();
    server = await startServer({ ...trec.env(), AC_WORKERS: '2', AC_INVENTORY: inventoryFile('inventory-workers.json', CAPACITY.hosts, CAPACITY.cpus).file });
    // Both workers listen (the first "listening" line let startServerProcess go on).
    for (let k = 0; k < 100 && (server.output().match(/"message":"listening"/g) ?? []).length < 2; k++) await new Promise((r) => setTimeout(r, 50));
  });

  it('concurrent real admissions through both workers never book a CPU twice', async () => {
    expect((server.output().match(/"message":"listening"/g) ?? []).length).toBe(2);
    // 24 distinct services posted at once on separate connections: more than the fleet holds, so the workers
    // compete for the same capacity; each admission is solved on a snapshot and recorded with the generation check.
    const replies = await Promise.all(
      Array.from({ length: 24 }, (_, k) => postXml(server, SM.replace(`opt:serviceId="${SM_ID}"`, `opt:serviceId="svc-${k}"`))),
    );
    const failed = replies.filter((r) => r.status !== 200 && r.status !== 201);
    if (failed.length) console.log(server.output().split('\n').filter((l) => /error|Error/.test(l)).join('\n'));
    expect(failed.map((r) => ({ status: r.status, body: r.body }))).toEqual([]);
    const decisions = replies.map((r) => r.body.services[0].decision as string);
    expect(decisions).toContain('accepted');
    expect(decisions).toContain('rejected'); // the fleet ran out

    // What the store holds adds up, host by host, to the recorded admissions, and never exceeds a host.
    const hosts = (await call(server.url, 'GET', '/api/v1/hosts')).body.hosts as { id: string; cpus: number; usedCpus: number; reservedCpus: number }[];
    const admissions = (await call(server.url, 'GET', '/api/v1/admissions?active=true')).body.admissions as { hosts: { hostId: string; cpus: number }[] }[];
    const booked = new Map<string, number>();
    for (const a of admissions) for (const h of a.hosts) booked.set(h.hostId, (booked.get(h.hostId) ?? 0) + h.cpus);
    for (const h of hosts) {
      expect(h.reservedCpus).toBe(booked.get(h.id) ?? 0);
      expect(h.reservedCpus).toBeLessThanOrEqual(h.cpus - h.usedCpus);
    }
    // Every answer that holds capacity is one of the recorded admissions, and nothing else is recorded.
    const held = replies.filter((r) => r.status === 201).map((r) => r.body.services[0].admissionId as string);
    expect(new Set(held).size).toBe(held.length);
    expect(admissions).toHaveLength(held.length);

    // The admissions were shared between the two processes.
    const pids = new Set(
      server
        .output()
        .split('\n')
        .filter((l) => l.includes('"message":"admission"'))
        .map((l) => JSON.parse(l).pid as number),
    );
    expect(pids.size).toBe(2);
  });
});

describe('every request bounded in time; graceful shutdown', () => {
  const REQUEST_TIMEOUT_MS = 1500;
  let trec: TrecStubs;
  let server: ServerProcess;

  beforeAll(async () => {
    trec = await trecStubs();
    server = await startServer({
      ...trec.env(),
      AC_INVENTORY: inventoryFile('inventory-bounded.json').file,
      AC_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      // One TREC attempt could outlast the whole request: only the request deadline bounds it.
      AC_TREC_TIMEOUT_MS: '30000',
      AC_TREC_RETRIES: '0',
    });
  });

  it('a TREC service that never answers: the admission is answered, with fallbacks, within about AC_REQUEST_TIMEOUT_MS', async () => {
    trec.set({ trust: hang() });
    const res = await postXml(server, SM, '?dryRun=true');
    // TREC gets the deadline minus time kept to solve (server.ts trecBudgetMs: 1500 − 750 ms), then falls back.
    expect(res.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 500);
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual([
      { source: 'trust', target: SM_ID, fallback: 3, reason: 'aborted after 1 attempt: the TREC budget of 750 ms ran out' },
    ]);
    expect(res.body.services[0].trec).toMatchObject({ trust: 3, risk: 1, eco: 6.5 }); // the others did answer
    // trust 3 < MinimumTrustLevel 5, but 3 is a fallback: not decisive by default (trec.unknownValues = satisfy).
    expect(res.body.services[0].decision).toBe('accepted');
    expect(res.body.services[0].uncheckedBounds).toEqual([expect.objectContaining({ metric: 'trust', bound: 5, valueSource: 'fallback', treatedAs: 'satisfied' })]);
  });

  it('SIGTERM while an admission is in flight: the request still gets its answer, then the process exits 0 at once', async () => {
    trec.set({ trust: slow(400, answer({ trust: 5 })) });
    const before = trec.requests('trust').length;
    const inFlight = postXml(server, SM);
    await trec.servers.trust.waitForRequests(before + 1); // the admission is now waiting on TREC
    const exited = new Promise<number>((resolve) => server.child.once('exit', () => resolve(performance.now())));
    server.child.kill('SIGTERM');

    const res = await inFlight;
    const answeredAt = performance.now();
    expect(res.status).toBe(201);
    expect(res.body.degraded).toEqual([]);
    expect(res.body.services[0]).toMatchObject({ decision: 'accepted', trec: expect.objectContaining({ trust: 5 }) });
    // The answer closes its keep-alive connection, so the process need not wait for the client or for the cut-off
    // (requestTimeoutMs after SIGTERM) to exit.
    expect(res.headers.get('connection')).toBe('close');
    const exitedAt = await exited;
    expect(server.child.exitCode).toBe(0);
    expect(exitedAt - answeredAt).toBeLessThan(800); // without Connection: close it waited ≥ 1 s (the cut-off)
    expect(server.output()).toMatch(/received SIGTERM/);
    expect(server.output()).toMatch(/"message":"stopped"/);
  });
});

// =============================================================================================

describe('PhysicalHosts source', () => {
  // Realistic AC_PhHostsInfo_aaS figures: one host full, two with one free core each.
  const HOSTS: PhysicalHostSpec[] = [
    { id: 'optimis1', maxCores: 8, usedCores: 8, maxMemoryInGigabytes: 16, freeMemoryInGigabytes: 2 },
    { id: 'optimis2', maxCores: 8, usedCores: 7, maxMemoryInGigabytes: 16, freeMemoryInGigabytes: 9 },
    { id: 'optimis3', maxCores: 4, usedCores: 3, maxMemoryInGigabytes: 8, freeMemoryInGigabytes: 5.5 },
  ];
  let trec: TrecStubs;
  let hostsStub: StubServer;
  let server: ServerProcess;

  beforeAll(async () => {
    trec = await trecStubs();
    hostsStub = await stub(answer(physicalHostsXml(HOSTS), 'application/xml'));
    await hostsStub.down(); // the source starts down: its port refuses connections
    server = await startServer({
      ...trec.env(),
      AC_HOST_INFO: 'physical-hosts',
      AC_PHYSICAL_HOSTS_URL: `${hostsStub.url}/PhysicalHostsInfo`,
      AC_HOST_INFO_TIMEOUT_MS: '1000',
      AC_HOST_INFO_CACHE_MS: '0',
    });
  });

  it('a source that is down: 502 JSON errors with a stable code, /health 503, nothing recorded, no crash', async () => {
    const hosts = await call(server.url, 'GET', '/api/v1/hosts');
    expect(hosts.status).toBe(502);
    expect(hosts.body.error).toMatchObject({ code: 'AC_ERR_UPSTREAM', message: expect.stringMatching(/PhysicalHosts service .*connection refused/) });

    const admission = await postXml(server, SM);
    expect(admission.status).toBe(502);
    expect(admission.body.error.code).toBe('AC_ERR_UPSTREAM');
    expect(admission.body.requestId).toEqual(expect.any(String));

    const health = await call(server.url, 'GET', '/health');
    expect(health.status).toBe(200); // alive
    expect(health.body).toMatchObject({ status: 'degraded', ready: false, hostInfo: { provider: 'physical-hosts', ok: false, lastError: { message: expect.stringMatching(/connection refused/) } } });
    const ready = await call(server.url, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.reasons[0]).toMatch(/^no host list from physical-hosts: .*connection refused/);

    expect((await call(server.url, 'GET', '/api/v1/admissions')).body.admissions).toEqual([]);
    expect(server.child.exitCode).toBeNull();
  });

  it('once up: GET /api/v1/hosts shows its hosts, and admissions place VMs only there, within their free cores', async () => {
    await hostsStub.up(); // same port
    const hosts = await call(server.url, 'GET', '/api/v1/hosts');
    expect(hosts.status).toBe(200);
    expect(hosts.body.source).toBe('physical-hosts');
    expect(hosts.body.hosts.map((h: { id: string; cpus: number; usedCpus: number; freeCpus: number }) => [h.id, h.cpus, h.usedCpus, h.freeCpus])).toEqual([
      ['optimis1', 8, 8, 0],
      ['optimis2', 8, 7, 1],
      ['optimis3', 4, 3, 1],
    ]);
    expect(hostsStub.requests.at(-1)).toMatchObject({ method: 'GET', path: '/PhysicalHostsInfo' });

    const res = await postXml(server, SM);
    expect(res.status).toBe(201);
    const s = res.body.services[0];
    expect(s.decision).toBe('accepted');
    // Two VMs of one core each, and one free core on optimis2 and on optimis3: one VM on each, none on the full host.
    expect(placedHosts(s).sort()).toEqual(['optimis2', 'optimis3']);

    // Their capacity is now held: another service of the same shape no longer fits (the same one would replace its offer).
    const again = await postXml(server, SM.replace(`opt:serviceId="${SM_ID}"`, 'opt:serviceId="another-service"'));
    expect(again.status).toBe(200);
    expect(again.body.services[0].decision).toBe('rejected');
    // What is missing is held by the first admission, and the reason names it.
    expect(reasonCodes(again.body.services[0])).toContain('CAPACITY_IN_USE');
    const inUse = again.body.services[0].components[0].reasons.find((r: { code: string }) => r.code === 'CAPACITY_IN_USE');
    expect(inUse.data.holders.map((h: { admissionId: string }) => h.admissionId)).toEqual([s.admissionId]);

    const health = await call(server.url, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.hostInfo).toMatchObject({ provider: 'physical-hosts', ok: true, hosts: 3 });
    expect((await call(server.url, 'GET', '/ready')).status).toBe(200);
  });
});

// =============================================================================================

describe('OpenNebula source', () => {
  const AUTH = 'oneadmin:s3cret-pass';
  const POOL: OneHostSpec[] = [
    { id: 0, name: 'kvm-node-01', state: 2, maxCpu: 800, cpuUsage: 700, maxMem: 16 * 1024 * 1024, memUsage: 4 * 1024 * 1024 },
    // In ERROR, and the biggest and emptiest host of the pool: it must still never be offered.
    { id: 3, name: 'kvm-node-02', state: 3, maxCpu: 6400, cpuUsage: 0, maxMem: 64 * 1024 * 1024, memUsage: 0 },
    { id: 4, name: 'kvm-node-03', state: 2, maxCpu: 1600, cpuUsage: 1500, maxMem: 32 * 1024 * 1024, memUsage: 8 * 1024 * 1024 },
    { id: 7, name: 'kvm-node-04', state: 4, maxCpu: 3200, cpuUsage: 0, maxMem: 32 * 1024 * 1024, memUsage: 0 }, // DISABLED
  ];
  let trec: TrecStubs;
  let one: StubServer;
  let server: ServerProcess;

  beforeAll(async () => {
    trec = await trecStubs();
    // oned rejects the session at first (AUTHENTICATION, 0x100).
    one = await stub(answer(xmlRpcResponse(false, "[one.hostpool.info] User couldn't be authenticated, aborting call.", 0x100), 'text/xml'));
    server = await startServer({
      ...trec.env(),
      AC_HOST_INFO: 'opennebula',
      AC_OPENNEBULA_URL: `${one.url}/RPC2`,
      AC_OPENNEBULA_AUTH: AUTH,
      AC_HOST_INFO_TIMEOUT_MS: '1000',
      AC_HOST_INFO_CACHE_MS: '0',
    });
  });

  it("an OpenNebula error answer: 502 with OpenNebula's message, the session string never echoed, /health 503", async () => {
    const hosts = await call(server.url, 'GET', '/api/v1/hosts');
    expect(hosts.status).toBe(502);
    expect(hosts.body.error.code).toBe('AC_ERR_UPSTREAM');
    expect(hosts.body.error.message).toMatch(/couldn't be authenticated.*AUTHENTICATION/);
    expect(hosts.text).not.toContain('s3cret-pass');
    const health = await call(server.url, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.hostInfo).toMatchObject({ provider: 'opennebula', ok: false });
    expect((await call(server.url, 'GET', '/ready')).status).toBe(503);
    expect(health.text).not.toContain('s3cret-pass');
  });

  it('one.hostpool.info: hosts in ERROR or DISABLED are skipped, and VMs are placed only on the usable hosts', async () => {
    one.handler = openNebulaHandler(() => hostPoolXml(POOL));
    const hosts = await call(server.url, 'GET', '/api/v1/hosts');
    expect(hosts.status).toBe(200);
    expect(hosts.body.source).toBe('opennebula');
    expect(hosts.body.hosts.map((h: { id: string; cpus: number; usedCpus: number; freeCpus: number }) => [h.id, h.cpus, h.usedCpus, h.freeCpus])).toEqual([
      ['kvm-node-01', 8, 7, 1],
      ['kvm-node-03', 16, 15, 1],
    ]);
    // The XML-RPC call carried the method and the session string.
    const rpc = one.requests.at(-1)!;
    expect(rpc).toMatchObject({ method: 'POST', path: '/RPC2' });
    expect(rpc.body).toContain('<methodName>one.hostpool.info</methodName>');
    expect(rpc.body).toContain(`<string>${AUTH}</string>`);

    const res = await postXml(server, SM);
    expect(res.status).toBe(201);
    expect(res.body.hostsConsidered).toBe(2);
    const s = res.body.services[0];
    expect(s.decision).toBe('accepted');
    expect(placedHosts(s).sort()).toEqual(['kvm-node-01', 'kvm-node-03']);

    const health = await call(server.url, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.hostInfo).toMatchObject({ provider: 'opennebula', ok: true, hosts: 2 });
  });
});
