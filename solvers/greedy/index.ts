/**
 * The greedy heuristic: per-service candidate configurations (service-options.ts), a best-fit ascent over
 * services in several orders, then ruin-and-recreate local search, all within one time budget. `solveGreedy` is
 * pure and deterministic (unless the budget is hit); the `greedy` Solver runs it in worker threads (worker-pool.ts).
 */
import type { AdmissionModel, Allocation, ComponentAllocation, Service, SolveOptions, SolveResult, Solver, Weights } from '../../model/types';
import { capabilityPlan, type CapabilityPlan } from '../../model/capabilities';
import { Budget } from './budget';
import { hostChargeClasses, componentCharges, type HostChargeClasses } from './charging';
import { serviceEligibility } from './eligibility';
import { relaxedChargeService } from './evaluation';
import { HostPool, hostTableOf, type HostTable } from './host-pool';
import { adjustComponent, placeService, placeServices, placeServicesSearch, releaseService, shareRestrictedHosts, type ServicePlacement } from './packing';
import {
  candidateConfigs,
  exactServiceOptimum,
  FixedCandidate,
  frontierConfigs,
  makeConfig,
  moveAllowed,
  neighbourMoves,
  prepareService,
  ServiceEvaluator,
  type Candidate,
  type FleetLimits,
  type NeighbourMove,
  type ServiceConfig,
  type ServiceData,
} from './service-options';

export { Budget } from './budget';
export { hostTableOf, type HostTable } from './host-pool';
export {
  configureGreedyWorkers,
  greedySolver,
  greedyWorkerStats,
  shutdownGreedyWorkers,
  solveGreedyForAuto,
  solveGreedyInWorker,
  warmUpGreedyWorkers,
  type GreedyOutcome,
  type GreedyPoolOptions,
  type GreedyPoolStats,
} from './worker-pool';

const EPS = 1e-9;
/** Knapsack solutions (best first, one per capacity level) tried until one packs. */
const KNAPSACK_ALTERNATIVES = 12;
/** Evaluations per service allowed for the frontier candidates of a knapsack start. */
const FRONTIER_BUDGET = 3000;
/** Depth-first packing is tried on fleets up to this size, with this many nodes. */
const SEARCH_PACKING_MAX_HOSTS = 500;
const SEARCH_PACKING_NODES = 2000;
/** Largest knapsack table (candidates × CPUs) worth building for a start. */
const MAX_KNAPSACK_WORK = 30_000_000;
/**
 * Above this many components a service's best fitting candidate is found by bisection along each walk instead of by
 * trying candidates best first: when the top of a large service does not pack, thousands of candidates below it
 * usually do not either, and each attempt costs O(N). Smaller services keep the exact best-first scan.
 */
const BISECTION_MIN_COMPONENTS = 64;
/** Default budget of the local search (seconds); it usually stops earlier, at a local optimum. */
export const DEFAULT_GREEDY_TIME_LIMIT_SECONDS = 2;

interface ServiceState {
  readonly data: ServiceData;
  readonly empty: ServiceConfig;
  /** Candidates by decreasing value, all better than `empty`. */
  candidates: readonly Candidate[];
  config: ServiceConfig;
  /** The candidate `config` was built from (null: the empty configuration or a neighbour). */
  source: Candidate | null;
  placement: ServicePlacement | null;
  /** Large services: candidates per walk, by rising value, with their rank in `candidates` (built on first use). */
  walks?: { readonly of: readonly Candidate[]; readonly lists: { cand: Candidate; rank: number }[][] };
}

interface Snapshot {
  readonly configs: ServiceConfig[];
  readonly sources: (Candidate | null)[];
  readonly placements: (ServicePlacement | null)[];
  readonly mark: number;
}

/** What the greedy reads of a model: hosts as a table (see host-pool.ts), services and weights as they are. */
export interface GreedyInput {
  readonly services: readonly Service[];
  readonly weights: Weights;
  readonly hosts: HostTable;
  /** Which hosts each component may use (model/capabilities.ts); null or absent: every host. */
  readonly capabilities?: CapabilityPlan | null;
  /** Charge classes and each host's class, when the model has a charge bound (charging.ts); null or absent: none. */
  readonly charging?: HostChargeClasses | null;
}

