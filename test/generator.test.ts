/**
 * Tests of the benchmark / property-test generators (bench/generator.ts) and their PRNG (bench/rng.ts).
 * Checks determinism, validity under validateModel, the loose / tight capacity contract and tinyModel's bounds.
 */
import {
  BENCH_SIZES,
  TINY_MAX_VMS_PER_SERVICE,
  capacityRatio,
  findBenchSize,
  generateModel,
  tinyModel,
  totalFreeCpus,
  totalMaxDemand,
  type GeneratorOptions,
} from '../bench/generator';
import { Rng, deriveSeed } from '../bench/rng';
import { checkModel } from '../model/validate';
import type { AdmissionModel } from '../model/types';

const base: GeneratorOptions = { seed: 1, services: 5, components: 5, hosts: 200, capacity: 'loose', rules: true };

function expectValid(model: AdmissionModel): void {
  // checkModel returns the problem list, so a failure names the field instead of just "threw".
  expect(checkModel(model)).toEqual([]);
}

describe('Rng', () => {
  it('is a fixed sequence for a fixed seed (guards cross-platform / refactoring drift)', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const seqA = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(seqA);
    // Golden values: if these change, every generated benchmark instance changes too.
    expect(seqA).toEqual([2207890646, 3781857653, 2436464816, 3417301699, 3824609393]);
    expect(new Rng(43).uint32()).not.toBe(seqA[0]);
  });

  it('keeps helpers in range', () => {
    const r = new Rng(7);
    for (let k = 0; k < 2000; k++) {
      const v = r.int(-2, 3);
      expect(Number.isInteger(v) && v >= -2 && v <= 3).toBe(true);
      const f = r.float(0.5, 0.7, 2);
      expect(f).toBeGreaterThanOrEqual(0.5);
      expect(f).toBeLessThanOrEqual(0.7);
      expect(r.next()).toBeLessThan(1);
    }
    const seen = new Set(Array.from({ length: 500 }, () => r.int(0, 3)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
    const shuffled = r.shuffle([1, 2, 3, 4, 5, 6]);
    expect([...shuffled].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const sample = r.sample(['a', 'b', 'c', 'd'], 3);
    expect(new Set(sample).size).toBe(3);
    expect(r.sample(['a'], 5)).toEqual(['a']);
    expect(() => r.pick([])).toThrow(RangeError);
    expect(() => r.int(3, 2)).toThrow(RangeError);
  });

  it('derives distinct seeds for distinct streams and high bits', () => {
    expect(deriveSeed(1, 'hosts')).not.toBe(deriveSeed(1, 'services'));
    expect(deriveSeed(1)).not.toBe(deriveSeed(2 ** 32 + 1));
    expect(deriveSeed(-5)).toBe(deriveSeed(-5));
    expect(() => deriveSeed(1.5)).toThrow(RangeError);
    const r = new Rng(9);
    expect(r.fork('x').uint32()).toBe(new Rng(9).fork('x').uint32());
  });
});

describe('generateModel', () => {
  it('is deterministic: same options → deep-equal model, different seed → different model', () => {
    for (const capacity of ['loose', 'tight'] as const) {
      const o = { ...base, capacity, variableSizes: true, memory: true };
      expect(generateModel(o)).toEqual(generateModel({ ...o }));
      expect(generateModel(o)).not.toEqual(generateModel({ ...o, seed: 2 }));
    }
  });

  it('keeps the services when only the host count changes (separate streams)', () => {
    expect(generateModel({ ...base, hosts: 50 }).services).toEqual(generateModel({ ...base, hosts: 500 }).services);
  });

  it('produces valid models for many seeds and every option combination', () => {
    let checked = 0;
    for (const capacity of ['loose', 'tight'] as const)
      for (const rules of [false, true])
        for (const variableSizes of [false, true])
          for (const memory of [false, true])
            for (let seed = 0; seed < 6; seed++) {
              const o: GeneratorOptions = {
                seed: seed * 7919 - 3,
                services: 1 + (seed % 4) * 2,
                components: 1 + ((seed * 3) % 6),
                hosts: [0, 1, 3, 20, 60, 150][seed]!,
                capacity,
                rules,
                variableSizes,
                memory,
                federationForbiddenShare: seed % 2 === 0 ? 0.5 : undefined,
                trecViolationShare: seed % 3 === 0 ? 0.4 : undefined,
                costBoundShare: seed % 2 === 1 ? 0.3 : undefined,
              };
              const m = generateModel(o);
              expectValid(m);
              checked++;
              expect(m.hosts).toHaveLength(o.hosts);
              expect(m.services).toHaveLength(o.services);
              for (const h of m.hosts) {
                expect([8, 16, 24, 32, 48, 64]).toContain(h.cpus);
                expect(h.usedCpus).toBeLessThanOrEqual(h.cpus);
                expect(h.label).toBeUndefined();
                expect(h.freeMemoryMb !== undefined).toBe(memory);
              }
              for (const s of m.services) {
                expect(s.id).toMatch(/^s\d+$/);
                expect(s.gain).toBeGreaterThanOrEqual(500);
                expect(s.gain).toBeLessThanOrEqual(2000);
                expect(s.trust).toBeGreaterThanOrEqual(1);
                expect(s.trust).toBeLessThanOrEqual(5);
                expect(s.eco).toBeGreaterThanOrEqual(2);
                expect(s.eco).toBeLessThanOrEqual(10);
                expect(s.risk).toBeGreaterThanOrEqual(0.001);
                expect(s.risk).toBeLessThanOrEqual(0.05);
                expect(s.availability).toBeGreaterThanOrEqual(0.9);
                expect(s.availability).toBeLessThanOrEqual(0.99);
                if (!variableSizes) expect(s.components).toHaveLength(o.components);
                else expect(s.components.length).toBeLessThanOrEqual(o.components);
                if (!rules) expect(s.rules).toEqual([]);
                for (const r of s.rules) {
                  expect(r.members.length).toBeGreaterThanOrEqual(2);
                  expect(r.members.length).toBeLessThanOrEqual(3);
                }
                for (const c of s.components) {
                  expect(c.id).toMatch(/^c\d+$/);
                  expect(c.basic).toBeGreaterThanOrEqual(0);
                  expect(c.basic).toBeLessThanOrEqual(3);
                  expect(c.maxVms - c.basic).toBeLessThanOrEqual(6);
                  expect([1, 2, 4, 8]).toContain(c.vcpus);
                  expect([0.5, 0.8, 0.9, 0.95, 1.0]).toContain(c.availability);
                  expect(c.memoryMb !== undefined).toBe(memory);
                  if (!rules) expect([c.affinity, c.antiAffinity]).toEqual([0, 0]);
                }
              }
            }
    expect(checked).toBe(96);
  });

  it('separates loose from tight by the free-CPU / maximum-demand ratio', () => {
    for (let seed = 1; seed <= 20; seed++) {
      for (const [services, components, hosts] of [
        [5, 5, 100],
        [10, 5, 300],
        [3, 3, 40],
      ] as const) {
        const o = { seed, services, components, hosts, rules: seed % 2 === 0, variableSizes: seed % 3 === 0 };
        const loose = generateModel({ ...o, capacity: 'loose' });
        const tight = generateModel({ ...o, capacity: 'tight' });
        expect(capacityRatio(loose)).toBeGreaterThanOrEqual(3);
        const ratio = capacityRatio(tight);
        expect(ratio).toBeGreaterThanOrEqual(0.4);
        expect(ratio).toBeLessThanOrEqual(0.7);
        // Tight keeps real room on some hosts (not only 1-CPU slivers), so big VMs still fit somewhere.
        expect(Math.max(...tight.hosts.map((h) => h.cpus - h.usedCpus))).toBeGreaterThanOrEqual(8);
      }
    }
  });

  it('loosens a fleet that is too small by freeing and growing hosts', () => {
    const m = generateModel({ ...base, hosts: 25 });
    expect(totalFreeCpus(m)).toBeGreaterThanOrEqual(3 * totalMaxDemand(m));
  });

  it('has some full and some empty hosts in a mixed fleet', () => {
    const m = generateModel({ ...base, hosts: 1000 });
    expect(m.hosts.some((h) => h.usedCpus === h.cpus)).toBe(true);
    expect(m.hosts.some((h) => h.usedCpus === 0)).toBe(true);
    expect(new Set(m.hosts.map((h) => h.cpus)).size).toBe(6);
  });

  it('applies the federation-forbidden, TREC-violation and cost-bound shares exactly', () => {
    const m = generateModel({ ...base, services: 100, hosts: 500, costBoundShare: 0.3 });
    expectValid(m);
    expect(m.services.filter((s) => !s.federationAllowed)).toHaveLength(20);
    const violating = m.services.filter((s) => s.trust < s.constraints.trust || s.eco < s.constraints.eco);
    expect(violating).toHaveLength(10);
    // Bounds of the others stay at the OPTIMIS defaults.
    for (const s of m.services.filter((x) => !violating.includes(x))) {
      expect([s.constraints.eco, s.constraints.trust, s.constraints.risk]).toEqual([0, 0, 7]);
    }
    const costBound = m.services.filter((s) => s.constraints.cost < 1_000_000);
    expect(costBound).toHaveLength(30);
    for (const s of costBound) expect(s.constraints.cost).toBe(Math.round(0.3 * s.gain));
    expect(m.weights).toEqual({ cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 });

    const defaults = generateModel({ ...base, services: 50 });
    expect(defaults.services.filter((s) => !s.federationAllowed)).toHaveLength(10);
    expect(defaults.services.filter((s) => s.constraints.cost < 1_000_000)).toHaveLength(0);
  });

  it('uses rules with moderate probability and different sizes with variableSizes', () => {
    const m = generateModel({ ...base, services: 60, variableSizes: true });
    const comps = m.services.flatMap((s) => s.components);
    const withLevel = comps.filter((c) => c.affinity !== 0 || c.antiAffinity !== 0).length / comps.length;
    expect(withLevel).toBeGreaterThan(0.1);
    expect(withLevel).toBeLessThan(0.5);
    expect(m.services.some((s) => s.rules.some((r) => r.kind === 'affinity'))).toBe(true);
    expect(m.services.some((s) => s.rules.some((r) => r.kind === 'antiAffinity'))).toBe(true);
    expect(new Set(m.services.map((s) => s.components.length)).size).toBeGreaterThan(1);
    expect(comps.some((c) => c.basic === 0)).toBe(true);
    // Even two services differ in size when variableSizes is asked for.
    const two = generateModel({ ...base, services: 2, variableSizes: true });
    expect(two.services[0]!.components.length).not.toBe(two.services[1]!.components.length);
  });

  it('rejects nonsensical options', () => {
    expect(() => generateModel({ ...base, services: -1 })).toThrow(/services/);
    expect(() => generateModel({ ...base, components: 0 })).toThrow(/components/);
    expect(() => generateModel({ ...base, federationForbiddenShare: 1.5 })).toThrow(/federationForbiddenShare/);
    expect(() => generateModel({ ...base, seed: 0.5 })).toThrow(/seed/);
  });
});

describe('tinyModel', () => {
  const models = Array.from({ length: 600 }, (_, seed) => tinyModel(seed));

  it('is deterministic', () => {
    expect(tinyModel(17)).toEqual(tinyModel(17));
    expect(tinyModel(17)).not.toEqual(tinyModel(18));
  });

  it('respects the size bounds and is valid', () => {
    for (const m of models) {
      expectValid(m);
      expect(m.services.length).toBeGreaterThanOrEqual(1);
      expect(m.services.length).toBeLessThanOrEqual(2);
      expect(m.hosts.length).toBeLessThanOrEqual(3);
      for (const h of m.hosts) {
        const free = h.cpus - h.usedCpus;
        expect(free).toBeGreaterThanOrEqual(0);
        expect(free).toBeLessThanOrEqual(8);
      }
      for (const s of m.services) {
        expect(s.components.length).toBeLessThanOrEqual(3);
        expect(s.components.reduce((sum, c) => sum + c.maxVms, 0)).toBeLessThanOrEqual(TINY_MAX_VMS_PER_SERVICE);
        for (const c of s.components) {
          expect(c.vcpus).toBeGreaterThanOrEqual(1);
          expect(c.vcpus).toBeLessThanOrEqual(3);
          expect(c.basic).toBeLessThanOrEqual(2);
          expect(c.maxVms - c.basic).toBeLessThanOrEqual(2);
        }
      }
    }
  });

  it('never puts two rules of one kind on the same member set (a model directory holds one level per combination)', () => {
    const all = [...models, ...Array.from({ length: 30 }, (_, seed) => generateModel({ ...base, seed, services: 10 }))];
    for (const m of all)
      for (const s of m.services) {
        const keys = s.rules.map((r) => `${r.kind}:${[...r.members].sort().join(',')}`);
        expect(new Set(keys).size).toBe(keys.length);
      }
  });

  it('covers every level at both scopes, federation on/off, violated TREC bounds and low cost bounds', () => {
    const services = models.flatMap((m) => m.services);
    const comps = services.flatMap((s) => s.components);
    const rules = services.flatMap((s) => s.rules);
    const share = (n: number): number => n / services.length;
    for (const level of [0, 1, 2] as const) {
      expect(comps.filter((c) => c.affinity === level).length).toBeGreaterThan(comps.length * 0.1);
      expect(comps.filter((c) => c.antiAffinity === level).length).toBeGreaterThan(comps.length * 0.1);
    }
    for (const kind of ['affinity', 'antiAffinity'] as const)
      for (const level of [1, 2] as const) {
        expect(rules.filter((r) => r.kind === kind && r.level === level).length).toBeGreaterThan(services.length * 0.05);
      }
    expect(share(services.filter((s) => s.federationAllowed).length)).toBeGreaterThan(0.3);
    expect(share(services.filter((s) => !s.federationAllowed).length)).toBeGreaterThan(0.2);
    const violated = services.filter(
      (s) => s.trust < s.constraints.trust || s.eco < s.constraints.eco || s.risk > s.constraints.risk,
    );
    expect(share(violated.length)).toBeGreaterThan(0.1);
    expect(share(services.filter((s) => s.constraints.cost < 0.7 * s.gain).length)).toBeGreaterThan(0.1);
    expect(comps.some((c) => c.basic === 0)).toBe(true);
    expect(comps.some((c) => c.basic === 2)).toBe(true);
    expect(models.some((m) => m.hosts.some((h) => h.cpus === h.usedCpus))).toBe(true);
  });
});

describe('BENCH_SIZES', () => {
  it('lists every size in both flavours with the OPTIMIS reference times', () => {
    expect(BENCH_SIZES).toHaveLength(12);
    const ref = (id: string): number | null | undefined => findBenchSize(id)?.referenceSeconds;
    expect([
      ref('5x5-100-loose'),
      ref('5x5-500-loose'),
      ref('5x5-2000-loose'),
      ref('10x5-2000-loose'),
      ref('20x4-5000-loose'),
    ]).toEqual([0.22, 0.99, 5.0, 35, 220]);
    expect([
      ref('5x5-100-tight'),
      ref('5x5-500-tight'),
      ref('5x5-2000-tight'),
      ref('10x5-2000-tight'),
      ref('20x4-5000-tight'),
    ]).toEqual([1.0, 3.7, 16.4, 123, 300]);
    expect(findBenchSize('20x4-5000-tight')?.referenceIsLowerBound).toBe(true);
    expect(ref('5x5-50000-loose')).toBeNull();
    expect(ref('5x5-50000-tight')).toBeNull();
    expect(new Set(BENCH_SIZES.map((s) => s.id)).size).toBe(12);
  });

  it('generates the bench instances with the intended capacity ratios', () => {
    for (const size of BENCH_SIZES.filter((s) => s.options.hosts <= 5000)) {
      const m = generateModel({ seed: 1, ...size.options });
      const ratio = capacityRatio(m);
      if (size.flavour === 'loose') expect(ratio).toBeGreaterThanOrEqual(3);
      else expect(ratio).toBeGreaterThanOrEqual(0.4);
      if (size.flavour === 'tight') expect(ratio).toBeLessThanOrEqual(0.7);
    }
  });
});
