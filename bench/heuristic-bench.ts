/**
 * Bench section: the greedy (in process) on every BENCH_SIZES instance, one fresh child process per size, every result verified.
 * Parent side (heuristicSection) forks and renders markdown; worker side (this file run with --worker) measures.
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import type { Verification } from '../admission-controller/verification';
import type { AdmissionModel, Solver, SolveResult } from '../model/types';
import { BENCH_SIZES, capacityRatio, findBenchSize, generateModel, totalFreeCpus, totalMaxDemand, type BenchSize } from './generator';
import type { BenchContext, BenchSection, SectionResult } from './run';

/** Targets of the project (README "Figures to beat" and the brief): checked in the verdict. */
export const TARGETS = {
  minSpeedUp: 100,
  largeSizeId: ['5x5-50000-loose', '5x5-50000-tight'],
  largeMaxSeconds: 1,
  maxHeapMb: 300,
} as const;

// ---------------------------------------------------------------------------------------------
// Worker protocol (JSON over the fork IPC channel).

export interface WorkerRequest {
  readonly sizeId: string;
  readonly seed: number;
  readonly runs: number;
  /** undefined: the solver's own default budget. */
  readonly timeLimitSeconds?: number;
}

export interface RunRecord {
  /** result.seconds: the solver's own solve time. */
  readonly seconds: number;
  /** Wall time around `await solver.solve(…)`, as a cross-check of result.seconds. */
  readonly wallSeconds: number;
  readonly verifySeconds: number;
  readonly status: string;
  /** Objective as the solver reports it. */
  readonly objective: number;
  /** Objective recomputed by the verifier. */
  readonly verifiedObjective: number;
  readonly feasible: boolean;
  /** First few violation messages (an infeasible result is a bug). */
  readonly violations: readonly string[];
  readonly violationCount: number;
  /** The solver's free-form statistics (e.g. greedy's timedOut flag: a run that hit its budget). */
  readonly stats: Readonly<Record<string, number | string>>;
}

export interface WorkerSuccess {
  readonly ok: true;
  readonly sizeId: string;
  readonly seed: number;
  readonly generateSeconds: number;
  readonly hosts: number;
  readonly services: number;
  readonly maxVms: number;
  readonly freeCpus: number;
  readonly maxDemand: number;
  readonly capacityRatio: number;
  /** Warm-up solves, not counted (JIT tiering); the first is reported as the cold time. Verified like the rest. */
  readonly warmups: readonly RunRecord[];
  readonly runs: readonly RunRecord[];
  /** JS heap after generating the model and a full GC (what the model itself costs). */
  readonly baselineHeapMb: number;
  /** Peak committed JS heap (heapTotal) seen during or right after a solve: the conservative heap figure. */
  readonly heapPeakMb: number;
  /** Peak live-or-not-yet-collected JS heap (heapUsed) seen during or right after a solve. */
  readonly heapUsedPeakMb: number;
  /** Peak resident set size of the whole child process (getrusage maxRSS). */
  readonly rssPeakMb: number;
  /** 1-minute load average when the child started: other processes on the machine make timings noisy. */
  readonly loadAverage: number;
}

export interface WorkerFailure {
  readonly ok: false;
  readonly sizeId: string;
  readonly error: string;
}

export type WorkerReport = WorkerSuccess | WorkerFailure;

const MB = 1024 * 1024;
/** Thousands separators by hand: toLocaleString depends on the ICU build of Node. */
const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------------------------------------
// Worker side.

/** Tracks memory peaks; the interval catches solvers that yield, the explicit samples the ones that do not. */
class MemoryProbe {
  heapTotal = 0;
  heapUsed = 0;
  private active = false;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      if (this.active) this.sample();
    }, 2);
    this.timer.unref();
  }

  sample(): void {
    const m = process.memoryUsage();
    if (m.heapTotal > this.heapTotal) this.heapTotal = m.heapTotal;
    if (m.heapUsed > this.heapUsed) this.heapUsed = m.heapUsed;
  }

  start(): void {
    this.active = true;
    this.sample();
  }

  stop(): void {
    this.sample();
    this.active = false;
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}

