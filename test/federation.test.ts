/**
 * Federation between real service processes (`npm start`, 127.0.0.1, ephemeral ports), each with its own inventory
 * and AC_CONFIG: accepted with a peer, partial/rejected with a peer too small, peers down / slow / garbage / refusing
 * credentials, the request deadline, A ↔ B without loops, peer authentication, dry-run and release propagation.
 */
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readAllocationOffer } from '../formats/optimis-manifest/offer';
import { startServerProcess, type ServerProcess } from './support/server-process';
import { closedPort } from './support/stubs';
import { expectXsdValid } from './support/xsd';

const FIXTURES = path.join(__dirname, 'fixtures', 'federation');
const WEB_DB = fs.readFileSync(path.join(FIXTURES, 'web-db.xml'), 'utf8'); // web (6..8 × 2 vCPU) + db (1 × 1 vCPU)
const WEB_DB_TOGETHER = fs.readFileSync(path.join(FIXTURES, 'web-db-affinity.xml'), 'utf8'); // + Medium affinity rule web–db
const SMALL = path.join(FIXTURES, 'inventory-small.json'); // 2 hosts × 4 CPUs: db fits, web does not
const LARGE = path.join(FIXTURES, 'inventory-large.json'); // 8 hosts × 16 CPUs
const TINY = path.join(FIXTURES, 'inventory-tiny.json'); // 1 host × 4 CPUs: web does not fit either

let tmp = '';
const procs: Record<string, ServerProcess> = {};
const stubs: http.Server[] = [];

