/**
 * Per-service candidate configurations for the greedy heuristic: which components are accepted locally, how many
 * VMs each runs locally and (by exact optimisation, evaluation.ts) how many to federate. Candidates are prefixes of
 * walks, stored as steps, so their memory is O(1) each; knows nothing about hosts beyond the fleet's coarse caps.
 */
import type { Budget } from './budget';
import {
  EPS,
  evaluateConfig,
  makeConfig,
  provisionForTarget,
  ServiceEvaluator,
  takeCostSearchGaveUp,
  type ServiceConfig,
  type ServiceData,
} from './evaluation';
import { IndexedHeap } from './indexed-heap';

export { evaluateConfig, makeConfig, prepareService, ServiceEvaluator } from './evaluation';
export type { ComponentData, ServiceConfig, ServiceData } from './evaluation';

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

/** Most same-acceptance groups whose 2^g patterns are each walked (and enumerated by the proof). */
const MAX_ENUMERATED_GROUPS = 12;
/**
 * Patterns × components allowed for walking every pattern: one walk costs O(N) at least, so 2^g walks of a large
 * service would cost far more than everything else (2^12 patterns of 8 components, or 32 of 1,000, are fine).
 */
const MAX_PATTERN_WORK = 32_768;
/**
 * Steps of one walk: a walk adds one VM per step, so a component with an enormous maximum would otherwise walk
 * (and store) a step per VM of the fleet. Far above any real service (1,000 components × 100 VMs is 100,000 steps).
 */
const MAX_PATH_STEPS = 250_000;
/** Candidates kept per walk; beyond it every other one is dropped (evenly thinned), the walk's best always kept. */
const MAX_PATH_CANDIDATES = 4096;
/** Above this many components neighbours are evaluated incrementally and group swaps are left out. */
const SMALL_NEIGHBOURHOOD_COMPONENTS = 64;

// ---------------------------------------------------------------------------------------------
// Acceptance patterns

/** Whether an acceptance pattern (y) respects TREC bounds, all-or-nothing and High anti-affinity rules. */
function patternAllowed(sd: ServiceData, y: readonly boolean[]): boolean {
  const fully = y.every(Boolean);
  if (fully && !sd.trecAllowsFullAcceptance) return false;
  if (!sd.federationAllowed && !fully && y.some(Boolean)) return false;
  for (const rule of sd.atMostOneAccepted) if (rule.filter((i) => y[i]).length > 1) return false;
  return true;
}

/** Every allowed acceptance pattern (2^g of them: callers bound g). */
function allPatterns(sd: ServiceData): boolean[][] {
  const n = sd.components.length;
  const groups = sd.sameAcceptanceGroups;
  const out: boolean[][] = [];
  for (let mask = 0; mask < 1 << groups.length; mask++) {
    const y = new Array<boolean>(n).fill(false);
    groups.forEach((g, k) => {
      if (mask & (1 << k)) for (const i of g) y[i] = true;
    });
    if (patternAllowed(sd, y)) out.push(y);
  }
  return out;
}

/** Whether every pattern gets its own walk (few groups, and not too many components for that many walks). */
function patternsEnumerable(sd: ServiceData): boolean {
  const g = sd.sameAcceptanceGroups.length;
  return g <= MAX_ENUMERATED_GROUPS && 2 ** g * sd.components.length <= MAX_PATTERN_WORK;
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
  if (c.eligible) {
    // Capabilities: only the hosts it may use count (eligibility.ts), which the fleet-wide limits above overstate.
    hi = Math.min(hi, c.eligible.vms);
    if (c.antiAffinity === 1) hi = Math.min(hi, c.eligible.hosts);
    if (c.affinityHigh) hi = Math.min(hi, c.eligible.largestVms);
  }
  return [lo, hi];
}

// ---------------------------------------------------------------------------------------------
// Walks and their candidates

/** A whole same-acceptance group accepted in one step of a growth walk: its members and their starting counts. */
interface GroupStart {
  readonly members: readonly number[];
  readonly x: readonly number[];
  readonly cpus: number;
  readonly memoryMb: number;
  /** Every member's range is non-empty and each same-host block in it can get a VM. */
  readonly acceptable: boolean;
}

