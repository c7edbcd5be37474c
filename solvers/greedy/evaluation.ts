/**
 * The objective of one service configuration (model.md §3): derived per-service data, the exact evaluation with
 * optimal federated counts, and an incremental evaluator for walks that change one component at a time.
 * Knows nothing about hosts or packing; service-options.ts builds candidates from it.
 */
import { chargeExceeds, type ComponentCharges } from './charging';
import type { EligibleCapacity, ServiceEligibility } from './eligibility';
import type { AdmissionModel, ComponentAllocation, Service } from '../../model/types';

export const EPS = 1e-9;
/** Combinations of federated-count ends the cost-bound search enumerates before it gives up. */
const COST_SEARCH_MAX_COMBINATIONS = 4096;

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
  /** Hosts it may use (model order, eligibility.ts); null: every host. */
  readonly allowed: Uint8Array | null;
  /** What those hosts can hold of it; null: unconstrained (the fleet's limits apply). */
  readonly eligible: EligibleCapacity | null;
  /**
   * Charge of one local VM as the charge bound counts it (extension: charging, charging.ts): the most it costs on a
   * host it may use, so the bound holds wherever packing puts it. 0 without a charge bound.
   */
  readonly chargePerVm: number;
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
  /** The charge bound (extension: charging), binding with local acceptance like the cost bound; Infinity: none. */
  readonly chargeBound: number;
  /** Groups of component indices whose y must be equal (Medium/High affinity rules, merged). */
  readonly sameAcceptanceGroups: readonly (readonly number[])[];
  /** Member lists of High anti-affinity rules: at most one accepted locally. */
  readonly atMostOneAccepted: readonly (readonly number[])[];
  /** Same-host blocks: component lists (High affinity rules merged, plus High affinity components). */
  readonly blocks: readonly (readonly number[])[];
  /** The hosts its restricted components may use (union of their masks), which its unrestricted VMs avoid; null: none. */
  readonly restrictedHosts: Uint8Array | null;
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

/**
 * `charges`: the per-VM charges of the components (charging.ts), given when the model has a charge bound; without
 * them no charge bound is applied (callers that evaluate local configurations pass them: see Search).
 */
export function prepareService(
  model: Pick<AdmissionModel, 'services' | 'weights'>,
  index: number,
  eligibility: ServiceEligibility | null = null,
  charges: ComponentCharges | null = null,
): ServiceData {
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
    allowed: eligibility?.allowed[i] ?? null,
    eligible: eligibility?.eligible[i] ?? null,
    chargePerVm: charges ? charges.high[i]! : 0,
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
    chargeBound: charges && s.chargeBound !== undefined ? s.chargeBound : Infinity,
    sameAcceptanceGroups: same.groups(),
    atMostOneAccepted: atMostOne,
    blocks,
    restrictedHosts: unionOf(components.map((c) => c.allowed)),
  };
}

function unionOf(masks: readonly (Uint8Array | null)[]): Uint8Array | null {
  let out: Uint8Array | null = null;
  for (const m of masks) {
    if (!m) continue;
    out ??= new Uint8Array(m.length);
    for (let j = 0; j < m.length; j++) out[j]! |= m[j]!;
  }
  return out;
}

/** Smallest provisioned count X + φ that reaches the availability target: cdf ≥ av. */
export function provisionForTarget(c: ComponentData): number {
  return Math.max(0, Math.ceil(c.basic - 1 + c.availability * (c.elastic + 1) - EPS));
}

/** Scratch output of federationChoices: the point {0} when zeroOk, and the range [lo, hi] when lo ≤ hi. */
export interface FederationChoice {
  zeroOk: boolean;
  lo: number;
  hi: number;
}
const scratch: FederationChoice = { zeroOk: false, lo: 1, hi: 0 };

/**
 * The feasible federated counts of one component, given y and X (§3.5.4–3.5.5), written into `out`.
 * Returns false when nothing is feasible. Allocation-free: this is the heuristic's innermost loop.
 */
