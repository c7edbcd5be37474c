/**
 * Bench section: HTTP throughput of dry-run admissions against the real server process (node
 * dist/gateway/server.js) on 127.0.0.1, one manifest of 3 components on 200 hosts, load from autocannon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type { BenchContext, BenchSection, SectionResult } from './run';

const ROOT = path.join(__dirname, '..', '..');
const TARGET_RPS = 1000;
const TARGET_P99_MS = 25;

/** Spawns a node script under dist/ and waits for the port it prints (the gateway logs it; the fixed-cost server prints it). */
async function startProcess(script: string, args: string[], env: Record<string, string>, portPattern: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', script), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${out}`)), 20_000);
    const onOutput = (d: Buffer): void => {
      out += d.toString();
      const m = portPattern.exec(out);
      if (m) {
        clearTimeout(timer);
        // Stop looking at the output: the server logs a line per admission, and this process also runs the load
        // generator, whose measurements a growing string searched on every chunk would distort.
        child.stdout!.off('data', onOutput);
        child.stderr!.off('data', onOutput);
        child.off('exit', onExit);
        resolve(Number(m.slice(1).find((g) => g !== undefined)));
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`${script} exited with ${code}:\n${out}`));
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('exit', onExit);
  });
  // Keep draining the output so a full pipe never blocks the server.
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, url: `http://127.0.0.1:${port}` };
}

export const startServer = (env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> =>
  startProcess(path.join('gateway', 'server.js'), [], { PORT: '0', AC_HOST: '127.0.0.1', ...env }, /"message":"listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"message":"listening"/);

export async function stopProcess(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Recorded admissions: each request books (no dry-run). The service id rotates over `services` values, so that every
 * request is a new booking that replaces the same service's earlier held offer: capacity stays bounded (at most
 * `services` held at once) while every request writes, commits and fsyncs a booking and a release.
 */
export function loadRecorded(url: string, manifest: string, seconds: number, connections: number, services = 64, prefix = 'bench'): Promise<autocannon.Result> {
  let n = 0;
  const [head, tail] = manifest.split(/opt:serviceId="[^"]*"/);
  return autocannon({
    url: `${url}/api/v1/admissions`,
    method: 'POST',
    headers: { 'content-type': 'application/xml' },
    connections,
    duration: seconds,
    // setupRequest is in autocannon's API (README "requests") but not in its type definitions.
    requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: `${head}opt:serviceId="${prefix}-${n++ % services}"${tail}` }) } as autocannon.Request],
  });
}

function load(url: string, body: string | undefined, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon(
    body === undefined
      ? { url: `${url}/health`, connections, duration: seconds }
      : {
          url: `${url}/api/v1/admissions?dryRun=true`,
          method: 'POST',
          headers: { 'content-type': 'application/xml' },
          body,
          connections,
          duration: seconds,
        },
  );
}

/** One measured load: what a table row shows. */
interface Trial {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly failed: number;
}

const trialOf = (r: autocannon.Result): Trial => ({
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  max: r.latency.max,
  failed: r.errors + r.timeouts + r.non2xx,
});

/** The median trial by throughput (its own latencies, not a mix of trials). */
function medianTrial(trials: readonly Trial[]): Trial {
  return [...trials].sort((a, b) => a.rps - b.rps)[Math.floor(trials.length / 2)]!;
}

const meets = (t: Trial): boolean => t.rps >= TARGET_RPS && t.p99 < TARGET_P99_MS && t.failed === 0;

/** Trials per configuration of the headline rows: this machine is shared and noisy; the median of three is reported. */
const TRIALS = 3;
const TRIAL_SECONDS = 5;
const CONNECTIONS = 16;

/**
 * Milliseconds a fixed integer loop takes in this process: the machine's speed at the moment, printed with the section.
 * This shared machine has been seen to run the same loop 1.5× slower from one minute to the next; throughput and
 * latency follow it, so rows of runs at different speeds are not comparable.
 */
function cpuProbeMs(): number {
  const started = performance.now();
  let x = 0;
  for (let i = 0; i < 100_000_000; i++) x = (x + i * 7) % 1_000_003;
  const ms = performance.now() - started;
  return x < 0 ? -1 : ms; // uses x, so the loop cannot be dropped
}

/** CPU cost per request of the fixed-cost server: about what one dry-run admission costs the gateway here. */
const FIXED_COST_MS = 0.8;

/**
 * The fair intake's effect where nothing else varies: the same fixed-cost server with work started as bodies are
 * read (`direct`) or through the AdmissionIntake, alternated twice so that machine drift hits both alike.
 */