function configFile(name: string, content: object): string {
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(content, null, 2));
  return file;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function stub(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  stubs.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function start(name: string, env: Record<string, string>): Promise<ServerProcess> {
  return startServerProcess({ AC_SOLVER: 'greedy', AC_DATA_DIR: fs.mkdtempSync(path.join(tmp, `${name}-`)), ...env }).then((p) => (procs[name] = p));
}

interface Posted {
  readonly status: number;
  readonly ms: number;
  /** The JSON answer, read loosely: the assertions say what it must contain. */
  readonly body: any;
}

async function post(url: string, xml: string, query = '', headers: Record<string, string> = {}): Promise<Posted> {
  const t = Date.now();
  const res = await fetch(`${url}/api/v1/admissions${query}`, { method: 'POST', headers: { 'Content-Type': 'application/xml', ...headers }, body: xml });
  const body = await res.json();
  return { status: res.status, ms: Date.now() - t, body };
}

async function get(url: string): Promise<any> {
  return (await fetch(url)).json();
}

/** Log lines of a process with this message. */
function logged(p: ServerProcess, message: string): Record<string, unknown>[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.message === message);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-federation-'));
  // Upstreams that are not services: a TREC endpoint that never answers (to make a real peer slow), garbage, a closed port.
  const blackHole = await stub(() => undefined);
  const garbage = await stub((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"services":[{"serviceId":"shop","decision":"accepted"'));
  const downPort = await closedPort();
  const [laPort, lbPort] = [await freePort(), await freePort()];
  const la = `http://127.0.0.1:${laPort}`;
  const lb = `http://127.0.0.1:${lbPort}`;

  // The peers first: the providers that federate need their URLs.
  await Promise.all([
    start('B', { AC_INVENTORY: LARGE, AC_PROVIDER_ID: 'B', AC_PEER_SECRET: 'b-secret' }),
    start('T', { AC_INVENTORY: TINY, AC_PROVIDER_ID: 'T', AC_PEER_SECRET: 't-secret' }),
    // A real provider that is slow: its TREC trust service never answers.
    start('SLOW', { AC_INVENTORY: LARGE, AC_PROVIDER_ID: 'SLOW', AC_PEER_SECRET: 'slow-secret', AC_TREC_TRUST_URL: `${blackHole}/trust`, AC_TREC_TIMEOUT_MS: '6000', AC_TREC_RETRIES: '0' }),
  ]);
  const b = procs.B!.url;
  await Promise.all([
    start('A', { AC_INVENTORY: SMALL, AC_CONFIG: configFile('a', { providerId: 'A', peers: [{ id: 'B', url: b, secret: 'b-secret', timeoutMs: 3000 }] }) }),
    start('A_TINY', { AC_INVENTORY: SMALL, AC_CONFIG: configFile('a-tiny', { providerId: 'A2', peers: [{ id: 'T', url: procs.T!.url, secret: 't-secret', timeoutMs: 3000 }] }) }),
    start('A_MIXED', {
      AC_INVENTORY: SMALL,
      AC_CONFIG: configFile('a-mixed', {
        providerId: 'A3',
        peers: [
          { id: 'B-wrong-secret', url: b, secret: 'not-the-secret', timeoutMs: 2000, priority: 1 },
          { id: 'DOWN', url: `http://127.0.0.1:${downPort}`, secret: 'x', timeoutMs: 2000, priority: 2 },
          { id: 'SLOW', url: procs.SLOW!.url, secret: 'slow-secret', timeoutMs: 1000, priority: 3 },
          { id: 'GARBAGE', url: garbage, secret: 'x', timeoutMs: 2000, priority: 4 },
          { id: 'B-optimis', url: b, secret: 'b-secret', timeoutMs: 3000, priority: 5, protocol: 'optimis' },
        ],
      }),
    }),
    start('A_DEADLINE', {
      AC_INVENTORY: SMALL,
      AC_REQUEST_TIMEOUT_MS: '1500',
      AC_CONFIG: configFile('a-deadline', { providerId: 'A4', peers: [{ id: 'SLOW', url: procs.SLOW!.url, secret: 'slow-secret', timeoutMs: 8000 }] }),
    }),
    // A ↔ B, both too small. LB knows LA twice: under its own id, and under an alias (a plausible misconfiguration).
    start('LA', { PORT: String(laPort), AC_INVENTORY: SMALL, AC_PEER_SECRET: 'la-secret', AC_CONFIG: configFile('la', { providerId: 'LA', peers: [{ id: 'LB', url: lb, secret: 'lb-secret', timeoutMs: 3000 }] }) }),
    start('LB', {
      PORT: String(lbPort),
      AC_INVENTORY: SMALL,
      AC_PEER_SECRET: 'lb-secret',
      AC_CONFIG: configFile('lb', {
        providerId: 'LB',
        peers: [
          { id: 'LA', url: la, secret: 'la-secret', timeoutMs: 3000 },
          { id: 'LA-alias', url: la, secret: 'la-secret', timeoutMs: 3000 },
        ],
      }),
    }),
  ]);
}, 30_000);

afterAll(async () => {
  await Promise.all(Object.values(procs).map((p) => p.stop()));
  for (const s of stubs) {
    s.closeAllConnections();
    s.close();
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('A (2 × 4 CPUs) with peer B (8 × 16 CPUs)', () => {
  it('a service too big for A but fine for A+B is accepted with federation: one manifest, both parts, both booked', async () => {
    const res = await post(procs.A!.url, WEB_DB);
    expect(res.status).toBe(201);
    const s = res.body.services[0];
    expect(s.decision).toBe('accepted');
    expect(s.summary).toBe('accepted with federation: db admitted locally with 1 VM(s); web (8 VM(s)) federated to B');
    expect(s.components.map((c: { id: string; localVms: number; federatedVms: number }) => [c.id, c.localVms, c.federatedVms])).toEqual([
      ['web', 0, 8],
      ['db', 1, 0],
    ]);
    const f = s.federation;
    expect(f).toMatchObject({
      status: 'federated',
      hop: 1,
      origin: ['A'],
      peerId: 'B',
      protocol: 'eac',
      peerDecision: 'accepted',
      sent: [{ componentId: 'web', reason: 'not-admitted-locally', initial: 6, upperBound: 8, modelFederatedVms: 8 }],
      placedVms: { web: 8 },
      embeddedIds: { web: 'web@B' },
      reasons: [],
    });
    expect(f.attempts).toHaveLength(1);
    expect(f.cost.total).toBe(s.trec.cost);
    expect(f.cost.federatedSource).toBe('peer');
    // The merged manifest and the peer's: valid; local pattern for db, the peer's part in ExternalDeployment with the peer's id.
    await expectXsdValid(s.manifest, f.peerManifest);
    const offer = readAllocationOffer(s.manifest)!;
    expect(offer.decision).toBe('accepted');
    expect(offer.components.map((c) => c.componentId)).toEqual(['db']);
    expect(offer.externalDeployments.map((e) => e.providerId)).toEqual(['B']);
    expect(readAllocationOffer(offer.externalDeployments[0]!.manifestXml)!.decision).toBe('accepted');

    // Both providers hold their part; A's record names B's.
    const atA = await get(`${procs.A!.url}/api/v1/admissions/${s.admissionId}`);
    expect(atA).toMatchObject({ status: 'held', decision: 'accepted', response: { federation: { peerId: 'B', peerAdmissionId: f.peerAdmissionId } } });
    const atB = await get(`${procs.B!.url}/api/v1/admissions/${f.peerAdmissionId}`);
    expect(atB).toMatchObject({ status: 'held', serviceId: 'shop', decision: 'accepted', response: { federatedFor: { origin: ['A'] } } });
    expect(atB.hosts.reduce((t: number, h: { cpus: number }) => t + h.cpus, 0)).toBe(16);

    // Releasing at A releases at B too.
    const del = await (await fetch(`${procs.A!.url}/api/v1/admissions/${s.admissionId}`, { method: 'DELETE' })).json();
    expect(del).toMatchObject({ released: true, federation: { peerId: 'B', peerAdmissionId: f.peerAdmissionId, released: true } });
    expect((await get(`${procs.B!.url}/api/v1/admissions/${f.peerAdmissionId}`)).status).toBe('released');
  });

  it('a dry-run at A is a dry-run at B: nothing is booked anywhere', async () => {
    const before = (await get(`${procs.B!.url}/api/v1/admissions`)).admissions.length;
    const res = await post(procs.A!.url, WEB_DB, '?dryRun=true');
    expect(res.status).toBe(200);
    expect(res.body.services[0]).toMatchObject({ decision: 'accepted', admissionId: null, federation: { status: 'federated', peerAdmissionId: null } });
    expect((await get(`${procs.B!.url}/api/v1/admissions`)).admissions.length).toBe(before);
    expect((await get(`${procs.A!.url}/api/v1/admissions?active=true`)).admissions).toEqual([]);
  });

  it('an affinity rule that forbids splitting is honoured: web and db go to B together, nothing stays at A', async () => {
    const res = await post(procs.A!.url, WEB_DB_TOGETHER, '?dryRun=true');
    const s = res.body.services[0];
    expect(s.decision).toBe('accepted');
    expect(s.federation.sent.map((c: { componentId: string }) => c.componentId)).toEqual(['web', 'db']);
    expect(s.components.map((c: { id: string; localVms: number; federatedVms: number }) => [c.id, c.localVms, c.federatedVms])).toEqual([
      ['web', 0, 8],
      ['db', 0, 1],
    ]);
    expect(s.summary).toBe('accepted with federation: the whole service federated to B: web (8 VM(s)), db (1 VM(s))');
    await expectXsdValid(s.manifest);
    expect(readAllocationOffer(s.manifest)!.components).toEqual([]);
  });

  it('an OPTIMIS client of A gets the merged manifest and the federated VM counts in AllocationDetails', async () => {
    const res = await fetch(`${procs.A!.url}/ACGateway/model/performACTest?dryRun=true`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ serviceManifest: WEB_DB }).toString(),
    });
    const form = new URLSearchParams(await res.text());
    const manifest = form.get('serviceManifest')!;
    await expectXsdValid(manifest);
    expect(readAllocationOffer(manifest)).toMatchObject({ decision: 'accepted', externalDeployments: [{ providerId: 'B' }] });
    expect(form.get('AllocationDetails')).toContain('<service_component id="web" federatedVMs="8"></service_component>');
  });
});

describe('a peer too small (1 × 4 CPUs)', () => {
  it('the split service ends partial, with the peer’s own reasons; the peer holds nothing', async () => {
    const res = await post(procs.A_TINY!.url, WEB_DB);
    expect(res.status).toBe(201); // db is held at A, as a partial admission
    const s = res.body.services[0];
    expect(s.decision).toBe('partial');
    expect(s.federation.status).toBe('failed');
    expect(s.federation.attempts).toMatchObject([{ peerId: 'T', protocol: 'eac', outcome: 'rejected', peerAdmissionId: null }]);
    expect(s.federation.attempts[0].peerReasons.map((r: { code: string }) => r.code)).toContain('INSUFFICIENT_CAPACITY');
    expect(s.federation.reasons).toHaveLength(1);
    expect(s.federation.reasons[0]).toMatchObject({ code: 'PEER_REJECTED', data: { peerId: 'T' } });
    expect(s.federation.reasons[0].message).toMatch(/^T answered rejected for web: web: the 8 VM\(s\) of web that its availability target requires need 16 CPUs and 8192 MB; the fleet has 4 CPUs/);
    expect(s.summary).toMatch(/^partial: db admitted locally with 1 VM\(s\).*; federation: T answered rejected/);
    await expectXsdValid(s.manifest);
    expect(readAllocationOffer(s.manifest)!.decision).toBe('partial');
    expect((await get(`${procs.T!.url}/api/v1/admissions?active=true`)).admissions).toEqual([]);
  });

  it('a service that cannot be split ends rejected, with reasons', async () => {
    const res = await post(procs.A_TINY!.url, WEB_DB_TOGETHER);
    expect(res.status).toBe(200);
    const s = res.body.services[0];
    expect(s.decision).toBe('rejected');
    expect(s.admissionId).toBeNull();
    expect(s.federation.sent.map((c: { componentId: string }) => c.componentId)).toEqual(['web', 'db']);
    expect(s.federation.reasons[0].code).toBe('PEER_REJECTED');
    expect(s.summary).toMatch(/; federation: T answered rejected for web, db/);
  });
});

describe('peers that fail', () => {
  it('wrong credentials, down, slow and garbage each cost at most their timeout; the next peer (OPTIMIS endpoint) accepts', async () => {
    const res = await post(procs.A_MIXED!.url, WEB_DB, '?dryRun=true');
    expect(res.status).toBe(200);
    const s = res.body.services[0];
    const attempts = s.federation.attempts as { peerId: string; outcome: string; error?: string; seconds: number; httpStatus?: number }[];
    expect(attempts.map((a) => [a.peerId, a.outcome])).toEqual([
      ['B-wrong-secret', 'error'],
      ['DOWN', 'error'],
      ['SLOW', 'error'],
      ['GARBAGE', 'error'],
      ['B-optimis', 'accepted'],
    ]);
    expect(attempts[0]!.error).toMatch(/^HTTP 401 AC_ERR_UNAUTHORIZED: .*\(the peer refused our credentials\)$/);
    expect(attempts[1]!.error).toBe('unreachable: connection refused');
    expect(attempts[2]!.seconds).toBeLessThanOrEqual(1.2); // the slow peer: at most its 1000 ms
    expect(attempts[3]!.error).toBe('invalid answer: the body is not valid JSON');
    expect(s).toMatchObject({ decision: 'accepted', federation: { status: 'federated', peerId: 'B-optimis', protocol: 'optimis', peerAdmissionId: null, placedVms: { web: 8 } } });
    await expectXsdValid(s.manifest);
    expect(res.ms).toBeLessThan(3000);
    // B logged the refused request, without the secret.
    expect(logged(procs.B!, 'request refused: the bearer token is not valid').length).toBeGreaterThanOrEqual(1);
    expect(procs.B!.output()).not.toContain('not-the-secret');
  });

  it('when every peer fails, the client still gets the local answer within its own deadline (never a hang or a 5xx)', async () => {
    const res = await post(procs.A_DEADLINE!.url, WEB_DB); // A's request deadline: 1500 ms; the slow peer's timeout: 8000 ms
    expect(res.status).toBe(201);
    expect(res.ms).toBeLessThan(1500);
    const s = res.body.services[0];
    expect(s.decision).toBe('partial');
    expect(s.federation.status).toBe('failed');
    expect(s.federation.reasons[0]).toMatchObject({ code: 'PEER_FAILED', data: { peerId: 'SLOW' } });
    expect(s.federation.attempts[0].seconds).toBeLessThan(1.5);
  });
});

describe('loops and trust', () => {
  it('A ↔ B does not loop: B never forwards to A under A’s id, and A refuses its own request under an alias', async () => {
    const res = await post(procs.LA!.url, WEB_DB, '?dryRun=true');
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(3000);
    const s = res.body.services[0];
    expect(s.decision).toBe('partial');
    expect(s.federation.attempts).toMatchObject([{ peerId: 'LB', outcome: 'rejected' }]);
    // LB's own explanation: it skipped LA (in the chain), tried LA-alias, and LA refused the loop.
    const lbReasons = (s.federation.attempts[0].peerReasons as { code: string; message: string }[]).filter((r) => r.code === 'PEER_FAILED');
    expect(lbReasons).toHaveLength(1);
    expect(lbReasons[0]!.message).toMatch(/^LA-alias failed after [\d.]+ s: HTTP 409 AC_ERR_CONFLICT: federation loop: this provider \(LA\) is already in the origin chain LA → LB$/);
    // Exactly one request each way: LA → LB, and LB → LA (refused). No ping-pong.
    const atLB = logged(procs.LB!, 'federation request received');
    const atLA = logged(procs.LA!, 'federation request received');
    expect(atLB.map((l) => [l.hop, l.origin])).toEqual([[1, ['LA']]]);
    expect(atLA.map((l) => [l.hop, l.origin])).toEqual([[2, ['LA', 'LB']]]);
  });

  it('a federation request without B’s credentials is refused by B (401), and B books nothing', async () => {
    const before = (await get(`${procs.B!.url}/api/v1/admissions`)).admissions.length;
    const fed = { 'X-EAC-Federation-Hop': '1', 'X-EAC-Federation-Origin': 'A', 'X-EAC-Federation-Id': 'fed-test-1' };
    const none = await post(procs.B!.url, WEB_DB, '', fed);
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ code: 'AC_ERR_UNAUTHORIZED', details: [{ field: 'Authorization', reason: 'missing' }] });
    const wrong = await post(procs.B!.url, WEB_DB, '', { ...fed, Authorization: 'Bearer guess' });
    expect(wrong.status).toBe(401);
    expect((await get(`${procs.B!.url}/api/v1/admissions`)).admissions.length).toBe(before);
    // With the secret, the same request is admitted (dry-run), all or nothing.
    const ok = await post(procs.B!.url, WEB_DB, '?dryRun=true', { ...fed, Authorization: 'Bearer b-secret' });
    expect(ok.status).toBe(200);
    expect(ok.body.services[0].decision).toBe('accepted');
    // The OPTIMIS endpoint is guarded the same way.
    const form = await fetch(`${procs.B!.url}/ACGateway/model/performACTest`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...fed },
      body: new URLSearchParams({ serviceManifest: WEB_DB }).toString(),
    });
    expect(form.status).toBe(401);
  });
});