export function federationChoices(sd: ServiceData, c: ComponentData, accepted: boolean, x: number, out: FederationChoice): boolean {
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

/** Set when the cost-bound search gave up (too many combinations): such a NaN is not a proof of infeasibility. */
let costSearchGaveUp = false;

/** Clears the give-up flag; returns whether it was set since the last call (exactServiceOptimum's proof needs to know). */
export function takeCostSearchGaveUp(): boolean {
  const was = costSearchGaveUp;
  costSearchGaveUp = false;
  return was;
}

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
  // The charge bound (extension: charging) depends on the local counts only, not on φ: a configuration over it with
  // local acceptance is infeasible whatever is federated.
  if (anyAccepted && sd.chargeBound !== Infinity && chargeExceeds(chargeOf(sd, x), sd.chargeBound)) return NaN;
  if (!sd.federationAllowed && !fully) {
    // X_a = 0 ⇒ nothing local and avg = 0: the value is exactly 0.
    if (localTotal !== 0) return NaN;
    if (federatedOut) federatedOut.fill(0, 0, n);
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
    return perAvg * avg - sd.penaltyPerLocalVm * localTotal - sd.weightCost * fedCost;
  }
  return bestUnderCostBound(sd, accepted, x, localTotal, federatedOut);
}

/** The service's charge as the bound counts it: Σ chargePerVm·X, in component order (the evaluator sums alike). */
export function chargeOf(sd: ServiceData, x: readonly number[]): number {
  let charge = 0;
  for (let i = 0; i < sd.components.length; i++) charge += sd.components[i]!.chargePerVm * x[i]!;
  return charge;
}

/**
 * The service with the least per-VM charges instead of the most (`low` of charging.ts): a relaxation of its charge
 * bound, for the capacity-free proof bound, which must not exclude what an exact placement on cheap hosts allows.
 * The service itself when the bound is absent or the two agree.
 */
export function relaxedChargeService(sd: ServiceData, low: readonly number[] | null): ServiceData {
  if (sd.chargeBound === Infinity || !low || sd.components.every((c, i) => c.chargePerVm === low[i])) return sd;
  return { ...sd, components: sd.components.map((c, i) => ({ ...c, chargePerVm: low[i]! })) };
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
  if (total > COST_SEARCH_MAX_COMBINATIONS) {
    costSearchGaveUp = true; // too many combinations: treat as infeasible (the heuristic stays safe)
    return NaN;
  }
  let best = NaN;
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
      bestPick = [...pick];
    }
  }
  if (Number.isNaN(best)) return NaN;
  if (federatedOut) bestPick.forEach((f, i) => (federatedOut[i] = f));
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

/**
 * Up to this many components the evaluator simply calls evaluateConfig on each read: O(N) is nothing at that size,
 * cheaper than keeping the incremental state, and small services (every benchmark and test instance of the OPTIMIS
 * sizes) get exactly the values, and so the choices, they always had.
 */
const DIRECT_MAX_COMPONENTS = 64;

/**
 * The value of a configuration that changes one component at a time, in O(1) per change and per read instead of
 * evaluateConfig's O(N) (a walk over a 1,000-component service makes thousands of changes).
 *
 * Why it can be incremental: given the local counts, the optimal φ_i is an end of its range chosen by the sign of
 * slope_i = (A + p·L)/(N·(E_i+1)) − wc·fcv_i, where L = Σ X is the only coupling between components. The sign is
 * monotone in L, so each component switches ends at one L (`flipAt`, found by bisection on the very expression
 * evaluateConfig uses, hence the same choice). Moving L by one applies the switches registered at that L.
 * The cost bound (D2) still couples all φ: when it binds, the exact search of evaluateConfig is used.
 */
