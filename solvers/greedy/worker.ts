/**
 * Entry of a greedy worker thread: receives a model's services, weights and shared host table, runs solveGreedyInput
 * within the deadline and abort flag it is given, and posts the result. No state but host tables, kept per key.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { HostTable } from './host-pool';
import { Budget, solveGreedyInput } from './index';
import type { GreedyJob, GreedyReply, GreedyWorkerData } from './worker-protocol';

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

parentPort!.on('message', (job: GreedyJob) => {
  let reply: GreedyReply;
  try {
    // Deadlines travel as wall-clock times (timeOrigin + now), the one clock both threads share.
    const budget = new Budget(job.deadline - performance.timeOrigin, abortFlag);
    const result = solveGreedyInput({ services: job.services, weights: job.weights, hosts: tableFor(job) }, {}, { budget, prove: job.prove });
    reply = budget.aborted ? { id: job.id, aborted: true } : { id: job.id, result };
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  parentPort!.postMessage(reply);
});

// The pool sends jobs only after this: loading the solver is not part of a job's time limit.
parentPort!.postMessage({ ready: true });