/**
 * One walk: a start configuration and its steps (≥ 0: one more VM of that component; −(g+1): group g accepted at
 * its starting counts). A candidate is a prefix of it; a cursor moves along the steps to rebuild one, so candidates
 * read in order (best first) cost O(1) steps each, plus the O(N) copy.
 */
class WalkPath {
  // A plain array: most walks are a few dozen steps, and allocating typed arrays per walk cost more than walking.
  private readonly steps: number[] = [];
  length = 0;
  private at = 0;
  private readonly y: boolean[];
  private readonly x: number[];

  constructor(
    start: { readonly y: readonly boolean[]; readonly x: readonly number[] },
    private readonly groups: readonly GroupStart[],
  ) {
    this.y = [...start.y];
    this.x = [...start.x];
  }

  push(step: number): void {
    this.steps.push(step);
    this.length++;
  }

  /** The configuration after the first k steps, as fresh arrays. */
  configAt(k: number): { accepted: boolean[]; x: number[] } {
    while (this.at < k) this.apply(this.steps[this.at++]!, true);
    while (this.at > k) this.apply(this.steps[--this.at]!, false);
    return { accepted: [...this.y], x: [...this.x] };
  }

  private apply(step: number, forward: boolean): void {
    if (step >= 0) {
      this.x[step]! += forward ? 1 : -1;
      return;
    }
    // A group's members take no other step before it is accepted, so undoing it restores "not accepted, 0 VMs".
    const g = this.groups[-step - 1]!;
    g.members.forEach((i, k) => {
      this.y[i] = forward;
      this.x[i] = forward ? g.x[k]! : 0;
    });
  }
}

/** A candidate configuration of one service: its value and size, rebuilt as arrays only when it is tried. */
export interface Candidate {
  /** Unique within its service (knapsack choices are told apart by it). */
  readonly id: number;
  /** The walk it lies on (its value rises with its step along the walk); undefined for fixed configurations. */
  readonly walk?: number;
  readonly value: number;
  readonly cpus: number;
  readonly memoryMb: number;
  /** The configuration as arrays with its exact value, or null when the exact evaluation finds it infeasible. */
  materialise(sd: ServiceData): ServiceConfig | null;
}

class PathCandidate implements Candidate {
  constructor(
    readonly id: number,
    readonly walk: number,
    private readonly path: WalkPath,
    private readonly step: number,
    readonly value: number,
    readonly cpus: number,
    readonly memoryMb: number,
  ) {}

  /** Small services keep their configurations (tight fleets try hundreds of them, again and again): O(N) each. */
  private kept: ServiceConfig | null | undefined;

  materialise(sd: ServiceData): ServiceConfig | null {
    if (this.kept !== undefined) return this.kept;
    const { accepted, x } = this.path.configAt(this.step);
    const federatedVms = new Array<number>(x.length);
    const value = evaluateConfig(sd, accepted, x, federatedVms);
    const config = Number.isNaN(value) ? null : { accepted, localVms: x, federatedVms, value, cpus: this.cpus, memoryMb: this.memoryMb };
    // Large services rebuild instead: keeping every tried configuration would cost O(N) per candidate again.
    if (sd.components.length <= SMALL_NEIGHBOURHOOD_COMPONENTS) this.kept = config;
    return config;
  }
}

/** A candidate that already is a configuration (frontier configurations of small services). */
export class FixedCandidate implements Candidate {
  readonly value: number;
  readonly cpus: number;
  readonly memoryMb: number;

  constructor(
    readonly id: number,
    private readonly config: ServiceConfig,
  ) {
    this.value = config.value;
    this.cpus = config.cpus;
    this.memoryMb = config.memoryMb;
  }

  materialise(): ServiceConfig {
    return this.config;
  }
}

interface WalkStart {
  readonly y: boolean[];
  readonly x: number[];
  readonly cpus: number;
  readonly memoryMb: number;
}

/** What every walk of one service shares. */
interface WalkContext {
  readonly sd: ServiceData;
  readonly limits: FleetLimits;
  readonly budget: Budget;
  readonly ranges: readonly (readonly [number, number])[];
  readonly evaluator: ServiceEvaluator;
  /** One heap for all walks of the service (ids: components, then groups), emptied between walks. */
  readonly heap: IndexedHeap;
  readonly out: Candidate[];
  nextId: number;
  steps: number;
  walks: number;
}

