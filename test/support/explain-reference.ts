/**
 * Tests only: admission-controller/explain.ts as it was before it was rewritten for speed (O(hosts) per what-if,
 * a full verify per what-if). The rewrite must give exactly these reasons; test/explain-equivalence.test.ts checks.
 */
import type { AdmissionModel, Allocation, ComponentAllocation } from '../../model/types';
import type { Verification } from '../../admission-controller/verification';
import { verify } from '../../admission-controller/verifier';

type ReasonCode =
  | 'TREC_BOUND' // a trust / risk / eco bound forbids full acceptance
  | 'ALL_OR_NOTHING' // federation forbidden: the service is admitted whole or not at all
  | 'ANTI_AFFINITY_HIGH' // High anti-affinity: elastic VMs must run in another cloud
  | 'ANTI_AFFINITY_HIGH_RULE' // at most one member of a High anti-affinity rule is accepted locally
  | 'AFFINITY_RULE_GROUP' // members of an affinity rule are accepted together or not at all
  | 'HOST_TOO_SMALL' // a same-host group needs more than the largest free host has
  | 'NOT_ENOUGH_HOSTS' // one VM per host (or per member) needs more distinct hosts than exist
  | 'INSUFFICIENT_CAPACITY' // the whole fleet's free capacity is too small
  | 'CAPACITY_IN_USE' // the capacity exists, but other admitted VMs hold it
  | 'CONSTRAINT' // one more local VM would break a model constraint (named in data.constraint)
  | 'OBJECTIVE' // one more local VM fits, but would not raise the objective
  | 'NOT_IMPROVED'; // one more local VM fits and would raise the objective: the solver missed it

interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
  readonly data: Readonly<Record<string, number | string | boolean | readonly string[]>>;
}

interface Residual {
  freeCpus: Float64Array;
  freeMemoryMb: Float64Array;
}

function initialCapacity(model: AdmissionModel): Residual {
  const n = model.hosts.length;
  const freeCpus = new Float64Array(n);
  const freeMemoryMb = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const h = model.hosts[j]!;
    freeCpus[j] = Math.max(0, h.cpus - h.usedCpus);
    freeMemoryMb[j] = h.freeMemoryMb ?? Infinity;
  }
  return { freeCpus, freeMemoryMb };
}

function residualCapacity(model: AdmissionModel, allocation: Allocation): Residual {
  const { freeCpus, freeMemoryMb } = initialCapacity(model);
  allocation.services.forEach((comps, a) =>
    comps.forEach((ca, i) => {
      const c = model.services[a]!.components[i]!;
      for (const p of ca.placements) {
        freeCpus[p.hostIndex]! -= c.vcpus * p.vms;
        freeMemoryMb[p.hostIndex]! -= (c.memoryMb ?? 0) * p.vms;
      }
    }),
  );
  return { freeCpus, freeMemoryMb };
}

function largest(values: Float64Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, v);
  return m;
}