async function fairnessRows(): Promise<string[]> {
  const rows: string[] = [];
  for (let round = 1; round <= 2; round++) {
    for (const mode of ['direct', 'intake'] as const) {
      const { child, url } = await startProcess(path.join('bench', 'fixed-cost-server.js'), [String(FIXED_COST_MS), mode], {}, /"port":(\d+)/);
      try {
        await load(url, FIXED_BODY, 2, CONNECTIONS);
        const r = await load(url, FIXED_BODY, TRIAL_SECONDS, CONNECTIONS);
        const t = trialOf(r);
        const label = mode === 'direct' ? 'started as read (node:http order)' : 'started through the fair intake';
        rows.push(`| ${label} | ${round} | ${t.rps.toFixed(0)} | ${t.p50} | ${r.latency.p97_5} | ${t.p99} | ${t.max} | ${t.failed} |`);
      } finally {
        await stopProcess(child);
      }
    }
  }
  return rows;
}

/** A request body of the size of the bench manifest, for the fixed-cost server (which ignores it). */
const FIXED_BODY = `<x>${'m'.repeat(8_800)}</x>`;

export const httpSection: BenchSection = {
  id: 'http',
  title: 'HTTP throughput of dry-run and recorded admissions',
  async run(context: BenchContext): Promise<SectionResult> {
    const probeBefore = cpuProbeMs();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-http-bench-'));
    const inventory = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'inventory.default.json'), 'utf8')) as { hosts: unknown[] };
    const inventoryFile = path.join(dir, 'inventory.json');
    fs.writeFileSync(inventoryFile, JSON.stringify({ hosts: inventory.hosts.slice(0, 200) }));
    const manifest = fs.readFileSync(path.join(ROOT, 'examples', 'manifests', 'three-tier.xml'), 'utf8');
    const rows: string[] = [];
    const problems: string[] = [];
    /** The `auto` configurations (worker counts) that met the target in this run. */
    const metWith: string[] = [];
    /** The same for recorded (durable) admissions. */
    const recordedMetWith: string[] = [];
    let floor: Trial | undefined;
    const runs = [
      { solver: 'auto', workers: 1, extras: true },
      { solver: 'auto', workers: 2, extras: false },
      { solver: 'greedy', workers: 1, extras: false },
    ] as const;
    for (const { solver, workers, extras } of runs) {
      const { child, url } = await startServer({
        AC_INVENTORY: inventoryFile,
        AC_DATA_DIR: path.join(dir, `${solver}-${workers}`),
        AC_SOLVER: solver,
        AC_WORKERS: String(workers),
        AC_LOG_LEVEL: 'info',
      });
      try {
        // One checked answer first: a fast wrong answer is no benchmark.
        const check = await fetch(`${url}/api/v1/admissions?dryRun=true`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: manifest });
        const answer = (await check.json()) as { services: { decision: string }[]; solver: { name: string; status: string } };
        if (check.status !== 200 || answer.services[0]?.decision !== 'accepted') problems.push(`http (${solver}): the checked admission was not accepted (${check.status})`);
        await load(url, manifest, 3, CONNECTIONS); // warm-up: JIT, caches
        const trials: Trial[] = [];
        for (let k = 0; k < TRIALS; k++) trials.push(trialOf(await load(url, manifest, TRIAL_SECONDS, CONNECTIONS)));
        const t = medianTrial(trials);
        const failed = trials.reduce((n, x) => n + x.failed, 0);
        if (failed > 0) problems.push(`http (${solver}): ${failed} failed requests`);
        const range = `${Math.min(...trials.map((x) => x.rps)).toFixed(0)}–${Math.max(...trials.map((x) => x.rps)).toFixed(0)}`;
        rows.push(
          `| \`${solver}\` (${answer.solver.status}) | ${workers} | ${CONNECTIONS} | **${t.rps.toFixed(0)}** (${range}) | ${t.p50} | ${t.p99} | ${t.max} | ${failed} | ${meets(t) ? 'met' : 'missed'} |`,
        );
        if (solver === 'auto' && meets(t)) metWith.push(`${workers} worker${workers > 1 ? 's' : ''}`);
        context.log(`http ${solver} × ${workers}: median ${t.rps.toFixed(0)} req/s (${range}), p99 ${t.p99} ms`);
        if (solver === 'auto') {
          // The same load, recorded: every answer is a durable booking (synchronous = FULL) before it is sent.
          await loadRecorded(url, manifest, 2, CONNECTIONS);
          const recorded: Trial[] = [];
          for (let k = 0; k < TRIALS; k++) recorded.push(trialOf(await loadRecorded(url, manifest, TRIAL_SECONDS, CONNECTIONS)));
          const r = medianTrial(recorded);
          const rFailed = recorded.reduce((n, x) => n + x.failed, 0);
          if (rFailed > 0) problems.push(`http (${solver}, recorded): ${rFailed} failed requests`);
          const rRange = `${Math.min(...recorded.map((x) => x.rps)).toFixed(0)}–${Math.max(...recorded.map((x) => x.rps)).toFixed(0)}`;
          rows.push(`| \`${solver}\`, **recorded** | ${workers} | ${CONNECTIONS} | **${r.rps.toFixed(0)}** (${rRange}) | ${r.p50} | ${r.p99} | ${r.max} | ${rFailed} | ${meets(r) ? 'met' : 'missed'} |`);
          if (meets(r)) recordedMetWith.push(`${workers} worker${workers > 1 ? 's' : ''}`);
          context.log(`http ${solver} × ${workers}, recorded: median ${r.rps.toFixed(0)} req/s (${rRange}), p99 ${r.p99} ms`);
        }
        if (extras) {
          // Context for the headline: fewer clients (latency is queueing: ≈ connections ÷ throughput), and the HTTP
          // stack's own ceiling on this machine right now (GET /health on the same server).
          const fewer = trialOf(await load(url, manifest, TRIAL_SECONDS, 8));
          rows.push(`| \`${solver}\`, 8 clients | ${workers} | 8 | ${fewer.rps.toFixed(0)} | ${fewer.p50} | ${fewer.p99} | ${fewer.max} | ${fewer.failed} | ${meets(fewer) ? 'met' : 'missed'} |`);
          floor = trialOf(await load(url, undefined, TRIAL_SECONDS, CONNECTIONS));
          rows.push(`| \`GET /health\` (no admission) | ${workers} | ${CONNECTIONS} | ${floor.rps.toFixed(0)} | ${floor.p50} | ${floor.p99} | ${floor.max} | ${floor.failed} | – |`);
          context.log(`http floor (GET /health): ${floor.rps.toFixed(0)} req/s`);
        }
      } finally {
        await stopProcess(child);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    const fairness = await fairnessRows();
    const probeAfter = cpuProbeMs();
    context.log(`http: CPU probe ${probeBefore.toFixed(0)} ms before, ${probeAfter.toFixed(0)} ms after`);
    const verdict = metWith.length > 0 ? `met (${metWith.join(' and ')})` : 'MISSED';
    if (metWith.length === 0) problems.push(`HTTP target missed with the default solver (≥ ${TARGET_RPS}/s, p99 < ${TARGET_P99_MS} ms)`);
    return {
      ok: !problems.some((p) => p.includes('failed requests') || p.includes('not accepted')),
      problems,
      markdown: [
        '## HTTP throughput of dry-run and recorded admissions',
        '',
        `The real server process (\`node dist/gateway/server.js\`, info-level JSON logs, one line per admission) on 127.0.0.1 with a 200-host inventory; load from autocannon in the bench process posting \`examples/manifests/three-tier.xml\` (3 components, 11 VMs) to \`POST /api/v1/admissions?dryRun=true\` (answer: decision, placements, reasons and the 8.8 kB manifest with its offer). Server and load generator share the machine's cores. Per configuration: 3 s warm-up, then ${TRIALS} trials of ${TRIAL_SECONDS} s with ${CONNECTIONS} connections; the row shows the median trial (its own latencies) and the range of throughput over the trials. The \`GET /health\` row is the same server answering a request that does nothing: the ceiling of the HTTP stack on this machine during this run.`,
        '',
        `Machine speed during this section: a fixed loop of 10⁸ integer steps took ${probeBefore.toFixed(0)} ms before it and ${probeAfter.toFixed(0)} ms after it (on this machine the same loop has taken from about 400 to 750 ms; slower means fewer admissions per second and longer tails).`,
        '',
        '| solver (status) | workers (`AC_WORKERS`) | connections | admissions/s (range) | p50 ms | p99 ms | max ms | failed | target |',
        '|---|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        `Recorded rows: the same manifest posted without \`dryRun\`, its service id rotating over 64 values, so each request is a new held offer that replaces that service's previous one in the same transaction (capacity stays bounded; every answer waits for its commit, \`synchronous = FULL\`). Recorded target (≥ ${TARGET_RPS}/s with p99 < ${TARGET_P99_MS} ms on the embedded store): ${recordedMetWith.length > 0 ? `met (${recordedMetWith.join(' and ')})` : 'MISSED'}.`,
        '',
        `**Target (≥ ${TARGET_RPS} admissions/s with p99 < ${TARGET_P99_MS} ms, default solver \`auto\`, ${CONNECTIONS} connections): ${verdict}.**` +
          (floor ? ` With ${CONNECTIONS} clients every request waits for the others' turns on the event loop, so p99 ≈ ${CONNECTIONS} ÷ throughput plus pauses (GC, the load generator taking the core); admissions start in arrival order (see below).` : ''),
        '',
        '### Why admissions start through the fair intake',
        '',
        `A bare node:http server (\`dist/bench/fixed-cost-server.js\`) whose every request costs exactly ${FIXED_COST_MS} ms of CPU and answers 11 kB, under the same load (${CONNECTIONS} autocannon connections, ${TRIAL_SECONDS} s after a 2 s warm-up), once starting each request's work as soon as its body is read and once through \`AdmissionIntake\` (service/intake.ts: arrival order, one start per event-loop turn); alternated twice. Without the intake a connection whose request arrives just after the loop polled is served after two rounds of everybody's work, so a few percent of requests take twice the median although no request costs more than another (docs/architecture.md, "Fair intake").`,
        '',
        '| work started | round | req/s | p50 ms | p97.5 ms | p99 ms | max ms | failed |',
        '|---|---|---|---|---|---|---|---|',
        ...fairness,
        '',
      ].join('\n'),
    };
  },
};
