/**
 * Capacity over time through the HTTP API (OPNFV Promise's scenarios, Blazar's lifecycle, Placement's idempotent
 * claims): reservations with windows, confirm, update, cancel, capacity windows, conflicts now and in the future with
 * their holders named and the earliest fit, lifecycle transitions on time with their events, idempotency, event views.
 */
import request from 'supertest';
import { fleet, readManifest, testGateway, type TestGateway } from './support/gateway';

const SM = readManifest('decision/SM_1c2.xml'); // compA (1 VM × 1 vCPU) + compB (1 VM × 1 vCPU): 2 CPUs
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** SM_1c2 renamed (each service its own), with `vcpus` per VM (two VMs: 2 × vcpus CPUs in all). */
function manifest(serviceId: string, vcpus = 1): string {
  return SM.replace('opt:serviceId="ACTestsDecisionAccepted"', `opt:serviceId="${serviceId}"`).replace(/<rasd:VirtualQuantity>1<\/rasd:VirtualQuantity>/g, `<rasd:VirtualQuantity>${vcpus}</rasd:VirtualQuantity>`);
}

let gw: TestGateway;
let t0: number;
beforeEach(async () => {
  // 2 hosts × 8 CPUs: small enough to fill.
  gw = await testGateway({ hosts: fleet(2, 8) });
  t0 = Date.parse('2030-06-01T00:00:00.000Z');
  gw.clock.set(t0);
});
afterEach(() => gw.close());

const at = (ms: number): string => new Date(ms).toISOString();
const admit = (xml: string, extra: { start?: number; end?: number; expirySeconds?: number; dryRun?: boolean; key?: string } = {}) => {
  const q = new URLSearchParams();
  if (extra.start !== undefined) q.set('start', at(extra.start));
  if (extra.end !== undefined) q.set('end', at(extra.end));
  if (extra.expirySeconds !== undefined) q.set('expirySeconds', String(extra.expirySeconds));
  if (extra.dryRun) q.set('dryRun', 'true');
  let r = request(gw.app).post(`/api/v1/admissions?${q.toString()}`).set('Content-Type', 'application/xml');
  if (extra.key) r = r.set('Idempotency-Key', extra.key);
  return r.send(xml);
};
const get = (path: string) => request(gw.app).get(path);
const freeCpus = async (from: number, to?: number): Promise<number> =>
  (await get(`/api/v1/capacity?from=${at(from)}${to !== undefined ? `&to=${at(to)}` : ''}`)).body.totals.freeCpus;

