/**
 * Per-service candidate configurations for the greedy heuristic: which components are accepted locally,
 * how many VMs each runs locally, and (by exact optimisation, not a fixed top-up) how many to federate.
 * Knows the objective and the per-service constraints; knows nothing about hosts beyond coarse caps.
 */
import type { AdmissionModel, Service } from '../../model/types';

const EPS = 1e-9;

/** One component of a service, with the derived parameters of model.md §3.3. */
export interface ComponentData {
  readonly basic: number;
  readonly maxVms: number;
  readonly elastic: number;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly availability: number;
  readonly affinityHigh: boolean;
  readonly antiAffinity: 0 | 1 | 2;
  /** Federation cost per VM, fcv = 0.8·G/(N·U). */
  readonly fedCostPerVm: number;
  /** Member of a Medium/High affinity rule: may not be federated once accepted (affinity_rule_plus). */
  readonly noFederationWhenAccepted: boolean;
  /** Components sharing a Medium anti-affinity rule with this one: their VMs avoid this one's hosts. */
  readonly antiPartners: readonly number[];
  /** Index of the same-host block this component belongs to (−1: none). */
  readonly block: number;
}

export interface ServiceData {
  readonly index: number;
  readonly service: Service;
  readonly federationAllowed: boolean;
  readonly components: readonly ComponentData[];
  /** wc·G + we·Eco + wt·Trust − wr·Risk: the value of full availability. */
  readonly availabilityValue: number;
  /** wr·Pav/V: the unavailability penalty per local VM at avg = 0. */
  readonly penaltyPerLocalVm: number;
  readonly unavailabilityPenalty: number;
  readonly maxVmsTotal: number;
  readonly weightCost: number;
  /** All TREC bounds hold, so full acceptance is allowed. */
  readonly trecAllowsFullAcceptance: boolean;
  readonly costBound: number;
  /** Groups of component indices whose y must be equal (Medium/High affinity rules, merged). */
  readonly sameAcceptanceGroups: readonly (readonly number[])[];
  /** Member lists of High anti-affinity rules: at most one accepted locally. */
  readonly atMostOneAccepted: readonly (readonly number[])[];
  /** Same-host blocks: component lists (High affinity rules merged, plus High affinity components). */
  readonly blocks: readonly (readonly number[])[];
}

/** A configuration of one service: y, X and φ per component, with its objective value. */
export interface ServiceConfig {
  readonly accepted: readonly boolean[];
  readonly localVms: readonly number[];
  readonly federatedVms: readonly number[];
  readonly value: number;
  readonly cpus: number;
  readonly memoryMb: number;
}

/** Coarse limits of the host fleet that bound useful local counts. */
export interface FleetLimits {
  readonly totalFreeCpus: number;
  readonly totalFreeMemoryMb: number;
  readonly largestFreeCpus: number;
  readonly largestFreeMemoryMb: number;
  /** Number of hosts able to take one VM of at least 1 vCPU (spread components need distinct hosts). */
  readonly usableHosts: number;
  /** hostsFitting(vcpus, memoryMb): hosts able to hold one such VM. */
  hostsFitting(vcpus: number, memoryMb: number): number;
}

class UnionFind {
  private readonly parent: number[];
  constructor(n: number) {
    this.parent = Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]!]!;
      i = this.parent[i]!;
    }
    return i;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
  groups(members?: Set<number>): number[][] {
    const byRoot = new Map<number, number[]>();
    this.parent.forEach((_, i) => {
      if (members && !members.has(i)) return;
      const root = this.find(i);
      const list = byRoot.get(root) ?? [];
      list.push(i);
      byRoot.set(root, list);
    });
    return [...byRoot.values()];
  }
}

