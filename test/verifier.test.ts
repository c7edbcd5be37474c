/**
 * The verifier on the worked example of model.md §2.6 (built by hand), one mutation per constraint name,
 * the deviations D2 / D3, memory as a per-host option, and a 50,000-host allocation.
 */
import * as path from 'path';
import { verify } from '../admission-controller/verifier';
import { loadModelDirectory } from '../trec-analyzer/model-directory';
import type { ConstraintName, Verification } from '../admission-controller/verification';
import type {
  AdmissionModel,
  Allocation,
  Component,
  ComponentAllocation,
  Host,
  Service,
} from '../model/types';

// ---------------------------------------------------------------------------------------------
// Worked example (model.md §2.6), by hand.

const WEIGHTS = { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 };
const LOOSE = { eco: 0, trust: 0, risk: 7, cost: 1_000_000 };

function component(id: string, fields: Partial<Component> & Pick<Component, 'basic' | 'maxVms' | 'vcpus' | 'availability'>): Component {
  return { id, affinity: 0, antiAffinity: 0, ...fields };
}

function workedExample(): AdmissionModel {
  const hosts: Host[] = [
    { id: 'host-17', label: 'ph1', cpus: 16, usedCpus: 8, eco: 3 },
    { id: 'host-03', label: 'ph2', cpus: 8, usedCpus: 2, eco: 4 },
    { id: 'host-09', label: 'ph3', cpus: 8, usedCpus: 4, eco: 5 },
  ];
  const a1: Service = {
    id: 'a1',
    gain: 1000,
    extraCost: 10,
    trust: 3,
    eco: 8,
    risk: 0.001,
    availability: 0.99,
    federationAllowed: true,
    components: [
      component('vm1', { basic: 1, maxVms: 3, vcpus: 1, availability: 0.5, antiAffinity: 1 }),
      component('vm2', { basic: 1, maxVms: 2, vcpus: 2, availability: 0.5 }),
      component('vm3', { basic: 1, maxVms: 1, vcpus: 4, availability: 1.0 }),
    ],
    rules: [{ kind: 'affinity', level: 2, members: ['vm2', 'vm3'] }],
    constraints: LOOSE,
  };
  const a2: Service = {
    id: 'a2',
    gain: 800,
    extraCost: 10,
    trust: 3,
    eco: 8,
    risk: 0.001,
    availability: 0.9,
    federationAllowed: false,
    components: [
      component('vm1', { basic: 2, maxVms: 4, vcpus: 2, availability: 0.8 }),
      component('vm2', { basic: 1, maxVms: 2, vcpus: 1, availability: 0.5 }),
    ],
    rules: [{ kind: 'antiAffinity', level: 1, members: ['vm1', 'vm2'] }],
    constraints: LOOSE,
  };
  return { hosts, services: [a1, a2], weights: WEIGHTS };
}

const PH1 = 0;
const PH2 = 1;
const PH3 = 2;

function local(placements: Array<[number, number]>, federatedVms = 0): ComponentAllocation {
  return { acceptedLocally: true, placements: placements.map(([hostIndex, vms]) => ({ hostIndex, vms })), federatedVms };
}

const REJECTED: ComponentAllocation = { acceptedLocally: false, placements: [], federatedVms: 0 };

/** The optimal allocation of §2.6. */
function workedAllocation(): Allocation {
  return {
    services: [
      [local([[PH2, 1]], 2), local([[PH1, 1]]), local([[PH1, 1]])],
      [local([[PH2, 2], [PH3, 2]]), local([[PH1, 2]])],
    ],
  };
}

// Immutable edits, so that every case starts from the same valid allocation / model.

function withComponent(allocation: Allocation, a: number, i: number, patch: Partial<ComponentAllocation>): Allocation {
  return {
    services: allocation.services.map((row, sa) => row.map((c, ci) => (sa === a && ci === i ? { ...c, ...patch } : c))),
  };
}

function withService(model: AdmissionModel, a: number, patch: Partial<Service>): AdmissionModel {
  return { ...model, services: model.services.map((s, sa) => (sa === a ? { ...s, ...patch } : s)) };
}

function withModelComponent(model: AdmissionModel, a: number, i: number, patch: Partial<Component>): AdmissionModel {
  const service = model.services[a];
  return withService(model, a, {
    components: service.components.map((c, ci) => (ci === i ? { ...c, ...patch } : c)),
  });
}

function withHosts(model: AdmissionModel, patch: (host: Host, j: number) => Host): AdmissionModel {
  return { ...model, hosts: model.hosts.map(patch) };
}

