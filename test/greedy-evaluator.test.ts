/**
 * The greedy's incremental evaluator (solvers/greedy/evaluation.ts) against its exact evaluation: the same value for
 * every configuration reached by a random walk of changes, on services small (exact sums) and large (running sums).
 */
import { componentScalingModel, generateModel } from '../bench/generator';
import { evaluateConfig, prepareService, ServiceEvaluator } from '../solvers/greedy/evaluation';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('ServiceEvaluator', () => {
  it.each([
    ['small services (bit-identical sums)', (seed: number) => generateModel({ seed, services: 1, components: 1 + (seed % 6), hosts: 5, capacity: 'tight', rules: true, costBoundShare: seed % 3 === 0 ? 1 : 0, federationForbiddenShare: seed % 4 === 0 ? 1 : 0 }), true],
    ['services of 150 components (running sums)', (seed: number) => componentScalingModel({ seed, components: 150, federationAllowed: seed % 3 !== 0, capacity: 'tight' }), false],
  ])('%s: equals evaluateConfig after every change of a random walk', (_label, make, exact) => {
    for (let seed = 1; seed <= 40; seed++) {
      const m = make(seed);
      const sd = prepareService(m, 0);
      const n = sd.components.length;
      const rng = lcg(seed);
      const y = sd.components.map(() => rng() < 0.6);
      const x = sd.components.map((c, i) => (y[i] ? Math.floor(rng() * (c.maxVms + 1)) : 0));
      const ev = new ServiceEvaluator(sd, y, x);
      for (let step = 0; step < 400; step++) {
        const i = Math.floor(rng() * n);
        const c = sd.components[i]!;
        if (rng() < 0.15) y[i] = !y[i];
        x[i] = y[i] ? Math.max(0, Math.min(c.maxVms, x[i]! + Math.floor(rng() * 5) - 2)) : 0;
        ev.set(i, y[i]!, x[i]!);
        const expected = evaluateConfig(sd, y, x);
        const got = ev.value();
        if (Number.isNaN(expected)) expect([seed, step, got]).toEqual([seed, step, NaN]);
        else if (exact) expect([seed, step, got]).toEqual([seed, step, expected]);
        else expect(Math.abs(got - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
      }
    }
  });
});
