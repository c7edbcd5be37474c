/**
 * The charge bound (extension: charging) in the solvers: every solver keeps a service's charge within its bound when it
 * accepts a component locally (the verifier judges each answer), HiGHS exactly (host classes kept apart by the
 * reduction, the loose-capacity shortcut off) and the greedy conservatively (the most a VM may cost); without charging
 * or without a bound every solver answers exactly as before.
 */
import { verify } from '../admission-controller/verifier';
import { generateModel } from '../bench/generator';
import { checkModel } from '../model/validate';
import type { AdmissionModel, ChargeRates, Host, Service, Solver } from '../model/types';
import { autoSolver } from '../solvers/auto';
import { shutdownGreedyWorkers, solveGreedy } from '../solvers/greedy';
import { buildLpModel, reduceHosts, shutdownHighsWorker, solveHighs } from '../solvers/highs';
import { component, model, service } from './support/models';
import { EVERY_SOLVER, exactHighs } from './support/solvers';

afterAll(async () => {
  await shutdownGreedyWorkers();
  await shutdownHighsWorker();
});

const highs = exactHighs;
const SOLVERS = EVERY_SOLVER;

/** 1 per vCPU + 1 per VM: a VM of 2 vCPUs costs 3. */
const FLAT: ChargeRates = { perVcpu: 1, perMemoryGb: 0, perVm: 1 };
const CHEAP: ChargeRates = { perVcpu: 1, perMemoryGb: 0, perVm: 0 };
const DEAR: ChargeRates = { perVcpu: 3, perMemoryGb: 0, perVm: 0 };

function host(id: string, cpus: number, chargeClass?: number): Host {
  return { id, cpus, usedCpus: 0, eco: 1, ...(chargeClass !== undefined ? { chargeClass } : {}) };
}

function charged(m: AdmissionModel, classes: readonly ChargeRates[]): AdmissionModel {
  return { ...m, charging: { classes } };
}

const localVms = (_m: AdmissionModel, r: { allocation: { services: readonly (readonly { placements: readonly { vms: number }[] }[])[] } }, a = 0, i = 0): number =>
  r.allocation.services[a]![i]!.placements.reduce((t, p) => t + p.vms, 0);

/** Verifies the answer: feasible, the solver's objective is the verifier's, and the service's charge is within its bound. */
function verified(m: AdmissionModel, r: Awaited<ReturnType<Solver['solve']>>): ReturnType<typeof verify> {
  const v = verify(m, r.allocation);
  expect(v.violations).toEqual([]);
  expect(r.objective).toBeCloseTo(v.objective, 6);
  m.services.forEach((s, a) => {
    if (s.chargeBound !== undefined && v.services[a]!.anyAcceptedLocally) expect(v.services[a]!.charge).toBeLessThanOrEqual(s.chargeBound + 1e-9);
  });
  return v;
}

/** One federation-forbidden component of 2 vCPUs, b = 1, U = 5, no availability target: every count 1..5 is allowed. */
function elasticService(fields: Partial<Service> = {}): Service {
  return service('s', [component('web', { basic: 1, maxVms: 5, vcpus: 2, availability: 0 })], { federationAllowed: false, ...fields });
}

describe('model validation of charging', () => {
  const base = charged(model([elasticService({ chargeBound: 10 })], [host('h1', 8), host('h2', 8, 1)]), [FLAT, DEAR]);

  it('accepts classes, host classes and bounds', () => {
    expect(checkModel(base)).toEqual([]);
  });

  it.each([
    ['no class', { ...base, charging: { classes: [] } }, 'charging.classes'],
    ['a negative rate', { ...base, charging: { classes: [FLAT, { ...DEAR, perVm: -1 }] } }, 'charging.classes[1].perVm'],
    ['a non-finite rate', { ...base, charging: { classes: [{ ...FLAT, perVcpu: Infinity }, DEAR] } }, 'charging.classes[0].perVcpu'],
    ['a class that does not exist', { ...base, hosts: [host('h1', 8), host('h2', 8, 2)] }, 'hosts[1].chargeClass'],
    ['a fractional class', { ...base, hosts: [host('h1', 8), host('h2', 8, 0.5)] }, 'hosts[1].chargeClass'],
    ['a class without charging', { ...base, charging: undefined }, 'hosts[1].chargeClass'],
    ['a negative bound', { ...base, services: [elasticService({ chargeBound: -1 })] }, 'services[0].chargeBound'],
    ['a NaN bound', { ...base, services: [elasticService({ chargeBound: NaN })] }, 'services[0].chargeBound'],
  ])('rejects %s', (_label, m, field) => {
    const { charging, ...rest } = m as AdmissionModel;
    const input = charging === undefined ? rest : m;
    expect(checkModel(input).map((d) => d.field)).toContain(field);
  });
});

