/**
 * Orchestrates one admission request: parse manifests → snapshot of hosts and reservations → TREC values →
 * model → admit (solve, verify, decide) → offers written into the manifests → record (unless dry-run).
 * Transport-free: the HTTP routes call it; it never sees express.
 */
import { randomUUID } from 'node:crypto';
import type { AdmissionResult, SolverChoice } from '../admission-controller/admit';
import { admit } from '../admission-controller/admit';
import type { ServiceDecision } from '../admission-controller/decisions';
import type { HostInfoProvider } from '../host-info/types';
import { AdmissionError, type ErrorDetail } from '../model/errors';
import type { AdmissionModel, TrecConstraints } from '../model/types';
import { buildAdmissionModel, type ServiceRequest } from '../trec-analyzer/build-model';
import { fetchTrec, type DegradedNote, type TrecFetchOptions } from '../trec-analyzer/trec-fetchers';
import { writeAllocationOffer, type AllocationOfferInput } from './manifest/offer';
import { parseManifest, type ParsedManifest } from './manifest/parse';
import type { StateStore } from './state-store';

export interface AdmissionServiceOptions {
  readonly solver: SolverChoice;
  readonly timeLimitSeconds: number;
  readonly mipRelGap: number;
  readonly maxManifests: number;
  readonly reservationTtlSeconds: number;
  readonly trec: TrecFetchOptions;
  /** Gain of a service without a price plan (OPTIMIS's bundled cost.xml: planFloor 10 → 100). */
  readonly defaultGain: number;
  /** Provider id written into offers and logs. */
  readonly providerId: string;
}

export interface AdmissionRequest {
  readonly manifests: readonly string[];
  readonly dryRun: boolean;
  /** Solver override for this request (OPTIMIS's use_GAMS / use_Heuristic flags). */
  readonly solver?: SolverChoice;
  /** OPTIMIS's cleanTestbed: treat every host as empty (used CPUs, memory and reservations ignored). */
  readonly cleanTestbed?: boolean;
  /** OPTIMIS's isFederationAllowed form flag, per manifest: true forbids federation even if the manifest allows it. */
  readonly forbidFederation?: readonly boolean[];
  readonly signal?: AbortSignal;
  readonly requestId: string;
}

export interface ServiceAnswer extends ServiceDecision {
  readonly serviceId: string;
  readonly manifestId: string;
  /** Id of the recorded admission holding this service's capacity; null on dry-run or when nothing is local. */
  readonly admissionId: string | null;
  /** The input manifest with the allocation offer written back (OPTIMIS-compatible, XSD-valid). */
  readonly manifest: string;
}

export interface AdmissionAnswer {
  readonly requestId: string;
  readonly dryRun: boolean;
  /** False on dry-run: nothing was recorded and no capacity is held. */
  readonly recorded: boolean;
  readonly objective: number;
  readonly solver: AdmissionResult['solver'];
  /** TREC values that came from fallbacks, with the reason (never silent). */
  readonly degraded: readonly DegradedNote[];
  readonly hostsConsidered: number;
  readonly capacityGeneration: number;
  readonly services: readonly ServiceAnswer[];
}

const MAX_CONFLICT_RETRIES = 3;

