/**
 * The greedy heuristic: per-service candidate configurations (service-options.ts), a best-fit ascent over
 * services in several orders, then ruin-and-recreate local search within a time budget. Pure and
 * deterministic (unless the time budget cuts the local search); its answers are verified by the caller.
 */
import type { AdmissionModel, Allocation, ComponentAllocation, SolveOptions, SolveResult, Solver } from '../../model/types';
import { HostPool } from './host-pool';
import { placeService, releaseService, type ServicePlacement } from './packing';
import { candidateConfigs, exactServiceOptimum, prepareService, type FleetLimits, type ServiceConfig, type ServiceData } from './service-options';

const EPS = 1e-9;
/** Default budget of the local search (seconds); it usually stops earlier, at a local optimum. */
export const DEFAULT_GREEDY_TIME_LIMIT_SECONDS = 2;

interface ServiceState {
  readonly data: ServiceData;
  readonly empty: ServiceConfig;
  /** Candidates by decreasing value, all better than `empty`. */
  readonly candidates: readonly ServiceConfig[];
  config: ServiceConfig;
  placement: ServicePlacement | null;
}

class Search {
  readonly states: ServiceState[];
  readonly pool: HostPool;
  private readonly deadline: number;
  readonly limits: FleetLimits;
  placementsTried = 0;

  constructor(model: AdmissionModel, deadline: number) {
    const data = model.services.map((_, a) => prepareService(model, a));
    let smallest = Infinity;
    for (const sd of data) for (const c of sd.components) smallest = Math.min(smallest, c.vcpus);
    this.pool = new HostPool(model, Number.isFinite(smallest) ? smallest : 1);
    this.deadline = deadline;
    const totals = this.pool.totals();
    const fitting = new Map<string, number>();
    const limits: FleetLimits = (this.limits = {
      totalFreeCpus: totals.cpus,
      totalFreeMemoryMb: totals.memoryMb,
      largestFreeCpus: totals.largestCpus,
      largestFreeMemoryMb: totals.largestMemoryMb,
      usableHosts: this.pool.size,
      hostsFitting: (cpus, memoryMb) => {
        const key = `${cpus}/${memoryMb}`;
        let n = fitting.get(key);
        if (n === undefined) fitting.set(key, (n = this.pool.countFitting(cpus, memoryMb)));
        return n;
      },
    });
    this.states = data.map((sd) => {
      const { empty, candidates } = candidateConfigs(sd, limits);
      return { data: sd, empty, candidates, config: empty, placement: null };
    });
  }

  timeLeft(): boolean {
    return performance.now() < this.deadline;
  }

  total(): number {
    return this.states.reduce((t, s) => t + s.config.value, 0);
  }

  /** Every service holds its best candidate: no move can improve, so the search may stop. */
  allAtBest(): boolean {
    return this.states.every((s) => s.candidates.length === 0 || s.config === s.candidates[0]);
  }

  /** The best candidate of a service that fits next to everything else, placed; or null (pool unchanged). */
  private placeBest(state: ServiceState, floor: number): { config: ServiceConfig; placement: ServicePlacement } | null {
    const pool = this.pool;
    for (const cand of state.candidates) {
      if (cand.value <= floor + EPS) break;
      if (cand.cpus > pool.totalFreeCpus || cand.memoryMb > pool.totalFreeMemoryMb) continue;
      this.placementsTried++;
      const placement = placeService(pool, state.data, cand);
      if (placement) return { config: cand, placement };
    }
    return null;
  }

  private setEmpty(state: ServiceState): void {
    if (state.placement) releaseService(this.pool, state.data, state.placement);
    state.config = state.empty;
    state.placement = null;
  }

  /** Moves one service to its best fitting configuration if that is better; returns whether it moved. */
  private improve(state: ServiceState): boolean {
    if (state.candidates.length === 0 || state.candidates[0]!.value <= state.config.value + EPS) return false;
    const mark = this.pool.mark();
    const previous = { config: state.config, placement: state.placement };
    this.setEmpty(state);
    const best = this.placeBest(state, previous.config.value);
    if (best) {
      state.config = best.config;
      state.placement = best.placement;
      return true;
    }
    this.pool.rollback(mark);
    state.config = previous.config;
    state.placement = previous.placement;
    return false;
  }

