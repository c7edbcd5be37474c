/**
 * Events three ways: the poll (GET /api/v1/events), Server-Sent Events resumable with Last-Event-ID, and webhook
 * subscriptions (signed, in order, dead-lettered) — each showing a client only its own admissions' events.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { tokenHash } from '../gateway/auth';
import { WebhookDeliverer, backoffMs, signature } from '../service/webhooks';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';

const SM = readManifest('decision/SM_1c2.xml');
const manifest = (id: string): string => SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="${id}"`);
const TOKENS = { ops: 'tok-ops', alice: 'tok-alice', bob: 'tok-bob', reader: 'tok-reader' };

let gw: TestGateway;
let server: http.Server;
let base: string;
beforeEach(async () => {
  gw = await testGateway({
    hosts: fleet(4, 8),
    tokens: [
      { name: 'ops', role: 'operator', sha256: tokenHash(TOKENS.ops) },
      { name: 'alice', role: 'client', sha256: tokenHash(TOKENS.alice) },
      { name: 'bob', role: 'client', sha256: tokenHash(TOKENS.bob) },
      { name: 'viewer', role: 'reader', sha256: tokenHash(TOKENS.reader) },
    ],
  });
  server = http.createServer(gw.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await gw.close();
});

const as = (who: keyof typeof TOKENS) => ({ Authorization: `Bearer ${TOKENS[who]}` });
const admitAs = async (who: keyof typeof TOKENS, serviceId: string): Promise<string> => {
  const res = await request(gw.app).post('/api/v1/admissions').set({ ...as(who), 'Content-Type': 'application/xml' }).send(manifest(serviceId));
  expect(res.status).toBe(201);
  return res.body.services[0].admissionId as string;
};

describe('GET /api/v1/events', () => {
  test('in seq order, with a cursor; a client sees only its own admissions’ events, readers and operators all', async () => {
    const a = await admitAs('alice', 'a-svc');
    const b = await admitAs('bob', 'b-svc');
    await request(gw.app).delete(`/api/v1/admissions/${a}`).set(as('alice'));
    const all = (await request(gw.app).get('/api/v1/events').set(as('reader'))).body;
    const mine = (e: { subject: string }) => [a, b].includes(e.subject);
    expect(all.events.filter(mine).map((e: { type: string; subject: string }) => [e.type, e.subject])).toEqual([
      ['admission.held', a],
      ['admission.held', b],
      ['admission.released', a],
    ]);
    const seqs = all.events.map((e: { seq: number }) => e.seq);
    expect([...seqs].sort((x: number, y: number) => x - y)).toEqual(seqs);
    const alice = (await request(gw.app).get('/api/v1/events').set(as('alice'))).body.events;
    expect(alice.map((e: { subject: string }) => e.subject)).toEqual([a, a]);
    expect(alice.every((e: { owner: string }) => e.owner === 'alice')).toBe(true);
    const after = all.events.find((e: { subject: string }) => e.subject === b).seq;
    const later = (await request(gw.app).get(`/api/v1/events?after=${after}`).set(as('ops'))).body.events;
    expect(later.filter(mine).map((e: { type: string }) => e.type)).toEqual(['admission.released']);
    // Peers have no events.
    expect((await request(gw.app).get('/api/v1/events?types=nonsense').set(as('ops'))).status).toBe(400);
  });
});

/** Reads an SSE stream until `count` events arrived; resolves with them (id, event, data). */
function readStream(url: string, headers: Record<string, string>, count: number): Promise<{ id: string; event: string; data: { subject: string; type: string } }[]> {
  return new Promise((resolve, reject) => {
    const got: { id: string; event: string; data: { subject: string; type: string } }[] = [];
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
          if (fields.data) got.push({ id: fields.id!, event: fields.event!, data: JSON.parse(fields.data) });
          if (got.length >= count) {
            req.destroy();
            resolve(got);
          }
        }
      });
    });
    req.on('error', (e) => (got.length >= count ? undefined : reject(e)));
    setTimeout(() => {
      req.destroy();
      reject(new Error(`only ${got.length} of ${count} events arrived`));
    }, 10_000).unref();
  });
}