/** Growth walks accept whole groups as steps; a group once refused (rules, TREC, size) stays refused. */
interface Growth {
  readonly groups: readonly GroupStart[];
  /** Whether group g may be accepted next to the groups already accepted. */
  allowed(g: number): boolean;
  accepted(g: number): void;
}

/** Minimum local counts of an acceptance pattern (same-host blocks get a VM), or null when it cannot start. */
function patternStart(ctx: WalkContext, y: boolean[]): WalkStart | null {
  const { sd, limits, ranges } = ctx;
  const n = sd.components.length;
  const x = new Array<number>(n).fill(0);
  let cpus = 0;
  let memoryMb = 0;
  for (let i = 0; i < n; i++) {
    if (!y[i]) continue;
    const [lo, hi] = ranges[i]!;
    if (lo > hi) return null;
    x[i] = lo;
    cpus += lo * sd.components[i]!.vcpus;
    memoryMb += lo * sd.components[i]!.memoryMb;
  }
  // A same-host block needs at least one VM when all its members are accepted (affinity_rule: Σ_j p = q).
  for (const b of sd.blocks) {
    if (!b.every((i) => y[i]) || !b.every((i) => x[i] === 0)) continue;
    const i = b.find((k) => ranges[k]![1] > 0);
    if (i === undefined) return null;
    x[i] = 1;
    cpus += sd.components[i]!.vcpus;
    memoryMb += sd.components[i]!.memoryMb;
  }
  if (cpus > limits.totalFreeCpus || memoryMb > limits.totalFreeMemoryMb) return null;
  return { y, x, cpus, memoryMb };
}

/**
 * Walks upwards from `start` one step at a time: one VM more where the objective gains most per CPU (and, in a
 * growth walk, a whole group accepted). A component's gain is re-measured only after it moves (others' gains shift
 * little with T), and a max-heap finds the best, so a step costs O(log N). Every improving step is a candidate;
 * steps that do not raise the value are dropped (a later, bigger step is never easier to place).
 */
function walk(ctx: WalkContext, start: WalkStart, growth: Growth | null): void {
  const { sd, limits, budget, ranges } = ctx;
  const comps = sd.components;
  const n = comps.length;
  const ev = ctx.evaluator;
  ev.load(start.y, start.x);
  const path = new WalkPath(start, growth?.groups ?? []);
  const groupCount = growth ? growth.groups.length : 0;
  const heap = ctx.heap;
  heap.clear();
  let cpus = start.cpus;
  let memoryMb = start.memoryMb;
  let current = ev.value();

  const measure = (i: number): void => {
    const at = ev.x[i]!;
    if (!ev.accepted[i] || at >= ranges[i]![1]) {
      heap.remove(i);
      return;
    }
    ev.set(i, true, at + 1);
    const next = ev.value();
    ev.set(i, true, at);
    // Infeasible steps (e.g. over the cost bound) may still lead to feasible ones: rank them last.
    heap.set(i, Number.isNaN(next) ? -1e12 - i : Number.isNaN(current) ? 1e12 / comps[i]!.vcpus : (next - current) / comps[i]!.vcpus);
  };
  const setGroup = (g: GroupStart, on: boolean): void => {
    g.members.forEach((i, k) => ev.set(i, on, on ? g.x[k]! : 0));
  };
  const measureGroup = (k: number): void => {
    const g = growth!.groups[k]!;
    setGroup(g, true);
    const next = ev.value();
    setGroup(g, false);
    const size = Math.max(1, g.cpus);
    heap.set(n + k, Number.isNaN(next) ? -1e12 - (n + k) : Number.isNaN(current) ? 1e12 / size : (next - current) / size);
  };
  for (let i = 0; i < n; i++) measure(i);
  for (let k = 0; k < groupCount; k++) if (growth!.groups[k]!.acceptable) measureGroup(k);

  // Candidates of this walk, evenly thinned past MAX_PATH_CANDIDATES; the walk's best is always kept.
  let kept: PathCandidate[] = [];
  let improvements = 0;
  let stride = 1;
  let pending: PathCandidate | null = null;
  let bestValue = -Infinity;
  for (;;) {
    if (current > bestValue + EPS) {
      bestValue = current;
      const cand = new PathCandidate(ctx.nextId++, ctx.walks, path, path.length, current, cpus, memoryMb);
      if (improvements++ % stride === 0) {
        kept.push(cand);
        pending = null;
        if (kept.length >= MAX_PATH_CANDIDATES) {
          kept = kept.filter((_, k) => k % 2 === 0);
          stride *= 2;
        }
      } else pending = cand;
    }
    if (path.length >= MAX_PATH_STEPS || budget.tick()) break;
    let action = -1;
    while (heap.length > 0) {
      const top = heap.top();
      // Sizes only grow along a walk: what does not fit now never will, so it leaves the heap for good.
      if (top < n) {
        const c = comps[top]!;
        if (cpus + c.vcpus > limits.totalFreeCpus || memoryMb + c.memoryMb > limits.totalFreeMemoryMb) {
          heap.remove(top);
          continue;
        }
      } else {
        const g = growth!.groups[top - n]!;
        if (cpus + g.cpus > limits.totalFreeCpus || memoryMb + g.memoryMb > limits.totalFreeMemoryMb || !growth!.allowed(top - n)) {
          heap.remove(top);
          continue;
        }
      }
      action = top;
      break;
    }
    if (action < 0) break;
    if (action < n) {
      ev.set(action, true, ev.x[action]! + 1);
      cpus += comps[action]!.vcpus;
      memoryMb += comps[action]!.memoryMb;
      path.push(action);
      current = ev.value();
      measure(action);
    } else {
      const k = action - n;
      const g = growth!.groups[k]!;
      setGroup(g, true);
      growth!.accepted(k);
      cpus += g.cpus;
      memoryMb += g.memoryMb;
      path.push(-(k + 1));
      heap.remove(action);
      current = ev.value();
      for (const i of g.members) measure(i);
    }
  }
  if (pending) kept.push(pending);
  ctx.out.push(...kept);
  ctx.steps += path.length;
  ctx.walks++;
}

