/**
 * Bench section `components`: how the greedy and one admission scale with the components of a service (50 to 1,000,
 * federation allowed and forbidden) and with hosts (5×5 on 1,000,000). One fresh child process per row, so heap and
 * RSS belong to that row; every answer is verified. Parent side renders markdown; `--worker` measures.
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import type { AdmissionModel } from '../model/types';
import { componentScalingModel, generateModel, withCapabilities } from './generator';
import { median } from './heuristic-bench';
import type { BenchContext, BenchSection, SectionResult } from './run';

/** Targets of the issue "Safe to expose: bounded work". */
export const COMPONENT_TARGETS = { largeComponents: 1000, largeMaxSeconds: 1, largeMaxHeapMb: 256, hugeFleetMaxSeconds: 0.1 } as const;

export interface ComponentRow {
  /** Stable id for --sizes-like selection and messages, e.g. `1000-allowed-tight`. */
  readonly id: string;
  readonly label: string;
  /** capabilities: the 'hosts' instance with withCapabilities (bench/generator.ts), beside the same without. */
  readonly kind: 'components' | 'hosts' | 'capabilities';
  readonly components: number;
  readonly services: number;
  readonly hosts: number;
  readonly federation: 'allowed' | 'forbidden' | 'mixed';
  readonly capacity: 'loose' | 'tight';
}

const COMPONENT_COUNTS = [50, 200, 500, 1000] as const;

export const COMPONENT_ROWS: readonly ComponentRow[] = [
  ...COMPONENT_COUNTS.flatMap((n) =>
    (['allowed', 'forbidden'] as const).flatMap((federation) =>
      (['loose', 'tight'] as const).map(
        (capacity): ComponentRow => ({
          id: `${n}-${federation}-${capacity}`,
          label: `1×${n}, ${Math.max(20, n)} hosts`,
          kind: 'components',
          components: n,
          services: 1,
          hosts: Math.max(20, n),
          federation,
          capacity,
        }),
      ),
    ),
  ),
  ...(['loose', 'tight'] as const).map(
    (capacity): ComponentRow => ({
      id: `5x5-1000000-${capacity}`,
      label: '5×5, 1,000,000 hosts',
      kind: 'hosts',
      components: 5,
      services: 5,
      hosts: 1_000_000,
      federation: 'mixed',
      capacity,
    }),
  ),
  // Capabilities on 50,000 hosts, side by side with the same instance without them (the ratio is the cost).
  ...(['loose', 'tight'] as const).flatMap((capacity) =>
    (['hosts', 'capabilities'] as const).map(
      (kind): ComponentRow => ({
        id: `5x5-50000-${capacity}${kind === 'capabilities' ? '-capabilities' : ''}`,
        label: `5×5, 50,000 hosts${kind === 'capabilities' ? ', with capabilities' : ''}`,
        kind,
        components: 5,
        services: 5,
        hosts: 50_000,
        federation: 'mixed',
        capacity,
      }),
    ),
  ),
];

function modelOf(row: ComponentRow, seed: number): AdmissionModel {
  const model =
    row.kind === 'components'
      ? componentScalingModel({ seed, components: row.components, federationAllowed: row.federation === 'allowed', capacity: row.capacity, hosts: row.hosts })
      : row.kind === 'capabilities'
        ? withCapabilities(generateModel({ seed, services: row.services, components: row.components, hosts: row.hosts, capacity: row.capacity, rules: true }), seed)
        : generateModel({ seed, services: row.services, components: row.components, hosts: row.hosts, capacity: row.capacity, rules: true });
  // As the gateway hands them over: one frozen host list shared by consecutive admissions (trec-analyzer's HostModelMemo).
  // Frozen in place: Object.freeze({ ...h }) gives every host a hidden class of its own, and reading a million such
  // hosts then costs ~1 s instead of ~20 ms (build-model.ts does that today; see the bench notes).
  return { ...model, hosts: Object.freeze(model.hosts.map((h) => Object.freeze(h))) };
}

// ---------------------------------------------------------------------------------------------
// Worker side.

interface Request {
  readonly rowId: string;
  readonly seed: number;
  readonly runs: number;
  readonly timeLimitSeconds?: number;
}