describe('GET /api/v1/events/stream (SSE)', () => {
  test('live events, then a resume with Last-Event-ID gets exactly what came after, nothing twice', async () => {
    const stream = readStream(`${base}/api/v1/events/stream?after=0&types=admission.*`, as('ops'), 2);
    const a = await admitAs('alice', 's1');
    const b = await admitAs('alice', 's2');
    const first = await stream;
    expect(first.map((e) => [e.event, e.data.subject])).toEqual([
      ['admission.held', a],
      ['admission.held', b],
    ]);
    // Missed while disconnected:
    const c = await admitAs('bob', 's3');
    await request(gw.app).delete(`/api/v1/admissions/${a}`).set(as('ops'));
    const resumed = await readStream(`${base}/api/v1/events/stream?types=admission.*`, { ...as('ops'), 'Last-Event-ID': first[1]!.id }, 2);
    expect(resumed.map((e) => [e.event, e.data.subject])).toEqual([
      ['admission.held', c],
      ['admission.released', a],
    ]);
    expect(Number(resumed[0]!.id)).toBeGreaterThan(Number(first[1]!.id));
  });

  test("a client's stream carries only its own events", async () => {
    const stream = readStream(`${base}/api/v1/events/stream`, as('bob'), 1);
    await new Promise((r) => setTimeout(r, 100)); // the stream starts from now on
    await admitAs('alice', 'not-bobs');
    const mine = await admitAs('bob', 'bobs');
    const got = await stream;
    expect(got.map((e) => e.data.subject)).toEqual([mine]);
  });

  test('a malformed Last-Event-ID is 400; anonymous is 401', async () => {
    expect((await request(gw.app).get('/api/v1/events/stream').set({ ...as('ops'), 'Last-Event-ID': 'abc' })).status).toBe(400);
    expect((await request(gw.app).get('/api/v1/events/stream')).status).toBe(401);
  });
});

