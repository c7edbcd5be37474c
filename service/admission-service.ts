/**
 * Orchestrates one admission request: parse manifests → snapshot of hosts and reservations → TREC values →
 * model → admit (solve, verify, decide) → offers written into the manifests → record (unless dry-run) → federation
 * of what was not admitted (when peers are configured). Transport-free: the HTTP routes call it; it never sees express.
 */
import { createHash, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AdmissionResult, SolverChoice } from '../admission-controller/admit';
import { admit } from '../admission-controller/admit';
import type { ServiceDecision } from '../admission-controller/decisions';
import type { PeerConfig } from '../config/config';
import type { HostInfoProvider, HostSnapshot } from '../host-info/types';
import { AdmissionError, isAdmissionError, type ErrorDetail } from '../model/errors';
import type { AdmissionModel } from '../model/types';
import { buildAdmissionModel, HostModelMemo, type ServiceRequest } from '../trec-analyzer/build-model';
import { TrecClient, type DegradedNote, type TrecFetchOptions, type TrecStatus } from '../trec-analyzer/trec-fetchers';
import { AdmissionIntake } from './intake';
import { Federator, type FederationLog, type FederationReport, type FederationRoute, type InboundFederation } from '../federation';
import { writeAllocationOffer, type AllocationOfferInput } from '../formats/optimis-manifest/offer';
import { parseManifestDocument, type ParsedManifest } from '../formats/optimis-manifest/parse';
import type { XmlDocument } from '../xml/safe-xml';
import type { HostAmount, StateStore } from '../gateway/state-store';

export interface AdmissionServiceOptions {
  readonly solver: SolverChoice;
  readonly timeLimitSeconds: number;
  readonly mipRelGap: number;
  readonly maxManifests: number;
  /** Caps on one manifest (AC_MAX_COMPONENTS, AC_MAX_VMS_PER_COMPONENT); absent = the configuration's defaults. */
  readonly limits?: { readonly maxComponentsPerManifest: number; readonly maxVmsPerComponent: number };
  readonly reservationTtlSeconds: number;
  readonly trec: TrecFetchOptions;
  /** Gain of a service without a price plan (OPTIMIS's bundled cost.xml: planFloor 10 → 100). */
  readonly defaultGain: number;
  /** Provider id written into offers and logs, and into federation origin chains. */
  readonly providerId: string;
  /** Peers to federate to (docs/federation.md). Absent or no peers: nothing is ever forwarded, answers are as before. */
  readonly federation?: {
    readonly peers: readonly PeerConfig[];
    /** Longest chain: a peer's request that arrived after this many hops is not forwarded again. */
    readonly maxHops: number;
    readonly log?: FederationLog;
  };
  /** Orders the start of admissions (service/intake.ts); a private one when not given. */
  readonly intake?: AdmissionIntake;
}

export interface AdmissionRequest {
  readonly manifests: readonly string[];
  /** The principal asking (gateway/auth.ts): the owner of what gets recorded. */
  readonly owner: string;
  readonly dryRun: boolean;
  /** Solver override for this request (OPTIMIS's use_GAMS / use_Heuristic flags). */
  readonly solver?: SolverChoice;
  /** OPTIMIS's cleanTestbed: treat every host as empty (used CPUs, memory and reservations ignored). */
  readonly cleanTestbed?: boolean;
  /** OPTIMIS's isFederationAllowed form flag, per manifest: true forbids federation even if the manifest allows it. */
  readonly forbidFederation?: readonly boolean[];
  readonly signal?: AbortSignal;
  readonly requestId: string;
  /** Set when the request came from a peer provider (federation headers, checked by the HTTP layer). */
  readonly federation?: InboundFederation;
  /** Epoch ms by which the answer must be out: bounds the time given to peers. */
  readonly deadlineAt?: number;
}

