/**
 * ledger/capacity.ts against a brute-force evaluation at every breakpoint: the step functions are constant between
 * breakpoints, so the extremes over [s, e) are the extremes at s and at every breakpoint inside.
 */
import fc from 'fast-check';
import { FleetIndex, HostTimeline, capacityView, hostView, type Adjustment } from '../../ledger/capacity';

interface Item {
  id: string;
  kind: 'booking' | 'window';
  host: string;
  start: number;
  end: number;
  cpus: number;
  memoryMb: number;
  holdUntil: number;
}

const HOSTS = ['h1', 'h2', 'h3'];

const itemArb = fc
  .record({
    kind: fc.constantFrom<'booking' | 'window'>('booking', 'booking', 'window'),
    host: fc.constantFrom(...HOSTS),
    start: fc.integer({ min: 0, max: 60 }),
    length: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined, freq: 4 }),
    cpus: fc.integer({ min: -8, max: 8 }).map((n) => n / 2),
    memoryMb: fc.integer({ min: -4, max: 4 }).map((n) => n * 256),
    hold: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
  })
  .map((r) => ({
    kind: r.kind,
    host: r.host,
    start: r.start,
    end: r.length === undefined ? Infinity : r.start + r.length,
    // Bookings take non-negative amounts; windows may add or take.
    cpus: r.kind === 'booking' ? Math.abs(r.cpus) : r.cpus,
    memoryMb: r.kind === 'booking' ? Math.abs(r.memoryMb) : r.memoryMb,
    holdUntil: r.kind === 'booking' && r.hold !== undefined ? r.hold : Infinity,
  }));

function counts(it: Item, now: number): boolean {
  return it.kind === 'window' || it.holdUntil > now;
}

function at(items: readonly Item[], host: string, t: number, now: number, adjustments: readonly Adjustment[] = []) {
  let booked = 0;
  let bookedMem = 0;
  let delta = 0;
  let deltaMem = 0;
  for (const it of items) {
    if (it.host !== host || !counts(it, now) || !(it.start <= t && t < it.end)) continue;
    if (it.kind === 'booking') {
      booked += it.cpus;
      bookedMem += it.memoryMb;
    } else {
      delta += it.cpus;
      deltaMem += it.memoryMb;
    }
  }
  let adj = 0;
  let adjMem = 0;
  for (const a of adjustments) {
    if (a.start <= t && t < a.end) {
      adj += a.cpus;
      adjMem += a.memoryMb;
    }
  }
  return { booked, bookedMem, delta, deltaMem, net: delta - booked + adj, netMem: deltaMem - bookedMem + adjMem };
}

function brute(items: readonly Item[], host: string, s: number, e: number, now: number, adjustments: readonly Adjustment[] = []) {
  const points = new Set<number>([s]);
  for (const it of items) {
    for (const p of [it.start, it.end]) if (p > s && p < e) points.add(p);
  }
  for (const a of adjustments) for (const p of [a.start, a.end]) if (p > s && p < e) points.add(p);
  const r = { maxBookedCpus: -Infinity, maxBookedMemoryMb: -Infinity, minDeltaCpus: Infinity, minDeltaMemoryMb: Infinity, minNetCpus: Infinity, minNetMemoryMb: Infinity };
  for (const p of points) {
    const v = at(items, host, p, now, adjustments);
    r.maxBookedCpus = Math.max(r.maxBookedCpus, v.booked);
    r.maxBookedMemoryMb = Math.max(r.maxBookedMemoryMb, v.bookedMem);
    r.minDeltaCpus = Math.min(r.minDeltaCpus, v.delta);
    r.minDeltaMemoryMb = Math.min(r.minDeltaMemoryMb, v.deltaMem);
    r.minNetCpus = Math.min(r.minNetCpus, v.net);
    r.minNetMemoryMb = Math.min(r.minNetMemoryMb, v.netMem);
  }
  return r;
}

const queryArb = fc.record({ s: fc.integer({ min: -5, max: 110 }), len: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }) }).map((q) => ({
  s: q.s,
  e: q.len === undefined ? Infinity : q.s + q.len,
}));

function load(index: FleetIndex, items: readonly Item[]): void {
  items.forEach((it, i) => {
    if (it.kind === 'booking') index.putBooking(`b${i}`, { start: it.start, end: it.end, holdUntil: it.holdUntil, hosts: [{ hostId: it.host, cpus: it.cpus, memoryMb: it.memoryMb }] });
    else index.putWindow(`w${i}`, { start: it.start, end: it.end, cpusDelta: it.cpus, memoryMbDelta: it.memoryMb, hostIds: [it.host] });
  });
}

