/**
 * Small hand-made admissions where the right answer is obvious: one per affinity / anti-affinity level and
 * scope, federation allowed vs forbidden, a violated TREC bound, a low cost bound (D2). Greedy + verifier + decisions.
 */
import { admit, type AdmissionResult } from '../admission-controller/admit';
import type { ComponentDecision, ServiceDecision } from '../admission-controller/decisions';
import type { AdmissionModel } from '../model/types';
import { component, hosts, model, rule, service, workedExample } from './support/models';

async function run(m: AdmissionModel): Promise<AdmissionResult> {
  return admit(m, { solver: 'greedy' });
}
function comp(r: AdmissionResult, s: string, c: string): ComponentDecision {
  return r.services.find((x) => x.id === s)!.components.find((x) => x.id === c)!;
}
function svc(r: AdmissionResult, s: string): ServiceDecision {
  return r.services.find((x) => x.id === s)!;
}
const hostsOf = (c: ComponentDecision): string[] => c.placements.map((p) => p.hostId);
const codes = (c: ComponentDecision): string[] => c.reasons.map((r) => r.code);

describe('worked example (model.md §2.6)', () => {
  it('greedy finds the optimum 358.5134 and the decisions of §2.6', async () => {
    const r = await run(workedExample());
    expect(r.objective).toBeCloseTo(358.5134, 4);
    expect(r.verification.feasible).toBe(true);
    expect(svc(r, 'a1').decision).toBe('partial'); // 2 VMs of vm1 federated
    expect(svc(r, 'a2').decision).toBe('accepted');
    expect(svc(r, 'a1').federatedVms).toBe(2);
    expect(svc(r, 'a1').trec.cost).toBeCloseTo(261.11, 2);
    expect(svc(r, 'a2').availability.mean).toBe(1);
    // High affinity rule {vm2, vm3}: one host.
    expect(hostsOf(comp(r, 'a1', 'vm2'))).toEqual(hostsOf(comp(r, 'a1', 'vm3')));
    // Basic vs elastic split: a2.vm1 has 2 basic + 2 elastic VMs.
    const vm1 = comp(r, 'a2', 'vm1');
    expect(vm1.placements.reduce((t, p) => t + p.basicVms, 0)).toBe(2);
    expect(vm1.placements.reduce((t, p) => t + p.elasticVms, 0)).toBe(2);
    // vm1/a1 is not fully local: a reason is given.
    expect(comp(r, 'a1', 'vm1').reasons.length).toBeGreaterThan(0);
    expect(r.solver).toMatchObject({ name: 'greedy', status: 'feasible', gap: null });
  });
});