function hostsHolding(r: { freeCpus: Float64Array; freeMemoryMb: Float64Array }, cpus: number, memoryMb: number, excluded: Set<number>): number[] {
  const out: number[] = [];
  for (let j = 0; j < r.freeCpus.length; j++) if (r.freeCpus[j]! >= cpus && r.freeMemoryMb[j]! >= memoryMb && !excluded.has(j)) out.push(j);
  return out;
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

export function explainComponents(model: AdmissionModel, allocation: Allocation, verification: Verification): Reason[][][] {
  // The common answer, everything at its maximum, needs no fleet-wide figures.
  const atMaximum = model.services.every((s, a) => s.components.every((c, i) => verification.services[a]!.components[i]!.localVms >= c.maxVms));
  if (atMaximum) return model.services.map((s) => s.components.map(() => []));
  const residual = residualCapacity(model, allocation);
  const initial = initialCapacity(model);
  const totalFree = initial.freeCpus.reduce((t, v) => t + v, 0);
  const largestFree = largest(initial.freeCpus);
  const residualTotal = residual.freeCpus.reduce((t, v) => t + v, 0);
  const residualLargest = largest(residual.freeCpus);
  const holders = (a: number): string[] =>
    model.services.filter((_, b) => b !== a && verification.services[b]!.localVms > 0).map((s) => s.id);

  const serviceWhatIf: Reason[] = [];
  return model.services.map((s, a) => {
    const ev = verification.services[a]!;
    const id2i = new Map(s.components.map((c, i) => [c.id, i]));
    const trecFailures: Reason[] = [];
    if (s.trust < s.constraints.trust) trecFailures.push(trec('trust', s.trust, s.constraints.trust, '≥'));
    if (s.eco < s.constraints.eco) trecFailures.push(trec('eco', s.eco, s.constraints.eco, '≥'));
    if (s.risk > s.constraints.risk) trecFailures.push(trec('risk', s.risk, s.constraints.risk, '≤'));

    return s.components.map((c, i): Reason[] => {
      const ce = ev.components[i]!;
      if (ce.localVms >= c.maxVms) return [];
      const reasons: Reason[] = [];
      const accepted = ce.acceptedLocally;
      const count = accepted ? 1 : Math.max(1, c.basic); // VMs the next step needs: one more, or the basic set
      const mem = c.memoryMb ?? 0;

      if (!accepted) reasons.push(...trecFailures);
      if (c.antiAffinity === 2 && ce.localVms >= c.basic) {
        reasons.push({
          code: 'ANTI_AFFINITY_HIGH',
          message: `High anti-affinity keeps the ${c.maxVms - c.basic} elastic VM(s) of ${c.id} in other clouds: at most ${c.basic} run locally`,
          data: { basicVms: c.basic, maxVms: c.maxVms },
        });
        return reasons;
      }
      for (const rule of s.rules) {
        if (!rule.members.includes(c.id)) continue;
        const others = rule.members.filter((m) => m !== c.id);
        if (rule.kind === 'antiAffinity' && rule.level === 2 && !accepted) {
          const chosen = others.filter((m) => ev.components[id2i.get(m)!]!.acceptedLocally);
          if (chosen.length > 0) {
            reasons.push({
              code: 'ANTI_AFFINITY_HIGH_RULE',
              message: `High anti-affinity rule over ${rule.members.join(', ')}: only one may run locally, and ${chosen[0]} does`,
              data: { members: rule.members, acceptedMember: chosen[0]! },
            });
          }
        }
        if (rule.kind === 'affinity' && !accepted) {
          const missing = others.filter((m) => !ev.components[id2i.get(m)!]!.acceptedLocally);
          reasons.push({
            code: 'AFFINITY_RULE_GROUP',
            message: `${rule.level === 2 ? 'High' : 'Medium'} affinity rule over ${rule.members.join(', ')}: the members are admitted together or not at all`,
            data: { members: rule.members, level: rule.level, notAdmitted: missing },
          });
        }
      }

      // Static limits of the whole fleet (nothing else admitted).
      const sameHost = c.affinity === 2 || s.rules.some((r) => r.kind === 'affinity' && r.level === 2 && r.members.includes(c.id));
      const groupCpus = sameHost ? groupDemand(model, a, c.id, accepted ? ce.localVms + 1 : Math.max(1, c.basic)) : 0;
      if (sameHost && groupCpus > largestFree) {
        reasons.push({
          code: 'HOST_TOO_SMALL',
          message: `High affinity needs ${fmt(groupCpus)} CPUs on one host; the largest free host has ${fmt(largestFree)}`,
          data: { neededCpusOnOneHost: groupCpus, largestFreeHostCpus: largestFree },
        });
      }
      if (c.antiAffinity === 1) {
        const need = accepted ? ce.localVms + 1 : Math.max(1, c.basic);
        const able = hostsHolding(initial, c.vcpus, mem, new Set()).length;
        if (need > able) {
          reasons.push({
            code: 'NOT_ENOUGH_HOSTS',
            message: `Medium anti-affinity needs ${need} distinct hosts with ${c.vcpus} free CPU(s); only ${able} exist`,
            data: { neededHosts: need, hostsAvailable: able, vcpus: c.vcpus },
          });
        }
      }
      const neededTotal = (accepted ? ce.localVms + 1 : c.basic) * c.vcpus;
      if (neededTotal > totalFree) {
        reasons.push({
          code: 'INSUFFICIENT_CAPACITY',
          message: `${accepted ? `${ce.localVms + 1} VM(s)` : `the ${c.basic} basic VM(s)`} of ${c.id} need ${fmt(neededTotal)} CPUs; the fleet has ${fmt(totalFree)} free`,
          data: { neededCpus: neededTotal, freeCpus: totalFree },
        });
      }
      if (!s.federationAllowed && !ev.fullyAccepted) {
        reasons.push({
          code: 'ALL_OR_NOTHING',
          message: `federation is forbidden for ${s.id}, so it is admitted whole or not at all`,
          data: { federationAllowed: false },
        });
      }
      if (reasons.some((r) => r.code !== 'ALL_OR_NOTHING' && r.code !== 'AFFINITY_RULE_GROUP')) return reasons;
      if (!s.federationAllowed && !ev.fullyAccepted) {
        // All or nothing: the meaningful what-if is the whole service at its minimum, not one component.
        reasons.push((serviceWhatIf[a] ??= wholeServiceWhatIf(model, allocation, verification, a, holders(a))));
        return reasons;
      }

      // What-if: the next step (one more VM, or the basic VMs) on the residual capacity, re-verified.
      const excluded = excludedHosts(model, allocation, a, i);
      const step = nextStep(model, allocation, a, i, residual, count, new Set(excluded));
      if (!step) {
        const heldBy = holders(a);
        reasons.push({
          code: 'CAPACITY_IN_USE',
          message:
            `no free host can take ${count} more VM(s) of ${c.vcpus} CPU(s)${mem ? ` and ${fmt(mem)} MB` : ''} for ${c.id}` +
            (excluded.size ? ` (${excluded.size} host(s) excluded by anti-affinity)` : '') +
            `: ${fmt(residualTotal)} CPUs remain free (largest host ${fmt(residualLargest)}); the rest is held by ` +
            (heldBy.length ? `${heldBy.join(', ')} and ` : '') +
            `${s.id} itself`,
          data: { vmsNeeded: count, vcpus: c.vcpus, freeCpusLeft: residualTotal, largestFreeHostCpus: residualLargest, excludedHosts: excluded.size, heldBy },
        });
        return reasons;
      }
      const after = verify(model, step);
      if (!after.feasible) {
        const v = after.violations.find((x) => x.service === s.id) ?? after.violations[0]!;
        reasons.push({
          code: 'CONSTRAINT',
          message: `${accepted ? 'one more local VM' : 'admitting it locally'} would violate ${v.constraint}: ${v.message}`,
          data: { constraint: v.constraint },
        });
        return reasons;
      }
      const delta = after.objective - verification.objective;
      reasons.push(
        delta <= 1e-9
          ? {
              code: 'OBJECTIVE',
              message: `${accepted ? 'one more local VM' : 'admitting it locally'} fits but would change the objective by ${delta.toFixed(4)}`,
              data: { objectiveDelta: delta },
            }
          : {
              code: 'NOT_IMPROVED',
              message: `${accepted ? 'one more local VM' : 'admitting it locally'} fits and would raise the objective by ${delta.toFixed(4)}; the solver did not find it within its limits`,
              data: { objectiveDelta: delta },
            },
      );
      return reasons;
    });
  });

  function trec(metric: string, value: number, bound: number, op: string): Reason {
    return {
      code: 'TREC_BOUND',
      message: `service ${metric} ${fmt(value)} does not meet the bound ${op} ${fmt(bound)}, so the service may not be fully accepted`,
      data: { metric, value, bound },
    };
  }
}

/** Local VMs a component needs at least when accepted without federation (basic, availability target). */
function minimumLocal(c: AdmissionModel['services'][number]['components'][number]): number {
  let n = c.basic;
  if (c.antiAffinity !== 2) n = Math.max(n, Math.ceil(c.basic - 1 + c.availability * (c.maxVms - c.basic + 1) - 1e-9));
  if (c.affinity === 2) n = Math.max(n, 1);
  return n;
}

/**
 * What-if for a federation-forbidden service that was not admitted: every component at its minimum on the
 * residual capacity, then re-verified. Says whether it does not fit, breaks a constraint, or does not pay.
 */
function wholeServiceWhatIf(model: AdmissionModel, allocation: Allocation, verification: Verification, a: number, heldBy: string[]): Reason {
  const s = model.services[a]!;
  let trial: Allocation = allocation;
  for (let i = 0; i < s.components.length; i++) {
    const count = minimumLocal(s.components[i]!);
    if (count === 0) {
      trial = { services: trial.services.map((comps, b) => (b === a ? comps.map((ca, k) => (k === i ? { ...ca, acceptedLocally: true } : ca)) : comps)) };
      continue;
    }
    const next = nextStep(model, trial, a, i, residualCapacity(model, trial), count, excludedHosts(model, trial, a, i));
    if (!next) {
      const c = s.components[i]!;
      const left = residualCapacity(model, allocation).freeCpus;
      const freeCpusLeft = left.reduce((t, v) => t + v, 0);
      const largestFreeHostCpus = largest(left);
      return {
        code: 'CAPACITY_IN_USE',
        message:
          `admitting ${s.id} whole needs ${count} VM(s) of ${c.vcpus} CPU(s) for ${c.id} next to its other components, ` +
          `but only ${fmt(freeCpusLeft)} CPUs remain free (largest host ${fmt(largestFreeHostCpus)}); capacity is held by ${heldBy.join(', ') || 'no other service'}`,
        data: { component: c.id, vmsNeeded: count, vcpus: c.vcpus, freeCpusLeft, largestFreeHostCpus, heldBy },
      };
    }
    trial = next;
  }
  const after = verify(model, trial);
  if (!after.feasible) {
    const v = after.violations.find((x) => x.service === s.id) ?? after.violations[0]!;
    return { code: 'CONSTRAINT', message: `admitting ${s.id} whole would violate ${v.constraint}: ${v.message}`, data: { constraint: v.constraint } };
  }
  const delta = after.objective - verification.objective;
  return delta <= 1e-9
    ? { code: 'OBJECTIVE', message: `admitting ${s.id} whole fits but would change the objective by ${delta.toFixed(4)}`, data: { objectiveDelta: delta } }
    : {
        code: 'NOT_IMPROVED',
        message: `admitting ${s.id} whole fits and would raise the objective by ${delta.toFixed(4)}; the solver did not find it within its limits`,
        data: { objectiveDelta: delta },
      };
}

/** CPUs a same-host group needs when component `id` runs `vms` VMs and the other members keep theirs. */
function groupDemand(model: AdmissionModel, a: number, id: string, vms: number): number {
  const s = model.services[a]!;
  const members = new Set([id]);
  for (const r of s.rules) if (r.kind === 'affinity' && r.level === 2 && r.members.includes(id)) r.members.forEach((m) => members.add(m));
  let cpus = 0;
  s.components.forEach((c) => {
    if (!members.has(c.id)) return;
    const n = c.id === id ? vms : Math.max(c.basic, 1);
    cpus += n * c.vcpus;
  });
  return cpus;
}

/**
 * The allocation with the component's next step placed on residual capacity, honouring its placement
 * rules; φ is trimmed so X + φ stays within the maximum. Null when no host can take it.
 */
/** Hosts the component may not use for another VM: its own (one VM per host) and its anti-affinity partners'. */
function excludedHosts(model: AdmissionModel, allocation: Allocation, a: number, i: number): Set<number> {
  const s = model.services[a]!;
  const c = s.components[i]!;
  const excluded = new Set<number>();
  if (c.antiAffinity === 1) allocation.services[a]![i]!.placements.forEach((p) => p.vms > 0 && excluded.add(p.hostIndex));
  for (const rule of s.rules) {
    if (rule.kind !== 'antiAffinity' || rule.level !== 1 || !rule.members.includes(c.id)) continue;
    s.components.forEach((o, k) => {
      if (o.id !== c.id && rule.members.includes(o.id)) allocation.services[a]![k]!.placements.forEach((p) => p.vms > 0 && excluded.add(p.hostIndex));
    });
  }
  return excluded;
}

function nextStep(model: AdmissionModel, allocation: Allocation, a: number, i: number, r: Residual, count: number, excluded: Set<number>): Allocation | null {
  const s = model.services[a]!;
  const c = s.components[i]!;
  const current = allocation.services[a]![i]!;
  const mem = c.memoryMb ?? 0;
  const mine = new Set(current.placements.filter((p) => p.vms > 0).map((p) => p.hostIndex));
  const added = new Map<number, number>();
  const free = { freeCpus: Float64Array.from(r.freeCpus), freeMemoryMb: Float64Array.from(r.freeMemoryMb) };
  const sameHost = c.affinity === 2 || s.rules.some((x) => x.kind === 'affinity' && x.level === 2 && x.members.includes(c.id));
  if (sameHost && mine.size > 0) {
    const j = [...mine][0]!;
    if (free.freeCpus[j]! < count * c.vcpus || free.freeMemoryMb[j]! < count * mem) return null;
    added.set(j, count);
  } else {
    for (let v = 0; v < count; v++) {
      const candidates = hostsHolding(free, sameHost ? count * c.vcpus : c.vcpus, sameHost ? count * mem : mem, excluded);
      if (candidates.length === 0) return null;
      const j = candidates.reduce((best, k) => (free.freeCpus[k]! < free.freeCpus[best]! ? k : best));
      const n = sameHost ? count : 1;
      added.set(j, (added.get(j) ?? 0) + n);
      free.freeCpus[j]! -= n * c.vcpus;
      free.freeMemoryMb[j]! -= n * mem;
      if (c.antiAffinity === 1) excluded.add(j);
      if (sameHost) break;
    }
  }
  const placements = new Map(current.placements.map((p) => [p.hostIndex, p.vms]));
  for (const [j, n] of added) placements.set(j, (placements.get(j) ?? 0) + n);
  const localVms = [...placements.values()].reduce((t, n) => t + n, 0);
  const federatedVms = s.federationAllowed ? Math.max(0, Math.min(current.federatedVms, c.maxVms - localVms)) : 0;
  const changed: ComponentAllocation = {
    acceptedLocally: true,
    placements: [...placements.entries()].map(([hostIndex, vms]) => ({ hostIndex, vms })),
    federatedVms,
  };
  return {
    services: allocation.services.map((comps, b) => (b === a ? comps.map((ca, k) => (k === i ? changed : ca)) : comps)),
  };
}