function collectGarbage(): void {
  // Started with --expose-gc by the parent: each run starts from a clean heap, so runs do not pay for each other.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

async function measureOnce(
  solver: Solver,
  verify: (model: AdmissionModel, allocation: SolveResult['allocation']) => Verification | Promise<Verification>,
  model: AdmissionModel,
  timeLimitSeconds: number | undefined,
  probe: MemoryProbe,
): Promise<RunRecord> {
  collectGarbage();
  probe.start();
  const t0 = process.hrtime.bigint();
  const result = await solver.solve(model, timeLimitSeconds === undefined ? {} : { timeLimitSeconds });
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  probe.stop();

  const v0 = process.hrtime.bigint();
  const verification = await verify(model, result.allocation);
  const verifySeconds = Number(process.hrtime.bigint() - v0) / 1e9;
  return {
    seconds: result.seconds,
    wallSeconds,
    verifySeconds,
    status: result.status,
    objective: result.objective,
    verifiedObjective: verification.objective,
    feasible: verification.feasible,
    violations: verification.violations.slice(0, 5).map((v) => `${v.constraint}: ${v.message}`),
    violationCount: verification.violations.length,
    stats: result.stats ?? {},
  };
}

export async function runWorker(request: WorkerRequest): Promise<WorkerSuccess> {
  const size = findBenchSize(request.sizeId);
  if (!size) throw new Error(`unknown bench size '${request.sizeId}'`);
  // Loaded here, not at the top: the parent never needs them, and a broken solver then fails one size, not the bench.
  // In this process, as the pure function: the figures are the algorithm's, heap included (the worker pool that
  // admit() uses has its own heap; the components section measures that path).
  const { inProcessGreedySolver } = await import('../solvers/greedy');
  const { verify } = await import('../admission-controller/verifier');
  const solver: Solver = inProcessGreedySolver;

  const loadAverage = os.loadavg()[0] ?? 0;
  const g0 = process.hrtime.bigint();
  const model = generateModel({ seed: request.seed, ...size.options });
  const generateSeconds = Number(process.hrtime.bigint() - g0) / 1e9;
  collectGarbage();
  const baselineHeapMb = process.memoryUsage().heapUsed / MB;

  const probe = new MemoryProbe();
  try {
    const warmups: RunRecord[] = [];
    for (let k = 0; k < WARMUP_SOLVES; k++) {
      warmups.push(await measureOnce(solver, verify, model, request.timeLimitSeconds, probe));
    }
    const runs: RunRecord[] = [];
    for (let k = 0; k < request.runs; k++) {
      runs.push(await measureOnce(solver, verify, model, request.timeLimitSeconds, probe));
    }
    return {
      ok: true,
      sizeId: size.id,
      seed: request.seed,
      generateSeconds,
      hosts: model.hosts.length,
      services: model.services.length,
      maxVms: model.services.reduce((sum, s) => sum + s.components.reduce((n, c) => n + c.maxVms, 0), 0),
      freeCpus: totalFreeCpus(model),
      maxDemand: totalMaxDemand(model),
      capacityRatio: capacityRatio(model),
      warmups,
      runs,
      baselineHeapMb,
      heapPeakMb: probe.heapTotal / MB,
      heapUsedPeakMb: probe.heapUsed / MB,
      // maxRSS is in kilobytes on every platform Node supports.
      rssPeakMb: (process.resourceUsage().maxRSS * 1024) / MB,
      loadAverage,
    };
  } finally {
    probe.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Parent side.

/**
 * Untimed solves before the timed ones: V8 tiers hot functions up over the first few calls, and an admission
 * service answers many requests per process, so the steady state is the figure that matters (cold is shown too).
 */
export const WARMUP_SOLVES = 2;

/** Timed runs per size (≥ 3): more where a run is short and noise is relatively larger. */
export function defaultRuns(size: BenchSize): number {
  const hosts = size.options.hosts;
  if (hosts <= 500) return 21;
  if (hosts <= 2000) return 11;
  return 7;
}

function childTimeoutMs(runs: number, timeLimitSeconds: number | undefined): number {
  // Generous: a slow solve is a result to report, only a hang is killed.
  return (60 + (runs + WARMUP_SOLVES) * Math.max(120, 3 * (timeLimitSeconds ?? 0))) * 1000;
}

/** Runs one size in a fresh Node process so heap and RSS figures belong to that size alone. */
export function runSizeInChild(request: WorkerRequest): Promise<WorkerReport> {
  if (__filename.endsWith('.ts')) {
    return Promise.reject(new Error('the heuristic bench forks compiled JavaScript: run `npm run build` and use dist/'));
  }
  return new Promise((resolve) => {
    const child = fork(__filename, ['--worker', JSON.stringify(request)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: WorkerReport | undefined;
    let settled = false;
    const finish = (r: WorkerReport): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timeoutMs = childTimeoutMs(request.runs, request.timeLimitSeconds);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, sizeId: request.sizeId, error: `timed out after ${timeoutMs / 1000} s (child killed)` });
    }, timeoutMs);
    child.on('message', (message) => {
      report = message as WorkerReport;
    });
    child.on('error', (error) => finish({ ok: false, sizeId: request.sizeId, error: `fork failed: ${error.message}` }));
    child.on('exit', (code, signal) => {
      finish(
        report ?? {
          ok: false,
          sizeId: request.sizeId,
          error: `child exited (${signal ?? `code ${code}`}) without a report`,
        },
      );
    });
  });
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Seconds with enough digits for sub-millisecond solves. */
function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 0.001) return `${round(s * 1e6, 0)} µs`;
  if (s < 1) return `${round(s * 1000, s < 0.01 ? 2 : 1)} ms`;
  return `${round(s, 2)} s`;
}