class Search {
  readonly states: ServiceState[];
  readonly pool: HostPool;
  readonly limits: FleetLimits;
  placementsTried = 0;
  /** Steps walked and walks made by candidate generation (work grows with these, linearly in components). */
  candidateSteps = 0;
  candidateWalks = 0;
  /** The services' largest candidates do not all fit in the fleet's free CPUs (set by knapsackChoices). */
  contended = false;
  /** Per service, the least per-VM charges of its components (charging.ts), for the proof's relaxation; null: no bound. */
  readonly chargeLow: (readonly number[] | null)[];

  constructor(
    input: GreedyInput,
    readonly budget: Budget,
  ) {
    const eligibility = serviceEligibility(input.capabilities, input.services, input.hosts);
    // Charge bound: the packing uses the eligibility masks (a same-value rule narrowed to one value), so the most a VM
    // may cost is taken over those; the proof's least over every host the plan allows (HiGHS may pick another value).
    const plan = input.charging ?? null;
    const highMemo = new Map<Uint8Array | null, Map<string, Uint8Array>>();
    const lowMemo = new Map<Uint8Array | null, Map<string, Uint8Array>>();
    const charges = input.services.map((s, a) => {
      if (!plan || s.chargeBound === undefined) return null;
      const high = componentCharges(plan, s, eligibility?.[a]?.allowed ?? [], input.hosts, highMemo).high;
      const low = componentCharges(plan, s, input.capabilities?.allowed[a] ?? [], input.hosts, lowMemo).low;
      return { high, low };
    });
    this.chargeLow = charges.map((c) => c?.low ?? null);
    const data = input.services.map((_, a) => prepareService(input, a, eligibility?.[a] ?? null, charges[a] ?? null));
    if (eligibility) shareRestrictedHosts(data);
    let smallest = Infinity;
    for (const sd of data) for (const c of sd.components) smallest = Math.min(smallest, c.vcpus);
    const pool = (this.pool = HostPool.of(input.hosts, Number.isFinite(smallest) ? smallest : 1));
    const fitting = new Map<string, number>();
    const limits: FleetLimits = (this.limits = {
      totalFreeCpus: pool.totalFreeCpus,
      totalFreeMemoryMb: pool.totalFreeMemoryMb,
      largestFreeCpus: pool.initial.largestCpus,
      largestFreeMemoryMb: pool.initial.largestMemoryMb,
      usableHosts: pool.size,
      hostsFitting: (cpus, memoryMb) => {
        const key = `${cpus}/${memoryMb}`;
        let n = fitting.get(key);
        if (n === undefined) fitting.set(key, (n = pool.initialFitting(cpus, memoryMb)));
        return n;
      },
    });
    this.states = data.map((sd) => {
      // Past the budget a service keeps only its empty configuration: always feasible, and it costs O(N).
      const { empty, candidates, steps, walks } = candidateConfigs(sd, limits, budget);
      this.candidateSteps += steps;
      this.candidateWalks += walks;
      return { data: sd, empty, candidates, config: empty, source: null, placement: null };
    });
  }

  timeLeft(): boolean {
    return !this.budget.expired();
  }

  total(): number {
    return this.states.reduce((t, s) => t + s.config.value, 0);
  }

  /** Every service holds its best candidate: no move can improve, so the search may stop. */
  allAtBest(): boolean {
    return this.states.every((s) => s.candidates.length === 0 || s.source === s.candidates[0]);
  }

