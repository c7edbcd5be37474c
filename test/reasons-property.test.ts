/**
 * Property (fast-check, seeded): on random tight admissions with random bookings, every reason's claim holds when
 * recomputed by brute force from the model and the context the test built itself — a VM larger than a host really is
 * larger than every host, hostsAble really counts the hosts able to take one VM, holders really hold capacity on the
 * hosts named, INSUFFICIENT_CAPACITY really means the fleet without bookings is too small — and decisions agree with
 * themselves (fullyAccepted ⇔ accepted, federating named only when a peer could take it).
 */
import fc from 'fast-check';
import { decide, type DecisionContext, type DecisionHolder, type Reason, type ServiceDecision } from '../admission-controller/decisions';
import { fmt } from '../admission-controller/reasons';
import { verify } from '../admission-controller/verifier';
import { generateModel } from '../bench/generator';
import { Rng } from '../bench/rng';
import type { AdmissionModel, Allocation, Component, Host, Service } from '../model/types';
import { solveGreedy } from '../solvers/greedy';
import { emptyEvaluation } from '../solvers/greedy/evaluation';

interface World {
  readonly model: AdmissionModel;
  readonly context: DecisionContext;
  /** Per host index: what bookings hold (0 when none). */
  readonly reservedCpus: readonly number[];
  readonly reservedMemoryMb: readonly number[];
}

/** A generated model whose host usage is part host-info's, part bookings (known to the test, given as context). */
function world(p: { seed: number; services: number; components: number; hosts: number; memory: boolean; bookedShare: number; holders: boolean; peers: boolean; forbidden: number; oversize: boolean; trec: number }): World {
  const generated = generateModel({
    seed: p.seed,
    services: p.services,
    components: p.components,
    hosts: p.hosts,
    capacity: 'tight',
    rules: true,
    variableSizes: true,
    memory: p.memory,
    federationForbiddenShare: p.forbidden,
    trecViolationShare: p.trec,
  });
  const rng = new Rng(p.seed ^ 0x5eed);
  // Sometimes one component's VM is made larger than every host, or a High affinity component's group too big.
  const largest = generated.hosts.reduce((t, h) => Math.max(t, h.cpus), 0);
  const grow = p.oversize ? { a: rng.int(0, generated.services.length - 1), k: rng.int(0, 99) } : null;
  const base: AdmissionModel = {
    ...generated,
    services: generated.services.map((s, a) =>
      grow && a === grow.a ? { ...s, components: s.components.map((c, k) => (k === grow.k % s.components.length ? { ...c, vcpus: c.affinity === 2 ? Math.ceil(largest / Math.max(1, c.basic)) + 1 : largest + 1 + (grow.k % 3) } : c)) } : s,
    ),
  };
  const reservedCpus: number[] = [];
  const reservedMemoryMb: number[] = [];
  const reservedByHost = new Map<string, { cpus: number; memoryMb: number }>();
  const holdersByHost = new Map<string, DecisionHolder[]>();
  const hostList: Host[] = base.hosts.map((h) => {
    const free = Math.max(0, h.cpus - h.usedCpus);
    const cpus = rng.chance(p.bookedShare) ? rng.int(0, free) : 0;
    const memoryMb = h.freeMemoryMb !== undefined && cpus > 0 ? rng.int(0, Math.floor(h.freeMemoryMb / 2)) : 0;
    reservedCpus.push(cpus);
    reservedMemoryMb.push(memoryMb);
    if (cpus === 0 && memoryMb === 0) return h;
    reservedByHost.set(h.id, { cpus, memoryMb });
    // Split among 1–3 of a few admissions, so that holders span hosts.
    const parts = rng.int(1, Math.max(1, Math.min(3, cpus)));
    const list: DecisionHolder[] = [];
    let leftCpus = cpus;
    let leftMemory = memoryMb;
    for (let k = 0; k < parts; k++) {
      const last = k === parts - 1;
      const c = last ? leftCpus : rng.int(0, leftCpus);
      const m = last ? leftMemory : rng.int(0, leftMemory);
      leftCpus -= c;
      leftMemory -= m;
      const id = `adm-${rng.int(1, 6)}`;
      const known = list.find((x) => x.admissionId === id);
      if (known) list[list.indexOf(known)] = { ...known, cpus: known.cpus + c, memoryMb: known.memoryMb + m };
      else list.push({ admissionId: id, owner: `owner-${id}`, serviceId: `svc-${id}`, window: { start: '2026-01-01T00:00:00.000Z', end: null }, cpus: c, memoryMb: m });
    }
    holdersByHost.set(h.id, list.sort((x, y) => y.cpus - x.cpus));
    return { ...h, usedCpus: h.usedCpus + cpus, ...(h.freeMemoryMb !== undefined ? { freeMemoryMb: h.freeMemoryMb - memoryMb } : {}) };
  });
  const context: DecisionContext = {
    federationAvailable: p.peers,
    ...(reservedByHost.size > 0 ? { reservedByHost } : {}),
    ...(p.holders && reservedByHost.size > 0 ? { holdersByHost } : {}),
  };
  return { model: { ...base, hosts: hostList }, context, reservedCpus, reservedMemoryMb };
}