function formatSpeedUp(size: BenchSize, ours: number): string {
  if (size.referenceSeconds === null) return 'no reference';
  const ratio = size.referenceSeconds / ours;
  const text = ratio >= 100 ? `${thousands(Math.round(ratio))}×` : `${round(ratio, 1)}×`;
  return size.referenceIsLowerBound ? `> ${text}` : text;
}

export interface SizeOutcome {
  readonly size: BenchSize;
  readonly report: WorkerReport;
}

const objectivesAgree = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

/** Bugs in one size's figures: infeasible results, objective mismatches, crashes. */
function sizeProblems(o: SizeOutcome): string[] {
  if (!o.report.ok) return [`${o.size.id}: ${o.report.error}`];
  const all = [...o.report.warmups, ...o.report.runs];
  const problems: string[] = [];
  const infeasible = all.filter((r) => !r.feasible);
  if (infeasible.length > 0) {
    const first = infeasible[0]!;
    problems.push(
      `${o.size.id}: INFEASIBLE result in ${infeasible.length}/${all.length} solves ` +
        `(${first.violationCount} violations, e.g. ${first.violations[0] ?? 'none listed'})`,
    );
  }
  const mismatched = all.filter((r) => !objectivesAgree(r.objective, r.verifiedObjective));
  if (mismatched.length > 0) {
    const first = mismatched[0]!;
    problems.push(`${o.size.id}: solver objective ${first.objective} ≠ verifier objective ${first.verifiedObjective}`);
  }
  const bad = all.filter((r) => r.status === 'error' || r.status === 'infeasible');
  if (bad.length > 0) problems.push(`${o.size.id}: solver status '${bad[0]!.status}' (rejecting everything is always feasible)`);
  return problems;
}

function renderTable(outcomes: readonly SizeOutcome[]): string {
  const head =
    '| instance | flavour | free / demand | runs | median | min | cold | verify (median) | heap peak MB | RSS peak MB | objective | verified | OPTIMIS | speed-up |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = outcomes.map(({ size, report: r }) => {
    const reference =
      size.referenceSeconds === null ? '–' : `${size.referenceIsLowerBound ? '> ' : ''}${size.referenceSeconds} s`;
    if (!r.ok) return `| ${size.label} | ${size.flavour} | | | **failed** | | | | | | | | ${reference} | |`;
    const seconds = r.runs.map((x) => x.seconds);
    const med = median(seconds);
    const all = [...r.warmups, ...r.runs];
    const feasible = all.every((x) => x.feasible);
    const objectives = new Set(r.runs.map((x) => round(x.verifiedObjective, 4)));
    const objective = `${round(all[all.length - 1]?.verifiedObjective ?? NaN, 4)}${objectives.size > 1 ? ' (varies)' : ''}`;
    return (
      `| ${size.label} | ${size.flavour} | ${round(r.capacityRatio, 2)} | ${r.runs.length} | ${formatSeconds(med)} | ` +
      `${formatSeconds(Math.min(...seconds))} | ${formatSeconds(r.warmups[0]?.seconds ?? NaN)} | ` +
      `${formatSeconds(median(r.runs.map((x) => x.verifySeconds)))} | ${round(r.heapPeakMb, 1)} | ${round(r.rssPeakMb, 1)} | ` +
      `${objective} | ${feasible ? 'feasible' : '**INFEASIBLE**'} | ${reference} | ${formatSpeedUp(size, med)} |`
    );
  });
  return [head, ...rows].join('\n');
}

