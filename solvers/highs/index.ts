/**
 * The HiGHS solver: builds the exact MILP (lp-model.ts) and solves it off the main thread in one reusable
 * worker_threads Worker running HiGHS (WebAssembly). Returns HiGHS's own objective; the verifier judges it elsewhere.
 */
import type { CapabilityPlan } from '../../model/capabilities';
import { Worker } from 'node:worker_threads';
import type { AdmissionModel, Allocation, SolveOptions, SolveResult, SolveStatus, Solver } from '../../model/types';
import { buildLpModel, decodeAllocation, type LpModelSize, type LpVariableMap } from './lp-model';

export { buildLpModel, decodeAllocation, LpTooLargeError, reduceHosts, rejectAllAllocation } from './lp-model';
export type { ComponentVars, LoosePlacement, LpBuildOptions, LpModel, LpModelSize, LpVariableMap, PlacementVar } from './lp-model';

const DEFAULT_TIME_LIMIT_SECONDS = 30;
/** We want proven optima; 1e-6 is HiGHS's own floor in practice. */
const DEFAULT_MIP_REL_GAP = 1e-6;
/** Row and integrality tolerance of accepted MIP solutions (HiGHS default 1e-6); see runOptions in solveHighs. */
const MIP_FEASIBILITY_TOLERANCE = 1e-9;
/** Below this much budget left, a solve without presolve after a presolve defect is not started (it would overrun). */
const MIN_RETRY_SECONDS = 0.05;

/** HiGHS options sent to the worker (snake_case, as HiGHS names them). */
export interface HighsRunOptions {
  readonly time_limit: number;
  readonly mip_rel_gap: number;
  readonly [name: string]: number | string | boolean;
}

/** What the worker reports for one LP. */
export interface HighsRunReply {
  /** HiGHS model status code (highs.constants.modelStatus) and its name (`optimal`, `timeLimit`…). */
  readonly statusCode: number;
  readonly statusName: string;
  /** Whether a feasible primal solution (an incumbent) exists. */
  readonly hasSolution: boolean;
  readonly objective: number;
  readonly dualBound: number | null;
  readonly mipGap: number | null;
  readonly nodes: number | null;
  /** Non-zero column values by name. */
  readonly values: Readonly<Record<string, number>>;
  /** Time inside the worker: LP parsing, HiGHS run, solution extraction (no worker start, no queueing). */
  readonly solveMs: number;
  /** Size of the worker's WebAssembly memory after this solve (bytes), when the module reports it. */
  readonly wasmMemoryBytes?: number | null;
  /** "untransformed violations" warnings in HiGHS's log: presolve produced points invalid for the model. */
  readonly presolveWarnings: number;
}