/** Starting counts of every group for growth walks (members at their minimum, blocks given a VM). */
function groupStarts(ctx: WalkContext): GroupStart[] {
  const { sd, ranges } = ctx;
  const comps = sd.components;
  const groupOf = new Int32Array(comps.length);
  sd.sameAcceptanceGroups.forEach((g, k) => g.forEach((i) => (groupOf[i] = k)));
  const starts = sd.sameAcceptanceGroups.map((members) => {
    const x = members.map((i) => ranges[i]![0]);
    const acceptable = members.every((i) => ranges[i]![0] <= ranges[i]![1]);
    return { members, x, acceptable };
  });
  // Every same-host block lies within one group (affinity rules also tie acceptance).
  for (const b of sd.blocks) {
    const g = starts[groupOf[b[0]!]!]!;
    if (!b.every((i) => g.x[g.members.indexOf(i)] === 0)) continue;
    const i = b.find((k) => ranges[k]![1] > 0);
    if (i === undefined) g.acceptable = false;
    else g.x[g.members.indexOf(i)] = 1;
  }
  return starts.map((g) => {
    let cpus = 0;
    let memoryMb = 0;
    g.members.forEach((i, k) => {
      cpus += g.x[k]! * comps[i]!.vcpus;
      memoryMb += g.x[k]! * comps[i]!.memoryMb;
    });
    return { ...g, cpus, memoryMb };
  });
}

/** Which High anti-affinity rules (at most one member accepted) each component belongs to. */
function rulesByComponent(sd: ServiceData): number[][] {
  const out: number[][] = sd.components.map(() => []);
  sd.atMostOneAccepted.forEach((rule, r) => rule.forEach((i) => out[i]!.push(r)));
  return out;
}

/**
 * For services with too many groups to walk every pattern: every group that can be accepted, taken in model order
 * while High anti-affinity rules allow it; when TREC bounds forbid full acceptance, without the group whose loss
 * costs least. Null when nothing may be accepted (e.g. a federation-forbidden service that cannot be taken whole).
 */
