/**
 * Seedable random AdmissionModel instances shaped like OPTIMIS workloads (benchmarks, property tests).
 * Generates data only: no solving, no file I/O; every model it returns passes validateModel.
 */
import { AdmissionError } from '../model/errors';
import {
  DEFAULT_CONSTRAINTS,
  DEFAULT_WEIGHTS,
  type AdmissionModel,
  type CapabilityRequirement,
  type Component,
  type Host,
  type Level,
  type Rule,
  type Service,
  type TrecConstraints,
} from '../model/types';
import { Rng } from './rng';

export interface GeneratorOptions {
  seed: number;
  services: number;
  /** Components per service; the maximum when `variableSizes` is set. */
  components: number;
  hosts: number;
  /**
   * 'loose': total free CPUs ≥ 3 × total maximum demand (Σ maxVms·vcpus).
   * 'tight': total free CPUs ≈ 40–70 % of it, so a solver must choose what to admit.
   * Both hold whenever the fleet is big enough to allow it (see capacityRatio).
   */
  capacity: 'loose' | 'tight';
  /** Component (anti-)affinity levels and service rules; without it every level is Low and there are no rules. */
  rules: boolean;
  /** Services with different component counts (1..components; at least one service has the maximum). */
  variableSizes?: boolean;
  /** Share of services with federation forbidden (default 0.2); exact count round(share·S). */
  federationForbiddenShare?: number;
  /** Share of services given a trust or eco bound they violate (default 0.1); exact count round(share·S). */
  trecViolationShare?: number;
  /** Share of services with a low cost bound, 0.3·gain (default 0); exact count round(share·S). */
  costBoundShare?: number;
  /** Memory as a second capacity: every host gets freeMemoryMb, every component memoryMb. */
  memory?: boolean;
  /** Service rules per service (with `rules`): exactly this many attempts instead of 0–2 (large services want more). */
  rulesPerService?: number;
  /**
   * High anti-affinity service rules (default true). A federation-forbidden service with one can never be accepted
   * (all of it, but at most one member), which makes scaling rows for such services trivially "rejected".
   */
  highAntiAffinityRules?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Capacity figures (also used by tests and the benchmark report).

export function totalFreeCpus(model: AdmissionModel): number {
  let free = 0;
  for (const h of model.hosts) free += Math.max(0, h.cpus - h.usedCpus);
  return free;
}

/** Σ over all components of maxVms · vcpus: the CPUs needed to run every service at its maximum. */
export function totalMaxDemand(model: AdmissionModel): number {
  let demand = 0;
  for (const s of model.services) for (const c of s.components) demand += c.maxVms * c.vcpus;
  return demand;
}

/** Free CPUs / maximum demand: ≥ 3 for 'loose', 0.4–0.7 for 'tight' (Infinity without demand). */
export function capacityRatio(model: AdmissionModel): number {
  const demand = totalMaxDemand(model);
  return demand === 0 ? Infinity : totalFreeCpus(model) / demand;
}

// ---------------------------------------------------------------------------------------------
// Constants of the distributions (module scope so tests and readers see them in one place).

const HOST_CPUS = [8, 16, 24, 32, 48, 64] as const;
/** Mid-size hosts dominate real fleets; 8- and 64-core boxes are rarer. */
const HOST_CPU_WEIGHTS: readonly (readonly [number, number])[] = [
  [8, 1],
  [16, 3],
  [24, 2],
  [32, 3],
  [48, 2],
  [64, 1],
];
const VCPU_WEIGHTS: readonly (readonly [number, number])[] = [
  [1, 3],
  [2, 3],
  [4, 2],
  [8, 1],
];
/** basic 0–3, mostly 1–2; basic 0 (purely elastic components) sometimes. */
const BASIC_WEIGHTS: readonly (readonly [number, number])[] = [
  [0, 1],
  [1, 4],
  [2, 3],
  [3, 2],
];
const COMPONENT_AVAILABILITY = [0.5, 0.8, 0.9, 0.95, 1.0] as const;
const LOOSE_MIN_RATIO = 3;
const TIGHT_MIN_RATIO = 0.4;
const TIGHT_MAX_RATIO = 0.7;
/** Share of the tight budget spread as 1–2 CPU fragments over otherwise full hosts (real fleets are fragmented). */
const TIGHT_FRAGMENT_SHARE = 0.15;

function badOption(field: string, reason: string): AdmissionError {
  return new AdmissionError('AC_ERR_BAD_ARGUMENT', `generator option ${field}: ${reason}`, [{ field, reason }]);
}

function checkOptions(o: GeneratorOptions): void {
  if (!Number.isSafeInteger(o.seed)) throw badOption('seed', 'must be a safe integer');
  if (!Number.isInteger(o.services) || o.services < 0) throw badOption('services', 'must be an integer ≥ 0');
  if (!Number.isInteger(o.components) || o.components < 1) throw badOption('components', 'must be an integer ≥ 1');
  if (!Number.isInteger(o.hosts) || o.hosts < 0) throw badOption('hosts', 'must be an integer ≥ 0');
  if (o.capacity !== 'loose' && o.capacity !== 'tight') throw badOption('capacity', "must be 'loose' or 'tight'");
  if (o.rulesPerService !== undefined && !(Number.isInteger(o.rulesPerService) && o.rulesPerService >= 0)) {
    throw badOption('rulesPerService', 'must be an integer ≥ 0');
  }
  for (const key of ['federationForbiddenShare', 'trecViolationShare', 'costBoundShare'] as const) {
    const v = o[key];
    if (v !== undefined && !(v >= 0 && v <= 1)) throw badOption(key, 'must be within [0, 1]');
  }
}

/** Exactly round(share·n) distinct indices: exact counts make "20 % forbidden" hold on every seed. */
function pickShare(rng: Rng, n: number, share: number): Set<number> {
  const indices = Array.from({ length: n }, (_, k) => k);
  return new Set(rng.sample(indices, Math.round(share * n)));
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((m) => b.includes(m));
}

// ---------------------------------------------------------------------------------------------
// Services.

interface ComponentLevels {
  affinity: Level;
  antiAffinity: Level;
}

/**
 * At most one non-Low level per component: combinations such as High affinity + Medium anti-affinity make a
 * component with 2+ basic VMs unplaceable, which is a legal input but not a realistic workload.
 */
function componentLevels(rng: Rng): ComponentLevels {
  if (!rng.chance(0.3)) return { affinity: 0, antiAffinity: 0 };
  return rng.pick<ComponentLevels>([
    { affinity: 1, antiAffinity: 0 },
    { affinity: 2, antiAffinity: 0 },
    { affinity: 0, antiAffinity: 1 },
    { affinity: 0, antiAffinity: 2 },
  ]);
}

function generateComponent(rng: Rng, k: number, o: GeneratorOptions): Component {
  const basic = rng.weighted(BASIC_WEIGHTS);
  // maxVms must be ≥ 1 (an OPTIMIS UpperBound of 0 is written as 1), so a basic-0 component gets E ≥ 1.
  const elastic = rng.int(basic === 0 ? 1 : 0, 6);
  const vcpus = rng.weighted(VCPU_WEIGHTS);
  const levels = o.rules ? componentLevels(rng) : { affinity: 0 as Level, antiAffinity: 0 as Level };
  const component: Component = {
    id: `c${k + 1}`,
    basic,
    maxVms: basic + elastic,
    vcpus,
    availability: rng.pick(COMPONENT_AVAILABILITY),
    affinity: levels.affinity,
    antiAffinity: levels.antiAffinity,
  };
  // Memory per VM grows with vCPUs; 512–4096 MB per vCPU covers web tiers to databases.
  return o.memory ? { ...component, memoryMb: vcpus * rng.pick([512, 1024, 2048, 4096]) } : component;
}

/** 0–2 (or `perService`) service rules on random member subsets of size 2–3, never two rules on the same member set. */
function generateRules(rng: Rng, componentIds: readonly string[], perService?: number, highAntiAffinity = true): Rule[] {
  if (componentIds.length < 2) return [];
  const count =
    perService ??
    rng.weighted<number>([
      [0, 4],
      [1, 4],
      [2, 2],
    ]);
  const rules: Rule[] = [];
  for (let r = 0; r < count; r++) {
    const size = rng.int(2, Math.min(3, componentIds.length));
    // Members in model order: deterministic and easier to read in written model directories.
    const chosen = new Set(rng.sample(componentIds, size));
    const members = componentIds.filter((id) => chosen.has(id));
    if (rules.some((other) => sameMembers(other.members, members))) continue;
    const kind = rng.chance(0.5) ? 'affinity' : 'antiAffinity';
    const level = rng.chance(0.5) ? 1 : 2;
    rules.push({ kind, level: kind === 'antiAffinity' && !highAntiAffinity ? 1 : level, members });
  }
  return rules;
}

function componentCounts(rng: Rng, o: GeneratorOptions): number[] {
  if (!o.variableSizes) return Array.from({ length: o.services }, () => o.components);
  const counts = Array.from({ length: o.services }, () => rng.int(1, o.components));
  if (counts.length > 0) {
    // The first service has the maximum so demand stays comparable to the fixed-size flavour…
    counts[0] = o.components;
    // …and at least one service is smaller, so "variable sizes" holds on every seed.
    if (counts.length > 1 && o.components > 1 && counts.every((n) => n === o.components)) {
      counts[rng.int(1, counts.length - 1)] = rng.int(1, o.components - 1);
    }
  }
  return counts;
}

function generateServices(rng: Rng, o: GeneratorOptions): Service[] {
  const counts = componentCounts(rng.fork('sizes'), o);
  const shares = rng.fork('shares');
  const forbidden = pickShare(shares, o.services, o.federationForbiddenShare ?? 0.2);
  const violating = pickShare(shares, o.services, o.trecViolationShare ?? 0.1);
  const costBound = pickShare(shares, o.services, o.costBoundShare ?? 0);

  return counts.map((n, a) => {
    // One stream per service: service a is the same whatever the other services look like.
    const s = rng.fork(`service-${a}`);
    const components = Array.from({ length: n }, (_, k) => generateComponent(s, k, o));
    const rules = o.rules ? generateRules(s, components.map((c) => c.id), o.rulesPerService, o.highAntiAffinityRules ?? true) : [];
    const gain = s.int(500, 2000);
    const trust = s.int(1, 5);
    const eco = s.float(2, 10, 2);
    let constraints: TrecConstraints = DEFAULT_CONSTRAINTS;
    if (violating.has(a)) {
      // Decimal bounds on purpose: the OPTIMIS heuristic crashed on decimal TREC values.
      constraints = s.chance(0.5)
        ? { ...constraints, trust: Math.round((trust + s.float(0.5, 2)) * 10) / 10 }
        : { ...constraints, eco: Math.round((eco + s.float(0.5, 3)) * 100) / 100 };
    }
    if (costBound.has(a)) constraints = { ...constraints, cost: Math.round(0.3 * gain) };
    return {
      id: `s${a + 1}`,
      gain,
      extraCost: s.int(5, 20),
      trust,
      risk: s.float(0.001, 0.05, 4),
      eco,
      availability: s.float(0.9, 0.99, 2),
      federationAllowed: !forbidden.has(a),
      components,
      rules,
      constraints,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Hosts.

interface HostDraft {
  cpus: number;
  used: number;
}

/** A mixed fleet before capacity shaping: some hosts full, some empty, the rest partly used. */
function draftFleet(rng: Rng, count: number): HostDraft[] {
  const fleet: HostDraft[] = [];
  for (let j = 0; j < count; j++) {
    const cpus = rng.weighted(HOST_CPU_WEIGHTS);
    const state = rng.next();
    const used = state < 0.15 ? cpus : state < 0.3 ? 0 : rng.int(0, cpus);
    fleet.push({ cpus, used });
  }
  return fleet;
}

/** Loose: free used CPUs, then grow hosts to the largest size, until free ≥ target (or nothing is left to grow). */
function loosen(rng: Rng, fleet: HostDraft[], target: number): void {
  let free = fleet.reduce((sum, h) => sum + (h.cpus - h.used), 0);
  if (free >= target) return;
  const order = rng.shuffle(fleet.map((_, j) => j));
  for (const j of order) {
    const h = fleet[j]!;
    const release = Math.min(h.used, target - free);
    h.used -= release;
    free += release;
    if (free >= target) return;
  }
  const largest = HOST_CPUS[HOST_CPUS.length - 1];
  for (const j of order) {
    const h = fleet[j]!;
    free += largest - h.cpus;
    h.cpus = largest;
    if (free >= target) return;
  }
}

/**
 * Tight: exactly `target` free CPUs (when the fleet can hold them). Most of the budget goes to randomly chosen
 * hosts in their natural free amounts (real room, so 8-vCPU VMs still fit somewhere); the rest is scattered as
 * 1–2 CPU fragments; every other host is full. Scaling all hosts down evenly instead would leave thousands of
 * 0–1 CPU slivers that no real VM fits, which would make the ratio meaningless.
 */
function tighten(rng: Rng, fleet: HostDraft[], target: number): void {
  const free = new Array<number>(fleet.length).fill(0);
  let remaining = target;
  const reserve = Math.floor(TIGHT_FRAGMENT_SHARE * target);
  for (const j of rng.shuffle(fleet.map((_, k) => k))) {
    if (remaining <= reserve) break;
    const h = fleet[j]!;
    const take = Math.min(h.cpus - h.used, remaining - reserve);
    free[j] = take;
    remaining -= take;
  }
  // Fragments (and, on a small fleet, whatever the natural free capacity could not cover).
  const order = rng.shuffle(fleet.map((_, k) => k));
  while (remaining > 0) {
    let added = 0;
    for (const j of order) {
      if (remaining === 0) break;
      const room = fleet[j]!.cpus - free[j]!;
      if (room === 0) continue;
      const add = Math.min(room, remaining, rng.int(1, 2));
      free[j]! += add;
      remaining -= add;
      added += add;
    }
    if (added === 0) break; // every host is empty: the fleet cannot reach the target
  }
  fleet.forEach((h, j) => {
    h.used = h.cpus - free[j]!;
  });
}

function shapeCapacity(rng: Rng, fleet: HostDraft[], demand: number, capacity: 'loose' | 'tight'): void {
  if (capacity === 'loose') {
    loosen(rng, fleet, LOOSE_MIN_RATIO * demand);
    return;
  }
  const lo = Math.ceil(TIGHT_MIN_RATIO * demand);
  const hi = Math.floor(TIGHT_MAX_RATIO * demand);
  const target = lo <= hi ? rng.int(lo, hi) : Math.round(((TIGHT_MIN_RATIO + TIGHT_MAX_RATIO) / 2) * demand);
  tighten(rng, fleet, target);
}

function finishHosts(rng: Rng, fleet: readonly HostDraft[], memory: boolean): Host[] {
  return fleet.map((h, j) => {
    const host: Host = {
      id: `h${j + 1}`,
      cpus: h.cpus,
      usedCpus: h.used,
      // OPTIMIS's default host eco is 3 + index; a little noise keeps values distinct from a pure index.
      eco: Math.round((3 + j + rng.float(0, 0.5)) * 100) / 100,
      risk: rng.float(0.001, 0.02, 4),
    };
    if (!memory) return host;
    // Free memory follows free CPUs (2–4 GB per free core, ±) with a little left on full hosts.
    const freeCpus = h.cpus - h.used;
    const perCpu = rng.pick([2048, 4096]);
    const freeMemoryMb = Math.round(freeCpus * perCpu * rng.float(0.8, 1.5)) + rng.int(0, 1024);
    return { ...host, freeMemoryMb };
  });
}

/** A seeded random model (see GeneratorOptions). Same options → deep-equal model. */
export function generateModel(o: GeneratorOptions): AdmissionModel {
  checkOptions(o);
  const root = new Rng(o.seed);
  // Separate streams: changing the host count keeps the services, and vice versa.
  const services = generateServices(root.fork('services'), o);
  const fleet = draftFleet(root.fork('fleet'), o.hosts);
  let demand = 0;
  for (const s of services) for (const c of s.components) demand += c.maxVms * c.vcpus;
  shapeCapacity(root.fork('capacity'), fleet, demand, o.capacity);
  const hosts = finishHosts(root.fork('host-facts'), fleet, o.memory === true);
  return { hosts, services, weights: DEFAULT_WEIGHTS };
}

// ---------------------------------------------------------------------------------------------
// Tiny models for exact-vs-exhaustive property tests.

/** Upper bound on Σ maxVms per service in tinyModel, so an exhaustive search stays cheap. */
export const TINY_MAX_VMS_PER_SERVICE = 6;

const TINY_LEVELS: readonly (readonly [Level, number])[] = [
  [0, 2],
  [1, 1],
  [2, 1],
];

function tinyService(rng: Rng, a: number): Service {
  const n = rng.int(1, 3);
  const components: Component[] = [];
  let budget = TINY_MAX_VMS_PER_SERVICE;
  for (let k = 0; k < n; k++) {
    // Leave at least one VM for each component still to come (maxVms ≥ 1).
    const allowed = budget - (n - k - 1);
    const basic = Math.min(rng.int(0, 2), allowed);
    let elastic = Math.min(rng.int(0, 2), allowed - basic);
    if (basic + elastic === 0) elastic = 1;
    budget -= basic + elastic;
    components.push({
      id: `c${k + 1}`,
      basic,
      maxVms: basic + elastic,
      vcpus: rng.int(1, 3),
      availability: rng.pick([0.5, 0.8, 0.9, 1.0]),
      // Conflicting levels are allowed here on purpose: property tests must agree on odd corners too.
      affinity: rng.weighted(TINY_LEVELS),
      antiAffinity: rng.weighted(TINY_LEVELS),
    });
  }
  const ids = components.map((c) => c.id);
  const rules: Rule[] = [];
  const ruleCount = rng.weighted<number>([
    [0, 2],
    [1, 2],
    [2, 1],
  ]);
  for (let r = 0; r < ruleCount; r++) {
    // Mostly 2+ members; a single-member rule is legal (validateModel allows it) and worth covering.
    const size = n >= 2 && rng.chance(0.85) ? rng.int(2, n) : 1;
    const chosen = new Set(rng.sample(ids, size));
    const rule: Rule = {
      kind: rng.chance(0.5) ? 'affinity' : 'antiAffinity',
      level: rng.chance(0.5) ? 1 : 2,
      members: ids.filter((id) => chosen.has(id)),
    };
    // An OPTIMIS model directory holds one level per (kind, combination): two such rules could not round-trip.
    if (rules.some((other) => other.kind === rule.kind && sameMembers(other.members, rule.members))) continue;
    rules.push(rule);
  }
  const gain = rng.int(500, 2000);
  const trust = rng.int(1, 5);
  const eco = rng.float(2, 10, 2);
  const risk = rng.float(0.001, 0.05, 4);
  let constraints: TrecConstraints = DEFAULT_CONSTRAINTS;
  if (rng.chance(0.2)) {
    const which = rng.int(0, 2);
    constraints =
      which === 0
        ? { ...constraints, trust: trust + 0.5 }
        : which === 1
          ? { ...constraints, eco: Math.round((eco + 1) * 100) / 100 }
          : { ...constraints, risk: Math.round(risk * 0.5 * 10000) / 10000 };
  }
  if (rng.chance(0.25)) constraints = { ...constraints, cost: Math.round(gain * rng.pick([0.05, 0.2, 0.3, 0.6])) };
  return {
    id: `s${a + 1}`,
    gain,
    extraCost: 10,
    trust,
    risk,
    eco,
    availability: rng.float(0.9, 0.99, 2),
    federationAllowed: rng.chance(0.6),
    components,
    rules,
    constraints,
  };
}

/**
 * A model small enough for exhaustive search: ≤ 2 services of ≤ 3 components (Σ maxVms ≤ 6 per service),
 * ≤ 3 hosts with 0–8 free CPUs, every (anti-)affinity level at both scopes, federation on and off, and
 * sometimes a violated TREC bound or a low cost bound.
 */
export function tinyModel(seed: number): AdmissionModel {
  const rng = new Rng(seed);
  const services = Array.from({ length: rng.int(1, 2) }, (_, a) => tinyService(rng, a));
  const hosts: Host[] = Array.from({ length: rng.int(1, 3) }, (_, j) => {
    const cpus = rng.pick([4, 8, 8, 16]);
    const free = rng.int(0, Math.min(8, cpus));
    return { id: `h${j + 1}`, cpus, usedCpus: cpus - free, eco: 3 + j + 1, risk: 0.001 };
  });
  // input_generator.py wrote weights of 1; covering both keeps objective scaling honest.
  const weights = rng.chance(0.2) ? { cost: 1, eco: 1, risk: 1, trust: 1 } : DEFAULT_WEIGHTS;
  return { hosts, services, weights };
}

// ---------------------------------------------------------------------------------------------
// Benchmark sizes.

export interface BenchSize {
  /** Stable id, e.g. `5x5-100-loose` (used on the bench command line and in worker messages). */
  readonly id: string;
  /** Human label, e.g. `5×5, 100`. */
  readonly label: string;
  readonly flavour: 'loose' | 'tight';
  /** Generator options without the seed (the bench chooses seeds). */
  readonly options: Omit<GeneratorOptions, 'seed'>;
  /** Median solve time of the OPTIMIS Python heuristic (README "Figures to beat"); null: never measured. */
  readonly referenceSeconds: number | null;
  /** true when the reference is a timeout ("> 300 s"): the real figure is larger, speed-ups are lower bounds. */
  readonly referenceIsLowerBound: boolean;
}

const SIZE_TABLE: readonly {
  services: number;
  components: number;
  hosts: number;
  loose: number | null;
  tight: number | null;
  tightTimedOut?: boolean;
}[] = [
  { services: 5, components: 5, hosts: 100, loose: 0.22, tight: 1.0 },
  { services: 5, components: 5, hosts: 500, loose: 0.99, tight: 3.7 },
  { services: 5, components: 5, hosts: 2000, loose: 5.0, tight: 16.4 },
  { services: 10, components: 5, hosts: 2000, loose: 35, tight: 123 },
  { services: 20, components: 4, hosts: 5000, loose: 220, tight: 300, tightTimedOut: true },
  { services: 5, components: 5, hosts: 50000, loose: null, tight: null },
];

/**
 * The benchmark grid, each size in both flavours. 'loose' matches the README's loose column (fixed sizes);
 * 'tight' is its "tighter, random sizes" column (capacity-bound, variable component counts). Both carry rules
 * and the default federation-forbidden / TREC-violation shares, which the OPTIMIS heuristic could not even run.
 */
export const BENCH_SIZES: readonly BenchSize[] = SIZE_TABLE.flatMap((row) =>
  (['loose', 'tight'] as const).map((flavour): BenchSize => {
    // Thousands separators by hand: toLocaleString depends on the ICU build of Node.
    const hostsLabel = String(row.hosts).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return {
      id: `${row.services}x${row.components}-${row.hosts}-${flavour}`,
      label: `${row.services}×${row.components}, ${hostsLabel}`,
      flavour,
      options: {
        services: row.services,
        components: row.components,
        hosts: row.hosts,
        capacity: flavour,
        rules: true,
        variableSizes: flavour === 'tight',
      },
      referenceSeconds: flavour === 'loose' ? row.loose : row.tight,
      referenceIsLowerBound: flavour === 'tight' && row.tightTimedOut === true,
    };
  }),
);

export function findBenchSize(id: string): BenchSize | undefined {
  return BENCH_SIZES.find((s) => s.id === id);
}

// ---------------------------------------------------------------------------------------------
// Component scaling (bench section `components`, tests of bounded work).

export interface ComponentScalingOptions {
  readonly seed: number;
  readonly components: number;
  readonly federationAllowed: boolean;
  readonly capacity: 'loose' | 'tight';
  /** Default: one host per component (at least 20). */
  readonly hosts?: number;
}

/**
 * One service of many components, as a large manifest would be: the generator's component mix (30 % with an
 * affinity or anti-affinity level), one service rule per 25 components, no High anti-affinity rule (see
 * GeneratorOptions.highAntiAffinityRules), TREC bounds met, federation allowed or forbidden.
 */
export function componentScalingModel(o: ComponentScalingOptions): AdmissionModel {
  return generateModel({
    seed: o.seed,
    services: 1,
    components: o.components,
    hosts: o.hosts ?? Math.max(20, o.components),
    capacity: o.capacity,
    rules: true,
    rulesPerService: Math.max(2, Math.round(o.components / 25)),
    highAntiAffinityRules: false,
    federationForbiddenShare: o.federationAllowed ? 0 : 1,
    trecViolationShare: 0,
  });
}

// ---------------------------------------------------------------------------------------------
// Capabilities (host capabilities with versions): the same instance, with requirements a share of hosts meets.

export interface CapabilityOptions {
  /** Share of components that require a nodejs range (default 0.3). */
  readonly requireShare?: number;
  /** Share of components that forbid a gpu (default 0.1). */
  readonly forbidShare?: number;
  /** Share of services keeping some members in one zone (default 0.2). */
  readonly sameZoneShare?: number;
  /** Zones the hosts are spread over (default 3). */
  readonly zones?: number;
}

const NODE_VERSIONS = ['16.20.2', '18.19.0', '20.11.1', '21.0.0-rc.1', '22.3.0'] as const;
const NODE_RANGES = ['>=18 <21', '^20', '>=16', '>=22'] as const;

/**
 * Adds capabilities to a generated model, deterministically per seed: every host gets a zone, most a nodejs version
 * (some none), a few a gpu; components require nodejs ranges or forbid gpus; some services keep members in one zone.
 */
export function withCapabilities(model: AdmissionModel, seed: number, o: CapabilityOptions = {}): AdmissionModel {
  const rng = new Rng(seed).fork('capabilities');
  const zones = o.zones ?? 3;
  const hosts: Host[] = model.hosts.map((h) => {
    const capabilities: Record<string, string | true> = { zone: `zone-${rng.int(1, zones)}` };
    if (rng.chance(0.85)) capabilities['nodejs'] = NODE_VERSIONS[rng.int(0, NODE_VERSIONS.length - 1)]!;
    if (rng.chance(0.15)) capabilities['gpu'] = 'a100';
    if (rng.chance(0.5)) capabilities['avx512'] = true;
    return { ...h, capabilities };
  });
  const services = model.services.map((s) => {
    const components = s.components.map((c) => {
      const requires: CapabilityRequirement[] = [];
      if (rng.chance(o.requireShare ?? 0.3)) requires.push({ kind: 'required', name: 'nodejs', range: NODE_RANGES[rng.int(0, NODE_RANGES.length - 1)]! });
      if (rng.chance(o.forbidShare ?? 0.1)) requires.push({ kind: 'forbidden', name: 'gpu' });
      return requires.length > 0 ? { ...c, requires } : c;
    });
    const sameZone = s.components.length > 1 && rng.chance(o.sameZoneShare ?? 0.2);
    return {
      ...s,
      components,
      ...(sameZone ? { sameValue: [{ capability: 'zone', members: s.components.filter(() => rng.chance(0.7)).map((c) => c.id).slice(0, Math.max(1, s.components.length)) }].filter((r) => r.members.length > 0) } : {}),
    };
  });
  return { ...model, hosts, services };
}
