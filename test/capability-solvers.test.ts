/**
 * Capabilities in the solvers: every solver places a component only on hosts that satisfy its requirements and keeps
 * same-value members on one value (the verifier judges each answer); HiGHS's exact host reduction by capability
 * group gives the optimum of the unreduced model; and the greedy's answer is never above HiGHS's proven optimum.
 */
import { verify } from '../admission-controller/verifier';
import { generateModel, withCapabilities } from '../bench/generator';
import { hostSatisfies } from '../model/capabilities';
import type { Host } from '../model/types';
import { inProcessGreedySolver, shutdownGreedyWorkers } from '../solvers/greedy';
import { shutdownHighsWorker, solveHighs } from '../solvers/highs';
import { component, model, service } from './support/models';
import { EVERY_SOLVER } from './support/solvers';

afterAll(async () => {
  await shutdownGreedyWorkers();
  await shutdownHighsWorker();
});

const SOLVERS = EVERY_SOLVER;

/** Six hosts with room for everything: only the capabilities decide where VMs go. */
function fleet(): Host[] {
  return [
    { id: 'old-1', cpus: 16, usedCpus: 0, eco: 1, capabilities: { nodejs: '16.20.2', zone: 'z1' } },
    { id: 'old-2', cpus: 16, usedCpus: 0, eco: 1, capabilities: { nodejs: '16.20.2', zone: 'z2' } },
    { id: 'new-1', cpus: 4, usedCpus: 0, eco: 1, capabilities: { nodejs: '20.11.1', zone: 'z1' } },
    { id: 'new-2', cpus: 4, usedCpus: 0, eco: 1, capabilities: { nodejs: '20.11.1', zone: 'z2', gpu: 'a100' } },
    { id: 'rc-1', cpus: 16, usedCpus: 0, eco: 1, capabilities: { nodejs: '21.0.0-rc.1', zone: 'z2' } },
    { id: 'bare', cpus: 16, usedCpus: 0, eco: 1 },
  ];
}

describe.each(SOLVERS)('%s with capabilities', (_name, solver) => {
  it('places a nodejs >=18 <21 component only on the two hosts that have such a version, and fewer VMs than it asks', async () => {
    const m = model(
      [service('s', [component('web', { basic: 1, maxVms: 6, vcpus: 2, requires: [{ kind: 'required', name: 'nodejs', range: '>=18 <21' }] }), component('db', { basic: 1, maxVms: 2, vcpus: 4 })])],
      fleet(),
    );
    const r = await solver.solve(m);
    expect(verify(m, r.allocation).violations).toEqual([]);
    const web = r.allocation.services[0]![0]!;
    const hostsUsed = web.placements.filter((p) => p.vms > 0).map((p) => m.hosts[p.hostIndex]!.id).sort();
    expect(hostsUsed.every((id) => id === 'new-1' || id === 'new-2')).toBe(true);
    // 4 CPUs each, 2 per VM: 4 VMs at most, although 60 free CPUs elsewhere would hold all 6.
    expect(web.placements.reduce((t, p) => t + p.vms, 0)).toBe(4);
    expect(web.acceptedLocally).toBe(true);
  });

  it('keeps a forbidden gpu off, and same-zone members on one zone', async () => {
    const m = model(
      [
        service(
          's',
          [
            component('a', { basic: 1, maxVms: 3, vcpus: 4, requires: [{ kind: 'forbidden', name: 'gpu' }] }),
            component('b', { basic: 1, maxVms: 2, vcpus: 4 }),
          ],
          { sameValue: [{ capability: 'zone', members: ['a', 'b'] }] },
        ),
      ],
      fleet(),
    );
    const r = await solver.solve(m);
    expect(verify(m, r.allocation).violations).toEqual([]);
    const used = r.allocation.services[0]!.flatMap((c) => c.placements.filter((p) => p.vms > 0).map((p) => m.hosts[p.hostIndex]!));
    expect(used.length).toBeGreaterThan(0);
    expect(new Set(used.map((h) => h.capabilities?.['zone'])).size).toBe(1);
    expect(used.some((h) => h.id === 'bare')).toBe(false); // no zone: cannot be in "one zone"
    for (const p of r.allocation.services[0]![0]!.placements) if (p.vms > 0) expect(hostSatisfies(m.hosts[p.hostIndex]!, [{ kind: 'forbidden', name: 'gpu' }])).toBe(true);
  });

  it('rejects locally a component no host qualifies for, and still admits the rest', async () => {
    const m = model(
      [service('s', [component('gpu-job', { basic: 1, maxVms: 1, vcpus: 1, requires: [{ kind: 'required', name: 'gpu', range: 'h100' }] }), component('web', { basic: 1, maxVms: 1, vcpus: 1 })])],
      fleet(),
    );
    const r = await solver.solve(m);
    expect(verify(m, r.allocation).violations).toEqual([]);
    expect(r.allocation.services[0]![0]!.acceptedLocally).toBe(false);
    expect(r.allocation.services[0]![1]!.acceptedLocally).toBe(true);
  });

  it('property: verified on 60 seeded instances with random capabilities (loose and tight, rules, memory)', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const m = withCapabilities(
        generateModel({ seed, services: 1 + (seed % 4), components: 1 + (seed % 4), hosts: 4 + (seed % 13), capacity: seed % 2 ? 'tight' : 'loose', rules: seed % 3 !== 0, memory: seed % 5 === 0 }),
        seed,
      );
      const r = await solver.solve(m);
      const v = verify(m, r.allocation);
      if (!v.feasible || Math.abs(v.objective - r.objective) > 1e-6) throw new Error(`seed ${seed}: ${JSON.stringify(v.violations.slice(0, 3))}`);
    }
  });
});

describe('HiGHS: exact host reduction by capability group', () => {
  it('gives the optimum of the unreduced model, never below the greedy, on 40 seeded instances', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const m = withCapabilities(generateModel({ seed, services: 1 + (seed % 3), components: 1 + (seed % 3), hosts: 6 + (seed % 10), capacity: seed % 2 ? 'tight' : 'loose', rules: true }), seed, { requireShare: 0.5, sameZoneShare: 0.4 });
      const reduced = await solveHighs(m, { timeLimitSeconds: 20, mipRelGap: 0 });
      const full = await solveHighs(m, { timeLimitSeconds: 20, mipRelGap: 0 }, { hostReduction: false });
      const greedy = await inProcessGreedySolver.solve(m);
      expect([seed, reduced.status, full.status]).toEqual([seed, 'optimal', 'optimal']);
      expect(verify(m, reduced.allocation).violations).toEqual([]);
      expect(reduced.objective).toBeCloseTo(full.objective, 6);
      expect(greedy.objective).toBeLessThanOrEqual(reduced.objective + 1e-6);
    }
  });
});
