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

async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'gateway', 'server.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', AC_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"message":"listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"message":"listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
  // Keep draining the log so a full pipe never blocks the server.
  child.stdout!.resume();
  return { child, url: `http://127.0.0.1:${port}` };
}

function load(url: string, body: string, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${url}/api/v1/admissions?dryRun=true`,
    method: 'POST',
    headers: { 'content-type': 'application/xml' },
    body,
    connections,
    duration: seconds,
  });
}

export const httpSection: BenchSection = {
  id: 'http',
  title: 'HTTP throughput of dry-run admissions',
  async run(context: BenchContext): Promise<SectionResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eac-http-bench-'));
    const inventory = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'inventory.default.json'), 'utf8')) as { hosts: unknown[] };
    const inventoryFile = path.join(dir, 'inventory.json');
    fs.writeFileSync(inventoryFile, JSON.stringify({ hosts: inventory.hosts.slice(0, 200) }));
    const manifest = fs.readFileSync(path.join(ROOT, 'examples', 'manifests', 'three-tier.xml'), 'utf8');
    const rows: string[] = [];
    const problems: string[] = [];
    let verdict = '';
    const runs = [
      { solver: 'auto', workers: 1 },
      { solver: 'auto', workers: 2 },
      { solver: 'greedy', workers: 1 },
    ] as const;
    for (const { solver, workers } of runs) {
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
        await load(url, manifest, 3, 16); // warm-up: JIT, caches
        const r = await load(url, manifest, 10, 16);
        const failed = r.errors + r.timeouts + r.non2xx;
        if (failed > 0) problems.push(`http (${solver}): ${failed} failed requests`);
        const ok = r.requests.average >= TARGET_RPS && r.latency.p99 < TARGET_P99_MS && failed === 0;
        rows.push(
          `| \`${solver}\` (${answer.solver.status}) | ${workers} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max} | ${failed} | ${ok ? 'met' : 'missed'} |`,
        );
        if (solver === 'auto' && (ok || verdict === '')) verdict = ok ? `met (${workers} worker${workers > 1 ? 's' : ''})` : 'MISSED';
        context.log(`http ${solver} × ${workers}: ${r.requests.average.toFixed(0)} req/s, p99 ${r.latency.p99} ms`);
      } finally {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (!verdict.startsWith('met')) problems.push(`HTTP target missed with the default solver (≥ ${TARGET_RPS}/s, p99 < ${TARGET_P99_MS} ms)`);
    return {
      ok: !problems.some((p) => p.includes('failed requests') || p.includes('not accepted')),
      problems,
      markdown: [
        '## HTTP throughput of dry-run admissions',
        '',
        `The real server process (\`node dist/gateway/server.js\`, one Node process, info-level JSON logs) on 127.0.0.1 with a 200-host inventory; load from autocannon in the bench process (16 connections, 3 s warm-up, 10 s measured) posting \`examples/manifests/three-tier.xml\` (3 components, 11 VMs) to \`POST /api/v1/admissions?dryRun=true\`. Server and load generator share the machine's cores.`,
        '',
        '| solver (status) | workers (`AC_WORKERS`) | admissions/s | p50 ms | p99 ms | max ms | failed | target |',
        '|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        `**Target (≥ ${TARGET_RPS} admissions/s with p99 < ${TARGET_P99_MS} ms, default solver \`auto\`): ${verdict}.**`,
        '',
      ].join('\n'),
    };
  },
};
