/**
 * Bench section `postgres`: recorded (durable) admissions per second and p99 over HTTP, side by side in one run —
 * the embedded store (SQLite, 1 worker, synchronous = FULL) and PostgreSQL (synchronous_commit on, fsync on) with 1
 * and 3 replicas (`node dist/gateway/server.js` processes on one database), next to the embedded store's dry-run row.
 * PostgreSQL is a throwaway cluster started like the tests' (test/support/postgres.ts), or `EAC_BENCH_DATABASE_URL`
 * (an existing server: each configuration gets a fresh database created through it).
 * After every recorded configuration the database is checked for double booking (held CPUs / MB per host over the
 * inventory's).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Client } from 'pg';
import { findPostgres, PostgresCluster } from '../test/support/postgres';
import { loadRecorded, startServer, stopProcess } from './http-bench';
import type { BenchContext, BenchSection, SectionResult } from './run';

const ROOT = path.join(__dirname, '..', '..');
const TARGET_RPS = 1000;
const TARGET_P99_MS = 25;
const CONNECTIONS = 16;
const TRIAL_SECONDS = 5;

interface Trial {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly failed: number;
}

/** Several load generators at once (one per replica): throughput adds up; the latencies shown are the worst one's. */
function combine(results: readonly autocannon.Result[]): Trial {
  return {
    rps: results.reduce((n, r) => n + r.requests.average, 0),
    p50: Math.max(...results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    max: Math.max(...results.map((r) => r.latency.max)),
    failed: results.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx, 0),
  };
}

const median = (trials: readonly Trial[]): Trial => [...trials].sort((a, b) => a.rps - b.rps)[Math.floor(trials.length / 2)]!;

/** CONNECTIONS split over the replicas (16 → 6, 5, 5). */
const split = (n: number): number[] => Array.from({ length: n }, (_, i) => Math.floor(CONNECTIONS / n) + (i < CONNECTIONS % n ? 1 : 0));

function dryRun(url: string, manifest: string, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({ url: `${url}/api/v1/admissions?dryRun=true`, method: 'POST', headers: { 'content-type': 'application/xml' }, body: manifest, connections, duration: seconds });
}

async function sql<T extends Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

