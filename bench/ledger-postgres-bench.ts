/**
 * PostgreSQL ledger benchmark (issue "Several replicas on PostgreSQL, one ledger"):
 * `node dist/bench/ledger-postgres-bench.js` prints
 *   1. book() throughput and latency with 1 and 3 processes (replicas) on one database, 16 requests in flight each:
 *      admissions/s, p50 / p99 ms, transactions (group commits) and retries;
 *   2. capacity(window) for the whole fleet at 1,000 / 10,000 / 100,000 recorded reservations: p50 / p99 ms, the
 *      time a replica takes to load its index at open, and capacity() right after another replica's booking (the
 *      change feed applied incrementally).
 * Options: --url postgres://… (an existing server; default: a throwaway cluster with the server's default settings,
 * fsync on, started like the tests' — as the `postgres` user when run as root), --sizes 1000,10000,100000,
 * --hosts 320, --seconds 5, --processes 1,3, --inflight 16, --isolation row-locks[,serializable] (the alternative the
 * ledger does not use, for comparison), --quick (sizes 1000,10000; 2 s runs).
 */
import { spawn } from 'node:child_process';
import { Client } from 'pg';
import { PostgresLedger } from '../ledger/postgres/postgres-ledger';
import { migrate } from '../ledger/postgres/migrations';
import type { BookingInput, HostInventory } from '../ledger/types';
import { PostgresCluster } from '../test/support/postgres';
import { Rng } from './rng';

const WEIGHTS = { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 };
const CONSTRAINTS = { eco: 0, trust: 0, risk: 7, cost: 1_000_000 };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const HORIZON = 365 * DAY;

function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function fleet(n: number): HostInventory[] {
  return Array.from({ length: n }, (_, i) => ({ id: `host-${String(i).padStart(4, '0')}`, cpus: 256, usedCpus: 8, memoryMb: 1 << 20, usedMemoryMb: 16384 }));
}

function randomBooking(r: () => number, hosts: readonly HostInventory[], id: string, short = false): BookingInput {
  const n = 1 + Math.floor(r() * 2);
  const picked = new Set<string>();
  while (picked.size < n) picked.add(hosts[Math.floor(r() * hosts.length)]!.id);
  const start = T0 + Math.floor(r() * HORIZON);
  return {
    id,
    owner: `client-${Math.floor(r() * 20)}`,
    serviceId: `svc-${id}`,
    decision: 'accepted',
    window: { start, end: start + (short ? HOUR : HOUR + Math.floor(r() * 7 * DAY)) },
    holdExpiresAt: T0 + 10 * 365 * DAY,
    hosts: [...picked].map((hostId) => ({ hostId, cpus: short ? 0.01 : 1 + Math.floor(r() * 4), memoryMb: short ? 1 : 1024 * (1 + Math.floor(r() * 8)) })),
    response: { id, decision: 'accepted' },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const ms = (n: number): string => (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n.toFixed(1));
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function openBench(url: string, poolSize = 10, isolation: 'row-locks' | 'serializable' = 'row-locks'): Promise<PostgresLedger> {
  return PostgresLedger.open({ databaseUrl: url, clock: () => T0, defaultWeights: WEIGHTS, defaultConstraints: CONSTRAINTS, busyTimeoutMs: 30_000, poolSize, isolation });
}

async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  await migrate(url);
  return url;
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.end();
}

/** Books `count` reservations, 500 per request. */
async function seed(ledger: PostgresLedger, hosts: readonly HostInventory[], count: number, r: () => number, prefix: string): Promise<void> {
  for (let done = 0; done < count; ) {
    const batch: BookingInput[] = [];
    for (let i = 0; i < 500 && done < count; i++, done++) batch.push(randomBooking(r, hosts, `${prefix}-${done}`));
    await ledger.book({ bookings: batch, actor: 'bench' });
  }
}

// ---------------------------------------------------------------------------------------------
// Worker process: books for `seconds` with `inflight` requests in flight, prints its latencies.

interface WorkerResult {
  readonly latencies: number[];
  readonly conflicts: number;
  readonly failures: number;
  readonly retries: number;
  readonly elapsedMs: number;
}

async function worker(args: Map<string, string>): Promise<void> {
  const url = args.get('url')!;
  const name = args.get('name')!;
  const seconds = Number(args.get('seconds'));
  const inflight = Number(args.get('inflight'));
  const hosts = fleet(Number(args.get('hosts')));
  const startAt = Number(args.get('start-at'));
  const isolation = args.get('isolation') === 'serializable' ? 'serializable' : 'row-locks';
  const ledger = await openBench(url, Math.max(4, Math.ceil(inflight / 4)), isolation);
  const r = rng(Number(args.get('seed')));
  while (Date.now() < startAt) await new Promise((res) => setTimeout(res, 1));
  const latencies: number[] = [];
  let conflicts = 0;
  let failures = 0;
  let n = 0;
  const t0 = now();
  const deadline = t0 + seconds * 1000;
  const one = async (): Promise<void> => {
    while (now() < deadline) {
      const b = randomBooking(r, hosts, `${name}-${n++}`, true);
      const s = now();
      try {
        await ledger.book({ bookings: [b], actor: name });
      } catch (e) {
        if ((e as { code?: string }).code === 'AC_ERR_CAPACITY_CONFLICT') conflicts++;
        else {
          // serializable: a transaction that kept failing to serialise (50 tries) is counted, not fatal.
          failures++;
          continue;
        }
      }
      latencies.push(now() - s);
    }
  };
  await Promise.all(Array.from({ length: inflight }, one));
  const elapsedMs = now() - t0;
  const retries = ledger.retries;
  await ledger.close();
  process.stdout.write(JSON.stringify({ latencies, conflicts, failures, retries, elapsedMs } satisfies WorkerResult));
}

function runWorker(argv: string[]): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--worker', ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as WorkerResult) : reject(new Error(`worker exited with ${code}`))));
  });
}