// ---------------------------------------------------------------------------------------------
// The worker. Plain JavaScript run with `eval: true`, so neither ts-jest nor a build step is involved.

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const loadHighs = require(workerData.highsPath);
// HiGHS's log is read for one line only: "untransformed violations" means a presolved incumbent did not map back
// to a valid point of the original model, i.e. presolve went wrong (see lp-model.ts, PRESOLVE_NOTE).
let presolveWarnings = 0;
const ready = loadHighs({
  print: (line) => { if (line.indexOf('untransformed violations') >= 0) presolveWarnings++; },
  printErr: () => {},
});
parentPort.on('message', async (msg) => {
  let highs;
  try {
    highs = await ready;
  } catch (e) {
    parentPort.postMessage({ id: msg.id, fatal: true, error: 'cannot load HiGHS: ' + String((e && e.message) || e) });
    return;
  }
  let model = null;
  try {
    const t0 = performance.now();
    model = highs.createModel({ format: 'lp', data: msg.lp });
    presolveWarnings = 0;
    model.options.set(Object.assign({ output_flag: true }, msg.options));
    if (msg.start) {
      // Dense start: every column 0 except the named ones. HiGHS checks it and ignores it if it is infeasible.
      const colValue = new Float64Array(model.getDimensions().numCols);
      for (const name of Object.keys(msg.start)) colValue[model.getColByName(name)] = msg.start[name];
      model.setSolution({ colValue });
    }
    model.run();
    const info = (name) => {
      try {
        const v = model.info.get(name);
        return typeof v === 'bigint' ? Number(v) : v;
      } catch (e) {
        return null;
      }
    };
    const statusCode = model.getModelStatus();
    const names = highs.constants.modelStatus;
    let statusName = 'unknown';
    for (const k of Object.keys(names)) if (names[k] === statusCode) statusName = k;
    const hasSolution = info('primal_solution_status') === 2;
    const values = {};
    if (hasSolution) {
      const col = model.getSolution().colValue;
      for (let i = 0; i < col.length; i++) if (Math.abs(col[i]) > 1e-9) values[model.getColName(i)] = col[i];
    }
    parentPort.postMessage({
      id: msg.id,
      reply: {
        statusCode, statusName, hasSolution,
        objective: hasSolution ? model.getObjectiveValue() : NaN,
        dualBound: info('mip_dual_bound'), mipGap: info('mip_gap'), nodes: info('mip_node_count'),
        values, solveMs: performance.now() - t0, presolveWarnings,
        // WebAssembly memory only grows: a plateau over many solves shows that nothing leaks.
        wasmMemoryBytes: typeof highs.memoryBytes === 'number' ? highs.memoryBytes : null,
      },
    });
  } catch (e) {
    // A WebAssembly abort (out of memory, RuntimeError) leaves the module unusable: the parent replaces us.
    parentPort.postMessage({ id: msg.id, fatal: true, error: String((e && e.stack) || e) });
  } finally {
    try { if (model) model.dispose(); } catch (e) { /* already broken; the worker is being replaced */ }
  }
});
`;

interface WorkerMessage {
  readonly id: number;
  readonly reply?: HighsRunReply;
  readonly fatal?: boolean;
  readonly error?: string;
}

export class HighsWorkerError extends Error {
  constructor(
    message: string,
    readonly reason: 'crash' | 'watchdog' | 'fatal',
  ) {
    super(message);
    this.name = 'HighsWorkerError';
  }
}

/**
 * One long-lived worker, one job at a time (HiGHS blocks its thread). A worker that crashed, aborted or overran
 * the watchdog is terminated and never reused; the next job starts a fresh one.
 */
class HighsWorkerHost {
  private worker: Worker | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private started = 0;

  get stats(): { alive: number; started: number } {
    return { alive: this.worker ? 1 : 0, started: this.started };
  }

  run(lp: string, options: HighsRunOptions, watchdogMs: number, start?: Readonly<Record<string, number>>, signal?: AbortSignal): Promise<HighsRunReply> {
    const job = this.queue.then(() => this.runNow(lp, options, watchdogMs, start, signal));
    this.queue = job.catch(() => undefined);
    return job;
  }

  async shutdown(): Promise<void> {
    await this.queue;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { highsPath: require.resolve('highs') } });
    // An idle worker must not keep the process alive; it is ref'd while a job runs.
    worker.unref();
    this.started++;
    return worker;
  }

  private retire(worker: Worker): void {
    if (this.worker === worker) this.worker = null;
    void worker.terminate().catch(() => undefined);
  }

  private runNow(
    lp: string,
    options: HighsRunOptions,
    watchdogMs: number,
    start: Readonly<Record<string, number>> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HighsRunReply> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const worker = (this.worker ??= this.spawn());
    const id = this.nextId++;
    return new Promise<HighsRunReply>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        worker.unref();
      };
      const fail = (error: unknown): void => {
        cleanup();
        this.retire(worker);
        reject(error);
      };
      // HiGHS cannot be interrupted from outside its thread: an aborted solve costs the worker.
      const onAbort = (): void => fail(signal!.reason);
      const onMessage = (msg: WorkerMessage): void => {
        if (msg.id !== id) return;
        if (msg.fatal || !msg.reply) {
          fail(new HighsWorkerError(`HiGHS failed: ${msg.error ?? 'no reply'}`, 'fatal'));
          return;
        }
        cleanup();
        resolve(msg.reply);
      };
      const onError = (err: Error): void => fail(new HighsWorkerError(`HiGHS worker crashed: ${err.message}`, 'crash'));
      const onExit = (code: number): void => fail(new HighsWorkerError(`HiGHS worker exited with code ${code}`, 'crash'));
      const timer = setTimeout(
        () => fail(new HighsWorkerError(`HiGHS did not return within ${watchdogMs} ms; worker terminated`, 'watchdog')),
        watchdogMs,
      );
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.ref();
      worker.postMessage({ id, lp, options, start });
    });
  }
}

const host = new HighsWorkerHost();

/**
 * Solves CPLEX LP text in the shared worker. `watchdogMs` defaults to time_limit + grace; `start` is an optional
 * MIP start by column name (unnamed columns 0); an aborted `signal` rejects with its reason and replaces the worker.
 */
export function runHighs(
  lp: string,
  options: HighsRunOptions,
  watchdogMs?: number,
  start?: Readonly<Record<string, number>>,
  signal?: AbortSignal,
): Promise<HighsRunReply> {
  return host.run(lp, options, watchdogMs ?? watchdogFor(options.time_limit), start, signal);
}

/** Worker bookkeeping, for tests and metrics: `started` only grows when a worker had to be replaced. */
export function highsWorkerStats(): { alive: number; started: number } {
  return host.stats;
}

/** Starts the worker and loads HiGHS ahead of the first admission (a trivial LP), so no request pays for it. */
export async function warmUpHighs(): Promise<void> {
  await runHighs('Maximize\n obj: 1 w\nSubject To\n w <= 1\nEnd\n', { time_limit: 10, mip_rel_gap: 0 });
}

/** Terminates the worker (graceful shutdown, end of tests). A later solve starts a new one. */
export function shutdownHighsWorker(): Promise<void> {
  return host.shutdown();
}

/** time_limit plus a grace period for LP parsing, presolve overrun and result extraction. */
function watchdogFor(timeLimitSeconds: number): number {
  return Math.ceil((timeLimitSeconds * 1.2 + 10) * 1000);
}

// ---------------------------------------------------------------------------------------------
// The Solver

export interface HighsSolverOptions {
  /** Exact host reduction of model.md §4.4 (default true). */
  readonly hostReduction?: boolean;
  /** Symmetry-breaking rows among identical hosts (default true). */
  readonly symmetryBreaking?: boolean;
  /**
   * Supplies a MIP start per solve (e.g. the greedy heuristic's allocation). Without one, or when it cannot be
   * expressed in the reduced model, HiGHS starts from the always-feasible "reject everything" point.
   */
  readonly warmStart?: (model: AdmissionModel, options: SolveOptions) => Allocation | null | undefined;
}

/**
 * A MILP ready for HiGHS, as plain data: `auto` has it built in the greedy's worker thread (building costs tens of
 * microseconds a column, which would otherwise block the event loop), then hands it to the HiGHS worker.
 */
export interface PreparedLp {
  readonly text: string;
  /** The MIP start by column name (non-zero columns only). */
  readonly start: Readonly<Record<string, number>>;
  readonly startKind: 'given' | 'given-unusable' | 'reject-all';
  /** The MILP objective at the start (presolve defects show as answers below it). */
  readonly startObjective: number;
  readonly variables: LpVariableMap;
  readonly size: LpModelSize;
  readonly buildMs: number;
}

export interface PrepareOptions extends Omit<HighsSolverOptions, 'warmStart'> {
  /** An allocation to start from (e.g. the heuristic's); without it, or when it cannot be expressed, reject-all. */
  readonly start?: Allocation | null;
  /** See LpBuildOptions.maxColumns: LpTooLargeError above it. */
  readonly maxColumns?: number;
  /** See LpBuildOptions.capabilities (a greedy worker's hosts lack theirs). */
  readonly capabilities?: CapabilityPlan | null;
}

/** Builds the MILP and its start (pure; any thread). */
export function prepareLp(model: AdmissionModel, config: PrepareOptions = {}): PreparedLp {
  const t0 = performance.now();
  const lp = buildLpModel(model, {
    hostReduction: config.hostReduction ?? true,
    symmetryBreaking: config.symmetryBreaking ?? true,
    ...(config.maxColumns !== undefined ? { maxColumns: config.maxColumns } : {}),
    ...(config.capabilities !== undefined ? { capabilities: config.capabilities } : {}),
  });
  const given = config.start ? lp.startFrom(config.start) : null;
  const start = given ?? lp.start;
  return {
    text: lp.text,
    start,
    startKind: config.start ? (given ? 'given' : 'given-unusable') : 'reject-all',
    startObjective: lp.objectiveOf(start),
    variables: lp.variables,
    size: lp.size,
    buildMs: performance.now() - t0,
  };
}

/** One HiGHS solve; `start` is an optional allocation to start from (see HighsSolverOptions.warmStart). */
export async function solveHighs(
  model: AdmissionModel,
  options: SolveOptions = {},
  config: Omit<HighsSolverOptions, 'warmStart'> & { readonly start?: Allocation | null } = {},
): Promise<SolveResult> {
  options.signal?.throwIfAborted();
  const lp = prepareLp(model, config);
  // The budget counts from the call: building the LP has used part of it.
  const budget = options.timeLimitSeconds ?? DEFAULT_TIME_LIMIT_SECONDS;
  return solvePrepared(model, lp, { ...options, timeLimitSeconds: Math.max(0.001, budget - lp.buildMs / 1000) });
}

/**
 * Solves a prepared MILP in the HiGHS worker within options.timeLimitSeconds (counted from this call). `watchdogMs`
 * (default: the limit + 20 % + 10 s) is when a worker that has not answered is terminated (an 'error' result).
 */
export async function solvePrepared(model: AdmissionModel, lp: PreparedLp, options: SolveOptions = {}, watchdogMs?: number): Promise<SolveResult> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const lpBuildMs = lp.buildMs;
  const start = lp.start;
  const budget = options.timeLimitSeconds ?? DEFAULT_TIME_LIMIT_SECONDS;
  const runOptions: HighsRunOptions = {
    time_limit: Math.max(0.001, budget),
    mip_rel_gap: options.mipRelGap ?? DEFAULT_MIP_REL_GAP,
    // HiGHS accepts MIP solutions whose rows are violated by up to this tolerance (default 1e-6). The McCormick
    // columns w_k (objective weight 2^k·wr·Pav/V) may then sit that far above β_k·avg, putting HiGHS's objective
    // up to ~1e-5 away from the verifier's; at 1e-9 they agree to ~1e-8. Presolve stays on (defects caught below).
    mip_feasibility_tolerance: MIP_FEASIBILITY_TOLERANCE,
  };
  const t1 = performance.now();
  let reply: HighsRunReply;
  try {
    reply = await runHighs(lp.text, runOptions, watchdogMs, start, signal);
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    const waitMs = performance.now() - t1;
    return errorResult(model, lp, lpBuildMs, waitMs, waitMs, null, e instanceof Error ? e.message : String(e));
  }
  // HiGHS 1.15.1's presolve occasionally cuts off feasible points (lp-model.ts, PRESOLVE_NOTE). Three symptoms
  // give it away; then the same MILP is solved again without presolve, in what is left of the time budget.
  const doubt = presolveDoubt(reply, lp.startObjective);
  let trusted = true;
  if (doubt !== null) {
    // Within what is left of the budget: the caller's time limit holds even for the retry.
    const left = budget - (performance.now() - t1) / 1000;
    if (left < MIN_RETRY_SECONDS) trusted = false;
    else {
      try {
        const again = await runHighs(
          lp.text,
          { ...runOptions, time_limit: left, presolve: 'off' },
          watchdogMs === undefined ? undefined : Math.max(0, watchdogMs - (performance.now() - t1)),
          start,
          signal,
        );
        if (again.hasSolution || !reply.hasSolution) reply = { ...again, solveMs: reply.solveMs + again.solveMs };
        else trusted = false;
      } catch {
        if (signal?.aborted) throw signal.reason;
        trusted = false; // keep the first answer, without its claim of optimality
      }
    }
  }
  // solveMs is measured in the worker (parse + run); waitMs adds queueing and, on first use, worker start-up.
  let result = toResult(model, lp, reply, lpBuildMs, performance.now() - t1);
  if (!trusted && result.status === 'optimal') result = { ...result, status: 'feasible', gap: null, bound: null };
  return { ...result, stats: { ...result.stats, start: lp.startKind, ...(doubt ? { presolveRetry: doubt } : {}) } };
}

/** Why a HiGHS answer obtained with presolve cannot be trusted, or null. */
export function presolveDoubt(reply: HighsRunReply, startObjective: number): string | null {
  // D1–D4 make "reject everything" feasible: infeasibility is always wrong.
  if (reply.statusName === 'infeasible') return 'infeasible';
  // A presolved incumbent that did not map back to the original model.
  if (reply.presolveWarnings > 0) return 'untransformed-violations';
  // HiGHS received a feasible start; ending below it means it lost feasible points.
  if (reply.hasSolution && reply.objective < startObjective - 1e-6 * Math.max(1, Math.abs(startObjective))) return 'below-start';
  return null;
}

export function createHighsSolver(config: HighsSolverOptions = {}): Solver {
  return {
    name: 'highs',
    solve(model: AdmissionModel, options: SolveOptions = {}): Promise<SolveResult> {
      const start = config.warmStart ? config.warmStart(model, options) : null;
      return solveHighs(model, options, { ...config, start });
    },
  };
}

export const highsSolver: Solver = createHighsSolver();

function toResult(model: AdmissionModel, lp: PreparedLp, reply: HighsRunReply, lpBuildMs: number, waitMs: number): SolveResult {
  const solveMs = reply.solveMs;
  const bound = reply.dualBound !== null && Number.isFinite(reply.dualBound) ? reply.dualBound : null;
  if (!reply.hasSolution) {
    const why =
      reply.statusName === 'infeasible'
        ? 'HiGHS reported the model infeasible, which v6.0 + D1–D4 excludes (rejecting everything is always feasible): a modelling or numerical defect'
        : `HiGHS stopped with status '${reply.statusName}' and no feasible solution`;
    return errorResult(model, lp, lpBuildMs, solveMs, waitMs, reply, why, bound);
  }
  const values = reply.values;
  const allocation = decodeAllocation(lp.variables, (name) => values[name] ?? 0);
  let status: SolveStatus;
  let gap: number | null;
  if (reply.statusName === 'optimal') {
    status = 'optimal';
    gap = reply.mipGap !== null && Number.isFinite(reply.mipGap) ? Math.max(0, reply.mipGap) : 0;
  } else {
    // Time limit (or another limit) with an incumbent: a feasible answer whose distance to the proven bound is known.
    status = 'feasible';
    gap = relativeGap(reply.objective, bound);
  }
  return {
    allocation,
    objective: reply.objective,
    status,
    gap,
    bound: bound ?? (status === 'optimal' ? reply.objective : null),
    seconds: (lpBuildMs + solveMs) / 1000,
    solver: 'highs',
    stats: stats(lp, lpBuildMs, solveMs, waitMs, reply),
  };
}

/** HiGHS's definition: |bound − incumbent| / |incumbent|; undefined (null) without a bound or at 0. */
function relativeGap(objective: number, bound: number | null): number | null {
  if (bound === null) return null;
  const diff = Math.max(0, bound - objective);
  if (diff === 0) return 0;
  return objective === 0 ? null : diff / Math.abs(objective);
}

function stats(
  lp: PreparedLp,
  lpBuildMs: number,
  solveMs: number,
  waitMs: number,
  reply: HighsRunReply | null,
): Record<string, number | string> {
  const out: Record<string, number | string> = {
    rows: lp.size.rows,
    columns: lp.size.columns,
    integers: lp.size.integerColumns,
    keptHosts: lp.size.keptHosts,
    totalHosts: lp.size.totalHosts,
    lpBuildMs: round3(lpBuildMs),
    solveMs: round3(solveMs),
    waitMs: round3(waitMs),
  };
  if (reply) {
    out.highsStatus = reply.statusName;
    if (reply.nodes !== null) out.nodes = reply.nodes;
    if (typeof reply.wasmMemoryBytes === 'number') out.wasmMemoryBytes = reply.wasmMemoryBytes;
  }
  return out;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/**
 * No usable solution: status 'error', objective NaN, and an allocation that places nothing (shape only; it is
 * not claimed feasible — rejection may need forced federation, Q5). Callers fall back to another solver.
 */
function errorResult(
  model: AdmissionModel,
  lp: PreparedLp,
  lpBuildMs: number,
  solveMs: number,
  waitMs: number,
  reply: HighsRunReply | null,
  message: string,
  bound: number | null = null,
): SolveResult {
  const allocation: Allocation = {
    services: model.services.map((s) => s.components.map(() => ({ acceptedLocally: false, placements: [], federatedVms: 0 }))),
  };
  return {
    allocation,
    objective: Number.NaN,
    status: 'error',
    gap: null,
    bound,
    seconds: (lpBuildMs + solveMs) / 1000,
    solver: 'highs',
    stats: { ...stats(lp, lpBuildMs, solveMs, waitMs, reply), error: message },
  };
}
