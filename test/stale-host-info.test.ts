/**
 * Honest answers on old host data, end to end through the HTTP layer: an admission made on a snapshot older than the
 * cache time is marked degraded with the age and the reason; past the maximum age it is refused with 503
 * AC_ERR_HOST_INFO_STALE (nothing recorded); an empty answer after a good one is held back and said so; /ready agrees.
 */
import request from 'supertest';
import { PhysicalHostsProvider } from '../host-info';
import type { PhysicalHostSpec } from './support/stubs';
import { answer, physicalHostsXml, startStub, status, type StubServer } from './support/stubs';
import { readManifest, testGateway, type TestGateway } from './support/gateway';

const SM = readManifest('decision/SM_1c2.xml');
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const hosts = (n: number): PhysicalHostSpec[] =>
  Array.from({ length: n }, (_, i) => ({ id: `node${i + 1}`, maxCores: 16, usedCores: 0, maxMemoryInGigabytes: 64, freeMemoryInGigabytes: 64 }));

let now = T0;
let stub: StubServer;
let served: PhysicalHostSpec[];
let gw: TestGateway;

beforeEach(async () => {
  now = T0;
  served = hosts(8);
  stub = await startStub((req, res, s) => answer(physicalHostsXml(served))(req, res, s));
  const provider = new PhysicalHostsProvider(
    { kind: 'physical-hosts', url: `${stub.url}/PhysicalHostsInfo`, timeoutMs: 1000, cacheTtlMs: 5000, maxStaleMs: 55_000 },
    { clock: () => now },
  );
  gw = await testGateway({ hostInfo: provider });
});
afterEach(async () => {
  await gw.close();
  await stub.close();
});

const admit = (query = '') => request(gw.app).post(`/api/v1/admissions${query}`).set('Content-Type', 'application/xml').send(SM);

test('fresh data: no degraded note; the source fails: degraded with the age; past the maximum age: 503, nothing recorded', async () => {
  const fresh = await admit('?dryRun=true');
  expect(fresh.status).toBe(200);
  expect(fresh.body.degraded).toEqual([]);

  stub.handler = status(503, 'down for maintenance');
  now = T0 + 20_000;
  const stale = await admit();
  expect(stale.status).toBe(201); // still admitted, on the last good list…
  const note = stale.body.degraded.find((d: { source: string }) => d.source === 'hostInfo');
  expect(note).toMatchObject({ source: 'hostInfo', target: 'physical-hosts', ageMs: 20_000 });
  expect(note.reason).toMatch(/^the host source failed: .*503/);
  expect(note.fallback).toBe(`the host list read at ${new Date(T0).toISOString()} (8 hosts, 20.0 s old)`);
  const ready = await request(gw.app).get('/ready');
  expect(ready.status).toBe(200);
  expect(ready.body.warnings.join(' ')).toMatch(/host source failing/);

  now = T0 + 60_001; // older than cacheTtl 5 s + maxStale 55 s
  const refused = await admit();
  expect(refused.status).toBe(503);
  expect(refused.body.error.code).toBe('AC_ERR_HOST_INFO_STALE');
  expect(refused.body.error.message).toMatch(/60\.001 s old, more than the maximum age of 60 s/);
  expect((await gw.admissions()).length).toBe(1); // only the one made before
  const notReady = await request(gw.app).get('/ready');
  expect(notReady.status).toBe(503);
  expect(notReady.body.reasons[0]).toMatch(/^the host list is 60\.0 s old, more than the maximum age of 60\.0 s/);
});

test('an empty answer after a good one is held back: admissions run on the previous list, marked degraded with the reason', async () => {
  expect((await admit('?dryRun=true')).body.degraded).toEqual([]);
  served = [];
  now = T0 + 6000;
  const res = await admit('?dryRun=true');
  expect(res.status).toBe(200);
  expect(res.body.hostsConsidered).toBe(8);
  const note = res.body.degraded.find((d: { source: string }) => d.source === 'hostInfo');
  expect(note.reason).toBe('the latest host list is held back: PhysicalHosts service answered 0 hosts, previously 8');
  expect((await request(gw.app).get('/health')).body.warnings).toEqual(['host list held back: PhysicalHosts service answered 0 hosts, previously 8']);
});
