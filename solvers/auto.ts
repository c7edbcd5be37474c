/**
 * The `auto` solver: the greedy heuristic first (in its worker, with its capacity-free optimality proof), then, unless
 * that proof already closes the gap, HiGHS within what is left of the one budget, started from the heuristic's
 * allocation. The MILP is built in the greedy's worker too, only as large as the budget left can handle: nothing of a
 * solve runs on the caller's event loop but decoding. The better answer is returned with the best proven bound.
 */
import type { AdmissionModel, SolveOptions, SolveResult, Solver } from '../model/types';
import { solveGreedyForAuto } from './greedy';
import { solvePrepared } from './highs';

/** Default total budget of `auto` when the caller gives none (seconds). */
export const DEFAULT_AUTO_TIME_LIMIT_SECONDS = 10;
/** Share of the budget the heuristic (candidates, search and proof) may use before HiGHS gets the rest. */
const GREEDY_SHARE = 0.2;
/** Most the heuristic gets of a long budget: it converges in milliseconds on realistic sizes. */
const GREEDY_MAX_SECONDS = 1;
/** How long past the budget HiGHS may take to answer before its worker is terminated (reading the LP is not timed). */
const HIGHS_GRACE_MS = 1000;
/** Below this remaining budget HiGHS is not started (its worker round trip alone costs milliseconds). */
const MIN_EXACT_SECONDS = 0.05;

function relativeGap(bound: number | null, objective: number): number | null {
  if (bound === null) return null;
  return Math.max(0, (bound - objective) / Math.max(1e-9, Math.abs(bound)));
}

export async function solveAuto(model: AdmissionModel, options: SolveOptions = {}): Promise<SolveResult> {
  const started = performance.now();
  const budget = options.timeLimitSeconds ?? DEFAULT_AUTO_TIME_LIMIT_SECONDS;
  const signal = options.signal;
  const outcome = await solveGreedyForAuto(
    model,
    { timeLimitSeconds: Math.min(GREEDY_MAX_SECONDS, budget * GREEDY_SHARE), ...(signal ? { signal } : {}) },
    budget - MIN_EXACT_SECONDS,
  );
  const greedy = outcome.result;
  const elapsed = (): number => (performance.now() - started) / 1000;
  const base = { greedySeconds: greedy.seconds, greedyObjective: greedy.objective };
  if (greedy.status === 'optimal') {
    return { ...greedy, solver: 'auto', seconds: elapsed(), stats: { ...base, picked: 'greedy', proof: 'capacity-free bound' } };
  }
  const remaining = budget - elapsed();
  if (remaining < MIN_EXACT_SECONDS || !outcome.lp) {
    const why = outcome.lpSkipped ?? 'no time left for HiGHS';
    return { ...greedy, solver: 'auto', seconds: elapsed(), stats: { ...base, picked: 'greedy', proof: `none: ${why}` } };
  }
  const exact = await solvePrepared(model, outcome.lp, {
    timeLimitSeconds: remaining,
    ...(options.mipRelGap !== undefined ? { mipRelGap: options.mipRelGap } : {}),
    ...(signal ? { signal } : {}),
  }, Math.ceil(remaining * 1000) + HIGHS_GRACE_MS);
  const stats = { ...base, highsSeconds: exact.seconds, highsStatus: exact.status, ...(exact.stats ?? {}) };
  if (exact.status === 'error' || exact.status === 'infeasible') {
    return { ...greedy, solver: 'auto', seconds: elapsed(), stats: { ...stats, picked: 'greedy', highsError: String(exact.stats?.error ?? exact.status) } };
  }
  const bounds = [exact.bound, greedy.bound].filter((b): b is number => b !== null);
  const bound = bounds.length ? Math.min(...bounds) : null;
  if (exact.objective >= greedy.objective - 1e-9) {
    const gap = exact.status === 'optimal' ? 0 : relativeGap(bound, exact.objective);
    return { ...exact, solver: 'auto', bound, gap, status: gap === 0 ? 'optimal' : exact.status, seconds: elapsed(), stats: { ...stats, picked: 'highs' } };
  }
  // HiGHS stopped with a worse incumbent: the heuristic's answer stands, with HiGHS's bound for the gap.
  const gap = relativeGap(bound, greedy.objective);
  return { ...greedy, solver: 'auto', bound, gap, status: gap !== null && gap <= 1e-9 ? 'optimal' : 'feasible', seconds: elapsed(), stats: { ...stats, picked: 'greedy' } };
}

export const autoSolver: Solver = { name: 'auto', solve: solveAuto };