export function prepareService(model: AdmissionModel, index: number): ServiceData {
  const s = model.services[index]!;
  const w = model.weights;
  const n = s.components.length;
  const idx = new Map(s.components.map((c, i) => [c.id, i]));
  const members = (r: { members: readonly string[] }): number[] =>
    r.members.map((m) => idx.get(m)).filter((i): i is number => i !== undefined);

  const same = new UnionFind(n);
  const block = new UnionFind(n);
  const inBlock = new Set<number>();
  const noFed = new Set<number>();
  const partners: Set<number>[] = Array.from({ length: n }, () => new Set<number>());
  const atMostOne: number[][] = [];
  for (const rule of s.rules) {
    const m = members(rule);
    if (rule.kind === 'affinity') {
      m.forEach((i) => noFed.add(i));
      for (const i of m) same.union(i, m[0]!);
      if (rule.level === 2) {
        for (const i of m) {
          block.union(i, m[0]!);
          inBlock.add(i);
        }
      }
    } else if (rule.level === 1) {
      for (const i of m) for (const k of m) if (i !== k) partners[i]!.add(k);
    } else if (m.length > 1) {
      atMostOne.push(m);
    }
  }
  s.components.forEach((c, i) => {
    if (c.affinity === 2) inBlock.add(i);
  });
  const blocks = block.groups(inBlock);
  const blockOf = new Array<number>(n).fill(-1);
  blocks.forEach((b, k) => b.forEach((i) => (blockOf[i] = k)));

  const maxVmsTotal = s.components.reduce((t, c) => t + c.maxVms, 0);
  const components: ComponentData[] = s.components.map((c, i) => ({
    basic: c.basic,
    maxVms: c.maxVms,
    elastic: c.maxVms - c.basic,
    vcpus: c.vcpus,
    memoryMb: c.memoryMb ?? 0,
    availability: c.availability,
    affinityHigh: c.affinity === 2,
    antiAffinity: c.antiAffinity,
    fedCostPerVm: (0.8 * s.gain) / (n * c.maxVms),
    noFederationWhenAccepted: noFed.has(i),
    antiPartners: [...partners[i]!].sort((a, b) => a - b),
    block: blockOf[i]!,
  }));
  const pav = 0.5 * s.gain;
  return {
    index,
    service: s,
    federationAllowed: s.federationAllowed,
    components,
    availabilityValue: w.cost * s.gain + w.eco * s.eco + w.trust * s.trust - w.risk * s.risk,
    penaltyPerLocalVm: (w.risk * pav) / maxVmsTotal,
    unavailabilityPenalty: pav,
    maxVmsTotal,
    weightCost: w.cost,
    trecAllowsFullAcceptance:
      s.eco >= s.constraints.eco && s.risk <= s.constraints.risk && s.trust >= s.constraints.trust,
    costBound: s.constraints.cost,
    sameAcceptanceGroups: same.groups(),
    atMostOneAccepted: atMostOne,
    blocks,
  };
}

/** Smallest provisioned count X + φ that reaches the availability target: cdf ≥ av. */
function provisionForTarget(c: ComponentData): number {
  return Math.max(0, Math.ceil(c.basic - 1 + c.availability * (c.elastic + 1) - EPS));
}

/** Scratch output of federationChoices: the point {0} when zeroOk, and the range [lo, hi] when lo ≤ hi. */
interface FederationChoice {
  zeroOk: boolean;
  lo: number;
  hi: number;
}
const scratch: FederationChoice = { zeroOk: false, lo: 1, hi: 0 };

/**
 * The feasible federated counts of one component, given y and X (§3.5.4–3.5.5), written into `out`.
 * Returns false when nothing is feasible. Allocation-free: this is the heuristic's innermost loop.
 */
function federationChoices(sd: ServiceData, c: ComponentData, accepted: boolean, x: number, out: FederationChoice): boolean {
  out.zeroOk = false;
  out.lo = 1;
  out.hi = 0;
  if (!sd.federationAllowed) {
    // cdf = y·(X − b + 1)/(E + 1) must reach av for accepted components (unless anti-affinity High).
    if (accepted && c.antiAffinity !== 2 && x < provisionForTarget(c)) return false;
    out.zeroOk = true;
    return true;
  }
  const nonNegative = Math.max(0, c.basic - 1 - x); // cdf ≥ 0 (quirk Q5)
  if (accepted) {
    let lo = nonNegative;
    if (c.antiAffinity === 2) lo = Math.max(lo, 1);
    else lo = Math.max(lo, provisionForTarget(c) - x);
    if (c.noFederationWhenAccepted) {
      out.zeroOk = lo <= 0;
      return out.zeroOk;
    }
    if (lo <= 0) out.zeroOk = true;
    out.lo = Math.max(lo, 1);
    out.hi = c.maxVms - x; // cdf ≤ 1
    return out.zeroOk || out.lo <= out.hi;
  }
  out.zeroOk = nonNegative === 0;
  out.lo = Math.max(1, nonNegative, provisionForTarget(c));
  out.hi = c.maxVms;
  return out.zeroOk || out.lo <= out.hi;
}