describe.each(SOLVERS)('%s with a charge bound', (_name, solver) => {
  it('(a) a bound that allows 3 of 5 VMs: basic kept, 2 elastic VMs dropped, charge 9 ≤ 10', async () => {
    const hosts = [host('h1', 8), host('h2', 8)];
    const free = await solver.solve(charged(model([elasticService()], hosts), [FLAT]));
    expect(localVms(charged(model([elasticService()], hosts), [FLAT]), free)).toBe(5); // without a bound: all 5
    const m = charged(model([elasticService({ chargeBound: 10 })], hosts), [FLAT]);
    const r = await solver.solve(m);
    const v = verified(m, r);
    expect(r.allocation.services[0]![0]!.acceptedLocally).toBe(true);
    expect(localVms(m, r)).toBe(3);
    expect(v.services[0]!.charge).toBe(9);
    expect(v.services[0]!.components[0]!.acceptedElasticVms).toBe(2);
    expect(r.objective).toBeLessThan(free.objective);
  });

  it('(b) a bound below the basic VMs\' charge: not accepted locally (federated when allowed, rejected when not)', async () => {
    const hosts = [host('h1', 16)];
    // b = 2 VMs of 2 vCPUs cost 6 > 5.
    const fed = charged(model([service('s', [component('web', { basic: 2, maxVms: 4, vcpus: 2, availability: 0.5 })], { chargeBound: 5 })], hosts), [FLAT]);
    const r1 = await solver.solve(fed);
    const v1 = verified(fed, r1);
    expect(r1.allocation.services[0]![0]).toMatchObject({ acceptedLocally: false, placements: [] });
    expect(r1.allocation.services[0]![0]!.federatedVms).toBeGreaterThanOrEqual(1);
    expect(v1.services[0]).toMatchObject({ anyAcceptedLocally: false, charge: 0 });

    const forbidden = charged(model([service('s', [component('web', { basic: 2, maxVms: 4, vcpus: 2 })], { chargeBound: 5, federationAllowed: false })], hosts), [FLAT]);
    const r2 = await solver.solve(forbidden);
    verified(forbidden, r2);
    expect(r2.allocation.services[0]![0]).toEqual({ acceptedLocally: false, placements: [], federatedVms: 0 });
    expect(r2.objective).toBe(0);
  });

  it('(b) binds per service: the bounded service is rejected, the other one is admitted in full', async () => {
    const m = charged(
      model(
        [
          service('capped', [component('c', { basic: 2, maxVms: 2, vcpus: 2 })], { chargeBound: 5, federationAllowed: false }),
          service('free', [component('c', { basic: 2, maxVms: 2, vcpus: 2 })], { federationAllowed: false }),
        ],
        [host('h1', 16)],
      ),
      [FLAT],
    );
    const r = await solver.solve(m);
    const v = verified(m, r);
    expect(r.allocation.services.map((s) => s[0]!.acceptedLocally)).toEqual([false, true]);
    expect(v.services.map((s) => s.charge)).toEqual([0, 6]);
  });

  it('(c) cheap and dear hosts: every answer verifies and none is better than HiGHS\'s', async () => {
    // The cheap host (8 CPUs, 1 per vCPU) holds all 4 VMs for a charge of 8; on the dear one (16 CPUs, 3 per vCPU)
    // one VM costs 6. Bound 8: only the cheap host admits more than one VM.
    const m = charged(model([service('s', [component('web', { basic: 1, maxVms: 4, vcpus: 2, availability: 0 })], { chargeBound: 8, federationAllowed: false })], [host('dear', 16, 1), host('cheap', 8, 0)]), [CHEAP, DEAR]);
    const r = await solver.solve(m);
    const v = verified(m, r);
    const exact = await highs.solve(m);
    expect(r.objective).toBeLessThanOrEqual(exact.objective + 1e-9);
    expect(localVms(m, r)).toBeGreaterThanOrEqual(1);
    expect(v.services[0]!.charge).toBeLessThanOrEqual(8);
  });
});