/** A one-host, one-service, one-component model for cases the worked example cannot express. */
function tiny(fields: Partial<Component> = {}, serviceFields: Partial<Service> = {}): AdmissionModel {
  return {
    hosts: [{ id: 'h0', cpus: 100, usedCpus: 0, eco: 1 }],
    services: [
      {
        id: 's',
        gain: 100,
        extraCost: 0,
        trust: 3,
        eco: 8,
        risk: 0.001,
        availability: 0,
        federationAllowed: true,
        components: [component('c', { basic: 0, maxVms: 4, vcpus: 1, availability: 0, ...fields })],
        rules: [],
        constraints: LOOSE,
        ...serviceFields,
      },
    ],
    weights: WEIGHTS,
  };
}

function tinyAllocation(entry: Partial<ComponentAllocation>): Allocation {
  return { services: [[{ acceptedLocally: true, placements: [], federatedVms: 0, ...entry }]] };
}

function names(result: Verification): ConstraintName[] {
  return [...new Set(result.violations.map((v) => v.constraint))].sort();
}

// ---------------------------------------------------------------------------------------------

describe('verify: worked example of model.md §2.6', () => {
  const result = verify(workedExample(), workedAllocation());

  it('is feasible with the documented optimum 358.5134', () => {
    expect(result.violations).toEqual([]);
    expect(result.feasible).toBe(true);
    expect(result.objective).toBeCloseTo(358.5134, 4);
  });

  it('recomputes the documented per-service values', () => {
    const [a1, a2] = result.services;
    expect(a1.objectiveContribution).toBeCloseTo(155.764, 3);
    expect(a1.cost).toBeCloseTo(261.11, 2);
    expect(a1.averageAvailability).toBeCloseTo(2.5 / 3, 12);
    expect(a1.acceptedVmShare).toBe(0.5);
    expect(a1.components.map((c) => c.availability)).toEqual([1, 0.5, 1]);
    expect(a1).toMatchObject({ fullyAccepted: true, anyAcceptedLocally: true, localVms: 3, maxVms: 6, federatedVms: 2 });
    expect(a1.jointAvailability).toBe(0.5);

    expect(a2.objectiveContribution).toBeCloseTo(202.75, 3);
    expect(a2.cost).toBe(0);
    expect(a2.averageAvailability).toBe(1);
    expect(a2.acceptedVmShare).toBe(1);
    expect(a2.components.map((c) => c.availability)).toEqual([1, 1]);
    // accepted elastic VMs as in worked-example.result.csv: a1 0, a2 3 (vm1 2, vm2 1)
    expect(a1.acceptedElasticVms).toBe(0);
    expect(a2.acceptedElasticVms).toBe(3);
    expect(a2.components.map((c) => [c.acceptedElasticVms, c.hostsUsed])).toEqual([
      [2, 2],
      [1, 1],
    ]);
  });

  it('verifies the loaded model directory identically', () => {
    const { model: loaded } = loadModelDirectory(path.join(__dirname, 'fixtures', 'worked-example'));
    expect(verify(loaded, workedAllocation())).toEqual(result);
  });
});

// ---------------------------------------------------------------------------------------------

interface Case {
  readonly name: ConstraintName;
  readonly title: string;
  readonly model: AdmissionModel;
  readonly allocation: Allocation;
  /** The constraint names expected in the result, exactly. */
  readonly expected: readonly ConstraintName[];
  /** Ids one of the expected violations must carry. */
  readonly where?: { service?: string; component?: string; host?: string };
}

const W = workedExample();
const A = workedAllocation();

/** Compile-time exhaustive: a new ConstraintName fails to type-check until it is listed here. */
const ALL_NAMES: Record<ConstraintName, true> = {
  'allocation-shape': true,
  'host-capacity-cpu': true,
  'host-capacity-memory': true,
  'basic-vms': true,
  'maximum-vms': true,
  'all-or-nothing': true,
  'availability-range': true,
  'component-availability': true,
  'federated-availability': true,
  'federation-forbidden': true,
  'federation-range': true,
  'anti-affinity-high-federation': true,
  'anti-affinity-high-basic': true,
  'anti-affinity-medium-component': true,
  'affinity-high-component': true,
  'affinity-medium-rule': true,
  'affinity-high-rule': true,
  'affinity-rule-federation': true,
  'anti-affinity-medium-rule': true,
  'anti-affinity-high-rule': true,
  'trec-eco': true,
  'trec-risk': true,
  'trec-trust': true,
  'cost-bound': true,
  'charge-bound': true,
  'capability-requirement': true,
  'capability-same-value': true,
};

const only = (name: ConstraintName): readonly ConstraintName[] => [name];