export class ServiceEvaluator {
  readonly accepted: boolean[];
  readonly x: number[];
  private readonly n: number;
  private readonly direct: boolean;
  /** p ≥ 0: a component federates its maximum from L = flipAt on; p < 0: below flipAt. */
  private readonly rising: boolean;
  private readonly maxL: number;
  private readonly flipAt: number[];
  private readonly feasible: number[];
  private readonly hasRange: number[];
  /** Cost-bound search points of each component (1–3), for its give-up test in O(1). */
  private readonly points: number[];
  private readonly cdfLow: number[];
  private readonly fedLow: number[];
  private readonly cdfHigh: number[];
  private readonly fedHigh: number[];
  /** Distinct switching points in (0, maxL], ascending; each component's rank among them. */
  private readonly switches: number[];
  private readonly switchRank: number[];
  /** Change of the running sums when L rises past switches[k] (the switches registered there). */
  private readonly stepCdf: number[];
  private readonly stepFed: number[];
  /** Number of switching points ≤ L: those already applied to the running sums. */
  private crossed = 0;
  private localTotal = 0;
  private acceptedCount = 0;
  private infeasible = 0;
  private twoPoints = 0;
  private threePoints = 0;
  private cdfSum = 0;
  private fedCost = 0;
  /** Σ chargePerVm·X (only kept with a charge bound); recounted on resync like the other running sums. */
  private charge = 0;
  private changes = 0;
  private readonly scratch: FederationChoice = { zeroOk: false, lo: 1, hi: 0 };

  constructor(
    private readonly sd: ServiceData,
    accepted?: readonly boolean[],
    x?: readonly number[],
  ) {
    const n = (this.n = sd.components.length);
    this.direct = n <= DIRECT_MAX_COMPONENTS;
    this.rising = sd.penaltyPerLocalVm >= 0;
    this.maxL = sd.maxVmsTotal;
    // A direct evaluator keeps only the configuration (no incremental state).
    const size = this.direct ? 0 : n;
    this.flipAt = new Array<number>(size).fill(0);
    this.feasible = new Array<number>(size).fill(0);
    this.hasRange = new Array<number>(size).fill(0);
    this.points = new Array<number>(size).fill(0);
    this.cdfLow = new Array<number>(size).fill(0);
    this.fedLow = new Array<number>(size).fill(0);
    this.cdfHigh = new Array<number>(size).fill(0);
    this.fedHigh = new Array<number>(size).fill(0);
    // Components share a switching point when they share (E, U): a handful of classes in practice.
    const byClass = new Map<string, number>();
    if (!this.direct) {
      sd.components.forEach((c, i) => {
        const key = `${c.elastic}/${c.fedCostPerVm}`;
        let f = byClass.get(key);
        if (f === undefined) byClass.set(key, (f = this.switchPoint(c)));
        this.flipAt[i] = f;
      });
    }
    // Tables per distinct point, not per value of L: Σ U may be huge where the points are few.
    const points = [...new Set(this.flipAt)].filter((f) => f > 0 && f <= this.maxL).sort((a, b) => a - b);
    this.switches = points;
    const rank = new Map(points.map((f, k) => [f, k]));
    this.switchRank = this.flipAt.map((f) => rank.get(f) ?? -1);
    this.stepCdf = new Array<number>(points.length).fill(0);
    this.stepFed = new Array<number>(points.length).fill(0);
    this.accepted = new Array<boolean>(n).fill(false);
    this.x = new Array<number>(n).fill(0);
    this.load(accepted ?? this.accepted, x ?? this.x);
  }

  /** Replaces the whole configuration: O(N). */
  load(accepted: readonly boolean[], x: readonly number[]): void {
    if (this.direct) {
      this.localTotal = 0;
      for (let i = 0; i < this.n; i++) {
        this.accepted[i] = accepted[i]!;
        this.x[i] = x[i]!;
        this.localTotal += x[i]!;
      }
      return;
    }
    this.stepCdf.fill(0);
    this.stepFed.fill(0);
    this.localTotal = 0;
    this.acceptedCount = 0;
    this.infeasible = 0;
    this.twoPoints = 0;
    this.threePoints = 0;
    // measure() first takes a component's old counts out: start from counts that take out nothing.
    this.feasible.fill(1);
    this.points.fill(0);
    for (let i = 0; i < this.n; i++) {
      this.accepted[i] = accepted[i]!;
      this.x[i] = x[i]!;
      this.localTotal += x[i]!;
      if (accepted[i]) this.acceptedCount++;
    }
    this.crossed = 0;
    while (this.crossed < this.switches.length && this.switches[this.crossed]! <= this.localTotal) this.crossed++;
    for (let i = 0; i < this.n; i++) {
      this.measure(i);
      this.register(i, 1);
    }
    this.resync();
  }

