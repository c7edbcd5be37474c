/**
 * Ledger benchmark (the issue "Capacity over time"): `node dist/bench/ledger-store-bench.js` prints
 *   1. capacity(window) for the whole fleet, book() and a windowed admission (capacity on the chosen hosts + book)
 *      at 1,000 / 10,000 / 100,000 recorded reservations: p50 / p99 ms, heap;
 *   2. book() throughput with 1 and 2 processes on one file, synchronous = FULL and NORMAL: admissions/s, p50 / p99.
 * Options: --sizes 1000,10000,100000  --hosts 320  --seconds 3  --quick (sizes 1000,10000; 1 s runs).
 * Everything runs on temp files under the OS temp dir, removed afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteLedger } from '../ledger/sqlite/sqlite-ledger';
import { Rng } from './rng';
import type { BookingInput, HostInventory } from '../ledger/types';

const WEIGHTS = { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 };
const CONSTRAINTS = { eco: 0, trust: 0, risk: 7, cost: 1_000_000 };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const HORIZON = 365 * DAY;

/** The bench's seeded generator (bench/rng.ts): the same reservations on every run. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function fleet(n: number): HostInventory[] {
  return Array.from({ length: n }, (_, i) => ({ id: `host-${String(i).padStart(4, '0')}`, cpus: 256, usedCpus: 8, memoryMb: 1 << 20, usedMemoryMb: 16384 }));
}

function randomWindow(r: () => number): { start: number; end: number } {
  const start = T0 + Math.floor(r() * HORIZON);
  return { start, end: start + HOUR + Math.floor(r() * 7 * DAY) };
}

function randomBooking(r: () => number, hosts: readonly HostInventory[], id: string): BookingInput {
  const n = 1 + Math.floor(r() * 2);
  const picked = new Set<string>();
  while (picked.size < n) picked.add(hosts[Math.floor(r() * hosts.length)]!.id);
  return {
    id,
    owner: `client-${Math.floor(r() * 20)}`,
    serviceId: `svc-${id}`,
    decision: 'accepted',
    window: randomWindow(r),
    // Holds that do not lapse during the run (the clock stands still at T0).
    holdExpiresAt: T0 + 10 * 365 * DAY,
    hosts: [...picked].map((hostId) => ({ hostId, cpus: 1 + Math.floor(r() * 4), memoryMb: 1024 * (1 + Math.floor(r() * 8)) })),
    response: { id, decision: 'accepted' },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function stats(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

const ms = (n: number): string => (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n.toFixed(1));
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function openBench(dir: string, synchronous: 'FULL' | 'NORMAL'): Promise<SqliteLedger> {
  return SqliteLedger.open({ dataDir: dir, clock: () => T0, defaultWeights: WEIGHTS, defaultConstraints: CONSTRAINTS, synchronous, busyTimeoutMs: 30_000 });
}

/** Books `count` reservations, 500 per transaction. */
async function seed(ledger: SqliteLedger, hosts: readonly HostInventory[], count: number, r: () => number, prefix: string): Promise<void> {
  for (let done = 0; done < count; ) {
    const batch: BookingInput[] = [];
    for (let i = 0; i < 500 && done < count; i++, done++) batch.push(randomBooking(r, hosts, `${prefix}-${done}`));
    await ledger.book({ bookings: batch, actor: 'bench' });
  }
}

interface SizeRow {
  reservations: number;
  seedS: number;
  capacity: { p50: number; p99: number };
  book: { p50: number; p99: number };
  admission: { p50: number; p99: number };
  reopenMs: number;
  heapMb: number;
}

async function sizeRow(reservations: number, hostCount: number, iterations: number): Promise<SizeRow> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'eac-ledger-bench-'));
  try {
    const hosts = fleet(hostCount);
    const r = rng(reservations);
    let ledger = await openBench(dir, 'FULL');
    await ledger.syncHosts(hosts, 'bench');
    const t = now();
    await seed(ledger, hosts, reservations, r, 'seed');
    const seedS = (now() - t) / 1000;
    await ledger.capacity(randomWindow(r)); // brings the index up to date once
    const capacity: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const w = randomWindow(r);
      const s = now();
      await ledger.capacity(w);
      capacity.push(now() - s);
    }
    const book: number[] = [];
    const admission: number[] = [];
    for (let i = 0; i < Math.min(iterations, 500); i++) {
      const b = randomBooking(r, hosts, `bench-${i}`);
      const s = now();
      await ledger.book({ bookings: [b], actor: 'bench' });
      book.push(now() - s);
      // A windowed admission: the fleet's capacity over its window (after the write above: the index catches up), then its booking.
      const b2 = randomBooking(r, hosts, `adm-${i}`);
      const s2 = now();
      await ledger.capacity(b2.window);
      await ledger.book({ bookings: [b2], actor: 'bench' });
      admission.push(now() - s2);
    }
    if (global.gc) global.gc();
    const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
    await ledger.close();
    const s = now();
    ledger = await openBench(dir, 'FULL');
    const reopenMs = now() - s;
    await ledger.close();
    return { reservations, seedS, capacity: stats(capacity), book: stats(book), admission: stats(admission), reopenMs, heapMb };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface WorkerResult {
  booked: number;
  conflicts: number;
  seconds: number;
  latencies: number[];
}