function basePattern(ctx: WalkContext, starts: readonly GroupStart[]): boolean[] | null {
  const { sd } = ctx;
  const n = sd.components.length;
  const y = new Array<boolean>(n).fill(false);
  const byComponent = rulesByComponent(sd);
  const acceptedPerRule = new Int32Array(sd.atMostOneAccepted.length);
  const taken: number[] = [];
  starts.forEach((g, k) => {
    if (!g.acceptable) return;
    const wanted = new Map<number, number>();
    for (const i of g.members) for (const r of byComponent[i]!) wanted.set(r, (wanted.get(r) ?? 0) + 1);
    for (const [r, more] of wanted) if (acceptedPerRule[r]! + more > 1) return;
    for (const [r, more] of wanted) acceptedPerRule[r]! += more;
    for (const i of g.members) y[i] = true;
    taken.push(k);
  });
  if (taken.length === starts.length && !sd.trecAllowsFullAcceptance) {
    if (!sd.federationAllowed) return null;
    const ev = ctx.evaluator;
    const x = new Array<number>(n).fill(0);
    starts.forEach((g) => g.members.forEach((i, k) => (x[i] = g.x[k]!)));
    ev.load(y, x);
    let drop = -1;
    let best = -Infinity;
    starts.forEach((g, k) => {
      g.members.forEach((i) => ev.set(i, false, 0));
      const v = ev.value();
      if (drop < 0 || v > best + EPS) {
        drop = k;
        best = v;
      }
      g.members.forEach((i, m) => ev.set(i, true, g.x[m]!));
    });
    for (const i of starts[drop]!.members) y[i] = false;
  }
  return y.some(Boolean) && patternAllowed(sd, y) ? y : null;
}

export interface CandidateSet {
  /** Nothing accepted locally (federation, when allowed, still optimised): always feasible. */
  readonly empty: ServiceConfig;
  /** By decreasing value, all better than `empty`. */
  readonly candidates: Candidate[];
  /** Steps walked over all walks: the work done, O(N + Σ U) per walk. */
  readonly steps: number;
  readonly walks: number;
}

/**
 * Candidate configurations of a service. With few groups, one walk per acceptance pattern from its minimum local
 * counts (every pattern is a subset of groups). With many, a bounded set of walks, so that work and memory grow
 * linearly with the components: one from the largest allowed pattern, and (federation allowed) a growth walk from
 * nothing that accepts groups or adds VMs by gain per CPU, which covers the small configurations a tight fleet needs.
 * Stops early when the budget runs out: the candidates found so far are all valid.
 */
export function candidateConfigs(sd: ServiceData, limits: FleetLimits, budget: Budget, nextId = 0): CandidateSet {
  const n = sd.components.length;
  const empty = makeConfig(sd, new Array<boolean>(n).fill(false), new Array<number>(n).fill(0));
  if (!empty) throw new Error('internal: the empty configuration must always be feasible');
  const ctx: WalkContext = {
    sd,
    limits,
    budget,
    ranges: sd.components.map((_, i) => localRange(sd, i, limits)),
    evaluator: new ServiceEvaluator(sd),
    heap: new IndexedHeap(sd.components.length + sd.sameAcceptanceGroups.length),
    out: [],
    nextId,
    steps: 0,
    walks: 0,
  };
  if (patternsEnumerable(sd)) {
    for (const y of allPatterns(sd)) {
      if (budget.tick()) break;
      if (!y.some(Boolean)) continue;
      const start = patternStart(ctx, y);
      if (start) walk(ctx, start, null);
    }
  } else {
    const starts = groupStarts(ctx);
    const base = basePattern(ctx, starts);
    const start = base && !budget.expired() ? patternStart(ctx, base) : null;
    if (start) walk(ctx, start, null);
    if (sd.federationAllowed && !budget.expired()) {
      const byComponent = rulesByComponent(sd);
      const acceptedPerRule = new Int32Array(sd.atMostOneAccepted.length);
      let acceptedGroups = 0;
      const growth: Growth = {
        groups: starts,
        allowed: (g) => {
          if (!sd.trecAllowsFullAcceptance && acceptedGroups === starts.length - 1) return false;
          for (const i of starts[g]!.members) for (const r of byComponent[i]!) if (acceptedPerRule[r]! > 0) return false;
          // Two members of one High anti-affinity rule in the same group: the group can never be accepted.
          const seen = new Set<number>();
          for (const i of starts[g]!.members) for (const r of byComponent[i]!) {
            if (seen.has(r)) return false;
            seen.add(r);
          }
          return true;
        },
        accepted: (g) => {
          acceptedGroups++;
          for (const i of starts[g]!.members) for (const r of byComponent[i]!) acceptedPerRule[r]!++;
        },
      };
      const none = new Array<boolean>(n).fill(false);
      walk(ctx, { y: none, x: new Array<number>(n).fill(0), cpus: 0, memoryMb: 0 }, growth);
    }
  }
  const candidates = ctx.out.sort((a, b) => b.value - a.value || a.cpus - b.cpus).filter((c) => c.value > empty.value + EPS);
  return { empty, candidates, steps: ctx.steps, walks: ctx.walks };
}

