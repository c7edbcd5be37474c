/**
 * Messages between the greedy worker pool (main thread) and its workers: types only, shared by both ends.
 * Hosts travel as typed arrays over SharedArrayBuffers (not copied); services and weights are structured-cloned.
 */
import type { CapabilityPlan } from '../../model/capabilities';
import type { HostChargeClasses } from './charging';
import type { Service, SolveResult, Weights } from '../../model/types';
import type { PreparedLp } from '../highs';

export interface GreedyWorkerData {
  /** One Int32 cell: non-zero asks the running job to stop (read by the job's Budget). */
  readonly abortBuffer: SharedArrayBuffer;
}

export interface GreedyJob {
  readonly id: number;
  readonly services: readonly Service[];
  readonly weights: Weights;
  readonly hosts: {
    /** Identifies a reusable table across jobs, so a worker keeps what it built from it. */
    readonly key: number;
    readonly freeCpus: Float64Array;
    readonly freeMemoryMb: Float64Array;
    readonly reusable: boolean;
  };
  /** The model's capability plan (typed arrays, cloned): the worker's hosts are free capacities only. */
  readonly capabilities: CapabilityPlan | null;
  /**
   * The model's charge classes and each host's class (cloned), when it has a charge bound: the worker's hosts carry no
   * chargeClass, and both the greedy's conservative charges and auto's MILP (its charge rows, its host grouping) need them.
   */
  readonly charging: HostChargeClasses | null;
  /** performance.timeOrigin + performance.now() after which every phase stops. */
  readonly deadline: number;
  readonly prove: boolean;
  /** auto: unless the greedy answer is proven optimal, also build HiGHS's MILP (started from it) by this deadline. */
  readonly lp?: { readonly deadline: number };
}

/** The MILP built for auto, or why none was. */
export type LpOutcome = { readonly lp: PreparedLp } | { readonly skipped: string };

export type GreedyReply =
  | { readonly id: number; readonly result: SolveResult; readonly lp?: LpOutcome }
  | { readonly id: number; readonly aborted: true }
  | { readonly id: number; readonly error: string };