export interface RowReport {
  readonly ok: true;
  readonly rowId: string;
  readonly generateSeconds: number;
  /** The greedy in this thread (solveGreedy): result.seconds per timed run. */
  readonly solveSeconds: number[];
  /** Wall time of admit() with the worker-backed greedy per timed run (the service's path). */
  readonly admitSeconds: number[];
  /** validate + verify + decide of each timed admit: what runs on the event loop. */
  readonly mainThreadMs: number[];
  /** The same for the first admission of this (new) host list: per-list work (validation, fleet index, host table). */
  readonly firstMainThreadMs: number;
  readonly firstAdmitSeconds: number;
  readonly verified: boolean;
  readonly objective: number;
  readonly decisions: string;
  readonly candidates: number;
  readonly candidateSteps: number;
  readonly timedOut: number;
  /** JS heap with the model loaded, after a full GC. */
  readonly baselineHeapMb: number;
  /** Largest committed heap (heapTotal) seen right after an in-thread solve: an upper bound of what it used. */
  readonly heapPeakMb: number;
  /** Largest heap growth over the baseline (heapUsed right after a solve, before any GC). */
  readonly heapGrowthMb: number;
  readonly rssPeakMb: number;
  readonly loadAverage: number;
}

export interface RowFailure {
  readonly ok: false;
  readonly rowId: string;
  readonly error: string;
}

export type RowOutcome = RowReport | RowFailure;

const MB = 1024 * 1024;

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

async function runRow(request: Request): Promise<RowReport> {
  const row = COMPONENT_ROWS.find((r) => r.id === request.rowId);
  if (!row) throw new Error(`unknown component row '${request.rowId}'`);
  const { solveGreedy, shutdownGreedyWorkers } = await import('../solvers/greedy');
  const { verify } = await import('../admission-controller/verifier');
  const { admit } = await import('../admission-controller/admit');
  const loadAverage = os.loadavg()[0] ?? 0;
  const g0 = performance.now();
  const model = modelOf(row, request.seed);
  const generateSeconds = (performance.now() - g0) / 1000;
  const options = request.timeLimitSeconds === undefined ? {} : { timeLimitSeconds: request.timeLimitSeconds };

  // The first admission on this host list pays for what is kept per list; it is reported apart.
  const first = await admit(model, options);
  const firstMainThreadMs = first.timings.validateMs + first.timings.verifyMs + first.timings.decideMs;
  const firstAdmitSeconds = (first.timings.validateMs + first.timings.solveMs + first.timings.verifyMs + first.timings.decideMs) / 1000;

  collectGarbage();
  const baseline = process.memoryUsage().heapUsed;
  let heapPeak = 0;
  let heapGrowth = 0;
  const solveSeconds: number[] = [];
  let verified = true;
  let last = solveGreedy(model, options); // warm-up (JIT), not counted
  for (let k = 0; k < request.runs; k++) {
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    last = solveGreedy(model, options);
    const after = process.memoryUsage();
    heapPeak = Math.max(heapPeak, after.heapTotal);
    heapGrowth = Math.max(heapGrowth, after.heapUsed - before);
    solveSeconds.push(last.seconds);
    const v = verify(model, last.allocation);
    if (!v.feasible || Math.abs(v.objective - last.objective) > 1e-6 * Math.max(1, Math.abs(v.objective))) verified = false;
  }
  const admitSeconds: number[] = [];
  const mainThreadMs: number[] = [];
  let decisions = '';
  // Warm-up, as for the in-process solves: validation, verification and explanation are JIT-compiled by now.
  for (let k = 0; k < ADMIT_WARMUPS; k++) await admit(model, options);
  for (let k = 0; k < request.runs; k++) {
    const t0 = performance.now();
    const r = await admit(model, options); // throws AC_ERR_VERIFICATION_FAILED on an answer the verifier rejects
    admitSeconds.push((performance.now() - t0) / 1000);
    mainThreadMs.push(r.timings.validateMs + r.timings.verifyMs + r.timings.decideMs);
    decisions = r.services.map((s) => s.decision).join(', ');
  }
  await shutdownGreedyWorkers();
  const stats = last.stats ?? {};
  return {
    ok: true,
    rowId: row.id,
    generateSeconds,
    solveSeconds,
    admitSeconds,
    mainThreadMs,
    firstMainThreadMs,
    firstAdmitSeconds,
    verified,
    objective: last.objective,
    decisions,
    candidates: Number(stats.candidates ?? 0),
    candidateSteps: Number(stats.candidateSteps ?? 0),
    timedOut: Number(stats.timedOut ?? 0),
    baselineHeapMb: baseline / MB,
    heapPeakMb: heapPeak / MB,
    heapGrowthMb: Math.max(0, heapGrowth) / MB,
    rssPeakMb: (process.resourceUsage().maxRSS * 1024) / MB,
    loadAverage,
  };
}

/** Untimed admissions after the first one (reported apart) and before the timed ones. */
const ADMIT_WARMUPS = 3;

// ---------------------------------------------------------------------------------------------
// Parent side.

function defaultRuns(row: ComponentRow): number {
  return row.kind !== 'components' || row.components >= 1000 ? 3 : 5;
}

