/**
 * explain.ts was rewritten for speed only (fleet facts per frozen host list, sparse residual capacity, what-ifs judged
 * by ChangeVerifier): on generated admissions its reasons must equal the original implementation's exactly.
 */
import { explainComponents } from '../admission-controller/explain';
import { verify } from '../admission-controller/verifier';
import { generateModel } from '../bench/generator';
import type { AdmissionModel, Allocation } from '../model/types';
import { solveGreedy } from '../solvers/greedy';
import { emptyEvaluation } from '../solvers/greedy/evaluation';
import { explainComponents as referenceExplain } from './support/explain-reference';

function frozen(m: AdmissionModel): AdmissionModel {
  return { ...m, hosts: Object.freeze(m.hosts.map((h) => Object.freeze({ ...h }))) };
}

function rejectAll(m: AdmissionModel): Allocation {
  return { services: m.services.map((_, a) => emptyEvaluation(m, a).allocation) };
}

describe('explain.ts gives the reasons of its original implementation', () => {
  it('on 300 generated admissions (tight and loose, rules, memory, forbidden federation, cost bounds), greedy and reject-all allocations', () => {
    let explained = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const base = generateModel({
        seed,
        services: 1 + (seed % 5),
        components: 1 + (seed % 6),
        hosts: 2 + (seed % 23),
        capacity: seed % 3 === 0 ? 'loose' : 'tight',
        rules: seed % 4 !== 0,
        variableSizes: seed % 2 === 0,
        memory: seed % 5 === 0,
        costBoundShare: seed % 7 === 0 ? 0.5 : 0,
        federationForbiddenShare: seed % 6 === 0 ? 0.6 : 0.2,
        trecViolationShare: seed % 8 === 0 ? 0.4 : 0.1,
      });
      const m = seed % 2 === 0 ? frozen(base) : base;
      for (const allocation of [solveGreedy(m).allocation, rejectAll(m)]) {
        const v = verify(m, allocation);
        expect(v.violations).toEqual([]);
        const ours = explainComponents(m, allocation, v);
        expect([seed, ours]).toEqual([seed, referenceExplain(m, allocation, v)]);
        explained += ours.flat().filter((r) => r.length > 0).length;
      }
    }
    // The comparison must have had something to compare.
    expect(explained).toBeGreaterThan(1000);
  });

  it('on a service of 120 components with a Medium anti-affinity rule over many of them, and on a shared frozen fleet', () => {
    const base = generateModel({ seed: 7, services: 2, components: 120, hosts: 90, capacity: 'tight', rules: true, memory: true });
    const ids = base.services[0]!.components.map((c) => c.id);
    const services = base.services.map((s, a) => (a === 0 ? { ...s, rules: [...s.rules, { kind: 'antiAffinity' as const, level: 1 as const, members: ids.filter((_, k) => k % 3 === 0) }] } : s));
    const m = frozen({ ...base, services });
    for (let round = 0; round < 2; round++) {
      for (const allocation of [solveGreedy(m).allocation, rejectAll(m)]) {
        const v = verify(m, allocation);
        expect(explainComponents(m, allocation, v)).toEqual(referenceExplain(m, allocation, v));
      }
    }
  });
});