describe("Promise's scenarios", () => {
  test('an immediate reservation, then confirmed: held → active; capacity held from now, open-ended', async () => {
    const res = await admit(manifest('web'));
    expect(res.status).toBe(201);
    const s = res.body.services[0];
    expect(s).toMatchObject({ decision: 'accepted', status: 'held', window: { start: at(t0), end: null }, holdExpiresAt: at(t0 + 900_000) });
    expect(await freeCpus(t0)).toBe(14);
    const confirmed = await request(gw.app).post(`/api/v1/admissions/${s.admissionId}/confirm`);
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ id: s.admissionId, status: 'active', confirmedAt: at(t0), start: at(t0), end: null });
    // A confirmed admission outlives the hold TTL.
    gw.clock.advance(DAY);
    await gw.advance();
    expect((await get(`/api/v1/admissions/${s.admissionId}`)).body.status).toBe('active');
  });

  test('a future reservation is found by a query over its window and not by a disjoint one', async () => {
    const start = t0 + DAY;
    const res = await admit(manifest('future'), { start, end: start + DAY });
    const id = res.body.services[0].admissionId;
    expect((await request(gw.app).post(`/api/v1/admissions/${id}/confirm`)).body.status).toBe('confirmed');
    const inside = await get(`/api/v1/admissions?from=${at(start + 12 * HOUR)}&to=${at(start + 13 * HOUR)}`);
    expect(inside.body.admissions.map((a: { id: string }) => a.id)).toEqual([id]);
    const disjoint = await get(`/api/v1/admissions?from=${at(start + 2 * DAY)}&to=${at(start + 3 * DAY)}`);
    expect(disjoint.body.admissions).toEqual([]);
    // Touching is not overlapping: [start + 1 d, …) begins where the reservation ends.
    expect((await get(`/api/v1/admissions?from=${at(start + DAY)}`)).body.admissions).toEqual([]);
    // Capacity: free now, taken in the window.
    expect(await freeCpus(t0, start)).toBe(16);
    expect(await freeCpus(start, start + DAY)).toBe(14);
    const capacity = (await get(`/api/v1/capacity?from=${at(start)}&to=${at(start + HOUR)}`)).body;
    expect(capacity.totals).toMatchObject({ cpus: 16, reservedCpus: 2, freeCpus: 14 });
    expect(capacity.hosts.map((h: { reservedCpus: number }) => h.reservedCpus).sort()).toEqual([0, 2]);
  });

  test('an update moves the window, re-checked; capacity follows it', async () => {
    const start = t0 + DAY;
    const id = (await admit(manifest('move'), { start, end: start + HOUR })).body.services[0].admissionId;
    const patched = await request(gw.app).patch(`/api/v1/admissions/${id}`).send({ start: at(start + 2 * DAY), end: at(start + 2 * DAY + HOUR) });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, start: at(start + 2 * DAY), end: at(start + 2 * DAY + HOUR), generation: 2 });
    expect(await freeCpus(start, start + HOUR)).toBe(16);
    expect(await freeCpus(start + 2 * DAY, start + 2 * DAY + HOUR)).toBe(14);
    // A window that would not fit is refused with 409 and the admission keeps its window.
    await admit(manifest('blocker', 4), { start: start + 5 * DAY, end: start + 6 * DAY });
    await admit(manifest('blocker2', 4), { start: start + 5 * DAY, end: start + 6 * DAY });
    expect(await freeCpus(start + 5 * DAY, start + 6 * DAY)).toBe(0);
    const refused = await request(gw.app).patch(`/api/v1/admissions/${id}`).send({ start: at(start + 5 * DAY), end: at(start + 5 * DAY + HOUR) });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('AC_ERR_CAPACITY_CONFLICT');
    expect((await get(`/api/v1/admissions/${id}`)).body).toMatchObject({ start: at(start + 2 * DAY), end: at(start + 2 * DAY + HOUR) });
  });

  test('a cancel gives the capacity back', async () => {
    const res = await admit(manifest('cancel', 4));
    const id = res.body.services[0].admissionId;
    expect(await freeCpus(t0)).toBe(8);
    const del = await request(gw.app).delete(`/api/v1/admissions/${id}`);
    expect(del.body).toMatchObject({ id, released: true, status: 'released', closedAt: at(t0) });
    expect(await freeCpus(t0)).toBe(16);
    // Released admissions stay in the history.
    expect((await get(`/api/v1/admissions?status=released`)).body.admissions.map((a: { id: string }) => a.id)).toEqual([id]);
  });

  test('a capacity window makes a request in it fail, while the same request outside it succeeds', async () => {
    const ws = t0 + DAY;
    const win = await request(gw.app)
      .post('/api/v1/capacity/windows')
      .send({ hosts: ['host-1', 'host-2'], start: at(ws), end: at(ws + DAY), cpusDelta: -8, memoryMbDelta: 0, reason: 'rack maintenance' });
    expect(win.status).toBe(201);
    expect(win.body.conflicts).toEqual([]);
    expect(await freeCpus(ws, ws + HOUR)).toBe(0);
    const inside = await admit(manifest('in-maintenance'), { start: ws + HOUR, end: ws + 2 * HOUR, dryRun: true });
    expect(inside.body.services[0].decision).toBe('rejected');
    // Nothing recorded holds the capacity there: the reason never says it is in use.
    const codes = inside.body.services[0].components.flatMap((c: { reasons: { code: string }[] }) => c.reasons.map((r) => r.code));
    expect(codes).not.toContain('CAPACITY_IN_USE');
    expect(inside.body.services[0].earliestFit).toMatchObject({ start: at(ws + DAY), end: at(ws + DAY + HOUR), complete: true });
    const outside = await admit(manifest('after-maintenance'), { start: ws + DAY, end: ws + DAY + HOUR, dryRun: true });
    expect(outside.body.services[0].decision).toBe('accepted');
    // The window is listed, and removing it frees the capacity.
    expect((await get('/api/v1/capacity/windows')).body.windows).toHaveLength(1);
    expect((await request(gw.app).delete(`/api/v1/capacity/windows/${win.body.window.id}`)).status).toBe(204);
    expect(await freeCpus(ws, ws + HOUR)).toBe(16);
  });

  test('a capacity window names the recorded admissions it leaves without room', async () => {
    const id = (await admit(manifest('victim', 8))).body.services[0].admissionId;
    const hostOf = (await get(`/api/v1/admissions/${id}`)).body.hosts[0].hostId;
    const win = await request(gw.app)
      .post('/api/v1/capacity/windows')
      .send({ hosts: [hostOf], start: at(t0 + HOUR), end: at(t0 + 2 * HOUR), cpusDelta: -8, reason: 'drain' });
    expect(win.body.conflicts).toEqual([expect.objectContaining({ admissionId: id, owner: 'anonymous', serviceId: 'victim', hostId: hostOf, missingCpus: 8 })]);
    const events = (await get('/api/v1/events?types=maintenance.conflict')).body.events;
    expect(events.map((e: { subject: string }) => e.subject)).toEqual([id]);
  });

  test('a conflict now and a conflict in the future are refused with the holders named, and the earliest fit', async () => {
    // Now: two open-ended 8-CPU services fill both hosts.
    const a = (await admit(manifest('holder-a', 4))).body.services[0];
    const b = (await admit(manifest('holder-b', 4))).body.services[0];
    const now = await admit(manifest('late'), { dryRun: true });
    const s = now.body.services[0];
    expect(s.decision).toBe('rejected');
    expect(s.heldBy.map((h: { admissionId: string }) => h.admissionId).sort()).toEqual([a.admissionId, b.admissionId].sort());
    expect(s.heldBy[0]).toMatchObject({ owner: 'anonymous', status: 'held', start: at(t0), end: null, cpus: 8 });
    // Each component says the capacity is in use and names who holds it, with the window and the amount.
    for (const c of s.components) {
      const inUse = c.reasons.find((r: { code: string }) => r.code === 'CAPACITY_IN_USE');
      expect(inUse.data).toMatchObject({ component: c.id, hosts: 2, heldCpus: 16, holdersTotal: 2, holdersKnown: true });
      expect(inUse.data.holders.map((h: { admissionId: string }) => h.admissionId).sort()).toEqual([a.admissionId, b.admissionId].sort());
      expect(inUse.data.holders[0]).toMatchObject({ owner: 'anonymous', window: { start: at(t0), end: null }, cpus: 8 });
      expect(inUse.message).toContain(a.admissionId);
      expect(inUse.message).toContain(b.admissionId);
    }
    // Open-ended holders never end, and a held offer may still be confirmed: nothing within the horizon.
    expect(s.earliestFit).toMatchObject({ start: null, end: null, complete: true, horizonEnd: at(t0 + 168 * HOUR) });

    // The future: confirmed reservations fill [t0 + 1 d, t0 + 2 d); the same request there is refused, named, and fits at their end.
    for (const x of [a, b]) await request(gw.app).delete(`/api/v1/admissions/${x.admissionId}`);
    const f1 = (await admit(manifest('future-1', 4), { start: t0 + DAY, end: t0 + 2 * DAY })).body.services[0];
    const f2 = (await admit(manifest('future-2', 4), { start: t0 + DAY, end: t0 + 2 * DAY })).body.services[0];
    for (const x of [f1, f2]) await request(gw.app).post(`/api/v1/admissions/${x.admissionId}/confirm`);
    const future = (await admit(manifest('later'), { start: t0 + DAY + HOUR, end: t0 + DAY + 2 * HOUR, dryRun: true })).body.services[0];
    expect(future.decision).toBe('rejected');
    expect(future.heldBy.map((h: { admissionId: string }) => h.admissionId).sort()).toEqual([f1.admissionId, f2.admissionId].sort());
    expect(future.heldBy[0]).toMatchObject({ status: 'confirmed', start: at(t0 + DAY), end: at(t0 + 2 * DAY) });
    expect(future.earliestFit).toMatchObject({ start: at(t0 + 2 * DAY), end: at(t0 + 2 * DAY + HOUR) });
    // Before the window it fits.
    expect((await admit(manifest('earlier'), { start: t0 + HOUR, end: t0 + 2 * HOUR, dryRun: true })).body.services[0].decision).toBe('accepted');
  });
});

