/**
 * One row per reason code (and per variant): a tiny model, solved by the greedy through admit() or judged on a given
 * allocation through decide(), and the reason's code, data and message. The first rows are the cases that used to
 * contradict their own data (a VM larger than every host, anti-affinity short of hosts, an affinity group larger than
 * any host, hosts excluded by a rule, capacity held by recorded admissions).
 */
import { admit } from '../admission-controller/admit';
import { decide, type DecisionContext, type DecisionHolder, type Reason, type ServiceDecision } from '../admission-controller/decisions';
import { fmt } from '../admission-controller/reasons';
import { verify } from '../admission-controller/verifier';
import type { AdmissionModel, Allocation, Host } from '../model/types';
import { DEFAULT_CONSTRAINTS } from '../model/types';
import { component, hosts, model, rule, service, workedExample } from './support/models';

interface Case {
  readonly name: string;
  readonly model: () => AdmissionModel;
  /** Judged as given (decide on a verified allocation) instead of solved by the greedy. */
  readonly allocation?: (m: AdmissionModel) => Allocation;
  readonly context?: DecisionContext;
  readonly service?: string;
  readonly component: string;
  readonly code: Reason['code'];
  readonly data: Record<string, unknown>;
  readonly message: string;
  /** Codes the component must not carry (the ones the old explanation gave wrongly). */
  readonly not?: readonly Reason['code'][];
  /** Further reasons of the component, by code: their data (exactly). */
  readonly also?: Readonly<Partial<Record<Reason['code'], Record<string, unknown>>>>;
}

const used = (cpus: number, usedCpus: number, n: number, extra: Partial<Host> = {}): Host[] =>
  Array.from({ length: n }, (_, j) => ({ id: `h${j + 1}`, cpus, usedCpus, eco: 3 + j, ...extra }));

const holder = (admissionId: string, owner: string, cpus: number, memoryMb = 0): DecisionHolder => ({
  admissionId,
  owner,
  serviceId: `svc-${admissionId}`,
  window: { start: '2026-01-01T00:00:00.000Z', end: null },
  cpus,
  memoryMb,
});

/** Two 8-CPU hosts with 6 CPUs taken each; bookings hold 6 on h1 and 4 on h2 (host-info itself uses 0 and 2). */
const BOOKED_HOSTS = (): Host[] => used(8, 6, 2);
const BOOKINGS: DecisionContext = { reservedByHost: new Map([['h1', { cpus: 6, memoryMb: 0 }], ['h2', { cpus: 4, memoryMb: 0 }]]) };
const HOLDERS = new Map([
  ['h1', [holder('adm-1', 'acme', 6)]],
  ['h2', [holder('adm-2', 'bob', 4)]],
]);

const rejectAll = (m: AdmissionModel): Allocation => ({
  services: m.services.map((s) => s.components.map(() => ({ acceptedLocally: false, placements: [], federatedVms: 0 }))),
});

