/**
 * The gateway's SQLite state (gateway/state-store.ts), on real files in a temp dir: policy and constraints with generations,
 * constraint precedence, reservations per host with expiry and release, restart survival, and two connections racing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { AdmissionError } from '../model/errors';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../model/types';
import { DATABASE_FILE, SCHEMA_VERSION, StateStore, type AdmissionInput, type StateStoreOptions } from '../gateway/state-store';

let tmpRoot = '';
let dirCount = 0;
const open: StateStore[] = [];

beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'state-store-test-'));
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(() => {
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
});

/** A fresh data dir (not created: the store must create it). */
function newDir(): string {
  return path.join(tmpRoot, `data-${++dirCount}`, 'nested');
}

/** A controllable clock in epoch ms. */
function clock(start = Date.parse('2025-01-01T00:00:00.000Z')): { now: () => number; set: (ms: number) => void; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms), advance: (ms) => (t += ms) };
}

function openStore(dataDir: string, extra: Partial<StateStoreOptions> = {}): StateStore {
  const s = new StateStore({ dataDir, defaultWeights: DEFAULT_WEIGHTS, defaultConstraints: DEFAULT_CONSTRAINTS, ...extra });
  open.push(s);
  return s;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof AdmissionError)) throw new Error(`expected an AdmissionError, got ${String((e as Error).name)} ${String((e as { code?: unknown }).code)}: ${String((e as Error).message)}`);
    return e.code;
  }
  throw new Error('expected an AdmissionError');
}

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const MIN = 60_000;

function admission(id: string, hosts: AdmissionInput['hosts'], extra: Partial<AdmissionInput> = {}): AdmissionInput {
  return {
    id,
    owner: 'test',
    serviceId: `svc-${id}`,
    decision: 'accepted',
    createdAt: T0,
    expiresAt: T0 + 15 * MIN,
    hosts,
    response: { id, decision: 'accepted', nested: [1, 'two', { three: null }] },
    ...extra,
  };
}

describe('opening', () => {
  test('creates the directory and one WAL-mode database file with the current schema version', () => {
    const dir = newDir();
    const store = openStore(dir);
    expect(store.file).toBe(path.join(dir, DATABASE_FILE));
    expect(fs.existsSync(store.file)).toBe(true);
    store.close();
    const db = new Database(store.file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(['admissions', 'counters', 'default_constraints', 'policy', 'reservations', 'service_constraints']));
    } finally {
      db.close();
    }
  });

  test('a database from a newer build is refused with AC_ERR_CONFIG', () => {
    const dir = newDir();
    openStore(dir).close();
    const db = new Database(path.join(dir, DATABASE_FILE));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(codeOf(() => openStore(dir))).toBe('AC_ERR_CONFIG');
  });

  test('invalid seeds are refused', () => {
    expect(codeOf(() => openStore(newDir(), { defaultWeights: { cost: 1, eco: 1, risk: 0, trust: 0 } }))).toBe('AC_ERR_INVALID_REQUEST');
  });
});

describe('policy', () => {
  test('starts from the configured weights at generation 1', () => {
    const c = clock();
    const weights = { cost: 0.4, eco: 0.1, risk: 0.1, trust: 0.4 };
    const store = openStore(newDir(), { defaultWeights: weights, clock: c.now });
    expect(store.getPolicy()).toEqual({ weights, generation: 1, updatedAt: '2025-01-01T00:00:00.000Z' });
  });

  test('set increments the generation; a stale expectedGeneration is AC_ERR_CONFLICT and changes nothing', () => {
    const c = clock();
    const store = openStore(newDir(), { clock: c.now });
    c.advance(1000);
    const w1 = { cost: 0.1, eco: 0.2, risk: 0.4, trust: 0.3 };
    const r1 = store.setPolicy(w1, 1);
    expect(r1).toEqual({ weights: w1, generation: 2, updatedAt: '2025-01-01T00:00:01.000Z' });
    const w2 = { cost: 0, eco: 0, risk: 1, trust: 0 };
    expect(store.setPolicy(w2).generation).toBe(3); // unconditional write
    const stale = (() => {
      try {
        store.setPolicy(w1, 2);
      } catch (e) {
        return e as AdmissionError;
      }
      throw new Error('no conflict');
    })();
    expect(stale.code).toBe('AC_ERR_CONFLICT');
    expect(stale.status).toBe(409);
    expect(stale.details).toEqual([{ field: 'generation', reason: 'expected 2, current 3' }]);
    expect(store.getPolicy()).toMatchObject({ weights: w2, generation: 3 });
  });

  test('weights are validated: non-negative, finite, summing to 1 (D3)', () => {
    const store = openStore(newDir());
    expect(codeOf(() => store.setPolicy({ cost: 0.5, eco: 0.5, risk: 0.5, trust: 0.5 }))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.setPolicy({ cost: -0.5, eco: 0.5, risk: 0.5, trust: 0.5 }))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.setPolicy({ cost: NaN, eco: 0.5, risk: 0.5, trust: 0 }))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.setPolicy(DEFAULT_WEIGHTS, -1))).toBe('AC_ERR_INVALID_REQUEST');
    expect(store.getPolicy().generation).toBe(1);
  });
});