// ---------------------------------------------------------------------------------------------
// Enumeration (proof, frontier): small services only

/**
 * Visits every local configuration of every allowed acceptance pattern within the fleet's coarse limits
 * (skipping same-host blocks left without a VM). Returns false, having visited nothing more, as soon as the
 * total would exceed `limit` configurations, the service has too many groups, or the budget runs out.
 */
function forEachConfiguration(
  sd: ServiceData,
  limits: FleetLimits,
  limit: number,
  budget: Budget,
  visit: (y: readonly boolean[], x: readonly number[], patternStart: boolean) => void,
): boolean {
  const n = sd.components.length;
  if (sd.sameAcceptanceGroups.length > MAX_ENUMERATED_GROUPS) return false;
  let spent = 0;
  for (const y of allPatterns(sd)) {
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
    if (spent > limit || budget.expired()) return false;
    const x = [...lo];
    let first = true;
    for (;;) {
      if (budget.tick()) return false;
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
 * null when that would take more than `limit` evaluations or the budget runs out. Σ over services is an upper
 * bound on the objective, so a greedy answer that reaches it is proven optimal.
 */
export function exactServiceOptimum(sd: ServiceData, limits: FleetLimits, limit: number, budget: Budget): number | null {
  const n = sd.components.length;
  if (sd.sameAcceptanceGroups.length > MAX_ENUMERATED_GROUPS) return null; // the pattern list is not exhaustive then
  let best = evaluateConfig(sd, new Array<boolean>(n).fill(false), new Array<number>(n).fill(0));
  takeCostSearchGaveUp();
  const complete = forEachConfiguration(sd, limits, limit, budget, (y, x) => {
    const v = evaluateConfig(sd, y, x);
    if (v > best) best = v;
  });
  // A cost-bound search that gave up cannot be part of a proof.
  return takeCostSearchGaveUp() || !complete || Number.isNaN(best) ? null : best;
}

/**
 * Every local configuration of every acceptance pattern (within the fleet's coarse limits), keeping per pattern
 * only those whose value rises with their CPUs (the pattern's Pareto frontier). Richer than the candidate paths,
 * for knapsack starts when capacity is contended; null when it would take more than `limit` evaluations.
 */
export function frontierConfigs(sd: ServiceData, limits: FleetLimits, limit: number, budget: Budget): ServiceConfig[] | null {
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
  const complete = forEachConfiguration(sd, limits, limit, budget, (y, x, patternStart) => {
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

// ---------------------------------------------------------------------------------------------
// Neighbours (VM-level refinement)

/** A configuration near another one: its value and size, built as arrays only when it is tried. */
export interface NeighbourMove {
  readonly value: number;
  readonly cpus: number;
  readonly memoryMb: number;
  build(): ServiceConfig | null;
  /** Large services: the move as changes (component, accepted, local VMs), which may be re-based on another configuration. */
  readonly changes?: MoveChanges;
}

export interface MoveChanges {
  readonly idx: readonly number[];
  readonly ys: readonly boolean[];
  readonly xs: readonly number[];
}

/**
 * Whether `changes` applied to `cfg` gives a configuration the per-service rules allow (TREC bounds, all-or-nothing,
 * High anti-affinity rules) with every same-host block it touches given a VM. O(the move and the rules it touches).
 */
export function moveAllowed(sd: ServiceData, cfg: ServiceConfig, changes: MoveChanges): boolean {
  const { idx, ys, xs } = changes;
  const n = sd.components.length;
  const changed = new Map<number, number>();
  idx.forEach((i, k) => changed.set(i, k));
  const y = (i: number): boolean => {
    const k = changed.get(i);
    return k === undefined ? cfg.accepted[i]! : ys[k]!;
  };
  const x = (i: number): number => {
    const k = changed.get(i);
    return k === undefined ? cfg.localVms[i]! : xs[k]!;
  };
  let accepted = 0;
  for (let i = 0; i < n; i++) if (cfg.accepted[i]) accepted++;
  idx.forEach((i, k) => (accepted += (ys[k] ? 1 : 0) - (cfg.accepted[i] ? 1 : 0)));
  if (accepted === n && !sd.trecAllowsFullAcceptance) return false;
  if (!sd.federationAllowed && accepted !== 0 && accepted !== n) return false;
  const rules = rulesOfService(sd);
  const seenRules = new Set<number>();
  for (const i of idx) {
    for (const r of rules[i]!) {
      if (seenRules.has(r)) continue;
      seenRules.add(r);
      if (sd.atMostOneAccepted[r]!.filter((m) => y(m)).length > 1) return false;
    }
    const b = sd.components[i]!.block;
    if (b >= 0 && sd.blocks[b]!.every((m) => y(m)) && sd.blocks[b]!.every((m) => x(m) === 0)) return false;
  }
  return true;
}

const serviceRules = new WeakMap<ServiceData, number[][]>();

function rulesOfService(sd: ServiceData): number[][] {
  let rules = serviceRules.get(sd);
  if (!rules) serviceRules.set(sd, (rules = rulesByComponent(sd)));
  return rules;
}

/**
 * Configurations near `cfg`, off the candidate paths: an accepted component with one or two VMs more or less,
 * or at its minimum or maximum; a same-acceptance group switched off, or on at its minimum or maximum; one
 * group swapped for another (e.g. the other member of a High anti-affinity rule), on small services only.
 * For the VM-level refinement of the search; infeasible and duplicate neighbours are left out.
 */
export function neighbourMoves(sd: ServiceData, cfg: ServiceConfig, limits: FleetLimits, budget: Budget): NeighbourMove[] {
  if (sd.components.length > SMALL_NEIGHBOURHOOD_COMPONENTS) return largeNeighbourMoves(sd, cfg, limits, budget);
  return neighbourConfigs(sd, cfg, limits).map((c) => ({ value: c.value, cpus: c.cpus, memoryMb: c.memoryMb, build: () => c }));
}

function neighbourConfigs(sd: ServiceData, cfg: ServiceConfig, limits: FleetLimits): ServiceConfig[] {
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
 * The same neighbourhood for large services without group swaps (O(groups²)), each move evaluated incrementally
 * in O(size of the move) and built only when tried: O(N) per call instead of O(N²).
 */
/** What the neighbourhood of a large service needs besides the configuration: the same for every call of a solve. */
interface NeighbourhoodFacts {
  readonly ranges: readonly (readonly [number, number])[];
  readonly byComponent: readonly (readonly number[])[];
  /** Per switchable group: the same-host blocks inside it. */
  readonly groupBlocks: readonly (readonly (readonly number[])[])[];
  readonly evaluator: ServiceEvaluator;
}

const neighbourhoods = new WeakMap<ServiceData, NeighbourhoodFacts>();

function neighbourhoodOf(sd: ServiceData, limits: FleetLimits): NeighbourhoodFacts {
  let facts = neighbourhoods.get(sd);
  if (!facts) {
    const comps = sd.components;
    const groups = sd.federationAllowed ? sd.sameAcceptanceGroups : [comps.map((_, i) => i)];
    const groupOf = new Int32Array(comps.length);
    groups.forEach((g, k) => g.forEach((i) => (groupOf[i] = k)));
    const groupBlocks: (readonly number[])[][] = groups.map(() => []);
    for (const b of sd.blocks) groupBlocks[groupOf[b[0]!]!]!.push(b);
    facts = { ranges: comps.map((_, i) => localRange(sd, i, limits)), byComponent: rulesByComponent(sd), groupBlocks, evaluator: new ServiceEvaluator(sd) };
    neighbourhoods.set(sd, facts);
  }
  return facts;
}

function largeNeighbourMoves(sd: ServiceData, cfg: ServiceConfig, limits: FleetLimits, budget: Budget): NeighbourMove[] {
  const n = sd.components.length;
  const comps = sd.components;
  const facts = neighbourhoodOf(sd, limits);
  const { ranges, byComponent } = facts;
  const ev = facts.evaluator;
  ev.load(cfg.accepted, cfg.localVms);
  const out: NeighbourMove[] = [];
  const acceptedPerRule = new Int32Array(sd.atMostOneAccepted.length);
  let acceptedCount = 0;
  for (let i = 0; i < n; i++) {
    if (!cfg.accepted[i]) continue;
    acceptedCount++;
    for (const r of byComponent[i]!) acceptedPerRule[r]!++;
  }
  /** Evaluates a move given as parallel lists (component, accepted, local VMs), then undoes it. */
  const consider = (idx: readonly number[], ys: readonly boolean[], xs: readonly number[]): void => {
    let cpus = cfg.cpus;
    let memoryMb = cfg.memoryMb;
    idx.forEach((i, k) => {
      cpus += (xs[k]! - cfg.localVms[i]!) * comps[i]!.vcpus;
      memoryMb += (xs[k]! - cfg.localVms[i]!) * comps[i]!.memoryMb;
      ev.set(i, ys[k]!, xs[k]!);
    });
    const value = ev.value();
    for (const i of idx) ev.set(i, cfg.accepted[i]!, cfg.localVms[i]!);
    if (Number.isNaN(value)) return;
    out.push({
      value,
      cpus,
      memoryMb,
      changes: { idx, ys, xs },
      build: () => {
        const y = [...cfg.accepted];
        const x = [...cfg.localVms];
        idx.forEach((i, k) => {
          y[i] = ys[k]!;
          x[i] = xs[k]!;
        });
        return makeConfig(sd, y, x);
      },
    });
  };
  const blockEmptyWith = (i: number, v: number): boolean => {
    const b = comps[i]!.block;
    return b >= 0 && v === 0 && sd.blocks[b]!.every((k) => k === i || !cfg.accepted[k] || cfg.localVms[k] === 0);
  };
  for (let i = 0; i < n && !budget.tick(); i++) {
    if (!cfg.accepted[i]) continue;
    const [lo, hi] = ranges[i]!;
    const at = cfg.localVms[i]!;
    const seen = new Set<number>();
    for (const v of [at + 1, at - 1, at + 2, at - 2, lo, hi]) {
      if (v < lo || v > hi || v === at || seen.has(v) || blockEmptyWith(i, v)) continue;
      seen.add(v);
      consider([i], [true], [v]);
    }
  }
  // Group switches; federation-forbidden services switch as a whole.
  const groups = sd.federationAllowed ? sd.sameAcceptanceGroups : [comps.map((_, i) => i)];
  for (const [k, g] of groups.entries()) {
    if (budget.tick()) break;
    const on = g.every((i) => cfg.accepted[i]);
    if (on) {
      if (!sd.federationAllowed && acceptedCount < n) continue;
      consider(g, g.map(() => false), g.map(() => 0));
      continue;
    }
    if (g.some((i) => ranges[i]![0] > ranges[i]![1])) continue;
    const newly = g.filter((i) => !cfg.accepted[i]).length;
    if (acceptedCount + newly === n && !sd.trecAllowsFullAcceptance) continue;
    if (!sd.federationAllowed && acceptedCount + newly !== n) continue;
    const perRule = new Map<number, number>();
    for (const i of g) if (!cfg.accepted[i]) for (const r of byComponent[i]!) perRule.set(r, (perRule.get(r) ?? 0) + 1);
    if ([...perRule].some(([r, more]) => acceptedPerRule[r]! + more > 1)) continue;
    for (const atMax of [false, true]) {
      const xs = g.map((i) => (atMax ? ranges[i]![1] : ranges[i]![0]));
      // A same-host block of the group left without a VM is not a configuration.
      const inGroup = new Map(g.map((i, m) => [i, xs[m]!]));
      const emptyBlock = facts.groupBlocks[k]!.some((b) => b.every((i) => (inGroup.get(i) ?? cfg.localVms[i]!) === 0));
      if (!emptyBlock) consider(g, g.map(() => true), xs);
    }
  }
  return out;
}