  /** The best candidate of a service that fits next to everything else, placed; or null (pool unchanged). */
  private placeBest(state: ServiceState, floor: number): { config: ServiceConfig; source: Candidate; placement: ServicePlacement } | null {
    if (state.data.components.length > BISECTION_MIN_COMPONENTS) return this.placeBestByWalk(state, floor);
    const pool = this.pool;
    for (const cand of state.candidates) {
      if (cand.value <= floor + EPS) break;
      if (cand.cpus > pool.totalFreeCpus || cand.memoryMb > pool.totalFreeMemoryMb) continue;
      // Each attempt packs a whole service: read the clock every time.
      if (this.budget.expired()) return null;
      this.placementsTried++;
      const config = cand.materialise(state.data);
      if (!config) continue;
      const placement = placeService(pool, state.data, config);
      if (placement) return { config, source: cand, placement };
    }
    return null;
  }

  /**
   * placeBest for large services: per walk, the largest candidate above `floor` that packs, by bisection (a bigger
   * step of a walk is taken as never easier to place), then the best of those by the candidates' order. O(walks ×
   * log candidates) packings instead of up to one per candidate.
   */
  private placeBestByWalk(state: ServiceState, floor: number): { config: ServiceConfig; source: Candidate; placement: ServicePlacement } | null {
    const pool = this.pool;
    if (!state.walks || state.walks.of !== state.candidates) {
      const byWalk = new Map<number, { cand: Candidate; rank: number }[]>();
      state.candidates.forEach((cand, rank) => {
        const key = cand.walk ?? -1 - rank; // a fixed configuration is a walk of its own
        const list = byWalk.get(key);
        if (list) list.push({ cand, rank });
        else byWalk.set(key, [{ cand, rank }]);
      });
      const lists = [...byWalk.values()].map((l) => l.sort((p, q) => p.cand.value - q.cand.value || q.rank - p.rank));
      state.walks = { of: state.candidates, lists };
    }
    let best: { config: ServiceConfig; source: Candidate; rank: number } | null = null;
    const fits = (cand: Candidate): ServiceConfig | null => {
      if (cand.cpus > pool.totalFreeCpus || cand.memoryMb > pool.totalFreeMemoryMb) return null;
      this.placementsTried++;
      const config = cand.materialise(state.data);
      if (!config) return null;
      const mark = pool.mark();
      const placement = placeService(pool, state.data, config);
      pool.rollback(mark);
      return placement ? config : null;
    };
    for (const list of state.walks.lists) {
      let lo = 0;
      while (lo < list.length && list[lo]!.cand.value <= floor + EPS) lo++;
      // Only candidates ranked before the best found so far can improve on it.
      let hi = list.length - 1;
      while (hi >= lo && best && list[hi]!.rank > best.rank) hi--;
      while (lo <= hi) {
        if (this.budget.expired()) break;
        const mid = (lo + hi) >>> 1;
        const { cand, rank } = list[mid]!;
        const config = fits(cand);
        if (config) {
          if (!best || rank < best.rank) best = { config, source: cand, rank };
          lo = mid + 1;
        } else hi = mid - 1;
      }
    }
    if (!best) return null;
    const placement = placeService(pool, state.data, best.config);
    return placement ? { config: best.config, source: best.source, placement } : null;
  }

  private setEmpty(state: ServiceState): void {
    if (state.placement) releaseService(this.pool, state.data, state.placement);
    state.config = state.empty;
    state.source = null;
    state.placement = null;
  }

  /** Moves one service to its best fitting configuration if that is better; returns whether it moved. */
  private improve(state: ServiceState): boolean {
    if (state.candidates.length === 0 || state.candidates[0]!.value <= state.config.value + EPS) return false;
    const mark = this.pool.mark();
    const previous = { config: state.config, source: state.source, placement: state.placement };
    this.setEmpty(state);
    const best = this.placeBest(state, previous.config.value);
    if (best) {
      state.config = best.config;
      state.source = best.source;
      state.placement = best.placement;
      return true;
    }
    this.pool.rollback(mark);
    state.config = previous.config;
    state.source = previous.source;
    state.placement = previous.placement;
    return false;
  }

  /** Repeated passes over the services in the given order until no service can improve. */
  ascend(order: readonly number[]): void {
    for (let changed = true; changed && this.timeLeft(); ) {
      changed = false;
      for (const a of order) if (this.improve(this.states[a]!)) changed = true;
    }
  }