export interface ServiceAnswer extends ServiceDecision {
  readonly serviceId: string;
  readonly manifestId: string;
  /** Id of the recorded admission holding this service's capacity; null on dry-run or when nothing is local. */
  readonly admissionId: string | null;
  /** The input manifest with the allocation offer written back (OPTIMIS-compatible, XSD-valid). */
  readonly manifest: string;
  /** Present when the service needed a peer (federation configured, not fully admitted, federation allowed). */
  readonly federation?: FederationReport;
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

/** A cycle's answer plus what only the model knows: its own cost estimate for the VMs it chose to federate. */
interface CycleResult {
  readonly answer: AdmissionAnswer;
  readonly federationCosts: readonly number[];
}

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

/** The parsed document of each manifest, so the offer is written without parsing the XML a second time. */
const documents = new WeakMap<ParsedManifest, XmlDocument>();

/**
 * Recently parsed manifests by content hash. Clients send the same manifest more than once (OPTIMIS's SLA
 * manager posts it at negotiation and again at instantiation; dry-runs precede real admissions), and parsing
 * is the largest cost of an admission. Entries are immutable; the least recently used goes first. Bounded in count
 * and in size (a parsed document weighs a few times its source; bodies may be megabytes).
 */
const parseCache = new LRUCache<string, { manifest: ParsedManifest; document: XmlDocument }>({
  max: 256,
  maxSize: 64 * 1024 * 1024,
  sizeCalculation: (entry) => 4 * entry.document.source.length + 1,
});

function parseCached(xml: string): { manifest: ParsedManifest; document: XmlDocument } {
  const key = createHash('sha256').update(xml).digest('base64');
  let parsed = parseCache.get(key);
  if (!parsed) {
    parsed = parseManifestDocument(xml); // throws on bad input: nothing is cached then
    parseCache.set(key, parsed);
  }
  return parsed;
}

function parseAll(manifests: readonly string[]): ParsedManifest[] {
  const parsed: ParsedManifest[] = [];
  manifests.forEach((xml, k) => {
    try {
      const { manifest, document } = parseCached(xml);
      documents.set(manifest, document);
      parsed.push(manifest);
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

const DEFAULT_LIMITS = { maxComponentsPerManifest: 1000, maxVmsPerComponent: 1000 } as const;

/** The work one manifest may ask for: refused before anything is fetched or solved (413, naming the cap). */
function checkLimits(parsed: readonly ParsedManifest[], limits: NonNullable<AdmissionServiceOptions['limits']>): void {
  parsed.forEach((m, k) => {
    const where = parsed.length > 1 ? `manifests[${k}]` : 'manifest';
    if (m.components.length > limits.maxComponentsPerManifest) {
      throw new AdmissionError(
        'AC_ERR_LIMIT_EXCEEDED',
        `${where}: ${m.components.length} components exceed the limit of ${limits.maxComponentsPerManifest} per manifest (AC_MAX_COMPONENTS)`,
        [{ field: `${where}.components`, reason: `${m.components.length} > ${limits.maxComponentsPerManifest} (AC_MAX_COMPONENTS)` }],
      );
    }
    for (const c of m.components) {
      if (c.maxVms > limits.maxVmsPerComponent) {
        throw new AdmissionError(
          'AC_ERR_LIMIT_EXCEEDED',
          `${where}: component '${c.id}' asks for up to ${c.maxVms} VMs, more than the limit of ${limits.maxVmsPerComponent} (AC_MAX_VMS_PER_COMPONENT)`,
          [{ field: `${where}.components[${c.id}].UpperBound`, reason: `${c.maxVms} > ${limits.maxVmsPerComponent} (AC_MAX_VMS_PER_COMPONENT)` }],
        );
      }
    }
  });
}

/** Host ids of a host snapshot, for the TREC fetchers (snapshots are frozen and shared: one frozen list each). */
const snapshotIds = new WeakMap<HostSnapshot, readonly string[]>();
function hostIds(hosts: HostSnapshot): readonly string[] {
  let ids = snapshotIds.get(hosts);
  if (!ids) snapshotIds.set(hosts, (ids = Object.freeze(hosts.map((h) => h.id))));
  return ids;
}

export class AdmissionService {
  private readonly lock = new Mutex();
  /** The host part of the last model, reused while the host snapshot, reservations and host TREC values are unchanged. */
  private readonly hostMemo = new HostModelMemo();
  /** Undefined when no peer is configured: then nothing is forwarded and answers are exactly the local ones. */
  private readonly federator: Federator | undefined;
  private readonly intake: AdmissionIntake;
  /** One per process: its circuit breakers remember failing TREC services across admissions. */
  private readonly trec: TrecClient;

  constructor(
    private readonly hostInfo: HostInfoProvider,
    private readonly store: StateStore,
    private readonly options: AdmissionServiceOptions,
  ) {
    const f = options.federation;
    this.intake = options.intake ?? new AdmissionIntake();
    this.trec = new TrecClient(options.trec);
    this.federator =
      f && f.peers.length > 0 ? new Federator({ providerId: options.providerId, peers: f.peers, maxHops: f.maxHops, ...(f.log ? { log: f.log } : {}) }) : undefined;
  }

  async admit(request: AdmissionRequest): Promise<AdmissionAnswer> {
    if (request.manifests.length === 0) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'no manifest in the request', [{ field: 'manifests', reason: 'at least one manifest is required' }]);
    }
    if (request.manifests.length > this.options.maxManifests) {
      throw new AdmissionError('AC_ERR_LIMIT_EXCEEDED', `too many manifests: ${request.manifests.length} > ${this.options.maxManifests} (AC_MAX_MANIFESTS)`, [
        { field: 'manifests', reason: `at most ${this.options.maxManifests} per request (AC_MAX_MANIFESTS)` },
      ]);
    }
    const inbound = request.federation;
    if (inbound && request.manifests.length !== 1) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `a federation request carries exactly one manifest, got ${request.manifests.length}`, [
        { field: 'manifests', reason: 'one sub-manifest per federation request' },
      ]);
    }
    // Everything from parsing on starts in arrival order, one admission per event-loop turn (see intake.ts).
    await this.intake.turn(request.signal);
    const parsed = parseAll(request.manifests); // bad input fails here, before anything is locked or fetched
    checkLimits(parsed, this.options.limits ?? DEFAULT_LIMITS);
    // Loops are refused before anything is locked: the provider we would wait for may be waiting for us.
    if (inbound) this.federator?.checkInbound(inbound);
    const route = this.federator?.route(inbound);

    if (inbound) {
      // A peer asks for all of its sub-manifest or nothing (a partial booking is useless to it): first try to take the
      // whole of it here, all-or-nothing; only when that fails, and this provider may forward, split it further.
      const whole = await this.runCycle(parsed, { ...request, forbidFederation: request.manifests.map(() => true) });
      const s = whole.answer.services[0]!;
      const mayForward = route !== undefined && !route.blocked && parsed[0]!.federationAllowed && !request.forbidFederation?.[0];
      if (s.decision === 'accepted' || !mayForward) {
        const answer = { ...whole.answer, services: whole.answer.services.map(asWholeRequest) };
        return this.federator && route ? { ...answer, services: answer.services.map((x) => this.federator!.notForwarded(x, route)) } : answer;
      }
    }

    const { answer, federationCosts } = await this.runCycle(parsed, request);
    if (!this.federator || !route) return answer;
    const federator = this.federator;
    const services = await Promise.all(
      answer.services.map((s, a) =>
        s.decision !== 'accepted' && s.federationAllowed
          ? federator.federate({
              answer: s,
              parsed: parsed[a]!,
              inputXml: request.manifests[a]!,
              modelFederationCost: federationCosts[a]!,
              route,
              dryRun: request.dryRun,
              requestId: request.requestId,
              ...(request.deadlineAt !== undefined ? { deadlineAt: request.deadlineAt } : {}),
              ...(request.signal ? { signal: request.signal } : {}),
            })
          : s,
      ),
    );
    if (request.dryRun) return { ...answer, services };
    const settled = await this.settle(answer.services, services, request, route);
    return { ...answer, services: settled, capacityGeneration: this.store.capacityGeneration() };
  }

  /** The admission cycle, retried on a capacity conflict; recorded admissions are serialised by the mutex. */
  private async runCycle(parsed: readonly ParsedManifest[], request: AdmissionRequest): Promise<CycleResult> {
    const cycle = async (): Promise<CycleResult> => {
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

  /**
   * Bookings after federation (not on dry-run). The local part was recorded by the cycle, before peers were asked (the
   * mutex is never held while waiting for a peer: two providers federating to each other would deadlock). Then:
   * - accepted with a peer: the record is replaced by one with the final decision and the peer's admission id (so
   *   DELETE can release both); the new record is written before the old one is released, so capacity is never free
   *   in between;
   * - a peer's request that did not end accepted: the local part is released (the peer asked for all or nothing);
   * - otherwise the local record stays as it is (partial, as before federation existed).
   */
  private async settle(
    before: readonly ServiceAnswer[],
    after: readonly ServiceAnswer[],
    request: AdmissionRequest,
    route: FederationRoute,
  ): Promise<ServiceAnswer[]> {
    return this.lock.run(async () =>
      after.map((s, a) => {
        const old = before[a]!;
        if (request.federation && s.decision !== 'accepted') {
          if (!old.admissionId) return s;
          this.store.releaseAdmission(old.admissionId);
          return { ...s, admissionId: null, summary: `${s.summary}; nothing is held here (a federation request is all or nothing)` };
        }
        if (s === old || s.federation?.status !== 'federated') return s;
        const previous = old.admissionId ? this.store.getAdmission(old.admissionId) : undefined;
        const id = `adm-${randomUUID()}`;
        const now = new Date();
        try {
          this.store.recordAdmission({
            id,
            owner: request.owner,
            serviceId: s.serviceId,
            decision: s.decision,
            createdAt: now.toISOString(),
            expiresAt: previous?.expiresAt ?? new Date(now.getTime() + this.options.reservationTtlSeconds * 1000).toISOString(),
            hosts: previous?.hosts.map((h) => ({ hostId: h.hostId, cpus: h.cpus, memoryMb: h.memoryMb })) ?? [],
            response: {
              requestId: request.requestId,
              decision: s.decision,
              summary: s.summary,
              components: s.components,
              federation: { federationId: route.federationId, peerId: s.federation.peerId, protocol: s.federation.protocol, peerAdmissionId: s.federation.peerAdmissionId },
              ...(request.federation ? { federatedFor: { origin: request.federation.origin, federationId: request.federation.id } } : {}),
            },
          });
        } catch (error) {
          // The local part stays booked under its old id; the peer's part is named in the answer.
          this.options.federation?.log?.('warn', 'could not re-record a federated admission', { requestId: request.requestId, error: String(error) });
          return s;
        }
        if (old.admissionId) this.store.releaseAdmission(old.admissionId);
        return { ...s, admissionId: id };
      }),
    );
  }

  /**
   * Releases the part of a recorded admission a peer holds (DELETE cascade). Undefined when the admission has none;
   * never throws (a peer that cannot be reached is reported, and its booking expires on its own).
   */
  async releaseFederatedPart(
    record: { readonly response: unknown },
    requestId: string,
  ): Promise<{ peerId: string; peerAdmissionId: string; released: boolean; error?: string } | undefined> {
    const fed = (record.response as { federation?: { peerId?: unknown; peerAdmissionId?: unknown } } | null)?.federation;
    if (!fed || typeof fed.peerId !== 'string' || typeof fed.peerAdmissionId !== 'string') return undefined;
    if (!this.federator) return { peerId: fed.peerId, peerAdmissionId: fed.peerAdmissionId, released: false, error: 'no peers are configured any more' };
    const r = await this.federator.release(fed.peerId, fed.peerAdmissionId, requestId);
    return { peerId: fed.peerId, peerAdmissionId: fed.peerAdmissionId, ...r };
  }

  /** The TREC sources and their circuit breakers, for /health and /ready. */
  trecStatus(): TrecStatus {
    return this.trec.status();
  }

  /** Releases what the service holds open (keep-alive sockets to TREC services). */
  close(): void {
    this.trec.close();
  }

  /** The model this request would be solved on (for diagnostics and tests). */
  async buildModel(
    parsed: readonly ParsedManifest[],
    request: Pick<AdmissionRequest, 'manifests' | 'cleanTestbed' | 'forbidFederation' | 'signal'>,
  ): Promise<{ model: AdmissionModel; degraded: DegradedNote[]; generation: number; provenance: Provenance[]; hosts: HostSnapshot }> {
    const { generation, reserved, policy, constraints: bounds } = this.store.admissionReads(
      parsed.map((m) => ({ serviceId: m.serviceId, fromManifest: m.trecConstraints })),
      { now: new Date(), withReservations: !request.cleanTestbed },
    );
    const hosts = await this.hostInfo.listHosts(request.signal);
    const trec = await this.trec.fetch(
      parsed.map((m, k) => ({
        serviceId: m.serviceId,
        ...(m.serviceProviderId ? { serviceProviderId: m.serviceProviderId } : {}),
        manifestXml: request.manifests[k]!,
      })),
      hostIds(hosts),
      request.signal,
    );
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
      constraints: bounds[k]!.constraints,
      ...(m.pricePlan && m.pricePlan.planFloor > 0 ? { planFloor: m.pricePlan.planFloor } : {}),
    }));
    const model = buildAdmissionModel(
      {
        services,
        hosts,
        ...(request.cleanTestbed ? { ignoreUsage: true } : {}),
        reserved,
        serviceTrec: trec.services,
        hostTrec: trec.hosts,
        weights: policy.weights,
        defaultGain: this.options.defaultGain,
        fallbackTrec: { trust: this.options.trec.fallbacks.trust, risk: this.options.trec.fallbacks.risk, eco: this.options.trec.fallbacks.eco },
      },
      this.hostMemo,
    );
    const provenance = parsed.map((m, k): Provenance => ({
      values: trec.services.get(m.serviceId)?.sources ?? { trust: 'default', risk: 'default', eco: 'default', cost: 'default' },
      bounds: bounds[k]!.sources,
    }));
    const snapshot = this.hostInfo.snapshotInfo?.(hosts);
    // Never silent: an admission made on host data older than the cache time says how old and why.
    const hostNote: DegradedNote[] =
      snapshot && !snapshot.fresh
        ? [
            {
              source: 'hostInfo',
              target: snapshot.provider,
              reason: snapshot.suspect
                ? `the latest host list is held back: ${snapshot.suspect.reason}`
                : `the host source failed: ${snapshot.lastError?.message ?? 'not refreshed'}`,
              fallback: `the host list read at ${snapshot.readAt} (${snapshot.hosts} hosts, ${(snapshot.ageMs / 1000).toFixed(1)} s old)`,
              ageMs: snapshot.ageMs,
            },
          ]
        : [];
    return { model, degraded: [...hostNote, ...trec.degraded], generation, provenance, hosts };
  }