export const postgresSection: BenchSection = {
  id: 'postgres',
  title: 'Recorded admissions: embedded store and PostgreSQL replicas',
  async run(context: BenchContext): Promise<SectionResult> {
    const trialsWanted = context.runs ?? 3;
    const problems: string[] = [];
    const external = process.env.EAC_BENCH_DATABASE_URL;
    if (!external && !findPostgres()) {
      const why = 'no PostgreSQL server binaries (see test/support/postgres.ts) and no EAC_BENCH_DATABASE_URL: the PostgreSQL rows were NOT measured';
      context.log(`postgres: SKIPPED: ${why}`);
      return { ok: true, problems: [`postgres section skipped: ${why}`], markdown: `## Recorded admissions: embedded store and PostgreSQL replicas\n\n**Skipped:** ${why}.\n` };
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-pg-bench-'));
    const inventory = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'inventory.default.json'), 'utf8')) as { hosts: { id: string; cpus: number; usedCpus: number; memoryMb?: number; usedMemoryMb?: number }[] };
    const hosts = inventory.hosts.slice(0, 200);
    const inventoryFile = path.join(dir, 'inventory.json');
    fs.writeFileSync(inventoryFile, JSON.stringify({ hosts }));
    const manifest = fs.readFileSync(path.join(ROOT, 'examples', 'manifests', 'three-tier.xml'), 'utf8');
    const cluster = external ? undefined : await PostgresCluster.start();
    const adminUrl = external ?? cluster!.url();
    const info = (await sql<{ v: string; sc: string; fsync: string }>(adminUrl, "SELECT version() AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync"))[0]!;
    const rows: string[] = [];
    const byName = new Map<string, Trial>();
    let dbCount = 0;
    const configurations = [
      { name: 'embedded (SQLite), dry-run', store: 'sqlite', replicas: 1, recorded: false },
      { name: 'embedded (SQLite), **recorded**', store: 'sqlite', replicas: 1, recorded: true },
      { name: 'PostgreSQL, **recorded**', store: 'postgres', replicas: 1, recorded: true },
      { name: 'PostgreSQL, **recorded**', store: 'postgres', replicas: 3, recorded: true },
    ] as const;
    try {
      for (const cfg of configurations) {
        let databaseUrl: string | undefined;
        if (cfg.store === 'postgres') {
          const name = `eac_bench_${process.pid}_${++dbCount}`;
          await sql(adminUrl, `CREATE DATABASE ${name}`);
          const u = new URL(adminUrl);
          u.pathname = `/${name}`;
          databaseUrl = u.toString();
        }
        const servers: { child: ChildProcess; url: string }[] = [];
        try {
          for (let i = 0; i < cfg.replicas; i++) {
            servers.push(
              await startServer({
                AC_INVENTORY: inventoryFile,
                AC_DATA_DIR: path.join(dir, `sqlite-${cfg.recorded ? 'rec' : 'dry'}`),
                ...(databaseUrl ? { AC_DATABASE_URL: databaseUrl } : {}),
                AC_SOLVER: 'auto',
                AC_WORKERS: '1',
                AC_LOG_LEVEL: 'info',
              }),
            );
          }
          const check = await fetch(`${servers[0]!.url}/api/v1/admissions?dryRun=true`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: manifest });
          const answer = (await check.json()) as { services: { decision: string }[] };
          if (check.status !== 200 || answer.services[0]?.decision !== 'accepted') problems.push(`postgres (${cfg.name}): the checked admission was not accepted (${check.status})`);
          const conns = split(cfg.replicas);
          // Each replica gets its own service ids (bench-r<i>-<n mod 64>): a replica replaces its own held offers.
          const once = (seconds: number): Promise<autocannon.Result[]> =>
            Promise.all(servers.map((s, i) => (cfg.recorded ? loadRecorded(s.url, manifest, seconds, conns[i]!, Math.ceil(64 / cfg.replicas), `bench-r${i}`) : dryRun(s.url, manifest, seconds, conns[i]!))));
          await once(2); // warm-up
          const trials: Trial[] = [];
          for (let k = 0; k < trialsWanted; k++) trials.push(combine(await once(TRIAL_SECONDS)));
          const t = median(trials);
          const failed = trials.reduce((n, x) => n + x.failed, 0);
          if (failed > 0) problems.push(`postgres (${cfg.name}, ${cfg.replicas}): ${failed} failed requests`);
          let doubleBooked = '–';
          if (databaseUrl) {
            const over = await sql<{ host_id: string; cpus: number; mb: number }>(
              databaseUrl,
              "SELECT al.host_id, sum(al.cpus)::float8 AS cpus, sum(al.memory_mb)::float8 AS mb FROM allocations al JOIN admissions a ON a.id = al.admission_id WHERE a.status IN ('held', 'confirmed', 'active') GROUP BY al.host_id",
            );
            const cap = new Map(hosts.map((h) => [h.id, h]));
            const bad = over.filter((o) => {
              const h = cap.get(o.host_id);
              return !h || o.cpus > h.cpus - h.usedCpus + 1e-9 || (h.memoryMb !== undefined && o.mb > h.memoryMb - (h.usedMemoryMb ?? 0) + 1e-9);
            });
            doubleBooked = String(bad.length);
            if (bad.length > 0) problems.push(`postgres (${cfg.replicas} replicas): ${bad.length} hosts double-booked`);
          }
          const range = `${Math.min(...trials.map((x) => x.rps)).toFixed(0)}–${Math.max(...trials.map((x) => x.rps)).toFixed(0)}`;
          const target = cfg.store === 'sqlite' ? (t.rps >= TARGET_RPS && t.p99 < TARGET_P99_MS && failed === 0 ? 'met' : 'missed') : t.rps >= TARGET_RPS && failed === 0 ? 'met' : 'missed';
          rows.push(`| ${cfg.name} | ${cfg.replicas} | ${conns.join(' + ')} | **${t.rps.toFixed(0)}** (${range}) | ${t.p50} | ${t.p99} | ${t.max} | ${failed} | ${doubleBooked} | ${cfg.recorded ? target : '–'} |`);
          byName.set(`${cfg.store}-${cfg.replicas}-${cfg.recorded}`, t);
          context.log(`postgres: ${cfg.name.replace(/\*/g, '')} × ${cfg.replicas}: median ${t.rps.toFixed(0)} admissions/s (${range}), p99 ${t.p99} ms`);
        } finally {
          for (const s of servers) await stopProcess(s.child);
          if (databaseUrl) await sql(adminUrl, `DROP DATABASE IF EXISTS ${new URL(databaseUrl).pathname.slice(1)} WITH (FORCE)`).catch(() => undefined);
        }
      }
    } finally {
      await cluster?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const embedded = byName.get('sqlite-1-true');
    const pg3 = byName.get('postgres-3-true');
    if (embedded && !(embedded.rps >= TARGET_RPS && embedded.p99 < TARGET_P99_MS)) problems.push(`recorded target missed on the embedded store (${embedded.rps.toFixed(0)}/s, p99 ${embedded.p99} ms; target ≥ ${TARGET_RPS}/s, p99 < ${TARGET_P99_MS} ms)`);
    if (pg3 && pg3.rps < TARGET_RPS) problems.push(`recorded target missed on PostgreSQL with 3 replicas (${pg3.rps.toFixed(0)}/s; target ≥ ${TARGET_RPS}/s)`);
    return {
      ok: !problems.some((p) => p.includes('failed requests') || p.includes('not accepted') || p.includes('double-booked')),
      problems,
      markdown: [
        '## Recorded admissions: embedded store and PostgreSQL replicas',
        '',
        `\`examples/manifests/three-tier.xml\` on a 200-host inventory, default solver \`auto\`, ${CONNECTIONS} autocannon connections in the bench process, split over the replicas; ${trialsWanted} trials of ${TRIAL_SECONDS} s after a 2 s warm-up, median trial shown (throughput summed over the replicas' load generators, latencies the worst replica's). Recorded: no \`dryRun\`; each replica's service ids rotate over 64 ÷ replicas values (at most 64 held offers in all, as in the HTTP section), so every request is a new held offer replacing one of that replica's earlier ones in the same transaction — every answer waits for its durable commit. Servers, database and load generator share the machine's cores. PostgreSQL: ${info.v.split(' on ')[0]}, synchronous_commit=${info.sc}, fsync=${info.fsync}${cluster ? ', a throwaway cluster on 127.0.0.1' : ', an existing server (EAC_BENCH_DATABASE_URL)'}. "double-booked": hosts whose held / confirmed / active allocations exceed their free CPUs or MB after the run (checked in the database).`,
        '',
        '| store | replicas | connections | admissions/s (range) | p50 ms | p99 ms | max ms | failed | double-booked hosts | target |',
        '|---|---|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        `**Targets: ≥ ${TARGET_RPS} recorded admissions/s with p99 < ${TARGET_P99_MS} ms on the embedded store (${embedded ? (embedded.rps >= TARGET_RPS && embedded.p99 < TARGET_P99_MS ? 'met' : 'MISSED') : 'not run'}); ≥ ${TARGET_RPS}/s over 3 replicas on PostgreSQL (${pg3 ? (pg3.rps >= TARGET_RPS ? 'met' : 'MISSED') : 'not run'}); 0 double booking.**`,
        '',
      ].join('\n'),
    };
  },
};