  /**
   * A multiple-choice knapsack over the fleet's total free CPUs: the candidate per service that maximises the
   * total value when only the CPU sum must fit (packing ignored). Returns null when capacity is not contended
   * (every service's largest candidate fits at once) or the table would be too large.
   */
  knapsackChoices(): (Candidate | null)[][] | null {
    const capacity = Math.floor(this.pool.totalFreeCpus);
    // Contention: the services' full demand exceeds the free CPUs (candidates are capped by host shapes, so
    // their sum can understate it).
    let fullDemand = 0;
    for (const s of this.states) for (const c of s.data.components) fullDemand += c.maxVms * c.vcpus;
    this.contended = fullDemand > capacity;
    let demand = 0;
    for (const s of this.states) demand += s.candidates.reduce((m, c) => Math.max(m, c.cpus), 0);
    if (demand <= capacity) return null;
    // Contended: the candidate paths are too thin for a knapsack; widen them with each pattern's frontier.
    for (const s of this.states) {
      if (!this.timeLeft()) return null;
      const frontier = frontierConfigs(s.data, this.limits, FRONTIER_BUDGET, this.budget);
      if (!frontier) continue;
      // Path candidates reappear in the frontier; a duplicate only costs one more knapsack row, and is never picked
      // (the DP takes a row only when it is strictly better, and the path candidate sorts first).
      let id = s.candidates.reduce((m, c) => Math.max(m, c.id), -1) + 1;
      const extra = frontier.filter((c) => c.value > s.empty.value + EPS).map((c) => new FixedCandidate(id++, c));
      if (extra.length) s.candidates = [...s.candidates, ...extra].sort((p, q) => q.value - p.value || p.cpus - q.cpus);
    }
    const cap = Math.min(capacity, demand);
    const work = this.states.reduce((t, s) => t + s.candidates.length, 0) * cap;
    if (work > MAX_KNAPSACK_WORK) return null;
    let best = new Float64Array(cap + 1); // best[c]: most value with at most c CPUs
    const picks: Int32Array[] = [];
    for (const s of this.states) {
      if (!this.timeLeft()) return null;
      const next = Float64Array.from(best);
      const pick = new Int32Array(cap + 1).fill(-1);
      for (let k = 0; k < s.candidates.length; k++) {
        // A row costs O(capacity): the clock is read per row.
        if (this.budget.expired()) return null;
        const cand = s.candidates[k]!;
        knapsackRow(best, next, pick, cap, Math.ceil(cand.cpus), cand.value - s.empty.value, k);
      }
      picks.push(pick);
      best = next;
    }
    // The best choice for every capacity up to `cap`, best first: when the best does not pack, the next may.
    const choices: (Candidate | null)[][] = [];
    const seen = new Set<string>();
    const order = Array.from({ length: cap + 1 }, (_, c) => c).sort((p, q) => best[q]! - best[p]! || q - p);
    for (const start of order) {
      if (choices.length >= KNAPSACK_ALTERNATIVES || this.budget.tick()) break;
      const out: (Candidate | null)[] = new Array<Candidate | null>(this.states.length).fill(null);
      let c = start;
      for (let a = this.states.length - 1; a >= 0; a--) {
        const k = picks[a]![c]!;
        if (k < 0) continue;
        const cand = this.states[a]!.candidates[k]!;
        out[a] = cand;
        c -= Math.ceil(cand.cpus);
      }
      // Candidates of a service are distinct configurations (a frontier duplicate is never picked), so ids identify them.
      const key = out.map((cand) => (cand ? String(cand.id) : '-')).join('|');
      if (seen.has(key)) continue;
      seen.add(key);
      choices.push(out);
    }
    return choices;
  }