/** Value and cost of the last successful evaluateConfig call (avoids allocating a result object). */
export const lastEvaluation = { value: 0, cost: 0 };
/** Set when the cost-bound search gave up (too many combinations): such a NaN is not a proof of infeasibility. */
let costSearchGaveUp = false;

/**
 * Value of a configuration with the best federated counts (written into `federatedOut` when given), or NaN
 * when infeasible. Given the local counts, the objective is linear in each φ_i (coefficient
 * (C + wr·Pav·T/V)/(N·(E_i+1)) − wc·fcv_i), so an end of each feasible range is optimal; the cost bound (D2)
 * is the only coupling, handled by enumerating the ends when it binds.
 */
export function evaluateConfig(sd: ServiceData, accepted: readonly boolean[], x: readonly number[], federatedOut?: number[]): number {
  const comps = sd.components;
  const n = comps.length;
  let localTotal = 0;
  let fully = true;
  let anyAccepted = false;
  for (let i = 0; i < n; i++) {
    localTotal += x[i]!;
    if (accepted[i]) anyAccepted = true;
    else fully = false;
  }
  if (!sd.federationAllowed && !fully) {
    // X_a = 0 ⇒ nothing local and avg = 0: the value is exactly 0.
    if (localTotal !== 0) return NaN;
    if (federatedOut) federatedOut.fill(0, 0, n);
    lastEvaluation.value = 0;
    lastEvaluation.cost = sd.unavailabilityPenalty;
    return 0;
  }
  const perAvg = sd.availabilityValue + sd.penaltyPerLocalVm * localTotal; // coefficient of avg
  let cdfSum = 0;
  let fedCost = 0;
  for (let i = 0; i < n; i++) {
    const c = comps[i]!;
    if (!federationChoices(sd, c, accepted[i]!, x[i]!, scratch)) return NaN;
    const slope = perAvg / (n * (c.elastic + 1)) - sd.weightCost * c.fedCostPerVm;
    let f: number;
    if (scratch.lo > scratch.hi) f = 0;
    else if (slope > EPS) f = scratch.hi;
    else f = scratch.zeroOk ? 0 : scratch.lo;
    if (federatedOut) federatedOut[i] = f;
    cdfSum += sd.federationAllowed ? (x[i]! + f - c.basic + 1) / (c.elastic + 1) : (x[i]! - c.basic + 1) / (c.elastic + 1);
    fedCost += c.fedCostPerVm * f;
  }
  const avg = cdfSum / n;
  const cost = sd.unavailabilityPenalty * (1 - avg) + fedCost;
  if (!anyAccepted || cost <= sd.costBound + 1e-7) {
    lastEvaluation.value = perAvg * avg - sd.penaltyPerLocalVm * localTotal - sd.weightCost * fedCost;
    lastEvaluation.cost = cost;
    return lastEvaluation.value;
  }
  return bestUnderCostBound(sd, accepted, x, localTotal, federatedOut);
}