const close = (a: number, b: number): boolean => a === b || Math.abs(a - b) < 1e-9;

describe('capacity math (ledger/capacity.ts) against brute force', () => {
  test('range extremes equal the brute-force evaluation at every breakpoint', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 30 }), fc.array(queryArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 100 }), (items, queries, now) => {
        const index = new FleetIndex();
        load(index, items as Item[]);
        index.setNow(now);
        for (const q of queries) {
          for (const h of HOSTS) {
            const got = index.summary(h, q.s, q.e);
            const want = brute(items as Item[], h, q.s, q.e, now);
            for (const k of Object.keys(want) as (keyof typeof want)[]) {
              if (!close(got[k], want[k])) throw new Error(`${h} [${q.s}, ${q.e}) ${k}: got ${got[k]}, want ${want[k]}`);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('adjustments (pretend bookings away / add the request’s own) are exact too', () => {
    const adjArb = fc.record({ start: fc.integer({ min: 0, max: 80 }), len: fc.integer({ min: 1, max: 40 }), cpus: fc.integer({ min: -6, max: 6 }), mem: fc.integer({ min: -3, max: 3 }) });
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 20 }), fc.array(adjArb, { maxLength: 4 }), queryArb, fc.integer({ min: 0, max: 100 }), (items, adjs, q, now) => {
        const index = new FleetIndex();
        load(index, items as Item[]);
        index.setNow(now);
        const adjustments: Adjustment[] = adjs.map((a) => ({ start: a.start, end: a.start + a.len, cpus: a.cpus, memoryMb: a.mem * 100 }));
        for (const h of HOSTS) {
          const got = index.minNet(h, q.s, q.e, adjustments);
          const want = brute(items as Item[], h, q.s, q.e, now, adjustments);
          if (!close(got.cpus, want.minNetCpus) || !close(got.memoryMb, want.minNetMemoryMb)) {
            throw new Error(`${h} [${q.s}, ${q.e}): got ${JSON.stringify(got)}, want ${want.minNetCpus}/${want.minNetMemoryMb}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('incremental updates (put, replace, remove, clock forwards and backwards) agree with a rebuild from scratch', () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant<'put'>('put'), slot: fc.integer({ min: 0, max: 9 }), item: itemArb }),
      fc.record({ op: fc.constant<'remove'>('remove'), slot: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ op: fc.constant<'now'>('now'), now: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ op: fc.constant<'query'>('query'), q: queryArb }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const index = new FleetIndex();
        const slots = new Map<number, Item>();
        let now = 0;
        index.setNow(now);
        for (const o of ops) {
          if (o.op === 'put') {
            const old = slots.get(o.slot);
            if (old) (old.kind === 'booking' ? index.removeBooking(`s${o.slot}`) : index.removeWindow(`s${o.slot}`));
            const it = { ...(o.item as Item), id: `s${o.slot}` };
            slots.set(o.slot, it);
            if (it.kind === 'booking') index.putBooking(it.id, { start: it.start, end: it.end, holdUntil: it.holdUntil, hosts: [{ hostId: it.host, cpus: it.cpus, memoryMb: it.memoryMb }] });
            else index.putWindow(it.id, { start: it.start, end: it.end, cpusDelta: it.cpus, memoryMbDelta: it.memoryMb, hostIds: [it.host] });
          } else if (o.op === 'remove') {
            const old = slots.get(o.slot);
            if (old) (old.kind === 'booking' ? index.removeBooking(old.id) : index.removeWindow(old.id));
            slots.delete(o.slot);
          } else if (o.op === 'now') {
            now = o.now;
            index.setNow(now);
          } else {
            for (const h of HOSTS) {
              const got = index.summary(h, o.q.s, o.q.e);
              const want = brute([...slots.values()], h, o.q.s, o.q.e, now);
              for (const k of Object.keys(want) as (keyof typeof want)[]) {
                if (!close(got[k], want[k])) throw new Error(`${h} ${k}: got ${got[k]}, want ${want[k]}`);
              }
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('capacity math: named cases', () => {
  const T = (start: number, end: number, cpus: number): [string, { start: number; end: number; holdUntil: number; hosts: { hostId: string; cpus: number; memoryMb: number }[] }] => [
    `${start}-${end}-${cpus}`,
    { start, end, holdUntil: Infinity, hosts: [{ hostId: 'h', cpus, memoryMb: 0 }] },
  ];
  const cases: [string, [number, number, number][], [number, number], number][] = [
    ['touching windows do not overlap (before)', [[0, 10, 4]], [10, 20], 0],
    ['touching windows do not overlap (after)', [[10, 20, 4]], [0, 10], 0],
    ['contained', [[2, 5, 4]], [0, 10], 4],
    ['containing', [[0, 100, 4]], [10, 20], 4],
    ['identical', [[10, 20, 4]], [10, 20], 4],
    ['open end', [[10, Infinity, 4]], [1000, 2000], 4],
    ['peak, not sum, of disjoint bookings', [[0, 5, 4], [5, 10, 3]], [0, 10], 4],
    ['sum of overlapping bookings', [[0, 6, 4], [5, 10, 3]], [0, 10], 7],
    ['one instant of overlap counts', [[0, 6, 4], [5, 10, 3]], [5, 6], 7],
    ['query ending exactly at a booking’s start', [[5, 10, 3]], [0, 5], 0],
  ];
  test.each(cases)('%s', (_name, bookings, [s, e], peak) => {
    const index = new FleetIndex();
    for (const [a, b, c] of bookings) index.putBooking(...T(a, b, c));
    expect(index.summary('h', s, e).maxBookedCpus).toBe(peak);
  });

  test('an empty timeline reads zero everywhere', () => {
    expect(new HostTimeline().summary(0, Infinity)).toEqual({ maxBookedCpus: 0, maxBookedMemoryMb: 0, minDeltaCpus: 0, minDeltaMemoryMb: 0, minNetCpus: 0, minNetMemoryMb: 0 });
  });

  test('host views: free = cpus − used + min(delta − booked), clamped at 0; memory only where the host reports it', () => {
    const index = new FleetIndex();
    index.putBooking('a', { start: 0, end: 10, holdUntil: Infinity, hosts: [{ hostId: 'h', cpus: 3, memoryMb: 100 }] });
    index.putWindow('m', { start: 5, end: 15, cpusDelta: -4, memoryMbDelta: 0, hostIds: ['h'] });
    const v = hostView({ id: 'h', cpus: 8, usedCpus: 2, memoryMb: 1000, usedMemoryMb: 100, generation: 3 }, index.summary('h', 0, 20));
    expect(v).toEqual({ hostId: 'h', generation: 3, cpus: 8, usedCpus: 2, reservedCpus: 3, windowCpusDelta: -4, freeCpus: 0, memoryMb: 1000, usedMemoryMb: 100, reservedMemoryMb: 100, windowMemoryMbDelta: 0, freeMemoryMb: 800 });
    expect(v.freeCpus).toBe(0);
    const noMem = hostView({ id: 'h', cpus: 8, usedCpus: 0, generation: 1 }, index.summary('h', 10, 20));
    expect(noMem).toEqual({ hostId: 'h', generation: 1, cpus: 8, usedCpus: 0, reservedCpus: 0, windowCpusDelta: -4, freeCpus: 4 });
    expect(capacityView({ start: 0, end: 20 }, [v, noMem]).totals).toEqual({ cpus: 16, usedCpus: 2, reservedCpus: 3, freeCpus: 4, memoryMb: 1000, usedMemoryMb: 100, reservedMemoryMb: 100, freeMemoryMb: 800 });
  });

  test('a hold stops counting at its expiry instant, and counts again if the clock goes back', () => {
    const index = new FleetIndex();
    index.putBooking('held', { start: 0, end: 100, holdUntil: 50, hosts: [{ hostId: 'h', cpus: 2, memoryMb: 0 }] });
    index.setNow(49);
    expect(index.summary('h', 0, 100).maxBookedCpus).toBe(2);
    index.setNow(50);
    expect(index.summary('h', 0, 100).maxBookedCpus).toBe(0);
    index.setNow(10);
    expect(index.summary('h', 0, 100).maxBookedCpus).toBe(2);
    // Confirmed (holdUntil ∞): a replaced entry’s stale expiry does not take it out.
    index.putBooking('held', { start: 0, end: 100, holdUntil: Infinity, hosts: [{ hostId: 'h', cpus: 2, memoryMb: 0 }] });
    index.setNow(60);
    expect(index.summary('h', 0, 100).maxBookedCpus).toBe(2);
  });
});
