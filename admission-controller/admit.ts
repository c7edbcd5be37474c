/**
 * One admission cycle over an immutable model: validate → solve → verify independently → decide → explain.
 * An allocation the verifier rejects, or whose objective disagrees with the solver's, is a bug, never an answer.
 */
import { AdmissionError } from '../model/errors';
import type { AdmissionModel, Allocation, SolveOptions, SolveResult, SolveStatus, Solver } from '../model/types';
import { validateModel } from '../model/validate';
import { autoSolver } from '../solvers/auto';
import { greedySolver } from '../solvers/greedy';
import { highsSolver } from '../solvers/highs';
import { decide, type DecisionContext, type ServiceDecision } from './decisions';
import type { Verification, Violation } from './verification';
import { verify } from './verifier';

export type SolverChoice = 'greedy' | 'highs' | 'auto';
export const SOLVER_CHOICES: readonly SolverChoice[] = ['greedy', 'highs', 'auto'];

/** `signal` (from SolveOptions) gives up on the admission: the solve stops and admit() rejects with its reason. */
export interface AdmitOptions extends SolveOptions {
  readonly solver?: SolverChoice;
  /** What the caller knows about federation and bookings, for the reasons and the summary (decisions.ts). */
  readonly decisionContext?: DecisionContext;
}

/** Where one admission spent its time; everything but `solveMs` runs on the caller's event loop. */
export interface AdmissionTimings {
  readonly validateMs: number;
  /** Wall time of the solve as the caller sees it (the greedy and HiGHS run in worker threads). */
  readonly solveMs: number;
  readonly verifyMs: number;
  readonly decideMs: number;
}

export interface SolverReport {
  readonly name: string;
  readonly status: SolveStatus;
  /** Solve time without process start or file reading. */
  readonly seconds: number;
  /** Relative gap to the best proven bound; null when no bound is known (heuristic alone). */
  readonly gap: number | null;
  readonly bound: number | null;
  readonly stats?: Readonly<Record<string, number | string>>;
}

export interface AdmissionResult {
  readonly objective: number;
  readonly solver: SolverReport;
  readonly services: readonly ServiceDecision[];
  readonly allocation: Allocation;
  readonly verification: Verification;
  readonly timings: AdmissionTimings;
}

/** Solvers available in this build, by name. */
export function solverFor(choice: SolverChoice): Solver {
  switch (choice) {
    case 'greedy':
      return greedySolver;
    case 'highs':
      return highsSolver;
    case 'auto':
      return autoSolver;
  }
}

function describe(v: Violation): string {
  return `${v.constraint}${v.service ? ` [${v.service}${v.component ? `/${v.component}` : ''}]` : ''}: ${v.message}`;
}

/** Runs the verifier on a solver's answer and refuses anything it does not accept. */
export function verifySolution(model: AdmissionModel, result: SolveResult): Verification {
  const verification = verify(model, result.allocation);
  if (!verification.feasible) {
    throw new AdmissionError(
      'AC_ERR_VERIFICATION_FAILED',
      `solver '${result.solver}' returned an allocation the verifier rejects: ${verification.violations.slice(0, 3).map(describe).join('; ')}`,
      verification.violations.map((v) => ({ field: v.constraint, reason: v.message })),
    );
  }
  const tolerance = 1e-6 * Math.max(1, Math.abs(verification.objective));
  if (Math.abs(verification.objective - result.objective) > tolerance) {
    throw new AdmissionError(
      'AC_ERR_VERIFICATION_FAILED',
      `solver '${result.solver}' reports objective ${result.objective} but the verifier computes ${verification.objective}`,
    );
  }
  return verification;
}

const since = (t: number): number => Math.round((performance.now() - t) * 1000) / 1000;

export async function admit(model: AdmissionModel, options: AdmitOptions = {}): Promise<AdmissionResult> {
  options.signal?.throwIfAborted();
  let t = performance.now();
  validateModel(model);
  const validateMs = since(t);
  const solver = solverFor(options.solver ?? 'greedy');
  t = performance.now();
  const result = await solver.solve(model, options);
  const solveMs = since(t);
  if (result.status === 'error' || result.status === 'infeasible') {
    throw new AdmissionError('AC_ERR_SOLVER_FAILED', `solver '${result.solver}' ended with status ${result.status}`);
  }
  t = performance.now();
  const verification = verifySolution(model, result);
  const verifyMs = since(t);
  t = performance.now();
  const services = decide(model, result.allocation, verification, options.decisionContext);
  const decideMs = since(t);
  return {
    objective: verification.objective,
    solver: {
      name: result.solver,
      status: result.status,
      seconds: result.seconds,
      gap: result.gap,
      bound: result.bound,
      ...(result.stats ? { stats: result.stats } : {}),
    },
    services,
    allocation: result.allocation,
    verification,
    timings: { validateMs, solveMs, verifyMs, decideMs },
  };
}
