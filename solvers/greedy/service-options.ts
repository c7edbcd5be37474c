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

/**
 * The feasible federated counts of one component, given y and X, as at most two intervals
 * (a point {0} and a range), per §3.5.4–3.5.5. Returns [] when nothing is feasible.
 */
function federationChoices(sd: ServiceData, c: ComponentData, accepted: boolean, x: number): [number, number][] {
  if (!sd.federationAllowed) {
    // cdf = y·(X − b + 1)/(E + 1) must reach av for accepted components (unless anti-affinity High).
    if (accepted && c.antiAffinity !== 2 && x < provisionForTarget(c)) return [];
    return [[0, 0]];
  }
  const hi = c.maxVms - x; // cdf ≤ 1
  const nonNegative = Math.max(0, c.basic - 1 - x); // cdf ≥ 0 (quirk Q5)
  if (accepted) {
    let lo = nonNegative;
    if (c.antiAffinity === 2) lo = Math.max(lo, 1);
    else lo = Math.max(lo, provisionForTarget(c) - x);
    if (c.noFederationWhenAccepted) return lo <= 0 ? [[0, 0]] : [];
    return lo <= hi ? [[lo, hi]] : [];
  }
  const out: [number, number][] = [];
  if (nonNegative === 0) out.push([0, 0]);
  const lo = Math.max(1, nonNegative, provisionForTarget(c));
  if (lo <= c.maxVms) out.push([lo, c.maxVms]);
  return out;
}

interface Evaluation {
  value: number;
  cost: number;
  federated: number[];
}

/**
 * Value of a configuration with the best federated counts. Given the local counts, the objective is linear
 * in each φ_i (coefficient (C + wr·Pav·T/V)/(N·(E_i+1)) − wc·fcv_i), so an endpoint of each feasible
 * interval is optimal; the cost bound (D2) is the only coupling, handled by enumerating endpoints.
 */
export function evaluateConfig(sd: ServiceData, accepted: readonly boolean[], x: readonly number[]): Evaluation | null {
  const comps = sd.components;
  const n = comps.length;
  let localTotal = 0;
  for (let i = 0; i < n; i++) localTotal += x[i]!;
  let fully = true;
  let anyAccepted = false;
  for (let i = 0; i < n; i++) {
    if (accepted[i]) anyAccepted = true;
    else fully = false;
  }
  if (!sd.federationAllowed && !fully) {
    // X_a = 0 ⇒ nothing local and avg = 0: the value is exactly 0.
    return localTotal === 0 ? { value: 0, cost: sd.unavailabilityPenalty, federated: new Array<number>(n).fill(0) } : null;
  }
  const share = localTotal / sd.maxVmsTotal;
  const perAvg = sd.availabilityValue + sd.penaltyPerLocalVm * localTotal; // coefficient of avg
  const choices: [number, number][][] = [];
  const federated = new Array<number>(n);
  let cdfSum = 0;
  let fedCost = 0;
  for (let i = 0; i < n; i++) {
    const c = comps[i]!;
    const ranges = federationChoices(sd, c, accepted[i]!, x[i]!);
    if (ranges.length === 0) return null;
    choices.push(ranges);
    const slope = perAvg / (n * (c.elastic + 1)) - sd.weightCost * c.fedCostPerVm;
    let best = -1;
    let bestGain = -Infinity;
    for (const [lo, hi] of ranges) {
      for (const f of lo === hi ? [lo] : [lo, hi]) {
        const gain = slope * f;
        if (gain > bestGain + EPS || (Math.abs(gain - bestGain) <= EPS && f < best)) {
          bestGain = gain;
          best = f;
        }
      }
    }
    federated[i] = best;
    cdfSum += sd.federationAllowed ? (x[i]! + best - c.basic + 1) / (c.elastic + 1) : (x[i]! - c.basic + 1) / (c.elastic + 1);
    fedCost += c.fedCostPerVm * best;
  }
  const avg = cdfSum / n;
  const value = sd.availabilityValue * avg - sd.penaltyPerLocalVm * localTotal * (1 - avg) - sd.weightCost * fedCost;
  const cost = sd.unavailabilityPenalty * (1 - avg) + fedCost;
  if (!anyAccepted || cost <= sd.costBound + 1e-7) return { value, cost, federated };
  return bestUnderCostBound(sd, x, choices, share);
}

