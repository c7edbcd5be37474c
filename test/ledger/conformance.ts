/**
 * The ledger's conformance suite: every implementation of ledger/types.ts's Ledger runs it (test/ledger/sqlite.test.ts
 * for SqliteLedger; a PostgreSQL one will call it the same way). Small named cases, most of them table-driven, on a
 * manual clock: windows at every boundary, capacity windows, generations, replaceHeld, idempotency, lifecycle
 * transitions at their exact instants, history and paging, holders, events and their visibility, subscriptions and
 * their deliveries, settings with generations and tombstones, audit.
 */
import { AdmissionError } from '../../model/errors';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../../model/types';
import type { AdmissionRecord, BookingInput, BookRequest, DecisionInput, DeploymentInput, DeploymentVm, HostInventory, Ledger, LedgerEvent, TimeWindow } from '../../ledger/types';
import { ManualClock } from './manual-clock';
import { parseCatalogue } from '../../charging/catalogue';
import { chargeClasses, chargePlan } from '../../charging/pricing';
import { HOUR_MS } from '../../model/charge-plan';
import { SIMPLE_CATALOGUE } from '../support/charging';

export interface OpenedLedger {
  readonly ledger: Ledger;
  readonly clock: ManualClock;
  /** Closes the ledger and opens the same storage again (a restart). */
  reopen?(): Promise<Ledger>;
  /** A second, independent connection to the same storage (another worker process's view), when the implementation has one. */
  second?(): Promise<Ledger>;
  cleanup(): Promise<void>;
}

/** Options every `open` must honour (the suite relies on them). */
export const CONFORMANCE_OPTIONS = {
  defaultWeights: DEFAULT_WEIGHTS,
  defaultConstraints: DEFAULT_CONSTRAINTS,
  endingLeadMs: 10 * 60_000,
  retentionMs: 24 * 3600_000,
  decisionRetentionMs: 48 * 3600_000,
} as const;

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
export const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (minutes: number): number => T0 + minutes * MIN;
const win = (from: number, to: number | null): TimeWindow => ({ start: at(from), end: to === null ? null : at(to) });

/** h1: 8 CPUs, 16 GB; h2: 4 CPUs, no memory reported; h3: 16 CPUs of which 4 used, 8 GB of which 1 GB used. */
export const FLEET: readonly HostInventory[] = [
  { id: 'h1', cpus: 8, usedCpus: 0, memoryMb: 16384, usedMemoryMb: 0 },
  { id: 'h2', cpus: 4, usedCpus: 0 },
  { id: 'h3', cpus: 16, usedCpus: 4, memoryMb: 8192, usedMemoryMb: 1024 },
];

export function booking(id: string, over: Partial<BookingInput> = {}): BookingInput {
  return {
    id,
    owner: 'alice',
    serviceId: `svc-${id}`,
    decision: 'accepted',
    window: win(0, 60),
    holdExpiresAt: at(15),
    expirySeconds: 900,
    hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 1024 }],
    response: { id, nested: [1, 'two', { three: null }] },
    ...over,
  };
}

export function request(bookings: BookingInput[], over: Partial<BookRequest> = {}): BookRequest {
  return { bookings, actor: 'gateway', ...over };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof AdmissionError)) throw new Error(`expected an AdmissionError, got ${String(e)}`);
    return e.code;
  }
  throw new Error('expected an AdmissionError, got success');
}

async function errorOf(p: Promise<unknown>): Promise<AdmissionError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AdmissionError) return e;
    throw e;
  }
  throw new Error('expected an AdmissionError, got success');
}

