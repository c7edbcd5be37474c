/**
 * Builds the exact MILP of model.md §4.2 (v6.0 + D1–D4) as CPLEX LP text, with exact host reduction, and decodes
 * a solution back into an Allocation. Pure and synchronous: no solver, no I/O; the worker in index.ts runs HiGHS.
 */
import { allowedOn, capabilityPlan, planGroupKeys, type CapabilityPlan } from '../../model/capabilities';
import { chargeBoundActive, placementCharge } from '../../model/charge';
import type { AdmissionModel, Allocation, ComponentAllocation, HostPlacement, Service } from '../../model/types';

export interface LpBuildOptions {
  /**
   * Exact host reduction (default true; see reduceHosts): §4.4's classes of identical hosts (with a tighter
   * per-class count than Σ_a V_a), dominance, and a loose-capacity certificate, plus symmetry breaking. Off =
   * every host that can hold some VM keeps its variables (D1 always applies), for benchmarks.
   */
  readonly hostReduction?: boolean;
  /** Symmetry-breaking rows among identical kept hosts (default true; only with the reduction). */
  readonly symmetryBreaking?: boolean;
  /**
   * Most placement columns (x_jia) to build: above it buildLpModel throws LpTooLargeError before writing anything,
   * since writing costs ~40 µs a column (a 300,000-column model took 12 s, and HiGHS more than its limit to read it).
   */
  readonly maxColumns?: number;
  /**
   * The model's capability plan (model/capabilities.ts), when the caller has it and the model's hosts do not carry
   * their capabilities (a greedy worker's hosts are rebuilt from free capacities only); default: derived from the model.
   */
  readonly capabilities?: CapabilityPlan | null;
}

export class LpTooLargeError extends Error {
  constructor(readonly columns: number, readonly maxColumns: number) {
    super(`the MILP would have ${columns} placement columns, more than the ${maxColumns} its budget allows`);
    this.name = 'LpTooLargeError';
  }
}

export interface LpModelSize {
  readonly rows: number;
  readonly columns: number;
  readonly integerColumns: number;
  /** Hosts that carry variables after D1 (and the reduction, when on). */
  readonly keptHosts: number;
  readonly totalHosts: number;
}

export interface PlacementVar {
  readonly hostIndex: number;
  readonly name: string;
}

/** LP column names of one component (i, a): what decoding needs. */
export interface ComponentVars {
  readonly y: string;
  /** φ_ia; null when federation is forbidden (φ = 0). */
  readonly phi: string | null;
  /** x_jia for every kept host j where at least one VM fits. */
  readonly x: readonly PlacementVar[];
}

export interface LpVariableMap {
  /** Indexed like the model: components[a][i]. */
  readonly components: readonly (readonly ComponentVars[])[];
  /** X_a (service fully accepted) column names. */
  readonly fullyAccepted: readonly string[];
}