async function commitsOf(url: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  const r = await c.query<{ n: string }>('SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()');
  await c.end();
  return Number(r.rows[0]!.n);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      args.set(a.slice(2), next);
      i++;
    } else args.set(a.slice(2), 'true');
  }
  if (args.has('worker')) return worker(args);
  const quick = args.has('quick');
  const sizes = (args.get('sizes') ?? (quick ? '1000,10000' : '1000,10000,100000')).split(',').map(Number);
  const hostCount = Number(args.get('hosts') ?? 320);
  const seconds = Number(args.get('seconds') ?? (quick ? 2 : 5));
  const processes = (args.get('processes') ?? '1,3').split(',').map(Number);
  const inflight = Number(args.get('inflight') ?? 16);
  const isolations = (args.get('isolation') ?? 'row-locks').split(',');
  let cluster: PostgresCluster | undefined;
  let adminUrl = args.get('url');
  if (!adminUrl) {
    cluster = await PostgresCluster.start();
    adminUrl = cluster.url();
  }
  const hosts = fleet(hostCount);
  try {
    const c = new Client({ connectionString: adminUrl });
    await c.connect();
    const info = await c.query<{ v: string; sc: string; fsync: string }>("SELECT version() AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync");
    await c.end();
    console.log(`# PostgreSQL ledger bench — ${info.rows[0]!.v.split(' on ')[0]}, synchronous_commit=${info.rows[0]!.sc}, fsync=${info.rows[0]!.fsync}, ${hostCount} hosts${cluster ? `, throwaway cluster (server as '${cluster.user}')` : ''}`);
    console.log('');
    console.log('## book(): one admission per request, 1–2 hosts each, random hosts');
    console.log('');
    console.log('| isolation | processes | in flight each | admissions/s | p50 ms | p99 ms | commits/s | admissions per commit | retried transactions | failed requests |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const isolation of isolations) for (const p of processes) {
      const url = await freshDatabase(adminUrl, 'bench_book');
      const setup = await openBench(url);
      await setup.syncHosts(hosts, 'bench');
      await setup.close();
      const before = await commitsOf(url);
      const startAt = Date.now() + 1500 + 300 * p;
      const results = await Promise.all(
        Array.from({ length: p }, (_, i) =>
          runWorker(['--url', url, '--name', `p${i}`, '--seconds', String(seconds), '--inflight', String(inflight), '--hosts', String(hostCount), '--start-at', String(startAt), '--seed', String(100 + i), '--isolation', isolation]),
        ),
      );
      const commits = (await commitsOf(url)) - before;
      const lat = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const elapsed = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
      const retries = results.reduce((s, r) => s + r.retries, 0);
      const failures = results.reduce((s, r) => s + r.failures, 0);
      console.log(
        `| ${isolation} | ${p} | ${inflight} | ${Math.round(lat.length / elapsed)} | ${ms(percentile(lat, 50))} | ${ms(percentile(lat, 99))} | ${Math.round(commits / elapsed)} | ${(lat.length / Math.max(1, commits)).toFixed(1)} | ${retries} | ${failures} |`,
      );
      await dropDatabase(adminUrl, 'bench_book');
    }
    console.log('');
    console.log('(commits/s counts every commit in the database during the run, read-only ones included: an upper bound on the group commits.)');
    console.log('');
    console.log('## capacity(window) for the whole fleet');
    console.log('');
    console.log('| reservations | index load at open ms | capacity p50 ms | capacity p99 ms | after another replica booked: p50 ms | heap MB |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const size of sizes) {
      const url = await freshDatabase(adminUrl, 'bench_capacity');
      const writer = await openBench(url);
      await writer.syncHosts(hosts, 'bench');
      await seed(writer, hosts, size, rng(size), 'seed');
      const t = now();
      const reader = await openBench(url);
      const loadMs = now() - t;
      const r = rng(7);
      const window = (): { start: number; end: number } => {
        const start = T0 + Math.floor(r() * HORIZON);
        return { start, end: start + DAY };
      };
      for (let i = 0; i < 20; i++) await reader.capacity(window());
      const plain: number[] = [];
      const deadline = now() + seconds * 1000;
      while (now() < deadline && plain.length < 2000) {
        const s = now();
        await reader.capacity(window());
        plain.push(now() - s);
      }
      const afterChange: number[] = [];
      for (let i = 0; i < 200; i++) {
        await writer.book({ bookings: [randomBooking(r, hosts, `chg-${i}`)], actor: 'bench' });
        const s = now();
        await reader.capacity(window());
        afterChange.push(now() - s);
      }
      plain.sort((a, b) => a - b);
      afterChange.sort((a, b) => a - b);
      const heap = process.memoryUsage().heapUsed / 2 ** 20;
      console.log(`| ${size} | ${Math.round(loadMs)} | ${ms(percentile(plain, 50))} | ${ms(percentile(plain, 99))} | ${ms(percentile(afterChange, 50))} | ${Math.round(heap)} |`);
      await reader.close();
      await writer.close();
      await dropDatabase(adminUrl, 'bench_capacity');
    }
  } finally {
    await cluster?.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