describe('TREC constraints', () => {
  test('default constraints: seeded, set with generations', () => {
    const store = openStore(newDir());
    expect(store.getDefaultConstraints()).toMatchObject({ constraints: DEFAULT_CONSTRAINTS, generation: 1 });
    const c = { eco: 1, trust: 2, risk: 3, cost: 400 };
    expect(store.setDefaultConstraints(c, 1)).toMatchObject({ constraints: c, generation: 2 });
    expect(codeOf(() => store.setDefaultConstraints(DEFAULT_CONSTRAINTS, 1))).toBe('AC_ERR_CONFLICT');
    expect(store.getDefaultConstraints().constraints).toEqual(c);
  });

  test('per-service overrides: create, replace, list, delete; generation 0 means create-only', () => {
    const store = openStore(newDir());
    expect(store.getServiceConstraints('web')).toBeUndefined();
    const created = store.setServiceConstraints('web', { cost: 500 }, 0);
    expect(created).toMatchObject({ serviceId: 'web', constraints: { cost: 500 }, generation: 1 });
    expect(codeOf(() => store.setServiceConstraints('web', { cost: 1 }, 0))).toBe('AC_ERR_CONFLICT'); // exists already
    expect(store.setServiceConstraints('web', { trust: 4, risk: 1 }, 1)).toMatchObject({ constraints: { trust: 4, risk: 1 }, generation: 2 });
    store.setServiceConstraints('db', { eco: 2 });
    expect(store.listServiceConstraints().map((r) => [r.serviceId, r.constraints])).toEqual([
      ['db', { eco: 2 }],
      ['web', { trust: 4, risk: 1 }],
    ]);
    expect(codeOf(() => store.deleteServiceConstraints('web', 1))).toBe('AC_ERR_CONFLICT');
    expect(store.deleteServiceConstraints('web', 2)).toBe(true);
    expect(store.deleteServiceConstraints('web')).toBe(false);
    expect(store.getServiceConstraints('web')).toBeUndefined();
    expect(store.listServiceConstraints().map((r) => r.serviceId)).toEqual(['db']);
  });

  test('a re-created override continues the generation count, so a pre-delete generation cannot match (ABA)', () => {
    const store = openStore(newDir());
    store.setServiceConstraints('web', { cost: 1 }); // gen 1
    store.deleteServiceConstraints('web'); // tombstone gen 2
    const again = store.setServiceConstraints('web', { cost: 2 }, 0); // absent counts as 0
    expect(again.generation).toBe(3);
    expect(codeOf(() => store.setServiceConstraints('web', { cost: 9 }, 1))).toBe('AC_ERR_CONFLICT');
  });

  test('invalid overrides are refused', () => {
    const store = openStore(newDir());
    expect(codeOf(() => store.setServiceConstraints('web', {}))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.setServiceConstraints('web', { cost: -1 }))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.setServiceConstraints('', { cost: 1 }))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.setServiceConstraints('web', { cost: 1, bogus: 2 } as never))).toBe('AC_ERR_INVALID_REQUEST');
    expect(store.listServiceConstraints()).toEqual([]);
  });

  test('effective constraints: default ← manifest ← per-service override, bound by bound', () => {
    const store = openStore(newDir());
    store.setDefaultConstraints({ eco: 1, trust: 1, risk: 5, cost: 1000 });
    // No manifest, no override: the default.
    expect(store.effectiveConstraints('web')).toEqual({ eco: 1, trust: 1, risk: 5, cost: 1000 });
    // The manifest's bounds win over the default; bounds it leaves undefined fall back.
    const manifest = { trust: 3, cost: 800, eco: undefined };
    expect(store.effectiveConstraints('web', manifest)).toEqual({ eco: 1, trust: 3, risk: 5, cost: 800 });
    // The operator's override wins over the manifest, but only for the bounds it sets.
    store.setServiceConstraints('web', { cost: 500, risk: 2 });
    expect(store.explainConstraints('web', manifest)).toEqual({
      constraints: { eco: 1, trust: 3, risk: 2, cost: 500 },
      sources: { eco: 'default', trust: 'manifest', risk: 'service', cost: 'service' },
    });
    // Another service is not affected (OPTIMIS's "perServiceConstraints" were global, D2).
    expect(store.effectiveConstraints('db', manifest)).toEqual({ eco: 1, trust: 3, risk: 5, cost: 800 });
    expect(codeOf(() => store.effectiveConstraints('web', { cost: Infinity }))).toBe('AC_ERR_INVALID_REQUEST');
  });
});

