/**
 * fetchTrec against stub TREC services (express on 127.0.0.1, ephemeral ports): values, retries, timeouts, garbage, fallbacks, abort.
 * The stubs implement the wire protocol documented in trec-analyzer/trec-fetchers.ts; nothing leaves the loopback interface.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request, type Response } from 'express';
import {
  fetchTrec,
  TrecClient,
  type ServiceTrecRequest,
  type TrecFetchOptions,
  type TrecSourceHealth,
  type TrecSourceName,
} from '../trec-analyzer/trec-fetchers';
import { isAdmissionError } from '../model/errors';
import { answer, hang, hostValues, startStub, status as statusHandler, type StubServer } from './support/stubs';

// ---------------------------------------------------------------------------------------------
// Stub server: one express app, one route per behaviour, hit counters per route

const hits = new Map<string, number>();
const bodies = new Map<string, unknown[]>();
let inFlight = 0;
let maxInFlightSeen = 0;

function count(req: Request): number {
  const n = (hits.get(req.path) ?? 0) + 1;
  hits.set(req.path, n);
  bodies.set(req.path, [...(bodies.get(req.path) ?? []), req.body]);
  return n;
}

/** Answers after `ms`, unless the client went away first (then the timer is cleared, so nothing outlives the test). */
function later(res: Response, ms: number, send: () => void): void {
  const t = setTimeout(send, ms);
  res.on('close', () => clearTimeout(t));
}

const svcId = (req: Request): string => String((req.body as { serviceId?: unknown }).serviceId);

// Shortened from the OPTIMIS bundled cost.xml (reference/manifests/other/cost-priceplan.xml).
const PRICE_PLAN = `<?xml version="1.0" encoding="UTF-8"?>
<pricePlan>
<currency>EUR</currency>
<planCap>70</planCap>
<planFloor>10</planFloor>
<name>DemoApp</name>
<priceComponent>
<name>system-vpn</name>
<componentCap>4</componentCap>
<componentFloor>4</componentFloor>
<priceLevel><priceType>USAGE</priceType><name>VM_Costs</name><absoluteAmount> 4 </absoluteAmount><multiplier> Hr </multiplier></priceLevel>
</priceComponent>
</pricePlan>`;

const RISK_XML = '<RiskAssesor><sp rank="1" pof="5.0">OTHER</sp><sp rank="0" pof="2.0">OPTIMUMWEB</sp></RiskAssesor>';

function buildApp(): express.Express {
  const app = express();
  app.use(express.json({ limit: '5mb' }));
  app.use((_req, res, next) => {
    inFlight++;
    maxInFlightSeen = Math.max(maxInFlightSeen, inFlight);
    res.on('close', () => inFlight--);
    next();
  });

  // Healthy answers in every accepted shape.
  app.post('/trust/json', (req, res) => {
    count(req);
    res.json({ trust: 4.2 });
  });
  app.post('/trust/value', (req, res) => {
    count(req);
    res.json({ value: 3.5 });
  });
  app.post('/trust/bare', (req, res) => {
    count(req);
    res.type('application/json').send('2');
  });
  app.post('/risk/xml', (req, res) => {
    count(req);
    res.type('application/xml').send(RISK_XML);
  });
  app.post('/risk/json', (req, res) => {
    count(req);
    res.json({ risk: 3 });
  });
  app.post('/eco/text', (req, res) => {
    count(req);
    res.type('text/plain').send('7.50');
  });
  app.post('/cost/xml', (req, res) => {
    count(req);
    res.type('application/xml').send(PRICE_PLAN);
  });
  app.post('/cost/json', (req, res) => {
    count(req);
    res.json({ planFloor: 12.5, planCap: 80, currency: 'USD' });
  });
  app.post('/hosts/risk', (req, res) => {
    count(req);
    const ids = (req.body as { hostIds: string[] }).hostIds;
    res.json(Object.fromEntries(ids.map((id, i) => [id, 0.001 * (i + 1)])));
  });
  app.post('/hosts/eco', (req, res) => {
    count(req);
    const ids = (req.body as { hostIds: string[] }).hostIds;
    res.json({ values: Object.fromEntries(ids.map((id, i) => [id, 10 + i])) });
  });

  // Failures.
  app.post('/slow', (req, res) => {
    count(req);
    later(res, 5000, () => res.send('1'));
  });
  app.post('/slow-json', (req, res) => {
    count(req);
    later(res, 60, () => res.json({ value: 1 }));
  });
  app.post('/reset', (req) => {
    count(req);
    req.socket.destroy();
  });
  app.post('/flaky', (req, res) => {
    const n = count(req);
    if (n <= 2) res.status(503).send('busy');
    else res.type('text/plain').send('4.5');
  });
  app.post('/always503', (req, res) => {
    count(req);
    res.status(503).send('busy');
  });
  app.post('/notfound', (req, res) => {
    count(req);
    res.status(404).send('no such tool');
  });

  // Garbage, chosen per service id so that one endpoint covers many cases.
  const garbage: Record<string, string> = {
    html: '<html><body><h1>502 Bad Gateway</h1></body></html>',
    nan: 'NaN',
    negative: '-1',
    jsonNaN: '{"trust": "NaN"}',
    empty: '',
    array: '[4.2]',
    huge: '1e999',
    hex: '0x10',
  };
  app.post('/garbage/trust', (req, res) => {
    count(req);
    res.type('text/plain').send(garbage[svcId(req)] ?? '3');
  });
  const riskGarbage: Record<string, string> = {
    range: '42',
    noRank0: '<RiskAssesor><sp rank="1" pof="2.0">X</sp></RiskAssesor>',
    badPof: '<RiskAssesor><sp rank="0" pof="high">X</sp></RiskAssesor>',
    doctype: '<!DOCTYPE r [<!ENTITY x "1">]><RiskAssesor><sp rank="0" pof="&x;">X</sp></RiskAssesor>',
    wrongRoot: '<Risk><sp rank="0" pof="1"/></Risk>',
  };
  app.post('/garbage/risk', (req, res) => {
    count(req);
    res.type('application/xml').send(riskGarbage[svcId(req)] ?? '1');
  });
  const ecoGarbage: Record<string, string> = { zero: '0.0', negative: '-3', text: 'Error: eco tool unavailable' };
  app.post('/garbage/eco', (req, res) => {
    count(req);
    res.type('text/plain').send(ecoGarbage[svcId(req)] ?? '5');
  });
  const costGarbage: Record<string, string> = {
    noFloor: '<pricePlan><currency>EUR</currency><planCap>70</planCap></pricePlan>',
    capBelowFloor: '{"planFloor": 50, "planCap": 10}',
    negative: '{"planFloor": -1}',
    empty: '',
  };
  app.post('/garbage/cost', (req, res) => {
    count(req);
    res.type('text/plain').send(costGarbage[svcId(req)] ?? '{"planFloor": 1}');
  });
  app.post('/hosts/missing', (req, res) => {
    count(req);
    res.json({ h1: 0.02, h3: 'NaN', h4: 1.5 });
  });
  app.post('/hosts/html', (req, res) => {
    count(req);
    res.type('text/html').send('<html>maintenance</html>');
  });
  app.post('/hosts/eco-zero', (req, res) => {
    count(req);
    res.json({ h1: 0, h2: 9 });
  });
  return app;
}

