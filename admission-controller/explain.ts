/**
 * Reasons, as values, for every component that runs fewer than its maximum VMs locally: static limits of
 * the fleet, rules, TREC bounds, capacity taken by other services, or the objective. Uses only the model,
 * the allocation and the verifier (a what-if: "one more VM here" re-verified), never a solver.
 * Costs O(placements + the service's size) per what-if, never O(hosts): fleet facts are kept per frozen host list.
 */
import type { AdmissionModel, Allocation, ComponentAllocation, Host, HostPlacement, Rule } from '../model/types';
import { hostCapacities, isDeepFrozenHostList } from '../model/validate';
import type { Verification } from './verification';
import { ChangeVerifier } from './verifier';

export type ReasonCode =
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

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
  readonly data: Readonly<Record<string, number | string | boolean | readonly string[]>>;
}

// ---------------------------------------------------------------------------------------------
// The fleet before anything is placed: free capacity per host, with an index for best-fit queries.

/** Largest free-CPU value grouped with a plain counting array. */
const DENSE_CPU_VALUES = 1 << 20;

/**
 * Initial free capacity (as the original residual arrays held it) and what explanations ask of it: totals, counts of
 * hosts able to hold a VM, and hosts grouped by free CPUs (ascending; each group in host order) for best fit.
 */
class Fleet {
  readonly freeCpus: Float64Array;
  readonly freeMemoryMb: Float64Array;
  readonly total: number;
  readonly largest: number;
  /** Distinct free-CPU values, ascending; group g holds hosts[groupStart[g] .. groupStart[g + 1]). */
  readonly values: number[];
  readonly groupStart: Int32Array;
  readonly hosts: Int32Array;
  /** Per host: its group and its position in `hosts`. */
  readonly groupOf: Int32Array;
  readonly positionOf: Int32Array;
  private readonly holdingMemo = new Map<string, number>();

  constructor(list: readonly Host[]) {
    const n = list.length;
    // The validated list's capacities (typed arrays), not a second walk over every host object.
    const source = hostCapacities(list);
    this.freeCpus = new Float64Array(n);
    this.freeMemoryMb = source.freeMemoryMb;
    let total = 0;
    let largest = 0;
    for (let j = 0; j < n; j++) {
      const cpus = (this.freeCpus[j] = Math.max(0, source.freeCpus[j]!));
      total += cpus;
      largest = Math.max(largest, cpus);
    }
    this.total = total;
    this.largest = largest;
    // Free CPUs are integers (validated) and rarely large: a counting sort by value, with a Map beyond.
    const dense = largest <= DENSE_CPU_VALUES;
    const countOf = dense ? new Int32Array(largest + 1) : null;
    const counts = new Map<number, number>();
    for (let j = 0; j < n; j++) {
      const v = this.freeCpus[j]!;
      if (countOf) countOf[v]!++;
      else counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    if (countOf) countOf.forEach((c, v) => c > 0 && counts.set(v, c));
    this.values = [...counts.keys()].sort((p, q) => p - q);
    this.groupStart = new Int32Array(this.values.length + 1);
    const next = dense ? new Int32Array(largest + 1) : null;
    const nextOf = new Map<number, number>();
    this.values.forEach((v, g) => {
      if (next) next[v] = this.groupStart[g]!;
      else nextOf.set(v, this.groupStart[g]!);
      this.groupStart[g + 1] = this.groupStart[g]! + counts.get(v)!;
    });
    this.hosts = new Int32Array(n);
    this.positionOf = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const v = this.freeCpus[j]!;
      let at: number;
      if (next) at = next[v]!++;
      else {
        at = nextOf.get(v)!;
        nextOf.set(v, at + 1);
      }
      this.hosts[at] = j;
      this.positionOf[j] = at;
    }
    this.groupOf = new Int32Array(n);
    for (let g = 0; g < this.values.length; g++) for (let k = this.groupStart[g]!; k < this.groupStart[g + 1]!; k++) this.groupOf[this.hosts[k]!] = g;
  }