describe('lifecycle on time, with events', () => {
  test('free capacity crossing AC_CAPACITY_THRESHOLDS: capacity.changed (reason threshold) down, then up on release', async () => {
    await gw.close();
    gw = await testGateway({ hosts: fleet(2, 8), freeCapacityThresholds: [0.5] });
    gw.clock.set(t0);
    const id = (await admit(manifest('big', 5))).body.services[0].admissionId; // 10 of 16 CPUs: 0.375 free
    await gw.advance();
    await request(gw.app).delete(`/api/v1/admissions/${id}`);
    await gw.advance();
    const events = (await get('/api/v1/events?types=capacity.changed')).body.events.filter((e: { data: { reason: string } }) => e.data.reason === 'threshold');
    expect(events.map((e: { data: unknown }) => e.data)).toEqual([
      { reason: 'threshold', direction: 'below', thresholds: [0.5], freeShare: 0.375, freeCpus: 6, cpus: 16 },
      { reason: 'threshold', direction: 'above', thresholds: [0.5], freeShare: 1, freeCpus: 16, cpus: 16 },
    ]);
  });

  test('a hold expires at holdExpiresAt and frees its capacity; admission.held and admission.expired are emitted once', async () => {
    const s = (await admit(manifest('lapsing'), { expirySeconds: 60 })).body.services[0];
    expect(s.holdExpiresAt).toBe(at(t0 + 60_000));
    gw.clock.set(t0 + 59_999);
    await gw.advance();
    expect((await get(`/api/v1/admissions/${s.admissionId}`)).body.status).toBe('held');
    gw.clock.set(t0 + 60_000);
    await gw.advance();
    await gw.advance();
    expect((await get(`/api/v1/admissions/${s.admissionId}`)).body).toMatchObject({ status: 'expired', closedAt: at(t0 + 60_000) });
    expect(await freeCpus(t0 + 60_000)).toBe(16);
    const types = (await get('/api/v1/events')).body.events.filter((e: { subject: string }) => e.subject === s.admissionId).map((e: { type: string }) => e.type);
    expect(types).toEqual(['admission.held', 'admission.expired']);
  });

  test('a confirmed future reservation starts, warns before its end, and ends — each event once, capacity freed at the end', async () => {
    const start = t0 + HOUR;
    const end = start + HOUR;
    const s = (await admit(manifest('timed', 4), { start, end })).body.services[0];
    await request(gw.app).post(`/api/v1/admissions/${s.admissionId}/confirm`);
    for (const [time, status] of [
      [start - 1, 'confirmed'],
      [start, 'active'],
      [end - 600_000, 'active'], // the default lead of reservation.ending is 10 min
      [end, 'ended'],
    ] as const) {
      gw.clock.set(time);
      await gw.advance();
      expect((await get(`/api/v1/admissions/${s.admissionId}`)).body.status).toBe(status);
    }
    const events = (await get('/api/v1/events')).body.events.filter((e: { subject: string }) => e.subject === s.admissionId);
    expect(events.map((e: { type: string; at: string }) => [e.type, e.at])).toEqual([
      ['admission.held', at(t0)],
      ['admission.confirmed', at(t0)],
      ['reservation.started', at(start)],
      ['reservation.ending', at(end - 600_000)],
      ['reservation.ended', at(end)],
    ]);
    expect(await freeCpus(end)).toBe(16);
  });
});

