/**
 * Charging through the HTTP API (issue "Charging policies"): the cost in the answer and the offer's bound, a budget
 * that admits partly and names balance and cost, a PricePlan cap that rejects, charges recorded at confirmation and
 * release, bills (JSON and CSV) equal to hand-computed figures, and /ready on a refused catalogue reload.
 *
 * Prices: 1 EUR per vCPU-hour, memory free. three-tier.xml: web 2–6 VMs × 2 vCPUs, app 2–4 × 4, db 1 × 4 — whole,
 * 32 vCPUs (32 EUR an hour); its basic VMs 16 vCPUs (16 EUR).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { ChargingCatalogue } from '../service/charging';
import { fleet, testGateway, type TestGateway } from './support/gateway';
import { expectXsdValid } from './support/xsd';
import { flatCatalogue } from './support/charging';

const MANIFEST = fs.readFileSync(path.join(__dirname, '..', 'examples', 'manifests', 'three-tier.xml'), 'utf8');
const H = 3_600_000;

function catalogueFile(dir: string, credits: number): string {
  const file = path.join(dir, 'charging.yaml');
  fs.writeFileSync(file, flatCatalogue(credits));
  return file;
}

describe('charging through the API', () => {
  let dir: string;
  const gateways: TestGateway[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-charging-api-'));
  });
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const gateway = async (credits: number, solver: 'greedy' | 'highs' = 'highs'): Promise<{ g: TestGateway; charging: ChargingCatalogue }> => {
    const charging = new ChargingCatalogue(catalogueFile(dir, credits));
    const g = await testGateway({ hosts: fleet(8), solver, charging });
    gateways.push(g);
    return { g, charging };
  };
  const hour = (): { start: string; end: string } => {
    const start = Math.ceil(Date.now() / H) * H + H;
    return { start: new Date(start).toISOString(), end: new Date(start + H).toISOString() };
  };

  it.each(['greedy', 'highs'] as const)('%s: credits of 20 EUR admit the basic VMs and what else fits in 20, with a BUDGET reason naming balance and cost', async (solver) => {
    const { g } = await gateway(20, solver);
    const w = hour();
    const res = await request(g.app).post(`/api/v1/admissions?dryRun=true&start=${w.start}&end=${w.end}`).set('Content-Type', 'application/xml').send(MANIFEST);
    expect(res.status).toBe(200);
    const s = res.body.services[0];
    expect(s.decision).toBe('partial');
    expect(s.charge).toMatchObject({ currency: 'EUR', basis: 'window', bound: 20, boundSources: ['price-plan', 'credits'], planCap: 200, planFloor: 20, credits: { balance: 20, held: 0, available: 20 } });
    const vcpus = s.components.reduce((sum: number, c: { id: string; localVms: number }) => sum + c.localVms * ({ web: 2, app: 4, db: 4 } as Record<string, number>)[c.id]!, 0);
    expect(s.charge.total).toBe(vcpus); // 1 EUR per vCPU for one hour
    expect(s.charge.total).toBeGreaterThanOrEqual(16);
    expect(s.charge.total).toBeLessThanOrEqual(20);
    if (solver === 'highs') expect(s.charge.total).toBe(20);
    expect(s.charge.credits.after).toBe(20 - s.charge.total);
    expect(s.charge.reasons).toEqual([expect.objectContaining({ code: 'BUDGET', data: expect.objectContaining({ minimumCost: 32, balance: 20, available: 20, cost: s.charge.total }) })]);
    expect(s.charge.reasons[0].message).toContain('would cost at least 32 EUR, more than the credits left (20 EUR');
  });

  it('credits below the cheapest component’s basic VMs (web: 4 EUR) reject the service, naming balance and cost', async () => {
    const { g } = await gateway(3);
    const w = hour();
    const res = await request(g.app).post(`/api/v1/admissions?dryRun=true&start=${w.start}&end=${w.end}`).set('Content-Type', 'application/xml').send(MANIFEST);
    const s = res.body.services[0];
    expect(s.decision).toBe('rejected');
    expect(s.charge).toMatchObject({ total: 0, bound: 3, credits: { balance: 3, available: 3, after: 3 } });
    expect(s.charge.reasons).toEqual([expect.objectContaining({ code: 'BUDGET', data: expect.objectContaining({ minimumCost: 32, balance: 3, cost: 0 }) })]);
    expect(s.charge.reasons[0].message).toMatch(/would cost at least 32 EUR, more than the credits left \(3 EUR: balance 3, held offers 0\); the offer costs 0 EUR$/);
  });

  it('two services in one request share the credits: each is bounded by its share, and together they stay within them', async () => {
    const { g } = await gateway(20);
    const w = hour();
    const second = MANIFEST.replace(/opt:serviceId="([^"]+)"/, 'opt:serviceId="$1-second"');
    const res = await request(g.app).post('/api/v1/admissions?dryRun=true').send({ manifests: [MANIFEST, second], start: w.start, end: w.end });
    expect(res.status).toBe(200);
    const [a, b] = res.body.services;
    // Each could cost 32 at most: 20 EUR of credits split 10 / 10.
    expect([a.charge.bound, b.charge.bound]).toEqual([10, 10]);
    expect(a.charge.total + b.charge.total).toBeLessThanOrEqual(20);
    expect(a.charge.credits).toMatchObject({ available: 20, bound: 10, after: 20 - a.charge.total - b.charge.total });
    expect(a.charge.reasons[0].message).toContain('its share of the credits left (10 of 20 EUR');
  });

  it.each([
    // A cap of 10 admits part of the service (web's basic 4 + db 4 = 8 fit, app's basic 8 does not with them).
    ['10.0', 'partial'],
    // Below the cheapest component's basic VMs (web: 2 × 2 vCPUs = 4 EUR): nothing can be admitted.
    ['3.0', 'rejected'],
  ])('a PricePlan cap of %s EUR: %s, with the cap named', async (cap, decision) => {
    const { g } = await gateway(1000);
    const w = hour();
    const capped = MANIFEST.replace('opt:planCap="200.0"', `opt:planCap="${cap}"`).replace('opt:planFloor="20.0"', 'opt:planFloor="1.0"');
    const res = await request(g.app).post(`/api/v1/admissions?dryRun=true&start=${w.start}&end=${w.end}`).set('Content-Type', 'application/xml').send(capped);
    expect(res.status).toBe(200);
    const s = res.body.services[0];
    expect(s.decision).toBe(decision);
    expect(s.charge).toMatchObject({ bound: Number(cap), planCap: Number(cap) });
    expect(s.charge.total).toBeLessThanOrEqual(Number(cap));
    if (decision === 'rejected') expect(s.charge.total).toBe(0);
    expect(s.charge.reasons[0].message).toContain(`more than the PricePlan cap (${Number(cap)} EUR)`);
  });

  it('confirming charges the window, releasing refunds the unused part; the bill and its CSV equal the records', async () => {
    const { g } = await gateway(1000);
    const w = hour();
    const res = await request(g.app).post(`/api/v1/admissions?start=${w.start}&end=${w.end}`).set('Content-Type', 'application/xml').send(MANIFEST);
    expect(res.status).toBe(201);
    const s = res.body.services[0];
    expect(s.decision).toBe('accepted');
    expect(s.charge.total).toBe(32);
    // The offer carries the charge too, beside the PricePlan, and still validates against the OPTIMIS XSDs.
    expect(s.manifest).toContain('<c:Charge xmlns:c="urn:eac:charging" currency="EUR" total="32" basis="window" agreement="metered">');
    expect(s.manifest).toMatch(/<c:Line component="web" resource="vcpu-hours" unit="vcpu-hours" quantity="12" amount="12"\/>/);
    await expectXsdValid(s.manifest);
    const from = new Date(Date.now() - H).toISOString();
    const to = new Date(Date.now() + 24 * H).toISOString();
    let bill = await request(g.app).get(`/api/v1/bills?from=${from}&to=${to}`);
    expect(bill.body).toMatchObject({ lines: [], total: 0, credits: 1000 }); // a held offer costs nothing
    expect((await request(g.app).post(`/api/v1/admissions/${s.admissionId}/confirm`)).status).toBe(200);
    bill = await request(g.app).get(`/api/v1/bills?from=${from}&to=${to}`);
    expect(bill.status).toBe(200);
    expect(bill.body).toMatchObject({ currency: 'EUR', credits: 1000, total: 32, lines: [{ admissionId: s.admissionId, resource: 'vcpu-hours', amount: 32, records: 1 }] });
    const csv = await request(g.app).get(`/api/v1/bills.csv?from=${from}&to=${to}`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.text.trim().split('\n')).toEqual([
      'owner,admissionId,serviceId,resource,amount,currency,records',
      `anonymous,${s.admissionId},${s.serviceId},vcpu-hours,32.000000,EUR,1`,
      'anonymous,,,credits,-1000.000000,EUR,',
      'anonymous,,,total,32.000000,EUR,2',
    ]);
    // Released before its start: everything comes back.
    expect((await request(g.app).delete(`/api/v1/admissions/${s.admissionId}`)).status).toBe(200);
    bill = await request(g.app).get(`/api/v1/bills?from=${from}&to=${to}`);
    expect(bill.body).toMatchObject({ total: 0, lines: [{ admissionId: s.admissionId, resource: 'vcpu-hours', amount: 0, records: 2 }] });
    const events = await request(g.app).get('/api/v1/events?types=charge.recorded');
    expect(events.body.events.map((e: { data: { cause: string; total: number } }) => [e.data.cause, e.data.total])).toEqual([
      ['confirm', -32],
      ['release', 32],
    ]);
  });

  it('moving a confirmed window re-prices it: one hour more is charged in the reschedule, one hour less refunded', async () => {
    const { g } = await gateway(1000);
    const w = hour();
    const res = await request(g.app).post(`/api/v1/admissions?start=${w.start}&end=${w.end}`).set('Content-Type', 'application/xml').send(MANIFEST);
    const id = res.body.services[0].admissionId as string;
    expect((await request(g.app).post(`/api/v1/admissions/${id}/confirm`)).status).toBe(200);
    const twoHours = new Date(Date.parse(w.start) + 2 * H).toISOString();
    expect((await request(g.app).patch(`/api/v1/admissions/${id}`).send({ start: w.start, end: twoHours })).status).toBe(200);
    const from = new Date(Date.now() - H).toISOString();
    const to = new Date(Date.now() + 24 * H).toISOString();
    let bill = await request(g.app).get(`/api/v1/bills?from=${from}&to=${to}`);
    expect(bill.body).toMatchObject({ total: 64, lines: [{ admissionId: id, resource: 'vcpu-hours', amount: 64, records: 2 }] });
    const kinds = (await g.ledger.charges({ admissionId: id })).items.map((r) => [r.kind, r.amount]);
    expect(kinds).toEqual([['commit', -32], ['adjust', -32]]);
    expect((await request(g.app).patch(`/api/v1/admissions/${id}`).send({ start: w.start, end: w.end })).status).toBe(200);
    bill = await request(g.app).get(`/api/v1/bills?from=${from}&to=${to}`);
    expect(bill.body.total).toBe(32);
  });

  it('a refused reload keeps the previous catalogue in force, and /ready says why', async () => {
    const { g, charging } = await gateway(20);
    fs.writeFileSync(charging.file, 'currency: EUR\nresources: {}\npriceLists: {}\nagreements: {}\nbogus: 1\n');
    expect(charging.reload()).toBe(false);
    const ready = await request(g.app).get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.warnings.join(' ')).toMatch(/charging catalogue .*charging\.yaml: the new version was refused .*bogus/);
    expect(charging.current()!.agreements.has('metered')).toBe(true);
  });
});
