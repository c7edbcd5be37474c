/**
 * The verifier's report: feasibility by constraint name, and every value of the implemented semantics
 * recomputed from the model and the allocation alone. Types only; the verifier lives in verifier.ts.
 */

/**
 * Constraint names (GAMS v6.0 equation in brackets). A closed list so tests and clients can match on them.
 */
export type ConstraintName =
  | 'allocation-shape' // allocation does not match the model (service / component count, bad host index, non-integer…)
  | 'host-capacity-cpu' // [cpu_res_Eq, cpu_res_threshold] Σ cpu·x ≤ free CPUs of the host
  | 'host-capacity-memory' // [v1 free_memory] Σ mem·x ≤ free memory of the host (only hosts that carry memory)
  | 'basic-vms' // [allocation] X ≥ b·y
  | 'maximum-vms' // [allocation_] X ≤ U·y
  | 'all-or-nothing' // [xbool_low, xbool_up] federation-forbidden services: b·X_a ≤ X ≤ U·X_a
  | 'availability-range' // cdf ∈ [0, 1] (for federation-allowed services: b − 1 ≤ X + φ ≤ U, quirk Q5)
  | 'component-availability' // [cdf_sc_constraint] cdf ≥ av·y (antiAffinity ≠ High)
  | 'federated-availability' // [new] cdf ≥ av·(1 − y)·g
  | 'federation-forbidden' // [fed_vms_eq] φ = 0 when federation is not allowed
  | 'federation-range' // 0 ≤ φ ≤ U, integer
  | 'anti-affinity-high-federation' // [fed_vm_eq_plus] φ ≥ y when antiAffinity = High (federation allowed)
  | 'anti-affinity-high-basic' // [anti_affinity_sc_] X ≤ b when antiAffinity = High
  | 'anti-affinity-medium-component' // [anti_affinity_sc] x_j ≤ 1 when antiAffinity = Medium
  | 'affinity-high-component' // [involved_ph, mediator, affinity_sc] accepted ⇒ exactly one host
  | 'affinity-medium-rule' // [affinity_rule_] members all accepted or all rejected
  | 'affinity-high-rule' // [low, up, affinity_rule] all accepted ⇒ all member VMs on exactly one host; else none local
  | 'affinity-rule-federation' // [affinity_rule_plus] accepted members of a Medium/High affinity rule are not federated
  | 'anti-affinity-medium-rule' // [anti_affinity_rule_] members on pairwise different hosts
  | 'anti-affinity-high-rule' // [anti_affinity_rule] at most one member accepted locally
  | 'trec-eco' // [eco_cons] full acceptance needs eco ≥ bound
  | 'trec-risk' // [risk_cons] full acceptance needs risk ≤ bound
  | 'trec-trust' // [trust_cons] full acceptance needs trust ≥ bound
  | 'cost-bound' // [cost_cons] with D2: cost ≤ bound when some component is accepted locally
  | 'charge-bound' // [extension: charging] Σ placementCharge ≤ chargeBound when some component is accepted locally
  | 'capability-requirement' // [extension] every host of a component's local VMs satisfies its eac:Requires / eac:Forbids
  | 'capability-same-value'; // [extension] the members of an eac:SameValue rule use hosts with one value of the capability

export interface Violation {
  readonly constraint: ConstraintName;
  /** Service id, when the violation belongs to one. */
  readonly service?: string;
  /** Component id, when the violation belongs to one. */
  readonly component?: string;
  /** Host id, when the violation belongs to one. */
  readonly host?: string;
  /** Human-readable: what is required and what the allocation has. */
  readonly message: string;
}

export interface ComponentEvaluation {
  readonly id: string;
  /** y_ia as given by the allocation. */
  readonly acceptedLocally: boolean;
  /** X_ia = Σ_j x_jia. */
  readonly localVms: number;
  /** φ_ia. */
  readonly federatedVms: number;
  /** accE_ia = X_ia − b_ia·y_ia (the accepted elastic VMs). */
  readonly acceptedElasticVms: number;
  /** cdf_ia: (X + φ − b + 1)/(E + 1) for federation-allowed services, y·(X − b + 1)/(E + 1) otherwise. */
  readonly availability: number;
  /** Number of distinct hosts carrying at least one VM. */
  readonly hostsUsed: number;
}

export interface ServiceEvaluation {
  readonly id: string;
  /** X_a = Π_i y_ia ("Admission Control Result"). */
  readonly fullyAccepted: boolean;
  /** Some component has y = 1 (the condition under which the cost bound binds, D2). */
  readonly anyAcceptedLocally: boolean;
  /** T_a = Σ_i X_ia. */
  readonly localVms: number;
  /** V_a = Σ_i U_ia. */
  readonly maxVms: number;
  /** Σ_i φ_ia. */
  readonly federatedVms: number;
  /** accE_a. */
  readonly acceptedElasticVms: number;
  /** avg_a: mean component cdf (× X_a for federation-forbidden services). */
  readonly averageAvailability: number;
  /** Π over locally accepted components of cdf (reporting only in v6.0). */
  readonly jointAvailability: number;
  /** pct_a = T_a / V_a. */
  readonly acceptedVmShare: number;
  /** cost_a = Pav·(1 − avg) + Σ fcv·φ. */
  readonly cost: number;
  /**
   * Extension (charging): Σ over components and hosts of placementCharge (model/charge.ts), local VMs only; 0 when the
   * model charges nothing. Reported whether or not the service has a charge bound; never part of the objective.
   */
  readonly charge: number;
  /** The service's term of the objective. */
  readonly objectiveContribution: number;
  readonly components: readonly ComponentEvaluation[];
}

export interface Verification {
  readonly feasible: boolean;
  readonly violations: readonly Violation[];
  /** Σ of the services' objective contributions (v6.0 objective, no Z ≥ 0 bound: D3). */
  readonly objective: number;
  readonly services: readonly ServiceEvaluation[];
}
