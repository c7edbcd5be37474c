/**
 * Charging (issue "Charging policies"): the catalogue's errors name file, line and field; prices across time-frame
 * edges and price changes; agreements by principal, group and default with inheritance; and the SQLite ledger's charge
 * records — settled at each state change, never twice, balances equal to the sum of the records. Figures are
 * computed by hand in the comments.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agreementFor, loadCatalogue, parseCatalogue, type Catalogue } from '../charging/catalogue';
import { breakdownOf, chargeClasses, chargePlan, priceSegments } from '../charging/pricing';
import { amountOver, HOUR_MS } from '../model/charge-plan';
import { AdmissionError } from '../model/errors';
import { SqliteLedger } from '../ledger/sqlite/sqlite-ledger';
import { CONFORMANCE_OPTIONS, FLEET, booking, request } from './ledger/conformance';
import { ManualClock } from './ledger/manual-clock';

const H = HOUR_MS;
const EXAMPLE = path.join(__dirname, '..', 'examples', 'charging.yaml');

function errorOf(f: () => unknown): AdmissionError {
  try {
    f();
  } catch (e) {
    if (e instanceof AdmissionError) return e;
    throw e;
  }
  throw new Error('expected an AdmissionError');
}

const SIMPLE = `currency: EUR
resources:
  vcpu-hours: { measure: vcpus, policy: continuous }
  memory-gb-hours: { measure: memoryGb, policy: continuous }
priceLists:
  base:
    prices: { vcpu-hours: 0.04, memory-gb-hours: 0.005 }
agreements:
  standard: { priceList: base }
default: standard
`;

describe('the catalogue', () => {
  it('loads the shipped example, which prices vCPU-hours and memory GB-hours for every principal', () => {
    const c = loadCatalogue(EXAMPLE);
    expect([...c.resources.keys()]).toEqual(['vcpu-hours', 'memory-gb-hours']);
    expect(agreementFor(c, { name: 'anyone', role: 'operator' })).toMatchObject({ agreement: { name: 'standard', creditPlan: null }, via: 'default' });
    expect(agreementFor(c, { name: 'alice', role: 'client' })).toMatchObject({ agreement: { name: 'client', priceList: 'standard', creditPlan: 'monthly-500' }, via: 'group:clients' });
  });

  it.each([
    ['a YAML syntax error', 'currency: EUR\nresources: {vcpu-hours: [\n', /catalogue.yaml:\d+$/, /./],
    ['an unknown field, at its line', SIMPLE.replace('default: standard', 'defualt: standard'), /^catalogue.yaml:1 /, /Unrecognized key.*defualt/i],
    ['a price below zero, at its line', SIMPLE.replace('vcpu-hours: 0.04', 'vcpu-hours: -1'), /^catalogue.yaml:7 priceLists.base.prices.vcpu-hours$/, /≥ 0/],
    ['a resource without a price', SIMPLE.replace(', memory-gb-hours: 0.005', ''), /^catalogue.yaml:7 priceLists.base.prices$/, /memory-gb-hours has no price/],
    ['an agreement naming no price list', SIMPLE.replace('{ priceList: base }', '{ priceList: gold }'), /^catalogue.yaml:9 agreements.standard.priceList$/, /no price list gold/],
    ['an inheritance cycle', SIMPLE.replace('standard: { priceList: base }', 'standard: { priceList: base }\n  a: { extends: b }\n  b: { extends: a }'), /agreements\.(a|b)/, /cycle|no priceList/],
    ['a bad time frame', SIMPLE.replace('prices: { vcpu-hours: 0.04, memory-gb-hours: 0.005 }', 'prices: { vcpu-hours: 0.04, memory-gb-hours: 0.005 }\n    timeframes: [{ name: night, hours: "25:00-08:00" }]'), /priceLists.base.timeframes.0.hours$/, /HH:MM-HH:MM/],
  ])('refuses %s, naming file, line and field', (_what, text, field, reason) => {
    const e = errorOf(() => parseCatalogue(text, 'catalogue.yaml'));
    expect(e.code).toBe('AC_ERR_CONFIG');
    expect(e.details[0]!.field).toMatch(field);
    expect(e.details.map((d) => d.reason).join(' | ')).toMatch(reason);
  });

  it('resolves agreements: the principal’s own, then its group’s (inherited from the parent group), then the default', () => {
    const c = parseCatalogue(`${SIMPLE.slice(0, SIMPLE.indexOf('agreements:'))}creditPlans:
  small: { credits: 10, period: day }
agreements:
  standard: { priceList: base }
  metered: { extends: standard, creditPlan: small }
  free: { extends: metered, creditPlan: null }
groups:
  customers: { roles: [client], agreement: metered }
  vip: { members: [carol], extends: customers }
principals:
  dave: { agreement: free }
default: standard
`);
    expect(agreementFor(c, { name: 'dave', role: 'client' })).toMatchObject({ agreement: { name: 'free', priceList: 'base', creditPlan: null }, via: 'principal' });
    expect(agreementFor(c, { name: 'carol', role: 'reader' })).toMatchObject({ agreement: { name: 'metered', creditPlan: 'small' }, via: 'group:vip' });
    expect(agreementFor(c, { name: 'erin', role: 'client' })).toMatchObject({ agreement: { name: 'metered' }, via: 'group:customers' });
    expect(agreementFor(c, { name: 'op', role: 'operator' })).toMatchObject({ agreement: { name: 'standard' }, via: 'default' });
  });
});

describe('prices over a window', () => {
  const c: Catalogue = loadCatalogue(EXAMPLE);
  const list = c.priceLists.get('standard')!;
  const monday = Date.parse('2027-03-01T00:00:00Z'); // a Monday

  it('cuts at the off-peak edge: Monday 19:00–21:00 for one vCPU is 1 h × 0.04 + 1 h × 0.025 = 0.065', () => {
    const segs = priceSegments(list, null, 'vcpu-hours', monday + 19 * H, monday + 21 * H);
    expect(segs).toEqual([
      { from: monday + 19 * H, to: monday + 20 * H, price: 0.04 },
      { from: monday + 20 * H, to: monday + 21 * H, price: 0.025 },
    ]);
    const item = { componentId: 'c', hostGroup: null, resource: 'vcpu-hours', policy: 'continuous' as const, quantity: 1, segments: segs };
    expect(amountOver({ windowStart: monday + 19 * H, windowEnd: monday + 21 * H }, item, monday + 19 * H, null)).toBeCloseTo(0.065, 12);
  });

  it('premium hosts (nodejs ≥ 20) have their own prices, peak and off-peak', () => {
    expect(priceSegments(list, 'premium', 'vcpu-hours', monday + 7 * H, monday + 9 * H).map((s) => s.price)).toEqual([0.04, 0.06]);
  });

  it('the price change of 2027-07-01 applies from that instant: Wednesday 30 June 10:00 → Thursday 1 July 10:00, peak hours 0.04 then 0.045', () => {
    const start = Date.parse('2027-06-30T10:00:00Z');
    const segs = priceSegments(list, null, 'vcpu-hours', start, start + 24 * H);
    // 10–20 peak 0.04, 20–00 off-peak, 00–08 off-peak (new version, same frame price), 08–10 peak at the new price.
    expect(segs.map((s) => [new Date(s.from).toISOString().slice(11, 16), s.price])).toEqual([
      ['10:00', 0.04],
      ['20:00', 0.025],
      ['08:00', 0.045],
    ]);
    const item = { componentId: 'c', hostGroup: null, resource: 'vcpu-hours', policy: 'continuous' as const, quantity: 2, segments: segs };
    // 2 vCPUs × (10 h × 0.04 + 12 h × 0.025 + 2 h × 0.045) = 2 × 0.79 = 1.58
    expect(amountOver({ windowStart: start, windowEnd: start + 24 * H }, item, start, null)).toBeCloseTo(1.58, 12);
  });

  it('charge classes and the plan agree: 2 VMs of 2 vCPUs and 2 GB on a premium host for a peak hour', () => {
    const start = monday + 9 * H;
    const window = { start, end: start + H };
    const hosts = [{ id: 'p1', capabilities: { nodejs: '20.11.1' } }, { id: 'o1', capabilities: { nodejs: '16.20.2' } }];
    const standard = c.agreements.get('standard')!;
    const classes = chargeClasses(c, standard, window, hosts);
    expect(classes.groups).toEqual(['premium', null]);
    expect(classes.charging.classes).toEqual([
      { perVcpu: 0.06, perMemoryGb: 0.005, perVm: 0 },
      { perVcpu: 0.04, perMemoryGb: 0.005, perVm: 0 },
    ]);
    const plan = chargePlan(c, standard, window, classes, [{ componentId: 'web', hostId: 'p1', vms: 2, vcpus: 2, memoryMb: 2048 }]);
    // 4 vCPU-hours × 0.06 + 4 GB-hours × 0.005 = 0.24 + 0.02
    expect(breakdownOf(c, plan)).toMatchObject({ currency: 'EUR', basis: 'window', total: 0.26, lines: [expect.objectContaining({ resource: 'vcpu-hours', quantity: 4, amount: 0.24 }), expect.objectContaining({ resource: 'memory-gb-hours', quantity: 4, amount: 0.02 })] });
  });
});

describe('charges in the SQLite ledger', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-charges-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const c = parseCatalogue(SIMPLE);
  const T0 = Date.parse('2030-01-01T00:00:00Z');
  const planFor = (start: number, end: number | null) => {
    const window = { start, end };
    return chargePlan(c, c.agreements.get('standard')!, window, chargeClasses(c, c.agreements.get('standard')!, window, [{ id: 'h1' }]), [{ componentId: 'app', hostId: 'h1', vms: 1, vcpus: 2, memoryMb: 1024 }]);
  };

  async function sumsEqual(ledger: SqliteLedger, owner: string): Promise<number> {
    const records = (await ledger.charges({ owner }, { limit: 1000 })).items;
    const sum = records.reduce((s, r) => s + r.amount, 0);
    expect((await ledger.chargeBalance(owner))!.amount).toBeCloseTo(sum, 9);
    expect(new Set(records.map((r) => `${r.admissionId}|${r.key}|${r.resource}`)).size).toBe(records.length);
    return sum;
  }

  it('confirm commits the window, release refunds the rest, a held offer costs nothing, and a re-settled state appends nothing', async () => {
    const clock = new ManualClock(T0);
    const ledger = await SqliteLedger.open({ ...CONFORMANCE_OPTIONS, dataDir: dir, clock: clock.fn });
    try {
      await ledger.syncHosts(FLEET, 'test');
      // 10 h: 2 vCPUs × 10 h × 0.04 = 0.8, 1 GB × 10 h × 0.005 = 0.05.
      await ledger.book(request([booking('a1', { window: { start: T0, end: T0 + 10 * H }, holdExpiresAt: T0 + H, chargePlan: planFor(T0, T0 + 10 * H) })]));
      await ledger.book(request([booking('a2', { serviceId: 'other', window: { start: T0, end: T0 + 10 * H }, holdExpiresAt: T0 + H, chargePlan: planFor(T0, T0 + 10 * H) })]));
      expect(await ledger.chargeBalance('alice')).toBeUndefined();
      await ledger.confirm('a1', 'alice');
      expect(await sumsEqual(ledger, 'alice')).toBeCloseTo(-0.85, 9);
      const events = await ledger.events(0, { types: ['charge.recorded'] });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ subject: 'a1', data: { cause: 'confirm', currency: 'EUR', total: -0.85 } });
      clock.set(T0 + 2.5 * H);
      await ledger.advance(clock.now());
      await ledger.release('a2', 'alice'); // held: nothing was charged, nothing refunded
      await ledger.release('a1', 'alice'); // 7.5 of 10 hours unused: 0.6 + 0.0375 back
      expect(await sumsEqual(ledger, 'alice')).toBeCloseTo(-0.2125, 9);
      expect((await ledger.charges({ admissionId: 'a1' })).items.map((r) => [r.kind, r.resource, r.amount])).toEqual([
        ['commit', 'memory-gb-hours', -0.05],
        ['commit', 'vcpu-hours', -0.8],
        ['refund', 'memory-gb-hours', 0.0375],
        ['refund', 'vcpu-hours', 0.6],
      ]);
      await ledger.release('a1', 'alice');
      await ledger.advance(clock.now() + 48 * H);
      expect((await ledger.charges({ admissionId: 'a1' })).items).toHaveLength(4);
    } finally {
      await ledger.close();
    }
  });

  it('an open window is charged per started hour by advance(), and its release refunds the unused part of the hour', async () => {
    const clock = new ManualClock(T0);
    const ledger = await SqliteLedger.open({ ...CONFORMANCE_OPTIONS, dataDir: dir, clock: clock.fn });
    try {
      await ledger.syncHosts(FLEET, 'test');
      await ledger.book(request([booking('o1', { window: { start: T0, end: null }, holdExpiresAt: T0 + H, chargePlan: planFor(T0, null) })]));
      await ledger.confirm('o1', 'alice'); // the first hour: 0.08 + 0.005
      expect(await sumsEqual(ledger, 'alice')).toBeCloseTo(-0.085, 9);
      clock.set(T0 + 3 * H + 1);
      const r = await ledger.advance(clock.now()); // hours 2, 3 and 4 have started
      expect(r.events.filter((e) => e.type === 'charge.recorded')).toHaveLength(1);
      expect(await sumsEqual(ledger, 'alice')).toBeCloseTo(-0.34, 9);
      expect(r.nextDueAt).toBe(T0 + 4 * H);
      clock.set(T0 + 3.5 * H);
      await ledger.release('o1', 'alice'); // half of hour 4 back: 0.0425
      expect(await sumsEqual(ledger, 'alice')).toBeCloseTo(-0.2975, 9);
    } finally {
      await ledger.close();
    }
  });

  it('credits: a grant per period, once; the unused rest of the previous period expires', async () => {
    const clock = new ManualClock(T0);
    const ledger = await SqliteLedger.open({ ...CONFORMANCE_OPTIONS, dataDir: dir, clock: clock.fn });
    try {
      expect((await ledger.grantCredits('bob', '2030-01', 10, 'EUR')).amount).toBe(10);
      expect((await ledger.grantCredits('bob', '2030-01', 10, 'EUR')).amount).toBe(10);
      const next = await ledger.grantCredits('bob', '2030-02', 10, 'EUR');
      expect(next).toMatchObject({ amount: 10, records: 3 });
      expect((await ledger.charges({ owner: 'bob' })).items.map((r) => [r.kind, r.amount])).toEqual([
        ['grant', 10],
        ['expire', -10],
        ['grant', 10],
      ]);
    } finally {
      await ledger.close();
    }
  });
});