describe('HiGHS: the charge bound is exact', () => {
  const cheapAndDear = (hosts: Host[], bound = 8): AdmissionModel =>
    charged(model([service('s', [component('web', { basic: 1, maxVms: 4, vcpus: 2, availability: 0 })], { chargeBound: bound, federationAllowed: false })], hosts), [CHEAP, DEAR]);

  it('(c) places all 4 VMs on the cheap host although the dear one is larger (the loose-capacity shortcut is off)', async () => {
    const m = cheapAndDear([host('dear', 16, 1), host('cheap', 8, 0)]);
    const r = await highs.solve(m);
    expect(r.status).toBe('optimal');
    const v = verified(m, r);
    expect(r.allocation.services[0]![0]!.placements).toEqual([{ hostIndex: 1, vms: 4 }]);
    expect(v.services[0]!.charge).toBe(8);
    // Without the bound the loose-capacity certificate would keep the dear host only; with it both hosts are kept.
    expect(reduceHosts(m).kept).toEqual([0, 1]);
    const { chargeBound: _, ...unbounded } = m.services[0]!;
    expect(reduceHosts({ ...m, services: [unbounded] }).kept).toEqual([0]);
  });

  it('(c) the greedy is conservative there (a VM may cost 6 on a host it may use: 1 VM), auto finds HiGHS\'s 4', async () => {
    const m = cheapAndDear([host('dear', 16, 1), host('cheap', 8, 0)]);
    const g = solveGreedy(m, {}, { prove: true });
    verified(m, g);
    expect(localVms(m, g)).toBe(1);
    // The proof relaxes the bound to the cheapest VM (2), so it does not claim the conservative answer optimal.
    expect(g.status).toBe('feasible');
    expect(g.bound).not.toBeNull();
    const exact = await highs.solve(m);
    expect(g.bound!).toBeGreaterThanOrEqual(exact.objective - 1e-9);
    const auto = await autoSolver.solve(m);
    verified(m, auto);
    expect(localVms(m, auto)).toBe(4);
    expect(auto.objective).toBeCloseTo(exact.objective, 9);
  });

  it('(c) hosts of equal capacity but different class are never merged: symmetry rows and dominance stay within a class', async () => {
    // Same capacity, dear host first: merged into one class, the symmetry rows would put the load on the dear host.
    const pair = cheapAndDear([host('dear', 8, 1), host('cheap', 8, 0)]);
    const r1 = await highs.solve(pair);
    verified(pair, r1);
    expect(r1.allocation.services[0]![0]!.placements).toEqual([{ hostIndex: 1, vms: 4 }]);
    // Six dear hosts ahead of one cheap host of the same size: with at most 4 hosts non-empty, dominance would drop it.
    const many = cheapAndDear([...Array.from({ length: 6 }, (_, k) => host(`dear-${k}`, 8, 1)), host('cheap', 8, 0)]);
    expect(reduceHosts(many).kept).toContain(6);
    const r2 = await highs.solve(many);
    verified(many, r2);
    expect(r2.allocation.services[0]![0]!.placements).toEqual([{ hostIndex: 6, vms: 4 }]);
    const full = await solveHighs(many, { timeLimitSeconds: 20, mipRelGap: 0 }, { hostReduction: false });
    expect(r2.objective).toBeCloseTo(full.objective, 9);
  });

  it('(c) splits over two classes to the last unit of the bound: 2 VMs cheap + 1 dear = 4 + 6 = 10', async () => {
    // The cheap host holds 2 VMs (4 CPUs); a third must go to a dear host. Bound 10 allows exactly that.
    const m = cheapAndDear([host('dear', 16, 1), host('cheap', 4, 0)], 10);
    const r = await highs.solve(m);
    const v = verified(m, r);
    expect(localVms(m, r)).toBe(3);
    expect(v.services[0]!.charge).toBe(10);
    expect([...r.allocation.services[0]![0]!.placements].sort((p, q) => p.hostIndex - q.hostIndex)).toEqual([{ hostIndex: 0, vms: 1 }, { hostIndex: 1, vms: 2 }]);
  });

  it('a bound that can never bind adds no row; a binding one adds one', () => {
    const hosts = [host('h1', 8), host('h2', 8)];
    const loose = buildLpModel(charged(model([elasticService({ chargeBound: 15 })], hosts), [FLAT])); // 5 VMs cost 15
    const tight = buildLpModel(charged(model([elasticService({ chargeBound: 14 })], hosts), [FLAT]));
    expect(tight.size.rows).toBe(loose.size.rows + 1 + 1); // the charge row and s ≥ y
    expect(tight.text).toMatch(/\+ 3 x_0_0_0 \+ 3 x_0_0_1 \+ 1 s_0 <= 15/);
  });
});