describe('component-level rules', () => {
  it('High affinity: all VMs on one host big enough', async () => {
    const r = await run(model([service('s', [component('c', { basic: 2, maxVms: 2, vcpus: 2, affinity: 2 })])], hosts(2, 4, 3)));
    expect(svc(r, 's').decision).toBe('accepted');
    expect(comp(r, 's', 'c').placements).toEqual([expect.objectContaining({ hostId: 'h2', vms: 2 })]);
  });

  it('High affinity larger than any host: not admitted, with the sizes in the reason', async () => {
    const r = await run(
      model([service('s', [component('c', { basic: 3, maxVms: 3, vcpus: 2, affinity: 2 })], { federationAllowed: false })], hosts(4, 4, 4)),
    );
    expect(svc(r, 's').decision).toBe('rejected');
    // 6 CPUs on one host of 4 in total: the group is larger than any host, not a host too small for what is free.
    const reason = comp(r, 's', 'c').reasons.find((x) => x.code === 'AFFINITY_GROUP_TOO_BIG')!;
    expect(reason.data).toEqual({ groupCpus: 6, largestHostCpus: 4, members: ['c'] });
    expect(reason.message).toBe('High affinity puts the 3 VM(s) of c on one host: 6 CPUs, more than the largest host has in total (4)');
    expect(codes(comp(r, 's', 'c'))).not.toContain('HOST_TOO_SMALL');
  });

  it('Medium anti-affinity: one VM per host', async () => {
    const r = await run(model([service('s', [component('c', { basic: 3, maxVms: 3, antiAffinity: 1 })])], hosts(8, 8, 8)));
    expect(svc(r, 's').decision).toBe('accepted');
    expect(hostsOf(comp(r, 's', 'c')).sort()).toEqual(['h1', 'h2', 'h3']);
  });

  it('Medium anti-affinity with fewer hosts than VMs (federation forbidden): rejected, hosts counted', async () => {
    const r = await run(
      model([service('s', [component('c', { basic: 3, maxVms: 3, antiAffinity: 1 })], { federationAllowed: false })], hosts(8, 8)),
    );
    expect(svc(r, 's').decision).toBe('rejected');
    expect(comp(r, 's', 'c').reasons.find((x) => x.code === 'NOT_ENOUGH_HOSTS')?.data).toEqual({ hostsNeeded: 3, hostsAble: 2, vcpus: 1 });
  });

  it('High anti-affinity: only the basic VMs locally, elastic ones federated', async () => {
    const r = await run(model([service('s', [component('c', { basic: 1, maxVms: 3, antiAffinity: 2, availability: 0.5 })])], hosts(8)));
    const c = comp(r, 's', 'c');
    expect(c.localVms).toBe(1);
    expect(c.federatedVms).toBeGreaterThanOrEqual(1);
    expect(codes(c)).toContain('ANTI_AFFINITY_HIGH');
    expect(svc(r, 's').decision).toBe('partial');
  });
});

describe('service-level rules', () => {
  it('Medium affinity: members admitted together, or neither', async () => {
    // b needs 10 CPUs on 4-CPU hosts with one VM… it cannot run, so a may not either.
    const s = service('s', [component('a', { basic: 1, maxVms: 1 }), component('b', { basic: 1, maxVms: 1, vcpus: 10 })], {
      rules: [rule('affinity', 1, 'a', 'b')],
    });
    const r = await run(model([s], hosts(4, 4)));
    expect(comp(r, 's', 'a').acceptedLocally).toBe(false);
    expect(comp(r, 's', 'b').acceptedLocally).toBe(false);
    expect(codes(comp(r, 's', 'a'))).toContain('AFFINITY_RULE_GROUP');
  });

  it('High affinity: members share exactly one host', async () => {
    const s = service('s', [component('a', { basic: 2, maxVms: 2, vcpus: 2 }), component('b', { basic: 1, maxVms: 1, vcpus: 3 })], {
      rules: [rule('affinity', 2, 'a', 'b')],
    });
    const r = await run(model([s], hosts(4, 4, 8)));
    expect(svc(r, 's').decision).toBe('accepted');
    expect(hostsOf(comp(r, 's', 'a'))).toEqual(['h3']);
    expect(hostsOf(comp(r, 's', 'b'))).toEqual(['h3']);
  });

  it('Medium anti-affinity: members on different hosts', async () => {
    const s = service('s', [component('a', { basic: 2, maxVms: 2 }), component('b', { basic: 2, maxVms: 2 })], {
      rules: [rule('antiAffinity', 1, 'a', 'b')],
    });
    const r = await run(model([s], hosts(8, 8)));
    expect(svc(r, 's').decision).toBe('accepted');
    const a = new Set(hostsOf(comp(r, 's', 'a')));
    for (const h of hostsOf(comp(r, 's', 'b'))) expect(a.has(h)).toBe(false);
  });

  it('High anti-affinity: at most one member runs locally', async () => {
    const s = service('s', [component('a'), component('b')], { rules: [rule('antiAffinity', 2, 'a', 'b')] });
    const r = await run(model([s], hosts(8, 8)));
    const local = ['a', 'b'].filter((c) => comp(r, 's', c).acceptedLocally);
    expect(local).toHaveLength(1);
    const other = ['a', 'b'].find((c) => !comp(r, 's', c).acceptedLocally)!;
    expect(codes(comp(r, 's', other))).toContain('ANTI_AFFINITY_HIGH_RULE');
    expect(svc(r, 's').decision).toBe('partial');
  });
});