let server: Server;
let base = '';
/** A port nothing listens on: bound once, then released. */
let deadUrl = '';

beforeAll(async () => {
  server = await new Promise<Server>((resolve) => {
    const s = buildApp().listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const probe = await new Promise<Server>((resolve) => {
    const s = express().listen(0, '127.0.0.1', () => resolve(s));
  });
  deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/trust`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  hits.clear();
  bodies.clear();
  maxInFlightSeen = 0;
});

// ---------------------------------------------------------------------------------------------

const FALLBACKS = { trust: 3, eco: 8, risk: 2, hostRisk: 0.01, hostEco: 'index' as const };

function opts(endpoints: TrecFetchOptions['endpoints'], extra: Partial<TrecFetchOptions> = {}): TrecFetchOptions {
  return { endpoints, fallbacks: FALLBACKS, timeoutMs: 2000, retries: 2, backoffMs: 20, ...extra };
}

const svc = (serviceId: string, serviceProviderId?: string): ServiceTrecRequest => ({
  serviceId,
  manifestXml: `<ServiceManifest serviceId="${serviceId}"/>`,
  ...(serviceProviderId !== undefined ? { serviceProviderId } : {}),
});

const url = (path: string): string => `${base}${path}`;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
/** The note of a call refused by an open circuit ("…, a trial call is running" while half-open). */
const SKIPPED = (source: string, last: string, trialRunning = false): RegExp =>
  new RegExp(`^skipped: the ${source} service is failing \\(circuit open since ${ISO}${trialRunning ? ', a trial call is running' : ''}, last: ${escapeRegExp(last)}\\)$`);

describe('healthy services', () => {
  it('fetches every value, marks the sources "service" and notes nothing', async () => {
    const snap = await fetchTrec(
      [svc('s1', 'SP-A'), svc('s2')],
      ['h1', 'h2'],
      opts({
        trust: url('/trust/json'),
        risk: url('/risk/xml'),
        eco: url('/eco/text'),
        cost: url('/cost/xml'),
        hostRisk: url('/hosts/risk'),
        hostEco: url('/hosts/eco'),
      }),
    );
    expect(snap.degraded).toEqual([]);
    expect(snap.services.get('s1')).toEqual({
      trust: 4.2,
      risk: 2, // pof of rank 0, not of the first <sp>
      eco: 7.5,
      planFloor: 10,
      planCap: 70,
      currency: 'EUR',
      sources: { trust: 'service', risk: 'service', eco: 'service', cost: 'service' },
    });
    expect(snap.services.get('s2')?.trust).toBe(4.2);
    expect(snap.hosts.get('h1')).toEqual({ risk: 0.001, eco: 10 });
    expect(snap.hosts.get('h2')).toEqual({ risk: 0.002, eco: 11 });
    // Request shape: one POST per service and source, the manifest as a string; one batch per host source.
    expect(hits.get('/trust/json')).toBe(2);
    expect(hits.get('/hosts/risk')).toBe(1);
    expect(bodies.get('/cost/xml')).toEqual(
      expect.arrayContaining([
        { serviceId: 's1', serviceProviderId: 'SP-A', manifest: '<ServiceManifest serviceId="s1"/>' },
        { serviceId: 's2', serviceProviderId: null, manifest: '<ServiceManifest serviceId="s2"/>' },
      ]),
    );
    expect(bodies.get('/hosts/eco')).toEqual([{ hostIds: ['h1', 'h2'] }]);
  });

  it('accepts {"value": n}, a bare JSON number, JSON risk and a JSON price plan', async () => {
    const a = await fetchTrec([svc('s1')], [], opts({ trust: url('/trust/value'), risk: url('/risk/json'), cost: url('/cost/json') }));
    expect(a.degraded).toEqual([]);
    expect(a.services.get('s1')).toMatchObject({ trust: 3.5, risk: 3, planFloor: 12.5, planCap: 80, currency: 'USD' });
    const b = await fetchTrec([svc('s1')], [], opts({ trust: url('/trust/bare') }));
    expect(b.services.get('s1')?.trust).toBe(2);
  });
});

describe('unconfigured endpoints', () => {
  it('use the configured defaults, source "default", without degraded notes', async () => {
    const snap = await fetchTrec([svc('s1')], ['h1', 'h2', 'h3'], opts({}));
    expect(snap.degraded).toEqual([]);
    const s = snap.services.get('s1')!;
    expect(s).toEqual({ trust: 3, risk: 2, eco: 8, sources: { trust: 'default', risk: 'default', eco: 'default', cost: 'default' } });
    expect(s.planFloor).toBeUndefined();
    // No host source configured: hosts are left out, so the host-info source's own eco / risk (the
    // inventory's) reach the model, and the model builder's OPTIMIS default (eco 3 + index) covers the rest.
    expect(snap.hosts.size).toBe(0);
  });
});

describe('slow, down and failing services', () => {
  it('times out each attempt, retries, then falls back with a "timeout" note in bounded time', async () => {
    const timeoutMs = 200;
    const retries = 2;
    const backoffMs = 50;
    const started = Date.now();
    const snap = await fetchTrec([svc('s1')], [], opts({ trust: url('/slow'), eco: url('/eco/text') }, { timeoutMs, retries, backoffMs }));
    const elapsed = Date.now() - started;
    expect(snap.services.get('s1')).toMatchObject({ trust: 3, eco: 7.5, sources: { trust: 'fallback', eco: 'service' } });
    expect(snap.degraded).toEqual([{ source: 'trust', target: 's1', reason: 'timeout after 200 ms (3 attempts)', fallback: 3 }]);
    expect(hits.get('/slow')).toBe(3);
    const expected = timeoutMs * (retries + 1) + backoffMs * (1 + 2);
    expect(elapsed).toBeLessThan(3 * expected);
  });

  it('retries a refused connection and falls back', async () => {
    const snap = await fetchTrec([svc('s1')], [], opts({ trust: deadUrl }, { retries: 2, backoffMs: 10 }));
    expect(snap.services.get('s1')?.sources.trust).toBe('fallback');
    expect(snap.degraded).toHaveLength(1);
    expect(snap.degraded[0]!.reason).toMatch(/^connection refused: ECONNREFUSED \(3 attempts\)$/);
  });

  it('retries a reset connection, and the stub sees every attempt', async () => {
    const snap = await fetchTrec([svc('s1')], [], opts({ risk: url('/reset') }, { retries: 3, backoffMs: 10 }));
    expect(hits.get('/reset')).toBe(4);
    expect(snap.services.get('s1')).toMatchObject({ risk: 2, sources: { risk: 'fallback' } });
    expect(snap.degraded[0]).toMatchObject({ source: 'risk', target: 's1', fallback: 2 });
    expect(snap.degraded[0]!.reason).toMatch(/\(4 attempts\)$/);
  });

  it('uses the value of a retry that succeeds after 5xx, without a degraded note', async () => {
    const snap = await fetchTrec([svc('s1')], [], opts({ eco: url('/flaky') }, { retries: 2, backoffMs: 10 }));
    expect(hits.get('/flaky')).toBe(3);
    expect(snap.services.get('s1')).toMatchObject({ eco: 4.5, sources: { eco: 'service' } });
    expect(snap.degraded).toEqual([]);
  });

  it('falls back when 5xx persists beyond the retries', async () => {
    const snap = await fetchTrec([svc('s1')], [], opts({ eco: url('/always503') }, { retries: 1, backoffMs: 10 }));
    expect(hits.get('/always503')).toBe(2);
    expect(snap.degraded).toEqual([{ source: 'eco', target: 's1', reason: 'HTTP 503 Service Unavailable (2 attempts)', fallback: 8 }]);
  });

  it('does not retry a 4xx', async () => {
    const snap = await fetchTrec([svc('s1')], [], opts({ cost: url('/notfound') }, { retries: 3 }));
    expect(hits.get('/notfound')).toBe(1);
    expect(snap.services.get('s1')?.planFloor).toBeUndefined();
    expect(snap.services.get('s1')?.sources.cost).toBe('fallback');
    expect(snap.degraded).toEqual([{ source: 'cost', target: 's1', reason: 'HTTP 404 Not Found (1 attempt)', fallback: 'no price plan' }]);
  });

  it('skips a source that keeps failing once enough services in a row exhausted their retries', async () => {
    const services = ['a', 'b', 'c', 'd', 'e'].map((id) => svc(id));
    // One slot and no retries make the order deterministic: a, b fail; c, d, e were queued before, and are skipped when their turn comes.
    const snap = await fetchTrec(services, [], opts({ trust: url('/always503') }, { retries: 0, maxInFlight: 1, breakerThreshold: 2 }));
    expect(hits.get('/always503')).toBe(2);
    expect(snap.degraded.map((n) => n.target)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(snap.degraded.slice(0, 2).map((n) => n.reason)).toEqual(['HTTP 503 Service Unavailable (1 attempt)', 'HTTP 503 Service Unavailable (1 attempt)']);
    for (const note of snap.degraded.slice(2)) {
      // The circuit of fetchTrec's throwaway client opened after a and b (persistent breakers: TrecClient).
      expect(note.reason).toMatch(SKIPPED('trust', 'HTTP 503 Service Unavailable (1 attempt)'));
      expect(note.fallback).toBe(3);
    }
    // With the breaker off, every service tries.
    hits.clear();
    await fetchTrec(services, [], opts({ trust: url('/always503') }, { retries: 0, maxInFlight: 1, breakerThreshold: 0 }));
    expect(hits.get('/always503')).toBe(5);
  });
});

describe('garbage answers', () => {
  it('falls back with "invalid answer" for HTML, NaN, negative, out-of-range and malformed answers, without retrying', async () => {
    const cases = ['html', 'nan', 'negative', 'jsonNaN', 'empty', 'array', 'huge', 'hex'];
    const snap = await fetchTrec(cases.map((id) => svc(id)), [], opts({ trust: url('/garbage/trust') }));
    expect(hits.get('/garbage/trust')).toBe(cases.length);
    expect(snap.degraded.map((n) => n.target)).toEqual(cases);
    for (const note of snap.degraded) {
      expect(note).toMatchObject({ source: 'trust', fallback: 3 });
      expect(note.reason).toMatch(/^invalid answer: /);
    }
    for (const id of cases) expect(snap.services.get(id)).toMatchObject({ trust: 3, sources: { trust: 'fallback' } });
    expect(snap.degraded.find((n) => n.target === 'negative')!.reason).toBe('invalid answer: trust -1 is negative');
  });

  it('rejects bad risk answers: out of the 1..7 scale, no rank 0, bad pof, DOCTYPE, wrong root', async () => {
    const cases = ['range', 'noRank0', 'badPof', 'doctype', 'wrongRoot'];
    const snap = await fetchTrec(cases.map((id) => svc(id)), [], opts({ risk: url('/garbage/risk') }));
    expect(snap.degraded.map((n) => [n.target, n.source])).toEqual(cases.map((id) => [id, 'risk']));
    for (const note of snap.degraded) expect(note.reason).toMatch(/^invalid answer: /);
    const reason = (id: string): string => snap.degraded.find((n) => n.target === id)!.reason;
    expect(reason('range')).toMatch(/outside the risk-level scale/);
    expect(reason('noRank0')).toMatch(/no <sp rank="0">/);
    expect(reason('doctype')).toMatch(/DOCTYPE|forbidden/i);
  });

  it('rejects eco 0 (OPTIMIS "not assessed"), negative eco and error text; bad price plans', async () => {
    const eco = await fetchTrec(['zero', 'negative', 'text', 'fine'].map((id) => svc(id)), [], opts({ eco: url('/garbage/eco') }));
    expect(eco.degraded.map((n) => n.target)).toEqual(['zero', 'negative', 'text']);
    expect(eco.services.get('zero')).toMatchObject({ eco: 8, sources: { eco: 'fallback' } });
    expect(eco.services.get('fine')).toMatchObject({ eco: 5, sources: { eco: 'service' } });

    const cost = await fetchTrec(['noFloor', 'capBelowFloor', 'negative', 'empty', 'fine'].map((id) => svc(id)), [], opts({ cost: url('/garbage/cost') }));
    expect(cost.degraded.map((n) => n.target)).toEqual(['noFloor', 'capBelowFloor', 'negative', 'empty']);
    for (const note of cost.degraded) expect(note).toMatchObject({ source: 'cost', fallback: 'no price plan', reason: expect.stringMatching(/^invalid answer: /) });
    expect(cost.services.get('fine')).toMatchObject({ planFloor: 1, sources: { cost: 'service' } });
  });
});

describe('host batches', () => {
  it('falls back for a missing or invalid host only, naming it', async () => {
    const snap = await fetchTrec([], ['h1', 'h2', 'h3', 'h4'], opts({ hostRisk: url('/hosts/missing') }));
    expect(snap.hosts.get('h1')).toEqual({ risk: 0.02, eco: 3 });
    expect(snap.hosts.get('h2')).toEqual({ risk: 0.01, eco: 4 });
    expect(snap.degraded).toEqual([
      { source: 'hostRisk', target: 'h2', reason: 'host "h2" missing from the answer', fallback: 0.01 },
      { source: 'hostRisk', target: 'h3', reason: expect.stringMatching(/^invalid answer: host "h3": /), fallback: 0.01 },
      { source: 'hostRisk', target: 'h4', reason: expect.stringMatching(/^invalid answer: host "h4": host risk 1.5 is not a probability/), fallback: 0.01 },
    ]);
  });

  it('falls back for every host with one "hosts" note when the batch fails, and replaces eco 0 by 3 + index', async () => {
    const snap = await fetchTrec([], ['h1', 'h2'], opts({ hostRisk: url('/hosts/html'), hostEco: url('/hosts/eco-zero') }));
    expect(snap.hosts.get('h1')).toEqual({ risk: 0.01, eco: 3 });
    expect(snap.hosts.get('h2')).toEqual({ risk: 0.01, eco: 9 });
    expect(snap.degraded).toEqual([
      { source: 'hostRisk', target: 'hosts', reason: expect.stringMatching(/^invalid answer: not JSON/), fallback: 0.01 },
      { source: 'hostEco', target: 'h1', reason: expect.stringMatching(/^invalid answer: .*not assessed/), fallback: 3 },
    ]);
    const down = await fetchTrec([], ['h1', 'h2'], opts({ hostEco: deadUrl }, { retries: 0 }));
    expect(down.degraded).toEqual([
      { source: 'hostEco', target: 'hosts', reason: 'connection refused: ECONNREFUSED (1 attempt)', fallback: '3 + host index' },
    ]);
    expect([...down.hosts.values()].map((h) => h.eco)).toEqual([3, 4]);
  });
});

describe('concurrency and abort', () => {
  it('keeps at most maxInFlight calls in flight', async () => {
    const services = Array.from({ length: 12 }, (_, i) => svc(`s${i}`));
    const snap = await fetchTrec(services, [], opts({ trust: url('/slow-json'), eco: url('/slow-json') }, { maxInFlight: 4 }));
    expect(snap.degraded).toEqual([]);
    expect(hits.get('/slow-json')).toBe(24);
    expect(maxInFlightSeen).toBeLessThanOrEqual(4);
    expect(maxInFlightSeen).toBeGreaterThan(1);
  });

  it('stops promptly on abort, keeps the values that arrived and notes the rest', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 150);
    const snap = await fetchTrec(
      [svc('s1'), svc('s2')],
      ['h1'],
      opts({ trust: url('/trust/json'), risk: url('/slow'), hostEco: url('/slow') }, { timeoutMs: 10_000, retries: 3 }),
      controller.signal,
    );
    expect(Date.now() - started).toBeLessThan(1500);
    expect(snap.services.get('s1')).toMatchObject({ trust: 4.2, risk: 2, sources: { trust: 'service', risk: 'fallback' } });
    expect(snap.degraded.map((n) => [n.source, n.target])).toEqual([
      ['risk', 's1'],
      ['risk', 's2'],
      ['hostEco', 'hosts'],
    ]);
    for (const note of snap.degraded) expect(note.reason).toMatch(/^aborted after 1 attempt: the caller aborted$/);
    expect(hits.get('/slow')).toBe(3); // no retry after the abort
  });

  it('stops at once when the abort comes during a backoff delay, and sends nothing after it', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 80);
    const started = Date.now();
    // The first retry waits 600..1200 ms (cockatiel's delays cannot be aborted: the call must not wait for it).
    const snap = await fetchTrec([svc('s1')], [], opts({ eco: url('/always503') }, { retries: 3, backoffMs: 1200 }), controller.signal);
    expect(Date.now() - started).toBeLessThan(500);
    expect(snap.degraded).toEqual([{ source: 'eco', target: 's1', reason: 'aborted after 1 attempt: the caller aborted', fallback: 8 }]);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(hits.get('/always503')).toBe(1);
  });

  it('makes no call at all when the signal is already aborted', async () => {
    const snap = await fetchTrec([svc('s1')], ['h1'], opts({ trust: url('/trust/json'), hostRisk: url('/hosts/risk') }), AbortSignal.abort());
    expect(hits.size).toBe(0);
    expect(snap.degraded).toEqual([
      { source: 'trust', target: 's1', reason: 'aborted before the call: the caller aborted', fallback: 3 },
      { source: 'hostRisk', target: 'hosts', reason: 'aborted before the call: the caller aborted', fallback: 0.01 },
    ]);
  });

  it('says when the caller\'s deadline (AbortSignal.timeout) cut a call short', async () => {
    const snap = await fetchTrec([svc('s1')], [], opts({ trust: url('/slow') }, { timeoutMs: 10_000 }), AbortSignal.timeout(100));
    expect(snap.degraded[0]!.reason).toBe("aborted after 1 attempt: the caller's deadline passed");
  });
});

describe('invalid options', () => {
  const expectCode = async (p: Promise<unknown>, code: string): Promise<void> => {
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAdmissionError(error) && error.code).toBe(code);
  };

  it('refuses bad URLs, bad numbers and out-of-range fallbacks before any I/O', async () => {
    await expectCode(fetchTrec([svc('s1')], [], opts({ trust: 'ftp://x/' })), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], opts({ trust: 'not a url' })), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], opts({}, { timeoutMs: 0 })), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], opts({}, { retries: 1.5 })), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], { ...opts({}), fallbacks: { ...FALLBACKS, hostRisk: 2 } }), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], { ...opts({}), fallbacks: { ...FALLBACKS, risk: 8 } }), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], opts({}, { breakerOpenMs: 0 })), 'AC_ERR_CONFIG');
    await expectCode(fetchTrec([svc('s1')], [], opts({}, { breakerThreshold: -1 })), 'AC_ERR_CONFIG');
    // The long-lived client checks its options once, when it is created.
    await expectCode(Promise.resolve().then(() => new TrecClient(opts({ trust: 'ftp://x/' }))), 'AC_ERR_CONFIG');
    expect(hits.size).toBe(0);
  });

  it('refuses duplicate service or host ids', async () => {
    await expectCode(fetchTrec([svc('s1'), svc('s1')], [], opts({})), 'AC_ERR_INVALID_REQUEST');
    await expectCode(fetchTrec([], ['h1', 'h1'], opts({})), 'AC_ERR_INVALID_REQUEST');
    // A frozen list is remembered only once found valid: a bad frozen list is refused every time.
    const bad = Object.freeze(['h1', 'h1']);
    for (let k = 0; k < 2; k++) await expectCode(fetchTrec([], bad, opts({})), 'AC_ERR_INVALID_REQUEST');
    const good = Object.freeze(['h1', 'h2']);
    for (let k = 0; k < 2; k++) await expect(fetchTrec([svc('s1')], good, opts({}))).resolves.toMatchObject({ degraded: [] });
  });
});

// ---------------------------------------------------------------------------------------------
// TrecClient: one per service process, its circuit breakers persist across fetch calls (admissions)

describe('TrecClient: persistent circuit breakers', () => {
  let stub: StubServer;
  let client: TrecClient | undefined;

  beforeEach(async () => {
    stub = await startStub(statusHandler(503, 'busy'));
  });

  afterEach(async () => {
    client?.close();
    client = undefined;
    await stub.close();
  });

  const make = (endpoints: TrecFetchOptions['endpoints'], extra: Partial<TrecFetchOptions> = {}): TrecClient =>
    (client = new TrecClient(opts(endpoints, { retries: 0, backoffMs: 10, ...extra })));
  const health = (c: TrecClient, source: TrecSourceName): TrecSourceHealth => {
    const s = c.status().sources.find((x) => x.source === source);
    if (!s?.configured) throw new Error(`${source} is not configured`);
    return s;
  };
  const services = (n: number, prefix = 's'): ServiceTrecRequest[] => Array.from({ length: n }, (_, i) => svc(`${prefix}${i}`));
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const OPEN = 'HTTP 503 Service Unavailable (1 attempt)';

  it('opens after breakerThreshold failed calls and stays open across fetch calls, without sending requests', async () => {
    const c = make({ trust: `${stub.url}/trust` }, { breakerThreshold: 2, breakerOpenMs: 60_000 });
    expect(health(c, 'trust')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    const first = await c.fetch([svc('a')], []);
    expect(first.degraded.map((n) => n.reason)).toEqual([OPEN]);
    expect(health(c, 'trust')).toMatchObject({ state: 'closed', consecutiveFailures: 1, lastFailure: { reason: OPEN } });
    // The second admission's failure is the second call in a row: the circuit opens.
    await c.fetch([svc('b')], []);
    expect(stub.requests).toHaveLength(2);
    const opened = health(c, 'trust');
    expect(opened).toMatchObject({ state: 'open', consecutiveFailures: 2 });
    expect(Date.parse(opened.openUntil!) - Date.parse(opened.openedAt!)).toBe(60_000);

    for (let k = 0; k < 3; k++) {
      const snap = await c.fetch(services(3, `k${k}-`), []);
      expect(snap.degraded).toHaveLength(3);
      for (const note of snap.degraded) {
        expect(note).toMatchObject({ source: 'trust', fallback: 3 });
        expect(note.reason).toMatch(SKIPPED('trust', OPEN));
      }
    }
    expect(stub.requests).toHaveLength(2);
    // Skipped calls neither count nor reset.
    expect(health(c, 'trust')).toMatchObject({ state: 'open', consecutiveFailures: 2 });
  });

  it('goes half-open after breakerOpenMs: one trial call; its success closes the circuit, its failure opens it again', async () => {
    const c = make({ trust: `${stub.url}/trust` }, { breakerThreshold: 2, breakerOpenMs: 150 });
    await c.fetch(services(2), []);
    expect(health(c, 'trust').state).toBe('open');
    expect(stub.requests).toHaveLength(2);

    // Trial fails: open again, for another breakerOpenMs.
    await pause(200);
    expect(health(c, 'trust').state).toBe('half-open');
    const failedTrial = await c.fetch(services(3), []);
    expect(stub.requests).toHaveLength(3);
    expect(failedTrial.degraded[0]!.reason).toBe(OPEN);
    for (const note of failedTrial.degraded.slice(1)) expect(note.reason).toMatch(SKIPPED('trust', OPEN, true));
    expect(health(c, 'trust')).toMatchObject({ state: 'open', consecutiveFailures: 3 });

    // Service back; still open until the period is over.
    stub.handler = answer({ trust: 4.2 });
    expect((await c.fetch([svc('x')], [])).degraded[0]!.reason).toMatch(SKIPPED('trust', OPEN));
    expect(stub.requests).toHaveLength(3);
    await pause(200);
    const trial = await c.fetch(services(3), []);
    expect(stub.requests).toHaveLength(4);
    expect(trial.services.get('s0')).toMatchObject({ trust: 4.2, sources: { trust: 'service' } });
    // The other services of that admission asked while the trial call ran: skipped, not queued behind it.
    expect(trial.degraded.map((n) => n.target)).toEqual(['s1', 's2']);
    const closed = health(c, 'trust');
    expect(closed).toMatchObject({ state: 'closed', consecutiveFailures: 0, lastFailure: { reason: OPEN } });
    expect(closed.lastSuccessAt).toBeDefined();
    expect(closed.openUntil).toBeUndefined();

    const after = await c.fetch(services(3), []);
    expect(after.degraded).toEqual([]);
    expect(stub.requests).toHaveLength(7);
  });

  it('4xx and garbage answers do not open the circuit, and reset the count of failures in a row', async () => {
    const c = make({ trust: `${stub.url}/trust` }, { breakerThreshold: 2 });
    stub.handler = statusHandler(404, 'no such tool');
    for (let k = 0; k < 4; k++) await c.fetch([svc('a')], []);
    stub.handler = answer('<html>maintenance</html>', 'text/html');
    for (let k = 0; k < 4; k++) await c.fetch([svc('a')], []);
    expect(stub.requests).toHaveLength(8);
    const h = health(c, 'trust');
    expect(h).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(h.lastFailure!.reason).toMatch(/^invalid answer: /);
    expect(h.lastSuccessAt).toBeUndefined(); // garbage was never used

    // 503 (1 in a row), 404 (the server is up: back to 0), 503 (1): still closed.
    stub.handler = statusHandler(503);
    await c.fetch([svc('a')], []);
    stub.handler = statusHandler(404);
    await c.fetch([svc('a')], []);
    expect(health(c, 'trust')).toMatchObject({ consecutiveFailures: 0, lastFailure: { reason: 'HTTP 404 Not Found (1 attempt)' } });
    stub.handler = statusHandler(503);
    await c.fetch([svc('a')], []);
    expect(health(c, 'trust')).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
  });

  it('counts a call once, after its retries', async () => {
    const c = make({ trust: `${stub.url}/trust` }, { breakerThreshold: 2, retries: 2 });
    await c.fetch([svc('a')], []);
    expect(stub.requests).toHaveLength(3);
    expect(health(c, 'trust')).toMatchObject({ state: 'closed', consecutiveFailures: 1, lastFailure: { reason: 'HTTP 503 Service Unavailable (3 attempts)' } });
  });

  it('aborted calls say nothing: an abort or a spent budget neither counts nor resets; an aborted trial leaves the circuit open', async () => {
    stub.handler = hang();
    const c = make({ trust: `${stub.url}/trust` }, { breakerThreshold: 1, breakerOpenMs: 100, timeoutMs: 10_000 });
    const started = Date.now();
    const aborted = await c.fetch(services(2), [], AbortSignal.timeout(100));
    expect(Date.now() - started).toBeLessThan(2000);
    for (const note of aborted.degraded) expect(note.reason).toBe("aborted after 1 attempt: the caller's deadline passed");
    expect(health(c, 'trust')).toEqual(expect.objectContaining({ state: 'closed', consecutiveFailures: 0 }));
    expect(health(c, 'trust').lastFailure).toBeUndefined();

    // Open it (threshold 1), then abort its trial call.
    stub.handler = statusHandler(503);
    await c.fetch([svc('a')], []);
    expect(health(c, 'trust')).toMatchObject({ state: 'open', consecutiveFailures: 1 });
    await pause(150);
    stub.handler = hang();
    const before = stub.requests.length;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const trial = await c.fetch([svc('t')], [], controller.signal);
    expect(stub.requests).toHaveLength(before + 1);
    expect(trial.degraded[0]!.reason).toBe('aborted after 1 attempt: the caller aborted');
    await pause(20);
    // Neither closed (as if the trial had succeeded) nor opened again: still due for a trial.
    expect(health(c, 'trust')).toMatchObject({ state: 'half-open', consecutiveFailures: 1 });

    // A spent budget is an abort too.
    const budgeted = new TrecClient(opts({ trust: `${stub.url}/trust` }, { breakerThreshold: 1, timeoutMs: 10_000, budgetMs: 100 }));
    try {
      const snap = await budgeted.fetch([svc('b')], []);
      expect(snap.degraded[0]!.reason).toBe('aborted after 1 attempt: the TREC budget of 100 ms ran out');
      expect(health(budgeted, 'trust')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    } finally {
      budgeted.close();
    }

    // The next trial that gets an answer closes the circuit.
    stub.handler = answer('4.5');
    const next = await c.fetch([svc('n')], []);
    expect(next.services.get('n')).toMatchObject({ trust: 4.5, sources: { trust: 'service' } });
    expect(health(c, 'trust')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('a hung service costs the first admission its timeout series, later admissions nothing while the circuit is open', async () => {
    stub.handler = hang();
    // Default breakerThreshold (3): the first admission has three services, so its three trust calls open the circuit.
    const c = make({ trust: `${stub.url}/trust`, eco: url('/eco/text') }, { timeoutMs: 150, retries: 1, backoffMs: 20 });
    const t0 = Date.now();
    const first = await c.fetch(services(3), []);
    const firstMs = Date.now() - t0;
    expect(first.degraded.map((n) => n.reason)).toEqual(Array(3).fill('timeout after 150 ms (2 attempts)'));
    expect(stub.requests).toHaveLength(6);
    expect(firstMs).toBeGreaterThanOrEqual(300);
    expect(health(c, 'trust')).toMatchObject({ state: 'open', consecutiveFailures: 3, lastFailure: { reason: 'timeout after 150 ms (2 attempts)' } });

    const t1 = Date.now();
    for (let k = 0; k < 5; k++) {
      const snap = await c.fetch(services(3, `k${k}-`), []);
      expect(snap.degraded).toHaveLength(3);
      for (const note of snap.degraded) expect(note.reason).toMatch(SKIPPED('trust', 'timeout after 150 ms (2 attempts)'));
      // Other sources are not affected.
      expect(snap.services.get(`k${k}-0`)).toMatchObject({ eco: 7.5, sources: { eco: 'service' } });
    }
    expect(stub.requests).toHaveLength(6);
    // Five admissions with the circuit open together take less than one timeout series (a very generous bound).
    expect(Date.now() - t1).toBeLessThan(1000);
  });

  it('host batches have their circuit too, counted per admission', async () => {
    const c = make({ hostRisk: `${stub.url}/hosts` }, { breakerThreshold: 2, breakerOpenMs: 60_000 });
    for (let k = 0; k < 2; k++) {
      const snap = await c.fetch([], ['h1', 'h2']);
      expect(snap.degraded).toEqual([{ source: 'hostRisk', target: 'hosts', reason: OPEN, fallback: 0.01 }]);
    }
    const skipped = await c.fetch([], ['h1', 'h2']);
    expect(skipped.degraded).toEqual([{ source: 'hostRisk', target: 'hosts', reason: expect.stringMatching(SKIPPED('hostRisk', OPEN)), fallback: 0.01 }]);
    expect(stub.requests).toHaveLength(2);
    expect(health(c, 'hostRisk').state).toBe('open');

    // A batch that answers, even with a host missing, is a success.
    const other = make({ hostEco: `${stub.url}/hosts` }, { breakerThreshold: 1 });
    stub.handler = hostValues((id) => (id === 'h2' ? 'NaN' : 5));
    const answered = await other.fetch([], ['h1', 'h2']);
    expect(answered.degraded.map((n) => n.target)).toEqual(['h2']);
    expect(health(other, 'hostEco')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(health(other, 'hostEco').lastSuccessAt).toBeDefined();
    c.close();
  });

  it('status() lists every source, configured or not, with redacted URLs and no credentials', async () => {
    const port = stub.port;
    const c = make(
      {
        trust: `http://trec-user:s3cr3t-pass@127.0.0.1:${port}/trust?token=abc123&mode=fast#frag`,
        risk: `http://127.0.0.1:${port}/keys/AKIAIOSFODNN7EXAMPLE99/risk`,
      },
      { breakerThreshold: 1, breakerOpenMs: 60_000 },
    );
    await c.fetch([svc('a')], []);
    const status = c.status();
    expect(status).toMatchObject({ breakerThreshold: 1, breakerOpenMs: 60_000 });
    expect(status.sources.map((s) => [s.source, s.configured])).toEqual([
      ['trust', true],
      ['risk', true],
      ['eco', false],
      ['cost', false],
      ['hostRisk', false],
      ['hostEco', false],
    ]);
    expect(status.sources[2]).toEqual({ source: 'eco', configured: false });
    const trust = health(c, 'trust');
    expect(trust).toMatchObject({
      url: `http://[redacted]@127.0.0.1:${port}/trust?token=[redacted]&mode=[redacted]#[redacted]`,
      state: 'open',
      consecutiveFailures: 1,
      lastFailure: { reason: OPEN, at: expect.stringMatching(new RegExp(`^${ISO}$`)) },
      openedAt: expect.stringMatching(new RegExp(`^${ISO}$`)),
      openUntil: expect.stringMatching(new RegExp(`^${ISO}$`)),
    });
    expect(health(c, 'risk').url).toBe(`http://127.0.0.1:${port}/keys/[redacted]/risk`);
    const text = JSON.stringify(status);
    for (const secret of ['trec-user', 's3cr3t', 'abc123', 'fast', 'frag', 'AKIAIOSFODNN7EXAMPLE99']) expect(text).not.toContain(secret);
  });

  it('concurrent fetches share the circuit', async () => {
    stub.handler = hang();
    const c = make({ trust: `${stub.url}/trust` }, { breakerThreshold: 2, timeoutMs: 150, breakerOpenMs: 60_000 });
    const [a, b] = await Promise.all([c.fetch([svc('a')], []), c.fetch([svc('b')], [])]);
    expect([...a.degraded, ...b.degraded].map((n) => n.reason)).toEqual(['timeout after 150 ms (1 attempt)', 'timeout after 150 ms (1 attempt)']);
    expect(health(c, 'trust')).toMatchObject({ state: 'open', consecutiveFailures: 2 });
    const third = await c.fetch([svc('c')], []);
    expect(third.degraded[0]!.reason).toMatch(SKIPPED('trust', 'timeout after 150 ms (1 attempt)'));
    expect(stub.requests).toHaveLength(2);
  });
});
