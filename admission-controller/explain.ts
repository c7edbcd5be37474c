/**
 * The one place that decides why a component runs fewer than its maximum VMs locally, from the final model, the
 * verified allocation and what the ledger holds (DecisionContext). Reasons are built by admission-controller/reasons.ts
 * (the catalogue); this file decides which apply, by peeling capacity off in layers and naming the first layer
 * without which the next step would fit:
 *
 * 0. for a component with capability requirements (or in a same-value rule): the hosts it may use, with their free
 *    capacity now: CAPABILITY_UNAVAILABLE (none qualifies), CAPABILITY_SCARCE (those that do cannot hold the step even
 *    alone). Past this layer the step fits on its qualifying hosts, so the fleet-wide layers 1–3 cannot fire for it, and
 *    every what-if of layers 4–5 places it on qualifying hosts only;
 * 1. the fleet's hosts in total (no usage at all): VM_LARGER_THAN_ANY_HOST, AFFINITY_GROUP_TOO_BIG;
 * 2. the fleet's free capacity with bookings aside (host-info's own usage only): HOST_TOO_SMALL, NOT_ENOUGH_HOSTS,
 *    INSUFFICIENT_CAPACITY;
 * 3. the free capacity of the model (bookings taken): CAPACITY_IN_USE, naming the admissions holding it;
 * 4. what this allocation leaves (the other VMs of this admission and the component's rules): EXCLUDED_BY_RULE,
 *    CAPACITY_TAKEN_BY_THIS_ADMISSION;
 * 5. it fits: a what-if ("one more VM", "admitted locally", "the whole service") re-verified: CONSTRAINT, OBJECTIVE,
 *    NOT_IMPROVED.
 *
 * A step whose VM count the availability target raised is tried again with fewer VMs at the layer that stopped it:
 * when those fit, AVAILABILITY_FORCES_VMS says so. Whatever none of this establishes is NOT_DETERMINED.
 *
 * Steps 1–3 for one component are exact (identical VMs: counts per host); placements of several components at once
 * (a whole service) use best fit, and their reasons say so. Costs O(placements + the service's size) per component,
 * never O(hosts): fleet facts are kept per frozen host list, bookings are visited per booked host.
 */
import { capabilityPlan, requirementText, satisfies, valueCounts, type CapabilityPlan } from '../model/capabilities';
import type { AdmissionModel, Allocation, ComponentAllocation, Host, HostPlacement, Rule, Service } from '../model/types';
import { hostCapacities, isDeepFrozenHostList } from '../model/validate';
import type { DecisionContext } from './decisions';
import * as R from './reasons';
import type { Reason, ReasonValue, TooSmall } from './reasons';
import type { Verification } from './verification';
import { ChangeVerifier } from './verifier';