  /** Sets component i to (accepted, x): O(1 + |Δx|). */
  set(i: number, accepted: boolean, x: number): void {
    const oldX = this.x[i]!;
    if (accepted === this.accepted[i] && x === oldX) return;
    if (this.direct) {
      this.accepted[i] = accepted;
      this.x[i] = x;
      this.localTotal += x - oldX;
      return;
    }
    this.register(i, -1);
    this.subtractCurrent(i);
    if (this.sd.chargeBound !== Infinity) this.charge += this.sd.components[i]!.chargePerVm * (x - oldX);
    this.moveLocalTotal(this.localTotal + x - oldX);
    if (this.accepted[i] !== accepted) this.acceptedCount += accepted ? 1 : -1;
    this.accepted[i] = accepted;
    this.x[i] = x;
    this.measure(i);
    this.register(i, 1);
    this.addCurrent(i);
    // Running sums drift by rounding; a full recount every N changes bounds the drift at O(1) amortised cost.
    if (++this.changes >= this.n) this.resync();
  }

  /** The configuration's value with optimal federated counts, or NaN when infeasible: as evaluateConfig. */
  value(): number {
    const sd = this.sd;
    if (this.direct) return evaluateConfig(sd, this.accepted, this.x);
    const n = this.n;
    if (!sd.federationAllowed && this.acceptedCount < n) return this.localTotal === 0 ? 0 : NaN;
    if (this.infeasible > 0) return NaN;
    if (this.acceptedCount > 0 && sd.chargeBound !== Infinity && chargeExceeds(this.charge, sd.chargeBound)) return NaN;
    const cdfSum = this.cdfSum;
    const fedCost = this.fedCost;
    const perAvg = sd.availabilityValue + sd.penaltyPerLocalVm * this.localTotal;
    const avg = cdfSum / n;
    const cost = sd.unavailabilityPenalty * (1 - avg) + fedCost;
    if (this.acceptedCount === 0 || cost <= sd.costBound + 1e-7) {
      return perAvg * avg - sd.penaltyPerLocalVm * this.localTotal - sd.weightCost * fedCost;
    }
    // The cost bound binds: evaluateConfig's search over range ends, unless it would give up anyway.
    if (this.twoPoints + this.threePoints > 12 || 2 ** this.twoPoints * 3 ** this.threePoints > COST_SEARCH_MAX_COMBINATIONS) {
      costSearchGaveUp = true;
      return NaN;
    }
    return evaluateConfig(sd, this.accepted, this.x);
  }

  get totalLocalVms(): number {
    return this.localTotal;
  }

