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


/** One step of a random walk over configurations: a component toggled now and then, its count moved by −2…+2. */
function randomStep(rng: () => number, components: readonly { readonly maxVms: number }[], y: boolean[], x: number[]): number {
  const i = Math.floor(rng() * components.length);
  if (rng() < 0.15) y[i] = !y[i];
  x[i] = y[i] ? Math.max(0, Math.min(components[i]!.maxVms, x[i]! + Math.floor(rng() * 5) - 2)) : 0;
  return i;
}

describe('ServiceEvaluator', () => {
  it.each([
    ['small services (bit-identical sums)', (seed: number) => generateModel({ seed, services: 1, components: 1 + (seed % 6), hosts: 5, capacity: 'tight', rules: true, costBoundShare: seed % 3 === 0 ? 1 : 0, federationForbiddenShare: seed % 4 === 0 ? 1 : 0 }), true],
    ['services of 150 components (running sums)', (seed: number) => componentScalingModel({ seed, components: 150, federationAllowed: seed % 3 !== 0, capacity: 'tight' }), false],
  ])('%s: equals evaluateConfig after every change of a random walk', (_label, make, exact) => {
    for (let seed = 1; seed <= 40; seed++) {
      const m = make(seed);
      const sd = prepareService(m, 0);
      const rng = lcg(seed);
      const y = sd.components.map(() => rng() < 0.6);
      const x = sd.components.map((c, i) => (y[i] ? Math.floor(rng() * (c.maxVms + 1)) : 0));
      const ev = new ServiceEvaluator(sd, y, x);
      for (let step = 0; step < 400; step++) {
        const i = randomStep(rng, sd.components, y, x);
        ev.set(i, y[i]!, x[i]!);
        const expected = evaluateConfig(sd, y, x);
        const got = ev.value();
        if (Number.isNaN(expected)) expect([seed, step, got]).toEqual([seed, step, NaN]);
        else if (exact) expect([seed, step, got]).toEqual([seed, step, expected]);
        else expect(Math.abs(got - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
      }
    }
  });

  it.each([
    ['small services', (seed: number) => generateModel({ seed, services: 1, components: 1 + (seed % 6), hosts: 5, capacity: 'tight', rules: true, federationForbiddenShare: seed % 4 === 0 ? 1 : 0 })],
    ['services of 150 components (running charge)', (seed: number) => componentScalingModel({ seed, components: 150, federationAllowed: true, capacity: 'tight' })],
  ])('with a charge bound, %s: infeasible exactly where evaluateConfig says so', (_label, make) => {
    let overBound = 0;
    let withinBound = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const generated = make(seed);
      // No availability targets: random configurations are then mostly feasible, and the bound is what decides.
      const g0 = generated.services[0]!;
      const m = { ...generated, services: [{ ...g0, components: g0.components.map((c) => ({ ...c, availability: 0 })) }] };
      const rng = lcg(seed * 31);
      const s0 = m.services[0]!;
      // Per-VM charges in quarters, so every sum is exact and the running sum cannot drift across the bound.
      const high = s0.components.map(() => 0.25 * (1 + Math.floor(rng() * 12)));
      const y = s0.components.map(() => rng() < 0.6);
      const x = s0.components.map((c, i) => (y[i] ? Math.floor(rng() * (c.maxVms + 1)) : 0));
      // The bound at the walk's starting charge: the walk crosses it back and forth.
      const start = x.reduce((t, v, k) => t + v * high[k]!, 0);
      const bounded = { ...m, services: [{ ...s0, chargeBound: Math.max(1, Math.floor(start)) }] };
      const sd = prepareService(bounded, 0, null, { high, low: high });
      const ev = new ServiceEvaluator(sd, y, x);
      const plain = prepareService(m, 0);
      for (let step = 0; step < 300; step++) {
        const i = randomStep(rng, sd.components, y, x);
        ev.set(i, y[i]!, x[i]!);
        const expected = evaluateConfig(sd, y, x);
        const got = ev.value();
        expect([seed, step, Number.isNaN(got)]).toEqual([seed, step, Number.isNaN(expected)]);
        if (!Number.isNaN(expected)) expect(Math.abs(got - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
        // The bound only removes configurations: where it holds, the value is the unbounded one.
        const charge = x.reduce((t, v, k) => t + v * high[k]!, 0);
        const unbounded = evaluateConfig(plain, y, x);
        if (y.some(Boolean) && charge > sd.chargeBound) {
          expect(Number.isNaN(expected)).toBe(true);
          if (!Number.isNaN(unbounded)) overBound++;
        } else {
          expect(Number.isNaN(expected) ? NaN : expected).toEqual(unbounded);
          if (!Number.isNaN(expected)) withinBound++;
        }
      }
    }
    expect(overBound).toBeGreaterThan(50);
    expect(withinBound).toBeGreaterThan(50);
  });
});
