/**
 * The admission model: the immutable snapshot every layer downstream of the gateway works on.
 * Pure data, no behaviour; semantics are OPTIMIS v6.0 + deviations D1–D4 (docs/model.md).
 */

/** Affinity / anti-affinity level as OPTIMIS encodes it: 0 = Low, 1 = Medium, 2 = High. */
export type Level = 0 | 1 | 2;

export interface Host {
  /** Real host id (hostsInfo.csv / inventory). */
  readonly id: string;
  /** Model-directory label (`ph<k>`), kept so that result.csv uses the directory's own labels. */
  readonly label?: string;
  /** Total cores (`maxCpus.csv`). */
  readonly cpus: number;
  /** Cores already in use (`resCpus.csv`). Free CPUs = max(0, cpus − usedCpus). */
  readonly usedCpus: number;
  /**
   * Free memory in MB. When present on a host, memory is a second capacity for that host
   * (extension, OPTIMIS v1's `free_mem.csv`); absent means memory is not constrained.
   */
  readonly freeMemoryMb?: number;
  /** Host eco-efficiency (`ecoHost.csv`). Dead in v6.0 (multiplied by z = 0), kept for reporting. */
  readonly eco: number;
  /** Host probability of failure (`riskHost.csv`), information only. */
  readonly risk?: number;
  /**
   * Named capabilities (model/capabilities.ts): a version or value (`nodejs: "20.11.1"`, `zone: "eu-west-1a"`) or
   * `true` for a flag (`avx512`). Absent: the host offers none, and only unconstrained components may use it.
   */
  readonly capabilities?: Readonly<Record<string, CapabilityValue>>;
  /** Index into `AdmissionModel.charging.classes` (extension: charging); absent = class 0. */
  readonly chargeClass?: number;
}

/** A capability's value: a version or other value, or `true` for a flag without one. */
export type CapabilityValue = string | true;

/**
 * What a component needs of a host beyond room (Placement's required / forbidden traits). `required` with a range: the
 * host's value satisfies it (a semver range, or an exact value for values that are not versions); without: the host
 * has the capability at all. `forbidden`: the host does not have it.
 */
export interface CapabilityRequirement {
  readonly kind: 'required' | 'forbidden';
  readonly name: string;
  readonly range?: string;
}

/** All local VMs of the members run on hosts with one and the same value of the capability (e.g. one zone). */
export interface SameValueRule {
  readonly capability: string;
  /** Component ids of the service, at least one, no duplicates. */
  readonly members: readonly string[];
}

export interface Component {
  readonly id: string;
  /** Model-directory label (`vm<k>`). */
  readonly label?: string;
  /** Basic VMs `b` (`basic.csv`, manifest `Initial`): the minimum for local acceptance. */
  readonly basic: number;
  /** Maximum total VMs `U` (`elastic.csv`, manifest `UpperBound`); elastic VMs E = U − b. */
  readonly maxVms: number;
  /** vCPUs per VM (`table.csv`). */
  readonly vcpus: number;
  /** Memory per VM in MB (`memory_per_component.csv`); only used on hosts that carry memory. */
  readonly memoryMb?: number;
  /** Component availability target `av` in [0, 1] (`availability_sc.csv`). */
  readonly availability: number;
  /** Component-level affinity (`affinity_sc.csv`). */
  readonly affinity: Level;
  /** Component-level anti-affinity (`anti_affinity_sc.csv`). */
  readonly antiAffinity: Level;
  /** Capabilities every host of its local VMs must satisfy (extension: manifests' eac:Requires / eac:Forbids). */
  readonly requires?: readonly CapabilityRequirement[];
}

/**
 * A service-level rule over an explicit member list (instead of OPTIMIS's 2^n combination tables).
 * Level 0 (Low) rules carry no constraint and are not represented.
 */
export interface Rule {
  readonly kind: 'affinity' | 'antiAffinity';
  readonly level: 1 | 2;
  /** Component ids of the service, at least one, no duplicates. */
  readonly members: readonly string[];
}

/** Per-service TREC bounds (`*_constraint.csv`). */
export interface TrecConstraints {
  /** Service eco must be ≥ this for full acceptance. */
  readonly eco: number;
  /** Service trust must be ≥ this for full acceptance. */
  readonly trust: number;
  /** Service risk must be ≤ this for full acceptance. */
  readonly risk: number;
  /** Service cost must be ≤ this whenever a component is accepted locally (D2). */
  readonly cost: number;
}