export interface LpModel {
  readonly text: string;
  /**
   * A feasible MIP start (non-zero columns only; every other column is 0): reject every component locally and
   * federate the least that keeps cdf within its bounds (Q5). With D1–D4 this point is always feasible, so the
   * solver has an incumbent from the start even when the time limit stops it early.
   */
  readonly start: Readonly<Record<string, number>>;
  /**
   * A MIP start from any allocation (e.g. a heuristic's), with every auxiliary column derived from it. Loads on
   * hosts the reduction dropped move to free kept hosts that dominate them (or, under a loose-capacity
   * certificate, the counts are re-placed inside it), and identical hosts are reordered to satisfy the symmetry
   * rows. null when the allocation cannot be expressed (a VM where its component has no column, federation
   * where none exists, Medium affinity members that disagree). HiGHS checks the start and ignores it if infeasible.
   */
  startFrom(allocation: Allocation): Record<string, number> | null;
  /** The MILP objective at a point given by column name (missing columns 0), offset included. */
  objectiveOf(point: Readonly<Record<string, number>>): number;
  readonly variables: LpVariableMap;
  readonly size: LpModelSize;
  /** Model indices of the hosts that carry variables, ascending. */
  readonly keptHosts: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Host reduction (§4.4)

/** Free CPUs as the model defines them: max(0, cpus − usedCpus). */
function freeCpus(model: AdmissionModel, j: number): number {
  const h = model.hosts[j]!;
  return Math.max(0, h.cpus - h.usedCpus);
}

/** VMs of a component that fit on an empty host by CPU and (when the host carries memory) by memory. */
function fitOnHost(model: AdmissionModel, j: number, vcpus: number, memoryMb: number | undefined): number {
  let fit = Math.floor(freeCpus(model, j) / vcpus);
  const mem = model.hosts[j]!.freeMemoryMb;
  const need = memoryMb ?? 0;
  if (mem !== undefined && need > 0) fit = Math.min(fit, Math.floor(mem / need));
  return Math.max(0, fit);
}

/** Largest number of local VMs component i of service a may ever run: U, or b under High anti-affinity (C10). */
function maxLocalVms(service: Service, i: number): number {
  const c = service.components[i]!;
  return c.antiAffinity === 2 ? Math.min(c.maxVms, c.basic) : c.maxVms;
}

/**
 * How many hosts can be non-empty at once, counting only components for which `fits(service, i)` holds: every
 * non-empty host carries at least one VM. A component spreads over at most U' hosts, over one host when its
 * affinity is High (C12), and all local VMs of a High affinity rule's members share one host (C15), so each such
 * rule counts once for all its members. (The plain Σ_a V_a of §4.4 is an upper bound of this count.)
 */
function placementUnits(model: AdmissionModel, fits: (s: Service, i: number) => boolean): number {
  let units = 0;
  for (const s of model.services) {
    const ok = s.components.map((_, i) => maxLocalVms(s, i) > 0 && fits(s, i));
    const highRules = s.rules.filter((r) => r.kind === 'affinity' && r.level === 2);
    const inHighRule = new Set(highRules.flatMap((r) => r.members));
    for (const r of highRules) if (s.components.some((c, i) => ok[i] && r.members.includes(c.id))) units += 1;
    s.components.forEach((c, i) => {
      if (ok[i] && !inHighRule.has(c.id)) units += c.affinity === 2 ? 1 : maxLocalVms(s, i);
    });
  }
  return units;
}

/**
 * Loose-capacity certificate: a placement of every component at its largest possible local count (all at once)
 * that honours every placement rule, on as few hosts as first-fit finds. If it exists, any allocation's local
 * counts fit into it (take VMs out of it: capacities only loosen, one-host blocks stay on one host, spread and
 * anti-affinity placements stay on distinct hosts), so restricting the model to the hosts it uses loses nothing.
 * Returns the placement (host of every VM, per component), or null (not loose, or rules conflict at full size).
 */
function looseHosts(model: AdmissionModel, usable: readonly number[]): LoosePlacement | null {
  const mem = (j: number): number => model.hosts[j]!.freeMemoryMb ?? Infinity;
  const hosts = [...usable].sort((p, q) => freeCpus(model, q) - freeCpus(model, p) || mem(q) - mem(p) || p - q);
  const cpuLeft = new Map(hosts.map((j) => [j, freeCpus(model, j)]));
  const memLeft = new Map(hosts.map((j) => [j, mem(j)]));
  const used = new Set<number>();
  const vmHosts: number[][][] = model.services.map((s) => s.components.map(() => []));
  const maxCpu = hosts.reduce((m, j) => Math.max(m, freeCpus(model, j)), 0);
  const maxMem = hosts.reduce((m, j) => Math.max(m, mem(j)), 0);
  const take = (j: number, cpu: number, memory: number): void => {
    cpuLeft.set(j, cpuLeft.get(j)! - cpu);
    memLeft.set(j, memLeft.get(j)! - memory);
    used.add(j);
  };
  const room = (j: number, cpu: number, memory: number): boolean => cpuLeft.get(j)! >= cpu && memLeft.get(j)! >= memory;
  for (const [a, s] of model.services.entries()) {
    const n = s.components.length;
    const idx = (id: string): number => s.components.findIndex((c) => c.id === id);
    // One-host blocks: overlapping High affinity rules merge; an affinity = 2 component is a block of its own.
    const block = s.components.map((_, i) => i);
    const find = (i: number): number => (block[i] === i ? i : (block[i] = find(block[i]!)));
    const inBlock = s.components.map((c) => c.affinity === 2);
    const highRules = s.rules.filter((r) => r.kind === 'affinity' && r.level === 2).map((r) => r.members.map(idx).filter((i) => i >= 0));
    for (const m of highRules) {
      for (const i of m) inBlock[i] = true;
      for (const i of m.slice(1)) block[find(i)] = find(m[0]!);
    }
    const maxX = s.components.map((c, i) => (c.antiAffinity === 1 && inBlock[i] ? Math.min(1, maxLocalVms(s, i)) : maxLocalVms(s, i)));
    // Medium anti-affinity: a host used by one member is closed to the rule's other members.
    const antiRules = s.rules.filter((r) => r.kind === 'antiAffinity' && r.level === 1).map((r) => r.members.map(idx).filter((i) => i >= 0));
    const owner = antiRules.map(() => new Map<number, number>());
    const allowed = (i: number, j: number): boolean => antiRules.every((m, k) => !m.includes(i) || (owner[k]!.get(j) ?? i) === i);
    const claim = (i: number, j: number): void => antiRules.forEach((m, k) => m.includes(i) && owner[k]!.set(j, i));
    const cpuOf = (i: number): number => s.components[i]!.vcpus;
    const memOf = (i: number): number => (s.components[i]!.memoryMb ?? 0);
    // 1. Blocks, largest first.
    const blocks = new Map<number, number[]>();
    for (let i = 0; i < n; i++) if (inBlock[i] && maxX[i]! > 0) blocks.set(find(i), [...(blocks.get(find(i)) ?? []), i]);
    const blockList = [...blocks.values()].map((m) => ({
      members: m,
      cpu: m.reduce((t, i) => t + cpuOf(i) * maxX[i]!, 0),
      mem: m.reduce((t, i) => t + memOf(i) * maxX[i]!, 0),
    }));
    blockList.sort((p, q) => q.cpu - p.cpu);
    for (const b of blockList) {
      // Does every allocation keep the block on one host? Yes for one component or the members of one rule;
      // overlapping rules need not share a host when their shared member has no VM.
      const oneHost = b.members.length === 1 || highRules.some((r) => b.members.every((i) => r.includes(i)));
      // Two members of one Medium anti-affinity rule in a one-host block never both have VMs, so sharing the
      // block's host is harmless; in a merged block they might sit apart in an allocation: give up.
      if (!oneHost && antiRules.some((m) => b.members.filter((i) => m.includes(i)).length > 1)) return null;
      let j = hosts.find((h) => room(h, b.cpu, b.mem) && b.members.every((i) => allowed(i, h)));
      if (j === undefined && !hosts.some((h) => freeCpus(model, h) >= b.cpu && mem(h) >= b.mem)) {
        // Too big for any host at full size. A one-host block places at most what fits on one host, hence on an
        // untouched host that dominates every host: reserve one for the block alone.
        j = oneHost ? hosts.find((h) => !used.has(h) && freeCpus(model, h) === maxCpu && mem(h) === maxMem) : undefined;
        if (j === undefined) return null;
        cpuLeft.set(j, -1); // exclusive
        used.add(j);
        for (const i of b.members) {
          claim(i, j);
          for (let k = 0; k < maxX[i]!; k++) vmHosts[a]![i]!.push(j);
        }
        continue;
      }
      if (j === undefined) return null;
      take(j, b.cpu, b.mem);
      for (const i of b.members) {
        claim(i, j);
        for (let k = 0; k < maxX[i]!; k++) vmHosts[a]![i]!.push(j);
      }
    }
    // 2. Spread components (one VM per host), then 3. the rest, VM by VM, first fit.
    const rest = [...Array(n).keys()].filter((i) => !inBlock[i] && maxX[i]! > 0);
    rest.sort((p, q) => Number(s.components[q]!.antiAffinity === 1) - Number(s.components[p]!.antiAffinity === 1) || cpuOf(q) - cpuOf(p));
    for (const i of rest) {
      const spread = s.components[i]!.antiAffinity === 1;
      const onHost = new Set<number>();
      for (let k = 0; k < maxX[i]!; k++) {
        const j = hosts.find((h) => room(h, cpuOf(i), memOf(i)) && allowed(i, h) && !(spread && onHost.has(h)));
        if (j === undefined) return null;
        take(j, cpuOf(i), memOf(i));
        claim(i, j);
        onHost.add(j);
        vmHosts[a]![i]!.push(j);
      }
    }
  }
  return { hosts: [...used].sort((p, q) => p - q), vmHosts };
}

/**
 * Per host, a key equal for two hosts exactly when the MILP may treat them alike apart from capacity: the capability
 * group (planGroupKeys) and, with a charge bound, the charge class (the same VMs cost differently on another class,
 * so moving load across classes can break the bound). null: every host is alike (no plan, no charge bound). Without
 * a charge bound (chargeBoundActive) the classes do not enter the MILP and the reduction is exactly as before.
 */
export function hostGroupKeys(model: AdmissionModel, plan: CapabilityPlan | null): string[] | null {
  const charge = chargeBoundActive(model);
  if (!plan && !charge) return null;
  const keys = plan ? planGroupKeys(plan, model.hosts.length) : new Array<string>(model.hosts.length).fill('');
  if (charge) for (let j = 0; j < keys.length; j++) keys[j] += `#${model.hosts[j]!.chargeClass ?? 0}`;
  return keys;
}

/** A loose-capacity certificate: the hosts it uses and, per component, the host of each VM at full size. */
export interface LoosePlacement {
  readonly hosts: readonly number[];
  readonly vmHosts: readonly (readonly (readonly number[])[])[];
}

/**
 * Hosts that keep variables, and their classes of identical hosts (ascending index inside a class).
 *
 * - D1: a host that cannot hold one VM of any component is ignored (exact: all its x would be 0).
 * - Classes (§4.4): hosts with equal (free CPU, free memory) are interchangeable, because a host's identity enters
 *   v6.0 only through its capacity (z = 0, EcoH dead); only as many hosts of a class as can be non-empty at once
 *   are kept (placementUnits over the components that fit there, ≤ Σ_a V_a).
 * - Dominance: every constraint but capacity is invariant under renaming hosts, and capacity only loosens when a
 *   host's load moves to a host with at least as much free CPU and memory. With at most L hosts non-empty, a host
 *   that L others dominate (equal capacities ranked by index) can always hand its load to a free dominating host
 *   that is itself kept, so it is dropped. Without memory this keeps the L largest hosts.
 * - Loose capacity (looseHosts): when everything fits at once, only the hosts of that placement are kept.
 * All rules are exact: some optimal allocation uses kept hosts only.
 */
export function reduceHosts(
  model: AdmissionModel,
  enabled = true,
  plan: CapabilityPlan | null = capabilityPlan(model),
): { kept: number[]; classes: number[][]; loose: LoosePlacement | null } {
  const usable: number[] = [];
  for (let j = 0; j < model.hosts.length; j++) {
    const fits = model.services.some((s, a) =>
      s.components.some((c, i) => maxLocalVms(s, i) > 0 && allowedOn(plan, a, i, j) && fitOnHost(model, j, c.vcpus, c.memoryMb) > 0),
    );
    if (fits) usable.push(j);
  }
  if (!enabled) return { kept: usable, classes: usable.map((j) => [j]), loose: null };
  // Capabilities or a charge bound make hosts of equal capacity differ: reduce within groups of alike hosts only.
  const groupKey = hostGroupKeys(model, plan);
  if (groupKey) return reduceHostsByGroup(model, usable, plan, groupKey);

  // Dominance: order by (CPU desc, memory desc, index asc); the dominators of a host are the hosts before it
  // with at least its memory (no memory figure = unconstrained = +∞). A Fenwick tree over memory ranks counts them.
  const L = placementUnits(model, () => true);
  const mem = (j: number): number => model.hosts[j]!.freeMemoryMb ?? Infinity;
  const order = [...usable].sort((p, q) => freeCpus(model, q) - freeCpus(model, p) || mem(q) - mem(p) || p - q);
  const ranks = [...new Set(usable.map(mem))].sort((p, q) => q - p); // rank 0 = most memory
  const rankOf = new Map(ranks.map((m, r) => [m, r]));
  const tree = new Array<number>(ranks.length + 1).fill(0);
  const dominant = new Set<number>();
  for (const j of order) {
    const r = rankOf.get(mem(j))!;
    let before = 0; // hosts already seen with memory rank ≤ r (memory ≥ mem(j))
    for (let k = r + 1; k > 0; k -= k & -k) before += tree[k]!;
    if (before < L) dominant.add(j);
    for (let k = r + 1; k <= ranks.length; k += k & -k) tree[k]! += 1;
  }

  const byClass = new Map<string, { limit: number; hosts: number[] }>();
  for (const j of usable) {
    if (!dominant.has(j)) continue;
    const key = `${freeCpus(model, j)}|${model.hosts[j]!.freeMemoryMb ?? '-'}`;
    let entry = byClass.get(key);
    if (!entry) {
      const limit = placementUnits(model, (s, i) => fitOnHost(model, j, s.components[i]!.vcpus, s.components[i]!.memoryMb) > 0);
      byClass.set(key, (entry = { limit, hosts: [] }));
    }
    if (entry.hosts.length < entry.limit) entry.hosts.push(j);
  }
  let classes = [...byClass.values()].map((e) => e.hosts).filter((h) => h.length > 0);
  let kept = classes.flat().sort((p, q) => p - q);
  const loose = looseHosts(model, usable);
  if (loose === null || loose.hosts.length >= kept.length) return { kept, classes, loose: null };
  kept = [...loose.hosts];
  {
    const groups = new Map<string, number[]>();
    for (const j of loose.hosts) {
      const key = `${freeCpus(model, j)}|${model.hosts[j]!.freeMemoryMb ?? '-'}`;
      groups.set(key, [...(groups.get(key) ?? []), j]);
    }
    classes = [...groups.values()];
  }
  return { kept, classes, loose };
}

/**
 * reduceHosts when capabilities constrain placement or a charge bound is in the model: hosts are interchangeable only
 * inside a group of hosts every component sees alike and that charge alike (hostGroupKeys), so classes are (group,
 * free CPU, free memory) and dominance is applied within a group only (a host hands its load to a host with at least
 * its capacity that every one of its VMs may use, at the same charge). The loose-capacity certificate is not used:
 * its first-fit ignores capabilities and charge classes (re-placing counts inside it could change the charge).
 */
function reduceHostsByGroup(
  model: AdmissionModel,
  usable: readonly number[],
  plan: CapabilityPlan | null,
  groupKey: readonly string[],
): { kept: number[]; classes: number[][]; loose: null } {
  const L = placementUnits(model, () => true);
  const mem = (j: number): number => model.hosts[j]!.freeMemoryMb ?? Infinity;
  const groups = new Map<string, number[]>();
  for (const j of usable) {
    const g = groups.get(groupKey[j]!);
    if (g) g.push(j);
    else groups.set(groupKey[j]!, [j]);
  }
  const classes: number[][] = [];
  for (const members of groups.values()) {
    const order = [...members].sort((p, q) => freeCpus(model, q) - freeCpus(model, p) || mem(q) - mem(p) || p - q);
    const dominant: number[] = [];
    // Within a group: a host with L hosts before it that have at least its memory is dominated (quadratic only in
    // the hosts kept so far, which are at most L per memory level).
    for (const j of order) {
      let before = 0;
      for (const k of dominant) if (mem(k) >= mem(j)) before++;
      if (before < L) dominant.push(j);
    }
    const byClass = new Map<string, { limit: number; hosts: number[] }>();
    for (const j of dominant.sort((p, q) => p - q)) {
      const key = `${freeCpus(model, j)}|${model.hosts[j]!.freeMemoryMb ?? '-'}`;
      let entry = byClass.get(key);
      if (!entry) {
        const limit = placementUnitsOn(model, plan, j);
        byClass.set(key, (entry = { limit, hosts: [] }));
      }
      if (entry.hosts.length < entry.limit) entry.hosts.push(j);
    }
    for (const e of byClass.values()) if (e.hosts.length > 0) classes.push(e.hosts);
  }
  const kept = classes.flat().sort((p, q) => p - q);
  return { kept, classes, loose: null };
}

/** placementUnits over the components that may use host j and fit there. */
function placementUnitsOn(model: AdmissionModel, plan: CapabilityPlan | null, j: number): number {
  const index = new Map(model.services.map((s, a) => [s, a]));
  return placementUnits(model, (s, i) => allowedOn(plan, index.get(s)!, i, j) && fitOnHost(model, j, s.components[i]!.vcpus, s.components[i]!.memoryMb) > 0);
}

// ---------------------------------------------------------------------------------------------
// LP writer: one merged coefficient per variable per row and in the objective.

type Kind = 'binary' | 'integer' | 'continuous';
type Terms = Map<string, number>;

function fmt(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`non-finite coefficient ${v}`);
  // Shortest round-trip representation; HiGHS parses it with strtod (exponents included).
  return String(v);
}

