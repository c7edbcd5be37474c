/**
 * What only the PostgreSQL ledger has, on a throwaway cluster with the server's default settings (fsync on,
 * synchronous_commit on): migrations (from an empty database, from the previous schema version, newer schemas
 * refused, replicas starting together), the durability check at open, several replicas as real child processes racing
 * for the last capacity and calling advance() at once, a polling reader under concurrent writers, one deliverer per
 * subscription across connections, and kill -9 of a process (then an immediate stop of the server) during 1,000 commits.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdmissionError } from '../../model/errors';
import { ledgerMigrationStatus, migrateLedger, openLedger } from '../../ledger';
import { PostgresLedger, type PostgresLedgerOptions } from '../../ledger/postgres/postgres-ledger';
import { MIGRATIONS, NEWEST_SCHEMA_VERSION, migrate, migrationStatus } from '../../ledger/postgres/migrations';
import type { DeliveryClaim, Ledger, LedgerEvent } from '../../ledger/types';
import { describePostgres, PostgresCluster } from '../support/postgres';
import { CONFORMANCE_OPTIONS, FLEET, MIN, T0, booking, request } from './conformance';
import { ManualClock } from './manual-clock';

const DIST_LEDGER = path.join(__dirname, '..', '..', 'dist', 'ledger', 'index.js');

async function errorOf(p: Promise<unknown>): Promise<AdmissionError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AdmissionError) return e;
    throw e;
  }
  throw new Error('expected an AdmissionError, got success');
}

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

const OPEN = `
  const open = (url, clock) => openLedger({ dataDir: '/nonexistent', databaseUrl: url, clock, defaultWeights: { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 }, defaultConstraints: { eco: 0, trust: 0, risk: 7, cost: 1e6 } });
  const waitUntil = async (t) => { while (Date.now() < t) await new Promise((r) => setTimeout(r, 1)); };
`;

describePostgres('PostgresLedger: replicas on one database', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    // The server's default settings (fsync on): the durability tests below rely on them.
    cluster = await PostgresCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const opened: Ledger[] = [];
  afterEach(async () => {
    for (const l of opened.splice(0)) await l.close();
  });
  function options(databaseUrl: string, clock: ManualClock, extra: Partial<PostgresLedgerOptions> = {}): PostgresLedgerOptions {
    return { ...CONFORMANCE_OPTIONS, databaseUrl, clock: clock.fn, ...extra };
  }
  async function open(databaseUrl: string, clock = new ManualClock(T0), extra: Partial<PostgresLedgerOptions> = {}): Promise<PostgresLedger> {
    const l = await PostgresLedger.open(options(databaseUrl, clock, extra));
    opened.push(l);
    return l;
  }
  const tables = async (url: string): Promise<string[]> =>
    (await cluster.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", [], new URL(url).pathname.slice(1))).map((r) => r.t);
  const sql = <T extends Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> => cluster.query<T>(text, params, new URL(url).pathname.slice(1));

  // -------------------------------------------------------------------------------------------
  describe('opening, durability, migrations', () => {
    test('openLedger({ databaseUrl }) migrates an empty database to the newest schema; synchronous_commit and fsync are on', async () => {
      const url = await cluster.createDatabase();
      expect(await migrationStatus(url)).toMatchObject({ exists: false, applied: [], current: 0, pending: MIGRATIONS.map((m) => ({ version: m.version, name: m.name })) });
      const ledger = (await openLedger({ ...CONFORMANCE_OPTIONS, dataDir: '/nonexistent', databaseUrl: url })) as PostgresLedger;
      opened.push(ledger);
      expect(ledger.kind).toBe('postgres');
      expect(ledger.durability).toEqual({ synchronousCommit: 'on', fsync: 'on' });
      expect(ledger.migrations).toMatchObject({ current: NEWEST_SCHEMA_VERSION, pending: [] });
      expect(await tables(url)).toEqual([
        'admissions',
        'allocations',
        'audit',
        'capacity_window_hosts',
        'capacity_windows',
        'changes',
        'charge_balances',
        'charges',
        'dead_letters',
        'decisions',
        'default_constraints',
        'deployments',
        'events',
        'host_capabilities',
        'hosts',
        'idempotency_keys',
        'ledger_tail',
        'policy',
        'schema_migrations',
        'service_constraints',
        'subscriptions',
      ]);
      const status = await ledgerMigrationStatus({ dataDir: '/nonexistent', databaseUrl: url });
      expect(status).toMatchObject({ kind: 'postgres', exists: true, current: NEWEST_SCHEMA_VERSION, newestKnown: NEWEST_SCHEMA_VERSION, pending: [] });
      expect(status.location).toBe(url);
      expect(status.applied.map((a) => a.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(status.applied.every((a) => typeof a.appliedAt === 'number')).toBe(true);
    });

    test('migrateLedger migrates without opening a ledger (eac db migrate); the password never shows in the status', async () => {
      const url = await cluster.createDatabase();
      const withPassword = url.replace('postgres@', 'postgres:hunter2@');
      const s = await migrateLedger({ ...CONFORMANCE_OPTIONS, dataDir: '/nonexistent', databaseUrl: withPassword });
      expect(s).toMatchObject({ kind: 'postgres', current: NEWEST_SCHEMA_VERSION, pending: [] });
      expect(s.location).not.toContain('hunter2');
      // Settings are seeded by the first open, not by the migration.
      expect(await sql(url, 'SELECT count(*)::int AS n FROM policy')).toEqual([{ n: 0 }]);
    });

    test('from the previous schema version (1): the outbox tables are added, the data of version 1 is kept and served', async () => {
      const url = await cluster.createDatabase();
      expect((await migrate(url, { to: 1 })).current).toBe(1);
      expect(await tables(url)).not.toContain('events');
      // What a release on schema 1 wrote: settings, inventory, a held admission and a confirmed one, their change rows.
      await sql(url, 'INSERT INTO policy VALUES (1, 0.7, 0.1, 0.1, 0.1, 4, $1)', [T0]);
      await sql(url, 'INSERT INTO default_constraints VALUES (1, 1, 2, 3, 400, 2, $1)', [T0]);
      await sql(url, "INSERT INTO service_constraints VALUES ('web', NULL, NULL, NULL, 42, false, 3, $1)", [T0]);
      await sql(url, "INSERT INTO hosts VALUES ('h1', 8, 0, 16384, 0, 3, false, $1), ('h2', 4, 0, NULL, NULL, 1, false, $1)", [T0]);
      await sql(
        url,
        `INSERT INTO admissions (id, owner, service_id, decision, status, start_ms, end_ms, hold_expires_ms, created_ms, confirmed_ms, generation, response_json)
         VALUES ('old-held', 'alice', 'web', 'accepted', 'held', $1, $2, $3, $1, NULL, 1, '{"id":"old-held"}'),
                ('old-run', 'bob', 'db', 'partial', 'active', $1, NULL, $3, $1, $1, 2, '{}')`,
        [T0, T0 + 60 * MIN, T0 + 15 * MIN],
      );
      await sql(url, "INSERT INTO allocations VALUES ('old-held', 'h1', 2, 1024), ('old-run', 'h1', 5, 0)");
      await sql(url, "INSERT INTO changes VALUES (1, 'host', 'h1', $1), (2, 'host', 'h2', $1), (3, 'admission', 'old-held', $1), (4, 'admission', 'old-run', $1)", [T0]);
      await sql(url, 'UPDATE ledger_tail SET change_seq = 4');
      expect((await migrationStatus(url)).pending.map((p) => p.version)).toEqual(MIGRATIONS.map((m) => m.version).filter((v) => v > 1));

      const clock = new ManualClock(T0 + MIN);
      const ledger = await open(url, clock);
      expect(ledger.migrations).toMatchObject({ current: NEWEST_SCHEMA_VERSION, pending: [] });
      expect(await ledger.policy()).toEqual({ weights: { cost: 0.7, eco: 0.1, risk: 0.1, trust: 0.1 }, generation: 4, updatedAt: T0 });
      expect((await ledger.serviceConstraints('web'))!.constraints).toEqual({ cost: 42 });
      expect(await ledger.get('old-held')).toMatchObject({ status: 'held', owner: 'alice', hosts: [{ hostId: 'h1', cpus: 2, memoryMb: 1024 }], response: { id: 'old-held' } });
      expect((await ledger.capacity({ start: T0 + MIN, end: T0 + 2 * MIN })).hosts[0]).toMatchObject({ hostId: 'h1', reservedCpus: 7, freeCpus: 1, generation: 3 });
      expect(await ledger.lastEventSeq()).toBe(0);
      // The new tables work: the next booking is event 1, the expiry event 2.
      await ledger.book(request([booking('new', { hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }], holdExpiresAt: T0 + 30 * MIN })]));
      expect((await ledger.advance(T0 + 15 * MIN)).events.map((e) => [e.seq, e.type, e.subject])).toEqual([[2, 'admission.expired', 'old-held']]);
      expect((await ledger.events(0)).map((e) => e.seq)).toEqual([1, 2]);
      expect((await ledger.audit()).length).toBe(0);
    });

    test('a database with a newer schema is refused with AC_ERR_CONFIG naming both versions', async () => {
      const url = await cluster.createDatabase();
      await migrate(url);
      await sql(url, 'INSERT INTO schema_migrations VALUES ($1, $2, 0)', [NEWEST_SCHEMA_VERSION + 1, 'from the future']);
      const e = await errorOf(PostgresLedger.open(options(url, new ManualClock())));
      expect(e.code).toBe('AC_ERR_CONFIG');
      expect(e.message).toContain(`schema version ${NEWEST_SCHEMA_VERSION + 1}`);
      expect(e.message).toContain(`this code's ${NEWEST_SCHEMA_VERSION}`);
      expect((await errorOf(migrate(url))).code).toBe('AC_ERR_CONFIG');
      await expect(migrationStatus(url)).resolves.toMatchObject({ current: NEWEST_SCHEMA_VERSION + 1 });
    });

    test('a database with tables but no schema_migrations is not a ledger database', async () => {
      const url = await cluster.createDatabase();
      await sql(url, 'CREATE TABLE something (x int)');
      expect((await errorOf(PostgresLedger.open(options(url, new ManualClock())))).code).toBe('AC_ERR_CONFIG');
    });

    test('a server that cannot be reached is AC_ERR_CONFIG at open', async () => {
      const e = await errorOf(PostgresLedger.open(options(`postgres://postgres@127.0.0.1:1/none`, new ManualClock())));
      expect(e.code).toBe('AC_ERR_CONFIG');
      expect(e.message).toContain('cannot connect');
    });

    test('synchronous_commit = off is refused at open (acknowledged admissions could be lost), unless requireDurable is false', async () => {
      const url = await cluster.createDatabase();
      const db = new URL(url).pathname.slice(1);
      await cluster.query(`ALTER DATABASE ${db} SET synchronous_commit = off`);
      const e = await errorOf(PostgresLedger.open(options(url, new ManualClock())));
      expect(e.code).toBe('AC_ERR_CONFIG');
      expect(e.message).toContain('synchronous_commit = off');
      const unsafe = await open(url, new ManualClock(), { requireDurable: false });
      expect(unsafe.durability.synchronousCommit).toBe('off');
    });

    test('replicas opening an empty database at once migrate it once', async () => {
      const url = await cluster.createDatabase();
      const script = `
        const [mod, url, startAt] = process.argv.slice(1);
        const { openLedger } = require(mod);
        ${OPEN}
        (async () => {
          await waitUntil(Number(startAt));
          const l = await open(url);
          process.stdout.write(String((await l.policy()).generation));
          await l.close();
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const startAt = String(Date.now() + 1500);
      expect(await Promise.all([0, 1, 2].map(() => runWorker(script, [url, startAt])))).toEqual(['1', '1', '1']);
      const s = await migrationStatus(url);
      expect(s.applied.map((a) => a.version)).toEqual(MIGRATIONS.map((m) => m.version));
    }, 60_000);
  });

  // -------------------------------------------------------------------------------------------
  // Real child processes, each a replica with its own pool.

  /** argv: [mod, url, name, count, startAt]; 16 requests in flight: 1/3 CPU-bound on h1, 1/3 memory-bound on h2, 1/3 on both. */
  const RACE_WORKER = `
    const [mod, url, name, count, startAt] = process.argv.slice(1);
    const { openLedger } = require(mod);
    ${OPEN}
    (async () => {
      const T0 = ${T0};
      const ledger = await open(url, () => T0);
      await waitUntil(Number(startAt));
      let booked = [], conflicts = 0, next = 0;
      const shapes = [
        [{ hostId: 'h1', cpus: 1, memoryMb: 0 }],
        [{ hostId: 'h2', cpus: 1, memoryMb: 512 }],
        [{ hostId: 'h1', cpus: 1, memoryMb: 0 }, { hostId: 'h2', cpus: 0, memoryMb: 512 }],
      ];
      const one = async () => {
        for (let i; (i = next++) < Number(count); ) {
          const id = name + '-' + i;
          try {
            await ledger.book({ actor: name, bookings: [{ id, owner: name, serviceId: 's' + i, decision: 'accepted', window: { start: T0, end: T0 + 3600000 }, holdExpiresAt: T0 + 900000, hosts: shapes[i % 3], response: {} }] });
            booked.push(id);
          } catch (e) {
            if (e.code === 'AC_ERR_CAPACITY_CONFLICT') conflicts++; else throw e;
          }
          await ledger.capacity({ start: T0, end: T0 + 3600000 });
        }
      };
      await Promise.all(Array.from({ length: 16 }, one));
      process.stdout.write(JSON.stringify({ booked, conflicts }));
      await ledger.close();
    })().catch((e) => { console.error(e); process.exit(1); });
  `;

  /** argv: [mod, url, name, at, startAt]: advance(at[k]) at startAt + k s (every process at the same instant at once), prints the events. */
  const ADVANCE_WORKER = `
    const [mod, url, name, at, startAt] = process.argv.slice(1);
    const { openLedger } = require(mod);
    ${OPEN}
    (async () => {
      const ledger = await open(url, () => ${T0});
      const out = [];
      let k = 0;
      for (const t of at.split(',')) {
        await waitUntil(Number(startAt) + 1000 * k++);
        out.push(...(await ledger.advance(Number(t))).events.map((e) => [e.seq, e.type, e.subject]));
      }
      process.stdout.write(JSON.stringify(out));
      await ledger.close();
    })().catch((e) => { console.error(e); process.exit(1); });
  `;

  test('three processes racing for the last CPUs and MB never double-book; then each lifecycle transition is recorded once by concurrent advance()', async () => {
    expect(fs.existsSync(DIST_LEDGER)).toBe(true);
    const url = await cluster.createDatabase();
    const ledger = await open(url);
    await ledger.syncHosts(
      [
        { id: 'h1', cpus: 25, usedCpus: 0, memoryMb: 1 << 20, usedMemoryMb: 0 },
        { id: 'h2', cpus: 1000, usedCpus: 0, memoryMb: 8192, usedMemoryMb: 1024 },
        { id: 'h3', cpus: 100, usedCpus: 0 },
      ],
      'host-info',
    );
    const startAt = String(Date.now() + 2000);
    type Result = { booked: string[]; conflicts: number };
    const results = (await Promise.all(['p1', 'p2', 'p3'].map((n) => runWorker(RACE_WORKER, [url, n, '60', startAt])))).map((o) => JSON.parse(o) as Result);
    const booked = results.flatMap((r) => r.booked);
    expect(booked.length + results.reduce((s, r) => s + r.conflicts, 0)).toBe(180);
    // Exactly full, never over: 25 CPUs on h1, 7168 MB (14 × 512) on h2.
    const sums = await sql<{ host_id: string; cpus: number; mem: number }>(
      url,
      "SELECT al.host_id, sum(al.cpus)::float8 AS cpus, sum(al.memory_mb)::float8 AS mem FROM allocations al JOIN admissions a ON a.id = al.admission_id WHERE a.status = 'held' GROUP BY al.host_id ORDER BY al.host_id",
    );
    const onlyB = booked.filter((id) => Number(id.split('-')[1]) % 3 === 1).length;
    expect(sums).toEqual([
      { host_id: 'h1', cpus: 25, mem: 0 },
      { host_id: 'h2', cpus: onlyB, mem: 7168 },
    ]);
    const view = await ledger.capacity({ start: T0, end: T0 + 60 * MIN });
    expect(view.hosts.slice(0, 2).map((h) => [h.hostId, h.freeCpus, h.freeMemoryMb])).toEqual([
      ['h1', 0, (1 << 20)],
      ['h2', 1000 - onlyB, 0],
    ]);
    expect((await ledger.list({}, { limit: 1000 })).items).toHaveLength(booked.length);
    // Every booking one admission.held, numbered 1…n with no gap (3 inventory events first).
    const events = await ledger.events(3, { limit: 1000 });
    expect(events.map((e) => e.seq)).toEqual(booked.map((_, i) => i + 4));
    expect(new Set(events.map((e) => e.subject))).toEqual(new Set(booked));

    // Lifecycle: reservations on h3 that start and end before T0 + 30 min, confirmed; then three processes advance at once.
    for (let i = 0; i < 20; i++) await ledger.book(request([booking(`c${i}`, { window: { start: T0 + 10 * MIN, end: T0 + 20 * MIN }, holdExpiresAt: T0 + 5 * MIN, hosts: [{ hostId: 'h3', cpus: 1, memoryMb: 0 }] })]));
    for (let i = 0; i < 10; i++) await ledger.confirm(`c${i}`, 'alice');
    const at = [T0 + 5 * MIN, T0 + 12 * MIN, T0 + 15 * MIN, T0 + 30 * MIN].join(',');
    const startAdvance = String(Date.now() + 1500);
    const seen = (await Promise.all(['a1', 'a2', 'a3'].map((n) => runWorker(ADVANCE_WORKER, [url, n, at, startAdvance])))).flatMap((o) => JSON.parse(o) as [number, string, string][]);
    const want = [
      ...booked.map((id) => `admission.expired ${id}`),
      ...Array.from({ length: 10 }, (_, i) => `admission.expired c${i + 10}`),
      ...Array.from({ length: 10 }, (_, i) => [`reservation.started c${i}`, `reservation.ending c${i}`, `reservation.ended c${i}`]).flat(),
    ];
    expect(seen.map(([, type, subject]) => `${type} ${subject}`).sort()).toEqual(want.sort());
    expect(new Set(seen.map(([seq]) => seq)).size).toBe(seen.length);
    expect((await ledger.capacity({ start: T0, end: T0 + 60 * MIN })).totals.reservedCpus).toBe(0);
    expect((await ledger.advance(T0 + 30 * MIN)).events).toEqual([]);
  }, 120_000);

  // -------------------------------------------------------------------------------------------
  test('a reader polling events(after) under concurrent writers on four connections never skips an event and never sees one out of order', async () => {
    const url = await cluster.createDatabase();
    const clock = new ManualClock(T0);
    const writers = await Promise.all([0, 1, 2, 3].map(() => open(url, clock)));
    const reader = await open(url, clock);
    await writers[0]!.syncHosts(Array.from({ length: 8 }, (_, i) => ({ id: `h${i}`, cpus: 1e6, usedCpus: 0 })), 'host-info');
    let stop = false;
    const seen: LedgerEvent[] = [];
    let cursor = await reader.lastEventSeq();
    const start = cursor;
    const poll = async (): Promise<void> => {
      for (;;) {
        const done = stop;
        const batch = await reader.events(cursor, { limit: 1000 });
        for (const e of batch) {
          // Numbers are gapless: the next event a reader can see is always cursor + 1.
          if (e.seq !== cursor + 1) throw new Error(`after ${cursor} the reader saw ${e.seq}: an event was skipped or seen out of order`);
          cursor = e.seq;
          seen.push(e);
        }
        if (done && batch.length === 0) return;
      }
    };
    const reading = poll();
    let n = 0;
    const deadline = Date.now() + 2500;
    await Promise.all(
      writers.flatMap((w, wi) =>
        Array.from({ length: 8 }, async (_, k) => {
          while (Date.now() < deadline) {
            const i = n++;
            if (k % 2 === 0) await w.emit({ type: 'capacity.changed', owner: null, subject: `w${wi}`, data: { i } });
            else await w.book(request([booking(`b${i}`, { hosts: [{ hostId: `h${i % 8}`, cpus: 1, memoryMb: 0 }], holdExpiresAt: T0 + 3600_000 })]));
          }
        }),
      ),
    );
    stop = true;
    await reading;
    const last = await reader.lastEventSeq();
    expect(cursor).toBe(last);
    expect(seen.length).toBe(last - start);
    expect(seen.length).toBeGreaterThan(200);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
  }, 60_000);

  // -------------------------------------------------------------------------------------------
  test('one deliverer per subscription across four connections (FOR UPDATE SKIP LOCKED): each event delivered once, in order', async () => {
    const url = await cluster.createDatabase();
    const clock = new ManualClock(T0);
    const deliverers = await Promise.all([0, 1, 2, 3].map(() => open(url, clock)));
    const writer = deliverers[0]!;
    for (let s = 0; s < 3; s++) await writer.subscribe({ id: `s${s}`, owner: 'op', seesAll: true, url: 'https://x.test', events: ['*'], secret: 'k', actor: 'op' });
    for (let i = 0; i < 60; i++) await writer.emit({ type: 'capacity.changed', owner: null, subject: `e${i}`, data: {} });
    const inFlight = new Map<string, string>();
    const delivered = new Map<string, number[]>();
    let overlaps = 0;
    let claims = 0;
    const loop = async (l: Ledger, name: string): Promise<void> => {
      let idle = 0;
      while (idle < 20) {
        const c: DeliveryClaim | undefined = await l.claimDelivery(T0, 600_000);
        if (!c) {
          idle++;
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        idle = 0;
        claims++;
        if (inFlight.has(c.subscription.id)) overlaps++;
        inFlight.set(c.subscription.id, name);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        inFlight.delete(c.subscription.id);
        (delivered.get(c.subscription.id) ?? delivered.set(c.subscription.id, []).get(c.subscription.id)!).push(c.event.seq);
        await l.settleDelivery(c.token, { ok: true });
      }
    };
    await Promise.all(deliverers.map((l, i) => loop(l, `d${i}`)));
    expect(overlaps).toBe(0);
    expect(claims).toBe(180);
    const seqs = (await writer.events(0, { limit: 1000 })).map((e) => e.seq);
    for (let s = 0; s < 3; s++) expect(delivered.get(`s${s}`)).toEqual(seqs);
    for (const s of await writer.subscriptions()) expect(s).toMatchObject({ delivered: 60, cursor: seqs[seqs.length - 1] });
  }, 60_000);

  // -------------------------------------------------------------------------------------------
  test('kill -9 of a process during 1,000 commits, then an immediate stop of the server: every acknowledged booking is there, none twice', async () => {
    const url = await cluster.createDatabase();
    const setup = await open(url);
    await setup.syncHosts([{ id: 'h1', cpus: 1e6, usedCpus: 0 }], 'host-info');
    await setup.close();
    opened.splice(opened.indexOf(setup), 1);
    // The crash below replays the WAL written since the last checkpoint: only this test's commits, not every database created before.
    await cluster.query('CHECKPOINT');
    const script = `
      const [mod, url] = process.argv.slice(1);
      const { openLedger } = require(mod);
      ${OPEN}
      (async () => {
        const T0 = ${T0};
        const l = await open(url, () => T0);
        let next = 0;
        const one = async () => {
          for (let i; (i = next++) < 1000; ) {
            await l.book({ actor: 'k', bookings: [{ id: 'k-' + i, owner: 'k', serviceId: 's', decision: 'accepted', window: { start: T0, end: null }, holdExpiresAt: T0 + 1e9, hosts: [{ hostId: 'h1', cpus: 0.5, memoryMb: 0 }], response: { i } }] });
            process.stdout.write('k-' + i + '\\n');
          }
        };
        await Promise.all(Array.from({ length: 8 }, one));
        process.stdout.write('done\\n');
      })();`;
    const acknowledged = await new Promise<string[]>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script, DIST_LEDGER, url], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length > 400) child.kill('SIGKILL');
      });
      child.on('error', reject);
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(out.split('\n').filter((x) => x.startsWith('k-'))) : reject(new Error(`exited without being killed (${String(signal)})`))));
    });
    expect(acknowledged.length).toBeGreaterThanOrEqual(400);
    expect(acknowledged.length).toBeLessThan(1000);
    // The server goes down without a checkpoint (SIGQUIT) and recovers from its WAL.
    cluster.crash();
    cluster.restart();
    const after = await open(url);
    const rows = await sql<{ id: string; response_json: string }>(url, 'SELECT id, response_json FROM admissions ORDER BY id');
    const ids = new Set(rows.map((r) => r.id));
    for (const id of acknowledged) expect(ids.has(id)).toBe(true);
    expect(new Set(rows.map((r) => r.response_json)).size).toBe(rows.length);
    for (const r of rows) expect(JSON.parse(r.response_json)).toEqual({ i: Number(r.id.slice(2)) });
    const events = await after.events(1, { limit: 1000 });
    expect(events.map((e) => e.subject).sort()).toEqual([...ids].sort());
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 2));
    expect((await after.capacity({ start: T0, end: null })).hosts[0]!.reservedCpus).toBe(rows.length * 0.5);
    // The ledger goes on numbering after the crash.
    await after.book(request([booking('after-crash', { hosts: [{ hostId: 'h1', cpus: 1, memoryMb: 0 }], holdExpiresAt: T0 + 3600_000 })]));
    expect((await after.events(events[events.length - 1]!.seq)).map((e) => e.subject)).toEqual(['after-crash']);
  }, 120_000);

  test('a lost connection is AC_ERR_TIMEOUT, and the pool recovers once the server is back', async () => {
    const url = await cluster.createDatabase();
    const ledger = await open(url);
    await ledger.syncHosts(FLEET, 'host-info');
    await cluster.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [new URL(url).pathname.slice(1)]);
    // The pool's idle connections were killed: the first statements may fail, then it reconnects.
    let code = '';
    for (let i = 0; i < 5; i++) {
      try {
        await ledger.ping();
        break;
      } catch (e) {
        code = (e as AdmissionError).code;
      }
    }
    if (code !== '') expect(code).toBe('AC_ERR_TIMEOUT');
    await ledger.ping();
    expect((await ledger.book(request([booking('a')]))).kind).toBe('booked');
  });
});
