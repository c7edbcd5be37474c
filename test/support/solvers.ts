/** Every solver a shared case runs through: the greedy in this thread and in its worker pool, HiGHS (exact), and auto. */
import type { Solver } from '../../model/types';
import { autoSolver } from '../../solvers/auto';
import { greedySolver, inProcessGreedySolver } from '../../solvers/greedy';
import { solveHighs } from '../../solvers/highs';

/** HiGHS with a gap of 0 and room to prove it: the exact reference of the shared cases. */
export const exactHighs: Solver = { name: 'highs', solve: (m, o) => solveHighs(m, { timeLimitSeconds: 20, mipRelGap: 0, ...o }) };

export const EVERY_SOLVER: readonly [string, Solver][] = [
  ['greedy (in process)', inProcessGreedySolver],
  ['greedy (worker pool)', greedySolver],
  ['highs', exactHighs],
  ['auto', autoSolver],
];