describe('federation, TREC and cost bounds', () => {
  const big = (federationAllowed: boolean) =>
    service('s', [component('web', { basic: 1, maxVms: 1, vcpus: 2 }), component('db', { basic: 2, maxVms: 2, vcpus: 4 })], { federationAllowed });

  it('federation allowed: what fits runs locally, the rest is federated (partial)', async () => {
    const r = await run(model([big(true)], hosts(4)));
    expect(svc(r, 's').decision).toBe('partial');
    expect(comp(r, 's', 'web').localVms).toBe(1);
    expect(comp(r, 's', 'db').acceptedLocally).toBe(false);
    expect(comp(r, 's', 'db').federatedVms).toBeGreaterThanOrEqual(1);
  });

  it('federation forbidden: all or nothing, rejected with the reason', async () => {
    const r = await run(model([big(false)], hosts(4)));
    const s = svc(r, 's');
    expect(s.decision).toBe('rejected');
    expect(s.localVms).toBe(0);
    expect(s.federatedVms).toBe(0);
    expect(codes(comp(r, 's', 'db'))).toEqual(expect.arrayContaining(['INSUFFICIENT_CAPACITY', 'ALL_OR_NOTHING']));
    expect(s.summary).toMatch(/^rejected: /);
  });

  it('a violated trust bound forbids full acceptance (federation forbidden ⇒ rejected)', async () => {
    const s = service('s', [component('c')], { trust: 3, federationAllowed: false, constraints: { eco: 0, trust: 5, risk: 7, cost: 1e6 } });
    const r = await run(model([s], hosts(8)));
    expect(svc(r, 's').decision).toBe('rejected');
    const reason = comp(r, 's', 'c').reasons.find((x) => x.code === 'TREC_BOUND')!;
    expect(reason.data).toEqual({ metric: 'trust', value: 3, bound: 5 });
  });

  it('a violated eco bound with federation allowed: some component stays out (partial)', async () => {
    const s = service('s', [component('a'), component('b')], { eco: 2, constraints: { eco: 4, trust: 0, risk: 7, cost: 1e6 } });
    const r = await run(model([s], hosts(8)));
    expect(svc(r, 's').fullyAccepted).toBe(false);
    expect(svc(r, 's').decision).toBe('partial');
  });

  it('a low cost bound (D2) rejects the service locally without making the model infeasible', async () => {
    const tight = service('t', [component('c', { basic: 1, maxVms: 3, availability: 0.5 })], {
      constraints: { eco: 0, trust: 0, risk: 7, cost: 100 },
    });
    const other = service('o', [component('c')]);
    const r = await run(model([tight, other], hosts(1, 1)));
    expect(svc(r, 't').decision).toBe('rejected');
    expect(comp(r, 't', 'c').acceptedLocally).toBe(false);
    expect(svc(r, 'o').decision).toBe('accepted');
  });
});

describe('contention', () => {
  it('capacity goes to the more valuable service; the other is told who holds it', async () => {
    const rich = service('rich', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { gain: 5000, federationAllowed: false });
    const poor = service('poor', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { gain: 500, federationAllowed: false });
    const r = await run(model([poor, rich], hosts(8, 2)));
    expect(svc(r, 'rich').decision).toBe('accepted');
    expect(svc(r, 'poor').decision).toBe('rejected');
    // Not a recorded admission (CAPACITY_IN_USE): the service solved in the same admission took it.
    const reason = comp(r, 'poor', 'c').reasons.find((x) => x.code === 'CAPACITY_TAKEN_BY_THIS_ADMISSION')!;
    expect(reason.data).toMatchObject({ users: [{ serviceId: 'rich', componentId: 'c', cpus: 8, memoryMb: 0 }], usersTotal: 1, usedCpus: 8 });
    expect(codes(comp(r, 'poor', 'c'))).not.toContain('CAPACITY_IN_USE');
  });
});
