/**
 * Builds the AdmissionModel of one admission from its inputs: the service requests (from manifests), a
 * snapshot of host capacity (minus capacity reserved by earlier admissions), TREC values and the policy.
 * Pure: no I/O; the gateway gathers the inputs and owns the snapshot. admit() validates the result.
 */
import type { AdmissionModel, Component, Host, Rule, Service, TrecConstraints, Weights } from '../model/types';

/** One service as requested (a parsed manifest, transport-free). */
export interface ServiceRequest {
  readonly id: string;
  readonly federationAllowed: boolean;
  /** Service availability target (reporting only in v6.0). */
  readonly availability: number;
  readonly components: readonly Omit<Component, 'label'>[];
  readonly rules: readonly Rule[];
  /** Effective TREC bounds for this service (policy default ← manifest ← operator override). */
  readonly constraints: TrecConstraints;
  /** The manifest's price-plan floor, used for the gain when the cost service gives none. */
  readonly planFloor?: number;
}

/** A host as a host-info provider reports it. */
export interface HostInput {
  readonly id: string;
  readonly cpus: number;
  readonly usedCpus: number;
  readonly memoryMb?: number;
  readonly usedMemoryMb?: number;
  readonly eco?: number;
  readonly risk?: number;
}

export interface ServiceTrecValues {
  readonly trust: number;
  readonly risk: number;
  readonly eco: number;
  readonly planFloor?: number;
}

export interface BuildModelInput {
  readonly services: readonly ServiceRequest[];
  readonly hosts: readonly HostInput[];
  /** Capacity held by earlier admissions, per host id. */
  readonly reserved?: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
  readonly serviceTrec: ReadonlyMap<string, ServiceTrecValues>;
  readonly hostTrec?: ReadonlyMap<string, { readonly risk: number; readonly eco: number }>;
  readonly weights: Weights;
  /** Gain of a service whose price plan is unknown. */
  readonly defaultGain: number;
  /** Fallbacks when TREC values are missing for a service (the fetchers normally fill them). */
  readonly fallbackTrec: { readonly trust: number; readonly risk: number; readonly eco: number };
}

/** OPTIMIS's gain: revenue = 10 × the price plan's floor (model.md §2.2, basicCost.csv). */
export const GAIN_PER_PLAN_FLOOR = 10;

export function buildAdmissionModel(input: BuildModelInput): AdmissionModel {
  const hosts = input.hosts.map((h, index): Host & { sortRisk: number; index: number } => {
    const reserved = input.reserved?.get(h.id);
    const trec = input.hostTrec?.get(h.id);
    const used = Math.min(h.cpus, h.usedCpus + (reserved?.cpus ?? 0));
    const risk = trec?.risk ?? h.risk;
    return {
      id: h.id,
      cpus: h.cpus,
      usedCpus: used,
      ...(h.memoryMb !== undefined
        ? { freeMemoryMb: Math.max(0, h.memoryMb - (h.usedMemoryMb ?? 0) - (reserved?.memoryMb ?? 0)) }
        : {}),
      eco: trec?.eco ?? h.eco ?? 3 + index,
      ...(risk !== undefined ? { risk } : {}),
      sortRisk: risk ?? 0,
      index,
    };
  });
  // OPTIMIS orders hosts by ascending risk (ph1 = least risky); ties keep the provider's order.
  hosts.sort((p, q) => p.sortRisk - q.sortRisk || p.index - q.index);

  const services = input.services.map((r, a): Service => {
    const trec = input.serviceTrec.get(r.id);
    const planFloor = trec?.planFloor ?? r.planFloor;
    return {
      id: r.id,
      label: `a${a + 1}`,
      gain: planFloor !== undefined && planFloor > 0 ? GAIN_PER_PLAN_FLOOR * planFloor : input.defaultGain,
      extraCost: 0,
      trust: trec?.trust ?? input.fallbackTrec.trust,
      risk: trec?.risk ?? input.fallbackTrec.risk,
      eco: trec?.eco ?? input.fallbackTrec.eco,
      availability: r.availability,
      federationAllowed: r.federationAllowed,
      components: r.components.map((c, i) => ({ ...c, label: `vm${i + 1}` })),
      rules: r.rules,
      constraints: r.constraints,
    };
  });

  // Not validated here: admit() validates every model once, whoever built it.
  return {
    hosts: hosts.map(({ sortRisk: _r, index: _i, ...h }, j) => ({ ...h, label: `ph${j + 1}` })),
    services,
    weights: input.weights,
  };
}
