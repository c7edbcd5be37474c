/**
 * Builds the AdmissionModel of one admission from its inputs: the service requests (from manifests), a
 * snapshot of host capacity (minus capacity reserved by earlier admissions), TREC values and the policy.
 * Pure: no I/O; the gateway gathers the inputs and owns the snapshot. admit() validates the result.
 */
import type { AdmissionModel, CapabilityValue, Component, Host, Rule, SameValueRule, Service, TrecConstraints, Weights } from '../model/types';

/** One service as requested (a parsed manifest, transport-free). */
export interface ServiceRequest {
  readonly id: string;
  readonly federationAllowed: boolean;
  /** Service availability target (reporting only in v6.0). */
  readonly availability: number;
  readonly components: readonly Omit<Component, 'label'>[];
  readonly rules: readonly Rule[];
  /** Members kept on one value of a capability (eac:SameValue). */
  readonly sameValue?: readonly SameValueRule[];
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
  /** Named capabilities as the host-info source reports them (model/capabilities.ts). */
  readonly capabilities?: Readonly<Record<string, CapabilityValue>>;
}

export interface ServiceTrecValues {
  readonly trust: number;
  readonly risk: number;
  readonly eco: number;
  readonly planFloor?: number;
}

/** The host part of a model's inputs. */
export interface HostModelInput {
  readonly hosts: readonly HostInput[];
  /** Capacity held by earlier admissions (and capacity windows) over the admission's window, per host id; may be negative. */
  readonly reserved?: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
  readonly hostTrec?: ReadonlyMap<string, { readonly risk: number; readonly eco: number }>;
  /** OPTIMIS's cleanTestbed: every host counts as empty (used capacity and reservations ignored). */
  readonly ignoreUsage?: boolean;
}

export interface BuildModelInput extends HostModelInput {
  readonly services: readonly ServiceRequest[];
  readonly serviceTrec: ReadonlyMap<string, ServiceTrecValues>;
  readonly weights: Weights;
  /** Gain of a service whose price plan is unknown. */
  readonly defaultGain: number;
  /** Fallbacks when TREC values are missing for a service (the fetchers normally fill them). */
  readonly fallbackTrec: { readonly trust: number; readonly risk: number; readonly eco: number };
}

/** OPTIMIS's gain: revenue = 10 × the price plan's floor (model.md §2.2, basicCost.csv). */
export const GAIN_PER_PLAN_FLOOR = 10;

/**
 * The model's hosts: free capacity after reservations, TREC values, ordered by ascending risk (OPTIMIS: ph1 =
 * least risky; ties keep the provider's order), labelled ph1…phN. Frozen, so that a result can be shared by
 * many models (HostModelMemo) and recognised as already validated (model/validate.ts).
 */
export function buildHostModel(input: HostModelInput): readonly Host[] {
  const n = input.hosts.length;
  const built: Host[] = new Array<Host>(n);
  const sortRisk = new Float64Array(n);
  for (let index = 0; index < n; index++) {
    const h = input.hosts[index]!;
    const reserved = input.ignoreUsage ? undefined : input.reserved?.get(h.id);
    const trec = input.hostTrec?.get(h.id);
    const risk = trec?.risk ?? h.risk;
    // Plain assignments, not object spreads: this runs for every host of every admission that misses the memo.
    // Taken = host-info's usage plus what the ledger holds over the window; below zero when a capacity window adds
    // capacity there (the host is larger in that window).
    const taken = input.ignoreUsage ? 0 : h.usedCpus + (reserved?.cpus ?? 0);
    // Every property in one literal, in one order (label filled in below): one hidden class for all hosts.
    const host: { -readonly [K in keyof Host]: Host[K] } = {
      id: h.id,
      label: '',
      cpus: taken < 0 ? h.cpus - taken : h.cpus,
      usedCpus: Math.min(h.cpus, Math.max(0, taken)),
      eco: trec?.eco ?? h.eco ?? 3 + index,
    };
    if (h.memoryMb !== undefined) {
      host.freeMemoryMb = input.ignoreUsage ? h.memoryMb : Math.max(0, h.memoryMb - (h.usedMemoryMb ?? 0) - (reserved?.memoryMb ?? 0));
    }
    if (risk !== undefined) host.risk = risk;
    if (h.capabilities !== undefined && Object.keys(h.capabilities).length > 0) host.capabilities = h.capabilities;
    built[index] = host;
    sortRisk[index] = risk ?? 0;
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((p, q) => sortRisk[p]! - sortRisk[q]! || p - q);
  // Labelled and frozen in place: a spread copy per host would give each its own hidden class, and every loop over a
  // large fleet (validation, solvers, explanations) would run many times slower.
  const hosts = order.map((j, k) => {
    const h = built[j]! as { -readonly [K in keyof Host]: Host[K] };
    h.label = `ph${k + 1}`;
    return Object.freeze(h);
  });
  return Object.freeze(hosts);
}

type Held = { readonly cpus: number; readonly memoryMb: number };
type HostTrec = { readonly risk: number; readonly eco: number };

function sameEntries<V>(a: ReadonlyMap<string, V> | undefined, b: ReadonlyMap<string, V> | undefined, same: (x: V, y: V) => boolean): boolean {
  if (a === b) return true;
  if ((a?.size ?? 0) !== (b?.size ?? 0)) return false;
  if (!a || !b) return true; // both empty
  for (const [k, x] of a) {
    const y = b.get(k);
    if (y === undefined || !same(x, y)) return false;
  }
  return true;
}

/**
 * Remembers the last host model and returns it again while its inputs are the same: the same host snapshot (host-info
 * providers return one frozen array until the source changes) and equal reservations and host TREC values. Mapping,
 * sorting and validating hundreds of hosts on every admission was a fifth of an admission's time; comparing the two
 * maps costs only as much as there are reserved hosts.
 */
export class HostModelMemo {
  private last:
    | { hosts: HostModelInput['hosts']; reserved: ReadonlyMap<string, Held> | undefined; hostTrec: ReadonlyMap<string, HostTrec> | undefined; ignoreUsage: boolean; built: readonly Host[] }
    | undefined;

  build(input: HostModelInput): readonly Host[] {
    const last = this.last;
    if (
      last &&
      last.hosts === input.hosts &&
      last.ignoreUsage === Boolean(input.ignoreUsage) &&
      (last.ignoreUsage || sameEntries<Held>(last.reserved, input.reserved, (x, y) => x.cpus === y.cpus && x.memoryMb === y.memoryMb)) &&
      sameEntries<HostTrec>(last.hostTrec, input.hostTrec, (x, y) => x.risk === y.risk && x.eco === y.eco)
    ) {
      return last.built;
    }
    const built = buildHostModel(input);
    this.last = { hosts: input.hosts, reserved: input.reserved, hostTrec: input.hostTrec, ignoreUsage: Boolean(input.ignoreUsage), built };
    return built;
  }
}

/** The admission model; `hostMemo` lets a long-lived caller reuse the host part between admissions. */
export function buildAdmissionModel(input: BuildModelInput, hostMemo?: HostModelMemo): AdmissionModel {
  const hosts = hostMemo ? hostMemo.build(input) : buildHostModel(input);

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
      ...(r.sameValue && r.sameValue.length > 0 ? { sameValue: r.sameValue } : {}),
      constraints: r.constraints,
    };
  });

  // Not validated here: admit() validates every model once, whoever built it.
  return {
    hosts,
    services,
    weights: input.weights,
  };
}