/** Rare path: the φ-optimal configuration breaks the cost bound; search the range ends exhaustively. */
function bestUnderCostBound(sd: ServiceData, accepted: readonly boolean[], x: readonly number[], localTotal: number, federatedOut?: number[]): number {
  const comps = sd.components;
  const n = comps.length;
  const points: number[][] = [];
  let total = 1;
  for (let i = 0; i < n; i++) {
    const ch: FederationChoice = { zeroOk: false, lo: 1, hi: 0 };
    federationChoices(sd, comps[i]!, accepted[i]!, x[i]!, ch);
    const set = new Set<number>();
    if (ch.zeroOk) set.add(0);
    if (ch.lo <= ch.hi) {
      set.add(ch.lo);
      set.add(ch.hi);
    }
    points.push([...set].sort((a, b) => a - b));
    total *= set.size;
  }
  if (total > 4096) {
    costSearchGaveUp = true; // too many combinations: treat as infeasible (the heuristic stays safe)
    return NaN;
  }
  let best = NaN;
  let bestCost = 0;
  let bestPick: number[] = [];
  const pick = new Array<number>(n).fill(0);
  for (let k = 0; k < total; k++) {
    let rest = k;
    let cdfSum = 0;
    let fedCost = 0;
    for (let i = 0; i < n; i++) {
      const p = points[i]!;
      pick[i] = p[rest % p.length]!;
      rest = Math.floor(rest / p.length);
      const c = comps[i]!;
      cdfSum += (x[i]! + pick[i]! - c.basic + 1) / (c.elastic + 1);
      fedCost += c.fedCostPerVm * pick[i]!;
    }
    const avg = cdfSum / n;
    const cost = sd.unavailabilityPenalty * (1 - avg) + fedCost;
    if (cost > sd.costBound + 1e-7) continue;
    const value = sd.availabilityValue * avg - sd.penaltyPerLocalVm * localTotal * (1 - avg) - sd.weightCost * fedCost;
    if (Number.isNaN(best) || value > best + EPS) {
      best = value;
      bestCost = cost;
      bestPick = [...pick];
    }
  }
  if (Number.isNaN(best)) return NaN;
  if (federatedOut) bestPick.forEach((f, i) => (federatedOut[i] = f));
  lastEvaluation.value = best;
  lastEvaluation.cost = bestCost;
  return best;
}

/** Freezes the current configuration (its federated counts re-derived) as a candidate. */
export function makeConfig(sd: ServiceData, accepted: readonly boolean[], x: readonly number[]): ServiceConfig | null {
  const federatedVms = new Array<number>(x.length);
  const value = evaluateConfig(sd, accepted, x, federatedVms);
  if (Number.isNaN(value)) return null;
  let cpus = 0;
  let memoryMb = 0;
  sd.components.forEach((c, i) => {
    cpus += c.vcpus * x[i]!;
    memoryMb += c.memoryMb * x[i]!;
  });
  return { accepted: [...accepted], localVms: [...x], federatedVms, value, cpus, memoryMb };
}

/** Whether an acceptance pattern (y) respects TREC bounds, all-or-nothing and High anti-affinity rules. */
function patternAllowed(sd: ServiceData, y: readonly boolean[]): boolean {
  const fully = y.every(Boolean);
  if (fully && !sd.trecAllowsFullAcceptance) return false;
  if (!sd.federationAllowed && !fully && y.some(Boolean)) return false;
  for (const rule of sd.atMostOneAccepted) if (rule.filter((i) => y[i]).length > 1) return false;
  return true;
}

/** Acceptance patterns (y vectors) allowed by the per-service rules, TREC bounds and all-or-nothing. */
function acceptancePatterns(sd: ServiceData): boolean[][] {
  const n = sd.components.length;
  const groups = sd.sameAcceptanceGroups;
  const patterns: boolean[][] = [];
  const push = (y: boolean[]): void => {
    if (patternAllowed(sd, y)) patterns.push(y);
  };
  if (groups.length <= 12) {
    for (let mask = 0; mask < 1 << groups.length; mask++) {
      const y = new Array<boolean>(n).fill(false);
      groups.forEach((g, k) => {
        if (mask & (1 << k)) for (const i of g) y[i] = true;
      });
      push(y);
    }
  } else {
    // Too many groups to enumerate: none, all, all-but-one-group and single groups.
    push(new Array<boolean>(n).fill(false));
    push(new Array<boolean>(n).fill(true));
    groups.forEach((g) => {
      const without = new Array<boolean>(n).fill(true);
      const only = new Array<boolean>(n).fill(false);
      for (const i of g) {
        without[i] = false;
        only[i] = true;
      }
      push(without);
      push(only);
    });
  }
  return patterns;
}