describe('property: random charging on generated instances', () => {
  /** Two charge classes over the hosts, and a bound for every other service between 30% and 90% of its full charge. */
  function withCharging(m: AdmissionModel, seed: number): AdmissionModel {
    let state = seed * 7919;
    const rnd = (): number => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const classes: ChargeRates[] = [{ perVcpu: 1, perMemoryGb: 0.25, perVm: 0.5 }, { perVcpu: 2.5, perMemoryGb: 0.5, perVm: 0 }];
    const hosts = m.hosts.map((h) => (rnd() < 0.5 ? { ...h, chargeClass: 1 } : h));
    const services = m.services.map((s, a) => {
      if (a % 2 === 1) return s;
      const full = s.components.reduce((t, c) => t + c.maxVms * (classes[1]!.perVcpu * c.vcpus + (classes[1]!.perMemoryGb * (c.memoryMb ?? 0)) / 1024), 0);
      return { ...s, chargeBound: Math.round(full * (0.3 + 0.6 * rnd()) * 100) / 100 };
    });
    return { ...m, hosts, services, charging: { classes } };
  }

  it('every solver verifies; HiGHS with the reduction equals HiGHS without, and no solver beats it (24 seeds)', async () => {
    let binding = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const m = withCharging(generateModel({ seed, services: 1 + (seed % 3), components: 1 + (seed % 3), hosts: 3 + (seed % 8), capacity: seed % 2 ? 'tight' : 'loose', rules: seed % 3 !== 0, memory: seed % 4 === 0 }), seed);
      const reduced = await solveHighs(m, { timeLimitSeconds: 20, mipRelGap: 0 });
      const full = await solveHighs(m, { timeLimitSeconds: 20, mipRelGap: 0 }, { hostReduction: false });
      expect([seed, reduced.status, full.status]).toEqual([seed, 'optimal', 'optimal']);
      verified(m, reduced);
      expect([seed, reduced.objective]).toEqual([seed, expect.closeTo(full.objective, 6)]);
      for (const [name, solver] of SOLVERS) {
        if (name === 'highs') continue;
        const r = await solver.solve(m);
        const v = verify(m, r.allocation);
        if (!v.feasible || Math.abs(v.objective - r.objective) > 1e-6) throw new Error(`seed ${seed} ${name}: ${JSON.stringify(v.violations.slice(0, 3))}`);
        expect(r.objective).toBeLessThanOrEqual(reduced.objective + 1e-6);
      }
      // How often the bound decided something: the same instance without bounds has a better optimum.
      const unbounded = await solveHighs({ ...m, services: m.services.map(({ chargeBound: _, ...s }) => s) }, { timeLimitSeconds: 20, mipRelGap: 0 });
      if (unbounded.objective > reduced.objective + 1e-6) binding++;
    }
    expect(binding).toBeGreaterThanOrEqual(4);
  });
});

describe('(d) without charging or without a bound: exactly as before', () => {
  const instances = Array.from({ length: 8 }, (_, k) => generateModel({ seed: 100 + k, services: 2 + (k % 2), components: 1 + (k % 3), hosts: 4 + k, capacity: k % 2 ? 'tight' : 'loose', rules: true, memory: k % 3 === 0 }));
  /** Charging classes and host classes, but no service bound. */
  const classesOnly = (m: AdmissionModel): AdmissionModel => ({ ...m, hosts: m.hosts.map((h, j) => ({ ...h, chargeClass: j % 2 })), charging: { classes: [FLAT, DEAR] } });
  /** Bounds, but no model charging (nothing is charged). */
  const boundsOnly = (m: AdmissionModel): AdmissionModel => ({ ...m, services: m.services.map((s) => ({ ...s, chargeBound: 0 })) });

  it('HiGHS builds the very same LP text and reduction', () => {
    for (const m of instances) {
      const before = buildLpModel(m);
      for (const variant of [classesOnly(m), boundsOnly(m)]) {
        const after = buildLpModel(variant);
        expect(after.text).toBe(before.text);
        expect(after.keptHosts).toEqual(before.keptHosts);
      }
    }
  });

  it('every solver gives the same allocation and objective', async () => {
    for (const m of instances) {
      for (const [, solver] of SOLVERS) {
        const before = await solver.solve(m);
        for (const variant of [classesOnly(m), boundsOnly(m)]) {
          const after = await solver.solve(variant);
          expect(after.allocation).toEqual(before.allocation);
          expect(after.objective).toBe(before.objective);
          expect(verify(variant, after.allocation).violations).toEqual([]);
        }
      }
    }
  });

  it('a bound that never binds leaves the greedy unchanged and HiGHS\'s optimum unchanged', async () => {
    for (const m of instances) {
      const huge = { ...classesOnly(m), services: m.services.map((s) => ({ ...s, chargeBound: 1e9 })) };
      expect(solveGreedy(huge).allocation).toEqual(solveGreedy(m).allocation);
      const [a, b] = [await highs.solve(m), await highs.solve(huge)];
      expect(b.objective).toBeCloseTo(a.objective, 9);
    }
  });
});