const CASES: readonly Case[] = [
  // --- the reasons that contradicted their own data --------------------------------------------------------------
  {
    name: '(a) a 10-vCPU VM on 8-CPU hosts is larger than any host, not capacity in use',
    model: () => model([service('s', [component('c', { vcpus: 10 })], { federationAllowed: false })], hosts(8, 8, 8, 8)),
    component: 'c',
    code: 'VM_LARGER_THAN_ANY_HOST',
    data: { vcpus: 10, largestHostCpus: 8 },
    message: 'one VM of c needs 10 CPUs; the largest host has 8 in total',
    not: ['CAPACITY_IN_USE', 'HOST_TOO_SMALL', 'INSUFFICIENT_CAPACITY'],
  },
  {
    name: '(b) Medium anti-affinity needing 3 hosts of 2: not enough hosts, and the availability target forced all 3 VMs',
    model: () => model([service('s', [component('c', { basic: 1, maxVms: 3, antiAffinity: 1 })], { federationAllowed: false })], hosts(8, 8)),
    component: 'c',
    code: 'NOT_ENOUGH_HOSTS',
    data: { hostsNeeded: 3, hostsAble: 2, vcpus: 1 },
    message: 'Medium anti-affinity puts each VM of c on its own host: 3 VM(s) need 3 hosts with 1 CPU free; 2 can take one',
    not: ['CAPACITY_IN_USE'],
    also: {
      AVAILABILITY_FORCES_VMS: { target: 1, vmsRequired: 3, maxVms: 3, basicVms: 1, allVms: true, fewerVms: 2, cdfWithFewer: 2 / 3, vmsThatFit: 2 },
      ALL_OR_NOTHING: { federationAllowed: false },
    },
  },
  {
    name: '(c) a High-affinity group of 7 × 10 vCPUs on 64-CPU hosts (5,762 CPUs free) is too big for any host',
    model: () =>
      model([service('s', [component('c', { basic: 1, maxVms: 7, vcpus: 10, affinity: 2 })], { federationAllowed: false })], [...hosts(...Array<number>(90).fill(64)), ...used(2, 0, 1).map((h) => ({ ...h, id: 'small' }))]),
    component: 'c',
    code: 'AFFINITY_GROUP_TOO_BIG',
    data: { groupCpus: 70, largestHostCpus: 64, members: ['c'] },
    message: 'High affinity puts the 7 VM(s) of c on one host: 70 CPUs, more than the largest host has in total (64)',
    not: ['CAPACITY_IN_USE', 'HOST_TOO_SMALL'],
    also: { AVAILABILITY_FORCES_VMS: { target: 1, vmsRequired: 7, maxVms: 7, basicVms: 1, allVms: true, fewerVms: 6, cdfWithFewer: 6 / 7, vmsThatFit: 6 } },
  },
  {
    name: '(d) the only host with room is excluded by a Medium anti-affinity rule: named, not "held by the service itself"',
    model: () =>
      model([service('s', [component('a', { basic: 2, maxVms: 2, antiAffinity: 1 }), component('b')], { rules: [rule('antiAffinity', 1, 'a', 'b')] })], hosts(4, 4)),
    allocation: () => ({
      services: [
        [
          { acceptedLocally: true, placements: [{ hostIndex: 0, vms: 1 }, { hostIndex: 1, vms: 1 }], federatedVms: 0 },
          { acceptedLocally: false, placements: [], federatedVms: 1 },
        ],
      ],
    }),
    component: 'b',
    code: 'EXCLUDED_BY_RULE',
    data: { ruleKind: 'antiAffinity', ruleLevel: 1, members: ['a', 'b'], hosts: 1, hostIds: ['h1'], vmsNeeded: 1 },
    message: 'the 1 basic VM(s) of b would fit on 1 host(s) that the Medium anti-affinity rule over a, b keeps it off, because other members run there (h1)',
    not: ['CAPACITY_IN_USE', 'CAPACITY_TAKEN_BY_THIS_ADMISSION'],
  },
  {
    name: '(e) recorded admissions hold what is missing: CAPACITY_IN_USE names them, largest first',
    model: () => model([service('s', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { federationAllowed: false })], BOOKED_HOSTS()),
    context: { ...BOOKINGS, holdersByHost: HOLDERS },
    component: 'c',
    code: 'CAPACITY_IN_USE',
    data: {
      component: 'c',
      vmsNeeded: 4,
      vcpus: 2,
      hosts: 2,
      hostIds: ['h1', 'h2'],
      heldCpus: 10,
      heldMemoryMb: 0,
      holders: [
        { admissionId: 'adm-1', owner: 'acme', serviceId: 'svc-adm-1', window: { start: '2026-01-01T00:00:00.000Z', end: null }, cpus: 6, memoryMb: 0 },
        { admissionId: 'adm-2', owner: 'bob', serviceId: 'svc-adm-2', window: { start: '2026-01-01T00:00:00.000Z', end: null }, cpus: 4, memoryMb: 0 },
      ],
      holdersTotal: 2,
      holdersKnown: true,
    },
    message:
      'the 4 basic VM(s) of c would fit without bookings, but recorded admissions hold 10 CPUs on the 2 host(s) it would need (h1, h2): adm-1 (acme, 6 CPUs), adm-2 (bob, 4 CPUs)',
    not: ['INSUFFICIENT_CAPACITY'],
  },

  // --- the other codes -------------------------------------------------------------------------------------------
  {
    name: 'TREC_BOUND prints 0.001 as 0.001',
    model: () =>
      model([service('s', [component('c')], { risk: 0.002, federationAllowed: false, constraints: { ...DEFAULT_CONSTRAINTS, risk: 0.001 } })], hosts(8)),
    component: 'c',
    code: 'TREC_BOUND',
    data: { metric: 'risk', value: 0.002, bound: 0.001 },
    message: 'service risk 0.002 does not meet the bound ≤ 0.001, so the service may not be fully accepted',
  },
  {
    name: 'ALL_OR_NOTHING names the component that cannot be admitted',
    model: () =>
      model([service('s', [component('web', { vcpus: 2 }), component('db', { basic: 2, maxVms: 2, vcpus: 4 })], { federationAllowed: false })], hosts(4)),
    component: 'web',
    code: 'ALL_OR_NOTHING',
    data: { federationAllowed: false, blockedBy: ['db'] },
    message: 'federation is forbidden for s, so it is admitted whole or not at all, and db cannot be admitted (see its reasons)',
  },
  {
    name: 'ANTI_AFFINITY_HIGH',
    model: () => model([service('s', [component('c', { basic: 1, maxVms: 3, antiAffinity: 2, availability: 0.5 })])], hosts(8)),
    component: 'c',
    code: 'ANTI_AFFINITY_HIGH',
    data: { basicVms: 1, maxVms: 3 },
    message: 'High anti-affinity keeps the 2 elastic VM(s) of c in other clouds: at most 1 run locally',
  },
  {
    name: 'ANTI_AFFINITY_HIGH_RULE',
    model: () => model([service('s', [component('a'), component('b')], { rules: [rule('antiAffinity', 2, 'a', 'b')] })], hosts(8, 8)),
    allocation: () => ({
      services: [
        [
          { acceptedLocally: true, placements: [{ hostIndex: 0, vms: 1 }], federatedVms: 0 },
          { acceptedLocally: false, placements: [], federatedVms: 1 },
        ],
      ],
    }),
    component: 'b',
    code: 'ANTI_AFFINITY_HIGH_RULE',
    data: { members: ['a', 'b'], acceptedMember: 'a' },
    message: 'High anti-affinity rule over a, b: only one may run locally, and a does',
  },
  {
    name: 'AFFINITY_RULE_GROUP (its partner is larger than any host)',
    model: () => model([service('s', [component('a'), component('b', { vcpus: 10 })], { rules: [rule('affinity', 1, 'a', 'b')] })], hosts(4, 4)),
    component: 'a',
    code: 'AFFINITY_RULE_GROUP',
    data: { members: ['a', 'b'], level: 1, notAdmitted: ['b'] },
    message: 'Medium affinity rule over a, b: the members are admitted together or not at all',
  },
  {
    name: 'VM_LARGER_THAN_ANY_HOST stays when fewer VMs would not help (no AVAILABILITY_FORCES_VMS)',
    model: () => model([service('s', [component('c', { basic: 1, maxVms: 3, vcpus: 10 })], { federationAllowed: false })], hosts(8, 8)),
    component: 'c',
    code: 'VM_LARGER_THAN_ANY_HOST',
    data: { vcpus: 10, largestHostCpus: 8 },
    message: 'one VM of c needs 10 CPUs; the largest host has 8 in total',
    not: ['AVAILABILITY_FORCES_VMS'],
  },
  {
    name: 'AFFINITY_GROUP_TOO_BIG for a High affinity rule',
    model: () =>
      model([service('s', [component('a', { basic: 2, maxVms: 2, vcpus: 8 }), component('b', { vcpus: 8 })], { rules: [rule('affinity', 2, 'a', 'b')] })], hosts(16, 16)),
    component: 'a',
    code: 'AFFINITY_GROUP_TOO_BIG',
    data: { groupCpus: 24, largestHostCpus: 16, members: ['a', 'b'] },
    message: 'High affinity puts a, b on one host: 24 CPUs, more than the largest host has in total (16)',
  },
  {
    name: 'HOST_TOO_SMALL: a High-affinity group fits a host in total, not in what is free',
    model: () => model([service('s', [component('c', { basic: 7, maxVms: 7, vcpus: 2, affinity: 2 })], { federationAllowed: false })], used(16, 8, 3)),
    component: 'c',
    code: 'HOST_TOO_SMALL',
    data: { neededCpusOnOneHost: 14, largestFreeHostCpus: 8, members: ['c'] },
    message: 'High affinity needs 14 CPUs on one host; the largest free host has 8',
    not: ['AFFINITY_GROUP_TOO_BIG'],
  },
  {
    name: 'HOST_TOO_SMALL: one VM fits a host in total, not in what is free',
    model: () => model([service('s', [component('c', { vcpus: 6 })], { federationAllowed: false })], used(8, 4, 2)),
    component: 'c',
    code: 'HOST_TOO_SMALL',
    data: { neededCpusOnOneHost: 6, largestFreeHostCpus: 4 },
    message: 'one VM of c needs 6 CPUs on one host; the largest free host has 4',
    not: ['VM_LARGER_THAN_ANY_HOST'],
  },
  {
    name: 'HOST_TOO_SMALL on memory (the model has free memory only, so never VM_LARGER_THAN_ANY_HOST for memory)',
    model: () => model([service('s', [component('c', { memoryMb: 4096 })], { federationAllowed: false })], used(8, 0, 2, { freeMemoryMb: 2048 })),
    component: 'c',
    code: 'HOST_TOO_SMALL',
    data: { neededCpusOnOneHost: 1, neededMemoryMbOnOneHost: 4096, largestFreeHostMemoryMb: 2048 },
    message: 'one VM of c needs 1 CPUs and 4096 MB on one host; the most free memory on a host is 2048 MB',
  },
  {
    name: 'HOST_TOO_SMALL when the CPUs and the memory are on different hosts',
    model: () =>
      model([service('s', [component('c', { vcpus: 4, memoryMb: 4096 })], { federationAllowed: false })], [
        { id: 'cpu-rich', cpus: 8, usedCpus: 0, eco: 3, freeMemoryMb: 1024 },
        { id: 'memory-rich', cpus: 2, usedCpus: 0, eco: 4, freeMemoryMb: 8192 },
      ]),
    component: 'c',
    code: 'HOST_TOO_SMALL',
    data: { neededCpusOnOneHost: 4, neededMemoryMbOnOneHost: 4096, largestFreeHostCpusWithThatMemory: 2 },
    message: 'one VM of c needs 4 CPUs and 4096 MB on one host; hosts with 4096 MB free have at most 2 CPUs free',
  },
  {
    name: 'NOT_ENOUGH_HOSTS without an availability target raising the count',
    model: () => model([service('s', [component('c', { basic: 3, maxVms: 3, antiAffinity: 1 })], { federationAllowed: false })], hosts(8, 8)),
    component: 'c',
    code: 'NOT_ENOUGH_HOSTS',
    data: { hostsNeeded: 3, hostsAble: 2, vcpus: 1 },
    message: 'Medium anti-affinity puts each VM of c on its own host: 3 VM(s) need 3 hosts with 1 CPU free; 2 can take one',
    not: ['AVAILABILITY_FORCES_VMS'],
  },
  {
    name: 'INSUFFICIENT_CAPACITY: the fleet is too small',
    model: () => model([service('s', [component('web', { basic: 6, maxVms: 8, vcpus: 2, availability: 0 })], { federationAllowed: false })], hosts(4)),
    component: 'web',
    code: 'INSUFFICIENT_CAPACITY',
    data: { vmsNeeded: 6, vmsThatFit: 2, vcpus: 2, neededCpus: 12, freeCpus: 4 },
    message: 'the 6 basic VM(s) of web need 12 CPUs; the fleet has 4 free, room for 2 such VM(s)',
  },
  {
    name: 'INSUFFICIENT_CAPACITY: enough CPUs in total, but split so that only 2 of 3 VMs fit',
    model: () => model([service('s', [component('c', { basic: 3, maxVms: 3, vcpus: 3 })], { federationAllowed: false })], hosts(4, 4, 1)),
    component: 'c',
    code: 'INSUFFICIENT_CAPACITY',
    data: { vmsNeeded: 3, vmsThatFit: 2, vcpus: 3, neededCpus: 9, freeCpus: 9 },
    message: 'the 3 basic VM(s) of c need 9 CPUs; the fleet has 9 free, room for 2 such VM(s)',
  },
  {
    name: 'INSUFFICIENT_CAPACITY, not CAPACITY_IN_USE, when host-info’s own usage leaves too little even without bookings',
    model: () => model([service('s', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { federationAllowed: false })], used(8, 6, 2)),
    context: { reservedByHost: new Map([['h1', { cpus: 2, memoryMb: 0 }]]), holdersByHost: new Map([['h1', [holder('adm-1', 'acme', 2)]]]) },
    component: 'c',
    code: 'INSUFFICIENT_CAPACITY',
    data: { vmsNeeded: 4, vmsThatFit: 3, vcpus: 2, neededCpus: 8, freeCpus: 6 },
    message: 'the 4 basic VM(s) of c need 8 CPUs; the fleet has 6 free (bookings aside), room for 3 such VM(s)',
    not: ['CAPACITY_IN_USE'],
  },
  {
    name: 'CAPACITY_IN_USE before the holders are looked up: hosts and amounts, no names',
    model: () => model([service('s', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { federationAllowed: false })], BOOKED_HOSTS()),
    context: BOOKINGS,
    component: 'c',
    code: 'CAPACITY_IN_USE',
    data: { component: 'c', vmsNeeded: 4, vcpus: 2, hosts: 2, hostIds: ['h1', 'h2'], heldCpus: 10, heldMemoryMb: 0, holders: [], holdersTotal: 0, holdersKnown: false },
    message: 'the 4 basic VM(s) of c would fit without bookings, but recorded admissions hold 10 CPUs on the 2 host(s) it would need (h1, h2) (who holds it was not looked up)',
  },
  {
    name: 'CAPACITY_IN_USE lists at most 10 holders, largest first, and counts them all',
    model: () => model([service('s', [component('c', { vcpus: 12 })], { federationAllowed: false })], used(12, 12, 1)),
    context: {
      reservedByHost: new Map([['h1', { cpus: 12, memoryMb: 0 }]]),
      holdersByHost: new Map([['h1', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((k) => holder(`adm-${String(k).padStart(2, '0')}`, 'o', k === 12 ? 2 : 1))]]),
    },
    component: 'c',
    code: 'CAPACITY_IN_USE',
    data: { hosts: 1, hostIds: ['h1'], heldCpus: 12, holdersTotal: 12, holdersKnown: true },
    message:
      'the 1 basic VM(s) of c would fit without bookings, but recorded admissions hold 12 CPUs on the 1 host(s) it would need (h1): adm-12 (o, 2 CPUs), adm-01 (o, 1 CPUs), adm-02 (o, 1 CPUs), adm-03 (o, 1 CPUs), adm-04 (o, 1 CPUs), adm-05 (o, 1 CPUs), adm-06 (o, 1 CPUs), adm-07 (o, 1 CPUs), adm-08 (o, 1 CPUs), adm-09 (o, 1 CPUs) and 2 more',
  },
  {
    name: 'CAPACITY_TAKEN_BY_THIS_ADMISSION: another service of the same admission took it',
    model: () =>
      model(
        [
          service('poor', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { gain: 500, federationAllowed: false }),
          service('rich', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { gain: 5000, federationAllowed: false }),
        ],
        hosts(8, 2),
      ),
    service: 'poor',
    component: 'c',
    code: 'CAPACITY_TAKEN_BY_THIS_ADMISSION',
    // rich runs 3 VMs on h1 and 1 on h2; poor alone would take h2's 2 CPUs and 6 of h1's.
    data: { service: 'poor', vmsNeeded: 4, neededCpus: 8, hosts: 2, hostIds: ['h1', 'h2'], users: [{ serviceId: 'rich', componentId: 'c', cpus: 8, memoryMb: 0 }], usersTotal: 1, usedCpus: 8 },
    message:
      'admitting poor whole (each component at its minimum, placed by best fit) would fit on the free capacity, but other VMs of this admission use the 2 host(s) it would need (h1, h2) with 8 CPUs: rich/c (8 CPUs)',
    not: ['CAPACITY_IN_USE'],
  },
  {
    name: 'CONSTRAINT: the cost bound (D2)',
    model: () =>
      model(
        [service('t', [component('c', { basic: 1, maxVms: 3, availability: 0.5 })], { constraints: { ...DEFAULT_CONSTRAINTS, cost: 100 } }), service('o', [component('c')])],
        hosts(1, 1),
      ),
    service: 't',
    component: 'c',
    code: 'CONSTRAINT',
    data: { constraint: 'cost-bound' },
    message: 'admitting it locally would violate cost-bound: service t: cost must be ≤ 100 when a component is accepted locally, is 533.333',
  },
  {
    name: 'OBJECTIVE: it fits, but only risk is weighted and the service is risky',
    model: () =>
      model([service('s', [component('c', { maxVms: 3, availability: 0 })], { risk: 1000, constraints: { eco: 0, trust: 0, risk: 1e9, cost: 1e9 } })], hosts(8), {
        cost: 0,
        eco: 0,
        risk: 1,
        trust: 0,
      }),
    component: 'c',
    code: 'OBJECTIVE',
    data: { objectiveDelta: -4000 / 9 },
    message: `admitting it locally fits but would change the objective by ${fmt(-4000 / 9)}`,
  },
  {
    name: 'NOT_IMPROVED: an allocation that leaves room and value on the table',
    model: () => model([service('s', [component('c', { maxVms: 3, availability: 0 })])], hosts(8)),
    allocation: () => ({ services: [[{ acceptedLocally: true, placements: [{ hostIndex: 0, vms: 1 }], federatedVms: 0 }]] }),
    component: 'c',
    code: 'NOT_IMPROVED',
    data: { objectiveDelta: expect.any(Number) },
    message: expect.stringMatching(/^one more local VM fits and would raise the objective by \d+\.\d+; the solver did not find it within its limits$/) as unknown as string,
  },
  {
    name: 'NOT_DETERMINED: best fit cannot pack the service though its CPUs are within the free ones (5+3+2 | 4+4+2 on 10+10)',
    model: () => model([service('s', [5, 4, 4, 3, 2, 2].map((v, k) => component(`c${k + 1}`, { vcpus: v })), { federationAllowed: false })], hosts(10, 10)),
    allocation: rejectAll,
    component: 'c1',
    code: 'NOT_DETERMINED',
    data: { service: 's', vmsNeeded: 6, neededCpus: 20, freeCpus: 20 },
    message:
      "not determined why (s not admitted whole): best fit found no placement of every component at its minimum on the fleet's free capacity, though its 20 CPUs are within the 20 free",
    not: ['CAPACITY_IN_USE', 'INSUFFICIENT_CAPACITY', 'CAPACITY_TAKEN_BY_THIS_ADMISSION'],
  },
  // --- capabilities ------------------------------------------------------------------------------------------------
  {
    name: 'CAPABILITY_UNAVAILABLE: nodejs >=18 <21 on a fleet of 40 nodejs-16 hosts and 12 without nodejs',
    model: () =>
      model(
        [service('s', [component('api', { requires: [{ kind: 'required', name: 'nodejs', range: '>=18 <21' }] })])],
        Array.from({ length: 52 }, (_, j): Host => ({ id: `h${j + 1}`, cpus: 8, usedCpus: 0, eco: 3, ...(j < 40 ? { capabilities: { nodejs: '16.20.2' } } : {}) })),
      ),
    component: 'api',
    code: 'CAPABILITY_UNAVAILABLE',
    data: {
      requirements: ['nodejs@>=18 <21'],
      hosts: 52,
      perRequirement: [{ requirement: 'nodejs@>=18 <21', hostsSatisfying: 0, values: [{ value: '16.20.2', hosts: 40 }], hostsWithout: 12 }],
    },
    message: 'no host offers what api requires (nodejs@>=18 <21): of 52 host(s), nodejs@>=18 <21: 0 host(s) satisfy it (40 hosts have nodejs 16.20.2, 12 have none)',
    not: ['INSUFFICIENT_CAPACITY', 'CONSTRAINT', 'NOT_DETERMINED'],
  },
  {
    name: 'CAPABILITY_SCARCE: 3 basic VMs of 4 CPUs, and the one nodejs-20 host has room for 2 (the other 24 free CPUs do not count)',
    model: () =>
      model(
        [service('s', [component('api', { basic: 3, maxVms: 3, vcpus: 4, requires: [{ kind: 'required', name: 'nodejs', range: '>=18 <21' }] })])],
        [
          { id: 'h1', cpus: 8, usedCpus: 0, eco: 3, capabilities: { nodejs: '16.20.2' } },
          { id: 'h2', cpus: 8, usedCpus: 0, eco: 3, capabilities: { nodejs: '20.11.1' } },
          { id: 'h3', cpus: 8, usedCpus: 0, eco: 3 },
          { id: 'h4', cpus: 8, usedCpus: 0, eco: 3, capabilities: { nodejs: '21.0.0-rc.1' } },
        ],
      ),
    component: 'api',
    code: 'CAPABILITY_SCARCE',
    data: { requirements: ['nodejs@>=18 <21'], hostsQualifying: 1, hostIds: ['h2'], kind: 'plain', vmsNeeded: 3, vmsThatFit: 2, vcpus: 4 },
    message:
      'the 3 basic VM(s) of api does not fit: the 1 host(s) that satisfy nodejs@>=18 <21 (h2) are the only ones it may use, and with their free capacity now (bookings taken) they have room for 2 VM(s) of 4 CPUs, 3 needed',
    not: ['INSUFFICIENT_CAPACITY', 'CONSTRAINT', 'NOT_DETERMINED'],
  },
  {
    name: 'CAPACITY_TAKEN_BY_THIS_ADMISSION on the qualifying hosts: the one gpu host is full of this admission\'s own VMs',
    model: () =>
      model(
        [service('s', [component('train', { basic: 1, maxVms: 1, vcpus: 8, requires: [{ kind: 'required', name: 'gpu' }] }), component('web', { basic: 1, maxVms: 1, vcpus: 8 })])],
        [
          { id: 'h1', cpus: 8, usedCpus: 0, eco: 3, capabilities: { gpu: 'a100' } },
          { id: 'h2', cpus: 8, usedCpus: 0, eco: 3 },
        ],
      ),
    allocation: () => ({
      services: [
        [
          { acceptedLocally: false, placements: [], federatedVms: 1 },
          { acceptedLocally: true, placements: [{ hostIndex: 0, vms: 1 }], federatedVms: 0 },
        ],
      ],
    }),
    component: 'train',
    code: 'CAPACITY_TAKEN_BY_THIS_ADMISSION',
    data: { hostIds: ['h1'] },
    message: 'the 1 basic VM(s) of train (placed alone by best fit) would fit on the free capacity, but other VMs of this admission use the 1 host(s) it would need (h1) with 8 CPUs: s/web (8 CPUs)',
    not: ['CONSTRAINT', 'CAPABILITY_SCARCE'],
  },
];

