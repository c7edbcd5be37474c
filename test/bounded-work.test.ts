/**
 * Bounded work ("safe to expose"): large services solved within their limit off the event loop, aborts that stop a
 * running solve, time limits kept by every phase, candidates that grow linearly. Bounds are generous (≥ 3× the limit
 * + 1 s): speed is measured by the bench (`--sections components`), these tests only catch what is unbounded.
 */
import { admit } from '../admission-controller/admit';
import { verify } from '../admission-controller/verifier';
import { componentScalingModel, generateModel } from '../bench/generator';
import type { AdmissionModel, SolveResult } from '../model/types';
import { autoSolver } from '../solvers/auto';
import {
  configureGreedyWorkers,
  greedySolver,
  greedyWorkerStats,
  shutdownGreedyWorkers,
  solveGreedy,
  solveGreedyInWorker,
} from '../solvers/greedy';
import { shutdownHighsWorker } from '../solvers/highs';

afterAll(async () => {
  await shutdownGreedyWorkers();
  await shutdownHighsWorker();
});

function expectVerified(m: AdmissionModel, r: SolveResult): void {
  const v = verify(m, r.allocation);
  expect(v.violations).toEqual([]);
  expect(Math.abs(v.objective - r.objective)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(v.objective)));
}

/** A model the greedy needs tens of seconds for without a limit (40 services × up to 40 components, tight). */
const pathological = (): AdmissionModel => generateModel({ seed: 3, services: 40, components: 40, hosts: 1500, capacity: 'tight', rules: true, variableSizes: true });

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

describe('a 1,000-component service', () => {
  it.each([true, false])('federation allowed = %s: solved by the worker-backed greedy within its time limit, and verified', async (federationAllowed) => {
    const m = componentScalingModel({ seed: 1, components: 1000, federationAllowed, capacity: 'tight' });
    const limit = 2;
    const { value: r, seconds } = await timed(() => greedySolver.solve(m, { timeLimitSeconds: limit }));
    expect(seconds).toBeLessThan(3 * limit + 1);
    expectVerified(m, r);
    expect(r.stats?.fallback).toBeUndefined();
  });

  it('goes through admit() (validate, worker, verify, decide) with a decision per service', async () => {
    const m = componentScalingModel({ seed: 4, components: 1000, federationAllowed: true, capacity: 'loose' });
    const r = await admit(m, { solver: 'greedy', timeLimitSeconds: 2 });
    expect(r.verification.feasible).toBe(true);
    expect(r.services[0]!.components).toHaveLength(1000);
    expect(r.timings.solveMs).toBeGreaterThan(0);
  });
});

describe('abort', () => {
  it("rejects a running solve promptly with the signal's reason, and the next solve on the pool still works", async () => {
    const m = pathological();
    const controller = new AbortController();
    const reason = new Error('client went away');
    const started = performance.now();
    const running = greedySolver.solve(m, { timeLimitSeconds: 60, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 300);
    await expect(running).rejects.toBe(reason);
    // Generous: the solve would take tens of seconds, its limit is 60 s.
    expect((performance.now() - started) / 1000).toBeLessThan(10);
    const small = generateModel({ seed: 2, services: 3, components: 3, hosts: 10, capacity: 'tight', rules: true });
    const next = await greedySolver.solve(small, { timeLimitSeconds: 2 });
    expectVerified(small, next);
    expect(next).toMatchObject({ allocation: solveGreedy(small).allocation, objective: solveGreedy(small).objective });
  });

  it('rejects at once when the signal is already aborted, and a queued solve leaves the queue', async () => {
    const m = pathological();
    const before = new AbortController();
    before.abort(new Error('too late'));
    await expect(greedySolver.solve(m, { signal: before.signal })).rejects.toThrow('too late');

    configureGreedyWorkers({ size: 1 });
    try {
      const first = new AbortController();
      const second = new AbortController();
      const running = solveGreedyInWorker(m, { timeLimitSeconds: 60, signal: first.signal });
      const queued = solveGreedyInWorker(m, { timeLimitSeconds: 60, signal: second.signal });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(greedyWorkerStats().queued).toBe(1);
      second.abort('queued and given up');
      await expect(queued).rejects.toBe('queued and given up');
      expect(greedyWorkerStats().queued).toBe(0);
      first.abort('running and given up');
      await expect(running).rejects.toBe('running and given up');
    } finally {
      configureGreedyWorkers({ size: 2 });
    }
  });

  it('admit() passes the signal to the solver', async () => {
    const controller = new AbortController();
    const pending = admit(pathological(), { solver: 'greedy', timeLimitSeconds: 60, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled')), 200);
    await expect(pending).rejects.toThrow('cancelled');
  });
});

describe('time limits are kept by every phase', () => {
  it.each([0.2, 1])('in process: a pathological model with a %s s limit returns a verified answer within 3 × limit + 1 s', (limit) => {
    const m = pathological();
    const t0 = performance.now();
    const r = solveGreedy(m, { timeLimitSeconds: limit });
    expect((performance.now() - t0) / 1000).toBeLessThan(3 * limit + 1);
    expect(r.stats?.timedOut).toBe(1);
    expectVerified(m, r);
  });

  it('in process: 3,000 components with a 0.1 s limit (candidate generation itself is cut)', () => {
    const m = componentScalingModel({ seed: 2, components: 3000, federationAllowed: true, capacity: 'tight' });
    const t0 = performance.now();
    const r = solveGreedy(m, { timeLimitSeconds: 0.1 });
    expect((performance.now() - t0) / 1000).toBeLessThan(3 * 0.1 + 1);
    expectVerified(m, r);
  });

  it('through the worker pool, the proof included', async () => {
    const m = pathological();
    const { value: r, seconds } = await timed(() => solveGreedyInWorker(m, { timeLimitSeconds: 0.5 }, { prove: true }));
    expect(seconds).toBeLessThan(3 * 0.5 + 1);
    expectVerified(m, r);
  });

  it('auto shares one budget between the greedy and HiGHS', async () => {
    const m = pathological();
    const limit = 2;
    const { value: r, seconds } = await timed(() => autoSolver.solve(m, { timeLimitSeconds: limit }));
    expect(seconds).toBeLessThan(3 * limit + 1);
    expectVerified(m, r);
  });
});

describe('memory', () => {
  it('candidates and walk steps grow at most linearly with the components of a service', () => {
    const sizes = [100, 200, 400, 800];
    for (const federationAllowed of [true, false]) {
      const counts = sizes.map((n) => {
        const r = solveGreedy(componentScalingModel({ seed: 1, components: n, federationAllowed, capacity: 'loose' }), { timeLimitSeconds: 30 });
        expect(r.stats?.timedOut).toBe(0);
        return { candidates: Number(r.stats?.candidates), steps: Number(r.stats?.candidateSteps), walks: Number(r.stats?.candidateWalks) };
      });
      for (let k = 1; k < sizes.length; k++) {
        const growth = sizes[k]! / sizes[0]!;
        // Linear with a generous constant: the quadratic growth gave 80,801 candidates for 200 components.
        expect(counts[k]!.candidates).toBeLessThanOrEqual(1.5 * growth * Math.max(counts[0]!.candidates, sizes[0]! * 4));
        expect(counts[k]!.steps).toBeLessThanOrEqual(1.5 * growth * Math.max(counts[0]!.steps, sizes[0]! * 4));
        expect(counts[k]!.walks).toBeLessThanOrEqual(2);
      }
      expect(counts[counts.length - 1]!.candidates).toBeLessThan(10 * sizes[sizes.length - 1]!);
    }
  });
});