const cases: Case[] = [
  {
    name: 'allocation-shape',
    title: 'a placement on a host index that does not exist',
    model: W,
    allocation: withComponent(A, 0, 0, { placements: [{ hostIndex: PH2, vms: 1 }, { hostIndex: 3, vms: 0 }] }),
    expected: only('allocation-shape'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'allocation-shape',
    title: 'the same host twice in one component',
    model: W,
    allocation: withComponent(A, 1, 0, {
      placements: [
        { hostIndex: PH2, vms: 1 },
        { hostIndex: PH2, vms: 1 },
        { hostIndex: PH3, vms: 2 },
      ],
    }),
    expected: only('allocation-shape'),
    where: { service: 'a2', component: 'vm1', host: 'host-03' },
  },
  {
    name: 'allocation-shape',
    title: 'a fractional VM count',
    model: tiny(),
    allocation: tinyAllocation({ placements: [{ hostIndex: 0, vms: 1.5 }] }),
    expected: only('allocation-shape'),
    where: { service: 's', component: 'c', host: 'h0' },
  },
  {
    name: 'allocation-shape',
    title: 'a negative federated count',
    model: tiny(),
    allocation: tinyAllocation({ placements: [{ hostIndex: 0, vms: 2 }], federatedVms: -1 }),
    expected: only('allocation-shape'),
    where: { service: 's', component: 'c' },
  },
  {
    name: 'host-capacity-cpu',
    title: 'a2.vm1 moves a VM from ph3 to ph2',
    model: W,
    allocation: withComponent(A, 1, 0, { placements: [{ hostIndex: PH2, vms: 3 }, { hostIndex: PH3, vms: 1 }] }),
    expected: only('host-capacity-cpu'),
    where: { host: 'host-03' },
  },
  {
    name: 'host-capacity-memory',
    title: 'ph1 carries 1000 MB, a1.vm2 + a1.vm3 need 1100 MB there',
    model: withModelComponent(
      withModelComponent(
        withHosts(W, (h, j) => (j === PH1 ? { ...h, freeMemoryMb: 1000 } : h)),
        0,
        1,
        { memoryMb: 600 },
      ),
      0,
      2,
      { memoryMb: 500 },
    ),
    allocation: A,
    expected: only('host-capacity-memory'),
    where: { host: 'host-17' },
  },
  {
    name: 'basic-vms',
    title: 'a1.vm1 accepted with no local VM',
    model: W,
    allocation: withComponent(A, 0, 0, { placements: [] }),
    expected: only('basic-vms'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'maximum-vms',
    title: 'a1.vm1 rejected but keeps its local VM',
    model: W,
    allocation: withComponent(A, 0, 0, { acceptedLocally: false }),
    expected: only('maximum-vms'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'all-or-nothing',
    title: 'a2.vm2 rejected while a2.vm1 keeps its VMs (federation forbidden)',
    model: W,
    allocation: withComponent(A, 1, 1, REJECTED),
    expected: only('all-or-nothing'),
    where: { service: 'a2', component: 'vm1' },
  },
  {
    name: 'availability-range',
    title: 'a1.vm1 provisions 4 VMs for a maximum of 3 (cdf > 1)',
    model: W,
    allocation: withComponent(A, 0, 0, { federatedVms: 3 }),
    expected: only('availability-range'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'availability-range',
    title: 'Q5: a rejected component with b = 2 federates nothing (cdf < 0)',
    model: tiny({ basic: 2, maxVms: 3 }),
    allocation: tinyAllocation({ acceptedLocally: false }),
    expected: only('availability-range'),
    where: { service: 's', component: 'c' },
  },
  {
    name: 'component-availability',
    title: 'a1.vm1 accepted with 1 of 3 VMs and no federation (cdf 1/3 < 0.5)',
    model: W,
    allocation: withComponent(A, 0, 0, { federatedVms: 0 }),
    expected: only('component-availability'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'federated-availability',
    title: 'a1.vm1 rejected locally and federated with 1 VM (cdf 1/3 < 0.5)',
    model: W,
    allocation: withComponent(A, 0, 0, { acceptedLocally: false, placements: [], federatedVms: 1 }),
    expected: only('federated-availability'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'federation-forbidden',
    title: 'a2.vm2 federates a VM',
    model: W,
    allocation: withComponent(A, 1, 1, { federatedVms: 1 }),
    expected: only('federation-forbidden'),
    where: { service: 'a2', component: 'vm2' },
  },
  {
    // For federation-allowed services φ > U always also breaks X + φ ≤ U (cdf ≤ 1), so it never comes alone.
    name: 'federation-range',
    title: 'a1.vm1 rejected and federating 4 VMs for a maximum of 3',
    model: W,
    allocation: withComponent(A, 0, 0, { acceptedLocally: false, placements: [], federatedVms: 4 }),
    expected: ['availability-range', 'federation-range'],
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'anti-affinity-high-federation',
    title: 'a1.vm1 with High anti-affinity accepted and not federated',
    model: withModelComponent(W, 0, 0, { antiAffinity: 2 }),
    allocation: withComponent(A, 0, 0, { federatedVms: 0 }),
    expected: only('anti-affinity-high-federation'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'anti-affinity-high-basic',
    title: 'a1.vm1 with High anti-affinity runs 2 local VMs for b = 1',
    model: withModelComponent(W, 0, 0, { antiAffinity: 2 }),
    allocation: withComponent(A, 0, 0, { placements: [{ hostIndex: PH2, vms: 2 }], federatedVms: 1 }),
    expected: only('anti-affinity-high-basic'),
    where: { service: 'a1', component: 'vm1' },
  },
  {
    name: 'anti-affinity-medium-component',
    title: 'a1.vm1 (Medium anti-affinity) puts 2 VMs on ph2',
    model: W,
    allocation: withComponent(A, 0, 0, { placements: [{ hostIndex: PH2, vms: 2 }], federatedVms: 1 }),
    expected: only('anti-affinity-medium-component'),
    where: { service: 'a1', component: 'vm1', host: 'host-03' },
  },
  {
    name: 'affinity-high-component',
    title: 'a2.vm1 with High affinity spread over ph2 and ph3',
    model: withModelComponent(W, 1, 0, { affinity: 2 }),
    allocation: A,
    expected: only('affinity-high-component'),
    where: { service: 'a2', component: 'vm1' },
  },
  {
    name: 'affinity-high-component',
    title: 'High affinity, accepted with b = 0 and no local VM (0 hosts, not 1)',
    model: tiny({ affinity: 2 }),
    allocation: tinyAllocation({}),
    expected: only('affinity-high-component'),
    where: { service: 's', component: 'c' },
  },
  {
    name: 'affinity-medium-rule',
    title: 'Medium affinity rule {vm2, vm3}: vm3 rejected, vm2 accepted',
    model: withService(W, 0, { rules: [{ kind: 'affinity', level: 1, members: ['vm2', 'vm3'] }] }),
    allocation: withComponent(A, 0, 2, REJECTED),
    expected: only('affinity-medium-rule'),
    where: { service: 'a1' },
  },
  {
    name: 'affinity-high-rule',
    title: 'High affinity rule {vm2, vm3}: vm3 rejected while vm2 keeps a local VM',
    model: W,
    allocation: withComponent(A, 0, 2, REJECTED),
    expected: only('affinity-high-rule'),
    where: { service: 'a1' },
  },
  {
    name: 'affinity-high-rule',
    title: 'High affinity rule {vm1, vm2} on a2: both accepted, on ph2, ph3 and ph1',
    model: withService(W, 1, { rules: [{ kind: 'affinity', level: 2, members: ['vm1', 'vm2'] }] }),
    allocation: A,
    expected: only('affinity-high-rule'),
    where: { service: 'a2' },
  },
  {
    name: 'affinity-rule-federation',
    title: 'accepted a1.vm2 (High affinity rule member) federates 1 VM',
    model: W,
    allocation: withComponent(A, 0, 1, { federatedVms: 1 }),
    expected: only('affinity-rule-federation'),
    where: { service: 'a1', component: 'vm2' },
  },
  {
    name: 'anti-affinity-medium-rule',
    title: 'Medium anti-affinity rule {vm1, vm2}: a2.vm2 moves one VM next to a2.vm1 on ph2',
    model: W,
    allocation: withComponent(A, 1, 1, { placements: [{ hostIndex: PH1, vms: 1 }, { hostIndex: PH2, vms: 1 }] }),
    expected: only('anti-affinity-medium-rule'),
    where: { service: 'a2', host: 'host-03' },
  },
  {
    name: 'anti-affinity-high-rule',
    title: 'High anti-affinity rule {vm1, vm2}: both accepted',
    model: withService(W, 1, { rules: [{ kind: 'antiAffinity', level: 2, members: ['vm1', 'vm2'] }] }),
    allocation: A,
    expected: only('anti-affinity-high-rule'),
    where: { service: 'a2' },
  },
  {
    name: 'trec-eco',
    title: 'a2 fully accepted with eco 8 under a bound of 9',
    model: withService(W, 1, { constraints: { ...LOOSE, eco: 9 } }),
    allocation: A,
    expected: only('trec-eco'),
    where: { service: 'a2' },
  },
  {
    name: 'trec-risk',
    title: 'a1 fully accepted with risk 0.001 over a bound of 0.0001',
    model: withService(W, 0, { constraints: { ...LOOSE, risk: 0.0001 } }),
    allocation: A,
    expected: only('trec-risk'),
    where: { service: 'a1' },
  },
  {
    name: 'trec-trust',
    title: 'a2 fully accepted with trust 3 under a bound of 4',
    model: withService(W, 1, { constraints: { ...LOOSE, trust: 4 } }),
    allocation: A,
    expected: only('trec-trust'),
    where: { service: 'a2' },
  },
  {
    name: 'cost-bound',
    title: 'a1 costs 261.11 over a bound of 200',
    model: withService(W, 0, { constraints: { ...LOOSE, cost: 200 } }),
    allocation: A,
    expected: only('cost-bound'),
    where: { service: 'a1' },
  },
  {
    name: 'charge-bound',
    title: 'a2 is charged 13 (10 vCPUs at 1 + 6 VMs at 0.5) over a bound of 10',
    model: withService({ ...W, charging: { classes: [{ perVcpu: 1, perMemoryGb: 0, perVm: 0.5 }] } }, 1, { chargeBound: 10 }),
    allocation: A,
    expected: only('charge-bound'),
    where: { service: 'a2' },
  },
  {
    name: 'capability-requirement',
    title: 'a1/vm1 requires nodejs >=18 <21 and runs on host-03, which has nodejs 16.20.2',
    model: withModelComponent(
      withHosts(W, (h, j) => ({ ...h, capabilities: { nodejs: j === PH2 ? '16.20.2' : '20.11.1' } })),
      0,
      0,
      { requires: [{ kind: 'required', name: 'nodejs', range: '>=18 <21' }] },
    ),
    allocation: A,
    expected: only('capability-requirement'),
    where: { service: 'a1', component: 'vm1', host: 'host-03' },
  },
  {
    name: 'capability-requirement',
    title: 'a2/vm2 forbids gpu and runs on host-17, which has one',
    model: withModelComponent(
      withHosts(W, (h, j) => (j === PH1 ? { ...h, capabilities: { gpu: 'a100' } } : h)),
      1,
      1,
      { requires: [{ kind: 'forbidden', name: 'gpu' }] },
    ),
    allocation: A,
    expected: only('capability-requirement'),
    where: { service: 'a2', component: 'vm2', host: 'host-17' },
  },
  {
    name: 'capability-same-value',
    title: 'a2 keeps vm1 and vm2 in one zone, but uses hosts in z-a and z-b',
    model: withService(
      withHosts(W, (h, j) => ({ ...h, capabilities: { zone: j === PH3 ? 'z-b' : 'z-a' } })),
      1,
      { sameValue: [{ capability: 'zone', members: ['vm1', 'vm2'] }] },
    ),
    allocation: A,
    expected: only('capability-same-value'),
    where: { service: 'a2' },
  },
];

describe('verify: capabilities that hold', () => {
  it('accepts placements on hosts that satisfy every requirement and one zone per rule', () => {
    const model = withService(
      withModelComponent(
        withHosts(W, (h) => ({ ...h, capabilities: { nodejs: '20.11.1', zone: 'z-a' } })),
        0,
        0,
        { requires: [{ kind: 'required', name: 'nodejs', range: '>=18 <21' }, { kind: 'forbidden', name: 'gpu' }] },
      ),
      1,
      { sameValue: [{ capability: 'zone', members: ['vm1', 'vm2'] }] },
    );
    expect(verify(model, A).violations).toEqual([]);
  });

  it('counts a host without the capability as a different value of a same-value rule', () => {
    const model = withService(
      withHosts(W, (h, j) => (j === PH1 ? h : { ...h, capabilities: { zone: 'z-a' } })),
      1,
      { sameValue: [{ capability: 'zone', members: ['vm1', 'vm2'] }] },
    );
    const result = verify(model, A);
    expect(names(result)).toEqual(['capability-same-value']);
    expect(result.violations[0]!.message).toContain('(none) on ph1 (host-17)');
  });
});

describe('verify: one mutation per constraint name', () => {
  it('covers every constraint name', () => {
    expect([...new Set(cases.map((c) => c.name))].sort()).toEqual(Object.keys(ALL_NAMES).sort());
  });

  it.each(cases.map((c) => [c.name, c.title, c] as const))('%s: %s', (_name, _title, c) => {
    const result = verify(c.model, c.allocation);
    expect(result.feasible).toBe(false);
    expect(names(result)).toEqual([...c.expected].sort());
    expect(result.violations).toContainEqual(expect.objectContaining({ constraint: c.name, ...c.where }));
    for (const v of result.violations) expect(v.message.length).toBeGreaterThan(10);
  });
});

describe('verify: allocation shape', () => {
  it('stops on a wrong number of services: infeasible, NaN objective, no evaluation', () => {
    const result = verify(W, { services: [A.services[0]] });
    expect(result.feasible).toBe(false);
    expect(result.objective).toBeNaN();
    expect(result.services).toEqual([]);
    expect(names(result)).toEqual(['allocation-shape']);
  });

  it('stops on a wrong number of components and names the service', () => {
    const result = verify(W, { services: [A.services[0].slice(0, 2), A.services[1]] });
    expect(result.services).toEqual([]);
    expect(result.objective).toBeNaN();
    expect(result.violations).toEqual([expect.objectContaining({ constraint: 'allocation-shape', service: 'a1' })]);
  });

  it('keeps evaluating after a non-fatal shape problem', () => {
    const result = verify(W, withComponent(A, 0, 0, { placements: [{ hostIndex: PH2, vms: 1 }, { hostIndex: -1, vms: 0 }] }));
    expect(result.feasible).toBe(false);
    expect(result.objective).toBeCloseTo(358.5134, 4);
  });
});

describe('verify: messages', () => {
  it('says what is required and what the allocation has, naming hosts by label and id', () => {
    const result = verify(W, withComponent(A, 1, 0, { placements: [{ hostIndex: PH2, vms: 3 }, { hostIndex: PH3, vms: 1 }] }));
    expect(result.violations).toEqual([
      { constraint: 'host-capacity-cpu', host: 'host-03', message: 'host ph2 (host-03): 7 CPUs used, 6 free' },
    ]);
  });
});

describe('verify: deviations and quirks', () => {
  const lowCostBound = withService(W, 0, { constraints: { ...LOOSE, cost: 200 } });
  const a1Rejected: Allocation = { services: [[REJECTED, REJECTED, REJECTED], A.services[1]] };

  it('D2: a low cost bound does not bind a service with nothing accepted locally', () => {
    const result = verify(lowCostBound, a1Rejected);
    expect(result.feasible).toBe(true);
    expect(result.services[0].anyAcceptedLocally).toBe(false);
    // the cost itself is still reported: Pav·(1 − 0) = 500 > 200
    expect(result.services[0].cost).toBe(500);
    expect(result.services[0].objectiveContribution).toBe(0);
    expect(result.objective).toBeCloseTo(202.74975, 9);
  });

  it('D2: the same bound binds as soon as one component is accepted locally', () => {
    const oneAccepted: Allocation = { services: [[local([[PH2, 1]], 2), REJECTED, REJECTED], A.services[1]] };
    const result = verify(lowCostBound, oneAccepted);
    expect(names(result)).toEqual(['cost-bound']);
    expect(result.services[0].cost).toBeCloseTo(500 * (1 - 1 / 3) + 2 * (800 / 9), 9);
  });

  // Charging (extension): class 0 (ph1, ph3) at 1 per vCPU + 2 per GB, class 1 (ph2) at 3 per vCPU + 1 per VM.
  // a1's local VMs: vm1 1 VM of 1 vCPU on ph2 (3 + 1 = 4), vm2 1 of 2 vCPUs on ph1 (2), vm3 1 of 4 vCPUs on ph1 (4),
  // plus vm3's 512 MB at 2 per GB (1): 11. Its 2 federated VMs are not charged.
  const charged = (bound: number | undefined): AdmissionModel =>
    withService(
      withModelComponent(
        withHosts({ ...W, charging: { classes: [{ perVcpu: 1, perMemoryGb: 2, perVm: 0 }, { perVcpu: 3, perMemoryGb: 0, perVm: 1 }] } }, (h, j) => (j === PH2 ? { ...h, chargeClass: 1 } : h)),
        0,
        2,
        { memoryMb: 512 },
      ),
      0,
      bound === undefined ? {} : { chargeBound: bound },
    );

  it('charge: reported per service from the host classes, local VMs only, and a bound at or above it holds', () => {
    for (const bound of [undefined, 11, 12]) {
      const result = verify(charged(bound), A);
      expect(result.violations).toEqual([]);
      expect(result.services[0].charge).toBeCloseTo(11, 12);
      // a2: vm1 2 VMs of 2 vCPUs on ph2 (2·7) and 2 on ph3 (2·2), vm2 2 VMs of 1 vCPU on ph1 (2·1).
      expect(result.services[1].charge).toBeCloseTo(20, 12);
      // The charge is a bound, not an objective term.
      expect(result.objective).toBeCloseTo(358.5134, 4);
    }
    expect(verify(W, A).services.map((s) => s.charge)).toEqual([0, 0]);
  });

  it('charge: a bound below the charge is a charge-bound violation naming the service', () => {
    const result = verify(charged(10.5), A);
    expect(result.violations).toEqual([
      { constraint: 'charge-bound', service: 'a1', message: 'service a1: charge must be ≤ 10.5 when a component is accepted locally, is 11' },
    ]);
  });

  it('charge: the bound binds only with local acceptance (as D2), and without model charging never', () => {
    const a1Federated: Allocation = { services: [[REJECTED, REJECTED, REJECTED].map((r, i) => ({ ...r, federatedVms: [3, 2, 1][i]! })), A.services[1]] };
    const zero = charged(0);
    const rejected = verify(zero, a1Federated);
    expect(rejected.violations).toEqual([]);
    expect(rejected.services[0]).toMatchObject({ anyAcceptedLocally: false, charge: 0 });
    // One component accepted locally (vm1 on ph2: 4) is enough for the bound to bind.
    const oneAccepted: Allocation = { services: [[local([[PH2, 1]], 2), { ...REJECTED, federatedVms: 2 }, { ...REJECTED, federatedVms: 1 }], A.services[1]] };
    const bound = verify(zero, oneAccepted);
    expect(names(bound)).toEqual(['charge-bound']);
    expect(bound.services[0].charge).toBe(4);
    // The same allocation with the bound but without model charging: nothing is charged, nothing binds.
    const { charging: _, ...uncharged } = zero;
    expect(verify(uncharged, oneAccepted).violations).toEqual([]);
  });

  it('D3: a negative objective is feasible (federation forced by Q5)', () => {
    // b = 2 = U, rejected: cdf ≥ 0 needs 1 federated VM, costing fcv = 0.8·100/2 = 40, weighted by wc = 0.25.
    const model = tiny({ basic: 2, maxVms: 2 });
    const result = verify(model, tinyAllocation({ acceptedLocally: false, federatedVms: 1 }));
    expect(result.violations).toEqual([]);
    expect(result.feasible).toBe(true);
    expect(result.objective).toBeCloseTo(-10, 12);
    expect(result.services[0].cost).toBeCloseTo(50 + 40, 12);
  });

  it('Q6: component Medium affinity checks nothing', () => {
    const model = withModelComponent(W, 1, 0, { affinity: 1 });
    expect(verify(model, A).feasible).toBe(true);
  });

  it('Q7: a TREC bound of a federation-allowed service still allows partial placement', () => {
    const model = withService(W, 0, { constraints: { ...LOOSE, trust: 4 } });
    const partial = withComponent(A, 0, 0, { acceptedLocally: false, placements: [], federatedVms: 3 });
    const result = verify(model, partial);
    expect(result.feasible).toBe(true);
    expect(result.services[0].fullyAccepted).toBe(false);
  });

  it('a federation-forbidden service that is not fully accepted has average availability 0', () => {
    const model = withService(W, 1, { constraints: { ...LOOSE, eco: 9 } });
    const result = verify(model, { services: [A.services[0], [REJECTED, REJECTED]] });
    expect(result.feasible).toBe(true);
    expect(result.services[1]).toMatchObject({ averageAvailability: 0, cost: 400, objectiveContribution: 0 });
    expect(result.services[1].jointAvailability).toBe(1);
  });
});

describe('verify: memory only on hosts that carry memory', () => {
  // ph1 carries 1000 MB; ph2 and ph3 carry none, so memory is not a constraint there.
  const model = withModelComponent(
    withHosts(W, (h, j) => (j === PH1 ? { ...h, freeMemoryMb: 1000 } : h)),
    1,
    0,
    { memoryMb: 100_000 },
  );

  it('ignores memory on hosts without freeMemoryMb', () => {
    expect(verify(model, A).feasible).toBe(true);
  });

  it('checks memory on a host with freeMemoryMb, counting components without memoryMb as 0', () => {
    const onPh1 = withModelComponent(model, 1, 1, { memoryMb: 501 });
    const result = verify(onPh1, A);
    expect(result.violations).toEqual([
      {
        constraint: 'host-capacity-memory',
        host: 'host-17',
        message: 'host ph1 (host-17): 1002 MB memory used, 1000 MB free',
      },
    ]);
  });
});

describe('verify: large instance', () => {
  // 50,000 hosts, 10 services × 10 components; every component places U = 5 VMs on 5 distinct hosts.
  const HOSTS = 50_000;
  const hosts: Host[] = Array.from({ length: HOSTS }, (_, j) => ({ id: `host-${j}`, cpus: 8, usedCpus: 2, eco: 1 }));
  const services: Service[] = Array.from({ length: 10 }, (_, a) => ({
    id: `s${a}`,
    gain: 100,
    extraCost: 0,
    trust: 3,
    eco: 8,
    risk: 0.001,
    availability: 0,
    federationAllowed: a % 2 === 0,
    components: Array.from({ length: 10 }, (_, i) =>
      component(`c${i}`, { basic: 2, maxVms: 5, vcpus: 2, availability: 0.9, antiAffinity: 1 }),
    ),
    rules: [{ kind: 'antiAffinity', level: 1, members: ['c0', 'c1', 'c2'] }],
    constraints: LOOSE,
  }));
  const model: AdmissionModel = { hosts, services, weights: WEIGHTS };
  const allocation: Allocation = {
    services: services.map((s, a) =>
      s.components.map((_, i) =>
        local(Array.from({ length: 5 }, (_, k): [number, number] => [((a * 10 + i) * 5 + k) * 97, 1])),
      ),
    ),
  };
  const perService = 0.25 * 100 + 0.25 * 8 + 0.25 * 3 - 0.25 * 0.001;

  it('verifies a feasible 50,000-host allocation', () => {
    const result = verify(model, allocation);
    expect(result.violations).toEqual([]);
    expect(result.objective).toBeCloseTo(10 * perService, 9);
    expect(result.services.every((s) => s.fullyAccepted && s.acceptedVmShare === 1)).toBe(true);
  });

  it('finds the one overloaded host among 50,000', () => {
    const last = HOSTS - 1;
    const crowded = withComponent(
      withComponent(allocation, 9, 9, { placements: [...allocation.services[9][9].placements.slice(1), { hostIndex: last, vms: 1 }] }),
      8,
      9,
      { placements: [...allocation.services[8][9].placements.slice(1), { hostIndex: last, vms: 1 }] },
    );
    const overloaded = withHosts(model, (h, j) => (j === last ? { ...h, usedCpus: 5 } : h));
    const result = verify(overloaded, crowded);
    expect(result.violations).toEqual([
      { constraint: 'host-capacity-cpu', host: `host-${last}`, message: `host host-${last}: 4 CPUs used, 3 free` },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// ChangeVerifier: what-ifs that change one service, judged as verify judges the whole changed allocation.

describe('ChangeVerifier: the same verdict as verify on the changed allocation', () => {
  /** Random variants of one service's components: more or fewer VMs, moved hosts, flipped acceptance, federation. */
  function variants(m: AdmissionModel, allocation: Allocation, a: number, rng: () => number): Map<number, ComponentAllocation>[] {
    const out: Map<number, ComponentAllocation>[] = [];
    const comps = allocation.services[a]!;
    for (let v = 0; v < 6; v++) {
      const changes = new Map<number, ComponentAllocation>();
      const count = 1 + Math.floor(rng() * Math.min(3, comps.length));
      for (let k = 0; k < count; k++) {
        const i = Math.floor(rng() * comps.length);
        const ca = changes.get(i) ?? comps[i]!;
        const j = Math.floor(rng() * m.hosts.length);
        const kind = Math.floor(rng() * 4);
        const placements =
          kind === 0 ? [...ca.placements.filter((p) => p.hostIndex !== j), { hostIndex: j, vms: 1 + Math.floor(rng() * 3) }] : kind === 1 ? ca.placements.slice(1) : ca.placements;
        changes.set(i, {
          acceptedLocally: kind === 2 ? !ca.acceptedLocally : ca.acceptedLocally,
          placements,
          federatedVms: kind === 3 ? Math.floor(rng() * 4) : ca.federatedVms,
        });
      }
      out.push(changes);
    }
    return out;
  }

  it('on 150 generated allocations × 6 variants per service (feasible and not, host capacity, rules, cost bounds)', async () => {
    const { generateModel } = await import('../bench/generator');
    const { solveGreedy } = await import('../solvers/greedy');
    const { ChangeVerifier } = await import('../admission-controller/verifier');
    let seedState = 12345;
    const rng = (): number => ((seedState = (seedState * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let infeasible = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const m = generateModel({ seed, services: 1 + (seed % 4), components: 1 + (seed % 5), hosts: 2 + (seed % 9), capacity: seed % 2 ? 'tight' : 'loose', rules: true, memory: seed % 3 === 0, costBoundShare: seed % 5 === 0 ? 0.5 : 0 });
      const allocation = solveGreedy(m).allocation;
      const base = verify(m, allocation);
      const judge = new ChangeVerifier(m, allocation, base);
      m.services.forEach((_, a) => {
        for (const changes of variants(m, allocation, a, rng)) {
          const merged: Allocation = { services: allocation.services.map((comps, b) => (b === a ? comps.map((ca, i) => changes.get(i) ?? ca) : comps)) };
          const full = verify(m, merged);
          const ours = judge.verifyChange(a, changes);
          expect([seed, a, ours.feasible, ours.violations, ours.objective]).toEqual([seed, a, full.feasible, full.violations, full.objective]);
          if (!full.feasible) infeasible++;
        }
      });
    }
    expect(infeasible).toBeGreaterThan(100);
  });
});