  /**
   * Places chosen configurations: all together (largest items first across services) when they fit so;
   * otherwise service by service, largest first, a service whose choice does not fit taking its best fitting one.
   */
  placeChoices(choices: readonly (Candidate | null)[], strict = false): boolean {
    if (!this.timeLeft()) return false;
    const chosen: { cfg: ServiceConfig; source: Candidate; a: number }[] = [];
    choices.forEach((source, a) => {
      const cfg = source?.materialise(this.states[a]!.data);
      if (source && cfg) chosen.push({ cfg, source, a });
    });
    chosen.sort((x, y) => y.cfg.cpus - x.cfg.cpus || x.a - y.a);
    this.placementsTried++;
    const requests = chosen.map(({ cfg, a }) => ({ sd: this.states[a]!.data, config: cfg }));
    const together = placeServices(this.pool, requests) ?? this.searchPacking(requests);
    if (together) {
      chosen.forEach(({ cfg, source, a }, k) => {
        this.states[a]!.config = cfg;
        this.states[a]!.source = source;
        this.states[a]!.placement = together[k]!;
      });
      return true;
    }
    if (strict) return false;
    for (const { cfg, source, a } of chosen) {
      if (!this.timeLeft()) break;
      const state = this.states[a]!;
      this.placementsTried++;
      const placement = placeService(this.pool, state.data, cfg);
      if (placement) {
        state.config = cfg;
        state.source = source;
        state.placement = placement;
      } else {
        this.improve(state);
      }
    }
    return false;
  }

  reset(): void {
    this.pool.rollback(0);
    for (const s of this.states) {
      s.config = s.empty;
      s.source = null;
      s.placement = null;
    }
  }

  snapshot(): Snapshot {
    return {
      configs: this.states.map((s) => s.config),
      sources: this.states.map((s) => s.source),
      placements: this.states.map((s) => s.placement),
      mark: this.pool.mark(),
    };
  }

  restore(snap: Snapshot): void {
    this.pool.rollback(snap.mark);
    this.states.forEach((s, a) => {
      s.config = snap.configs[a]!;
      s.source = snap.sources[a]!;
      s.placement = snap.placements[a]!;
    });
  }