/** Rare path: the φ-optimal configuration breaks the cost bound; search the interval endpoints exhaustively. */
function bestUnderCostBound(sd: ServiceData, x: readonly number[], choices: [number, number][][], share: number): Evaluation | null {
  const comps = sd.components;
  const n = comps.length;
  const points = choices.map((ranges) => {
    const set = new Set<number>();
    for (const [lo, hi] of ranges) {
      set.add(lo);
      set.add(hi);
    }
    return [...set].sort((a, b) => a - b);
  });
  let total = 1;
  for (const p of points) total *= p.length;
  if (total > 4096) return null; // too many combinations: treat as infeasible (the heuristic stays safe)
  let best: Evaluation | null = null;
  const pick = new Array<number>(n).fill(0);
  for (let k = 0; k < total; k++) {
    let rest = k;
    for (let i = 0; i < n; i++) {
      const p = points[i]!;
      pick[i] = p[rest % p.length]!;
      rest = Math.floor(rest / p.length);
    }
    let cdfSum = 0;
    let fedCost = 0;
    for (let i = 0; i < n; i++) {
      const c = comps[i]!;
      cdfSum += (x[i]! + pick[i]! - c.basic + 1) / (c.elastic + 1);
      fedCost += c.fedCostPerVm * pick[i]!;
    }
    const avg = cdfSum / n;
    const cost = sd.unavailabilityPenalty * (1 - avg) + fedCost;
    if (cost > sd.costBound + 1e-7) continue;
    const value = sd.availabilityValue * avg - sd.penaltyPerLocalVm * sd.maxVmsTotal * share * (1 - avg) - sd.weightCost * fedCost;
    if (!best || value > best.value + EPS) best = { value, cost, federated: [...pick] };
  }
  return best;
}

function makeConfig(sd: ServiceData, accepted: readonly boolean[], x: readonly number[], e: Evaluation): ServiceConfig {
  let cpus = 0;
  let memoryMb = 0;
  sd.components.forEach((c, i) => {
    cpus += c.vcpus * x[i]!;
    memoryMb += c.memoryMb * x[i]!;
  });
  return { accepted: [...accepted], localVms: [...x], federatedVms: e.federated, value: e.value, cpus, memoryMb };
}

/** Acceptance patterns (y vectors) allowed by the per-service rules, TREC bounds and all-or-nothing. */
function acceptancePatterns(sd: ServiceData): boolean[][] {
  const n = sd.components.length;
  const groups = sd.sameAcceptanceGroups;
  const patterns: boolean[][] = [];
  const push = (y: boolean[]): void => {
    const fully = y.every(Boolean);
    if (fully && !sd.trecAllowsFullAcceptance) return;
    if (!sd.federationAllowed && !fully && y.some(Boolean)) return;
    for (const rule of sd.atMostOneAccepted) if (rule.filter((i) => y[i]).length > 1) return;
    patterns.push(y);
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
  const emptyEval = evaluateConfig(sd, none, zero);
  if (!emptyEval) throw new Error('internal: the empty configuration must always be feasible');
  const empty = makeConfig(sd, none, zero, emptyEval);
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
    if (!ok || cpus > limits.totalFreeCpus || memoryMb > limits.totalFreeMemoryMb) continue;
    // A same-host block needs at least one VM when all its members are accepted (affinity_rule: Σ_j p = q).
    for (const b of sd.blocks) {
      if (b.every((i) => y[i]) && b.every((i) => x[i] === 0)) {
        const i = b.find((k) => hi[k]! > 0);
        if (i === undefined) ok = false;
        else {
          x[i] = 1;
          cpus += sd.components[i]!.vcpus;
        }
      }
    }
    if (!ok) continue;
    let current = evaluateConfig(sd, y, x);
    let bestValue = -Infinity;
    for (;;) {
      if (current && current.value > bestValue + EPS) {
        bestValue = current.value;
        candidates.push(makeConfig(sd, y, x, current));
      }
      let bestI = -1;
      let bestScore = -Infinity;
      let bestEval: Evaluation | null = null;
      for (let i = 0; i < n; i++) {
        if (!y[i] || x[i]! >= hi[i]!) continue;
        const c = sd.components[i]!;
        if (cpus + c.vcpus > limits.totalFreeCpus || memoryMb + c.memoryMb > limits.totalFreeMemoryMb) continue;
        x[i]!++;
        const e = evaluateConfig(sd, y, x);
        x[i]!--;
        // Infeasible intermediate steps (e.g. below an availability target) still lead somewhere: rank them last.
        const score = e ? (e.value - (current?.value ?? e.value - 1e6)) / c.vcpus : -1e12 - i;
        if (score > bestScore) {
          bestScore = score;
          bestI = i;
          bestEval = e;
        }
      }
      if (bestI < 0) break;
      x[bestI]!++;
      cpus += sd.components[bestI]!.vcpus;
      memoryMb += sd.components[bestI]!.memoryMb;
      current = bestEval;
    }
  }
  candidates.sort((a, b) => b.value - a.value || a.cpus - b.cpus);
  return { empty, candidates: candidates.filter((c) => c.value > empty.value + EPS) };
}