function runInChild(request: Request): Promise<RowOutcome> {
  if (__filename.endsWith('.ts')) {
    return Promise.reject(new Error('the component bench forks compiled JavaScript: run `npm run build` and use dist/'));
  }
  return new Promise((resolve) => {
    // 4 GB: a row must report its heap, not die of it (the issue's 500-component run needed more than 4 GB).
    const child = fork(__filename, ['--worker', JSON.stringify(request)], {
      execArgv: ['--expose-gc', '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: RowOutcome | undefined;
    let settled = false;
    const finish = (r: RowOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timeoutMs = 600_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, rowId: request.rowId, error: `timed out after ${timeoutMs / 1000} s (child killed)` });
    }, timeoutMs);
    child.on('message', (message) => {
      report = message as RowOutcome;
    });
    child.on('error', (error) => finish({ ok: false, rowId: request.rowId, error: `fork failed: ${error.message}` }));
    child.on('exit', (code, signal) => finish(report ?? { ok: false, rowId: request.rowId, error: `child exited (${signal ?? `code ${code}`}) without a report` }));
  });
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

function ms(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  return seconds < 1 ? `${round(seconds * 1000, seconds < 0.01 ? 2 : 1)} ms` : `${round(seconds, 2)} s`;
}

function rowProblems(row: ComponentRow, r: RowOutcome): string[] {
  if (!r.ok) return [`components ${row.id}: ${r.error}`];
  const problems: string[] = [];
  if (!r.verified) problems.push(`components ${row.id}: an answer the verifier rejects`);
  const solve = median(r.solveSeconds);
  if (row.kind === 'components' && row.components >= COMPONENT_TARGETS.largeComponents) {
    if (solve >= COMPONENT_TARGETS.largeMaxSeconds) problems.push(`components ${row.id}: solve median ${ms(solve)} (target < ${COMPONENT_TARGETS.largeMaxSeconds} s)`);
    if (r.heapPeakMb >= COMPONENT_TARGETS.largeMaxHeapMb) problems.push(`components ${row.id}: heap peak ${round(r.heapPeakMb, 1)} MB (target < ${COMPONENT_TARGETS.largeMaxHeapMb} MB)`);
  }
  if (((row.kind === 'hosts' && row.hosts >= 1_000_000) || row.kind === 'capabilities') && solve >= COMPONENT_TARGETS.hugeFleetMaxSeconds) {
    problems.push(`components ${row.id}: solve median ${ms(solve)} (target < ${COMPONENT_TARGETS.hugeFleetMaxSeconds * 1000} ms)`);
  }
  return problems;
}

function renderTable(outcomes: readonly { row: ComponentRow; report: RowOutcome }[]): string {
  const head =
    '| instance | federation | capacity | runs | solve (median) | admit via worker (median) | event loop per admission (median / first) | heap peak MB | heap growth MB | RSS peak MB | candidates | walk steps | verified | decision |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = outcomes.map(({ row, report: r }) => {
    if (!r.ok) return `| ${row.label} | ${row.federation} | ${row.capacity} | | **failed** | | | | | | | | | |`;
    return (
      `| ${row.label} | ${row.federation} | ${row.capacity} | ${r.solveSeconds.length} | ${ms(median(r.solveSeconds))}${r.timedOut ? ' (budget hit)' : ''} | ` +
      `${ms(median(r.admitSeconds))} | ${round(median(r.mainThreadMs), 1)} ms / ${round(r.firstMainThreadMs, 1)} ms | ${round(r.heapPeakMb, 1)} | ` +
      `${round(r.heapGrowthMb, 1)} | ${round(r.rssPeakMb, 1)} | ${r.candidates} | ${r.candidateSteps} | ${r.verified ? 'yes' : '**NO**'} | ${r.decisions} |`
    );
  });
  return [head, ...rows].join('\n');
}

