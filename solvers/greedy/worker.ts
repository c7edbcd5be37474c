/**
 * Entry of a greedy worker thread: receives a model's services, weights and shared host table, runs solveGreedyInput
 * within the deadline and abort flag it is given, and posts the result. No state but host tables, kept per key.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AdmissionModel, Host, SolveResult } from '../../model/types';
import { LpTooLargeError, prepareLp } from '../highs';
import type { HostTable } from './host-pool';
import { Budget, solveGreedyInput } from '.';
import type { GreedyJob, GreedyReply, GreedyWorkerData, LpOutcome } from './worker-protocol';

/** Placement columns of a MILP built per second of budget left: writing costs ~40 µs a column, HiGHS needs the rest. */
const LP_COLUMNS_PER_SECOND = 10_000;
/** Below this budget left no MILP is built (HiGHS would not get to use it). */
const MIN_LP_SECONDS = 0.05;

/** Host tables kept between jobs: the pool templates built from them (host-pool.ts) are what is worth keeping. */
const MAX_CACHED_TABLES = 2;

const data = workerData as GreedyWorkerData;
const abortFlag = new Int32Array(data.abortBuffer);
const tables = new Map<number, HostTable>();

/** The same table object for the same key, so that host-pool's per-table templates are found again. */
function tableFor(job: GreedyJob): HostTable {
  const { key, freeCpus, freeMemoryMb, reusable } = job.hosts;
  if (!reusable) return { freeCpus, freeMemoryMb, reusable: false };
  let table = tables.get(key);
  if (table) {
    tables.delete(key); // re-inserted below: most recently used last
  } else {
    table = { freeCpus, freeMemoryMb, reusable: true };
    if (tables.size >= MAX_CACHED_TABLES) tables.delete(tables.keys().next().value!);
  }
  tables.set(key, table);
  return table;
}

/** Host objects for the MILP builder, which reads free CPUs and memory only; kept per table like the table itself. */
const hostLists = new WeakMap<HostTable, Host[]>();

function hostsOf(table: HostTable): Host[] {
  let hosts = hostLists.get(table);
  if (!hosts) {
    hosts = Array.from(table.freeCpus, (free, j): Host => {
      const memory = table.freeMemoryMb[j]!;
      return { id: `h${j}`, cpus: Math.max(0, free), usedCpus: 0, eco: 0, ...(Number.isFinite(memory) ? { freeMemoryMb: memory } : {}) };
    });
    if (table.reusable) hostLists.set(table, hosts);
  }
  return hosts;
}

/**
 * The worker's hosts with their charge classes and the model's charging, when the job has a charge bound: without
 * them the MILP would have no charge rows and would merge hosts of different classes. Not cached (the table's host
 * list is shared by jobs with and without charging); only built for jobs with a charge bound.
 */
function chargedHosts(hosts: Host[], job: GreedyJob): Pick<AdmissionModel, 'hosts' | 'charging'> {
  const plan = job.charging;
  if (!plan) return { hosts };
  return { hosts: hosts.map((h, j) => ({ ...h, chargeClass: plan.hostClass[j]! })), charging: { classes: plan.classes } };
}

/** auto's MILP, started from the greedy answer, if the budget left allows building (and solving) it. */
function lpFor(job: GreedyJob, table: HostTable, result: SolveResult): LpOutcome {
  const left = (job.lp!.deadline - (performance.timeOrigin + performance.now())) / 1000;
  if (left < MIN_LP_SECONDS) return { skipped: 'no time left for HiGHS' };
  const model: AdmissionModel = { services: job.services, weights: job.weights, ...chargedHosts(hostsOf(table), job) };
  try {
    return { lp: prepareLp(model, { start: result.allocation, maxColumns: Math.floor(left * LP_COLUMNS_PER_SECOND), capabilities: job.capabilities }) };
  } catch (e) {
    if (e instanceof LpTooLargeError) return { skipped: `no time for HiGHS: ${e.message}` };
    throw e;
  }
}

parentPort!.on('message', (job: GreedyJob) => {
  let reply: GreedyReply;
  try {
    // Deadlines travel as wall-clock times (timeOrigin + now), the one clock both threads share.
    const budget = new Budget(job.deadline - performance.timeOrigin, abortFlag);
    const table = tableFor(job);
    const result = solveGreedyInput({ services: job.services, weights: job.weights, hosts: table, capabilities: job.capabilities, charging: job.charging }, {}, { budget, prove: job.prove });
    if (budget.aborted) reply = { id: job.id, aborted: true };
    else if (job.lp && result.status !== 'optimal') reply = { id: job.id, result, lp: lpFor(job, table, result) };
    else reply = { id: job.id, result };
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  parentPort!.postMessage(reply);
});

// The pool sends jobs only after this: loading the solver is not part of a job's time limit.
parentPort!.postMessage({ ready: true });