  private async cycle(parsed: readonly ParsedManifest[], request: AdmissionRequest): Promise<CycleResult> {
    const { model, degraded, generation, provenance, hosts: snapshot } = await this.buildModel(parsed, request);
    if (request.signal?.aborted) throw abortedBefore('solving', request.signal);
    const result = await admit(model, {
      solver: request.solver ?? this.options.solver,
      timeLimitSeconds: this.options.timeLimitSeconds,
      mipRelGap: this.options.mipRelGap,
    });
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.options.reservationTtlSeconds * 1000);
    const services = result.services.map((decision, a): ServiceAnswer => {
      const m = parsed[a]!;
      const manifest = writeAllocationOffer(request.manifests[a]!, this.offerFor(model, a, decision, m), documents.get(m));
      return { ...withProvenance(decision, provenance[a]!), serviceId: m.serviceId, manifestId: m.manifestId, admissionId: null, manifest };
    });
    let recorded = services;
    // A peer whose budget ran out while we solved, or a client that closed its connection, has given up on us: a booking
    // now would be held for nobody. (A plain client past its deadline still gets its late answer, and it holds.)
    const signal = request.signal;
    if (!request.dryRun && signal?.aborted && (request.federation || (isAdmissionError(signal.reason) && signal.reason.code === 'AC_ERR_CLIENT_CLOSED'))) {
      throw abortedBefore('recording', signal);
    }
    if (!request.dryRun) {
      // The mutex serialises this process. Another process sharing the database may have booked since our snapshot:
      // the store then takes our booking only if it still fits on every host it uses (hostLimits), else it is a
      // conflict and the cycle is solved again. Under cleanTestbed usage is ignored, so any change is a conflict.
      const limits = request.cleanTestbed ? undefined : reservationLimits(snapshot);
      let expected = generation;
      const made: string[] = [];
      try {
      recorded = services.map((s, a) => {
        const hosts = hostConsumption(model, result, a);
        if (hosts.length === 0) return s;
        const id = `adm-${randomUUID()}`;
        this.store.recordAdmission({
          id,
          owner: request.owner,
          serviceId: s.serviceId,
          decision: s.decision,
          createdAt: now.toISOString(),
          expiresAt: expiresAt.toISOString(),
          hosts,
          response: {
            requestId: request.requestId,
            decision: s.decision,
            summary: s.summary,
            components: s.components,
            ...(request.federation ? { federatedFor: { origin: request.federation.origin, federationId: request.federation.id } } : {}),
          },
          expectedCapacityGeneration: expected++,
          ...(limits ? { hostLimits: hosts.flatMap((h) => limits.get(h.hostId) ?? []) } : {}),
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
    const answer: AdmissionAnswer = {
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
    return { answer, federationCosts: result.services.map((d, a) => federationCostEstimate(model, a, d)) };
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

/** The model's own cost of the VMs it federates: Σ fcv·φ with fcv = 0.8·G/(N·U) (model.md §3.5.11, as the verifier). */
function federationCostEstimate(model: AdmissionModel, a: number, decision: ServiceDecision): number {
  const s = model.services[a]!;
  const n = s.components.length;
  return decision.components.reduce((t, c, i) => t + ((0.8 * s.gain) / (n * s.components[i]!.maxVms)) * c.federatedVms, 0);
}

/**
 * The all-or-nothing answer to a peer's request: OPTIMIS's "federation is forbidden" wording would be wrong here (the
 * manifest allows federation; the requesting provider needs all of it or nothing).
 */
function asWholeRequest(s: ServiceAnswer): ServiceAnswer {
  const note = 'a federation request is admitted whole or not at all';
  let summary = s.summary;
  const components = s.components.map((c) => ({
    ...c,
    reasons: c.reasons.map((r) => {
      if (r.code !== 'ALL_OR_NOTHING') return r;
      summary = summary.replace(r.message, note);
      return { ...r, message: note, data: { ...r.data, federationRequest: true } };
    }),
  }));
  return { ...s, components, summary };
}

/** Why work stopped at `stage`: the signal's own reason when it is one of ours (client gone, deadline), else the deadline. */
function abortedBefore(stage: string, signal: AbortSignal): AdmissionError {
  const reason: unknown = signal.reason;
  if (isAdmissionError(reason)) return new AdmissionError(reason.code, `${reason.message} (before ${stage})`, reason.details);
  return new AdmissionError('AC_ERR_TIMEOUT', `the request deadline passed before ${stage}`);
}

/** What each host may hold in reservations in all: its capacity minus what runs on it outside this service. */
function reservationLimits(hosts: HostSnapshot): Map<string, HostAmount> {
  return new Map(
    hosts.map((h) => [
      h.id,
      {
        hostId: h.id,
        cpus: Math.max(0, h.cpus - h.usedCpus),
        ...(h.memoryMb !== undefined ? { memoryMb: Math.max(0, h.memoryMb - (h.usedMemoryMb ?? 0)) } : {}),
      },
    ]),
  );
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
