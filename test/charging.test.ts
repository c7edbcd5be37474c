/**
 * Charging (issue "Charging policies"): the catalogue's errors name file, line and field; prices across time-frame
 * edges and price changes; agreements by principal, group and default with inheritance; and the SQLite ledger's charge
 * records — settled at each state change, never twice, balances equal to the sum of the records. Figures are
 * computed by hand in the comments.
 */
import path from 'node:path';
import { agreementFor, loadCatalogue, parseCatalogue, type Catalogue } from '../charging/catalogue';
import { breakdownOf, chargeClasses, chargePlan, priceSegments } from '../charging/pricing';
import { amountOver, HOUR_MS } from '../model/charge-plan';
import { AdmissionError } from '../model/errors';
import { SIMPLE_CATALOGUE } from './support/charging';

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

const SIMPLE = SIMPLE_CATALOGUE;

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

// The ledger's charge records (settlement, refunds, hourly usage, credits) are cases of the conformance suite
// (test/ledger/conformance.ts, "charges"), run by both stores.