async function decisionsOf(c: Case): Promise<readonly ServiceDecision[]> {
  const m = c.model();
  if (!c.allocation) return (await admit(m, { solver: 'greedy', ...(c.context ? { decisionContext: c.context } : {}) })).services;
  const allocation = c.allocation(m);
  const verification = verify(m, allocation);
  expect(verification.violations).toEqual([]);
  return decide(m, allocation, verification, c.context);
}

describe('one row per reason code: code, data and message', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const decisions = await decisionsOf(c);
    const s = c.service ? decisions.find((d) => d.id === c.service)! : decisions[0]!;
    const reasons = s.components.find((k) => k.id === c.component)!.reasons;
    const reason = reasons.find((r) => r.code === c.code);
    expect([c.code, reason !== undefined, reasons.map((r) => r.code)]).toEqual([c.code, true, expect.any(Array)]);
    const keys = Object.keys(c.data);
    // Rows list every key of the data, or a subset where the rest is covered by another row.
    const exact = keys.length >= Object.keys(reason!.data).length;
    if (exact) expect(reason!.data).toEqual(c.data);
    else expect(reason!.data).toMatchObject(c.data);
    expect(reason!.message).toEqual(c.message);
    for (const code of c.not ?? []) expect(reasons.map((r) => r.code)).not.toContain(code);
    for (const [code, data] of Object.entries(c.also ?? {})) expect(reasons.find((r) => r.code === code)?.data).toEqual(data);
  });

  it('every code of the catalogue has a row', () => {
    const all: Reason['code'][] = [
      'TREC_BOUND',
      'ALL_OR_NOTHING',
      'ANTI_AFFINITY_HIGH',
      'ANTI_AFFINITY_HIGH_RULE',
      'AFFINITY_RULE_GROUP',
      'CAPABILITY_UNAVAILABLE',
      'CAPABILITY_SCARCE',
      'VM_LARGER_THAN_ANY_HOST',
      'AFFINITY_GROUP_TOO_BIG',
      'HOST_TOO_SMALL',
      'NOT_ENOUGH_HOSTS',
      'INSUFFICIENT_CAPACITY',
      'CAPACITY_IN_USE',
      'CAPACITY_TAKEN_BY_THIS_ADMISSION',
      'EXCLUDED_BY_RULE',
      'AVAILABILITY_FORCES_VMS',
      'CONSTRAINT',
      'OBJECTIVE',
      'NOT_IMPROVED',
      'NOT_DETERMINED',
    ];
    const covered = new Set(CASES.flatMap((c) => [c.code, ...Object.keys(c.also ?? {})]));
    expect(all.filter((code) => !covered.has(code))).toEqual([]);
  });
});