class LpWriter {
  private readonly objective: Terms = new Map();
  private readonly rowLines: string[] = [];
  private readonly bounds: string[] = [];
  private readonly binaries: string[] = [];
  private readonly generals: string[] = [];
  private readonly names = new Set<string>();
  rows = 0;

  addVar(name: string, kind: Kind, lower: number, upper: number): string {
    if (this.names.has(name)) throw new Error(`duplicate LP variable ${name}`);
    this.names.add(name);
    if (kind === 'binary') {
      this.binaries.push(name);
      if (upper < 1 || lower > 0) this.bounds.push(` ${fmt(lower)} <= ${name} <= ${fmt(upper)}`);
    } else {
      if (kind === 'integer') this.generals.push(name);
      this.bounds.push(lower === upper ? ` ${name} = ${fmt(lower)}` : ` ${fmt(lower)} <= ${name} <= ${fmt(upper)}`);
    }
    return name;
  }

  get columns(): number {
    return this.names.size;
  }

  get integerColumns(): number {
    return this.binaries.length + this.generals.length;
  }

  private objectiveConstant = 0;

  objectiveAt(point: Readonly<Record<string, number>>): number {
    let total = this.objectiveConstant;
    for (const [name, c] of this.objective) total += c * (point[name] ?? 0);
    return total;
  }