export interface Service {
  readonly id: string;
  /** Model-directory label (`a<k>`). */
  readonly label?: string;
  /** Revenue when fully available, `G_a` (`basicCost.csv`). */
  readonly gain: number;
  /** Extra cost per elastic VM (`extraCost.csv`); declared but unused by v6.0, kept for round trips. */
  readonly extraCost: number;
  readonly trust: number;
  readonly risk: number;
  readonly eco: number;
  /** Service availability target `fi` (`availability.csv`); constrains nothing in v6.0 (Q8). */
  readonly availability: number;
  /** false = `doNotFederate = yes`: the service is all-or-nothing and nothing may be federated. */
  readonly federationAllowed: boolean;
  readonly components: readonly Component[];
  readonly rules: readonly Rule[];
  /** Capabilities whose value must be the same on every host the members use (extension: eac:SameValue). */
  readonly sameValue?: readonly SameValueRule[];
  readonly constraints: TrecConstraints;
  /**
   * Extension (charging, docs/charging.md): the service's charge (model/charge.ts, over the model's charge classes)
   * must be ≤ this whenever a component is accepted locally — the manifest's PricePlan cap and the owner's credits.
   * Absent: no charge bound. Only meaningful with `AdmissionModel.charging`.
   */
  readonly chargeBound?: number;
}

/** Objective weights (`*_weight.csv`). */
export interface Weights {
  readonly cost: number;
  readonly eco: number;
  readonly risk: number;
  readonly trust: number;
}

/**
 * What one VM is charged over the admission's window on the hosts of one class (extension: charging): per vCPU, per
 * GB of memory, and per VM. Window-integrated by the catalogue (charging/), so a VM's charge is linear in these.
 */
export interface ChargeRates {
  readonly perVcpu: number;
  readonly perMemoryGb: number;
  readonly perVm: number;
}

/** Charge classes of the hosts (extension: charging). The charge is a bound the client sets, not an objective term. */
export interface ModelCharging {
  /** `Host.chargeClass` indexes these; at least one. */
  readonly classes: readonly ChargeRates[];
}

export interface AdmissionModel {
  /** Hosts in model order (`ph1..phH`). */
  readonly hosts: readonly Host[];
  /** Services in model order (`a1..aS`). */
  readonly services: readonly Service[];
  readonly weights: Weights;
  /** Extension: what VMs are charged per host class; absent = nothing is charged (no charge bound applies). */
  readonly charging?: ModelCharging;
}

/** Defaults of the original system (model.md §2.4). */
export const DEFAULT_WEIGHTS: Weights = { cost: 0.25, eco: 0.25, risk: 0.25, trust: 0.25 };
export const DEFAULT_CONSTRAINTS: TrecConstraints = { eco: 0, trust: 0, risk: 7, cost: 1_000_000 };
export const DEFAULT_SERVICE_TRUST = 3;
export const DEFAULT_SERVICE_ECO = 8;
export const DEFAULT_SERVICE_RISK = 0.001;

// ---------------------------------------------------------------------------------------------
// Allocations: what a solver returns and the verifier judges.

export interface HostPlacement {
  /** Index into `model.hosts`. */
  readonly hostIndex: number;
  /** VMs of this component on that host (integer ≥ 1 in solver output; the verifier accepts 0). */
  readonly vms: number;
}

export interface ComponentAllocation {
  /** `y_ia`: the component is accepted locally. */
  readonly acceptedLocally: boolean;
  /** Local VMs per host. */
  readonly placements: readonly HostPlacement[];
  /** `φ_ia`: VMs of this component sent to a federated provider. */
  readonly federatedVms: number;
}

/** An allocation, indexed like the model: `services[a][i]` is component i of service a. */
export interface Allocation {
  readonly services: readonly (readonly ComponentAllocation[])[];
}

export type SolverName = 'greedy' | 'highs' | 'auto' | 'lp-solver' | 'exhaustive';

/** optimal: proven; feasible: a verified allocation without proof (or with the gap below); */
export type SolveStatus = 'optimal' | 'feasible' | 'infeasible' | 'error';

export interface SolveResult {
  readonly allocation: Allocation;
  /** Objective as the solver computed it (the verifier recomputes it independently). */
  readonly objective: number;
  readonly status: SolveStatus;
  /** Relative gap to the best proven bound, when a bound is known; null otherwise. */
  readonly gap: number | null;
  /** Best proven upper bound on the objective, when known. */
  readonly bound: number | null;
  /** Solve time in seconds (no process start, no file reading). */
  readonly seconds: number;
  readonly solver: string;
  /** Free-form solver statistics (iterations, nodes, model size…), for logs and benchmarks. */
  readonly stats?: Readonly<Record<string, number | string>>;
}

export interface SolveOptions {
  /** Wall-clock budget in seconds for the whole solve, counted from the call (every phase stops when it is spent). */
  readonly timeLimitSeconds?: number;
  /** Relative MIP gap at which an exact solver may stop (0 = prove optimality). */
  readonly mipRelGap?: number;
  /**
   * Gives up on the solve (a request cancelled or timed out): the solver stops promptly and its promise rejects with
   * `signal.reason`. Not part of the model: a solve that is not aborted answers as if there were no signal.
   */
  readonly signal?: AbortSignal;
}

/** A solver is a pure function from model to solution behind this one interface. */
export interface Solver {
  readonly name: string;
  solve(model: AdmissionModel, options?: SolveOptions): Promise<SolveResult>;
}