describe('decide() with more context, on the same verified allocation', () => {
  it('is called again with the holders once they are fetched: only the holders change', async () => {
    const m = model([service('s', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { federationAllowed: false })], BOOKED_HOSTS());
    const first = await admit(m, { solver: 'greedy', decisionContext: BOOKINGS });
    const again = decide(m, first.allocation, first.verification, { ...BOOKINGS, holdersByHost: HOLDERS });
    const before = first.services[0]!.components[0]!.reasons.find((r) => r.code === 'CAPACITY_IN_USE')!;
    const after = again[0]!.components[0]!.reasons.find((r) => r.code === 'CAPACITY_IN_USE')!;
    expect(before.data).toMatchObject({ holders: [], holdersKnown: false });
    expect(after.data).toMatchObject({ holdersKnown: true, holdersTotal: 2 });
    expect({ ...after.data, holders: [], holdersTotal: 0, holdersKnown: false }).toEqual(before.data);
    // The same call twice gives the same answer (nothing is kept between calls but per-host-list facts).
    expect(decide(m, first.allocation, first.verification, { ...BOOKINGS, holdersByHost: HOLDERS })).toEqual(again);
  });

  it('without reservedByHost the same shortage is the fleet’s own: INSUFFICIENT_CAPACITY, never CAPACITY_IN_USE', async () => {
    const m = model([service('s', [component('c', { basic: 4, maxVms: 4, vcpus: 2 })], { federationAllowed: false })], BOOKED_HOSTS());
    const r = await admit(m, { solver: 'greedy' });
    expect(r.services[0]!.components[0]!.reasons.map((x) => x.code)).toEqual(['INSUFFICIENT_CAPACITY', 'ALL_OR_NOTHING']);
  });
});