describe('admissions and reservations', () => {
  test('record stores the admission, its reservations and the response; get returns them', () => {
    const c = clock(T0);
    const store = openStore(newDir(), { clock: c.now });
    const rec = store.recordAdmission(
      admission('a1', [
        { hostId: 'h2', cpus: 2, memoryMb: 1024 },
        { hostId: 'h1', cpus: 4 },
        { hostId: 'h2', cpus: 1, memoryMb: 512 }, // same host twice: added up
      ]),
    );
    expect(rec).toEqual({
      id: 'a1',
      owner: 'test',
      serviceId: 'svc-a1',
      decision: 'accepted',
      createdAt: '2025-01-01T00:00:00.000Z',
      expiresAt: '2025-01-01T00:15:00.000Z',
      status: 'active',
      hosts: [
        { hostId: 'h1', cpus: 4, memoryMb: 0 },
        { hostId: 'h2', cpus: 3, memoryMb: 1536 },
      ],
      response: { id: 'a1', decision: 'accepted', nested: [1, 'two', { three: null }] },
    });
    expect(store.getAdmission('a1')).toEqual(rec);
    expect(store.getAdmission('nope')).toBeUndefined();
  });

  test('reserved capacity sums active, unexpired admissions per host', () => {
    const c = clock(T0);
    const store = openStore(newDir(), { clock: c.now });
    store.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 2, memoryMb: 100 }, { hostId: 'h2', cpus: 1, memoryMb: 50 }]));
    store.recordAdmission(admission('a2', [{ hostId: 'h1', cpus: 3, memoryMb: 200 }], { expiresAt: T0 + 5 * MIN }));
    store.recordAdmission(admission('a3', [{ hostId: 'h3', cpus: 8, memoryMb: 0 }], { decision: 'partial' }));
    store.recordAdmission(admission('a4', [], { decision: 'rejected' }));
    expect(store.reservedCapacity(T0)).toEqual(
      new Map([
        ['h1', { cpus: 5, memoryMb: 300 }],
        ['h2', { cpus: 1, memoryMb: 50 }],
        ['h3', { cpus: 8, memoryMb: 0 }],
      ]),
    );
    // a2 expires at T0+5min (exclusive): just before it still counts, at the instant it does not.
    expect(store.reservedCapacity(T0 + 5 * MIN - 1).get('h1')).toEqual({ cpus: 5, memoryMb: 300 });
    expect(store.reservedCapacity(T0 + 5 * MIN).get('h1')).toEqual({ cpus: 2, memoryMb: 100 });
    // Dates and ISO strings are accepted as instants too.
    expect(store.reservedCapacity(new Date(T0 + 5 * MIN)).get('h1')).toEqual({ cpus: 2, memoryMb: 100 });
    expect(store.reservedCapacity('2025-01-01T00:15:00.000Z').size).toBe(0);
    // Without an argument: the store's clock.
    c.set(T0 + 10 * MIN);
    expect(store.reservedCapacity().get('h1')).toEqual({ cpus: 2, memoryMb: 100 });
    expect(store.getAdmission('a2')!.status).toBe('expired');
  });

  test('release frees capacity once; unknown or released ids give false', () => {
    const c = clock(T0);
    const store = openStore(newDir(), { clock: c.now });
    store.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 2, memoryMb: 0 }]));
    store.recordAdmission(admission('a2', [{ hostId: 'h1', cpus: 3, memoryMb: 0 }]));
    c.advance(MIN);
    expect(store.releaseAdmission('a1')).toBe(true);
    expect(store.releaseAdmission('a1')).toBe(false);
    expect(store.releaseAdmission('nope')).toBe(false);
    expect(store.reservedCapacity().get('h1')).toEqual({ cpus: 3, memoryMb: 0 });
    expect(store.getAdmission('a1')).toMatchObject({ status: 'released', releasedAt: '2025-01-01T00:01:00.000Z' });
    expect(store.listAdmissions({ activeOnly: true }).map((a) => a.id)).toEqual(['a2']);
    expect(store.listAdmissions().map((a) => [a.id, a.status])).toEqual([
      ['a1', 'released'],
      ['a2', 'active'],
    ]);
  });

  test('listAdmissions filters by activity and service, with hosts attached', () => {
    const store = openStore(newDir(), { clock: clock(T0).now });
    store.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 1 }], { serviceId: 'web', createdAt: T0 }));
    store.recordAdmission(admission('a2', [{ hostId: 'h2', cpus: 2 }], { serviceId: 'db', createdAt: T0 + 1, expiresAt: T0 + MIN }));
    store.recordAdmission(admission('a3', [{ hostId: 'h1', cpus: 3 }, { hostId: 'h3', cpus: 1 }], { serviceId: 'web', createdAt: T0 + 2 }));
    expect(store.listAdmissions().map((a) => a.id)).toEqual(['a1', 'a2', 'a3']);
    expect(store.listAdmissions({ serviceId: 'web' }).map((a) => [a.id, a.hosts.map((h) => h.hostId)])).toEqual([
      ['a1', ['h1']],
      ['a3', ['h1', 'h3']],
    ]);
    expect(store.listAdmissions({ activeOnly: true, now: T0 + 2 * MIN }).map((a) => a.id)).toEqual(['a1', 'a3']);
  });

  test('purgeExpired deletes expired admissions and their reservations, nothing else', () => {
    const store = openStore(newDir(), { clock: clock(T0).now });
    store.recordAdmission(admission('short', [{ hostId: 'h1', cpus: 1 }], { expiresAt: T0 + MIN }));
    store.recordAdmission(admission('long', [{ hostId: 'h1', cpus: 2 }], { expiresAt: T0 + 60 * MIN }));
    expect(store.purgeExpired(T0 + MIN - 1)).toBe(0);
    expect(store.purgeExpired(T0 + MIN)).toBe(1);
    expect(store.getAdmission('short')).toBeUndefined();
    expect(store.listAdmissions().map((a) => a.id)).toEqual(['long']);
    const db = new Database(store.file, { readonly: true });
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM reservations WHERE admission_id = 'short'").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  test('invalid or duplicate admissions are refused and leave no trace (one transaction)', () => {
    const store = openStore(newDir(), { clock: clock(T0).now });
    store.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 1 }]));
    const gen = store.capacityGeneration();
    expect(codeOf(() => store.recordAdmission(admission('a1', [{ hostId: 'h9', cpus: 7 }])))).toBe('AC_ERR_CONFLICT');
    expect(codeOf(() => store.recordAdmission(admission('a2', [{ hostId: 'h1', cpus: -1 }])))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.recordAdmission(admission('a3', [], { expiresAt: T0 })))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.recordAdmission(admission('a4', [], { createdAt: 'not a date' })))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.recordAdmission(admission('a5', [], { decision: 'maybe' as never })))).toBe('AC_ERR_INVALID_REQUEST');
    expect(codeOf(() => store.recordAdmission(admission('a6', [], { response: undefined })))).toBe('AC_ERR_INVALID_REQUEST');
    expect(store.reservedCapacity(T0)).toEqual(new Map([['h1', { cpus: 1, memoryMb: 0 }]]));
    expect(store.listAdmissions().map((a) => a.id)).toEqual(['a1']);
    expect(store.capacityGeneration()).toBe(gen);
  });
});