/** Local-count range of an accepted component, before packing (which decides the rest). */
function localRange(sd: ServiceData, i: number, limits: FleetLimits): [number, number] {
  const c = sd.components[i]!;
  let lo = c.basic;
  if (c.affinityHigh) lo = Math.max(lo, 1);
  const canTopUp = sd.federationAllowed && !c.noFederationWhenAccepted;
  if (!canTopUp && c.antiAffinity !== 2) lo = Math.max(lo, provisionForTarget(c));
  let hi = c.antiAffinity === 2 ? c.basic : c.maxVms;
  if (c.antiAffinity === 2 && sd.federationAllowed) hi = Math.min(hi, c.maxVms - 1); // φ ≥ 1 and X + φ ≤ U
  if (c.antiAffinity === 1) hi = Math.min(hi, limits.hostsFitting(c.vcpus, c.memoryMb));
  if (c.affinityHigh) {
    hi = Math.min(hi, Math.floor(limits.largestFreeCpus / c.vcpus));
    if (c.memoryMb > 0) hi = Math.min(hi, Math.floor(limits.largestFreeMemoryMb / c.memoryMb));
  }
  hi = Math.min(hi, Math.floor(limits.totalFreeCpus / c.vcpus));
  return [lo, hi];
}

/**
 * Candidate configurations of a service: for each acceptance pattern, the path that starts at the
 * minimum local counts and adds one VM at a time where it adds most value per CPU. Each step is a
 * candidate; steps that do not raise the value are dropped (a later, bigger step is never easier to place).
 */
export function candidateConfigs(sd: ServiceData, limits: FleetLimits): { empty: ServiceConfig; candidates: ServiceConfig[] } {
  const n = sd.components.length;
  const none = new Array<boolean>(n).fill(false);
  const zero = new Array<number>(n).fill(0);
  const empty = makeConfig(sd, none, zero);
  if (!empty) throw new Error('internal: the empty configuration must always be feasible');
  const candidates: ServiceConfig[] = [];

  for (const y of acceptancePatterns(sd)) {
    if (!y.some(Boolean)) continue;
    const x = new Array<number>(n).fill(0);
    const hi = new Array<number>(n).fill(0);
    let ok = true;
    let cpus = 0;
    let memoryMb = 0;
    for (let i = 0; i < n && ok; i++) {
      if (!y[i]) continue;
      const [lo, h] = localRange(sd, i, limits);
      if (lo > h) ok = false;
      x[i] = lo;
      hi[i] = h;
      cpus += lo * sd.components[i]!.vcpus;
      memoryMb += lo * sd.components[i]!.memoryMb;
    }
    // A same-host block needs at least one VM when all its members are accepted (affinity_rule: Σ_j p = q).
    for (const b of sd.blocks) {
      if (!ok || !b.every((i) => y[i]) || !b.every((i) => x[i] === 0)) continue;
      const i = b.find((k) => hi[k]! > 0);
      if (i === undefined) ok = false;
      else {
        x[i] = 1;
        cpus += sd.components[i]!.vcpus;
        memoryMb += sd.components[i]!.memoryMb;
      }
    }
    if (!ok || cpus > limits.totalFreeCpus || memoryMb > limits.totalFreeMemoryMb) continue;
    // Walk upwards one VM at a time. The gain per CPU of each component is re-measured only after that
    // component moves (others' gains shift little with T), which keeps a step at two evaluations, not N + 1.
    const federated = new Array<number>(n).fill(0);
    let current = evaluateConfig(sd, y, x, federated);
    const gainPerCpu = new Float64Array(n);
    const measure = (i: number): void => {
      const c = sd.components[i]!;
      if (!y[i] || x[i]! >= hi[i]!) {
        gainPerCpu[i] = -Infinity;
        return;
      }
      x[i]!++;
      const next = evaluateConfig(sd, y, x);
      x[i]!--;
      // Infeasible steps (e.g. over the cost bound) may still lead to feasible ones: rank them last.
      gainPerCpu[i] = Number.isNaN(next) ? -1e12 - i : Number.isNaN(current) ? 1e12 / c.vcpus : (next - current) / c.vcpus;
    };
    for (let i = 0; i < n; i++) measure(i);
    let bestValue = -Infinity;
    for (;;) {
      if (current > bestValue + EPS) {
        bestValue = current;
        candidates.push({ accepted: [...y], localVms: [...x], federatedVms: [...federated], value: current, cpus, memoryMb });
      }
      let bestI = -1;
      for (let i = 0; i < n; i++) {
        if (gainPerCpu[i] === -Infinity) continue;
        const c = sd.components[i]!;
        if (cpus + c.vcpus > limits.totalFreeCpus || memoryMb + c.memoryMb > limits.totalFreeMemoryMb) continue;
        if (bestI < 0 || gainPerCpu[i]! > gainPerCpu[bestI]!) bestI = i;
      }
      if (bestI < 0) break;
      x[bestI]!++;
      cpus += sd.components[bestI]!.vcpus;
      memoryMb += sd.components[bestI]!.memoryMb;
      current = evaluateConfig(sd, y, x, federated);
      measure(bestI);
    }
  }
  candidates.sort((a, b) => b.value - a.value || a.cpus - b.cpus);
  return { empty, candidates: candidates.filter((c) => c.value > empty.value + EPS) };
}