// ---------------------------------------------------------------------------------------------
// Brute force over every host: the layers as the claims define them.

const free = (h: Host): number => Math.max(0, h.cpus - h.usedCpus);
const freeMemory = (h: Host): number => h.freeMemoryMb ?? Infinity;
/** Free with bookings aside. */
const asideCpus = (w: World, j: number): number => Math.min(w.model.hosts[j]!.cpus, free(w.model.hosts[j]!) + w.reservedCpus[j]!);
const asideMemory = (w: World, j: number): number => freeMemory(w.model.hosts[j]!) + w.reservedMemoryMb[j]!;
const slots = (cpus: number, memory: number, c: Component): number =>
  Math.min(Math.floor(cpus / c.vcpus), c.memoryMb ? Math.floor(memory / c.memoryMb) : Infinity);

function kindOf(s: Service, c: Component): 'group' | 'spread' | 'plain' {
  if (c.affinity === 2 || s.rules.some((r) => r.kind === 'affinity' && r.level === 2 && r.members.includes(c.id))) return 'group';
  return c.antiAffinity === 1 ? 'spread' : 'plain';
}

const range = (n: number): number[] => Array.from({ length: n }, (_, j) => j);
const max = (xs: readonly number[]): number => xs.reduce((m, x) => Math.max(m, x), 0);

/** The numbers a message must print (with the one format), per code. */
const PRINTED: Readonly<Partial<Record<Reason['code'], readonly string[]>>> = {
  TREC_BOUND: ['value', 'bound'],
  VM_LARGER_THAN_ANY_HOST: ['vcpus', 'largestHostCpus'],
  AFFINITY_GROUP_TOO_BIG: ['groupCpus', 'largestHostCpus'],
  HOST_TOO_SMALL: ['neededCpusOnOneHost', 'largestFreeHostCpus', 'largestFreeHostMemoryMb', 'largestFreeHostCpusWithThatMemory', 'neededMemoryMbOnOneHost'],
  NOT_ENOUGH_HOSTS: ['hostsNeeded', 'hostsAble', 'vcpus'],
  INSUFFICIENT_CAPACITY: ['neededCpus', 'freeCpus', 'vmsThatFit'],
  CAPACITY_IN_USE: ['heldCpus', 'hosts'],
  CAPACITY_TAKEN_BY_THIS_ADMISSION: ['hosts', 'usedCpus'],
  EXCLUDED_BY_RULE: ['hosts'],
  AVAILABILITY_FORCES_VMS: ['target', 'vmsRequired', 'maxVms', 'fewerVms', 'cdfWithFewer', 'vmsThatFit'],
  OBJECTIVE: ['objectiveDelta'],
  NOT_IMPROVED: ['objectiveDelta'],
};