  addObjectiveConstant(value: number): void {
    this.objectiveConstant += value;
  }

  addObjective(name: string, coefficient: number): void {
    this.objective.set(name, (this.objective.get(name) ?? 0) + coefficient);
  }

  /** Adds `Σ terms sense rhs`; terms are merged per variable, zeros dropped; an empty row must hold as constants. */
  addRow(terms: readonly (readonly [string, number])[], sense: '<=' | '>=' | '=', rhs: number): void {
    const merged: Terms = new Map();
    for (const [name, c] of terms) {
      if (!this.names.has(name)) throw new Error(`LP row uses undeclared variable ${name}`);
      merged.set(name, (merged.get(name) ?? 0) + c);
    }
    const body = LpWriter.linear(merged);
    if (body === '') {
      const ok = sense === '<=' ? 0 <= rhs + 1e-9 : sense === '>=' ? 0 >= rhs - 1e-9 : Math.abs(rhs) <= 1e-9;
      if (!ok) throw new Error(`constant LP row 0 ${sense} ${rhs} is infeasible`);
      return;
    }
    this.rowLines.push(` ${body} ${sense} ${fmt(rhs)}`);
    this.rows++;
  }

  private static linear(terms: Terms): string {
    const parts: string[] = [];
    let n = 0;
    for (const [name, c] of terms) {
      if (c === 0) continue;
      // Line breaks every 8 terms keep lines short; the LP reader is whitespace-insensitive inside a row.
      const sep = n > 0 && n % 8 === 0 ? '\n  ' : n > 0 ? ' ' : '';
      parts.push(`${sep}${c < 0 ? '-' : '+'} ${fmt(Math.abs(c))} ${name}`);
      n++;
    }
    return parts.join('');
  }

  text(): string {
    let obj = LpWriter.linear(this.objective);
    if (obj === '') {
      // An all-zero objective still needs one term; a model without columns gets one fixed dummy column.
      if (this.names.size === 0) this.addVar('zero', 'continuous', 0, 0);
      obj = `0 ${this.names.values().next().value as string}`;
    }
    // The reader accepts a constant term: HiGHS reports it in the objective value (offset).
    const k = this.objectiveConstant;
    if (k !== 0) obj += `\n  ${k < 0 ? '-' : '+'} ${fmt(Math.abs(k))}`;
    const out = ['Maximize', ` obj: ${obj}`, 'Subject To', ...this.rowLines, 'Bounds', ...this.bounds];
    if (this.generals.length > 0) out.push('General', ...chunk(this.generals));
    if (this.binaries.length > 0) out.push('Binary', ...chunk(this.binaries));
    out.push('End', '');
    return out.join('\n');
  }
}

