/**
 * Runs the greedy off the main event loop: a small pool of worker threads (worker.ts), one job each, with the
 * caller's time limit as a shared deadline and an AbortSignal. Knows the greedy only through its messages.
 * A worker that does not stop when asked, overruns its deadline or dies is terminated and replaced.
 */
import { capabilityPlan } from '../../model/capabilities';
import { hostChargeClasses } from './charging';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AdmissionModel, SolveOptions, SolveResult, Solver } from '../../model/types';
import { emptyEvaluation } from './evaluation';
import { hostTableOf, type HostTable } from './host-pool';
import type { PreparedLp } from '../highs';
import type { GreedyJob, GreedyReply, GreedyWorkerData } from './worker-protocol';

/** Default time limit of a greedy solve (s); solvers/greedy/index.ts has the same default for the pure function. */
const DEFAULT_TIME_LIMIT_SECONDS = 2;
/** How long a worker asked to stop may take before it is terminated (it checks its flag every few hundred steps). */
const ABORT_GRACE_MS = 250;
/**
 * How long past its deadline a worker may take to reply: what no phase can interrupt (packing one configuration,
 * building the allocation, the structured clone back). Past it the worker is terminated and everything is rejected.
 */
const DEADLINE_GRACE_MS = 1000;
/** How long loading a worker may take before it counts as dead (ts sources under a loaded test machine: seconds). */
const WORKER_START_GRACE_MS = 30_000;
/** Heap cap per worker: a pathological model kills its worker (then replaced), never the process. */
const DEFAULT_MAX_HEAP_MB = 512;

export interface GreedyPoolOptions {
  /** Worker threads (default: available parallelism, at most 2: two admissions solve at once). */
  readonly size?: number;
  /** V8 old-generation limit per worker, in MB. */
  readonly maxHeapMb?: number;
}

export interface GreedyPoolStats {
  readonly size: number;
  readonly alive: number;
  readonly busy: number;
  readonly queued: number;
  /** Workers started since the process began: grows beyond `size` only when workers were replaced. */
  readonly started: number;
}

export interface GreedyWorkerExtras {
  /** Also compute the capacity-free bound (see GreedyExtras.prove). */
  readonly prove?: boolean;
  /** For auto: seconds (from the call) by which HiGHS's MILP must be built too, unless the greedy answer is optimal. */
  readonly lpWithinSeconds?: number;
}

/** What a job answers: the greedy's result and, for auto, the MILP or why there is none. */
export interface GreedyOutcome {
  readonly result: SolveResult;
  readonly lp: PreparedLp | null;
  readonly lpSkipped: string | null;
}

/** Pool size unless configured (the service sets AC_GREEDY_WORKERS): two solves at once where two cores exist. */
function defaultSize(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(2, cores));
}

/**
 * Under ts-jest the sources are TypeScript: the worker then transpiles them on load (typescript is a dev
 * dependency); built code (dist/) loads worker.js directly.
 */
const TS_BOOTSTRAP = String.raw`
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ts = require(workerData.typescriptPath);
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
  });
  module._compile(out.outputText, filename);
};
require(workerData.entry);
`;

interface Slot {
  worker: Worker | null;
  /** Resolves once the worker has loaded the solver (it posts `{ ready: true }`). */
  ready: Promise<void> | null;
  readonly flag: Int32Array;
  readonly abortBuffer: SharedArrayBuffer;
  busy: boolean;
}

interface Job {
  readonly model: AdmissionModel;
  readonly options: SolveOptions;
  readonly extras: GreedyWorkerExtras;
  /** performance.timeOrigin + performance.now() at which the solve must stop. */
  readonly deadline: number;
  readonly queuedAt: number;
  resolve(outcome: GreedyOutcome): void;
  reject(reason: unknown): void;
  /** Detaches the job's abort listener. */
  detach(): void;
}

const now = (): number => performance.timeOrigin + performance.now();

/** The answer when the worker could not give one: every service rejected (always feasible, D1–D4). */
function rejectAll(model: AdmissionModel, job: Job, why: string): SolveResult {
  const evaluated = model.services.map((_, a) => emptyEvaluation(model, a));
  return {
    allocation: { services: evaluated.map((e) => e.allocation) },
    objective: evaluated.reduce((t, e) => t + e.value, 0),
    status: 'feasible',
    gap: null,
    bound: null,
    seconds: (now() - job.queuedAt) / 1000,
    solver: 'greedy',
    stats: { fallback: why, timedOut: 1 },
  };
}

function fallback(model: AdmissionModel, job: Job, why: string): GreedyOutcome {
  return { result: rejectAll(model, job, why), lp: null, lpSkipped: `greedy answer lost (${why})` };
}

function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new Error('aborted');
}

class GreedyWorkerPool {
  private slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private size = defaultSize();
  private maxHeapMb = DEFAULT_MAX_HEAP_MB;
  private started = 0;
  private nextJobId = 1;
  private nextTableKey = 1;
  private readonly tableKeys = new WeakMap<HostTable, number>();