/** A minimal async mutex: recorded admissions are serialised so two cannot book the same capacity. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const previous = this.tail;
    this.tail = previous.then(() => next);
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

function parseAll(manifests: readonly string[]): ParsedManifest[] {
  const parsed: ParsedManifest[] = [];
  manifests.forEach((xml, k) => {
    try {
      parsed.push(parseManifest(xml));
    } catch (error) {
      if (error instanceof AdmissionError && manifests.length > 1) {
        throw new AdmissionError(
          error.code,
          `manifests[${k}]: ${error.message}`,
          error.details.map((d): ErrorDetail => ({ field: `manifests[${k}].${d.field}`, reason: d.reason })),
        );
      }
      throw error;
    }
  });
  const seen = new Map<string, number>();
  parsed.forEach((m, k) => {
    const previous = seen.get(m.serviceId);
    if (previous !== undefined) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `manifests[${k}]: service '${m.serviceId}' is already in manifests[${previous}]`, [
        { field: `manifests[${k}].serviceId`, reason: `duplicate of manifests[${previous}]` },
      ]);
    }
    seen.set(m.serviceId, k);
  });
  return parsed;
}

export class AdmissionService {
  private readonly lock = new Mutex();

  constructor(
    private readonly hostInfo: HostInfoProvider,
    private readonly store: StateStore,
    private readonly options: AdmissionServiceOptions,
  ) {}

  async admit(request: AdmissionRequest): Promise<AdmissionAnswer> {
    if (request.manifests.length === 0) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'no manifest in the request', [{ field: 'manifests', reason: 'at least one manifest is required' }]);
    }
    if (request.manifests.length > this.options.maxManifests) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `too many manifests: ${request.manifests.length} > ${this.options.maxManifests}`, [
        { field: 'manifests', reason: `at most ${this.options.maxManifests} per request` },
      ]);
    }
    const parsed = parseAll(request.manifests); // bad input fails here, before anything is locked or fetched
    const cycle = async (): Promise<AdmissionAnswer> => {
      // A conflict means another process booked capacity after our snapshot: solve again on a fresh one.
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.cycle(parsed, request);
        } catch (error) {
          if (!(error instanceof AdmissionError && error.code === 'AC_ERR_CONFLICT') || attempt >= MAX_CONFLICT_RETRIES) throw error;
        }
      }
    };
    return request.dryRun ? cycle() : this.lock.run(cycle);
  }

  /** The model this request would be solved on (for diagnostics and tests). */
  async buildModel(
    parsed: readonly ParsedManifest[],
    request: Pick<AdmissionRequest, 'manifests' | 'cleanTestbed' | 'forbidFederation' | 'signal'>,
  ): Promise<{ model: AdmissionModel; degraded: DegradedNote[]; generation: number; provenance: Provenance[] }> {
    const generation = this.store.capacityGeneration();
    const now = new Date();
    const hosts = await this.hostInfo.listHosts(request.signal);
    const reserved = request.cleanTestbed ? new Map() : this.store.reservedCapacity(now);
    const trec = await fetchTrec(
      parsed.map((m, k) => ({
        serviceId: m.serviceId,
        ...(m.serviceProviderId ? { serviceProviderId: m.serviceProviderId } : {}),
        manifestXml: request.manifests[k]!,
      })),
      hosts.map((h) => h.id),
      this.options.trec,
      request.signal,
    );
    const policy = this.store.getPolicy();
    const services = parsed.map((m, k): ServiceRequest => ({
      id: m.serviceId,
      federationAllowed: m.federationAllowed && !request.forbidFederation?.[k],
      availability: m.availability,
      components: m.components.map((c) => ({
        id: c.id,
        basic: c.basic,
        maxVms: c.maxVms,
        vcpus: c.vcpus,
        ...(c.memoryMb !== undefined ? { memoryMb: c.memoryMb } : {}),
        availability: c.availability,
        affinity: c.affinity,
        antiAffinity: c.antiAffinity,
      })),
      rules: m.rules,
      constraints: this.store.effectiveConstraints(m.serviceId, m.trecConstraints) as TrecConstraints,
      ...(m.pricePlan && m.pricePlan.planFloor > 0 ? { planFloor: m.pricePlan.planFloor } : {}),
    }));
    const model = buildAdmissionModel({
      services,
      hosts: request.cleanTestbed ? hosts.map((h) => ({ ...h, usedCpus: 0, usedMemoryMb: 0 })) : hosts,
      reserved,
      serviceTrec: trec.services,
      hostTrec: trec.hosts,
      weights: policy.weights,
      defaultGain: this.options.defaultGain,
      fallbackTrec: { trust: this.options.trec.fallbacks.trust, risk: this.options.trec.fallbacks.risk, eco: this.options.trec.fallbacks.eco },
    });
    const provenance = parsed.map((m): Provenance => ({
      values: trec.services.get(m.serviceId)?.sources ?? { trust: 'default', risk: 'default', eco: 'default', cost: 'default' },
      bounds: this.store.explainConstraints(m.serviceId, m.trecConstraints).sources,
    }));
    return { model, degraded: trec.degraded, generation, provenance };
  }

  private async cycle(parsed: readonly ParsedManifest[], request: AdmissionRequest): Promise<AdmissionAnswer> {
    const { model, degraded, generation, provenance } = await this.buildModel(parsed, request);
    if (request.signal?.aborted) throw new AdmissionError('AC_ERR_TIMEOUT', 'the request deadline passed before solving');
    const result = await admit(model, {
      solver: request.solver ?? this.options.solver,
      timeLimitSeconds: this.options.timeLimitSeconds,
      mipRelGap: this.options.mipRelGap,
    });
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.options.reservationTtlSeconds * 1000);
    const services = result.services.map((decision, a): ServiceAnswer => {
      const m = parsed[a]!;
      const manifest = writeAllocationOffer(request.manifests[a]!, this.offerFor(model, a, decision, m));
      return { ...withProvenance(decision, provenance[a]!), serviceId: m.serviceId, manifestId: m.manifestId, admissionId: null, manifest };
    });
    let recorded = services;
    if (!request.dryRun) {
      // The mutex serialises this process; the generation check catches another process sharing the database.
      let expected = generation;
      const made: string[] = [];
      try {
      recorded = services.map((s, a) => {
        const hosts = hostConsumption(model, result, a);
        if (hosts.length === 0) return s;
        const id = `adm-${randomUUID()}`;
        this.store.recordAdmission({
          id,
          serviceId: s.serviceId,
          decision: s.decision,
          createdAt: now.toISOString(),
          expiresAt: expiresAt.toISOString(),
          hosts,
          response: { requestId: request.requestId, decision: s.decision, summary: s.summary, components: s.components },
          expectedCapacityGeneration: expected++,
        });
        made.push(id);
        return { ...s, admissionId: id };
      });
      } catch (error) {
        for (const id of made) this.store.releaseAdmission(id); // all of the request or none of it
        throw error;
      }
      this.store.purgeExpired(now);
    }
    return {
      requestId: request.requestId,
      dryRun: request.dryRun,
      recorded: !request.dryRun,
      objective: result.objective,
      solver: result.solver,
      degraded,
      hostsConsidered: model.hosts.length,
      capacityGeneration: request.dryRun ? generation : this.store.capacityGeneration(),
      services: recorded,
    };
  }

  private offerFor(model: AdmissionModel, a: number, decision: ServiceDecision, m: ParsedManifest): AllocationOfferInput {
    const service = model.services[a]!;
    const offered = decision.decision !== 'rejected';
    return {
      decision: decision.decision,
      components: offered
        ? decision.components.map((c) => ({
            componentId: c.id,
            placements: c.placements.map((p) => ({ hostId: p.hostId, basicVms: p.basicVms, elasticVms: p.elasticVms })),
            federatedVms: c.federatedVms,
          }))
        : [],
      ...(offered && m.pricePlan ? { costXml: m.pricePlan.xml } : {}),
      ...(offered ? { risk: service.risk } : {}),
    };
  }
}