export function ledgerConformance(name: string, open: () => Promise<OpenedLedger>): void {
  describe(`ledger conformance: ${name}`, () => {
    let env: OpenedLedger;
    let ledger: Ledger;
    let clock: ManualClock;
    const opened: Ledger[] = [];

    beforeEach(async () => {
      env = await open();
      ledger = env.ledger;
      clock = env.clock;
      clock.set(T0);
      await ledger.syncHosts(FLEET, 'host-info');
    });
    afterEach(async () => {
      for (const l of opened.splice(0)) await l.close();
      await env.cleanup();
    });

    const second_ = async (): Promise<Ledger | undefined> => second();
    const second = async (): Promise<Ledger | undefined> => {
      if (!env.second) return undefined;
      const l = await env.second();
      opened.push(l);
      return l;
    };
    const book = async (...bs: BookingInput[]): Promise<readonly AdmissionRecord[]> => {
      const r = await ledger.book(request(bs));
      if (r.kind !== 'booked') throw new Error('expected booked');
      return r.admissions;
    };
    const types = (events: readonly LedgerEvent[]): string[] => events.map((e) => `${e.type} ${e.subject}`);
    const eventsAfter = async (seq: number): Promise<readonly LedgerEvent[]> => ledger.events(seq, { limit: 1000 });

    // -----------------------------------------------------------------------------------------
    describe('host inventory', () => {
      test('syncHosts records the snapshot; hosts() lists it with generation 1', async () => {
        const hosts = await ledger.hosts();
        expect(hosts.map((h) => [h.id, h.cpus, h.generation])).toEqual([
          ['h1', 8, 1],
          ['h2', 4, 1],
          ['h3', 16, 1],
        ]);
        expect(hosts.find((h) => h.id === 'h2')!.memoryMb).toBeUndefined();
      });

      test('an unchanged snapshot changes nothing: no change, no event, no generation', async () => {
        const seq = await ledger.lastEventSeq();
        expect(await ledger.syncHosts([...FLEET].reverse(), 'host-info')).toEqual([]);
        expect(await ledger.lastEventSeq()).toBe(seq);
        expect((await ledger.hosts()).map((h) => h.generation)).toEqual([1, 1, 1]);
      });

      test('added, removed and resized hosts: generations and one capacity.changed per host (fleet event, owner null)', async () => {
        const seq = await ledger.lastEventSeq();
        const changes = await ledger.syncHosts(
          [{ ...FLEET[0]!, usedCpus: 2 }, FLEET[2]!, { id: 'h4', cpus: 2, usedCpus: 0 }],
          'host-info',
        );
        expect(changes.map((c) => [c.hostId, c.change])).toEqual([
          ['h1', 'resized'],
          ['h2', 'removed'],
          ['h4', 'added'],
        ]);
        expect(changes[0]).toMatchObject({ before: { usedCpus: 0 }, after: { usedCpus: 2 } });
        const hosts = await ledger.hosts();
        expect(hosts.map((h) => [h.id, h.generation])).toEqual([
          ['h1', 2],
          ['h3', 1],
          ['h4', 1],
        ]);
        const events = await eventsAfter(seq);
        expect(events.map((e) => [e.type, e.subject, e.owner])).toEqual([
          ['capacity.changed', 'h1', null],
          ['capacity.changed', 'h2', null],
          ['capacity.changed', 'h4', null],
        ]);
        // A removed host that comes back is added again, its generation continuing.
        const back = await ledger.syncHosts([...FLEET, { id: 'h4', cpus: 2, usedCpus: 0 }], 'host-info');
        expect(back.map((c) => [c.hostId, c.change])).toEqual([
          ['h1', 'resized'],
          ['h2', 'added'],
        ]);
        expect((await ledger.hosts()).find((h) => h.id === 'h2')!.generation).toBe(3);
      });

      test.each([
        ['duplicate ids', [FLEET[0]!, FLEET[0]!]],
        ['negative CPUs', [{ id: 'x', cpus: -1, usedCpus: 0 }]],
        ['empty id', [{ id: '', cpus: 1, usedCpus: 0 }]],
        ['NaN used', [{ id: 'x', cpus: 1, usedCpus: NaN }]],
      ])('an invalid snapshot is refused (%s)', async (_n, hosts) => {
        expect(await codeOf(ledger.syncHosts(hosts as HostInventory[], 'host-info'))).toBe('AC_ERR_INVALID_REQUEST');
        expect((await ledger.hosts()).length).toBe(3);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('bookings against capacity: windows at every boundary', () => {
      // An existing booking takes 6 of h1's 8 CPUs over [10, 20) min (or open from 10 where noted); the new one asks for 4.
      const cases: [string, [number, number | null], [number, number | null], boolean][] = [
        ['touching before: [0,10) vs [10,20)', [10, 20], [0, 10], true],
        ['touching after: [20,30) vs [10,20)', [10, 20], [20, 30], true],
        ['one minute of overlap at the start', [10, 20], [9, 11], false],
        ['one minute of overlap at the end', [10, 20], [19, 21], false],
        ['contained', [10, 20], [12, 15], false],
        ['containing', [10, 20], [0, 30], false],
        ['identical', [10, 20], [10, 20], false],
        ['new open end starting inside', [10, 20], [19, null], false],
        ['new open end starting at the end', [10, 20], [20, null], true],
        ['existing open end, new far later', [10, null], [1000, 2000], false],
        ['existing open end, new before it', [10, null], [0, 10], true],
        ['both open', [10, null], [5, null], false],
      ];
      test.each(cases)('%s', async (_n, existing, asked, fits) => {
        await book(booking('old', { window: win(...existing), hosts: [{ hostId: 'h1', cpus: 6, memoryMb: 0 }] }));
        const p = ledger.book(request([booking('new', { window: win(...asked), hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] })]));
        if (fits) expect((await p).kind).toBe('booked');
        else expect(await codeOf(p)).toBe('AC_ERR_CAPACITY_CONFLICT');
      });

      test('exactly the free amount fits; a fraction more does not', async () => {
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 5.5, memoryMb: 0 }] }));
        expect(await codeOf(ledger.book(request([booking('b', { hosts: [{ hostId: 'h1', cpus: 2.75, memoryMb: 0 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
        await book(booking('c', { hosts: [{ hostId: 'h1', cpus: 2.5, memoryMb: 0 }] }));
      });

      test('host used CPUs count against free capacity (h3: 16 − 4 used)', async () => {
        expect(await codeOf(ledger.book(request([booking('a', { hosts: [{ hostId: 'h3', cpus: 13, memoryMb: 0 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
        await book(booking('b', { hosts: [{ hostId: 'h3', cpus: 12, memoryMb: 0 }] }));
      });

      test('memory constrains hosts that report it (h1), not those that do not (h2)', async () => {
        expect(await codeOf(ledger.book(request([booking('a', { hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 16385 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect(await codeOf(ledger.book(request([booking('b', { hosts: [{ hostId: 'h3', cpus: 1, memoryMb: 7169 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
        await book(booking('c', { hosts: [{ hostId: 'h2', cpus: 1, memoryMb: 10_000_000 }] }));
      });

      test('the conflict names the booking, the host, needed, free and the holders in the window', async () => {
        await book(booking('big', { hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] }), booking('small', { hosts: [{ hostId: 'h1', cpus: 3, memoryMb: 0 }] }));
        await book(booking('elsewhen', { window: win(60, 120), hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] }));
        const e = await errorOf(ledger.book(request([booking('new', { hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] })])));
        expect(e.code).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect(e.status).toBe(409);
        const d = Object.fromEntries(e.details.map((x) => [x.field, x.reason]));
        expect(d).toMatchObject({ admissionId: 'new', hostId: 'h1', resource: 'cpus', needed: '2', free: '1', holders: 'big small' });
        expect(e.message).toMatch(/h1/);
      });

      test.each([
        ['a host not in the inventory', 'h9'],
        ['a removed host', 'h2'],
      ])('booking %s is a capacity conflict', async (_n, hostId) => {
        await ledger.syncHosts([FLEET[0]!, FLEET[2]!], 'host-info');
        const e = await errorOf(ledger.book(request([booking('a', { hosts: [{ hostId, cpus: 1, memoryMb: 0 }] })])));
        expect(e.code).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect(e.details).toEqual(expect.arrayContaining([{ field: 'hostId', reason: hostId }]));
      });

      test('all or nothing: one booking that does not fit leaves none of the request behind', async () => {
        const seq = await ledger.lastEventSeq();
        const gens = (await ledger.hosts()).map((h) => h.generation);
        expect(
          await codeOf(ledger.book(request([booking('ok', { hosts: [{ hostId: 'h2', cpus: 1, memoryMb: 0 }] }), booking('too-big', { hosts: [{ hostId: 'h1', cpus: 9, memoryMb: 0 }] })]))),
        ).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect(await ledger.get('ok')).toBeUndefined();
        expect(await ledger.lastEventSeq()).toBe(seq);
        expect((await ledger.hosts()).map((h) => h.generation)).toEqual(gens);
      });

      test('bookings of one request count against each other; entries for one host are added up', async () => {
        expect(
          await codeOf(ledger.book(request([booking('a', { hosts: [{ hostId: 'h1', cpus: 5, memoryMb: 0 }] }), booking('b', { hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] })]))),
        ).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect(
          await codeOf(ledger.book(request([booking('c', { hosts: [{ hostId: 'h1', cpus: 5, memoryMb: 0 }, { hostId: 'h1', cpus: 4, memoryMb: 0 }] })]))),
        ).toBe('AC_ERR_CAPACITY_CONFLICT');
        const [rec] = await book(booking('d', { hosts: [{ hostId: 'h3', cpus: 1, memoryMb: 10 }, { hostId: 'h1', cpus: 2, memoryMb: 5 }, { hostId: 'h3', cpus: 2, memoryMb: 20 }] }));
        expect(rec!.hosts).toEqual([
          { hostId: 'h1', cpus: 2, memoryMb: 5 },
          { hostId: 'h3', cpus: 3, memoryMb: 30 },
        ]);
      });

      test('concurrent requests are each all or nothing: one that does not fit fails alone, the others are booked, in call order', async () => {
        const results = await Promise.allSettled([
          ledger.book(request([booking('first', { hosts: [{ hostId: 'h1', cpus: 5, memoryMb: 0 }] })])),
          ledger.book(request([booking('second', { hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] })])),
          ledger.book(request([booking('third', { hosts: [{ hostId: 'h1', cpus: 3, memoryMb: 0 }] }), booking('third-b', { hosts: [{ hostId: 'h2', cpus: 4, memoryMb: 0 }] })])),
          ledger.book(request([booking('fourth', { hosts: [{ hostId: 'h2', cpus: 1, memoryMb: 0 }] })])),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
        expect(((results[1] as PromiseRejectedResult).reason as AdmissionError).code).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect((await ledger.list({})).items.map((a) => a.id).sort()).toEqual(['first', 'third', 'third-b']);
        expect((await ledger.capacity(win(0, 60))).hosts.slice(0, 2).map((h) => h.freeCpus)).toEqual([0, 0]);
      });

      test('a booking with no hosts (all federated) is recorded', async () => {
        const [rec] = await book(booking('fed', { hosts: [] }));
        expect(rec!.hosts).toEqual([]);
      });

      test('book returns the records get() returns, and emits admission.held per booking with window, hosts, service, decision', async () => {
        const seq = await ledger.lastEventSeq();
        const recs = await book(booking('a'), booking('b', { owner: 'bob', decision: 'partial', hosts: [{ hostId: 'h2', cpus: 1, memoryMb: 0 }] }));
        expect(recs[0]).toEqual({
          id: 'a',
          owner: 'alice',
          serviceId: 'svc-a',
          decision: 'accepted',
          status: 'held',
          window: win(0, 60),
          holdExpiresAt: at(15),
          expirySeconds: 900,
          createdAt: T0,
          hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 1024 }],
          response: { id: 'a', nested: [1, 'two', { three: null }] },
          generation: 1,
        });
        expect(await ledger.get('a')).toEqual(recs[0]);
        expect(await ledger.get('b')).toEqual(recs[1]);
        const events = await eventsAfter(seq);
        expect(events.map((e) => [e.type, e.subject, e.owner])).toEqual([
          ['admission.held', 'a', 'alice'],
          ['admission.held', 'b', 'bob'],
        ]);
        expect(events[1]!.data).toMatchObject({ serviceId: 'svc-b', decision: 'partial', window: win(0, 60), hosts: ['h2'] });
        expect(events[0]!.id).toMatch(/^evt-/);
        expect(events[1]!.seq).toBeGreaterThan(events[0]!.seq);
      });

      test.each<[string, Partial<BookingInput> | 'dup' | 'empty']>([
        ['negative CPUs', { hosts: [{ hostId: 'h1', cpus: -1, memoryMb: 0 }] }],
        ['end before start', { window: { start: at(10), end: at(5) } }],
        ['empty window', { window: { start: at(10), end: at(10) } }],
        ['fractional epoch ms', { window: { start: at(0) + 0.5, end: at(10) } }],
        ['unknown decision', { decision: 'maybe' as never }],
        ['no response', { response: undefined }],
        ['hold already lapsed', { holdExpiresAt: T0 }],
        ['empty owner', { owner: '' }],
        ['the same id twice', 'dup'],
        ['no bookings', 'empty'],
      ])('invalid bookings are refused (%s)', async (_n, over) => {
        const bs = over === 'dup' ? [booking('a'), booking('a')] : over === 'empty' ? [] : [booking('a', over)];
        expect(await codeOf(ledger.book(request(bs)))).toBe('AC_ERR_INVALID_REQUEST');
        expect(await ledger.get('a')).toBeUndefined();
      });

      test('an id that exists already is AC_ERR_CONFLICT', async () => {
        await book(booking('a'));
        expect(await codeOf(ledger.book(request([booking('a', { hosts: [] })])))).toBe('AC_ERR_CONFLICT');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('capacity views', () => {
      test('reservedCpus is the peak, freeCpus the minimum over the window, per host and in total', async () => {
        await book(
          booking('a', { window: win(0, 30), hosts: [{ hostId: 'h1', cpus: 3, memoryMb: 1000 }] }),
          booking('b', { window: win(20, 60), hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 500 }, { hostId: 'h2', cpus: 1, memoryMb: 0 }] }),
        );
        const view = await ledger.capacity(win(0, 60));
        const h1 = view.hosts.find((h) => h.hostId === 'h1')!;
        expect(h1).toMatchObject({ cpus: 8, usedCpus: 0, reservedCpus: 5, windowCpusDelta: 0, freeCpus: 3, memoryMb: 16384, reservedMemoryMb: 1500, freeMemoryMb: 14884 });
        const h2 = view.hosts.find((h) => h.hostId === 'h2')!;
        expect(h2).toEqual({ hostId: 'h2', generation: 2, cpus: 4, usedCpus: 0, reservedCpus: 1, windowCpusDelta: 0, freeCpus: 3 });
        expect(view.totals).toEqual({ cpus: 28, usedCpus: 4, reservedCpus: 6, freeCpus: 3 + 3 + 12, memoryMb: 16384 + 8192, usedMemoryMb: 1024, reservedMemoryMb: 1500, freeMemoryMb: 14884 + 7168 });
        expect(view.window).toEqual(win(0, 60));
        // Only the part of the window that a booking covers counts.
        expect((await ledger.capacity(win(30, 60))).hosts.find((h) => h.hostId === 'h1')!.reservedCpus).toBe(2);
        expect((await ledger.capacity(win(60, null))).hosts.find((h) => h.hostId === 'h1')!.reservedCpus).toBe(0);
      });

      test('hostIds selects hosts; hosts absent from the inventory are not listed', async () => {
        expect((await ledger.capacity(win(0, 10), { hostIds: ['h3', 'h9'] })).hosts.map((h) => h.hostId)).toEqual(['h3']);
        await ledger.syncHosts([FLEET[0]!], 'host-info');
        expect((await ledger.capacity(win(0, 10))).hosts.map((h) => h.hostId)).toEqual(['h1']);
      });

      test('an invalid window is refused', async () => {
        expect(await codeOf(ledger.capacity({ start: at(10), end: at(10) }))).toBe('AC_ERR_INVALID_REQUEST');
        expect(await codeOf(ledger.capacity({ start: NaN, end: null }))).toBe('AC_ERR_INVALID_REQUEST');
      });

      test('a lapsed hold stops holding at its expiry instant, before advance() records it', async () => {
        await book(booking('a', { holdExpiresAt: at(15), hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] }));
        clock.set(at(15) - 1);
        expect((await ledger.capacity(win(0, 60))).hosts[0]!.freeCpus).toBe(0);
        expect((await ledger.get('a'))!.status).toBe('held');
        clock.set(at(15));
        expect((await ledger.capacity(win(0, 60))).hosts[0]!.freeCpus).toBe(8);
        expect(await ledger.get('a')).toMatchObject({ status: 'expired', closedAt: at(15) });
        await book(booking('b', { holdExpiresAt: at(30), hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] }));
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('capacity windows', () => {
      test.each([
        ['maintenance taking the whole host blocks bookings inside it', -8, [10, 20], [15, 16], 1, false],
        ['maintenance does not touch bookings that end at its start', -8, [10, 20], [0, 10], 8, true],
        ['maintenance does not touch bookings that start at its end', -8, [10, 20], [20, 30], 8, true],
        ['a partial drain leaves the rest', -5, [10, 20], [0, 60], 3, true],
        ['a partial drain leaves no more than the rest', -5, [10, 20], [0, 60], 4, false],
        ['capacity that arrives allows more inside its window', 4, [0, 60], [10, 20], 12, true],
        ['… but not beyond it', 4, [0, 60], [50, 70], 12, false],
        ['an open-ended window covers everything after its start', -8, [10, null], [5000, 6000], 1, false],
      ] as [string, number, [number, number | null], [number, number | null], number, boolean][])('%s', async (_n, delta, w, asked, cpus, fits) => {
        await ledger.addWindow({ id: 'w', hosts: ['h1'], window: win(...w), cpusDelta: delta, memoryMbDelta: 0, reason: 'maintenance', actor: 'op' });
        const p = ledger.book(request([booking('a', { window: win(...asked), hosts: [{ hostId: 'h1', cpus, memoryMb: 0 }] })]));
        if (fits) expect((await p).kind).toBe('booked');
        else expect(await codeOf(p)).toBe('AC_ERR_CAPACITY_CONFLICT');
      });

      test('the view shows windowCpusDelta (minimum) and free capacity net of it; removing the window restores it', async () => {
        await ledger.addWindow({ id: 'w', hosts: ['h1', 'h3'], window: win(10, 20), cpusDelta: -3, memoryMbDelta: -1000, reason: 'drain', actor: 'op' });
        const v = await ledger.capacity(win(0, 60));
        expect(v.hosts.find((h) => h.hostId === 'h1')).toMatchObject({ windowCpusDelta: -3, freeCpus: 5, windowMemoryMbDelta: -1000, freeMemoryMb: 15384 });
        expect(v.hosts.find((h) => h.hostId === 'h2')).toMatchObject({ windowCpusDelta: 0, freeCpus: 4 });
        expect((await ledger.capacity(win(20, 60))).hosts[0]!.windowCpusDelta).toBe(0);
        expect(await ledger.removeWindow('w', 'op')).toBe(true);
        expect(await ledger.removeWindow('w', 'op')).toBe(false);
        expect((await ledger.capacity(win(0, 60))).hosts[0]).toMatchObject({ windowCpusDelta: 0, freeCpus: 8 });
      });

      test('addWindow returns the admissions it leaves without room (missing at the worst instant) and emits maintenance.conflict to their owners', async () => {
        await book(
          booking('a', { owner: 'alice', window: win(0, 30), hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] }),
          booking('b', { owner: 'bob', window: win(15, 60), hosts: [{ hostId: 'h1', cpus: 3, memoryMb: 0 }] }),
          booking('c', { owner: 'carol', window: win(40, 60), hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }] }),
          booking('d', { owner: 'dan', window: win(0, 60), hosts: [{ hostId: 'h2', cpus: 4, memoryMb: 0 }] }),
        );
        const seq = await ledger.lastEventSeq();
        // h1 keeps 2 CPUs over [10, 50): a+b need 7 over [15, 30), b+c 4 over [40, 50).
        const r = await ledger.addWindow({ id: 'mw', hosts: ['h1'], window: win(10, 50), cpusDelta: -6, memoryMbDelta: 0, reason: 'firmware', actor: 'op' });
        expect(r.window).toMatchObject({ id: 'mw', hosts: ['h1'], window: win(10, 50), cpusDelta: -6, reason: 'firmware', createdAt: T0, createdBy: 'op' });
        expect(r.conflicts.map((c) => [c.admissionId, c.owner, c.hostId, c.missingCpus, c.missingMemoryMb])).toEqual([
          ['a', 'alice', 'h1', 5, 0],
          ['b', 'bob', 'h1', 5, 0],
          ['c', 'carol', 'h1', 2, 0],
        ]);
        const events = await eventsAfter(seq);
        expect(events.map((e) => [e.type, e.subject, e.owner])).toEqual([
          ['capacity.changed', 'mw', null],
          ['maintenance.conflict', 'a', 'alice'],
          ['maintenance.conflict', 'b', 'bob'],
          ['maintenance.conflict', 'c', 'carol'],
        ]);
        // Not cancelled: the operator decides.
        expect((await ledger.get('a'))!.status).toBe('held');
      });

      test('a window that leaves room conflicts with nobody', async () => {
        await book(booking('a', { window: win(0, 30), hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] }));
        expect((await ledger.addWindow({ id: 'w', hosts: ['h1'], window: win(10, 20), cpusDelta: -4, memoryMbDelta: 0, reason: 'x', actor: 'op' })).conflicts).toEqual([]);
      });

      test('windows bump their hosts\' generations; listWindows filters by time and host', async () => {
        await ledger.addWindow({ id: 'w1', hosts: ['h1'], window: win(10, 20), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        await ledger.addWindow({ id: 'w2', hosts: ['h2', 'h3'], window: win(30, null), cpusDelta: 2, memoryMbDelta: 0, reason: 'y', actor: 'op' });
        expect((await ledger.hosts()).map((h) => [h.id, h.generation])).toEqual([
          ['h1', 2],
          ['h2', 2],
          ['h3', 2],
        ]);
        expect((await ledger.listWindows()).map((w) => w.id)).toEqual(['w1', 'w2']);
        expect((await ledger.listWindows({ from: at(20) })).map((w) => w.id)).toEqual(['w2']);
        expect((await ledger.listWindows({ to: at(10) })).map((w) => w.id)).toEqual([]);
        expect((await ledger.listWindows({ to: at(11) })).map((w) => w.id)).toEqual(['w1']);
        expect((await ledger.listWindows({ hostId: 'h3' })).map((w) => w.id)).toEqual(['w2']);
      });

      test.each([
        ['an unknown host', { hosts: ['h9'] }, 'AC_ERR_INVALID_REQUEST'],
        ['no hosts', { hosts: [] }, 'AC_ERR_INVALID_REQUEST'],
        ['an empty window', { window: { start: at(1), end: at(1) } }, 'AC_ERR_INVALID_REQUEST'],
      ] as [string, object, string][])('addWindow refuses %s', async (_n, over, code) => {
        expect(await codeOf(ledger.addWindow({ id: 'w', hosts: ['h1'], window: win(0, 10), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op', ...over }))).toBe(code);
      });

      test('a duplicate window id is AC_ERR_CONFLICT', async () => {
        const w = { id: 'w', hosts: ['h1'], window: win(0, 10), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op' };
        await ledger.addWindow(w);
        expect(await codeOf(ledger.addWindow(w))).toBe('AC_ERR_CONFLICT');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('generations', () => {
      test('a booking bumps the generations of the hosts it uses, and only those', async () => {
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }, { hostId: 'h3', cpus: 1, memoryMb: 0 }] }));
        expect((await ledger.hosts()).map((h) => h.generation)).toEqual([2, 1, 2]);
        await ledger.release('a', 'op');
        expect((await ledger.hosts()).map((h) => h.generation)).toEqual([3, 1, 3]);
        expect((await ledger.capacity(win(0, 10))).hosts.map((h) => h.generation)).toEqual([3, 1, 3]);
      });

      test('an admission\'s generation increments on every change; a stale expectedGeneration is AC_ERR_CONFLICT', async () => {
        await book(booking('a', { window: win(30, 90) }));
        expect(await codeOf(ledger.confirm('a', 'alice', 2))).toBe('AC_ERR_CONFLICT');
        const c = await ledger.confirm('a', 'alice', 1);
        expect(c.generation).toBe(2);
        const r = await ledger.reschedule('a', { window: win(40, 100) }, 'alice', 2);
        expect(r.generation).toBe(3);
        expect(await codeOf(ledger.reschedule('a', { window: win(40, 110) }, 'alice', 2))).toBe('AC_ERR_CONFLICT');
        expect((await ledger.release('a', 'alice')).record.generation).toBe(4);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('replaceHeld (negotiation, then instantiation)', () => {
      test('the held offer of the same owner and service is released in the same transaction; its capacity does not count', async () => {
        await book(booking('offer', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 6, memoryMb: 0 }] }));
        const seq = await ledger.lastEventSeq();
        const r = await ledger.book(request([booking('final', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] })], { replaceHeld: true }));
        expect(r).toMatchObject({ kind: 'booked', replaced: ['offer'] });
        expect(r.kind === 'booked' && r.admissions[0]!.replaces).toBe('offer');
        expect(await ledger.get('offer')).toMatchObject({ status: 'released', closedAt: T0 });
        expect(await ledger.get('final')).toMatchObject({ status: 'held', replaces: 'offer' });
        expect(types(await eventsAfter(seq))).toEqual(['admission.released offer', 'admission.held final']);
      });

      test('without replaceHeld the offer still counts', async () => {
        await book(booking('offer', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 6, memoryMb: 0 }] }));
        expect(await codeOf(ledger.book(request([booking('final', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
      });

      test.each([
        ['another owner', { owner: 'bob' }],
        ['another service', { serviceId: 'db' }],
      ])('held offers of %s are not replaced', async (_n, over) => {
        await book(booking('offer', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 6, memoryMb: 0 }] }));
        expect(await codeOf(ledger.book(request([booking('final', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }], ...over })], { replaceHeld: true })))).toBe(
          'AC_ERR_CAPACITY_CONFLICT',
        );
        expect((await ledger.get('offer'))!.status).toBe('held');
      });

      test('confirmed admissions are never replaced', async () => {
        await book(booking('running', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] }));
        await ledger.confirm('running', 'alice');
        const r = await ledger.book(request([booking('more', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] })], { replaceHeld: true }));
        expect(r).toMatchObject({ kind: 'booked', replaced: [] });
        expect((await ledger.get('running'))!.status).toBe('active');
      });

      test('a replacement that does not fit leaves the offer held', async () => {
        await book(booking('offer', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] }));
        expect(await codeOf(ledger.book(request([booking('final', { serviceId: 'web', hosts: [{ hostId: 'h1', cpus: 9, memoryMb: 0 }] })], { replaceHeld: true })))).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect((await ledger.get('offer'))!.status).toBe('held');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('idempotency', () => {
      const idem = (key: string, requestHash: string, owner = 'alice') => ({ owner, key, requestHash, answer: { answer: key, hash: requestHash } });

      test('the same key and request replays the stored answer and books nothing more', async () => {
        const first = await ledger.book(request([booking('a')], { idempotency: idem('k1', 'h') }));
        expect(first.kind).toBe('booked');
        const seq = await ledger.lastEventSeq();
        const again = await ledger.book(request([booking('a2')], { idempotency: idem('k1', 'h') }));
        expect(again).toEqual({ kind: 'replayed', answer: { answer: 'k1', hash: 'h' } });
        expect(await ledger.get('a2')).toBeUndefined();
        expect(await ledger.lastEventSeq()).toBe(seq);
        expect(await ledger.idempotentAnswer('alice', 'k1')).toEqual({ requestHash: 'h', answer: { answer: 'k1', hash: 'h' } });
        expect(await ledger.idempotentAnswer('alice', 'nope')).toBeUndefined();
      });

      test('the same key with another request hash is AC_ERR_IDEMPOTENCY_MISMATCH', async () => {
        await ledger.book(request([booking('a')], { idempotency: idem('k1', 'h') }));
        expect(await codeOf(ledger.book(request([booking('b')], { idempotency: idem('k1', 'other') })))).toBe('AC_ERR_IDEMPOTENCY_MISMATCH');
      });

      test('keys are scoped by owner', async () => {
        await ledger.book(request([booking('a')], { idempotency: idem('k1', 'h', 'alice') }));
        expect((await ledger.book(request([booking('b', { owner: 'bob' })], { idempotency: idem('k1', 'other', 'bob') }))).kind).toBe('booked');
      });

      test('a request that fails stores no key', async () => {
        expect(await codeOf(ledger.book(request([booking('a', { hosts: [{ hostId: 'h1', cpus: 99, memoryMb: 0 }] })], { idempotency: idem('k1', 'h') })))).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect(await ledger.idempotentAnswer('alice', 'k1')).toBeUndefined();
        expect((await ledger.book(request([booking('a')], { idempotency: idem('k1', 'h') }))).kind).toBe('booked');
      });

      test('concurrent requests with the same key: one books, the others replay', async () => {
        const other = await second();
        const ledgers = other ? [ledger, other, ledger, other] : [ledger, ledger, ledger, ledger];
        const results = await Promise.all(ledgers.map((l, i) => l.book(request([booking(`c${i}`)], { idempotency: idem('same', 'h') }))));
        expect(results.filter((r) => r.kind === 'booked')).toHaveLength(1);
        expect(results.filter((r) => r.kind === 'replayed')).toHaveLength(3);
        expect((await ledger.list({ owner: 'alice' })).items).toHaveLength(1);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('lifecycle at exact instants (manual clock)', () => {
      test('held → expired exactly at holdExpiresAt, recorded once by advance()', async () => {
        await book(booking('a', { holdExpiresAt: at(15) }));
        expect(await ledger.advance(at(15) - 1)).toEqual({ events: [], nextDueAt: at(15) });
        const r = await ledger.advance(at(15));
        expect(types(r.events)).toEqual(['admission.expired a']);
        expect(r.events[0]!.owner).toBe('alice');
        expect(await ledger.get('a')).toMatchObject({ status: 'expired', closedAt: at(15) });
        expect((await ledger.advance(at(16))).events).toEqual([]);
      });

      test('confirm: held → confirmed; started exactly at start; ending at end − lead; ended at end', async () => {
        await book(booking('a', { window: win(30, 90), holdExpiresAt: at(15) }));
        clock.set(at(5));
        const c = await ledger.confirm('a', 'alice');
        expect(c).toMatchObject({ status: 'confirmed', confirmedAt: at(5) });
        // A confirmed admission no longer lapses.
        expect((await ledger.advance(at(15))).events).toEqual([]);
        const steps: [number, string[], number | null][] = [
          [at(30) - 1, [], at(30)],
          [at(30), ['reservation.started a'], at(80)],
          [at(80) - 1, [], at(80)],
          [at(80), ['reservation.ending a'], at(90)],
          [at(85), [], at(90)],
          [at(90) - 1, [], at(90)],
          [at(90), ['reservation.ended a'], null],
          [at(100), [], null],
        ];
        for (const [now, want, next] of steps) {
          const r = await ledger.advance(now);
          expect([now, types(r.events), r.nextDueAt]).toEqual([now, want, next]);
        }
        clock.set(at(90));
        expect(await ledger.get('a')).toMatchObject({ status: 'ended', closedAt: at(90) });
        expect((await ledger.capacity(win(30, 90))).hosts[0]!.reservedCpus).toBe(0);
      });

      test('confirming after the start goes straight to active (confirmed + started)', async () => {
        await book(booking('a', { window: win(0, 60) }));
        const seq = await ledger.lastEventSeq();
        clock.set(at(1));
        expect((await ledger.confirm('a', 'alice')).status).toBe('active');
        expect(types(await eventsAfter(seq))).toEqual(['admission.confirmed a', 'reservation.started a']);
        expect((await ledger.advance(at(2))).events).toEqual([]);
      });

      test('an advance() that jumps past everything records each transition once, in order (no ending after the end)', async () => {
        await book(booking('a', { window: win(30, 90) }));
        await ledger.confirm('a', 'alice');
        const r = await ledger.advance(at(200));
        expect(types(r.events)).toEqual(['reservation.started a', 'reservation.ended a']);
      });

      test('open-ended reservations never end by themselves', async () => {
        await book(booking('a', { window: win(0, null) }));
        await ledger.confirm('a', 'alice');
        expect((await ledger.advance(at(100_000))).events).toEqual([]);
        expect((await ledger.advance(at(100_000))).nextDueAt).toBeNull();
        clock.set(at(100_000));
        expect((await ledger.get('a'))!.status).toBe('active');
      });

      test('capacity windows emit capacity.changed at their start and end edges', async () => {
        await ledger.addWindow({ id: 'w', hosts: ['h1'], window: win(10, 20), cpusDelta: -2, memoryMbDelta: 0, reason: 'maintenance', actor: 'op' });
        expect((await ledger.advance(at(5))).nextDueAt).toBe(at(10));
        const s = await ledger.advance(at(10));
        expect(s.events.map((e) => [e.type, e.subject, e.owner, e.data.edge])).toEqual([['capacity.changed', 'w', null, 'start']]);
        expect(s.events[0]!.data).toMatchObject({ hosts: ['h1'], cpusDelta: -2, reason: 'maintenance' });
        expect(s.nextDueAt).toBe(at(20));
        const e = await ledger.advance(at(20));
        expect(e.events.map((x) => x.data.edge)).toEqual(['end']);
        expect(e.nextDueAt).toBeNull();
      });

      test('each transition once under concurrent advance() calls', async () => {
        const other = await second();
        await book(
          booking('h', { holdExpiresAt: at(15) }),
          booking('c', { window: win(20, 40), hosts: [{ hostId: 'h2', cpus: 1, memoryMb: 0 }] }),
        );
        await ledger.confirm('c', 'alice');
        await ledger.addWindow({ id: 'w', hosts: ['h3'], window: win(5, 25), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        const callers = other ? [ledger, other, ledger, other] : [ledger, ledger, ledger, ledger];
        const results = await Promise.all(callers.map((l) => l.advance(at(100))));
        const all = results.flatMap((r) => types(r.events)).sort();
        // Past the end: no reservation.ending (it is only sent before the end).
        expect(all).toEqual(['admission.expired h', 'capacity.changed w', 'capacity.changed w', 'reservation.ended c', 'reservation.started c'].sort());
        const seqs = results.flatMap((r) => r.events.map((e) => e.seq));
        expect(new Set(seqs).size).toBe(seqs.length);
      });

      test.each([
        ['an expired hold', async (l: Ledger, c: ManualClock) => { c.set(at(15)); return l.confirm('a', 'alice'); }, 'AC_ERR_CONFLICT'],
        ['a released admission', async (l: Ledger) => { await l.release('a', 'alice'); return l.confirm('a', 'alice'); }, 'AC_ERR_CONFLICT'],
        ['twice', async (l: Ledger) => { await l.confirm('a', 'alice'); return l.confirm('a', 'alice'); }, 'AC_ERR_CONFLICT'],
        ['an unknown id', async (l: Ledger) => l.confirm('nope', 'alice'), 'AC_ERR_NOT_FOUND'],
      ] as [string, (l: Ledger, c: ManualClock) => Promise<unknown>, string][])('confirming %s is refused', async (_n, act, code) => {
        await book(booking('a', { window: win(30, 60) }));
        expect(await codeOf(act(ledger, clock))).toBe(code);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('release and reschedule', () => {
      test('release stops holding at once, emits admission.released, is idempotent', async () => {
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] }));
        const seq = await ledger.lastEventSeq();
        clock.set(at(3));
        const r = await ledger.release('a', 'op');
        expect(r).toMatchObject({ released: true, record: { status: 'released', closedAt: at(3) } });
        expect(types(await eventsAfter(seq))).toEqual(['admission.released a']);
        expect(await ledger.release('a', 'op')).toMatchObject({ released: false, record: { status: 'released' } });
        expect(await ledger.lastEventSeq()).toBe(seq + 1);
        expect((await ledger.capacity(win(0, 60))).hosts[0]!.freeCpus).toBe(8);
        expect(await codeOf(ledger.release('nope', 'op'))).toBe('AC_ERR_NOT_FOUND');
      });

      test('releasing a lapsed hold changes nothing (it reads expired)', async () => {
        await book(booking('a'));
        clock.set(at(15));
        expect(await ledger.release('a', 'op')).toMatchObject({ released: false, record: { status: 'expired' } });
      });

      test('reschedule: its own old booking does not count; others do', async () => {
        await book(booking('a', { window: win(0, 30), hosts: [{ hostId: 'h1', cpus: 6, memoryMb: 0 }] }));
        await book(booking('b', { window: win(60, 90), hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] }));
        // Overlapping its own old window: fits (6 of 8), although 6 + 6 would not.
        const r = await ledger.reschedule('a', { window: win(10, 40) }, 'alice');
        expect(r.window).toEqual(win(10, 40));
        expect(await codeOf(ledger.reschedule('a', { window: win(50, 70) }, 'alice'))).toBe('AC_ERR_CAPACITY_CONFLICT');
        expect((await ledger.get('a'))!.window).toEqual(win(10, 40));
      });

      test('reschedule to other hosts bumps old and new hosts, emits admission.rescheduled with before/after', async () => {
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] }));
        const seq = await ledger.lastEventSeq();
        const r = await ledger.reschedule('a', { window: win(0, 60), hosts: [{ hostId: 'h2', cpus: 4, memoryMb: 0 }], holdExpiresAt: at(20) }, 'alice');
        expect(r).toMatchObject({ hosts: [{ hostId: 'h2', cpus: 4, memoryMb: 0 }], holdExpiresAt: at(20) });
        expect((await ledger.hosts()).map((h) => h.generation)).toEqual([3, 2, 1]);
        const [e] = await eventsAfter(seq);
        expect(e).toMatchObject({ type: 'admission.rescheduled', subject: 'a', owner: 'alice', data: { hosts: ['h2'], before: { hosts: ['h1'] } } });
        expect((await ledger.capacity(win(0, 60))).hosts.map((h) => h.reservedCpus)).toEqual([0, 4, 0]);
      });

      test.each([
        ['released', async (l: Ledger) => { await l.release('a', 'op'); }],
        ['expired', async (_l: Ledger, c: ManualClock) => { c.set(at(15)); }],
      ] as [string, (l: Ledger, c: ManualClock) => Promise<void>][])('a %s admission cannot be rescheduled', async (_n, prepare) => {
        await book(booking('a'));
        await prepare(ledger, clock);
        expect(await codeOf(ledger.reschedule('a', { window: win(0, 10) }, 'alice'))).toBe('AC_ERR_CONFLICT');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('history, filters and paging', () => {
      test('closed admissions stay in the history, filtered by status as of the clock', async () => {
        await book(booking('held'), booking('rel', { hosts: [] }), booking('exp', { holdExpiresAt: at(5), hosts: [] }), booking('conf', { window: win(30, 60), hosts: [] }));
        await ledger.release('rel', 'op');
        await ledger.confirm('conf', 'alice');
        clock.set(at(5));
        const by = async (statuses: AdmissionRecord['status'][]) => (await ledger.list({ statuses })).items.map((a) => a.id).sort();
        expect(await by(['held'])).toEqual(['held']);
        expect(await by(['expired'])).toEqual(['exp']);
        expect(await by(['released', 'confirmed'])).toEqual(['conf', 'rel']);
        expect((await ledger.list({})).items).toHaveLength(4);
      });

      test('filters by owner, service and window overlap', async () => {
        await book(
          booking('a', { owner: 'alice', serviceId: 'web', window: win(0, 10), hosts: [] }),
          booking('b', { owner: 'bob', serviceId: 'web', window: win(10, 20), hosts: [] }),
          booking('c', { owner: 'bob', serviceId: 'db', window: win(20, null), hosts: [] }),
        );
        const ids = async (f: Parameters<Ledger['list']>[0]) => (await ledger.list(f)).items.map((a) => a.id);
        expect(await ids({ owner: 'bob' })).toEqual(['b', 'c']);
        expect(await ids({ serviceId: 'web' })).toEqual(['a', 'b']);
        expect(await ids({ from: at(10) })).toEqual(['b', 'c']);
        expect(await ids({ to: at(10) })).toEqual(['a']);
        expect(await ids({ from: at(5), to: at(15) })).toEqual(['a', 'b']);
        expect(await ids({ from: at(1000) })).toEqual(['c']);
      });

      test('paging is stable (createdAt, id) under inserts made between pages', async () => {
        for (let i = 0; i < 7; i++) {
          clock.set(at(i % 3));
          await book(booking(`a${i}`, { hosts: [], holdExpiresAt: at(100) }));
        }
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await ledger.list({}, { limit: 3, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((a) => a.id));
          pages++;
          if (pages === 1) {
            clock.set(at(50));
            await book(booking('late', { hosts: [], holdExpiresAt: at(100) }));
          }
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        expect(seen).toEqual(['a0', 'a3', 'a6', 'a1', 'a4', 'a2', 'a5', 'late']);
        expect(new Set(seen).size).toBe(seen.length);
      });

      test('a last full page has nextCursor null; bad cursors and limits are refused', async () => {
        await book(booking('a', { hosts: [] }), booking('b', { hosts: [] }));
        expect((await ledger.list({}, { limit: 2 })).nextCursor).toBeNull();
        expect(await codeOf(ledger.list({}, { cursor: 'garbage' }))).toBe('AC_ERR_INVALID_REQUEST');
        expect(await codeOf(ledger.list({}, { limit: 0 }))).toBe('AC_ERR_INVALID_REQUEST');
        expect(await codeOf(ledger.list({ statuses: ['bogus' as never] }))).toBe('AC_ERR_INVALID_REQUEST');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('holders', () => {
      test('admissions holding capacity in the window, per host largest first; lapsed, closed and outside ones are not', async () => {
        await book(
          booking('small', { owner: 'bob', window: win(0, 30), hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }] }),
          booking('big', { window: win(10, 60), hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }, { hostId: 'h2', cpus: 1, memoryMb: 0 }] }),
          booking('later', { window: win(60, 90), hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] }),
          booking('lapsing', { holdExpiresAt: at(5), hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 0 }] }),
          booking('gone', { hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }] }),
        );
        await ledger.release('gone', 'op');
        clock.set(at(5));
        const hs = await ledger.holders(win(0, 60));
        expect(hs.map((h) => [h.hostId, h.admissionId, h.cpus])).toEqual([
          ['h1', 'big', 4],
          ['h1', 'small', 1],
          ['h2', 'big', 1],
        ]);
        expect(hs[1]).toEqual({ admissionId: 'small', owner: 'bob', serviceId: 'svc-small', status: 'held', window: win(0, 30), holdExpiresAt: expect.any(Number), hostId: 'h1', cpus: 1, memoryMb: 0 });
        expect((await ledger.holders(win(0, 60), { hostIds: ['h2'] })).map((h) => h.admissionId)).toEqual(['big']);
        expect((await ledger.holders(win(0, 60), { excludeOwnerService: { owner: 'alice', serviceId: 'svc-big' } })).map((h) => h.admissionId)).toEqual(['small']);
        expect((await ledger.holders(win(60, null))).map((h) => h.admissionId)).toEqual(['later']);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('events', () => {
      test('a client sees only its own admissions\' events; operators see all, fleet events included', async () => {
        const start = await ledger.lastEventSeq();
        await book(booking('a', { owner: 'alice' }), booking('b', { owner: 'bob', hosts: [] }));
        await ledger.addWindow({ id: 'w', hosts: ['h2'], window: win(0, 10), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        expect(types(await ledger.events(start, { visibleTo: { owner: 'alice', seesAll: false } }))).toEqual(['admission.held a']);
        expect(types(await ledger.events(start, { visibleTo: { owner: 'bob', seesAll: false } }))).toEqual(['admission.held b']);
        expect(types(await ledger.events(start, { visibleTo: { owner: 'reader', seesAll: true } }))).toEqual(['admission.held a', 'admission.held b', 'capacity.changed w']);
      });

      test.each([
        [['admission.*'], ['admission.held a', 'admission.released a']],
        [['admission.released'], ['admission.released a']],
        [['capacity.changed', 'admission.held'], ['admission.held a', 'capacity.changed w']],
        [['reservation.*'], []],
        [['*'], ['admission.held a', 'capacity.changed w', 'admission.released a']],
      ])('type patterns %j', async (patterns, want) => {
        const start = await ledger.lastEventSeq();
        await book(booking('a'));
        await ledger.addWindow({ id: 'w', hosts: ['h2'], window: win(0, 10), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        await ledger.release('a', 'op');
        expect(types(await ledger.events(start, { types: patterns }))).toEqual(want);
      });

      test('after and limit page through the outbox in seq order; emit appends; lastEventSeq follows', async () => {
        const start = await ledger.lastEventSeq();
        const e1 = await ledger.emit({ type: 'capacity.changed', owner: null, subject: 'fleet', data: { reason: 'threshold', free: 3 } });
        clock.set(at(1));
        const e2 = await ledger.emit({ type: 'capacity.changed', owner: null, subject: 'fleet', data: {}, at: at(0) + 5 });
        expect(e1).toMatchObject({ seq: start + 1, type: 'capacity.changed', at: T0, owner: null, subject: 'fleet', data: { reason: 'threshold', free: 3 } });
        expect(e2).toMatchObject({ seq: start + 2, at: at(0) + 5 });
        expect(await ledger.lastEventSeq()).toBe(start + 2);
        expect((await ledger.events(start, { limit: 1 })).map((e) => e.seq)).toEqual([start + 1]);
        expect((await ledger.events(start + 1)).map((e) => e.id)).toEqual([e2.id]);
        expect(await ledger.events(start + 2)).toEqual([]);
        expect(await codeOf(ledger.events(-1))).toBe('AC_ERR_INVALID_REQUEST');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('subscriptions and deliveries', () => {
      const sub = (id: string, over: Partial<Parameters<Ledger['subscribe']>[0]> = {}) => ({
        id,
        owner: 'alice',
        seesAll: false,
        url: `https://example.test/${id}`,
        events: ['admission.*'],
        secret: `secret-${id}`,
        actor: 'alice',
        ...over,
      });

      test('subscribe stores the subscription; reads never return the secret; unsubscribe removes it', async () => {
        const s = await ledger.subscribe(sub('s1'));
        expect(s).toEqual({ id: 's1', owner: 'alice', seesAll: false, url: 'https://example.test/s1', events: ['admission.*'], createdAt: T0, cursor: await ledger.lastEventSeq(), delivered: 0, deadLetters: [] });
        expect(JSON.stringify(await ledger.subscription('s1'))).not.toContain('secret');
        expect(JSON.stringify(await ledger.subscriptions())).not.toContain('secret');
        expect((await ledger.subscriptions({ owner: 'bob' })).length).toBe(0);
        expect(await codeOf(ledger.subscribe(sub('s1')))).toBe('AC_ERR_CONFLICT');
        expect(await ledger.unsubscribe('s1', 'alice')).toBe(true);
        expect(await ledger.unsubscribe('s1', 'alice')).toBe(false);
        expect(await ledger.subscription('s1')).toBeUndefined();
      });

      test('claims come in seq order, only matching and visible events, with the secret; settle ok advances the cursor', async () => {
        await ledger.subscribe(sub('s1'));
        await book(booking('a'), booking('theirs', { owner: 'bob', hosts: [] }));
        await ledger.addWindow({ id: 'w', hosts: ['h2'], window: win(0, 10), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        await ledger.release('a', 'op');
        const delivered: string[] = [];
        for (;;) {
          const c = await ledger.claimDelivery(T0, 30_000);
          if (!c) break;
          expect(c.subscription.secret).toBe('secret-s1');
          expect(c.attempt).toBe(1);
          delivered.push(`${c.event.type} ${c.event.subject}`);
          await ledger.settleDelivery(c.token, { ok: true });
        }
        expect(delivered).toEqual(['admission.held a', 'admission.released a']);
        expect(await ledger.subscription('s1')).toMatchObject({ delivered: 2, cursor: await ledger.lastEventSeq() });
      });

      test('one claim per subscription at a time; a lapsed lease is claimed again (attempt 2); the old token is refused', async () => {
        await ledger.subscribe(sub('s1'));
        await book(booking('a'), booking('b', { hosts: [] }));
        const c1 = await ledger.claimDelivery(T0, 1000);
        expect(c1!.event.subject).toBe('a');
        expect(await ledger.claimDelivery(T0 + 999, 1000)).toBeUndefined();
        const c2 = await ledger.claimDelivery(T0 + 1000, 1000);
        expect(c2).toMatchObject({ attempt: 2, event: { subject: 'a' } });
        expect(await codeOf(ledger.settleDelivery(c1!.token, { ok: true }))).toBe('AC_ERR_CONFLICT');
        await ledger.settleDelivery(c2!.token, { ok: true });
        expect(await codeOf(ledger.settleDelivery(c2!.token, { ok: true }))).toBe('AC_ERR_CONFLICT');
        expect((await ledger.claimDelivery(T0 + 1000, 1000))!.event.subject).toBe('b');
      });

      test('subscriptions are independent: one in flight does not hold up another', async () => {
        await ledger.subscribe(sub('s1'));
        await ledger.subscribe(sub('s2', { owner: 'op', seesAll: true, events: ['*'] }));
        await book(booking('a'));
        const c1 = await ledger.claimDelivery(T0, 60_000);
        const c2 = await ledger.claimDelivery(T0, 60_000);
        expect([c1!.subscription.id, c2!.subscription.id].sort()).toEqual(['s1', 's2']);
        expect(await ledger.claimDelivery(T0, 60_000)).toBeUndefined();
      });

      test('a failure is retried at retryAt, with its attempts and last error; retryAt null dead-letters it and moves on', async () => {
        await ledger.subscribe(sub('s1'));
        await book(booking('a'), booking('b', { hosts: [] }));
        const c1 = await ledger.claimDelivery(T0, 1000);
        await ledger.settleDelivery(c1!.token, { ok: false, error: 'HTTP 500', retryAt: T0 + 5000 });
        expect((await ledger.subscription('s1'))!.pending).toEqual({ seq: c1!.event.seq, attempts: 1, nextAttemptAt: T0 + 5000, lastError: 'HTTP 500' });
        expect(await ledger.claimDelivery(T0 + 4999, 1000)).toBeUndefined();
        const c2 = await ledger.claimDelivery(T0 + 5000, 1000);
        expect(c2).toMatchObject({ attempt: 2, event: { seq: c1!.event.seq } });
        clock.set(at(1));
        await ledger.settleDelivery(c2!.token, { ok: false, error: 'HTTP 410', retryAt: null });
        const s = (await ledger.subscription('s1'))!;
        expect(s.deadLetters).toEqual([{ eventId: c1!.event.id, seq: c1!.event.seq, attempts: 2, lastError: 'HTTP 410', at: at(1) }]);
        expect(s.pending).toBeUndefined();
        expect(s.cursor).toBe(c1!.event.seq);
        expect((await ledger.claimDelivery(T0 + 5000, 1000))!.event.subject).toBe('b');
      });

      test('a subscription created after events does not receive them', async () => {
        await book(booking('early'));
        await ledger.subscribe(sub('s1'));
        expect(await ledger.claimDelivery(T0, 1000)).toBeUndefined();
        await book(booking('late'));
        expect((await ledger.claimDelivery(T0, 1000))!.event.subject).toBe('late');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('retention', () => {
      test('advance purges closed admissions, delivered events and idempotency keys older than the retention, nothing newer', async () => {
        await ledger.book(request([booking('old', { hosts: [] })], { idempotency: { owner: 'alice', key: 'k', requestHash: 'h', answer: 1 } }));
        await ledger.release('old', 'op');
        await book(booking('open', { window: win(0, null), hosts: [] }));
        await ledger.confirm('open', 'alice');
        const day = 24 * HOUR;
        await ledger.advance(T0 + day - 1);
        expect(await ledger.get('old')).toBeDefined();
        await ledger.advance(T0 + day + 1);
        expect(await ledger.get('old')).toBeUndefined();
        expect(await ledger.get('open')).toBeDefined();
        expect(await ledger.idempotentAnswer('alice', 'k')).toBeUndefined();
        expect(await ledger.events(0)).toEqual([]);
      });

      test('events a subscription has not passed are never purged', async () => {
        await ledger.subscribe({ id: 's', owner: 'op', seesAll: true, url: 'https://x.test', events: ['*'], secret: 'k', actor: 'op' });
        await book(booking('a', { hosts: [] }));
        await ledger.advance(T0 + 48 * HOUR);
        const c = await ledger.claimDelivery(T0 + 48 * HOUR, 1000);
        expect(c!.event.subject).toBe('a');
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('settings (ported from the state store) and audit', () => {
      test('policy: seeded at generation 1; set increments; a stale expectedGeneration is AC_ERR_CONFLICT and changes nothing', async () => {
        expect(await ledger.policy()).toEqual({ weights: DEFAULT_WEIGHTS, generation: 1, updatedAt: expect.any(Number) });
        clock.set(T0 + 1000);
        const w1 = { cost: 0.1, eco: 0.2, risk: 0.4, trust: 0.3 };
        expect(await ledger.setPolicy(w1, 'op', 1)).toEqual({ weights: w1, generation: 2, updatedAt: T0 + 1000 });
        const w2 = { cost: 0, eco: 0, risk: 1, trust: 0 };
        expect((await ledger.setPolicy(w2, 'op')).generation).toBe(3);
        const e = await errorOf(ledger.setPolicy(w1, 'op', 2));
        expect([e.code, e.status, e.details]).toEqual(['AC_ERR_CONFLICT', 409, [{ field: 'generation', reason: 'expected 2, current 3' }]]);
        expect(await ledger.policy()).toMatchObject({ weights: w2, generation: 3 });
      });

      test.each([
        [{ cost: 0.5, eco: 0.5, risk: 0.5, trust: 0.5 }, undefined],
        [{ cost: -0.5, eco: 0.5, risk: 0.5, trust: 0.5 }, undefined],
        [{ cost: NaN, eco: 0.5, risk: 0.5, trust: 0 }, undefined],
        [DEFAULT_WEIGHTS, -1],
      ])('invalid weights or generations are refused (%j, %p)', async (w, g) => {
        expect(await codeOf(ledger.setPolicy(w, 'op', g))).toBe('AC_ERR_INVALID_REQUEST');
        expect((await ledger.policy()).generation).toBe(1);
      });

      test('default constraints: seeded, set with generations', async () => {
        expect(await ledger.defaultConstraints()).toMatchObject({ constraints: DEFAULT_CONSTRAINTS, generation: 1 });
        const c = { eco: 1, trust: 2, risk: 3, cost: 400 };
        expect(await ledger.setDefaultConstraints(c, 'op', 1)).toMatchObject({ constraints: c, generation: 2 });
        expect(await codeOf(ledger.setDefaultConstraints(DEFAULT_CONSTRAINTS, 'op', 1))).toBe('AC_ERR_CONFLICT');
        expect((await ledger.defaultConstraints()).constraints).toEqual(c);
      });

      test('per-service overrides: create, replace, delete; generation 0 means create-only', async () => {
        expect(await ledger.serviceConstraints('web')).toBeUndefined();
        expect(await ledger.setServiceConstraints('web', { cost: 500 }, 'op', 0)).toMatchObject({ serviceId: 'web', constraints: { cost: 500 }, generation: 1 });
        expect(await codeOf(ledger.setServiceConstraints('web', { cost: 1 }, 'op', 0))).toBe('AC_ERR_CONFLICT');
        expect(await ledger.setServiceConstraints('web', { trust: 4, risk: 1 }, 'op', 1)).toMatchObject({ constraints: { trust: 4, risk: 1 }, generation: 2 });
        expect(await codeOf(ledger.deleteServiceConstraints('web', 'op', 1))).toBe('AC_ERR_CONFLICT');
        expect(await ledger.deleteServiceConstraints('web', 'op', 2)).toBe(true);
        expect(await ledger.deleteServiceConstraints('web', 'op')).toBe(false);
        expect(await ledger.serviceConstraints('web')).toBeUndefined();
      });

      test('a re-created override continues the generation count (tombstone), so a pre-delete generation cannot match (ABA)', async () => {
        await ledger.setServiceConstraints('web', { cost: 1 }, 'op');
        await ledger.deleteServiceConstraints('web', 'op');
        expect((await ledger.setServiceConstraints('web', { cost: 2 }, 'op', 0)).generation).toBe(3);
        expect(await codeOf(ledger.setServiceConstraints('web', { cost: 9 }, 'op', 1))).toBe('AC_ERR_CONFLICT');
      });

      test.each([
        ['web', {}],
        ['web', { cost: -1 }],
        ['', { cost: 1 }],
        ['web', { cost: 1, bogus: 2 }],
      ])('invalid overrides are refused (%p %j)', async (service, c) => {
        expect(await codeOf(ledger.setServiceConstraints(service, c as never, 'op'))).toBe('AC_ERR_INVALID_REQUEST');
      });

      test('effective constraints: default ← manifest ← per-service override, bound by bound', async () => {
        await ledger.setDefaultConstraints({ eco: 1, trust: 1, risk: 5, cost: 1000 }, 'op');
        expect((await ledger.effectiveConstraints('web')).constraints).toEqual({ eco: 1, trust: 1, risk: 5, cost: 1000 });
        const manifest = { trust: 3, cost: 800, eco: undefined };
        expect((await ledger.effectiveConstraints('web', manifest)).constraints).toEqual({ eco: 1, trust: 3, risk: 5, cost: 800 });
        await ledger.setServiceConstraints('web', { cost: 500, risk: 2 }, 'op');
        expect(await ledger.effectiveConstraints('web', manifest)).toEqual({
          constraints: { eco: 1, trust: 3, risk: 2, cost: 500 },
          sources: { eco: 'default', trust: 'manifest', risk: 'service', cost: 'service' },
        });
        expect((await ledger.effectiveConstraints('db', manifest)).constraints).toEqual({ eco: 1, trust: 3, risk: 5, cost: 800 });
        expect(await codeOf(ledger.effectiveConstraints('web', { cost: Infinity }))).toBe('AC_ERR_INVALID_REQUEST');
      });

      test('every settings change, window change, release, confirm and reschedule writes an audit row with actor, before and after', async () => {
        const start = (await ledger.audit({ limit: 1000 })).length;
        await ledger.setPolicy({ cost: 1, eco: 0, risk: 0, trust: 0 }, 'olga');
        await ledger.setDefaultConstraints({ eco: 1, trust: 1, risk: 1, cost: 1 }, 'olga');
        await ledger.setServiceConstraints('web', { cost: 5 }, 'olga');
        await ledger.deleteServiceConstraints('web', 'olga');
        await ledger.addWindow({ id: 'w', hosts: ['h1'], window: win(0, 10), cpusDelta: -1, memoryMbDelta: 0, reason: 'x', actor: 'olga' });
        await ledger.removeWindow('w', 'olga');
        await book(booking('a', { window: win(30, 60) }), booking('b', { hosts: [] }));
        await ledger.confirm('a', 'alice');
        await ledger.reschedule('a', { window: win(40, 60) }, 'alice');
        await ledger.release('b', 'olga');
        const rows = (await ledger.audit({ limit: 1000 })).slice(start);
        expect(rows.map((r) => [r.actor, r.action, r.subject])).toEqual([
          ['olga', 'policy.set', 'policy'],
          ['olga', 'constraints.default.set', 'constraints.default'],
          ['olga', 'constraints.service.set', 'web'],
          ['olga', 'constraints.service.deleted', 'web'],
          ['olga', 'window.created', 'w'],
          ['olga', 'window.removed', 'w'],
          ['alice', 'admission.confirmed', 'a'],
          ['alice', 'admission.rescheduled', 'a'],
          ['olga', 'admission.released', 'b'],
        ]);
        expect(rows[0]).toMatchObject({ before: { weights: DEFAULT_WEIGHTS, generation: 1 }, after: { weights: { cost: 1 }, generation: 2 }, at: T0 });
        expect(rows[3]).toMatchObject({ before: { constraints: { cost: 5 } }, after: null });
        expect(rows[6]).toMatchObject({ before: { status: 'held' }, after: { status: 'confirmed' } });
        expect(rows[7]).toMatchObject({ before: { window: win(30, 60) }, after: { window: win(40, 60) } });
        expect((await ledger.audit({ actor: 'alice' })).map((r) => r.action)).toEqual(['admission.confirmed', 'admission.rescheduled']);
        expect((await ledger.audit({ action: 'window.created' })).map((r) => r.subject)).toEqual(['w']);
        const seqs = rows.map((r) => r.seq);
        expect((await ledger.audit({ after: seqs[7]! })).map((r) => r.seq)).toEqual([seqs[8]]);
      });

      test('audit filters: subject, from (inclusive) and to (exclusive), combined with actor and after', async () => {
        const start = (await ledger.audit({ limit: 1000 })).length;
        clock.set(at(1));
        await ledger.setServiceConstraints('web', { cost: 5 }, 'olga');
        clock.set(at(2));
        await ledger.setServiceConstraints('db', { cost: 6 }, 'olga');
        clock.set(at(3));
        await ledger.setServiceConstraints('web', { cost: 7 }, 'omar');
        expect((await ledger.audit({ subject: 'web' })).map((r) => [r.actor, (r.after as { constraints: unknown }).constraints])).toEqual([
          ['olga', { cost: 5 }],
          ['omar', { cost: 7 }],
        ]);
        expect((await ledger.audit({ from: at(2) })).map((r) => r.subject)).toEqual(['db', 'web']);
        expect((await ledger.audit({ to: at(2) })).slice(start).map((r) => r.subject)).toEqual(['web']);
        expect((await ledger.audit({ from: at(2), to: at(3) })).map((r) => r.subject)).toEqual(['db']);
        expect((await ledger.audit({ subject: 'web', actor: 'olga' })).map((r) => r.at)).toEqual([at(1)]);
        const all = await ledger.audit({ from: at(1) });
        expect((await ledger.audit({ from: at(1), after: all[0]!.seq, limit: 1 })).map((r) => r.seq)).toEqual([all[1]!.seq]);
        expect(await codeOf(ledger.audit({ limit: 0 }))).toBe('AC_ERR_INVALID_REQUEST');
      });

      test('a refused change writes no audit row', async () => {
        const before = (await ledger.audit({ limit: 1000 })).length;
        await codeOf(ledger.setPolicy(DEFAULT_WEIGHTS, 'op', 7));
        await codeOf(ledger.confirm('nope', 'op'));
        expect((await ledger.audit({ limit: 1000 })).length).toBe(before);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('decision log', () => {
      const decision = (id: string, over: Partial<DecisionInput> = {}): DecisionInput => ({
        id,
        at: T0,
        requestId: `req-${id}`,
        owner: 'alice',
        serviceId: 'web',
        admissionId: null,
        decision: 'rejected',
        dryRun: false,
        reasons: ['NO_HOST_FITS'],
        durationMs: 12.5,
        detail: { summary: 'rejected', components: [{ id: 'c', reasons: [{ code: 'NO_HOST_FITS' }] }] },
        ...over,
      });

      test('recorded decisions read back by id, exactly as given; an unknown id is undefined', async () => {
        const d = decision('d1', { admissionId: 'adm-1', decision: 'accepted', reasons: [], dryRun: true });
        await ledger.recordDecisions([d, decision('d2')]);
        expect(await ledger.decision('d1')).toEqual(d);
        expect(await ledger.decision('d2')).toEqual(decision('d2'));
        expect(await ledger.decision('nope')).toBeUndefined();
      });

      test('filters by owner, service, admission, request, decision and time; pages oldest first', async () => {
        await ledger.recordDecisions([
          decision('a', { at: at(1), owner: 'alice', serviceId: 'web' }),
          decision('b', { at: at(2), owner: 'bob', serviceId: 'web', admissionId: 'adm-b', decision: 'accepted' }),
          decision('c', { at: at(2), owner: 'alice', serviceId: 'db' }),
          decision('d', { at: at(3), owner: 'alice', serviceId: 'web', requestId: 'req-x' }),
        ]);
        const ids = async (f: Parameters<Ledger['decisions']>[0]): Promise<string[]> => (await ledger.decisions(f)).items.map((d) => d.id);
        expect(await ids({})).toEqual(['a', 'b', 'c', 'd']);
        expect(await ids({ owner: 'alice' })).toEqual(['a', 'c', 'd']);
        expect(await ids({ serviceId: 'web' })).toEqual(['a', 'b', 'd']);
        expect(await ids({ admissionId: 'adm-b' })).toEqual(['b']);
        expect(await ids({ requestId: 'req-x' })).toEqual(['d']);
        expect(await ids({ decision: 'accepted' })).toEqual(['b']);
        expect(await ids({ from: at(2) })).toEqual(['b', 'c', 'd']);
        expect(await ids({ to: at(2) })).toEqual(['a']);
        expect(await ids({ owner: 'alice', serviceId: 'web', from: at(2), to: at(4) })).toEqual(['d']);
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let k = 0; k < 5; k++) {
          const p = await ledger.decisions({}, { limit: 3, ...(cursor ? { cursor } : {}) });
          seen.push(...p.items.map((d) => d.id));
          if (p.nextCursor === null) break;
          cursor = p.nextCursor;
        }
        expect(seen).toEqual(['a', 'b', 'c', 'd']);
        expect(await codeOf(ledger.decisions({}, { cursor: 'garbage' }))).toBe('AC_ERR_INVALID_REQUEST');
        expect(await codeOf(ledger.decisions({}, { limit: 1001 }))).toBe('AC_ERR_INVALID_REQUEST');
      });

      test('an invalid decision is refused and nothing of its batch is recorded', async () => {
        expect(await codeOf(ledger.recordDecisions([decision('ok'), decision('bad', { decision: 'maybe' as never })]))).toBe('AC_ERR_INVALID_REQUEST');
        expect((await ledger.decisions({})).items).toEqual([]);
      });

      test('advance purges decisions older than the decision retention (48 h here), nothing newer', async () => {
        await ledger.recordDecisions([decision('old', { at: T0 }), decision('new', { at: T0 + 24 * HOUR })]);
        await ledger.advance(T0 + 48 * HOUR - 1);
        expect(await ledger.decision('old')).toBeDefined();
        await ledger.advance(T0 + 48 * HOUR + 1);
        expect(await ledger.decision('old')).toBeUndefined();
        expect(await ledger.decision('new')).toBeDefined();
      });

      test('decisions survive a restart', async () => {
        if (!env.reopen) return;
        await ledger.recordDecisions([decision('kept', { detail: { nested: [1, 'two'] } })]);
        ledger = await env.reopen();
        expect(await ledger.decision('kept')).toEqual(decision('kept', { detail: { nested: [1, 'two'] } }));
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('restart and a second connection', () => {
      test('reopening keeps everything: inventory, bookings, windows, events, subscriptions, settings, audit', async () => {
        if (!env.reopen) return;
        await ledger.setPolicy({ cost: 0.7, eco: 0.1, risk: 0.1, trust: 0.1 }, 'op');
        await ledger.setServiceConstraints('web', { cost: 42 }, 'op');
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 5, memoryMb: 0 }] }));
        await ledger.confirm('a', 'alice');
        await ledger.addWindow({ id: 'w', hosts: ['h1'], window: win(100, 200), cpusDelta: -8, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        await ledger.subscribe({ id: 's', owner: 'op', seesAll: true, url: 'https://x.test', events: ['*'], secret: 'k', actor: 'op' });
        const seq = await ledger.lastEventSeq();
        const view = await ledger.capacity(win(0, 300));
        const audit = await ledger.audit({ limit: 1000 });
        ledger = await env.reopen();
        expect(await ledger.capacity(win(0, 300))).toEqual(view);
        expect(await ledger.lastEventSeq()).toBe(seq);
        expect(await ledger.audit({ limit: 1000 })).toEqual(audit);
        expect((await ledger.get('a'))!.status).toBe('active');
        expect((await ledger.policy()).generation).toBe(2);
        expect((await ledger.serviceConstraints('web'))!.constraints).toEqual({ cost: 42 });
        expect((await ledger.subscription('s'))!.cursor).toBeLessThanOrEqual(seq);
        expect(await codeOf(ledger.book(request([booking('b', { hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
      });

      test('a second connection sees every commit of the first at once (capacity, settings, events), and the other way round', async () => {
        const other = await second();
        if (!other) return;
        expect((await other.capacity(win(0, 60))).hosts[0]!.freeCpus).toBe(8);
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 5, memoryMb: 0 }] }));
        expect((await other.capacity(win(0, 60))).hosts[0]).toMatchObject({ freeCpus: 3, generation: 2 });
        // The other connection's stale view cannot double-book: the check is made inside its write.
        expect(await codeOf(other.book(request([booking('b', { hosts: [{ hostId: 'h1', cpus: 4, memoryMb: 0 }] })])))).toBe('AC_ERR_CAPACITY_CONFLICT');
        await other.release('a', 'op');
        expect((await ledger.capacity(win(0, 60))).hosts[0]!.freeCpus).toBe(8);
        await other.setPolicy({ cost: 0, eco: 0, risk: 0, trust: 1 }, 'op');
        expect((await ledger.policy()).generation).toBe(2);
        await other.addWindow({ id: 'w', hosts: ['h1'], window: win(0, 10), cpusDelta: -8, memoryMbDelta: 0, reason: 'x', actor: 'op' });
        expect((await ledger.capacity(win(0, 60))).hosts[0]!.freeCpus).toBe(0);
        await other.syncHosts([{ ...FLEET[0]!, cpus: 10 }, FLEET[1]!, FLEET[2]!], 'host-info');
        expect((await ledger.capacity(win(20, 60))).hosts[0]).toMatchObject({ cpus: 10, freeCpus: 10 });
        expect(await ledger.lastEventSeq()).toBe(await other.lastEventSeq());
      });
    });

    // -----------------------------------------------------------------------------------------
    describe('capability overrides', () => {
      test('set, change and remove: one row per host, audited, one host.capabilities.changed event per change, version grows', async () => {
        expect(await ledger.capabilityOverrides()).toEqual({ version: 0, byHost: new Map() });
        const seq = await ledger.lastEventSeq();
        const first = await ledger.setHostCapabilities('h1', { nodejs: '20.11.1', avx512: true }, 'op');
        expect(first).toEqual({ hostId: 'h1', set: { nodejs: '20.11.1', avx512: true }, removed: [], generation: 1, updatedAt: T0 });
        clock.advance(1000);
        // null removes: from the override, and hides host-info's value (removed).
        const second = await ledger.setHostCapabilities('h1', { avx512: null, gpu: 'a100' }, 'op');
        expect(second).toEqual({ hostId: 'h1', set: { nodejs: '20.11.1', gpu: 'a100' }, removed: ['avx512'], generation: 2, updatedAt: T0 + 1000 });
        await ledger.setHostCapabilities('not-yet-a-host', { zone: 'z1' }, 'op');
        const all = await ledger.capabilityOverrides();
        expect(all.version).toBe(3);
        expect([...all.byHost.keys()]).toEqual(['h1', 'not-yet-a-host']);
        expect(all.byHost.get('h1')).toEqual(second);
        const events = await eventsAfter(seq);
        expect(types(events)).toEqual(['host.capabilities.changed h1', 'host.capabilities.changed h1', 'host.capabilities.changed not-yet-a-host']);
        expect(events[1]!.data).toEqual({ hostId: 'h1', change: { avx512: null, gpu: 'a100' }, set: { nodejs: '20.11.1', gpu: 'a100' }, removed: ['avx512'], generation: 2 });
        const audit = await ledger.audit({ subject: 'h1' });
        expect(audit.filter((r) => r.action === 'host.capabilities.set')).toHaveLength(2);
        // Another connection sees the same overrides.
        const other = await second_();
        if (other) expect((await other.capabilityOverrides()).byHost.get('h1')).toEqual(second);
      });

      test('refuses a bad name or value, and an empty change, writing nothing', async () => {
        const seq = await ledger.lastEventSeq();
        const changes: Record<string, string | true | null>[] = [{ 'bad name': 'x' }, { nodejs: '' }, {}, { gpu: 42 as unknown as string }];
        for (const change of changes) {
          await expect(ledger.setHostCapabilities('h1', change, 'op')).rejects.toMatchObject({ code: 'AC_ERR_INVALID_REQUEST' });
        }
        expect(await ledger.lastEventSeq()).toBe(seq);
        expect((await ledger.capabilityOverrides()).byHost.size).toBe(0);
      });
    });

    describe('charges', () => {
      const H = HOUR_MS;
      const c = parseCatalogue(SIMPLE_CATALOGUE);
      const planFor = (start: number, end: number | null) => {
        const window = { start, end };
        return chargePlan(c, c.agreements.get('standard')!, window, chargeClasses(c, c.agreements.get('standard')!, window, [{ id: 'h1' }]), [{ componentId: 'app', hostId: 'h1', vms: 1, vcpus: 2, memoryMb: 1024 }]);
      };

      async function sumsEqual(owner: string): Promise<number> {
        const records = (await ledger.charges({ owner }, { limit: 1000 })).items;
        const sum = records.reduce((s, r) => s + r.amount, 0);
        expect((await ledger.chargeBalance(owner))!.amount).toBeCloseTo(sum, 9);
        expect(new Set(records.map((r) => `${r.admissionId}|${r.key}|${r.resource}`)).size).toBe(records.length);
        return sum;
      }

      it('confirm commits the window, release refunds the rest, a held offer costs nothing, and a re-settled state appends nothing', async () => {
          // 10 h: 2 vCPUs × 10 h × 0.04 = 0.8, 1 GB × 10 h × 0.005 = 0.05.
          await ledger.book(request([booking('a1', { window: { start: T0, end: T0 + 10 * H }, holdExpiresAt: T0 + H, chargePlan: planFor(T0, T0 + 10 * H) })]));
          await ledger.book(request([booking('a2', { serviceId: 'other', window: { start: T0, end: T0 + 10 * H }, holdExpiresAt: T0 + H, chargePlan: planFor(T0, T0 + 10 * H) })]));
          expect(await ledger.chargeBalance('alice')).toBeUndefined();
          await ledger.confirm('a1', 'alice');
          expect(await sumsEqual('alice')).toBeCloseTo(-0.85, 9);
          const events = await ledger.events(0, { types: ['charge.recorded'] });
          expect(events).toHaveLength(1);
          expect(events[0]).toMatchObject({ subject: 'a1', data: { cause: 'confirm', currency: 'EUR', total: -0.85 } });
          clock.set(T0 + 2.5 * H);
          await ledger.advance(clock.now());
          await ledger.release('a2', 'alice'); // held: nothing was charged, nothing refunded
          await ledger.release('a1', 'alice'); // 7.5 of 10 hours unused: 0.6 + 0.0375 back
          expect(await sumsEqual('alice')).toBeCloseTo(-0.2125, 9);
          expect((await ledger.charges({ admissionId: 'a1' })).items.map((r) => [r.kind, r.resource, r.amount])).toEqual([
            ['commit', 'memory-gb-hours', -0.05],
            ['commit', 'vcpu-hours', -0.8],
            ['refund', 'memory-gb-hours', 0.0375],
            ['refund', 'vcpu-hours', 0.6],
          ]);
          await ledger.release('a1', 'alice');
          await ledger.advance(clock.now() + 48 * H);
          expect((await ledger.charges({ admissionId: 'a1' })).items).toHaveLength(4);
      });

      it('an open window is charged per started hour by advance(), and its release refunds the unused part of the hour', async () => {
          await ledger.book(request([booking('o1', { window: { start: T0, end: null }, holdExpiresAt: T0 + H, chargePlan: planFor(T0, null) })]));
          await ledger.confirm('o1', 'alice'); // the first hour: 0.08 + 0.005
          expect(await sumsEqual('alice')).toBeCloseTo(-0.085, 9);
          clock.set(T0 + 3 * H + 1);
          const r = await ledger.advance(clock.now()); // hours 2, 3 and 4 have started
          expect(r.events.filter((e) => e.type === 'charge.recorded')).toHaveLength(1);
          expect(await sumsEqual('alice')).toBeCloseTo(-0.34, 9);
          expect(r.nextDueAt).toBe(T0 + 4 * H);
          clock.set(T0 + 3.5 * H);
          await ledger.release('o1', 'alice'); // half of hour 4 back: 0.0425
          expect(await sumsEqual('alice')).toBeCloseTo(-0.2975, 9);
      });

      it('credits: a grant per period, once; the unused rest of the previous period expires', async () => {
          expect((await ledger.grantCredits('bob', '2030-01', 10, 'EUR')).amount).toBe(10);
          expect((await ledger.grantCredits('bob', '2030-01', 10, 'EUR')).amount).toBe(10);
          const next = await ledger.grantCredits('bob', '2030-02', 10, 'EUR');
          expect(next).toMatchObject({ amount: 10, records: 3 });
          expect((await ledger.charges({ owner: 'bob' })).items.map((r) => [r.kind, r.amount])).toEqual([
            ['grant', 10],
            ['expire', -10],
            ['grant', 10],
          ]);
      });
    });

    describe('deployments', () => {
      const planned = (hostId: string, slot: string, cpus = 1, memoryMb = 512): DeploymentVm => ({ slot, componentId: slot.replace(/-\d+$/, ''), hostId, cpus, memoryMb, state: 'planned' });
      const TWO_VMS: DeploymentInput = { target: 'opennebula', vms: [planned('h1', 'web-1'), planned('h1', 'web-2')] };

      it('confirm records the deployment in its transaction, scheduled at the start; without the option there is none', async () => {
        await book(booking('now', { hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 1024 }] }), booking('later', { serviceId: 'l', window: win(30, 90) }), booking('plain', { serviceId: 'p' }));
        await ledger.confirm('now', 'alice', undefined, { deployment: TWO_VMS });
        await ledger.confirm('later', 'alice', undefined, { deployment: { target: 'opennebula', vms: [planned('h1', 'app-1')] } });
        await ledger.confirm('plain', 'alice');
        const d = await ledger.deployment('now');
        expect(d).toMatchObject({ admissionId: 'now', owner: 'alice', target: 'opennebula', status: 'scheduled', attempts: 0, notBefore: at(0), generation: 1, createdAt: at(0) });
        expect(d!.vms.map((v) => [v.slot, v.hostId, v.state])).toEqual([['web-1', 'h1', 'planned'], ['web-2', 'h1', 'planned']]);
        expect(d!.lease).toBeUndefined();
        expect(await ledger.deployment('plain')).toBeUndefined();
        expect((await ledger.deployments({ statuses: ['scheduled'], dueBy: at(0) })).map((x) => x.admissionId)).toEqual(['now']);
        expect((await ledger.deployments({ statuses: ['scheduled'] })).map((x) => x.admissionId)).toEqual(['now', 'later']);
        expect(await ledger.deployments({ statuses: [] })).toEqual([]);
        // A refused confirm records nothing.
        await book(booking('gone', { serviceId: 'g' }));
        await ledger.release('gone', 'alice');
        expect(await codeOf(ledger.confirm('gone', 'alice', undefined, { deployment: TWO_VMS }))).toBe('AC_ERR_CONFLICT');
        expect(await ledger.deployment('gone')).toBeUndefined();
        // A bad plan is refused before anything is written.
        await book(booking('bad', { serviceId: 'b' }));
        expect(await codeOf(ledger.confirm('bad', 'alice', undefined, { deployment: { target: 'opennebula', vms: [planned('h1', 'x-1'), planned('h2', 'x-1')] } }))).toBe('AC_ERR_INVALID_REQUEST');
        expect((await ledger.get('bad'))!.status).toBe('held');
      });

      it('updates are compare-and-set on the generation and write their events in the same transaction', async () => {
        await book(booking('a'));
        await ledger.confirm('a', 'alice', undefined, { deployment: TWO_VMS });
        const seq = await ledger.lastEventSeq();
        const d1 = await ledger.deployment('a');
        const lease = { holder: 'proc-1', until: at(1) };
        const d2 = await ledger.updateDeployment('a', d1!.generation, { status: 'deploying', vms: d1!.vms, attempts: 1, lease }, [{ type: 'deployment.started', data: { attempt: 1 } }]);
        expect(d2).toMatchObject({ status: 'deploying', attempts: 1, lease, generation: 2 });
        expect(await codeOf(ledger.updateDeployment('a', d1!.generation, { status: 'deployed', vms: d1!.vms, attempts: 1 }))).toBe('AC_ERR_CONFLICT');
        expect(await codeOf(ledger.updateDeployment('nope', 1, { status: 'deployed', vms: [], attempts: 1 }))).toBe('AC_ERR_NOT_FOUND');
        expect(await codeOf(ledger.updateDeployment('a', 2, { status: 'sideways' as never, vms: [], attempts: 1 }))).toBe('AC_ERR_INVALID_REQUEST');
        const vms = d2.vms.map((v, i) => ({ ...v, state: 'deployed' as const, vmId: 40 + i, templateId: 7 }));
        clock.set(at(2));
        const d3 = await ledger.updateDeployment('a', 2, { status: 'deploy_failed', vms, attempts: 1, error: 'one.vm.deploy failed' });
        // Absent keeps, null clears.
        expect(d3).toMatchObject({ status: 'deploy_failed', error: 'one.vm.deploy failed', lease, updatedAt: at(2), generation: 3 });
        expect(d3.vms.map((v) => v.vmId)).toEqual([40, 41]);
        const d4 = await ledger.updateDeployment('a', 3, { status: 'scheduled', vms, attempts: 1, error: null, lease: null, notBefore: at(2) });
        expect(d4.error).toBeUndefined();
        expect(d4.lease).toBeUndefined();
        expect(d4.notBefore).toBe(at(2));
        // A VM asked to shut down keeps when it was asked (the grace runs from it), across reads.
        const shutting = vms.map((v, i) => (i === 0 ? { ...v, state: 'terminating' as const, terminateRequestedAt: at(2) } : v));
        await ledger.updateDeployment('a', 4, { status: 'terminating', vms: shutting, attempts: 1 });
        const d5 = await ledger.deployment('a');
        expect(d5!.vms[0]).toEqual({ ...vms[0], state: 'terminating', terminateRequestedAt: at(2) });
        expect(await codeOf(ledger.updateDeployment('a', 5, { status: 'terminating', vms: [{ ...vms[0]!, terminateRequestedAt: 1.5 }], attempts: 1 }))).toBe('AC_ERR_INVALID_REQUEST');
        await ledger.updateDeployment('a', 5, { status: 'scheduled', vms, attempts: 1, notBefore: at(2) });
        const events = (await eventsAfter(seq)).filter((e) => e.type.startsWith('deployment.'));
        expect(events.map((e) => [e.type, e.subject, e.owner, e.data])).toEqual([['deployment.started', 'a', 'alice', { attempt: 1 }]]);
        expect((await ledger.deployments({ statuses: ['scheduled'], dueBy: at(2) })).map((x) => x.admissionId)).toEqual(['a']);
      });

      it('a lost VM leaves the booking on its host (generation bumps, capacity freed, one event); lost twice frees nothing more', async () => {
        await book(booking('a', { hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 1024 }] }));
        await ledger.confirm('a', 'alice', undefined, { deployment: TWO_VMS });
        const before = (await ledger.capacity(win(0, 60), { hostIds: ['h1'] })).hosts[0]!;
        expect(before.freeCpus).toBe(6);
        const seq = await ledger.lastEventSeq();
        const { record, freed } = await ledger.loseDeploymentVm('a', 'web-2', 'VM 41 is in BOOT_FAILURE', 'host-info');
        expect(freed).toEqual({ hostId: 'h1', cpus: 1, memoryMb: 512 });
        expect(record.vms.find((v) => v.slot === 'web-2')).toMatchObject({ state: 'lost', error: 'VM 41 is in BOOT_FAILURE' });
        expect(record.generation).toBe(2);
        const after = (await ledger.capacity(win(0, 60), { hostIds: ['h1'] })).hosts[0]!;
        expect(after.freeCpus).toBe(7);
        expect(after.generation).toBeGreaterThan(before.generation);
        const admission = await ledger.get('a');
        expect(admission!.hosts).toEqual([{ hostId: 'h1', cpus: 1, memoryMb: 512 }]);
        expect(admission!.status).toBe('active');
        const events = (await eventsAfter(seq)).filter((e) => e.type === 'deployment.vm_lost');
        expect(events.map((e) => [e.subject, e.owner, e.data['slot'], e.data['reason'], e.data['freed']])).toEqual([['a', 'alice', 'web-2', 'VM 41 is in BOOT_FAILURE', { hostId: 'h1', cpus: 1, memoryMb: 512 }]]);
        expect((await ledger.loseDeploymentVm('a', 'web-2', 'again', 'host-info')).freed).toBeNull();
        // The last VM on the host takes the allocation row with it.
        expect((await ledger.loseDeploymentVm('a', 'web-1', 'VM 40 no longer exists', 'host-info')).freed).toEqual({ hostId: 'h1', cpus: 1, memoryMb: 512 });
        expect((await ledger.get('a'))!.hosts).toEqual([]);
        expect((await ledger.capacity(win(0, 60), { hostIds: ['h1'] })).hosts[0]!.freeCpus).toBe(8);
        expect(await codeOf(ledger.loseDeploymentVm('a', 'web-9', 'x', 'host-info'))).toBe('AC_ERR_NOT_FOUND');
        expect(await codeOf(ledger.loseDeploymentVm('b', 'web-1', 'x', 'host-info'))).toBe('AC_ERR_NOT_FOUND');
      });

      it('a VM lost after the admission closed frees nothing (nothing was held)', async () => {
        await book(booking('a'));
        await ledger.confirm('a', 'alice', undefined, { deployment: TWO_VMS });
        await ledger.release('a', 'alice');
        await book(booking('b', { serviceId: 'still' }));
        await ledger.confirm('b', 'alice', undefined, { deployment: { target: 'opennebula', vms: [planned('h1', 'x-1')] } });
        expect((await ledger.deployments({ admissionClosed: true })).map((x) => x.admissionId)).toEqual(['a']);
        expect((await ledger.deployments({ statuses: ['scheduled'], admissionClosed: true })).map((x) => x.admissionId)).toEqual(['a']);
        const r = await ledger.loseDeploymentVm('a', 'web-1', 'gone', 'host-info');
        expect(r.freed).toBeNull();
        expect(r.record.vms[0]!.state).toBe('lost');
      });

      it('retention keeps a closed admission whose VMs may still exist, and purges it once they are terminated', async () => {
        await book(booking('a'));
        await ledger.confirm('a', 'alice', undefined, { deployment: TWO_VMS });
        await ledger.release('a', 'alice');
        clock.set(at(0) + 25 * HOUR);
        await ledger.advance(clock.now());
        const d = await ledger.deployment('a');
        expect(d).toBeDefined();
        expect(await ledger.get('a')).toBeDefined();
        await ledger.updateDeployment('a', d!.generation, { status: 'terminated', vms: d!.vms.map((v) => ({ ...v, state: 'terminated' as const })), attempts: 0 });
        clock.advance(MIN);
        await ledger.advance(clock.now());
        expect(await ledger.get('a')).toBeUndefined();
        expect(await ledger.deployment('a')).toBeUndefined();
      });

      it('survives a restart and is seen by a second connection', async () => {
        await book(booking('a'));
        await ledger.confirm('a', 'alice', undefined, { deployment: TWO_VMS });
        const other = await second();
        if (other) expect((await other.deployment('a'))!.status).toBe('scheduled');
        if (env.reopen) {
          ledger = await env.reopen();
          expect((await ledger.deployment('a'))!.vms).toHaveLength(2);
        }
      });
    });
  });
}

/**
 * LedgerOptions.freeCapacityThresholds: two connections (processes, replicas) on one store, both advancing; each
 * crossing of a threshold is one capacity.changed event, whichever advanced first. Run by every implementation.
 */
export function freeCapacityThresholdCase(
  openPair: (thresholds: readonly number[]) => Promise<{ readonly a: Ledger; readonly b: Ledger; readonly clock: ManualClock; readonly cleanup: () => Promise<void> }>,
): void {
  test('free capacity crossing a threshold emits one capacity.changed per crossing, whichever connection advances', async () => {
    const { a, b, clock, cleanup } = await openPair([0.5, 0.25]);
    try {
      await a.syncHosts(FLEET, 'host-info'); // 28 CPUs, 4 used: 24 free (0.857)
      const crossings = async (): Promise<unknown[]> => {
        const events = [...(await a.advance(clock.fn())).events, ...(await b.advance(clock.fn())).events];
        return events.filter((e) => e.type === 'capacity.changed' && (e.data as { reason?: string }).reason === 'threshold').map((e) => e.data);
      };
      expect(await crossings()).toEqual([]);
      await a.book(request([booking('a', { hosts: [{ hostId: 'h3', cpus: 12, memoryMb: 0 }] })])); // 12 free: 0.4286
      expect(await crossings()).toEqual([{ reason: 'threshold', direction: 'below', thresholds: [0.5], freeShare: 0.4286, freeCpus: 12, cpus: 28 }]);
      expect(await crossings()).toEqual([]); // the band is recorded: neither connection says it again
      await b.book(request([booking('b', { hosts: [{ hostId: 'h1', cpus: 8, memoryMb: 0 }] })])); // 4 free: 0.1429
      expect(await crossings()).toEqual([{ reason: 'threshold', direction: 'below', thresholds: [0.25], freeShare: 0.1429, freeCpus: 4, cpus: 28 }]);
      await a.release('a', 'alice');
      await a.release('b', 'alice'); // 24 free again: both crossed upwards in one step
      expect(await crossings()).toEqual([{ reason: 'threshold', direction: 'above', thresholds: [0.25, 0.5], freeShare: 0.8571, freeCpus: 24, cpus: 28 }]);
      // Durable: the events are in the outbox, once each.
      const stored = (await a.events(0, { types: ['capacity.changed'] })).filter((e) => (e.data as { reason?: string }).reason === 'threshold');
      expect(stored.map((e) => (e.data as { direction: string }).direction)).toEqual(['below', 'below', 'above']);
    } finally {
      await a.close();
      await b.close();
      await cleanup();
    }
  });
}
