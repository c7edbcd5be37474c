/**
 * The audit log and the decision log through the HTTP API (supertest, real SQLite ledger): who changed what and when,
 * with before and after; every admission answer (rejections and dry-runs included) by id, service, owner and time,
 * a client seeing its own only; the decision log survives a restart; admission log lines (JSON API and OPTIMIS
 * routes) carry admission ids, decisions, reason codes and the duration.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import type { TokenConfig } from '../config/config';
import { tokenHash } from '../gateway/auth';
import { createLogger } from '../gateway/logger';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';

const SM = readManifest('decision/SM_1c2.xml');
const BIG = readManifest('decision/BigSM_1c2.xml');
const TOKENS: TokenConfig[] = [
  { name: 'olga', role: 'operator', sha256: tokenHash('tok-olga') },
  { name: 'rita', role: 'reader', sha256: tokenHash('tok-rita') },
  { name: 'alice', role: 'client', sha256: tokenHash('tok-alice') },
  { name: 'bob', role: 'client', sha256: tokenHash('tok-bob') },
];
const as = (who: string): Record<string, string> => ({ Authorization: `Bearer tok-${who}` });
const renamed = (serviceId: string): string => SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="${serviceId}"`);

let gw: TestGateway;
const T0 = Date.parse('2030-06-01T00:00:00.000Z');
beforeEach(async () => {
  gw = await testGateway({ hosts: fleet(2, 8), tokens: TOKENS });
  gw.clock.set(T0);
});
afterEach(() => gw.close());

const admit = (who: string, xml: string, query = '') => request(gw.app).post(`/api/v1/admissions${query}`).set({ ...as(who), 'Content-Type': 'application/xml' }).send(xml);

describe('GET /api/v1/audit', () => {
  async function operatorChanges(): Promise<{ admissionId: string }> {
    expect((await request(gw.app).put('/api/v1/policy').set(as('olga')).send({ weights: { cost: 0.4, eco: 0.2, risk: 0.2, trust: 0.2 } })).status).toBe(200);
    gw.clock.set(T0 + 60_000);
    expect((await request(gw.app).put('/api/v1/constraints/default').set(as('olga')).send({ constraints: { eco: 1, trust: 1, risk: 5, cost: 1000 } })).status).toBe(200);
    expect((await request(gw.app).put('/api/v1/services/web/constraints').set(as('olga')).send({ constraints: { cost: 50 } })).status).toBe(200);
    gw.clock.set(T0 + 120_000);
    const w = await request(gw.app).post('/api/v1/capacity/windows').set(as('olga')).send({ hosts: ['host-1'], start: new Date(T0 + 3_600_000).toISOString(), end: new Date(T0 + 7_200_000).toISOString(), cpusDelta: -8, reason: 'kernel update' });
    expect(w.status).toBe(201);
    expect((await request(gw.app).delete(`/api/v1/capacity/windows/${w.body.window.id}`).set(as('olga'))).status).toBe(204);
    const sub = await request(gw.app).post('/api/v1/subscriptions').set(as('olga')).send({ url: 'https://hooks.example.test/eac', events: ['admission.*'], secret: 'a-secret-of-16-chars' });
    expect(sub.status).toBe(201);
    const admitted = await admit('alice', SM);
    expect(admitted.status).toBe(201);
    const admissionId = admitted.body.services[0].admissionId as string;
    gw.clock.set(T0 + 180_000);
    expect((await request(gw.app).delete(`/api/v1/admissions/${admissionId}`).set(as('olga'))).status).toBe(200);
    return { admissionId };
  }

  it('shows who changed what and when, with before and after, for every kind of operator change', async () => {
    const { admissionId } = await operatorChanges();
    const res = await request(gw.app).get('/api/v1/audit').set(as('rita'));
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    const rows = res.body.audit as { actor: string; action: string; subject: string; at: string; before: unknown; after: unknown }[];
    expect(rows.map((r) => [r.actor, r.action])).toEqual([
      ['olga', 'policy.set'],
      ['olga', 'constraints.default.set'],
      ['olga', 'constraints.service.set'],
      ['olga', 'window.created'],
      ['olga', 'window.removed'],
      ['olga', 'subscription.created'],
      ['olga', 'admission.released'],
    ]);
    expect(rows[0]).toMatchObject({ at: new Date(T0).toISOString(), subject: 'policy', before: { generation: 1 }, after: { weights: { cost: 0.4 }, generation: 2 } });
    expect(rows[2]).toMatchObject({ subject: 'web', before: null, after: { constraints: { cost: 50 } } });
    expect(rows[4]).toMatchObject({ before: { reason: 'kernel update', cpusDelta: -8 }, after: null });
    expect(rows[6]).toMatchObject({ subject: admissionId, at: new Date(T0 + 180_000).toISOString(), before: { status: 'held' }, after: { status: 'released' } });
    // The subscription's secret is never in the audit trail.
    expect(JSON.stringify(rows)).not.toContain('a-secret-of-16-chars');
  });

  it('filters by actor, action, subject and time, and pages with a cursor', async () => {
    const { admissionId } = await operatorChanges();
    const actions = async (query: string): Promise<string[]> => {
      const res = await request(gw.app).get(`/api/v1/audit?${query}`).set(as('olga'));
      expect(res.status).toBe(200);
      return res.body.audit.map((r: { action: string }) => r.action);
    };
    expect(await actions('action=policy.set')).toEqual(['policy.set']);
    expect(await actions(`subject=${admissionId}`)).toEqual(['admission.released']);
    expect(await actions('actor=alice')).toEqual([]);
    expect(await actions(`from=${new Date(T0 + 60_000).toISOString()}&to=${new Date(T0 + 120_000).toISOString()}`)).toEqual(['constraints.default.set', 'constraints.service.set']);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await request(gw.app).get(`/api/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`).set(as('olga'));
      expect(res.body.audit.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.audit.map((r: { action: string }) => r.action));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(await actions(''));
    expect((await request(gw.app).get('/api/v1/audit?cursor=bogus').set(as('olga'))).body.error.code).toBe('AC_ERR_INVALID_REQUEST');
    expect((await request(gw.app).get('/api/v1/audit?from=yesterday').set(as('olga'))).body.error.details[0].field).toBe('query.from');
  });

  it('is for operators and readers: a client gets 403, no token 401', async () => {
    expect((await request(gw.app).get('/api/v1/audit').set(as('alice'))).status).toBe(403);
    const anonymous = await request(gw.app).get('/api/v1/audit');
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, 'AC_ERR_UNAUTHORIZED']);
  });

  it('records OPTIMIS setPolicy like the JSON API', async () => {
    expect((await request(gw.app).post('/ACGateway/data/setPolicy/0.25/0.25/0.25/0.25').set(as('olga'))).status).toBe(200);
    const res = await request(gw.app).get('/api/v1/audit?action=policy.set').set(as('olga'));
    expect(res.body.audit).toHaveLength(1);
    expect(res.body.audit[0]).toMatchObject({ actor: 'olga', after: { weights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 } } });
  });
});

describe('the decision log: GET /api/v1/decisions and /api/v1/decisions/{id}', () => {
  it('keeps every answer, rejections and dry-runs included, with reasons and duration', async () => {
    const accepted = await admit('alice', SM);
    gw.clock.set(T0 + 1000);
    const rejected = await admit('alice', BIG);
    gw.clock.set(T0 + 2000);
    const dry = await admit('bob', renamed('bobs'), '?dryRun=true');
    expect([accepted.status, rejected.status, dry.status]).toEqual([201, 200, 200]);
    const res = await request(gw.app).get('/api/v1/decisions').set(as('olga'));
    expect(res.status).toBe(200);
    const list = res.body.decisions as Record<string, unknown>[];
    expect(list.map((d) => [d.owner, d.serviceId, d.decision, d.dryRun])).toEqual([
      ['alice', 'ACTestsDecisionAccepted', 'accepted', false],
      ['alice', 'ACTestsDecisionRejected', 'rejected', false],
      ['bob', 'bobs', 'accepted', true],
    ]);
    expect(list[0]).toMatchObject({ admissionId: accepted.body.services[0].admissionId, requestId: accepted.body.requestId, reasons: [], at: new Date(T0).toISOString() });
    expect(list[1]).toMatchObject({ admissionId: null, reasons: expect.arrayContaining(['VM_LARGER_THAN_ANY_HOST']) });
    expect(list[2]!.admissionId).toBeNull();
    for (const d of list) expect(d.durationMs).toEqual(expect.any(Number));
    // One decision, with the reasons in words.
    const one = await request(gw.app).get(`/api/v1/decisions/${list[1]!.id}`).set(as('rita'));
    expect(one.status).toBe(200);
    const compA = one.body.detail.components.find((c: { id: string }) => c.id === 'compA');
    expect(compA.reasons.find((r: { code: string }) => r.code === 'VM_LARGER_THAN_ANY_HOST').message).toBe('one VM of compA needs 10 CPUs; the largest host has 8 in total');
    expect(one.body.detail.summary).toMatch(/^rejected: /);
    expect(JSON.stringify(one.body)).not.toContain('<?xml');
  });

  it('filters by service, owner, admission, decision and time; pages with a cursor', async () => {
    const first = await admit('alice', SM);
    gw.clock.set(T0 + 60_000);
    await admit('alice', BIG);
    gw.clock.set(T0 + 120_000);
    await admit('bob', renamed('bobs'));
    const ids = async (query: string): Promise<string[]> => {
      const res = await request(gw.app).get(`/api/v1/decisions?${query}`).set(as('olga'));
      expect(res.status).toBe(200);
      return res.body.decisions.map((d: { serviceId: string }) => d.serviceId);
    };
    expect(await ids('owner=bob')).toEqual(['bobs']);
    expect(await ids('serviceId=ACTestsDecisionRejected')).toEqual(['ACTestsDecisionRejected']);
    expect(await ids(`admissionId=${first.body.services[0].admissionId}`)).toEqual(['ACTestsDecisionAccepted']);
    expect(await ids('decision=rejected')).toEqual(['ACTestsDecisionRejected']);
    expect(await ids(`from=${new Date(T0 + 60_000).toISOString()}`)).toEqual(['ACTestsDecisionRejected', 'bobs']);
    expect(await ids(`to=${new Date(T0 + 60_000).toISOString()}`)).toEqual(['ACTestsDecisionAccepted']);
    const page1 = await request(gw.app).get('/api/v1/decisions?limit=2').set(as('olga'));
    expect(page1.body.decisions).toHaveLength(2);
    const page2 = await request(gw.app).get(`/api/v1/decisions?limit=2&cursor=${page1.body.nextCursor}`).set(as('olga'));
    expect([page2.body.decisions.map((d: { serviceId: string }) => d.serviceId), page2.body.nextCursor]).toEqual([['bobs'], null]);
    expect((await request(gw.app).get('/api/v1/decisions?decision=maybe').set(as('olga'))).status).toBe(400);
  });

  it("a client sees its own decisions only; another's is absent (404); readers and operators see all", async () => {
    await admit('alice', SM);
    await admit('bob', renamed('bobs'));
    const mine = await request(gw.app).get('/api/v1/decisions').set(as('bob'));
    expect(mine.body.decisions.map((d: { owner: string }) => d.owner)).toEqual(['bob']);
    expect((await request(gw.app).get('/api/v1/decisions?owner=alice').set(as('bob'))).status).toBe(403);
    const all = await request(gw.app).get('/api/v1/decisions').set(as('rita'));
    const alices = all.body.decisions.find((d: { owner: string }) => d.owner === 'alice');
    expect((await request(gw.app).get(`/api/v1/decisions/${alices.id}`).set(as('bob'))).status).toBe(404);
    expect((await request(gw.app).get(`/api/v1/decisions/${alices.id}`).set(as('alice'))).status).toBe(200);
    expect((await request(gw.app).get('/api/v1/decisions/dec-nope').set(as('olga'))).status).toBe(404);
    expect((await request(gw.app).get('/api/v1/decisions')).status).toBe(401);
  });

  it('OPTIMIS admissions are in the decision log too', async () => {
    const res = await request(gw.app).post('/ACGateway/model/performOneManifestACTest').set({ ...as('alice'), 'Content-Type': 'application/xml' }).send(SM);
    expect(res.status).toBe(200);
    const log = await request(gw.app).get('/api/v1/decisions').set(as('alice'));
    expect(log.body.decisions.map((d: { serviceId: string; decision: string }) => [d.serviceId, d.decision])).toEqual([['ACTestsDecisionAccepted', 'accepted']]);
  });

  it('a decision log that cannot be written does not turn the answer into an error', async () => {
    const ledger = gw.ledger as unknown as { recordDecisions: (...a: unknown[]) => Promise<void> };
    const original = ledger.recordDecisions;
    ledger.recordDecisions = async () => {
      throw new Error('disk full');
    };
    try {
      const res = await admit('alice', SM);
      expect(res.status).toBe(201);
      expect((await request(gw.app).get(`/api/v1/admissions/${res.body.services[0].admissionId}`).set(as('alice'))).body.status).toBe('held');
    } finally {
      ledger.recordDecisions = original;
    }
    expect((await request(gw.app).get('/api/v1/decisions').set(as('olga'))).body.decisions).toEqual([]);
  });

  it('an idempotent replay is not a second decision', async () => {
    const first = await admit('alice', SM).set('Idempotency-Key', 'k-1');
    const again = await request(gw.app).post('/api/v1/admissions').set({ ...as('alice'), 'Content-Type': 'application/xml', 'Idempotency-Key': 'k-1' }).send(SM);
    expect(first.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await request(gw.app).get('/api/v1/decisions').set(as('olga'))).body.decisions).toHaveLength(1);
  });
});

describe('the decision log survives a restart', () => {
  it('a decision recorded before the restart reads back the same after it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-decisions-'));
    try {
      const before = await testGateway({ hosts: fleet(2, 8), tokens: TOKENS, dataDir });
      await request(before.app).post('/api/v1/admissions?dryRun=true').set({ ...as('alice'), 'Content-Type': 'application/xml' }).send(BIG);
      const listed = (await request(before.app).get('/api/v1/decisions').set(as('olga'))).body.decisions;
      expect(listed).toHaveLength(1);
      await before.close();
      const after = await testGateway({ hosts: fleet(2, 8), tokens: TOKENS, dataDir });
      try {
        const res = await request(after.app).get(`/api/v1/decisions/${listed[0].id}`).set(as('olga'));
        expect(res.status).toBe(200);
        expect(res.body).toEqual(listed[0]);
        expect(res.body).toMatchObject({ decision: 'rejected', dryRun: true, owner: 'alice' });
      } finally {
        await after.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('admission log lines', () => {
  async function withLog(run: (g: TestGateway) => Promise<void>): Promise<Record<string, unknown>[]> {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
    const g = await testGateway({ hosts: fleet(2, 8), tokens: TOKENS, logger: createLogger('info', false, stream) });
    try {
      await run(g);
    } finally {
      await g.close();
    }
    await new Promise((r) => setImmediate(r));
    return chunks.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('carry admission ids, decisions, reason codes and the duration, on the JSON API and the OPTIMIS routes', async () => {
    let admissionId = '';
    const lines = await withLog(async (g) => {
      const a = await request(g.app).post('/api/v1/admissions').set({ ...as('alice'), 'Content-Type': 'application/xml' }).send(SM);
      admissionId = a.body.services[0].admissionId;
      await request(g.app).post('/api/v1/admissions').set({ ...as('alice'), 'Content-Type': 'application/xml' }).send(BIG);
      await request(g.app).post('/ACGateway/model/performOneManifestACTest').set({ ...as('alice'), 'Content-Type': 'application/xml' }).send(BIG);
      await request(g.app).put('/ACGateway/data/setPolicy/1/0/0/0').set(as('olga'));
    });
    const json = lines.filter((l) => l.message === 'admission');
    expect(json).toHaveLength(2);
    expect(json[0]).toMatchObject({ services: [{ admissionId, decision: 'accepted', reasons: [] }], durationMs: expect.any(Number) });
    expect(json[1]).toMatchObject({ services: [{ admissionId: null, decision: 'rejected', reasons: expect.arrayContaining(['VM_LARGER_THAN_ANY_HOST']) }] });
    const optimis = lines.filter((l) => l.message === 'optimis admission');
    expect(optimis).toHaveLength(1);
    expect(optimis[0]).toMatchObject({
      route: 'performOneManifestACTest',
      requestId: expect.any(String),
      owner: 'alice',
      services: [{ serviceId: 'ACTestsDecisionRejected', decision: 'rejected', reasons: expect.arrayContaining(['VM_LARGER_THAN_ANY_HOST']) }],
      durationMs: expect.any(Number),
      solver: expect.any(String),
    });
    expect(lines.find((l) => l.message === 'policy changed')).toMatchObject({ by: 'olga', via: 'optimis PUT', weights: { cost: 0, eco: 0, risk: 0, trust: 1 } });
  });
});
