/**
 * SqliteLedger: the conformance suite on real files in a temp dir, plus what only SQLite has: migrations from the
 * state store's v1 files, refusal of newer schemas, several connections and processes on one file, durability.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { AdmissionError } from '../../model/errors';
import { DEFAULT_CONSTRAINTS, DEFAULT_WEIGHTS } from '../../model/types';
import { openLedger } from '../../ledger';
import { SqliteLedger, type SqliteLedgerOptions } from '../../ledger/sqlite/sqlite-ledger';
import { LEGACY_OWNER, MIGRATIONS, NEWEST_SCHEMA_VERSION, migrationStatus } from '../../ledger/sqlite/migrations';
import { CONFORMANCE_OPTIONS, FLEET, MIN, T0, booking, freeCapacityThresholdCase, ledgerConformance, request } from './conformance';
import { ManualClock } from './manual-clock';

let tmpRoot = '';
let dirCount = 0;
beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-test-'));
});
afterAll(() => {
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
});
function newDir(): string {
  return path.join(tmpRoot, `data-${++dirCount}`, 'nested');
}

function options(dataDir: string, clock: ManualClock, extra: Partial<SqliteLedgerOptions> = {}): SqliteLedgerOptions {
  return { ...CONFORMANCE_OPTIONS, dataDir, clock: clock.fn, ...extra };
}

ledgerConformance('sqlite', async () => {
  const dir = newDir();
  const clock = new ManualClock(T0);
  let ledger = await SqliteLedger.open(options(dir, clock));
  const others: SqliteLedger[] = [];
  return {
    ledger,
    clock,
    async reopen() {
      await ledger.close();
      ledger = await SqliteLedger.open(options(dir, clock));
      return ledger;
    },
    async second() {
      const l = await SqliteLedger.open(options(dir, clock));
      others.push(l);
      return l;
    },
    async cleanup() {
      await ledger.close();
      for (const o of others) await o.close();
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    },
  };
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof AdmissionError)) throw e;
    return e.code;
  }
  throw new Error('expected an AdmissionError');
}

describe('SqliteLedger: opening, durability, migrations', () => {
  test('openLedger creates <dataDir>/eac.sqlite in WAL mode with synchronous = FULL and foreign keys on', async () => {
    const dir = newDir();
    const ledger = (await openLedger({ ...CONFORMANCE_OPTIONS, dataDir: dir })) as SqliteLedger;
    try {
      expect(ledger.kind).toBe('sqlite');
      expect(ledger.file).toBe(path.join(dir, 'eac.sqlite'));
      expect(ledger.durability).toEqual({ journalMode: 'wal', synchronous: 'FULL' });
      const db = (ledger as unknown as { db: Database.Database }).db;
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('user_version', { simple: true })).toBe(NEWEST_SCHEMA_VERSION);
    } finally {
      await ledger.close();
    }
    const status = await migrationStatus(dir);
    expect(status).toMatchObject({ exists: true, current: NEWEST_SCHEMA_VERSION, newestKnown: NEWEST_SCHEMA_VERSION, pending: [] });
    expect(status.applied.map((a) => a.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(status.applied.every((a) => typeof a.appliedAt === 'number')).toBe(true);
    const db = new Database(path.join(dir, 'eac.sqlite'), { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      expect(tables).toEqual([
        'admissions',
        'allocations',
        'audit',
        'capacity_window_hosts',
        'capacity_windows',
        'changes',
        'charge_balances',
        'charges',
        'counters',
        'dead_letters',
        'decisions',
        'default_constraints',
        'deployments',
        'events',
        'host_capabilities',
        'hosts',
        'idempotency_keys',
        'policy',
        'schema_migrations',
        'service_constraints',
        'subscriptions',
      ]);
      // allocations' foreign key follows the renamed admissions table.
      expect((db.prepare('PRAGMA foreign_key_list(allocations)').all() as { table: string }[]).map((f) => f.table).sort()).toEqual(['admissions', 'hosts']);
      expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    } finally {
      db.close();
    }
  });

  test('synchronous = NORMAL can be chosen (benchmarks only)', async () => {
    const ledger = await SqliteLedger.open(options(newDir(), new ManualClock(), { synchronous: 'NORMAL' }));
    expect(ledger.durability.synchronous).toBe('NORMAL');
    await ledger.close();
  });

  test('migrationStatus of a missing file: everything pending', async () => {
    const s = await migrationStatus(newDir());
    expect(s).toMatchObject({ exists: false, applied: [], current: 0 });
    expect(s.pending.map((p) => p.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  test('a database with a newer schema is refused with AC_ERR_CONFIG naming both versions', async () => {
    const dir = newDir();
    await (await SqliteLedger.open(options(dir, new ManualClock()))).close();
    const db = new Database(path.join(dir, 'eac.sqlite'));
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(NEWEST_SCHEMA_VERSION + 1, 'from the future', 0);
    db.close();
    const e = await (SqliteLedger.open(options(dir, new ManualClock())).then(
      () => undefined,
      (x: unknown) => x as AdmissionError,
    ));
    expect(e).toBeInstanceOf(AdmissionError);
    expect(e!.code).toBe('AC_ERR_CONFIG');
    expect(e!.message).toContain(String(NEWEST_SCHEMA_VERSION + 1));
    expect(e!.message).toContain(String(NEWEST_SCHEMA_VERSION));
    await expect(migrationStatus(dir)).resolves.toMatchObject({ current: NEWEST_SCHEMA_VERSION + 1 });
  });

  test('a file that is not a ledger database is refused', async () => {
    const dir = newDir();
    fs.mkdirSync(dir, { recursive: true });
    const db = new Database(path.join(dir, 'eac.sqlite'));
    db.exec('CREATE TABLE something (x)');
    db.close();
    expect(await codeOf(SqliteLedger.open(options(dir, new ManualClock())))).toBe('AC_ERR_CONFIG');
  });

  test('a state-store v1 file (user_version 1, no schema_migrations) is upgraded in place, keeping settings and turning admissions into records', async () => {
    const dir = newDir();
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'eac.sqlite');
    // Written the way gateway/state-store.ts v1 writes it: its schema SQL, then its rows.
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    MIGRATIONS[0]!.up(old, { now: 0 });
    old.pragma('user_version = 1');
    const now = T0 + 10 * MIN;
    old.prepare('INSERT INTO policy VALUES (1, 0.7, 0.1, 0.1, 0.1, 4, ?)').run(T0);
    old.prepare('INSERT INTO default_constraints VALUES (1, 1, 2, 3, 400, 2, ?)').run(T0);
    old.prepare("INSERT INTO service_constraints VALUES ('web', NULL, NULL, NULL, 42, 0, 3, ?)").run(T0);
    old.prepare("INSERT INTO service_constraints VALUES ('gone', NULL, NULL, NULL, NULL, 1, 5, ?)").run(T0);
    const adm = old.prepare('INSERT INTO admissions VALUES (?, ?, ?, ?, ?, ?, ?)');
    const res = old.prepare('INSERT INTO reservations VALUES (?, ?, ?, ?)');
    // live: within its TTL at migration time; released: released before expiry; lapsed: expired; lateRelease: released after it expired.
    adm.run('live', 'svc', 'accepted', T0, T0 + 15 * MIN, null, '{"id":"live"}');
    res.run('live', 'h1', 2, 100);
    adm.run('released', 'svc', 'partial', T0 - MIN, T0 + 14 * MIN, T0 + MIN, '{"id":"released"}');
    res.run('released', 'h1', 1, 0);
    adm.run('lapsed', 'svc', 'accepted', T0 - 20 * MIN, T0 - 5 * MIN, null, '{}');
    res.run('lapsed', 'h9', 1, 0);
    adm.run('lateRelease', 'svc', 'accepted', T0 - 20 * MIN, T0 - 5 * MIN, T0, '{}');
    old.prepare("UPDATE counters SET value = 9 WHERE name = 'capacity'").run();
    old.close();
    expect((await migrationStatus(dir)).applied).toEqual([{ version: 1, name: MIGRATIONS[0]!.name, appliedAt: null }]);

    const clock = new ManualClock(now);
    const ledger = await SqliteLedger.open(options(dir, clock));
    try {
      expect(ledger.migrations.current).toBe(NEWEST_SCHEMA_VERSION);
      expect(await ledger.policy()).toEqual({ weights: { cost: 0.7, eco: 0.1, risk: 0.1, trust: 0.1 }, generation: 4, updatedAt: T0 });
      expect(await ledger.defaultConstraints()).toMatchObject({ constraints: { eco: 1, trust: 2, risk: 3, cost: 400 }, generation: 2 });
      expect(await ledger.serviceConstraints('web')).toMatchObject({ constraints: { cost: 42 }, generation: 3 });
      expect(await ledger.serviceConstraints('gone')).toBeUndefined();
      expect((await ledger.setServiceConstraints('gone', { cost: 1 }, 'op', 0)).generation).toBe(6); // tombstone kept
      expect(await ledger.get('live')).toEqual({
        id: 'live',
        owner: LEGACY_OWNER,
        serviceId: 'svc',
        decision: 'accepted',
        status: 'held',
        window: { start: T0, end: null },
        holdExpiresAt: T0 + 15 * MIN,
        expirySeconds: 900,
        createdAt: T0,
        hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 100 }],
        response: { id: 'live' },
        generation: 1,
      });
      expect(await ledger.get('released')).toMatchObject({ status: 'released', closedAt: T0 + MIN, decision: 'partial' });
      expect(await ledger.get('lapsed')).toMatchObject({ status: 'expired', closedAt: T0 - 5 * MIN });
      expect(await ledger.get('lateRelease')).toMatchObject({ status: 'expired', closedAt: T0 - 5 * MIN });
      // The hosts the old admissions named wait, removed, for host-info to report them; the live hold counts once it does.
      expect(await ledger.hosts()).toEqual([]);
      await ledger.syncHosts(FLEET, 'host-info');
      expect((await ledger.capacity({ start: now, end: now + MIN })).hosts[0]).toMatchObject({ hostId: 'h1', reservedCpus: 2 });
      expect((await ledger.advance(T0 + 15 * MIN)).events.map((e) => [e.type, e.subject])).toEqual([['admission.expired', 'live']]);
    } finally {
      await ledger.close();
    }
    const status = await migrationStatus(dir);
    expect(status.applied.map((a) => [a.version, a.appliedAt === null])).toEqual([
      [1, true],
      [2, false],
      [3, false],
      [4, false],
      [5, false],
      [6, false],
      [7, false],
      [8, false],
    ]);
  });

  test('a busy write lock past the busy timeout is AC_ERR_TIMEOUT, and readers are not blocked', async () => {
    const dir = newDir();
    const clock = new ManualClock(T0);
    const ledger = await SqliteLedger.open(options(dir, clock, { busyTimeoutMs: 50 }));
    await ledger.syncHosts(FLEET, 'host-info');
    const locker = new Database(path.join(dir, 'eac.sqlite'));
    try {
      locker.exec('BEGIN IMMEDIATE');
      expect(await codeOf(ledger.book(request([booking('a')])))).toBe('AC_ERR_TIMEOUT');
      expect((await ledger.capacity({ start: T0, end: T0 + MIN })).hosts).toHaveLength(3);
      locker.exec('ROLLBACK');
      expect((await ledger.book(request([booking('a')]))).kind).toBe('booked');
    } finally {
      locker.close();
      await ledger.close();
    }
  });

  freeCapacityThresholdCase(async (thresholds) => {
    const dir = newDir();
    const clock = new ManualClock(T0);
    const withThresholds = options(dir, clock, { freeCapacityThresholds: thresholds });
    return { clock, a: await SqliteLedger.open(withThresholds), b: await SqliteLedger.open(withThresholds), cleanup: async () => undefined };
  });

  test('freeCapacityThresholds outside (0, 1) are refused at open', async () => {
    await expect(SqliteLedger.open(options(newDir(), new ManualClock(T0), { freeCapacityThresholds: [0.2, 1] }))).rejects.toThrow(/strictly between 0 and 1/);
  });

  test('a failure half-way through a write rolls everything back (admission rows, events, generations)', async () => {
    const dir = newDir();
    const clock = new ManualClock(T0);
    const first = await SqliteLedger.open(options(dir, clock));
    await first.syncHosts(FLEET, 'host-info');
    await first.close();
    const db = new Database(path.join(dir, 'eac.sqlite'));
    db.exec("CREATE TRIGGER poison BEFORE INSERT ON allocations WHEN NEW.host_id = 'h3' BEGIN SELECT RAISE(ABORT, 'poisoned host'); END");
    db.close();
    // Opened after the trigger exists: the failure is then certain to happen inside the ledger's own write.
    const ledger = await SqliteLedger.open(options(dir, clock));
    const seq = await ledger.lastEventSeq();
    const outcome = await ledger.book(request([booking('a', { hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }, { hostId: 'h3', cpus: 1, memoryMb: 0 }] })])).then(
      (result) => ({ result }),
      (error: unknown) => ({ error: String(error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : error) }),
    );
    expect(outcome).toEqual({ error: expect.stringContaining('poisoned host') });
    expect(await ledger.get('a')).toBeUndefined();
    expect(await ledger.lastEventSeq()).toBe(seq);
    expect((await ledger.hosts()).map((h) => h.generation)).toEqual([1, 1, 1]);
    expect((await ledger.capacity({ start: T0, end: T0 + 60 * MIN })).totals.reservedCpus).toBe(0);
    await ledger.close();
  });

  test('syncHosts with an unchanged snapshot writes nothing (other connections see no commit)', async () => {
    const dir = newDir();
    const clock = new ManualClock(T0);
    const a = await SqliteLedger.open(options(dir, clock));
    const b = await SqliteLedger.open(options(dir, clock));
    try {
      await a.syncHosts(FLEET, 'host-info');
      const watcher = new Database(path.join(dir, 'eac.sqlite'), { readonly: true });
      const version = (): number => watcher.pragma('data_version', { simple: true }) as number;
      const before = version();
      expect(await b.syncHosts(FLEET, 'host-info')).toEqual([]);
      expect(await a.syncHosts([...FLEET].reverse(), 'host-info')).toEqual([]);
      expect(version()).toBe(before);
      await b.syncHosts([{ ...FLEET[0]!, usedCpus: 1 }, FLEET[1]!, FLEET[2]!], 'host-info');
      expect(version()).not.toBe(before);
      watcher.close();
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an index behind purged change rows reloads in full and stays exact', async () => {
    const dir = newDir();
    const clock = new ManualClock(T0);
    const a = await SqliteLedger.open(options(dir, clock));
    const b = await SqliteLedger.open(options(dir, clock));
    try {
      await a.syncHosts(FLEET, 'host-info');
      await b.capacity({ start: T0, end: T0 + MIN });
      await a.book(request([booking('x', { window: { start: T0, end: null }, holdExpiresAt: T0 + 100 * 3600_000, hosts: [{ hostId: 'h1', cpus: 5, memoryMb: 0 }] })]));
      // Two hours later the change rows are purged before b ever read them.
      await a.advance(T0 + 2 * 3600_000);
      const db = new Database(path.join(dir, 'eac.sqlite'), { readonly: true });
      expect(db.prepare('SELECT COUNT(*) AS n FROM changes').get()).toEqual({ n: 0 });
      db.close();
      expect((await b.capacity({ start: T0, end: T0 + MIN })).hosts[0]!.reservedCpus).toBe(5);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Several processes on one file (the service's AC_WORKERS): real child processes running the compiled ledger.

const DIST_LEDGER = path.join(__dirname, '..', '..', 'dist', 'ledger', 'index.js');

function runWorker(script: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, DIST_LEDGER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited with ${code}: ${err}`))));
  });
}

/** argv: [ledgerModule, dataDir, workerName, count, startAt]; waits until startAt so that the processes race. count 0: only advance(). */
const RACE_WORKER = `
const [mod, dataDir, name, count, startAt] = process.argv.slice(1);
const { openLedger } = require(mod);
(async () => {
  const T0 = ${T0};
  const ledger = await openLedger({ dataDir, clock: () => T0, defaultWeights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 }, defaultConstraints: { eco: 0, trust: 0, risk: 7, cost: 1e6 } });
  while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
  let booked = 0, conflicts = 0, advanced = [];
  for (let i = 0; i < Number(count); i++) {
    try {
      const r = await ledger.book({ actor: name, bookings: [{ id: name + '-' + i, owner: name, serviceId: 's', decision: 'accepted', window: { start: T0, end: T0 + 3600000 }, holdExpiresAt: T0 + 900000, hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }], response: {} }] });
      if (r.kind === 'booked') booked++;
    } catch (e) {
      if (e.code === 'AC_ERR_CAPACITY_CONFLICT') conflicts++; else throw e;
    }
    await ledger.capacity({ start: T0, end: T0 + 3600000 });
  }
  const adv = Number(count) === 0 ? await ledger.advance(T0 + 900000) : { events: [] };
  process.stdout.write(JSON.stringify({ booked, conflicts, expired: adv.events.filter((e) => e.type === 'admission.expired').map((e) => e.subject) }));
  await ledger.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('SqliteLedger: several processes on one file', () => {
  test('two processes racing for the last CPUs never double-book, and expire each hold exactly once', async () => {
    expect(fs.existsSync(DIST_LEDGER)).toBe(true);
    const dir = newDir();
    const clock = new ManualClock(T0);
    const ledger = await SqliteLedger.open(options(dir, clock));
    try {
      await ledger.syncHosts([{ id: 'h1', cpus: 25, usedCpus: 0 }], 'host-info');
      type Result = { booked: number; conflicts: number; expired: string[] };
      const race = async (count: string): Promise<Result[]> => {
        const startAt = String(Date.now() + 1500);
        const outs = await Promise.all(['p1', 'p2'].map((n) => runWorker(RACE_WORKER, [dir, n, count, startAt])));
        return outs.map((o) => JSON.parse(o) as Result);
      };
      const results = await race('40');
      expect(results[0]!.booked + results[1]!.booked).toBe(25);
      expect(results[0]!.conflicts + results[1]!.conflicts).toBe(80 - 25);
      // Then both advance() past the holds' expiry at once: each hold is recorded expired by exactly one of them.
      const expired = (await race('0')).flatMap((r) => r.expired);
      expect(expired).toHaveLength(25);
      expect(new Set(expired).size).toBe(25);
      const page = await ledger.list({}, { limit: 1000 });
      expect(page.items).toHaveLength(25);
    } finally {
      await ledger.close();
    }
  }, 60_000);

  test('processes opening a fresh file at once migrate it once', async () => {
    const dir = newDir();
    const script = `
      const [mod, dataDir, startAt] = process.argv.slice(1);
      const { openLedger } = require(mod);
      (async () => {
        while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
        const l = await openLedger({ dataDir, defaultWeights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 }, defaultConstraints: { eco: 0, trust: 0, risk: 7, cost: 1e6 } });
        process.stdout.write(String((await l.policy()).generation));
        await l.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    // Several rounds of four: the races (two processes switching the fresh file to WAL, one reading the schema while
    // another commits the first migration) each lost about one process in sixty before they were fixed.
    for (let round = 0; round < 4; round++) {
      const fresh = round === 0 ? dir : newDir();
      const startAt = String(Date.now() + (round === 0 ? 1500 : 700));
      const outs = await Promise.all([0, 1, 2, 3].map(() => runWorker(script, [fresh, startAt])));
      expect(outs).toEqual(['1', '1', '1', '1']);
      const s = await migrationStatus(fresh);
      expect(s.applied.map((a) => a.version)).toEqual(MIGRATIONS.map((m) => m.version));
    }
  }, 60_000);
});