export type { Reason, ReasonCode, ReasonValue } from './reasons';

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
  /** Some host carries memory (a second capacity); every host does. */
  readonly hasMemory: boolean;
  readonly allMemory: boolean;
  private readonly holdingMemo = new Map<string, number>();
  private readonly slotsMemo = new Map<string, number>();
  private readonly withMemoryMemo = new Map<number, number>();
  private largestTotal: number | undefined;
  private largestMemory_: number | undefined;
  private totalMemory_: number | undefined;
  private ids: Map<string, number> | undefined;

  constructor(private readonly list: readonly Host[]) {
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
    let some = false;
    let all = true;
    for (let j = 0; j < n; j++) {
      if (this.freeMemoryMb[j] === Infinity) all = false;
      else some = true;
    }
    this.hasMemory = some;
    this.allMemory = all && n > 0;
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
      const first = this.firstGroup(cpus);
      if (memoryMb <= 0 || !this.hasMemory) n = this.groupStart[this.values.length]! - this.groupStart[first]!;
      else {
        n = 0;
        for (let g = first; g < this.values.length; g++) {
          for (let k = this.groupStart[g]!; k < this.groupStart[g + 1]!; k++) if (this.freeMemoryMb[this.hosts[k]!]! >= memoryMb) n++;
        }
      }
      this.holdingMemo.set(key, n);
    }
    return n;
  }

  /** VMs of this size the free capacity holds, every host filled on its own: Σ min(⌊cpus/v⌋, ⌊memory/m⌋). */
  slots(cpus: number, memoryMb: number): number {
    const key = `${cpus}/${memoryMb}`;
    let n = this.slotsMemo.get(key);
    if (n === undefined) {
      n = 0;
      for (let g = this.firstGroup(cpus); g < this.values.length; g++) {
        const per = Math.floor(this.values[g]! / cpus);
        if (memoryMb <= 0 || !this.hasMemory) n += per * (this.groupStart[g + 1]! - this.groupStart[g]!);
        else for (let k = this.groupStart[g]!; k < this.groupStart[g + 1]!; k++) n += slotsOf(this.values[g]!, this.freeMemoryMb[this.hosts[k]!]!, cpus, memoryMb);
      }
      this.slotsMemo.set(key, n);
    }
    return n;
  }

  /** The most free CPUs of a host with at least this much free memory (0 when none has). */
  maxCpusWithMemory(memoryMb: number): number {
    let best = this.withMemoryMemo.get(memoryMb);
    if (best === undefined) {
      best = 0;
      for (let g = this.values.length - 1; g >= 0 && best === 0; g--) {
        for (let k = this.groupStart[g]!; k < this.groupStart[g + 1]!; k++) {
          if (this.freeMemoryMb[this.hosts[k]!]! >= memoryMb) {
            best = this.values[g]!;
            break;
          }
        }
      }
      this.withMemoryMemo.set(memoryMb, best);
    }
    return best;
  }

  /** The largest host's CPUs in total, usage aside (read from the host objects once, only when a reason needs it). */
  largestTotalCpus(): number {
    if (this.largestTotal === undefined) {
      let m = 0;
      for (const h of this.list) if (h.cpus > m) m = h.cpus;
      this.largestTotal = m;
    }
    return this.largestTotal;
  }

  totalCpusOf(j: number): number {
    return this.list[j]!.cpus;
  }

  idOf(j: number): string {
    return this.list[j]!.id;
  }

  /** The most free memory of a host (Infinity when a host does not carry memory). */
  largestMemoryMb(): number {
    if (this.largestMemory_ === undefined) {
      let m = 0;
      for (let j = 0; j < this.freeMemoryMb.length; j++) if (this.freeMemoryMb[j]! > m) m = this.freeMemoryMb[j]!;
      this.largestMemory_ = m;
    }
    return this.largestMemory_;
  }

  /** Σ of free memory; meaningful only when every host carries memory. */
  totalMemoryMb(): number {
    if (this.totalMemory_ === undefined) {
      let t = 0;
      for (let j = 0; j < this.freeMemoryMb.length; j++) t += this.freeMemoryMb[j]!;
      this.totalMemory_ = t;
    }
    return this.totalMemory_;
  }

  /** Host index of a host id (the map is built once per host list, and only when bookings are given). */
  indexOf(id: string): number | undefined {
    if (!this.ids) {
      this.ids = new Map();
      for (let j = 0; j < this.list.length; j++) this.ids.set(this.list[j]!.id, j);
    }
    return this.ids.get(id);
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

  /**
   * `bonus`: capacity added to some hosts (what bookings hold, for the layer "bookings aside"); those hosts are kept
   * apart from the fleet's values like the hosts the allocation uses.
   */
  constructor(
    readonly fleet: Fleet,
    private readonly model: AdmissionModel,
    allocation?: Allocation,
    private readonly bonus?: ReadonlyMap<number, { readonly cpus: number; readonly memoryMb: number }>,
  ) {
    allocation?.services.forEach((comps, a) =>
      comps.forEach((ca, i) => {
        for (const p of ca.placements) this.usersOf(p.hostIndex).push({ a, i, vms: p.vms });
      }),
    );
    if (bonus) for (const j of bonus.keys()) this.usersOf(j);
    for (const j of this.users.keys()) this.recompute(j);
  }

  clone(): Residual {
    const copy = new Residual(this.fleet, this.model, undefined, this.bonus);
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

  /** The components with VMs on host j, in allocation order. */
  usersAt(j: number): readonly HostUser[] {
    return this.users.get(j) ?? [];
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
      if (kept.length || this.bonus?.has(p.hostIndex)) this.users.set(p.hostIndex, kept);
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
    const extra = this.bonus?.get(j);
    let cpus = this.fleet.freeCpus[j]! + (extra?.cpus ?? 0);
    let memory = this.fleet.freeMemoryMb[j]! + (extra?.memoryMb ?? 0);
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

/** VMs of (cpus, memoryMb) one host with this free capacity holds. */
function slotsOf(freeCpus: number, freeMemoryMb: number, cpus: number, memoryMb: number): number {
  const byCpu = Math.floor(Math.max(0, freeCpus) / cpus);
  return memoryMb > 0 ? Math.min(byCpu, Math.floor(Math.max(0, freeMemoryMb) / memoryMb)) : byCpu;
}

const able = (freeCpus: number, freeMemoryMb: number, cpus: number, memoryMb: number): boolean => freeCpus >= cpus && freeMemoryMb >= memoryMb;

// ---------------------------------------------------------------------------------------------
// Bookings: per booked host, the free capacity with what recorded admissions hold given back (layer 2).

interface Booked {
  readonly j: number;
  readonly id: string;
  /** Free with bookings aside: min(total, free + held); memory: free + held (Infinity when the host carries none). */
  readonly cpus: number;
  readonly memoryMb: number;
  readonly heldCpus: number;
  readonly heldMemoryMb: number;
}

/**
 * Free capacity with bookings aside: the fleet's values, raised on booked hosts. Counting queries are the fleet's
 * (memoized per host list) corrected host by host on the booked ones, so they cost O(booked hosts).
 */
class Layer {
  constructor(
    readonly fleet: Fleet,
    readonly booked: readonly Booked[],
  ) {}

  slots(cpus: number, memoryMb: number): number {
    let n = this.fleet.slots(cpus, memoryMb);
    const f = this.fleet;
    for (const b of this.booked) n += slotsOf(b.cpus, b.memoryMb, cpus, memoryMb) - slotsOf(f.freeCpus[b.j]!, f.freeMemoryMb[b.j]!, cpus, memoryMb);
    return n;
  }

  holding(cpus: number, memoryMb: number): number {
    let n = this.fleet.holding(cpus, memoryMb);
    const f = this.fleet;
    for (const b of this.booked) n += Number(able(b.cpus, b.memoryMb, cpus, memoryMb)) - Number(able(f.freeCpus[b.j]!, f.freeMemoryMb[b.j]!, cpus, memoryMb));
    return n;
  }

  largestCpus(): number {
    let m = this.fleet.largest;
    for (const b of this.booked) m = Math.max(m, b.cpus);
    return m;
  }

  totalCpus(): number {
    let t = this.fleet.total;
    for (const b of this.booked) t += b.cpus - this.fleet.freeCpus[b.j]!;
    return t;
  }

  totalMemoryMb(): number | undefined {
    if (!this.fleet.allMemory) return undefined;
    let t = this.fleet.totalMemoryMb();
    for (const b of this.booked) t += b.memoryMb - this.fleet.freeMemoryMb[b.j]!;
    return t;
  }

  /** Why no host has cpus and memoryMb free at once (call only when none has). */
  tooSmall(cpus: number, memoryMb: number): TooSmall {
    const largest = this.largestCpus();
    if (largest < cpus) return { kind: 'cpus', largestFreeHostCpus: largest };
    let memory = this.fleet.largestMemoryMb();
    for (const b of this.booked) memory = Math.max(memory, b.memoryMb);
    if (memory < memoryMb) return { kind: 'memory', largestFreeHostMemoryMb: memory };
    let withMemory = this.fleet.maxCpusWithMemory(memoryMb);
    for (const b of this.booked) if (b.memoryMb >= memoryMb) withMemory = Math.max(withMemory, b.cpus);
    return { kind: 'both', largestFreeHostCpusWithThatMemory: withMemory };
  }
}

// ---------------------------------------------------------------------------------------------
// Per-service facts, computed once per explanation instead of once per component.

class ServiceFacts {
  /** Per component: the rules naming it, in rule order. */
  readonly rulesOf: Rule[][];
  /** Per component: its same-host group (itself and, transitively, its High affinity rules' members), or null. */
  readonly group: (readonly number[] | null)[];
  /** Per component: its Medium anti-affinity rules with their other members, whose hosts it avoids. */
  readonly spreadRules: { readonly rule: Rule; readonly others: readonly number[] }[][];
  /** Per component: member of an affinity rule (Medium or High): accepted, it may not be federated. */
  readonly inAffinityRule: boolean[];
  /** Component id → position. */
  readonly index: ReadonlyMap<string, number>;

  constructor(model: AdmissionModel, a: number) {
    const s = model.services[a]!;
    const index = (this.index = new Map(s.components.map((c, i) => [c.id, i])));
    const n = s.components.length;
    this.rulesOf = s.components.map(() => []);
    this.spreadRules = s.components.map(() => []);
    this.inAffinityRule = s.components.map(() => false);
    // Union-find over High affinity rules: members of overlapping rules share one host.
    const parent = Array.from({ length: n }, (_, i) => i);
    const root = (i: number): number => {
      while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
      return i;
    };
    const sameHost = s.components.map((c) => c.affinity === 2);
    for (const rule of s.rules) {
      const members = [...new Set(rule.members.map((m) => index.get(m)).filter((i): i is number => i !== undefined))];
      for (const i of members) {
        this.rulesOf[i]!.push(rule);
        if (rule.kind === 'affinity') this.inAffinityRule[i] = true;
        if (rule.kind === 'affinity' && rule.level === 2) {
          sameHost[i] = true;
          parent[root(i)] = root(members[0]!);
        }
        if (rule.kind === 'antiAffinity' && rule.level === 1) this.spreadRules[i]!.push({ rule, others: members.filter((k) => k !== i) });
      }
    }
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      if (!sameHost[i]) continue;
      const r = root(i);
      const g = groups.get(r);
      if (g) g.push(i);
      else groups.set(r, [i]);
    }
    this.group = s.components.map((_, i) => (sameHost[i] ? groups.get(root(i))! : null));
  }
}

/** Local VMs a component needs at least when admitted: its basic VMs, raised by its availability target where φ cannot top it up. */
function minimumLocal(s: Service, facts: ServiceFacts, i: number, withAvailability: boolean): number {
  const c = s.components[i]!;
  let n = c.basic;
  if (withAvailability && availabilityBinds(s, facts, i)) n = Math.max(n, availabilityVms(c));
  if (facts.group[i]) n = Math.max(n, 1);
  return n;
}

/** cdf ≥ av binds local VMs alone: federation is forbidden, or the component is an affinity rule's member (not federated). */
function availabilityBinds(s: Service, facts: ServiceFacts, i: number): boolean {
  return s.components[i]!.antiAffinity !== 2 && (!s.federationAllowed || facts.inAffinityRule[i]!);
}

/** VMs (local + federated) the availability target requires: X + φ ≥ b − 1 + av·(E + 1). */
function availabilityVms(c: Service['components'][number]): number {
  return Math.min(c.maxVms, Math.max(0, Math.ceil(c.basic - 1 + c.availability * (c.maxVms - c.basic + 1) - 1e-9)));
}

// ---------------------------------------------------------------------------------------------
// What one component's next step needs.

interface Need {
  readonly a: number;
  readonly i: number;
  readonly accepted: boolean;
  readonly kind: 'plain' | 'spread' | 'group';
  /** Local VMs of the component after the step: one more, or its minimum. */
  readonly n: number;
  /** The same without the availability target (≤ n). */
  readonly n0: number;
  readonly vcpus: number;
  /** Per VM, 0 when the component declares none. */
  readonly memoryMb: number;
  /** Same-host group: members and each member's VMs (component i's entry is replaced by the count tried). */
  readonly members: readonly number[];
  readonly memberVms: readonly number[];
  readonly memberVms0: readonly number[];
}

const IN_CAPACITY = new Set<string>(['VM_LARGER_THAN_ANY_HOST', 'AFFINITY_GROUP_TOO_BIG', 'HOST_TOO_SMALL', 'NOT_ENOUGH_HOSTS', 'INSUFFICIENT_CAPACITY', 'CAPACITY_IN_USE']);

export function explainComponents(model: AdmissionModel, allocation: Allocation, verification: Verification, context: DecisionContext = {}): Reason[][][] {
  // The common answer, everything at its maximum, needs no fleet-wide figures.
  const atMaximum = model.services.every((s, a) => s.components.every((c, i) => verification.services[a]!.components[i]!.localVms >= c.maxVms));
  if (atMaximum) return model.services.map((s) => s.components.map(() => []));
  const explainer = new Explainer(model, allocation, verification, context);
  return model.services.map((_, a) => explainer.service(a));
}

/** Excluded hosts plus every host the mask does not allow (a component's capabilities), for best-fit placements. */
class MaskedSet extends Set<number> {
  constructor(
    private readonly mask: Uint8Array,
    items?: Iterable<number>,
  ) {
    super(items);
  }

  override has(j: number): boolean {
    return this.mask[j] !== 1 || super.has(j);
  }
}

class Explainer {
  private readonly fleet: Fleet;
  private readonly plan: CapabilityPlan | null;
  private readonly masks = new Map<string, Uint8Array | null>();
  private readonly residual: Residual;
  private readonly judge: ChangeVerifier;
  /** Layer 2 (bookings aside) and layer 3 (the model's free capacity). */
  private readonly aside: Layer;
  private readonly free: Layer;
  private readonly booked: readonly Booked[];
  private readonly bookedAt = new Map<number, Booked>();
  private readonly bookings: boolean;
  /** The fleet's free capacity with nothing placed, for trials of one component alone. */
  private bare: Residual | undefined;
  /** Sizes (kind/vcpus/memory/VMs) of components without VMs or exclusions for which the allocation leaves no room. */
  private readonly noRoom = new Set<string>();
  /** The same sizes: where they would go alone, and who uses those hosts. */
  private readonly takenBySize = new Map<string, { hosts: number; ids: string[]; users: R.UserFigures[]; usersTotal: number; usedCpus: number }>();

  constructor(
    private readonly model: AdmissionModel,
    private readonly allocation: Allocation,
    private readonly verification: Verification,
    private readonly context: DecisionContext,
  ) {
    this.fleet = fleetOf(model.hosts);
    this.plan = capabilityPlan(model);
    this.residual = new Residual(this.fleet, model, allocation);
    this.judge = new ChangeVerifier(model, allocation, verification);
    const booked: Booked[] = [];
    if (context.reservedByHost && context.reservedByHost.size > 0) {
      const f = this.fleet;
      for (const [id, held] of context.reservedByHost) {
        const j = f.indexOf(id);
        const heldCpus = Math.max(0, held.cpus);
        const heldMemoryMb = Math.max(0, held.memoryMb);
        if (j === undefined || this.bookedAt.has(j) || (heldCpus === 0 && heldMemoryMb === 0)) continue;
        const b: Booked = { j, id, cpus: Math.min(f.totalCpusOf(j), f.freeCpus[j]! + heldCpus), memoryMb: f.freeMemoryMb[j]! + heldMemoryMb, heldCpus, heldMemoryMb };
        booked.push(b);
        this.bookedAt.set(j, b);
      }
    }
    this.booked = booked;
    this.bookings = booked.length > 0;
    this.aside = new Layer(this.fleet, booked);
    this.free = new Layer(this.fleet, []);
  }

  service(a: number): Reason[][] {
    const model = this.model;
    const s = model.services[a]!;
    const ev = this.verification.services[a]!;
    if (s.components.every((c, i) => ev.components[i]!.localVms >= c.maxVms)) return s.components.map(() => []);
    const facts = new ServiceFacts(model, a);
    const trecFailures: Reason[] = [];
    if (s.trust < s.constraints.trust) trecFailures.push(R.trecBound('trust', s.trust, s.constraints.trust, '≥'));
    if (s.eco < s.constraints.eco) trecFailures.push(R.trecBound('eco', s.eco, s.constraints.eco, '≥'));
    if (s.risk > s.constraints.risk) trecFailures.push(R.trecBound('risk', s.risk, s.constraints.risk, '≤'));

    // Pass 1: what the model and the fleet say without any what-if.
    const first = s.components.map((c, i) => {
      const ce = ev.components[i]!;
      if (ce.localVms >= c.maxVms) return null;
      return this.before(a, i, facts, trecFailures);
    });
    const wholeOrNothing = !s.federationAllowed && !ev.fullyAccepted;
    const blocking = s.components.filter((_, i) => first[i]?.reasons.some((r) => IN_CAPACITY.has(r.code))).map((c) => c.id);
    let whole: { readonly reason: Reason; readonly forced: readonly Reason[][] } | undefined;

    // Pass 2: what-ifs where the first pass found nothing that explains it.
    return s.components.map((c, i): Reason[] => {
      const f = first[i];
      if (!f) return [];
      const reasons = [...f.reasons];
      if (f.final) return reasons;
      const hard = reasons.some((r) => r.code !== 'AFFINITY_RULE_GROUP');
      if (wholeOrNothing) {
        if (hard) return [...reasons, R.allOrNothing(s.id)];
        const others = blocking.filter((id) => id !== c.id);
        if (others.length > 0) return [...reasons, R.allOrNothing(s.id, others)];
        whole ??= this.wholeService(a, facts);
        return [...reasons, R.allOrNothing(s.id), whole.reason, ...whole.forced[i]!];
      }
      if (hard) return reasons;
      return [...reasons, ...this.componentWhatIf(f.need!, facts)];
    });
  }

  /** TREC, rules and the fleet's layers 1–3 for component i alone. `final`: nothing more is to be said. */
  private before(a: number, i: number, facts: ServiceFacts, trecFailures: readonly Reason[]): { reasons: Reason[]; final: boolean; need?: Need } {
    const s = this.model.services[a]!;
    const c = s.components[i]!;
    const ev = this.verification.services[a]!;
    const ce = ev.components[i]!;
    const accepted = ce.acceptedLocally;
    const reasons: Reason[] = [];
    if (!accepted) reasons.push(...trecFailures);
    if (c.antiAffinity === 2 && ce.localVms >= c.basic) {
      reasons.push(R.antiAffinityHigh(c.id, c.basic, c.maxVms));
      return { reasons, final: true };
    }
    const id2i = (id: string): number => facts.index.get(id) ?? -1;
    for (const rule of facts.rulesOf[i]!) {
      const others = rule.members.filter((m) => m !== c.id);
      if (rule.kind === 'antiAffinity' && rule.level === 2 && !accepted) {
        const chosen = others.filter((m) => ev.components[id2i(m)]?.acceptedLocally);
        if (chosen.length > 0) reasons.push(R.antiAffinityHighRule(rule.members, chosen[0]!));
      }
      if (rule.kind === 'affinity' && !accepted) {
        reasons.push(R.affinityRuleGroup(rule.members, rule.level, others.filter((m) => !ev.components[id2i(m)]?.acceptedLocally)));
      }
    }
    const need = this.needOf(a, i, facts);
    const capability = this.capabilityLimit(need);
    if (capability) {
      reasons.push(capability);
      return { reasons, final: true };
    }
    reasons.push(...this.fleetLimits(need));
    return { reasons, final: false, need };
  }

  // -------------------------------------------------------------------------------------------
  // Layer 0: capabilities.

  /**
   * The hosts the members may all use (model order), or null when nothing restricts them: their requirements, and for
   * a same-value rule the value the rule's placed members already use (any value of the capability when none is placed).
   */
  private maskOf(a: number, members: readonly number[]): Uint8Array | null {
    const plan = this.plan;
    if (!plan) return null;
    const key = `${a}/${members.join(',')}`;
    if (this.masks.has(key)) return this.masks.get(key)!;
    let mask: Uint8Array | null = null;
    const restrict = (allowed: (j: number) => boolean): void => {
      const next: Uint8Array = new Uint8Array(this.model.hosts.length);
      for (let j = 0; j < next.length; j++) next[j] = (mask === null || mask[j] === 1) && allowed(j) ? 1 : 0;
      mask = next;
    };
    for (const i of members) {
      const m = plan.allowed[a]?.[i];
      if (m) restrict((j) => m[j] === 1);
      for (const g of plan.sameValue[a] ?? []) {
        if (!g.members.includes(i)) continue;
        const used = new Set<number>();
        for (const k of g.members) for (const p of this.allocation.services[a]![k]!.placements) if (p.vms > 0 && g.valueOf[p.hostIndex]! >= 0) used.add(g.valueOf[p.hostIndex]!);
        // Two values in use would already be a violation the verifier reports; one (or none) narrows the hosts.
        restrict((j) => g.valueOf[j]! >= 0 && (used.size !== 1 || used.has(g.valueOf[j]!)));
      }
    }
    this.masks.set(key, mask);
    return mask;
  }

  /** `excluded` plus the hosts the members may not use. */
  private masked(a: number, members: readonly number[], excluded: ReadonlySet<number>): Set<number> {
    const mask = this.maskOf(a, members);
    return mask ? new MaskedSet(mask, excluded) : excluded instanceof Set ? (excluded as Set<number>) : new Set(excluded);
  }

  /** Layer 0: whether the qualifying hosts can hold the step on their free capacity now; the reason when they cannot. */
  private capabilityLimit(need: Need): Reason | null {
    const members = need.kind === 'group' ? need.members : [need.i];
    const mask = this.maskOf(need.a, members);
    if (!mask) return null;
    const f = this.fleet;
    const g = need.kind === 'group' ? this.groupDemand(need, need.n, need.memberVms) : null;
    let qualifying = 0;
    let slots = 0;
    let hostsAble = 0;
    let groupFits = false;
    const ids: string[] = [];
    for (let j = 0; j < mask.length; j++) {
      if (mask[j] !== 1) continue;
      qualifying++;
      if (ids.length < R.MAX_LISTED) ids.push(this.model.hosts[j]!.id);
      const fit = slotsOf(f.freeCpus[j]!, f.freeMemoryMb[j]!, need.vcpus, need.memoryMb);
      slots += fit;
      if (fit > 0) hostsAble++;
      if (g && able(f.freeCpus[j]!, f.freeMemoryMb[j]!, g.cpus, g.memoryMb)) groupFits = true;
    }
    const fits = need.kind === 'group' ? groupFits : need.kind === 'spread' ? hostsAble >= need.n : slots >= need.n;
    if (fits) return null;
    const s = this.model.services[need.a]!;
    const requirements = [...new Set(members.flatMap((k) => (s.components[k]!.requires ?? []).map(requirementText)))];
    const sameValue = (this.plan?.sameValue[need.a] ?? []).find((r) => members.some((k) => r.members.includes(k)))?.capability;
    const c = s.components[need.i]!;
    if (qualifying === 0) {
      const perRequirement = members.flatMap((k) => s.components[k]!.requires ?? []).map((r) => {
        let hostsSatisfying = 0;
        for (const h of this.model.hosts) if (satisfies(h.capabilities?.[r.name], r)) hostsSatisfying++;
        const counts = valueCounts(this.model.hosts, r.name);
        const values = [...counts.byValue].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, R.MAX_LISTED).map(([value, hosts]) => ({ value, hosts }));
        return { requirement: requirementText(r), hostsSatisfying, values, hostsWithout: counts.without };
      });
      return R.capabilityUnavailable(c.id, requirements, this.model.hosts.length, perRequirement, sameValue);
    }
    const shown = requirements.length > 0 ? requirements : [`one value of ${sameValue}`];
    return R.capabilityScarce(this.label(need), shown, {
      hostsQualifying: qualifying,
      hostIds: ids,
      vmsNeeded: need.n,
      vmsThatFit: need.kind === 'group' ? 0 : need.kind === 'spread' ? hostsAble : slots,
      kind: need.kind,
      vcpus: need.kind === 'group' ? g!.cpus : need.vcpus,
      memoryMb: need.kind === 'group' ? g!.memoryMb : need.memoryMb,
    });
  }

  private needOf(a: number, i: number, facts: ServiceFacts): Need {
    const s = this.model.services[a]!;
    const c = s.components[i]!;
    const ev = this.verification.services[a]!;
    const ce = ev.components[i]!;
    const accepted = ce.acceptedLocally;
    const n = accepted ? ce.localVms + 1 : Math.max(1, minimumLocal(s, facts, i, true));
    const n0 = accepted ? n : Math.max(1, minimumLocal(s, facts, i, false));
    const members = facts.group[i] ?? [];
    const vmsOf = (withAvailability: boolean, own: number): number[] =>
      members.map((k) => (k === i ? own : ev.components[k]!.acceptedLocally ? ev.components[k]!.localVms : minimumLocal(s, facts, k, withAvailability)));
    return {
      a,
      i,
      accepted,
      kind: facts.group[i] ? 'group' : c.antiAffinity === 1 ? 'spread' : 'plain',
      n,
      n0,
      vcpus: c.vcpus,
      memoryMb: c.memoryMb ?? 0,
      members,
      memberVms: vmsOf(true, n),
      memberVms0: vmsOf(false, n0),
    };
  }

  private groupDemand(need: Need, own: number, base: readonly number[]): { cpus: number; memoryMb: number } {
    const s = this.model.services[need.a]!;
    let cpus = 0;
    let memoryMb = 0;
    need.members.forEach((k, m) => {
      const vms = k === need.i ? own : base[m]!;
      cpus += vms * s.components[k]!.vcpus;
      memoryMb += vms * (s.components[k]!.memoryMb ?? 0);
    });
    return { cpus, memoryMb };
  }

  private label(need: Need): string {
    const s = this.model.services[need.a]!;
    const c = s.components[need.i]!;
    return need.accepted ? `one more VM of ${c.id}` : this.count(need, need.n);
  }

  /** "the 3 basic VM(s) of c", "the 5 VM(s) of c that its availability target requires", "4 VM(s) of c". */
  private count(need: Need, n: number): string {
    const c = this.model.services[need.a]!.components[need.i]!;
    if (need.accepted) return `${n} VM(s) of ${c.id}`;
    if (n === c.basic) return `the ${n} basic VM(s) of ${c.id}`;
    if (n > need.n0) return `the ${n} VM(s) of ${c.id} that its availability target requires`;
    return `${n} VM(s) of ${c.id}`;
  }

  private needData(need: Need): Record<string, ReasonValue> {
    const ce = this.verification.services[need.a]!.components[need.i]!;
    return R.record({
      component: this.model.services[need.a]!.components[need.i]!.id,
      vmsNeeded: need.n,
      localVms: need.accepted ? ce.localVms : undefined,
      vcpus: need.vcpus,
      memoryMb: need.memoryMb > 0 ? need.memoryMb : undefined,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Layers 1–3 for one component alone (exact: its VMs are identical).

  private fleetLimits(need: Need): Reason[] {
    const s = this.model.services[need.a]!;
    const c = s.components[need.i]!;
    const f = this.fleet;
    // Layer 1: the hosts in total (read only when a VM or a group is larger than every free host).
    if (need.vcpus > f.largest && need.vcpus > f.largestTotalCpus()) return [R.vmLargerThanAnyHost(c.id, need.vcpus, f.largestTotalCpus())];
    if (need.kind === 'group') {
      const g = this.groupDemand(need, need.n, need.memberVms);
      if (g.cpus > this.aside.largestCpus() && g.cpus > f.largestTotalCpus()) {
        const reason = R.affinityGroupTooBig(this.groupLabel(need, need.n), g.cpus, f.largestTotalCpus(), need.members.map((k) => s.components[k]!.id));
        return this.withAvailability(need, reason, (n) => this.groupDemand(need, n, need.memberVms0).cpus <= f.largestTotalCpus());
      }
    }
    // Layer 2: bookings aside.
    const short = this.shortOn(this.aside, need, need.n);
    if (short) return this.withAvailability(need, short, (n) => this.shortOn(this.aside, need, n) === null);
    // Layer 3: the model's free capacity. Differs from layer 2 only on booked hosts.
    if (this.bookings && !this.fitsOn(this.free, need, need.n)) {
      const reason = R.capacityInUse(this.label(need), this.needData(need), this.held(this.bookedHostsFor(need)));
      return this.withAvailability(need, reason, (n) => this.fitsOn(this.free, need, n));
    }
    return [];
  }

  private groupLabel(need: Need, n: number): string {
    const s = this.model.services[need.a]!;
    return need.members.length === 1 ? `the ${n} VM(s) of ${s.components[need.i]!.id}` : need.members.map((k) => s.components[k]!.id).join(', ');
  }

  private fitsOn(layer: Layer, need: Need, n: number): boolean {
    if (layer.holding(need.vcpus, need.memoryMb) === 0) return false;
    switch (need.kind) {
      case 'group': {
        const g = this.groupDemand(need, n, n === need.n ? need.memberVms : need.memberVms0);
        return layer.holding(g.cpus, g.memoryMb) > 0;
      }
      case 'spread':
        return layer.holding(need.vcpus, need.memoryMb) >= n;
      case 'plain':
        return layer.slots(need.vcpus, need.memoryMb) >= n;
    }
  }

  /** The reason the component does not fit on layer 2 with n VMs, or null when it fits. */
  private shortOn(layer: Layer, need: Need, n: number): Reason | null {
    if (this.fitsOn(layer, need, n)) return null;
    const s = this.model.services[need.a]!;
    const c = s.components[need.i]!;
    const bookings = this.bookings;
    if (layer.holding(need.vcpus, need.memoryMb) === 0) {
      return R.hostTooSmall({ group: false, label: `one VM of ${c.id}` }, need.vcpus, need.memoryMb, layer.tooSmall(need.vcpus, need.memoryMb), bookings);
    }
    switch (need.kind) {
      case 'group': {
        const g = this.groupDemand(need, n, n === need.n ? need.memberVms : need.memberVms0);
        const label = need.members.length === 1 ? 'High affinity' : `High affinity (${need.members.map((k) => s.components[k]!.id).join(', ')})`;
        return R.hostTooSmall({ group: true, label, members: need.members.map((k) => s.components[k]!.id) }, g.cpus, g.memoryMb, layer.tooSmall(g.cpus, g.memoryMb), bookings);
      }
      case 'spread':
        return R.notEnoughHosts(c.id, n, layer.holding(need.vcpus, need.memoryMb), need.vcpus, need.memoryMb, bookings);
      case 'plain':
        return R.insufficientCapacity(
          this.count(need, n),
          { vmsNeeded: n, vmsThatFit: layer.slots(need.vcpus, need.memoryMb), vcpus: need.vcpus, memoryMb: need.memoryMb, freeCpus: layer.totalCpus(), freeMemoryMb: layer.totalMemoryMb() },
          bookings,
        );
    }
  }

  /**
   * The reason, and AVAILABILITY_FORCES_VMS after it when the availability target raised the VM count and fewer VMs
   * would pass the same check (`fits(n)`); the largest such count is reported.
   */
  private withAvailability(need: Need, reason: Reason, fits: (n: number) => boolean): Reason[] {
    if (need.accepted || need.n <= need.n0 || !fits(need.n0)) return [reason];
    let lo = need.n0;
    let hi = need.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (fits(mid)) lo = mid;
      else hi = mid - 1;
    }
    return [reason, this.availabilityReason(need.a, need.i, need.n, lo)];
  }

  private availabilityReason(a: number, i: number, vmsRequired: number, vmsThatFit: number): Reason {
    const c = this.model.services[a]!.components[i]!;
    return R.availabilityForcesVms(c.id, { target: c.availability, vmsRequired, maxVms: c.maxVms, basicVms: c.basic, vmsThatFit });
  }

  /** Booked hosts where, bookings aside, the component's step would find room it does not find now. */
  private bookedHostsFor(need: Need): Booked[] {
    const f = this.fleet;
    const v = need.vcpus;
    const m = need.memoryMb;
    const g = need.kind === 'group' ? this.groupDemand(need, need.n, need.memberVms) : null;
    return this.booked.filter((b) => {
      const fc = f.freeCpus[b.j]!;
      const fm = f.freeMemoryMb[b.j]!;
      if (g) return able(b.cpus, b.memoryMb, g.cpus, g.memoryMb) && !able(fc, fm, g.cpus, g.memoryMb);
      if (need.kind === 'spread') return able(b.cpus, b.memoryMb, v, m) && !able(fc, fm, v, m);
      return slotsOf(b.cpus, b.memoryMb, v, m) > slotsOf(fc, fm, v, m);
    });
  }

  /** What recorded admissions hold on these hosts, and who (largest first) when the holders were looked up. */
  private held(hosts: readonly Booked[]): R.HeldFigures {
    let heldCpus = 0;
    let heldMemoryMb = 0;
    for (const b of hosts) {
      heldCpus += b.heldCpus;
      heldMemoryMb += b.heldMemoryMb;
    }
    const byHost = this.context.holdersByHost;
    if (!byHost) return { hostIds: hosts.map((b) => b.id), heldCpus, heldMemoryMb, holders: null, holdersTotal: 0 };
    const by = new Map<string, { admissionId: string; owner: string; serviceId: string; window: { start: string; end: string | null }; cpus: number; memoryMb: number }>();
    for (const b of hosts) {
      for (const h of byHost.get(b.id) ?? []) {
        const e = by.get(h.admissionId);
        if (e) {
          e.cpus += h.cpus;
          e.memoryMb += h.memoryMb;
        } else by.set(h.admissionId, { admissionId: h.admissionId, owner: h.owner, serviceId: h.serviceId, window: { start: h.window.start, end: h.window.end }, cpus: h.cpus, memoryMb: h.memoryMb });
      }
    }
    const all = [...by.values()].sort((x, y) => y.cpus - x.cpus || y.memoryMb - x.memoryMb || (x.admissionId < y.admissionId ? -1 : x.admissionId > y.admissionId ? 1 : 0));
    return { hostIds: hosts.map((b) => b.id), heldCpus, heldMemoryMb, holders: all.slice(0, R.MAX_LISTED), holdersTotal: all.length };
  }

  // -------------------------------------------------------------------------------------------
  // Layers 4–5 for one component: what this allocation leaves.

  private componentWhatIf(need: Need, facts: ServiceFacts): Reason[] {
    const { a, i } = need;
    const service = this.allocation.services[a]!;
    const own = new Set<number>();
    if (need.kind === 'spread') for (const p of service[i]!.placements) if (p.vms > 0) own.add(p.hostIndex);
    const partners = this.partnerHosts(service, facts, need, new Map());
    const excluded = new Set(own);
    for (const j of partners.keys()) excluded.add(j);
    // A component with no VMs, no group and no excluded host is placed alike by size: a failure is remembered by size.
    const bySize = !need.accepted && need.kind !== 'group' && excluded.size === 0 ? `${need.kind}/${need.vcpus}/${need.memoryMb}/${need.n}` : null;
    if (bySize === null || !this.noRoom.has(bySize)) {
      const step = this.step(this.residual, need, facts, need.n, excluded, new Map());
      if (step) return [this.verdict(a, step, need.accepted ? 'one more local VM' : 'admitting it locally')];
      if (bySize !== null) this.noRoom.add(bySize);
    }

    const label = this.label(need);
    const out: Reason[] = [];
    const retry = partners.size > 0 ? this.step(this.residual, need, facts, need.n, own, new Map()) : null;
    if (retry) {
      // It fits on hosts its Medium anti-affinity rules keep it off: name each rule and the hosts it takes away.
      const used = new Set<number>();
      for (const [k, ca] of retry) if (need.members.includes(k) || k === i) for (const p of ca.placements) if (p.vms > 0 && partners.has(p.hostIndex)) used.add(p.hostIndex);
      const byRule = new Map<Rule, number[]>();
      for (const j of used) for (const rule of partners.get(j)!) (byRule.get(rule) ?? byRule.set(rule, []).get(rule)!).push(j);
      for (const [rule, hosts] of byRule) out.push(R.excludedByRule(label, rule.members, hosts.sort((x, y) => x - y).map((j) => this.fleet.idOf(j)), need.n));
    }
    if (out.length === 0) out.push(this.takenByThisAdmission(need, facts, label));
    if (!need.accepted && need.n > need.n0 && this.step(this.residual, need, facts, need.n0, excluded, new Map())) {
      let lo = need.n0;
      let hi = need.n - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (this.step(this.residual, need, facts, mid, excluded, new Map())) lo = mid;
        else hi = mid - 1;
      }
      out.push(this.availabilityReason(a, i, need.n, lo));
    }
    return out;
  }

  /**
   * Hosts the step may not use because of Medium anti-affinity rules: those of the rules' other members (outside the
   * component's same-host group), each with the rules that exclude it. `changes`: components re-placed by a trial.
   */
  private partnerHosts(service: readonly ComponentAllocation[], facts: ServiceFacts, need: Need, changes: ReadonlyMap<number, ComponentAllocation>): Map<number, Rule[]> {
    const out = new Map<number, Rule[]>();
    const selves = need.members.length > 0 ? need.members : [need.i];
    for (const k of selves) {
      for (const { rule, others } of facts.spreadRules[k]!) {
        for (const o of others) {
          if (selves.includes(o)) continue;
          for (const p of (changes.get(o) ?? service[o]!).placements) {
            if (p.vms <= 0) continue;
            const rules = out.get(p.hostIndex);
            if (!rules) out.set(p.hostIndex, [rule]);
            else if (!rules.includes(rule)) rules.push(rule);
          }
        }
      }
    }
    return out;
  }

  /** The step on what `r` leaves: the component with n local VMs (its group with it), or null when it does not fit. */
  private step(r: Residual, need: Need, facts: ServiceFacts, n: number, excluded: ReadonlySet<number>, changes: ReadonlyMap<number, ComponentAllocation>): Map<number, ComponentAllocation> | null {
    const { a, i } = need;
    const service = this.allocation.services[a]!;
    if (need.kind === 'group') {
      const vms = need.members.map((k, m) => (k === i ? n : n === need.n ? need.memberVms[m]! : need.memberVms0[m]!));
      return this.placeGroup(r, a, facts, need.members, vms, excluded, changes);
    }
    const current = changes.get(i) ?? service[i]!;
    const count = need.accepted ? n - this.verification.services[a]!.components[i]!.localVms : n;
    const next = this.placeComponent(r, a, facts, i, current, count, new Set(excluded));
    return next ? new Map([[i, next]]) : null;
  }

  /** φ for a what-if with X local VMs: the current φ trimmed to U − X, raised to what availability (or High anti-affinity) needs. */
  private federatedFor(a: number, facts: ServiceFacts, k: number, current: number, localVms: number): number {
    const s = this.model.services[a]!;
    const c = s.components[k]!;
    if (!s.federationAllowed || facts.inAffinityRule[k]) return 0;
    const room = Math.max(0, c.maxVms - localVms);
    let phi = Math.min(current, room);
    if (c.antiAffinity === 2) phi = Math.max(phi, Math.min(1, room));
    else phi = Math.max(phi, Math.min(room, availabilityVms(c) - localVms));
    return phi;
  }

  /**
   * The component's allocation with `count` more VMs placed by best fit on what `r` leaves, one per host under Medium
   * anti-affinity; null when no host can take them.
   */
  private placeComponent(r: Residual, a: number, facts: ServiceFacts, i: number, current: ComponentAllocation, count: number, excluded: Set<number>): ComponentAllocation | null {
    const c = this.model.services[a]!.components[i]!;
    const mem = c.memoryMb ?? 0;
    const added = new Map<number, number>();
    const free = new Scratch(r);
    excluded = this.masked(a, [i], excluded);
    for (let v = 0; v < count; v++) {
      const j = free.bestFit(c.vcpus, mem, excluded);
      if (j < 0) return null;
      added.set(j, (added.get(j) ?? 0) + 1);
      free.take(j, c.vcpus, mem);
      if (c.antiAffinity === 1) excluded.add(j);
    }
    const placements = new Map(current.placements.map((p) => [p.hostIndex, p.vms]));
    for (const [j, n] of added) placements.set(j, (placements.get(j) ?? 0) + n);
    let localVms = 0;
    for (const n of placements.values()) localVms += n;
    return {
      acceptedLocally: true,
      placements: [...placements.entries()].map(([hostIndex, vms]) => ({ hostIndex, vms })),
      federatedVms: this.federatedFor(a, facts, i, current.federatedVms, localVms),
    };
  }

  /** A same-host group with these VMs per member on one host (its current one when it has room), or null. */
  private placeGroup(r: Residual, a: number, facts: ServiceFacts, members: readonly number[], vms: readonly number[], excluded: ReadonlySet<number>, changes: ReadonlyMap<number, ComponentAllocation>): Map<number, ComponentAllocation> | null {
    const s = this.model.services[a]!;
    const service = this.allocation.services[a]!;
    let cpus = 0;
    let memoryMb = 0;
    members.forEach((k, m) => {
      cpus += vms[m]! * s.components[k]!.vcpus;
      memoryMb += vms[m]! * (s.components[k]!.memoryMb ?? 0);
    });
    excluded = this.masked(a, members, excluded);
    // Its VMs now (on one host when it is admitted) move with it.
    const free = new Scratch(r);
    let home = -1;
    const back = new Map<number, { cpus: number; memoryMb: number }>();
    for (const k of members) {
      for (const p of (changes.get(k) ?? service[k]!).placements) {
        if (p.vms <= 0) continue;
        const e = back.get(p.hostIndex) ?? { cpus: 0, memoryMb: 0 };
        e.cpus += p.vms * s.components[k]!.vcpus;
        e.memoryMb += p.vms * (s.components[k]!.memoryMb ?? 0);
        back.set(p.hostIndex, e);
        home = p.hostIndex;
      }
    }
    for (const [j, e] of back) free.take(j, -e.cpus, -e.memoryMb);
    let j = -1;
    if (home >= 0 && !excluded.has(home) && free.freeCpus(home) >= cpus && free.freeMemoryMb(home) >= memoryMb) j = home;
    else j = free.bestFit(cpus, memoryMb, excluded as Set<number>);
    if (j < 0) return null;
    const out = new Map<number, ComponentAllocation>();
    members.forEach((k, m) => {
      const current = changes.get(k) ?? service[k]!;
      out.set(k, { acceptedLocally: true, placements: vms[m]! > 0 ? [{ hostIndex: j, vms: vms[m]! }] : [], federatedVms: this.federatedFor(a, facts, k, current.federatedVms, vms[m]!) });
    });
    return out;
  }

  /** A what-if that fits, re-verified: the constraint it breaks, or what it does to the objective. */
  private verdict(a: number, changes: ReadonlyMap<number, ComponentAllocation>, what: string): Reason {
    const s = this.model.services[a]!;
    const after = this.judge.verifyChange(a, changes);
    if (!after.feasible) {
      const v = after.violations.find((x) => x.service === s.id) ?? after.violations[0]!;
      return R.constraint(what, v.constraint, v.message);
    }
    return R.objective(what, after.objective - this.verification.objective);
  }

  /**
   * The step fits the model's free capacity (layer 3) but not what the allocation leaves. Placed alone on the free
   * capacity (best fit, exact for one component's identical VMs), it goes to hosts where the allocation leaves less than
   * it would put there, its own VMs given back: the other VMs of this admission on those hosts are what it lacks. When
   * there is no such host, the component only needs its VMs re-placed: that what-if is judged like any other.
   * Costs O(the step's VMs + their hosts' users).
   */
  private takenByThisAdmission(need: Need, facts: ServiceFacts, label: string): Reason {
    const { a, i } = need;
    const s = this.model.services[a]!;
    const service = this.allocation.services[a]!;
    const selves = need.members.length > 0 ? need.members : [i];
    // Without VMs of its own and without a group, the answer depends on its size only.
    const bySize = !need.accepted && need.kind !== 'group' ? `${a}/${need.kind}/${need.vcpus}/${need.memoryMb}/${need.n}` : null;
    const known = bySize === null ? undefined : this.takenBySize.get(bySize);
    if (known) return R.capacityTakenByThisAdmission(`${label} (placed alone by best fit)`, this.needData(need), known.hosts, known.ids, known.users, known.usersTotal, known.usedCpus);
    // Placed on the fleet's free capacity alone (a Scratch never changes its base: one bare residual serves all).
    const bare = (this.bare ??= new Residual(this.fleet, this.model));
    let alone: Map<number, ComponentAllocation> | null;
    if (need.kind === 'group') {
      const unplaced = new Map<number, ComponentAllocation>();
      for (const k of selves) unplaced.set(k, { acceptedLocally: false, placements: [], federatedVms: service[k]!.federatedVms });
      alone = this.placeGroup(bare, a, facts, need.members, need.memberVms, new Set(), unplaced);
    } else {
      const next = this.placeComponent(bare, a, facts, i, { acceptedLocally: false, placements: [], federatedVms: service[i]!.federatedVms }, need.n, new Set());
      alone = next ? new Map([[i, next]]) : null;
    }
    if (!alone) return R.notDetermined(label, 'best fit found no room for it on the free capacity alone, though the hosts can hold it', this.needData(need));
    // What it would put on each host, less what it (its group) has there now.
    const cpusOn = new Map<number, number>();
    const memoryOn = new Map<number, number>();
    for (const [k, ca] of alone) {
      const c = s.components[k]!;
      for (const p of ca.placements) {
        cpusOn.set(p.hostIndex, (cpusOn.get(p.hostIndex) ?? 0) + p.vms * c.vcpus);
        memoryOn.set(p.hostIndex, (memoryOn.get(p.hostIndex) ?? 0) + p.vms * (c.memoryMb ?? 0));
      }
    }
    for (const k of selves) {
      const c = s.components[k]!;
      for (const p of service[k]!.placements) {
        const cpus = cpusOn.get(p.hostIndex);
        if (cpus === undefined) continue;
        cpusOn.set(p.hostIndex, cpus - p.vms * c.vcpus);
        memoryOn.set(p.hostIndex, memoryOn.get(p.hostIndex)! - p.vms * (c.memoryMb ?? 0));
      }
    }
    const hosts: number[] = [];
    for (const [j, cpus] of cpusOn) if (cpus > this.residual.freeCpus(j) + 1e-9 || memoryOn.get(j)! > this.residual.freeMemoryMb(j) + 1e-9) hosts.push(j);
    hosts.sort((x, y) => x - y);
    const users = this.usersOn(hosts, (u) => u.a !== a || !selves.includes(u.i));
    if (users.list.length === 0) return this.verdict(a, alone, `${need.accepted ? 'one more local VM' : 'admitting it locally'} with its VMs re-placed`);
    const ids: string[] = [];
    for (let k = 0; k < hosts.length && k < R.MAX_LISTED; k++) ids.push(this.fleet.idOf(hosts[k]!));
    const figures = { hosts: hosts.length, ids, users: users.list.slice(0, R.MAX_LISTED), usersTotal: users.list.length, usedCpus: users.cpus };
    if (bySize !== null) this.takenBySize.set(bySize, figures);
    return R.capacityTakenByThisAdmission(`${label} (placed alone by best fit)`, this.needData(need), figures.hosts, figures.ids, figures.users, figures.usersTotal, figures.usedCpus);
  }

  /** Components of this allocation with VMs on these hosts (amounts there), largest first. */
  private usersOn(hosts: readonly number[], counts: (u: HostUser) => boolean): { list: R.UserFigures[]; cpus: number } {
    const model = this.model;
    const by = new Map<string, { serviceId: string; componentId: string; cpus: number; memoryMb: number; order: number }>();
    let cpus = 0;
    for (const j of hosts) {
      for (const u of this.residual.usersAt(j)) {
        if (!counts(u) || u.vms <= 0) continue;
        const c = model.services[u.a]!.components[u.i]!;
        const key = `${u.a}/${u.i}`;
        const e = by.get(key) ?? { serviceId: model.services[u.a]!.id, componentId: c.id, cpus: 0, memoryMb: 0, order: u.a * 1e6 + u.i };
        e.cpus += u.vms * c.vcpus;
        e.memoryMb += u.vms * (c.memoryMb ?? 0);
        cpus += u.vms * c.vcpus;
        by.set(key, e);
      }
    }
    const list = [...by.values()]
      .sort((x, y) => y.cpus - x.cpus || y.memoryMb - x.memoryMb || x.order - y.order)
      .map(({ serviceId, componentId, cpus: c, memoryMb }) => ({ serviceId, componentId, cpus: c, memoryMb }));
    return { list, cpus };
  }

  // -------------------------------------------------------------------------------------------
  // A federation-forbidden service not admitted: the whole service at its minimum.

  /**
   * Every component at its minimum placed by best fit (groups together), first on what the allocation leaves, then on
   * the free capacity alone, then with bookings aside: the first that fits names the cause. The availability target
   * is named for the components it raised when their basic counts fit where the required ones do not.
   */
  private wholeService(a: number, facts: ServiceFacts): { reason: Reason; forced: Reason[][] } {
    const s = this.model.services[a]!;
    const counts = s.components.map((_, i) => minimumLocal(s, facts, i, true));
    const counts0 = s.components.map((_, i) => minimumLocal(s, facts, i, false));
    const forced: Reason[][] = s.components.map(() => []);
    const what = `admitting ${s.id} whole`;
    const onResidual = this.trial(this.residual.clone(), a, facts, counts);
    if (onResidual.ok) return { reason: this.verdict(a, onResidual.changes, what), forced };

    let reason: Reason;
    let layer: () => Residual;
    const onFree = this.trial(new Residual(this.fleet, this.model), a, facts, counts);
    const bonus = new Map(this.booked.map((b) => [b.j, { cpus: b.cpus - this.fleet.freeCpus[b.j]!, memoryMb: b.memoryMb - this.fleet.freeMemoryMb[b.j]! }]));
    const onAside = !onFree.ok && this.bookings ? this.trial(new Residual(this.fleet, this.model, undefined, bonus), a, facts, counts) : null;
    const need = { service: s.id, vmsNeeded: counts.reduce((t, n) => t + n, 0), neededCpus: counts.reduce((t, n, i) => t + n * s.components[i]!.vcpus, 0) };
    if (onFree.ok) {
      layer = () => this.residual.clone();
      // Hosts where the trial put more than this allocation leaves: who uses them.
      const hosts = [...onFree.usage].filter(([j, u]) => u.cpus > this.residual.freeCpus(j) || u.memoryMb > this.residual.freeMemoryMb(j)).map(([j]) => j);
      const users = this.usersOn(hosts, (u) => u.a !== a);
      hosts.sort((x, y) => x - y);
      reason =
        users.list.length > 0
          ? R.capacityTakenByThisAdmission(`${what} (each component at its minimum, placed by best fit)`, need, hosts.length, hosts.slice(0, R.MAX_LISTED).map((j) => this.fleet.idOf(j)), users.list.slice(0, R.MAX_LISTED), users.list.length, users.cpus)
          : R.notDetermined(`${s.id} not admitted whole`, 'best fit found room for every component at its minimum on the free capacity alone, but not next to the other services of this admission, on hosts they do not use', need);
    } else if (onAside?.ok) {
      layer = () => new Residual(this.fleet, this.model);
      const hosts = this.booked.filter((b) => {
        const u = onAside.usage.get(b.j);
        return u !== undefined && (u.cpus > this.fleet.freeCpus[b.j]! || u.memoryMb > this.fleet.freeMemoryMb[b.j]!);
      });
      reason = R.capacityInUse(`${what} (each component at its minimum, placed by best fit)`, need, this.held(hosts));
    } else {
      layer = () => (this.bookings ? new Residual(this.fleet, this.model, undefined, bonus) : new Residual(this.fleet, this.model));
      const freeCpus = this.aside.totalCpus();
      reason =
        need.neededCpus > freeCpus
          ? R.insufficientCapacityForService(s.id, need.neededCpus, freeCpus, this.bookings)
          : R.notDetermined(`${s.id} not admitted whole`, `best fit found no placement of every component at its minimum on the fleet's free capacity${this.bookings ? ' (bookings aside)' : ''}, though its ${need.neededCpus} CPUs are within the ${freeCpus} free`, R.record(need, { freeCpus }));
    }
    if (counts.some((n, i) => n > counts0[i]!) && this.trial(layer(), a, facts, counts0).ok) {
      counts.forEach((n, i) => {
        if (n > counts0[i]!) forced[i]!.push(this.availabilityReason(a, i, n, counts0[i]!));
      });
    }
    return { reason, forced };
  }

  /** Places the service's components at these counts one after another on `r` (which it changes). */
  private trial(r: Residual, a: number, facts: ServiceFacts, counts: readonly number[]): { ok: boolean; changes: Map<number, ComponentAllocation>; usage: Map<number, { cpus: number; memoryMb: number }> } {
    const s = this.model.services[a]!;
    const service = this.allocation.services[a]!;
    const changes = new Map<number, ComponentAllocation>();
    const usage = new Map<number, { cpus: number; memoryMb: number }>();
    const apply = (next: ReadonlyMap<number, ComponentAllocation>): void => {
      for (const [k, ca] of next) {
        r.place(a, k, (changes.get(k) ?? service[k]!).placements, ca.placements);
        changes.set(k, ca);
        const c = s.components[k]!;
        for (const p of ca.placements) {
          const e = usage.get(p.hostIndex) ?? { cpus: 0, memoryMb: 0 };
          e.cpus += p.vms * c.vcpus;
          e.memoryMb += p.vms * (c.memoryMb ?? 0);
          usage.set(p.hostIndex, e);
        }
      }
    };
    // Hardest first (groups, then one VM per host, then the largest VMs), as first-fit decreasing does.
    const rank = (i: number): number => (facts.group[i] ? 0 : s.components[i]!.antiAffinity === 1 ? 1 : 2);
    const order = s.components.map((_, i) => i).sort((x, y) => rank(x) - rank(y) || s.components[y]!.vcpus - s.components[x]!.vcpus || x - y);
    for (const i of order) {
      if (changes.has(i)) continue;
      const group = facts.group[i];
      const current = service[i]!;
      if (group) {
        const need = { a, i, accepted: false, kind: 'group', n: counts[i]!, n0: counts[i]!, vcpus: 0, memoryMb: 0, members: group, memberVms: [], memberVms0: [] } as const;
        const next = this.placeGroup(r, a, facts, group, group.map((k) => counts[k]!), new Set(this.partnerHosts(service, facts, need, changes).keys()), changes);
        if (!next) return { ok: false, changes, usage };
        apply(next);
        continue;
      }
      if (counts[i] === 0) {
        changes.set(i, { acceptedLocally: true, placements: [], federatedVms: 0 });
        continue;
      }
      const need = { a, i, accepted: false, kind: 'plain', n: counts[i]!, n0: counts[i]!, vcpus: 0, memoryMb: 0, members: [], memberVms: [], memberVms0: [] } as const;
      const excluded = new Set(this.partnerHosts(service, facts, need, changes).keys());
      const next = this.placeComponent(r, a, facts, i, current, counts[i]!, excluded);
      if (!next) return { ok: false, changes, usage };
      apply(new Map([[i, next]]));
    }
    return { ok: true, changes, usage };
  }
}