describe('webhook subscriptions', () => {
  interface Received {
    readonly id: string;
    readonly signature: string;
    readonly body: string;
  }
  async function receiver(status: () => number): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
    const received: Received[] = [];
    const srv = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ id: String(req.headers['x-eac-event-id']), signature: String(req.headers['x-eac-signature']), body });
        res.statusCode = status();
        res.end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => srv.close(() => r())) };
  }

  test('signed with HMAC-SHA256 of the body, in order, only the subscribed types and only the owner’s events', async () => {
    const hook = await receiver(() => 204);
    const secret = 'a-webhook-secret-of-some-length';
    const sub = await request(gw.app).post('/api/v1/subscriptions').set(as('alice')).send({ url: hook.url, events: ['admission.*'], secret });
    expect(sub.status).toBe(201);
    expect(JSON.stringify(sub.body)).not.toContain(secret);
    const deliverer = new WebhookDeliverer(gw.ledger, { clock: () => gw.clock.now(), allowsPrivate: () => true, pollMs: 20 });
    deliverer.start();
    try {
      const a1 = await admitAs('alice', 'w1');
      await admitAs('bob', 'not-alices');
      await request(gw.app).delete(`/api/v1/admissions/${a1}`).set(as('alice'));
      const deadline = Date.now() + 10_000;
      while (hook.received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, 100));
      expect(hook.received.map((r) => JSON.parse(r.body).type)).toEqual(['admission.held', 'admission.released']);
      for (const r of hook.received) {
        expect(r.signature).toBe(`sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`);
        expect(JSON.parse(r.body)).toMatchObject({ id: r.id, owner: 'alice', subject: a1 });
      }
      const state = await request(gw.app).get(`/api/v1/subscriptions/${sub.body.id}`).set(as('alice'));
      expect(state.body).toMatchObject({ delivered: 2, deadLetters: [], state: 'ok' });
      expect((await request(gw.app).get(`/api/v1/subscriptions/${sub.body.id}`).set(as('bob'))).status).toBe(404);
    } finally {
      await deliverer.stop();
      await hook.close();
    }
  });

  test('a receiver that keeps failing: retried with backoff, then dead-lettered and visible; delivery moves on', async () => {
    let fail = true;
    const hook = await receiver(() => (fail ? 500 : 200));
    const sub = await request(gw.app).post('/api/v1/subscriptions').set(as('ops')).send({ url: hook.url, events: ['admission.held'], secret: 'another-secret-16chars' });
    const deliverer = new WebhookDeliverer(gw.ledger, { clock: () => gw.clock.now(), allowsPrivate: () => true, maxAttempts: 3, baseBackoffMs: 1000, pollMs: 10 });
    deliverer.start();
    try {
      const first = await admitAs('alice', 'dead');
      // Attempts are due after 1 s, then 2 s of the (manual) clock.
      for (let i = 0; i < 3; i++) {
        const deadline = Date.now() + 5000;
        while (hook.received.length < i + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        gw.clock.advance(5000);
      }
      const deadline = Date.now() + 5000;
      let state: { deadLetters: { eventId: string; attempts: number }[] } = { deadLetters: [] };
      while (state.deadLetters.length === 0 && Date.now() < deadline) {
        state = (await request(gw.app).get(`/api/v1/subscriptions/${sub.body.id}`).set(as('ops'))).body;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(hook.received).toHaveLength(3);
      expect(new Set(hook.received.map((r) => r.id)).size).toBe(1); // the same event, three attempts
      expect(state.deadLetters).toEqual([expect.objectContaining({ eventId: hook.received[0]!.id, attempts: 3 })]);
      fail = false;
      const second = await admitAs('alice', 'alive');
      const until = Date.now() + 5000;
      while (hook.received.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(JSON.parse(hook.received[3]!.body).subject).toBe(second);
      expect(first).not.toBe(second);
    } finally {
      await deliverer.stop();
      await hook.close();
    }
  });

  test('clients may not point webhooks at private addresses unless allowed; bad subscriptions are 400', async () => {
    const bad = await request(gw.app).post('/api/v1/subscriptions').set(as('alice')).send({ url: 'ftp://x', events: ['admission.*'], secret: '0123456789abcdef' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('body.url');
    expect((await request(gw.app).post('/api/v1/subscriptions').set(as('alice')).send({ url: 'http://example.com/', events: ['bogus'], secret: '0123456789abcdef' })).status).toBe(400);
    expect((await request(gw.app).post('/api/v1/subscriptions').set(as('alice')).send({ url: 'http://example.com/', events: ['admission.*'], secret: 'short' })).status).toBe(400);
    expect((await request(gw.app).post('/api/v1/subscriptions').set(as('reader')).send({ url: 'http://example.com/', events: ['admission.*'], secret: '0123456789abcdef' })).status).toBe(403);

    const hook = await receiver(() => 200);
    await request(gw.app).post('/api/v1/subscriptions').set(as('alice')).send({ url: hook.url, events: ['admission.*'], secret: '0123456789abcdef' });
    const outcomes: string[] = [];
    const deliverer = new WebhookDeliverer(gw.ledger, { clock: () => gw.clock.now(), allowsPrivate: (c) => c.subscription.seesAll, maxAttempts: 1, pollMs: 10, onOutcome: (_c, o) => outcomes.push(o.error ?? 'ok') });
    deliverer.start();
    try {
      await admitAs('alice', 'ssrf');
      const deadline = Date.now() + 5000;
      while (outcomes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(outcomes[0]).toMatch(/target address 127\.0\.0\.1 is private/);
      expect(hook.received).toEqual([]);
    } finally {
      await deliverer.stop();
      await hook.close();
    }
  });

  test('signature and backoff helpers', () => {
    expect(signature('{"a":1}', 'k')).toBe(`sha256=${createHmac('sha256', 'k').update('{"a":1}').digest('hex')}`);
    expect([1, 2, 3, 10].map((n) => backoffMs(n, 1000, 60_000, () => 0))).toEqual([1000, 2000, 4000, 60_000]);
    expect(backoffMs(2, 1000, 60_000, () => 1)).toBe(1500);
  });
});