test('acknowledged admissions survive kill -9 of the process that booked them', async () => {
  const dir = newDir();
  const setup = await SqliteLedger.open(options(dir, new ManualClock(T0)));
  await setup.syncHosts([{ id: 'h1', cpus: 1000, usedCpus: 0 }], 'host-info');
  await setup.close();
  const script = `
    const [mod, dataDir] = process.argv.slice(1);
    const { openLedger } = require(mod);
    (async () => {
      const T0 = ${T0};
      const l = await openLedger({ dataDir, clock: () => T0, defaultWeights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 }, defaultConstraints: { eco: 0, trust: 0, risk: 7, cost: 1e6 } });
      for (let i = 0; ; i++) {
        await l.book({ actor: 'k', bookings: [{ id: 'k-' + i, owner: 'k', serviceId: 's', decision: 'accepted', window: { start: T0, end: null }, holdExpiresAt: T0 + 1e9, hosts: [{ hostId: 'h1', cpus: 0.5, memoryMb: 0 }], response: { i } }] });
        process.stdout.write('k-' + i + '\\n');
      }
    })();`;
  const acknowledged = await new Promise<string[]>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, DIST_LEDGER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > 40) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(out.split('\n').filter((x) => x !== '')) : reject(new Error(`exited without being killed (${String(signal)})`))));
  });
  expect(acknowledged.length).toBeGreaterThanOrEqual(40);
  const after = await SqliteLedger.open(options(dir, new ManualClock(T0)));
  try {
    for (const id of acknowledged) expect((await after.get(id))?.status).toBe('held');
    expect((await after.capacity({ start: T0, end: null })).hosts[0]!.reservedCpus).toBeGreaterThanOrEqual(acknowledged.length * 0.5);
  } finally {
    await after.close();
  }
}, 60_000);

test('the same database opened twice in one process shares nothing but the file', async () => {
  const dir = newDir();
  const clock = new ManualClock(T0);
  const a = await SqliteLedger.open(options(dir, clock));
  const b = await SqliteLedger.open(options(dir, clock, { defaultWeights: { cost: 1, eco: 0, risk: 0, trust: 0 } }));
  try {
    // Seeds come from the config only when the database has none.
    expect((await b.policy()).weights).toEqual(DEFAULT_WEIGHTS);
    expect((await a.defaultConstraints()).constraints).toEqual(DEFAULT_CONSTRAINTS);
  } finally {
    await a.close();
    await b.close();
  }
});