  /** Smallest L at which slope > EPS differs from its value at L = 0 (maxL + 1: never), by bisection. */
  private switchPoint(c: ComponentData): number {
    const sd = this.sd;
    const n = this.n;
    const high = (L: number): boolean => (sd.availabilityValue + sd.penaltyPerLocalVm * L) / (n * (c.elastic + 1)) - sd.weightCost * c.fedCostPerVm > EPS;
    const atZero = high(0);
    if (this.rising ? atZero : !atZero) return 0;
    let lo = 0;
    let hi = this.maxL + 1;
    // Invariant: high(lo) === atZero; hi is the first L known to differ (maxL + 1 stands for "never").
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (high(mid) === atZero) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  private isHigh(i: number, L: number): boolean {
    if (this.hasRange[i] === 0) return false;
    return this.rising ? L >= this.flipAt[i]! : L < this.flipAt[i]!;
  }

  /** Recomputes component i's two possible contributions (federating the low or the high end of its range). */
  private measure(i: number): void {
    const sd = this.sd;
    const c = sd.components[i]!;
    const ch = this.scratch;
    // Old counts leave first.
    if (this.feasible[i] === 0) this.infeasible--;
    if (this.points[i] === 2) this.twoPoints--;
    else if (this.points[i] === 3) this.threePoints--;
    const x = this.x[i]!;
    const ok = federationChoices(sd, c, this.accepted[i]!, x, ch);
    this.feasible[i] = ok ? 1 : 0;
    if (!ok) {
      this.infeasible++;
      this.points[i] = 0;
      this.hasRange[i] = 0;
      this.cdfLow[i] = this.cdfHigh[i] = this.fedLow[i] = this.fedHigh[i] = 0;
      return;
    }
    const range = ch.lo <= ch.hi;
    this.hasRange[i] = range ? 1 : 0;
    const points = (ch.zeroOk ? 1 : 0) + (range ? (ch.lo === ch.hi ? 1 : 2) : 0);
    this.points[i] = points;
    if (points === 2) this.twoPoints++;
    else if (points === 3) this.threePoints++;
    const low = range ? (ch.zeroOk ? 0 : ch.lo) : 0;
    const high = range ? ch.hi : 0;
    // The same expressions, in the same order, as evaluateConfig's loop.
    if (sd.federationAllowed) {
      this.cdfLow[i] = (x + low - c.basic + 1) / (c.elastic + 1);
      this.cdfHigh[i] = (x + high - c.basic + 1) / (c.elastic + 1);
    } else {
      this.cdfLow[i] = this.cdfHigh[i] = (x - c.basic + 1) / (c.elastic + 1);
    }
    this.fedLow[i] = c.fedCostPerVm * low;
    this.fedHigh[i] = c.fedCostPerVm * high;
  }

  /** Adds (sign 1) or removes (−1) component i's switch from the step tables. */
  private register(i: number, sign: number): void {
    const k = this.switchRank[i]!;
    if (this.hasRange[i] === 0 || k < 0) return;
    // Rising past the point switches a rising component low → high and a falling one high → low.
    const dir = this.rising ? sign : -sign;
    this.stepCdf[k]! += dir * (this.cdfHigh[i]! - this.cdfLow[i]!);
    this.stepFed[k]! += dir * (this.fedHigh[i]! - this.fedLow[i]!);
  }

  private subtractCurrent(i: number): void {
    const high = this.isHigh(i, this.localTotal);
    this.cdfSum -= high ? this.cdfHigh[i]! : this.cdfLow[i]!;
    this.fedCost -= high ? this.fedHigh[i]! : this.fedLow[i]!;
  }

  private addCurrent(i: number): void {
    const high = this.isHigh(i, this.localTotal);
    this.cdfSum += high ? this.cdfHigh[i]! : this.cdfLow[i]!;
    this.fedCost += high ? this.fedHigh[i]! : this.fedLow[i]!;
  }

  private moveLocalTotal(to: number): void {
    const points = this.switches;
    while (this.crossed < points.length && points[this.crossed]! <= to) {
      this.cdfSum += this.stepCdf[this.crossed]!;
      this.fedCost += this.stepFed[this.crossed]!;
      this.crossed++;
    }
    while (this.crossed > 0 && points[this.crossed - 1]! > to) {
      this.crossed--;
      this.cdfSum -= this.stepCdf[this.crossed]!;
      this.fedCost -= this.stepFed[this.crossed]!;
    }
    this.localTotal = to;
  }

  private resync(): void {
    this.changes = 0;
    let cdfSum = 0;
    let fedCost = 0;
    for (let i = 0; i < this.n; i++) {
      const high = this.isHigh(i, this.localTotal);
      cdfSum += high ? this.cdfHigh[i]! : this.cdfLow[i]!;
      fedCost += high ? this.fedHigh[i]! : this.fedLow[i]!;
    }
    this.cdfSum = cdfSum;
    this.fedCost = fedCost;
    if (this.sd.chargeBound !== Infinity) this.charge = chargeOf(this.sd, this.x);
  }
}

/**
 * A service with nothing accepted locally, federation optimised: always feasible (D1–D4), O(N). The answer when a
 * solve could not give one in time.
 */
export function emptyEvaluation(model: Pick<AdmissionModel, 'services' | 'weights'>, a: number): { allocation: ComponentAllocation[]; value: number } {
  const sd = prepareService(model, a);
  const n = sd.components.length;
  const cfg = makeConfig(sd, new Array<boolean>(n).fill(false), new Array<number>(n).fill(0));
  if (!cfg) throw new Error('internal: the empty configuration must always be feasible');
  return { allocation: cfg.federatedVms.map((federatedVms) => ({ acceptedLocally: false, placements: [], federatedVms })), value: cfg.value };
}