  /** Hosts that can hold one VM of this size with nothing placed. */
  holding(cpus: number, memoryMb: number): number {
    const key = `${cpus}/${memoryMb}`;
    let n = this.holdingMemo.get(key);
    if (n === undefined) {
      n = 0;
      for (let g = this.firstGroup(cpus); g < this.values.length; g++) {
        for (let k = this.groupStart[g]!; k < this.groupStart[g + 1]!; k++) if (this.freeMemoryMb[this.hosts[k]!]! >= memoryMb) n++;
      }
      this.holdingMemo.set(key, n);
    }
    return n;
  }

  /** First group whose value is ≥ cpus. */
  firstGroup(cpus: number): number {
    let lo = 0;
    let hi = this.values.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.values[mid]! >= cpus) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Fleets of frozen host lists (a gateway's admissions share one: trec-analyzer's HostModelMemo). */
const fleets = new WeakMap<readonly Host[], Fleet>();

function fleetOf(hosts: readonly Host[]): Fleet {
  const cached = fleets.get(hosts);
  if (cached) return cached;
  const fleet = new Fleet(hosts);
  // Only a frozen list of frozen hosts cannot change under the cached facts.
  if (isDeepFrozenHostList(hosts)) fleets.set(hosts, fleet);
  return fleet;
}

/** One component's VMs on one host, in the order the original residual arrays subtracted them. */
interface HostUser {
  readonly a: number;
  readonly i: number;
  readonly vms: number;
}

/**
 * Free capacity left by an allocation: the fleet's, except on the hosts the allocation uses, whose values are kept
 * apart and computed by subtracting their users in allocation order (services, components, placements), as a full
 * per-host array was, so that every value is the same to the bit. Hosts of one service can be re-placed (what-ifs).
 */
class Residual {
  private readonly users = new Map<number, HostUser[]>();
  private readonly cpus = new Map<number, number>();
  private readonly memory = new Map<number, number>();
  /** The hosts kept apart, by free CPUs, and those values ascending: best fit visits few of them. */
  private readonly byValue = new Map<number, Set<number>>();
  private readonly values: number[] = [];
  /** Per fleet group: a position before which every host is kept apart (best fit starts its scan there). */
  private readonly cursors = new Map<number, number>();

  constructor(
    readonly fleet: Fleet,
    private readonly model: AdmissionModel,
    allocation?: Allocation,
  ) {
    allocation?.services.forEach((comps, a) =>
      comps.forEach((ca, i) => {
        for (const p of ca.placements) this.usersOf(p.hostIndex).push({ a, i, vms: p.vms });
      }),
    );
    for (const j of this.users.keys()) this.recompute(j);
  }

  clone(): Residual {
    const copy = new Residual(this.fleet, this.model);
    for (const [j, list] of this.users) copy.users.set(j, list.slice());
    for (const [j, v] of this.cpus) copy.cpus.set(j, v);
    for (const [j, v] of this.memory) copy.memory.set(j, v);
    for (const [v, set] of this.byValue) copy.byValue.set(v, new Set(set));
    copy.values.push(...this.values);
    for (const [g, k] of this.cursors) copy.cursors.set(g, k);
    return copy;
  }

  /** The first position of fleet group g that may hold a host not kept apart. */
  firstUnchanged(g: number): number {
    const f = this.fleet;
    let k = this.cursors.get(g) ?? f.groupStart[g]!;
    while (k < f.groupStart[g + 1]! && this.users.has(f.hosts[k]!)) k++;
    this.cursors.set(g, k);
    return k;
  }

  /**
   * The kept-apart host with the fewest free CPUs ≥ cpus (lowest index among equals) that passes `usable`, or −1.
   * Only values up to `atMost` are visited.
   */
  bestChanged(cpus: number, atMost: number, usable: (j: number) => boolean): number {
    const values = this.values;
    for (let k = lowerBound(values, cpus); k < values.length && values[k]! <= atMost; k++) {
      let found = -1;
      for (const j of this.byValue.get(values[k]!)!) if ((found < 0 || j < found) && usable(j)) found = j;
      if (found >= 0) return found;
    }
    return -1;
  }