function chunk(names: readonly string[]): string[] {
  const lines: string[] = [];
  for (let k = 0; k < names.length; k += 16) lines.push(` ${names.slice(k, k + 16).join(' ')}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The MILP of §4.2

/** C19: a violated TREC bound forbids full acceptance (the bounds compare constants with X_a). */
export function trecViolated(s: Service): boolean {
  return s.eco < s.constraints.eco || s.risk > s.constraints.risk || s.trust < s.constraints.trust;
}

/*
 * PRESOLVE_NOTE. HiGHS 1.15.1 (the npm package's build) returned wrong "optimal" values on about 1 in 1,000 of our
 * random models, always through presolve: postsolved incumbents with integer columns at 1/2 or 1/3
 * ("untransformed violations" in its log), i.e. integer columns substituted through equalities (cf.
 * ERGO-Code/HiGHS#3073, #3216). The formulation therefore keeps equalities that tie continuous columns to
 * integer ones out of the model (cdf and the AF average are expressions, not columns) and writes one-host rules
 * as set-packing inequalities rather than equality cliques; with it, 0 wrong answers in 3,000 stress solves.
 * index.ts watches for the remaining symptoms and then solves again without presolve. The exhaustive cross-check
 * (test/exhaustive-vs-highs.test.ts) is the guard. (Switching off the rule named in #3216 did not help: with it
 * off, HiGHS declared one of our feasible models infeasible.)
 */
export function buildLpModel(model: AdmissionModel, options: LpBuildOptions = {}): LpModel {
  const reduction = options.hostReduction ?? true;
  const plan = options.capabilities !== undefined ? options.capabilities : capabilityPlan(model);
  const { kept, classes, loose } = reduceHosts(model, reduction, plan);
  if (options.maxColumns !== undefined) {
    // The same bound as the placement columns below: one per (component, kept host) where a VM fits.
    let columns = 0;
    for (const [a, s] of model.services.entries()) {
      s.components.forEach((c, i) => {
        const local = maxLocalVms(s, i);
        if (local > 0) for (const j of kept) if (allowedOn(plan, a, i, j) && fitOnHost(model, j, c.vcpus, c.memoryMb) > 0) columns++;
      });
      if (columns > options.maxColumns) throw new LpTooLargeError(columns, options.maxColumns);
    }
  }
  const w = new LpWriter();
  const { cost: wc, eco: we, risk: wr, trust: wt } = model.weights;
  const componentVars: ComponentVars[][] = [];
  // MIP starts: every auxiliary column as a function of (x, y, φ), in dependency order (see startFrom).
  const derive: ((v: Values) => void)[] = [];
  const fullyAccepted: string[] = [];
  // Per host: CPU and memory terms of the capacity rows (C1 and v1's memory row).
  const cpuTerms = new Map<number, [string, number][]>();
  const memTerms = new Map<number, [string, number][]>();
  const cpuMaxLoad = new Map<number, number>();
  const memMaxLoad = new Map<number, number>();
  for (const j of kept) {
    cpuTerms.set(j, []);
    memTerms.set(j, []);
    cpuMaxLoad.set(j, 0);
    memMaxLoad.set(j, 0);
  }

  model.services.forEach((s, a) => {
    const N = s.components.length;
    const V = s.components.reduce((sum, c) => sum + c.maxVms, 0);
    const G = s.gain;
    const Pav = 0.5 * G;
    const fed = s.federationAllowed;
    const Xa = w.addVar(`xf_${a}`, 'binary', 0, trecViolated(s) ? 0 : 1); // C19 as a bound
    fullyAccepted.push(Xa);
    const vars: ComponentVars[] = [];
    const xOf: PlacementVar[][] = [];
    const ubOf: Map<number, number>[] = [];
    const uTight: number[] = [];
    const phiMax: number[] = [];
    const ys: string[] = [];
    const cdfs: Affine[] = [];
    const phis: (string | null)[] = [];

    // Which (component, host) pairs need h: affinity = 2 (C12), or members of a Medium anti-affinity rule (C17).
    const needH: boolean[] = s.components.map((c) => c.affinity === 2);
    const memberIdx = (r: Service['rules'][number]): number[] =>
      r.members.map((m) => s.components.findIndex((c) => c.id === m)).filter((i) => i >= 0);
    for (const r of s.rules) if (r.kind === 'antiAffinity' && r.level === 1) for (const i of memberIdx(r)) needH[i] = true;
    /** [x ≥ 1] indicator column per host, for components with needH. */
    const indicators: Map<number, string>[] = s.components.map(() => new Map());
    // C14 / N4: a Medium affinity rule (Σ_M y = |M|·Π_M y) holds iff its members' y are equal, so members share
    // one y column (the first member's). Aliasing instead of y_i = y_m rows keeps equality cliques out of the
    // model: HiGHS 1.15's presolve mishandles them (ERGO-Code/HiGHS#3216).
    const yRep = s.components.map((_, i) => i);
    const findY = (i: number): number => (yRep[i] === i ? i : (yRep[i] = findY(yRep[i]!)));
    for (const r of s.rules) {
      if (r.kind !== 'affinity' || r.level !== 1) continue;
      const M = memberIdx(r);
      for (const i of M.slice(1)) {
        const [p, q] = [findY(i), findY(M[0]!)].sort((u, v) => u - v);
        yRep[q!] = p!;
      }
    }

    s.components.forEach((c, i) => {
      const U = c.maxVms;
      const b = c.basic;
      const E = U - b;
      const local = maxLocalVms(s, i);
      const xs: PlacementVar[] = [];
      const ubs = new Map<number, number>();
      for (const j of kept) {
        // Tight per-host bound: U (or b, C10), what fits by CPU / memory, and 1 under Medium anti-affinity (C11).
        let ub = Math.min(local, fitOnHost(model, j, c.vcpus, c.memoryMb));
        if (c.antiAffinity === 1) ub = Math.min(ub, 1);
        if (ub <= 0 || !allowedOn(plan, a, i, j)) continue;
        const name = w.addVar(`x_${a}_${i}_${j}`, 'integer', 0, ub);
        xs.push({ hostIndex: j, name });
        ubs.set(j, ub);
        cpuTerms.get(j)!.push([name, c.vcpus]);
        cpuMaxLoad.set(j, cpuMaxLoad.get(j)! + c.vcpus * ub);
        if (model.hosts[j]!.freeMemoryMb !== undefined && (c.memoryMb ?? 0) > 0) {
          memTerms.get(j)!.push([name, c.memoryMb!]);
          memMaxLoad.set(j, memMaxLoad.get(j)! + c.memoryMb! * ub);
        }
        // T_a·(−wr·Pav/V): the linear part of −wr·Pav·pct·(1 − avg) (N11).
        w.addObjective(name, (-wr * Pav) / V);
      }
      // U'_ia: the tight big-M of every "X_ia ≤ M·indicator" row (§4.1: Σ_j x ≤ U already holds).
      const Ut = Math.min(local, xs.reduce((sum, x) => sum + ubs.get(x.hostIndex)!, 0));
      uTight.push(Ut);
      xOf.push(xs);
      ubOf.push(ubs);
      const X: [string, number][] = xs.map((x) => [x.name, 1]);
      const y = findY(i) === i ? w.addVar(`y_${a}_${i}`, 'binary', 0, 1) : ys[findY(i)]!;
      ys.push(y);
      // C2: b·y ≤ X ≤ U'·y (y = 0 ⇒ X = 0, the fact every linearisation below relies on).
      w.addRow([...X, [y, -b]], '>=', 0);
      w.addRow([...X, [y, -Ut]], '<=', 0);
      if (!fed) {
        // C3: all-or-nothing (xbool_low/up) with tight big-Ms.
        w.addRow([...X, [Xa, -Ut]], '<=', 0);
        w.addRow([...X, [Xa, -b]], '>=', 0);
      }
      // C4: X_a = Π y (N3), upper half here.
      w.addRow([[Xa, 1], [y, -1]], '<=', 0);
      // cdf_ia is not a column but an affine expression of integer columns, (E+1)·cdf = `scaled` (C5):
      // AF: X + φ − b + 1;  AN (N1): y·(X − b + 1) = X + (1 − b)·y, exact because y = 0 ⇒ X = 0.
      // A continuous column tied to integers by an equality lets HiGHS 1.15's presolve substitute integer
      // columns through it and lose their integrality (see PRESOLVE_NOTE); substituting it ourselves avoids that.
      let phi: string | null = null;
      let scaled: Affine;
      const avE = c.availability * (E + 1);
      if (fed) {
        // φ ≤ U (fed_vms bounds; cdf ≤ 1 gives X + φ ≤ U, so nothing tighter holds when X = 0).
        const pm = U;
        phiMax.push(pm);
        phi = w.addVar(`f_${a}_${i}`, 'integer', 0, pm);
        scaled = { terms: [...X, [phi, 1]], constant: 1 - b };
        // cdf ∈ [0, 1] is a real constraint for AF (Q5): b − 1 ≤ X + φ ≤ U.
        if (b >= 2) w.addRow([...X, [phi, 1]], '>=', b - 1);
        w.addRow([...X, [phi, 1]], '<=', U);
        if (c.availability > 0) {
          // C7 / N9: cdf ≥ av·(1−y)·g is exact as cdf ≥ av·(g − y) for 0/1 values; g = [φ ≥ 1] with big-M φmax.
          const g = w.addVar(`g_${a}_${i}`, 'binary', 0, 1);
          derive.push((v) => v.set(g, v.get(phi!) >= 1 ? 1 : 0));
          w.addRow([...scaled.terms, [g, -avE], [y, avE]], '>=', -scaled.constant);
          w.addRow([[phi, 1], [g, -1]], '>=', 0);
          w.addRow([[phi, 1], [g, -pm]], '<=', 0);
        }
        // C9: an accepted High anti-affinity component federates at least one VM.
        if (c.antiAffinity === 2) w.addRow([[phi, 1], [y, -1]], '>=', 0);
        // Federation cost −wc·fcv·φ in the objective.
        w.addObjective(phi, -wc * fcv(s, i));
      } else {
        phiMax.push(0);
        // For AN, cdf ∈ [0, 1] follows from b·y ≤ X ≤ U·y (C2): no row.
        scaled = { terms: [...X, [y, 1 - b]], constant: 0 };
      }
      phis.push(phi);
      cdfs.push(scaleAffine(scaled, 1 / (E + 1)));
      // C6: cdf ≥ av·y unless antiSC = 2 (times E+1).
      if (c.antiAffinity !== 2) w.addRow([...scaled.terms, [y, -avE]], '>=', -scaled.constant);
      // C12: h_jia = [x_jia ≥ 1]. Where x_jia ≤ 1, x is its own indicator and no h is needed; otherwise
      // x ≤ ub_j·h gives h ≥ [x ≥ 1], which is all the rows below need (h only on their ≤ side).
      // Affinity = 2 (nph = Σ_j [x_j ≥ 1] = y) is written Σ_j h ≤ y plus X ≥ y: at most one host, and when
      // accepted some VM (for b ≥ 1 already X ≥ b·y), whose host then carries the single h = 1. Same feasible
      // set as Σ_j h = y, without an equality clique (HiGHS#3216).
      if (needH[i]) {
        const ind = new Map<number, string>();
        for (const x of xs) {
          const ub = ubs.get(x.hostIndex)!;
          if (ub === 1) {
            ind.set(x.hostIndex, x.name);
            continue;
          }
          const h = w.addVar(`h_${a}_${i}_${x.hostIndex}`, 'binary', 0, 1);
          derive.push((v) => v.set(h, v.get(x.name) >= 1 ? 1 : 0));
          ind.set(x.hostIndex, h);
          w.addRow([[x.name, 1], [h, -ub]], '<=', 0);
        }
        if (c.affinity === 2) {
          w.addRow([...[...ind.values()].map((n) => [n, 1] as [string, number]), [y, -1]], '<=', 0);
          if (b === 0) w.addRow([...X, [y, -1]], '>=', 0);
        }
        indicators[i] = ind;
      }
      vars.push({ y, phi, x: xs });
    });

    derive.push((v) => v.set(Xa, ys.every((y) => v.get(y) === 1) ? 1 : 0));

    // eac:SameValue: one binary per value of the capability, at most one chosen; a member's VM on a host with value v
    // needs v chosen (x ≤ ub·z_v). Hosts lacking the capability carry no column for the members (allowedOn).
    (plan?.sameValue[a] ?? []).forEach((group, k) => {
      const byValue = new Map<number, [string, number][]>();
      for (const i of group.members) {
        for (const x of xOf[i] ?? []) {
          const value = group.valueOf[x.hostIndex]!;
          let terms = byValue.get(value);
          if (!terms) byValue.set(value, (terms = []));
          terms.push([x.name, ubOf[i]!.get(x.hostIndex)!]);
        }
      }
      const chosen: string[] = [];
      for (const [value, terms] of byValue) {
        const z = w.addVar(`sv_${a}_${k}_${value}`, 'binary', 0, 1);
        chosen.push(z);
        for (const [x, ub] of terms) w.addRow([[x, 1], [z, -ub]], '<=', 0);
        derive.push((v) => v.set(z, terms.some(([x]) => v.get(x) > 0) ? 1 : 0));
      }
      if (chosen.length > 1) w.addRow(chosen.map((z) => [z, 1] as [string, number]), '<=', 1);
    });
    // C4, lower half: X_a ≥ Σ y − (N − 1).
    w.addRow([[Xa, 1], ...ys.map((y) => [y, -1] as [string, number])], '>=', 1 - N);

    s.rules.forEach((r, k) => {
      const M = memberIdx(r);
      if (M.length === 0) return;
      if (r.kind === 'affinity') {
        if (r.level === 2) {
          // C15 / N5: q = Π_M y (exact product of binaries); p_j ≥ [Σ_M x_j ≥ 1] by big-M; Σ_j ph_j = q written
          // as Σ_j p_j ≤ q (at most one host, none unless all accepted) plus, when no member has basic VMs to force
          // one, Σ_M X ≥ q (some member VM when all accepted). Same feasible set, no equality clique (HiGHS#3216).
          const needLower = M.every((i) => s.components[i]!.basic === 0);
          const q = w.addVar(`q_${a}_${k}`, 'binary', 0, 1);
          derive.push((v) => v.set(q, M.every((i) => v.get(ys[i]!) === 1) ? 1 : 0));
          for (const i of M) w.addRow([[q, 1], [ys[i]!, -1]], '<=', 0);
          w.addRow([[q, 1], ...M.map((i) => [ys[i]!, -1] as [string, number])], '>=', 1 - M.length);
          const ps: [string, number][] = [];
          for (const j of kept) {
            const terms: [string, number][] = [];
            let bigM = 0;
            for (const i of M) {
              const ub = ubOf[i]!.get(j);
              if (ub === undefined) continue;
              terms.push([`x_${a}_${i}_${j}`, 1]);
              bigM += ub;
            }
            if (terms.length === 0) continue;
            const p = w.addVar(`p_${a}_${k}_${j}`, 'binary', 0, 1);
            derive.push((v) => v.set(p, terms.some(([n]) => v.get(n) >= 1) ? 1 : 0));
            ps.push([p, 1]);
            w.addRow([...terms, [p, -bigM]], '<=', 0);
          }
          w.addRow([...ps, [q, -1]], '<=', 0);
          if (needLower) w.addRow([...M.flatMap((i) => xOf[i]!.map((x) => [x.name, 1] as [string, number])), [q, -1]], '>=', 0);
        }
        // C16 / N6: Σ_M y·φ = 0 with every term ≥ 0, so each φ ≤ φmax·(1 − y).
        if (s.federationAllowed) {
          for (const i of M) w.addRow([[phis[i]!, 1], [ys[i]!, phiMax[i]!]], '<=', phiMax[i]!);
        }
      } else if (r.level === 1) {
        // C17: members on pairwise different hosts; only hosts where two members can both be placed matter.
        for (const j of kept) {
          const hs = M.filter((i) => ubOf[i]!.has(j)).map((i) => [indicators[i]!.get(j)!, 1] as [string, number]);
          if (hs.length >= 2) w.addRow(hs, '<=', 1);
        }
      } else {
        // C18: at most one member accepted locally.
        w.addRow(M.map((i) => [ys[i]!, 1] as [string, number]), '<=', 1);
      }
    });

    // C20: avg. AF: avg = Σ cdf / N, again an expression rather than a column. AN (N8): avg = X_a·Σ cdf / N needs
    // a column v, defined by McCormick inequalities with S = Σ cdf ∈ [0, N], exact as X_a is binary.
    const S: Affine = sumAffine(cdfs);
    let avgE: Affine;
    if (fed) {
      avgE = scaleAffine(S, 1 / N);
    } else {
      const v = w.addVar(`v_${a}`, 'continuous', 0, 1);
      derive.push((vals) => vals.set(v, (vals.get(Xa) * vals.affine(S)) / N));
      const negS = S.terms.map(([n, c]) => [n, -c] as [string, number]);
      w.addRow([[v, N], ...negS], '<=', S.constant);
      w.addRow([[v, 1], [Xa, -1]], '<=', 0);
      w.addRow([[v, N], ...negS, [Xa, -N]], '>=', -N + S.constant);
      avgE = { terms: [[v, 1]], constant: 0 };
    }
    const negAvg = avgE.terms.map(([n, c]) => [n, -c] as [string, number]);
    // Objective: (wc·G + we·Eco + wt·Trust − wr·Risk)·avg.
    const coefAvg = wc * G + we * s.eco + wt * s.trust - wr * s.risk;
    for (const [n, c] of avgE.terms) w.addObjective(n, coefAvg * c);
    w.addObjectiveConstant(coefAvg * avgE.constant);

    // C22 / N11: T·avg = Σ_k 2^k·β_k·avg with β the binary expansion of T; w_k = β_k·avg is exact by McCormick
    // because β_k is binary. Skipped when the term has no weight or T ≡ 0.
    const Tmax = uTight.reduce((sum, u) => sum + u, 0);
    const coefT = (wr * Pav) / V;
    if (coefT !== 0 && Tmax > 0) {
      const L = Math.ceil(Math.log2(Tmax + 1));
      const T: [string, number][] = xOf.flat().map((x) => [x.name, 1]);
      const bits: [string, number][] = [];
      for (let k = 0; k < L; k++) {
        // With T ∈ {0, 1} (L = 1), T is its own bit: no β and no β = T row (an equality clique, HiGHS#3216).
        const bit: [string, number][] = L === 1 ? T : [[w.addVar(`b_${a}_${k}`, 'binary', 0, 1), 1]];
        const wk = w.addVar(`w_${a}_${k}`, 'continuous', 0, 1);
        derive.push((v) => {
          const Tv = T.reduce((sum, [n]) => sum + v.get(n), 0);
          const bv = Math.floor(Tv / 2 ** k) % 2;
          if (L > 1) v.set(bit[0]![0], bv);
          v.set(wk, bv * v.affine(avgE));
        });
        if (L > 1) bits.push([bit[0]![0], 2 ** k]);
        w.addRow([[wk, 1], ...bit.map(([n, c]) => [n, -c] as [string, number])], '<=', 0);
        w.addRow([[wk, 1], ...negAvg], '<=', avgE.constant);
        w.addRow([[wk, 1], ...negAvg, ...bit.map(([n, c]) => [n, -c] as [string, number])], '>=', -1 + avgE.constant);
        w.addObjective(wk, coefT * 2 ** k);
      }
      if (L > 1) w.addRow([...bits, ...T.map(([n]) => [n, -1] as [string, number])], '=', 0);
    }

    // C21 with D2: Pav·(1 − avg) + Σ fcv·φ ≤ cc + M·(1 − s), s ≥ y_i (s = 1 whenever some component is local).
    // M = (largest possible cost) − cc; no row when the bound can never bind.
    const avgMin = fed
      ? s.components.reduce((sum, c) => sum + (c.basic === 0 ? 1 / (c.maxVms - c.basic + 1) : 0), 0) / N
      : 0;
    let maxCost = Pav >= 0 ? Pav * (1 - avgMin) : 0;
    if (fed) s.components.forEach((_, i) => (maxCost += Math.max(0, fcv(s, i)) * phiMax[i]!));
    const cc = s.constraints.cost;
    // s = 1 whenever some component is local: the switch of the cost bound and of the charge bound, one column for both.
    let localIndicator: string | null = null;
    const anyLocal = (): string => {
      if (localIndicator !== null) return localIndicator;
      const sv = (localIndicator = w.addVar(`s_${a}`, 'binary', 0, 1));
      derive.push((v) => v.set(sv, ys.some((y) => v.get(y) === 1) ? 1 : 0));
      for (const y of ys) w.addRow([[sv, 1], [y, -1]], '>=', 0);
      return sv;
    };
    if (maxCost > cc + 1e-9) {
      const bigM = maxCost - cc;
      const sv = anyLocal();
      const fedTerms: [string, number][] = [];
      phis.forEach((p, i) => {
        if (p !== null) fedTerms.push([p, fcv(s, i)]);
      });
      // Pav·(1 − avgE) + Σ fcv·φ + M·s ≤ cc + M.
      w.addRow([...avgE.terms.map(([n, c]) => [n, -Pav * c] as [string, number]), ...fedTerms, [sv, bigM]], '<=', cc - Pav + bigM + Pav * avgE.constant);
    }
    // Extension (charging): Σ_ij charge_ij·x_jia ≤ cb + M·(1 − s), charge_ij = placementCharge of one VM of component
    // i on host j (the one charge function; it is linear in the VMs). Exact: s = 1 exactly when a component is local
    // (s ≥ y_i, and s = 1 with nothing local only tightens), and with s = 0 every x is 0 (C2), so the row then says
    // 0 ≤ cb + M. M = Σ_i U'_i·(largest charge of a VM of i on a kept host) − cb bounds the charge of every point; no
    // row when that largest possible charge is within the bound. The charge is not an objective term.
    const cb = s.chargeBound;
    if (model.charging && cb !== undefined) {
      const terms: [string, number][] = [];
      let maxCharge = 0;
      xOf.forEach((xs, i) => {
        const c = s.components[i]!;
        let largest = 0;
        for (const x of xs) {
          const perVm = placementCharge(model, model.hosts[x.hostIndex]!, c, 1);
          if (perVm !== 0) terms.push([x.name, perVm]);
          if (perVm > largest) largest = perVm;
        }
        maxCharge += largest * uTight[i]!;
      });
      if (maxCharge > cb + 1e-9) {
        const bigM = maxCharge - cb;
        w.addRow([...terms, [anyLocal(), bigM]], '<=', cb + bigM);
      }
    }
    componentVars.push(vars);
  });

  // C1 (and memory): capacity rows, skipped where they can never bind (the x bounds already imply them).
  for (const j of kept) {
    const cap = freeCpus(model, j);
    if (cpuMaxLoad.get(j)! > cap) w.addRow(cpuTerms.get(j)!, '<=', cap);
    const mem = model.hosts[j]!.freeMemoryMb;
    if (mem !== undefined && memMaxLoad.get(j)! > mem) w.addRow(memTerms.get(j)!, '<=', mem);
  }
  // Symmetry breaking among interchangeable hosts: CPU loads non-increasing along each class (exact: any
  // solution can be permuted over identical hosts into this order).
  const symmetry = reduction && (options.symmetryBreaking ?? true);
  if (symmetry) {
    for (const cls of classes) {
      for (let k = 0; k + 1 < cls.length; k++) {
        const t = [...cpuTerms.get(cls[k]!)!, ...cpuTerms.get(cls[k + 1]!)!.map(([n, c]) => [n, -c] as [string, number])];
        w.addRow(t, '>=', 0);
      }
    }
  }

  const variables: LpVariableMap = { components: componentVars, fullyAccepted };
  // Dropped hosts hand their load only to kept hosts of their group (capabilities, charge class): see hostGroupKeys.
  const groupKeys = hostGroupKeys(model, plan);
  const startFrom = (allocation: Allocation): Record<string, number> | null => {
    const v = placeStart(model, allocation, variables, kept, symmetry ? classes : [], loose, groupKeys);
    if (v === null) return null;
    for (const d of derive) d(v);
    return v.nonZero();
  };
  return {
    text: w.text(),
    start: startFrom(rejectAllAllocation(model)) ?? {},
    startFrom,
    objectiveOf: (point) => w.objectiveAt(point),
    variables,
    size: {
      rows: w.rows,
      columns: w.columns,
      integerColumns: w.integerColumns,
      keptHosts: kept.length,
      totalHosts: model.hosts.length,
    },
    keptHosts: kept,
  };
}

/** Σ coefficient·column + constant. */
interface Affine {
  readonly terms: readonly (readonly [string, number])[];
  readonly constant: number;
}

function scaleAffine(e: Affine, k: number): Affine {
  return { terms: e.terms.map(([n, c]) => [n, c * k] as const), constant: e.constant * k };
}

function sumAffine(es: readonly Affine[]): Affine {
  return { terms: es.flatMap((e) => e.terms), constant: es.reduce((t, e) => t + e.constant, 0) };
}

/** Column values of a MIP start under construction; a missing column is 0. */
class Values {
  affine(e: Affine): number {
    return e.terms.reduce((t, [n, c]) => t + c * this.get(n), e.constant);
  }
  private readonly map = new Map<string, number>();
  get(name: string): number {
    return this.map.get(name) ?? 0;
  }
  set(name: string, value: number): void {
    this.map.set(name, value);
  }
  nonZero(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.map) if (v !== 0) out[k] = v;
    return out;
  }
}

/**
 * The allocation that rejects every component locally and federates the least that keeps each cdf within
 * [0, 1] and at its target when federating (Q5, C7). Feasible under D1–D4: no capacity used, X_a = 0, and the cost
 * bound does not bind without local components.
 */
export function rejectAllAllocation(model: AdmissionModel): Allocation {
  return {
    services: model.services.map((s) =>
      s.components.map((c): ComponentAllocation => {
        const E = c.maxVms - c.basic;
        const phi = !s.federationAllowed || c.basic <= 1 ? 0 : Math.min(c.maxVms, c.basic - 1 + Math.ceil(c.availability * (E + 1) - 1e-9));
        return { acceptedLocally: false, placements: [], federatedVms: phi };
      }),
    ),
  };
}

/** x, y, φ of a start from an allocation, on kept hosts only (see LpModel.startFrom). */
function placeStart(
  model: AdmissionModel,
  allocation: Allocation,
  variables: LpVariableMap,
  kept: readonly number[],
  classes: readonly (readonly number[])[],
  loose: LoosePlacement | null,
  groupKeys: readonly string[] | null = null,
): Values | null {
  if (allocation.services.length !== model.services.length) return null;
  // Loads per model host: the allocation's own placement or, when the model was cut to a loose-capacity
  // certificate, the allocation's counts re-placed inside that certificate (its first X VMs per component).
  const load = new Map<number, { a: number; i: number; vms: number }[]>();
  const add = (j: number, a: number, i: number, vms: number): void => {
    let list = load.get(j);
    if (!list) load.set(j, (list = []));
    const e = list.find((x) => x.a === a && x.i === i);
    if (e) e.vms += vms;
    else list.push({ a, i, vms });
  };
  for (const [a, comps] of allocation.services.entries()) {
    if (comps.length !== model.services[a]!.components.length) return null;
    for (const [i, ca] of comps.entries()) {
      if (loose) {
        const X = ca.placements.reduce((t, p) => t + Math.max(0, p.vms), 0);
        const slots = loose.vmHosts[a]![i]!;
        if (X > slots.length) return null;
        for (const j of slots.slice(0, X)) add(j, a, i, 1);
      } else {
        for (const p of ca.placements) if (p.vms > 0) add(p.hostIndex, a, i, p.vms);
      }
    }
  }
  // Hosts the reduction dropped hand their load to a free kept host with at least their capacity (best fit).
  const keptSet = new Set(kept);
  const target = new Map<number, number>();
  const taken = new Set<number>();
  for (const j of load.keys()) if (keptSet.has(j)) {
    target.set(j, j);
    taken.add(j);
  }
  const mem = (j: number): number => model.hosts[j]!.freeMemoryMb ?? Infinity;
  const byCpu = [...kept].sort((p, q) => freeCpus(model, p) - freeCpus(model, q) || mem(p) - mem(q) || p - q);
  for (const j of load.keys()) {
    if (keptSet.has(j)) continue;
    // With capabilities or a charge bound, only a host every component sees alike (and that charges alike) may take
    // the load over (same group key).
    const k = byCpu.find((h) => !taken.has(h) && freeCpus(model, h) >= freeCpus(model, j) && mem(h) >= mem(j) && (!groupKeys || groupKeys[h] === groupKeys[j]));
    if (k === undefined) return null;
    target.set(j, k);
    taken.add(k);
  }
  // Symmetry rows: inside a class, CPU loads must not increase along the class order.
  const cpuLoad = (j: number): number =>
    (load.get(j) ?? []).reduce((t, e) => t + e.vms * model.services[e.a]!.components[e.i]!.vcpus, 0);
  const sourceOf = new Map<number, number>(); // kept host → model host whose load it carries
  for (const [j, k] of target) sourceOf.set(k, j);
  for (const cls of classes) {
    if (cls.length < 2) continue;
    const sources = cls.map((k) => sourceOf.get(k));
    const ordered = [...sources].sort((p, q) => (q === undefined ? 0 : cpuLoad(q)) - (p === undefined ? 0 : cpuLoad(p)));
    cls.forEach((k, r) => {
      const src = ordered[r];
      if (src === undefined) sourceOf.delete(k);
      else sourceOf.set(k, src);
    });
  }
  const v = new Values();
  const xName = new Map<string, string>();
  variables.components.forEach((comps, a) =>
    comps.forEach((cv, i) => {
      for (const x of cv.x) xName.set(`${a}/${i}/${x.hostIndex}`, x.name);
    }),
  );
  for (const [k, src] of sourceOf) {
    for (const e of load.get(src) ?? []) {
      const name = xName.get(`${e.a}/${e.i}/${k}`);
      if (name === undefined) return null;
      v.set(name, v.get(name) + e.vms);
    }
  }
  const ySet = new Set<string>();
  for (const [a, comps] of variables.components.entries()) {
    for (const [i, cv] of comps.entries()) {
      const ca = allocation.services[a]![i]!;
      // Members of a Medium affinity rule share one y column: they must agree.
      if (ySet.has(cv.y) && v.get(cv.y) !== (ca.acceptedLocally ? 1 : 0)) return null;
      ySet.add(cv.y);
      v.set(cv.y, ca.acceptedLocally ? 1 : 0);
      if (cv.phi !== null) v.set(cv.phi, ca.federatedVms);
      else if (ca.federatedVms !== 0) return null;
    }
  }
  return v;
}

/** fcv_ia = 0.8·G_a / (N_a·U_ia): federating every VM of every component costs 0.8·G_a. */
function fcv(s: Service, i: number): number {
  return (0.8 * s.gain) / (s.components.length * s.components[i]!.maxVms);
}

/**
 * Turns solver column values into an Allocation. Integer columns are rounded (HiGHS returns them within its
 * integrality tolerance); a missing name reads as 0, so a sparse map of non-zero values is enough.
 */
export function decodeAllocation(variables: LpVariableMap, value: (name: string) => number): Allocation {
  return {
    services: variables.components.map((comps) =>
      comps.map((cv): ComponentAllocation => {
        const placements: HostPlacement[] = [];
        for (const x of cv.x) {
          const vms = Math.round(value(x.name));
          if (vms >= 1) placements.push({ hostIndex: x.hostIndex, vms });
        }
        return {
          acceptedLocally: Math.round(value(cv.y)) === 1,
          placements,
          federatedVms: cv.phi === null ? 0 : Math.max(0, Math.round(value(cv.phi))),
        };
      }),
    ),
  };
}