function renderDetails(outcomes: readonly SizeOutcome[]): string {
  const lines = outcomes.map(({ size, report: r }) => {
    if (!r.ok) return `- \`${size.id}\`: **failed**: ${r.error}`;
    const wall = median(r.runs.map((x) => x.wallSeconds));
    const timedOut = r.runs.filter((x) => Number(x.stats['timedOut'] ?? 0) > 0).length;
    const stats = Object.entries(r.runs[0]?.stats ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return (
      `- \`${size.id}\`: ${r.services} services, ${r.maxVms} VMs at most, ${r.hosts} hosts, ` +
      `${r.freeCpus} free CPUs for a maximum demand of ${r.maxDemand}; generated in ${formatSeconds(r.generateSeconds)}; ` +
      `wall median ${formatSeconds(wall)}; heap used peak ${round(r.heapUsedPeakMb, 1)} MB ` +
      `(model alone ${round(r.baselineHeapMb, 1)} MB); status ${r.runs[0]?.status ?? '–'}; load average ${round(r.loadAverage, 2)}` +
      (timedOut > 0 ? `; **hit its time budget in ${timedOut}/${r.runs.length} runs** (times are the budget, not convergence)` : '') +
      (stats ? `; solver stats: ${stats}` : '')
    );
  });
  return lines.join('\n');
}

function verdictLine(pass: boolean | null, text: string): string {
  const mark = pass === null ? 'NOT RUN' : pass ? 'PASS' : '**FAIL**';
  return `- ${mark}: ${text}`;
}

function renderVerdict(outcomes: readonly SizeOutcome[], problems: readonly string[]): { markdown: string; pass: boolean } {
  const done = outcomes.filter((o): o is { size: BenchSize; report: WorkerSuccess } => o.report.ok);
  const medianOf = (r: WorkerSuccess): number => median(r.runs.map((x) => x.seconds));

  // Speed-up: every size with a reference; a timeout reference is a lower bound, so it must clear 100× by itself.
  const withReference = done.filter((o) => o.size.referenceSeconds !== null);
  const speedUps = withReference.map((o) => ({ id: o.size.id, ratio: o.size.referenceSeconds! / medianOf(o.report) }));
  const worst = speedUps.reduce<{ id: string; ratio: number } | null>((w, s) => (w === null || s.ratio < w.ratio ? s : w), null);
  const missingRef = outcomes.some((o) => o.size.referenceSeconds !== null && !o.report.ok);
  const speedPass = withReference.length === 0 ? null : !missingRef && speedUps.every((s) => s.ratio >= TARGETS.minSpeedUp);

  const large = done.filter((o) => (TARGETS.largeSizeId as readonly string[]).includes(o.size.id));
  const largeFailed = outcomes.some((o) => (TARGETS.largeSizeId as readonly string[]).includes(o.size.id) && !o.report.ok);
  const largePass = large.length === 0 && !largeFailed ? null : !largeFailed && large.every((o) => medianOf(o.report) < TARGETS.largeMaxSeconds);

  const heaviest = done.reduce<{ id: string; mb: number } | null>(
    (h, o) => (h === null || o.report.heapPeakMb > h.mb ? { id: o.size.id, mb: o.report.heapPeakMb } : h),
    null,
  );
  const heapPass = heaviest === null ? null : heaviest.mb < TARGETS.maxHeapMb;
  const bugFree = problems.length === 0;

  const lines = [
    verdictLine(
      speedPass,
      `≥ ${TARGETS.minSpeedUp}× faster than the OPTIMIS heuristic on every size with a reference` +
        (worst ? ` (worst: ${formatSpeedUp(findBenchSize(worst.id)!, medianOfId(done, worst.id))} on \`${worst.id}\`)` : ''),
    ),
    verdictLine(
      largePass,
      `5×5 on 50,000 hosts under ${TARGETS.largeMaxSeconds} s` +
        (large.length > 0 ? ` (${large.map((o) => `${o.size.flavour} ${formatSeconds(medianOf(o.report))}`).join(', ')})` : ''),
    ),
    verdictLine(
      heapPass,
      `peak heap under ${TARGETS.maxHeapMb} MB on every size` + (heaviest ? ` (max ${round(heaviest.mb, 1)} MB on \`${heaviest.id}\`)` : ''),
    ),
    verdictLine(outcomes.length === 0 ? null : bugFree, 'every solve finished and every result is feasible under the verifier, with the solver\'s objective'),
  ];
  const pass = speedPass !== false && largePass !== false && heapPass !== false && bugFree;
  return { markdown: lines.join('\n'), pass };
}

function medianOfId(done: readonly { size: BenchSize; report: WorkerSuccess }[], id: string): number {
  const o = done.find((d) => d.size.id === id)!;
  return median(o.report.runs.map((x) => x.seconds));
}

export function renderSection(outcomes: readonly SizeOutcome[], context: Pick<BenchContext, 'seed' | 'timeLimitSeconds'>): SectionResult {
  const problems = outcomes.flatMap(sizeProblems);
  const verdict = renderVerdict(outcomes, problems);
  const markdown = [
    '## Greedy heuristic vs the OPTIMIS heuristic',
    '',
    problems.length > 0
      ? `> **⚠ BUG — the heuristic bench found problems (an infeasible result is always a bug):**\n${problems.map((p) => `> - ${p}`).join('\n')}\n`
      : '',
    `Solver: \`inProcessGreedySolver\` (solvers/greedy, the pure \`solveGreedy\` in the measuring process), ` +
      (context.timeLimitSeconds === undefined
        ? 'its default time budget. '
        : `\`timeLimitSeconds: ${context.timeLimitSeconds}\`. `) +
      `Instances: \`generateModel({ seed: ${context.seed}, ...BENCH_SIZES[k].options })\` (bench/generator.ts): ` +
      "'loose' has free CPUs ≥ 3× the maximum demand and fixed component counts; 'tight' has free CPUs at 40–70 % " +
      'of it and variable component counts (the README\'s "tighter, random sizes"); both carry affinity rules, ' +
      '20 % federation-forbidden services and 10 % violated TREC bounds, which the OPTIMIS heuristic could not run.',
    '',
    'Method: each size runs in a fresh Node process (`node --expose-gc dist/bench/heuristic-bench.js --worker …`) so ' +
      `memory figures belong to that size. ${WARMUP_SOLVES} warm-up solves (not counted; "cold" is the first), then the timed solves, each after ` +
      'a full GC. Times are `SolveResult.seconds`, the solver\'s own solve time (no process start, no model generation). ' +
      'Every result, warm-up included, is checked by `verify` (admission-controller/verifier.ts); "verify" is its time. ' +
      '"heap peak" is the largest committed V8 heap (heapTotal) seen during or right after a solve (an upper bound on ' +
      'live data, model included); "RSS peak" is the child\'s getrusage maxRSS, whole process. "OPTIMIS" is the ' +
      'README\'s median for its Python heuristic on a 2-core machine; speed-up = OPTIMIS / our median.',
    '',
    renderTable(outcomes),
    '',
    '### Verdict',
    '',
    verdict.markdown,
    '',
    '### Details',
    '',
    renderDetails(outcomes),
  ]
    .filter((line, k, all) => !(line === '' && all[k - 1] === ''))
    .join('\n');
  return { markdown, ok: problems.length === 0, problems };
}

export const heuristicSection: BenchSection = {
  id: 'heuristic',
  title: 'Greedy heuristic vs the OPTIMIS heuristic',
  sizeIds: BENCH_SIZES.map((s) => s.id),
  async run(context: BenchContext): Promise<SectionResult> {
    const unknown = (context.sizes ?? []).filter((id) => !findBenchSize(id));
    if (unknown.length > 0) {
      throw new Error(`unknown size(s): ${unknown.join(', ')} (known: ${BENCH_SIZES.map((s) => s.id).join(', ')})`);
    }
    const sizes = context.sizes ? BENCH_SIZES.filter((s) => context.sizes!.includes(s.id)) : BENCH_SIZES;
    const outcomes: SizeOutcome[] = [];
    for (const size of sizes) {
      const runs = context.runs ?? defaultRuns(size);
      context.log(`heuristic ${size.id}: ${runs} runs + warm-up`);
      const report = await runSizeInChild({ sizeId: size.id, seed: context.seed, runs, timeLimitSeconds: context.timeLimitSeconds });
      if (report.ok) {
        context.log(`heuristic ${size.id}: median ${formatSeconds(median(report.runs.map((r) => r.seconds)))}`);
      }
      const outcome = { size, report };
      for (const p of sizeProblems(outcome)) context.log(`PROBLEM ${p}`);
      outcomes.push(outcome);
    }
    return renderSection(outcomes, context);
  },
};

// ---------------------------------------------------------------------------------------------
// Worker entry: `node dist/bench/heuristic-bench.js --worker '<WorkerRequest JSON>'`.

if (require.main === module && process.argv[2] === '--worker') {
  const request = JSON.parse(process.argv[3] ?? '{}') as WorkerRequest;
  const send = (report: WorkerReport): void => {
    // Exit only once the report is flushed to the parent.
    if (process.send) process.send(report, undefined, {}, () => process.exit(0));
    else {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      process.exit(0);
    }
  };
  runWorker(request).then(send, (error: unknown) =>
    send({
      ok: false,
      sizeId: request.sizeId,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    }),
  );
}