/** Where a service's TREC values and bounds came from. */
interface Provenance {
  readonly values: Readonly<Record<'trust' | 'risk' | 'eco' | 'cost', string>>;
  readonly bounds: Readonly<Record<'trust' | 'risk' | 'eco' | 'cost', string>>;
}

const VALUE_ORIGIN: Readonly<Record<string, string>> = {
  service: 'from the TREC service',
  fallback: 'a fallback: the TREC service failed',
  default: 'the configured default: no TREC service is configured',
};
const BOUND_ORIGIN: Readonly<Record<string, string>> = {
  default: 'the global default',
  manifest: 'the manifest',
  service: "the operator's setting for this service",
};

/** TREC_BOUND reasons say where the value and the bound came from (a default trust failing a manifest's bound reads very differently from a measured one). */
function withProvenance(decision: ServiceDecision, p: Provenance): ServiceDecision {
  return {
    ...decision,
    components: decision.components.map((c) => ({
      ...c,
      reasons: c.reasons.map((r) => {
        if (r.code !== 'TREC_BOUND') return r;
        const metric = String(r.data.metric) as keyof Provenance['values'];
        const valueSource = p.values[metric] ?? 'default';
        const boundSource = p.bounds[metric] ?? 'default';
        return {
          ...r,
          message: `${r.message} (value ${VALUE_ORIGIN[valueSource] ?? valueSource}; bound from ${BOUND_ORIGIN[boundSource] ?? boundSource})`,
          data: { ...r.data, valueSource, boundSource },
        };
      }),
    })),
    summary: decision.decision === 'rejected' ? decision.summary : decision.summary,
  };
}

/** CPUs and memory one service's local VMs take on each host. */
function hostConsumption(model: AdmissionModel, result: AdmissionResult, a: number): { hostId: string; cpus: number; memoryMb: number }[] {
  const byHost = new Map<number, { cpus: number; memoryMb: number }>();
  result.allocation.services[a]!.forEach((ca, i) => {
    const c = model.services[a]!.components[i]!;
    for (const p of ca.placements) {
      const e = byHost.get(p.hostIndex) ?? { cpus: 0, memoryMb: 0 };
      e.cpus += c.vcpus * p.vms;
      e.memoryMb += (c.memoryMb ?? 0) * p.vms;
      byHost.set(p.hostIndex, e);
    }
  });
  return [...byHost.entries()].map(([j, e]) => ({ hostId: model.hosts[j]!.id, ...e }));
}