  /**
   * Rebuilds a snapshot's state on an empty pool by taking exactly its placements again, with no search: how the
   * best start comes back when the budget is spent (replaying the start would search again).
   */
  reinstate(snap: Snapshot): void {
    this.reset();
    this.states.forEach((s, a) => {
      const placement = snap.placements[a]!;
      s.config = snap.configs[a]!;
      s.source = snap.sources[a]!;
      s.placement = placement;
      placement?.forEach((p, i) => {
        const c = s.data.components[i]!;
        for (let k = 0; k < p.length; k += 2) this.pool.take(p[k]!, c.vcpus * p[k + 1]!, c.memoryMb * p[k + 1]!);
      });
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

  /** Replaces the configurations of some services at once (all or nothing); false leaves everything as it was. */
  /** Depth-first packing on small fleets only: it costs milliseconds, worth it for whole-solution moves. */
  private searchPacking(requests: { sd: ServiceData; config: ServiceConfig }[]): ServicePlacement[] | null {
    if (this.pool.size > SEARCH_PACKING_MAX_HOSTS || !this.timeLeft()) return null;
    return placeServicesSearch(this.pool, requests, SEARCH_PACKING_NODES);
  }

  private replace(changes: readonly { state: ServiceState; config: ServiceConfig }[], thorough = false): boolean {
    if (changes.length === 1 && this.adjust(changes[0]!.state, changes[0]!.config)) return true;
    const mark = this.pool.mark();
    const previous = changes.map(({ state }) => ({ state, config: state.config, source: state.source, placement: state.placement }));
    for (const { state } of changes) this.setEmpty(state);
    this.placementsTried++;
    const requests = changes.map(({ state, config }) => ({ sd: state.data, config }));
    const placements = placeServices(this.pool, requests) ?? (thorough ? this.searchPacking(requests) : null);
    if (!placements) {
      this.pool.rollback(mark);
      for (const p of previous) {
        p.state.config = p.config;
        p.state.source = p.source;
        p.state.placement = p.placement;
      }
      return false;
    }
    changes.forEach(({ state, config }, k) => {
      // A repack keeps each configuration (and so its source); a neighbour is a configuration of its own.
      if (config !== previous[k]!.config) state.source = null;
      state.config = config;
      state.placement = placements[k]!;
    });
    return true;
  }

  /**
   * A large service moving to a configuration that differs only in components without placement rules (no same-host
   * block, no anti-affinity): only their VMs are added or removed, in O(their VMs), instead of packing all N
   * components again. False (nothing changed) when the move is not of that kind or does not fit.
   */
  private adjust(state: ServiceState, config: ServiceConfig): boolean {
    const sd = state.data;
    if (sd.components.length <= BISECTION_MIN_COMPONENTS || !state.placement) return false;
    const old = state.config;
    const changed: number[] = [];
    for (let i = 0; i < sd.components.length; i++) {
      if (old.accepted[i] === config.accepted[i] && old.localVms[i] === config.localVms[i]) continue;
      const c = sd.components[i]!;
      if (c.block >= 0 || c.antiAffinity === 1 || c.antiPartners.length > 0) return false;
      changed.push(i);
    }
    if (changed.length === 0) return false;
    this.placementsTried++;
    const mark = this.pool.mark();
    let placement: ServicePlacement | null = state.placement;
    for (const i of changed) {
      placement = adjustComponent(this.pool, sd, placement, i, config.localVms[i]!);
      if (!placement) {
        this.pool.rollback(mark);
        return false;
      }
    }
    state.config = config;
    state.source = null;
    state.placement = placement;
    return true;
  }

  /**
   * Packs every current configuration again from an empty pool, largest items first across services: frees
   * the fragmentation that one-service-at-a-time moves leave behind. Keeps the old packing if the new one fails.
   */
  repack(): boolean {
    const changes = this.states.filter((s) => s.placement).map((state) => ({ state, config: state.config }));
    return changes.length > 1 && this.replace(changes, true);
  }

  /**
   * VM-level refinement off the candidate paths: a service moves to a neighbouring configuration (one VM more or
   * less, a component group switched) alone, or paired with another service's neighbour that frees the capacity
   * it needs. Improving moves are applied until none is left or the time budget runs out.
   */
  refine(): number {
    let moves = 0;
    for (let improved = true; improved && this.timeLeft(); ) {
      improved = false;
      const neighbours = this.states.map((s) => neighbourMoves(s.data, s.config, this.limits, this.budget));
      if (!this.timeLeft()) break;
      // Gains first: the most valuable single moves, then pairs (donor loses a little, receiver gains more).
      const singles: { a: number; move: NeighbourMove; delta: number }[] = [];
      neighbours.forEach((list, a) => {
        for (const move of list) {
          const delta = move.value - this.states[a]!.config.value;
          singles.push({ a, move, delta });
        }
      });
      singles.sort((p, q) => q.delta - p.delta);
      const built = new Map<NeighbourMove, ServiceConfig | null>();
      const configOf = (move: NeighbourMove): ServiceConfig | null => {
        let c = built.get(move);
        if (c === undefined) built.set(move, (c = move.build()));
        return c;
      };
      // Moves of large services are applied in batches below; those of small ones one per round, as always.
      const batched = singles.filter((m) => m.move.changes !== undefined);
      const oneByOne = batched.length ? singles.filter((m) => m.move.changes === undefined) : singles;
      for (const m of oneByOne) {
        if (m.delta <= 1e-7 || this.budget.expired()) break;
        const config = configOf(m.move);
        if (config && this.replace([{ state: this.states[m.a]!, config }])) {
          moves++;
          improved = true;
          break;
        }
      }
      if (!improved && batched.length) {
        const applied = this.applyVmMoves(batched);
        moves += applied;
        improved = applied > 0;
      }
      if (improved || !this.timeLeft()) continue;
      const receivers = singles.filter((m) => m.delta > 1e-7);
      const donors = singles.filter((m) => m.delta <= 1e-7 && m.move.cpus < this.states[m.a]!.config.cpus).sort((p, q) => q.delta - p.delta);
      search: for (const r of receivers) {
        for (const d of donors) {
          if (this.budget.tick()) break search;
          if (d.a === r.a || r.delta + d.delta <= 1e-7) continue;
          // The CPUs must add up before packing is worth trying.
          const need = r.move.cpus - this.states[r.a]!.config.cpus;
          const freed = this.states[d.a]!.config.cpus - d.move.cpus;
          if (need > freed + this.pool.totalFreeCpus) continue;
          if (!this.timeLeft()) break search;
          const dc = configOf(d.move);
          const rc = configOf(r.move);
          if (!dc || !rc) continue;
          if (this.replace([{ state: this.states[d.a]!, config: dc }, { state: this.states[r.a]!, config: rc }])) {
            moves++;
            improved = true;
            break search;
          }
        }
      }
    }
    return moves;
  }

  /**
   * Applies every improving move of large services in one pass, each re-based on its service's configuration as it
   * is by then (moves of different components barely interact), checked against the rules and re-evaluated before it
   * is tried: a large service converges in a few rounds instead of one round, with O(N) of neighbours, per move.
   */
  private applyVmMoves(moves: readonly { a: number; move: NeighbourMove; delta: number }[]): number {
    const evaluators = new Map<number, ServiceEvaluator>();
    let applied = 0;
    for (const { a, move, delta } of moves) {
      if (delta <= 1e-7 || this.budget.tick()) break;
      const state = this.states[a]!;
      const sd = state.data;
      const cur = state.config;
      const changes = move.changes!;
      if (changes.idx.every((i, k) => cur.accepted[i] === changes.ys[k] && cur.localVms[i] === changes.xs[k])) continue;
      if (!moveAllowed(sd, cur, changes)) continue;
      let ev = evaluators.get(a);
      if (!ev) evaluators.set(a, (ev = new ServiceEvaluator(sd, cur.accepted, cur.localVms)));
      changes.idx.forEach((i, k) => ev.set(i, changes.ys[k]!, changes.xs[k]!));
      let config: ServiceConfig | null = null;
      if (ev.value() > cur.value + 1e-7) {
        const y = [...cur.accepted];
        const x = [...cur.localVms];
        changes.idx.forEach((i, k) => {
          y[i] = changes.ys[k]!;
          x[i] = changes.xs[k]!;
        });
        config = makeConfig(sd, y, x);
      }
      // Emptied and packed again, the service has its own CPUs and the free ones: more cannot fit.
      const room = config !== null && config.cpus <= this.pool.totalFreeCpus + cur.cpus && config.memoryMb <= this.pool.totalFreeMemoryMb + cur.memoryMb;
      if (config && room && config.value > cur.value + 1e-7 && !this.budget.expired() && this.replace([{ state, config }])) applied++;
      else for (const i of changes.idx) ev.set(i, cur.accepted[i]!, cur.localVms[i]!);
    }
    return applied;
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

/**
 * One candidate's row of the multiple-choice knapsack: the DP's hot loop, kept in a function of its own so that V8
 * optimises it on its own (inside knapsackChoices it ran twice as slow from a cold start).
 */
function knapsackRow(best: Float64Array, next: Float64Array, pick: Int32Array, cap: number, w: number, gain: number, k: number): void {
  for (let c = cap; c >= w; c--) {
    const v = best[c - w]! + gain;
    if (v > next[c]! + EPS) {
      next[c] = v;
      pick[c] = k;
    }
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
  /** The budget to work within, instead of one built from options.timeLimitSeconds (the worker passes its own). */
  readonly budget?: Budget;
}

/**
 * The greedy as a pure function of the model: same model, same answer, unless the budget is hit. Runs in the caller's
 * thread (tests, benchmarks, the worker); `signal` is only looked at before it starts, since nothing can abort a
 * synchronous call from the same thread.
 */
export function solveGreedy(model: AdmissionModel, options: SolveOptions = {}, extras: GreedyExtras = {}): SolveResult {
  options.signal?.throwIfAborted();
  return solveGreedyInput({ services: model.services, weights: model.weights, hosts: hostTableOf(model.hosts), capabilities: capabilityPlan(model), charging: hostChargeClasses(model) }, options, extras);
}

/** solveGreedy on the parts of a model the greedy reads (what a worker receives). */
export function solveGreedyInput(input: GreedyInput, options: SolveOptions = {}, extras: GreedyExtras = {}): SolveResult {
  const started = performance.now();
  const budget = extras.budget ?? new Budget(started + 1000 * (options.timeLimitSeconds ?? DEFAULT_GREEDY_TIME_LIMIT_SECONDS));
  const search = new Search(input, budget);
  const candidatesMs = performance.now() - started;

  // Multi-start: a knapsack start when CPUs are contended, then ascents in several orders; the winner is
  // replayed (every start is deterministic) before local search.
  const orders = startOrders(search.states);
  const starts: { order: number[]; run: () => void }[] = [];
  const knapsack = search.knapsackChoices();
  if (knapsack && knapsack.length > 0) {
    starts.push({
      order: orders[0]!,
      run: () => {
        // The first alternative that packs whole; else the best one, repaired service by service.
        const packed = knapsack.some((choice) => search.placeChoices(choice, true));
        if (!packed) search.placeChoices(knapsack[0]!);
        search.ascend(orders[0]!);
      },
    });
  }
  for (const order of orders) starts.push({ order, run: () => search.ascend(order) });
  let bestValue = -Infinity;
  let best = starts[0]!;
  let bestState = search.snapshot();
  for (const [k, start] of starts.entries()) {
    if (k > 0) {
      if (!search.timeLeft()) break;
      search.reset();
    }
    start.run();
    const value = search.total();
    if (value > bestValue + 1e-7) {
      bestValue = value;
      best = start;
      bestState = search.snapshot();
    }
    if (search.allAtBest()) break;
  }
  if (search.total() < bestValue - 1e-7) {
    if (search.timeLeft()) {
      search.reset();
      best.run();
    }
    // A replay cut short by the budget: take the best start's placements back as they were.
    if (search.total() < bestValue - 1e-7) search.reinstate(bestState);
  }
  const bestOrder = best.order;
  let rounds = 0;
  let refineMoves = 0;
  const startsMs = performance.now() - started;
  // Without contention for CPUs, a service short of its best is held back by host shapes (blocks, spread),
  // not by other services: trading capacity between services rarely helps, and costs more than everything else.
  if (search.contended && !search.allAtBest() && search.timeLeft()) {
    rounds = search.localSearch(bestOrder);
    refineMoves = search.refine();
    // A global repack may open room that one-service moves could not use; then search again.
    if (search.timeLeft() && search.repack()) {
      search.ascend(bestOrder);
      refineMoves += search.refine();
    }
    if (refineMoves > 0) rounds += search.localSearch(bestOrder);
  }
  const timedOut = !search.timeLeft();
  const allocation = search.allocation();
  const objective = search.total();
  let bound: number | null = null;
  if (extras.prove) {
    bound = 0;
    for (const [a, s] of search.states.entries()) {
      // The bound must not exclude what an exact placement allows: the charge bound is relaxed to the least charges.
      const best = exactServiceOptimum(relaxedChargeService(s.data, search.chargeLow[a] ?? null), search.limits, PROOF_BUDGET_PER_SERVICE, budget);
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
      candidateSteps: search.candidateSteps,
      candidateWalks: search.candidateWalks,
      candidatesMs: Number(candidatesMs.toFixed(3)),
      placementsTried: search.placementsTried,
      localSearchRounds: rounds,
      startsMs: Number(startsMs.toFixed(3)),
      refineMoves,
      timedOut: timedOut ? 1 : 0,
      ...(budget.aborted ? { aborted: 1 } : {}),
      hostsInPool: search.pool.size,
    },
  };
}

/** The greedy in the caller's thread: for tests and tools that want it without a worker (blocks the event loop). */
export const inProcessGreedySolver: Solver = {
  name: 'greedy',
  solve: (model, options) => Promise.resolve().then(() => solveGreedy(model, options)),
};