describe('decision, fullyAccepted and the summary', () => {
  it('fullyAccepted is decision === accepted: the worked example’s a1 federates 2 VMs, so it is partial and not fully accepted', async () => {
    const r = await admit(workedExample(), { solver: 'greedy' });
    const a1 = r.services.find((s) => s.id === 'a1')!;
    expect(r.verification.services[0]!.fullyAccepted).toBe(true); // OPTIMIS's X_a: every component accepted locally
    expect(a1).toMatchObject({ decision: 'partial', fullyAccepted: false, federatedVms: 2 });
    expect(r.services.find((s) => s.id === 'a2')).toMatchObject({ decision: 'accepted', fullyAccepted: true });
    for (const s of r.services) expect(s.fullyAccepted).toBe(s.decision === 'accepted');
  });

  it('speaks of federating only when a peer could take the VMs', async () => {
    const m = workedExample();
    const alone = (await admit(m, { solver: 'greedy' })).services.find((s) => s.id === 'a1')!;
    expect(alone.summary).not.toMatch(/federat/);
    expect(alone.summary).toMatch(/; 2 VM\(s\) not run here$/);
    const withPeers = (await admit(m, { solver: 'greedy', decisionContext: { federationAvailable: true } })).services.find((s) => s.id === 'a1')!;
    expect(withPeers.summary).toMatch(/; 2 VM\(s\) to federate$/);
  });

  it('a rejected service’s summary gives the reason that says why, not only that it is all or nothing', async () => {
    const m = model([service('s', [component('web', { vcpus: 2 }), component('db', { basic: 2, maxVms: 2, vcpus: 4 })], { federationAllowed: false })], hosts(4));
    const s = (await admit(m, { solver: 'greedy' })).services[0]!;
    expect(s.summary).toBe('rejected: the 2 basic VM(s) of db need 8 CPUs; the fleet has 4 free, room for 1 such VM(s)');
  });
});