test('a failure half-way through recording rolls back the admission row too', () => {
  const dir = newDir();
  const store = openStore(dir, { clock: clock(T0).now });
  // Make the second reservation insert fail inside the transaction, after the admission row was written.
  const db = new Database(path.join(dir, DATABASE_FILE));
  db.exec(`CREATE TRIGGER poison BEFORE INSERT ON reservations WHEN NEW.host_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned host'); END`);
  db.close();
  expect(() => store.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 1 }, { hostId: 'poison', cpus: 1 }]))).toThrow('poisoned host');
  expect(store.getAdmission('a1')).toBeUndefined();
  expect(store.reservedCapacity(T0).size).toBe(0);
  expect(store.capacityGeneration()).toBe(0);
});

describe('durability and concurrency', () => {
  test('everything survives closing and reopening the same file', () => {
    const dir = newDir();
    const c = clock(T0);
    const first = openStore(dir, { clock: c.now });
    const weights = { cost: 0.7, eco: 0.1, risk: 0.1, trust: 0.1 };
    first.setPolicy(weights);
    first.setDefaultConstraints({ eco: 2, trust: 2, risk: 2, cost: 2 });
    first.setServiceConstraints('web', { cost: 42 });
    first.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 2, memoryMb: 10 }]));
    first.recordAdmission(admission('a2', [{ hostId: 'h1', cpus: 1, memoryMb: 5 }]));
    first.releaseAdmission('a2');
    const gen = first.capacityGeneration();
    first.close();

    // Reopened with different seeds: the stored state wins over the config (the policy must not reset on restart).
    const second = openStore(dir, { clock: c.now, defaultWeights: DEFAULT_WEIGHTS, defaultConstraints: DEFAULT_CONSTRAINTS });
    expect(second.getPolicy()).toMatchObject({ weights, generation: 2 });
    expect(second.getDefaultConstraints()).toMatchObject({ constraints: { eco: 2, trust: 2, risk: 2, cost: 2 }, generation: 2 });
    expect(second.getServiceConstraints('web')).toMatchObject({ constraints: { cost: 42 }, generation: 1 });
    expect(second.reservedCapacity(T0)).toEqual(new Map([['h1', { cpus: 2, memoryMb: 10 }]]));
    expect(second.getAdmission('a2')!.status).toBe('released');
    expect(second.getAdmission('a1')!.response).toEqual(admission('a1', []).response);
    expect(second.capacityGeneration()).toBe(gen);
  });

  test('two connections to one file: a stale policy generation loses with AC_ERR_CONFLICT', () => {
    const dir = newDir();
    const a = openStore(dir);
    const b = openStore(dir);
    const seen = a.getPolicy().generation;
    b.setPolicy({ cost: 0, eco: 0, risk: 0, trust: 1 }, seen); // b wins the race
    expect(codeOf(() => a.setPolicy({ cost: 1, eco: 0, risk: 0, trust: 0 }, seen))).toBe('AC_ERR_CONFLICT');
    expect(a.getPolicy()).toMatchObject({ weights: { cost: 0, eco: 0, risk: 0, trust: 1 }, generation: seen + 1 });
  });

  test('capacity generation: bumped by record and release, seen by every connection, and checked at record time', () => {
    const dir = newDir();
    const a = openStore(dir, { clock: clock(T0).now });
    const b = openStore(dir, { clock: clock(T0).now });
    expect(a.capacityGeneration()).toBe(0);

    // Both gateways read capacity, then both try to book the last 4 CPUs of h1.
    const snapA = a.capacitySnapshot();
    const snapB = b.capacitySnapshot();
    expect(snapA).toEqual({ generation: 0, reserved: new Map() });
    b.recordAdmission(admission('from-b', [{ hostId: 'h1', cpus: 4 }], { expectedCapacityGeneration: snapB.generation }));
    expect(a.capacityGeneration()).toBe(1);
    expect(codeOf(() => a.recordAdmission(admission('from-a', [{ hostId: 'h1', cpus: 4 }], { expectedCapacityGeneration: snapA.generation })))).toBe(
      'AC_ERR_CONFLICT',
    );
    // a re-reads, sees b's booking, and the loser's admission left nothing behind.
    expect(a.capacitySnapshot()).toEqual({ generation: 1, reserved: new Map([['h1', { cpus: 4, memoryMb: 0 }]]) });
    expect(a.getAdmission('from-a')).toBeUndefined();

    expect(a.releaseAdmission('from-b')).toBe(true);
    expect(b.capacityGeneration()).toBe(2);
    expect(a.releaseAdmission('from-b')).toBe(false); // no change, no bump
    expect(b.capacityGeneration()).toBe(2);
    a.recordAdmission(admission('from-a', [{ hostId: 'h1', cpus: 4 }], { expectedCapacityGeneration: 2 }));
    expect(b.capacitySnapshot()).toEqual({ generation: 3, reserved: new Map([['h1', { cpus: 4, memoryMb: 0 }]]) });
  });

  test('capacity generation with host limits: a stale booking is still taken when it fits on its hosts, refused when it would overfill one', () => {
    const dir = newDir();
    const a = openStore(dir, { clock: clock(T0).now });
    const b = openStore(dir, { clock: clock(T0).now });
    const stale = a.capacitySnapshot().generation;
    b.recordAdmission(admission('from-b', [{ hostId: 'h1', cpus: 4, memoryMb: 1000 }], { expectedCapacityGeneration: b.capacitySnapshot().generation }));
    const h1 = { hostId: 'h1', cpus: 8, memoryMb: 4000 };
    // b's booking left room on h1: a's booking, solved before it, still fits next to it.
    a.recordAdmission(admission('fits', [{ hostId: 'h1', cpus: 4, memoryMb: 1000 }], { expectedCapacityGeneration: stale, hostLimits: [h1] }));
    expect(a.reservedCapacity().get('h1')).toEqual({ cpus: 8, memoryMb: 2000 });
    // h1 is full now: one more CPU would overfill it, whatever the memory says; so would memory alone on h2.
    const overfill = (): void => {
      a.recordAdmission(admission('too-much', [{ hostId: 'h1', cpus: 1 }], { expectedCapacityGeneration: stale, hostLimits: [h1] }));
    };
    expect(codeOf(overfill)).toBe('AC_ERR_CONFLICT');
    expect(() => overfill()).toThrow(/host 'h1': 8 \+ 1 CPUs > 8/);
    expect(
      codeOf(() =>
        a.recordAdmission(admission('mem', [{ hostId: 'h2', cpus: 1, memoryMb: 600 }], { expectedCapacityGeneration: stale, hostLimits: [{ hostId: 'h2', cpus: 8, memoryMb: 500 }] })),
      ),
    ).toBe('AC_ERR_CONFLICT');
    // A booking on a host it has no limit for, or without limits at all, is refused once the generation moved.
    expect(codeOf(() => a.recordAdmission(admission('unknown', [{ hostId: 'h3', cpus: 1 }], { expectedCapacityGeneration: stale, hostLimits: [h1] })))).toBe(
      'AC_ERR_CONFLICT',
    );
    expect(codeOf(() => a.recordAdmission(admission('strict', [{ hostId: 'h2', cpus: 1 }], { expectedCapacityGeneration: stale })))).toBe('AC_ERR_CONFLICT');
    // The refused ones left nothing behind.
    expect(a.listAdmissions().map((x) => x.id).sort()).toEqual(['fits', 'from-b']);
  });

  test('read cache: reads outside transactions are remembered, yet every other connection\'s commit is seen at once', () => {
    const dir = newDir();
    const c = clock(T0);
    const a = openStore(dir, { clock: c.now });
    const b = openStore(dir, { clock: c.now });
    // Warm a's cache with everything an admission reads.
    const policy = a.getPolicy();
    expect(a.getPolicy()).toBe(policy); // remembered: the same record
    a.getDefaultConstraints();
    expect(a.getServiceConstraints('web')).toBeUndefined();
    expect(a.capacityGeneration()).toBe(0);
    expect(a.reservedCapacity().size).toBe(0);

    b.setPolicy({ cost: 0, eco: 0, risk: 0, trust: 1 });
    b.setDefaultConstraints({ eco: 2, trust: 2, risk: 2, cost: 2 });
    b.setServiceConstraints('web', { cost: 42 });
    b.recordAdmission(admission('from-b', [{ hostId: 'h1', cpus: 4 }]));
    expect(a.getPolicy()).toMatchObject({ weights: { cost: 0, eco: 0, risk: 0, trust: 1 }, generation: 2 });
    expect(a.getDefaultConstraints()).toMatchObject({ constraints: { eco: 2, trust: 2, risk: 2, cost: 2 } });
    expect(a.getServiceConstraints('web')).toMatchObject({ constraints: { cost: 42 } });
    expect(a.explainConstraints('web')).toEqual({ constraints: { eco: 2, trust: 2, risk: 2, cost: 42 }, sources: { eco: 'default', trust: 'default', risk: 'default', cost: 'service' } });
    expect(a.capacityGeneration()).toBe(1);
    expect(a.reservedCapacity()).toEqual(new Map([['h1', { cpus: 4, memoryMb: 0 }]]));

    // a's own writes are seen by a (its own commits do not change its data_version).
    a.deleteServiceConstraints('web');
    expect(a.getServiceConstraints('web')).toBeUndefined();
    a.releaseAdmission('from-b');
    expect([a.capacityGeneration(), a.reservedCapacity().size]).toEqual([2, 0]);
    expect(b.reservedCapacity().size).toBe(0);
  });

  test('read cache: a remembered reservation list holds only until its first admission expires, and never backwards in time', () => {
    const dir = newDir();
    const store = openStore(dir, { clock: clock(T0).now });
    store.recordAdmission(admission('short', [{ hostId: 'h1', cpus: 1 }], { expiresAt: new Date(T0 + MIN).toISOString() }));
    store.recordAdmission(admission('long', [{ hostId: 'h1', cpus: 2 }], { expiresAt: new Date(T0 + 10 * MIN).toISOString() }));
    expect(store.reservedCapacity(T0 + 30_000).get('h1')).toEqual({ cpus: 3, memoryMb: 0 });
    expect(store.reservedCapacity(T0 + MIN - 1).get('h1')).toEqual({ cpus: 3, memoryMb: 0 });
    expect(store.reservedCapacity(T0 + MIN).get('h1')).toEqual({ cpus: 2, memoryMb: 0 });
    expect(store.reservedCapacity(T0 + 5 * MIN).get('h1')).toEqual({ cpus: 2, memoryMb: 0 });
    expect(store.reservedCapacity(T0).get('h1')).toEqual({ cpus: 3, memoryMb: 0 }); // earlier than the cached read
    expect(store.reservedCapacity(T0 + 10 * MIN).size).toBe(0);
  });

  test('admissionReads: one call gives what the single reads give, with or without reservations, also inside a transaction', () => {
    const store = openStore(newDir(), { clock: clock(T0).now });
    store.setServiceConstraints('web', { cost: 42 });
    store.recordAdmission(admission('a1', [{ hostId: 'h1', cpus: 2 }]));
    const services = [{ serviceId: 'web', fromManifest: { trust: 3 } }, { serviceId: 'db' }];
    const expected = {
      generation: store.capacityGeneration(),
      reserved: store.reservedCapacity(T0),
      policy: store.getPolicy(),
      constraints: [store.explainConstraints('web', { trust: 3 }), store.explainConstraints('db')],
    };
    expect(expected.constraints[0]).toMatchObject({ constraints: { trust: 3, cost: 42 }, sources: { trust: 'manifest', cost: 'service' } });
    expect(store.admissionReads(services, { now: T0, withReservations: true })).toEqual(expected);
    const { reserved: _r, ...withoutReservations } = expected;
    expect(store.admissionReads(services, { now: T0, withReservations: false })).toEqual(withoutReservations);
    // Inside a transaction the cache is bypassed; the answer is the same.
    const inTx = (store as unknown as { db: Database.Database }).db.transaction(() => store.admissionReads(services, { now: T0, withReservations: true }))();
    expect(inTx).toEqual(expected);
  });

  test('read cache: shared records are frozen', () => {
    const store = openStore(newDir());
    store.setServiceConstraints('web', { cost: 42 });
    for (const record of [store.getPolicy(), store.getDefaultConstraints(), store.getServiceConstraints('web')!]) {
      expect(Object.isFrozen(record)).toBe(true);
      expect(Object.values(record).filter((v) => typeof v === 'object').every((v) => Object.isFrozen(v))).toBe(true);
    }
  });

  test('a writer blocked past the busy timeout gets AC_ERR_TIMEOUT, not a hang', () => {
    const dir = newDir();
    const store = openStore(dir, { busyTimeoutMs: 50 });
    const locker = new Database(path.join(dir, DATABASE_FILE));
    try {
      locker.exec('BEGIN IMMEDIATE');
      expect(codeOf(() => store.setPolicy(DEFAULT_WEIGHTS))).toBe('AC_ERR_TIMEOUT');
      // Readers are not blocked by the writer (WAL).
      expect(store.getPolicy().generation).toBe(1);
      locker.exec('ROLLBACK');
      expect(store.setPolicy(DEFAULT_WEIGHTS).generation).toBe(2);
    } finally {
      locker.close();
    }
  });
});