/**
 * Visits every local configuration of every allowed acceptance pattern within the fleet's coarse limits
 * (skipping same-host blocks left without a VM). Returns false, having visited nothing more, as soon as the
 * total would exceed `budget` configurations.
 */
function forEachConfiguration(
  sd: ServiceData,
  limits: FleetLimits,
  budget: number,
  visit: (y: readonly boolean[], x: readonly number[], patternStart: boolean) => void,
): boolean {
  const n = sd.components.length;
  let spent = 0;
  for (const y of acceptancePatterns(sd)) {
    if (!y.some(Boolean)) continue;
    const lo = new Array<number>(n).fill(0);
    const hi = new Array<number>(n).fill(0);
    let count = 1;
    for (let i = 0; i < n; i++) {
      if (!y[i]) continue;
      [lo[i], hi[i]] = localRange(sd, i, limits);
      count *= Math.max(0, hi[i]! - lo[i]! + 1);
    }
    if (count === 0) continue;
    spent += count;
    if (spent > budget) return false;
    const x = [...lo];
    let first = true;
    for (;;) {
      if (!sd.blocks.some((b) => b.every((i) => y[i]) && b.every((i) => x[i] === 0))) {
        visit(y, x, first);
        first = false;
      }
      let i = 0;
      while (i < n && (!y[i] || x[i] === hi[i])) {
        if (y[i]) x[i] = lo[i]!;
        i++;
      }
      if (i === n) break;
      x[i]!++;
    }
  }
  return true;
}

/**
 * The exact best value of a service on its own (other services and host packing ignored: a relaxation),
 * by enumerating every acceptance pattern and every local count within the fleet's coarse limits. Returns
 * null when that would take more than `budget` evaluations. Σ over services is an upper bound on the
 * objective, so a greedy answer that reaches it is proven optimal.
 */
export function exactServiceOptimum(sd: ServiceData, limits: FleetLimits, budget: number): number | null {
  const n = sd.components.length;
  if (sd.sameAcceptanceGroups.length > 12) return null; // the pattern list is not exhaustive then
  let best = evaluateConfig(sd, new Array<boolean>(n).fill(false), new Array<number>(n).fill(0));
  costSearchGaveUp = false;
  const complete = forEachConfiguration(sd, limits, budget, (y, x) => {
    const v = evaluateConfig(sd, y, x);
    if (v > best) best = v;
  });
  // A cost-bound search that gave up cannot be part of a proof.
  return !complete || costSearchGaveUp || Number.isNaN(best) ? null : best;
}

/**
 * Configurations near `cfg`, off the candidate paths: an accepted component with one or two VMs more or less,
 * or at its minimum or maximum; a same-acceptance group switched off, or on at its minimum or maximum; one
 * group swapped for another (e.g. the other member of a High anti-affinity rule). For the VM-level
 * refinement of the search; infeasible and duplicate neighbours are left out.
 */