export const componentSection: BenchSection = {
  id: 'components',
  title: 'Scaling with components and hosts',
  sizeIds: COMPONENT_ROWS.map((row) => row.id),
  async run(context: BenchContext): Promise<SectionResult> {
    const outcomes: { row: ComponentRow; report: RowOutcome }[] = [];
    for (const row of COMPONENT_ROWS.filter((r) => !context.sizes || context.sizes.includes(r.id))) {
      const runs = context.runs ?? defaultRuns(row);
      context.log(`components ${row.id}: ${runs} runs`);
      const report = await runInChild({ rowId: row.id, seed: context.seed, runs, ...(context.timeLimitSeconds !== undefined ? { timeLimitSeconds: context.timeLimitSeconds } : {}) });
      if (report.ok) context.log(`components ${row.id}: solve median ${ms(median(report.solveSeconds))}, heap peak ${round(report.heapPeakMb, 1)} MB`);
      outcomes.push({ row, report });
    }
    const problems = outcomes.flatMap(({ row, report }) => rowProblems(row, report));
    const large = outcomes.filter(({ row, report }) => report.ok && row.kind === 'components' && row.components >= COMPONENT_TARGETS.largeComponents);
    const huge = outcomes.filter(({ row, report }) => report.ok && row.kind === 'hosts' && row.hosts >= 1_000_000);
    // Capabilities: each row beside the same instance without them (same seed, same hosts), as a ratio of medians.
    const capabilityRatios = outcomes.flatMap(({ row, report }) => {
      if (row.kind !== 'capabilities' || !report.ok) return [];
      const plain = outcomes.find((o) => o.row.id === row.id.replace(/-capabilities$/, ''))?.report;
      const solve = median(report.solveSeconds);
      if (!plain || !plain.ok) return [`${row.id}: solve median ${ms(solve)} (the instance without capabilities failed)`];
      const without = median(plain.solveSeconds);
      return [`${row.id}: solve median ${ms(solve)}, ${round(solve / without, 2)}× the same instance without capabilities (${ms(without)})`];
    });
    const verdict = [
      `- ${large.length && large.every(({ row, report }) => rowProblems(row, report).length === 0) ? 'PASS' : '**FAIL**'}: a ${COMPONENT_TARGETS.largeComponents}-component service solved in < ${COMPONENT_TARGETS.largeMaxSeconds} s with a heap < ${COMPONENT_TARGETS.largeMaxHeapMb} MB, federation allowed and forbidden`,
      `- ${huge.length && huge.every(({ row, report }) => rowProblems(row, report).length === 0) ? 'PASS' : '**FAIL**'}: 5×5 on 1,000,000 hosts solved in < ${COMPONENT_TARGETS.hugeFleetMaxSeconds * 1000} ms`,
      `- ${outcomes.every(({ row, report }) => row.kind !== 'capabilities' || rowProblems(row, report).length === 0) ? 'PASS' : '**FAIL**'}: 5×5 with capabilities on 50,000 hosts solved in < ${COMPONENT_TARGETS.hugeFleetMaxSeconds * 1000} ms`,
      ...capabilityRatios.map((line) => `  - ${line}`),
      `- ${outcomes.every(({ report }) => report.ok && report.verified) ? 'PASS' : '**FAIL**'}: every answer verified`,
    ];
    const markdown = [
      '## Scaling with components and hosts',
      '',
      problems.length > 0 ? `> **⚠ problems:**\n${problems.map((p) => `> - ${p}`).join('\n')}\n` : '',
      'Instances: `componentScalingModel({ seed, components, federationAllowed, capacity })` (bench/generator.ts): one service, ' +
        "the generator's component mix, a service rule per 25 components (no High anti-affinity rule), one host per component; " +
        `and \`generateModel({ seed: ${context.seed}, services: 5, components: 5, hosts: 1000000, rules: true })\`. Host lists frozen, as the gateway hands them over.`,
      '',
      'Method: one fresh Node process per row (`--expose-gc`). "solve" is `solveGreedy` in that process (`SolveResult.seconds`, ' +
        'after one warm-up); "heap peak" is the committed heap (heapTotal) right after a solve, model included, and "heap growth" ' +
        'the heap used right after a solve minus before it (after a GC). "admit via worker" is the wall time of `admit()` with the ' +
        `worker-backed greedy (the service's path: validate, solve in a worker thread, verify, decide), after ${ADMIT_WARMUPS} warm-up ` +
        'admissions; "event loop per admission" is what of it runs on the caller\'s thread (validate + verify + decide), steady and on the first admission of a new host ' +
        'list (which builds what is kept per list). "verified": every in-process answer passed `verify` with its objective (admit() ' +
        'refuses any other). Walk steps: the work of candidate generation, linear in components.',
      '',
      renderTable(outcomes),
      '',
      '### Verdict',
      '',
      ...verdict,
    ]
      .filter((line, k, all) => !(line === '' && all[k - 1] === ''))
      .join('\n');
    return { markdown, ok: outcomes.every(({ report }) => report.ok && report.verified), problems };
  },
};

// ---------------------------------------------------------------------------------------------
// Worker entry: `node dist/bench/component-bench.js --worker '<Request JSON>'`.

if (require.main === module && process.argv[2] === '--worker') {
  const request = JSON.parse(process.argv[3] ?? '{}') as Request;
  const send = (report: RowOutcome): void => {
    if (process.send) process.send(report, undefined, {}, () => process.exit(0));
    else {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      process.exit(0);
    }
  };
  runRow(request).then(send, (error: unknown) =>
    send({ ok: false, rowId: request.rowId, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
}