  freeCpus(j: number): number {
    return this.cpus.get(j) ?? this.fleet.freeCpus[j]!;
  }

  freeMemoryMb(j: number): number {
    return this.memory.get(j) ?? this.fleet.freeMemoryMb[j]!;
  }

  /** Hosts whose value differs from the fleet's (possibly): every host with a placement. */
  changedHosts(): IterableIterator<number> {
    return this.users.keys();
  }

  isChanged(j: number): boolean {
    return this.users.has(j);
  }

  /** Σ of free CPUs over all hosts. CPU counts are integers, so the sum is exact in any order. */
  totalCpus(): number {
    let t = this.fleet.total;
    for (const j of this.users.keys()) t += this.cpus.get(j)! - this.fleet.freeCpus[j]!;
    return t;
  }

  /** The largest free CPUs of any host (0 when none is free). */
  largestCpus(): number {
    let m = 0;
    for (const j of this.users.keys()) m = Math.max(m, this.cpus.get(j)!);
    const f = this.fleet;
    // The largest group with a host the allocation does not use.
    for (let g = f.values.length - 1; g >= 0 && f.values[g]! > m; g--) {
      for (let k = f.groupStart[g]!; k < f.groupStart[g + 1]!; k++) {
        if (!this.users.has(f.hosts[k]!)) return Math.max(m, f.values[g]!);
      }
    }
    return m;
  }

  /** Replaces component (a, i)'s placements (a what-if for one service). */
  place(a: number, i: number, old: readonly HostPlacement[], placements: readonly HostPlacement[]): void {
    const touched = new Set<number>();
    for (const p of old) {
      const list = this.users.get(p.hostIndex);
      if (!list) continue;
      const kept = list.filter((u) => u.a !== a || u.i !== i);
      if (kept.length) this.users.set(p.hostIndex, kept);
      else this.users.delete(p.hostIndex);
      touched.add(p.hostIndex);
    }
    for (const p of placements) {
      const list = this.usersOf(p.hostIndex);
      // Users stay in allocation order: (a, i) goes after every user that comes before it.
      let at = list.length;
      while (at > 0 && (list[at - 1]!.a > a || (list[at - 1]!.a === a && list[at - 1]!.i > i))) at--;
      list.splice(at, 0, { a, i, vms: p.vms });
      touched.add(p.hostIndex);
    }
    for (const j of touched) {
      if (this.users.has(j)) this.recompute(j);
      else {
        this.unindex(j);
        this.cpus.delete(j);
        this.memory.delete(j);
        // The host is the fleet's again: its group's scan must not start past it.
        const g = this.fleet.groupOf[j]!;
        const cursor = this.cursors.get(g);
        if (cursor !== undefined) this.cursors.set(g, Math.min(cursor, this.fleet.positionOf[j]!));
      }
    }
  }

  private unindex(j: number): void {
    const v = this.cpus.get(j);
    if (v === undefined) return;
    const set = this.byValue.get(v)!;
    set.delete(j);
    if (set.size === 0) {
      this.byValue.delete(v);
      this.values.splice(lowerBound(this.values, v), 1);
    }
  }

  private index(j: number, v: number): void {
    let set = this.byValue.get(v);
    if (!set) {
      this.byValue.set(v, (set = new Set()));
      this.values.splice(lowerBound(this.values, v), 0, v);
    }
    set.add(j);
  }

  private usersOf(j: number): HostUser[] {
    let list = this.users.get(j);
    if (!list) this.users.set(j, (list = []));
    return list;
  }