export function neighbourConfigs(sd: ServiceData, cfg: ServiceConfig, limits: FleetLimits): ServiceConfig[] {
  const n = sd.components.length;
  const out: ServiceConfig[] = [];
  const seen = new Set<string>([`${cfg.accepted.map(Number).join('')}:${cfg.localVms.join(',')}`]);
  const ranges = sd.components.map((_, i) => localRange(sd, i, limits));
  const consider = (y: boolean[], x: number[]): void => {
    const key = `${y.map(Number).join('')}:${x.join(',')}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (!patternAllowed(sd, y)) return;
    for (const b of sd.blocks) if (b.every((i) => y[i]) && b.every((i) => x[i] === 0)) return;
    const c = makeConfig(sd, y, x);
    if (c) out.push(c);
  };
  for (let i = 0; i < n; i++) {
    if (!cfg.accepted[i]) continue;
    const [lo, hi] = ranges[i]!;
    const at = cfg.localVms[i]!;
    for (const v of [at + 1, at - 1, at + 2, at - 2, lo, hi]) {
      if (v < lo || v > hi || v === at) continue;
      const x = [...cfg.localVms];
      x[i] = v;
      consider([...cfg.accepted], x);
    }
  }
  // Group switches; federation-forbidden services switch as a whole.
  const groups = sd.federationAllowed ? sd.sameAcceptanceGroups : [sd.components.map((_, i) => i)];
  const switched = (y: boolean[], x: number[], g: readonly number[], on: boolean, atMax: boolean): boolean => {
    for (const i of g) {
      const [lo, hi] = ranges[i]!;
      if (on && lo > hi) return false;
      y[i] = on;
      x[i] = on ? (atMax ? hi : lo) : 0;
    }
    return true;
  };
  groups.forEach((g, k) => {
    const on = g.every((i) => cfg.accepted[i]);
    for (const atMax of on ? [false] : [false, true]) {
      const y = [...cfg.accepted];
      const x = [...cfg.localVms];
      if (switched(y, x, g, !on, atMax)) consider(y, x);
    }
    if (!on || !sd.federationAllowed) return;
    groups.forEach((other, m) => {
      if (m === k || other.every((i) => cfg.accepted[i])) return;
      for (const atMax of [false, true]) {
        const y = [...cfg.accepted];
        const x = [...cfg.localVms];
        if (switched(y, x, g, false, false) && switched(y, x, other, true, atMax)) consider(y, x);
      }
    });
  });
  return out;
}

/**
 * Every local configuration of every acceptance pattern (within the fleet's coarse limits), keeping per pattern
 * only those whose value rises with their CPUs (the pattern's Pareto frontier). Richer than the candidate paths,
 * for knapsack starts when capacity is contended; null when it would take more than `budget` evaluations.
 */
export function frontierConfigs(sd: ServiceData, limits: FleetLimits, budget: number): ServiceConfig[] | null {
  const out: ServiceConfig[] = [];
  let pattern: readonly boolean[] = [];
  let points: { x: number[]; value: number; cpus: number }[] = [];
  const flush = (): void => {
    points.sort((p, q) => p.cpus - q.cpus || q.value - p.value);
    let best = -Infinity;
    for (const p of points) {
      if (p.value <= best + EPS) continue;
      best = p.value;
      const c = makeConfig(sd, pattern, p.x);
      if (c) out.push(c);
    }
    points = [];
  };
  const complete = forEachConfiguration(sd, limits, budget, (y, x, patternStart) => {
    if (patternStart) {
      flush();
      pattern = [...y];
    }
    let cpus = 0;
    for (let i = 0; i < x.length; i++) cpus += x[i]! * sd.components[i]!.vcpus;
    if (cpus > limits.totalFreeCpus) return;
    const value = evaluateConfig(sd, y, x);
    if (!Number.isNaN(value)) points.push({ x: [...x], value, cpus });
  });
  flush();
  return complete ? out : null;
}
