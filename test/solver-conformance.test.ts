/**
 * One conformance suite for every solver (as Hono runs every router through one test file): feasible on
 * every fixture and on seeded random instances, the reported objective equals the verifier's, deterministic.
 */
import { verify } from '../admission-controller/verifier';
import { generateModel, tinyModel } from '../bench/generator';
import type { AdmissionModel, Solver } from '../model/types';
import { greedySolver, inProcessGreedySolver, shutdownGreedyWorkers } from '../solvers/greedy';
import { component, hosts, model, rule, service, workedExample } from './support/models';

/** The greedy twice: the pure function in this thread, and the worker-backed solver admit() uses. */
const SOLVERS: [string, Solver][] = [
  ['greedy (in process)', inProcessGreedySolver],
  ['greedy (worker pool)', greedySolver],
];

afterAll(() => shutdownGreedyWorkers());

const fixtures: [string, () => AdmissionModel][] = [
  ['worked example', workedExample],
  ['no hosts', () => model([service('s', [component('c')])], [])],
  ['hosts too small for any VM (D1)', () => model([service('s', [component('c', { vcpus: 4 })])], hosts(0, 2, 3))],
  ['basic = 0 components', () => model([service('s', [component('a', { basic: 0, maxVms: 2 }), component('b', { basic: 0, maxVms: 1, affinity: 2 })])], hosts(2))],
  [
    'overlapping High affinity rules',
    () =>
      model(
        [service('s', [component('a'), component('b'), component('c')], { rules: [rule('affinity', 2, 'a', 'b'), rule('affinity', 2, 'b', 'c')] })],
        hosts(2, 3),
      ),
  ],
  [
    'affinity and anti-affinity on the same pair',
    () => model([service('s', [component('a'), component('b')], { rules: [rule('affinity', 2, 'a', 'b'), rule('antiAffinity', 1, 'a', 'b')] })], hosts(4, 4)),
  ],
  ['negative optimum (forced federation, Q5)', () => model([service('s', [component('c', { basic: 3, maxVms: 3, vcpus: 8 })], { gain: 100 })], hosts(4))],
  ['memory as a second capacity', () => ({
    ...model([service('s', [component('c', { basic: 1, maxVms: 4, memoryMb: 4096 })])], hosts(16, 16)),
    hosts: [
      { id: 'h1', cpus: 16, usedCpus: 0, eco: 3, freeMemoryMb: 8192 },
      { id: 'h2', cpus: 16, usedCpus: 0, eco: 4, freeMemoryMb: 4096 },
    ],
  })],
];

describe.each(SOLVERS)('solver %s', (_name, solver) => {
  it.each(fixtures)('%s: feasible, objective = verifier objective, deterministic', async (_label, make) => {
    const m = make();
    const first = await solver.solve(m);
    const v = verify(m, first.allocation);
    expect(v.violations).toEqual([]);
    expect(first.objective).toBeCloseTo(v.objective, 6);
    const second = await solver.solve(m);
    expect(second.allocation).toEqual(first.allocation);
  });

  it('worked example: reaches the optimum 358.5134', async () => {
    const r = await solver.solve(workedExample());
    expect(r.objective).toBeCloseTo(358.5134, 4);
  });

  it('memory: VMs go where memory allows (3 × 4 GB fit, the 4th does not)', async () => {
    const m = fixtures.find(([l]) => l === 'memory as a second capacity')![1]();
    const r = await solver.solve(m);
    const local = r.allocation.services[0]![0]!.placements.reduce((t, p) => t + p.vms, 0);
    expect(local).toBe(3);
  });

  it('property: feasible on 300 seeded tiny instances (every rule level, federation on/off, bounds)', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const m = tinyModel(seed);
      const r = await solver.solve(m);
      const v = verify(m, r.allocation);
      if (!v.feasible || Math.abs(v.objective - r.objective) > 1e-6) {
        throw new Error(`seed ${seed}: ${JSON.stringify(v.violations)} objective ${r.objective} vs ${v.objective}`);
      }
    }
  });

  it('a frozen host list shared by many solves (the gateway\'s case) gives the same answers as a fresh one, solve after solve', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const m = generateModel({ seed, services: 1 + (seed % 4), components: 1 + (seed % 4), hosts: 4 + (seed % 9), capacity: 'tight', rules: true, memory: seed % 3 === 0 });
      const shared: AdmissionModel = { ...m, hosts: Object.freeze(m.hosts.map((h) => Object.freeze({ ...h }))) };
      const fresh = await solver.solve({ ...m, hosts: m.hosts.map((h) => ({ ...h })) });
      for (let round = 0; round < 3; round++) {
        const r = await solver.solve(shared);
        expect([seed, round, r.allocation, r.objective]).toEqual([seed, round, fresh.allocation, fresh.objective]);
      }
    }
  });

  it('property: feasible on 200 seeded small instances (loose and tight, rules, mixed sizes, memory)', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const m = generateModel({
        seed,
        services: 1 + (seed % 6),
        components: 1 + (seed % 5),
        hosts: 3 + (seed % 17),
        capacity: seed % 2 ? 'tight' : 'loose',
        rules: seed % 3 !== 0,
        variableSizes: seed % 4 === 0,
        costBoundShare: seed % 5 === 0 ? 0.3 : 0,
        memory: seed % 7 === 0,
      });
      const r = await solver.solve(m);
      const v = verify(m, r.allocation);
      if (!v.feasible || Math.abs(v.objective - r.objective) > 1e-6) {
        throw new Error(`seed ${seed}: ${JSON.stringify(v.violations.slice(0, 3))} objective ${r.objective} vs ${v.objective}`);
      }
    }
  });
});