function checkReason(w: World, allocation: Allocation, a: number, i: number, r: Reason): void {
  const m = w.model;
  const s = m.services[a]!;
  const c = s.components[i]!;
  const d = r.data as Record<string, unknown>;
  const n = m.hosts.length;
  const where = `${s.id}/${c.id} ${r.code}: ${r.message}`;
  const ok = (cond: boolean, what: string): void => {
    if (!cond) throw new Error(`${where} — ${what} (data ${JSON.stringify(d)})`);
  };
  for (const key of PRINTED[r.code] ?? []) if (typeof d[key] === 'number') ok(r.message.includes(fmt(d[key] as number)), `message prints ${key}`);
  ok(!/\d\.\d*0(?!\d)/.test(r.message), 'no number printed with trailing zeros');
  const hostIndex = new Map(m.hosts.map((h, j) => [h.id, j]));
  const usedBy = (k: number, j: number): number => allocation.services[a]![k]!.placements.filter((p) => p.hostIndex === j).reduce((t, p) => t + p.vms, 0);

  switch (r.code) {
    case 'VM_LARGER_THAN_ANY_HOST':
      ok(d.vcpus === c.vcpus && d.largestHostCpus === max(m.hosts.map((h) => h.cpus)), 'figures');
      ok(m.hosts.every((h) => h.cpus < c.vcpus), 'larger than every host in total');
      break;
    case 'AFFINITY_GROUP_TOO_BIG': {
      const members = d.members as string[];
      ok(members.includes(c.id) && members.every((id) => s.components.some((k) => k.id === id)), 'members of the service');
      ok(d.largestHostCpus === max(m.hosts.map((h) => h.cpus)) && (d.groupCpus as number) > (d.largestHostCpus as number), 'larger than the largest host');
      const least = members.reduce((t, id) => t + s.components.find((k) => k.id === id)!.vcpus, 0);
      ok((d.groupCpus as number) >= least, 'at least one VM per member');
      break;
    }
    case 'HOST_TOO_SMALL': {
      const cpus = d.neededCpusOnOneHost as number;
      const memory = (d.neededMemoryMbOnOneHost as number | undefined) ?? 0;
      ok(range(n).every((j) => !(asideCpus(w, j) >= cpus && asideMemory(w, j) >= memory)), 'no host has that much free, bookings aside');
      if (typeof d.largestFreeHostCpus === 'number') ok(d.largestFreeHostCpus === max(range(n).map((j) => asideCpus(w, j))), 'largest free host');
      if (typeof d.largestFreeHostMemoryMb === 'number') ok(d.largestFreeHostMemoryMb === max(range(n).map((j) => asideMemory(w, j))), 'most free memory');
      if (typeof d.largestFreeHostCpusWithThatMemory === 'number') {
        ok(d.largestFreeHostCpusWithThatMemory === max(range(n).filter((j) => asideMemory(w, j) >= memory).map((j) => asideCpus(w, j))), 'CPUs of the hosts with that memory');
      }
      ok(cpus <= max(m.hosts.map((h) => h.cpus)), 'fits the largest host in total (else another code)');
      break;
    }
    case 'NOT_ENOUGH_HOSTS': {
      const able = range(n).filter((j) => asideCpus(w, j) >= c.vcpus && asideMemory(w, j) >= (c.memoryMb ?? 0)).length;
      ok(c.antiAffinity === 1 && d.vcpus === c.vcpus, 'a Medium anti-affinity component');
      ok(d.hostsAble === able && (d.hostsNeeded as number) > able, 'hostsAble is the count of hosts able to take one VM');
      break;
    }
    case 'INSUFFICIENT_CAPACITY': {
      const total = range(n).reduce((t, j) => t + asideCpus(w, j), 0);
      ok(d.freeCpus === total, 'freeCpus is the fleet’s free capacity without bookings');
      if (d.service !== undefined) ok((d.neededCpus as number) > total, 'the whole service needs more');
      else {
        const fit = range(n).reduce((t, j) => t + slots(asideCpus(w, j), asideMemory(w, j), c), 0);
        ok(d.vmsThatFit === fit && fit < (d.vmsNeeded as number) && d.neededCpus === (d.vmsNeeded as number) * c.vcpus, 'the fleet without bookings holds fewer such VMs');
      }
      break;
    }
    case 'CAPACITY_IN_USE': {
      const reserved = w.context.reservedByHost;
      ok(reserved !== undefined && reserved.size > 0, 'only with bookings');
      const ids = d.hostIds as string[];
      ok(ids.every((id) => (reserved!.get(id)?.cpus ?? 0) > 0 || (reserved!.get(id)?.memoryMb ?? 0) > 0), 'every host named holds bookings');
      const complete = (d.hosts as number) === ids.length;
      if (complete) ok(d.heldCpus === ids.reduce((t, id) => t + reserved!.get(id)!.cpus, 0), 'heldCpus is what bookings hold there');
      const holders = d.holders as DecisionHolder[];
      ok(holders.length <= 10 && (d.holdersTotal as number) >= holders.length, 'at most 10, with the total');
      for (let k = 1; k < holders.length; k++) ok(holders[k - 1]!.cpus >= holders[k]!.cpus, 'largest first');
      if (complete && w.context.holdersByHost) {
        for (const h of holders) {
          const there = ids.flatMap((id) => w.context.holdersByHost!.get(id) ?? []).filter((x) => x.admissionId === h.admissionId);
          ok(there.length > 0 && h.cpus === there.reduce((t, x) => t + x.cpus, 0), `${h.admissionId} holds that on the hosts named`);
        }
      }
      if (d.component !== undefined && kindOf(s, c) !== 'group') {
        const need = d.vmsNeeded as number;
        const asideFit = kindOf(s, c) === 'spread' ? range(n).filter((j) => asideCpus(w, j) >= c.vcpus && asideMemory(w, j) >= (c.memoryMb ?? 0)).length : range(n).reduce((t, j) => t + slots(asideCpus(w, j), asideMemory(w, j), c), 0);
        const nowFit = kindOf(s, c) === 'spread' ? range(n).filter((j) => free(m.hosts[j]!) >= c.vcpus && freeMemory(m.hosts[j]!) >= (c.memoryMb ?? 0)).length : range(n).reduce((t, j) => t + slots(free(m.hosts[j]!), freeMemory(m.hosts[j]!), c), 0);
        ok(asideFit >= need && nowFit < need, 'fits without bookings, not with them');
      }
      break;
    }
    case 'CAPACITY_TAKEN_BY_THIS_ADMISSION': {
      const ids = d.hostIds as string[];
      const users = d.users as { serviceId: string; componentId: string; cpus: number }[];
      ok(users.length > 0 && users.length <= 10 && (d.usersTotal as number) >= users.length, 'users listed');
      for (const u of users) {
        const b = m.services.findIndex((x) => x.id === u.serviceId);
        const k = m.services[b]!.components.findIndex((x) => x.id === u.componentId);
        ok(!(b === a && k === i), 'not the component itself');
        if ((d.hosts as number) === ids.length) {
          const cpus = ids.reduce((t, id) => t + allocation.services[b]![k]!.placements.filter((p) => p.hostIndex === hostIndex.get(id)).reduce((x, p) => x + p.vms, 0), 0) * m.services[b]!.components[k]!.vcpus;
          ok(cpus === u.cpus && cpus > 0, `${u.serviceId}/${u.componentId} uses that on the hosts named`);
        }
      }
      if (d.component !== undefined && kindOf(s, c) === 'plain') {
        ok(range(n).reduce((t, j) => t + slots(free(m.hosts[j]!), freeMemory(m.hosts[j]!), c), 0) >= (d.vmsNeeded as number), 'fits the free capacity alone');
      }
      break;
    }
    case 'EXCLUDED_BY_RULE': {
      const members = d.members as string[];
      ok(s.rules.some((x) => x.kind === 'antiAffinity' && x.level === 1 && x.members.includes(c.id) && members.every((id) => x.members.includes(id))), 'a Medium anti-affinity rule of the service');
      for (const id of d.hostIds as string[]) {
        const j = hostIndex.get(id)!;
        ok(members.some((o) => o !== c.id && usedBy(s.components.findIndex((k) => k.id === o), j) > 0), `another member runs on ${id}`);
      }
      break;
    }
    case 'AVAILABILITY_FORCES_VMS': {
      const required = Math.ceil(c.basic - 1 + c.availability * (c.maxVms - c.basic + 1) - 1e-9);
      ok(d.target === c.availability && d.vmsRequired === required && required > c.basic && d.basicVms === c.basic && d.maxVms === c.maxVms, 'figures of the component');
      ok((d.cdfWithFewer as number) < c.availability && (d.vmsThatFit as number) < required, 'fewer VMs miss the target');
      break;
    }
    case 'TREC_BOUND': {
      const metric = d.metric as 'trust' | 'eco' | 'risk';
      ok(d.value === s[metric] && d.bound === s.constraints[metric], 'the service’s value and bound');
      ok(metric === 'risk' ? s.risk > s.constraints.risk : s[metric] < s.constraints[metric], 'violated');
      break;
    }
    case 'ANTI_AFFINITY_HIGH':
      ok(c.antiAffinity === 2, 'High anti-affinity');
      break;
    case 'OBJECTIVE':
      ok((d.objectiveDelta as number) <= 1e-9, 'does not raise the objective');
      break;
    case 'NOT_IMPROVED':
      ok((d.objectiveDelta as number) > 1e-9, 'raises the objective');
      break;
    default:
      break;
  }
}