  configure(options: GreedyPoolOptions): void {
    if (options.size !== undefined) {
      if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`greedy pool size must be an integer ≥ 1, is ${options.size}`);
      this.size = options.size;
    }
    if (options.maxHeapMb !== undefined) this.maxHeapMb = options.maxHeapMb;
    // Idle workers beyond the new size go now; busy ones when they finish (dispatch trims).
    this.trim();
    this.dispatch();
  }

  stats(): GreedyPoolStats {
    return {
      size: this.size,
      alive: this.slots.filter((s) => s.worker).length,
      busy: this.slots.filter((s) => s.busy).length,
      queued: this.queue.length,
      started: this.started,
    };
  }

  solve(model: AdmissionModel, options: SolveOptions, extras: GreedyWorkerExtras): Promise<GreedyOutcome> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const queuedAt = now();
    const deadline = queuedAt + 1000 * (options.timeLimitSeconds ?? DEFAULT_TIME_LIMIT_SECONDS);
    return new Promise<GreedyOutcome>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const job: Job = {
        model,
        options,
        extras,
        deadline,
        queuedAt,
        resolve,
        reject,
        detach: () => {
          if (onAbort) signal?.removeEventListener('abort', onAbort);
        },
      };
      if (signal) {
        // Still queued: leave the queue and reject. Running: start() installs its own handling.
        onAbort = (): void => {
          const k = this.queue.indexOf(job);
          if (k < 0) return;
          this.queue.splice(k, 1);
          job.detach();
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Starts the workers now so that no admission pays for a start (about 30 ms each). */
  async warmUp(): Promise<void> {
    for (let k = this.slots.length; k < this.size; k++) this.slots.push(this.newSlot());
    await Promise.all(
      this.slots.map(
        (slot) =>
          (slot.worker ??= this.spawn(slot)) && slot.ready!,
      ),
    );
  }

  async shutdown(): Promise<void> {
    for (const job of this.queue.splice(0)) {
      job.detach();
      job.reject(new Error('the greedy worker pool was shut down'));
    }
    const workers = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== null);
    this.slots = [];
    await Promise.all(workers.map((w) => w.terminate().catch(() => undefined)));
  }

  private newSlot(): Slot {
    const abortBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    return { worker: null, ready: null, flag: new Int32Array(abortBuffer), abortBuffer, busy: false };
  }

  private spawn(slot: Slot): Worker {
    const data: GreedyWorkerData = { abortBuffer: slot.abortBuffer };
    const resourceLimits = { maxOldGenerationSizeMb: this.maxHeapMb };
    const worker = __filename.endsWith('.ts')
      ? new Worker(TS_BOOTSTRAP, {
          eval: true,
          workerData: { ...data, entry: path.join(__dirname, 'worker.ts'), typescriptPath: require.resolve('typescript') },
          resourceLimits,
        })
      : new Worker(path.join(__dirname, 'worker.js'), { workerData: data, resourceLimits });
    // An idle worker must not keep the process alive; it is ref'd while a job runs.
    worker.unref();
    slot.ready = new Promise<void>((resolve) => {
      const onReady = (m: unknown): void => {
        if ((m as { ready?: boolean }).ready !== true) return;
        worker.off('message', onReady);
        resolve();
      };
      worker.on('message', onReady);
      // A worker that dies while loading is handled by the job waiting for it (its 'exit' listener).
      worker.once('exit', () => resolve());
    });
    // Errors are handled per job; one between jobs only retires the worker.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (slot.worker === worker) {
        slot.worker = null;
        slot.ready = null;
      }
    });
    this.started++;
    return worker;
  }

  private retire(slot: Slot): void {
    const worker = slot.worker;
    slot.worker = null;
    slot.ready = null;
    if (worker) void worker.terminate().catch(() => undefined);
  }

  private trim(): void {
    while (this.slots.length > this.size) {
      const k = this.slots.findIndex((s) => !s.busy);
      if (k < 0) return;
      const [slot] = this.slots.splice(k, 1);
      this.retire(slot!);
    }
  }

  private dispatch(): void {
    this.trim();
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) this.slots.push((slot = this.newSlot()));
      if (!slot) return;
      this.start(slot, this.queue.shift()!);
    }
  }

  private tableKey(table: HostTable): number {
    let key = this.tableKeys.get(table);
    if (key === undefined) this.tableKeys.set(table, (key = this.nextTableKey++));
    return key;
  }

  private start(slot: Slot, job: Job): void {
    slot.busy = true;
    const { model, options } = job;
    const signal = options.signal;
    const startedAt = now();
    let worker: Worker;
    let message: GreedyJob;
    try {
      worker = slot.worker ??= this.spawn(slot);
      const table = hostTableOf(model.hosts);
      message = {
        id: this.nextJobId++,
        services: model.services,
        weights: model.weights,
        hosts: { key: this.tableKey(table), freeCpus: table.freeCpus, freeMemoryMb: table.freeMemoryMb, reusable: table.reusable },
        capabilities: capabilityPlan(model),
        charging: hostChargeClasses(model),
        deadline: job.deadline,
        prove: job.extras.prove === true,
        ...(job.extras.lpWithinSeconds !== undefined ? { lp: { deadline: job.queuedAt + 1000 * job.extras.lpWithinSeconds } } : {}),
      };
    } catch (e) {
      slot.busy = false;
      job.detach();
      job.reject(e);
      this.dispatch();
      return;
    }
    Atomics.store(slot.flag, 0, 0);
    let answered = false;
    let released = false;
    /** Settles the caller once; the slot may stay busy after that (an aborted job until its worker stops). */
    const answer = (settle: () => void): void => {
      if (answered) return;
      answered = true;
      job.detach();
      settle();
    };
    const release = (retire: boolean): void => {
      if (released) return;
      released = true;
      clearTimeout(watchdog);
      clearTimeout(abortTimer);
      signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (retire) this.retire(slot);
      else worker.unref();
      slot.busy = false;
      this.dispatch();
    };
    const onMessage = (reply: GreedyReply): void => {
      if (reply.id !== message.id) return;
      if (signal?.aborted) answer(() => job.reject(abortReason(signal)));
      else if ('result' in reply) {
        const result = reply.result;
        const waitMs = Math.round((startedAt - job.queuedAt) * 1000) / 1000;
        const roundTripMs = Math.round((now() - startedAt) * 1000) / 1000;
        const lp = reply.lp && 'lp' in reply.lp ? reply.lp.lp : null;
        const lpSkipped = reply.lp && 'skipped' in reply.lp ? reply.lp.skipped : null;
        answer(() => job.resolve({ result: { ...result, stats: { ...result.stats, waitMs, roundTripMs } }, lp, lpSkipped }));
      } else if ('aborted' in reply) answer(() => job.reject(abortReason(signal)));
      else answer(() => job.resolve(fallback(model, job, `worker error: ${reply.error.split('\n')[0]}`)));
      release(false);
    };
    const lost = (why: string): void => {
      answer(() => (signal?.aborted ? job.reject(abortReason(signal)) : job.resolve(fallback(model, job, why))));
      release(true);
    };
    const onError = (err: Error): void => lost(`worker crashed: ${err.message}`);
    const onExit = (code: number): void => lost(`worker exited with code ${code}`);
    let abortTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      // The caller hears at once; the worker stops at its next check, or is terminated after the grace period.
      Atomics.store(slot.flag, 0, 1);
      answer(() => job.reject(abortReason(signal)));
      abortTimer = setTimeout(() => release(true), ABORT_GRACE_MS);
    };
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (deadline: number): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => lost('watchdog: no answer within the time limit'), Math.max(0, deadline - now()) + DEADLINE_GRACE_MS);
    };
    // The worker answers by its deadline, or by auto's MILP deadline when it builds one too.
    const answerBy = (m: GreedyJob): number => Math.max(m.deadline, m.lp?.deadline ?? 0);
    // Loading a worker has its own, generous watchdog; the solve's starts when the job is sent.
    arm(answerBy(message) + WORKER_START_GRACE_MS);
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.ref();
    // Starting a worker (loading the solver) is not solving: the deadline moves by the wait, as HiGHS's time limit
    // starts inside its worker. Only a first solve, or one after a replacement, waits here.
    const loading = performance.now();
    void slot.ready!.then(() => {
      if (released || answered) return;
      const waited = performance.now() - loading;
      const sent = waited > 1 ? { ...message, deadline: message.deadline + waited, ...(message.lp ? { lp: { deadline: message.lp.deadline + waited } } : {}) } : message;
      arm(answerBy(sent));
      worker.postMessage(sent);
    });
  }
}