/** In a child process: books single admissions for `seconds` from startAt on, `concurrency` book() calls in flight. */
async function worker(dir: string, synchronous: 'FULL' | 'NORMAL', seconds: number, startAt: number, name: string, concurrency: number): Promise<void> {
  const ledger = await openBench(dir, synchronous);
  const hosts = await ledger.hosts();
  const r = rng(name.length * 7919 + startAt);
  while (Date.now() < startAt) await new Promise((res) => setTimeout(res, 1));
  const latencies: number[] = [];
  let booked = 0;
  let conflicts = 0;
  const end = now() + seconds * 1000;
  const t = now();
  let next = 0;
  const loop = async (): Promise<void> => {
    while (now() < end) {
      const i = next++;
      const s = now();
      try {
        await ledger.book({ bookings: [randomBooking(r, hosts, `${name}-${i}`)], actor: name });
        booked++;
      } catch (e) {
        if ((e as { code?: string }).code !== 'AC_ERR_CAPACITY_CONFLICT') throw e;
        conflicts++;
      }
      latencies.push(now() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const result: WorkerResult = { booked, conflicts, seconds: (now() - t) / 1000, latencies };
  await ledger.close();
  process.stdout.write(JSON.stringify(result));
}

function runChild(args: readonly string[]): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--worker', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as WorkerResult) : reject(new Error(`bench worker exited with ${code}`))));
  });
}

interface ThroughputRow {
  processes: number;
  concurrency: number;
  synchronous: string;
  perSecond: number;
  p50: number;
  p99: number;
}

async function throughput(processes: number, concurrency: number, synchronous: 'FULL' | 'NORMAL', seconds: number, hostCount: number, preload: number): Promise<ThroughputRow> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'eac-ledger-bench-'));
  try {
    const ledger = await openBench(dir, synchronous);
    const hosts = fleet(hostCount);
    await ledger.syncHosts(hosts, 'bench');
    await seed(ledger, hosts, preload, rng(1), 'seed');
    await ledger.close();
    const startAt = Date.now() + 1000;
    const results = await Promise.all(Array.from({ length: processes }, (_, i) => runChild([dir, synchronous, String(seconds), String(startAt), `p${i}`, String(concurrency)])));
    const booked = results.reduce((s, x) => s + x.booked, 0);
    const elapsed = Math.max(...results.map((x) => x.seconds));
    const { p50, p99 } = stats(results.flatMap((x) => x.latencies));
    return { processes, concurrency, synchronous, perSecond: booked / elapsed, p50, p99 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--worker') {
    const [dir, sync, seconds, startAt, name, concurrency] = process.argv.slice(3);
    await worker(dir!, sync as 'FULL' | 'NORMAL', Number(seconds), Number(startAt), name!, Number(concurrency));
    return;
  }
  const quick = process.argv.includes('--quick');
  const sizes = (arg('sizes') ?? (quick ? '1000,10000' : '1000,10000,100000')).split(',').map(Number);
  const hostCount = Number(arg('hosts') ?? 320);
  const seconds = Number(arg('seconds') ?? (quick ? 1 : 3));
  const iterations = quick ? 300 : 2000;

  console.log(`Ledger bench: ${hostCount} hosts, windows of 1 h – 7 d over a year, 1–2 hosts per booking; synchronous = FULL unless said; node ${process.version}, ${os.cpus().length} CPUs`);
  console.log('');
  console.log('| reservations | seed (s) | capacity() p50 / p99 ms | book() p50 / p99 ms | admission (capacity + book) p50 / p99 ms | reopen ms | heap MB |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of sizes) {
    const row = await sizeRow(n, hostCount, iterations);
    console.log(
      `| ${n.toLocaleString('en-US')} | ${row.seedS.toFixed(1)} | ${ms(row.capacity.p50)} / ${ms(row.capacity.p99)} | ${ms(row.book.p50)} / ${ms(row.book.p99)} | ${ms(row.admission.p50)} / ${ms(row.admission.p99)} | ${ms(row.reopenMs)} | ${row.heapMb.toFixed(0)} |`,
    );
  }
  console.log('');
  console.log(`book() throughput: single-booking requests for ${seconds} s per row on a file holding 10,000 reservations;`);
  console.log('"in flight" = concurrent book() calls per process (calls made in the same turn share one commit: group commit):');
  console.log('');
  console.log('| processes | in flight | synchronous | recorded admissions/s | p50 ms | p99 ms |');
  console.log('|---:|---:|---|---:|---:|---:|');
  for (const sync of ['FULL', 'NORMAL'] as const) {
    for (const [p, c] of [[1, 1], [2, 1], [1, 16], [2, 16], [1, 64], [2, 64]] as const) {
      const row = await throughput(p, c, sync, seconds, hostCount, 10_000);
      console.log(`| ${row.processes} | ${row.concurrency} | ${row.synchronous} | ${row.perSecond.toFixed(0)} | ${ms(row.p50)} | ${ms(row.p99)} |`);
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