  private recompute(j: number): void {
    let cpus = this.fleet.freeCpus[j]!;
    let memory = this.fleet.freeMemoryMb[j]!;
    for (const u of this.users.get(j)!) {
      const c = this.model.services[u.a]!.components[u.i]!;
      cpus -= c.vcpus * u.vms;
      memory -= (c.memoryMb ?? 0) * u.vms;
    }
    this.unindex(j);
    this.cpus.set(j, cpus);
    this.memory.set(j, memory);
    this.index(j, cpus);
  }
}

/** First position in an ascending array whose value is ≥ v. */
function lowerBound(values: readonly number[], v: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A residual with a few more VMs taken, for one what-if step (the original copied every host's capacity). */
class Scratch {
  readonly cpus = new Map<number, number>();
  readonly memory = new Map<number, number>();

  constructor(readonly base: Residual) {}

  freeCpus(j: number): number {
    return this.cpus.get(j) ?? this.base.freeCpus(j);
  }

  freeMemoryMb(j: number): number {
    return this.memory.get(j) ?? this.base.freeMemoryMb(j);
  }

  take(j: number, cpus: number, memoryMb: number): void {
    this.cpus.set(j, this.freeCpus(j) - cpus);
    this.memory.set(j, this.freeMemoryMb(j) - memoryMb);
  }

  /**
   * Best fit: among hosts with ≥ cpus and ≥ memoryMb free and not excluded, the one with the fewest free CPUs, the
   * lowest index among equals (as a scan over every host keeping the first minimum). −1 when none.
   */
  bestFit(cpus: number, memoryMb: number, excluded: ReadonlySet<number>): number {
    let best = -1;
    let bestCpus = Infinity;
    const consider = (j: number): void => {
      if (excluded.has(j)) return;
      const free = this.freeCpus(j);
      if (free < cpus || this.freeMemoryMb(j) < memoryMb) return;
      if (free < bestCpus || (free === bestCpus && j < best)) {
        best = j;
        bestCpus = free;
      }
    };
    // Hosts this step already took from: their scratch values.
    for (const j of this.cpus.keys()) consider(j);
    // Hosts the allocation uses, not touched by this step: their residual values, through the residual's index.
    const changed = this.base.bestChanged(cpus, bestCpus, (j) => !this.cpus.has(j) && !excluded.has(j) && this.base.freeMemoryMb(j) >= memoryMb);
    if (changed >= 0) consider(changed);
    // Hosts nobody uses keep their fleet value: the first usable one in the lowest group that can hold the VM.
    const f = this.base.fleet;
    for (let g = f.firstGroup(cpus); g < f.values.length && f.values[g]! <= bestCpus; g++) {
      for (let k = this.base.firstUnchanged(g); k < f.groupStart[g + 1]!; k++) {
        const j = f.hosts[k]!;
        if (f.values[g] === bestCpus && j > best) break;
        if (this.base.isChanged(j) || this.cpus.has(j) || excluded.has(j) || f.freeMemoryMb[j]! < memoryMb) continue;
        best = j;
        bestCpus = f.values[g]!;
        break;
      }
      if (best >= 0 && bestCpus === f.values[g]) break;
    }
    return best;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-service facts, computed once per explanation instead of once per component.

class ServiceFacts {
  /** Per component: the rules naming it, in rule order. */
  readonly rulesOf: Rule[][];
  /** Per component: it shares a host with its group (High affinity, itself or by a rule). */
  readonly sameHost: boolean[];
  /** Per component: members of its Medium anti-affinity rules (other components), whose hosts it avoids. */
  readonly partners: number[][];
  private readonly groupOthers = new Map<number, number>();
  private readonly index: Map<string, number>;

  constructor(
    private readonly model: AdmissionModel,
    private readonly a: number,
  ) {
    const s = model.services[a]!;
    const index = (this.index = new Map(s.components.map((c, i) => [c.id, i])));
    this.rulesOf = s.components.map(() => []);
    const partners = s.components.map(() => new Set<number>());
    this.sameHost = s.components.map((c) => c.affinity === 2);
    for (const rule of s.rules) {
      const members = rule.members.map((m) => index.get(m)).filter((i): i is number => i !== undefined);
      for (const i of members) {
        this.rulesOf[i]!.push(rule);
        if (rule.kind === 'affinity' && rule.level === 2) this.sameHost[i] = true;
        if (rule.kind === 'antiAffinity' && rule.level === 1) for (const k of members) if (k !== i) partners[i]!.add(k);
      }
    }
    this.partners = partners.map((p) => [...p]);
  }

  antiAffinityMedium(i: number): boolean {
    return this.model.services[this.a]!.components[i]!.antiAffinity === 1;
  }

  /** CPUs a same-host group needs when component i runs `vms` VMs and the other members keep max(basic, 1). */
  groupDemand(i: number, vms: number): number {
    const s = this.model.services[this.a]!;
    let others = this.groupOthers.get(i);
    if (others === undefined) {
      const members = new Set<number>();
      for (const r of this.rulesOf[i]!) {
        if (r.kind !== 'affinity' || r.level !== 2) continue;
        for (const m of r.members) {
          const k = this.index.get(m);
          if (k !== undefined && k !== i) members.add(k);
        }
      }
      others = 0;
      for (const k of members) others += Math.max(s.components[k]!.basic, 1) * s.components[k]!.vcpus;
      this.groupOthers.set(i, others);
    }
    // Integer CPU counts: the sum does not depend on the order the components are added in.
    return others + vms * s.components[i]!.vcpus;
  }
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

export function explainComponents(model: AdmissionModel, allocation: Allocation, verification: Verification): Reason[][][] {
  // The common answer, everything at its maximum, needs no fleet-wide figures.
  const atMaximum = model.services.every((s, a) => s.components.every((c, i) => verification.services[a]!.components[i]!.localVms >= c.maxVms));
  if (atMaximum) return model.services.map((s) => s.components.map(() => []));
  const fleet = fleetOf(model.hosts);
  const residual = new Residual(fleet, model, allocation);
  const judge = new ChangeVerifier(model, allocation, verification);
  const totalFree = fleet.total;
  const largestFree = fleet.largest;
  const residualTotal = residual.totalCpus();
  const residualLargest = residual.largestCpus();
  const holders = (a: number): string[] =>
    model.services.filter((_, b) => b !== a && verification.services[b]!.localVms > 0).map((s) => s.id);

  const serviceWhatIf: Reason[] = [];
  return model.services.map((s, a) => {
    const ev = verification.services[a]!;
    if (s.components.every((c, i) => ev.components[i]!.localVms >= c.maxVms)) return s.components.map(() => []);
    const facts = new ServiceFacts(model, a);
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
      for (const rule of facts.rulesOf[i]!) {
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
      const sameHost = facts.sameHost[i]!;
      const groupCpus = sameHost ? facts.groupDemand(i, accepted ? ce.localVms + 1 : Math.max(1, c.basic)) : 0;
      if (sameHost && groupCpus > largestFree) {
        reasons.push({
          code: 'HOST_TOO_SMALL',
          message: `High affinity needs ${fmt(groupCpus)} CPUs on one host; the largest free host has ${fmt(largestFree)}`,
          data: { neededCpusOnOneHost: groupCpus, largestFreeHostCpus: largestFree },
        });
      }
      if (c.antiAffinity === 1) {
        const need = accepted ? ce.localVms + 1 : Math.max(1, c.basic);
        const able = fleet.holding(c.vcpus, mem);
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
        reasons.push((serviceWhatIf[a] ??= wholeServiceWhatIf(model, allocation, verification, judge, residual, facts, a, holders(a))));
        return reasons;
      }

      // What-if: the next step (one more VM, or the basic VMs) on the residual capacity, re-verified.
      const excluded = excludedHosts(allocation.services[a]!, facts, i, new Map());
      const step = nextStep(model, allocation.services[a]![i]!, facts, a, i, residual, count, new Set(excluded));
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
      const after = judge.verifyChange(a, new Map([[i, step]]));
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
function wholeServiceWhatIf(
  model: AdmissionModel,
  allocation: Allocation,
  verification: Verification,
  judge: ChangeVerifier,
  base: Residual,
  facts: ServiceFacts,
  a: number,
  heldBy: string[],
): Reason {
  const s = model.services[a]!;
  const original = allocation.services[a]!;
  // The trial: this service's changed components over the allocation, and the capacity they leave.
  const changes = new Map<number, ComponentAllocation>();
  const residual = base.clone();
  for (let i = 0; i < s.components.length; i++) {
    const current = changes.get(i) ?? original[i]!;
    const count = minimumLocal(s.components[i]!);
    if (count === 0) {
      changes.set(i, { ...current, acceptedLocally: true });
      continue;
    }
    const next = nextStep(model, current, facts, a, i, residual, count, excludedHosts(original, facts, i, changes));
    if (!next) {
      const c = s.components[i]!;
      // What the allocation itself leaves free (the trial's own VMs aside).
      const freeCpusLeft = base.totalCpus();
      const largestFreeHostCpus = base.largestCpus();
      return {
        code: 'CAPACITY_IN_USE',
        message:
          `admitting ${s.id} whole needs ${count} VM(s) of ${c.vcpus} CPU(s) for ${c.id} next to its other components, ` +
          `but only ${fmt(freeCpusLeft)} CPUs remain free (largest host ${fmt(largestFreeHostCpus)}); capacity is held by ${heldBy.join(', ') || 'no other service'}`,
        data: { component: c.id, vmsNeeded: count, vcpus: c.vcpus, freeCpusLeft, largestFreeHostCpus, heldBy },
      };
    }
    residual.place(a, i, current.placements, next.placements);
    changes.set(i, next);
  }
  const after = judge.verifyChange(a, changes);
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

/**
 * Hosts the component may not use for another VM: its own (one VM per host) and its anti-affinity partners'.
 * `changes` holds components of the service already re-placed by a what-if.
 */
function excludedHosts(
  service: readonly ComponentAllocation[],
  facts: ServiceFacts,
  i: number,
  changes: ReadonlyMap<number, ComponentAllocation>,
): Set<number> {
  const excluded = new Set<number>();
  const of = (k: number): ComponentAllocation => changes.get(k) ?? service[k]!;
  if (facts.antiAffinityMedium(i)) of(i).placements.forEach((p) => p.vms > 0 && excluded.add(p.hostIndex));
  for (const k of facts.partners[i]!) of(k).placements.forEach((p) => p.vms > 0 && excluded.add(p.hostIndex));
  return excluded;
}

/**
 * The component's allocation with its next step placed on the residual capacity, honouring its placement
 * rules; φ is trimmed so X + φ stays within the maximum. Null when no host can take it.
 */
function nextStep(
  model: AdmissionModel,
  current: ComponentAllocation,
  facts: ServiceFacts,
  a: number,
  i: number,
  r: Residual,
  count: number,
  excluded: Set<number>,
): ComponentAllocation | null {
  const s = model.services[a]!;
  const c = s.components[i]!;
  const mem = c.memoryMb ?? 0;
  const mine = new Set(current.placements.filter((p) => p.vms > 0).map((p) => p.hostIndex));
  const added = new Map<number, number>();
  const free = new Scratch(r);
  const sameHost = facts.sameHost[i]!;
  if (sameHost && mine.size > 0) {
    const j = [...mine][0]!;
    if (free.freeCpus(j) < count * c.vcpus || free.freeMemoryMb(j) < count * mem) return null;
    added.set(j, count);
  } else {
    for (let v = 0; v < count; v++) {
      const j = free.bestFit(sameHost ? count * c.vcpus : c.vcpus, sameHost ? count * mem : mem, excluded);
      if (j < 0) return null;
      const n = sameHost ? count : 1;
      added.set(j, (added.get(j) ?? 0) + n);
      free.take(j, n * c.vcpus, n * mem);
      if (c.antiAffinity === 1) excluded.add(j);
      if (sameHost) break;
    }
  }
  const placements = new Map(current.placements.map((p) => [p.hostIndex, p.vms]));
  for (const [j, n] of added) placements.set(j, (placements.get(j) ?? 0) + n);
  const localVms = [...placements.values()].reduce((t, n) => t + n, 0);
  const federatedVms = s.federationAllowed ? Math.max(0, Math.min(current.federatedVms, c.maxVms - localVms)) : 0;
  return {
    acceptedLocally: true,
    placements: [...placements.entries()].map(([hostIndex, vms]) => ({ hostIndex, vms })),
    federatedVms,
  };
}