  /** Repeated passes over the services in the given order until no service can improve. */
  ascend(order: readonly number[]): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const a of order) if (this.improve(this.states[a]!)) changed = true;
    }
  }

  reset(): void {
    this.pool.rollback(0);
    for (const s of this.states) {
      s.config = s.empty;
      s.placement = null;
    }
  }

  snapshot(): { configs: ServiceConfig[]; placements: (ServicePlacement | null)[]; mark: number } {
    return { configs: this.states.map((s) => s.config), placements: this.states.map((s) => s.placement), mark: this.pool.mark() };
  }

  restore(snap: { configs: ServiceConfig[]; placements: (ServicePlacement | null)[]; mark: number }): void {
    this.pool.rollback(snap.mark);
    this.states.forEach((s, a) => {
      s.config = snap.configs[a]!;
      s.placement = snap.placements[a]!;
    });
  }

  /**
   * Ruin and recreate: empty one service that holds capacity, let the others grow into it, then let it
   * come back; keep the result when the total improves. Repeats until a full round finds nothing.
   */
  localSearch(order: readonly number[]): number {
    let rounds = 0;
    for (let improved = true; improved && this.timeLeft(); ) {
      improved = false;
      rounds++;
      for (const b of order) {
        if (!this.timeLeft()) break;
        const victim = this.states[b]!;
        if (!victim.placement) continue;
        const before = this.total();
        const snap = this.snapshot();
        this.setEmpty(victim);
        this.ascend(order.filter((a) => a !== b));
        this.improve(victim);
        this.ascend(order);
        if (this.total() > before + 1e-7) improved = true;
        else this.restore(snap);
      }
    }
    return rounds;
  }

  allocation(): Allocation {
    const pool = this.pool;
    return {
      services: this.states.map((s) =>
        s.data.components.map((_, i): ComponentAllocation => {
          const byHost = new Map<number, number>();
          const p = s.placement?.[i] ?? [];
          for (let k = 0; k < p.length; k += 2) {
            const host = pool.modelIndex[p[k]!]!;
            byHost.set(host, (byHost.get(host) ?? 0) + p[k + 1]!);
          }
          return {
            acceptedLocally: s.config.accepted[i]!,
            placements: [...byHost.entries()].sort((x, y) => x[0] - y[0]).map(([hostIndex, vms]) => ({ hostIndex, vms })),
            federatedVms: s.config.federatedVms[i]!,
          };
        }),
      ),
    };
  }
}

/** Service orders for the multi-start ascent: value density, absolute gain, and model order. */
function startOrders(states: readonly ServiceState[]): number[][] {
  const idx = states.map((_, a) => a);
  const gain = (s: ServiceState): number => (s.candidates[0] ? s.candidates[0].value - s.empty.value : 0);
  const density = (s: ServiceState): number => (s.candidates[0] ? gain(s) / Math.max(1, s.candidates[0].cpus) : 0);
  const orders = [
    [...idx].sort((a, b) => density(states[b]!) - density(states[a]!) || a - b),
    [...idx].sort((a, b) => gain(states[b]!) - gain(states[a]!) || a - b),
    idx,
  ];
  const seen = new Set<string>();
  return orders.filter((o) => {
    const key = o.join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Evaluations allowed per service when proving optimality by enumeration (exactServiceOptimum). */
const PROOF_BUDGET_PER_SERVICE = 20_000;

export interface GreedyExtras {
  /**
   * Also compute the capacity-free upper bound Σ_a (best value of service a alone) by enumeration, when small
   * enough: it gives a proven gap, and status 'optimal' when the answer reaches it.
   */
  readonly prove?: boolean;
}

export function solveGreedy(model: AdmissionModel, options: SolveOptions = {}, extras: GreedyExtras = {}): SolveResult {
  const started = performance.now();
  const budgetMs = 1000 * (options.timeLimitSeconds ?? DEFAULT_GREEDY_TIME_LIMIT_SECONDS);
  const search = new Search(model, started + budgetMs);

  // Multi-start ascent; the winning order is replayed (the ascent is deterministic) before local search.
  let bestValue = -Infinity;
  let bestOrder: number[] = [];
  const orders = startOrders(search.states);
  for (const [k, order] of orders.entries()) {
    if (k > 0) search.reset();
    search.ascend(order);
    const value = search.total();
    if (value > bestValue + 1e-7) {
      bestValue = value;
      bestOrder = order;
    }
    if (search.allAtBest()) break;
  }
  if (search.total() < bestValue - 1e-7) {
    search.reset();
    search.ascend(bestOrder);
  }
  const rounds = search.allAtBest() ? 0 : search.localSearch(bestOrder);
  const timedOut = !search.timeLeft();
  const allocation = search.allocation();
  const objective = search.total();
  let bound: number | null = null;
  if (extras.prove) {
    bound = 0;
    for (const s of search.states) {
      const best = exactServiceOptimum(s.data, search.limits, PROOF_BUDGET_PER_SERVICE);
      if (best === null) {
        bound = null;
        break;
      }
      bound += best;
    }
  }
  const gap = bound === null ? null : Math.max(0, (bound - objective) / Math.max(1e-9, Math.abs(bound)));
  return {
    allocation,
    objective,
    status: gap !== null && gap <= 1e-9 ? 'optimal' : 'feasible',
    gap,
    bound,
    seconds: (performance.now() - started) / 1000,
    solver: 'greedy',
    stats: {
      candidates: search.states.reduce((t, s) => t + s.candidates.length, 0),
      placementsTried: search.placementsTried,
      localSearchRounds: rounds,
      timedOut: timedOut ? 1 : 0,
      hostsInPool: search.pool.size,
    },
  };
}

export const greedySolver: Solver = {
  name: 'greedy',
  solve: (model, options) => Promise.resolve(solveGreedy(model, options)),
};