describe('idempotent claims', () => {
  test('the same Idempotency-Key returns the first answer again and books nothing more; another request under it is 422', async () => {
    const first = await admit(manifest('idem'), { key: 'order-17' });
    const again = await admit(manifest('idem'), { key: 'order-17' });
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.services[0].admissionId).toBe(first.body.services[0].admissionId);
    expect((await gw.admissions()).filter((a) => a.status === 'held')).toHaveLength(1);
    expect(await freeCpus(t0)).toBe(14);
    const other = await admit(manifest('idem', 2), { key: 'order-17' });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('AC_ERR_IDEMPOTENCY_MISMATCH');
  });

  test('concurrent requests with one key book once', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => admit(manifest('race'), { key: 'race-1' })));
    const ids = new Set(answers.map((r) => r.body.services[0].admissionId));
    expect(ids.size).toBe(1);
    expect((await gw.admissions()).length).toBe(1);
  });
});

describe('input', () => {
  test.each([
    ['start=yesterday', 'query.start'],
    ['start=2030-02-30T00:00:00Z', 'query.start'],
    ['end=2030-06-01T00:00:00', 'query.end'],
    [`start=2030-06-02T00:00:00Z&end=2030-06-01T00:00:00Z`, 'query.end'],
    ['expirySeconds=0', 'query.expirySeconds'],
    ['expirySeconds=abc', 'query.expirySeconds'],
  ])('%s → 400 naming %s', async (q, field) => {
    const res = await request(gw.app).post(`/api/v1/admissions?${q}`).set('Content-Type', 'application/xml').send(SM);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  test('JSON bodies carry start and end beside the manifests', async () => {
    const res = await request(gw.app).post('/api/v1/admissions').send({ manifests: [manifest('json')], start: at(t0 + DAY), end: at(t0 + 2 * DAY) });
    expect(res.status).toBe(201);
    expect(res.body.window).toEqual({ start: at(t0 + DAY), end: at(t0 + 2 * DAY) });
  });

  test('lists page with a cursor, stable', async () => {
    for (let i = 0; i < 5; i++) {
      gw.clock.advance(1); // the order is creation time, then id
      await admit(manifest(`page-${i}`));
    }
    const p1 = await get('/api/v1/admissions?limit=2');
    expect(p1.body.admissions).toHaveLength(2);
    const p2 = await get(`/api/v1/admissions?limit=2&cursor=${encodeURIComponent(p1.body.nextCursor)}`);
    const p3 = await get(`/api/v1/admissions?limit=2&cursor=${encodeURIComponent(p2.body.nextCursor)}`);
    expect(p3.body.nextCursor).toBeNull();
    const ids = [...p1.body.admissions, ...p2.body.admissions, ...p3.body.admissions].map((a: { serviceId: string }) => a.serviceId);
    expect(ids).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  });
});