function checkDecisions(w: World, allocation: Allocation, decisions: readonly ServiceDecision[]): number {
  let reasons = 0;
  decisions.forEach((sd, a) => {
    const s = w.model.services[a]!;
    expect([sd.id, sd.fullyAccepted]).toEqual([sd.id, sd.decision === 'accepted']);
    if (sd.decision === 'accepted') expect(sd.components.every((c) => c.acceptedLocally) && sd.federatedVms === 0).toBe(true);
    if (sd.decision === 'partial') expect(s.federationAllowed && sd.components.some((c) => c.acceptedLocally)).toBe(true);
    if (!w.context.federationAvailable) expect(sd.summary).not.toMatch(/federat/);
    sd.components.forEach((cd, i) => {
      const c = s.components[i]!;
      if (cd.localVms >= c.maxVms) expect(cd.reasons).toEqual([]);
      else expect(cd.reasons.length).toBeGreaterThan(0);
      for (const r of cd.reasons) {
        checkReason(w, allocation, a, i, r);
        reasons++;
      }
    });
  });
  return reasons;
}

const seen = new Map<string, number>();

describe('every reason’s claim holds against the model (seeded property)', () => {
  it('random tight admissions with bookings, greedy and reject-all allocations', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          services: fc.integer({ min: 1, max: 4 }),
          components: fc.integer({ min: 1, max: 5 }),
          hosts: fc.integer({ min: 2, max: 14 }),
          memory: fc.boolean(),
          bookedShare: fc.constantFrom(0, 0.3, 0.7),
          holders: fc.boolean(),
          peers: fc.boolean(),
          forbidden: fc.constantFrom(0, 0.5, 1),
          oversize: fc.boolean(),
          trec: fc.constantFrom(0, 0, 0.5),
        }),
        (p) => {
          const w = world(p);
          const m = w.model;
          for (const allocation of [solveGreedy(m).allocation, { services: m.services.map((_, a) => emptyEvaluation(m, a).allocation) }]) {
            const v = verify(m, allocation);
            expect(v.violations).toEqual([]);
            const decisions = decide(m, allocation, v, w.context);
            checkDecisions(w, allocation, decisions);
            for (const sd of decisions) for (const c of sd.components) for (const r of c.reasons) seen.set(r.code, (seen.get(r.code) ?? 0) + 1);
            // Re-callable, and the same with a frozen host list (cached fleet facts) as with a fresh one.
            const frozen = { ...m, hosts: Object.freeze(m.hosts.map((h) => Object.freeze({ ...h }))) };
            expect(decide(frozen, allocation, verify(frozen, allocation), w.context)).toEqual(decisions);
            expect(decide(frozen, allocation, verify(frozen, allocation), w.context)).toEqual(decisions);
          }
        },
      ),
      { seed: 20261202, numRuns: 200 },
    );
    if (process.env.REASONS_COVERAGE) process.stdout.write(`${JSON.stringify(Object.fromEntries(seen))}\n`);
    // The property must have met the codes it checks.
    const checked = ['TREC_BOUND', 'VM_LARGER_THAN_ANY_HOST', 'AFFINITY_GROUP_TOO_BIG', 'HOST_TOO_SMALL', 'NOT_ENOUGH_HOSTS', 'INSUFFICIENT_CAPACITY', 'CAPACITY_IN_USE'];
    for (const code of [...checked, 'CAPACITY_TAKEN_BY_THIS_ADMISSION', 'EXCLUDED_BY_RULE', 'AVAILABILITY_FORCES_VMS', 'NOT_IMPROVED']) {
      expect([code, (seen.get(code) ?? 0) > 0]).toEqual([code, true]);
    }
  });
});