const pool = new GreedyWorkerPool();

/** The greedy in a worker thread: same answer as solveGreedy, without blocking the caller's event loop. */
export async function solveGreedyInWorker(model: AdmissionModel, options: SolveOptions = {}, extras: Omit<GreedyWorkerExtras, 'lpWithinSeconds'> = {}): Promise<SolveResult> {
  return (await pool.solve(model, options, extras)).result;
}

/**
 * For auto: the greedy with its proof and, unless that proves it optimal, HiGHS's MILP built in the same worker
 * within `lpWithinSeconds` of the call (or why it was not: no time, too large for the budget).
 */
export function solveGreedyForAuto(model: AdmissionModel, options: SolveOptions, lpWithinSeconds: number): Promise<GreedyOutcome> {
  return pool.solve(model, options, { prove: true, lpWithinSeconds });
}

export function configureGreedyWorkers(options: GreedyPoolOptions): void {
  pool.configure(options);
}

export function greedyWorkerStats(): GreedyPoolStats {
  return pool.stats();
}

export function warmUpGreedyWorkers(): Promise<void> {
  return pool.warmUp();
}

/** Terminates the workers (graceful shutdown, end of tests); queued solves are rejected. A later solve starts anew. */
export function shutdownGreedyWorkers(): Promise<void> {
  return pool.shutdown();
}

/** The `greedy` solver of admit(): the heuristic in the worker pool. */
export const greedySolver: Solver = {
  name: 'greedy',
  solve: (model, options) => solveGreedyInWorker(model, options),
};
